//! Provider governance and assistant profiles through the proxy: the settings each
//! provider's requests get (seen by the mock provider, named in the audit record), the
//! profiles selected by model alias and by virtual key, the EU preference chosen and
//! recorded, an unknown profile refused, `check`'s warnings for missing terms, and the
//! governance in force written in the trail's chain-start, file-start and reload records.

use http::{Method, StatusCode};
use paravent::audit::writer::AuditWriter;
use serde_json::{Value, json};

use crate::support::proxy::{EMAIL, Harness, MockProvider, NAME, PROMPT, VALUES};
use crate::support::serve::Served;
use crate::support::{Scratch, paravent};

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// The audit file's records, parsed.
fn records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The request records of an audit file.
fn requests(path: &std::path::Path) -> Vec<Value> {
    records(path)
        .into_iter()
        .filter(|r| r["kind"] == "request")
        .map(|r| r["request"].clone())
        .collect()
}

/// Paravent (the harness's providers on the mock) with `extra` appended, recording to
/// `audit`.
async fn audited(extra: &str, audit: &std::path::Path) -> Harness {
    let path = audit.to_path_buf();
    Harness::start_with_audit_writer(extra, move |config| {
        AuditWriter::open(
            &path,
            &config.audit,
            "it".to_owned(),
            config.version.clone(),
        )
        .expect("audit file")
    })
    .await
}

const OPENAI_SETTINGS: &str = r#"
[providers.openai.settings]
store = false
user = "hash"
metadata = "drop"
safety_identifier = "hash"

[providers.anthropic.settings]
user_id = "hash"
"#;

