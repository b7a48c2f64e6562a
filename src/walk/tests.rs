use serde_json::{Value, json};

use super::*;

/// Records every slot and marks it, so tests see both what was visited and that the
/// change landed in the right place.
#[derive(Default)]
struct Marker {
    seen: Vec<String>,
    media: Vec<&'static str>,
}

impl Visitor for Marker {
    fn text(&mut self, text: &mut String) -> bool {
        self.seen.push(text.clone());
        text.insert(0, '§');
        true
    }

    fn media(&mut self, kind: &'static str) {
        self.media.push(kind);
    }
}

fn visit(endpoint: Endpoint, mut body: Value) -> (Marker, Value) {
    let mut m = Marker::default();
    walk_request(endpoint, &mut body, &mut m);
    (m, body)
}

#[test]
fn openai_chat_slots() {
    let (m, body) = visit(
        Endpoint::OpenaiChat,
        json!({"model": "gpt", "user": "u1", "messages": [
            {"role": "system", "content": "s1"},
            {"role": "developer", "content": [{"type": "text", "text": "d1"}]},
            {"role": "user", "name": "n1", "content": [{"type": "text", "text": "t1"},
                {"type": "image_url", "image_url": {"url": "data:"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\":\"x1\",\"b\":[\"x2\"]}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "r1"}],
            "tools": [{"type": "function", "function": {"name": "f", "description": "fd",
                "parameters": {"type": "object", "properties": {"a": {"type": "string", "description": "pd"}}}}}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"description": "sd"}}}}),
    );
    for s in [
        "s1", "d1", "n1", "t1", "x1", "x2", "r1", "fd", "pd", "sd", "u1",
    ] {
        assert!(
            m.seen.iter().any(|x| x == s),
            "{s} not visited: {:?}",
            m.seen
        );
    }
    assert!(!m.seen.iter().any(|x| x == "gpt" || x == "f" || x == "c"));
    assert_eq!(m.media, vec!["image"]);
    let args = body["messages"][3]["tool_calls"][0]["function"]["arguments"]
        .as_str()
        .unwrap();
    let args: Value = serde_json::from_str(args).unwrap();
    assert_eq!(args, json!({"a": "§x1", "b": ["§x2"]}));
}

#[test]
fn tool_arguments_that_are_not_json_are_scanned_as_text() {
    let (m, body) = visit(
        Endpoint::OpenaiChat,
        json!({"messages": [{"role": "assistant", "tool_calls": [
            {"function": {"name": "f", "arguments": "{broken x1"}}]}]}),
    );
    assert_eq!(m.seen, vec!["{broken x1"]);
    assert_eq!(
        body["messages"][0]["tool_calls"][0]["function"]["arguments"],
        "§{broken x1"
    );
}

#[test]
fn openai_completions_embeddings_and_token_ids() {
    let (m, _) = visit(
        Endpoint::OpenaiCompletions,
        json!({"prompt": ["p1", "p2"], "suffix": "s1"}),
    );
    assert_eq!(m.seen, vec!["p1", "p2", "s1"]);
    let (m, _) = visit(Endpoint::OpenaiEmbeddings, json!({"input": "e1"}));
    assert_eq!(m.seen, vec!["e1"]);
    let (m, _) = visit(Endpoint::OpenaiEmbeddings, json!({"input": [1, 2, 3]}));
    assert!(m.media.contains(&"token ids"));
}

#[test]
fn openai_responses_slots() {
    let (m, _) = visit(
        Endpoint::OpenaiResponses,
        json!({"instructions": "i1", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "t1"},
                {"type": "input_file", "file_id": "f"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "o1"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{\"a\":\"a1\"}"},
            {"type": "function_call_output", "call_id": "c", "output": "r1"},
            {"type": "some_future_item", "id": "x", "payload": {"note": "u1"}}],
            "tools": [{"type": "function", "name": "f", "description": "fd"}]}),
    );
    for s in ["i1", "t1", "o1", "a1", "r1", "u1", "fd"] {
        assert!(m.seen.iter().any(|x| x == s), "{s}: {:?}", m.seen);
    }
    assert!(!m.seen.iter().any(|x| x == "x" || x == "c"));
    assert_eq!(m.media, vec!["file"]);
    let (m, _) = visit(Endpoint::OpenaiResponses, json!({"input": "plain"}));
    assert_eq!(m.seen, vec!["plain"]);
}

#[test]
fn anthropic_slots() {
    let (m, _) = visit(
        Endpoint::AnthropicMessages,
        json!({"system": [{"type": "text", "text": "s1"}], "metadata": {"user_id": "u1"},
            "messages": [
            {"role": "user", "content": "m1"},
            {"role": "assistant", "content": [{"type": "text", "text": "t1"},
                {"type": "tool_use", "id": "tu", "name": "f", "input": {"a": "a1", "n": 3}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu",
                "content": [{"type": "text", "text": "r1"}]},
                {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
                {"type": "document", "source": {"type": "text", "data": "doc1"}}]}],
            "tools": [{"name": "f", "description": "fd", "input_schema": {"type": "object"}}]}),
    );
    for s in ["s1", "u1", "m1", "t1", "a1", "r1", "doc1", "fd"] {
        assert!(m.seen.iter().any(|x| x == s), "{s}: {:?}", m.seen);
    }
    assert_eq!(m.media, vec!["image"]);
}

#[test]
fn gemini_slots() {
    let (m, _) = visit(
        Endpoint::Gemini,
        json!({"systemInstruction": {"parts": [{"text": "s1"}]},
            "contents": [{"role": "user", "parts": [{"text": "t1"},
                {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": "a1"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": "r1"}}}]}],
            "tools": [{"functionDeclarations": [{"name": "f", "description": "fd"}]}]}),
    );
    for s in ["s1", "t1", "a1", "r1", "fd"] {
        assert!(m.seen.iter().any(|x| x == s), "{s}: {:?}", m.seen);
    }
    assert_eq!(m.media, vec!["file"]);
}

#[test]
fn ollama_slots() {
    let (m, _) = visit(
        Endpoint::OllamaChat,
        json!({"messages": [{"role": "user", "content": "c1", "images": ["AAAA"]},
            {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": "a1"}}}]}]}),
    );
    for s in ["c1", "a1"] {
        assert!(m.seen.iter().any(|x| x == s), "{s}: {:?}", m.seen);
    }
    assert_eq!(m.media, vec!["image"]);
    let (m, _) = visit(
        Endpoint::OllamaGenerate,
        json!({"prompt": "p1", "system": "s1", "context": [1, 2, 3]}),
    );
    assert_eq!(m.seen, vec!["p1", "s1"]);
    assert!(m.media.is_empty());
}

#[test]
fn responses_are_walked_everywhere_with_json_strings_decoded() {
    let mut body = json!({"choices": [{"message": {"content": "c", "tool_calls": [
        {"function": {"name": "n", "arguments": "{\"a\":\"x\"}"}}]}}], "id": "i"});
    let mut m = Marker::default();
    assert!(walk_response(&mut body, &mut m));
    assert_eq!(body["choices"][0]["message"]["content"], "§c");
    let args: Value = serde_json::from_str(
        body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(args["a"], "§x");
}

#[test]
fn error_bodies_follow_each_provider() {
    let o: Value = serde_json::from_slice(&error_body(
        ErrorFormat::Openai,
        403,
        ErrorClass::Permission,
        "c",
        "m",
        "id",
    ))
    .unwrap();
    assert_eq!(o["error"]["message"], "m");
    assert_eq!(o["error"]["code"], "c");
    let a: Value = serde_json::from_slice(&error_body(
        ErrorFormat::Anthropic,
        401,
        ErrorClass::Authentication,
        "c",
        "m",
        "id",
    ))
    .unwrap();
    assert_eq!(a["type"], "error");
    assert_eq!(a["error"]["type"], "authentication_error");
    let g: Value = serde_json::from_slice(&error_body(
        ErrorFormat::Gemini,
        404,
        ErrorClass::NotFound,
        "c",
        "m",
        "id",
    ))
    .unwrap();
    assert_eq!(g["error"]["code"], 404);
    assert_eq!(g["error"]["status"], "NOT_FOUND");
    let l: Value = serde_json::from_slice(&error_body(
        ErrorFormat::Ollama,
        400,
        ErrorClass::InvalidRequest,
        "c",
        "m",
        "id",
    ))
    .unwrap();
    assert_eq!(l["error"], "m");
}
