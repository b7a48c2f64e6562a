use super::*;
use crate::config::Config;

/// Two OpenAI-API providers (one EU, one US), one Anthropic, one local Ollama, with the
/// profiles the tests choose among.
const CONFIG: &str = r#"
[providers.openai]
base_url = "http://127.0.0.1:9"
api = "openai"
jurisdiction = "US"

[providers.openai.terms]
region = "US"
retention_days = 30
training_use = false
dpa = true

[providers.openai.settings]
store = false
user = "hash"
metadata = "drop"
safety_identifier = "hash"

[providers.mistral]
base_url = "http://127.0.0.1:9"
api = "openai"
jurisdiction = "FR"

[providers.anthropic]
base_url = "http://127.0.0.1:9"
api = "anthropic"
jurisdiction = "US"

[providers.anthropic.settings]
user_id = "hash"

[providers.ollama]
base_url = "http://127.0.0.1:9"
api = "ollama"
jurisdiction = "local"

[providers.ollama.terms]
region = "on-premises"
retention_days = 0
training_use = false

[assistants.recrutement]
owner = "DRH"
purpose = "job offers"
system_prompt = "Be fair."
providers = ["openai", "mistral", "anthropic"]
models = ["small"]
prefer_eu = true
max_sensitivity = "internal"

[assistants.juridique]
owner = "legal"
purpose = "contracts"
providers = ["anthropic"]
models = ["claude"]

[assistants.support]
owner = "support"
purpose = "tickets"
providers = ["mistral", "openai"]
models = ["m"]
"#;

fn config() -> Config {
    Config::from_toml("t.toml", CONFIG, None).unwrap()
}

fn hash(field: &str, value: &str) -> String {
    format!("h({field}:{value})")
}

fn apply(
    settings: &Settings,
    endpoint: Endpoint,
    body: &str,
) -> (serde_json::Value, Vec<&'static str>) {
    let mut w = Walked::parse(body.as_bytes(), endpoint.schema()).unwrap();
    let mut applied = Vec::new();
    settings.apply(
        endpoint,
        "/v1/x",
        &mut w,
        &mut |f, v| hash(f, v),
        &mut applied,
    );
    applied.sort_unstable();
    (serde_json::from_slice(&w.to_bytes()).unwrap(), applied)
}

#[test]
fn openai_settings_set_store_false_hash_identifiers_and_drop_metadata() {
    let cfg = config();
    let s = &cfg.providers["openai"].settings;
    let (body, applied) = apply(
        s,
        Endpoint::OpenaiChat,
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"store":true,"user":"alice","metadata":{"team":"rh"},"safety_identifier":"u-1"}"#,
    );
    assert_eq!(body["store"], false);
    assert_eq!(body["user"], "h(user:alice)");
    assert_eq!(body["safety_identifier"], "h(safety_identifier:u-1)");
    assert!(body.get("metadata").is_none());
    assert_eq!(body["messages"][0]["content"], "hi");
    assert_eq!(
        applied,
        [
            "metadata=dropped",
            "safety_identifier=hashed",
            "store=false",
            "user=hashed"
        ]
    );
}

