//! The provider APIs Paravent speaks, one module each ([`openai`] with Mistral and the
//! compatible servers, [`anthropic`], [`gemini`], [`ollama`]), dispatched here by a plain
//! `match` on [`Api`].
//!
//! Everything one API means lives in its module and nowhere else: the endpoint table
//! (exact method and path pattern), the request schema (which fields are structural and
//! the shape each must have; everything else is text, see [`crate::walk`]), the query
//! parameters and client headers it accepts, the auth header, and its error body. A new
//! API is one new file here plus one arm per `match` below.
//!
//! An endpoint outside the table is refused (`paravent_unknown_endpoint`), unless the
//! provider is declared to accept any endpoint, in which case its JSON bodies get the
//! generic schema (everything is text).

use std::sync::LazyLock;

use serde::Deserialize;

use crate::walk::{Json, MemberKind, Schema, Shape, Walked};

pub mod anthropic;
pub mod gemini;
pub mod ollama;
pub mod openai;

/// Which API a provider speaks; Mistral and other compatible servers speak `openai`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    Openai,
    Anthropic,
    Gemini,
    Ollama,
}

impl Api {
    pub const ALL: [Api; 4] = [Api::Openai, Api::Anthropic, Api::Gemini, Api::Ollama];

    pub fn as_str(self) -> &'static str {
        match self {
            Api::Openai => "openai",
            Api::Anthropic => "anthropic",
            Api::Gemini => "gemini",
            Api::Ollama => "ollama",
        }
    }

    /// The endpoint table: every `(method, path pattern, endpoint)` this API serves.
    pub fn endpoints(self) -> &'static [Route] {
        match self {
            Api::Openai => openai::ENDPOINTS,
            Api::Anthropic => anthropic::ENDPOINTS,
            Api::Gemini => &gemini::ENDPOINTS,
            Api::Ollama => &ollama::ENDPOINTS,
        }
    }

    /// How a query parameter of this API is treated.
    pub fn query_param(self, name: &str) -> Param {
        match self {
            Api::Openai => openai::query_param(name),
            Api::Anthropic => anthropic::query_param(name),
            Api::Gemini => gemini::query_param(name),
            Api::Ollama => ollama::query_param(name),
        }
    }

    /// How a client header is treated (lower-case name).
    pub fn header(self, name: &str) -> Param {
        if let Some(p) = common_header(name) {
            return p;
        }
        match self {
            Api::Openai => openai::header(name),
            Api::Anthropic => anthropic::header(name),
            Api::Gemini => gemini::header(name),
            Api::Ollama => ollama::header(name),
        }
    }

    /// The header that carries the provider's real key, and its value.
    pub fn auth_header(self, key: &str) -> (&'static str, String) {
        match self {
            Api::Anthropic => ("x-api-key", key.to_owned()),
            Api::Gemini => ("x-goog-api-key", key.to_owned()),
            Api::Openai | Api::Ollama => ("authorization", format!("Bearer {key}")),
        }
    }

    /// The error body a client of this API expects: the SDKs show `message`.
    pub fn error_body(
        self,
        status: u16,
        class: ErrorClass,
        code: &str,
        message: &str,
        request_id: &str,
    ) -> Vec<u8> {
        let v = match self {
            Api::Openai => openai::error_body(class, code, message),
            Api::Anthropic => anthropic::error_body(class, message, request_id),
            Api::Gemini => gemini::error_body(status, class, message),
            Api::Ollama => ollama::error_body(message),
        };
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

/// The request shapes Paravent knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// OpenAI (and Mistral, and compatible) chat completions; Mistral agents.
    OpenaiChat,
    /// Legacy completions (and Mistral's FIM completions).
    OpenaiCompletions,
    OpenaiEmbeddings,
    /// The Responses API (and its input token count).
    OpenaiResponses,
    /// Anthropic messages and their token count.
    AnthropicMessages,
    /// Gemini `generateContent`, `streamGenerateContent`, `countTokens`, `embedContent`,
    /// `batchEmbedContents`.
    Gemini,
    OllamaChat,
    OllamaGenerate,
    OllamaEmbed,
    /// Reads and small requests tools make at start-up (model lists and details,
    /// versions, a stored response): any body is walked as text.
    Read,
    /// An endpoint outside the table, on a provider that accepts any endpoint: its JSON
    /// body is walked with nothing structural.
    Generic,
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
            Endpoint::Read => "read",
            Endpoint::Generic => "generic",
        }
    }

    /// The request schema: the structural fields; all else is text.
    pub fn schema(self) -> &'static Schema {
        static GENERIC: LazyLock<Schema> = LazyLock::new(|| Schema::new(&[]));
        match self {
            Endpoint::OpenaiChat => &openai::CHAT,
            Endpoint::OpenaiCompletions => &openai::COMPLETIONS,
            Endpoint::OpenaiEmbeddings => &openai::EMBEDDINGS,
            Endpoint::OpenaiResponses => &openai::RESPONSES,
            Endpoint::AnthropicMessages => &anthropic::MESSAGES,
            Endpoint::Gemini => &gemini::GENERATE,
            Endpoint::OllamaChat => &ollama::CHAT,
            Endpoint::OllamaGenerate => &ollama::GENERATE,
            Endpoint::OllamaEmbed => &ollama::EMBED,
            Endpoint::Read => &READ,
            Endpoint::Generic => &GENERIC,
        }
    }

    /// Every endpoint with a schema of its own (the threat model's table).
    pub const WITH_SCHEMA: [Endpoint; 10] = [
        Endpoint::OpenaiChat,
        Endpoint::OpenaiCompletions,
        Endpoint::OpenaiEmbeddings,
        Endpoint::OpenaiResponses,
        Endpoint::AnthropicMessages,
        Endpoint::Gemini,
        Endpoint::OllamaChat,
        Endpoint::OllamaGenerate,
        Endpoint::OllamaEmbed,
        Endpoint::Read,
    ];
}

