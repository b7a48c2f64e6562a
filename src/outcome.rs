//! The facts of one request, one type: filled in place by the proxy's phases, read once
//! by the recorder (the audit record, the metrics, the log line). Counts and keyed hashes
//! only, never a value; it imports nothing of the proxy, so metrics and audit read it
//! without reaching up into the proxy.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::audit::{Decision, Usage, Would};
use crate::config::Mode;

/// What happened to one request, for the audit hook (counts only, never values).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub request_id: String,
    pub provider: Option<String>,
    pub endpoint: Option<&'static str>,
    /// The model the request names (body `model`, or Gemini's path), when known.
    pub model: Option<String>,
    pub principal: String,
    /// The principal's team, when it has one (virtual key, directory or groups).
    pub team: Option<String>,
    /// When routed by the policy: the provider the client asked for (`provider` is
    /// where the request went).
    pub requested_provider: Option<String>,
    /// The jurisdiction `provider` declares.
    pub jurisdiction: Option<String>,
    /// The request was sent to a provider (data left), whatever came back.
    pub forwarded: bool,
    /// What became of the request; `None` until the request phase decided.
    pub decision: Option<Decision>,
    /// The policy rule behind the decision.
    pub rule: Option<String>,
    /// Findings per policy action and per policy rule.
    pub findings_by_action: BTreeMap<&'static str, usize>,
    pub findings_by_rule: BTreeMap<String, usize>,
    /// The answer is a stream re-identified as it passes.
    pub streamed: bool,
    /// The provider's status, when it answered.
    pub upstream_status: Option<u16>,
    pub status: u16,
    /// `None` when forwarded; else the refusal's code (`paravent_secret`).
    pub refused: Option<&'static str>,
    pub findings: BTreeMap<String, usize>,
    pub findings_by_nature: BTreeMap<&'static str, usize>,
    pub findings_by_sensitivity: BTreeMap<&'static str, usize>,
    /// Findings per (entity, nature), for the metrics.
    pub findings_by_entity_nature: BTreeMap<(String, &'static str), usize>,
    /// `(entity, hex)` keyed hashes of the distinct values pseudonymised
    /// ([`crate::vault::TokenKey::audit_hash`]), never the values.
    pub value_hashes: Vec<(String, String)>,
    pub replaced: usize,
    pub reidentified: usize,
    /// Token-shaped strings in the answer that the vault did not know (left as they are).
    pub unknown_tokens: usize,
    /// Unscannable content that was allowed to leave (media, pass-through bodies).
    pub unscanned: Vec<&'static str>,
    /// Bytes received from the client (after decompression) and sent upstream.
    pub bytes_in: usize,
    pub bytes_out: usize,
    /// Token usage, when the provider reported it.
    pub usage: Option<Usage>,
    /// Estimated energy in microwatt-hours (from `usage` and the per-model table).
    pub energy_uwh: Option<u64>,
    pub latency: Duration,
    /// From sending upstream to the answer's head.
    pub upstream_latency: Option<Duration>,
    /// How a streamed answer ended (`complete`, `client-gone`, `limit`, `upstream-error`).
    pub stream_end: Option<&'static str>,
    /// Enforced, or observed (forwarded as sent; `would` says what enforcement would
    /// have done).
    pub mode: Mode,
    /// In observe mode, once the policy ran: what enforcement would have done.
    pub would: Option<Would>,
    /// Hex keyed hash of the client's address ([`crate::audit::RequestFields::client`]).
    pub client: Option<String>,
    /// `(entity, hex)` keyed hashes of the values an allow list let through.
    pub allow_listed: Vec<(String, String)>,
    /// The assistant profile the request used (`[assistants.<name>]`).
    pub assistant: Option<String>,
    /// Why Paravent chose the provider (`eu-preference`, `profile`, `policy`,
    /// `max-sensitivity`); `None` when the client's was used as asked.
    pub route_reason: Option<&'static str>,
    /// The provider settings enforced on the request (`store=false`, `user=hashed`…).
    pub settings: Vec<&'static str>,
    /// The residual re-identification risk of what left, when a person reference did.
    pub risk: Option<crate::audit::Risk>,
    /// Personal data in the answer that was not in the request.
    pub answer_leaks: Option<crate::audit::AnswerLeaks>,
}