#[tokio::test]
async fn enforced_settings_reach_the_provider_after_pseudonymisation_and_the_record_names_each() {
    let dir = Scratch::new("gov-settings");
    let audit = dir.path().join("audit.jsonl");
    let h = audited(OPENAI_SETTINGS, &audit).await;
    let mut body = chat("gpt-4o-mini", PROMPT);
    body["store"] = json!(true);
    body["user"] = json!(EMAIL);
    body["metadata"] = json!({"project": NAME});
    body["safety_identifier"] = json!("employee-42");
    let r = h.post("/v1/chat/completions", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent: Value = serde_json::from_slice(&h.mock.last().body).unwrap();
    assert_eq!(sent["store"], false);
    assert!(sent.get("metadata").is_none(), "{sent}");
    for field in ["user", "safety_identifier"] {
        let v = sent[field].as_str().unwrap();
        assert!(
            v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()),
            "{field}: {v}"
        );
    }
    assert_ne!(sent["user"], sent["safety_identifier"]);
    h.assert_no_leak(VALUES);
    h.assert_no_leak(&["employee-42"]);
    // The same user gets the same opaque identifier on the next request.
    let first_user = sent["user"].clone();
    let r = h.post("/v1/chat/completions", &body).await;
    assert_eq!(r.status, StatusCode::OK);
    let again: Value = serde_json::from_slice(&h.mock.last().body).unwrap();
    assert_eq!(again["user"], first_user);

    // Anthropic: metadata.user_id hashed, nothing else added.
    let r = h
        .post(
            "/anthropic/v1/messages",
            &json!({"model": "claude-x", "max_tokens": 10,
                    "messages": [{"role": "user", "content": "Bonjour"}],
                    "metadata": {"user_id": "alice"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent: Value = serde_json::from_slice(&h.mock.last().body).unwrap();
    assert_eq!(sent["metadata"]["user_id"].as_str().unwrap().len(), 32);
    assert!(sent.get("store").is_none(), "{sent}");

    // Gemini has no settings here: nothing added, nothing recorded.
    let r = h
        .post(
            "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
            &json!({"contents": [{"role": "user", "parts": [{"text": "Bonjour"}]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    drop(h);

    let reqs = requests(&audit);
    assert_eq!(reqs.len(), 4);
    assert_eq!(
        reqs[0]["settings"],
        json!([
            "metadata=dropped",
            "safety_identifier=hashed",
            "store=false",
            "user=hashed"
        ])
    );
    assert_eq!(reqs[2]["settings"], json!(["user_id=hashed"]));
    assert!(reqs[3].get("settings").is_none(), "{}", reqs[3]);
    for r in &reqs {
        assert!(r.get("route_reason").is_none() && r.get("assistant").is_none());
    }
    paravent(&["audit", "verify", Scratch::arg(&audit)], b"").assert_code(0);
}

#[tokio::test]
async fn observe_mode_still_enforces_the_providers_settings_on_the_body_sent_as_is() {
    let h = Harness::start(&format!(
        "{OPENAI_SETTINGS}\n[policy]\nmode = \"observe\"\n"
    ))
    .await;
    let mut body = chat("gpt-4o-mini", "Bonjour");
    body["user"] = json!("alice");
    let r = h.post("/v1/chat/completions", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent: Value = serde_json::from_slice(&h.mock.last().body).unwrap();
    assert_eq!(sent["store"], false);
    assert_ne!(sent["user"], "alice");
    assert_eq!(sent["messages"][0]["content"], "Bonjour");
    let o = h.outcomes.lock().unwrap()[0].clone();
    assert_eq!(o.settings, ["store=false", "user=hashed"]);
}

/// A second OpenAI-API provider under EU jurisdiction, and the profiles.
fn profiles(eu: &MockProvider) -> String {
    format!(
        r#"
[providers.mistral]
base_url = "{}"
api = "openai"
jurisdiction = "FR"

[providers.mistral.settings]
user = "drop"

[assistants.recrutement]
owner = "DRH"
purpose = "job offers"
system_prompt = "Tu aides le service RH. Reste factuel."
providers = ["openai", "mistral", "anthropic"]
models = ["mistral-small-latest", "gpt-4o-mini"]
prefer_eu = true

[assistants.support]
owner = "support"
purpose = "tickets"
providers = ["openai"]
models = ["gpt-4o-mini"]
"#,
        eu.base_url()
    )
}

#[tokio::test]
async fn an_alias_selects_the_profile_its_model_and_prompt_and_the_eu_provider_and_is_recorded() {
    let eu = MockProvider::start().await;
    let dir = Scratch::new("gov-alias");
    let audit = dir.path().join("audit.jsonl");
    let h = audited(&format!("{OPENAI_SETTINGS}{}", profiles(&eu)), &audit).await;
    let mut body = chat("assistant:recrutement", PROMPT);
    body["user"] = json!("alice");
    let r = h.post("/v1/chat/completions", &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.mock.count(), 0, "the US provider asked for got nothing");
    let got = eu.last();
    assert_eq!(got.path, "/v1/chat/completions");
    // The client's key does not follow the request to the provider chosen.
    assert!(got.headers.get("authorization").is_none(), "{got:?}");
    let sent: Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(sent["model"], "mistral-small-latest");
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "Tu aides le service RH. Reste factuel."})
    );
    assert_eq!(sent["messages"][1]["role"], "user");
    // The EU provider's own settings: user dropped, no store.
    assert!(
        sent.get("user").is_none() && sent.get("store").is_none(),
        "{sent}"
    );
    let text = sent.to_string();
    for v in VALUES {
        assert!(!text.contains(v), "{v} reached the provider: {text}");
    }
    // The answer is re-identified as usual.
    assert!(r.text().contains(NAME), "{}", r.text());

    // The same profile on Anthropic's API: its only provider of that API, asked for.
    let r = h
        .post(
            "/anthropic/v1/messages",
            &json!({"model": "assistant:recrutement", "max_tokens": 10,
                    "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent: Value = serde_json::from_slice(&h.mock.last().body).unwrap();
    assert_eq!(sent["system"], "Tu aides le service RH. Reste factuel.");
    assert_eq!(sent["model"], "mistral-small-latest");
    drop(h);

    let reqs = requests(&audit);
    assert_eq!(reqs[0]["assistant"], "recrutement");
    assert_eq!(reqs[0]["route_reason"], "eu-preference");
    assert_eq!(reqs[0]["provider"], "mistral");
    assert_eq!(reqs[0]["requested_provider"], "openai");
    assert_eq!(reqs[0]["jurisdiction"], "FR");
    assert_eq!(reqs[0]["model"], "mistral-small-latest");
    assert_eq!(reqs[0]["decision"], "forwarded");
    assert_eq!(reqs[0]["settings"], json!(["user=dropped"]));
    assert_eq!(reqs[1]["assistant"], "recrutement");
    assert!(reqs[1].get("route_reason").is_none(), "{}", reqs[1]);
    assert_eq!(reqs[1]["provider"], "anthropic");
    // The chain-start record says which profiles and terms were in force.
    let start = &records(&audit)[0];
    assert_eq!(start["kind"], "chain-start");
    assert_eq!(
        start["governance"]["assistants"]["recrutement"],
        json!({"owner": "DRH", "purpose": "job offers",
               "providers": ["openai", "mistral", "anthropic"], "prefer_eu": true})
    );
    assert_eq!(
        start["governance"]["providers"]["openai"]["settings"],
        json!([
            "metadata=dropped",
            "safety_identifier=hashed",
            "store=false",
            "user=hashed"
        ])
    );
    assert_eq!(
        start["governance"]["providers"]["mistral"]["jurisdiction"],
        "FR"
    );
    paravent(&["audit", "verify", Scratch::arg(&audit)], b"").assert_code(0);
}

#[tokio::test]
async fn an_unknown_profile_is_refused_in_the_providers_format_and_audited_without_its_name() {
    let eu = MockProvider::start().await;
    let dir = Scratch::new("gov-unknown");
    let audit = dir.path().join("audit.jsonl");
    let h = audited(&profiles(&eu), &audit).await;
    let r = h
        .post(
            "/anthropic/v1/messages",
            &json!({"model": "assistant:jean.dupont@example.fr", "max_tokens": 10,
                    "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let e = r.json();
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "not_found_error");
    assert!(!r.text().contains("jean.dupont"), "{}", r.text());
    // OpenAI's format on OpenAI's API.
    let r = h
        .post("/v1/chat/completions", &chat("assistant:nobody", "Bonjour"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["error"]["code"], "paravent_unknown_assistant");
    assert_eq!(h.mock.count() + eu.count(), 0, "nothing left");
    drop(h);
    let reqs = requests(&audit);
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r["refusal"], "paravent_unknown_assistant");
        assert_eq!(r["decision"], "refused");
        assert!(r.get("assistant").is_none(), "{r}");
    }
    let trail = std::fs::read_to_string(&audit).unwrap();
    assert!(!trail.contains("jean.dupont") && !trail.contains("nobody"));
}

#[tokio::test]
async fn a_virtual_key_bound_to_a_profile_selects_it_and_holds_the_client_to_its_models() {
    let eu = MockProvider::start().await;
    let key = "pv-governance-test-key-0123";
    let hash = paravent::config::virtual_key_hash(key);
    let var = "PARAVENT_IT_GOV_KEY";
    let h = Harness::start_with_env(
        |base| {
            format!(
                "[server]\ndefault_provider = \"openai\"\n\n\
                 [providers.openai]\nbase_url = \"{base}\"\napi = \"openai\"\njurisdiction = \"US\"\n\
                 auth = \"virtual\"\nkey_env = \"{var}\"\n\n\
                 [providers.anthropic]\nbase_url = \"{base}\"\napi = \"anthropic\"\n\n{}\n\
                 [[keys.virtual]]\nhash = \"{hash}\"\nuser = \"alice\"\nassistant = \"support\"\n",
                profiles(&eu)
            )
        },
        &[(var, "sk-real-upstream")],
    )
    .await;
    let send = |body: Value| {
        let h = &h;
        async move {
            h.send(
                Method::POST,
                "/v1/chat/completions",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &format!("Bearer {key}")),
                ],
                serde_json::to_vec(&body).unwrap(),
            )
            .await
        }
    };
    // The profile's model: forwarded, with its profile named.
    let r = send(chat("gpt-4o-mini", "Bonjour")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let got = h.mock.last();
    assert_eq!(
        got.headers.get("authorization").unwrap(),
        "Bearer sk-real-upstream"
    );
    // Another model, or another profile's alias: refused, nothing sent.
    let r = send(chat("gpt-5", "Bonjour")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "paravent_assistant_not_allowed");
    let r = send(chat("assistant:recrutement", "Bonjour")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Its own alias works too.
    let r = send(chat("assistant:support", "Bonjour")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent: Value = serde_json::from_slice(&h.mock.last().body).unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(h.mock.count(), 2);
    let outcomes = h.outcomes.lock().unwrap().clone();
    let assistants: Vec<Option<&str>> = outcomes.iter().map(|o| o.assistant.as_deref()).collect();
    assert_eq!(
        assistants,
        [
            Some("support"),
            Some("support"),
            Some("support"),
            Some("support")
        ]
    );
    assert_eq!(outcomes[1].refused, Some("paravent_assistant_not_allowed"));
    // Its only provider was the one asked for: no reason to record.
    assert_eq!(outcomes[0].route_reason, None);
    assert_eq!(outcomes[0].principal, "alice");
}

#[tokio::test]
async fn a_policy_route_records_its_reason_and_a_profiles_ceiling_blocks_above_it() {
    let eu = MockProvider::start().await;
    let extra = format!(
        "{}\n[assistants.strict]\nowner = \"o\"\npurpose = \"p\"\nproviders = [\"openai\"]\n\
         models = [\"gpt-4o-mini\"]\nmax_sensitivity = \"internal\"\n\n\
         [[policy.rules]]\nid = \"iban-to-eu\"\nentity = [\"IBAN\"]\naction = \"route\"\nroute_to = \"mistral\"\n",
        profiles(&eu)
    );
    let h = Harness::start(&extra).await;
    let r = h
        .post(
            "/v1/chat/completions",
            &chat(
                "gpt-4o-mini",
                "Mon IBAN est FR76 3000 6000 0112 3456 7890 189.",
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(eu.count(), 1);
    // An e-mail is confidential: above the profile's ceiling.
    let r = h
        .post("/v1/chat/completions", &chat("assistant:strict", PROMPT))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "paravent_policy_block");
    let outcomes = h.outcomes.lock().unwrap().clone();
    assert_eq!(outcomes[0].route_reason, Some("policy"));
    assert_eq!(
        outcomes[0].decision,
        Some(paravent::audit::Decision::Routed)
    );
    assert_eq!(outcomes[1].assistant.as_deref(), Some("strict"));
    assert_eq!(h.mock.count(), 0);
}

#[test]
fn check_warns_for_each_provider_without_terms_naming_the_missing_keys() {
    let dir = Scratch::new("gov-check");
    let config = dir.write(
        "paravent.toml",
        "[providers.acme]\nbase_url = \"https://llm.acme.example\"\napi = \"openai\"\njurisdiction = \"EU\"\n\n\
         [providers.acme.terms]\nretention_days = 0\n\n\
         [providers.home]\nbase_url = \"http://127.0.0.1:11434\"\napi = \"ollama\"\njurisdiction = \"local\"\n\n\
         [providers.home.terms]\nregion = \"on-premises\"\nretention_days = 0\ntraining_use = false\n",
    );
    let run = paravent(&["check", "--config", Scratch::arg(&config)], b"");
    run.assert_code(0);
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("[providers.acme]"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(line.contains("paravent.toml:1:"), "{line}");
    assert!(
        line.contains("declares no region, training_use, dpa in its terms"),
        "{line}"
    );
    assert!(!run.stderr.contains("[providers.home]"), "{}", run.stderr);
    assert!(run.stdout.contains("1 warning(s)"), "{}", run.stdout);
}

/// A served configuration whose openai provider declares `retention_days`.
fn served_config(mock: &MockProvider, retention_days: u32) -> String {
    format!(
        "[server]\ndefault_provider = \"openai\"\nwatch_interval_ms = 0\n\n\
         [audit]\npath = \"audit.jsonl\"\nfsync = \"never\"\n\n\
         [pseudonyms]\nsecret = \"a governance test secret of 32 bytes\"\n\n\
         [providers.openai]\nbase_url = \"{}\"\napi = \"openai\"\njurisdiction = \"US\"\n\n\
         [providers.openai.terms]\nretention_days = {retention_days}\ntraining_use = false\n\n\
         [providers.openai.settings]\nstore = false\n",
        mock.base_url()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_served_trail_holds_the_governance_at_its_start_and_after_each_reload() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("gov-reload");
    let path = dir.write("paravent.toml", served_config(&mock, 30));
    let served = Served::start(&path, &[], &[]);
    let url = served.url("/v1/chat/completions");
    let send = || {
        crate::support::serve::send(
            Method::POST,
            &url,
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer sk-client"),
            ],
            br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Bonjour"}]}"#,
        )
    };
    assert_eq!(send().await.status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&mock.last().body).unwrap()["store"],
        false
    );
    dir.write("paravent.toml", served_config(&mock, 0));
    served.signal("HUP");
    served.wait_for("Configuration reloaded.");
    assert_eq!(send().await.status, StatusCode::OK);
    let (clean, output) = served.terminate();
    assert!(clean, "{output}");
    let audit = dir.path().join("audit.jsonl");
    let recs = records(&audit);
    let kinds: Vec<&str> = recs.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(&kinds[..4], ["chain-start", "request", "reload", "request"]);
    let terms = |r: &Value| r["governance"]["providers"]["openai"].clone();
    assert_eq!(
        terms(&recs[0]),
        json!({"jurisdiction": "US", "retention_days": 30, "training_use": false,
               "settings": ["store=false"]})
    );
    assert_eq!(terms(&recs[2])["retention_days"], 0);
    assert!(recs[1].get("governance").is_none() && recs[3].get("governance").is_none());
    assert_eq!(recs[1]["request"]["settings"], json!(["store=false"]));
    paravent(&["audit", "verify", Scratch::arg(&audit)], b"").assert_code(0);
}

#[test]
fn each_rotated_file_opens_with_the_governance_in_force() {
    let dir = Scratch::new("gov-rotate");
    let toml = "[audit]\nrotate_bytes = 1\nfsync = \"never\"\n\n\
                [providers.home]\nbase_url = \"http://127.0.0.1:9\"\napi = \"ollama\"\njurisdiction = \"local\"\n\n\
                [providers.home.terms]\nregion = \"on-premises\"\nretention_days = 0\ntraining_use = false\n";
    let cfg = paravent::config::Config::from_toml("t.toml", toml, None).unwrap();
    let path = dir.path().join("audit.jsonl");
    let w = AuditWriter::open(&path, &cfg.audit, "it".into(), cfg.version.clone()).unwrap();
    let fields = paravent::audit::RequestFields {
        request_id: "pv-1".into(),
        principal: "alice".into(),
        status: 200,
        ..Default::default()
    };
    w.append(fields.clone()).unwrap();
    w.append(fields).unwrap();
    drop(w);
    let mut file_starts = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|x| x == "jsonl") {
            for r in records(&p) {
                if r["kind"] == "file-start" {
                    file_starts += 1;
                    assert_eq!(
                        r["governance"]["providers"]["home"]["region"],
                        "on-premises"
                    );
                }
            }
        }
    }
    assert!(file_starts >= 1, "no rotation happened");
}
