//! `paravent selftest`, the real binary: passes on the embedded default and on every
//! example configuration (config/, and deploy/'s container, Kubernetes and systemd
//! files); fails, naming the entity, when a rule the prompts need is
//! disabled; reports values an allow list or the policy lets out as allowed, not as
//! leaks; refuses where a policy rule blocks; the reports hold no value.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Run, Scratch, paravent};

/// The reference configuration (also the embedded default).
const REFERENCE: &str = include_str!("../../config/paravent.toml");

/// An e-mail address of the shipped rules' examples (rules/core.toml, `core.email`).
const EXAMPLE_EMAIL: &str = "jean.dupont@example.fr";

/// The example configurations: every `*.toml` in config/, and in deploy/ (its
/// configuration files, when that directory is there).
fn example_configs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "toml")
                && std::fs::read_to_string(&p).is_ok_and(|t| t.contains("[providers."))
            {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(&root.join("config"), &mut out);
    walk(&root.join("deploy"), &mut out);
    out.sort();
    out
}

/// Runs `selftest` on the reference configuration with `edit` applied, writing the JSON
/// report; returns the run and the report.
fn selftest_with(name: &str, edit: impl FnOnce(String) -> String) -> (Run, Value) {
    let dir = Scratch::new(name);
    let config = dir.write("paravent.toml", edit(REFERENCE.to_owned()));
    let out = dir.path().join("report.json");
    let run = paravent(
        &[
            "selftest",
            "--config",
            Scratch::arg(&config),
            "--format",
            "json",
            "--out",
            Scratch::arg(&out),
        ],
        b"",
    );
    let report = std::fs::read_to_string(&out)
        .map(|t| serde_json::from_str(&t).expect("the JSON report parses"))
        .unwrap_or(Value::Null);
    (run, report)
}

fn entity<'a>(report: &'a Value, name: &str) -> &'a Value {
    &report["entities"][name]
}

fn count(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is a count in {v}"))
}

#[test]
fn selftest_passes_on_the_embedded_default_with_every_entity_restored_and_the_chain_verified() {
    let dir = Scratch::new("selftest-default");
    let out = dir.path().join("report.json");
    let run = paravent(
        &["selftest", "--format", "json", "--out", Scratch::arg(&out)],
        b"",
    );
    run.assert_code(0);
    assert!(
        run.stdout.contains("ok: no value sent in clear"),
        "{}",
        run.stdout
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the report is written"))
            .expect("the JSON report parses");
    assert_eq!(report["audit_chain_verified"], true);
    assert!(count(&report, "audit_records") >= count(&report, "requests"));
    assert_eq!(report["failures"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        report["config_version"].as_str().map(str::len),
        Some(64),
        "{report}"
    );
    assert_eq!(report["rules_version"].as_str().map(str::len), Some(64));
    // Every entity of the shipped rules' examples is there, none sent in clear, and
    // the ones the default policy forwards came back restored.
    let entities = report["entities"].as_object().expect("entities");
    for e in [
        "EMAIL", "PERSON", "PHONE", "IBAN", "FR_NIR", "FR_SIRET", "US_SSN", "ADDRESS",
    ] {
        let row = &entities[e];
        assert_eq!(count(row, "sent_in_clear"), 0, "{e}: {row}");
        assert_eq!(count(row, "not_restored"), 0, "{e}: {row}");
        assert!(count(row, "restored") > 0, "{e}: {row}");
    }
    // Secrets are refused everywhere (builtin.secret), and only where the policy says.
    assert!(count(entity(&report, "SECRET"), "refused") > 0);
    assert_eq!(report["refusals"], report["refusals_expected"]);
    assert!(count(&report["policy_rules"]["builtin.secret"], "refused") > 0);
}

/// Copies `config`'s directory (the files it names are relative to it) into `dir`;
/// a `[server.tls]` pair, the admin's own, is generated in its place. Returns the copy.
fn in_place(config: &Path, dir: &Scratch) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        for e in std::fs::read_dir(from)
            .expect("read the directory")
            .flatten()
        {
            let (src, dst) = (e.path(), to.join(e.file_name()));
            if src.is_dir() {
                std::fs::create_dir_all(&dst).expect("create a directory");
                copy(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).expect("copy a file");
            }
        }
    }
    copy(config.parent().expect("a directory"), dir.path());
    let text = std::fs::read_to_string(config).expect("read the configuration");
    let cfg: toml::Value = toml::from_str(&text).expect("the configuration is TOML");
    if let Some(tls) = cfg.get("server").and_then(|s| s.get("tls")) {
        let pair = rcgen::generate_simple_self_signed(vec!["paravent.example.com".to_owned()])
            .expect("a self-signed certificate");
        let name = |k: &str| tls.get(k).and_then(|v| v.as_str()).expect("cert and key");
        dir.write(name("cert"), pair.cert.pem());
        dir.write(name("key"), pair.signing_key.serialize_pem());
    }
    dir.path().join(config.file_name().expect("a file name"))
}

