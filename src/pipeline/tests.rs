use std::sync::LazyLock;

use serde_json::{Value, json};

use super::*;
use crate::api::Endpoint;
use crate::config::TokenStyle;
use crate::reidentify::Reidentifier;
use crate::vault::TokenKey;

static DETECTOR: LazyLock<Detector> = LazyLock::new(Detector::builtin);
static KEY: LazyLock<TokenKey> =
    LazyLock::new(|| TokenKey::from_secret(b"test secret, 32 bytes long......"));

fn walked(endpoint: Endpoint, body: &Value) -> Walked {
    Walked::parse(&serde_json::to_vec(body).unwrap(), endpoint.schema()).unwrap()
}

/// Pseudonymises `body` as an OpenAI chat request; returns the result, the body as it
/// would leave, and the vault's (pseudonym, original) pairs.
fn run(
    body: &Value,
    allow_media: bool,
) -> (Result<Summary, Refusal>, Value, Vec<(String, String)>) {
    run_at(Endpoint::OpenaiChat, body, allow_media)
}

fn run_at(
    endpoint: Endpoint,
    body: &Value,
    allow_media: bool,
) -> (Result<Summary, Refusal>, Value, Vec<(String, String)>) {
    let mut vault = Vault::new(&KEY, None, TokenStyle::Token, 1000);
    let mut w = walked(endpoint, body);
    let r = pseudonymise(&DETECTOR, &mut w, &mut vault, allow_media).map_err(|r| r.refusal);
    let out: Value = serde_json::from_slice(&w.to_bytes()).unwrap();
    let pairs = vault
        .entries()
        .iter()
        .map(|e| (e.pseudonym.clone(), e.original.clone()))
        .collect();
    (r, out, pairs)
}

#[test]
fn a_value_found_once_is_masked_in_every_message() {
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "Dupont a appelé. Jean Dupont aussi."},
        {"role": "assistant", "content": "Bien reçu pour Dupont.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f",
             "arguments": "{\"to\":\"jean.dupont@example.fr\",\"who\":\"Dupont\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "envoyé à jean.dupont@example.fr"},
        {"role": "user", "content": "Écrivez à M. Jean Dupont, jean.dupont@example.fr"}
    ]});
    let (r, out, pairs) = run(&body, false);
    assert!(r.unwrap().changed);
    let text = out.to_string();
    assert!(!text.contains("Dupont"), "{text}");
    assert!(!text.contains("jean.dupont"), "{text}");
    // The arguments are still JSON, and ids and names are intact.
    let args = out["messages"][1]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    let parsed: Value = serde_json::from_str(args).unwrap();
    assert!(parsed["to"].as_str().unwrap().starts_with("[EMAIL_"));
    assert_eq!(out["messages"][2]["tool_call_id"], "c1");
    assert_eq!(out["messages"][1]["tool_calls"][0]["function"]["name"], "f");
    assert!(!pairs.is_empty());
}

#[test]
fn round_trip_restores_the_original_text() {
    let original = "Bonjour, je suis Jean Dupont (jean.dupont@example.fr, 06 12 34 56 78).";
    let body = json!({"messages": [{"role": "user", "content": original}]});
    let mut vault = Vault::new(&KEY, None, TokenStyle::Token, 1000);
    let mut w = walked(Endpoint::OpenaiChat, &body);
    pseudonymise(&DETECTOR, &mut w, &mut vault, false).unwrap();
    let out: Value = serde_json::from_slice(&w.to_bytes()).unwrap();
    let masked = out["messages"][0]["content"].as_str().unwrap().to_owned();
    assert_ne!(masked, original);
    let r = Reidentifier::new(&vault);
    assert_eq!(r.reidentify(&masked).0, original);
}

#[test]
fn secrets_and_images_are_refused() {
    let body = json!({"messages": [{"role": "user",
        "content": "ma clé sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"}]});
    let (r, _, _) = run(&body, false);
    assert_eq!(
        r,
        Err(Refusal::Secret {
            kind: "openai-key".into()
        })
    );
    let body = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "voici"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]});
    let (r, _, _) = run(&body, false);
    assert_eq!(r, Err(Refusal::Unscannable { kind: "image" }));
    let (r, out, _) = run(&body, true);
    assert_eq!(r.unwrap().unscanned, vec!["image"]);
    // Allowed media leaves as it came.
    assert_eq!(
        out["messages"][0]["content"][1],
        body["messages"][0]["content"][1]
    );
}

