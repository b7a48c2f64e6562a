//! `paravent check` on `[policy]` (errors with their lines fail it, warnings do not)
//! and `paravent scan --explain` (what the policy would do with a text, and why).

use crate::support::{Scratch, paravent};

const PROVIDERS: &str = r#"
[providers.openai]
base_url = "http://127.0.0.1:9"
api = "openai"
max_sensitivity = "confidential"

[providers.local]
base_url = "http://127.0.0.1:9"
api = "openai"

[providers.claude]
base_url = "http://127.0.0.1:9"
api = "anthropic"
"#;

fn check(name: &str, config: &str) -> crate::support::Run {
    let dir = Scratch::new(name);
    let path = dir.write("paravent.toml", config);
    paravent(&["check", "--config", Scratch::arg(&path)], b"")
}

#[track_caller]
fn assert_line(stderr: &str, prefix: &str, line: usize, needle: &str) {
    let at = format!("paravent.toml:{line}: ");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(prefix) && l.contains(&at) && l.contains(needle)),
        "expected {prefix} at line {line} mentioning {needle:?}; stderr:\n{stderr}"
    );
}

#[test]
fn check_reports_every_policy_error_with_its_line_and_fails() {
    // PROVIDERS takes lines 1-13 (from a blank first line); [policy] is line 15.
    let config = format!(
        r#"{PROVIDERS}
[policy]
default = "route"

[[policy.rules]]
id = "typo-entity"
entity = ["FR_NRI"]
action = "block"

[[policy.rules]]
id = "typo-nature"
nature = ["medical"]
sensitivity = ["top"]
action = "block"

[[policy.rules]]
id = "nowhere"
providers = ["ghost"]
action = "route"

[[policy.rules]]
id = "allow-keys"
nature = ["secret"]
action = "allow"

[[policy.rules]]
id = "emails-redacted"
entity = ["EMAIL"]
action = "redact"

[[policy.rules]]
id = "emails-allowed"
entity = ["EMAIL"]
action = "allow"

[[policy.rules]]
id = "to-claude"
providers = ["openai"]
action = "route"
route_to = "claude"
"#
    );
    let run = check("policy-errors", &config);
    run.assert_code(1);
    let err = &run.stderr;
    assert_line(err, "error: ", 16, "[policy] default");
    assert_line(err, "error: ", 20, "FR_NRI");
    assert_line(err, "error: ", 25, "medical");
    assert_line(err, "error: ", 26, "top");
    assert_line(err, "error: ", 31, "ghost");
    assert_line(err, "error: ", 30, "needs route_to");
    assert_line(err, "error: ", 35, "allows secrets");
    assert_line(
        err,
        "error: ",
        45,
        "same conditions as rule \"emails-redacted\"",
    );
    assert_line(err, "error: ", 50, "routes to claude");
}

#[test]
fn check_warns_about_rules_that_never_match_but_passes() {
    let config = format!(
        r#"{PROVIDERS}
[[keys.virtual]]
hash = "{}"
user = "alice"
team = "rh"

[[policy.rules]]
id = "everything-confidential"
min_sensitivity = "confidential"
action = "redact"

[[policy.rules]]
id = "emails"
entity = ["EMAIL"]
sensitivity = ["confidential"]
action = "pseudonymise"

[[policy.rules]]
id = "ghost-team"
teams = ["compta"]
action = "allow"

[[policy.rules]]
id = "health"
nature = ["special-category"]
action = "route"
route_to = "local"

# With the special-category rules off, no compiled rule gives that nature.
[detect]
disable = ["special.health", "special.health.icd10cm", "special.religion", "special.political", "special.political.party", "special.union", "special.union.name", "special.orientation", "special.ethnic", "special.criminal"]
"#,
        "0".repeat(64)
    );
    let run = check("policy-warnings", &config);
    run.assert_code(0);
    let err = &run.stderr;
    assert_line(err, "warning: ", 26, "\"emails\" can never match");
    assert_line(err, "warning: ", 32, "team \"compta\"");
    assert_line(err, "warning: ", 38, "special-category");
    // The route has no providers condition: requests to claude cannot take it.
    assert_line(err, "warning: ", 37, "claude");
    assert!(run.stdout.starts_with("ok: "), "{}", run.stdout);
    assert!(run.stdout.contains("4 policy rules"), "{}", run.stdout);
}

#[test]
fn check_rejects_a_bad_on_exceed() {
    let config = format!(
        "{}\n",
        PROVIDERS.replace(
            "max_sensitivity = \"confidential\"",
            "max_sensitivity = \"confidential\"\non_exceed = \"route:claude\"\n"
        )
    );
    let run = check("policy-on-exceed", &config);
    run.assert_code(1);
    assert!(
        run.stderr.contains("on_exceed routes to claude"),
        "{}",
        run.stderr
    );
    let run = check(
        "policy-on-exceed-2",
        &PROVIDERS.replace(
            "max_sensitivity = \"confidential\"",
            "max_sensitivity = \"high\"",
        ),
    );
    run.assert_code(1);
    assert_line(&run.stderr, "error: ", 5, "not a sensitivity");
}

