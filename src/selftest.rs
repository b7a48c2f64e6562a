//! `paravent selftest`: proves on this deployment's configuration that what leaves is
//! pseudonymised and what comes back is restored.
//!
//! The configured pipeline and policy are served in-process on 127.0.0.1, every
//! configured provider pointed at a built-in echo provider on 127.0.0.1 (no network):
//! the echo answers with the text it received, so the tokens it saw come back and are
//! restored. The prompts are the rules' own examples (the shipped rules, whatever the
//! configuration disables, and the configuration's own rule files), each wrapped in a
//! French or English sentence, sent through every provider, every endpoint of its API
//! (OpenAI chat and responses, Anthropic messages, Gemini, Ollama chat), streamed and
//! not. For each marked value of each example it checks:
//! - it did not reach the echo in clear (its bytes, and a case-folded view without
//!   separators), unless the policy or an allow list lets it out (reported as allowed,
//!   not as a leak);
//! - when pseudonymised, it came back restored in the answer;
//! - the request was refused exactly where the policy says it is;
//! - the audit chain written during the run (to a temporary file) verifies.
//!
//! What it changes in the configuration, and only for the run: provider addresses (the
//! echo), `auth = "virtual"` providers (served as pass-through: the client is then
//! anonymous), `[identity]` (off: every request is anonymous), rate limits and the cap on
//! requests in flight (off), TLS on the listener (off), the audit path (a temporary
//! file). The report never holds a value: entity names, rule ids and counts only.
//!
//! Async, as a driver of [`crate::server`] (as `main` is): nothing of the request path
//! imports it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::Api;
use crate::config::{AuthMode, Config, Mode};
use crate::detect::rules::{RuleExample, RuleSet};
use crate::outcome::Outcome;
use crate::proxy::{REQUEST_ID_HEADER, Runtime};
use crate::scan::Explain;
use crate::vault::TokenKey;

/// Largest answer read from the proxy or request read by the echo.
pub const MAX_SELFTEST_BODY_BYTES: usize = 4 << 20;
/// Requests in flight at once during the run.
pub const SELFTEST_CONCURRENCY: usize = 8;
/// Characters per streamed chunk of the echo (small, so tokens are cut across chunks).
pub const ECHO_CHUNK_CHARS: usize = 5;
/// Failures printed in the summary (the `--out` report has them all).
pub const MAX_FAILURES_PRINTED: usize = 50;
/// Shortest folded value searched in the folded view (shorter ones would match by chance).
pub const MIN_FOLDED_CHARS: usize = 4;