#[test]
fn a_setting_on_a_field_the_request_lacks_is_not_recorded_but_store_is_always_set() {
    let cfg = config();
    let s = &cfg.providers["openai"].settings;
    let (body, applied) = apply(
        s,
        Endpoint::OpenaiResponses,
        r#"{"model":"m","input":"hi"}"#,
    );
    assert_eq!(body["store"], false);
    assert_eq!(applied, ["store=false"]);
    // The Responses API's token count takes no store.
    let mut w = Walked::parse(
        br#"{"model":"m","input":"hi"}"#,
        Endpoint::OpenaiResponses.schema(),
    )
    .unwrap();
    let mut applied = Vec::new();
    s.apply(
        Endpoint::OpenaiResponses,
        "/v1/responses/input_tokens",
        &mut w,
        &mut |f, v| hash(f, v),
        &mut applied,
    );
    assert!(applied.is_empty());
    assert_eq!(w.to_bytes(), br#"{"model":"m","input":"hi"}"#);
    // Embeddings take no store; their user is hashed.
    let (body, applied) = apply(
        s,
        Endpoint::OpenaiEmbeddings,
        r#"{"model":"m","input":"hi","user":"bob"}"#,
    );
    assert!(body.get("store").is_none());
    assert_eq!(body["user"], "h(user:bob)");
    assert_eq!(applied, ["user=hashed"]);
}

#[test]
fn anthropic_user_id_is_hashed_inside_metadata() {
    let cfg = config();
    let s = &cfg.providers["anthropic"].settings;
    let (body, applied) = apply(
        s,
        Endpoint::AnthropicMessages,
        r#"{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"alice"}}"#,
    );
    assert_eq!(body["metadata"]["user_id"], "h(user_id:alice)");
    assert_eq!(applied, ["user_id=hashed"]);
    let drop = Settings {
        user_id: Some(FieldAction::Drop),
        ..Settings::default()
    };
    let (body, applied) = apply(
        &drop,
        Endpoint::AnthropicMessages,
        r#"{"model":"c","messages":[],"metadata":{"user_id":"alice"}}"#,
    );
    assert_eq!(body["metadata"], serde_json::json!({}));
    assert_eq!(applied, ["user_id=dropped"]);
}

#[test]
fn settings_an_api_does_not_have_are_refused_with_the_provider_named() {
    let toml = r#"
[providers.g]
base_url = "http://127.0.0.1:9"
api = "gemini"
[providers.g.settings]
store = false
user = "hash"

[providers.a]
base_url = "http://127.0.0.1:9"
api = "anthropic"
[providers.a.settings]
metadata = "drop"

[providers.o]
base_url = "http://127.0.0.1:9"
api = "openai"
[providers.o.settings]
store = true
user_id = "hash"
"#;
    let errors = Config::from_toml("t.toml", toml, None).unwrap_err().0;
    let has = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(
        has("[providers.g.settings] store: the gemini API"),
        "{errors:?}"
    );
    assert!(
        has("[providers.g.settings] user: the gemini API"),
        "{errors:?}"
    );
    assert!(
        has("[providers.a.settings] metadata: the anthropic API"),
        "{errors:?}"
    );
    assert!(has("[providers.o.settings] store = true"), "{errors:?}");
    assert!(
        has("[providers.o.settings] user_id: the openai API"),
        "{errors:?}"
    );
}

#[test]
fn the_governance_holds_each_providers_terms_and_settings_and_the_profiles() {
    let cfg = config();
    let g = cfg.audit.governance.as_ref().unwrap();
    let o = &g.providers["openai"];
    assert_eq!(o.jurisdiction.as_deref(), Some("US"));
    assert_eq!(o.region.as_deref(), Some("US"));
    assert_eq!(
        (o.retention_days, o.training_use, o.dpa),
        (Some(30), Some(false), Some(true))
    );
    assert_eq!(
        o.settings,
        [
            "metadata=dropped",
            "safety_identifier=hashed",
            "store=false",
            "user=hashed"
        ]
    );
    assert_eq!(g.providers["anthropic"].settings, ["user_id=hashed"]);
    assert!(g.providers["mistral"].settings.is_empty());
    let r = &g.assistants["recrutement"];
    assert_eq!(
        (r.owner.as_str(), r.purpose.as_str()),
        ("DRH", "job offers")
    );
    assert_eq!(r.providers, ["openai", "mistral", "anthropic"]);
    assert!(r.prefer_eu);
}

#[test]
fn check_names_the_terms_each_provider_lacks_but_asks_no_dpa_of_a_local_one() {
    let cfg = config();
    let w = |p: &str| {
        cfg.warnings
            .iter()
            .find(|w| w.contains(&format!("[providers.{p}] declares no")))
            .cloned()
    };
    assert_eq!(w("openai"), None);
    assert_eq!(w("ollama"), None);
    let m = w("mistral").unwrap();
    assert!(
        m.contains("declares no region, retention_days, training_use, dpa in its terms"),
        "{m}"
    );
    assert!(m.starts_with("t.toml:"), "{m}");
}

#[test]
fn a_profile_chooses_the_eu_provider_its_only_provider_or_the_one_asked_for() {
    let cfg = config();
    let p = &cfg.providers;
    let any = |_: &str| true;
    let pick = |a: &str, asked: &str, allowed: &dyn Fn(&str) -> bool| {
        cfg.assistants[a]
            .choose(&p[asked], p, allowed)
            .map(|(p, why)| (p.name.clone(), why))
    };
    // prefer_eu: the French provider, whatever was asked.
    assert_eq!(
        pick("recrutement", "openai", &any),
        Some(("mistral".into(), Some(REASON_EU_PREFERENCE)))
    );
    assert_eq!(
        pick("recrutement", "mistral", &any),
        Some(("mistral".into(), None))
    );
    // Only among the API the client speaks: Anthropic for an Anthropic request.
    assert_eq!(
        pick("recrutement", "anthropic", &any),
        Some(("anthropic".into(), None))
    );
    // A key that may not use the EU provider: the one asked for.
    let no_mistral = |n: &str| n != "mistral";
    assert_eq!(
        pick("recrutement", "openai", &no_mistral),
        Some(("openai".into(), None))
    );
    // One provider: that one.
    assert_eq!(
        pick("juridique", "anthropic", &any),
        Some(("anthropic".into(), None))
    );
    // Without prefer_eu, the one asked for when allowed, else the profile's first.
    assert_eq!(
        pick("support", "openai", &any),
        Some(("openai".into(), None))
    );
    let only_mistral = |n: &str| n == "mistral";
    assert_eq!(
        pick("support", "openai", &only_mistral),
        Some(("mistral".into(), Some(REASON_PROFILE)))
    );
    // No provider of the profile speaks Ollama's API.
    assert_eq!(pick("support", "ollama", &any), None);
}

#[test]
fn is_eu_knows_the_union_and_its_member_states_but_not_local() {
    for j in ["EU", "FR", "DE", "IE"] {
        assert!(is_eu(Some(j)), "{j}");
    }
    for j in ["US", "CH", "GB", "local", "eu"] {
        assert!(!is_eu(Some(j)), "{j}");
    }
    assert!(!is_eu(None));
}

#[test]
fn a_profiles_ceiling_lowers_every_destination_and_never_raises_one() {
    let cfg = config();
    let p = cfg.assistants["recrutement"].policy.as_ref().unwrap();
    for d in p.providers.values() {
        assert_eq!(d.max_sensitivity, Sensitivity::Internal);
    }
    assert!(cfg.assistants["juridique"].policy.is_none());
}

#[test]
fn assistant_mistakes_are_each_reported_with_their_line() {
    let toml = r#"[providers.o]
base_url = "http://127.0.0.1:9"
api = "openai"

[assistants.x]
owner = "a"
purpose = "b"
providers = ["nope"]
models = []
max_sensitivity = "top"

[assistants.Bad]
owner = ""
purpose = "b"
providers = ["o"]
models = ["m"]

[[keys.virtual]]
hash = "0000000000000000000000000000000000000000000000000000000000000000"
user = "u"
assistant = "ghost"
"#;
    let errors = Config::from_toml("t.toml", toml, None).unwrap_err().0;
    let at = |line: usize, needle: &str| {
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with(&format!("t.toml:{line}:")) && e.contains(needle)),
            "line {line} {needle:?}: {errors:?}"
        );
    };
    at(8, "providers names no declared provider \"nope\"");
    at(5, "models must name at least one model");
    at(10, "max_sensitivity \"top\"");
    at(12, "must be lower-case");
    at(12, "needs an owner and a purpose");
    at(21, "assistant names no [assistants.ghost]");
}

