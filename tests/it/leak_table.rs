//! The leak table (issue 9): requests a determined user or an ordinary SDK would send,
//! each with the personal values or secrets it plants, and what must become of it. One
//! test runs every case through an in-process Paravent in front of the mock provider,
//! collects every failure and prints them all as a table, so one run shows the state of
//! the whole guarantee.
//!
//! The classes are the issue's:
//! 1. walking: fields the walkers did not list (numbers, keys, stop sequences, unknown
//!    fields, schemas, metadata, MCP secrets, case-variant keys, unknown endpoints);
//! 2. bytes: what is forwarded is not what was scanned (duplicate keys, invalid UTF-8,
//!    lone surrogates);
//! 3. characters: the detector reads raw characters where the provider reads meaning
//!    (Unicode separators, invisible characters, fullwidth forms, glued and split values);
//! 4. outside the body: query, headers, path, keys, the audit trail;
//! 5. answers: compressed streams, Gemini's JSON-array stream, text error bodies, the
//!    real key quoted by an upstream error, tokens rewritten by the model.
//!
//! Requests are raw bytes (many cases need bodies serde_json cannot write). What the
//! provider received is searched with [`crate::support::leak`]: as written, lower-cased,
//! escaped, encoded, with invisible characters removed and, for identifiers, with
//! separators removed. A refusal must come in the provider's error format with a
//! `paravent_*` code (read from the outcome, and from the body where the format has one),
//! with nothing sent. Every value is synthetic.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::Scratch;
use crate::support::leak::{
    assert_not_received, found_in, received_in_clear, token_remnants, tokens_in,
};
use crate::support::mock_provider::{Canned, CannedFn, Recorded};
use crate::support::proxy::{EMAIL, Harness, IBAN, NAME, PHONE, Reply};

// --- Values (synthetic; check digits computed; `paravent scan` finds each one as written,
// but the internationalised e-mail, a class 3 case) ---

/// A NIR whose key is right: 97 - (1850578006084 mod 97) = 91.
const NIR: &str = "1 85 05 78 006 084 91";
/// A second valid NIR: 97 - (2900175123456 mod 97) = 5.
const NIR_B: &str = "2 90 01 75 123 456 05";
/// The Visa test number (Luhn-valid, no real card).
const CARD: &str = "4111 1111 1111 1111";
const CARD_DIGITS: &str = "4111111111111111";
/// A second test card (Mastercard's published test number).
const CARD_B: &str = "5555 5555 5555 4444";
/// A German IBAN with a right mod-97 check (the standard's own example).
const IBAN_DE: &str = "DE89 3704 0044 0532 0130 00";
const PHONE_LYON: &str = "+33 4 72 00 00 00";
const EMAIL_B: &str = "claire.fontaine@exemple.com";
/// An e-mail with an internationalised domain.
const EMAIL_IDN: &str = "marie.curie@société.fr";
/// Secret-shaped strings (not real keys).
const OPENAI_SECRET: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
const GITHUB_SECRET: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
/// An employee's Paravent virtual key.
const VIRTUAL_KEY: &str = "pv-5f1c2d3e4a5b6c7d8e9f00112233445566778899aabbccdd";
/// The company's real provider keys, only in Paravent's environment (virtual mode).
const REAL_OPENAI_KEY: &str = "sk-real-openai-Zq8Rw2Lk5Vn7Tb3Xc9Hm";
const REAL_ANTHROPIC_KEY: &str = "sk-ant-real-Pq7Ws4Ed1Rf8Tg5Yh2Uj";
const REAL_GEMINI_KEY: &str = "AIzaRealGeminiKey-Mn4Bv7Cx0Za3Sd6Fg9";
const REAL_OLLAMA_KEY: &str = "ollama-real-Lk2Jh5Gf8Ds1Aq4Zw7Xe";

// --- Paths ---

const CHAT: &str = "/openai/v1/chat/completions";
const RESPONSES: &str = "/openai/v1/responses";
const COMPLETIONS: &str = "/openai/v1/completions";
const EMBEDDINGS: &str = "/openai/v1/embeddings";
const MESSAGES: &str = "/anthropic/v1/messages";
const GEMINI: &str = "/gemini/v1beta/models/gemini-x:generateContent";
const GEMINI_STREAM: &str = "/gemini/v1beta/models/gemini-x:streamGenerateContent";
const OLLAMA_CHAT: &str = "/ollama/api/chat";
const OLLAMA_GENERATE: &str = "/ollama/api/generate";

// --- The table's vocabulary ---

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Walking = 1,
    Bytes = 2,
    Characters = 3,
    OutsideTheBody = 4,
    Answers = 5,
}

impl Class {
    const ALL: [Class; 5] = [
        Class::Walking,
        Class::Bytes,
        Class::Characters,
        Class::OutsideTheBody,
        Class::Answers,
    ];

    fn label(self) -> &'static str {
        match self {
            Class::Walking => "1 walking",
            Class::Bytes => "2 bytes",
            Class::Characters => "3 characters",
            Class::OutsideTheBody => "4 outside the body",
            Class::Answers => "5 answers",
        }
    }
}

/// Which Paravent the case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum On {
    /// Every provider pass-through (the client's own key goes on).
    PassThrough,
    /// Every provider in virtual-key mode, behind a base path (`{mock}/tenant`).
    Virtual,
    /// Pass-through, with an audit file searched after the case.
    Audited,
}

/// The provider API a path speaks, for its error format and default headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    Openai,
    Anthropic,
    Gemini,
    Ollama,
}

fn api_of(path: &str) -> Api {
    if path.starts_with("/anthropic") {
        Api::Anthropic
    } else if path.starts_with("/gemini") {
        Api::Gemini
    } else if path.starts_with("/ollama") {
        Api::Ollama
    } else {
        Api::Openai
    }
}

/// A refusal: its status (`None`: any 4xx) and code (`None`: any `paravent_*` code).
#[derive(Debug, Clone, Copy)]
struct Refusal {
    status: Option<u16>,
    code: Option<&'static str>,
}

fn refusal(status: u16, code: &'static str) -> Refusal {
    Refusal {
        status: Some(status),
        code: Some(code),
    }
}

/// 400 `paravent_invalid_json`: the strict parse.
fn invalid_json() -> Refusal {
    refusal(400, "paravent_invalid_json")
}

/// 403 `paravent_secret`: a secret, wherever it is.
fn secret() -> Refusal {
    refusal(403, "paravent_secret")
}

/// 401, whatever the code: a key that must not be used here.
fn unauthorized() -> Refusal {
    Refusal {
        status: Some(401),
        code: None,
    }
}

/// Any 4xx with a `paravent_*` code: where the issue leaves the choice to the design.
fn any_refusal() -> Refusal {
    Refusal {
        status: None,
        code: None,
    }
}

enum Expect {
    /// Forwarded (the client got 200), and the provider received no planted value.
    Masked,
    /// Refused in the provider's error format; the provider received nothing.
    Refused(Refusal),
    /// Either of the above.
    MaskedOrRefused(Refusal),
    /// Forwarded without the planted values; the client's answer (decoded) holds each of
    /// these values and no pseudonym in any form.
    Restored(Vec<&'static str>),
    /// As `Restored`, or the answer refused by Paravent (5xx, a `paravent_*` code) with
    /// no pseudonym in it: for answers Paravent may not be able to decode.
    RestoredOrRefused(Vec<&'static str>),
    /// Forwarded; the client never sees this key (body, decoded, or headers).
    KeyHidden(&'static str),
}

struct Case {
    name: &'static str,
    class: Class,
    on: On,
    method: Method,
    path: String,
    /// Replace or add to the API's default headers; an empty value removes the header.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    planted: Vec<String>,
    expect: Expect,
    canned: Option<CannedFn>,
}

impl Case {
    fn new(name: &'static str, class: Class, path: &str, body: Vec<u8>) -> Case {
        Case {
            name,
            class,
            on: On::PassThrough,
            method: Method::POST,
            path: path.to_owned(),
            headers: Vec::new(),
            body,
            planted: Vec::new(),
            expect: Expect::Masked,
            canned: None,
        }
    }

    fn plant(mut self, values: &[&str]) -> Case {
        self.planted.extend(values.iter().map(|v| (*v).to_owned()));
        self
    }

    fn expect(mut self, e: Expect) -> Case {
        self.expect = e;
        self
    }

    fn on(mut self, on: On) -> Case {
        self.on = on;
        self
    }

    fn method(mut self, m: Method) -> Case {
        self.method = m;
        self
    }

    fn header(mut self, name: &str, value: &str) -> Case {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    fn answer(mut self, make: impl FnOnce(&Recorded) -> Canned + Send + 'static) -> Case {
        self.canned = Some(Box::new(make));
        self
    }
}

/// A case whose body is `v` serialised.
fn json_case(name: &'static str, class: Class, path: &str, v: Value) -> Case {
    Case::new(name, class, path, v.to_string().into_bytes())
}

/// A case whose body is written by hand (duplicate keys, escapes, bad bytes).
fn raw_case(name: &'static str, class: Class, path: &str, body: impl Into<Vec<u8>>) -> Case {
    Case::new(name, class, path, body.into())
}

// --- Body helpers ---

fn chat(messages: Value) -> Value {
    json!({"model": "gpt-x", "messages": messages})
}

fn chat_text(text: &str) -> Value {
    chat(json!([{"role": "user", "content": text}]))
}

fn anthropic(messages: Value) -> Value {
    json!({"model": "claude-x", "max_tokens": 64, "messages": messages})
}

fn anthropic_text(text: &str) -> Value {
    anthropic(json!([{"role": "user", "content": text}]))
}

fn gemini(contents: Value) -> Value {
    json!({ "contents": contents })
}

fn gemini_text(text: &str) -> Value {
    gemini(json!([{"role": "user", "parts": [{"text": text}]}]))
}

fn ollama(messages: Value) -> Value {
    json!({"model": "llama-x", "stream": false, "messages": messages})
}

fn ollama_text(text: &str) -> Value {
    ollama(json!([{"role": "user", "content": text}]))
}

fn responses(input: Value) -> Value {
    json!({"model": "gpt-x", "input": input})
}

/// `value` with its spaces replaced by `sep`.
fn grouped(value: &str, sep: &str) -> String {
    value.replace(' ', sep)
}

/// `value` without its spaces, `mark` inserted every `every` characters.
fn marked_every(value: &str, every: usize, mark: char) -> String {
    let mut out = String::new();
    for (i, c) in value.chars().filter(|c| *c != ' ').enumerate() {
        if i > 0 && i % every == 0 {
            out.push(mark);
        }
        out.push(c);
    }
    out
}

/// ASCII digits, letters and `@` in their fullwidth forms.
fn fullwidth(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Mathematical bold digits for ASCII digits.
fn math_digits(value: &str) -> String {
    value
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0x1D7CE + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

// --- Canned answers (class 5) ---

/// The first pseudonym of `entity` in what the provider received, or a marker that can
/// only come back unchanged (the case then fails on what the provider received).
fn token(r: &Recorded, entity: &str) -> String {
    let body = String::from_utf8_lossy(&r.body);
    tokens_in(&body)
        .into_iter()
        .find(|t| t.starts_with(&format!("[{entity}_")))
        .unwrap_or_else(|| format!("[{entity}_NOT_PSEUDONYMISED]"))
}

/// `[FR_NIR_7F3A2C]` as a model rewrites it: without brackets, `_` written `sep`.
fn rewritten(token: &str, sep: &str) -> String {
    token
        .trim_start_matches('[')
        .trim_end_matches(']')
        .replace('_', sep)
}

/// `text` cut in two (on a character boundary).
fn halves(text: &str) -> Vec<String> {
    let mid = text
        .char_indices()
        .nth(text.chars().count() / 2)
        .map_or(0, |(i, _)| i);
    vec![text[..mid].to_owned(), text[mid..].to_owned()]
}

fn canned(status: u16, content_type: &str, frames: Vec<Vec<u8>>) -> Canned {
    Canned {
        status: StatusCode::from_u16(status).expect("a status"),
        headers: vec![("content-type", content_type.to_owned())],
        frames,
    }
}

/// `c` with its frames compressed as one `encoding` stream, cut in three frames.
fn compressed(mut c: Canned, encoding: &'static str) -> Canned {
    let plain = c.frames.concat();
    let packed = match encoding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            brotli::BrotliCompress(&mut &plain[..], &mut out, &Default::default()).unwrap();
            out
        }
        other => panic!("no encoder for {other}"),
    };
    let third = packed.len().div_ceil(3).max(1);
    c.frames = packed.chunks(third).map(<[u8]>::to_vec).collect();
    c.headers.push(("content-encoding", encoding.to_owned()));
    c
}

/// OpenAI chat chunks, one piece of text each, then the finish chunk and `[DONE]`.
fn openai_sse(pieces: &[String]) -> Vec<Vec<u8>> {
    let chunk = |delta: Value, finish: Value| {
        let v = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "mock", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {v}\n\n").into_bytes()
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    out.extend(
        pieces
            .iter()
            .map(|p| chunk(json!({ "content": p }), Value::Null)),
    );
    out.push(chunk(json!({}), json!("stop")));
    out.push(b"data: [DONE]\n\n".to_vec());
    out
}

fn openai_json(text: &str) -> Vec<u8> {
    json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "mock",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
        "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    .to_string()
    .into_bytes()
}

fn anthropic_sse(pieces: &[String]) -> Vec<Vec<u8>> {
    let ev = |name: &str, v: Value| format!("event: {name}\ndata: {v}\n\n").into_bytes();
    let mut out = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "mock", "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for p in pieces {
        out.push(ev(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": p}}),
        ));
    }
    out.push(ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    out.push(ev(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn",
        "stop_sequence": null}, "usage": {"output_tokens": 1}}),
    ));
    out.push(ev("message_stop", json!({"type": "message_stop"})));
    out
}

fn anthropic_json(text: &str) -> Vec<u8> {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "mock",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}})
    .to_string()
    .into_bytes()
}

