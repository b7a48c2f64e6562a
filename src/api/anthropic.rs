//! Anthropic's Messages API: endpoints, the structural fields of a messages request,
//! query parameters, headers, and the error format.
//!
//! Formats read from the official `anthropic` SDK (`anthropic/types/`). Anything not
//! listed is text: citations (`cited_text`), stop sequences, tool inputs, metadata,
//! fields added after this table was written.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::{Endpoint, ErrorClass, Param, Route};
use crate::walk::{Field, Schema, Shape};

/// The endpoint table.
pub const ENDPOINTS: &[Route] = &[
    Route::new("POST", "/v1/messages", Endpoint::AnthropicMessages),
    Route::new(
        "POST",
        "/v1/messages/count_tokens",
        Endpoint::AnthropicMessages,
    ),
    Route::new("GET", "/v1/models", Endpoint::Read),
    Route::new("GET", "/v1/models/{model}", Endpoint::Read),
];

const BLOCK_TYPES: &[&str] = &[
    "text",
    "image",
    "document",
    "search_result",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "mcp_tool_use",
    "mcp_tool_result",
    "container_upload",
];

const CITATION_TYPES: &[&str] = &[
    "char_location",
    "page_location",
    "content_block_location",
    "web_search_result_location",
    "search_result_location",
];

/// Media unless its `source` is plain text or content blocks.
const SOURCE: Shape = Shape::Media {
    kind: "file",
    text_types: &["text", "content"],
};

/// The fields of a content block, at `prefix` (`messages[].content[]`, `system[]`, and
/// the blocks inside a tool result).
fn block(prefix: &str, out: &mut Vec<(String, Shape)>) {
    let f = |p: &str, s: Shape| (format!("{prefix}.{p}"), s);
    out.extend([
        f("type", Shape::Enum(BLOCK_TYPES)),
        f("text", Shape::Text),
        f("input", Shape::Text),
        f("content", Shape::Text),
        f("title", Shape::Text),
        f("context", Shape::Text),
        f("thinking", Shape::Text),
        f("citations[].cited_text", Shape::Text),
        f("citations[].document_title", Shape::Text),
        f("source", SOURCE),
        f(
            "source.type",
            Shape::Enum(&["base64", "url", "file", "text", "content"]),
        ),
        f("id", Shape::Id),
        f("tool_use_id", Shape::Id),
        f("name", Shape::Id),
        f("server_name", Shape::Id),
        f("is_error", Shape::Bool),
        f("signature", Shape::Opaque),
        f("data", Shape::Opaque),
        f("file_id", Shape::Id),
        f("cache_control.type", Shape::Enum(&["ephemeral"])),
        f("cache_control.ttl", Shape::Enum(&["5m", "1h"])),
        f("citations.enabled", Shape::Bool),
        f("citations[].type", Shape::Enum(CITATION_TYPES)),
        f("citations[].document_index", Shape::Number),
        f("citations[].start_char_index", Shape::Number),
        f("citations[].end_char_index", Shape::Number),
        f("citations[].start_page_number", Shape::Number),
        f("citations[].end_page_number", Shape::Number),
        f("citations[].start_block_index", Shape::Number),
        f("citations[].end_block_index", Shape::Number),
        f("citations[].search_result_index", Shape::Number),
        f("citations[].encrypted_index", Shape::Opaque),
    ]);
}

