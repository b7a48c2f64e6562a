//! An in-process mock provider: a hyper server on 127.0.0.1:0 that records every request
//! and answers like each API, echoing back the text it received (so re-identification
//! is exercised), tool calls included. Synthetic data only.
//!
//! Behaviour switches, sent as query parameters (Paravent scans and passes them on; it
//! drops client headers outside each API's allow list):
//! `x-mock-status: 429` answers that status with the API's error shape (echoing the text),
//! `x-mock-delay-ms: 500` waits before answering,
//! `x-mock-event-delay-ms: 10` waits between the events of a stream,
//! `x-mock-encoding: gzip|deflate|br|zstd` compresses the answer although Paravent asked
//! for `identity` (a stream is flushed after each event, one frame per event; zstd is
//! compressed whole); any other value only labels the answer with it,
//! `x-mock-error-type: text/plain` sends an error (`x-mock-status`) as that type, not
//! JSON (`none`: without a content type),
//! `x-mock-quote-key: 1` makes the error quote the key the mock received, as providers
//! do with a wrong key (`Incorrect API key provided: …`): in the error body, in an
//! `x-mock-seen-key` header, and in a stream as a last error event,
//! `x-mock-token-style: dash|space` writes the tokens it echoes as a model that rewrites
//! them does (`PERSON-7F3A2C`, `person 7f3a2c`).
//! Switches a proxy may drop have a direct form: [`MockProvider::answer_next_with`]
//! gives the next request a canned answer built from what the mock received.
//!
//! A request with `"stream": true` (or Gemini's `:streamGenerateContent`) is answered
//! with the API's stream, one character of text per event, each event its own body
//! frame, so that every token the mock echoes arrives split across events. Gemini
//! streams SSE with `alt=sse` and a JSON array (`[{…}\n,\r\n{…}\n]`, JSON content
//! type) without, as Gemini does.

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
            .map(|v| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
    };
    if let Some(ms) = control("x-mock-delay-ms").and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut echo = format!("Reçu: {}", texts(&request).join(" | "));
    match control("x-mock-token-style").as_deref() {
        Some("dash") => echo = restyle_tokens(&echo, |core| core.replace('_', "-")),
        Some("space") => echo = restyle_tokens(&echo, |core| core.to_lowercase().replace('_', " ")),
        _ => {}
    }
    let quoted_key = control("x-mock-quote-key").map(|_| {
        let key = ["authorization", "x-api-key", "x-goog-api-key"]
            .iter()
            .find_map(|h| header(&parts.headers, h))
            .unwrap_or("");
        key.strip_prefix("Bearer ").unwrap_or(key).to_owned()
    });
    let wrong_key = quoted_key
        .as_ref()
        .map(|k| format!("Incorrect API key provided: {k}."));
    let encoding = control("x-mock-encoding");
    let p = parts.uri.path();
    let status = control("x-mock-status")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let streamed = request.get("stream") == Some(&Value::Bool(true))
        || path.contains(":streamGenerateContent");
    if streamed && status == StatusCode::OK {
        let sse = !p.contains(":streamGenerateContent") || path.contains("alt=sse");
        let (ct, mut events) = stream_reply(p, &request, &echo, sse);
        if let Some(message) = &wrong_key {
            events.push(stream_error(p, sse, message));
        }
        if !sse {
            events.push(b"\n]".to_vec());
        }
        if let Some(enc) = &encoding {
            events = compress_events(enc, &events);
        }
        let pause = control("x-mock-event-delay-ms")
            .and_then(|v| v.parse().ok())
            .map(Duration::from_millis);
        let mut resp = Response::new(FrameBody::spawn(events, pause, cancelled));
        resp.headers_mut()
            .insert("content-type", ct.parse().unwrap());
        if let Some(enc) = &encoding {
            resp.headers_mut()
                .insert("content-encoding", enc.parse().unwrap());
        }
        return Ok(resp);
    }
    if status != StatusCode::OK
        && let Some(message) = &wrong_key
    {
        echo = format!("{message} {echo}");
    }
    if status != StatusCode::OK
        && let Some(ct) = control("x-mock-error-type")
    {
        let mut page =
            format!("Internal error while processing the request.\n{echo}\n").into_bytes();
        if let Some(enc) = &encoding {
            page = compress_events(enc, &[page]).concat();
        }
        let mut resp = Response::new(Full::new(Bytes::from(page)).boxed());
        *resp.status_mut() = status;
        if ct != "none" {
            resp.headers_mut()
                .insert("content-type", ct.parse().unwrap());
        }
        if let Some(enc) = &encoding {
            resp.headers_mut()
                .insert("content-encoding", enc.parse().unwrap());
        }
        if let Some(k) = &quoted_key {
            resp.headers_mut()
                .insert("x-mock-seen-key", k.parse().unwrap());
        }
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
    let mut body = value.to_string().into_bytes();
    if let Some(enc) = &encoding {
        body = compress_events(enc, &[body]).concat();
    }
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    if let Some(enc) = &encoding {
        resp.headers_mut()
            .insert("content-encoding", enc.parse().unwrap());
    }
    if let Some(k) = &quoted_key {
        resp.headers_mut()
            .insert("x-mock-seen-key", k.parse().unwrap());
    }
    resp.headers_mut()
        .insert("x-mock-upstream", "yes".parse().unwrap());
    Ok(resp)
}

