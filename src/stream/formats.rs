//! \[pure\] Re-identification of each API's streamed answer, event by event.
//!
//! A [`Rewriter`] is fed the upstream body's byte chunks and returns the bytes to send
//! on. Each content stream (a choice's text, a tool call's arguments, a content block,
//! an output item's text, a candidate's text) has its own [`StreamReidentifier`], so a
//! token split across events comes back whole and nothing but the few bytes that could
//! still start a token is held back. Events keep their order, names, ids, indexes and
//! usage; only text changes. Held-back text is released in the next event of its
//! stream, and at the latest before the event that ends the stream (`finish_reason`,
//! `content_block_stop`, `…done`, `done: true`), where an extra delta event of the same
//! shape carries it when that event has no text slot of its own. Events that repeat the
//! full text (`…done`, `response.completed`, `message_start`…) are re-identified whole.
//! Strings outside the streamed slots (tool names, whole function calls) are
//! re-identified whole too.
//!
//! Gemini's `streamGenerateContent` without `alt=sse` answers a JSON array streamed
//! element by element ([`StreamKind::GeminiArray`]): each element is re-identified as
//! a Gemini SSE event is, and the array's framing (`[`, the `,` and whitespace between
//! the elements, `]`) is written as it came. Held-back text released at the end goes in
//! an extra element before the `]`, which is itself held until the upstream body ends,
//! so that an error can still close the array ([`Rewriter::error_frame`]).
//!
//! Never logs values.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{ArrayDecoder, ArrayPiece, Decoder, Event, LineDecoder, StreamError};
use crate::api::Endpoint;
use crate::audit::Usage;
use crate::audit::usage::UsageMeter;
use crate::reidentify::{Reidentifier, StreamReidentifier};

/// The streamed formats Paravent re-identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// OpenAI chat completions (and legacy completions), Mistral and compatible servers.
    OpenaiChat,
    /// The OpenAI Responses API.
    OpenaiResponses,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini `streamGenerateContent?alt=sse`.
    Gemini,
    /// Gemini `streamGenerateContent` without `alt=sse`: a JSON array streamed element
    /// by element. [`StreamKind::of`] cannot tell it from a `generateContent` answer (both
    /// are `application/json`): the proxy chooses it when a Gemini JSON answer opens with
    /// `[`.
    GeminiArray,
    /// Ollama `/api/chat` and `/api/generate` (NDJSON).
    Ollama,
}

impl StreamKind {
    /// The stream format of an answer from `endpoint` with `content_type` (lower case),
    /// if it is one Paravent re-identifies.
    pub fn of(endpoint: Endpoint, content_type: &str) -> Option<StreamKind> {
        let sse = content_type.starts_with("text/event-stream");
        let ndjson = content_type.starts_with("application/x-ndjson")
            || content_type.starts_with("application/ndjson")
            || content_type.starts_with("application/jsonl");
        match endpoint {
            Endpoint::OpenaiChat | Endpoint::OpenaiCompletions if sse => {
                Some(StreamKind::OpenaiChat)
            }
            Endpoint::OpenaiResponses if sse => Some(StreamKind::OpenaiResponses),
            Endpoint::AnthropicMessages if sse => Some(StreamKind::Anthropic),
            Endpoint::Gemini if sse => Some(StreamKind::Gemini),
            Endpoint::OllamaChat | Endpoint::OllamaGenerate if ndjson => Some(StreamKind::Ollama),
            _ => None,
        }
    }

    /// An error event that ends a stream, in the provider's framing; `body` is the
    /// provider's JSON error body ([`crate::api::Api::error_body`]). The SDKs raise it.
    pub fn error_frame(self, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 24);
        match self {
            StreamKind::Ollama => {
                out.extend_from_slice(body);
                out.push(b'\n');
            }
            StreamKind::Anthropic => {
                out.extend_from_slice(b"event: error\ndata: ");
                out.extend_from_slice(body);
                out.extend_from_slice(b"\n\n");
            }
            StreamKind::OpenaiChat | StreamKind::OpenaiResponses | StreamKind::Gemini => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(body);
                out.extend_from_slice(b"\n\n");
            }
            // Alone, an array of one error; in a stream, see [`Rewriter::error_frame`].
            StreamKind::GeminiArray => {
                out.push(b'[');
                out.extend_from_slice(body);
                out.push(b']');
            }
        }
        out
    }
}

/// The framing decoder, gone once the stream has ended.
#[derive(Debug)]
enum Framing {
    Sse(Decoder),
    Ndjson(LineDecoder),
    Array(ArrayDecoder),
    Ended,
}

/// What the client has of a streamed JSON array: whether the `[` went out, whether a
/// value must come next (after `[` or `,`), and the closing `]` (and what follows it),
/// held until the upstream body ends.
#[derive(Debug, Clone, Default)]
struct ArrayView {
    opened: bool,
    expect_value: bool,
    closing: Vec<u8>,
}

