//! Helpers shared by the integration tests: the binary, scratch directories and one
//! detector compiled once for the whole test binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use paravent::detect::{Detector, Finding};

/// The shipped rules, compiled once (about a second in a debug build).
pub static DETECTOR: LazyLock<Detector> = LazyLock::new(Detector::builtin);

/// What one run of the binary gave.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
        }
    }

    /// Panics with both streams shown unless the exit code is `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The stdout lines of `scan --jsonl`, parsed.
    pub fn jsonl(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Runs `paravent ARGS` with `stdin` as its standard input.
pub fn paravent(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paravent"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the paravent binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    // A command that does not read stdin may exit first: a broken pipe is fine then.
    let _ = input.write_all(stdin);
    drop(input);
    Run::from_output(child.wait_with_output().expect("paravent runs"))
}

/// A directory under the system temp dir, unique to one test, removed on drop.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = format!(
            "paravent-it-{}-{}-{name}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        Scratch { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` (sub-directories are created) and returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path.join(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).expect("create a directory");
        }
        std::fs::write(&p, contents).expect("write a scratch file");
        p
    }

    /// The path as a `&str` argument.
    pub fn arg(path: &Path) -> &str {
        path.to_str().expect("the temp dir path is UTF-8")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Splits a text with `[[…]]` markers (the rule files' convention) into the text and
/// the marked byte spans, with the library's own parser.
pub fn marked(example: &str) -> (String, Vec<(usize, usize)>) {
    paravent::detect::rules::split_marked(example).expect("every [[ has its ]]")
}

/// One finding per line, for failure messages: `ENTITY 12..20 "value" (rule)`.
pub fn describe(text: &str, findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "  {} {}..{} {:?} ({})",
                f.entity,
                f.start,
                f.end,
                &text[f.start..f.end],
                f.rule
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub mod leak; // did a planted value reach the provider in clear: the leak tests' oracle
pub mod mock_provider; // the in-process mock AI provider, for the proxy tests
pub mod proxy; // Paravent in front of the mock provider: the proxy tests' harness
pub mod serve; // a real `paravent serve` process, its output captured
