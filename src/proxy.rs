//! The request phases over one per-request `Ctx`, as plain async functions:
//!
//! 1. request: route, keys, body (limit, decompression), walk → detect → pseudonymise;
//! 2. forward: the upstream request (headers filtered, `Host` rewritten, keys injected);
//! 3. response: JSON and text bodies re-identified (bounded), streamed answers (SSE,
//!    NDJSON, Gemini's JSON array) of the known APIs re-identified as they pass
//!    ([`body::ReidentifyBody`]), compressed ones decoded first; the real key injected in
//!    virtual-key mode redacted wherever the provider quotes it; other bodies passed on;
//! 4. outcome: on success *and* on every error, the audit record is appended (before the
//!    response is returned; a failed write refuses the request unless `[audit]
//!    on_failure = "continue"`), then `Runtime::on_outcome` logs and calls the hook.
//!    A streamed answer's record is written at the end of the stream, with its usage and
//!    how it ended, before its last frame is sent ([`body::ReidentifyBody`]).
//!
//! Never logs bodies, paths with their query (Gemini keys travel there), keys or values.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;

use crate::api::Api;
use crate::api::{Endpoint, ErrorClass, Param};
use crate::audit::writer::AuditWriter;
use crate::audit::{Decision, RequestFields, Usage, ValueHash, Would};
use crate::body::BodyError;
use crate::config::OnFailure;
use crate::config::{AuthMode, Config, Mode, ProviderConfig};
use crate::error::ProxyError;
use crate::limits::Admitted;
use crate::metrics::Metrics;
use crate::pipeline::{self, Summary, ValueAction};
use crate::reidentify::Reidentifier;
use crate::route;
use crate::stream::formats::{Rewriter, StreamKind};
use crate::upstream;
use crate::vault::{TokenKey, Vault};
use crate::walk::Walked;

pub mod body;
pub mod pool;

/// The body type of every response Paravent sends.
pub type ProxyBody = BoxBody<Bytes, BoxError>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The header carrying Paravent's request id back to the client.
pub const REQUEST_ID_HEADER: &str = "x-paravent-request-id";

pub use crate::outcome::Outcome;

/// The address of the connection a request came on (a request extension set by
/// [`crate::server`]): `[identity]` trusts headers by it, the record hashes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// The entity name the client address is hashed under in audit records.
pub const CLIENT_ADDRESS_ENTITY: &str = "CLIENT_ADDRESS";

/// Called with every outcome; the audit trail plugs in here.
pub type OutcomeHook = Arc<dyn Fn(&Outcome) + Send + Sync>;

/// Everything a request needs that lives as long as a configuration: one generation.
/// What outlives it (the process's state) is shared by every generation through
/// [`Process`].
pub struct Runtime {
    pub config: Config,
    /// The upstream client (its connection pool and connect timeout are the
    /// configuration's: a reload starts a new pool, and connections in flight finish).
    client: upstream::Client,
    /// Virtual key hash → index in `config.keys`.
    keys: HashMap<[u8; 32], usize>,
    /// Provider name → the real key header to inject (marked sensitive).
    real_keys: HashMap<String, (HeaderName, HeaderValue)>,
    process: Arc<Process>,
}

/// What lives as long as the process (DESIGN.md, "Data flow"): the deployment secret,
/// the audit trail, the metrics, request ids, and the limits that must hold across
/// reloads (requests in flight, rate-limit buckets, the scan pool). A reload builds a
/// new [`Runtime`] around the same `Arc<Process>`.
pub struct Process {
    token_key: TokenKey,
    hook: Option<OutcomeHook>,
    audit: Option<Arc<AuditWriter>>,
    metrics: Arc<Metrics>,
    id_prefix: u32,
    next_id: AtomicU64,
    /// Requests in flight (streams until their end), against `max_concurrent_requests`.
    in_flight: crate::limits::Admission,
    /// Token buckets per principal and per team.
    rates: crate::limits::RateLimiter,
    /// The bounded pool the CPU-bound request phase of large bodies runs on.
    scan_pool: pool::ScanPool,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process").finish_non_exhaustive()
    }
}

impl Process {
    /// The process state of a first generation: a new token key holder, no audit
    /// trail (see [`Runtime::with_audit`]), new metrics; the scan pool sized by
    /// `limits`.
    fn new(token_key: TokenKey, limits: &crate::config::LimitsConfig) -> Process {
        let mut seed = [0u8; 4];
        // Request ids only need to differ between instances; a clock is enough without
        // a random source.
        if getrandom::fill(&mut seed).is_err() {
            seed = (std::process::id()).to_le_bytes();
        }
        Process {
            token_key,
            hook: None,
            audit: None,
            metrics: Arc::new(Metrics::new()),
            id_prefix: u32::from_le_bytes(seed),
            next_id: AtomicU64::new(1),
            in_flight: crate::limits::Admission::default(),
            rates: crate::limits::RateLimiter::default(),
            scan_pool: pool::ScanPool::new(limits.scan_threads),
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

/// Why a runtime could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("provider {provider}: the environment variable {var} (its real key) is not set")]
    MissingKeyEnv { provider: String, var: String },
    #[error(
        "provider {provider}: the environment variable {var} does not hold a valid header value"
    )]
    BadKeyEnv { provider: String, var: String },
    #[error("cannot build the TLS client")]
    Tls(#[from] rustls::Error),
}

impl Runtime {
    /// Builds the runtime of a configuration; reads the real provider keys from the
    /// environment variables the configuration names.
    ///
    /// # Errors
    /// A virtual-key provider whose key variable is unset, or no TLS configuration.
    pub fn new(config: Config, token_key: TokenKey) -> Result<Runtime, RuntimeError> {
        Runtime::with_env(config, token_key, |var| std::env::var(var).ok())
    }

    /// As [`Runtime::new`], reading environment variables through `env` (tests).
    ///
    /// # Errors
    /// As [`Runtime::new`].
    pub fn with_env(
        config: Config,
        token_key: TokenKey,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Runtime, RuntimeError> {
        let mut real_keys = HashMap::new();
        for p in config.providers.values() {
            if p.auth != AuthMode::Virtual {
                continue;
            }
            let var = p.key_env.clone().unwrap_or_default();
            let key = env(&var).ok_or_else(|| RuntimeError::MissingKeyEnv {
                provider: p.name.clone(),
                var: var.clone(),
            })?;
            let (name, value) = p.api.auth_header(&key);
            let name = HeaderName::from_static(name);
            let mut value = HeaderValue::from_str(&value).map_err(|_| RuntimeError::BadKeyEnv {
                provider: p.name.clone(),
                var: var.clone(),
            })?;
            value.set_sensitive(true);
            real_keys.insert(p.name.clone(), (name, value));
        }
        let keys = config
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.hash, i))
            .collect();
        let client = upstream::client(Duration::from_millis(config.limits.connect_timeout_ms))?;
        let process = Arc::new(Process::new(token_key, &config.limits));
        Ok(Runtime {
            config,
            client,
            keys,
            real_keys,
            process,
        })
    }

    /// The next generation: `config` compiled into a runtime that keeps this one's
    /// process state whole (secret, audit trail, metrics, in-flight count, rate-limit
    /// buckets, scan pool). Reads the real provider keys from the environment.
    ///
    /// # Errors
    /// As [`Runtime::new`].
    pub fn next(&self, config: Config) -> Result<Runtime, RuntimeError> {
        self.next_with_env(config, |var| std::env::var(var).ok())
    }

    /// As [`Runtime::next`], reading environment variables through `env` (tests).
    ///
    /// # Errors
    /// As [`Runtime::new`].
    pub fn next_with_env(
        &self,
        config: Config,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Runtime, RuntimeError> {
        let token_key = self.process.token_key.clone();
        let mut rt = Runtime::with_env(config, token_key, env)?;
        if rt.config.limits.scan_threads != self.config.limits.scan_threads {
            tracing::warn!("[limits] scan_threads changed: it takes effect at the next restart.");
        }
        rt.process = self.process.clone();
        Ok(rt)
    }

    /// The process state, to set up before the runtime is shared.
    fn process_mut(&mut self) -> &mut Process {
        // Only the builder methods below call this, at start, before `Arc::new` and
        // before any `next`: nothing else holds the process yet.
        Arc::get_mut(&mut self.process)
            .expect("the process state is set up before the runtime is shared")
    }

    /// Sets the function called with every outcome.
    pub fn with_outcome_hook(mut self, hook: OutcomeHook) -> Runtime {
        self.process_mut().hook = Some(hook);
        self
    }

    /// Sets the audit file every request's record is appended to.
    pub fn with_audit(mut self, audit: Arc<AuditWriter>) -> Runtime {
        self.process_mut().audit = Some(audit);
        self
    }

    /// The deployment's token key (kept across reloads).
    pub fn token_key(&self) -> &TokenKey {
        &self.process.token_key
    }

    /// The audit writer, if any (for its checkpoint).
    pub fn audit(&self) -> Option<&Arc<AuditWriter>> {
        self.process.audit.as_ref()
    }

    /// Records into `metrics` instead of new ones.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Runtime {
        self.process_mut().metrics = metrics;
        self
    }

    /// The metrics every outcome is recorded in (served by [`crate::admin`]).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.process.metrics
    }

    /// The process state this generation shares with the others.
    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    fn request_id(&self) -> String {
        let n = self.process.next_id.fetch_add(1, Ordering::Relaxed);
        format!("pv-{:08x}{:010x}", self.process.id_prefix, n)
    }

    /// Appends a request's record (blocking) and counts the write. `false` when it was
    /// not written and `[audit] on_failure = "refuse"`: the answer must not go out.
    fn record(&self, fields: RequestFields, request_id: &str) -> bool {
        let Some(audit) = &self.process.audit else {
            return true;
        };
        let written = match audit.append(fields) {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(request_id = %request_id, error = %e, "Audit record not written.");
                false
            }
        };
        self.process.metrics.audit_write(written);
        written || audit.on_failure() != OnFailure::Refuse
    }

    /// Whether [`Runtime::record`] waits for the disk (`fsync = "always"`), and so
    /// belongs on the blocking pool. Without fsync it is a write into the page cache,
    /// cheaper than the handoff (measured: +135 µs median, -16 % throughput).
    fn record_blocks(&self) -> bool {
        self.process.audit.as_ref().is_some_and(|a| a.syncs())
    }

    /// The audit hook point: runs once per request, whatever happened.
    fn on_outcome(&self, outcome: &Outcome) {
        let findings: usize = outcome.findings.values().sum();
        tracing::info!(
            request_id = %outcome.request_id,
            provider = outcome.provider.as_deref().unwrap_or("-"),
            endpoint = outcome.endpoint.unwrap_or("-"),
            status = outcome.status,
            decision = outcome.decision.map_or("-", |d| d.as_str()),
            rule = outcome.rule.as_deref().unwrap_or("-"),
            refused = outcome.refused.unwrap_or("-"),
            findings,
            replaced = outcome.replaced,
            reidentified = outcome.reidentified,
            unknown_tokens = outcome.unknown_tokens,
            latency_us = outcome.latency.as_micros() as u64,
            "Request handled."
        );
        self.process.metrics.observe(outcome);
        if let Some(hook) = &self.process.hook {
            hook(outcome);
        }
    }
}