/// One content stream's carry-over, and how to send what it holds as an extra event.
#[derive(Debug)]
struct Carry {
    s: StreamReidentifier,
    /// The SSE event name of an extra delta event.
    event: Option<&'static str>,
    /// An extra delta event with an empty text slot, and the slot's JSON pointer.
    template: Value,
    pointer: String,
}

/// Re-identifies one streamed answer: bytes in, bytes out.
#[derive(Debug)]
pub struct Rewriter {
    kind: StreamKind,
    reid: Arc<Reidentifier>,
    framing: Framing,
    /// Content streams by key (`c0`, `t0.1`, `b2`…), in a stable order for flushing.
    carries: BTreeMap<String, Carry>,
    /// OpenAI chat: the first chunk's top-level fields, for extra chunks.
    top: Option<Value>,
    /// Replacements in the events re-identified whole.
    count: usize,
    /// The token usage the stream's events report.
    usage: UsageMeter,
    /// The event that ends the answer has been seen.
    ended: bool,
    /// A JSON-array stream: what the client has of the array.
    array: ArrayView,
    /// The answer's leak finder, when answers are scanned ([`crate::risk::leaks`]).
    leaks: Option<Arc<crate::risk::leaks::Answers>>,
}

impl Rewriter {
    /// A rewriter for one answer of `kind`, restoring the pseudonyms `reid` knows.
    pub fn new(kind: StreamKind, reid: Arc<Reidentifier>) -> Rewriter {
        let framing = match kind {
            StreamKind::Ollama => Framing::Ndjson(LineDecoder::default()),
            StreamKind::GeminiArray => Framing::Array(ArrayDecoder::default()),
            _ => Framing::Sse(Decoder::default()),
        };
        Rewriter {
            kind,
            reid,
            framing,
            carries: BTreeMap::new(),
            top: None,
            count: 0,
            usage: UsageMeter::default(),
            ended: false,
            array: ArrayView::default(),
            leaks: None,
        }
    }

    /// Scans every text stream of the answer for leaks with `answers` (and redacts
    /// them when it says so).
    pub fn with_leaks(mut self, answers: Arc<crate::risk::leaks::Answers>) -> Rewriter {
        self.leaks = Some(answers);
        self
    }

    /// A carry's stream of plain text.
    fn text_stream(&self) -> StreamReidentifier {
        let s = StreamReidentifier::new(self.reid.clone());
        match &self.leaks {
            Some(a) => s.with_leaks(a.clone()),
            None => s,
        }
    }

    /// A carry's stream of JSON text (tool-call arguments).
    fn json_stream(&self) -> StreamReidentifier {
        let s = StreamReidentifier::new_json(self.reid.clone());
        match &self.leaks {
            Some(a) => s.with_leaks(a.clone()),
            None => s,
        }
    }

    /// As [`Rewriter::new`] with the decoder's limit set to `limit` bytes (tests).
    pub fn with_limit(kind: StreamKind, reid: Arc<Reidentifier>, limit: usize) -> Rewriter {
        let mut r = Rewriter::new(kind, reid);
        r.framing = match kind {
            StreamKind::Ollama => Framing::Ndjson(LineDecoder::new(limit)),
            StreamKind::GeminiArray => Framing::Array(ArrayDecoder::new(limit)),
            _ => Framing::Sse(Decoder::new(limit)),
        };
        r
    }

    pub fn kind(&self) -> StreamKind {
        self.kind
    }

    /// The error that ends this stream now, in its framing; `body` is the provider's
    /// JSON error body. For a JSON array it depends on what the client already has: a
    /// whole array of one error, or the error as the next element and the `]`.
    pub fn error_frame(&self, body: &[u8]) -> Vec<u8> {
        if self.kind != StreamKind::GeminiArray || !self.array.opened {
            return self.kind.error_frame(body);
        }
        let mut out = Vec::with_capacity(body.len() + 2);
        if !self.array.expect_value {
            out.push(b',');
        }
        out.extend_from_slice(body);
        out.push(b']');
        out
    }

    /// The token usage the events seen so far report (cumulative counts: the largest).
    pub fn usage(&self) -> Option<Usage> {
        self.usage.usage()
    }

    /// Reads a chunk for its usage only, for a stream passed on as it came (nothing to
    /// re-identify): the caller sends `chunk` itself.
    ///
    /// # Errors
    /// As [`Rewriter::push`]; the caller then stops observing.
    pub fn observe(&mut self, chunk: &[u8]) -> Result<(), StreamError> {
        match &mut self.framing {
            Framing::Sse(d) => {
                for ev in d.push(chunk)? {
                    if let Some(data) = ev.data() {
                        self.note(ev.event_type(), &data);
                    }
                }
            }
            Framing::Ndjson(d) => {
                for line in d.push(chunk)? {
                    self.note("", &line);
                }
            }
            Framing::Array(d) => {
                for piece in d.push(chunk)? {
                    if let ArrayPiece::Element(e) = piece {
                        self.note("", &e);
                    }
                }
            }
            Framing::Ended => {}
        }
        Ok(())
    }

