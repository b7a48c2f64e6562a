//! \[pure\] The text slots of each API's JSON: which strings of a request the provider
//! will read, and how an error looks in each provider's own format.
//!
//! A walker visits every text slot of a request body (a `serde_json::Value`) and reports
//! content it cannot read (images, audio, files, token ids). Everything else passes
//! through untouched: we are strict with our own files and tolerant of the providers'
//! JSON (STYLE.md habit 4). A slot that holds JSON in a string (tool-call arguments) is
//! parsed, its string values visited, and written back; if it does not parse, it is
//! visited as plain text, so nothing in it escapes the scan.
//!
//! Responses are re-identified by [`walk_response`], which visits every string value:
//! whatever the provider adds to its answers, the client never reads a token that the
//! vault could have restored. Never logs values.

use serde_json::Value;

pub mod anthropic;
pub mod gemini;
pub mod ollama;
pub mod openai;

/// What a walker reports to.
pub trait Visitor {
    /// A text slot the provider will read. Returns `true` if it changed `text`.
    fn text(&mut self, text: &mut String) -> bool;
    /// Content that cannot be scanned for text (`image`, `audio`, `file`, `token ids`).
    fn media(&mut self, kind: &'static str);
}

/// The request shapes Paravent knows, by API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// OpenAI (and Mistral, and compatible) `/v1/chat/completions`.
    OpenaiChat,
    /// Legacy `/v1/completions` (and Mistral's `/v1/fim/completions`).
    OpenaiCompletions,
    /// `/v1/embeddings`.
    OpenaiEmbeddings,
    /// The Responses API, `/v1/responses`.
    OpenaiResponses,
    /// Anthropic `/v1/messages` and `/v1/messages/count_tokens`.
    AnthropicMessages,
    /// Gemini `models/*:generateContent`, `:countTokens`, `:embedContent`…
    Gemini,
    /// Ollama `/api/chat`.
    OllamaChat,
    /// Ollama `/api/generate`.
    OllamaGenerate,
    /// Ollama `/api/embed` and `/api/embeddings`.
    OllamaEmbed,
}

/// Which provider's error format an endpoint answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    Openai,
    Anthropic,
    Gemini,
    Ollama,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::OpenaiChat => "openai.chat",
            Endpoint::OpenaiCompletions => "openai.completions",
            Endpoint::OpenaiEmbeddings => "openai.embeddings",
            Endpoint::OpenaiResponses => "openai.responses",
            Endpoint::AnthropicMessages => "anthropic.messages",
            Endpoint::Gemini => "gemini.generate",
            Endpoint::OllamaChat => "ollama.chat",
            Endpoint::OllamaGenerate => "ollama.generate",
            Endpoint::OllamaEmbed => "ollama.embed",
        }
    }

    pub fn error_format(self) -> ErrorFormat {
        match self {
            Endpoint::OpenaiChat
            | Endpoint::OpenaiCompletions
            | Endpoint::OpenaiEmbeddings
            | Endpoint::OpenaiResponses => ErrorFormat::Openai,
            Endpoint::AnthropicMessages => ErrorFormat::Anthropic,
            Endpoint::Gemini => ErrorFormat::Gemini,
            Endpoint::OllamaChat | Endpoint::OllamaGenerate | Endpoint::OllamaEmbed => {
                ErrorFormat::Ollama
            }
        }
    }
}

/// Visits every text slot of a request body for `endpoint`.
pub fn walk_request(endpoint: Endpoint, body: &mut Value, v: &mut dyn Visitor) {
    match endpoint {
        Endpoint::OpenaiChat => openai::chat(body, v),
        Endpoint::OpenaiCompletions => openai::completions(body, v),
        Endpoint::OpenaiEmbeddings => openai::embeddings(body, v),
        Endpoint::OpenaiResponses => openai::responses(body, v),
        Endpoint::AnthropicMessages => anthropic::messages(body, v),
        Endpoint::Gemini => gemini::request(body, v),
        Endpoint::OllamaChat => ollama::chat(body, v),
        Endpoint::OllamaGenerate => ollama::generate(body, v),
        Endpoint::OllamaEmbed => ollama::embed(body, v),
    }
}

/// As [`walk_request`], telling whether a visit changed the body.
pub fn walk_request_changed(endpoint: Endpoint, body: &mut Value, v: &mut dyn Visitor) -> bool {
    let mut track = Tracking {
        inner: v,
        changed: false,
    };
    walk_request(endpoint, body, &mut track);
    track.changed
}

struct Tracking<'a> {
    inner: &'a mut dyn Visitor,
    changed: bool,
}

impl Visitor for Tracking<'_> {
    fn text(&mut self, text: &mut String) -> bool {
        let c = self.inner.text(text);
        self.changed |= c;
        c
    }

    fn media(&mut self, kind: &'static str) {
        self.inner.media(kind);
    }
}