const TOP: &[Field] = &[
    Field::new("model", Shape::Model),
    Field::new("max_tokens", Shape::Number),
    Field::new("temperature", Shape::Number),
    Field::new("top_p", Shape::Number),
    Field::new("top_k", Shape::Number),
    Field::new("stream", Shape::Bool),
    Field::new("messages[].role", Shape::Enum(&["user", "assistant"])),
    Field::new("system", Shape::Text),
    Field::new("stop_sequences", Shape::Text),
    Field::new("metadata.user_id", Shape::Text),
    Field::new("tools[].description", Shape::Text),
    Field::new("tools[].input_schema", Shape::JsonSchema),
    Field::new("mcp_servers[].url", Shape::Text),
    Field::new("mcp_servers[].name", Shape::Text),
    Field::new("tools[].name", Shape::Id),
    Field::new("tools[].type", Shape::Id),
    Field::new("tools[].max_uses", Shape::Number),
    Field::new("tools[].cache_control.type", Shape::Enum(&["ephemeral"])),
    Field::new("tools[].cache_control.ttl", Shape::Enum(&["5m", "1h"])),
    Field::new("tools[].display_width_px", Shape::Number),
    Field::new("tools[].display_height_px", Shape::Number),
    Field::new(
        "tool_choice.type",
        Shape::Enum(&["auto", "any", "tool", "none"]),
    ),
    Field::new("tool_choice.name", Shape::Id),
    Field::new("tool_choice.disable_parallel_tool_use", Shape::Bool),
    Field::new("thinking.type", Shape::Enum(&["enabled", "disabled"])),
    Field::new("thinking.budget_tokens", Shape::Number),
    Field::new("service_tier", Shape::Enum(&["auto", "standard_only"])),
    Field::new("container", Shape::Id),
    Field::new("mcp_servers[].type", Shape::Enum(&["url"])),
    Field::new("mcp_servers[].authorization_token", Shape::Credential),
    Field::new("mcp_servers[].tool_configuration.enabled", Shape::Bool),
];

/// The messages request's structural fields.
pub fn fields() -> Vec<(String, Shape)> {
    let mut out: Vec<(String, Shape)> = TOP.iter().map(|f| (f.path.to_owned(), f.shape)).collect();
    for prefix in [
        "messages[].content[]",
        "messages[].content[].content[]",
        "system[]",
    ] {
        block(prefix, &mut out);
    }
    out
}

pub static MESSAGES: LazyLock<Schema> = LazyLock::new(|| Schema::from_paths(fields()));

/// An assistant profile's system prompt, first: `system` as a string gets it before
/// its text; as an array of blocks, a text block in front.
pub fn prepend_system(walked: &mut crate::walk::Walked, prompt: &str) -> bool {
    use crate::walk::{Json, MemberKind};
    if walked.kind_at(&["system"]) == Some(MemberKind::Array) {
        let block = Json::Object(vec![
            ("type".to_owned(), Json::String("text".to_owned())),
            ("text".to_owned(), Json::String(prompt.to_owned())),
        ]);
        return walked.insert_at(&["system"], 0, block);
    }
    super::prefix_or_set(walked, "system", prompt)
}

/// Query parameters: Claude Code's `beta=true` and the model list's paging.
pub fn query_param(name: &str) -> Param {
    match name {
        "beta" => Param::Shaped(Shape::Enum(&["true", "false"])),
        "limit" => Param::Shaped(Shape::Number),
        "after_id" | "before_id" => Param::Shaped(Shape::Id),
        _ => Param::Scan,
    }
}

/// Client headers forwarded besides the common ones.
pub fn header(name: &str) -> Param {
    match name {
        "x-api-key" | "authorization" => Param::Auth,
        "anthropic-version" => Param::Shaped(Shape::Enum(&["2023-06-01", "2023-01-01"])),
        "anthropic-beta" | "anthropic-dangerous-direct-browser-access" | "x-app" => Param::Scan,
        _ => Param::Drop,
    }
}

/// Anthropic's error shape: `{"type":"error","error":{"type","message"},"request_id"}`.
pub fn error_body(class: ErrorClass, message: &str, request_id: &str) -> Value {
    let kind = match class {
        ErrorClass::InvalidRequest => "invalid_request_error",
        ErrorClass::Authentication => "authentication_error",
        ErrorClass::Permission => "permission_error",
        ErrorClass::NotFound => "not_found_error",
        ErrorClass::TooLarge => "request_too_large",
        ErrorClass::Upstream => "api_error",
        ErrorClass::Timeout => "timeout_error",
        ErrorClass::RateLimited => "rate_limit_error",
        ErrorClass::Overloaded => "overloaded_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id})
}