/// Rewrites every `[ENTITY_HEX]` token of `text` (brackets dropped) with `f(core)`.
fn restyle_tokens(text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('[') {
        let Some(j) = rest[i..].find(']') else {
            break;
        };
        let core = &rest[i + 1..i + j];
        let token = core.rsplit_once('_').is_some_and(|(e, hex)| {
            !e.is_empty()
                && hex.len() >= 6
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
                && e.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        });
        out.push_str(&rest[..i]);
        if token {
            out.push_str(&f(core));
        } else {
            out.push_str(&rest[i..=i + j]);
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    out
}

/// `events` compressed with `enc` as one stream: each event's bytes flushed as they are
/// written (one frame per event, as a server streaming compressed events does), the
/// codec's end in a last frame. zstd is compressed whole, in one frame.
fn compress_events(enc: &str, events: &[Vec<u8>]) -> Vec<Vec<u8>> {
    use std::io::Write;
    fn frames<W: Write>(
        mut w: W,
        events: &[Vec<u8>],
        len: impl Fn(&W) -> usize,
    ) -> (W, Vec<usize>) {
        let mut cuts = Vec::new();
        for e in events {
            w.write_all(e).unwrap();
            w.flush().unwrap();
            cuts.push(len(&w));
        }
        (w, cuts)
    }
    fn split(all: Vec<u8>, cuts: Vec<usize>) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut prev = 0;
        for c in cuts {
            out.push(all[prev..c].to_vec());
            prev = c;
        }
        out.push(all[prev..].to_vec());
        out.retain(|f| !f.is_empty());
        out
    }
    let fast = flate2::Compression::fast();
    match enc {
        "gzip" => {
            let (w, cuts) = frames(
                flate2::write::GzEncoder::new(Vec::new(), fast),
                events,
                |w| w.get_ref().len(),
            );
            split(w.finish().unwrap(), cuts)
        }
        "deflate" => {
            let (w, cuts) = frames(
                flate2::write::ZlibEncoder::new(Vec::new(), fast),
                events,
                |w| w.get_ref().len(),
            );
            split(w.finish().unwrap(), cuts)
        }
        "br" => {
            let (w, cuts) = frames(
                brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22),
                events,
                |w| w.get_ref().len(),
            );
            split(w.into_inner(), cuts)
        }
        "zstd" => vec![ruzstd::encoding::compress_to_vec(
            &events.concat()[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        )],
        // Labelled only: the bytes go as they are.
        _ => events.to_vec(),
    }
}

/// The error event a stream of `path` ends with, in the API's framing.
fn stream_error(path: &str, sse_framing: bool, message: &str) -> Vec<u8> {
    if path.ends_with("/messages") {
        return sse(
            Some("error"),
            &json!({"type": "error", "error": {"type": "authentication_error", "message": message}}),
        );
    }
    let body = json!({"error": {"message": message, "code": 401}});
    if path.contains("/api/") {
        return format!("{body}\n").into_bytes();
    }
    if !sse_framing {
        // Gemini's JSON array: the stream's elements end with `\n]`; the error goes
        // before it.
        return format!("\n,\r\n{body}").into_bytes();
    }
    sse(None, &body)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
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
/// `sse` is false for Gemini's JSON-array stream.
fn stream_reply(
    path: &str,
    req: &Value,
    echo: &str,
    sse_framing: bool,
) -> (&'static str, Vec<Vec<u8>>) {
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
            let mut chunk = json!({"candidates": [], "modelVersion": "mock"});
            if i + 1 == n {
                cand["finishReason"] = json!("STOP");
                chunk["usageMetadata"] = json!({"promptTokenCount": 3,
                    "candidatesTokenCount": 4, "totalTokenCount": 7});
            }
            chunk["candidates"] = json!([cand]);
            if sse_framing {
                ev.push(sse(None, &chunk));
            } else {
                // Gemini's own framing: `[` before the first, `\n,\r\n` between, `\n]`.
                let lead = if i == 0 { "[" } else { "\n,\r\n" };
                ev.push(format!("{lead}{chunk}").into_bytes());
            }
        }
        if !sse_framing {
            // The closing `\n]` is added by the caller, after an error element if any.
            return ("application/json; charset=UTF-8", ev);
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
