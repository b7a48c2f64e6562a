//! The policy through the proxy: block, redact, allow, route (to a second mock
//! provider), the providers' ceilings (block and route), and per-user / per-team rules
//! through virtual keys. Each refusal is checked on the mock side too: nothing arrived.

use http::{Method, StatusCode};
use paravent::audit::Decision;
use paravent::audit::writer::AuditWriter;
use serde_json::{Value, json};

use crate::support::Scratch;
use crate::support::proxy::{EMAIL, Harness, IBAN, MockProvider, NAME, PHONE, PROMPT};

/// The test Visa number (public, not a real card): its sensitivity is `secret`.
const CARD: &str = "4111 1111 1111 1111";

fn chat(text: &str) -> Value {
    json!({"model": "gpt-x", "messages": [{"role": "user", "content": text}]})
}

fn answer(r: &Value) -> String {
    r["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `openai` and `local` (both OpenAI API), `claude` (Anthropic API); `openai` on the
/// first mock, `local` on `local_base`; `extra` appended.
fn config(base: &str, local_base: &str, extra: &str) -> String {
    format!(
        r#"
[server]
default_provider = "openai"

[providers.openai]
base_url = "{base}"
api = "openai"
jurisdiction = "US"

[providers.local]
base_url = "{local_base}"
api = "openai"
jurisdiction = "local"

[providers.claude]
base_url = "{base}"
api = "anthropic"

{extra}
"#
    )
}

#[tokio::test]
async fn a_block_rule_refuses_in_the_providers_format_naming_the_rule() {
    let h = Harness::start(
        r#"
[[policy.rules]]
id = "no-bank-details"
entity = ["IBAN"]
action = "block"
message = "Bank details stay in the accounting tool; ask the DPO."
"#,
    )
    .await;
    let r = h.post("/openai/v1/chat/completions", &chat(PROMPT)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], "paravent_policy_block");
    assert_eq!(body["error"]["type"], "permission_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("no-bank-details"), "{message}");
    assert!(message.contains("IBAN/financial/confidential"), "{message}");
    assert!(message.contains("ask the DPO"), "{message}");
    for v in [IBAN, NAME, EMAIL, PHONE] {
        assert!(!r.text().contains(v), "{v} in {}", r.text());
    }
    assert_eq!(h.mock.count(), 0, "nothing may reach the provider");
    let o = h.outcomes.lock().unwrap()[0].clone();
    assert_eq!(o.decision, Some(Decision::Blocked));
    assert_eq!(o.rule.as_deref(), Some("no-bank-details"));
    assert_eq!(o.findings_by_action.get("block"), Some(&1));
    // The same rule on the Anthropic API answers in Anthropic's format.
    let r = h
        .post(
            "/anthropic/v1/messages",
            &json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(r.json()["error"]["type"], "permission_error");
    assert!(r.text().contains("no-bank-details"), "{}", r.text());
    assert_eq!(h.mock.count(), 0);
}

#[tokio::test]
async fn redacted_values_leave_as_placeholders_and_come_back_as_placeholders() {
    let h = Harness::start(
        r#"
[[policy.rules]]
id = "redact-emails"
entity = ["EMAIL"]
action = "redact"
"#,
    )
    .await;
    let body = json!({"model": "gpt-x", "messages": [
        {"role": "user", "content": PROMPT},
        // Propagation: the e-mail again, where the detector alone would find it too.
        {"role": "user", "content": format!("Répondez à {EMAIL} svp")}]});
    let r = h.post("/openai/v1/chat/completions", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    h.assert_no_leak(&[EMAIL, NAME, IBAN]);
    let sent = String::from_utf8_lossy(&h.mock.last().body).into_owned();
    assert_eq!(sent.matches("[REDACTED_EMAIL]").count(), 2, "{sent}");
    let a = answer(&r.json());
    assert!(a.contains("[REDACTED_EMAIL]"), "{a}");
    assert!(!a.contains(EMAIL), "a redacted value never comes back: {a}");
    // The other values were pseudonymised and are restored.
    assert!(a.contains(NAME) && a.contains(IBAN), "{a}");
    let o = h.outcomes.lock().unwrap()[0].clone();
    assert_eq!(o.decision, Some(Decision::Forwarded));
    assert_eq!(o.findings_by_action.get("redact"), Some(&2));
    assert_eq!(o.findings_by_rule.get("redact-emails"), Some(&2));
}

#[tokio::test]
async fn allowed_values_leave_as_they_are() {
    let h = Harness::start(
        r#"
[[policy.rules]]
id = "phones-are-public"
entity = ["PHONE"]
action = "allow"
"#,
    )
    .await;
    let r = h.post("/openai/v1/chat/completions", &chat(PROMPT)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent = String::from_utf8_lossy(&h.mock.last().body).into_owned();
    assert!(sent.contains(PHONE), "{sent}");
    h.assert_no_leak(&[NAME, EMAIL, IBAN]);
    assert!(answer(&r.json()).contains(PHONE));
    let o = h.outcomes.lock().unwrap()[0].clone();
    assert_eq!(o.findings_by_action.get("allow"), Some(&1));
}

#[tokio::test]
async fn a_route_rule_sends_the_request_to_the_other_provider_only() {
    let local = MockProvider::start().await;
    let dir = Scratch::new("policy-route");
    let path = dir.path().join("audit.jsonl");
    let audit_path = path.clone();
    let extra = format!(
        r#"
[providers.local]
base_url = "{}"
api = "openai"
jurisdiction = "local"

[[policy.rules]]
id = "bank-details-stay-local"
entity = ["IBAN"]
action = "route"
route_to = "local"
model = "llama-local"
"#,
        local.base_url()
    );
    let h = Harness::start_with_audit_writer(&extra, move |config| {
        AuditWriter::open(
            &audit_path,
            &config.audit,
            "it".to_owned(),
            config.version.clone(),
        )
        .expect("audit file")
    })
    .await;
    let r = h.post("/openai/v1/chat/completions", &chat(PROMPT)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.mock.count(), 0, "the provider asked for got nothing");
    let got = local.last();
    assert_eq!(got.path, "/v1/chat/completions");
    // The client's key is not sent to the route target (it has none configured).
    assert!(got.headers.get("authorization").is_none(), "{got:?}");
    let sent: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(sent["model"], "llama-local");
    let text = sent.to_string();
    for v in [NAME, EMAIL, IBAN] {
        assert!(!text.contains(v), "{v} left pseudonymised? {text}");
    }
    // The answer is re-identified as usual.
    let a = answer(&r.json());
    assert!(a.contains(NAME) && a.contains(IBAN), "{a}");
    let o = h.outcomes.lock().unwrap()[0].clone();
    assert_eq!(o.decision, Some(Decision::Routed));
    assert_eq!(o.provider.as_deref(), Some("local"));
    assert_eq!(o.requested_provider.as_deref(), Some("openai"));
    assert_eq!(o.jurisdiction.as_deref(), Some("local"));
    assert_eq!(o.rule.as_deref(), Some("bank-details-stay-local"));
    let record: Value = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r.get("request").is_some())
        .expect("a request record")["request"]
        .clone();
    assert_eq!(record["decision"], "routed");
    assert_eq!(record["requested_provider"], "openai");
    assert_eq!(record["provider"], "local");
    assert_eq!(record["rule"], "bank-details-stay-local");
    assert_eq!(record["model"], "llama-local");
}

#[tokio::test]
async fn a_routed_request_carries_the_targets_own_key_never_the_clients() {
    let local = MockProvider::start().await;
    let local_base = local.base_url();
    let h = Harness::start_with_env(
        |base| {
            config(
                base,
                &local_base,
                r#"
[[policy.rules]]
id = "emails-local"
entity = ["EMAIL"]
providers = ["openai"]
action = "route"
route_to = "local"
"#,
            )
            .replace(
                "jurisdiction = \"local\"",
                "jurisdiction = \"local\"\nauth = \"virtual\"\nkey_env = \"LOCAL_KEY\"",
            )
        },
        &[("LOCAL_KEY", "local-real-key")],
    )
    .await;
    let r = h.post("/openai/v1/chat/completions", &chat(PROMPT)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.mock.count(), 0);
    let got = local.last();
    assert_eq!(
        got.headers.get("authorization").unwrap(),
        "Bearer local-real-key"
    );
    assert!(!format!("{:?}", got.headers).contains("sk-client"));
    // The model is kept when the rule names none.
    let sent: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(sent["model"], "gpt-x");
}

#[tokio::test]
async fn a_request_above_the_providers_ceiling_is_blocked() {
    let local = MockProvider::start().await;
    let local_base = local.base_url();
    let h = Harness::start_with(|base| {
        config(base, &local_base, "").replace(
            "jurisdiction = \"US\"",
            "jurisdiction = \"US\"\nmax_sensitivity = \"confidential\"",
        )
    })
    .await;
    // Confidential data is within the ceiling.
    let r = h.post("/openai/v1/chat/completions", &chat(PROMPT)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.mock.count(), 1);
    // A card number is "secret": above it.
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &chat(&format!("{PROMPT} Ma carte : {CARD}.")),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("provider.openai.max_sensitivity"),
        "{message}"
    );
    assert!(
        message.contains("CREDIT_CARD/financial/secret"),
        "{message}"
    );
    assert!(!message.contains(CARD), "{message}");
    assert_eq!(h.mock.count(), 1, "the blocked request never arrived");
    assert_eq!(local.count(), 0);
    let o = h.outcomes.lock().unwrap()[1].clone();
    assert_eq!(o.decision, Some(Decision::Blocked));
    assert_eq!(o.rule.as_deref(), Some("provider.openai.max_sensitivity"));
}

#[tokio::test]
async fn a_request_above_the_providers_ceiling_is_routed_when_it_says_so() {
    let local = MockProvider::start().await;
    let local_base = local.base_url();
    let h = Harness::start_with(|base| {
        config(base, &local_base, "")
            .replace(
                "jurisdiction = \"US\"",
                "jurisdiction = \"US\"\nmax_sensitivity = \"confidential\"\non_exceed = \"route:local\"",
            )
            .replace(
                "jurisdiction = \"local\"",
                "jurisdiction = \"local\"\nroute_model = \"llama3.1\"",
            )
    })
    .await;
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &chat(&format!("{PROMPT} Ma carte : {CARD}.")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.mock.count(), 0);
    let sent: Value = serde_json::from_slice(&local.last().body).unwrap();
    assert_eq!(sent["model"], "llama3.1");
    assert!(!sent.to_string().contains(CARD));
    assert!(answer(&r.json()).contains(CARD));
    let o = h.outcomes.lock().unwrap()[0].clone();
    assert_eq!(o.decision, Some(Decision::Routed));
    assert_eq!(o.rule.as_deref(), Some("provider.openai.max_sensitivity"));
    assert_eq!(o.requested_provider.as_deref(), Some("openai"));
}

#[tokio::test]
async fn a_route_to_a_provider_of_another_api_is_blocked_with_a_reason() {
    let local = MockProvider::start().await;
    let local_base = local.base_url();
    // The rule has no providers condition, so `check` only warns; a request to openai
    // (OpenAI API) cannot go to claude (Anthropic API).
    let h = Harness::start_with(|base| {
        config(
            base,
            &local_base,
            "[[policy.rules]]\nid = \"to-claude\"\nentity = [\"EMAIL\"]\naction = \"route\"\nroute_to = \"claude\"\n",
        )
    })
    .await;
    let r = h.post("/openai/v1/chat/completions", &chat(PROMPT)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("builtin.route-api-mismatch"), "{message}");
    assert!(message.contains("anthropic"), "{message}");
    assert_eq!(h.mock.count() + local.count(), 0);
}

#[tokio::test]
async fn team_and_user_rules_follow_the_virtual_key() {
    let alice = "pv-alice-0123456789abcdef";
    let bob = "pv-bob-0123456789abcdef";
    let (ha, hb) = (
        paravent::config::virtual_key_hash(alice),
        paravent::config::virtual_key_hash(bob),
    );
    let h = Harness::start_with_env(
        |base| {
            format!(
                r#"
[providers.openai]
base_url = "{base}"
api = "openai"
auth = "virtual"
key_env = "REAL_OPENAI_KEY"

[[keys.virtual]]
hash = "{ha}"
user = "alice"
team = "rh"

[[keys.virtual]]
hash = "{hb}"
user = "bob"
team = "sales"

[[policy.rules]]
id = "rh-redacts-names"
teams = ["rh"]
entity = ["PERSON"]
action = "redact"

[[policy.rules]]
id = "bob-no-bank-details"
users = ["bob"]
entity = ["IBAN"]
action = "block"
"#
            )
        },
        &[("REAL_OPENAI_KEY", "sk-real")],
    )
    .await;
    let send = |key: &'static str| {
        let h = &h;
        async move {
            h.send(
                Method::POST,
                "/openai/v1/chat/completions",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &format!("Bearer {key}")),
                ],
                chat(PROMPT).to_string(),
            )
            .await
        }
    };
    let r = send(alice).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent = String::from_utf8_lossy(&h.mock.last().body).into_owned();
    assert!(sent.contains("[REDACTED_PERSON]"), "{sent}");
    let r = send(bob).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("bob-no-bank-details"), "{}", r.text());
    assert_eq!(h.mock.count(), 1, "bob's request never arrived");
    let outcomes = h.outcomes.lock().unwrap().clone();
    assert_eq!(outcomes[0].rule.as_deref(), Some("rh-redacts-names"));
    assert_eq!(outcomes[1].team.as_deref(), Some("sales"));
    assert_eq!(outcomes[1].decision, Some(Decision::Blocked));
}

#[tokio::test]
async fn a_streamed_answer_keeps_redacted_placeholders_and_restores_the_rest() {
    let h = Harness::start(
        "[[policy.rules]]\nid = \"redact-emails\"\nentity = [\"EMAIL\"]\naction = \"redact\"\n",
    )
    .await;
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &json!({"model": "m", "stream": true,
                    "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    h.assert_no_leak(&[NAME, EMAIL, IBAN]);
    let mut d = paravent::stream::Decoder::default();
    let mut events = d.push(&r.body).unwrap();
    events.extend(d.finish().unwrap());
    let text: String = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data()?).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(text.contains("[REDACTED_EMAIL]"), "{text}");
    assert!(!text.contains(EMAIL), "{text}");
    assert!(text.contains(NAME) && text.contains(IBAN), "{text}");
}
