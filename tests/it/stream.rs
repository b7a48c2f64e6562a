//! Streamed answers through Paravent: the mock provider streams one character per event
//! (each event its own frame), so every token it echoes arrives split across events.
//! The client's reassembled text must hold the original values, and the provider must
//! have seen none of them.

use std::time::{Duration, Instant};

use http::StatusCode;
use paravent::stream::{Decoder, LineDecoder};
use serde_json::{Value, json};

use crate::support::proxy::{EMAIL, Harness, IBAN, NAME, PHONE, PROMPT, Reply, VALUES};

/// The JSON data of every SSE event, with its event name.
fn sse_values(body: &[u8]) -> Vec<(String, Value)> {
    let mut d = Decoder::default();
    let mut events = d.push(body).unwrap();
    events.extend(d.finish().unwrap());
    events
        .iter()
        .filter_map(|e| {
            let v = serde_json::from_str(&e.data()?).ok()?;
            Some((e.event_type().to_owned(), v))
        })
        .collect()
}

fn ndjson_values(body: &[u8]) -> Vec<Value> {
    let mut d = LineDecoder::default();
    let mut lines = d.push(body).unwrap();
    lines.extend(d.finish().unwrap());
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Posts a request through a fresh Paravent and mock provider; asserts that it succeeded
/// and that the provider saw none of the prompt's values.
async fn streamed(path: &str, body: &Value) -> Reply {
    let h = Harness::start("").await;
    let r = h.post(path, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    h.assert_no_leak(VALUES);
    r
}

fn assert_restored(what: &str, text: &str) {
    for v in [NAME, EMAIL, PHONE, IBAN] {
        assert!(text.contains(v), "{what}: {v} missing from {text}");
    }
    assert!(
        !text.contains("[PERSON_") && !text.contains("[EMAIL_") && !text.contains("PHONE_"),
        "{what}: {text}"
    );
}

#[tokio::test]
async fn openai_chat_stream_is_reidentified_event_by_event() {
    let r = streamed(
        "/openai/v1/chat/completions",
        &json!({"model": "m", "stream": true,
                "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert!(r.headers.get("content-length").is_none());
    assert!(r.headers.contains_key("x-paravent-request-id"));
    let events = sse_values(&r.body);
    let text: String = events
        .iter()
        .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_restored("chat", &text);
    assert!(r.text().ends_with("data: [DONE]\n\n"));
    assert!(events.iter().any(|(_, v)| v["usage"]["total_tokens"] == 2));
}

#[tokio::test]
async fn openai_streamed_tool_call_arguments_are_reidentified() {
    let r = streamed(
        "/openai/v1/chat/completions",
        &json!({"model": "m", "stream": true,
                "tools": [{"type": "function", "function": {"name": "send"}}],
                "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    let args: String = sse_values(&r.body)
        .iter()
        .filter_map(|(_, v)| {
            v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
        })
        .collect();
    let args: Value = serde_json::from_str(&args).unwrap();
    assert_restored("tool call", args["text"].as_str().unwrap());
}

#[tokio::test]
async fn openai_responses_stream_is_reidentified_and_done_events_repeat_it() {
    let r = streamed(
        "/openai/v1/responses",
        &json!({"model": "m", "stream": true, "input": PROMPT}),
    )
    .await;
    let events = sse_values(&r.body);
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .filter_map(|(_, v)| v["delta"].as_str())
        .collect();
    assert_restored("responses", &text);
    let done = events
        .iter()
        .find(|(n, _)| n == "response.output_text.done")
        .unwrap();
    assert_eq!(done.1["text"], text.as_str());
    let completed = events
        .iter()
        .find(|(n, _)| n == "response.completed")
        .unwrap();
    assert_eq!(
        completed.1["response"]["output"][0]["content"][0]["text"],
        text.as_str()
    );
}

#[tokio::test]
async fn anthropic_stream_is_reidentified_with_its_tool_input() {
    let r = streamed(
        "/anthropic/v1/messages",
        &json!({"model": "m", "max_tokens": 100, "stream": true,
                "tools": [{"name": "send", "input_schema": {"type": "object"}}],
                "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    let events = sse_values(&r.body);
    let text: String = events
        .iter()
        .filter(|(_, v)| v["index"] == 0)
        .filter_map(|(_, v)| v["delta"]["text"].as_str())
        .collect();
    assert_restored("anthropic", &text);
    let input: String = events
        .iter()
        .filter_map(|(_, v)| v["delta"]["partial_json"].as_str())
        .collect();
    let input: Value = serde_json::from_str(&input).unwrap();
    assert_restored("anthropic tool", input["text"].as_str().unwrap());
    for (name, v) in &events {
        assert_eq!(name, v["type"].as_str().unwrap());
    }
    assert_eq!(events.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn gemini_sse_stream_is_reidentified() {
    let r = streamed(
        "/gemini/v1beta/models/g:streamGenerateContent?alt=sse",
        &json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}),
    )
    .await;
    let text: String = sse_values(&r.body)
        .iter()
        .flat_map(|(_, v)| {
            v["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect();
    assert_restored("gemini", &text);
}

#[tokio::test]
async fn ollama_ndjson_streams_are_reidentified() {
    let h = Harness::start("").await;
    for (path, body, slot) in [
        (
            "/ollama/api/chat",
            json!({"model": "l", "stream": true, "messages": [{"role": "user", "content": PROMPT}]}),
            "/message/content",
        ),
        (
            "/ollama/api/generate",
            json!({"model": "l", "stream": true, "prompt": PROMPT}),
            "/response",
        ),
    ] {
        let r = h.post(path, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        h.assert_no_leak(VALUES);
        let lines = ndjson_values(&r.body);
        let text: String = lines
            .iter()
            .filter_map(|v| v.pointer(slot).and_then(Value::as_str))
            .collect();
        assert_restored(path, &text);
        assert_eq!(lines.last().unwrap()["done"], true);
    }
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_the_upstream_request() {
    use http_body_util::BodyExt;
    let h = Harness::start("").await;
    let body = json!({"model": "m", "stream": true,
        "messages": [{"role": "user", "content": PROMPT}]});
    let sent = Instant::now();
    let resp = crate::support::serve::open(
        http::Method::POST,
        &h.url("/openai/v1/chat/completions?x-mock-event-delay-ms=20"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-client"),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // The first event arrives long before the last (~200 events, 20 ms apart): nothing
    // waits for the whole answer.
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "{:?}",
        sent.elapsed()
    );
    drop(body);
    let start = Instant::now();
    while h.mock.cancelled() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the upstream stream was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// First-event latency, direct to the mock and through Paravent (release build:
/// `cargo test --release --test it first_event_latency -- --ignored --nocapture`).
#[tokio::test]
#[ignore]
async fn first_event_latency() {
    use http_body_util::BodyExt;
    let h = Harness::start("").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let body = json!({"model": "m", "stream": true,
        "messages": [{"role": "user", "content": PROMPT}]})
    .to_string();
    let mut figures = Vec::new();
    for (name, base) in [("direct", h.mock.base_url()), ("proxied", h.url("/openai"))] {
        let mut samples = Vec::new();
        for i in 0..220 {
            let req = http::Request::post(format!("{base}/v1/chat/completions"))
                .header("content-type", "application/json")
                .header("authorization", "Bearer sk-client")
                .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
                .unwrap();
            let start = Instant::now();
            let resp = client.request(req).await.unwrap();
            let mut body = resp.into_body();
            // The first data frame that holds a whole event.
            let mut got = Vec::new();
            while let Some(f) = body.frame().await {
                if let Ok(d) = f.unwrap().into_data() {
                    got.extend_from_slice(&d);
                    if got.windows(2).any(|w| w == b"\n\n") {
                        break;
                    }
                }
            }
            let t = start.elapsed();
            while body.frame().await.is_some() {}
            if i >= 20 {
                samples.push(t);
            }
        }
        samples.sort();
        let p50 = samples[samples.len() / 2];
        let p99 = samples[samples.len() * 99 / 100];
        figures.push((name, p50, p99));
    }
    for (name, p50, p99) in &figures {
        eprintln!("first event {name}: p50 {p50:?} p99 {p99:?}");
    }
    let extra = figures[1].1.saturating_sub(figures[0].1);
    eprintln!("first event: proxied - direct (p50) = {extra:?}");
    assert!(extra < Duration::from_secs(1));
}

/// Posts `body` to `path` with `headers` (and the defaults of [`Harness::post`]).
async fn post_with(h: &Harness, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    let mut all = vec![
        ("content-type", "application/json"),
        ("authorization", "Bearer sk-client"),
    ];
    all.extend_from_slice(headers);
    h.send(http::Method::POST, path, &all, body.to_string())
        .await
}

fn gemini_array_text(body: &[u8]) -> String {
    let chunks: Vec<Value> = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)));
    chunks
        .iter()
        .flat_map(|v| {
            v["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_gemini_json_array_stream_is_reidentified_as_it_streams_framing_kept() {
    use http_body_util::BodyExt;
    let h = Harness::start("").await;
    let body = json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]});
    let resp = crate::support::serve::open(
        http::Method::POST,
        &h.url("/gemini/v1beta/models/g:streamGenerateContent"),
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(resp.headers().get("content-length").is_none());
    // It streams: many frames, not one buffered answer.
    let mut body = resp.into_body();
    let mut frames = 0;
    let mut bytes = Vec::new();
    while let Some(f) = body.frame().await {
        if let Ok(d) = f.unwrap().into_data() {
            frames += 1;
            bytes.extend_from_slice(&d);
        }
    }
    assert!(frames > 10, "{frames} frames");
    h.assert_no_leak(VALUES);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("[{") && text.ends_with("}\n]"), "{text}");
    assert!(text.contains("}\n,\r\n{"), "Gemini's framing is kept");
    assert_restored("gemini array", &gemini_array_text(&bytes));
    let outcomes = h.outcomes.lock().unwrap();
    let o = outcomes.last().unwrap();
    assert!(o.streamed);
    // The log line and the record count what the stream restored.
    assert!(o.reidentified >= 4, "{}", o.reidentified);
    let usage = o.usage.unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (3, 4));
}

#[tokio::test]
async fn a_gemini_generate_content_object_is_not_taken_for_a_stream() {
    let h = Harness::start("").await;
    let r = h
        .post(
            "/gemini/v1beta/models/g:generateContent",
            &json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get("content-length").is_some());
    let v = r.json();
    assert_restored(
        "generateContent",
        v["candidates"][0]["content"]["parts"][0]["text"]
            .as_str()
            .unwrap(),
    );
    assert!(!h.outcomes.lock().unwrap()[0].streamed);
}

#[tokio::test]
async fn streams_the_provider_compresses_anyway_are_decoded_and_reidentified() {
    let h = Harness::start("").await;
    let chat = json!({"model": "m", "stream": true,
        "messages": [{"role": "user", "content": PROMPT}]});
    for enc in ["gzip", "deflate", "br"] {
        let r = post_with(
            &h,
            "/openai/v1/chat/completions",
            &[("x-mock-encoding", enc)],
            &chat,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{enc}: {}", r.text());
        assert!(r.headers.get("content-encoding").is_none(), "{enc}");
        let text: String = sse_values(&r.body)
            .iter()
            .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_restored(enc, &text);
        assert!(r.text().ends_with("data: [DONE]\n\n"), "{enc}");
    }
    // The other formats too: Anthropic SSE, Ollama NDJSON, Gemini's array.
    let r = post_with(
        &h,
        "/anthropic/v1/messages",
        &[("x-mock-encoding", "br")],
        &json!({"model": "m", "max_tokens": 9, "stream": true,
            "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    let text: String = sse_values(&r.body)
        .iter()
        .filter_map(|(_, v)| v["delta"]["text"].as_str())
        .collect();
    assert_restored("anthropic br", &text);
    let r = post_with(
        &h,
        "/ollama/api/chat",
        &[("x-mock-encoding", "gzip")],
        &json!({"model": "l", "stream": true,
            "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    let text: String = ndjson_values(&r.body)
        .iter()
        .filter_map(|v| v.pointer("/message/content").and_then(Value::as_str))
        .collect();
    assert_restored("ollama gzip", &text);
    let r = post_with(
        &h,
        "/gemini/v1beta/models/g:streamGenerateContent",
        &[("x-mock-encoding", "gzip")],
        &json!({"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}),
    )
    .await;
    assert!(r.headers.get("content-encoding").is_none());
    assert_restored("gemini array gzip", &gemini_array_text(&r.body));
    h.assert_no_leak(VALUES);
}

#[tokio::test]
async fn a_stream_in_an_encoding_paravent_cannot_decode_is_refused_before_anything_is_sent() {
    let h = Harness::start("").await;
    let chat = json!({"model": "m", "stream": true,
        "messages": [{"role": "user", "content": PROMPT}]});
    for enc in ["zstd", "snappy"] {
        let r = post_with(
            &h,
            "/openai/v1/chat/completions",
            &[("x-mock-encoding", enc)],
            &chat,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{enc}");
        assert_eq!(
            r.json()["error"]["code"],
            "paravent_upstream_bad_response",
            "{enc}"
        );
        assert!(!r.text().contains("PERSON_"), "{enc}");
        assert!(r.headers.get("content-encoding").is_none());
    }
    // In the provider's own error format.
    let r = post_with(
        &h,
        "/anthropic/v1/messages",
        &[("x-mock-encoding", "zstd")],
        &json!({"model": "m", "max_tokens": 9, "stream": true,
            "messages": [{"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    assert_eq!(r.json()["type"], "error");
    let outcomes = h.outcomes.lock().unwrap();
    assert!(outcomes.iter().all(|o| o.forwarded && o.status == 502));
    assert!(
        outcomes
            .iter()
            .all(|o| o.refused == Some("paravent_upstream_bad_response"))
    );
}

#[tokio::test]
async fn streamed_tokens_rewritten_with_a_dash_or_a_space_come_back() {
    let h = Harness::start("").await;
    for style in ["dash", "space"] {
        let r = post_with(
            &h,
            "/openai/v1/chat/completions",
            &[("x-mock-token-style", style)],
            &json!({"model": "m", "stream": true,
                "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
        let text: String = sse_values(&r.body)
            .iter()
            .filter_map(|(_, v)| v["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_restored(style, &text);
        assert!(
            !text.contains("PERSON-") && !text.contains("person "),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_stream_error_event_quoting_the_injected_key_arrives_redacted() {
    let hash = paravent::config::virtual_key_hash("pv-stream-test-key");
    let real = "sk-ant-real-key-for-the-stream-test";
    let h = Harness::start_with_env(
        |base| {
            format!(
                r#"
[providers.anthropic]
base_url = "{base}"
api = "anthropic"
auth = "virtual"
key_env = "REAL_KEY"

[providers.openai]
base_url = "{base}"
api = "openai"
auth = "virtual"
key_env = "REAL_KEY"

[[keys.virtual]]
hash = "{hash}"
user = "alice"
"#
            )
        },
        &[("REAL_KEY", real)],
    )
    .await;
    for (path, key_header, body) in [
        (
            "/anthropic/v1/messages",
            "x-api-key",
            json!({"model": "m", "max_tokens": 9, "stream": true,
                "messages": [{"role": "user", "content": "Salut"}]}),
        ),
        (
            "/openai/v1/chat/completions",
            "authorization",
            json!({"model": "m", "stream": true,
                "messages": [{"role": "user", "content": "Salut"}]}),
        ),
    ] {
        let key_value = if key_header == "authorization" {
            "Bearer pv-stream-test-key"
        } else {
            "pv-stream-test-key"
        };
        let r = h
            .send(
                http::Method::POST,
                path,
                &[
                    ("content-type", "application/json"),
                    (key_header, key_value),
                    ("x-mock-quote-key", "1"),
                ],
                body.to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        let text = r.text();
        assert!(!text.contains(real), "{path}: {text}");
        assert!(
            text.contains("Incorrect API key provided: [REDACTED_KEY]."),
            "{path}: {text}"
        );
    }
}