#[test]
fn selftest_passes_on_every_example_configuration() {
    let configs = example_configs();
    // The reference configuration is the embedded default, run by the test above; the
    // deployment files' (deploy/container, kubernetes, systemd) run here.
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/paravent.toml");
    assert!(configs.contains(&reference), "{configs:?}");
    for config in configs {
        if std::fs::read_to_string(&config).is_ok_and(|t| t == REFERENCE) {
            continue;
        }
        let dir = Scratch::new("selftest-example");
        let copy = in_place(&config, &dir);
        let run = paravent(&["selftest", "--config", Scratch::arg(&copy)], b"");
        assert_eq!(
            run.code,
            Some(0),
            "{}\n{}\n{}",
            config.display(),
            run.stdout,
            run.stderr
        );
        assert!(
            run.stdout.contains("ok: no value sent in clear"),
            "{}",
            run.stdout
        );
    }
}

#[test]
fn selftest_fails_and_names_the_entity_when_a_rule_the_prompts_need_is_disabled() {
    let (run, report) = selftest_with("selftest-disabled", |c| {
        c.replacen("disable = []", "disable = [\"core.email\"]", 1)
    });
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("a EMAIL value reached the provider in clear (not detected"),
        "{}",
        run.stdout
    );
    assert!(count(entity(&report, "EMAIL"), "sent_in_clear") > 0);
    // The other entities are still protected: only EMAIL is named.
    let failures = report["failures"].as_array().expect("failures");
    assert!(!failures.is_empty());
    assert!(
        failures
            .iter()
            .all(|f| f.as_str().is_some_and(|f| f.starts_with("EMAIL "))),
        "{failures:?}"
    );
    // The report names entities and counts, never the value that leaked.
    assert!(!run.stdout.contains(EXAMPLE_EMAIL));
    assert!(!report.to_string().contains(EXAMPLE_EMAIL));
}

#[test]
fn a_value_an_allow_list_lets_out_is_reported_as_allowed_not_as_a_leak_even_where_its_entity_is_blocked()
 {
    let (run, report) = selftest_with("selftest-allow-list", |c| {
        format!(
            "{c}\n[allow.entities.EMAIL]\nvalues = [\"{EXAMPLE_EMAIL}\"]\n\n\
             [[policy.rules]]\nid = \"no-email\"\nentity = [\"EMAIL\"]\naction = \"block\"\n"
        )
    });
    run.assert_code(0);
    let email = entity(&report, "EMAIL");
    assert!(count(email, "allowed") > 0, "{email}");
    assert_eq!(count(email, "sent_in_clear"), 0, "{email}");
    // The other e-mail addresses are refused, as the block rule says, and only they.
    assert!(count(email, "refused") > 0, "{email}");
    assert!(count(&report["policy_rules"]["no-email"], "refused") > 0);
    assert_eq!(report["refusals"], report["refusals_expected"]);
    assert!(count(&report["policy_rules"]["allow-list"], "findings") > 0);
}

