//! Why a request failed, and the one place that maps a failure to a status code and a
//! message for the client.
//!
//! Messages are written here, in full, for each case: they say what happened and what to
//! do, and never quote the request (no prompt text, personal data or key), so an error's
//! source is never echoed to the client (STYLE.md habit 9). The provider's own error
//! format is rendered by `walk::<provider>::error_body`.

use http::StatusCode;

use crate::api::ErrorClass;
use crate::body::BodyError;
use crate::pipeline::Refusal;

/// The `Retry-After` of a request refused because too many are in flight.
pub const OVERLOADED_RETRY_AFTER_SECS: u64 = 1;

/// Every way the proxy can fail a request.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no provider is declared for this path")]
    UnknownProvider,
    #[error("the endpoint is not in the API's table")]
    UnknownEndpoint,
    #[error("the path could leave the provider's base path")]
    UnsafePath,
    #[error("a virtual key was presented to a provider that takes the client's own key")]
    VirtualKeyPassThrough,
    #[error("the body is not valid JSON")]
    InvalidJson,
    #[error("the body is not JSON")]
    NotJson,
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("no virtual key was presented")]
    MissingKey,
    #[error("the virtual key is not known")]
    UnknownKey,
    #[error("the virtual key may not use this provider")]
    KeyNotAllowed,
    /// `model: "assistant:NAME"` names no `[assistants.NAME]`.
    #[error("no assistant profile of this name")]
    UnknownAssistant,
    /// The key is bound to another assistant profile, or the model is not one of the
    /// profile's.
    #[error("the assistant profile does not allow this request")]
    AssistantNotAllowed,
    /// None of the profile's providers speaks the API the client used (or the key may
    /// use none of them).
    #[error("no provider of the assistant profile serves this API")]
    AssistantUnavailable,
    /// Identity headers (`X-Forwarded-User`…) from an address not in `[identity]
    /// trusted_proxies`.
    #[error("identity headers from an untrusted address")]
    UntrustedIdentity,
    #[error("the trusted proxy's identity header is not usable")]
    InvalidIdentity,
    /// `[identity] required` and the request names no principal through a trusted proxy.
    #[error("no identity from the authenticating proxy")]
    IdentityRequired,
    #[error("cannot connect to the provider")]
    UpstreamConnect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the provider did not answer in time")]
    UpstreamTimeout,
    #[error("the provider's answer could not be read")]
    UpstreamBody,
    #[error("the provider's answer is larger than {limit} bytes")]
    UpstreamTooLarge { limit: u64 },
    #[error("cannot build the upstream request")]
    Internal,
    #[error("the audit record cannot be written")]
    AuditUnavailable,
    /// `[limits] max_concurrent_requests` requests are in flight already.
    #[error("too many requests in flight")]
    Overloaded,
    /// The principal's or the team's rate limit is reached.
    #[error("over the {scope} rate limit")]
    RateLimited {
        scope: &'static str,
        retry_after_secs: u64,
    },
    /// A policy rule (or a provider's ceiling) blocked the request; `categories` are
    /// `entity/nature/sensitivity` names, `message` the rule's (admin-written) advice.
    #[error("blocked by policy rule {rule}")]
    PolicyBlock {
        rule: String,
        categories: Vec<String>,
        message: String,
    },
    /// `[policy.risk] action = "block"`: quasi-identifiers left in clear around person
    /// references could single someone out (`level`: `low`, `medium` or `high`).
    #[error("blocked: residual re-identification risk {level}")]
    ReidentificationRisk {
        level: &'static str,
        kinds: Vec<String>,
    },
}

