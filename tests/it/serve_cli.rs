//! The `check` and `key` commands on the proxy's configuration sections.

use std::path::PathBuf;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_paravent"))
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("paravent-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn check_accepts_the_reference_configuration() {
    let out = bin()
        .args(["check", "--config"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/config/paravent.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_reports_every_problem_of_the_proxy_sections_with_its_line() {
    let dir = TempDir::new("check");
    let path = dir.0.join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nlisten = \"127.0.0.1:8080\"\ndefault_provider = \"nobody\"\n\n[providers.x]\nbase_url = \"not a url\"\napi = \"openai\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:3:") && err.contains("nobody"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml:6:") && err.contains("base_url"),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn key_new_prints_a_key_and_the_hash_key_hash_gives() {
    let out = bin().args(["key", "new"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    let key = lines.next().unwrap();
    let hash = lines.next().unwrap();
    assert!(key.starts_with("pv-") && key.len() > 40);
    assert_eq!(hash.len(), 64);
    let again = bin().args(["key", "hash", key]).output().unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap().trim(), hash);
}