/// Why the self-test could not run (a failed check is not an error: see [`Report`]).
#[derive(Debug, thiserror::Error)]
pub enum SelftestError {
    #[error("cannot start the echo provider or the proxy")]
    Listen(#[source] std::io::Error),
    #[error("cannot build the runtime")]
    Runtime(#[from] crate::proxy::RuntimeError),
    #[error("cannot write the temporary audit trail")]
    Audit(#[from] crate::audit::writer::WriterError),
    #[error("cannot create the temporary directory")]
    TempDir(#[source] std::io::Error),
}

/// The self-test's findings: also the JSON report.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub paravent_version: String,
    /// The configuration version (the audit records' policy version).
    pub config_version: String,
    /// BLAKE3 of the compiled rule files ([`RuleSet::version`]).
    pub rules_version: String,
    pub policy_mode: String,
    pub prompts: usize,
    pub requests: usize,
    /// Per entity: what became of its values.
    pub entities: BTreeMap<String, EntityRow>,
    /// Per policy rule: requests it decided, findings it chose for, refusals.
    pub policy_rules: BTreeMap<String, RuleRow>,
    pub refusals_expected: usize,
    pub refusals: usize,
    pub audit_records: usize,
    pub audit_chain_verified: bool,
    /// What the run changed in the configuration.
    pub adjustments: Vec<String>,
    /// Each failed check, with entity, provider and format, never a value.
    pub failures: Vec<String>,
}

/// What became of one entity's values, counted per value and request.
#[derive(Debug, Default, Clone, Serialize)]
pub struct EntityRow {
    /// Values of this entity sent (in requests the policy forwards).
    pub values: usize,
    /// Detected by the pipeline (as any entity).
    pub found: usize,
    /// Reached the provider in clear against the policy: leaks.
    pub sent_in_clear: usize,
    /// Reached the provider in clear because the policy or an allow list says so.
    pub allowed: usize,
    /// Replaced by a redaction marker (never restored, by design).
    pub redacted: usize,
    /// Pseudonymised and restored in the answer.
    pub restored: usize,
    /// Pseudonymised but missing from the answer.
    pub not_restored: usize,
    /// In requests refused (as the policy says).
    pub refused: usize,
}

impl EntityRow {
    /// The counts in the reports' column order.
    fn counts(&self) -> [usize; 8] {
        [
            self.values,
            self.found,
            self.sent_in_clear,
            self.allowed,
            self.redacted,
            self.restored,
            self.not_restored,
            self.refused,
        ]
    }
}

/// One policy rule's part in the run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RuleRow {
    /// Requests whose decision this rule made.
    pub requests: usize,
    /// Findings this rule chose the action of.
    pub findings: usize,
    /// Requests refused by this rule.
    pub refused: usize,
}

impl Report {
    /// No leak, every pseudonymised value restored, refusals as the policy says, the
    /// chain intact.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// One prompt: a wrapped rule example and the values it holds.
#[derive(Debug, Clone)]
struct Prompt {
    entity: String,
    lang: &'static str,
    text: String,
    /// The marked values (text of each expected span).
    values: Vec<String>,
}

/// The built-in prompts: every example of the shipped rules and of the configuration's
/// own rule files, each wrapped in a French or English sentence.
fn prompts(cfg: &Config) -> Vec<Prompt> {
    let mut examples: Vec<RuleExample> =
        RuleSet::builtin().map(|s| s.examples()).unwrap_or_default();
    examples.extend(
        cfg.rule_set
            .examples()
            .into_iter()
            .filter(|e| !e.file.starts_with("<builtin>")),
    );
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, ex) in examples.iter().enumerate() {
        if ex.counter || ex.unclosed_marker || ex.expected.is_empty() {
            continue;
        }
        if !seen.insert((ex.rule.clone(), ex.text.clone())) {
            continue;
        }
        // The French and English rule files' examples in their language; the others
        // (core, quasi, person, the company's own) alternately in each.
        let lang =
            if ex.file.ends_with("/fr.toml") || (!ex.file.ends_with("/en.toml") && i % 2 == 0) {
                "fr"
            } else {
                "en"
            };
        let (before, after) = match lang {
            "fr" => ("Bonjour, reprends ce message mot pour mot :\n", "\nMerci."),
            _ => (
                "Hello, please repeat this message word for word:\n",
                "\nThanks.",
            ),
        };
        let values = ex
            .expected
            .iter()
            .filter_map(|&(s, e)| ex.text.get(s..e).map(str::to_owned))
            .collect();
        out.push(Prompt {
            entity: ex.entity.as_str().to_owned(),
            lang,
            text: format!("{before}{}{after}", ex.text),
            values,
        });
    }
    out
}

/// One way of sending a prompt: provider, endpoint, streamed or not.
#[derive(Debug, Clone)]
struct Variant {
    provider: String,
    api: Api,
    endpoint: &'static str,
    stream: bool,
}

impl Variant {
    fn label(&self) -> String {
        format!(
            "{} {}{}",
            self.provider,
            self.endpoint,
            if self.stream { " (streamed)" } else { "" }
        )
    }

    fn request(&self, text: &str) -> (String, Value) {
        let p = &self.provider;
        let messages = json!([{"role": "user", "content": text}]);
        match (self.api, self.endpoint) {
            (Api::Openai, "responses") => (
                format!("/{p}/v1/responses"),
                json!({"model": "selftest", "input": text, "stream": self.stream}),
            ),
            (Api::Openai, _) => (
                format!("/{p}/v1/chat/completions"),
                json!({"model": "selftest", "messages": messages, "stream": self.stream}),
            ),
            (Api::Anthropic, _) => (
                format!("/{p}/v1/messages"),
                json!({"model": "selftest", "max_tokens": 256, "messages": messages, "stream": self.stream}),
            ),
            (Api::Gemini, _) => (
                if self.stream {
                    format!("/{p}/v1beta/models/selftest:streamGenerateContent?alt=sse")
                } else {
                    format!("/{p}/v1beta/models/selftest:generateContent")
                },
                json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
            ),
            (Api::Ollama, _) => (
                format!("/{p}/api/chat"),
                json!({"model": "selftest", "messages": messages, "stream": self.stream}),
            ),
        }
    }

    fn auth(&self) -> (&'static str, &'static str) {
        match self.api {
            Api::Anthropic => ("x-api-key", "selftest"),
            Api::Gemini => ("x-goog-api-key", "selftest"),
            Api::Openai | Api::Ollama => ("authorization", "Bearer selftest"),
        }
    }
}

fn variants(cfg: &Config) -> Vec<Variant> {
    let mut out = Vec::new();
    for p in cfg.providers.values() {
        let endpoints: &[&'static str] = match p.api {
            Api::Openai => &["chat", "responses"],
            Api::Anthropic => &["messages"],
            Api::Gemini => &["generateContent"],
            Api::Ollama => &["chat"],
        };
        for &endpoint in endpoints {
            for stream in [false, true] {
                out.push(Variant {
                    provider: p.name.clone(),
                    api: p.api,
                    endpoint,
                    stream,
                });
            }
        }
    }
    out
}

/// The configuration as the run serves it; what was changed, in words.
fn adjust(cfg: &mut Config, echo: SocketAddr) -> Vec<String> {
    let mut notes = Vec::new();
    let uri: http::Uri = format!("http://{echo}")
        .parse()
        .expect("a socket address makes a valid URI");
    for p in cfg.providers.values_mut() {
        p.base_url = uri.clone();
        if p.auth == AuthMode::Virtual {
            p.auth = AuthMode::PassThrough;
            p.key_env = None;
            notes.push(format!(
                "provider {}: virtual keys served as pass-through (anonymous client)",
                p.name
            ));
        }
    }
    notes.push("every provider answered by the built-in echo on 127.0.0.1".to_owned());
    if cfg.identity.take().is_some() {
        notes.push("[identity] off: every request is anonymous".to_owned());
    }
    let l = &mut cfg.limits;
    l.principal_requests_per_minute = 0;
    l.team_requests_per_minute = 0;
    l.max_concurrent_requests = 0;
    cfg.server.tls = None;
    notes
}

/// The header that tells the echo which request it gets (one the APIs forward).
const ECHO_ID_HEADER: &str = "x-request-id";

/// What the echo received, per request id ([`ECHO_ID_HEADER`]).
type Received = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// Runs the self-test on `cfg` with the deployment's token key.
///
/// # Errors
/// When a listener, the runtime or the temporary audit trail cannot be set up.
pub async fn run(mut cfg: Config, key: TokenKey) -> Result<Report, SelftestError> {
    let received: Received = Arc::default();
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(SelftestError::Listen)?;
    let echo_addr = echo.local_addr().map_err(SelftestError::Listen)?;
    let echo_task = tokio::spawn(serve_echo(echo, received.clone()));

    let mut report = Report {
        paravent_version: env!("CARGO_PKG_VERSION").to_owned(),
        config_version: cfg.version.clone(),
        rules_version: cfg.rule_set.version(),
        policy_mode: match cfg.modes.all {
            Mode::Enforce => "enforce",
            Mode::Observe => "observe",
        }
        .to_owned(),
        ..Report::default()
    };
    report.adjustments = adjust(&mut cfg, echo_addr);
    let prompts = prompts(&cfg);
    let variants = variants(&cfg);
    report.prompts = prompts.len();

    let dir = std::env::temp_dir().join(format!(
        "paravent-selftest-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).map_err(SelftestError::TempDir)?;
    let result = run_in(cfg, key, &dir, &prompts, &variants, &received, &mut report).await;
    let _ = std::fs::remove_dir_all(&dir);
    echo_task.abort();
    result?;
    Ok(report)
}

async fn run_in(
    cfg: Config,
    key: TokenKey,
    dir: &std::path::Path,
    prompts: &[Prompt],
    variants: &[Variant],
    received: &Received,
    report: &mut Report,
) -> Result<(), SelftestError> {
    let path: PathBuf = dir.join("selftest.jsonl");
    let mut audit_cfg = cfg.audit.clone();
    audit_cfg.fsync = crate::config::FsyncPolicy::Never;
    audit_cfg.rotate_bytes = None;
    audit_cfg.rotate = crate::config::Rotate::Never;
    let writer = Arc::new(crate::audit::writer::AuditWriter::open(
        &path,
        &audit_cfg,
        "selftest".to_owned(),
        cfg.version.clone(),
    )?);
    let outcomes: Arc<Mutex<BTreeMap<String, Outcome>>> = Arc::default();
    let hook = {
        let outcomes = outcomes.clone();
        Arc::new(move |o: &Outcome| {
            if let Ok(mut m) = outcomes.lock() {
                m.insert(o.request_id.clone(), o.clone());
            }
        })
    };
    let rt = Runtime::with_env(cfg, key, |_| Some("selftest".to_owned()))?
        .with_audit(writer.clone())
        .with_outcome_hook(hook);
    let rt = Arc::new(rt);
    let server = crate::server::Running::start(rt.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(SelftestError::Listen)?;
    let client = crate::upstream::client(std::time::Duration::from_secs(10))
        .map_err(|e| SelftestError::Runtime(e.into()))?;

    let mut jobs = Vec::new();
    for (pi, p) in prompts.iter().enumerate() {
        for (vi, v) in variants.iter().enumerate() {
            jobs.push((pi, vi, p, v));
        }
    }
    let sem = Arc::new(tokio::sync::Semaphore::new(SELFTEST_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (n, (pi, vi, p, v)) in jobs.into_iter().enumerate() {
        let (path, body) = v.request(&p.text);
        let (auth, auth_value) = v.auth();
        let req = Request::post(format!("http://{}{path}", server.addr))
            .header("content-type", "application/json")
            .header(auth, auth_value)
            .header(ECHO_ID_HEADER, format!("selftest-{n}"))
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("a valid request");
        let client = client.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let answer = match client.request(req).await {
                Ok(resp) => read_answer(resp).await,
                Err(_) => None,
            };
            (n, pi, vi, answer)
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Ok(a) = done {
            answers.push(a);
        }
    }
    answers.sort_by_key(|a| a.0);
    server.stop().await;

    let received = received.lock().map(|m| m.clone()).unwrap_or_default();
    let outcomes = outcomes.lock().map(|m| m.clone()).unwrap_or_default();
    for (n, pi, vi, answer) in answers {
        let p = &prompts[pi];
        let v = &variants[vi];
        report.requests += 1;
        let Some(answer) = answer else {
            report.failures.push(format!(
                "{} via {}: no answer from the proxy",
                p.entity,
                v.label()
            ));
            continue;
        };
        let outcome = answer.request_id.as_deref().and_then(|id| outcomes.get(id));
        let sent = received.get(&format!("selftest-{n}"));
        check(
            &rt.config,
            rt.token_key(),
            p,
            v,
            &answer,
            outcome,
            sent,
            report,
        );
    }

    writer.close()?;
    verify_trail(&path, report);
    Ok(())
}

/// Reads the audit trail of the run and verifies its chain.
fn verify_trail(path: &std::path::Path, report: &mut Report) {
    let mut verifier = crate::audit::verify::Verifier::new::<&str>(&[]);
    verifier.file(&path.display().to_string());
    let text = std::fs::File::open(path).and_then(|f| {
        use std::io::Read;
        let mut s = String::new();
        #[allow(clippy::disallowed_methods)] // bounded by take()
        f.take(1 << 30).read_to_string(&mut s)?;
        Ok(s)
    });
    let Ok(text) = text else {
        report
            .failures
            .push("the run's audit trail cannot be read".to_owned());
        return;
    };
    for line in text.lines() {
        if !line.is_empty() {
            report.audit_records += 1;
            verifier.push(line);
        }
    }
    let done = verifier.finish();
    report.audit_chain_verified = done.problems.is_empty()
        && !done.chains.is_empty()
        && done.verified_chains() == done.chains.len();
    if !report.audit_chain_verified {
        report
            .failures
            .push("the audit chain written during the run does not verify".to_owned());
    }
    // Every request has its record, plus the chain's own (start and close).
    if report.audit_records < report.requests {
        report.failures.push(format!(
            "{} requests but {} audit records",
            report.requests, report.audit_records
        ));
    }
}

/// The proxy's answer to one request.
struct Answer {
    status: u16,
    request_id: Option<String>,
    /// The answer's text, events joined in order.
    text: String,
}

async fn read_answer(resp: Response<hyper::body::Incoming>) -> Option<Answer> {
    let status = resp.status().as_u16();
    let request_id = resp
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = http_body_util::Limited::new(resp.into_body(), MAX_SELFTEST_BODY_BYTES)
        .collect()
        .await
        .ok()?
        .to_bytes();
    let body = String::from_utf8_lossy(&body);
    Some(Answer {
        status,
        request_id,
        text: answer_text(&body),
    })
}

/// The text of an answer: every `content`, `text`, `delta` and `response` string of the
/// JSON body, or of each SSE `data:` event or NDJSON line, in order.
fn answer_text(body: &str) -> String {
    fn go(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match x {
                        Value::String(s)
                            if matches!(k.as_str(), "content" | "text" | "delta" | "response") =>
                        {
                            out.push_str(s);
                        }
                        _ => go(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| go(x, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        go(&v, &mut out);
        return out;
    }
    for line in body.lines() {
        let line = line.strip_prefix("data:").unwrap_or(line).trim();
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            go(&v, &mut out);
        }
    }
    out
}

/// Lower-case letters and digits only: the view a leak through re-spacing, case or
/// punctuation would still show in.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// [`fold`] of a text sent to the provider, its pseudonym tokens (`[AGE_61C3A0]`) left
/// out first: folded, a token's entity and hash would run together and could spell a
/// value (`age61c3a0` holds `Age: 61`), a false leak one run in a few hundred.
fn fold_sent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        out.push_str(&fold(&rest[..open]));
        let after = &rest[open + 1..];
        rest = &after[crate::reidentify::token_shape_len(after).unwrap_or(0)..];
    }
    out.push_str(&fold(rest));
    out
}

/// The checks of one request; each failure named by entity, provider and format.
#[allow(clippy::too_many_arguments)]
fn check(
    cfg: &Config,
    key: &TokenKey,
    p: &Prompt,
    v: &Variant,
    answer: &Answer,
    outcome: Option<&Outcome>,
    sent: Option<&Vec<u8>>,
    report: &mut Report,
) {
    let label = || format!("{} ({}) via {}", p.entity, p.lang, v.label());
    let findings = cfg.detector.scan(&p.text);
    let explain = Explain {
        policy: &cfg.policy,
        allow: &cfg.allow,
        provider: v.provider.clone(),
        user: "anonymous".to_owned(),
        team: None,
    };
    // Whether an allow list let this text out (its keyed hash is in the record).
    let let_out = |entity: &str, text: &str| {
        outcome.is_some_and(|o| {
            o.allow_listed.iter().any(|(e, hash)| {
                (e == entity || entity.is_empty())
                    && crate::audit::hex(&key.audit_hash(e, text)) == *hash
            })
        })
    };
    // The allow lists first, then the policy on the other findings, as the proxy judges.
    let explained = explain.decide(&p.text, &findings);
    let verdict = &explained.decision.verdict;
    // Per finding: the action chosen ("allow" for an allow list's too).
    let action_of = |i: usize| explained.per_finding.get(i).map(|(a, _)| *a);
    let expect_refused = matches!(verdict, crate::policy::Verdict::Block { .. });
    let refused = answer.status >= 400 || outcome.is_some_and(|o| o.refused.is_some());
    report.refusals_expected += usize::from(expect_refused);
    report.refusals += usize::from(refused);
    if let Some(o) = outcome {
        if let Some(rule) = &o.rule {
            let row = report.policy_rules.entry(rule.clone()).or_default();
            row.requests += 1;
            row.refused += usize::from(refused);
        }
        for (rule, n) in &o.findings_by_rule {
            report
                .policy_rules
                .entry(rule.clone())
                .or_default()
                .findings += n;
        }
    } else {
        report
            .failures
            .push(format!("{}: the request left no outcome", label()));
    }
    match (expect_refused, refused) {
        (true, false) => report.failures.push(format!(
            "{}: forwarded, but the policy refuses it (rule {})",
            label(),
            verdict.rule().unwrap_or("-")
        )),
        (false, true) => report.failures.push(format!(
            "{}: refused (status {}), but the policy forwards it",
            label(),
            answer.status
        )),
        _ => {}
    }
    let let_out_texts: Vec<&str> = findings
        .iter()
        .enumerate()
        .filter(|(i, f)| {
            let text = &p.text[f.start..f.end];
            action_of(*i) == Some("allow") || let_out(f.entity.as_str(), text)
        })
        .map(|(_, f)| &p.text[f.start..f.end])
        .collect();
    let sent = sent.map(|b| String::from_utf8_lossy(b).into_owned());
    let sent_text = sent.as_deref().map(answer_text).unwrap_or_default();
    let whole = format!("{}\n{}", sent.as_deref().unwrap_or(""), sent_text);
    // The same, without what was let out: a value found only inside an allowed one (a
    // name inside an allowed e-mail address) went out with it, as the policy says.
    let mut stripped = whole.clone();
    for t in &let_out_texts {
        stripped = stripped.replace(t, " ");
    }
    let views = [
        (whole.clone(), fold_sent(&whole)),
        (stripped.clone(), fold_sent(&stripped)),
    ];
    let observe = outcome.is_some_and(|o| o.mode == Mode::Observe);
    if !refused && sent.is_none() {
        report.failures.push(format!(
            "{}: forwarded, but the echo provider saw no such request",
            label()
        ));
    }
    for value in &p.values {
        let row = report.entities.entry(p.entity.clone()).or_default();
        // The finding covering the value, and what the policy chose for it.
        let at = p.text.find(value.as_str());
        let covering = at.and_then(|s| {
            findings
                .iter()
                .position(|f| f.start <= s && s + value.len() <= f.end)
                .or_else(|| {
                    findings
                        .iter()
                        .position(|f| f.start < s + value.len() && s < f.end)
                })
        });
        if refused {
            row.refused += 1;
            if sent.is_some() {
                report.failures.push(format!(
                    "{}: refused, yet the request reached the provider",
                    label()
                ));
            }
            continue;
        }
        row.values += 1;
        if covering.is_some() {
            row.found += 1;
        }
        let folded = fold(value);
        let seen_in = |(text, text_folded): &(String, String)| {
            text.contains(value.as_str())
                || (folded.chars().count() >= MIN_FOLDED_CHARS && text_folded.contains(&folded))
        };
        let in_clear = seen_in(&views[0]);
        let action = covering.and_then(action_of);
        let policy_allows = action == Some("allow");
        let allow_listed = let_out("", value);
        if in_clear {
            if policy_allows || allow_listed || !seen_in(&views[1]) {
                row.allowed += 1;
            } else {
                row.sent_in_clear += 1;
                report.failures.push(format!(
                    "{}: a {} value reached the provider in clear{}",
                    label(),
                    p.entity,
                    if observe {
                        " (observe mode)"
                    } else if covering.is_none() {
                        " (not detected: is its rule disabled?)"
                    } else {
                        ""
                    }
                ));
            }
            continue;
        }
        if action == Some("redact") {
            row.redacted += 1;
            continue;
        }
        if answer.text.contains(value.as_str()) {
            row.restored += 1;
        } else {
            row.not_restored += 1;
            report.failures.push(format!(
                "{}: a {} value was not restored in the answer",
                label(),
                p.entity
            ));
        }
    }
}

/// The built-in echo provider: answers each request, in its API's format, with the text
/// it received; keeps every request's bytes by its [`ECHO_ID_HEADER`].
async fn serve_echo(listener: tokio::net::TcpListener, received: Received) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let received = received.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let received = received.clone();
                async move { Ok::<_, std::convert::Infallible>(echo(req, received).await) }
            });
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
        });
    }
}

async fn echo(req: Request<hyper::body::Incoming>, received: Received) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let id = req
        .headers()
        .get(ECHO_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let mut head = format!("{} {}\n", req.method(), req.uri());
    for (k, v) in req.headers() {
        head.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    let body = http_body_util::Limited::new(req.into_body(), MAX_SELFTEST_BODY_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if let Ok(mut m) = received.lock() {
        let mut all = head.into_bytes();
        all.extend_from_slice(&body);
        m.entry(id).or_default().extend_from_slice(&all);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut texts = Vec::new();
    collect_texts(&request, &mut texts);
    let text = format!("Echo: {}", texts.join("\n"));
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true)
        || path.ends_with(":streamGenerateContent");
    let (content_type, body) = if stream {
        echo_stream(&path, &text)
    } else {
        ("application/json", echo_json(&path, &text).to_string())
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

/// Every string of the request but names of things (model, role, type).
fn collect_texts(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if matches!(k.as_str(), "model" | "role" | "type") {
                    continue;
                }
                collect_texts(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_texts(x, out)),
        Value::String(s) => out.push(s.clone()),
        _ => {}
    }
}

fn echo_json(path: &str, text: &str) -> Value {
    if path.ends_with("/chat/completions") {
        json!({"id": "chatcmpl-selftest", "object": "chat.completion", "created": 1, "model": "selftest",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    } else if path.ends_with("/responses") {
        json!({"id": "resp_selftest", "object": "response", "created_at": 1, "status": "completed", "model": "selftest",
            "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}]}]})
    } else if path.ends_with("/messages") {
        json!({"id": "msg_selftest", "type": "message", "role": "assistant", "model": "selftest",
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1}})
    } else if path.contains(":generateContent") {
        json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}]})
    } else {
        json!({"model": "selftest", "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": text}, "done": true})
    }
}

fn chunks(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(ECHO_CHUNK_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

fn sse(out: &mut String, event: Option<&str>, data: &Value) {
    if let Some(e) = event {
        out.push_str(&format!("event: {e}\n"));
    }
    out.push_str(&format!("data: {data}\n\n"));
}

fn echo_stream(path: &str, text: &str) -> (&'static str, String) {
    let mut out = String::new();
    if path.ends_with("/chat/completions") {
        for c in chunks(text) {
            sse(
                &mut out,
                None,
                &json!({"id": "chatcmpl-selftest", "object": "chat.completion.chunk", "created": 1, "model": "selftest",
                    "choices": [{"index": 0, "delta": {"content": c}, "finish_reason": null}]}),
            );
        }
        sse(
            &mut out,
            None,
            &json!({"id": "chatcmpl-selftest", "object": "chat.completion.chunk", "created": 1, "model": "selftest",
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
        );
        out.push_str("data: [DONE]\n\n");
    } else if path.ends_with("/responses") {
        for (i, c) in chunks(text).into_iter().enumerate() {
            sse(
                &mut out,
                Some("response.output_text.delta"),
                &json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                    "content_index": 0, "delta": c, "sequence_number": i}),
            );
        }
        sse(
            &mut out,
            Some("response.completed"),
            &json!({"type": "response.completed", "response": {"id": "resp_selftest", "object": "response",
                "status": "completed", "model": "selftest", "output": []}}),
        );
    } else if path.ends_with("/messages") {
        sse(
            &mut out,
            Some("message_start"),
            &json!({"type": "message_start", "message": {"id": "msg_selftest", "type": "message",
                "role": "assistant", "model": "selftest", "content": [],
                "usage": {"input_tokens": 1, "output_tokens": 0}}}),
        );
        sse(
            &mut out,
            Some("content_block_start"),
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        );
        for c in chunks(text) {
            sse(
                &mut out,
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": c}}),
            );
        }
        sse(
            &mut out,
            Some("content_block_stop"),
            &json!({"type": "content_block_stop", "index": 0}),
        );
        sse(
            &mut out,
            Some("message_delta"),
            &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}}),
        );
        sse(
            &mut out,
            Some("message_stop"),
            &json!({"type": "message_stop"}),
        );
    } else if path.contains(":streamGenerateContent") {
        for c in chunks(text) {
            sse(
                &mut out,
                None,
                &json!({"candidates": [{"content": {"role": "model", "parts": [{"text": c}]}, "index": 0}]}),
            );
        }
    } else {
        for c in chunks(text) {
            out.push_str(
                &json!({"model": "selftest", "created_at": "2026-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": c}, "done": false})
                .to_string(),
            );
            out.push('\n');
        }
        out.push_str(
            &json!({"model": "selftest", "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop"})
            .to_string(),
        );
        out.push('\n');
        return ("application/x-ndjson", out);
    }
    ("text/event-stream", out)
}