#[test]
fn a_refusal_carries_its_findings_and_keyed_hashes_but_no_value() {
    let secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
    let body = json!({"messages": [{"role": "user",
        "content": format!("Jean Dupont, ma clé {secret}")}]});
    let mut vault = Vault::new(&KEY, None, TokenStyle::Token, 1000);
    let mut w = walked(Endpoint::OpenaiChat, &body);
    let r = pseudonymise(&DETECTOR, &mut w, &mut vault, false).unwrap_err();
    assert!(matches!(r.refusal, Refusal::Secret { .. }));
    assert_eq!(r.summary.findings.get("SECRET"), Some(&1));
    assert_eq!(r.summary.findings_by_nature.get("secret"), Some(&1));
    let expected = crate::audit::hex(&KEY.audit_hash("SECRET", secret));
    assert!(
        r.value_hashes
            .iter()
            .any(|(e, h)| e == "SECRET" && *h == expected),
        "{r:?}"
    );
    assert!(!format!("{r:?}").contains(secret));
    assert!(!format!("{r:?}").contains("Dupont"));
    assert!(vault.is_empty());
}

/// Scans `body`, gives every value of `entity` the action `a` (others are
/// pseudonymised) and rewrites.
fn rewrite_with(body: &Value, entity: &str, a: ValueAction) -> (Summary, Value, Vault<'static>) {
    let mut vault = Vault::new(&KEY, None, TokenStyle::Token, 1000);
    let mut w = walked(Endpoint::OpenaiChat, body);
    let scanned = scan(&DETECTOR, &w);
    let per_finding: Vec<ValueAction> = scanned
        .findings()
        .iter()
        .map(|f| {
            if f.entity.as_str() == entity {
                a
            } else {
                ValueAction::Pseudonymise
            }
        })
        .collect();
    let actions = scanned.value_actions(&per_finding);
    let s = rewrite(scanned, &mut w, &mut vault, &actions, false).unwrap();
    let out = serde_json::from_slice(&w.to_bytes()).unwrap();
    (s, out, vault)
}

#[test]
fn redacted_values_get_a_placeholder_everywhere_and_stay_out_of_the_vault() {
    let body = json!({"messages": [
        {"role": "user", "content": "Jean Dupont, jean.dupont@example.fr"},
        {"role": "user", "content": "Copie à JEAN.DUPONT@EXAMPLE.FR"}]});
    let (s, out, vault) = rewrite_with(&body, "EMAIL", ValueAction::Redact);
    let text = out.to_string();
    assert!(!text.to_lowercase().contains("jean.dupont@"), "{text}");
    assert_eq!(text.matches("[REDACTED_EMAIL]").count(), 2, "{text}");
    assert_eq!(s.redacted, 2);
    assert!(vault.entries().iter().all(|e| e.entity != "EMAIL"));
    assert!(vault.entries().iter().any(|e| e.entity == "PERSON"));
    let r = Reidentifier::new(&vault);
    let back = r.reidentify(&text).0.into_owned();
    assert!(
        back.contains("Jean Dupont") && back.contains("[REDACTED_EMAIL]"),
        "{back}"
    );
}

#[test]
fn allowed_values_leave_as_they_are() {
    let body = json!({"messages": [{"role": "user", "content": "Jean Dupont, 06 12 34 56 78"}]});
    let (s, out, vault) = rewrite_with(&body, "PHONE", ValueAction::Allow);
    let text = out.to_string();
    assert!(text.contains("06 12 34 56 78"), "{text}");
    assert!(!text.contains("Dupont"), "{text}");
    assert_eq!(s.redacted, 0);
    assert!(vault.entries().iter().all(|e| e.entity != "PHONE"));
    let body = json!({"messages": [{"role": "user", "content": "06 12 34 56 78"}]});
    let (s, out, _) = rewrite_with(&body, "PHONE", ValueAction::Allow);
    assert!(!s.changed);
    assert_eq!(out, body);
}

