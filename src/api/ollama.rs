//! Ollama's native API (`/api/chat`, `/api/generate`, `/api/embed`, and the reads tools
//! make at start-up): endpoints, structural fields, headers, and the error format.
//! Ollama's OpenAI-compatible `/v1/...` is served by [`super::openai`]'s table.
//!
//! Formats read from the official `ollama` SDK (`ollama/_types.py`). Ollama is written
//! in Go, whose JSON decoder matches keys case-insensitively: a key differing from a
//! known field only by case is refused by the walk. Anything not listed is text.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::{Endpoint, Param, Route};
use crate::walk::{Field, Schema, Shape};

/// The endpoint table (native API, then OpenAI's under `/v1`).
pub static ENDPOINTS: LazyLock<Vec<Route>> = LazyLock::new(|| {
    let mut v = vec![
        Route::new("POST", "/api/chat", Endpoint::OllamaChat),
        Route::new("POST", "/api/generate", Endpoint::OllamaGenerate),
        Route::new("POST", "/api/embed", Endpoint::OllamaEmbed),
        Route::new("POST", "/api/embeddings", Endpoint::OllamaEmbed),
        Route::new("POST", "/api/show", Endpoint::Read),
        Route::new("GET", "/api/tags", Endpoint::Read),
        Route::new("GET", "/api/ps", Endpoint::Read),
        Route::new("GET", "/api/version", Endpoint::Read),
        Route::new("GET", "", Endpoint::Read),
    ];
    v.extend(
        super::openai::ENDPOINTS
            .iter()
            .filter(|r| r.pattern.starts_with("/v1/"))
            .copied(),
    );
    v
});

const COMMON: &[Field] = &[
    Field::new("model", Shape::Model),
    Field::new("stream", Shape::Bool),
    Field::new("raw", Shape::Bool),
    Field::new("truncate", Shape::Bool),
    Field::new("shift", Shape::Bool),
    Field::new("dimensions", Shape::Number),
    Field::new("think", Shape::Enum(&["low", "medium", "high"])),
    Field::new("format", Shape::Enum(&["json"])),
    Field::new("options.*", Shape::Number),
    Field::new(
        "images",
        Shape::Media {
            kind: "image",
            text_types: &[],
        },
    ),
];

const CHAT_FIELDS: &[Field] = &[
    Field::new("messages[].content", Shape::Text),
    Field::new("messages[].thinking", Shape::Text),
    Field::new("messages[].tool_calls[].function.arguments", Shape::Text),
    Field::new("tools[].function.description", Shape::Text),
    Field::new("tools[].function.parameters", Shape::JsonSchema),
    Field::new(
        "messages[].role",
        Shape::Enum(&["system", "user", "assistant", "tool"]),
    ),
    Field::new(
        "messages[].images",
        Shape::Media {
            kind: "image",
            text_types: &[],
        },
    ),
    Field::new("messages[].tool_name", Shape::Id),
    Field::new("messages[].tool_calls[].function.name", Shape::Id),
    Field::new("messages[].tool_calls[].function.index", Shape::Number),
    Field::new("tools[].type", Shape::Enum(&["function"])),
    Field::new("tools[].function.name", Shape::Id),
];

/// `/api/generate`'s `context` holds the token ids of an earlier answer, which Ollama
/// computed from pseudonymised text: it goes on as it came (docs/THREAT-MODEL.md).
const GENERATE_FIELDS: &[Field] = &[
    Field::new("context", Shape::Opaque),
    Field::new("prompt", Shape::Text),
    Field::new("suffix", Shape::Text),
    Field::new("system", Shape::Text),
    Field::new("template", Shape::Text),
];

const EMBED_FIELDS: &[Field] = &[Field::new("input", Shape::TextOrTokens)];

fn schema(parts: &[&[Field]]) -> Schema {
    let fields: Vec<Field> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    Schema::new(&fields)
}

pub static CHAT: LazyLock<Schema> = LazyLock::new(|| schema(&[COMMON, CHAT_FIELDS]));
pub static GENERATE: LazyLock<Schema> = LazyLock::new(|| schema(&[COMMON, GENERATE_FIELDS]));
pub static EMBED: LazyLock<Schema> = LazyLock::new(|| schema(&[COMMON, EMBED_FIELDS]));

/// Ollama's native API takes no query parameters; any is scanned.
pub fn query_param(_name: &str) -> Param {
    Param::Scan
}

/// Client headers forwarded besides the common ones (a hosted Ollama takes a bearer key).
pub fn header(name: &str) -> Param {
    match name {
        "authorization" => Param::Auth,
        _ => Param::Drop,
    }
}

/// Ollama's error shape: `{"error": "..."}`.
pub fn error_body(message: &str) -> Value {
    json!({ "error": message })
}
