//! `serve`'s first lines say what is active: the configuration file, its policy version
//! and rule count, and each provider's name, API and jurisdiction — never a key.

use crate::support::Scratch;
use crate::support::serve::Served;

const KEY: &str = "sk-startup-test-real-key-0123456789";

/// The JSON log lines `serve` wrote before it said it was serving.
fn lines_before_serving(output: &str) -> Vec<serde_json::Value> {
    output
        .lines()
        .take_while(|l| !l.contains("Paravent is serving."))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn serve_first_lines_name_the_config_its_version_and_every_provider_but_no_key() {
    let dir = Scratch::new("startup");
    let cfg = dir.write(
        "paravent.toml",
        "[server]\ndefault_provider = \"openai\"\n\n\
         [log]\nformat = \"json\"\n\n\
         [pseudonyms]\nsecret = \"a startup test secret of 32 bytes or more\"\n\n\
         [providers.openai]\nbase_url = \"http://127.0.0.1:9\"\napi = \"openai\"\n\
         jurisdiction = \"US\"\nkey_env = \"STARTUP_TEST_KEY\"\n\n\
         [providers.local]\nbase_url = \"http://127.0.0.1:9\"\napi = \"ollama\"\n",
    );
    let served = Served::start(&cfg, &[], &[("STARTUP_TEST_KEY", KEY)]);
    let output = served.stop();
    let first = lines_before_serving(&output);

    // The configuration line comes first, before the pseudonym secret and the trail.
    let active = &first[0];
    assert_eq!(active["message"], "Configuration active.", "{output}");
    assert_eq!(active["config"], cfg.display().to_string());
    let version = active["version"].as_str().expect("a version");
    assert!(!version.is_empty());
    assert!(active["rules"].as_u64().unwrap() > 0, "{active}");
    assert_eq!(active["providers"], 2);

    let providers: Vec<(String, String, String)> = first
        .iter()
        .filter(|l| l["message"] == "Provider active.")
        .map(|l| {
            let field = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (field("provider"), field("api"), field("jurisdiction"))
        })
        .collect();
    assert_eq!(
        providers,
        [
            ("local".into(), "ollama".into(), "undeclared".into()),
            ("openai".into(), "openai".into(), "US".into()),
        ],
        "{output}"
    );
    // The version is the policy version the audit records carry.
    let loaded = paravent::config::Config::load(Some(&cfg)).expect("the config loads");
    assert_eq!(version, loaded.version);
    assert!(
        !output.contains(KEY),
        "the provider key is in the log:\n{output}"
    );
    assert!(!output.contains("a startup test secret"), "{output}");
}

#[test]
fn serve_on_the_embedded_default_says_so() {
    let dir = Scratch::new("startup-default");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_paravent"));
    // The default writes its generated secret and trail in the working directory.
    let mut child = cmd
        .current_dir(dir.path())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .args(["--log", "info"])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("paravent serve starts");
    let stderr = child.stderr.take().unwrap();
    let mut first = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let line = line.unwrap();
        let serving = line.contains("Paravent is serving.");
        first.push(line);
        if serving {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = first.join("\n");
    let active = first
        .iter()
        .find(|l| l.contains("Configuration active."))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(active.contains("config=embedded default"), "{active}");
    assert!(active.contains("version="), "{active}");
    assert!(
        first.iter().any(|l| l.contains("Provider active.")),
        "{text}"
    );
}