/// The summary printed on standard output: versions, per entity and per rule, then
/// each failure.
pub fn summary(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "paravent selftest: configuration {}, rules {}, policy mode {}",
        short(&r.config_version),
        short(&r.rules_version),
        r.policy_mode
    );
    let _ = writeln!(
        s,
        "{} prompts, {} requests, {} refused ({} expected), {} audit records, chain {}",
        r.prompts,
        r.requests,
        r.refusals,
        r.refusals_expected,
        r.audit_records,
        if r.audit_chain_verified {
            "verified"
        } else {
            "NOT VERIFIED"
        }
    );
    for a in &r.adjustments {
        let _ = writeln!(s, "note: {a}");
    }
    let _ = writeln!(
        s,
        "\n{:<24} {:>7} {:>7} {:>8} {:>8} {:>9} {:>9} {:>13} {:>8}",
        "entity",
        "values",
        "found",
        "in clear",
        "allowed",
        "redacted",
        "restored",
        "not restored",
        "refused"
    );
    for (e, x) in &r.entities {
        let [
            values,
            found,
            clear,
            allowed,
            redacted,
            restored,
            lost,
            refused,
        ] = x.counts();
        let _ = writeln!(
            s,
            "{e:<24} {values:>7} {found:>7} {clear:>8} {allowed:>8} {redacted:>9} {restored:>9} {lost:>13} {refused:>8}",
        );
    }
    let _ = writeln!(
        s,
        "\n{:<32} {:>9} {:>9} {:>8}",
        "policy rule", "requests", "findings", "refused"
    );
    for (rule, x) in &r.policy_rules {
        let _ = writeln!(
            s,
            "{:<32} {:>9} {:>9} {:>8}",
            rule, x.requests, x.findings, x.refused
        );
    }
    s.push('\n');
    for f in r.failures.iter().take(MAX_FAILURES_PRINTED) {
        let _ = writeln!(s, "FAIL: {f}");
    }
    if r.failures.len() > MAX_FAILURES_PRINTED {
        let _ = writeln!(
            s,
            "... and {} more (every one is in the --out report)",
            r.failures.len() - MAX_FAILURES_PRINTED
        );
    }
    if r.passed() {
        let _ = writeln!(
            s,
            "ok: no value sent in clear against the policy, every pseudonymised value restored, refusals as the policy says, audit chain verified"
        );
    } else {
        let _ = writeln!(s, "{} check(s) failed", r.failures.len());
    }
    s
}

