//! \[pure\] The audit trail's records and their hash chain.
//!
//! One [`AuditRecord`] per request is one JSON line. Its canonical form is the record
//! serialised by serde_json with the fields in declaration order, no whitespace, and the
//! `hash` field left out; `hash = BLAKE3(prev ‖ canonical)` where `prev` is the previous
//! record's hash (raw 32 bytes). The first record of a chain is a `chain-start` record
//! whose `prev` is [`anchor`] of its random chain id, or, when an instance appends to an
//! existing file, the last hash of that file. A file opened by rotation starts with a
//! `file-start` record that continues the chain, and a graceful stop ends it with a
//! `chain-close` record (docs/AUDIT.md).
//!
//! Records hold counts and keyed hashes of values only: never a value, prompt text or key.
//! This module does no I/O; [`writer`] appends records, [`verify`] checks a chain.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub mod checkpoint;
pub mod energy;
pub mod input;
pub mod usage;
pub mod verify;
pub mod writer;

pub mod report;

/// The record format's version, first field of every line. Version 2 (step 7) added the
/// `chain-close` kind and the request fields `client`, `allow_listed`, `mode` and
/// `would`; version 3 (step 10) the `checkpoint` kind, the top-level `governance` and
/// `checkpoint` fields and the request fields `assistant`, `route_reason`, `settings`,
/// `risk` and `answer_leaks`. Older records have none of them, and still verify.
pub const FORMAT_VERSION: u32 = 3;
/// The BLAKE3 `derive_key` context of a chain's anchor.
const ANCHOR_CONTEXT: &str = "paravent 2026 audit chain anchor v1";

/// What a record stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// An instance started a chain (or continued a file's chain).
    ChainStart,
    /// One request, whatever happened to it.
    Request,
    /// The first record of a file opened by rotation: it continues the chain of the
    /// file before (same chain id, next `seq`, `prev` = that file's last hash).
    FileStart,
    /// The running configuration was replaced (SIGHUP): the records from here on are
    /// written under this record's `policy_version`.
    Reload,
    /// The instance stopped gracefully: the last record of its chain (its `seq` is the
    /// number of records before it, its `prev` their last hash). A restart on the same
    /// file starts a new chain chained to it.
    ChainClose,
    /// A signed checkpoint of the chain up to the record before it (`checkpoint` holds
    /// the signed note: size = this record's `seq`, head = its `prev`).
    Checkpoint,
}

/// What became of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Sent to the provider the client asked for (values pseudonymised, redacted or
    /// allowed as the policy said).
    Forwarded,
    /// Sent to another declared provider, because a policy rule or the asked provider's
    /// `max_sensitivity` said so.
    Routed,
    /// Refused by the policy (a `block` rule, the built-in secret rule, or findings
    /// above what the provider may receive with nowhere to route them). Nothing was sent.
    Blocked,
    /// Refused for any other reason (unknown endpoint, invalid body, media,
    /// keys, limits, audit unavailable). Nothing was sent. (A request sent upstream that
    /// got no answer is `forwarded` with no `upstream_status`: its data left.)
    Refused,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Forwarded => "forwarded",
            Decision::Routed => "routed",
            Decision::Blocked => "blocked",
            Decision::Refused => "refused",
        }
    }
}

/// Token usage as the provider reported it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A keyed hash of one value that left (pseudonymised), by entity type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueHash {
    pub entity: String,
    /// Hex of keyed BLAKE3 under the deployment secret (`TokenKey::audit_hash`).
    pub hash: String,
}