fn ollama_ndjson(pieces: &[String]) -> Vec<Vec<u8>> {
    let line = |text: &str, done: bool| {
        let mut v = json!({"model": "mock", "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text}, "done": done});
        if done {
            v["done_reason"] = json!("stop");
        }
        format!("{v}\n").into_bytes()
    };
    let mut out: Vec<Vec<u8>> = pieces.iter().map(|p| line(p, false)).collect();
    out.push(line("", true));
    out
}

/// Gemini's `streamGenerateContent` without `alt=sse`: one JSON array, an element per
/// piece, written in frames that cut elements where a server's writes would.
fn gemini_array(pieces: &[String]) -> Vec<Vec<u8>> {
    let n = pieces.len();
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        let mut cand = json!({"content": {"role": "model", "parts": [{"text": p}]}, "index": 0});
        if i + 1 == n {
            cand["finishReason"] = json!("STOP");
        }
        let el = json!({"candidates": [cand], "modelVersion": "mock"}).to_string();
        let head = if i == 0 { "[" } else { ",\r\n" };
        let mut frame = format!("{head}{el}").into_bytes();
        if i + 1 == n {
            frame.push(b']');
        }
        // Cut each element in two frames: a decoder must carry the rest over.
        let cut = frame.len() / 2;
        out.push(frame[..cut].to_vec());
        out.push(frame[cut..].to_vec());
    }
    out
}

fn gemini_json(text: &str) -> Vec<u8> {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2}})
    .to_string()
    .into_bytes()
}

/// The key the provider received (`Authorization: Bearer`, `x-api-key`,
/// `x-goog-api-key`), as a provider quotes it in an error.
fn received_key(r: &Recorded) -> String {
    for name in ["authorization", "x-api-key", "x-goog-api-key"] {
        if let Some(v) = r.headers.get(name).and_then(|v| v.to_str().ok()) {
            return v.trim_start_matches("Bearer ").to_owned();
        }
    }
    "no-key-received".to_owned()
}

// --- The table ---

fn cases() -> Vec<Case> {
    let mut c = Vec::new();
    c.extend(walking());
    c.extend(bytes());
    c.extend(characters());
    c.extend(outside_the_body());
    c.extend(answers());
    c
}