fn short(hash: &str) -> &str {
    hash.get(..16).unwrap_or(hash)
}

const CSS: &str = "body{overflow-wrap:anywhere;font-family:system-ui,sans-serif;color:#1a1a1a;background:#fff;max-width:72rem;margin:0 auto;padding:1rem;line-height:1.5}\
table{border-collapse:collapse;margin:1rem 0}caption{text-align:left;font-weight:bold;padding:.25rem 0}\
th,td{border:1px solid #767676;padding:.25rem .5rem}td.num{text-align:right;font-variant-numeric:tabular-nums}\
thead th{background:#f0f0f0}.fail{color:#a00000;font-weight:bold}.ok{color:#005a00;font-weight:bold}\
.table-wrap{overflow-x:auto}a{color:#0645ad}code{overflow-wrap:anywhere}\
.skip{position:absolute;left:.5rem;top:-4rem;background:#fff;color:#0b3d91;padding:.5rem;border:2px solid #0b3d91}\
.skip:focus{top:.5rem}";

/// The report as one self-contained, accessible HTML page (as the audit report: one
/// `h1`, headings in order, every table with a `caption` and `th scope`, no script).
/// Holds names and counts only, never a value.
pub fn html(r: &Report) -> String {
    use crate::audit::report::html::esc;
    use std::fmt::Write as _;
    let mut h = String::new();
    let verdict = if r.passed() { "passed" } else { "FAILED" };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Paravent self-test: {verdict}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to the report</a>\n\
         <main id=\"main\" tabindex=\"-1\">\n<h1>Paravent self-test: {verdict}</h1>\n"
    );
    let _ = writeln!(
        h,
        "<p class=\"{}\">{}</p>",
        if r.passed() { "ok" } else { "fail" },
        if r.passed() {
            "No value was sent in clear against the policy, every pseudonymised value came back restored, refusals happened where the policy says and only there, and the audit chain written during the run verifies."
        } else {
            "At least one check failed: see Failures."
        }
    );
    h.push_str("<h2 id=\"run\">The run</h2>\n<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-labelledby=\"run-caption\">\n<table>\n<caption id=\"run-caption\">Versions and totals</caption>\n<tbody>\n");
    let rows: [(&str, String); 10] = [
        ("Paravent version", r.paravent_version.clone()),
        ("Configuration version", r.config_version.clone()),
        ("Rules version", r.rules_version.clone()),
        ("Policy mode", r.policy_mode.clone()),
        ("Prompts", r.prompts.to_string()),
        ("Requests", r.requests.to_string()),
        ("Refusals the policy makes", r.refusals_expected.to_string()),
        ("Refusals seen", r.refusals.to_string()),
        ("Audit records written", r.audit_records.to_string()),
        (
            "Audit chain",
            if r.audit_chain_verified {
                "verified".to_owned()
            } else {
                "not verified".to_owned()
            },
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\">{}</th><td><code>{}</code></td></tr>",
            esc(k),
            esc(&v)
        );
    }
    h.push_str("</tbody>\n</table>\n</div>\n");
    h.push_str("<h2 id=\"entities\">Per entity</h2>\n<p>Each value of each prompt, counted once per request. In clear: sent to the provider against the policy (a leak). Allowed: sent in clear because the policy or an allow list says so.</p>\n<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-labelledby=\"entities-caption\">\n<table>\n<caption id=\"entities-caption\">What became of each entity's values</caption>\n<thead><tr>");
    for head in [
        "Entity",
        "Values sent",
        "Found",
        "In clear",
        "Allowed",
        "Redacted",
        "Restored",
        "Not restored",
        "Refused",
    ] {
        let _ = write!(h, "<th scope=\"col\">{head}</th>");
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (e, x) in &r.entities {
        let _ = write!(h, "<tr><th scope=\"row\"><code>{}</code></th>", esc(e));
        for n in x.counts() {
            let _ = write!(h, "<td class=\"num\">{n}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n</div>\n");
    h.push_str("<h2 id=\"rules\">Per policy rule</h2>\n<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-labelledby=\"rules-caption\">\n<table>\n<caption id=\"rules-caption\">Policy rules exercised</caption>\n<thead><tr><th scope=\"col\">Rule</th><th scope=\"col\">Requests decided</th><th scope=\"col\">Findings</th><th scope=\"col\">Refused</th></tr></thead>\n<tbody>\n");
    for (rule, x) in &r.policy_rules {
        let _ = writeln!(
            h,
            "<tr><th scope=\"row\"><code>{}</code></th><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(rule),
            x.requests,
            x.findings,
            x.refused
        );
    }
    h.push_str("</tbody>\n</table>\n</div>\n");
    h.push_str("<h2 id=\"adjustments\">What the run changed</h2>\n<ul>\n");
    for a in &r.adjustments {
        let _ = writeln!(h, "<li>{}</li>", esc(a));
    }
    h.push_str("</ul>\n<h2 id=\"failures\">Failures</h2>\n");
    if r.failures.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str("<ul>\n");
        for f in &r.failures {
            let _ = writeln!(h, "<li>{}</li>", esc(f));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHS: [&str; 5] = [
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1beta/models/selftest:generateContent",
        "/api/chat",
    ];

    #[test]
    fn a_token_folded_does_not_spell_the_value_it_stands_for() {
        let sent = r#"{"content":"[AGE_61C3A0] et [DATE_OF_BIRTH_0A1B2C]"}"#;
        assert!(!fold_sent(sent).contains(&fold("Age: 61")));
        // The value itself, re-spaced or re-cased, is still seen; so is text in brackets.
        assert!(fold_sent("AGE 61 [AGE_61C3A0]").contains(&fold("Age: 61")));
        assert!(fold_sent("[Age: 61]").contains(&fold("Age: 61")));
        assert!(fold_sent("[AGE_61]").contains(&fold("Age: 61")));
        assert!(fold_sent("[x [AGE_61C3A0] y").contains("xy"));
    }

    #[test]
    fn every_echo_answer_whole_or_streamed_decodes_to_the_text_it_was_given() {
        let text = "Echo: Bonjour [PERSON_7F3A2C], écrivez à [EMAIL_01AB23].";
        for path in PATHS {
            let whole = echo_json(path, text).to_string();
            assert_eq!(answer_text(&whole), text, "{path}");
            let path = path.replace(":generateContent", ":streamGenerateContent");
            let (content_type, streamed) = echo_stream(&path, text);
            assert_eq!(answer_text(&streamed), text, "{path} ({content_type})");
            // Cut into chunks shorter than a token: the proxy must carry a tail.
            assert!(streamed.matches("[PERSON_7F3A2C]").count() == 0, "{path}");
        }
    }

    #[test]
    fn the_folded_view_keeps_letters_and_digits_only_in_lower_case() {
        assert_eq!(fold("Jean-Marc DUPONT"), "jeanmarcdupont");
        assert_eq!(fold("06 12 34 56 78"), "0612345678");
        assert_eq!(fold("Élodie"), "élodie");
    }

    #[test]
    fn the_html_report_escapes_names_and_says_whether_it_failed() {
        let mut r = Report::default();
        r.entities.insert("<b>".to_owned(), EntityRow::default());
        r.failures
            .push("EMAIL (fr) via openai chat: <i>".to_owned());
        let h = html(&r);
        assert!(h.contains("<title>Paravent self-test: FAILED</title>"));
        assert!(h.contains("&lt;b&gt;") && h.contains("&lt;i&gt;"));
        assert!(!h.contains("<b>") && !h.contains("<i>"));
        assert!(summary(&r).contains("1 check(s) failed"));
    }
}
