//! The proxy round trip against the in-process mock provider: routing, keys, every API's
//! walker, refusals (with the mock asserting nothing reached it), compression, limits.

use std::io::Write;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::proxy::{EMAIL, Harness, IBAN, NAME, PHONE, PROMPT, VALUES};

/// Where the client's answer keeps its text, per API.
type Answer = Box<dyn Fn(&Value) -> String>;
/// Path, extra headers, body, expected status, expected error code.
type RefusalCase = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    Vec<u8>,
    StatusCode,
    &'static str,
);

fn token_in(text: &str, entity: &str) -> Option<String> {
    let start = text.find(&format!("[{entity}_"))?;
    let end = start + text[start..].find(']')? + 1;
    Some(text[start..end].to_owned())
}

#[tokio::test]
async fn openai_chat_is_pseudonymised_upstream_and_reidentified_back() {
    let h = Harness::start("").await;
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &json!({"model": "gpt-x", "messages": [
                {"role": "system", "content": "Tu es un assistant."},
                {"role": "user", "content": PROMPT}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    h.assert_no_leak(VALUES);
    let sent = String::from_utf8_lossy(&h.mock.last().body).into_owned();
    assert!(token_in(&sent, "PERSON").is_some(), "{sent}");
    assert!(token_in(&sent, "EMAIL").is_some(), "{sent}");
    let answer = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    for v in [NAME, EMAIL, PHONE, IBAN] {
        assert!(answer.contains(v), "{v} missing from {answer}");
    }
    assert!(!answer.contains("[PERSON_"), "{answer}");
    assert!(r.headers.contains_key("x-paravent-request-id"));
    assert_eq!(r.headers.get("x-mock-upstream").unwrap(), "yes");
}

#[tokio::test]
async fn tool_calls_are_scanned_in_the_history_and_restored_in_the_answer() {
    let h = Harness::start("").await;
    let args = json!({"to": EMAIL, "name": NAME}).to_string();
    let r = h
        .post(
            "/v1/chat/completions",
            &json!({"model": "m",
                "tools": [{"type": "function", "function": {"name": "send",
                    "description": "Envoie un message", "parameters": {"type": "object"}}}],
                "messages": [
                    {"role": "user", "content": format!("Écris à {NAME}")},
                    {"role": "assistant", "content": null, "tool_calls": [{"id": "c1",
                        "type": "function", "function": {"name": "send", "arguments": args}}]},
                    {"role": "tool", "tool_call_id": "c1", "content": format!("envoyé à {EMAIL}")},
                    {"role": "user", "content": format!("Et rappelle {NAME} au {PHONE}")}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    h.assert_no_leak(&[NAME, EMAIL, PHONE, "Dupont"]);
    let sent: Value = serde_json::from_slice(&h.mock.last().body).unwrap();
    let sent_args: Value = serde_json::from_str(
        sent["messages"][1]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(sent_args["to"].as_str().unwrap().starts_with("[EMAIL_"));
    let call = &r.json()["choices"][0]["message"]["tool_calls"][0]["function"];
    let back: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert!(back["text"].as_str().unwrap().contains(NAME), "{back}");
    assert!(back["text"].as_str().unwrap().contains(PHONE), "{back}");
}

#[tokio::test]
async fn the_same_value_gets_the_same_token_in_turn_one_and_turn_three() {
    let h = Harness::start("").await;
    let turn1 = json!({"role": "user", "content": format!("Je suis {NAME}.")});
    h.post(
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [turn1]}),
    )
    .await;
    let t1 = token_in(&String::from_utf8_lossy(&h.mock.last().body), "PERSON").unwrap();
    let r = h
        .post(
            "/v1/chat/completions",
            &json!({"model": "m", "messages": [turn1,
                {"role": "assistant", "content": format!("Bonjour {NAME}")},
                {"role": "user", "content": "Rappelle-moi mon nom."}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let sent = String::from_utf8_lossy(&h.mock.last().body).into_owned();
    assert_eq!(sent.matches(&t1).count(), 2, "{sent}");
    h.assert_no_leak(&[NAME]);
}

#[tokio::test]
async fn a_value_found_late_is_masked_in_earlier_messages_too() {
    let h = Harness::start("").await;
    // "Dupont" alone is not a finding; "M. Jean Dupont" later in the conversation is.
    h.post(
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [
            {"role": "user", "content": "Le dossier Jean Dupont est prêt."},
            {"role": "user", "content": "Merci de contacter M. Jean Dupont demain."}]}),
    )
    .await;
    h.assert_no_leak(&[NAME]);
}

#[tokio::test]
async fn every_api_round_trips_without_leaks() {
    let h = Harness::start("").await;
    let cases: Vec<(&str, Value, Answer)> = vec![
        (
            "/openai/v1/responses",
            json!({"model": "m", "instructions": "Sois bref.", "input": [
                {"role": "user", "content": [{"type": "input_text", "text": PROMPT}]},
                {"type": "function_call", "call_id": "c", "name": "send",
                 "arguments": json!({"to": EMAIL}).to_string()},
                {"type": "function_call_output", "call_id": "c", "output": format!("ok {NAME}")}],
                "tools": [{"type": "function", "name": "send", "parameters": {}}]}),
            Box::new(|v: &Value| v["output"].to_string()),
        ),
        (
            "/openai/v1/completions",
            json!({"model": "m", "prompt": PROMPT}),
            Box::new(|v: &Value| v["choices"][0]["text"].to_string()),
        ),
        (
            "/anthropic/v1/messages",
            json!({"model": "claude", "max_tokens": 10, "system": [{"type": "text", "text": "Assistant."}],
                "tools": [{"name": "send", "description": "Envoie", "input_schema": {"type": "object"}}],
                "messages": [
                {"role": "user", "content": PROMPT},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "send", "input": {"to": EMAIL}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                    "content": [{"type": "text", "text": format!("envoyé à {NAME}")}]}]}]}),
            Box::new(|v: &Value| v["content"].to_string()),
        ),
        (
            "/gemini/v1beta/models/gemini-x:generateContent",
            json!({"systemInstruction": {"parts": [{"text": "Assistant."}]},
                "tools": [{"functionDeclarations": [{"name": "send", "description": "Envoie"}]}],
                "contents": [{"role": "user", "parts": [{"text": PROMPT}]},
                {"role": "model", "parts": [{"functionCall": {"name": "send", "args": {"to": EMAIL}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "send", "response": {"ok": NAME}}}]}]}),
            Box::new(|v: &Value| v["candidates"][0]["content"].to_string()),
        ),
        (
            "/ollama/api/chat",
            json!({"model": "llama", "stream": false, "tools": [{"type": "function", "function": {"name": "send"}}],
                "messages": [{"role": "user", "content": PROMPT},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "send", "arguments": {"to": EMAIL}}}]}]}),
            Box::new(|v: &Value| v["message"].to_string()),
        ),
        (
            "/ollama/api/generate",
            json!({"model": "llama", "stream": false, "system": "Assistant.", "prompt": PROMPT}),
            Box::new(|v: &Value| v["response"].to_string()),
        ),
    ];
    for (path, body, answer) in cases {
        let before = h.mock.count();
        let r = h.post(path, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert_eq!(h.mock.count(), before + 1, "{path}");
        h.assert_no_leak(VALUES);
        let a = answer(&r.json());
        assert!(a.contains(NAME), "{path}: {a}");
        assert!(a.contains(EMAIL), "{path}: {a}");
        assert!(
            !a.contains("[PERSON_") && !a.contains("[EMAIL_"),
            "{path}: {a}"
        );
    }
}

#[tokio::test]
async fn embeddings_inputs_are_pseudonymised() {
    let h = Harness::start("").await;
    let r = h
        .post(
            "/v1/embeddings",
            &json!({"model": "e", "input": [PROMPT, format!("contact: {EMAIL}")]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    h.assert_no_leak(VALUES);
    // curl -d sends a form content type; Ollama users rely on it.
    let r = h
        .send(
            Method::POST,
            "/ollama/api/embed",
            &[("content-type", "application/x-www-form-urlencoded")],
            json!({"model": "e", "input": PROMPT}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    h.assert_no_leak(VALUES);
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_host_rewritten_and_client_headers_kept() {
    let h = Harness::start("").await;
    let r = h
        .send(
            Method::POST,
            "/anthropic/v1/messages",
            &[
                ("content-type", "application/json"),
                ("x-api-key", "sk-ant-client"),
                ("anthropic-version", "2023-06-01"),
                ("connection", "keep-alive, x-secret-hop"),
                ("x-secret-hop", "1"),
                ("te", "trailers"),
                ("host", "paravent.example"),
            ],
            json!({"model": "c", "max_tokens": 1, "messages": [{"role": "user", "content": "Salut"}]})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let got = h.mock.last();
    assert_eq!(got.headers.get("anthropic-version").unwrap(), "2023-06-01");
    assert_eq!(got.headers.get("x-api-key").unwrap(), "sk-ant-client");
    assert!(got.headers.get("x-secret-hop").is_none());
    assert!(got.headers.get("te").is_none());
    assert_eq!(
        got.headers.get("host").unwrap().to_str().unwrap(),
        h.mock.addr.to_string()
    );
    assert_eq!(got.path, "/v1/messages");
}

#[tokio::test]
async fn routing_by_prefix_and_default_provider() {
    let h = Harness::start("").await;
    let r = h.send(Method::GET, "/openai/v1/models", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(h.mock.last().path, "/v1/models");
    let r = h.send(Method::GET, "/v1/models?limit=2", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(h.mock.last().path, "/v1/models?limit=2");
    let before = h.mock.count();
    let r = h
        .post("/unknown/v1/chat/completions", &json!({"messages": []}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Paravent")
    );
    assert_eq!(h.mock.count(), before);
    let recorded = h.outcomes.lock().unwrap().len();
    let r = h.send(Method::GET, "/healthz", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    // A liveness probe is not a request: no outcome, no audit record, no metric.
    assert_eq!(h.outcomes.lock().unwrap().len(), recorded);
}

#[tokio::test]
async fn every_refusal_uses_the_providers_error_shape_and_sends_nothing() {
    let h = Harness::start("").await;
    let secret = "ma clé sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
    let image = json!([{"type": "text", "text": "voici"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]);
    let cases: Vec<RefusalCase> = vec![
        (
            "/v1/chat/completions",
            vec![],
            b"{not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "paravent_invalid_json",
        ),
        (
            "/v1/chat/completions",
            vec![("content-type", "multipart/form-data; boundary=x")],
            b"--x\r\n".to_vec(),
            StatusCode::BAD_REQUEST,
            "paravent_invalid_json",
        ),
        (
            "/openai/v1/audio/speech",
            vec![],
            br#"{"input":"Jean Dupont"}"#.to_vec(),
            StatusCode::NOT_FOUND,
            "paravent_unknown_endpoint",
        ),
        (
            "/v1/chat/completions",
            vec![],
            json!({"messages": [{"role": "user", "content": secret}]})
                .to_string()
                .into_bytes(),
            StatusCode::FORBIDDEN,
            "paravent_secret",
        ),
        (
            "/v1/chat/completions",
            vec![],
            json!({"messages": [{"role": "user", "content": image}]})
                .to_string()
                .into_bytes(),
            StatusCode::FORBIDDEN,
            "paravent_unscannable_content",
        ),
        (
            "/v1/chat/completions",
            vec![("content-encoding", "compress")],
            b"xx".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "paravent_unsupported_encoding",
        ),
        (
            "/v1/chat/completions",
            vec![("content-encoding", "gzip")],
            b"not gzip".to_vec(),
            StatusCode::BAD_REQUEST,
            "paravent_corrupt_body",
        ),
        (
            "/v1/embeddings",
            vec![],
            br#"{"input":[[1,2,3]]}"#.to_vec(),
            StatusCode::FORBIDDEN,
            "paravent_unscannable_content",
        ),
    ];
    for (path, extra, body, status, code) in cases {
        let mut headers = extra;
        if !headers.iter().any(|(k, _)| *k == "content-type") {
            headers.push(("content-type", "application/json"));
        }
        let r = h.send(Method::POST, path, &headers, body).await;
        assert_eq!(r.status, status, "{path} {code}: {}", r.text());
        let j = r.json();
        assert_eq!(j["error"]["code"], code, "{j}");
        let msg = j["error"]["message"].as_str().unwrap();
        assert!(!msg.contains("sk-proj") && !msg.contains("Dupont"), "{msg}");
    }
    assert_eq!(h.mock.count(), 0, "a refused request reached the provider");
    // The secret refusal names the kind of secret, not its value.
    let r = h
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": secret}]}),
        )
        .await;
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("openai-key")
    );
    let outcomes = h.outcomes.lock().unwrap().clone();
    assert!(outcomes.iter().all(|o| o.refused.is_some()));
    assert_eq!(outcomes.len(), 9);
}

#[tokio::test]
async fn refusals_in_anthropic_gemini_and_ollama_formats() {
    let h = Harness::start("").await;
    let secret = "token ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    let r = h
        .post(
            "/anthropic/v1/messages",
            &json!({"messages": [{"role": "user", "content": secret}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let j = r.json();
    assert_eq!(j["type"], "error");
    assert_eq!(j["error"]["type"], "permission_error");
    let r = h
        .post(
            "/gemini/v1beta/models/g:generateContent",
            &json!({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["status"], "PERMISSION_DENIED");
    let r = h.send(Method::POST, "/ollama/api/chat", &[], "{oops").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_eq!(h.mock.count(), 0);
}

#[tokio::test]
async fn media_and_pass_through_paths_can_be_allowed_per_provider() {
    let h = Harness::start_with(|base| {
        format!(
            r#"
[server]
default_provider = "openai"
[providers.openai]
base_url = "{base}"
api = "openai"
allow_media = true
pass_through = ["/v1/audio/*"]
"#
        )
    })
    .await;
    let r = h
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": format!("De {NAME}")},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    h.assert_no_leak(&[NAME]);
    let r = h
        .send(
            Method::POST,
            "/v1/audio/speech",
            &[("content-type", "application/json")],
            r#"{"input":"x"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let outcomes = h.outcomes.lock().unwrap().clone();
    assert_eq!(outcomes[0].unscanned, vec!["image"]);
    assert_eq!(outcomes[1].unscanned, vec!["pass-through"]);
}

fn chat_body() -> Vec<u8> {
    json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]})
        .to_string()
        .into_bytes()
}

#[tokio::test]
async fn compressed_bodies_are_decompressed_and_scanned() {
    let h = Harness::start("").await;
    let plain = chat_body();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    zl.write_all(&plain).unwrap();
    let mut br = Vec::new();
    brotli::BrotliCompress(&mut &plain[..], &mut br, &Default::default()).unwrap();
    let zs =
        ruzstd::encoding::compress_to_vec(&plain[..], ruzstd::encoding::CompressionLevel::Fastest);
    for (enc, data) in [
        ("gzip", gz.finish().unwrap()),
        ("deflate", zl.finish().unwrap()),
        ("br", br),
        ("zstd", zs),
    ] {
        let r = h
            .send(
                Method::POST,
                "/v1/chat/completions",
                &[
                    ("content-type", "application/json"),
                    ("content-encoding", enc),
                ],
                data,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{enc}: {}", r.text());
        let got = h.mock.last();
        assert!(got.headers.get("content-encoding").is_none());
        assert!(serde_json::from_slice::<Value>(&got.body).is_ok(), "{enc}");
        h.assert_no_leak(VALUES);
        assert!(r.text().contains(NAME));
    }
}

#[tokio::test]
async fn limits_refuse_big_bodies_and_zip_bombs() {
    let h = Harness::start(
        "[limits]\nmax_body_bytes = 4096\nmax_decompressed_bytes = 65536\nmax_vault_entries = 3",
    )
    .await;
    let big = json!({"messages": [{"role": "user", "content": "a".repeat(5000)}]}).to_string();
    let r = h
        .send(
            Method::POST,
            "/v1/chat/completions",
            &[("content-type", "application/json")],
            big,
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"]["code"], "paravent_body_too_large");
    let bomb = format!(
        r#"{{"messages":[{{"role":"user","content":"{}"}}]}}"#,
        " ".repeat(1 << 20)
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bomb.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 4096);
    let r = h
        .send(
            Method::POST,
            "/v1/chat/completions",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gz,
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"]["code"], "paravent_decompressed_too_large");
    let r = h
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"]["code"], "paravent_too_many_values");
    assert_eq!(h.mock.count(), 0);
}

#[tokio::test]
async fn upstream_errors_pass_through_reidentified_and_failures_map_to_502_504() {
    let h = Harness::start("[limits]\nupstream_timeout_ms = 300").await;
    let body = json!({"messages": [{"role": "user", "content": PROMPT}]}).to_string();
    let r = h
        .send(
            Method::POST,
            "/v1/chat/completions?x-mock-status=429",
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains(NAME)
    );
    h.assert_no_leak(VALUES);
    let r = h
        .send(
            Method::POST,
            "/v1/chat/completions?x-mock-delay-ms=2000",
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(r.json()["error"]["code"], "paravent_upstream_timeout");

    // A provider nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let h = Harness::start_with(|_| {
        format!("[server]\ndefault_provider = \"openai\"\n[providers.openai]\nbase_url = \"http://127.0.0.1:{port}\"\napi = \"openai\"\n")
    })
    .await;
    let r = h
        .send(
            Method::POST,
            "/v1/chat/completions",
            &[("content-type", "application/json")],
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.json()["error"]["code"], "paravent_upstream_unreachable");
}

#[tokio::test]
async fn virtual_keys_are_checked_and_the_real_key_injected() {
    let hash = paravent::config::virtual_key_hash("pv-test-0123456789abcdef");
    let var = "REAL_ANTHROPIC_KEY";
    let h = Harness::start_with_env(
        |base| {
            format!(
                r#"
[providers.anthropic]
base_url = "{base}"
api = "anthropic"
auth = "virtual"
key_env = "{var}"

[providers.gemini]
base_url = "{base}"
api = "gemini"
auth = "virtual"
key_env = "{var}"

[[keys.virtual]]
hash = "{hash}"
user = "alice"
team = "sales"
providers = ["anthropic"]
"#
            )
        },
        &[(var, "sk-ant-real-provider-key")],
    )
    .await;
    let msg =
        json!({"model": "c", "max_tokens": 1, "messages": [{"role": "user", "content": "Salut"}]})
            .to_string();
    let send = |k: Option<&'static str>| {
        let msg = msg.clone();
        let h = &h;
        async move {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(k) = k {
                headers.push(("x-api-key", k));
            }
            h.send(Method::POST, "/anthropic/v1/messages", &headers, msg)
                .await
        }
    };
    let r = send(Some("pv-test-0123456789abcdef")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let got = h.mock.last();
    assert_eq!(
        got.headers.get("x-api-key").unwrap(),
        "sk-ant-real-provider-key"
    );
    assert_eq!(h.outcomes.lock().unwrap()[0].principal, "alice");
    let before = h.mock.count();
    let r = send(Some("pv-wrong")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    assert!(!r.text().contains("pv-wrong"));
    let r = send(None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The key may use anthropic only.
    let r = h
        .send(
            Method::POST,
            "/gemini/v1beta/models/g:generateContent?key=pv-test-0123456789abcdef&alt=json",
            &[("content-type", "application/json")],
            r#"{"contents":[{"parts":[{"text":"Salut"}]}]}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["status"], "PERMISSION_DENIED");
    assert_eq!(h.mock.count(), before);
}

#[tokio::test]
async fn gemini_query_key_is_replaced_in_virtual_mode() {
    let hash = paravent::config::virtual_key_hash("pv-gemini-test-key");
    let var = "REAL_GEMINI_KEY";
    let h = Harness::start_with_env(
        |base| {
            format!(
                "[providers.gemini]\nbase_url = \"{base}\"\napi = \"gemini\"\nauth = \"virtual\"\nkey_env = \"{var}\"\n\n[[keys.virtual]]\nhash = \"{hash}\"\nuser = \"bob\"\n"
            )
        },
        &[(var, "real-gemini-key")],
    )
    .await;
    let r = h
        .send(
            Method::POST,
            "/gemini/v1beta/models/g:generateContent?key=pv-gemini-test-key&alt=json",
            &[("content-type", "application/json")],
            json!({"contents": [{"parts": [{"text": PROMPT}]}]}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let got = h.mock.last();
    assert_eq!(got.path, "/v1beta/models/g:generateContent?alt=json");
    assert_eq!(
        got.headers.get("x-goog-api-key").unwrap(),
        "real-gemini-key"
    );
    h.assert_no_leak(VALUES);
}

#[tokio::test]
async fn clients_may_speak_http2_cleartext() {
    use http_body_util::{BodyExt, Full};
    let h = Harness::start("").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<bytes::Bytes>>();
    let req = http::Request::post(h.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(
            json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}).to_string(),
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains(NAME));
    h.assert_no_leak(VALUES);
}

#[tokio::test]
async fn tokens_the_vault_does_not_know_are_left_alone_and_counted() {
    let h = Harness::start("").await;
    let r = h
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user",
                "content": format!("{NAME} a écrit à [PERSON_ABCDEF].")}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let answer = r.json()["choices"][0]["message"]["content"].to_string();
    assert!(
        answer.contains(NAME) && answer.contains("[PERSON_ABCDEF]"),
        "{answer}"
    );
    assert_eq!(h.outcomes.lock().unwrap()[0].unknown_tokens, 1);
}

/// Posts `body` to `path` with `headers` added to the JSON content type.
async fn post_with(
    h: &Harness,
    path: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> crate::support::proxy::Reply {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    h.send(Method::POST, path, &all, body.to_string()).await
}

fn assert_reidentified(what: &str, text: &str) {
    for v in [NAME, EMAIL, PHONE, IBAN] {
        assert!(text.contains(v), "{what}: {v} missing from {text}");
    }
    assert!(!text.contains("PERSON"), "{what}: {text}");
}

#[tokio::test]
async fn json_answers_the_provider_compresses_anyway_are_decoded_and_reidentified() {
    let h = Harness::start("").await;
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    for enc in ["gzip", "deflate", "br", "zstd"] {
        let r = post_with(
            &h,
            "/v1/chat/completions",
            &[("x-mock-encoding", enc)],
            &chat,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{enc}");
        assert!(r.headers.get("content-encoding").is_none(), "{enc}");
        assert_eq!(
            r.headers["content-length"].to_str().unwrap(),
            r.body.len().to_string()
        );
        let v = r.json();
        assert_reidentified(enc, v["choices"][0]["message"]["content"].as_str().unwrap());
    }
    // An encoding Paravent cannot read, on an answer it must restore: refused.
    let r = post_with(
        &h,
        "/v1/chat/completions",
        &[("x-mock-encoding", "snappy")],
        &chat,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.json()["error"]["code"], "paravent_upstream_bad_response");
    h.assert_no_leak(VALUES);
}

#[tokio::test]
async fn text_error_pages_are_reidentified_whatever_their_type() {
    let h = Harness::start("").await;
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    for ct in ["text/plain", "text/html; charset=utf-8", "none"] {
        let r = post_with(
            &h,
            "/v1/chat/completions",
            &[("x-mock-status", "500"), ("x-mock-error-type", ct)],
            &chat,
        )
        .await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{ct}");
        assert!(r.text().starts_with("Internal error"), "{ct}: {}", r.text());
        assert_reidentified(ct, &r.text());
        assert_eq!(
            r.headers["content-length"].to_str().unwrap(),
            r.body.len().to_string()
        );
        if ct != "none" {
            assert_eq!(r.headers["content-type"], ct);
        }
    }
    // Compressed, too: decoded, restored, sent plain.
    for enc in ["gzip", "br", "zstd"] {
        let r = post_with(
            &h,
            "/v1/chat/completions",
            &[
                ("x-mock-status", "503"),
                ("x-mock-error-type", "text/plain"),
                ("x-mock-encoding", enc),
            ],
            &chat,
        )
        .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(r.headers.get("content-encoding").is_none(), "{enc}");
        assert_reidentified(enc, &r.text());
    }
    // A text page in an encoding Paravent cannot read goes on as it came, labelled.
    let r = post_with(
        &h,
        "/v1/chat/completions",
        &[
            ("x-mock-status", "503"),
            ("x-mock-error-type", "text/plain"),
            ("x-mock-encoding", "snappy"),
        ],
        &chat,
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers["content-encoding"], "snappy");
    h.assert_no_leak(VALUES);
}

#[tokio::test]
async fn tokens_a_model_rewrites_with_a_dash_or_a_space_are_restored() {
    let h = Harness::start("").await;
    for style in ["dash", "space"] {
        let r = post_with(
            &h,
            "/anthropic/v1/messages",
            &[("x-mock-token-style", style)],
            &json!({"model": "m", "max_tokens": 9,
                "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        let text = r.json()["content"][0]["text"].as_str().unwrap().to_owned();
        assert_reidentified(style, &text);
        assert!(!text.to_lowercase().contains("person"), "{text}");
    }
    // A bare token at the start of a line: in the JSON text it follows `\n`.
    let r = post_with(
        &h,
        "/v1/chat/completions",
        &[("x-mock-token-style", "dash")],
        &json!({"model": "m", "messages": [{"role": "user",
            "content": format!("Bonjour,\n{NAME}\n{EMAIL}")}]}),
    )
    .await;
    let text = r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.ends_with(&format!("Bonjour,\n{NAME}\n{EMAIL}")),
        "{text}"
    );
    h.assert_no_leak(VALUES);
}

/// Paravent with openai, anthropic and gemini in virtual-key mode over the mock, each
/// injecting its own real key, and `extra` TOML.
async fn virtual_harness(extra: &str) -> Harness {
    let hash = paravent::config::virtual_key_hash("pv-redaction-test-key");
    let extra = extra.to_owned();
    Harness::start_with_env(
        move |base| {
            let mut toml = String::from("[server]\ndefault_provider = \"openai\"\n");
            for (name, var) in [
                ("openai", "REAL_OPENAI"),
                ("anthropic", "REAL_ANTHROPIC"),
                ("gemini", "REAL_GEMINI"),
            ] {
                toml += &format!(
                    "[providers.{name}]\nbase_url = \"{base}\"\napi = \"{name}\"\n\
                     auth = \"virtual\"\nkey_env = \"{var}\"\n"
                );
            }
            toml += &format!("[[keys.virtual]]\nhash = \"{hash}\"\nuser = \"alice\"\n{extra}");
            toml
        },
        &[
            ("REAL_OPENAI", "sk-proj-real-openai-key-0123456789"),
            ("REAL_ANTHROPIC", "sk-ant-real-anthropic-key-0123456789"),
            ("REAL_GEMINI", "AIzaRealGeminiKey0123456789/abc"),
        ],
    )
    .await
}

#[tokio::test]
async fn an_upstream_401_quoting_the_injected_real_key_arrives_redacted() {
    let h = virtual_harness("").await;
    let reals = [
        "sk-proj-real-openai-key-0123456789",
        "sk-ant-real-anthropic-key-0123456789",
        "AIzaRealGeminiKey0123456789/abc",
    ];
    let cases = [
        (
            "/openai/v1/chat/completions",
            ("authorization", "Bearer pv-redaction-test-key"),
            json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]}),
        ),
        (
            "/anthropic/v1/messages",
            ("x-api-key", "pv-redaction-test-key"),
            json!({"model": "m", "max_tokens": 9,
                "messages": [{"role": "user", "content": PROMPT}]}),
        ),
        (
            "/gemini/v1beta/models/g:generateContent",
            ("x-goog-api-key", "pv-redaction-test-key"),
            json!({"contents": [{"parts": [{"text": PROMPT}]}]}),
        ),
    ];
    for (path, key, body) in &cases {
        for error_type in [None, Some("text/plain"), Some("none")] {
            let mut headers = vec![*key, ("x-mock-status", "401"), ("x-mock-quote-key", "1")];
            if let Some(t) = error_type {
                headers.push(("x-mock-error-type", t));
            }
            let r = post_with(&h, path, &headers, body).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
            let text = r.text();
            for real in reals {
                assert!(!text.contains(real), "{path} {error_type:?}: {text}");
            }
            assert!(
                text.contains("Incorrect API key provided: [REDACTED_KEY]."),
                "{path} {error_type:?}: {text}"
            );
            assert_eq!(r.headers["x-mock-seen-key"], "[REDACTED_KEY]", "{path}");
            // The rest of the error is still re-identified.
            assert!(text.contains(NAME), "{path} {error_type:?}: {text}");
        }
    }
    // Compressed, too.
    let (path, key, body) = &cases[0];
    let r = post_with(
        &h,
        path,
        &[
            *key,
            ("x-mock-status", "401"),
            ("x-mock-quote-key", "1"),
            ("x-mock-encoding", "gzip"),
        ],
        body,
    )
    .await;
    assert!(r.text().contains("[REDACTED_KEY]") && !r.text().contains(reals[0]));
    assert!(r.headers.get("content-encoding").is_none());
    h.assert_no_leak(VALUES);
}

#[tokio::test]
async fn an_error_too_large_to_check_for_the_key_is_refused_and_others_pass_on() {
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}]});
    let limit = "[limits]\nmax_response_bytes = 64\n";
    let h = virtual_harness(limit).await;
    let r = post_with(
        &h,
        "/v1/chat/completions",
        &[
            ("authorization", "Bearer pv-redaction-test-key"),
            ("x-mock-status", "401"),
            ("x-mock-quote-key", "1"),
            ("x-mock-error-type", "text/plain"),
        ],
        &chat,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.json()["error"]["code"], "paravent_upstream_too_large");
    assert!(!r.text().contains("sk-proj-real"));
    // Without a key to redact, a text page over the limit goes on as it came.
    let h = Harness::start(limit).await;
    let r = post_with(
        &h,
        "/v1/chat/completions",
        &[
            ("x-mock-status", "500"),
            ("x-mock-error-type", "text/plain"),
        ],
        &chat,
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(r.text().starts_with("Internal error"));
}

#[tokio::test]
async fn endpoints_outside_the_table_are_refused_unless_the_provider_scans_them() {
    let h = Harness::start_with(|base| {
        format!(
            "[server]\ndefault_provider = \"openai\"\n\n[providers.openai]\nbase_url = \"{base}\"\napi = \"openai\"\n\n\
             [providers.compat]\nbase_url = \"{base}\"\napi = \"openai\"\nother_endpoints = \"scan\"\n"
        )
    })
    .await;
    let body = json!({"query": PROMPT, "options": {"contact": EMAIL, "iban": IBAN}});
    let r = h.post("/openai/v1/rerank", &body).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "paravent_unknown_endpoint");
    assert_eq!(h.mock.count(), 0);
    // The same request to a provider declared to take other endpoints: every string,
    // number and key scanned, nothing structural.
    let _ = h.post("/compat/v1/rerank", &body).await;
    assert_eq!(h.mock.count(), 1);
    let got = h.mock.last();
    assert_eq!(got.path, "/v1/rerank");
    let sent = String::from_utf8_lossy(&got.body);
    assert!(
        sent.contains("[EMAIL_") && sent.contains("[PERSON_"),
        "{sent}"
    );
    h.assert_no_leak(VALUES);
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_closes_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start("[limits]\nheader_read_timeout_ms = 300").await;
    let mut conn = tokio::net::TcpStream::connect(h.server.addr).await.unwrap();
    // Half a head, then nothing: the connection must not stay open.
    conn.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        conn.read_to_end(&mut buf),
    )
    .await;
    assert!(read.is_ok(), "the connection is still open after 5 s");
    assert_eq!(h.mock.count(), 0);
}
