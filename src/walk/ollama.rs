//! Ollama's native API request shapes (`/api/chat`, `/api/generate`, `/api/embed`) and
//! its error format. Ollama's OpenAI-compatible `/v1/...` uses the OpenAI walkers.

use serde_json::{Value, json};

use super::{Visitor, all_strings, each, schema, text, text_or_tokens};

/// `POST /api/chat`.
pub fn chat(body: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(b) = body else { return };
    each(b.get_mut("messages"), |m| {
        text(m.get_mut("content"), v);
        text(m.get_mut("thinking"), v);
        images(m.get_mut("images"), v);
        each(m.get_mut("tool_calls"), |c| {
            if let Some(f) = c.get_mut("function")
                && let Some(a) = f.get_mut("arguments")
            {
                // Ollama sends arguments as an object; a string is JSON text.
                match a {
                    Value::String(s) => {
                        super::json_string(s, v);
                    }
                    other => {
                        all_strings(other, v);
                    }
                }
            }
        });
    });
    each(b.get_mut("tools"), |t| {
        if let Some(f) = t.get_mut("function") {
            text(f.get_mut("description"), v);
            schema(f.get_mut("parameters"), v);
        }
    });
    schema(b.get_mut("format"), v);
}

/// `POST /api/generate`. Its `context` holds token ids of an earlier answer, which
/// Ollama computed from pseudonymised text: it goes on as it is.
pub fn generate(body: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(b) = body else { return };
    text(b.get_mut("prompt"), v);
    text(b.get_mut("suffix"), v);
    text(b.get_mut("system"), v);
    text(b.get_mut("template"), v);
    images(b.get_mut("images"), v);
    schema(b.get_mut("format"), v);
}

/// `POST /api/embed` (`input`) and the older `/api/embeddings` (`prompt`).
pub fn embed(body: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(b) = body else { return };
    text_or_tokens(b.get_mut("input"), v);
    text(b.get_mut("prompt"), v);
}

fn images(i: Option<&mut Value>, v: &mut dyn Visitor) {
    match i {
        Some(Value::Array(a)) if !a.is_empty() => v.media("image"),
        Some(Value::String(_)) => v.media("image"),
        _ => {}
    }
}

/// Ollama's error shape: `{"error": "..."}`.
pub fn error_body(message: &str) -> Value {
    json!({ "error": message })
}
