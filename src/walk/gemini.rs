//! Gemini's `generateContent` family of request shapes and its error format.

use serde_json::{Value, json};

use super::{ErrorClass, Visitor, all_strings, each, schema, text, unknown_part};

/// `models/*:generateContent`, `:streamGenerateContent`, `:countTokens`,
/// `:embedContent`, `:batchEmbedContents`.
pub fn request(body: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(b) = body else { return };
    each(b.get_mut("contents"), |c| content(c, v));
    if let Some(c) = b.get_mut("systemInstruction") {
        content(c, v);
    }
    if let Some(c) = b.get_mut("system_instruction") {
        content(c, v);
    }
    if let Some(c) = b.get_mut("content") {
        content(c, v);
    }
    each(b.get_mut("tools"), |t| {
        for key in ["functionDeclarations", "function_declarations"] {
            each(t.get_mut(key), |f| {
                text(f.get_mut("description"), v);
                schema(f.get_mut("parameters"), v);
                schema(f.get_mut("parametersJsonSchema"), v);
            });
        }
    });
    if let Some(g) = b.get_mut("generationConfig") {
        schema(g.get_mut("responseSchema"), v);
        schema(g.get_mut("responseJsonSchema"), v);
    }
    if let Some(r) = b.get_mut("generateContentRequest") {
        request(r, v);
    }
    each(b.get_mut("requests"), |r| request(r, v));
}

/// A `Content`: `{"role", "parts": [...]}`.
fn content(c: &mut Value, v: &mut dyn Visitor) {
    each(c.get_mut("parts"), |p| part(p, v));
}

fn part(p: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(map) = p else { return };
    for (k, item) in map.iter_mut() {
        match k.as_str() {
            "text" => {
                if let Value::String(s) = item {
                    v.text(s);
                }
            }
            "inlineData" | "inline_data" | "fileData" | "file_data" => v.media("file"),
            "functionCall" | "function_call" => {
                if let Some(a) = item.get_mut("args") {
                    all_strings(a, v);
                }
            }
            "functionResponse" | "function_response" => {
                if let Some(r) = item.get_mut("response") {
                    all_strings(r, v);
                }
            }
            "executableCode" | "executable_code" => {
                text(item.get_mut("code"), v);
            }
            "codeExecutionResult" | "code_execution_result" => {
                text(item.get_mut("output"), v);
            }
            // Metadata about the part, not text the model reads.
            "thought" | "thoughtSignature" | "thought_signature" | "videoMetadata"
            | "partMetadata" => {}
            _ => {
                unknown_part(item, v);
            }
        }
    }
}

/// Gemini's (Google APIs') error shape: `{"error":{"code","message","status"}}`.
pub fn error_body(status: u16, class: ErrorClass, message: &str) -> Value {
    let s = match class {
        ErrorClass::InvalidRequest | ErrorClass::TooLarge => "INVALID_ARGUMENT",
        ErrorClass::Authentication => "UNAUTHENTICATED",
        ErrorClass::Permission => "PERMISSION_DENIED",
        ErrorClass::NotFound => "NOT_FOUND",
        ErrorClass::Upstream => "UNAVAILABLE",
        ErrorClass::Timeout => "DEADLINE_EXCEEDED",
    };
    json!({"error": {"code": status, "message": message, "status": s}})
}