    /// Ends a stream read with [`Rewriter::observe`]: its last unterminated event or
    /// line.
    pub fn observe_finish(&mut self) {
        match std::mem::replace(&mut self.framing, Framing::Ended) {
            Framing::Sse(d) => {
                if let Ok(Some(ev)) = d.finish()
                    && let Some(data) = ev.data()
                {
                    self.note(ev.event_type(), &data);
                }
            }
            Framing::Ndjson(d) => {
                if let Ok(Some(line)) = d.finish() {
                    self.note("", &line);
                }
            }
            Framing::Array(d) => {
                if let Ok(Some(e)) = d.finish() {
                    self.note("", &e);
                }
            }
            Framing::Ended => {}
        }
    }

    /// Whether the event that ends the answer has been seen (`[DONE]`,
    /// `message_stop`, `response.completed` / `.incomplete` / `.failed`, Ollama's
    /// `"done":true`; Gemini has none: its stream just ends). The usage is complete then.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Reads an event's (or line's) usage and whether it ends the answer. The end markers
    /// are matched with their quotes: inside a JSON string they would be escaped.
    fn note(&mut self, event: &str, data: &str) {
        self.usage.observe(data);
        self.ended |= match self.kind {
            StreamKind::OpenaiChat => data.trim() == "[DONE]",
            StreamKind::OpenaiResponses => [
                ("response.completed", "\"type\":\"response.completed\""),
                ("response.incomplete", "\"type\":\"response.incomplete\""),
                ("response.failed", "\"type\":\"response.failed\""),
            ]
            .iter()
            .any(|(name, needle)| event == *name || data.contains(needle)),
            StreamKind::Anthropic => {
                event == "message_stop" || data.contains("\"type\":\"message_stop\"")
            }
            StreamKind::Ollama => data.contains("\"done\":true") || data.contains("\"done\": true"),
            // The upstream body's end is the answer's end.
            StreamKind::Gemini | StreamKind::GeminiArray => false,
        };
    }

    /// Pseudonyms restored so far.
    pub fn count(&self) -> usize {
        self.count + self.carries.values().map(|c| c.s.count()).sum::<usize>()
    }