#[test]
fn values_the_policy_allows_are_allowed_redacted_ones_are_not_restored_and_a_block_rule_refuses_exactly_its_requests()
 {
    let (run, report) = selftest_with("selftest-policy", |c| {
        format!(
            "{c}\n[[policy.rules]]\nid = \"emails-may-leave\"\nentity = [\"EMAIL\"]\naction = \"allow\"\n\n\
             [[policy.rules]]\nid = \"no-iban-to-openai\"\nentity = [\"IBAN\"]\nproviders = [\"openai\"]\naction = \"block\"\n\n\
             [[policy.rules]]\nid = \"redact-people\"\nentity = [\"PERSON\"]\naction = \"redact\"\n"
        )
    });
    run.assert_code(0);
    // Redacted names are neither sent nor restored, by design.
    let person = entity(&report, "PERSON");
    assert!(count(person, "redacted") > 0, "{person}");
    assert_eq!(count(person, "restored"), 0, "{person}");
    assert_eq!(count(person, "not_restored"), 0, "{person}");
    let email = entity(&report, "EMAIL");
    assert!(count(email, "allowed") > 0, "{email}");
    assert_eq!(count(email, "sent_in_clear"), 0, "{email}");
    let blocked = &report["policy_rules"]["no-iban-to-openai"];
    assert!(count(blocked, "refused") > 0, "{report}");
    assert_eq!(count(blocked, "refused"), count(blocked, "requests"));
    // IBANs still go to the other providers, pseudonymised and restored.
    let iban = entity(&report, "IBAN");
    assert!(
        count(iban, "refused") > 0 && count(iban, "restored") > 0,
        "{iban}"
    );
    assert_eq!(report["refusals"], report["refusals_expected"]);
}

#[test]
fn selftest_fails_in_observe_mode_and_says_why() {
    let (run, report) = selftest_with("selftest-observe", |c| {
        c.replacen("# mode = \"observe\"", "mode = \"observe\"", 1)
    });
    run.assert_code(1);
    assert_eq!(report["policy_mode"], "observe");
    assert!(
        run.stdout
            .contains("reached the provider in clear (observe mode)"),
        "{}",
        run.stdout
    );
    assert!(count(entity(&report, "PERSON"), "sent_in_clear") > 0);
}

/// A company rule file: its examples are prompts of the self-test too.
const COMPANY_RULES: &str = r#"[[rule]]
id = "acme.project"
entity = "CUSTOM"
nature = "strategic"
sensitivity = "internal"
pattern = 'HELIOS-[0-9]{4}'
examples = ["Le projet [[HELIOS-4521]] avance.", "Project [[HELIOS-9034]] is late."]
"#;

#[test]
fn the_html_report_is_one_accessible_page_without_any_value_and_covers_the_company_rules() {
    let dir = Scratch::new("selftest-html");
    dir.write("company/acme.toml", COMPANY_RULES);
    let config = dir.write(
        "paravent.toml",
        REFERENCE.replacen("rules = []", "rules = [\"company\"]", 1),
    );
    let out = dir.path().join("report.html");
    let run = paravent(
        &[
            "selftest",
            "--config",
            Scratch::arg(&config),
            "--out",
            Scratch::arg(&out),
        ],
        b"",
    );
    run.assert_code(0);
    // The company's entity went through, pseudonymised and restored.
    let custom = run
        .stdout
        .lines()
        .find(|l| l.starts_with("CUSTOM "))
        .unwrap_or_else(|| panic!("a CUSTOM row in\n{}", run.stdout));
    assert!(custom.split_whitespace().nth(1) != Some("0"), "{custom}");
    let html = std::fs::read_to_string(&out).expect("the report is written");
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert_eq!(html.matches("<h1>").count(), 1);
    assert_eq!(
        html.matches("<table>").count(),
        html.matches("<caption").count()
    );
    assert!(html.contains("<th scope=\"row\"><code>CUSTOM</code></th>"));
    assert!(html.contains("<th scope=\"row\"><code>PERSON</code></th>"));
    assert!(!html.contains("<script"));
    for value in [EXAMPLE_EMAIL, "HELIOS-4521"] {
        assert!(!html.contains(value) && !run.stdout.contains(value));
    }
}
