//! Routing: method and path to a provider and, when its API's endpoint table knows the
//! request, an [`Endpoint`]. `/<provider>/rest` goes to that provider with `rest`
//! appended to its `base_url`; `/v1/rest` goes to the default provider as `/v1/rest`.
//!
//! A path that could leave the provider's base path is refused before anything else:
//! `.` or `..` segments, empty segments, backslashes, and percent-escapes other than of
//! characters that need none (an encoded `/`, `\`, `.` or `%` is refused).

use http::Uri;

use crate::api::{self, Endpoint, Matched};
use crate::config::{Config, ProviderConfig};

/// Where one request goes.
#[derive(Debug)]
pub struct Route<'a> {
    pub provider: &'a ProviderConfig,
    /// The path after the provider prefix, starting with `/` (may be empty).
    pub rest: &'a str,
    /// The endpoint, when the API's table knows it.
    pub matched: Option<Matched>,
}

impl Route<'_> {
    pub fn endpoint(&self) -> Option<Endpoint> {
        self.matched.as_ref().map(|m| m.endpoint)
    }
}

/// Why a path was not routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the path could leave the provider's base path")]
    UnsafePath,
    #[error("no provider is declared for this path")]
    UnknownProvider,
}

/// `path` with its harmless percent-escapes decoded (`%3A` in a Gemini model path), when
/// it stays under any base path it is appended to.
///
/// # Errors
/// [`RouteError::UnsafePath`].
pub fn safe_path(path: &str) -> Result<std::borrow::Cow<'_, str>, RouteError> {
    if !is_safe_path(path) {
        return Err(RouteError::UnsafePath);
    }
    if !path.contains('%') {
        return Ok(path.into());
    }
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            // Checked by `is_safe_path`: two hex digits follow.
            let h = (b[i + 1] as char).to_digit(16).unwrap_or(0);
            let l = (b[i + 2] as char).to_digit(16).unwrap_or(0);
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    // Only ASCII escapes were allowed, so this stays UTF-8.
    String::from_utf8(out)
        .map(Into::into)
        .map_err(|_| RouteError::UnsafePath)
}

/// Is `path` one that stays under any base path it is appended to?
pub fn is_safe_path(path: &str) -> bool {
    if path.contains('\\') || path.contains("//") {
        return false;
    }
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| (c as char).to_digit(16);
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return false;
            };
            let c = (h * 16 + l) as u8;
            // Only escapes of characters that are harmless in a segment.
            if !(c.is_ascii_alphanumeric() || b":@-_~+!$&'()*,;= ".contains(&c)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    !path.split('/').any(|seg| seg == "." || seg == "..")
}

/// The provider a path names by its first segment (or the default one for `/v1/…`),
/// whether or not the rest of the path is safe: for the error format of a refusal.
pub fn provider_of<'a>(config: &'a Config, path: &str) -> Option<&'a ProviderConfig> {
    let first = path.trim_start_matches('/').split('/').next()?;
    if first == "v1" {
        return config
            .providers
            .get(config.server.default_provider.as_deref()?);
    }
    config.providers.get(first)
}

/// Resolves `path` (without query, as [`safe_path`] returns it).
///
/// # Errors
/// [`RouteError`]: an unsafe path, or no provider under its prefix.
pub fn route<'a>(config: &'a Config, method: &str, path: &'a str) -> Result<Route<'a>, RouteError> {
    if !is_safe_path(path) {
        return Err(RouteError::UnsafePath);
    }
    let (provider, rest) = if path == "/v1" || path.starts_with("/v1/") {
        let name = config
            .server
            .default_provider
            .as_deref()
            .ok_or(RouteError::UnknownProvider)?;
        (
            config
                .providers
                .get(name)
                .ok_or(RouteError::UnknownProvider)?,
            path,
        )
    } else {
        let trimmed = path.strip_prefix('/').ok_or(RouteError::UnknownProvider)?;
        let (name, rest) = match trimmed.find('/') {
            Some(i) => (&trimmed[..i], &trimmed[i..]),
            None => (trimmed, ""),
        };
        (
            config
                .providers
                .get(name)
                .ok_or(RouteError::UnknownProvider)?,
            rest,
        )
    };
    Ok(Route {
        provider,
        rest,
        matched: api::endpoint(provider.api, method, rest),
    })
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
        let ep = |m: &str, p: &str| route(&cfg, m, p).unwrap().endpoint();
        let r = route(&cfg, "POST", "/v1/chat/completions").unwrap();
        assert_eq!(r.provider.name, "openai");
        assert_eq!(r.rest, "/v1/chat/completions");
        assert_eq!(r.endpoint(), Some(Endpoint::OpenaiChat));
        let r = route(&cfg, "POST", "/anthropic/v1/messages").unwrap();
        assert_eq!(
            (r.provider.name.as_str(), r.rest),
            ("anthropic", "/v1/messages")
        );
        assert_eq!(r.endpoint(), Some(Endpoint::AnthropicMessages));
        assert_eq!(
            ep(
                "POST",
                "/gemini/v1beta/models/gemini-2.5-flash:generateContent"
            ),
            Some(Endpoint::Gemini)
        );
        assert_eq!(ep("POST", "/ollama/api/chat"), Some(Endpoint::OllamaChat));
        assert_eq!(
            ep("POST", "/mistral/v1/fim/completions"),
            Some(Endpoint::OpenaiCompletions)
        );
        // Exact paths, not suffixes: Mistral's agents are chat, not legacy completions.
        assert_eq!(
            ep("POST", "/mistral/v1/agents/completions"),
            Some(Endpoint::OpenaiChat)
        );
        assert_eq!(ep("POST", "/openai/v1/x/chat/completions"), None);
        assert_eq!(
            route(&cfg, "POST", "/nope/v1/chat/completions").unwrap_err(),
            RouteError::UnknownProvider
        );
        assert_eq!(ep("GET", "/openai/v1/models"), Some(Endpoint::Read));
        assert_eq!(ep("POST", "/openai/v1/audio/transcriptions"), None);
    }

    #[test]
    fn paths_that_could_leave_the_base_path_are_refused() {
        let cfg = Config::load(None).unwrap();
        for p in [
            "/openai/../admin",
            "/openai/v1/./chat/completions",
            "/openai/%2e%2e/admin",
            "/openai/v1%2Fchat/completions",
            "/openai/v1%5Cchat",
            "/openai//v1/chat/completions",
            "/openai/v1\\chat",
            "/openai/v1/%",
            "/openai/%252e%252e/x",
        ] {
            assert_eq!(safe_path(p).unwrap_err(), RouteError::UnsafePath, "{p}");
            assert_eq!(
                route(&cfg, "POST", p).unwrap_err(),
                RouteError::UnsafePath,
                "{p}"
            );
        }
        let p = safe_path("/gemini/v1beta/models/gemini-2.5-flash%3AgenerateContent").unwrap();
        assert_eq!(p, "/gemini/v1beta/models/gemini-2.5-flash:generateContent");
        assert_eq!(
            route(&cfg, "POST", &p).unwrap().endpoint(),
            Some(Endpoint::Gemini)
        );
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
