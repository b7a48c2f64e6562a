//! Routing: method and path to a provider and, when Paravent knows the request shape, an
//! [`Endpoint`]. `/<provider>/rest` goes to that provider with `rest` appended to its
//! `base_url`; `/v1/rest` goes to the default provider as `/v1/rest`.

use http::{Method, Uri};

use crate::config::{ApiKind, Config, ProviderConfig};
use crate::walk::Endpoint;

/// Where one request goes.
#[derive(Debug)]
pub struct Route<'a> {
    pub provider: &'a ProviderConfig,
    /// The path after the provider prefix, starting with `/` (may be empty).
    pub rest: &'a str,
    /// The request shape, when a walker knows it.
    pub endpoint: Option<Endpoint>,
}

/// Resolves `path` (without query).
pub fn route<'a>(config: &'a Config, method: &Method, path: &'a str) -> Option<Route<'a>> {
    let (provider, rest) = if path == "/v1" || path.starts_with("/v1/") {
        let name = config.server.default_provider.as_deref()?;
        (config.providers.get(name)?, path)
    } else {
        let trimmed = path.strip_prefix('/')?;
        let (name, rest) = match trimmed.find('/') {
            Some(i) => (&trimmed[..i], &trimmed[i..]),
            None => (trimmed, ""),
        };
        (config.providers.get(name)?, rest)
    };
    Some(Route {
        provider,
        rest,
        endpoint: endpoint(provider.api, method, rest),
    })
}

/// The request shape of `method` + `path` on a provider speaking `api`.
pub fn endpoint(api: ApiKind, method: &Method, path: &str) -> Option<Endpoint> {
    if method != Method::POST {
        return None;
    }
    let path = path.trim_end_matches('/');
    let openai = || {
        if path.ends_with("/chat/completions") {
            Some(Endpoint::OpenaiChat)
        } else if path.ends_with("/completions") {
            Some(Endpoint::OpenaiCompletions)
        } else if path.ends_with("/embeddings") {
            Some(Endpoint::OpenaiEmbeddings)
        } else if path.ends_with("/responses") || path.ends_with("/responses/input_tokens") {
            Some(Endpoint::OpenaiResponses)
        } else {
            None
        }
    };
    match api {
        ApiKind::Openai => openai(),
        ApiKind::Anthropic => (path.ends_with("/messages")
            || path.ends_with("/messages/count_tokens"))
        .then_some(Endpoint::AnthropicMessages),
        ApiKind::Gemini => {
            let last = path.rsplit('/').next().unwrap_or("");
            let method = last.rsplit_once(':').map(|(_, m)| m);
            matches!(
                method,
                Some(
                    "generateContent"
                        | "streamGenerateContent"
                        | "countTokens"
                        | "embedContent"
                        | "batchEmbedContents"
                )
            )
            .then_some(Endpoint::Gemini)
        }
        ApiKind::Ollama => match path {
            "/api/chat" => Some(Endpoint::OllamaChat),
            "/api/generate" => Some(Endpoint::OllamaGenerate),
            "/api/embed" | "/api/embeddings" => Some(Endpoint::OllamaEmbed),
            // Ollama also serves the OpenAI API under /v1.
            _ if path.starts_with("/v1/") => openai(),
            _ => None,
        },
    }
}

/// The upstream URI: the provider's `base_url`, then `rest`, then `query`.
pub fn upstream_uri(base: &Uri, rest: &str, query: Option<&str>) -> Option<Uri> {
    let prefix = base.path().trim_end_matches('/');
    let mut pq = String::with_capacity(prefix.len() + rest.len() + 64);
    pq.push_str(prefix);
    pq.push_str(rest);
    if pq.is_empty() {
        pq.push('/');
    }
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        pq.push('?');
        pq.push_str(q);
    }
    Uri::builder()
        .scheme(base.scheme()?.clone())
        .authority(base.authority()?.clone())
        .path_and_query(pq)
        .build()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_to_providers_and_endpoints() {
        let cfg = Config::load(None).unwrap();
        let post = Method::POST;
        let r = route(&cfg, &post, "/v1/chat/completions").unwrap();
        assert_eq!(r.provider.name, "openai");
        assert_eq!(r.rest, "/v1/chat/completions");
        assert_eq!(r.endpoint, Some(Endpoint::OpenaiChat));
        let r = route(&cfg, &post, "/anthropic/v1/messages").unwrap();
        assert_eq!(
            (r.provider.name.as_str(), r.rest),
            ("anthropic", "/v1/messages")
        );
        assert_eq!(r.endpoint, Some(Endpoint::AnthropicMessages));
        let r = route(
            &cfg,
            &post,
            "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
        );
        assert_eq!(r.unwrap().endpoint, Some(Endpoint::Gemini));
        let r = route(&cfg, &post, "/ollama/api/chat").unwrap();
        assert_eq!(r.endpoint, Some(Endpoint::OllamaChat));
        let r = route(&cfg, &post, "/mistral/v1/fim/completions").unwrap();
        assert_eq!(r.endpoint, Some(Endpoint::OpenaiCompletions));
        assert!(route(&cfg, &post, "/nope/v1/chat/completions").is_none());
        let r = route(&cfg, &Method::GET, "/openai/v1/models").unwrap();
        assert_eq!(r.endpoint, None);
        let r = route(&cfg, &post, "/openai/v1/audio/transcriptions").unwrap();
        assert_eq!(r.endpoint, None);
    }

    #[test]
    fn upstream_uri_keeps_prefix_and_query() {
        let base: Uri = "https://example.test/proxy".parse().unwrap();
        let u = upstream_uri(&base, "/v1/x", Some("a=1")).unwrap();
        assert_eq!(u.to_string(), "https://example.test/proxy/v1/x?a=1");
        let base: Uri = "http://127.0.0.1:9".parse().unwrap();
        assert_eq!(
            upstream_uri(&base, "", None).unwrap().to_string(),
            "http://127.0.0.1:9/"
        );
    }
}
