//! Special categories of data (GDPR art. 9 and 10) through the proxy, under the shipped
//! configuration (config/paravent.toml, its providers pointed at the mock): an HR e-mail
//! that says someone is on sick leave is refused for a US provider (ceiling
//! `confidential`, the finding is `secret`) and goes to the EU provider pseudonymised,
//! the words that say what the person has never reaching it.

use http::StatusCode;
use paravent::audit::Decision;
use serde_json::{Value, json};

use crate::support::proxy::Harness;

/// The reference configuration (also the embedded default).
const REFERENCE: &str = include_str!("../../config/paravent.toml");

/// An HR e-mail: a name, sick leave, a date. Synthetic.
const HR_MAIL: &str = "Bonjour,\nje vous informe que M. Lucas Bernard est en arrêt maladie \
                       jusqu'au 14 mars. Merci de prévenir son équipe.\nCordialement,\nLe service RH";

/// The shipped configuration with every provider's `base_url` on the mock.
fn shipped(base: &str) -> String {
    let mut out = String::new();
    for line in REFERENCE.lines() {
        if line.starts_with("base_url = ") {
            out.push_str(&format!("base_url = \"{base}\""));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn chat(text: &str) -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn an_hr_email_about_sick_leave_is_refused_for_a_us_provider_under_the_shipped_policy() {
    let h = Harness::start_with(shipped).await;
    let r = h.post("/openai/v1/chat/completions", &chat(HR_MAIL)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], "paravent_policy_block");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("provider.openai.max_sensitivity"),
        "{message}"
    );
    assert!(
        message.contains("HEALTH/special-category/secret"),
        "{message}"
    );
    for value in ["arrêt maladie", "Lucas Bernard"] {
        assert!(!r.text().contains(value), "{value} in {}", r.text());
    }
    assert_eq!(h.mock.count(), 0, "nothing may reach the provider");
    let o = h.outcomes.lock().unwrap()[0].clone();
    assert_eq!(o.decision, Some(Decision::Blocked));
    assert_eq!(o.rule.as_deref(), Some("provider.openai.max_sensitivity"));
}

#[tokio::test]
async fn an_hr_email_about_sick_leave_goes_to_the_eu_provider_pseudonymised_and_comes_back_whole() {
    let h = Harness::start_with(shipped).await;
    let r = h.post("/mistral/v1/chat/completions", &chat(HR_MAIL)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    h.assert_no_leak(&["arrêt maladie", "Lucas Bernard"]);
    let sent = String::from_utf8_lossy(&h.mock.last().body).into_owned();
    assert!(sent.contains("[HEALTH_"), "{sent}");
    // The answer (the mock echoes the prompt) has the words back in place.
    let answer = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(answer.contains("en arrêt maladie jusqu'au"), "{answer}");
    let o = h.outcomes.lock().unwrap()[0].clone();
    assert_eq!(o.decision, Some(Decision::Forwarded));
    assert_eq!(
        o.findings_by_entity_nature
            .get(&("HEALTH".to_owned(), "special-category")),
        Some(&1),
        "{:?}",
        o.findings_by_entity_nature
    );
}

#[tokio::test]
async fn the_companys_sick_leave_policy_is_not_special_category_data() {
    let h = Harness::start_with(shipped).await;
    let text = "Résume la politique d'arrêt maladie de l'accord d'entreprise en trois points.";
    let r = h.post("/openai/v1/chat/completions", &chat(text)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent = String::from_utf8_lossy(&h.mock.last().body).into_owned();
    assert!(sent.contains("arrêt maladie"), "{sent}");
}

/// `check` once warned that a `special-category` rule could never match: the shipped
/// rules now give that nature, so the rule stands without a warning about it.
#[test]
fn check_accepts_a_special_category_rule_without_warning_that_it_never_matches() {
    let dir = crate::support::Scratch::new("special-check");
    let config = dir.write(
        "paravent.toml",
        r#"
[providers.openai]
base_url = "http://127.0.0.1:9"
api = "openai"

[providers.local]
base_url = "http://127.0.0.1:9"
api = "openai"
jurisdiction = "local"

[[policy.rules]]
id = "health-stays-local"
nature = ["special-category"]
providers = ["openai"]
action = "route"
route_to = "local"
"#,
    );
    let run = crate::support::paravent(
        &["check", "--config", crate::support::Scratch::arg(&config)],
        b"",
    );
    run.assert_code(0);
    assert!(!run.stderr.contains("special-category"), "{}", run.stderr);
}