/// The state of one request, shared by its phases.
struct Ctx {
    id: String,
    start: Instant,
    format: Api,
    provider: Option<String>,
    endpoint: Option<Endpoint>,
    model: Option<String>,
    principal: String,
    team: Option<String>,
    requested_provider: Option<String>,
    jurisdiction: Option<String>,
    forwarded: bool,
    decision: Option<Decision>,
    rule: Option<String>,
    findings_by_action: BTreeMap<&'static str, usize>,
    findings_by_rule: BTreeMap<String, usize>,
    streamed: bool,
    upstream_status: Option<u16>,
    upstream_latency: Option<Duration>,
    usage: Option<Usage>,
    value_hashes: Vec<(String, String)>,
    summary: Summary,
    reidentified: usize,
    unknown_tokens: usize,
    bytes_in: usize,
    bytes_out: usize,
    /// A streamed answer's record, handed to its body (written at the end of the stream).
    record_slot: Option<RecordSlot>,
    /// Enforce, or observe (`[policy]`, provider or team `mode`).
    mode: Mode,
    /// In observe mode: what enforcement would have done.
    would: Option<Would>,
    /// In observe mode: the distinct values the policy would have pseudonymised and
    /// redacted, per entity.
    would_values: (BTreeMap<String, u64>, BTreeMap<String, u64>),
    /// Hex keyed hash of the client's address.
    client: Option<String>,
    /// `(entity, hex)` keyed hashes of the values an allow list let through.
    allow_listed: Vec<(String, String)>,
    /// The virtual key presented (index in `config.keys`), once checked.
    key: Option<usize>,
    /// The assistant profile in use (`[assistants.<name>]`), by key or by alias.
    assistant: Option<String>,
    /// Why the request goes where it goes, when Paravent chose
    /// ([`crate::governance::REASON_PROFILE`]…).
    route_reason: Option<&'static str>,
    /// The provider settings enforced on this request (`store=false`…).
    settings: Vec<&'static str>,
    /// The residual re-identification risk of what left (`[policy.risk]`).
    risk: Option<crate::audit::Risk>,
    /// `[policy.risk] action = "warn"` acted: the level the answer's header says.
    risk_warn: Option<&'static str>,
    /// The request's `(entity, value)` pairs of the kinds an answer may leak, until the
    /// answer's leak finder is built from them (never logged).
    known: Vec<(String, String)>,
    /// The answer's leak finder ([`crate::risk::leaks`]).
    answers: Option<Arc<crate::risk::leaks::Answers>>,
}

/// Where `handle` leaves a streamed answer's record for its body.
pub(crate) type RecordSlot = Arc<std::sync::Mutex<Option<PendingRecord>>>;

/// The record of a streamed answer, completed and written when the stream ends.
pub(crate) struct PendingRecord {
    rt: Arc<Runtime>,
    outcome: Outcome,
    start: Instant,
    /// The answer's leak finder: what it found is recorded at the end of the stream.
    answers: Option<Arc<crate::risk::leaks::Answers>>,
}

/// A record being written off the async workers: `true` once written (or when the
/// trail lets answers go without their record).
pub(crate) enum Recording {
    Pending(tokio::task::JoinHandle<bool>),
    Done(bool),
}

impl PendingRecord {
    /// Completes the outcome with how the stream ended and its usage, and writes the
    /// record, then logs the outcome and calls the hook, on the blocking pool.
    pub(crate) fn finish(
        mut self,
        end: &'static str,
        usage: Option<Usage>,
        reidentified: usize,
    ) -> Recording {
        let o = &mut self.outcome;
        o.stream_end = Some(end);
        o.reidentified += reidentified;
        if let Some(a) = &self.answers {
            o.answer_leaks = a.report();
        }
        if usage.is_some() {
            o.usage = usage;
        }
        o.energy_uwh = self
            .rt
            .config
            .energy
            .estimate_uwh(o.model.as_deref(), o.usage);
        o.latency = self.start.elapsed();
        let blocks = self.rt.record_blocks();
        let job = move || {
            let PendingRecord {
                rt, mut outcome, ..
            } = self;
            let ok = rt.record(record_fields(&outcome), &outcome.request_id);
            if !ok {
                outcome.refused = Some(ProxyError::AuditUnavailable.code());
            }
            rt.on_outcome(&outcome);
            ok
        };
        if !blocks {
            return Recording::Done(job());
        }
        match tokio::runtime::Handle::try_current() {
            Ok(h) => Recording::Pending(h.spawn_blocking(job)),
            // Not on a runtime (a body dropped after it): write here.
            Err(_) => Recording::Done(job()),
        }
    }
}

/// Handles one client request: every phase, then the outcome hook.
pub async fn handle<B>(rt: Arc<Runtime>, req: Request<B>) -> Response<ProxyBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // A liveness probe on the proxy port (load balancers): not a request to a provider,
    // so neither recorded nor counted. The admin listener has /healthz and /readyz too.
    if req.uri().path() == "/healthz" {
        return Response::new(full("ok\n"));
    }
    let mut ctx = Ctx {
        id: rt.request_id(),
        start: Instant::now(),
        format: Api::Openai,
        provider: None,
        endpoint: None,
        model: None,
        principal: "anonymous".to_owned(),
        team: None,
        requested_provider: None,
        jurisdiction: None,
        forwarded: false,
        decision: None,
        rule: None,
        findings_by_action: BTreeMap::new(),
        findings_by_rule: BTreeMap::new(),
        streamed: false,
        upstream_status: None,
        upstream_latency: None,
        usage: None,
        value_hashes: Vec::new(),
        summary: Summary::default(),
        reidentified: 0,
        unknown_tokens: 0,
        bytes_in: 0,
        bytes_out: 0,
        record_slot: None,
        mode: Mode::Enforce,
        would: None,
        would_values: Default::default(),
        client: None,
        allow_listed: Vec::new(),
        key: None,
        assistant: None,
        route_reason: None,
        settings: Vec::new(),
        risk: None,
        risk_warn: None,
        known: Vec::new(),
        answers: None,
    };
    // The provider's error format, even for a path refused before routing.
    if let Some(p) = route::provider_of(&rt.config, req.uri().path()) {
        ctx.format = p.api;
        ctx.provider = Some(p.name.clone());
    }
    // A place among the requests in flight, held until the answer has been sent (a
    // stream's until its end); refused first, before the body is read.
    let admitted = rt
        .process
        .in_flight
        .try_admit(rt.config.limits.max_concurrent_requests);
    let result = match admitted {
        Some(_) => phases(&rt, &mut ctx, req).await,
        None => Err(ProxyError::Overloaded),
    };
    let (mut resp, refused) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            if e.status().is_server_error() {
                tracing::warn!(request_id = %ctx.id, error = %e, "Request failed.");
            }
            (error_response(&ctx, &e), Some(e.code()))
        }
    };
    let mut outcome = Outcome {
        request_id: ctx.id.clone(),
        provider: ctx.provider.clone(),
        endpoint: ctx.endpoint.map(Endpoint::as_str),
        model: ctx.model.clone(),
        principal: ctx.principal.clone(),
        team: ctx.team.take(),
        requested_provider: ctx.requested_provider.take(),
        jurisdiction: ctx.jurisdiction.take(),
        forwarded: ctx.forwarded,
        // The request phase's decision, else: data left (forwarded) or nothing did.
        decision: Some(ctx.decision.unwrap_or(if ctx.forwarded {
            Decision::Forwarded
        } else {
            Decision::Refused
        })),
        rule: ctx.rule.take(),
        findings_by_action: std::mem::take(&mut ctx.findings_by_action),
        findings_by_rule: std::mem::take(&mut ctx.findings_by_rule),
        streamed: ctx.streamed,
        upstream_status: ctx.upstream_status,
        status: resp.status().as_u16(),
        refused,
        findings: std::mem::take(&mut ctx.summary.findings),
        findings_by_nature: std::mem::take(&mut ctx.summary.findings_by_nature),
        findings_by_entity_nature: std::mem::take(&mut ctx.summary.findings_by_entity_nature),
        findings_by_sensitivity: std::mem::take(&mut ctx.summary.findings_by_sensitivity),
        value_hashes: std::mem::take(&mut ctx.value_hashes),
        replaced: ctx.summary.replaced,
        reidentified: ctx.reidentified,
        unknown_tokens: ctx.unknown_tokens,
        unscanned: std::mem::take(&mut ctx.summary.unscanned),
        bytes_in: ctx.bytes_in,
        bytes_out: ctx.bytes_out,
        usage: ctx.usage,
        energy_uwh: rt
            .config
            .energy
            .estimate_uwh(ctx.model.as_deref(), ctx.usage),
        latency: ctx.start.elapsed(),
        upstream_latency: ctx.upstream_latency,
        stream_end: None,
        mode: ctx.mode,
        would: ctx.would.take(),
        client: ctx.client.take(),
        allow_listed: std::mem::take(&mut ctx.allow_listed),
        assistant: ctx.assistant.take(),
        route_reason: ctx.route_reason,
        settings: std::mem::take(&mut ctx.settings),
        risk: ctx.risk.take(),
        // A streamed answer's are added at its end.
        answer_leaks: ctx.answers.as_ref().and_then(|a| a.report()),
    };
    if refused.is_none()
        && let Some(slot) = ctx.record_slot.take()
    {
        // A streamed answer: its body writes the record at the end of the stream.
        if let Ok(mut s) = slot.lock() {
            *s = Some(PendingRecord {
                rt: rt.clone(),
                outcome,
                start: ctx.start,
                answers: ctx.answers.take(),
            });
        }
        if let Ok(v) = HeaderValue::from_str(&ctx.id) {
            resp.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        risk_header(&ctx, &mut resp);
        return holding(resp, admitted);
    }
    let go_on = if rt.audit().is_none() {
        true
    } else if rt.record_blocks() {
        let (rt2, fields, id) = (rt.clone(), record_fields(&outcome), ctx.id.clone());
        tokio::task::spawn_blocking(move || rt2.record(fields, &id))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(request_id = %ctx.id, error = %e, "Audit writer task failed.");
                rt.metrics().audit_write(false);
                rt.audit()
                    .as_ref()
                    .is_some_and(|a| a.on_failure() != OnFailure::Refuse)
            })
    } else {
        rt.record(record_fields(&outcome), &ctx.id)
    };
    if !go_on {
        // Fail closed: no answer without its record. The provider's answer (or stream)
        // is dropped here.
        let e = ProxyError::AuditUnavailable;
        resp = error_response(&ctx, &e);
        outcome.status = resp.status().as_u16();
        outcome.refused = Some(e.code());
        outcome.decision = Some(Decision::Refused);
    }
    if let Ok(v) = HeaderValue::from_str(&ctx.id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    if refused.is_none() {
        risk_header(&ctx, &mut resp);
    }
    rt.on_outcome(&outcome);
    holding(resp, admitted)
}

