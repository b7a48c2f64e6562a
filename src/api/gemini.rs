//! Gemini's API (`generateContent` and its family): endpoints, the structural fields,
//! query parameters, headers, and the error format.
//!
//! Formats read from the official `google-genai` SDK (`google/genai/types.py`). Gemini's
//! JSON accepts each field in lowerCamelCase and in snake_case: the schema accepts both,
//! and a key differing from either only by case is refused. Anything not listed is text:
//! `cachedContent`, `labels`, stop sequences, function arguments and responses, fields
//! added after this table was written.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::{Endpoint, ErrorClass, Param, Route};
use crate::walk::{Schema, Shape};

macro_rules! versions {
    ($( $method:literal $path:literal => $endpoint:ident ),* $(,)?) => {
        [
            $(
                Route::new($method, concat!("/v1beta", $path), Endpoint::$endpoint),
                Route::new($method, concat!("/v1", $path), Endpoint::$endpoint),
                Route::new($method, concat!("/v1alpha", $path), Endpoint::$endpoint),
            )*
        ]
    };
}

/// The endpoint table.
pub const ENDPOINTS: [Route; 24] = versions! {
    "POST" "/models/{model}:generateContent" => Gemini,
    "POST" "/models/{model}:streamGenerateContent" => Gemini,
    "POST" "/models/{model}:countTokens" => Gemini,
    "POST" "/models/{model}:embedContent" => Gemini,
    "POST" "/models/{model}:batchEmbedContents" => Gemini,
    "POST" "/tunedModels/{model}:generateContent" => Gemini,
    "GET" "/models" => Read,
    "GET" "/models/{model}" => Read,
};

const PART: &[(&str, Shape)] = &[
    ("text", Shape::Text),
    ("functionCall.args", Shape::Text),
    ("functionResponse.response", Shape::Text),
    (
        "inlineData",
        Shape::Media {
            kind: "file",
            text_types: &[],
        },
    ),
    (
        "fileData",
        Shape::Media {
            kind: "file",
            text_types: &[],
        },
    ),
    ("functionCall.id", Shape::Id),
    ("functionCall.name", Shape::Id),
    ("functionResponse.id", Shape::Id),
    ("functionResponse.name", Shape::Id),
    ("functionResponse.willContinue", Shape::Bool),
    (
        "functionResponse.scheduling",
        Shape::Enum(&["SILENT", "WHEN_IDLE", "INTERRUPT"]),
    ),
    ("thought", Shape::Bool),
    ("thoughtSignature", Shape::Opaque),
    (
        "executableCode.language",
        Shape::Enum(&["PYTHON", "LANGUAGE_UNSPECIFIED"]),
    ),
    (
        "codeExecutionResult.outcome",
        Shape::Enum(&[
            "OUTCOME_OK",
            "OUTCOME_FAILED",
            "OUTCOME_DEADLINE_EXCEEDED",
            "OUTCOME_UNSPECIFIED",
        ]),
    ),
    ("videoMetadata.fps", Shape::Number),
];

const ROLES: Shape = Shape::Enum(&["user", "model", "function", "tool", "system"]);

const REQUEST: &[(&str, Shape)] = &[
    ("model", Shape::Model),
    ("tools[].functionDeclarations[].name", Shape::Id),
    ("tools[].functionDeclarations[].description", Shape::Text),
    (
        "tools[].functionDeclarations[].parameters",
        Shape::JsonSchema,
    ),
    (
        "tools[].functionDeclarations[].parametersJsonSchema",
        Shape::JsonSchema,
    ),
    ("generationConfig.stopSequences", Shape::Text),
    ("generationConfig.responseSchema", Shape::JsonSchema),
    ("generationConfig.responseJsonSchema", Shape::JsonSchema),
    ("cachedContent", Shape::Text),
    ("labels", Shape::Text),
    ("title", Shape::Text),
    (
        "tools[].functionDeclarations[].behavior",
        Shape::Enum(&["BLOCKING", "NON_BLOCKING", "UNSPECIFIED"]),
    ),
    (
        "toolConfig.functionCallingConfig.mode",
        Shape::Enum(&["AUTO", "ANY", "NONE", "VALIDATED", "MODE_UNSPECIFIED"]),
    ),
    (
        "toolConfig.functionCallingConfig.allowedFunctionNames[]",
        Shape::Id,
    ),
    ("safetySettings[].category", Shape::Id),
    ("safetySettings[].threshold", Shape::Id),
    ("safetySettings[].method", Shape::Id),
    ("generationConfig.temperature", Shape::Number),
    ("generationConfig.topP", Shape::Number),
    ("generationConfig.topK", Shape::Number),
    ("generationConfig.candidateCount", Shape::Number),
    ("generationConfig.maxOutputTokens", Shape::Number),
    ("generationConfig.presencePenalty", Shape::Number),
    ("generationConfig.frequencyPenalty", Shape::Number),
    ("generationConfig.seed", Shape::Number),
    ("generationConfig.logprobs", Shape::Number),
    ("generationConfig.responseLogprobs", Shape::Bool),
    ("generationConfig.enableEnhancedCivicAnswers", Shape::Bool),
    (
        "generationConfig.responseMimeType",
        Shape::Enum(&["text/plain", "application/json", "text/x.enum"]),
    ),
    (
        "generationConfig.responseModalities[]",
        Shape::Enum(&["TEXT", "IMAGE", "AUDIO"]),
    ),
    (
        "generationConfig.thinkingConfig.thinkingBudget",
        Shape::Number,
    ),
    (
        "generationConfig.thinkingConfig.includeThoughts",
        Shape::Bool,
    ),
    (
        "generationConfig.thinkingConfig.thinkingLevel",
        Shape::Enum(&["LOW", "MEDIUM", "HIGH", "THINKING_LEVEL_UNSPECIFIED"]),
    ),
    ("generationConfig.mediaResolution", Shape::Id),
    ("taskType", Shape::Id),
    ("outputDimensionality", Shape::Number),
];