/// What a request record says about the request (absent from `chain-start` records).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFields {
    pub request_id: String,
    /// The virtual key's user, or `key:<hash prefix>` for a passed-through key, or
    /// `anonymous`.
    pub principal: String,
    /// The virtual key's team, when it has one.
    pub team: Option<String>,
    /// The provider the request was sent to (after routing), or asked for when refused.
    pub provider: Option<String>,
    /// When routed: the provider the client asked for.
    pub requested_provider: Option<String>,
    /// The jurisdiction `provider` declares (`EU`, `US`…).
    pub jurisdiction: Option<String>,
    pub model: Option<String>,
    pub endpoint: Option<String>,
    pub streamed: bool,
    pub decision: Option<Decision>,
    /// The policy rule behind the decision (`secrets-blocked`, `builtin.pseudonymise`,
    /// `provider.openai.max_sensitivity`…).
    pub rule: Option<String>,
    /// The refusal's code (`paravent_secret`) when blocked or refused.
    pub refusal: Option<String>,
    /// Findings per entity type, nature and sensitivity.
    pub findings_by_entity: BTreeMap<String, u64>,
    pub findings_by_nature: BTreeMap<String, u64>,
    pub findings_by_sensitivity: BTreeMap<String, u64>,
    /// Findings per policy action (`pseudonymise`, `redact`, `allow`, `block`, `route`).
    pub findings_by_action: BTreeMap<String, u64>,
    /// Findings per policy rule that decided them.
    pub findings_by_rule: BTreeMap<String, u64>,
    /// Keyed hashes of the distinct values found, sorted.
    pub values: Vec<ValueHash>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Token usage, when the provider reported it.
    pub usage: Option<Usage>,
    /// Estimated energy of the request, in microwatt-hours, from `usage` and the
    /// configured per-model table (docs/AUDIT.md says how); absent without usage.
    pub energy_uwh: Option<u64>,
    /// From the request's arrival to the record (for a stream: to its end).
    pub latency_us: u64,
    /// From sending upstream to the provider's answer head.
    pub upstream_latency_us: Option<u64>,
    /// The status the client got.
    pub status: u16,
    /// The provider's status, when it answered.
    pub upstream_status: Option<u16>,
    /// How a streamed answer ended: `complete`, `client-gone`, `limit`, `upstream-error`.
    pub stream_end: Option<String>,
    /// Keyed hash (`TokenKey::audit_hash` with entity `CLIENT_ADDRESS`) of the client's
    /// IP address: the peer's, or behind a trusted proxy the forwarded client's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Keyed hashes of the values an allow list let through as they are, sorted (also
    /// in `values`; counted under `findings_by_action.allow`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_listed: Vec<ValueHash>,
    /// `observe` when the request was in observe mode (forwarded as sent, the policy's
    /// decisions only recorded in `would`); absent when enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// In observe mode: what enforcement would have done (the fields above say what
    /// happened: the request left as the client sent it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would: Option<Would>,
    /// The assistant profile the request used (`model: "assistant:NAME"` or a virtual
    /// key bound to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<String>,
    /// Why the request went where it went when Paravent chose the provider:
    /// `eu-preference`, `profile`, or the routing reasons (`policy`, `max-sensitivity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_reason: Option<String>,
    /// Provider settings enforced on this request, `name=effect`, sorted
    /// (`store=false`, `user=hashed`, `metadata=dropped`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
    /// The residual re-identification risk of what left (docs/AUDIT.md says how).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    /// Personal data in the answer that was not in the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_leaks: Option<AnswerLeaks>,
}

/// The residual re-identification risk of a request's outgoing text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Risk {
    /// `none`, `low`, `medium` or `high`.
    pub level: String,
    /// Person references that left (pseudonymised PERSON values).
    pub persons: u64,
    /// Quasi-identifier kinds left in clear near them, with their counts.
    pub quasi: BTreeMap<String, u64>,
    /// What the policy did about it: `pseudonymised-quasi`, `warned`, `blocked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// Personal data found in an answer that was not in its request (hashes only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerLeaks {
    pub by_entity: BTreeMap<String, u64>,
    /// Keyed hashes of the leaked values, sorted.
    pub values: Vec<ValueHash>,
    /// Whether they were redacted from the answer the client got.
    pub redacted: bool,
}

/// The providers' declared terms and the assistant profiles in force, written in
/// `chain-start`, `file-start` and `reload` records so that the trail alone says them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Governance {
    pub providers: BTreeMap<String, ProviderTerms>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub assistants: BTreeMap<String, AssistantInfo>,
}

/// One provider's declared data terms, and the settings Paravent enforces on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderTerms {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_use: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpa: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
}

/// An assistant profile as the trail records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantInfo {
    pub owner: String,
    pub purpose: String,
    pub providers: Vec<String>,
    pub prefer_eu: bool,
}

/// What enforcement would have done to an observed request (counts and names only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Would {
    /// `forwarded` (values pseudonymised, redacted or allowed), `routed`, `blocked` or
    /// `refused` (unscannable media, too many values).
    pub decision: Decision,
    /// The policy rule behind it (`builtin.secret`, `nir-never-to-us`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The refusal code the client would have got (`paravent_secret`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Where the request would have been routed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Findings per policy action and per policy rule that would have decided them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub findings_by_action: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub findings_by_rule: BTreeMap<String, u64>,
    /// Distinct values that would have been pseudonymised, and redacted, per entity
    /// (when the request would have left).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pseudonymised: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redacted: BTreeMap<String, u64>,
}

/// One line of the audit file.
///
/// The field order is the canonical order: do not reorder fields, it would change every
/// hash (add new fields as `Option`s at the end of [`RequestFields`] and bump
/// [`FORMAT_VERSION`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRecord {
    pub v: u32,
    pub kind: Kind,
    /// Position in the chain, from 0 at its `chain-start`.
    pub seq: u64,
    /// RFC 3339, UTC, microseconds.
    pub time: String,
    pub chain_id: String,
    pub instance_id: String,
    /// BLAKE3 of the configuration text in force.
    pub policy_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestFields>,
    /// In `chain-start`, `file-start` and `reload` records: the governance in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance: Option<Governance>,
    /// In `checkpoint` records: the signed note (docs/AUDIT.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// Hex of the previous record's hash (or of the chain's anchor).
    pub prev: String,
    /// Hex of `BLAKE3(prev ‖ canonical)`; absent from the canonical form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// Why a record could not be serialised or chained.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot serialise the audit record")]
    Serialise(#[source] serde_json::Error),
    #[error("the previous hash is not 64 hex digits")]
    BadPrev,
}