/// The header that tells the client its request was forwarded with a residual
/// re-identification risk at or above `[policy.risk] threshold` (`action = "warn"`).
pub const RISK_HEADER: &str = "paravent-risk";

fn risk_header(ctx: &Ctx, resp: &mut Response<ProxyBody>) {
    if let Some(level) = ctx.risk_warn
        && ctx.mode == Mode::Enforce
    {
        resp.headers_mut()
            .insert(RISK_HEADER, HeaderValue::from_static(level));
    }
}

/// The answer, holding the request's place among those in flight until its body has
/// been sent or dropped.
fn holding(resp: Response<ProxyBody>, admitted: Option<Admitted>) -> Response<ProxyBody> {
    match admitted {
        None => resp,
        Some(place) => resp.map(|body| {
            body.map_frame(move |frame| {
                let _held = &place;
                frame
            })
            .boxed()
        }),
    }
}

/// Takes one request from the principal's and the team's token buckets, when `[limits]`
/// gives them a rate (per instance).
fn rate_limit(rt: &Runtime, ctx: &Ctx) -> Result<(), ProxyError> {
    use crate::limits::Rate;
    let l = &rt.config.limits;
    let principal = Rate::of(l.principal_requests_per_minute, l.principal_burst)
        .map(|r| (ctx.principal.as_str(), r));
    let team = Rate::of(l.team_requests_per_minute, l.team_burst)
        .and_then(|r| Some((ctx.team.as_deref()?, r)));
    rt.process
        .rates
        .admit(principal, team, Instant::now())
        .map_err(|e| ProxyError::RateLimited {
            scope: e.scope.as_str(),
            retry_after_secs: e.retry_after_secs,
        })
}

/// The audit record's fields of an outcome: counts and keyed hashes only.
pub fn record_fields(o: &Outcome) -> RequestFields {
    let count = |m: &BTreeMap<String, usize>| -> BTreeMap<String, u64> {
        m.iter().map(|(k, v)| (k.clone(), *v as u64)).collect()
    };
    let count_static = |m: &BTreeMap<&'static str, usize>| -> BTreeMap<String, u64> {
        m.iter()
            .map(|(k, v)| ((*k).to_owned(), *v as u64))
            .collect()
    };
    let mut values: Vec<ValueHash> = o
        .value_hashes
        .iter()
        .map(|(entity, hash)| ValueHash {
            entity: entity.clone(),
            hash: hash.clone(),
        })
        .collect();
    values.sort();
    values.dedup();
    RequestFields {
        request_id: o.request_id.clone(),
        principal: o.principal.clone(),
        team: o.team.clone(),
        provider: o.provider.clone(),
        requested_provider: o.requested_provider.clone(),
        jurisdiction: o.jurisdiction.clone(),
        model: o.model.clone(),
        endpoint: o.endpoint.map(str::to_owned),
        streamed: o.streamed,
        decision: o.decision,
        rule: o.rule.clone(),
        refusal: o.refused.map(str::to_owned),
        findings_by_entity: count(&o.findings),
        findings_by_nature: count_static(&o.findings_by_nature),
        findings_by_sensitivity: count_static(&o.findings_by_sensitivity),
        findings_by_action: count_static(&o.findings_by_action),
        findings_by_rule: count(&o.findings_by_rule),
        values,
        bytes_in: o.bytes_in as u64,
        bytes_out: o.bytes_out as u64,
        usage: o.usage,
        energy_uwh: o.energy_uwh,
        latency_us: micros(o.latency),
        upstream_latency_us: o.upstream_latency.map(micros),
        status: o.status,
        upstream_status: o.upstream_status,
        stream_end: o.stream_end.map(str::to_owned),
        mode: (o.mode == Mode::Observe).then(|| o.mode.as_str().to_owned()),
        would: o.would.clone(),
        client: o.client.clone(),
        allow_listed: {
            let mut v: Vec<ValueHash> = o
                .allow_listed
                .iter()
                .map(|(entity, hash)| ValueHash {
                    entity: entity.clone(),
                    hash: hash.clone(),
                })
                .collect();
            v.sort();
            v.dedup();
            v
        },
        assistant: o.assistant.clone(),
        route_reason: o.route_reason.map(str::to_owned),
        settings: {
            let mut v: Vec<String> = o.settings.iter().map(|s| (*s).to_owned()).collect();
            v.sort_unstable();
            v.dedup();
            v
        },
        risk: o.risk.clone(),
        answer_leaks: o.answer_leaks.clone(),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn error_response(ctx: &Ctx, e: &ProxyError) -> Response<ProxyBody> {
    let status = e.status();
    let body = ctx
        .format
        .error_body(status.as_u16(), e.class(), e.code(), &e.message(), &ctx.id);
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = e.retry_after_secs() {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn full(b: impl Into<Bytes>) -> ProxyBody {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

async fn phases<B>(
    rt: &Runtime,
    ctx: &mut Ctx,
    req: Request<B>,
) -> Result<Response<ProxyBody>, ProxyError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    // Who: a trusted proxy's headers, refused from anyone else.
    let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0.ip());
    let asserted = identify(rt, ctx, peer, &parts.headers)?;
    let path = route::safe_path(parts.uri.path()).map_err(|_| ProxyError::UnsafePath)?;
    let route = route::route(&rt.config, parts.method.as_str(), &path).map_err(|e| match e {
        route::RouteError::UnsafePath => ProxyError::UnsafePath,
        route::RouteError::UnknownProvider => ProxyError::UnknownProvider,
    })?;
    let provider = route.provider;
    let api = provider.api;
    ctx.provider = Some(provider.name.clone());
    ctx.jurisdiction = provider.jurisdiction.clone();
    ctx.format = api;
    let pass_through = route.matched.is_none() && provider.is_pass_through(route.rest);
    let endpoint = match route.endpoint() {
        Some(e) => Some(e),
        None if pass_through => None,
        None if provider.scan_other_endpoints => Some(Endpoint::Generic),
        None => return Err(ProxyError::UnknownEndpoint),
    };
    ctx.endpoint = endpoint;

    // Keys.
    let query = parts.uri.query().unwrap_or("");
    let key_header = authenticate(rt, ctx, provider, &parts.headers, query, asserted)?;
    // The mode of the provider asked for and the principal's team (routing is one of
    // the decisions observe mode only records).
    ctx.mode = rt.config.modes.of(&provider.name, ctx.team.as_deref());
    rate_limit(rt, ctx)?;

    // Body: limit, decompression.
    let limits = &rt.config.limits;
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limits.max_body_bytes
    {
        return Err(BodyError::TooLarge {
            limit: limits.max_body_bytes,
        }
        .into());
    }
    let encodings = match parts.headers.get(header::CONTENT_ENCODING) {
        Some(v) => {
            crate::body::parse_encodings(v.to_str().map_err(|_| BodyError::UnsupportedEncoding)?)?
        }
        None => Vec::new(),
    };
    let limit = usize::try_from(limits.max_body_bytes).unwrap_or(usize::MAX);
    let raw = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|_| BodyError::TooLarge {
            limit: limits.max_body_bytes,
        })?
        .to_bytes();
    // The CPU-bound part, from decompression to the body that leaves: a large body
    // waits for a turn on the scan pool and runs off the async workers.
    let turn = rt
        .process
        .scan_pool
        .turn(raw.len(), !encodings.is_empty())
        .await;
    let mut vault = Vault::for_request(
        rt.token_key(),
        &rt.config.pseudonyms,
        &ctx.principal,
        limits.max_vault_entries,
    );
    let scanned = pool::run(turn.as_ref(), || {
        let raw = if encodings.is_empty() {
            raw
        } else {
            crate::body::decode(&encodings, raw, limits.max_decompressed_bytes)?
        };
        request_body(rt, ctx, &route, endpoint, &parts, raw, &mut vault)
    });
    drop(turn);
    let (out_body, outside, routed) = scanned?;
    ctx.bytes_out = out_body.len();

    // Forward (to the policy's target when routed: its own key or none, never the
    // client's).
    let mut key_header = key_header;
    let mut outside = outside;
    let provider = match routed {
        Some(target) => {
            key_header = rt.real_keys.get(&target.name).cloned();
            outside
                .headers
                .retain(|(n, _)| api.header(n.as_str()) != Param::Auth);
            outside.query = outside.query.as_deref().and_then(without_keys);
            target
        }
        None => provider,
    };
    let uri = route::upstream_uri(&provider.base_url, &outside.rest, outside.query.as_deref())
        .ok_or(ProxyError::Internal)?;
    let mut headers = HeaderMap::with_capacity(outside.headers.len() + 4);
    for (name, value) in outside.headers {
        headers.append(name, value);
    }
    if let Some(authority) = uri.authority()
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(header::HOST, v);
    }
    if let Some((name, value)) = key_header {
        headers.insert(name, value);
    }
    if !out_body.is_empty() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(out_body.len()));
    }
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    let mut up = Request::new(Full::new(out_body));
    *up.method_mut() = parts.method.clone();
    *up.uri_mut() = uri;
    *up.headers_mut() = headers;
    // A trail that cannot be written refuses before anything leaves.
    if let Some(audit) = rt.audit()
        && !audit.healthy()
        && audit.on_failure() == OnFailure::Refuse
    {
        return Err(ProxyError::AuditUnavailable);
    }
    let timeout = Duration::from_millis(limits.upstream_timeout_ms);
    ctx.forwarded = true;
    // A policy's route is a decision; a profile's choice of provider is not (its
    // record says why in `route_reason`).
    if routed.is_some()
        && matches!(
            ctx.route_reason,
            Some(crate::governance::REASON_POLICY | crate::governance::REASON_MAX_SENSITIVITY)
        )
    {
        ctx.decision = Some(Decision::Routed);
    }
    let sent = Instant::now();
    let resp = tokio::time::timeout(timeout, rt.client.request(up)).await;
    ctx.upstream_latency = Some(sent.elapsed());
    let resp = match resp {
        Err(_) => return Err(ProxyError::UpstreamTimeout),
        Ok(Err(e)) => return Err(ProxyError::UpstreamConnect(Box::new(e))),
        Ok(Ok(r)) => r,
    };

    // Response: what the answer may hold without leaking is what the request held
    // (embeddings answer with vectors: nothing to scan).
    if ctx
        .endpoint
        .is_some_and(|e| !matches!(e, Endpoint::OpenaiEmbeddings | Endpoint::OllamaEmbed))
    {
        let action = if ctx.mode == Mode::Observe {
            crate::risk::leaks::LeakAction::Record
        } else {
            rt.config.answer_leaks
        };
        let known = std::mem::take(&mut ctx.known);
        ctx.answers = Some(Arc::new(crate::risk::leaks::Answers::new(
            rt.config.detector.clone(),
            rt.token_key().clone(),
            action,
            known.iter().map(|(e, v)| (e.as_str(), v.as_str())).chain(
                vault
                    .entries()
                    .iter()
                    .map(|e| (e.entity.as_str(), e.original.as_str())),
            ),
        )));
    }
    let reid = Arc::new(Reidentifier::new(&vault));
    response(rt, ctx, resp, &reid, parts.method == Method::HEAD).await
}