impl Endpoint {
    /// Puts an assistant profile's system prompt first, in this API's own shape (a
    /// system message, Anthropic's `system`, Gemini's `systemInstruction`, the
    /// Responses API's `instructions`, Ollama's `system`), before what the client sent
    /// there. The prompt is the administrator's text: it is not scanned. `false` when
    /// the endpoint takes no system prompt (embeddings, legacy completions, reads) or
    /// the body has not the shape expected.
    pub fn prepend_system(self, walked: &mut Walked, prompt: &str) -> bool {
        match self {
            Endpoint::OpenaiChat | Endpoint::OllamaChat => {
                walked.insert_at(&["messages"], 0, system_message(prompt))
            }
            Endpoint::OpenaiResponses => prefix_or_set(walked, "instructions", prompt),
            Endpoint::AnthropicMessages => anthropic::prepend_system(walked, prompt),
            Endpoint::Gemini => gemini::prepend_system(walked, prompt),
            Endpoint::OllamaGenerate => prefix_or_set(walked, "system", prompt),
            _ => false,
        }
    }
}

/// `{"role":"system","content":prompt}`.
fn system_message(prompt: &str) -> Json {
    Json::Object(vec![
        ("role".to_owned(), Json::String("system".to_owned())),
        ("content".to_owned(), Json::String(prompt.to_owned())),
    ])
}

/// The top-level string `key` becomes `prompt`, a blank line, then what it held; set
/// to `prompt` when absent or null. `false` when it holds something else.
pub(crate) fn prefix_or_set(walked: &mut Walked, key: &str, prompt: &str) -> bool {
    match walked.kind_at(&[key]) {
        Some(MemberKind::String) => {
            walked.map_strings_at(&[key], &mut |s| format!("{prompt}\n\n{s}")) > 0
        }
        None | Some(MemberKind::Null) => {
            walked.set_top_level(key, Json::String(prompt.to_owned()));
            true
        }
        _ => false,
    }
}

/// The few fields a read's body may carry that are structural (Ollama's `show`).
static READ: LazyLock<Schema> = LazyLock::new(|| {
    Schema::new(&[
        crate::walk::Field::new("model", Shape::Model),
        crate::walk::Field::new("name", Shape::Model),
        crate::walk::Field::new("verbose", Shape::Bool),
    ])
});

/// One row of an endpoint table.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// `/`-separated; a segment `{model}` or `{id}` is a parameter with that shape, and
    /// may be followed by a literal suffix (`{model}:generateContent`).
    pub pattern: &'static str,
    pub endpoint: Endpoint,
}

impl Route {
    pub const fn new(method: &'static str, pattern: &'static str, endpoint: Endpoint) -> Route {
        Route {
            method,
            pattern,
            endpoint,
        }
    }
}

/// How a query parameter or header is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// Carries the client's key: checked by the key logic, never scanned or logged.
    Auth,
    /// Forwarded when it has this shape; else scanned as text.
    Shaped(Shape),
    /// Forwarded after its value is scanned as text.
    Scan,
    /// Not forwarded (headers outside the allow list).
    Drop,
}

/// Headers every API forwards: content negotiation, the client's identification and
/// the official SDKs' own headers (`x-stainless-*`), idempotency keys. Connection,
/// length and encoding headers are the proxy's own.
fn common_header(name: &str) -> Option<Param> {
    Some(match name {
        "content-type" | "accept" | "user-agent" | "idempotency-key" | "x-request-id" => {
            Param::Scan
        }
        n if n.starts_with("x-stainless-") => Param::Scan,
        _ => return None,
    })
}

/// A route matched against a path: the endpoint, and the path parameters' byte ranges
/// in the path (model names, ids), which are checked and scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub endpoint: Endpoint,
    pub params: Vec<(usize, usize)>,
}

/// Finds the endpoint of `method` + `path` in `api`'s table.
pub fn endpoint(api: Api, method: &str, path: &str) -> Option<Matched> {
    let path = path.strip_suffix('/').unwrap_or(path);
    api.endpoints()
        .iter()
        .filter(|r| r.method == method || (method == "HEAD" && r.method == "GET"))
        .find_map(|r| {
            matches(r.pattern, path).map(|params| Matched {
                endpoint: r.endpoint,
                params,
            })
        })
}

fn matches(pattern: &str, path: &str) -> Option<Vec<(usize, usize)>> {
    let mut params = Vec::new();
    let mut pat = pattern.split('/');
    let mut at = 0;
    let mut segs = path.split('/');
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                let start = at;
                at += s.len() + 1;
                if let Some(rest) = p.strip_prefix('{') {
                    let (name, suffix) = rest.split_once('}')?;
                    let value = s.strip_suffix(suffix)?;
                    let ok = match name {
                        "model" => {
                            !value.is_empty()
                                && value
                                    .bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b"._-@+".contains(&b))
                        }
                        _ => {
                            !value.is_empty()
                                && value
                                    .bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
                        }
                    };
                    if !ok {
                        return None;
                    }
                    params.push((start, start + value.len()));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
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
    /// Over a rate limit (429).
    RateLimited,
    /// Too many requests in flight (503).
    Overloaded,
}

#[cfg(test)]
mod tests;