/// Visits every string value of a response body (object keys are left alone); strings
/// that hold JSON (tool-call arguments) are parsed and written back.
pub fn walk_response(body: &mut Value, v: &mut dyn Visitor) -> bool {
    let mut changed = false;
    match body {
        Value::String(s) => changed |= json_string(s, v),
        Value::Array(items) => {
            for item in items {
                changed |= walk_response(item, v);
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                changed |= walk_response(item, v);
            }
        }
        _ => {}
    }
    changed
}

/// A plain text slot, if `value` is a string.
pub(crate) fn text(value: Option<&mut Value>, v: &mut dyn Visitor) -> bool {
    match value {
        Some(Value::String(s)) => v.text(s),
        _ => false,
    }
}

/// A string that should hold JSON (tool-call arguments): its string values are visited
/// and it is written back when one changed; if it is not JSON it is visited as text.
pub(crate) fn json_string(s: &mut String, v: &mut dyn Visitor) -> bool {
    let t = s.trim_start();
    if (t.starts_with('{') || t.starts_with('['))
        && let Ok(mut inner) = serde_json::from_str::<Value>(s)
    {
        {
            if all_strings(&mut inner, v) {
                // Serialising a `Value` we just parsed cannot fail.
                if let Ok(out) = serde_json::to_string(&inner) {
                    *s = out;
                    return true;
                }
            }
            return false;
        }
    }
    v.text(s)
}

/// The `json_string` slot at `value`, if it is a string.
pub(crate) fn json_text(value: Option<&mut Value>, v: &mut dyn Visitor) -> bool {
    match value {
        Some(Value::String(s)) => json_string(s, v),
        _ => false,
    }
}

/// Every string value inside `value` (tool-call inputs, function responses).
pub(crate) fn all_strings(value: &mut Value, v: &mut dyn Visitor) -> bool {
    let mut changed = false;
    match value {
        Value::String(s) => changed |= v.text(s),
        Value::Array(items) => {
            for item in items {
                changed |= all_strings(item, v);
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                changed |= all_strings(item, v);
            }
        }
        _ => {}
    }
    changed
}

/// Every string of an object except the keys that only identify things (`type`, `id`…):
/// how an unknown part or item is walked, so that new kinds of content are still scanned.
pub(crate) fn unknown_part(value: &mut Value, v: &mut dyn Visitor) -> bool {
    const IDENTIFIERS: &[&str] = &["type", "id", "call_id", "status", "role", "tool_use_id"];
    let mut changed = false;
    if let Value::Object(map) = value {
        for (k, item) in map.iter_mut() {
            if !IDENTIFIERS.contains(&k.as_str()) {
                changed |= all_strings(item, v);
            }
        }
    } else {
        changed |= all_strings(value, v);
    }
    changed
}

/// The text of a JSON schema a model reads: descriptions, titles, examples, enums.
pub(crate) fn schema(value: Option<&mut Value>, v: &mut dyn Visitor) {
    let Some(value) = value else { return };
    match value {
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                match k.as_str() {
                    "description" | "title" => {
                        if let Value::String(s) = item {
                            v.text(s);
                        }
                    }
                    "examples" | "enum" | "default" | "const" | "example" => {
                        all_strings(item, v);
                    }
                    _ => schema(Some(item), v),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                schema(Some(item), v);
            }
        }
        _ => {}
    }
}

/// Each string value of an object (`metadata`, `prompt.variables`).
pub(crate) fn string_values(value: Option<&mut Value>, v: &mut dyn Visitor) {
    if let Some(Value::Object(map)) = value {
        for (_, item) in map.iter_mut() {
            if let Value::String(s) = item {
                v.text(s);
            }
        }
    }
}

/// Each element of an array, or the value itself when it is not an array.
pub(crate) fn each(value: Option<&mut Value>, mut f: impl FnMut(&mut Value)) {
    match value {
        Some(Value::Array(items)) => items.iter_mut().for_each(&mut f),
        Some(other) => f(other),
        None => {}
    }
}

/// A string, an array of strings, or token ids (which cannot be scanned).
pub(crate) fn text_or_tokens(value: Option<&mut Value>, v: &mut dyn Visitor) {
    match value {
        Some(Value::String(s)) => {
            v.text(s);
        }
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::String(s) => {
                        v.text(s);
                    }
                    Value::Number(_) | Value::Array(_) => v.media("token ids"),
                    other => {
                        unknown_part(other, v);
                    }
                }
            }
        }
        _ => {}
    }
}

/// How a refusal is classified in each provider's error format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    TooLarge,
    Upstream,
    Timeout,
}

/// The error body a client of `format` expects: the SDKs show `message`.
pub fn error_body(
    format: ErrorFormat,
    status: u16,
    class: ErrorClass,
    code: &str,
    message: &str,
    request_id: &str,
) -> Vec<u8> {
    let v = match format {
        ErrorFormat::Openai => openai::error_body(class, code, message),
        ErrorFormat::Anthropic => anthropic::error_body(class, message, request_id),
        ErrorFormat::Gemini => gemini::error_body(status, class, message),
        ErrorFormat::Ollama => ollama::error_body(message),
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests;
