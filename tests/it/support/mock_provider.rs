//! An in-process mock provider: a hyper server on 127.0.0.1:0 that records every request
//! and answers like each API, echoing back the text it received (so re-identification
//! is exercised), tool calls included. Synthetic data only.
//!
//! Behaviour switches, sent as query parameters (Paravent scans and passes them on; it
//! drops client headers outside each API's allow list):
//! `x-mock-status: 429` answers that status with the API's error shape (echoing the text),
//! `x-mock-delay-ms: 500` waits before answering,
//! `x-mock-event-delay-ms: 10` waits between the events of a stream.
//! Switches a proxy may drop (headers outside an API's allow list) have a direct form:
//! [`MockProvider::answer_next_with`] gives the next request a canned answer built from
//! what the mock received (its status, headers and body frames as written, compressed
//! or not), for the tests of what comes back.
//!
//! A request with `"stream": true` (or Gemini's `:streamGenerateContent?alt=sse`) is
//! answered with the API's stream, one character of text per event, each event its own
//! body frame, so that every token the mock echoes arrives split across events.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// One request as the mock received it.
#[derive(Debug, Clone)]
#[allow(dead_code)] // Every field is for some test to inspect.
pub struct Recorded {
    pub method: http::Method,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An answer written by the test, sent as it is: each frame its own body frame.
pub struct Canned {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub frames: Vec<Vec<u8>>,
}

/// Builds the canned answer from the request the mock received.
pub type CannedFn = Box<dyn FnOnce(&Recorded) -> Canned + Send>;

pub struct MockProvider {
    pub addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    /// The answer for the next request, when a test wrote one.
    canned: Arc<Mutex<Option<CannedFn>>>,
    /// Streams whose reader went away before their last event.
    cancelled: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockProvider {
    pub async fn start() -> MockProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind mock");
        let addr = listener.local_addr().unwrap();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let rec = recorded.clone();
        let cancelled = Arc::new(AtomicUsize::new(0));
        let cancel = cancelled.clone();
        let canned: Arc<Mutex<Option<CannedFn>>> = Arc::new(Mutex::new(None));
        let next = canned.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // Events go out as they are written (streams are one event per frame).
                let _ = stream.set_nodelay(true);
                let rec = rec.clone();
                let cancel = cancel.clone();
                let next = next.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        answer(rec.clone(), cancel.clone(), next.clone(), req)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        MockProvider {
            addr,
            recorded,
            canned,
            cancelled,
            task,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }

    pub fn last(&self) -> Recorded {
        self.requests().pop().expect("the mock received a request")
    }

    /// Answers the next request with `make(request)` instead of the API's echo.
    pub fn answer_next_with(&self, make: impl FnOnce(&Recorded) -> Canned + Send + 'static) {
        *self.canned.lock().unwrap() = Some(Box::new(make));
    }

    /// Drops a canned answer no request used (the proxy refused the request).
    pub fn forget_canned(&self) {
        self.canned.lock().unwrap().take();
    }

    /// How many streams were cancelled by their reader.
    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub fn count(&self) -> usize {
        self.recorded.lock().unwrap().len()
    }
}

type MockBody = BoxBody<Bytes, Infallible>;

async fn answer(
    rec: Arc<Mutex<Vec<Recorded>>>,
    cancelled: Arc<AtomicUsize>,
    canned: Arc<Mutex<Option<CannedFn>>>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.clone(),
        path: path.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    };
    rec.lock().unwrap().push(recorded.clone());
    let make = canned.lock().unwrap().take();
    if let Some(make) = make {
        let c = make(&recorded);
        let mut resp = Response::new(FrameBody::spawn(c.frames, None, cancelled));
        *resp.status_mut() = c.status;
        for (name, value) in c.headers {
            resp.headers_mut()
                .append(name, value.parse().expect("a canned header value"));
        }
        return Ok(resp);
    }
    let query = parts.uri.query().unwrap_or("").to_owned();
    let control = |name: &str| -> Option<String> {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_owned)
    };
    if let Some(ms) = control("x-mock-delay-ms").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let echo = format!("Reçu: {}", texts(&request).join(" | "));
    let p = parts.uri.path();
    let status = control("x-mock-status")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let streamed = request.get("stream") == Some(&Value::Bool(true))
        || path.contains(":streamGenerateContent");
    if streamed && status == StatusCode::OK {
        let (ct, events) = stream_reply(p, &request, &echo);
        let pause = control("x-mock-event-delay-ms")
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis);
        let mut resp = Response::new(FrameBody::spawn(events, pause, cancelled));
        resp.headers_mut()
            .insert("content-type", ct.parse().unwrap());
        return Ok(resp);
    }
    let value = if status != StatusCode::OK {
        if p.contains("/messages") {
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": echo}})
        } else {
            json!({"error": {"message": echo, "type": "rate_limit", "code": "mock"}})
        }
    } else {
        reply(p, &request, &echo)
    };
    let mut resp = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp.headers_mut()
        .insert("x-mock-upstream", "yes".parse().unwrap());
    Ok(resp)
}