/// Class 1: everything the provider reads is text to scan, not a list of known fields.
fn walking() -> Vec<Case> {
    use Class::Walking as W;
    let tool_call = |args: Value| {
        chat(json!([
            {"role": "user", "content": "Prépare l'envoi."},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                "type": "function", "function": {"name": "send", "arguments": args}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]))
    };
    vec![
        // OpenAI chat
        json_case(
            "a card number as a JSON number inside tool-call arguments",
            W,
            CHAT,
            tool_call(json!(format!(r#"{{"card":{CARD_DIGITS},"note":"paiement"}}"#))),
        )
        .plant(&[CARD]),
        json_case(
            "an e-mail as an object key inside tool-call arguments",
            W,
            CHAT,
            tool_call(json!(json!({"contacts": {EMAIL: "VIP"}}).to_string())),
        )
        .plant(&[EMAIL]),
        json_case(
            "tool-call arguments sent as an object rather than a string",
            W,
            CHAT,
            tool_call(json!({"to": EMAIL, "iban": IBAN})),
        )
        .plant(&[EMAIL, IBAN]),
        json_case(
            "message content sent as an object",
            W,
            CHAT,
            chat(json!([{"role": "user", "content": {"type": "text", "text": format!("Écris à {EMAIL}")}}])),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "stop sequences in OpenAI chat",
            W,
            CHAT,
            json!({"model": "gpt-x", "stop": [EMAIL, "FIN"],
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .plant(&[EMAIL]),
        json_case(
            "a single stop string in OpenAI chat",
            W,
            CHAT,
            json!({"model": "gpt-x", "stop": IBAN,
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .plant(&[IBAN]),
        json_case(
            "an e-mail in prompt_cache_key",
            W,
            CHAT,
            json!({"model": "gpt-x", "prompt_cache_key": EMAIL,
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .plant(&[EMAIL]),
        json_case(
            "a NIR in an unknown top-level field",
            W,
            CHAT,
            json!({"model": "gpt-x", "x_context": {"dossier": NIR},
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .plant(&[NIR]),
        json_case(
            "a phone number deep in an unknown field of a message",
            W,
            CHAT,
            chat(json!([{"role": "user", "content": "Bonjour",
                "x_extra": {"deep": [1, true, {"v": PHONE}]}}])),
        )
        .plant(&[PHONE]),
        json_case(
            "an e-mail in a $comment of a tool's JSON schema",
            W,
            CHAT,
            json!({"model": "gpt-x", "messages": [{"role": "user", "content": "Bonjour"}],
                "tools": [{"type": "function", "function": {"name": "send",
                    "parameters": {"type": "object", "$comment": format!("défaut: {EMAIL}"),
                        "properties": {"to": {"type": "string"}}}}}]}),
        )
        .plant(&[EMAIL]),
        json_case(
            "an IBAN in the examples of a response_format schema",
            W,
            CHAT,
            json!({"model": "gpt-x", "messages": [{"role": "user", "content": "Bonjour"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "virement",
                    "schema": {"type": "object", "properties": {"iban": {"type": "string",
                        "examples": [IBAN]}}}}}}),
        )
        .plant(&[IBAN]),
        json_case(
            "an e-mail as a metadata key",
            W,
            CHAT,
            json!({"model": "gpt-x", "store": true, "metadata": {EMAIL: "vip"},
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .plant(&[EMAIL]),
        json_case(
            "an e-mail in the user field",
            W,
            CHAT,
            json!({"model": "gpt-x", "user": EMAIL,
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .plant(&[EMAIL]),
        json_case(
            "an e-mail as a message's participant name",
            W,
            CHAT,
            chat(json!([{"role": "user", "name": EMAIL, "content": "Bonjour"}])),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "an e-mail in a role, which has no such value",
            W,
            CHAT,
            chat(json!([{"role": EMAIL, "content": "Bonjour"}])),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "an e-mail as a tool's function name",
            W,
            CHAT,
            json!({"model": "gpt-x", "messages": [{"role": "user", "content": "Bonjour"}],
                "tools": [{"type": "function", "function": {"name": EMAIL}}]}),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a content part of a type Paravent does not know",
            W,
            CHAT,
            chat(json!([{"role": "user", "content": [{"type": "text", "text": "Bonjour"},
                {"type": "x_note", "x_note": format!("rappeler {PHONE}")}]}])),
        )
        .plant(&[PHONE])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a case-variant Content key in an OpenAI message",
            W,
            CHAT,
            chat(json!([{"role": "user", "content": "Bonjour", "Content": format!("écrire à {EMAIL}")}])),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(invalid_json())),
        json_case(
            "a case-variant MESSAGES key at the top level",
            W,
            CHAT,
            json!({"model": "gpt-x", "messages": [{"role": "user", "content": "Bonjour"}],
                "MESSAGES": [{"role": "user", "content": format!("NIR {NIR}")}]}),
        )
        .plant(&[NIR])
        .expect(Expect::MaskedOrRefused(invalid_json())),
        json_case(
            "Mistral agents completions messages",
            W,
            "/openai/v1/agents/completions",
            json!({"agent_id": "ag_1", "messages": [{"role": "user",
                "content": format!("Mon email est {EMAIL}")}]}),
        )
        .plant(&[EMAIL]),
        json_case(
            "a suffix of Mistral fill-in-the-middle completions",
            W,
            "/openai/v1/fim/completions",
            json!({"model": "codestral", "prompt": "def contact():", "suffix": format!("# {EMAIL}")}),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a stop sequence and a suffix in legacy completions",
            W,
            COMPLETIONS,
            json!({"model": "gpt-x", "prompt": ["Bonjour"], "suffix": NIR, "stop": [EMAIL]}),
        )
        .plant(&[NIR, EMAIL]),
        json_case(
            "embeddings input as nested arrays of strings",
            W,
            EMBEDDINGS,
            json!({"model": "e", "input": [["contact", EMAIL]]}),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        // OpenAI Responses
        json_case(
            "a card number as a JSON number in Responses function_call arguments",
            W,
            RESPONSES,
            responses(json!([{"role": "user", "content": "Paie."},
                {"type": "function_call", "call_id": "c1", "name": "pay",
                    "arguments": format!(r#"{{"card":{CARD_DIGITS}}}"#)},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"}])),
        )
        .plant(&[CARD]),
        json_case(
            "a Responses function_call_output given as a list of parts",
            W,
            RESPONSES,
            responses(json!([{"type": "function_call", "call_id": "c1", "name": "lookup",
                    "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1",
                    "output": [{"type": "input_text", "text": format!("NIR {NIR}")}]}])),
        )
        .plant(&[NIR]),
        json_case(
            "a Responses reasoning summary quoting an e-mail",
            W,
            RESPONSES,
            responses(json!([{"role": "user", "content": "Bonjour"},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text",
                    "text": format!("L'utilisateur est {EMAIL}")}]}])),
        )
        .plant(&[EMAIL]),
        json_case(
            "an IBAN in a Responses text.format schema comment",
            W,
            RESPONSES,
            json!({"model": "gpt-x", "input": "Bonjour", "text": {"format": {
                "type": "json_schema", "name": "r", "schema": {"type": "object",
                "$comment": format!("compte {IBAN}")}}}}),
        )
        .plant(&[IBAN]),
        json_case(
            "an e-mail in a Responses MCP tool header",
            W,
            RESPONSES,
            json!({"model": "gpt-x", "input": "Bonjour", "tools": [{"type": "mcp",
                "server_label": "crm", "server_url": "https://mcp.example.com/sse",
                "headers": {"X-User": EMAIL}}]}),
        )
        .plant(&[EMAIL]),
        json_case(
            "a secret in a Responses MCP tool header",
            W,
            RESPONSES,
            json!({"model": "gpt-x", "input": "Bonjour", "tools": [{"type": "mcp",
                "server_label": "gh", "server_url": "https://mcp.example.com/sse",
                "headers": {"Authorization": format!("Bearer {GITHUB_SECRET}")}}]}),
        )
        .plant(&[GITHUB_SECRET])
        .expect(Expect::Refused(secret())),
        json_case(
            "a secret in a Responses MCP tool authorization",
            W,
            RESPONSES,
            json!({"model": "gpt-x", "input": "Bonjour", "tools": [{"type": "mcp",
                "server_label": "ai", "server_url": "https://mcp.example.com/sse",
                "authorization": OPENAI_SECRET}]}),
        )
        .plant(&[OPENAI_SECRET])
        .expect(Expect::Refused(secret())),
        // Anthropic
        json_case(
            "an Anthropic citation's cited_text sent back in the history",
            W,
            MESSAGES,
            anthropic(json!([{"role": "user", "content": "Qui est le client ?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Le client est",
                    "citations": [{"type": "char_location", "cited_text": format!("Client : {EMAIL}"),
                        "document_index": 0, "document_title": "fiche", "start_char_index": 0,
                        "end_char_index": 30}]}]},
                {"role": "user", "content": "Merci"}])),
        )
        .plant(&[EMAIL]),
        json_case(
            "an Anthropic web search citation's title and cited_text",
            W,
            MESSAGES,
            anthropic(json!([{"role": "user", "content": "Cherche"},
                {"role": "assistant", "content": [{"type": "text", "text": "Voici",
                    "citations": [{"type": "web_search_result_location",
                        "url": "https://example.com/annuaire", "title": format!("Annuaire {PHONE_LYON}"),
                        "encrypted_index": "abc", "cited_text": format!("joindre au {PHONE}")}]}]},
                {"role": "user", "content": "Merci"}])),
        )
        .plant(&[PHONE, PHONE_LYON]),
        json_case(
            "Anthropic stop_sequences",
            W,
            MESSAGES,
            json!({"model": "claude-x", "max_tokens": 64, "stop_sequences": [NIR],
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .plant(&[NIR]),
        json_case(
            "an e-mail in Anthropic metadata.user_id",
            W,
            MESSAGES,
            json!({"model": "claude-x", "max_tokens": 64, "metadata": {"user_id": EMAIL},
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .plant(&[EMAIL]),
        json_case(
            "a secret in an Anthropic MCP server's authorization_token",
            W,
            MESSAGES,
            json!({"model": "claude-x", "max_tokens": 64, "messages": [{"role": "user",
                "content": "Bonjour"}], "mcp_servers": [{"type": "url",
                "url": "https://mcp.example.com/sse", "name": "gh",
                "authorization_token": GITHUB_SECRET}]}),
        )
        .plant(&[GITHUB_SECRET])
        .expect(Expect::Refused(secret())),
        json_case(
            "a number and a key inside an Anthropic tool_use input",
            W,
            MESSAGES,
            anthropic(json!([{"role": "user", "content": "Paie."},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1",
                    "name": "pay", "input": {"card": 5555555555554444_u64, EMAIL_B: "titulaire"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                    "content": "ok"}]}])),
        )
        .plant(&[CARD_B, EMAIL_B]),
        json_case(
            "a case-variant Messages key in an Anthropic request",
            W,
            MESSAGES,
            json!({"model": "claude-x", "max_tokens": 64,
                "messages": [{"role": "user", "content": "Bonjour"}],
                "Messages": [{"role": "user", "content": format!("IBAN {IBAN}")}]}),
        )
        .plant(&[IBAN])
        .expect(Expect::MaskedOrRefused(invalid_json())),
        json_case(
            "Anthropic token counting is walked like messages",
            W,
            "/anthropic/v1/messages/count_tokens",
            json!({"model": "claude-x", "system": format!("Client : {EMAIL}"),
                "messages": [{"role": "user", "content": format!("NIR {NIR}")}]}),
        )
        .plant(&[EMAIL, NIR]),
        // Gemini
        json_case(
            "a card number as a JSON number in a Gemini functionCall",
            W,
            GEMINI,
            gemini(json!([{"role": "user", "parts": [{"text": "Paie."}]},
                {"role": "model", "parts": [{"functionCall": {"name": "pay",
                    "args": {"card": 4111111111111111_u64}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "pay",
                    "response": {"ok": true}}}]}])),
        )
        .plant(&[CARD]),
        json_case(
            "an e-mail as a key of a Gemini functionResponse",
            W,
            GEMINI,
            gemini(json!([{"role": "user", "parts": [{"text": "Cherche."}]},
                {"role": "model", "parts": [{"functionCall": {"name": "find", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "find",
                    "response": {"result": {EMAIL: {"statut": "actif"}}}}}]}])),
        )
        .plant(&[EMAIL]),
        json_case(
            "an e-mail in Gemini cachedContent and labels",
            W,
            GEMINI,
            json!({"contents": [{"role": "user", "parts": [{"text": "Bonjour"}]}],
                "cachedContent": format!("cachedContents/{EMAIL}"),
                "labels": {"client": EMAIL_B}}),
        )
        .plant(&[EMAIL, EMAIL_B])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a NIR in a Gemini safetySettings category",
            W,
            GEMINI,
            json!({"contents": [{"role": "user", "parts": [{"text": "Bonjour"}]}],
                "safetySettings": [{"category": format!("HARM {NIR}"), "threshold": "BLOCK_NONE"}]}),
        )
        .plant(&[NIR])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "Gemini generationConfig.stopSequences",
            W,
            GEMINI,
            json!({"contents": [{"role": "user", "parts": [{"text": "Bonjour"}]}],
                "generationConfig": {"stopSequences": [IBAN], "temperature": 0.2}}),
        )
        .plant(&[IBAN]),
        json_case(
            "Gemini executableCode and codeExecutionResult parts",
            W,
            GEMINI,
            gemini(json!([{"role": "user", "parts": [{"text": "Calcule."}]},
                {"role": "model", "parts": [{"executableCode": {"language": "PYTHON",
                    "code": format!("iban = '{IBAN_DE}'")}},
                    {"codeExecutionResult": {"outcome": "OUTCOME_OK",
                        "output": format!("{EMAIL}\n")}}]}])),
        )
        .plant(&[IBAN_DE, EMAIL]),
        json_case(
            "an e-mail as a property name of a Gemini function declaration",
            W,
            GEMINI,
            json!({"contents": [{"role": "user", "parts": [{"text": "Bonjour"}]}],
                "tools": [{"functionDeclarations": [{"name": "send", "description": "Envoie",
                    "parameters": {"type": "OBJECT", "properties": {EMAIL: {"type": "STRING"}}}}]}]}),
        )
        .plant(&[EMAIL]),
        json_case(
            "Gemini token counting is walked like generateContent",
            W,
            "/gemini/v1beta/models/gemini-x:countTokens",
            gemini_text(&format!("Mon IBAN est {IBAN}")),
        )
        .plant(&[IBAN]),
        // Ollama
        json_case(
            "a number and a key in Ollama tool_calls arguments",
            W,
            OLLAMA_CHAT,
            ollama(json!([{"role": "user", "content": "Paie."},
                {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "pay",
                    "arguments": {"card": 4111111111111111_u64, EMAIL: true}}}]},
                {"role": "tool", "content": "ok"}])),
        )
        .plant(&[CARD, EMAIL]),
        json_case(
            "Ollama options.stop",
            W,
            OLLAMA_CHAT,
            json!({"model": "llama-x", "stream": false, "options": {"stop": [PHONE], "temperature": 0.1},
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .plant(&[PHONE]),
        json_case(
            "Ollama generate's system, template and suffix",
            W,
            OLLAMA_GENERATE,
            json!({"model": "llama-x", "stream": false, "prompt": "Bonjour",
                "system": format!("Tu assistes {EMAIL}"),
                "template": format!("{{{{ .Prompt }}}} NIR {NIR}"), "suffix": IBAN}),
        )
        .plant(&[EMAIL, NIR, IBAN]),
        json_case(
            "a $comment in Ollama's format schema",
            W,
            OLLAMA_CHAT,
            json!({"model": "llama-x", "stream": false,
                "messages": [{"role": "user", "content": "Bonjour"}],
                "format": {"type": "object", "$comment": format!("pour {EMAIL_B}")}}),
        )
        .plant(&[EMAIL_B]),
        json_case(
            "a case-variant Content key in an Ollama message (Go servers read it)",
            W,
            OLLAMA_CHAT,
            ollama(json!([{"role": "user", "Content": format!("Mon NIR est {NIR_B}")}])),
        )
        .plant(&[NIR_B])
        .expect(Expect::MaskedOrRefused(invalid_json())),
    ]
}

/// Class 2: one strict parse; what leaves is the serialisation of what was scanned.
fn bytes() -> Vec<Case> {
    use Class::Bytes as B;
    let mut bad_utf8 =
        format!(r#"{{"model":"gpt-x","messages":[{{"role":"user","content":"{EMAIL} "#)
            .into_bytes();
    bad_utf8.push(0xFF);
    bad_utf8.extend_from_slice(br#""}]}"#);
    let mut overlong = format!(
        r#"{{"model":"claude-x","max_tokens":9,"messages":[{{"role":"user","content":"{NIR} "#
    )
    .into_bytes();
    overlong.extend_from_slice(&[0xC0, 0xAE]);
    overlong.extend_from_slice(br#""}]}"#);
    let mut cut = format!(r#"{{"contents":[{{"parts":[{{"text":"{IBAN} "#).into_bytes();
    cut.extend_from_slice(&[0xE2, 0x82]); // the first two bytes of a three-byte character
    cut.extend_from_slice(br#""}]}]}"#);
    vec![
        raw_case(
            "a duplicate content key in an OpenAI message, the value first",
            B,
            CHAT,
            format!(r#"{{"model":"gpt-x","messages":[{{"role":"user","content":"{EMAIL}","content":"bonjour"}}]}}"#),
        )
        .plant(&[EMAIL])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a duplicate messages key at the top level",
            B,
            CHAT,
            format!(r#"{{"model":"gpt-x","messages":[{{"role":"user","content":"IBAN {IBAN}"}}],"messages":[{{"role":"user","content":"bonjour"}}]}}"#),
        )
        .plant(&[IBAN])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a duplicate text key in an Anthropic content block",
            B,
            MESSAGES,
            format!(r#"{{"model":"claude-x","max_tokens":9,"messages":[{{"role":"user","content":[{{"type":"text","text":"NIR {NIR}","text":"bonjour"}}]}}]}}"#),
        )
        .plant(&[NIR])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a duplicate text key in a Gemini part",
            B,
            GEMINI,
            format!(r#"{{"contents":[{{"role":"user","parts":[{{"text":"{PHONE}","text":"bonjour"}}]}}]}}"#),
        )
        .plant(&[PHONE])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a duplicate content key in an Ollama message",
            B,
            OLLAMA_CHAT,
            format!(r#"{{"model":"llama-x","stream":false,"messages":[{{"role":"user","content":"{EMAIL_B}","content":"bonjour"}}]}}"#),
        )
        .plant(&[EMAIL_B])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a duplicate input key in a Responses request",
            B,
            RESPONSES,
            format!(r#"{{"model":"gpt-x","input":"Mon NIR est {NIR_B}","input":"bonjour"}}"#),
        )
        .plant(&[NIR_B])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a duplicate key in an unknown nested object",
            B,
            CHAT,
            format!(r#"{{"model":"gpt-x","x_ctx":{{"a":{{"n":"{CARD}","n":"0"}}}},"messages":[{{"role":"user","content":"bonjour"}}]}}"#),
        )
        .plant(&[CARD])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a duplicate key spelled with an escape",
            B,
            CHAT,
            format!(r#"{{"model":"gpt-x","messages":[{{"role":"user","content":"{EMAIL}","\u0063ontent":"bonjour"}}]}}"#),
        )
        .plant(&[EMAIL])
        .expect(Expect::Refused(invalid_json())),
        json_case(
            "a duplicate key inside string-encoded tool arguments",
            B,
            CHAT,
            chat(json!([{"role": "user", "content": "Envoie."},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                    "type": "function", "function": {"name": "send",
                    "arguments": format!(r#"{{"to":"{EMAIL}","to":"x"}}"#)}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"}])),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(invalid_json())),
        raw_case("an invalid UTF-8 byte in a message", B, CHAT, bad_utf8)
            .plant(&[EMAIL])
            .expect(Expect::Refused(invalid_json())),
        raw_case(
            "an overlong UTF-8 sequence in an Anthropic message",
            B,
            MESSAGES,
            overlong,
        )
        .plant(&[NIR])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a UTF-8 sequence cut short in a Gemini part",
            B,
            GEMINI,
            cut,
        )
        .plant(&[IBAN])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a lone high surrogate escape next to an e-mail",
            B,
            CHAT,
            format!(r#"{{"model":"gpt-x","messages":[{{"role":"user","content":"\ud800 {EMAIL}"}}]}}"#),
        )
        .plant(&[EMAIL])
        .expect(Expect::Refused(invalid_json())),
        raw_case(
            "a lone low surrogate escape in an Ollama prompt",
            B,
            OLLAMA_GENERATE,
            format!(r#"{{"model":"llama-x","stream":false,"prompt":"{PHONE} \udc00"}}"#),
        )
        .plant(&[PHONE])
        .expect(Expect::Refused(invalid_json())),
    ]
}

/// Class 3: detection reads what the provider reads.
fn characters() -> Vec<Case> {
    use Class::Characters as C;
    let zwsp = '\u{200B}';
    // serde_json writes 4111111111111111, never 4.111111111111111e15: write it by hand.
    let exponent_card = gemini(json!([{"role": "user", "parts": [{"text": "Paie."}]},
        {"role": "model", "parts": [{"functionCall": {"name": "pay", "args": {"card": 0}}}]}]))
    .to_string()
    .replace(r#""card":0"#, r#""card":4.111111111111111e15"#);
    vec![
        json_case(
            "a NIR grouped with narrow no-break spaces",
            C,
            CHAT,
            chat_text(&format!("Mon NIR : {}", grouped(NIR, "\u{202F}"))),
        )
        .plant(&[NIR]),
        json_case(
            "an IBAN grouped with narrow no-break spaces",
            C,
            MESSAGES,
            anthropic_text(&format!("IBAN : {}", grouped(IBAN, "\u{202F}"))),
        )
        .plant(&[IBAN]),
        json_case(
            "an IBAN grouped with hyphens",
            C,
            GEMINI,
            gemini_text(&format!("Virement sur {}", grouped(IBAN_DE, "-"))),
        )
        .plant(&[IBAN_DE]),
        json_case(
            "a NIR grouped with hyphens",
            C,
            OLLAMA_CHAT,
            ollama_text(&format!("sécu {}", grouped(NIR_B, "-"))),
        )
        .plant(&[NIR_B]),
        json_case(
            "a card grouped with dots",
            C,
            RESPONSES,
            responses(json!(format!("Carte {}", grouped(CARD, ".")))),
        )
        .plant(&[CARD]),
        json_case(
            "a card grouped with en dashes",
            C,
            CHAT,
            chat_text(&format!("Carte {}", grouped(CARD_B, "\u{2013}"))),
        )
        .plant(&[CARD_B]),
        json_case(
            "a NIR grouped with no-break spaces",
            C,
            RESPONSES,
            responses(json!([{"role": "user", "content": [{"type": "input_text",
                "text": format!("NIR {}", grouped(NIR, "\u{00A0}"))}]}])),
        )
        .plant(&[NIR]),
        json_case(
            "a phone number written with non-breaking hyphens",
            C,
            MESSAGES,
            anthropic_text(&format!("Appelle le {}", grouped(PHONE, "\u{2011}"))),
        )
        .plant(&[PHONE]),
        json_case(
            "zero-width spaces inside a card number",
            C,
            CHAT,
            chat_text(&format!("Carte {}", marked_every(CARD, 4, zwsp))),
        )
        .plant(&[CARD]),
        json_case(
            "a zero-width joiner inside an e-mail",
            C,
            MESSAGES,
            anthropic_text(&format!("Écris à {}", EMAIL.replace('@', "\u{200D}@"))),
        )
        .plant(&[EMAIL]),
        json_case(
            "soft hyphens inside an IBAN",
            C,
            GEMINI,
            gemini_text(&format!("IBAN {}", marked_every(IBAN, 4, '\u{00AD}'))),
        )
        .plant(&[IBAN]),
        json_case(
            "word joiners inside a phone number",
            C,
            OLLAMA_CHAT,
            ollama_text(&format!("Tél. {}", marked_every(PHONE, 2, '\u{2060}'))),
        )
        .plant(&[PHONE]),
        json_case(
            "a soft hyphen inside an e-mail's local part",
            C,
            RESPONSES,
            responses(json!(format!("Contact : {}", EMAIL_B.replace(".f", ".\u{00AD}f")))),
        )
        .plant(&[EMAIL_B]),
        raw_case(
            "zero-width spaces written as JSON escapes inside an IBAN",
            C,
            CHAT,
            format!(
                r#"{{"model":"gpt-x","messages":[{{"role":"user","content":"IBAN {}"}}]}}"#,
                IBAN.replace(' ', "\\u200b")
            ),
        )
        .plant(&[IBAN]),
        json_case(
            "a byte order mark inside an OpenAI key",
            C,
            CHAT,
            chat_text(&format!("Ma clé : {}", OPENAI_SECRET.replace("proj-", "proj-\u{FEFF}"))),
        )
        .plant(&[OPENAI_SECRET])
        .expect(Expect::Refused(secret())),
        json_case(
            "zero-width spaces inside a GitHub token in tool arguments",
            C,
            CHAT,
            chat(json!([{"role": "user", "content": "Configure."},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1",
                    "type": "function", "function": {"name": "configure",
                    "arguments": json!({"token": marked_every(GITHUB_SECRET, 8, zwsp)}).to_string()}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "ok"}])),
        )
        .plant(&[GITHUB_SECRET])
        .expect(Expect::Refused(secret())),
        json_case(
            "a phone number in fullwidth digits",
            C,
            CHAT,
            chat_text(&format!("Rappelle le {}", fullwidth(PHONE))),
        )
        .plant(&[PHONE]),
        json_case(
            "a card number in fullwidth digits",
            C,
            GEMINI,
            gemini_text(&format!("Carte {}", fullwidth(CARD))),
        )
        .plant(&[CARD]),
        json_case(
            "a NIR in mathematical digits",
            C,
            OLLAMA_GENERATE,
            json!({"model": "llama-x", "stream": false,
                "prompt": format!("NIR {}", math_digits(NIR))}),
        )
        .plant(&[NIR]),
        json_case(
            "an e-mail with a fullwidth at sign",
            C,
            MESSAGES,
            anthropic_text(&format!("Écris à {}", EMAIL.replace('@', "＠"))),
        )
        .plant(&[EMAIL]),
        json_case(
            "an e-mail written entirely in fullwidth forms",
            C,
            RESPONSES,
            responses(json!(format!("Contact {}", fullwidth(EMAIL_B)))),
        )
        .plant(&[EMAIL_B]),
        json_case(
            "an international phone number glued to a word",
            C,
            CHAT,
            chat_text(&format!("Standard{PHONE_LYON}, demander l'accueil")),
        )
        .plant(&[PHONE_LYON]),
        json_case(
            "a mobile number glued to a word",
            C,
            OLLAMA_CHAT,
            ollama_text(&format!("Mobile{PHONE} après 18h")),
        )
        .plant(&[PHONE]),
        json_case(
            "an e-mail with an internationalised domain",
            C,
            CHAT,
            chat_text(&format!("Écris à {EMAIL_IDN} demain")),
        )
        .plant(&[EMAIL_IDN]),
        json_case(
            "an e-mail split across two text parts of one OpenAI message",
            C,
            CHAT,
            chat(json!([{"role": "user", "content": [
                {"type": "text", "text": "Écris à jean.dupont@"},
                {"type": "text", "text": "example.fr demain"}]}])),
        )
        .plant(&[EMAIL]),
        json_case(
            "an e-mail split across two Anthropic text blocks",
            C,
            MESSAGES,
            anthropic(json!([{"role": "user", "content": [
                {"type": "text", "text": "Contact : claire.fontaine@"},
                {"type": "text", "text": "exemple.com"}]}])),
        )
        .plant(&[EMAIL_B]),
        json_case(
            "an IBAN split across two Gemini parts",
            C,
            GEMINI,
            gemini(json!([{"role": "user", "parts": [
                {"text": "IBAN FR76 3000 6000 01"}, {"text": "12 3456 7890 189"}]}])),
        )
        .plant(&[IBAN]),
        raw_case(
            "a card number written as a JSON number with an exponent",
            C,
            GEMINI,
            exponent_card,
        )
        .plant(&[CARD]),
    ]
}

/// Class 4: the path, the query, the headers, the keys and the audit trail.
fn outside_the_body() -> Vec<Case> {
    use Class::OutsideTheBody as O;
    let hello = || chat_text(&format!("Bonjour, mon email est {EMAIL}"));
    let pv = format!("Bearer {VIRTUAL_KEY}");
    vec![
        json_case(
            "an e-mail in the query string",
            O,
            &format!("{CHAT}?user={EMAIL}"),
            chat_text("Bonjour"),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a percent-encoded e-mail in the query string",
            O,
            &format!("{MESSAGES}?beta=true&ref=jean.dupont%40example.fr"),
            anthropic_text("Bonjour"),
        )
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a NIR in a Gemini query parameter beside alt",
            O,
            &format!("{GEMINI}?alt=json&note={}", NIR.replace(' ', "+")),
            gemini_text("Bonjour"),
        )
        .plant(&[NIR])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "an IBAN in an Ollama query parameter",
            O,
            &format!("{OLLAMA_CHAT}?client={}", IBAN.replace(' ', "%20")),
            ollama_text("Bonjour"),
        )
        .plant(&[IBAN])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        Case::new(
            "an e-mail in the query of a model list (a GET)",
            O,
            &format!("/openai/v1/models?user={EMAIL_B}"),
            Vec::new(),
        )
        .method(Method::GET)
        .plant(&[EMAIL_B])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case("an e-mail in X-End-User", O, CHAT, chat_text("Bonjour"))
            .header("X-End-User", EMAIL)
            .plant(&[EMAIL])
            .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "an e-mail in OpenAI-Organization",
            O,
            CHAT,
            chat_text("Bonjour"),
        )
        .header("OpenAI-Organization", EMAIL)
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a NIR in an unknown X-Foo header",
            O,
            MESSAGES,
            anthropic_text("Bonjour"),
        )
        .header("X-Foo", NIR)
        .plant(&[NIR])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "an e-mail in the User-Agent",
            O,
            GEMINI,
            gemini_text("Bonjour"),
        )
        .header("User-Agent", &format!("crm-plugin/1.0 ({EMAIL_B})"))
        .plant(&[EMAIL_B])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a card number as an Idempotency-Key",
            O,
            CHAT,
            chat_text("Bonjour"),
        )
        .header("Idempotency-Key", CARD_DIGITS)
        .plant(&[CARD])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a secret in an unknown header",
            O,
            OLLAMA_CHAT,
            ollama_text("Bonjour"),
        )
        .header("X-Debug-Token", GITHUB_SECRET)
        .plant(&[GITHUB_SECRET])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "dot-dot segments that climb above the provider's base path",
            O,
            "/openai/v1/../../admin/v1/chat/completions",
            hello(),
        )
        .on(On::Virtual)
        .plant(&[EMAIL, REAL_OPENAI_KEY])
        .expect(Expect::Refused(any_refusal())),
        json_case(
            "percent-encoded dot-dot segments",
            O,
            "/anthropic/v1/%2e%2e/%2E%2E/admin/v1/messages",
            anthropic_text(&format!("Mon NIR est {NIR}")),
        )
        .on(On::Virtual)
        .plant(&[NIR, REAL_ANTHROPIC_KEY])
        .expect(Expect::Refused(any_refusal())),
        json_case(
            "an encoded slash in the path",
            O,
            "/gemini/v1beta%2F..%2F..%2Fadmin/models/gemini-x:generateContent",
            gemini_text(&format!("IBAN {IBAN}")),
        )
        .on(On::Virtual)
        .plant(&[IBAN, REAL_GEMINI_KEY])
        .expect(Expect::Refused(any_refusal())),
        json_case(
            "an encoded backslash dot-dot in the path",
            O,
            "/ollama/api/..%5c..%5cadmin/chat",
            ollama_text(&format!("Mon email {EMAIL}")),
        )
        .on(On::Virtual)
        .plant(&[EMAIL, REAL_OLLAMA_KEY])
        .expect(Expect::Refused(any_refusal())),
        json_case(
            "a single-dot segment in the path",
            O,
            "/openai/v1/./chat/completions",
            hello(),
        )
        .plant(&[EMAIL])
        .expect(Expect::Refused(any_refusal())),
        json_case(
            "a virtual key presented to a pass-through OpenAI provider",
            O,
            CHAT,
            chat_text("Bonjour"),
        )
        .header("authorization", &pv)
        .plant(&[VIRTUAL_KEY])
        .expect(Expect::Refused(unauthorized())),
        json_case(
            "a virtual key presented to a pass-through Anthropic provider",
            O,
            MESSAGES,
            anthropic_text("Bonjour"),
        )
        .header("x-api-key", VIRTUAL_KEY)
        .plant(&[VIRTUAL_KEY])
        .expect(Expect::Refused(unauthorized())),
        json_case(
            "a virtual key in a pass-through Gemini provider's query",
            O,
            &format!("{GEMINI}?key={VIRTUAL_KEY}"),
            gemini_text("Bonjour"),
        )
        .header("x-goog-api-key", "")
        .plant(&[VIRTUAL_KEY])
        .expect(Expect::Refused(unauthorized())),
        json_case(
            "a virtual key presented to a pass-through Ollama provider",
            O,
            OLLAMA_CHAT,
            ollama_text("Bonjour"),
        )
        .header("authorization", &pv)
        .plant(&[VIRTUAL_KEY])
        .expect(Expect::Refused(unauthorized())),
        json_case(
            "api_key in the query in virtual-key mode (OpenAI)",
            O,
            &format!("{CHAT}?api_key={VIRTUAL_KEY}"),
            chat_text("Bonjour"),
        )
        .on(On::Virtual)
        .plant(&[VIRTUAL_KEY])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "key in the query in virtual-key mode (Anthropic)",
            O,
            &format!("{MESSAGES}?key={VIRTUAL_KEY}"),
            anthropic_text("Bonjour"),
        )
        .on(On::Virtual)
        .plant(&[VIRTUAL_KEY])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "key given twice in a Gemini query in virtual-key mode",
            O,
            &format!("{GEMINI}?key={VIRTUAL_KEY}&alt=json&key={VIRTUAL_KEY}"),
            gemini_text("Bonjour"),
        )
        .on(On::Virtual)
        .header("x-goog-api-key", "")
        .plant(&[VIRTUAL_KEY])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "api_key in a Gemini query beside the key header in virtual-key mode",
            O,
            &format!("{GEMINI}?alt=json&api_key={VIRTUAL_KEY}"),
            gemini_text("Bonjour"),
        )
        .on(On::Virtual)
        .plant(&[VIRTUAL_KEY])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "an e-mail as the OpenAI model, kept out of the audit trail",
            O,
            CHAT,
            json!({"model": EMAIL, "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .on(On::Audited)
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a NIR as the Anthropic model, kept out of the audit trail",
            O,
            MESSAGES,
            json!({"model": format!("claude {NIR}"), "max_tokens": 9,
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .on(On::Audited)
        .plant(&[NIR])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "an e-mail as the Gemini model in the path, kept out of the audit trail",
            O,
            &format!("/gemini/v1beta/models/{EMAIL}:generateContent"),
            gemini_text("Bonjour"),
        )
        .on(On::Audited)
        .plant(&[EMAIL])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "a phone number as the Ollama model, kept out of the audit trail",
            O,
            OLLAMA_CHAT,
            json!({"model": format!("llama:{}", PHONE.replace(' ', "")), "stream": false,
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .on(On::Audited)
        .plant(&[PHONE])
        .expect(Expect::MaskedOrRefused(any_refusal())),
        json_case(
            "an e-mail in an unknown endpoint's path, kept out of the audit trail",
            O,
            &format!("/openai/v1/users/{EMAIL}/chat"),
            chat_text("Bonjour"),
        )
        .on(On::Audited)
        .plant(&[EMAIL])
        .expect(Expect::Refused(any_refusal())),
        json_case(
            "an e-mail in the query, kept out of the audit trail",
            O,
            &format!("{CHAT}?user={EMAIL_B}"),
            chat_text("Bonjour"),
        )
        .on(On::Audited)
        .plant(&[EMAIL_B])
        .expect(Expect::MaskedOrRefused(any_refusal())),
    ]
}

/// Class 5: every answer is re-identified, and no real key comes back.
fn answers() -> Vec<Case> {
    use Class::Answers as A;
    let about_email = || format!("Mon email est {EMAIL}, réponds-moi.");
    vec![
        json_case(
            "a gzip-compressed OpenAI chat stream",
            A,
            CHAT,
            json!({"model": "gpt-x", "stream": true,
                "messages": [{"role": "user", "content": about_email()}]}),
        )
        .header("accept-encoding", "gzip, br")
        .plant(&[EMAIL])
        .answer(|r| {
            let t = token(r, "EMAIL");
            compressed(
                canned(
                    200,
                    "text/event-stream",
                    openai_sse(&halves(&format!("Écrire à {t}."))),
                ),
                "gzip",
            )
        })
        .expect(Expect::RestoredOrRefused(vec![EMAIL])),
        json_case(
            "a brotli-compressed Anthropic stream",
            A,
            MESSAGES,
            json!({"model": "claude-x", "max_tokens": 64, "stream": true,
                "messages": [{"role": "user", "content": format!("Mon NIR est {NIR}")}]}),
        )
        .header("accept-encoding", "br")
        .plant(&[NIR])
        .answer(|r| {
            let t = token(r, "FR_NIR");
            compressed(
                canned(
                    200,
                    "text/event-stream",
                    anthropic_sse(&halves(&format!("NIR noté : {t}"))),
                ),
                "br",
            )
        })
        .expect(Expect::RestoredOrRefused(vec![NIR])),
        json_case(
            "a gzip-compressed Ollama NDJSON stream",
            A,
            OLLAMA_CHAT,
            json!({"model": "llama-x", "stream": true,
                "messages": [{"role": "user", "content": format!("Mon IBAN est {IBAN}")}]}),
        )
        .header("accept-encoding", "gzip")
        .plant(&[IBAN])
        .answer(|r| {
            let t = token(r, "IBAN");
            compressed(
                canned(
                    200,
                    "application/x-ndjson",
                    ollama_ndjson(&halves(&format!("Virement vers {t}"))),
                ),
                "gzip",
            )
        })
        .expect(Expect::RestoredOrRefused(vec![IBAN])),
        json_case(
            "a deflate-compressed OpenAI chat answer",
            A,
            CHAT,
            chat_text(&about_email()),
        )
        .header("accept-encoding", "deflate")
        .plant(&[EMAIL])
        .answer(|r| {
            let t = token(r, "EMAIL");
            compressed(
                canned(
                    200,
                    "application/json",
                    vec![openai_json(&format!("À {t}"))],
                ),
                "deflate",
            )
        })
        .expect(Expect::RestoredOrRefused(vec![EMAIL])),
        json_case(
            "a gzip-compressed upstream error quoting a token",
            A,
            CHAT,
            chat_text(&about_email()),
        )
        .header("accept-encoding", "gzip")
        .plant(&[EMAIL])
        .answer(|r| {
            let t = token(r, "EMAIL");
            let body = json!({"error": {"message": format!("rate limited for {t}"),
                "type": "rate_limit", "code": "rate_limit"}});
            compressed(
                canned(429, "application/json", vec![body.to_string().into_bytes()]),
                "gzip",
            )
        })
        .expect(Expect::RestoredOrRefused(vec![EMAIL])),
        json_case(
            "a Gemini stream without alt=sse (a JSON array)",
            A,
            GEMINI_STREAM,
            gemini_text(&about_email()),
        )
        .plant(&[EMAIL])
        .answer(|r| {
            let t = token(r, "EMAIL");
            canned(
                200,
                "application/json",
                gemini_array(&[format!("Bien noté : {t}"), " fin".to_owned()]),
            )
        })
        .expect(Expect::Restored(vec![EMAIL])),
        json_case(
            "a token split across two elements of a Gemini JSON-array stream",
            A,
            GEMINI_STREAM,
            gemini_text(&format!("Mon IBAN est {IBAN}")),
        )
        .plant(&[IBAN])
        .answer(|r| {
            let t = token(r, "IBAN");
            canned(
                200,
                "application/json",
                gemini_array(&halves(&format!("Compte {t} vérifié"))),
            )
        })
        .expect(Expect::Restored(vec![IBAN])),
        json_case(
            "a text/plain upstream error quoting a token (OpenAI)",
            A,
            CHAT,
            chat_text(&about_email()),
        )
        .plant(&[EMAIL])
        .answer(|r| {
            let t = token(r, "EMAIL");
            canned(
                500,
                "text/plain; charset=utf-8",
                vec![format!("upstream failure while handling {t}\n").into_bytes()],
            )
        })
        .expect(Expect::Restored(vec![EMAIL])),
        json_case(
            "a text/plain upstream error quoting a token (Anthropic)",
            A,
            MESSAGES,
            anthropic_text(&format!("Je suis {NAME}, bonjour")),
        )
        .plant(&[NAME])
        .answer(|r| {
            let t = token(r, "PERSON");
            canned(
                400,
                "text/plain",
                vec![format!("bad request from {t}").into_bytes()],
            )
        })
        .expect(Expect::Restored(vec![NAME])),
        json_case(
            "a token the model wrote with a hyphen (PERSON-7F3A2C)",
            A,
            CHAT,
            chat_text(&format!("Bonjour, je suis {NAME}.")),
        )
        .plant(&[NAME])
        .answer(|r| {
            let t = rewritten(&token(r, "PERSON"), "-");
            canned(
                200,
                "application/json",
                vec![openai_json(&format!("Bonjour {t} !"))],
            )
        })
        .expect(Expect::Restored(vec![NAME])),
        json_case(
            "a token the model wrote with a space (PERSON 7F3A2C)",
            A,
            MESSAGES,
            anthropic_text(&format!("Bonjour, je suis {NAME}.")),
        )
        .plant(&[NAME])
        .answer(|r| {
            let t = rewritten(&token(r, "PERSON"), " ");
            canned(
                200,
                "application/json",
                vec![anthropic_json(&format!("Enchanté, {t}."))],
            )
        })
        .expect(Expect::Restored(vec![NAME])),
        json_case(
            "a hyphenated token split across the events of a stream",
            A,
            CHAT,
            json!({"model": "gpt-x", "stream": true,
                "messages": [{"role": "user", "content": about_email()}]}),
        )
        .plant(&[EMAIL])
        .answer(|r| {
            let t = rewritten(&token(r, "EMAIL"), "-");
            let text = format!("Je réponds à {t} tout de suite");
            let pieces: Vec<String> = text.chars().map(String::from).collect();
            canned(200, "text/event-stream", openai_sse(&pieces))
        })
        .expect(Expect::Restored(vec![EMAIL])),
        json_case(
            "a bracketed token with a hyphen in an Ollama stream",
            A,
            OLLAMA_CHAT,
            json!({"model": "llama-x", "stream": true,
                "messages": [{"role": "user", "content": format!("Rappelle le {PHONE}")}]}),
        )
        .plant(&[PHONE])
        .answer(|r| {
            let t = format!("[{}]", rewritten(&token(r, "PHONE"), "-"));
            canned(
                200,
                "application/x-ndjson",
                ollama_ndjson(&halves(&format!("J'appelle le {t}."))),
            )
        })
        .expect(Expect::Restored(vec![PHONE])),
        json_case(
            "a hyphenated FR-NIR token in a Gemini answer",
            A,
            GEMINI,
            gemini_text(&format!("Mon NIR est {NIR_B}")),
        )
        .plant(&[NIR_B])
        .answer(|r| {
            let t = rewritten(&token(r, "FR_NIR"), "-");
            canned(
                200,
                "application/json",
                vec![gemini_json(&format!("NIR reçu : {t}"))],
            )
        })
        .expect(Expect::Restored(vec![NIR_B])),
        json_case(
            "an upstream 401 quoting the real OpenAI key",
            A,
            CHAT,
            chat_text("Bonjour"),
        )
        .on(On::Virtual)
        .answer(|r| {
            let key = received_key(r);
            let body = json!({"error": {"message": format!("Incorrect API key provided: {key}."),
                "type": "invalid_request_error", "code": "invalid_api_key"}});
            canned(401, "application/json", vec![body.to_string().into_bytes()])
        })
        .expect(Expect::KeyHidden(REAL_OPENAI_KEY)),
        json_case(
            "an upstream text/plain 403 quoting the real Gemini key",
            A,
            GEMINI,
            gemini_text("Bonjour"),
        )
        .on(On::Virtual)
        .answer(|r| {
            let key = received_key(r);
            canned(
                403,
                "text/plain",
                vec![format!("API key {key} is not enabled for this project").into_bytes()],
            )
        })
        .expect(Expect::KeyHidden(REAL_GEMINI_KEY)),
        json_case(
            "an upstream stream error event quoting the real Anthropic key",
            A,
            MESSAGES,
            json!({"model": "claude-x", "max_tokens": 64, "stream": true,
                "messages": [{"role": "user", "content": "Bonjour"}]}),
        )
        .on(On::Virtual)
        .answer(|r| {
            let key = received_key(r);
            let mut frames = anthropic_sse(&["Bon".to_owned()]);
            frames.truncate(3);
            frames.push(
                format!(
                    "event: error\ndata: {}\n\n",
                    json!({"type": "error", "error": {"type": "authentication_error",
                        "message": format!("key {key} revoked")}})
                )
                .into_bytes(),
            );
            canned(200, "text/event-stream", frames)
        })
        .expect(Expect::KeyHidden(REAL_ANTHROPIC_KEY)),
        json_case(
            "an upstream header quoting the real Ollama key",
            A,
            OLLAMA_CHAT,
            ollama_text("Bonjour"),
        )
        .on(On::Virtual)
        .answer(|r| {
            let key = received_key(r);
            let mut c = canned(
                200,
                "application/json",
                vec![
                    json!({"model": "mock",
                "created_at": "2026-01-01T00:00:00Z", "message": {"role": "assistant",
                "content": "ok"}, "done": true})
                    .to_string()
                    .into_bytes(),
                ],
            );
            c.headers.push(("x-upstream-debug", format!("auth={key}")));
            c
        })
        .expect(Expect::KeyHidden(REAL_OLLAMA_KEY)),
    ]
}

// --- Running the table ---

/// The three Paravents the cases run against.
struct Proxies {
    pass_through: Harness,
    virtual_keys: Harness,
    audited: Harness,
    audit_file: PathBuf,
    _dir: Scratch,
}

impl Proxies {
    async fn start() -> Proxies {
        let dir = Scratch::new("leak-table");
        let audit_file = dir.path().join("audit").join("paravent.jsonl");
        let hash = paravent::config::virtual_key_hash(VIRTUAL_KEY);
        let virtual_keys = Harness::start_with_env(
            |base| {
                format!(
                    r#"
[server]
default_provider = "openai"

[providers.openai]
base_url = "{base}/tenant"
api = "openai"
auth = "virtual"
key_env = "LEAK_TABLE_OPENAI"

[providers.anthropic]
base_url = "{base}/tenant"
api = "anthropic"
auth = "virtual"
key_env = "LEAK_TABLE_ANTHROPIC"

[providers.gemini]
base_url = "{base}/tenant"
api = "gemini"
auth = "virtual"
key_env = "LEAK_TABLE_GEMINI"

[providers.ollama]
base_url = "{base}/tenant"
api = "ollama"
auth = "virtual"
key_env = "LEAK_TABLE_OLLAMA"

[[keys.virtual]]
hash = "{hash}"
user = "alice"
team = "legal"
"#
                )
            },
            &[
                ("LEAK_TABLE_OPENAI", REAL_OPENAI_KEY),
                ("LEAK_TABLE_ANTHROPIC", REAL_ANTHROPIC_KEY),
                ("LEAK_TABLE_GEMINI", REAL_GEMINI_KEY),
                ("LEAK_TABLE_OLLAMA", REAL_OLLAMA_KEY),
            ],
        )
        .await;
        Proxies {
            pass_through: Harness::start("").await,
            virtual_keys,
            audited: Harness::start_audited(&audit_file).await,
            audit_file,
            _dir: dir,
        }
    }

    fn harness(&self, on: On) -> &Harness {
        match on {
            On::PassThrough => &self.pass_through,
            On::Virtual => &self.virtual_keys,
            On::Audited => &self.audited,
        }
    }
}

/// The headers an SDK of `api` sends, with the client's own key or the virtual key.
fn default_headers(api: Api, on: On) -> Vec<(String, String)> {
    let virtual_keys = on == On::Virtual;
    let mut h = vec![("content-type".to_owned(), "application/json".to_owned())];
    let (name, value) = match (api, virtual_keys) {
        (Api::Openai, false) => ("authorization", "Bearer sk-client-own-key".to_owned()),
        (Api::Anthropic, false) => ("x-api-key", "sk-ant-client-own-key".to_owned()),
        (Api::Gemini, false) => ("x-goog-api-key", "client-own-gemini-key".to_owned()),
        (Api::Ollama, false) => return h,
        (Api::Openai | Api::Ollama, true) => ("authorization", format!("Bearer {VIRTUAL_KEY}")),
        (Api::Anthropic, true) => ("x-api-key", VIRTUAL_KEY.to_owned()),
        (Api::Gemini, true) => ("x-goog-api-key", VIRTUAL_KEY.to_owned()),
    };
    h.push((name.to_owned(), value));
    if api == Api::Anthropic {
        h.push(("anthropic-version".to_owned(), "2023-06-01".to_owned()));
    }
    h
}

/// The default headers with the case's replacements (an empty value removes one).
fn headers_for(case: &Case) -> Vec<(String, String)> {
    let mut h = default_headers(api_of(&case.path), case.on);
    for (name, value) in &case.headers {
        h.retain(|(n, _)| n != name);
        if !value.is_empty() {
            h.push((name.clone(), value.clone()));
        }
    }
    h
}

/// The most a decoded answer may hold (the canned answers are a few kilobytes).
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// The client's body, decoded from its `content-encoding`.
fn decoded(r: &Reply) -> Result<String, String> {
    let enc = r
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .to_ascii_lowercase();
    let body = &r.body[..];
    let reader: Box<dyn Read> = match enc.as_str() {
        "identity" => Box::new(body),
        "gzip" => Box::new(flate2::read::GzDecoder::new(body)),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body)),
        "br" => Box::new(brotli::Decompressor::new(body, 4096)),
        other => return Err(format!("the client got a {other} body it cannot decode")),
    };
    let mut out = Vec::new();
    #[allow(clippy::disallowed_methods)] // bounded by take() on the same line
    reader
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut out)
        .map_err(|e| format!("the client's {enc} body does not decode: {e}"))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The outcome Paravent recorded for the reply's request id (waited for briefly).
async fn refusal_code(h: &Harness, r: &Reply) -> Result<Option<&'static str>, String> {
    let id = r
        .headers
        .get("x-paravent-request-id")
        .and_then(|v| v.to_str().ok())
        .ok_or("the reply has no x-paravent-request-id")?
        .to_owned();
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let found = h
            .outcomes
            .lock()
            .unwrap()
            .iter()
            .find(|o| o.request_id == id)
            .map(|o| o.refused);
        if let Some(code) = found {
            return Ok(code);
        }
        if Instant::now() > until {
            return Err(format!("no outcome recorded for request {id}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks a refusal: status, code, the provider's error format, nothing sent, no value
/// echoed.
async fn check_refused(
    h: &Harness,
    case: &Case,
    r: &Reply,
    sent: &[Recorded],
    want: Refusal,
    planted: &[&str],
) -> Vec<String> {
    let mut p = Vec::new();
    if !sent.is_empty() {
        p.push(format!(
            "expected a refusal, but {} request(s) reached the provider (client got {})",
            sent.len(),
            r.status
        ));
        return p;
    }
    let status = r.status.as_u16();
    match want.status {
        Some(s) if s != status => p.push(format!("status {status}, expected {s}")),
        None if !r.status.is_client_error() => p.push(format!("status {status}, expected a 4xx")),
        _ => {}
    }
    match refusal_code(h, r).await {
        Err(e) => p.push(e),
        Ok(None) => p.push("the outcome records no refusal code".to_owned()),
        Ok(Some(code)) => {
            if !code.starts_with("paravent_") {
                p.push(format!("code {code} is not a paravent_* code"));
            }
            if let Some(w) = want.code.filter(|w| *w != code) {
                p.push(format!("code {code}, expected {w}"));
            }
            if let Some(e) = error_format(api_of(&case.path), status, code, &r.body) {
                p.push(e);
            }
        }
    }
    p.extend(found_in(
        "the refusal sent to the client",
        &r.text(),
        planted,
    ));
    p
}

/// `None` when `body` is the API's error shape for this refusal.
fn error_format(api: Api, status: u16, code: &str, body: &[u8]) -> Option<String> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Some(format!(
            "the refusal is not JSON: {}",
            String::from_utf8_lossy(body)
        ));
    };
    let ok = match api {
        Api::Openai => v["error"]["code"] == code && v["error"]["message"].is_string(),
        Api::Anthropic => {
            v["type"] == "error"
                && v["error"]["type"].is_string()
                && v["error"]["message"].is_string()
        }
        Api::Gemini => v["error"]["code"] == status && v["error"]["status"].is_string(),
        Api::Ollama => v["error"].is_string(),
    };
    (!ok).then(|| format!("the refusal is not in the {api:?} error format: {v}"))
}

/// Checks a forwarded request: one request sent, 200 to the client.
fn check_forwarded(r: &Reply, sent: &[Recorded]) -> Vec<String> {
    let mut p = Vec::new();
    if sent.len() != 1 {
        p.push(format!(
            "expected the request forwarded once, the provider got {} (client got {}: {})",
            sent.len(),
            r.status,
            r.text().chars().take(200).collect::<String>()
        ));
    } else if r.status != StatusCode::OK {
        p.push(format!("forwarded, but the client got {}", r.status));
    }
    p
}

/// What the client reads in an answer: the body as it is, then the text of its JSON
/// documents (the whole body, or each SSE `data:` line or NDJSON line) joined as a client
/// joins the pieces of a stream, so a value or a pseudonym split across events is whole.
fn answer_text(body: &str) -> String {
    const TEXT_KEYS: &[&str] = &[
        "content",
        "text",
        "response",
        "partial_json",
        "arguments",
        "message",
        "delta",
    ];
    fn pieces(v: &Value, key: &str, out: &mut String) {
        match v {
            Value::String(s) if TEXT_KEYS.contains(&key) => out.push_str(s),
            Value::Array(a) => a.iter().for_each(|x| pieces(x, key, out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| pieces(x, k, out)),
            _ => {}
        }
    }
    let mut joined = String::new();
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        pieces(&v, "", &mut joined);
    } else {
        for line in body.lines() {
            let line = line.strip_prefix("data:").unwrap_or(line).trim();
            if let Ok(v) = serde_json::from_str::<Value>(line) {
                pieces(&v, "", &mut joined);
            }
        }
    }
    format!("{body}\n{joined}")
}

/// Pseudonyms in `text`, bracketed or rewritten, each once.
fn pseudonyms_left(text: &str) -> Vec<String> {
    let mut left = tokens_in(text);
    for r in token_remnants(text) {
        if !left.iter().any(|t| t.contains(&r)) && !left.contains(&r) {
            left.push(r);
        }
    }
    left
}

/// Checks an answer: each value restored, no pseudonym left in any form.
fn check_restored(r: &Reply, sent: &[Recorded], values: &[&str]) -> Vec<String> {
    let mut p = Vec::new();
    if sent.len() != 1 {
        p.push(format!(
            "expected the request forwarded once, the provider got {} (client got {})",
            sent.len(),
            r.status
        ));
        return p;
    }
    let text = match decoded(r) {
        Ok(t) => answer_text(&t),
        Err(e) => return vec![e],
    };
    for v in values {
        let json = serde_json::to_string(v).unwrap();
        if !text.contains(v) && !text.contains(&json[1..json.len() - 1]) {
            p.push(format!("{v:?} not restored in the answer"));
        }
    }
    let left = pseudonyms_left(&text);
    if !left.is_empty() {
        p.push(format!("pseudonyms left in the answer: {left:?}"));
    }
    p
}

/// Runs one case; `Err` lists everything wrong with it.
async fn run(proxies: &Proxies, case: Case) -> Result<(), Vec<String>> {
    let h = proxies.harness(case.on);
    let before = h.mock.count();
    let audit_before = std::fs::metadata(&proxies.audit_file).map_or(0, |m| m.len() as usize);
    let headers = headers_for(&case);
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut case = case;
    if let Some(make) = case.canned.take() {
        h.mock.answer_next_with(make);
    }
    let r = h
        .send(
            case.method.clone(),
            &case.path,
            &header_refs,
            case.body.clone(),
        )
        .await;
    h.mock.forget_canned();
    let sent: Vec<Recorded> = h.mock.requests()[before..].to_vec();
    let planted: Vec<&str> = case.planted.iter().map(String::as_str).collect();
    let mut p = received_in_clear(&sent, &planted);
    match &case.expect {
        Expect::Masked => p.extend(check_forwarded(&r, &sent)),
        Expect::Refused(want) => {
            p.extend(check_refused(h, &case, &r, &sent, *want, &planted).await)
        }
        Expect::MaskedOrRefused(want) => {
            if sent.is_empty() {
                p.extend(check_refused(h, &case, &r, &sent, *want, &planted).await);
            } else {
                p.extend(check_forwarded(&r, &sent));
            }
        }
        Expect::Restored(values) => p.extend(check_restored(&r, &sent, values)),
        Expect::RestoredOrRefused(values) => {
            let refused = r.status.is_server_error()
                && refusal_code(h, &r)
                    .await
                    .is_ok_and(|c| c.is_some_and(|c| c.starts_with("paravent_")));
            if refused {
                let text = answer_text(&decoded(&r).unwrap_or_else(|e| e));
                let left = pseudonyms_left(&text);
                if !left.is_empty() {
                    p.push(format!("pseudonyms in the refusal: {left:?}"));
                }
            } else {
                p.extend(check_restored(&r, &sent, values));
            }
        }
        Expect::KeyHidden(key) => {
            if sent.len() != 1 {
                p.push(format!(
                    "the provider got {} requests, expected 1",
                    sent.len()
                ));
            }
            match decoded(&r) {
                Ok(text) => p.extend(found_in("the client's answer", &text, &[key])),
                Err(e) => p.push(e),
            }
            for (name, value) in &r.headers {
                let v = String::from_utf8_lossy(value.as_bytes());
                p.extend(found_in(&format!("the client's header {name}"), &v, &[key]));
            }
        }
    }
    if case.on == On::Audited {
        p.extend(audit_leaks(&proxies.audit_file, audit_before, &planted).await);
    }
    if p.is_empty() { Ok(()) } else { Err(p) }
}

/// The planted values found in what the audit file gained since `from` (waited for: the
/// record of the request is appended once its answer is complete).
async fn audit_leaks(path: &Path, from: usize, planted: &[&str]) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        let all = std::fs::read(path).unwrap_or_default();
        if all.len() > from {
            let added = String::from_utf8_lossy(&all[from..]);
            return found_in("the audit file", &added, planted);
        }
        if Instant::now() > until {
            return vec!["no audit record was written for the request".to_owned()];
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn the_leak_search_sees_a_value_in_every_disguise_and_not_in_its_pseudonym() {
    let caught = |text: &str, v: &str| !found_in("a text", text, &[v]).is_empty();
    for (text, v) in [
        ("carte 4111\u{200B}1111.1111-1111", CARD),
        ("carte ４１１１ １１１１ １１１１ １１１１", CARD),
        (r#"{"n":4111111111111111}"#, CARD),
        (
            "NIR 1\u{202F}85\u{202F}05\u{202F}78\u{202F}006\u{202F}084\u{202F}91",
            NIR,
        ),
        ("JEAN.DUPONT@EXAMPLE.FR", EMAIL),
        ("jean.dupont%40example.fr", EMAIL),
        ("jean.dupont\u{00AD}@example.fr", EMAIL),
        ("jean.dupont＠example.fr", EMAIL),
        ("marie.curie@soci\\u00e9t\\u00e9.fr", EMAIL_IDN),
        // Replaced in part: what is left still leaks.
        ("écrire à jean.dupont@[URL_1A2B3C]", EMAIL),
        ("contact : claire.\u{00AD}[EMAIL_1A2B3C]", EMAIL_B),
        ("IBAN FR76-3000-6000-[PHONE_0A1B2C]", IBAN),
        ("clé sk-proj-abcdefghijklm[SECRET_0A1B2C]", OPENAI_SECRET),
    ] {
        assert!(caught(text, v), "{v:?} not seen in {text:?}");
    }
    for (text, v) in [
        ("écrire à [EMAIL_7F3A2C]", EMAIL),
        ("carte [CREDIT_CARD_0A1B2C], 4111 dans le texte", CARD),
        ("IBAN [IBAN_123456] ; réf. 3000", IBAN),
        ("NIR [FR_NIR_ABCDEF] le 1 85", NIR),
        ("clé [SECRET_0A1B2C]", OPENAI_SECRET),
    ] {
        assert!(!caught(text, v), "{v:?} wrongly seen in {text:?}");
    }
}

#[test]
fn the_leak_search_reads_requests_as_the_provider_does() {
    let request = |path: &str, headers: &[(&'static str, &str)], body: &str| Recorded {
        method: Method::POST,
        path: path.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (http::HeaderName::from_static(k), v.parse().unwrap()))
            .collect(),
        body: bytes::Bytes::from(body.to_owned()),
    };
    let seen = |r: Recorded, v: &str| !received_in_clear(&[r], &[v]).is_empty();
    // Escapes the provider decodes, JSON inside a string, text parts it joins.
    assert!(seen(
        request("/v1/x", &[], r#"{"t":"jean.dupont\u0040example.fr"}"#),
        EMAIL
    ));
    assert!(seen(
        request(
            "/v1/x",
            &[],
            r#"{"a":"{\"to\":\"jean.dupont\\u0040example.fr\"}"}"#
        ),
        EMAIL
    ));
    assert!(seen(
        request(
            "/v1/x",
            &[],
            r#"{"p":[{"text":"jean.dupont@"},{"text":"example.fr"}]}"#
        ),
        EMAIL
    ));
    assert!(seen(
        request("/v1/x", &[], r#"{"jean.dupont@example.fr":1}"#),
        EMAIL
    ));
    // The query, form-encoded, and a header.
    assert!(seen(
        request("/v1/x?n=1+85+05+78+006+084+91", &[], "{}"),
        NIR
    ));
    assert!(seen(
        request("/v1/x", &[("x-end-user", EMAIL)], "{}"),
        EMAIL
    ));
    // A pseudonymised request is clean.
    assert!(!seen(
        request(
            "/v1/x?user=%5BEMAIL_7F3A2C%5D",
            &[],
            r#"{"t":"[EMAIL_7F3A2C] [FR_NIR_0A1B2C]"}"#
        ),
        EMAIL
    ));
}

#[tokio::test]
async fn assert_not_received_accepts_a_scanned_request_and_catches_an_unscanned_one() {
    let h = Harness::start_with(|base| {
        format!(
            "[server]\ndefault_provider = \"openai\"\n[providers.openai]\nbase_url = \"{base}\"\napi = \"openai\"\npass_through = [\"/v1/audio/*\"]\n"
        )
    })
    .await;
    let r = h
        .post(
            "/v1/chat/completions",
            &chat_text(&format!("Mon NIR est {NIR}, mon email {EMAIL}")),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_not_received(&h.mock, &[NIR, EMAIL]);
    // A pass-through path is forwarded unscanned, by the admin's choice: the oracle sees it.
    let r = h
        .send(
            Method::POST,
            "/v1/audio/speech",
            &[("content-type", "application/json")],
            json!({"input": format!("NIR {}", grouped(NIR, "\u{202F}"))}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let caught = std::panic::catch_unwind(|| assert_not_received(&h.mock, &[NIR]));
    assert!(caught.is_err(), "the NIR sent unscanned was not seen");
}

#[test]
fn pseudonyms_are_found_bracketed_and_as_models_rewrite_them() {
    assert_eq!(
        tokens_in("a [EMAIL_7F3A2C] b [FR_NIR_0A1B2C] [EMAIL_7F3A2C] [NOT A TOKEN] [X_12]"),
        vec!["[EMAIL_7F3A2C]", "[FR_NIR_0A1B2C]"]
    );
    assert_eq!(
        pseudonyms_left("Bonjour PERSON-7F3A2C et FR NIR 0A1B2C, EMAIL decade"),
        vec!["PERSON-7F3A2C", "FR NIR 0A1B2C"]
    );
    assert_eq!(rewritten("[FR_NIR_0A1B2C]", "-"), "FR-NIR-0A1B2C");
    // A stream's pieces are joined as a client joins them.
    let sse = openai_sse(&halves("à [EMAIL_7F3A2C]")).concat();
    let text = answer_text(&String::from_utf8(sse).unwrap());
    assert_eq!(pseudonyms_left(&text), vec!["[EMAIL_7F3A2C]"]);
}

#[test]
fn the_leak_table_covers_every_class_broadly_with_distinct_names() {
    let cases = cases();
    assert!(cases.len() >= 80, "{} cases", cases.len());
    for class in Class::ALL {
        let of: Vec<&Case> = cases.iter().filter(|c| c.class == class).collect();
        assert!(of.len() >= 12, "{}: {} cases", class.label(), of.len());
        // Within a class, more than one API is tried.
        let mut apis: Vec<Api> = of.iter().map(|c| api_of(&c.path)).collect();
        apis.dedup();
        assert!(apis.len() >= 3, "{}: {apis:?}", class.label());
    }
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n, "two cases share a name");
    // A case that plants nothing must check something else: the key it hides.
    for c in &cases {
        assert!(
            !c.planted.is_empty() || matches!(c.expect, Expect::KeyHidden(_)),
            "{} plants nothing",
            c.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_case_of_the_leak_table_reaches_the_provider_in_clear() {
    let proxies = Proxies::start().await;
    let cases = cases();
    let total = cases.len();
    let mut tally: Vec<(Class, usize, usize)> = Class::ALL.iter().map(|c| (*c, 0, 0)).collect();
    let mut failures = Vec::new();
    for case in cases {
        let (name, class) = (case.name, case.class);
        let outcome = run(&proxies, case).await;
        let row = tally.iter_mut().find(|(c, _, _)| *c == class).unwrap();
        match outcome {
            Ok(()) => row.1 += 1,
            Err(why) => {
                row.2 += 1;
                failures.push((class, name, why));
            }
        }
    }
    let mut report = format!(
        "leak table: {} of {total} cases failed\n\n{:<20} {:>5} {:>5}\n",
        failures.len(),
        "class",
        "pass",
        "fail"
    );
    for (class, pass, fail) in &tally {
        report.push_str(&format!("{:<20} {pass:>5} {fail:>5}\n", class.label()));
    }
    if !failures.is_empty() {
        report.push_str("\nfailing cases:\n");
        for (class, name, why) in &failures {
            report.push_str(&format!("  [{}] {name}\n", class.label()));
            for w in why {
                report.push_str(&format!("        {w}\n"));
            }
        }
    }
    assert!(failures.is_empty(), "{report}");
}
