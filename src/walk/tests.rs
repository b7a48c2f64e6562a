use serde_json::{Value, json};

use super::*;
use crate::api::Endpoint;

fn texts(w: &Walked) -> Vec<&str> {
    w.slots.iter().map(|s| s.text.as_str()).collect()
}

fn walk(endpoint: Endpoint, body: &Value) -> Walked {
    Walked::parse(&serde_json::to_vec(body).unwrap(), endpoint.schema()).unwrap()
}

#[test]
fn duplicate_and_case_variant_keys_are_refused_at_any_depth() {
    let s = Endpoint::OpenaiChat.schema();
    let bad: &[(&[u8], WalkError)] = &[
        (br#"{"a":1,"a":2}"#, WalkError::DuplicateKey),
        (
            br#"{"messages":[{"role":"user","content":"x","content":"y"}]}"#,
            WalkError::DuplicateKey,
        ),
        (
            br#"{"content":"x","Content":"y"}"#,
            WalkError::CaseVariantKey,
        ),
        // A key differing from a known field only by case, alone.
        (
            br#"{"messages":[{"role":"user","Content":"jean@example.fr"}]}"#,
            WalkError::CaseVariantKey,
        ),
        (br#"{"MESSAGES":[]}"#, WalkError::CaseVariantKey),
    ];
    for (body, why) in bad {
        assert_eq!(
            Walked::parse(body, s).unwrap_err(),
            *why,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // Inside tool arguments (JSON in a string): a duplicate makes the string plain text,
    // scanned whole.
    let w = Walked::parse(
        br#"{"messages":[{"role":"tool","content":"{\"a\":\"x@y.fr\",\"a\":\"z\"}"}]}"#,
        s,
    )
    .unwrap();
    assert_eq!(texts(&w), [r#"{"a":"x@y.fr","a":"z"}"#]);
}

#[test]
fn invalid_utf8_lone_surrogates_and_trailing_bytes_are_refused() {
    let s = Endpoint::OpenaiChat.schema();
    for body in [
        &b"{\"a\":\"\xff\"}"[..],
        br#"{"a":"\ud800"}"#,
        br#"{"a":"\udc00x"}"#,
        br#"{"a":1} {"b":2}"#,
        br#"{"a":"#,
        b"",
    ] {
        assert_eq!(
            Walked::parse(body, s).unwrap_err(),
            WalkError::Syntax,
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    // A valid surrogate pair is a character like any other.
    let w = Walked::parse(br#"{"a":"\ud83d\ude00"}"#, s).unwrap();
    assert_eq!(texts(&w), ["a", "😀"]);
}

#[test]
fn every_string_number_and_unknown_key_is_a_slot() {
    let body = json!({"model": "gpt-4o", "temperature": 0.5, "messages": [
        {"role": "user", "content": "bonjour", "extra": {"k": 12345678901234u64}}],
        "new_field": ["a", 2, true, null]});
    let w = walk(Endpoint::OpenaiChat, &body);
    assert_eq!(
        texts(&w),
        [
            "gpt-4o",
            "bonjour",
            "extra",
            "k",
            "12345678901234",
            "new_field",
            "a",
            "2"
        ]
    );
    assert_eq!(w.slots[0].kind, SlotKind::Checked);
    assert_eq!(w.slots[4].kind, SlotKind::Number);
    assert_eq!(w.slots[2].kind, SlotKind::Key);
}

#[test]
fn an_unchanged_body_serialises_to_the_same_value() {
    let body = json!({"model": "m", "n": 1, "x": 1.5e300, "big": 123456789012345678901234567890u128,
        "messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "c",
            "type": "function", "function": {"name": "f", "arguments": "{\"a\": [1, 2]}"}}]}],
        "esc": "é\"\\\n\u{1}"});
    let bytes = serde_json::to_vec(&body).unwrap();
    let w = Walked::parse(&bytes, Endpoint::OpenaiChat.schema()).unwrap();
    let out: Value = serde_json::from_slice(&w.to_bytes()).unwrap();
    assert_eq!(out, body);
    // Unchanged tool arguments keep their exact text (spacing included).
    assert_eq!(
        out["messages"][0]["tool_calls"][0]["function"]["arguments"],
        "{\"a\": [1, 2]}"
    );
}

#[test]
fn rewritten_slots_leave_in_their_place_and_numbers_become_strings() {
    let body = json!({"messages": [{"role": "tool", "content": "{\"card\":4111111111111111}"}],
        "meta": {"jean@example.fr": 1}});
    let mut w = walk(Endpoint::OpenaiChat, &body);
    for s in &mut w.slots {
        if s.text == "4111111111111111" || s.text == "jean@example.fr" {
            s.text = "[X]".to_owned();
            s.changed = true;
        }
    }
    let out: Value = serde_json::from_slice(&w.to_bytes()).unwrap();
    assert_eq!(out["messages"][0]["content"], "{\"card\":\"[X]\"}");
    assert_eq!(out["meta"], json!({"[X]": 1}));
}

#[test]
fn media_token_ids_and_credentials_are_reported() {
    let body = json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]});
    assert_eq!(walk(Endpoint::OpenaiChat, &body).media, ["image"]);
    let body = json!({"model": "m", "input": [[1, 2, 3]]});
    assert_eq!(walk(Endpoint::OpenaiEmbeddings, &body).media, ["token ids"]);
    let body = json!({"model": "m", "input": ["text"]});
    assert!(walk(Endpoint::OpenaiEmbeddings, &body).media.is_empty());
    let body = json!({"model": "m", "input": "x", "tools": [{"type": "mcp",
        "server_label": "s", "headers": {"Authorization": "Bearer abc"}}]});
    let w = walk(Endpoint::OpenaiResponses, &body);
    assert_eq!(w.credentials, 1);
    // The credential never leaves, whatever happens next.
    assert!(!String::from_utf8(w.to_bytes()).unwrap().contains("abc"));
    // An Anthropic document whose source is plain text is text, not media.
    let body = json!({"model": "c", "max_tokens": 1, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain",
         "data": "Jean Dupont"}}]}]});
    let w = walk(Endpoint::AnthropicMessages, &body);
    assert!(w.media.is_empty());
    assert!(texts(&w).contains(&"Jean Dupont"));
}