#[test]
fn a_value_found_with_different_actions_gets_the_strictest() {
    let body = json!({"messages": [{"role": "user",
        "content": "Jean Dupont écrit. Jean Dupont signe."}]});
    let w = walked(Endpoint::OpenaiChat, &body);
    let scanned = scan(&DETECTOR, &w);
    assert!(scanned.findings().len() >= 2, "{scanned:?}");
    let mut per = vec![ValueAction::Allow; scanned.findings().len()];
    per[1] = ValueAction::Redact;
    let actions = scanned.value_actions(&per);
    assert_eq!(actions[scanned.findings()[0].value], ValueAction::Redact);
    assert!(!format!("{scanned:?}").contains("Dupont"));
}

#[test]
fn nothing_found_leaves_the_body_as_it_was() {
    let body = json!({"model": "gpt-4o", "temperature": 0.2, "messages": [
        {"role": "user", "content": "Quelle heure est-il ?"}]});
    let (r, out, _) = run(&body, false);
    assert!(!r.unwrap().changed);
    assert_eq!(out, body);
}

#[test]
fn numbers_and_keys_in_tool_arguments_are_scanned() {
    let body = json!({"messages": [
        {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
         "function": {"name": "pay", "arguments": {"card": 4111111111111111u64,
            "contacts": {"jean.dupont@example.fr": "VIP"}}}}]}]});
    let (r, out, _) = run(&body, false);
    r.unwrap();
    let text = out.to_string();
    assert!(!text.contains("4111111111111111"), "{text}");
    assert!(!text.contains("jean.dupont@example.fr"), "{text}");
    // The number became its token, as a string.
    let card = &out["messages"][0]["tool_calls"][0]["function"]["arguments"]["card"];
    assert!(
        card.as_str().unwrap().starts_with("[CREDIT_CARD_"),
        "{card}"
    );
}

#[test]
fn unknown_fields_at_any_depth_are_scanned() {
    let body = json!({"model": "m", "prompt_cache_key": "jean.dupont@example.fr",
        "stop": ["Jean Dupont", "06 12 34 56 78"],
        "x_unknown": {"deep": [{"deeper": "IBAN FR76 3000 6000 0112 3456 7890 189"}]},
        "messages": [{"role": "user", "content": {"odd": "écrire à jean.dupont@example.fr"}}]});
    let (r, out, _) = run(&body, false);
    r.unwrap();
    let text = out.to_string();
    for v in [
        "jean.dupont@example.fr",
        "06 12 34 56 78",
        "FR76 3000",
        "Dupont",
    ] {
        assert!(!text.contains(v), "{v} left in {text}");
    }
    assert_eq!(out["model"], "m");
}

#[test]
fn structural_fields_keep_their_value_and_odd_shapes_are_scanned() {
    // A role that is not a role is text; an id holding an e-mail is found by the
    // detector; a long number in a numeric parameter is scanned.
    let body = json!({"model": "jean.dupont@example.fr", "seed": 4111111111111111u64,
        "messages": [{"role": "Jean Dupont, 06 12 34 56 78", "content": "x",
                      "tool_call_id": "jean.dupont@example.fr"}]});
    let (r, out, _) = run(&body, false);
    r.unwrap();
    let text = out.to_string();
    for v in [
        "jean.dupont@example.fr",
        "06 12 34 56 78",
        "4111111111111111",
    ] {
        assert!(!text.contains(v), "{v} left in {text}");
    }
}

#[test]
fn propagation_never_rewrites_ids_or_model_names() {
    // "Claude" is a first name found in the text; the model and the tool names keep it.
    let body = json!({"model": "claude-3-5-sonnet", "messages": [
        {"role": "user", "content": "Bonjour, je suis Claude Martin."},
        {"role": "assistant", "tool_calls": [{"id": "claude_1", "type": "function",
            "function": {"name": "claude", "arguments": "{}"}}]}]});
    let (r, out, _) = run(&body, false);
    r.unwrap();
    assert_eq!(out["model"], "claude-3-5-sonnet");
    assert_eq!(out["messages"][1]["tool_calls"][0]["id"], "claude_1");
    assert!(!out.to_string().contains("Martin"));
}

