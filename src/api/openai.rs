//! OpenAI's API, spoken also by Mistral, Ollama's `/v1` and the OpenAI-compatible
//! servers: endpoints, the structural fields of chat completions, legacy completions,
//! embeddings and Responses, query parameters, headers, and the error format.
//!
//! Formats read from the official `openai` SDK (`openai/types/chat/`,
//! `openai/types/responses/`) and `mistralai`. Anything not listed is text.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::{Endpoint, ErrorClass, Param, Route};
use crate::walk::{Field, Schema, Shape};

const N: Shape = Shape::Number;
const B: Shape = Shape::Bool;
const ID: Shape = Shape::Id;

/// The path prefixes compatible servers put before the endpoint (`/v1` for OpenAI and
/// Mistral, `/openai/v1` for Groq, `/api/v1` for OpenRouter, `/v1beta/openai` for
/// Gemini's compatible API), or none when the provider's `base_url` ends with it.
macro_rules! routes {
    ($( $method:literal $path:literal => $endpoint:ident ),* $(,)?) => {
        &[
            $(
                Route::new($method, concat!("/v1", $path), Endpoint::$endpoint),
                Route::new($method, $path, Endpoint::$endpoint),
                Route::new($method, concat!("/openai/v1", $path), Endpoint::$endpoint),
                Route::new($method, concat!("/api/v1", $path), Endpoint::$endpoint),
                Route::new($method, concat!("/v1beta/openai", $path), Endpoint::$endpoint),
            )*
        ]
    };
}

/// The endpoint table.
pub const ENDPOINTS: &[Route] = routes! {
    "POST" "/chat/completions" => OpenaiChat,
    "POST" "/agents/completions" => OpenaiChat,
    "POST" "/completions" => OpenaiCompletions,
    "POST" "/fim/completions" => OpenaiCompletions,
    "POST" "/embeddings" => OpenaiEmbeddings,
    "POST" "/responses" => OpenaiResponses,
    "POST" "/responses/input_tokens" => OpenaiResponses,
    "GET" "/responses/{id}" => Read,
    "GET" "/responses/{id}/input_items" => Read,
    "POST" "/responses/{id}/cancel" => Read,
    "DELETE" "/responses/{id}" => Read,
    "GET" "/models" => Read,
    "GET" "/models/{model}" => Read,
};

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

/// Fields every OpenAI generation request shares.
const SAMPLING: &[Field] = &[
    Field::new("model", Shape::Model),
    Field::new("temperature", N),
    Field::new("top_p", N),
    Field::new("n", N),
    Field::new("seed", N),
    Field::new("random_seed", N),
    Field::new("max_tokens", N),
    Field::new("min_tokens", N),
    Field::new("max_completion_tokens", N),
    Field::new("presence_penalty", N),
    Field::new("frequency_penalty", N),
    Field::new("logprobs", B),
    Field::new("top_logprobs", N),
    Field::new("stream", B),
    Field::new("store", B),
    Field::new("parallel_tool_calls", B),
    Field::new("safe_prompt", B),
    Field::new("stream_options.include_usage", B),
    Field::new("stream_options.include_obfuscation", B),
    Field::new(
        "service_tier",
        Shape::Enum(&["auto", "default", "flex", "scale", "priority"]),
    ),
    Field::new(
        "reasoning_effort",
        Shape::Enum(&["none", "minimal", "low", "medium", "high"]),
    ),
    Field::new("verbosity", Shape::Enum(&["low", "medium", "high"])),
    Field::new("logit_bias.*", N),
    Field::new("user", T),
    Field::new("stop", T),
    Field::new("metadata", T),
    Field::new("prompt_cache_key", T),
    Field::new("safety_identifier", T),
];

const T: Shape = Shape::Text;