#[test]
fn text_parts_of_one_message_share_a_group() {
    let body = json!({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "user", "content": [{"type": "text", "text": "c"}]}]});
    let w = walk(Endpoint::OpenaiChat, &body);
    let g: Vec<u32> = w
        .slots
        .iter()
        .filter(|s| s.kind == SlotKind::Text)
        .map(|s| s.group)
        .collect();
    assert_eq!(g[0], g[1]);
    assert_ne!(g[0], 0);
    assert_ne!(g[1], g[2]);
}

#[test]
fn gemini_accepts_snake_case_and_refuses_other_case_variants() {
    let body = json!({"contents": [{"role": "user", "parts": [
        {"inline_data": {"mime_type": "image/png", "data": "AAAA"}}]}]});
    assert_eq!(walk(Endpoint::Gemini, &body).media, ["file"]);
    let bad = br#"{"contents":[{"role":"user","Parts":[{"text":"x"}]}]}"#;
    assert_eq!(
        Walked::parse(bad, Endpoint::Gemini.schema()).unwrap_err(),
        WalkError::CaseVariantKey
    );
}

#[test]
fn every_schema_compiles_and_describes_its_fields() {
    for e in Endpoint::WITH_SCHEMA {
        let d = e.schema().describe();
        assert!(!d.is_empty(), "{e:?}");
        assert!(d.iter().any(|(p, _)| p == "model"), "{e:?} has no model");
    }
}

