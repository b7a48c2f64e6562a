//! Anthropic's Messages API request shape and error format.

use serde_json::{Value, json};

use super::{ErrorClass, Visitor, all_strings, each, schema, string_values, text, unknown_part};

/// `POST /v1/messages` (and `/v1/messages/count_tokens`).
pub fn messages(body: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(b) = body else { return };
    content(b.get_mut("system"), v);
    each(b.get_mut("messages"), |m| content(m.get_mut("content"), v));
    each(b.get_mut("tools"), |t| {
        text(t.get_mut("description"), v);
        schema(t.get_mut("input_schema"), v);
    });
    string_values(b.get_mut("metadata"), v);
}

/// A `content` (or `system`): a string, or content blocks.
fn content(c: Option<&mut Value>, v: &mut dyn Visitor) {
    match c {
        Some(Value::String(s)) => {
            v.text(s);
        }
        Some(Value::Array(blocks)) => {
            for b in blocks {
                block(b, v);
            }
        }
        _ => {}
    }
}

fn block(b: &mut Value, v: &mut dyn Visitor) {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" => {
            text(b.get_mut("text"), v);
        }
        "image" => v.media("image"),
        "document" => {
            let is_text = b
                .get("source")
                .and_then(|s| s.get("type"))
                .and_then(Value::as_str)
                == Some("text");
            if is_text {
                if let Some(s) = b.get_mut("source") {
                    text(s.get_mut("data"), v);
                }
                text(b.get_mut("title"), v);
                text(b.get_mut("context"), v);
            } else {
                v.media("file");
            }
        }
        "tool_use" | "server_tool_use" => {
            if let Some(input) = b.get_mut("input") {
                all_strings(input, v);
            }
        }
        "tool_result" => content(b.get_mut("content"), v),
        "thinking" => {
            // Changing a thinking block invalidates its signature, and the API may then
            // refuse the request; leaking what it quotes would be worse.
            text(b.get_mut("thinking"), v);
        }
        "redacted_thinking" => {}
        "search_result" => {
            text(b.get_mut("title"), v);
            content(b.get_mut("content"), v);
        }
        _ => {
            unknown_part(b, v);
        }
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
    };
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id})
}