#[test]
fn scan_explain_shows_each_findings_action_rule_and_the_verdict() {
    let dir = Scratch::new("explain");
    let config = dir.write(
        "paravent.toml",
        format!(
            "{PROVIDERS}\n[[policy.rules]]\nid = \"redact-emails\"\nentity = [\"EMAIL\"]\naction = \"redact\"\n"
        ),
    );
    let text = "Écrire à jean.dupont@example.fr, carte 4111 1111 1111 1111.\n";
    let run = paravent(
        &[
            "scan",
            "--config",
            Scratch::arg(&config),
            "--explain",
            "--provider",
            "openai",
            "--user",
            "alice",
        ],
        text.as_bytes(),
    );
    run.assert_code(0);
    let out = &run.stdout;
    assert!(
        out.contains("policy for user alice, provider openai"),
        "{out}"
    );
    assert!(
        out.contains("EMAIL personal/confidential -> redact (rule redact-emails)"),
        "{out}"
    );
    assert!(
        out.contains("verdict: blocked (rule provider.openai.max_sensitivity)"),
        "{out}"
    );
    // Why: the matching rule's line and conditions, or why the default applied.
    assert!(
        out.contains("redact by redact-emails, the first matching rule (line ")
            && out.contains(": entity EMAIL)"),
        "{out}"
    );
    assert!(
        out.contains("the [policy] default: none of the 1 [[policy.rules]] matched"),
        "{out}"
    );
    // To a provider without a ceiling, the request goes on.
    let run = paravent(
        &[
            "scan",
            "--config",
            Scratch::arg(&config),
            "--explain",
            "--provider",
            "local",
        ],
        text.as_bytes(),
    );
    run.assert_code(0);
    assert!(
        run.stdout.contains("verdict: forwarded to local"),
        "{}",
        run.stdout
    );
}

#[test]
fn scan_explain_jsonl_adds_decisions_and_a_verdict_per_line() {
    let input = concat!(
        r#"{"id": 1, "text": "Écrire à jean.dupont@example.fr"}"#,
        "\n",
        r#"{"id": 2, "text": "ma clé sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"}"#,
        "\n",
        r#"{"id": 3, "text": "Quelle heure est-il ?"}"#,
        "\n"
    );
    let run = paravent(
        &["scan", "--jsonl", "--explain", "--provider", "mistral"],
        input.as_bytes(),
    );
    run.assert_code(0);
    let lines = run.jsonl();
    assert_eq!(lines[0]["decisions"][0]["action"], "pseudonymise");
    assert_eq!(lines[0]["decisions"][0]["rule"], "builtin.default");
    assert_eq!(lines[0]["verdict"]["decision"], "forwarded");
    assert_eq!(lines[1]["verdict"]["decision"], "blocked");
    assert_eq!(lines[1]["verdict"]["rule"], "builtin.secret");
    assert!(!run.stdout.contains("sk-proj-"), "{}", run.stdout);
    assert_eq!(lines[2]["verdict"]["rule"], serde_json::Value::Null);
    // Without --explain, the output is unchanged.
    let run = paravent(&["scan", "--jsonl"], input.as_bytes());
    assert!(run.jsonl()[0].get("verdict").is_none());
}

#[test]
fn scan_explain_needs_a_declared_provider() {
    let run = paravent(&["scan", "--explain"], b"x");
    run.assert_code(2);
    let run = paravent(&["scan", "--explain", "--provider", "nowhere"], b"x");
    run.assert_code(2);
    assert!(
        run.stderr.contains("not a declared provider"),
        "{}",
        run.stderr
    );
}

#[test]
fn scan_explain_applies_the_allow_lists_as_the_proxy_does() {
    let dir = Scratch::new("explain-allow");
    let config = dir.write(
        "paravent.toml",
        format!(
            "{PROVIDERS}\n[allow.entities.FR_SIREN]\nvalues = [\"552 100 554\"]\n\n\
             [[policy.rules]]\nid = \"no-siren\"\nentity = [\"FR_SIREN\"]\naction = \"block\"\n\
             message = \"No SIREN.\"\n"
        ),
    );
    let scan = |text: &str| {
        paravent(
            &[
                "scan",
                "--config",
                Scratch::arg(&config),
                "--explain",
                "--provider",
                "local",
            ],
            text.as_bytes(),
        )
    };
    // The company's own SIREN leaves as it is, named by the list that allows it.
    let run = scan("Notre SIREN : 552100554.\n");
    run.assert_code(0);
    let out = &run.stdout;
    assert!(out.starts_with("Notre SIREN : 552100554."), "{out}");
    assert!(out.contains("-> allow (rule allow-list)"), "{out}");
    assert!(out.contains("verdict: forwarded to local"), "{out}");
    // Another SIREN is still the rule's to block.
    let run = scan("Le client : SIREN 732 829 320.\n");
    run.assert_code(0);
    assert!(
        run.stdout.contains("blocked by policy rule no-siren")
            && run.stdout.contains("verdict: blocked (rule no-siren)"),
        "{}",
        run.stdout
    );
}