/// The path, query and headers as the client sent them (pass-through paths, observe
/// mode): the headers the API's allow list keeps; the client's keys dropped when
/// Paravent injects the real one (`virtual_keys`).
fn as_sent(api: Api, rest: &str, query: &str, headers: &HeaderMap, virtual_keys: bool) -> Forward {
    Forward {
        rest: rest.to_owned(),
        query: if virtual_keys {
            without_keys(query)
        } else {
            (!query.is_empty()).then(|| query.to_owned())
        },
        headers: allowed_headers(api, headers, virtual_keys),
    }
}

/// The request phase's CPU-bound part (run on the scan pool for a large body): the
/// strict parse and the walk of the body, then of what travels outside it (path
/// parameters, query, headers) as slots of the same request; the policy; the rewrite.
/// Returns the body and the rest as they leave, and the provider routed to, if any.
fn request_body<'a>(
    rt: &'a Runtime,
    ctx: &mut Ctx,
    route: &route::Route<'a>,
    endpoint: Option<Endpoint>,
    parts: &http::request::Parts,
    raw: Bytes,
    vault: &mut Vault<'_>,
) -> Result<(Bytes, Forward, Option<&'a ProviderConfig>), ProxyError> {
    ctx.bytes_in = raw.len();
    // One strict parse, one walk: the body, then what travels outside it (path
    // parameters, query, headers) as slots of the same request.
    let provider = route.provider;
    let api = provider.api;
    let query = parts.uri.query().unwrap_or("");
    let mut routed: Option<&ProviderConfig> = None;
    let (out_body, outside) = match endpoint {
        Some(endpoint) => {
            let mut walked = if raw.is_empty() {
                Walked::empty()
            } else {
                let ct = parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                if !crate::body::is_json_content_type(ct) {
                    return Err(ProxyError::NotJson);
                }
                Walked::parse(&raw, endpoint.schema()).map_err(|_| ProxyError::InvalidJson)?
            };
            let outside = Outside::collect(
                &mut walked,
                api,
                provider.auth == AuthMode::Virtual,
                route.rest,
                route.matched.as_ref().map_or(&[][..], |m| &m.params),
                query,
                &parts.headers,
            );
            // C7: the assistant profile (by key or alias) chooses the provider and the
            // model before anything is decided.
            let profile = assistant_profile(rt, ctx, &mut walked, &outside, provider)?;
            let alias_model = profile.and_then(|p| p.model.cloned());
            let provider = match profile {
                Some(p) => {
                    if !std::ptr::eq(p.provider, route.provider) {
                        routed = Some(p.provider);
                    }
                    p.provider
                }
                None => provider,
            };
            if ctx.mode == Mode::Observe {
                // Detection and policy run as when enforcing, on a vault of their own;
                // what leaves is what the client sent.
                let would_leave = observe_policy(rt, ctx, &mut walked, provider);
                if ctx.model.is_none() && would_leave {
                    // Gemini's path: the rewritten form (a token if it held a value).
                    ctx.model = outside
                        .model(&walked)
                        .map(|m| m.chars().take(MAX_MODEL_CHARS).collect());
                }
                let virtual_keys = route.provider.auth == AuthMode::Virtual;
                // What the client sent, but for the profile's model and system prompt
                // and the provider's enforced settings (not the policy's decisions).
                let edits = profile.is_some() || !provider.settings.is_empty();
                let body = if edits && !raw.is_empty() {
                    let mut sent = Walked::parse(&raw, endpoint.schema())
                        .map_err(|_| ProxyError::InvalidJson)?;
                    if let Some(m) = alias_model {
                        sent.set_top_level_str("model", m);
                    }
                    finish_body(rt, ctx, endpoint, route.rest, &mut sent, provider);
                    Bytes::from(sent.to_bytes())
                } else {
                    raw
                };
                (
                    body,
                    as_sent(api, route.rest, query, &parts.headers, virtual_keys),
                )
            } else {
                let target = apply_policy(rt, ctx, &mut walked, vault, provider)?;
                if target.is_some() {
                    routed = target;
                }
                ctx.model = walked
                    .top_level_str("model")
                    .or_else(|| outside.model(&walked))
                    .map(|m| m.chars().take(MAX_MODEL_CHARS).collect());
                let body = if raw.is_empty() {
                    raw
                } else {
                    let to = target.unwrap_or(provider);
                    finish_body(rt, ctx, endpoint, route.rest, &mut walked, to);
                    Bytes::from(walked.to_bytes())
                };
                (body, outside.finish(&walked))
            }
        }
        None => {
            // A key bound to an assistant profile skipped the provider check (the
            // profile chooses among the key's providers); a pass-through path has no
            // profile, so the key's own list applies here.
            if let Some(k) = ctx.key.map(|i| &rt.config.keys[i])
                && k.assistant.is_some()
                && !k.providers.is_empty()
                && !k.providers.iter().any(|p| p == &provider.name)
            {
                return Err(ProxyError::KeyNotAllowed);
            }
            // Listed as pass-through by the administrator: forwarded unscanned.
            ctx.summary.unscanned.push("pass-through");
            let virtual_keys = provider.auth == AuthMode::Virtual;
            (
                raw,
                as_sent(api, route.rest, query, &parts.headers, virtual_keys),
            )
        }
    };
    Ok((out_body, outside, routed))
}

/// What travels outside the body, as it leaves: the path after the provider prefix,
/// the query, and the client headers the API's allow list keeps.
struct Forward {
    rest: String,
    query: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// A piece of the path, query or headers: kept as the client sent it, or a slot of the
/// walked request (scanned; sent as the client wrote it unless rewritten).
enum Piece {
    Keep(String),
    Slot { slot: usize, raw: String },
}

/// Path parameters, query parameters and headers registered as slots of a request.
struct Outside<'a> {
    rest: &'a str,
    /// Byte ranges of the path parameters in `rest`, and their slots.
    params: Vec<(usize, usize, usize)>,
    query: Vec<(Piece, Option<Piece>)>,
    headers: Vec<(HeaderName, Piece)>,
}

impl<'a> Outside<'a> {
    /// Registers every path parameter, query parameter and allowed header of a request
    /// as slots of `walked`: model names and ids as checked values, the rest as text.
    /// With `virtual_keys`, the client's keys (headers and `key=`/`api_key=`) are
    /// dropped: Paravent injects the real one.
    fn collect(
        walked: &mut Walked,
        api: Api,
        virtual_keys: bool,
        rest: &'a str,
        params: &[(usize, usize)],
        query: &str,
        headers: &HeaderMap,
    ) -> Outside<'a> {
        let params = params
            .iter()
            .map(|&(s, e)| (s, e, walked.push_checked(rest[s..e].to_owned())))
            .collect();
        let mut q = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (pair, None),
            };
            let decoded = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let dname = decoded(name);
            if is_key_param(&dname) && virtual_keys {
                continue;
            }
            match api.query_param(&dname) {
                // A client's own key (pass-through) is neither scanned nor rewritten.
                Param::Auth | Param::Drop => {
                    q.push((
                        Piece::Keep(name.to_owned()),
                        value.map(|v| Piece::Keep(v.to_owned())),
                    ));
                }
                Param::Shaped(shape)
                    if value.is_some_and(|v| crate::walk::fits(shape, &decoded(v))) =>
                {
                    q.push((
                        Piece::Keep(name.to_owned()),
                        value.map(|v| Piece::Keep(v.to_owned())),
                    ));
                }
                Param::Shaped(_) | Param::Scan => {
                    let n = if name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.$[]".contains(&b))
                        && !looks_scannable(&dname)
                    {
                        Piece::Keep(name.to_owned())
                    } else {
                        Piece::Slot {
                            slot: walked.push_outside(dname),
                            raw: name.to_owned(),
                        }
                    };
                    let v = value.map(|v| Piece::Slot {
                        slot: walked.push_outside(decoded(v)),
                        raw: v.to_owned(),
                    });
                    q.push((n, v));
                }
            }
        }
        let mut h = Vec::new();
        for (name, value) in headers {
            let n = name.as_str();
            if SKIPPED_HEADERS.contains(&n) {
                continue;
            }
            // A header that is not visible ASCII is dropped, not guessed at.
            let Ok(v) = value.to_str() else { continue };
            let raw = v.to_owned();
            let piece = match api.header(n) {
                Param::Drop => continue,
                Param::Auth if virtual_keys => continue,
                Param::Auth => Piece::Keep(raw),
                Param::Shaped(shape) if crate::walk::fits(shape, v) => {
                    if crate::walk::checked(shape) {
                        // Identifiers are still read by the detector.
                        let slot = walked.push_checked(raw.clone());
                        Piece::Slot { slot, raw }
                    } else {
                        Piece::Keep(raw)
                    }
                }
                Param::Shaped(_) | Param::Scan => {
                    let slot = walked.push_outside(raw.clone());
                    Piece::Slot { slot, raw }
                }
            };
            h.push((name.clone(), piece));
        }
        Outside {
            rest,
            params,
            query: q,
            headers: h,
        }
    }

    /// The model named in the path (Gemini), as it leaves.
    fn model(&self, walked: &'a Walked) -> Option<&'a str> {
        let (s, _, slot) = *self.params.first()?;
        self.rest[..s]
            .ends_with("models/")
            .then(|| walked.slots[slot].text.as_str())
    }

    /// The path, query and headers as they leave, from the rewritten slots.
    fn finish(self, walked: &Walked) -> Forward {
        use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
        /// Characters escaped in a path segment or a query component we rewrote.
        const ESCAPE: &AsciiSet = &CONTROLS
            .add(b' ')
            .add(b'"')
            .add(b'#')
            .add(b'%')
            .add(b'&')
            .add(b'+')
            .add(b'/')
            .add(b'<')
            .add(b'=')
            .add(b'>')
            .add(b'?')
            .add(b'[')
            .add(b'\\')
            .add(b']')
            .add(b'^')
            .add(b'`')
            .add(b'{')
            .add(b'|')
            .add(b'}');
        let text = |p: &Piece| -> String {
            match p {
                Piece::Keep(s) => s.clone(),
                Piece::Slot { slot, raw } if !walked.slots[*slot].changed => raw.clone(),
                Piece::Slot { slot, .. } => {
                    utf8_percent_encode(&walked.slots[*slot].text, ESCAPE).to_string()
                }
            }
        };
        let mut rest = String::with_capacity(self.rest.len());
        let mut at = 0;
        for &(s, e, slot) in &self.params {
            rest.push_str(&self.rest[at..s]);
            rest.push_str(&utf8_percent_encode(&walked.slots[slot].text, ESCAPE).to_string());
            at = e;
        }
        rest.push_str(&self.rest[at..]);
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(n, v)| match v {
                Some(v) => format!("{}={}", text(n), text(v)),
                None => text(n),
            })
            .collect();
        let headers = self
            .headers
            .iter()
            .filter_map(|(name, p)| {
                let v = match p {
                    Piece::Keep(s) => s.clone(),
                    Piece::Slot { slot, .. } => walked.slots[*slot].text.clone(),
                };
                let mut v = HeaderValue::from_str(&v).ok()?;
                if matches!(p, Piece::Keep(_)) {
                    v.set_sensitive(true);
                }
                Some((name.clone(), v))
            })
            .collect();
        Forward {
            rest,
            query: (!query.is_empty()).then(|| query.join("&")),
            headers,
        }
    }
}