#[test]
fn the_system_prompt_goes_first_in_each_apis_shape() {
    let run = |endpoint: Endpoint, body: &str| {
        let mut w = Walked::parse(body.as_bytes(), endpoint.schema()).unwrap();
        let done = endpoint.prepend_system(&mut w, "Be fair.");
        (
            done,
            serde_json::from_slice::<serde_json::Value>(&w.to_bytes()).unwrap(),
        )
    };
    let (done, b) = run(
        Endpoint::OpenaiChat,
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
    );
    assert!(done);
    assert_eq!(
        b["messages"][0],
        serde_json::json!({"role":"system","content":"Be fair."})
    );
    assert_eq!(b["messages"][1]["content"], "hi");
    let (_, b) = run(
        Endpoint::OpenaiResponses,
        r#"{"model":"m","input":"hi","instructions":"Short."}"#,
    );
    assert_eq!(b["instructions"], "Be fair.\n\nShort.");
    let (_, b) = run(
        Endpoint::AnthropicMessages,
        r#"{"model":"c","messages":[]}"#,
    );
    assert_eq!(b["system"], "Be fair.");
    let (_, b) = run(
        Endpoint::AnthropicMessages,
        r#"{"model":"c","messages":[],"system":[{"type":"text","text":"Mine."}]}"#,
    );
    assert_eq!(b["system"][0]["text"], "Be fair.");
    assert_eq!(b["system"][1]["text"], "Mine.");
    let (_, b) = run(
        Endpoint::Gemini,
        r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#,
    );
    assert_eq!(b["systemInstruction"]["parts"][0]["text"], "Be fair.");
    let (_, b) = run(
        Endpoint::Gemini,
        r#"{"contents":[],"system_instruction":{"parts":[{"text":"Mine."}]}}"#,
    );
    assert_eq!(b["system_instruction"]["parts"][0]["text"], "Be fair.");
    assert_eq!(b["system_instruction"]["parts"][1]["text"], "Mine.");
    let (_, b) = run(Endpoint::OllamaGenerate, r#"{"model":"l","prompt":"hi"}"#);
    assert_eq!(b["system"], "Be fair.");
    let (done, b) = run(Endpoint::OpenaiEmbeddings, r#"{"model":"m","input":"hi"}"#);
    assert!(!done);
    assert_eq!(b, serde_json::json!({"model":"m","input":"hi"}));
}