#[test]
fn an_email_split_across_two_text_parts_is_found_joined() {
    let body = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Écrivez à jean.dupont@"},
        {"type": "text", "text": "example.fr demain"}]}]});
    let mut vault = Vault::new(&KEY, None, TokenStyle::Token, 1000);
    let mut w = walked(Endpoint::OpenaiChat, &body);
    pseudonymise(&DETECTOR, &mut w, &mut vault, false).unwrap();
    let out: Value = serde_json::from_slice(&w.to_bytes()).unwrap();
    let a = out["messages"][0]["content"][0]["text"].as_str().unwrap();
    let b = out["messages"][0]["content"][1]["text"].as_str().unwrap();
    assert!(
        !a.contains("jean.dupont") && !b.contains("example.fr"),
        "{a} | {b}"
    );
    // The token stands for the whole address, restored whole.
    let joined = format!("{a}{b}");
    let back = Reidentifier::new(&vault).reidentify(&joined).0.into_owned();
    assert_eq!(back, "Écrivez à jean.dupont@example.fr demain");
}

#[test]
fn anthropic_citations_tool_inputs_and_mcp_credentials() {
    let body = json!({"model": "claude", "max_tokens": 10, "messages": [
        {"role": "assistant", "content": [
            {"type": "text", "text": "ok", "citations": [{"type": "char_location",
              "cited_text": "Jean Dupont, 06 12 34 56 78", "document_index": 0,
              "start_char_index": 0, "end_char_index": 10}]},
            {"type": "tool_use", "id": "toolu_1", "name": "pay",
             "input": {"iban": "FR76 3000 6000 0112 3456 7890 189", "amount": 4111111111111111u64}}]}],
        "stop_sequences": ["jean.dupont@example.fr"]});
    let (r, out, _) = run_at(Endpoint::AnthropicMessages, &body, false);
    r.unwrap();
    let text = out.to_string();
    for v in [
        "06 12 34 56 78",
        "FR76 3000",
        "4111111111111111",
        "jean.dupont@example.fr",
    ] {
        assert!(!text.contains(v), "{v} left in {text}");
    }
    assert_eq!(out["messages"][0]["content"][1]["id"], "toolu_1");
    let body = json!({"model": "claude", "max_tokens": 10, "messages": [],
        "mcp_servers": [{"type": "url", "url": "https://mcp.example", "name": "x",
                         "authorization_token": "abc123"}]});
    let (r, _, _) = run_at(Endpoint::AnthropicMessages, &body, false);
    assert_eq!(
        r,
        Err(Refusal::Secret {
            kind: CREDENTIAL_KIND.into()
        })
    );
}

#[test]
fn a_scan_previews_exactly_what_a_rewrite_sends() {
    let mut w = Walked::text("Appelez Jean Dupont au 06 12 34 56 78.".to_owned());
    let mut vault = Vault::new(&KEY, None, TokenStyle::Token, 1000);
    pseudonymise(&DETECTOR, &mut w, &mut vault, false).unwrap();
    let out: Value = serde_json::from_slice(&w.to_bytes()).unwrap();
    let text = out.as_str().unwrap();
    assert!(text.starts_with("Appelez [PERSON_"), "{text}");
    assert!(!text.contains("06 12"), "{text}");
}

#[test]
fn a_value_hidden_behind_invisible_characters_gets_the_token_of_its_plain_form() {
    let body = json!({"messages": [
        {"role": "user", "content": "Ma carte : 4111\u{200b}1111\u{00ad}1111\u{2060}1111, merci"},
        {"role": "user", "content": "Je répète : 4111 1111 1111 1111."},
        {"role": "user", "content": "Écrivez à jean\u{200d}.dupont@example.fr ou JEAN.DUPONT＠EXAMPLE.FR"}]});
    let (r, out, pairs) = run(&body, false);
    r.unwrap();
    let a = out["messages"][0]["content"].as_str().unwrap();
    let b = out["messages"][1]["content"].as_str().unwrap();
    let c = out["messages"][2]["content"].as_str().unwrap();
    // The whole value is replaced, invisible characters included.
    assert_eq!(
        a.matches('\u{200b}').count() + a.matches('\u{00ad}').count(),
        0,
        "{a}"
    );
    assert!(!b.contains("4111") && !c.contains("dupont"), "{b} | {c}");
    let token = |t: &str| t[t.find('[').unwrap()..=t.find(']').unwrap()].to_owned();
    assert_eq!(token(a), token(b), "one card, one token");
    assert_eq!(
        c.matches(&token(c)).count(),
        2,
        "one address, one token: {c}"
    );
    // Each occurrence is restored as it was written.
    let vault_pairs: Vec<&str> = pairs.iter().map(|(_, o)| o.as_str()).collect();
    assert!(
        vault_pairs.iter().any(|o| o.contains('\u{200b}')),
        "{vault_pairs:?}"
    );
}