/// Headers that are the proxy's own, never copied from the client: hop-by-hop ones,
/// and those whose value Paravent sets (host, length, encodings).
const SKIPPED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "content-encoding",
    "accept-encoding",
];

/// Query parameter names that carry a key.
fn is_key_param(name: &str) -> bool {
    name == "key" || name == "api_key"
}

/// A query parameter name that could itself hold a value (not a plain identifier).
fn looks_scannable(name: &str) -> bool {
    name.len() > 40 || name.contains('@') || name.bytes().filter(u8::is_ascii_digit).count() >= 4
}

/// The query without its key parameters (a routed request never carries the client's
/// key).
fn without_keys(query: &str) -> Option<String> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !is_key_param(kv.split('=').next().unwrap_or("")))
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

/// The client headers of a pass-through request that the API's allow list keeps (not
/// scanned: the administrator listed the path as pass-through); the client's keys too,
/// unless Paravent injects the real one (`virtual_keys`).
fn allowed_headers(
    api: Api,
    headers: &HeaderMap,
    virtual_keys: bool,
) -> Vec<(HeaderName, HeaderValue)> {
    headers
        .iter()
        .filter(|(n, _)| {
            let p = api.header(n.as_str());
            !SKIPPED_HEADERS.contains(&n.as_str())
                && p != Param::Drop
                && !(virtual_keys && p == Param::Auth)
        })
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// The policy between the scan and the rewrite: decides, fills the context (decision,
/// rule, findings per action and rule), blocks or switches provider, then rewrites the
/// request slot by slot. Returns the provider routed to, if any.
fn apply_policy<'a>(
    rt: &'a Runtime,
    ctx: &mut Ctx,
    walked: &mut Walked,
    vault: &mut Vault<'_>,
    provider: &'a ProviderConfig,
) -> Result<Option<&'a ProviderConfig>, ProxyError> {
    use crate::policy::{Principal, Verdict};
    let scanned = pipeline::scan(&rt.config.detector, walked);
    let who = Principal {
        user: &ctx.principal,
        team: ctx.team.as_deref(),
    };
    let pipeline::Judged {
        allowed,
        decision,
        per_finding,
    } = pipeline::judge(
        &scanned,
        &rt.config.allow,
        profile_policy(rt, ctx),
        &who,
        &provider.name,
        false,
    );
    for (f, a) in scanned.findings().iter().zip(&allowed) {
        if let Some(list) = a {
            *ctx.findings_by_action.entry("allow").or_default() += 1;
            *ctx.findings_by_rule.entry(list.clone()).or_default() += 1;
            let (entity, value) = &scanned.values()[f.value];
            let h = rt.token_key().audit_hash(entity, value);
            ctx.allow_listed
                .push((entity.clone(), crate::audit::hex(&h)));
        }
    }
    // The model as the client named it, for the record of a request that will not
    // leave: only when the detector found nothing in it.
    ctx.model = walked
        .top_level_slot("model")
        .filter(|&i| !scanned.slot_has_findings(i))
        .map(|i| walked.slots[i].text.chars().take(MAX_MODEL_CHARS).collect());
    for c in &decision.choices {
        *ctx.findings_by_action.entry(c.action.as_str()).or_default() += 1;
        *ctx.findings_by_rule.entry(c.rule.clone()).or_default() += 1;
    }
    ctx.rule = decision.verdict.rule().map(str::to_owned);
    // A credential for a third party (an MCP server's token) is refused like a secret
    // the detector found, whatever the policy says of the rest.
    if scanned.secret() == Some(pipeline::CREDENTIAL_KIND) {
        ctx.summary = scanned.summary().clone();
        ctx.value_hashes = scanned.value_hashes(rt.token_key());
        ctx.decision = Some(Decision::Blocked);
        ctx.rule = Some(crate::policy::RULE_SECRET.to_owned());
        return Err(pipeline::Refusal::Secret {
            kind: pipeline::CREDENTIAL_KIND.to_owned(),
        }
        .into());
    }
    let mut target = None;
    match decision.verdict {
        Verdict::Block {
            rule,
            categories,
            message,
        } => {
            ctx.summary = scanned.summary().clone();
            ctx.value_hashes = scanned.value_hashes(rt.token_key());
            ctx.decision = Some(Decision::Blocked);
            if rule == crate::policy::RULE_SECRET {
                // The built-in secret rule keeps its own error (`paravent_secret`).
                let kind = scanned.secret().unwrap_or("secret").to_owned();
                return Err(pipeline::Refusal::Secret { kind }.into());
            }
            return Err(ProxyError::PolicyBlock {
                rule,
                categories,
                message,
            });
        }
        Verdict::Route { to, model, rule } => {
            let t = rt.config.providers.get(&to).ok_or(ProxyError::Internal)?;
            // The provider the client asked for stays the one asked for, whatever a
            // profile chose before.
            let was = ctx.provider.replace(t.name.clone());
            if ctx.requested_provider.is_none() {
                ctx.requested_provider = was;
            }
            ctx.route_reason = Some(if rule.ends_with(".max_sensitivity") {
                crate::governance::REASON_MAX_SENSITIVITY
            } else {
                crate::governance::REASON_POLICY
            });
            ctx.jurisdiction = t.jurisdiction.clone();
            if let Some(m) = model
                && walked.has_top_level("model")
            {
                walked.set_top_level_str("model", m);
            }
            target = Some(t);
        }
        Verdict::Forward { .. } => {}
    }
    let mut actions = scanned.value_actions(&per_finding);
    // What an answer may repeat without leaking.
    ctx.known.extend(
        scanned
            .values()
            .iter()
            .filter(|(e, _)| crate::risk::leaks::is_leak_entity(e))
            .cloned(),
    );
    // The residual re-identification risk of what would leave, and the policy on it.
    let assessed = scanned.risk(&actions);
    let risk_action = rt.config.risk.action_at(assessed.level);
    let assessed = match risk_action {
        crate::risk::RiskAction::PseudonymiseQuasi => {
            for &v in &assessed.near {
                actions[v] = ValueAction::Pseudonymise;
            }
            scanned.risk(&actions)
        }
        _ => assessed,
    };
    if assessed.persons > 0 {
        ctx.risk = Some(crate::audit::Risk {
            level: assessed.level.as_str().to_owned(),
            persons: assessed.persons as u64,
            quasi: assessed
                .quasi
                .iter()
                .map(|(k, n)| (k.clone(), *n as u64))
                .collect(),
            action: risk_action.recorded().map(str::to_owned),
        });
    }
    match risk_action {
        crate::risk::RiskAction::Block => {
            ctx.summary = scanned.summary().clone();
            ctx.value_hashes = scanned.value_hashes(rt.token_key());
            ctx.decision = Some(Decision::Blocked);
            ctx.rule = Some(RULE_RISK.to_owned());
            return Err(ProxyError::ReidentificationRisk {
                level: assessed.level.as_str(),
                kinds: assessed.quasi.keys().cloned().collect(),
            });
        }
        crate::risk::RiskAction::Warn => ctx.risk_warn = Some(assessed.level.as_str()),
        _ => {}
    }
    if ctx.mode == Mode::Observe {
        let (pseudonymised, redacted) = &mut ctx.would_values;
        for ((entity, _), action) in scanned.values().iter().zip(&actions) {
            let counts = match action {
                ValueAction::Pseudonymise => &mut *pseudonymised,
                ValueAction::Redact => &mut *redacted,
                ValueAction::Allow => continue,
            };
            *counts.entry(entity.clone()).or_default() += 1;
        }
    }
    let hashes = scanned.value_hashes(rt.token_key());
    // The vault's entries repeat the values found, plus the variants propagation met:
    // only those need hashing again.
    // (Keyed `entity NUL value` in one buffer: entity names hold no NUL. Looked up
    // through one reused key, not two `String`s cloned per vault entry.)
    let mut found_text = String::new();
    let mut found_ends = Vec::with_capacity(scanned.values().len());
    for (entity, value) in scanned.values() {
        found_text.push_str(entity);
        found_text.push('\0');
        found_text.push_str(value);
        found_ends.push(found_text.len());
    }
    let found: std::collections::HashSet<&str> = found_ends
        .iter()
        .scan(0, |start, &end| {
            let key = &found_text[*start..end];
            *start = end;
            Some(key)
        })
        .collect();
    let allow_media = target.unwrap_or(provider).allow_media;
    match pipeline::rewrite(scanned, walked, vault, &actions, allow_media) {
        Ok(summary) => {
            // Every value found (pseudonymised, redacted or allowed) has its keyed hash,
            // plus the variants propagation pseudonymised.
            let mut hashes = hashes;
            let mut key = String::new();
            hashes.extend(
                vault
                    .entries()
                    .iter()
                    .filter(|e| {
                        key.clear();
                        key.push_str(&e.entity);
                        key.push('\0');
                        key.push_str(&e.original);
                        !found.contains(key.as_str())
                    })
                    .map(|e| {
                        let h = rt.token_key().audit_hash(&e.entity, &e.original);
                        (e.entity.clone(), crate::audit::hex(&h))
                    }),
            );
            ctx.value_hashes = hashes;
            ctx.summary = summary;
            Ok(target)
        }
        Err(refused) => {
            // The refusal's record shows what was found (counts, keyed hashes); the
            // refusal (media, vault limit) is not the policy's, so no rule is named.
            let refused = *refused;
            ctx.rule = None;
            ctx.summary = refused.summary;
            ctx.value_hashes = refused.value_hashes;
            Err(refused.refusal.into())
        }
    }
}

/// The assistant profile a request uses, and what it chose.
#[derive(Clone, Copy)]
struct Profile<'a> {
    /// The provider the request goes to (before any policy route).
    provider: &'a ProviderConfig,
    /// The model to name instead of an `assistant:NAME` alias.
    model: Option<&'a String>,
}