/// Every structural field of a `generateContent`-family request, at every place a
/// request can nest (`countTokens`' `generateContentRequest`, the batch's `requests[]`).
pub fn fields() -> Vec<(String, Shape)> {
    let mut one = Vec::new();
    for (p, s) in REQUEST {
        one.push(((*p).to_owned(), *s));
    }
    for content in ["contents[]", "systemInstruction", "content"] {
        one.push((format!("{content}.role"), ROLES));
        for (p, s) in PART {
            one.push((format!("{content}.parts[].{p}"), *s));
        }
    }
    let mut out = one.clone();
    for prefix in ["generateContentRequest", "requests[]"] {
        out.extend(one.iter().map(|(p, s)| (format!("{prefix}.{p}"), *s)));
    }
    out
}

pub static GENERATE: LazyLock<Schema> = LazyLock::new(|| Schema::with_snake_case(fields()));

/// An assistant profile's system prompt, first: a text part in front of
/// `systemInstruction`'s parts (or of `system_instruction`'s, the snake-case spelling),
/// or a new `systemInstruction`. Only in requests with `contents` (generation and
/// token counts, not embeddings).
pub fn prepend_system(walked: &mut crate::walk::Walked, prompt: &str) -> bool {
    use crate::walk::{Json, MemberKind};
    if walked.kind_at(&["contents"]) != Some(MemberKind::Array) {
        return false;
    }
    let part = Json::Object(vec![("text".to_owned(), Json::String(prompt.to_owned()))]);
    for key in ["systemInstruction", "system_instruction"] {
        if walked.kind_at(&[key]) == Some(MemberKind::Object) {
            return walked.insert_at(&[key, "parts"], 0, part);
        }
    }
    walked.set_top_level(
        "systemInstruction",
        Json::Object(vec![("parts".to_owned(), Json::Array(vec![part]))]),
    );
    true
}

/// Query parameters: `alt` (`sse` asks for server-sent events), the key (checked by the
/// key logic), the model list's paging.
pub fn query_param(name: &str) -> Param {
    match name {
        "key" => Param::Auth,
        "alt" | "$alt" => Param::Shaped(Shape::Enum(&["sse", "json", "proto"])),
        "pageSize" => Param::Shaped(Shape::Number),
        "pageToken" => Param::Shaped(Shape::Opaque),
        _ => Param::Scan,
    }
}

/// Client headers forwarded besides the common ones.
pub fn header(name: &str) -> Param {
    match name {
        "x-goog-api-key" | "authorization" => Param::Auth,
        "x-goog-api-client" | "x-goog-user-project" => Param::Scan,
        _ => Param::Drop,
    }
}

/// Gemini's (Google APIs') error shape: `{"error":{"code","message","status"}}`.
pub fn error_body(status: u16, class: ErrorClass, message: &str) -> Value {
    let s = match class {
        ErrorClass::InvalidRequest | ErrorClass::TooLarge => "INVALID_ARGUMENT",
        ErrorClass::Authentication => "UNAUTHENTICATED",
        ErrorClass::Permission => "PERMISSION_DENIED",
        ErrorClass::NotFound => "NOT_FOUND",
        ErrorClass::Upstream | ErrorClass::Overloaded => "UNAVAILABLE",
        ErrorClass::RateLimited => "RESOURCE_EXHAUSTED",
        ErrorClass::Timeout => "DEADLINE_EXCEEDED",
    };
    json!({"error": {"code": status, "message": message, "status": s}})
}
