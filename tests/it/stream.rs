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