/// Every string value of the request except model names, roles and types.
fn texts(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn go(v: &Value, key: &str, out: &mut Vec<String>) {
        match v {
            Value::String(s) if !matches!(key, "model" | "role" | "type" | "id") => {
                out.push(s.clone())
            }
            Value::Array(a) => a.iter().for_each(|x| go(x, key, out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| go(x, k, out)),
            _ => {}
        }
    }
    go(v, "", &mut out);
    out
}

/// The last text of the conversation itself: what a tool call is made "about".
fn last_user_text(req: &Value) -> String {
    let mut convo = Vec::new();
    for key in ["messages", "input", "contents", "prompt"] {
        if let Some(v) = req.get(key) {
            convo.extend(texts(v));
        }
    }
    convo.pop().unwrap_or_default()
}

fn has_tools(req: &Value) -> bool {
    req.get("tools")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty())
}

fn reply(path: &str, req: &Value, echo: &str) -> Value {
    let about = last_user_text(req);
    if path.ends_with("/chat/completions") {
        let mut message = json!({"role": "assistant", "content": echo});
        if has_tools(req) {
            let args = json!({"text": about, "to": "[EMAIL]"}).to_string();
            message["tool_calls"] = json!([{"id": "call_1", "type": "function",
                "function": {"name": "send", "arguments": args}}]);
            message["content"] = Value::Null;
        }
        json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "mock",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": null}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    } else if path.ends_with("/completions") {
        json!({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "mock",
            "choices": [{"index": 0, "text": echo, "finish_reason": "stop", "logprobs": null}]})
    } else if path.ends_with("/embeddings") || path.ends_with("/api/embed") {
        json!({"object": "list", "model": "mock",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "embeddings": [[0.1, 0.2]],
            "usage": {"prompt_tokens": 1, "total_tokens": 1}})
    } else if path.ends_with("/responses") {
        let mut output = vec![
            json!({"type": "message", "id": "msg_1", "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": echo, "annotations": []}]}),
        ];
        if has_tools(req) {
            output.push(
                json!({"type": "function_call", "id": "fc_1", "call_id": "call_1",
                "name": "send", "arguments": json!({"text": about}).to_string(),
                "status": "completed"}),
            );
        }
        json!({"id": "resp_1", "object": "response", "created_at": 1, "model": "mock",
            "status": "completed", "output": output, "parallel_tool_calls": true,
            "tool_choice": "auto", "tools": []})
    } else if path.ends_with("/messages") {
        let mut content = vec![json!({"type": "text", "text": echo})];
        if has_tools(req) {
            content.push(json!({"type": "tool_use", "id": "toolu_1", "name": "send",
                "input": {"text": about}}));
        }
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "mock",
            "content": content, "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 1}})
    } else if path.contains(":generateContent") {
        let mut parts = vec![json!({"text": echo})];
        if has_tools(req) {
            parts.push(json!({"functionCall": {"name": "send", "args": {"text": about}}}));
        }
        json!({"candidates": [{"content": {"role": "model", "parts": parts},
            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}})
    } else if path.ends_with("/api/chat") {
        let mut message = json!({"role": "assistant", "content": echo});
        if has_tools(req) {
            message["tool_calls"] =
                json!([{"function": {"name": "send", "arguments": {"text": about}}}]);
        }
        json!({"model": "mock", "created_at": "2026-01-01T00:00:00Z", "message": message,
            "done": true, "done_reason": "stop"})
    } else if path.ends_with("/api/generate") {
        json!({"model": "mock", "created_at": "2026-01-01T00:00:00Z", "response": echo,
            "done": true, "done_reason": "stop"})
    } else {
        json!({"ok": true, "echo": echo})
    }
}