#[test]
fn json_schemas_keep_their_keywords_and_scan_everything_the_client_wrote() {
    let body = json!({"model": "m", "messages": [], "tools": [{"type": "function",
        "function": {"name": "f", "parameters": {"type": "object",
            "$comment": "owner jean@example.fr",
            "properties": {"jean.dupont@example.fr": {"type": "string",
                "description": "ask 06 12 34 56 78", "maxLength": 20,
                "examples": ["FR76 3000"], "x-note": "Dupont"}},
            "required": ["jean.dupont@example.fr"], "additionalProperties": false}}}]});
    let w = walk(Endpoint::OpenaiChat, &body);
    let t = texts(&w);
    for v in [
        "owner jean@example.fr",
        "jean.dupont@example.fr",
        "ask 06 12 34 56 78",
        "FR76 3000",
        "x-note",
        "Dupont",
    ] {
        assert!(t.contains(&v), "{v} not a slot: {t:?}");
    }
    for kw in ["object", "string", "type", "properties", "maxLength", "20"] {
        assert!(!t.contains(&kw), "{kw} is the schema's: {t:?}");
    }
    let out: Value = serde_json::from_slice(&w.to_bytes()).unwrap();
    assert_eq!(out, body);
}

mod properties {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::super::*;
    use crate::api::Endpoint;

    /// Arbitrary JSON values, keys drawn from the APIs' own field names and from noise.
    fn json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("messages".to_owned()),
            Just("content".to_owned()),
            Just("role".to_owned()),
            Just("text".to_owned()),
            Just("type".to_owned()),
            Just("tools".to_owned()),
            Just("parameters".to_owned()),
            Just("arguments".to_owned()),
            "[a-zA-Z_$]{1,8}",
            "\\PC{0,6}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            Just(Value::String("user".to_owned())),
            Just(Value::String("{\"a\":[1,\"x\"]}".to_owned())),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..5).prop_map(|m| {
                    // Keys differing only by case would be refused: keep one of each.
                    let mut seen = std::collections::HashSet::new();
                    Value::Object(
                        m.into_iter()
                            .filter(|(k, _)| seen.insert(k.to_ascii_lowercase()))
                            .collect(),
                    )
                }),
            ]
        })
    }

    proptest! {
        /// The walker's fuzz target, run as a property: arbitrary bytes never panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            for e in Endpoint::WITH_SCHEMA {
                if let Ok(w) = Walked::parse(&bytes, e.schema()) {
                    let _ = w.to_bytes();
                }
            }
        }

        /// A body nothing rewrites leaves as the same JSON value, for every schema.
        #[test]
        fn an_unchanged_body_leaves_as_the_same_value(v in json()) {
            let bytes = serde_json::to_vec(&v).unwrap();
            for e in Endpoint::WITH_SCHEMA {
                match Walked::parse(&bytes, e.schema()) {
                    Ok(w) => {
                        let out: Value = serde_json::from_slice(&w.to_bytes()).unwrap();
                        // Only credentials are ever taken out by the walk itself.
                        if w.credentials == 0 {
                            prop_assert_eq!(&out, &v, "{:?}", e);
                        }
                    }
                    Err(why) => prop_assert_eq!(why, WalkError::CaseVariantKey, "{:?}", e),
                }
            }
        }

        /// Every string of the body is a slot or is kept whole by a structural shape:
        /// marking every slot changes every string that is not structural.
        #[test]
        fn every_slot_lands_where_it_was_read(v in json()) {
            let bytes = serde_json::to_vec(&v).unwrap();
            let Ok(mut w) = Walked::parse(&bytes, Endpoint::Generic.schema()) else {
                return Ok(());
            };
            for s in &mut w.slots {
                s.text.insert(0, '\u{00a7}');
                s.changed = true;
            }
            let out: Value = serde_json::from_slice(&w.to_bytes()).unwrap();
            fn strings(v: &Value, out: &mut Vec<String>) {
                match v {
                    Value::String(s) => out.push(s.clone()),
                    Value::Number(n) => out.push(n.to_string()),
                    Value::Array(a) => a.iter().for_each(|i| strings(i, out)),
                    Value::Object(m) => m.iter().for_each(|(k, i)| {
                        out.push(k.clone());
                        strings(i, out);
                    }),
                    _ => {}
                }
            }
            let mut all = Vec::new();
            strings(&out, &mut all);
            // With nothing structural, every scalar and key was a slot (embedded JSON is
            // re-serialised, so its strings carry the mark inside).
            for s in all {
                prop_assert!(s.starts_with('\u{00a7}') || s.contains('\u{00a7}'), "{s:?} unmarked");
            }
        }
    }
}