const CHAT_FIELDS: &[Field] = &[
    Field::new("messages[].content[].text", T),
    Field::new("messages[].content[].refusal", T),
    Field::new("messages[].name", T),
    Field::new("messages[].refusal", T),
    Field::new("messages[].tool_calls[].function.arguments", T),
    Field::new("messages[].tool_calls[].custom.input", T),
    Field::new("messages[].function_call.arguments", T),
    Field::new("tools[].function.description", T),
    Field::new("tools[].function.parameters", Shape::JsonSchema),
    Field::new("tools[].custom.description", T),
    Field::new("functions[].description", T),
    Field::new("functions[].parameters", Shape::JsonSchema),
    Field::new("response_format.json_schema.schema", Shape::JsonSchema),
    Field::new("response_format.json_schema.description", T),
    Field::new("prediction.content", T),
    Field::new("agent_id", ID),
    Field::new("messages[].role", Shape::Enum(ROLES)),
    Field::new("messages[].prefix", B),
    Field::new(
        "messages[].content[].type",
        Shape::Enum(&["text", "image_url", "input_audio", "file", "refusal"]),
    ),
    Field::new("messages[].content[].image_url", media("image")),
    Field::new("messages[].content[].input_audio", media("audio")),
    Field::new("messages[].content[].file", media("file")),
    Field::new("messages[].content[].document_url", media("file")),
    Field::new("messages[].tool_calls[].id", ID),
    Field::new(
        "messages[].tool_calls[].type",
        Shape::Enum(&["function", "custom"]),
    ),
    Field::new("messages[].tool_calls[].index", N),
    Field::new("messages[].tool_calls[].function.name", ID),
    Field::new("messages[].tool_calls[].custom.name", ID),
    Field::new("messages[].function_call.name", ID),
    Field::new("messages[].tool_call_id", ID),
    Field::new("messages[].audio.id", ID),
    Field::new("tools[].type", Shape::Enum(&["function", "custom"])),
    Field::new("tools[].function.name", ID),
    Field::new("tools[].function.strict", B),
    Field::new("tools[].custom.name", ID),
    Field::new(
        "tools[].custom.format.type",
        Shape::Enum(&["text", "grammar"]),
    ),
    Field::new(
        "tools[].custom.format.grammar.syntax",
        Shape::Enum(&["lark", "regex"]),
    ),
    Field::new("functions[].name", ID),
    Field::new("function_call", Shape::Enum(&["none", "auto"])),
    Field::new("function_call.name", ID),
    Field::new(
        "tool_choice",
        Shape::Enum(&["none", "auto", "required", "any"]),
    ),
    Field::new(
        "tool_choice.type",
        Shape::Enum(&["function", "custom", "allowed_tools"]),
    ),
    Field::new("tool_choice.function.name", ID),
    Field::new("tool_choice.custom.name", ID),
    Field::new(
        "tool_choice.allowed_tools.mode",
        Shape::Enum(&["auto", "required"]),
    ),
    Field::new(
        "tool_choice.allowed_tools.tools[].type",
        Shape::Enum(&["function", "custom"]),
    ),
    Field::new("tool_choice.allowed_tools.tools[].function.name", ID),
    Field::new(
        "response_format.type",
        Shape::Enum(&["text", "json_object", "json_schema"]),
    ),
    Field::new("response_format.json_schema.name", ID),
    Field::new("response_format.json_schema.strict", B),
    Field::new("modalities[]", Shape::Enum(&["text", "audio"])),
    Field::new("audio.voice", ID),
    Field::new(
        "audio.format",
        Shape::Enum(&["wav", "aac", "mp3", "flac", "opus", "pcm16"]),
    ),
    Field::new("prediction.type", Shape::Enum(&["content"])),
    Field::new(
        "web_search_options.search_context_size",
        Shape::Enum(&["low", "medium", "high"]),
    ),
];

const COMPLETIONS_FIELDS: &[Field] = &[
    Field::new("prompt", Shape::TextOrTokens),
    Field::new("suffix", T),
    Field::new("echo", B),
    Field::new("best_of", N),
];

const EMBEDDINGS_FIELDS: &[Field] = &[
    Field::new("input", Shape::TextOrTokens),
    Field::new("encoding_format", Shape::Enum(&["float", "base64"])),
    Field::new("dimensions", N),
    Field::new("output_dimension", N),
    Field::new(
        "output_dtype",
        Shape::Enum(&["float", "int8", "uint8", "binary", "ubinary"]),
    ),
];

const ITEM_TYPES: &[&str] = &[
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
    "item_reference",
    "web_search_call",
    "file_search_call",
    "computer_call",
    "computer_call_output",
    "image_generation_call",
    "code_interpreter_call",
    "local_shell_call",
    "local_shell_call_output",
    "mcp_call",
    "mcp_list_tools",
    "mcp_approval_request",
    "mcp_approval_response",
];