#[test]
fn dated_model_names_and_ids_leave_intact_but_an_address_in_them_does_not() {
    for model in [
        "gpt-4o-2024-08-06",
        "o1-2024-12-17",
        "claude-3-5-sonnet-20241022",
    ] {
        let body = json!({"model": model, "messages": [{"role": "user", "content": "Bonjour"}]});
        let (r, out, _) = run(&body, false);
        r.unwrap();
        assert_eq!(out["model"], model);
    }
    let body = json!({"model": "jean.dupont@example.fr", "messages": []});
    let (r, out, _) = run(&body, false);
    r.unwrap();
    assert!(
        out["model"].as_str().unwrap().starts_with("[EMAIL_"),
        "{out}"
    );
}

mod propagation_props {
    use proptest::prelude::*;

    use super::*;

    const FIRST: &[&str] = &["Jean", "Claire", "Paul", "Sophie", "Marc"];
    const LAST: &[&str] = &["Dupont", "Lefebvre", "Moreau", "Girard", "Bonnet"];
    const FILLER: &[&str] = &["merci", "pour le dossier", "de", "et", "rappel :", ",", "."];

    /// `name` with each letter's case from `cases` (repeats as people type them).
    fn recase(name: &str, cases: &[bool]) -> String {
        name.chars()
            .zip(cases.iter().cycle())
            .map(|(c, &up)| {
                if up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// A name introduced once is replaced in every repeat, whatever its case and
        /// wherever it recurs (other messages, between filler words).
        #[test]
        fn propagation_finds_every_repeat_of_a_value(
            people in proptest::collection::btree_set((0..FIRST.len(), 0..LAST.len()), 1..4),
            repeats in proptest::collection::vec(
                (any::<prop::sample::Index>(), proptest::collection::vec(any::<bool>(), 1..6),
                 proptest::collection::vec(0..FILLER.len(), 0..4), 0..3usize),
                1..40),
        ) {
            let people: Vec<(usize, usize)> = people.into_iter().collect();
            let names: Vec<String> =
                people.iter().map(|&(f, l)| format!("{} {}", FIRST[f], LAST[l])).collect();
            let intro = names.iter().map(|n| format!("Bonjour M. {n}.")).collect::<Vec<_>>().join(" ");
            let mut messages = vec![String::new(); 3];
            for (who, cases, filler, msg) in &repeats {
                let m = &mut messages[*msg];
                for &f in filler {
                    m.push_str(FILLER[f]);
                    m.push(' ');
                }
                m.push_str(&recase(&names[who.index(names.len())], cases));
                m.push(' ');
            }
            let mut all = vec![json!({"role": "user", "content": intro})];
            all.extend(messages.iter().map(|m| json!({"role": "user", "content": m})));
            let body = json!({"model": "m", "messages": all});
            let (r, out, _) = run(&body, false);
            prop_assert!(r.unwrap().changed);
            let text = out["messages"].to_string().to_ascii_lowercase();
            for n in &names {
                prop_assert!(!text.contains(&n.to_ascii_lowercase()), "{} left in {}", n, text);
            }
            // The automaton used for large requests finds the same spans as the search
            // per value used for small ones.
            let w = walked(Endpoint::OpenaiChat, &body);
            let scanned = scan(&DETECTOR, &w);
            let spans = |max_work: usize| {
                let mut spans = scanned.spans.clone();
                propagate(&scanned, &w, &|_| ValueAction::Pseudonymise, &mut spans, max_work);
                spans.iter().map(|s| (s.slot, s.start, s.end, s.value)).collect::<Vec<_>>()
            };
            prop_assert_eq!(spans(usize::MAX), spans(0));
        }
    }
}