    /// Feeds a chunk of the upstream body; returns what can be sent to the client now.
    ///
    /// # Errors
    /// A [`StreamError`] from the decoder (an event or line over its limit, bad UTF-8):
    /// the caller ends the stream with [`StreamKind::error_frame`].
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::with_capacity(chunk.len() + 64);
        match &mut self.framing {
            Framing::Sse(d) => {
                for ev in d.push(chunk)? {
                    self.on_event(ev, &mut out);
                }
            }
            Framing::Ndjson(d) => {
                for line in d.push(chunk)? {
                    self.on_line(&line, &mut out);
                }
            }
            Framing::Array(d) => {
                for piece in d.push(chunk)? {
                    match piece {
                        ArrayPiece::Framing(f) => self.on_array_framing(&f, &mut out),
                        ArrayPiece::Element(e) => self.on_element(&e, &mut out),
                    }
                }
            }
            Framing::Ended => {}
        }
        Ok(out)
    }

    /// Ends the stream: a last unterminated event or line, then whatever is still held
    /// back (a stream that ended without its final event).
    ///
    /// # Errors
    /// As [`Rewriter::push`].
    pub fn finish(&mut self) -> Result<Vec<u8>, StreamError> {
        let mut out = Vec::new();
        match std::mem::replace(&mut self.framing, Framing::Ended) {
            Framing::Sse(d) => {
                if let Some(ev) = d.finish()? {
                    // Flush first: the client drops an unterminated event anyway.
                    self.flush_all(&mut out);
                    let mut tail = Vec::new();
                    self.on_event(ev, &mut tail);
                    // Keep it unterminated, as it came.
                    while tail.last() == Some(&b'\n') {
                        tail.pop();
                    }
                    out.extend_from_slice(&tail);
                    return Ok(out);
                }
            }
            Framing::Ndjson(d) => {
                if let Some(line) = d.finish()? {
                    self.on_line(&line, &mut out);
                }
            }
            Framing::Array(d) => {
                // What finish returns either all goes out or is replaced by an error
                // frame: that frame must fit what the client had before it.
                let view = self.array.clone();
                let cut = d.finish()?;
                if self.array.closing.is_empty() {
                    self.flush_all(&mut out);
                }
                if let Some(e) = cut {
                    // Cut mid-element: no JSON to walk; its text is re-identified whole.
                    let (text, n) = self.reid.reidentify_json_text(&e);
                    self.count += n;
                    out.extend_from_slice(text.as_bytes());
                }
                out.append(&mut self.array.closing);
                self.array = view;
                return Ok(out);
            }
            Framing::Ended => return Ok(out),
        }
        self.flush_all(&mut out);
        Ok(out)
    }

    /// The framing of a JSON array, as it came; the `]` waits for the end of the body,
    /// after the tails the content streams still hold.
    fn on_array_framing(&mut self, framing: &str, out: &mut Vec<u8>) {
        for b in framing.bytes() {
            if !self.array.closing.is_empty() {
                self.array.closing.push(b);
                continue;
            }
            match b {
                b']' => {
                    self.flush_all(out);
                    self.array.closing.push(b);
                }
                b'[' => {
                    self.array.opened = true;
                    self.array.expect_value = true;
                    out.push(b);
                }
                b',' => {
                    self.array.expect_value = true;
                    out.push(b);
                }
                _ => out.push(b),
            }
        }
    }

    /// An element of a JSON array: re-identified like a Gemini SSE event.
    fn on_element(&mut self, text: &str, out: &mut Vec<u8>) {
        self.note("", text);
        let Ok(mut v) = serde_json::from_str::<Value>(text) else {
            let (t, n) = self.reid.reidentify_json_text(text);
            self.count += n;
            out.extend_from_slice(t.as_bytes());
            self.array.expect_value = false;
            return;
        };
        let mut before = Vec::new();
        let changed = self.gemini(&mut v, &mut before);
        for (_, extra) in before {
            self.array_extra(&extra.to_string(), out);
        }
        match changed.then(|| serde_json::to_string(&v).ok()).flatten() {
            Some(s) => out.extend_from_slice(s.as_bytes()),
            None => out.extend_from_slice(text.as_bytes()),
        }
        self.array.expect_value = false;
    }

    /// An extra element (a content stream's tail) where the array is: before the next
    /// element (`extra,`) or after the last one (`,extra`).
    fn array_extra(&mut self, extra: &str, out: &mut Vec<u8>) {
        if self.array.expect_value {
            out.extend_from_slice(extra.as_bytes());
            out.push(b',');
        } else {
            out.push(b',');
            out.extend_from_slice(extra.as_bytes());
        }
    }

    fn on_event(&mut self, mut ev: Event, out: &mut Vec<u8>) {
        let Some(data) = ev.data() else {
            ev.encode_into(out);
            return;
        };
        self.note(ev.event_type(), &data);
        // The common event (a text delta of a stream already open) without building a
        // `serde_json::Value`: most of them come out unchanged.
        let fast = match self.kind {
            StreamKind::OpenaiChat => self.fast_chat(&data),
            StreamKind::Anthropic => self.fast_anthropic(&data),
            _ => None,
        };
        match fast {
            None => {}
            Some(edits) if edits.is_empty() => {
                ev.encode_into(out);
                return;
            }
            Some(edits) => {
                if let Some(patched) = patch_raw(&data, &edits) {
                    ev.set_data(&patched);
                } else if let Ok(mut v) = serde_json::from_str::<Value>(&data) {
                    for Edit { pointer, text, .. } in edits {
                        if let Some(slot) = v.pointer_mut(&pointer) {
                            *slot = Value::String(text);
                        }
                    }
                    if let Ok(s) = serde_json::to_string(&v) {
                        ev.set_data(&s);
                    }
                }
                ev.encode_into(out);
                return;
            }
        }
        let Ok(mut v) = serde_json::from_str::<Value>(&data) else {
            // `[DONE]`, or something that is not JSON: sent on as it came, after what the
            // streams hold.
            if data.trim() == "[DONE]" {
                self.flush_all(out);
            }
            ev.encode_into(out);
            return;
        };
        let mut before = Vec::new();
        let changed = match self.kind {
            StreamKind::OpenaiChat => self.chat(&mut v, &mut before),
            StreamKind::OpenaiResponses => self.responses(&mut v, &mut before),
            StreamKind::Anthropic => self.anthropic(&mut v, &mut before),
            StreamKind::Gemini | StreamKind::GeminiArray => self.gemini(&mut v, &mut before),
            StreamKind::Ollama => false,
        };
        for (name, extra) in before {
            Event::new(name, &extra.to_string()).encode_into(out);
        }
        if changed && let Ok(s) = serde_json::to_string(&v) {
            ev.set_data(&s);
        }
        ev.encode_into(out);
    }

    fn on_line(&mut self, line: &str, out: &mut Vec<u8>) {
        self.note("", line);
        let Ok(mut v) = serde_json::from_str::<Value>(line) else {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
            return;
        };
        let mut before = Vec::new();
        let changed = self.ollama(&mut v, &mut before);
        for (_, extra) in before {
            out.extend_from_slice(extra.to_string().as_bytes());
            out.push(b'\n');
        }
        if changed {
            out.extend_from_slice(v.to_string().as_bytes());
        } else {
            out.extend_from_slice(line.as_bytes());
        }
        out.push(b'\n');
    }

    /// Pushes the string at `pointer` in `v` through the carry `key` (created with
    /// `make` on first use); returns whether the text changed.
    fn stream_slot(
        &mut self,
        v: &mut Value,
        pointer: &str,
        key: String,
        make: impl FnOnce(&Rewriter, &Value) -> Carry,
    ) -> bool {
        if !v.pointer(pointer).is_some_and(Value::is_string) {
            return false;
        }
        if !self.carries.contains_key(&key) {
            let c = make(self, v);
            self.carries.insert(key.clone(), c);
        }
        let Some(Value::String(text)) = v.pointer_mut(pointer) else {
            return false;
        };
        let Some(carry) = self.carries.get_mut(&key) else {
            return false;
        };
        let out = carry.s.push(text);
        if out == *text {
            return false;
        }
        *text = out;
        true
    }

    /// Releases what the carry `key` holds as an extra event, if anything.
    fn flush(&mut self, key: &str, before: &mut Vec<(Option<&'static str>, Value)>) {
        if let Some(mut c) = self.carries.remove(key) {
            let text = c.s.finish();
            self.count += c.s.count();
            if !text.is_empty() {
                if let Some(slot) = c.template.pointer_mut(&c.pointer) {
                    *slot = Value::String(text);
                }
                before.push((c.event, c.template));
            }
        }
    }

    /// Releases every carry whose key starts with `prefix`.
    fn flush_prefix(&mut self, prefix: &str, before: &mut Vec<(Option<&'static str>, Value)>) {
        let keys: Vec<String> = self
            .carries
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        for k in keys {
            self.flush(&k, before);
        }
    }

    fn flush_all(&mut self, out: &mut Vec<u8>) {
        let mut before = Vec::new();
        self.flush_prefix("", &mut before);
        for (name, extra) in before {
            match self.kind {
                StreamKind::Ollama => {
                    out.extend_from_slice(extra.to_string().as_bytes());
                    out.push(b'\n');
                }
                StreamKind::GeminiArray => self.array_extra(&extra.to_string(), out),
                _ => Event::new(name, &extra.to_string()).encode_into(out),
            }
        }
    }

    /// Re-identifies every string of `v` whole; returns whether any changed.
    fn whole(&mut self, v: &mut Value) -> bool {
        match v {
            Value::String(s) => {
                let (out, n) = self.reid.reidentify(s);
                if n == 0 {
                    return false;
                }
                self.count += n;
                *s = out.into_owned();
                true
            }
            Value::Array(a) => a.iter_mut().fold(false, |acc, x| self.whole(x) | acc),
            Value::Object(m) => m.values_mut().fold(false, |acc, x| self.whole(x) | acc),
            _ => false,
        }
    }

    /// The fast path of [`Rewriter::chat`]: a chunk whose choices only carry text deltas
    /// of streams already open. Returns the slots that changed, or `None` when the chunk
    /// needs the full path (nothing has been pushed then).
    fn fast_chat(&mut self, data: &str) -> Option<Vec<Edit>> {
        self.top.as_ref()?;
        let chunk: lite::Chunk<'_> = serde_json::from_str(data).ok()?;
        let mut slots = Vec::new();
        for (i, c) in chunk.choices.iter().enumerate() {
            if c.finish_reason.is_some() {
                return None;
            }
            let index = c.index.unwrap_or(i as u64);
            if let Some(d) = &c.delta {
                if d.refusal.is_some() || d.tool_calls.is_some() {
                    return None;
                }
                if let Some(t) = &d.content {
                    slots.push(Slot {
                        key: format!("content{index}"),
                        pointer: format!("/choices/{i}/delta/content"),
                        field: "content",
                        text: t,
                    });
                }
            }
            if let Some(t) = &c.text {
                slots.push(Slot {
                    key: format!("text{index}"),
                    pointer: format!("/choices/{i}/text"),
                    field: "text",
                    text: t,
                });
            }
        }
        self.push_slots(slots)
    }

    /// The fast path of [`Rewriter::anthropic`]: a text or JSON delta of an open block.
    fn fast_anthropic(&mut self, data: &str) -> Option<Vec<Edit>> {
        let ev: lite::AnthropicEvent<'_> = serde_json::from_str(data).ok()?;
        if ev.kind != "content_block_delta" {
            return None;
        }
        let index = ev.index?;
        let delta = ev.delta?;
        let (field, text) = match (&*delta.kind, &delta.text, &delta.partial_json) {
            ("text_delta", Some(t), None) => ("text", t),
            ("input_json_delta", None, Some(t)) => ("partial_json", t),
            _ => return None,
        };
        self.push_slots(vec![Slot {
            key: format!("b{index}.{field}"),
            pointer: format!("/delta/{field}"),
            field,
            text,
        }])
    }

    /// Pushes each slot's text through its carry, if every carry is open; returns the
    /// slots whose text changed.
    fn push_slots(&mut self, slots: Vec<Slot<'_, '_>>) -> Option<Vec<Edit>> {
        if !slots.iter().all(|s| self.carries.contains_key(&s.key)) {
            return None;
        }
        let mut edits = Vec::new();
        for slot in slots {
            let carry = self.carries.get_mut(&slot.key)?;
            let out = carry.s.push(slot.text);
            if out != **slot.text {
                edits.push(Edit {
                    pointer: slot.pointer,
                    field: slot.field,
                    old: slot.text.to_string(),
                    text: out,
                });
            }
        }
        Some(edits)
    }

    /// OpenAI chat completion chunks: `choices[].delta.content` / `.refusal`,
    /// `choices[].delta.tool_calls[].function.arguments`, legacy `choices[].text`.
    fn chat(&mut self, v: &mut Value, before: &mut Vec<(Option<&'static str>, Value)>) -> bool {
        if self.top.is_none()
            && let Some(m) = v.as_object()
        {
            let mut top = m.clone();
            top.remove("choices");
            top.remove("usage");
            top.remove("obfuscation");
            self.top = Some(Value::Object(top));
        }
        let top = |r: &Rewriter| r.top.clone().unwrap_or_else(|| json!({}));
        let n = v
            .get("choices")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let mut changed = false;
        for i in 0..n {
            let index = v["choices"][i]
                .get("index")
                .cloned()
                .unwrap_or_else(|| json!(i));
            let ci = index.to_string();
            for field in ["content", "refusal"] {
                let p = format!("/choices/{i}/delta/{field}");
                changed |= self.stream_slot(v, &p, format!("{field}{ci}"), |r, _| {
                    let mut template = top(r);
                    template["choices"] =
                        json!([{"index": index, "delta": {field: ""}, "finish_reason": null}]);
                    Carry {
                        s: r.text_stream(),
                        event: None,
                        template,
                        pointer: format!("/choices/0/delta/{field}"),
                    }
                });
            }
            let p = format!("/choices/{i}/text");
            changed |= self.stream_slot(v, &p, format!("text{ci}"), |r, _| {
                let mut template = top(r);
                template["choices"] = json!([{"index": index, "text": "", "finish_reason": null}]);
                Carry {
                    s: r.text_stream(),
                    event: None,
                    template,
                    pointer: "/choices/0/text".to_owned(),
                }
            });
            let n_tools = v["choices"][i]["delta"]
                .get("tool_calls")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            for t in 0..n_tools {
                let tindex = v["choices"][i]["delta"]["tool_calls"][t]
                    .get("index")
                    .cloned()
                    .unwrap_or_else(|| json!(t));
                let p = format!("/choices/{i}/delta/tool_calls/{t}/function/arguments");
                let key = format!("tool{ci}.{tindex}");
                // The arguments are streamed; the call's other strings (its name) whole.
                let args = v.pointer_mut(&p).map(|a| std::mem::replace(a, Value::Null));
                changed |= self.whole(&mut v["choices"][i]["delta"]["tool_calls"][t]);
                if let Some(a) = args
                    && let Some(slot) = v.pointer_mut(&p)
                {
                    *slot = a;
                }
                changed |= self.stream_slot(v, &p, key, |r, _| {
                    let mut template = top(r);
                    template["choices"] = json!([{"index": index,
                        "delta": {"tool_calls": [{"index": tindex,
                            "function": {"arguments": ""}}]},
                        "finish_reason": null}]);
                    Carry {
                        s: r.json_stream(),
                        event: None,
                        template,
                        pointer: "/choices/0/delta/tool_calls/0/function/arguments".to_owned(),
                    }
                });
            }
            let finished = v["choices"][i]
                .get("finish_reason")
                .is_some_and(|f| !f.is_null());
            if finished {
                for prefix in ["content", "refusal", "text"] {
                    self.flush(&format!("{prefix}{ci}"), before);
                }
                self.flush_prefix(&format!("tool{ci}."), before);
            }
        }
        changed
    }

    /// Anthropic Messages: `content_block_delta` (`text_delta`, `input_json_delta`,
    /// `thinking_delta`), flushed before `content_block_stop`; the other events whole.
    fn anthropic(
        &mut self,
        v: &mut Value,
        before: &mut Vec<(Option<&'static str>, Value)>,
    ) -> bool {
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let index = v.get("index").cloned().unwrap_or(Value::Null);
        let key = format!("b{index}");
        match ty {
            "content_block_delta" => {
                let dty = v["delta"]["type"].as_str().unwrap_or("").to_owned();
                let (field, json) = match dty.as_str() {
                    "text_delta" => ("text", false),
                    "input_json_delta" => ("partial_json", true),
                    "thinking_delta" => ("thinking", false),
                    // Signatures are opaque; citations come whole.
                    "signature_delta" => return false,
                    _ => return self.whole(v),
                };
                let pointer = format!("/delta/{field}");
                let key = format!("{key}.{field}");
                self.stream_slot(v, &pointer.clone(), key, |r, _| Carry {
                    s: if json {
                        r.json_stream()
                    } else {
                        r.text_stream()
                    },
                    event: Some("content_block_delta"),
                    template: json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": dty, field: ""}}),
                    pointer,
                })
            }
            "content_block_stop" => {
                self.flush_prefix(&format!("{key}."), before);
                false
            }
            "message_stop" | "message_delta" => {
                self.flush_prefix("", before);
                self.whole(v)
            }
            _ => self.whole(v),
        }
    }

    /// OpenAI Responses: every `….delta` event with a string `delta` is a stream
    /// (output text, refusal, function-call arguments, reasoning text), flushed before
    /// its `….done`, whose full text is re-identified whole, as are all other events.
    fn responses(
        &mut self,
        v: &mut Value,
        before: &mut Vec<(Option<&'static str>, Value)>,
    ) -> bool {
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let part = |v: &Value, k: &str| v.get(k).map(Value::to_string).unwrap_or_default();
        let id = format!(
            "{}|{}|{}|{}",
            part(v, "item_id"),
            part(v, "output_index"),
            part(v, "content_index"),
            part(v, "summary_index")
        );
        if let Some(stem) = ty.strip_suffix(".delta")
            && v.get("delta").is_some_and(Value::is_string)
        {
            let json = stem.contains("arguments");
            let key = format!("{stem}|{id}");
            return self.stream_slot(v, "/delta", key, |r, v| {
                let mut template = v.clone();
                template["delta"] = json!("");
                if let Some(lp) = template.get_mut("logprobs") {
                    *lp = json!([]);
                }
                Carry {
                    s: if json {
                        r.json_stream()
                    } else {
                        r.text_stream()
                    },
                    event: Some(static_event_name(&ty)),
                    template,
                    pointer: "/delta".to_owned(),
                }
            });
        }
        if let Some(stem) = ty.strip_suffix(".done") {
            let key = format!("{stem}|{id}");
            if let Some(c) = self.carries.get_mut(&key)
                && let Some(seq) = v.get("sequence_number")
            {
                c.template["sequence_number"] = seq.clone();
            }
            self.flush(&key, before);
        }
        if matches!(
            ty.as_str(),
            "response.completed" | "response.incomplete" | "response.failed" | "error"
        ) {
            self.flush_prefix("", before);
        }
        self.whole(v)
    }

    /// Gemini: `candidates[].content.parts[].text` per candidate (thoughts apart),
    /// flushed into the chunk that carries the candidate's `finishReason`.
    fn gemini(&mut self, v: &mut Value, before: &mut Vec<(Option<&'static str>, Value)>) -> bool {
        let n = v
            .get("candidates")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let mut changed = false;
        for i in 0..n {
            let index = v["candidates"][i]
                .get("index")
                .cloned()
                .unwrap_or_else(|| json!(i));
            let n_parts = v["candidates"][i]["content"]
                .get("parts")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let mut last_text: BTreeMap<bool, usize> = BTreeMap::new();
            for j in 0..n_parts {
                let p = format!("/candidates/{i}/content/parts/{j}/text");
                let part = &mut v["candidates"][i]["content"]["parts"][j];
                let thought = part.get("thought").and_then(Value::as_bool) == Some(true);
                if !part.get("text").is_some_and(Value::is_string) {
                    changed |= self.whole(part);
                    continue;
                }
                last_text.insert(thought, j);
                let index = index.clone();
                changed |= self.stream_slot(v, &p, format!("g{index}.{thought}"), |r, _| {
                    let mut extra_part = json!({"text": ""});
                    if thought {
                        extra_part["thought"] = json!(true);
                    }
                    Carry {
                        s: r.text_stream(),
                        event: None,
                        template: json!({"candidates": [{"content": {"parts": [extra_part],
                            "role": "model"}, "index": index}]}),
                        pointer: "/candidates/0/content/parts/0/text".to_owned(),
                    }
                });
            }
            let finished = v["candidates"][i].get("finishReason").is_some();
            if finished {
                for thought in [true, false] {
                    let key = format!("g{index}.{thought}");
                    match last_text.get(&thought) {
                        // The chunk has a text part of that kind: the rest goes there.
                        Some(&j) => {
                            if let Some(mut c) = self.carries.remove(&key) {
                                let rest = c.s.finish();
                                self.count += c.s.count();
                                if !rest.is_empty()
                                    && let Some(Value::String(t)) = v.pointer_mut(&format!(
                                        "/candidates/{i}/content/parts/{j}/text"
                                    ))
                                {
                                    t.push_str(&rest);
                                    changed = true;
                                }
                            }
                        }
                        None => self.flush(&key, before),
                    }
                }
            }
        }
        // Everything else (usage, model version) is re-identified whole.
        if let Some(m) = v.as_object_mut() {
            for (k, x) in m.iter_mut() {
                if k != "candidates" {
                    changed |= self.whole(x);
                }
            }
        }
        changed
    }

    /// Ollama NDJSON: `message.content` / `message.thinking` (chat), `response` /
    /// `thinking` (generate); tool calls come whole; flushed into the `done` line.
    fn ollama(&mut self, v: &mut Value, before: &mut Vec<(Option<&'static str>, Value)>) -> bool {
        let mut changed = false;
        let done = v.get("done").and_then(Value::as_bool) == Some(true);
        if let Some(calls) = v.pointer_mut("/message/tool_calls") {
            let mut calls = calls.take();
            changed |= self.whole(&mut calls);
            v["message"]["tool_calls"] = calls;
        }
        for pointer in [
            "/message/content",
            "/message/thinking",
            "/response",
            "/thinking",
        ] {
            let key = pointer.to_owned();
            let present = v.pointer(pointer).is_some_and(Value::is_string);
            changed |= self.stream_slot(v, pointer, key.clone(), |r, v| {
                let mut template = v.clone();
                if let Some(m) = template.as_object_mut() {
                    m.retain(|k, _| matches!(k.as_str(), "model" | "created_at" | "message"));
                    m.insert("done".to_owned(), json!(false));
                }
                if let Some(m) = template.get_mut("message").and_then(Value::as_object_mut) {
                    m.retain(|k, _| k == "role");
                }
                if let Some(slot) = template.pointer_mut(pointer) {
                    *slot = json!("");
                } else if let Some(m) = template.as_object_mut() {
                    m.insert(pointer.trim_start_matches('/').to_owned(), json!(""));
                }
                Carry {
                    s: r.text_stream(),
                    event: None,
                    template,
                    pointer: pointer.to_owned(),
                }
            });
            if done {
                if present {
                    if let Some(mut c) = self.carries.remove(&key) {
                        let rest = c.s.finish();
                        self.count += c.s.count();
                        if !rest.is_empty()
                            && let Some(Value::String(t)) = v.pointer_mut(pointer)
                        {
                            t.push_str(&rest);
                            changed = true;
                        }
                    }
                } else {
                    self.flush(&key, before);
                }
            }
        }
        changed
    }
}

/// The `event:` name of an extra Responses delta: the same as its type, for the types
/// the API sends (a `&'static str` is needed; unknown ones fall back to `message`).
fn static_event_name(ty: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
        "response.custom_tool_call_input.delta",
        "response.audio.transcript.delta",
        "response.code_interpreter_call_code.delta",
        "response.mcp_call_arguments.delta",
    ];
    KNOWN
        .iter()
        .find(|k| **k == ty)
        .copied()
        .unwrap_or("message")
}

/// A text slot of a fast-path event.
struct Slot<'t, 'a> {
    /// The carry's key.
    key: String,
    /// The JSON pointer of the slot, and its field name.
    pointer: String,
    field: &'static str,
    text: &'t std::borrow::Cow<'a, str>,
}

/// A slot whose text changed.
struct Edit {
    pointer: String,
    field: &'static str,
    old: String,
    text: String,
}

/// Rewrites the changed slots in the JSON text itself, when each one's `"field":"old"`
/// occurs exactly once as serde_json writes it (the common case); otherwise `None` and
/// the event is rebuilt from a `Value`.
fn patch_raw(data: &str, edits: &[Edit]) -> Option<String> {
    let mut out = data.to_owned();
    for e in edits {
        let old = serde_json::to_string(&e.old).ok()?;
        let new = serde_json::to_string(&e.text).ok()?;
        let mut done = false;
        for sep in [":", ": "] {
            let needle = format!("\"{}\"{sep}{old}", e.field);
            let Some(at) = out.find(&needle) else {
                continue;
            };
            if out[at + 1..].contains(&needle) {
                return None;
            }
            let start = at + needle.len() - old.len();
            out.replace_range(start..at + needle.len(), &new);
            done = true;
            break;
        }
        if !done {
            return None;
        }
    }
    Some(out)
}

/// Borrowed views of the common events, for the fast paths: only the fields that decide
/// whether an event is a plain text delta.
mod lite {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde::de::IgnoredAny;

    #[derive(Deserialize)]
    pub struct Chunk<'a> {
        #[serde(borrow, default)]
        pub choices: Vec<Choice<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Choice<'a> {
        pub index: Option<u64>,
        #[serde(borrow)]
        pub delta: Option<Delta<'a>>,
        #[serde(borrow)]
        pub text: Option<Cow<'a, str>>,
        pub finish_reason: Option<IgnoredAny>,
    }

    #[derive(Deserialize)]
    pub struct Delta<'a> {
        #[serde(borrow)]
        pub content: Option<Cow<'a, str>>,
        pub refusal: Option<IgnoredAny>,
        pub tool_calls: Option<IgnoredAny>,
    }

    #[derive(Deserialize)]
    pub struct AnthropicEvent<'a> {
        #[serde(rename = "type", borrow)]
        pub kind: Cow<'a, str>,
        pub index: Option<u64>,
        #[serde(borrow)]
        pub delta: Option<AnthropicDelta<'a>>,
    }

    #[derive(Deserialize)]
    pub struct AnthropicDelta<'a> {
        #[serde(rename = "type", borrow)]
        pub kind: Cow<'a, str>,
        #[serde(borrow)]
        pub text: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub partial_json: Option<Cow<'a, str>>,
    }
}

#[cfg(test)]
mod tests;
