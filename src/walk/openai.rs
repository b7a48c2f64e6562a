//! OpenAI's request shapes (chat completions, legacy completions, embeddings, Responses),
//! spoken also by Mistral and the OpenAI-compatible servers, and OpenAI's error format.

use serde_json::{Value, json};

use super::{
    ErrorClass, Visitor, each, json_text, schema, string_values, text, text_or_tokens, unknown_part,
};

/// `POST /v1/chat/completions`.
pub fn chat(body: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(b) = body else { return };
    each(b.get_mut("messages"), |m| chat_message(m, v));
    each(b.get_mut("tools"), |t| {
        if let Some(f) = t.get_mut("function") {
            function_def(f, v);
        } else {
            // Custom tools: `{"type":"custom","custom":{"name","description"}}`.
            if let Some(c) = t.get_mut("custom") {
                text(c.get_mut("description"), v);
            }
        }
    });
    each(b.get_mut("functions"), |f| function_def(f, v));
    if let Some(rf) = b.get_mut("response_format")
        && let Some(js) = rf.get_mut("json_schema")
    {
        text(js.get_mut("description"), v);
        schema(js.get_mut("schema"), v);
    }
    if let Some(p) = b.get_mut("prediction") {
        content(p.get_mut("content"), v);
    }
    common(b, v);
}

fn chat_message(m: &mut Value, v: &mut dyn Visitor) {
    content(m.get_mut("content"), v);
    text(m.get_mut("name"), v);
    text(m.get_mut("refusal"), v);
    each(m.get_mut("tool_calls"), |c| {
        if let Some(f) = c.get_mut("function") {
            json_text(f.get_mut("arguments"), v);
        }
        if let Some(c) = c.get_mut("custom") {
            text(c.get_mut("input"), v);
        }
    });
    if let Some(f) = m.get_mut("function_call") {
        json_text(f.get_mut("arguments"), v);
    }
}

/// A message's `content`: a string, or an array of parts.
fn content(c: Option<&mut Value>, v: &mut dyn Visitor) {
    match c {
        Some(Value::String(s)) => {
            v.text(s);
        }
        Some(Value::Array(parts)) => {
            for p in parts {
                part(p, v);
            }
        }
        _ => {}
    }
}

fn part(p: &mut Value, v: &mut dyn Visitor) {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" | "input_text" | "output_text" => {
            text(p.get_mut("text"), v);
        }
        "refusal" => {
            text(p.get_mut("refusal"), v);
        }
        "image_url" | "input_image" => v.media("image"),
        "input_audio" | "audio" => v.media("audio"),
        "file" | "input_file" => v.media("file"),
        _ => {
            unknown_part(p, v);
        }
    }
}

fn function_def(f: &mut Value, v: &mut dyn Visitor) {
    text(f.get_mut("description"), v);
    schema(f.get_mut("parameters"), v);
}

/// Fields every OpenAI request may carry that identify the end user.
fn common(b: &mut serde_json::Map<String, Value>, v: &mut dyn Visitor) {
    text(b.get_mut("user"), v);
    text(b.get_mut("safety_identifier"), v);
    string_values(b.get_mut("metadata"), v);
}

/// `POST /v1/completions`: `prompt` (string, strings or token ids) and `suffix`.
pub fn completions(body: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(b) = body else { return };
    text_or_tokens(b.get_mut("prompt"), v);
    text(b.get_mut("suffix"), v);
    common(b, v);
}

/// `POST /v1/embeddings`: `input` (string, strings or token ids).
pub fn embeddings(body: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(b) = body else { return };
    text_or_tokens(b.get_mut("input"), v);
    common(b, v);
}

/// `POST /v1/responses`: `instructions` and `input` (a string or items).
pub fn responses(body: &mut Value, v: &mut dyn Visitor) {
    let Value::Object(b) = body else { return };
    text(b.get_mut("instructions"), v);
    match b.get_mut("input") {
        Some(Value::String(s)) => {
            v.text(s);
        }
        Some(Value::Array(items)) => {
            for item in items {
                response_item(item, v);
            }
        }
        _ => {}
    }
    each(b.get_mut("tools"), |t| {
        text(t.get_mut("description"), v);
        schema(t.get_mut("parameters"), v);
    });
    if let Some(t) = b.get_mut("text")
        && let Some(f) = t.get_mut("format")
    {
        text(f.get_mut("description"), v);
        schema(f.get_mut("schema"), v);
    }
    if let Some(p) = b.get_mut("prompt")
        && let Some(Value::Object(vars)) = p.get_mut("variables")
    {
        {
            for (_, var) in vars.iter_mut() {
                match var {
                    Value::String(s) => {
                        v.text(s);
                    }
                    other => part(other, v),
                }
            }
        }
    }
    common(b, v);
}

fn response_item(item: &mut Value, v: &mut dyn Visitor) {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => content(item.get_mut("content"), v),
        "function_call" => {
            json_text(item.get_mut("arguments"), v);
        }
        "function_call_output" => match item.get_mut("output") {
            Some(Value::String(s)) => {
                v.text(s);
            }
            Some(Value::Array(parts)) => parts.iter_mut().for_each(|p| part(p, v)),
            _ => {}
        },
        "custom_tool_call" => {
            text(item.get_mut("input"), v);
        }
        "custom_tool_call_output" => {
            text(item.get_mut("output"), v);
        }
        "reasoning" => {
            each(item.get_mut("summary"), |s| {
                text(s.get_mut("text"), v);
            });
            each(item.get_mut("content"), |s| {
                text(s.get_mut("text"), v);
            });
        }
        "item_reference" => {}
        _ => {
            unknown_part(item, v);
        }
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
        ErrorClass::Upstream | ErrorClass::Timeout => "api_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}