const RESPONSES_FIELDS: &[Field] = &[
    Field::new("instructions", T),
    Field::new("input[].content[].text", T),
    Field::new("input[].arguments", T),
    Field::new("input[].output", T),
    Field::new("input[].input", T),
    Field::new("input[].summary[].text", T),
    Field::new("tools[].description", T),
    Field::new("tools[].parameters", Shape::JsonSchema),
    Field::new("tools[].server_url", T),
    Field::new("tools[].server_label", T),
    Field::new("text.format.schema", Shape::JsonSchema),
    Field::new("text.format.description", T),
    Field::new("prompt.variables", T),
    Field::new("input[].type", Shape::Enum(ITEM_TYPES)),
    Field::new(
        "input[].role",
        Shape::Enum(&["user", "assistant", "system", "developer"]),
    ),
    Field::new("input[].id", ID),
    Field::new("input[].call_id", ID),
    Field::new("input[].name", ID),
    Field::new(
        "input[].status",
        Shape::Enum(&["in_progress", "completed", "incomplete"]),
    ),
    Field::new("input[].encrypted_content", Shape::Opaque),
    Field::new("input[].approval_request_id", ID),
    Field::new("input[].approve", B),
    Field::new(
        "input[].content[].type",
        Shape::Enum(&[
            "input_text",
            "output_text",
            "input_image",
            "input_file",
            "input_audio",
            "refusal",
            "summary_text",
            "reasoning_text",
        ]),
    ),
    Field::new("input[].content[].image_url", media("image")),
    Field::new("input[].content[].file_data", media("file")),
    Field::new("input[].content[].file_url", media("file")),
    Field::new("input[].content[].input_audio", media("audio")),
    Field::new("input[].content[].file_id", ID),
    Field::new(
        "input[].content[].detail",
        Shape::Enum(&["low", "high", "auto"]),
    ),
    Field::new("input[].summary[].type", Shape::Enum(&["summary_text"])),
    Field::new(
        "input[].output[].type",
        Shape::Enum(&["input_text", "input_image", "input_file"]),
    ),
    Field::new("input[].output[].image_url", media("image")),
    Field::new("input[].output[].file_data", media("file")),
    Field::new("max_output_tokens", N),
    Field::new("max_tool_calls", N),
    Field::new("background", B),
    Field::new("previous_response_id", ID),
    Field::new("conversation", ID),
    Field::new("conversation.id", ID),
    Field::new("truncation", Shape::Enum(&["auto", "disabled"])),
    Field::new(
        "include[]",
        Shape::Enum(&[
            "reasoning.encrypted_content",
            "file_search_call.results",
            "web_search_call.results",
            "web_search_call.action.sources",
            "message.input_image.image_url",
            "computer_call_output.output.image_url",
            "code_interpreter_call.outputs",
            "message.output_text.logprobs",
        ]),
    ),
    Field::new(
        "tools[].type",
        Shape::Enum(&[
            "function",
            "custom",
            "file_search",
            "web_search",
            "web_search_preview",
            "computer_use_preview",
            "mcp",
            "code_interpreter",
            "image_generation",
            "local_shell",
        ]),
    ),
    Field::new("tools[].name", ID),
    Field::new("tools[].strict", B),
    Field::new("tools[].headers", Shape::Headers),
    Field::new("tools[].authorization", Shape::Credential),
    Field::new(
        "tools[].require_approval",
        Shape::Enum(&["always", "never"]),
    ),
    Field::new("tools[].connector_id", ID),
    Field::new("tool_choice", Shape::Enum(&["none", "auto", "required"])),
    Field::new(
        "tool_choice.type",
        Shape::Enum(&[
            "function",
            "custom",
            "mcp",
            "allowed_tools",
            "file_search",
            "web_search_preview",
        ]),
    ),
    Field::new("tool_choice.name", ID),
    Field::new(
        "text.format.type",
        Shape::Enum(&["text", "json_schema", "json_object"]),
    ),
    Field::new("text.format.name", ID),
    Field::new("text.format.strict", B),
    Field::new("text.verbosity", Shape::Enum(&["low", "medium", "high"])),
    Field::new(
        "reasoning.effort",
        Shape::Enum(&["none", "minimal", "low", "medium", "high"]),
    ),
    Field::new(
        "reasoning.summary",
        Shape::Enum(&["auto", "concise", "detailed"]),
    ),
    Field::new("prompt.id", ID),
];

/// A media field: its whole value is content that cannot be scanned.
pub(crate) const fn media(kind: &'static str) -> Shape {
    Shape::Media {
        kind,
        text_types: &[],
    }
}

fn schema(parts: &[&[Field]]) -> Schema {
    let fields: Vec<Field> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    Schema::new(&fields)
}

pub static CHAT: LazyLock<Schema> = LazyLock::new(|| schema(&[SAMPLING, CHAT_FIELDS]));
pub static COMPLETIONS: LazyLock<Schema> =
    LazyLock::new(|| schema(&[SAMPLING, COMPLETIONS_FIELDS]));
pub static EMBEDDINGS: LazyLock<Schema> =
    LazyLock::new(|| schema(&[&SAMPLING[..1], EMBEDDINGS_FIELDS]));
pub static RESPONSES: LazyLock<Schema> = LazyLock::new(|| schema(&[SAMPLING, RESPONSES_FIELDS]));

/// Query parameters: Azure's API version and the list endpoints' paging; the rest is
/// scanned.
pub fn query_param(name: &str) -> Param {
    match name {
        "api-version" | "after" | "before" => Param::Shaped(ID),
        "limit" => Param::Shaped(N),
        "order" => Param::Shaped(Shape::Enum(&["asc", "desc"])),
        "stream" => Param::Shaped(Shape::Enum(&["true", "false"])),
        _ => Param::Scan,
    }
}

/// Client headers forwarded besides the common ones (`api::common_header`).
pub fn header(name: &str) -> Param {
    match name {
        "authorization" | "api-key" => Param::Auth,
        "openai-organization" | "openai-project" => Param::Shaped(ID),
        "openai-beta" | "x-mistral-client" => Param::Scan,
        _ => Param::Drop,
    }
}

/// OpenAI's error shape: `{"error":{"message","type","param","code"}}`.
pub fn error_body(class: ErrorClass, code: &str, message: &str) -> Value {
    let kind = match class {
        ErrorClass::InvalidRequest | ErrorClass::TooLarge | ErrorClass::NotFound => {
            "invalid_request_error"
        }
        ErrorClass::Authentication => "authentication_error",
        ErrorClass::Permission => "permission_error",
        ErrorClass::Upstream | ErrorClass::Timeout | ErrorClass::Overloaded => "api_error",
        ErrorClass::RateLimited => "rate_limit_exceeded",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}