impl ProxyError {
    /// The HTTP status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::UnknownProvider
            | ProxyError::UnknownEndpoint
            | ProxyError::UnknownAssistant => StatusCode::NOT_FOUND,
            ProxyError::InvalidJson | ProxyError::NotJson | ProxyError::UnsafePath => {
                StatusCode::BAD_REQUEST
            }
            ProxyError::VirtualKeyPassThrough => StatusCode::UNAUTHORIZED,
            ProxyError::Body(BodyError::TooLarge { .. })
            | ProxyError::Body(BodyError::DecompressedTooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ProxyError::Body(BodyError::UnsupportedEncoding) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProxyError::Body(BodyError::Corrupt { .. }) => StatusCode::BAD_REQUEST,
            ProxyError::Refused(Refusal::Secret { .. }) => StatusCode::FORBIDDEN,
            ProxyError::Refused(Refusal::Unscannable { .. }) => StatusCode::FORBIDDEN,
            ProxyError::Refused(Refusal::Vault(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::MissingKey | ProxyError::UnknownKey | ProxyError::IdentityRequired => {
                StatusCode::UNAUTHORIZED
            }
            ProxyError::KeyNotAllowed
            | ProxyError::AssistantNotAllowed
            | ProxyError::AssistantUnavailable
            | ProxyError::PolicyBlock { .. }
            | ProxyError::ReidentificationRisk { .. }
            | ProxyError::UntrustedIdentity => StatusCode::FORBIDDEN,
            ProxyError::InvalidIdentity => StatusCode::BAD_REQUEST,
            ProxyError::UpstreamConnect(_)
            | ProxyError::UpstreamBody
            | ProxyError::UpstreamTooLarge { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProxyError::AuditUnavailable | ProxyError::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// How the provider's error format classifies it.
    pub fn class(&self) -> ErrorClass {
        match self {
            ProxyError::Overloaded => return ErrorClass::Overloaded,
            ProxyError::RateLimited { .. } => return ErrorClass::RateLimited,
            _ => {}
        }
        match self.status() {
            StatusCode::NOT_FOUND => ErrorClass::NotFound,
            StatusCode::UNAUTHORIZED => ErrorClass::Authentication,
            StatusCode::FORBIDDEN => ErrorClass::Permission,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorClass::TooLarge,
            StatusCode::GATEWAY_TIMEOUT => ErrorClass::Timeout,
            s if s.is_server_error() => ErrorClass::Upstream,
            _ => ErrorClass::InvalidRequest,
        }
    }

    /// A short, stable code for scripts and the audit trail (`paravent_secret`).
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::UnknownProvider => "paravent_unknown_provider",
            ProxyError::UnknownEndpoint => "paravent_unknown_endpoint",
            ProxyError::UnsafePath => "paravent_invalid_path",
            ProxyError::VirtualKeyPassThrough => "paravent_virtual_key_not_accepted",
            ProxyError::InvalidJson | ProxyError::NotJson => "paravent_invalid_json",
            ProxyError::Body(BodyError::TooLarge { .. }) => "paravent_body_too_large",
            ProxyError::Body(BodyError::DecompressedTooLarge { .. }) => {
                "paravent_decompressed_too_large"
            }
            ProxyError::Body(BodyError::UnsupportedEncoding) => "paravent_unsupported_encoding",
            ProxyError::Body(BodyError::Corrupt { .. }) => "paravent_corrupt_body",
            ProxyError::Refused(Refusal::Secret { .. }) => "paravent_secret",
            ProxyError::Refused(Refusal::Unscannable { .. }) => "paravent_unscannable_content",
            ProxyError::Refused(Refusal::Vault(_)) => "paravent_too_many_values",
            ProxyError::MissingKey => "paravent_missing_key",
            ProxyError::UnknownKey => "paravent_unknown_key",
            ProxyError::KeyNotAllowed => "paravent_key_not_allowed",
            ProxyError::UnknownAssistant => "paravent_unknown_assistant",
            ProxyError::AssistantNotAllowed => "paravent_assistant_not_allowed",
            ProxyError::AssistantUnavailable => "paravent_assistant_unavailable",
            ProxyError::UntrustedIdentity => "paravent_untrusted_identity",
            ProxyError::IdentityRequired => "paravent_identity_required",
            ProxyError::InvalidIdentity => "paravent_invalid_identity",
            ProxyError::UpstreamConnect(_) => "paravent_upstream_unreachable",
            ProxyError::UpstreamTimeout => "paravent_upstream_timeout",
            ProxyError::UpstreamBody => "paravent_upstream_bad_response",
            ProxyError::UpstreamTooLarge { .. } => "paravent_upstream_too_large",
            ProxyError::Internal => "paravent_internal",
            ProxyError::AuditUnavailable => "paravent_audit_unavailable",
            ProxyError::PolicyBlock { .. } => "paravent_policy_block",
            ProxyError::ReidentificationRisk { .. } => "paravent_reidentification_risk",
            ProxyError::Overloaded => "paravent_overloaded",
            ProxyError::RateLimited { .. } => "paravent_rate_limited",
        }
    }

    /// The `Retry-After` the client gets, in whole seconds, when waiting helps.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ProxyError::Overloaded => Some(OVERLOADED_RETRY_AFTER_SECS),
            ProxyError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// What the client reads: what happened and what to do. Never quotes the request.
    pub fn message(&self) -> String {
        match self {
            ProxyError::UnknownProvider => "Paravent: no provider is configured under this path. Use http://HOST:PORT/<provider>/... with a provider from the configuration, or /v1/... for the default provider.".to_owned(),
            ProxyError::UnknownEndpoint => "Paravent: this endpoint is not one Paravent knows, so nothing was sent. Use a supported API (chat, responses, completions, embeddings, messages, generateContent, Ollama chat/generate/embed, model lists), or ask your administrator to allow other endpoints for this provider.".to_owned(),
            ProxyError::UnsafePath => "Paravent: the request path contains '.' or '..' segments, empty segments, backslashes or encoded separators, so it was refused and nothing was sent. Check the base URL set in your tool.".to_owned(),
            ProxyError::VirtualKeyPassThrough => "Paravent: a Paravent virtual key (pv-...) was presented to a provider that takes your own provider key, so it was not sent. Use your provider key here, or the provider your administrator set up for virtual keys.".to_owned(),
            ProxyError::InvalidJson => "Paravent: the request body is not valid JSON, so it could not be scanned and was not sent. Check the request your tool builds.".to_owned(),
            ProxyError::NotJson => "Paravent: this endpoint expects a JSON body (Content-Type: application/json); nothing was sent.".to_owned(),
            ProxyError::Body(BodyError::TooLarge { limit }) => format!("Paravent: the request body is larger than the {limit} bytes allowed; nothing was sent. Send a shorter request or ask your administrator to raise [limits] max_body_bytes."),
            ProxyError::Body(BodyError::DecompressedTooLarge { limit }) => format!("Paravent: the request body is larger than the {limit} bytes allowed once decompressed; nothing was sent. Send a shorter request or ask your administrator to raise [limits] max_decompressed_bytes."),
            ProxyError::Body(BodyError::UnsupportedEncoding) => "Paravent: the request's Content-Encoding cannot be decompressed for scanning, so nothing was sent. Send it uncompressed or as gzip, deflate, br or zstd.".to_owned(),
            ProxyError::Body(BodyError::Corrupt { encoding }) => format!("Paravent: the request body is not valid {encoding} data, so it could not be scanned and was not sent."),
            ProxyError::Refused(Refusal::Secret { kind }) => format!("Paravent blocked this request: it contains a secret ({kind}). Remove the key, token or password from your message and send it again; if it was real, consider rotating it."),
            ProxyError::Refused(Refusal::Unscannable { kind }) => format!("Paravent blocked this request: it contains content that cannot be scanned for personal data ({kind}). Send text only, or ask your administrator to allow media for this provider."),
            ProxyError::Refused(Refusal::Vault(e)) => format!("Paravent blocked this request: {e}. Split it into smaller requests."),
            ProxyError::MissingKey => "Paravent: this provider needs your Paravent virtual key (pv-...). Set it as your API key in your tool; ask your administrator for one.".to_owned(),
            ProxyError::UnknownKey => "Paravent: this virtual key is not known. Check the pv-... key set in your tool, or ask your administrator for a new one.".to_owned(),
            ProxyError::KeyNotAllowed => "Paravent: your virtual key may not use this provider. Ask your administrator if you need it.".to_owned(),
            ProxyError::UnknownAssistant => "Paravent: the model names an assistant (assistant:NAME) that is not configured, so nothing was sent. Check the name with your administrator.".to_owned(),
            ProxyError::AssistantNotAllowed => "Paravent: the assistant profile in use does not allow this request (your key is bound to another assistant, or the model is not one of the assistant's), so nothing was sent. Use the assistant's own model, or ask your administrator.".to_owned(),
            ProxyError::AssistantUnavailable => "Paravent: none of the assistant's providers serves the API this request uses (or your key may use none of them), so nothing was sent. Send it through the assistant's provider API, or ask your administrator.".to_owned(),
            ProxyError::UntrustedIdentity => "Paravent: this request carries identity headers (such as X-Forwarded-User) but does not come from the company's authenticating proxy, so it was refused and nothing was sent. Go through the company's sign-in address, or remove those headers.".to_owned(),
            ProxyError::IdentityRequired => "Paravent: requests must come through the company's sign-in proxy, which says who you are; this one did not, so it was refused and nothing was sent. Use the company's sign-in address for the AI tools.".to_owned(),
            ProxyError::InvalidIdentity => "Paravent: the sign-in proxy's identity header is empty, repeated or malformed, so the request was refused and nothing was sent. Tell your administrator.".to_owned(),
            ProxyError::UpstreamConnect(_) => "Paravent could not reach the provider. Try again later; if it persists, tell your administrator.".to_owned(),
            ProxyError::UpstreamTimeout => "Paravent: the provider did not answer in time. Try again later, or with a shorter request.".to_owned(),
            ProxyError::UpstreamBody => "Paravent: the provider's answer could not be read. Try again.".to_owned(),
            ProxyError::UpstreamTooLarge { limit } => format!("Paravent: the provider's answer is larger than the {limit} bytes Paravent may read to restore your data. Ask for a shorter answer, or ask your administrator to raise [limits] max_response_bytes."),
            ProxyError::Internal => "Paravent: internal error; nothing was sent. Tell your administrator.".to_owned(),
            ProxyError::AuditUnavailable => "Paravent: the audit trail cannot be written, so this request was refused (company policy). Tell your administrator.".to_owned(),
            ProxyError::Overloaded => format!("Paravent is handling too many requests at once; nothing was sent. Try again in {OVERLOADED_RETRY_AFTER_SECS} s."),
            ProxyError::RateLimited { scope, retry_after_secs } => {
                let who = if *scope == "team" { "your team has" } else { "you have" };
                format!("Paravent: {who} sent too many requests in a short time; nothing was sent. Try again in {retry_after_secs} s, or ask your administrator about the rate limits.")
            }
            ProxyError::PolicyBlock { rule, categories, message } => {
                let what = if categories.is_empty() {
                    String::new()
                } else {
                    format!(" it contains {} data;", categories.join(", "))
                };
                format!("Paravent blocked this request (policy rule {rule}):{what} nothing was sent. {message}")
            }
            ProxyError::ReidentificationRisk { level, kinds } => format!(
                "Paravent blocked this request: once names and identifiers are replaced, the details left around them ({}) could still single a person out (re-identification risk {level}); nothing was sent. Remove or generalise some of them (a region instead of a town, an age range instead of an age), or ask your administrator.",
                kinds.join(", ").to_lowercase().replace('_', " ")
            ),
        }
    }
}