/// A body that sends each event as its own frame, from a task, as a server would.
struct FrameBody(tokio::sync::mpsc::Receiver<Bytes>);

impl FrameBody {
    fn spawn(
        events: Vec<Vec<u8>>,
        pause: Option<Duration>,
        cancelled: Arc<AtomicUsize>,
    ) -> MockBody {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tokio::spawn(async move {
            for e in events {
                if tx.send(Bytes::from(e)).await.is_err() {
                    cancelled.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                match pause {
                    Some(d) => tokio::time::sleep(d).await,
                    None => tokio::task::yield_now().await,
                }
            }
        });
        FrameBody(rx).boxed()
    }
}

impl hyper::body::Body for FrameBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

fn sse(name: Option<&str>, data: &Value) -> Vec<u8> {
    let mut out = String::new();
    if let Some(n) = name {
        out.push_str(&format!("event: {n}\n"));
    }
    out.push_str(&format!("data: {data}\n\n"));
    out.into_bytes()
}

/// One-character pieces of `text`.
fn chars(text: &str) -> Vec<String> {
    text.chars().map(String::from).collect()
}

/// The API's stream for `path`: content type and events, one character of text each.
fn stream_reply(path: &str, req: &Value, echo: &str) -> (&'static str, Vec<Vec<u8>>) {
    let about = last_user_text(req);
    let args = json!({"text": about, "to": "[EMAIL]"}).to_string();
    let mut ev = Vec::new();
    if path.ends_with("/chat/completions") {
        let chunk = |choice: Value| {
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                "model": "mock", "choices": [choice]})
        };
        ev.push(sse(
            None,
            &chunk(json!({"index": 0,
            "delta": {"role": "assistant", "content": ""}, "finish_reason": null})),
        ));
        let finish = if has_tools(req) {
            ev.push(sse(
                None,
                &chunk(json!({"index": 0, "delta": {"tool_calls": [{"index": 0,
                "id": "call_1", "type": "function",
                "function": {"name": "send", "arguments": ""}}]}, "finish_reason": null})),
            ));
            for c in chars(&args) {
                ev.push(sse(
                    None,
                    &chunk(json!({"index": 0, "delta": {"tool_calls": [{"index": 0,
                    "function": {"arguments": c}}]}, "finish_reason": null})),
                ));
            }
            "tool_calls"
        } else {
            for c in chars(echo) {
                ev.push(sse(
                    None,
                    &chunk(json!({"index": 0, "delta": {"content": c},
                    "finish_reason": null})),
                ));
            }
            "stop"
        };
        ev.push(sse(
            None,
            &chunk(json!({"index": 0, "delta": {}, "finish_reason": finish})),
        ));
        ev.push(sse(
            None,
            &json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
            "created": 1, "model": "mock", "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}),
        ));
        ev.push(b"data: [DONE]\n\n".to_vec());
        ("text/event-stream", ev)
    } else if path.ends_with("/responses") {
        let mut seq = 0;
        let mut push = |ty: &str, mut v: Value| {
            v["type"] = json!(ty);
            v["sequence_number"] = json!(seq);
            seq += 1;
            ev.push(sse(Some(ty), &v));
        };
        let resp = |status: &str, output: Value| {
            json!({"id": "resp_1", "object": "response", "created_at": 1, "model": "mock",
                "status": status, "output": output, "parallel_tool_calls": true,
                "tool_choice": "auto", "tools": []})
        };
        push(
            "response.created",
            json!({"response": resp("in_progress", json!([]))}),
        );
        let msg = json!({"type": "message", "id": "msg_1", "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": echo, "annotations": []}]});
        push(
            "response.output_item.added",
            json!({"output_index": 0, "item": {"type": "message",
            "id": "msg_1", "role": "assistant", "status": "in_progress", "content": []}}),
        );
        for c in chars(echo) {
            push(
                "response.output_text.delta",
                json!({"item_id": "msg_1", "output_index": 0,
                "content_index": 0, "delta": c, "logprobs": []}),
            );
        }
        push(
            "response.output_text.done",
            json!({"item_id": "msg_1", "output_index": 0,
            "content_index": 0, "text": echo, "logprobs": []}),
        );
        push(
            "response.output_item.done",
            json!({"output_index": 0, "item": msg}),
        );
        push(
            "response.completed",
            json!({"response": resp("completed", json!([msg]))}),
        );
        ("text/event-stream", ev)
    } else if path.ends_with("/messages") {
        ev.push(sse(
            Some("message_start"),
            &json!({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "mock",
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ));
        ev.push(sse(
            Some("content_block_start"),
            &json!({"type": "content_block_start",
            "index": 0, "content_block": {"type": "text", "text": ""}}),
        ));
        ev.push(sse(Some("ping"), &json!({"type": "ping"})));
        for c in chars(echo) {
            ev.push(sse(
                Some("content_block_delta"),
                &json!({"type": "content_block_delta",
                "index": 0, "delta": {"type": "text_delta", "text": c}}),
            ));
        }
        ev.push(sse(
            Some("content_block_stop"),
            &json!({"type": "content_block_stop",
            "index": 0}),
        ));
        if has_tools(req) {
            ev.push(sse(
                Some("content_block_start"),
                &json!({"type": "content_block_start",
                "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1",
                "name": "send", "input": {}}}),
            ));
            for c in chars(&args) {
                ev.push(sse(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta",
                    "index": 1, "delta": {"type": "input_json_delta", "partial_json": c}}),
                ));
            }
            ev.push(sse(
                Some("content_block_stop"),
                &json!({"type": "content_block_stop",
                "index": 1}),
            ));
        }
        ev.push(sse(
            Some("message_delta"),
            &json!({"type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": 1}}),
        ));
        ev.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));
        ("text/event-stream", ev)
    } else if path.contains(":streamGenerateContent") {
        let cs = chars(echo);
        let n = cs.len();
        for (i, c) in cs.into_iter().enumerate() {
            let mut cand = json!({"content": {"role": "model", "parts": [{"text": c}]},
                "index": 0});
            if i + 1 == n {
                cand["finishReason"] = json!("STOP");
            }
            ev.push(sse(
                None,
                &json!({"candidates": [cand], "modelVersion": "mock"}),
            ));
        }
        ("text/event-stream", ev)
    } else {
        let chat = path.ends_with("/api/chat");
        let line = |text: &str, done: bool| {
            let mut v = json!({"model": "mock", "created_at": "2026-01-01T00:00:00Z",
                "done": done});
            if chat {
                v["message"] = json!({"role": "assistant", "content": text});
            } else {
                v["response"] = json!(text);
            }
            if done {
                v["done_reason"] = json!("stop");
            }
            let mut b = v.to_string().into_bytes();
            b.push(b'\n');
            b
        };
        for c in chars(echo) {
            ev.push(line(&c, false));
        }
        ev.push(line("", true));
        ("application/x-ndjson", ev)
    }
}