/// C7: the request's assistant profile, by its virtual key or by the `model` alias
/// `assistant:NAME` (the two must agree), with the provider it chooses among those
/// allowed (the profile's ∩ the key's ∩ those of the API the client speaks) and the
/// reason, the model checked against the profile's, and the profile's mode. `None`
/// without a profile.
///
/// # Errors
/// An unknown profile, a model or a key's profile the profile does not allow, or no
/// provider left to serve it.
fn assistant_profile<'a>(
    rt: &'a Runtime,
    ctx: &mut Ctx,
    walked: &mut Walked,
    outside: &Outside<'_>,
    asked: &'a ProviderConfig,
) -> Result<Option<Profile<'a>>, ProxyError> {
    use crate::governance::alias;
    let named = walked.top_level_str("model").and_then(alias);
    let name = match (ctx.assistant.as_deref(), named) {
        (Some(bound), Some(a)) if bound != a => return Err(ProxyError::AssistantNotAllowed),
        (Some(bound), _) => bound,
        (None, Some(a)) => a,
        (None, None) => return Ok(None),
    };
    // An unknown name is the client's text: it is not recorded.
    let Some(assistant) = rt.config.assistants.get(name) else {
        ctx.assistant = None;
        return Err(ProxyError::UnknownAssistant);
    };
    ctx.assistant = Some(assistant.name.clone());
    let model = if named.is_some() {
        assistant.models.first()
    } else {
        let asked_model = walked
            .top_level_str("model")
            .or_else(|| outside.model(walked));
        if let Some(m) = asked_model
            && !assistant.models.is_empty()
            && !assistant.models.iter().any(|x| x == m)
        {
            return Err(ProxyError::AssistantNotAllowed);
        }
        None
    };
    if let Some(m) = model {
        walked.set_top_level_str("model", m.clone());
    }
    let key = ctx.key.map(|i| &rt.config.keys[i]);
    let allowed =
        |p: &str| key.is_none_or(|k| k.providers.is_empty() || k.providers.iter().any(|x| x == p));
    let (provider, reason) = assistant
        .choose(asked, &rt.config.providers, &allowed)
        .ok_or(ProxyError::AssistantUnavailable)?;
    ctx.route_reason = reason;
    if provider.name != asked.name {
        ctx.requested_provider = ctx.provider.replace(provider.name.clone());
        ctx.jurisdiction = provider.jurisdiction.clone();
    }
    ctx.mode = assistant
        .mode
        .unwrap_or_else(|| rt.config.modes.of(&provider.name, ctx.team.as_deref()));
    Ok(Some(Profile { provider, model }))
}

/// The policy of the request's assistant profile, when it overrides the global one.
fn profile_policy<'a>(rt: &'a Runtime, ctx: &Ctx) -> &'a crate::policy::Policy {
    ctx.assistant
        .as_deref()
        .and_then(|n| rt.config.assistants.get(n))
        .and_then(|a| a.policy.as_ref())
        .unwrap_or(&rt.config.policy)
}

/// The last edits before the body leaves (after pseudonymisation): the assistant
/// profile's system prompt, then the destination's enforced settings, each recorded.
fn finish_body(
    rt: &Runtime,
    ctx: &mut Ctx,
    endpoint: Endpoint,
    path: &str,
    walked: &mut Walked,
    destination: &ProviderConfig,
) {
    if let Some(prompt) = ctx
        .assistant
        .as_deref()
        .and_then(|n| rt.config.assistants.get(n))
        .and_then(|a| a.system_prompt.as_deref())
    {
        endpoint.prepend_system(walked, prompt);
    }
    if destination.settings.is_empty() {
        return;
    }
    let key = rt.token_key();
    destination.settings.apply(
        endpoint,
        path,
        walked,
        &mut |field, value| key.setting_hash(field, value),
        &mut ctx.settings,
    );
}
/// The rule a request blocked for its residual re-identification risk names.
pub const RULE_RISK: &str = "policy.risk";

/// Observe mode: runs [`apply_policy`] as enforcement would, on `walked` (which is not
/// sent) and a vault of its own, and moves what it would have done into `ctx.would`;
/// the context is left saying what happens (forwarded to the provider asked for,
/// nothing replaced). Returns whether the request would have left.
fn observe_policy(
    rt: &Runtime,
    ctx: &mut Ctx,
    walked: &mut Walked,
    provider: &ProviderConfig,
) -> bool {
    let asked = (
        ctx.provider.clone(),
        ctx.jurisdiction.clone(),
        ctx.requested_provider.clone(),
        ctx.route_reason,
    );
    let mut dry = Vault::for_request(
        rt.token_key(),
        &rt.config.pseudonyms,
        &ctx.principal,
        rt.config.limits.max_vault_entries,
    );
    let result = apply_policy(rt, ctx, walked, &mut dry, provider);
    let (decision, refusal, routed_to) = match &result {
        Ok(Some(t)) => (Decision::Routed, None, Some(t.name.clone())),
        Ok(None) => (Decision::Forwarded, None, None),
        Err(e) => (
            ctx.decision.unwrap_or(Decision::Refused),
            Some(e.code().to_owned()),
            None,
        ),
    };
    let counts = |m: BTreeMap<&'static str, usize>| {
        m.into_iter()
            .map(|(k, v)| (k.to_owned(), v as u64))
            .collect()
    };
    let (pseudonymised, redacted) = std::mem::take(&mut ctx.would_values);
    let leaves = result.is_ok();
    ctx.would = Some(Would {
        decision,
        rule: ctx.rule.take(),
        refusal,
        provider: routed_to,
        findings_by_action: counts(std::mem::take(&mut ctx.findings_by_action)),
        findings_by_rule: std::mem::take(&mut ctx.findings_by_rule)
            .into_iter()
            .map(|(k, v)| (k, v as u64))
            .collect(),
        pseudonymised: if leaves {
            pseudonymised
        } else {
            BTreeMap::new()
        },
        redacted: if leaves { redacted } else { BTreeMap::new() },
    });
    // What happened: sent as it came, to the provider asked for.
    (
        ctx.provider,
        ctx.jurisdiction,
        ctx.requested_provider,
        ctx.route_reason,
    ) = asked;
    ctx.decision = None;
    let s = &mut ctx.summary;
    s.changed = false;
    s.replaced = 0;
    s.redacted = 0;
    if let Err(ProxyError::Refused(pipeline::Refusal::Unscannable { kind })) = &result {
        // Media enforcement would refuse left unscanned.
        s.unscanned.push(kind);
    }
    leaves
}

/// Checks the client's key and returns the real key header to send (virtual-key mode).
/// A Paravent virtual key presented to a pass-through provider is refused, never
/// forwarded.
///
/// With an identity from a trusted proxy (`asserted`), the principal is the proxy's:
/// a pass-through provider still gets the client's own key (a virtual key is refused
/// as ever), and a virtual-key provider needs no key from the client (the proxy
/// authenticated the person; Paravent injects the real key). A virtual key presented
/// all the same is checked (unknown: refused; its `providers` list applies) and gives
/// its team when the directory and groups gave none; any other key is ignored there.
fn authenticate(
    rt: &Runtime,
    ctx: &mut Ctx,
    provider: &ProviderConfig,
    headers: &HeaderMap,
    query: &str,
    asserted: bool,
) -> Result<Option<(HeaderName, HeaderValue)>, ProxyError> {
    let presented = presented_key(provider.api, headers, query);
    if provider.auth == AuthMode::PassThrough {
        if let Some(k) = presented {
            if k.starts_with("pv-") {
                return Err(ProxyError::VirtualKeyPassThrough);
            }
            if !asserted {
                // A stable pseudonymous principal for per-principal tokens, never the key.
                let h = blake3::hash(k.as_bytes()).to_hex();
                ctx.principal = format!("key:{}", &h[..16]);
            }
        }
        return Ok(None);
    }
    let key = match presented {
        Some(k) if !asserted || k.starts_with("pv-") => k,
        _ if asserted => return Ok(rt.real_keys.get(&provider.name).cloned()),
        _ => return Err(ProxyError::MissingKey),
    };
    let hash = *blake3::hash(key.as_bytes()).as_bytes();
    let i = *rt.keys.get(&hash).ok_or(ProxyError::UnknownKey)?;
    let vk = &rt.config.keys[i];
    ctx.key = Some(i);
    // A key bound to an assistant profile goes where the profile chooses, among the
    // key's providers (checked there).
    ctx.assistant.clone_from(&vk.assistant);
    if vk.assistant.is_none()
        && !vk.providers.is_empty()
        && !vk.providers.iter().any(|p| p == &provider.name)
    {
        return Err(ProxyError::KeyNotAllowed);
    }
    if asserted {
        if ctx.team.is_none() {
            ctx.team = vk.team.clone();
        }
    } else {
        ctx.principal = vk.user.clone();
        // The key's own team, else the directory's for its user.
        ctx.team = vk.team.clone().or_else(|| {
            rt.config
                .directory
                .team_of(&vk.user.to_lowercase())
                .map(str::to_owned)
        });
    }
    Ok(rt.real_keys.get(&provider.name).cloned())
}

/// Hashes the client's address into the context and, with `[identity]`, reads a trusted
/// proxy's identity headers: `true` when they named the principal. Identity headers
/// from an untrusted (or unknown) peer refuse the request; their values are not read.
fn identify(
    rt: &Runtime,
    ctx: &mut Ctx,
    peer: Option<std::net::IpAddr>,
    headers: &HeaderMap,
) -> Result<bool, ProxyError> {
    let id = rt.config.identity.as_ref();
    if let Some(ip) = peer {
        let client = crate::identity::client_address(id, ip, headers);
        let h = rt
            .token_key()
            .audit_hash(CLIENT_ADDRESS_ENTITY, &client.to_string());
        ctx.client = Some(crate::audit::hex(&h));
    }
    let Some(id) = id else {
        return Ok(false);
    };
    let missing = if id.required {
        Err(ProxyError::IdentityRequired)
    } else {
        Ok(false)
    };
    if !peer.is_some_and(|p| id.trusts(p)) {
        if id.carries_identity(headers) {
            return Err(ProxyError::UntrustedIdentity);
        }
        return missing;
    }
    match crate::identity::asserted(id, headers) {
        Err(_) => Err(ProxyError::InvalidIdentity),
        Ok(None) => missing,
        Ok(Some(a)) => {
            ctx.team = crate::identity::team_of(&rt.config.directory, &rt.config.known_teams, &a)
                .map(str::to_owned);
            ctx.principal = a.user;
            Ok(true)
        }
    }
}