/// The hash a chain with id `chain_id` starts from.
///
/// ```
/// let a = paravent::audit::anchor("c1");
/// assert_eq!(a, paravent::audit::anchor("c1"));
/// assert_ne!(a, paravent::audit::anchor("c2"));
/// ```
pub fn anchor(chain_id: &str) -> String {
    hex(&blake3::derive_key(ANCHOR_CONTEXT, chain_id.as_bytes()))
}

/// BLAKE3 of a configuration text, as recorded in `policy_version`.
pub fn policy_version(config_text: &str) -> String {
    blake3::hash(config_text.as_bytes()).to_hex().to_string()
}

impl AuditRecord {
    /// The canonical bytes: compact JSON in field order, without `hash`.
    ///
    /// # Errors
    /// [`AuditError::Serialise`] (not expected for records built here).
    pub fn canonical(&self) -> Result<Vec<u8>, AuditError> {
        // `hash` is the last field: the full serialisation ends with `,"hash":<its JSON
        // string>}`, and the canonical form is that without the suffix (no clone of the
        // record to blank its hash).
        let mut bytes = serde_json::to_vec(self).map_err(AuditError::Serialise)?;
        if let Some(hash) = &self.hash {
            let mut suffix = b",\"hash\":".to_vec();
            serde_json::to_writer(&mut suffix, hash).map_err(AuditError::Serialise)?;
            suffix.push(b'}');
            if !bytes.ends_with(&suffix) {
                // Not expected; the slow way then.
                let mut r = self.clone();
                r.hash = None;
                return serde_json::to_vec(&r).map_err(AuditError::Serialise);
            }
            bytes.truncate(bytes.len() - suffix.len());
            bytes.push(b'}');
        }
        Ok(bytes)
    }

    /// `BLAKE3(prev ‖ canonical)`, hex, from the record's own `prev`.
    ///
    /// # Errors
    /// A `prev` that is not 64 hex digits, or [`AuditRecord::canonical`]'s errors.
    pub fn compute_hash(&self) -> Result<String, AuditError> {
        Ok(chain_hash(&self.prev, &self.canonical()?)?
            .to_hex()
            .to_string())
    }

    /// Sets `prev` and `hash`, and returns the line to append (no newline).
    ///
    /// # Errors
    /// As [`AuditRecord::compute_hash`].
    ///
    /// ```
    /// use paravent::audit::*;
    /// let mut r = AuditRecord::chain_start("c1".into(), "i1".into(), "p".into(), "t".into());
    /// let line = r.seal(&anchor("c1")).unwrap();
    /// assert!(line.ends_with('}') && !line.contains(' '));
    /// ```
    pub fn seal(&mut self, prev: &str) -> Result<String, AuditError> {
        prev.clone_into(&mut self.prev);
        self.hash = None;
        // Serialised once: the canonical bytes are hashed, then become the line by
        // putting the hash in as the last field (what serialising the sealed record
        // again would give: a hex string needs no escaping).
        let mut line = serde_json::to_string(&*self).map_err(AuditError::Serialise)?;
        let hash = chain_hash(&self.prev, line.as_bytes())?.to_hex();
        debug_assert!(line.ends_with('}'));
        line.pop();
        line.push_str(",\"hash\":\"");
        line.push_str(&hash);
        line.push_str("\"}");
        self.hash = Some(hash.to_string());
        Ok(line)
    }

    /// A `chain-start` record (seq 0).
    pub fn chain_start(
        chain_id: String,
        instance_id: String,
        policy_version: String,
        time: String,
    ) -> AuditRecord {
        AuditRecord {
            v: FORMAT_VERSION,
            kind: Kind::ChainStart,
            seq: 0,
            time,
            chain_id,
            instance_id,
            policy_version,
            request: None,
            governance: None,
            checkpoint: None,
            prev: String::new(),
            hash: None,
        }
    }
}

/// `BLAKE3(prev ‖ canonical)`, `prev` being the hex of the previous hash.
fn chain_hash(prev: &str, canonical: &[u8]) -> Result<blake3::Hash, AuditError> {
    let prev = unhex32(prev).ok_or(AuditError::BadPrev)?;
    let mut h = blake3::Hasher::new();
    h.update(&prev);
    h.update(canonical);
    Ok(h.finalize())
}

/// Lower-case hex of bytes (by table: `write!("{:02x}")` per byte cost ~1 µs per hash,
/// and a request hashes every value it holds).
///
/// ```
/// assert_eq!(paravent::audit::hex(&[0x00, 0x7f, 0xff]), "007fff");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

pub(crate) fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// `time` as RFC 3339 UTC with microseconds: `2026-05-01T12:34:56.123456Z`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_micros(1_777_638_896_123_456);
/// assert_eq!(paravent::audit::rfc3339(t), "2026-05-01T12:34:56.123456Z");
/// ```
pub fn rfc3339(time: SystemTime) -> String {
    let d = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`, public domain).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests;
