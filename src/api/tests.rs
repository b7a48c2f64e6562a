use serde_json::Value;

use super::*;

#[test]
fn error_bodies_follow_each_provider() {
    let body = |api: Api, status, class| -> Value {
        serde_json::from_slice(&api.error_body(status, class, "c", "m", "id")).unwrap()
    };
    let o = body(Api::Openai, 403, ErrorClass::Permission);
    assert_eq!(o["error"]["message"], "m");
    assert_eq!(o["error"]["code"], "c");
    let a = body(Api::Anthropic, 401, ErrorClass::Authentication);
    assert_eq!(a["type"], "error");
    assert_eq!(a["error"]["type"], "authentication_error");
    assert_eq!(a["request_id"], "id");
    let g = body(Api::Gemini, 404, ErrorClass::NotFound);
    assert_eq!(g["error"]["code"], 404);
    assert_eq!(g["error"]["status"], "NOT_FOUND");
    let l = body(Api::Ollama, 400, ErrorClass::InvalidRequest);
    assert_eq!(l["error"], "m");
}

#[test]
fn endpoints_match_exact_methods_and_paths() {
    let ep = |api, m, p| endpoint(api, m, p).map(|m| m.endpoint);
    assert_eq!(
        ep(Api::Openai, "POST", "/v1/chat/completions"),
        Some(Endpoint::OpenaiChat)
    );
    assert_eq!(
        ep(Api::Openai, "POST", "/chat/completions/"),
        Some(Endpoint::OpenaiChat)
    );
    assert_eq!(ep(Api::Openai, "GET", "/v1/chat/completions"), None);
    assert_eq!(
        ep(Api::Openai, "POST", "/v1/agents/completions"),
        Some(Endpoint::OpenaiChat)
    );
    assert_eq!(ep(Api::Openai, "POST", "/v1/foo/completions"), None);
    assert_eq!(ep(Api::Openai, "POST", "/v1/files"), None);
    assert_eq!(
        ep(Api::Openai, "GET", "/v1/models/gpt-4o"),
        Some(Endpoint::Read)
    );
    assert_eq!(ep(Api::Openai, "HEAD", "/v1/models"), Some(Endpoint::Read));
    assert_eq!(
        ep(Api::Anthropic, "POST", "/v1/messages/count_tokens"),
        Some(Endpoint::AnthropicMessages)
    );
    assert_eq!(ep(Api::Anthropic, "POST", "/v1/complete"), None);
    assert_eq!(
        ep(
            Api::Gemini,
            "POST",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        ),
        Some(Endpoint::Gemini)
    );
    assert_eq!(
        ep(
            Api::Gemini,
            "POST",
            "/v1beta/models/gemini:deleteEverything"
        ),
        None
    );
    assert_eq!(ep(Api::Ollama, "GET", "/api/tags"), Some(Endpoint::Read));
    assert_eq!(ep(Api::Ollama, "POST", "/api/pull"), None);
    assert_eq!(
        ep(Api::Ollama, "POST", "/v1/chat/completions"),
        Some(Endpoint::OpenaiChat)
    );
    assert_eq!(ep(Api::Ollama, "GET", "/"), Some(Endpoint::Read));
}

#[test]
fn path_parameters_are_located_and_shaped() {
    let m = endpoint(
        Api::Gemini,
        "POST",
        "/v1beta/models/gemini-2.5-flash:generateContent",
    )
    .unwrap();
    let path = "/v1beta/models/gemini-2.5-flash:generateContent";
    assert_eq!(m.params.len(), 1);
    let (s, e) = m.params[0];
    assert_eq!(&path[s..e], "gemini-2.5-flash");
    // A parameter with characters no model name has does not match.
    assert!(endpoint(Api::Gemini, "POST", "/v1beta/models/a b:generateContent").is_none());
    assert!(endpoint(Api::Openai, "GET", "/v1/responses/resp_1/input_items").is_some());
}

#[test]
fn every_route_pattern_is_well_formed() {
    for api in Api::ALL {
        for r in api.endpoints() {
            assert!(r.pattern.is_empty() || r.pattern.starts_with('/'), "{r:?}");
            assert!(["GET", "POST", "DELETE"].contains(&r.method), "{r:?}");
            for seg in r.pattern.split('/') {
                if let Some(p) = seg.strip_prefix('{') {
                    let name = p.split('}').next().unwrap();
                    assert!(["model", "id"].contains(&name), "{r:?}");
                }
            }
        }
    }
}

#[test]
fn headers_outside_the_allow_lists_are_dropped() {
    for api in Api::ALL {
        assert_eq!(api.header("x-end-user"), Param::Drop);
        assert_eq!(api.header("cookie"), Param::Drop);
        assert_eq!(api.header("user-agent"), Param::Scan);
        assert_eq!(api.header("x-stainless-lang"), Param::Scan);
    }
    assert_eq!(Api::Openai.header("authorization"), Param::Auth);
    assert_eq!(Api::Openai.header("x-api-key"), Param::Drop);
    assert_eq!(Api::Anthropic.header("x-api-key"), Param::Auth);
    assert_eq!(Api::Gemini.query_param("key"), Param::Auth);
}