/// The key the client presented: one of the API's key headers (`Authorization: Bearer`,
/// `x-api-key`, `x-goog-api-key`, `api-key`), or a `key=` / `api_key=` query parameter.
fn presented_key(api: Api, headers: &HeaderMap, query: &str) -> Option<String> {
    // A key header of any API is read, so that a virtual key sent in another API's
    // header is recognised (and never forwarded); other APIs' headers are dropped.
    for (name, value) in headers {
        let name = name.as_str();
        if !Api::ALL.iter().any(|a| a.header(name) == Param::Auth) {
            continue;
        }
        if let Ok(v) = value.to_str() {
            let v = v.trim();
            let v = v
                .strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
                .unwrap_or(v);
            if !v.is_empty() && (api.header(name) == Param::Auth || v.starts_with("pv-")) {
                return Some(v.trim().to_owned());
            }
        }
    }
    query
        .split('&')
        .find_map(|kv| {
            let (n, v) = kv.split_once('=')?;
            is_key_param(n).then(|| {
                percent_encoding::percent_decode_str(v)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
        .filter(|k| !k.is_empty())
}

/// The provider's response headers as they go to the client: hop-by-hop headers (and
/// those the `Connection` header names) dropped, lengths and encodings recomputed.
fn forward_headers(input: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = input
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(input.len());
    for (name, value) in input {
        let n = name.as_str();
        if SKIPPED_HEADERS.contains(&n) || named.iter().any(|c| c == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

fn response_headers(input: &HeaderMap, rewritten: bool) -> HeaderMap {
    let mut out = forward_headers(input);
    if !rewritten {
        if let Some(v) = input.get(header::CONTENT_LENGTH) {
            out.insert(header::CONTENT_LENGTH, v.clone());
        }
        if let Some(v) = input.get(header::CONTENT_ENCODING) {
            out.insert(header::CONTENT_ENCODING, v.clone());
        }
    }
    out
}

/// The response phase: every answer Paravent can read goes to the client re-identified,
/// with the real provider key it injected (virtual-key mode) redacted:
///
/// - the streams of the known APIs (SSE, NDJSON, and Gemini's JSON array, told from a
///   `generateContent` object by its first byte) as they pass, decoded first when the
///   provider compressed them anyway (gzip, deflate, br); a stream in an encoding
///   Paravent cannot decode as it streams (zstd, unknown) is refused with a 502 in the
///   provider's format, before anything is sent;
/// - JSON, text (`text/*` but SSE, or no content type) and, when a key must be redacted,
///   any error answer (status >= 400): read whole up to `max_response_bytes`, decoded,
///   re-identified (text only when it is UTF-8), sent uncompressed;
/// - the rest (media, bodies over the limit that need no redaction) passes on as it
///   streams.
async fn response(
    rt: &Runtime,
    ctx: &mut Ctx,
    resp: Response<hyper::body::Incoming>,
    reid: &Arc<Reidentifier>,
    head: bool,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (mut parts, body) = resp.into_parts();
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_json = ct.starts_with("application/json") || ct.contains("+json");
    ctx.upstream_status = Some(parts.status.as_u16());
    let redactor = key_redactor(rt, ctx);
    if let Some(r) = &redactor {
        redact_headers(&mut parts.headers, r);
    }
    let coding = Coding::of(&parts.headers);
    let needs_reid = !reid.is_empty();
    let mut stream = ctx.endpoint.and_then(|e| StreamKind::of(e, &ct));
    let body = if stream.is_none() && !head && is_json && ctx.endpoint == Some(Endpoint::Gemini) {
        let (body, array) = opens_array(body, &coding).await?;
        if array {
            stream = Some(StreamKind::GeminiArray);
        }
        body
    } else {
        body::Prefixed::new(Bytes::new(), None, Some(body))
    };
    if let Some(kind) = stream
        && !head
    {
        let decoder = match &coding {
            Coding::Plain => None,
            Coding::Coded(encs) => Some(
                crate::body::Decompressor::new(encs, crate::body::MAX_INFLATED_CHUNK_BYTES)
                    .map_err(|_| undecodable_stream(ctx))?,
            ),
            Coding::Unreadable => return Err(undecodable_stream(ctx)),
        };
        ctx.streamed = true;
        let error = ctx.format.error_body(
            502,
            ErrorClass::Upstream,
            "paravent_stream_limit",
            "the provider's stream exceeded a limit of Paravent or could not be read",
            &ctx.id,
        );
        let audit_error = ctx.format.error_body(
            503,
            ProxyError::AuditUnavailable.class(),
            ProxyError::AuditUnavailable.code(),
            "Paravent: the audit trail cannot be written, so the end of this answer was \
             withheld (company policy). Tell your administrator.",
            &ctx.id,
        );
        let slot = RecordSlot::default();
        ctx.record_slot = Some(slot.clone());
        // With nothing to restore, decode, redact or scan for leaks (embeddings), a
        // stream passes byte for byte, read
        // for its usage only (a JSON array is always rewritten: its closing bracket
        // waits for the record). Either way its record is written at its end.
        let pass = !needs_reid
            && decoder.is_none()
            && redactor.is_none()
            && kind != StreamKind::GeminiArray
            && ctx.answers.is_none();
        let rewriter = match &ctx.answers {
            Some(a) => Rewriter::new(kind, reid.clone()).with_leaks(a.clone()),
            None => Rewriter::new(kind, reid.clone()),
        };
        let mut rb = body::ReidentifyBody::new(body, rewriter, error, ctx.id.clone())
            .with_record(slot, audit_error);
        if let Some(d) = decoder {
            rb = rb.with_decoder(d);
        }
        if let Some(r) = redactor {
            rb = rb.with_redactor(r);
        }
        if pass {
            rb = rb.pass_through();
        }
        let idle = rt.config.limits.stream_idle_timeout_ms;
        if idle > 0 {
            rb = rb.with_idle_timeout(Duration::from_millis(idle));
        }
        let mut out = Response::new(rb.boxed());
        *out.status_mut() = parts.status;
        // Rewritten: no content-length (nor content-encoding).
        *out.headers_mut() = response_headers(&parts.headers, !pass);
        return Ok(out);
    }
    let status = parts.status.as_u16();
    let has_body = !(parts.status.is_informational() || status == 204 || status == 304);
    let is_text =
        ct.is_empty() || (ct.starts_with("text/") && !ct.starts_with("text/event-stream"));
    let must_redact = redactor.is_some() && status >= 400;
    if head || !has_body || !(is_json || is_text || must_redact) {
        // Media, or a body that is neither JSON, text nor a known stream.
        return Ok(pass_on(&parts, body.map_err(Into::into).boxed()));
    }
    let limit = usize::try_from(rt.config.limits.max_response_bytes).unwrap_or(usize::MAX);
    let answers = ctx.answers.clone();
    if !needs_reid && redactor.is_none() && answers.is_none() {
        // Nothing to restore, redact nor scan: a JSON answer is read (bounded) for its usage,
        // anything else passes on as it comes.
        if !is_json || !matches!(coding, Coding::Plain) {
            return Ok(pass_on(&parts, body.map_err(Into::into).boxed()));
        }
        let body = match body::collect_up_to(body, limit).await {
            body::Collected::Whole(bytes, trailers) => {
                ctx.usage = crate::audit::usage::from_json(&bytes);
                body::Prefixed::<hyper::body::Incoming>::new(bytes, trailers, None).boxed()
            }
            body::Collected::Partial(head, rest) => {
                body::Prefixed::new(head, None, Some(rest)).boxed()
            }
            body::Collected::Failed => return Err(ProxyError::UpstreamBody),
        };
        return Ok(pass_on(&parts, body));
    }
    let too_large = ProxyError::UpstreamTooLarge {
        limit: rt.config.limits.max_response_bytes,
    };
    let raw = match body::collect_up_to(body, limit).await {
        body::Collected::Whole(bytes, _) => bytes,
        body::Collected::Partial(head, rest) => {
            // Over the limit: refused when it must be read (JSON to restore, an error
            // to redact), else passed on as it comes (text we do not restore past it).
            let scans = answers.as_ref().is_some_and(|a| a.redacts());
            if (is_json && (needs_reid || scans)) || must_redact {
                return Err(too_large);
            }
            return Ok(pass_on(
                &parts,
                body::Prefixed::new(head, None, Some(rest)).boxed(),
            ));
        }
        body::Collected::Failed => return Err(ProxyError::UpstreamBody),
    };
    // A large answer is decompressed and re-identified on the scan pool, as a large
    // request is scanned: off the async workers.
    let turn = rt
        .process
        .scan_pool
        .turn(raw.len(), matches!(coding, Coding::Coded(_)))
        .await;
    let bytes = match &coding {
        Coding::Plain => raw,
        Coding::Coded(encs) => match pool::run(turn.as_ref(), || {
            crate::body::decode(encs, raw.clone(), limit as u64)
        }) {
            Ok(b) => b,
            Err(crate::body::BodyError::DecompressedTooLarge { .. }) if is_json || must_redact => {
                return Err(too_large);
            }
            Err(_) if is_json || must_redact => return Err(ProxyError::UpstreamBody),
            // Text Paravent cannot decode: on as it came.
            Err(_) => return Ok(pass_on(&parts, full(raw))),
        },
        Coding::Unreadable if is_json || must_redact => return Err(ProxyError::UpstreamBody),
        Coding::Unreadable => return Ok(pass_on(&parts, full(raw))),
    };
    let out = if is_json {
        ctx.usage = crate::audit::usage::from_json(&bytes);
        let bytes = if needs_reid {
            pool::run(turn.as_ref(), || {
                reidentify_json(reid, bytes, &mut ctx.reidentified)
            })
        } else {
            bytes
        };
        match &answers {
            Some(a) => pool::run(turn.as_ref(), || scan_answer_json(a, bytes)),
            None => bytes,
        }
    } else {
        let bytes = match std::str::from_utf8(&bytes) {
            Ok(text) if needs_reid => {
                let (t, n) = pool::run(turn.as_ref(), || reid.reidentify(text));
                ctx.reidentified += n;
                match t {
                    std::borrow::Cow::Borrowed(_) => bytes,
                    std::borrow::Cow::Owned(t) => Bytes::from(t),
                }
            }
            // Not UTF-8: nothing to restore in it, but a key is looked for all the same.
            _ => bytes,
        };
        match (&answers, std::str::from_utf8(&bytes)) {
            (Some(a), Ok(text)) => match pool::run(turn.as_ref(), || a.scan(text)) {
                std::borrow::Cow::Borrowed(_) => bytes,
                std::borrow::Cow::Owned(t) => Bytes::from(t),
            },
            _ => bytes,
        }
    };
    if needs_reid && let Ok(text) = std::str::from_utf8(&out) {
        ctx.unknown_tokens = crate::reidentify::count_token_shapes(text);
    }
    let out = match &redactor {
        Some(r) => match r.redact(&out) {
            std::borrow::Cow::Borrowed(_) => out,
            std::borrow::Cow::Owned(v) => Bytes::from(v),
        },
        None => out,
    };
    let mut resp = Response::new(full(out.clone()));
    *resp.status_mut() = parts.status;
    let mut headers = response_headers(&parts.headers, true);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
    *resp.headers_mut() = headers;
    Ok(resp)
}

/// How an upstream answer is encoded (`Content-Encoding`).
enum Coding {
    /// Not encoded (or `identity`).
    Plain,
    /// The codings as applied, first to last.
    Coded(Vec<crate::body::Encoding>),
    /// An encoding Paravent cannot read.
    Unreadable,
}

impl Coding {
    fn of(headers: &HeaderMap) -> Coding {
        let Some(v) = headers.get(header::CONTENT_ENCODING) else {
            return Coding::Plain;
        };
        match v.to_str().map(crate::body::parse_encodings) {
            Ok(Ok(e)) if e.is_empty() => Coding::Plain,
            Ok(Ok(e)) => Coding::Coded(e),
            _ => Coding::Unreadable,
        }
    }
}

/// The upstream answer's status and headers over `body`, as it came.
fn pass_on(parts: &http::response::Parts, body: ProxyBody) -> Response<ProxyBody> {
    let mut out = Response::new(body);
    *out.status_mut() = parts.status;
    *out.headers_mut() = response_headers(&parts.headers, false);
    out
}

/// A stream whose content encoding Paravent cannot decode as it streams: refused before
/// anything is sent (its tokens and bytes never reach the client unread).
fn undecodable_stream(ctx: &Ctx) -> ProxyError {
    tracing::warn!(request_id = %ctx.id,
        "Stream refused: its content encoding cannot be decoded as it streams.");
    ProxyError::UpstreamBody
}

/// The redactor of the real key injected for the request's provider, when it uses
/// virtual keys (`ctx.provider` is the provider the request went to, routed or not).
fn key_redactor(rt: &Runtime, ctx: &Ctx) -> Option<crate::reidentify::KeyRedactor> {
    let (_, value) = rt.real_keys.get(ctx.provider.as_deref()?)?;
    crate::reidentify::KeyRedactor::new([value.as_bytes()])
}

/// Redacts the injected key in the upstream headers (dropping a value that would no
/// longer be a valid header).
fn redact_headers(headers: &mut HeaderMap, r: &crate::reidentify::KeyRedactor) {
    let hits: Vec<HeaderName> = headers
        .iter()
        .filter(|(_, v)| matches!(r.redact(v.as_bytes()), std::borrow::Cow::Owned(_)))
        .map(|(n, _)| n.clone())
        .collect();
    for name in hits {
        let values: Vec<HeaderValue> = headers
            .get_all(&name)
            .iter()
            .filter_map(|v| HeaderValue::from_bytes(&r.redact(v.as_bytes())).ok())
            .collect();
        headers.remove(&name);
        for v in values {
            headers.append(name.clone(), v);
        }
    }
}

/// The most of a Gemini JSON answer read before deciding it is not a streamed array.
const SNIFF_MAX_BYTES: usize = 64 * 1024;

/// Whether a Gemini JSON answer opens with `[`: `streamGenerateContent` without
/// `alt=sse` streams a JSON array, the other methods answer one object, and the proxy
/// does not know here which was asked for. Reads (decoding a copy, when compressed)
/// until the first non-blank byte; returns the body whole, what was read first.
async fn opens_array(
    mut body: hyper::body::Incoming,
    coding: &Coding,
) -> Result<(body::Prefixed<hyper::body::Incoming>, bool), ProxyError> {
    let mut decoder = match coding {
        Coding::Plain => None,
        Coding::Coded(e) => {
            match crate::body::Decompressor::new(e, crate::body::MAX_INFLATED_CHUNK_BYTES) {
                Ok(d) => Some(d),
                // Not decodable as a stream: the JSON path reads it (or refuses it).
                Err(_) => return Ok((body::Prefixed::new(Bytes::new(), None, Some(body)), false)),
            }
        }
        Coding::Unreadable => {
            return Ok((body::Prefixed::new(Bytes::new(), None, Some(body)), false));
        }
    };
    let mut raw = bytes::BytesMut::new();
    loop {
        let frame = match body.frame().await {
            None => return Ok((body::Prefixed::new(raw.freeze(), None, None), false)),
            Some(Err(_)) => return Err(ProxyError::UpstreamBody),
            Some(Ok(f)) => f,
        };
        let data = match frame.into_data() {
            Ok(d) => d,
            Err(f) => {
                let trailers = f.into_trailers().ok();
                return Ok((body::Prefixed::new(raw.freeze(), trailers, None), false));
            }
        };
        raw.extend_from_slice(&data);
        let decoded = match &mut decoder {
            Some(d) => match d.push(&data) {
                Ok(v) => Bytes::from(v),
                Err(_) => return Ok((body::Prefixed::new(raw.freeze(), None, Some(body)), false)),
            },
            None => data,
        };
        if let Some(&b) = decoded.iter().find(|b| !b.is_ascii_whitespace()) {
            return Ok((
                body::Prefixed::new(raw.freeze(), None, Some(body)),
                b == b'[',
            ));
        }
        if raw.len() > SNIFF_MAX_BYTES {
            return Ok((body::Prefixed::new(raw.freeze(), None, Some(body)), false));
        }
    }
}

/// Re-identifies a JSON answer. When every original can stand in a JSON string as it is,
/// the text is re-identified without parsing (tokens are plain ASCII, so they appear
/// verbatim in JSON text, even inside JSON-encoded tool arguments; read as JSON text, a
/// token right after an escape such as `\n` is not glued to its letter); otherwise the
/// JSON is walked and every string value re-identified.
fn reidentify_json(reid: &Reidentifier, bytes: Bytes, count: &mut usize) -> Bytes {
    if reid.json_safe()
        && let Ok(text) = std::str::from_utf8(&bytes)
    {
        let (out, n) = reid.reidentify_json_text(text);
        *count += n;
        return match out {
            std::borrow::Cow::Borrowed(_) => bytes,
            std::borrow::Cow::Owned(s) => Bytes::from(s),
        };
    }
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        // Not JSON after all: nothing we can restore safely; it goes on as it came.
        return bytes;
    };
    let mut restored = 0;
    let changed = crate::walk::each_string_mut(&mut json, &mut |text: &mut String| {
        let (out, n) = reid.reidentify(text);
        if n == 0 {
            return false;
        }
        restored += n;
        *text = out.into_owned();
        true
    });
    if changed {
        *count += restored;
        if let Ok(out) = serde_json::to_vec(&json) {
            return Bytes::from(out);
        }
    }
    bytes
}

/// Scans every string of a JSON answer for leaks ([`crate::risk::leaks`]); the
/// answer is rewritten only when a leak is redacted.
fn scan_answer_json(answers: &crate::risk::leaks::Answers, bytes: Bytes) -> Bytes {
    if !answers.redacts() {
        // Recording only: nothing is rewritten, so the strings are visited as the
        // parser meets them, without building the document. As with the document, an
        // answer that is not JSON is not scanned: checked first, by the same parser.
        if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
            let mut scan = |text: &str| {
                answers.scan(text);
            };
            let mut de = serde_json::Deserializer::from_slice(&bytes);
            let _ = serde::de::DeserializeSeed::deserialize(EachString(&mut scan), &mut de);
        }
        return bytes;
    }
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return bytes;
    };
    let changed = crate::walk::each_string_mut(&mut json, &mut |text: &mut String| match answers
        .scan(text)
    {
        std::borrow::Cow::Borrowed(_) => false,
        std::borrow::Cow::Owned(t) => {
            *text = t;
            true
        }
    });
    if changed && let Ok(out) = serde_json::to_vec(&json) {
        return Bytes::from(out);
    }
    bytes
}

/// Calls its function with every string value of a JSON document (not the keys), in
/// document order, and, for a string that holds a JSON object or array, with that
/// document's strings instead: the strings [`crate::walk::each_string_mut`] visits,
/// without building a [`serde_json::Value`].
struct EachString<'f>(&'f mut dyn FnMut(&str));

impl<'de> serde::de::DeserializeSeed<'de> for EachString<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for EachString<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        let t = s.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            // A document inside the string (tool-call arguments): its strings, when it
            // is one (checked whole first, as parsing it into a value would).
            if serde_json::from_str::<serde::de::IgnoredAny>(s).is_ok() {
                let mut de = serde_json::Deserializer::from_str(s);
                let _ = serde::de::DeserializeSeed::deserialize(EachString(self.0), &mut de);
                return Ok(());
            }
        }
        (self.0)(s);
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(EachString(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(number) = map.next_key_seed(NumberKey)? {
            if number {
                // A number, as serde_json's `arbitrary_precision` hands it over (a map
                // of one private key): no string, as in a value.
                map.next_value::<serde::de::IgnoredAny>()?;
            } else {
                map.next_value_seed(EachString(&mut *self.0))?;
            }
        }
        Ok(())
    }
}

/// Reads an object key: whether it is the private key serde_json gives a number under
/// (`arbitrary_precision`), without allocating it.
struct NumberKey;

impl<'de> serde::de::DeserializeSeed<'de> for NumberKey {
    type Value = bool;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NumberKey {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == "$serde_json::private::Number")
    }
}

/// Longest model name kept in the audit record.
const MAX_MODEL_CHARS: usize = 128;

#[cfg(test)]
mod tests {
    use super::*;

    /// The strings `EachString` hands over, or `None` when it finds no JSON document.
    fn visited(json: &str) -> Option<Vec<String>> {
        let mut seen = Vec::new();
        let mut push = |s: &str| seen.push(s.to_owned());
        let mut de = serde_json::Deserializer::from_str(json);
        serde::de::DeserializeSeed::deserialize(EachString(&mut push), &mut de).ok()?;
        de.end().ok()?;
        Some(seen)
    }

    /// What `walk::each_string_mut` visits in the document (sorted: a `Value`'s
    /// objects may keep another order).
    fn walked(json: &str) -> Option<Vec<String>> {
        let mut v: serde_json::Value = serde_json::from_str(json).ok()?;
        let mut seen = Vec::new();
        crate::walk::each_string_mut(&mut v, &mut |s: &mut String| {
            seen.push(s.clone());
            false
        });
        seen.sort();
        Some(seen)
    }

    #[test]
    fn the_answer_scan_without_a_document_visits_the_strings_a_walk_of_the_document_visits() {
        for json in [
            r#"{"id":"chatcmpl-1","created":1760000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Appelez le 06 12 34 56 78 ou \u00e9crivez \u00e0 a@b.fr\n","tool_calls":[{"function":{"arguments":"{\"to\":\"jean@example.org\",\"n\":42,\"tags\":[\"x\",\"07 00 00 00 00\"]}"}}]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":512,"total_tokens":1.5e3}}"#,
            r#"["a", 1, -2.5e400, true, null, {"k": "v"}, " [not json", "{\"a\":1} trailing"]"#,
            r#""just a string""#,
            r#"12345678901234567890123"#,
        ] {
            let mut ours = visited(json).expect("a JSON document");
            ours.sort();
            assert_eq!(Some(ours), walked(json), "{json}");
        }
        // Not JSON: neither visits anything.
        for bad in [r#"{"a": "b""#, r#"{"a": 1} x"#, "", "{\"a\": tru}"] {
            assert_eq!(visited(bad), None, "{bad}");
            assert_eq!(walked(bad), None, "{bad}");
        }
    }
}
