//! The Prometheus metrics of one Paravent process, served on the admin listener
//! ([`crate::admin`]), never on the proxy listener.
//!
//! Recorded from each request's [`Outcome`] ([`Metrics::observe`], called by the proxy's
//! outcome hook point) and from the audit write path ([`Metrics::audit_write`]); the
//! audit checkpoint is read from the [`AuditWriter`] at scrape time.
//!
//! Labels are bounded and impersonal: `provider` is a configured provider's name (`-`
//! when the request named none), `entity` comes from the rule set, `nature`,
//! `sensitivity`, `decision` and `code` from fixed lists, `status` is an HTTP status
//! code. The principal (user, team, key) is never a label: it is personal data, and
//! unbounded; per-principal figures belong to the audit report. Never a value, prompt
//! text or key in a label or help text. No I/O here: [`Metrics::encode`] returns text.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::audit::writer::AuditWriter;
use crate::outcome::Outcome;

/// Every metric's name starts with this (and `_`).
pub const METRIC_PREFIX: &str = "paravent";

/// Buckets (seconds) of the proxy's own work per request: 50 µs to 5 s.
const PROXY_BUCKETS_SECONDS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];
/// Buckets (seconds) of the provider's time to answer: 5 ms to 10 min (the default
/// upstream timeout).
const UPSTREAM_BUCKETS_SECONDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// The label value for "none" (no provider, no decision yet).
const NONE: &str = "-";

/// The exposition formats [`Metrics::encode`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`), the default.
    Prometheus,
    /// OpenMetrics 1.0.0 text, for scrapers that ask for it in `Accept`.
    OpenMetrics,
}

impl Format {
    /// The format a scraper's `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// The `Content-Type` of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    provider: String,
    decision: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    provider: String,
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObservedLabels {
    provider: String,
    would: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntityLabels {
    entity: String,
    nature: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NatureLabels {
    nature: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SensitivityLabels {
    sensitivity: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HashLabels {
    hash: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// The metrics of one process; share it (`Arc`) between configuration generations.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    refusals: Family<RefusalLabels, Counter>,
    observed: Family<ObservedLabels, Counter>,
    findings: Family<EntityLabels, Counter>,
    findings_by_nature: Family<NatureLabels, Counter>,
    findings_by_sensitivity: Family<SensitivityLabels, Counter>,
    streamed: Family<ProviderLabels, Counter>,
    bytes_in: Family<ProviderLabels, Counter>,
    bytes_out: Family<ProviderLabels, Counter>,
    proxy_duration: Histogram,
    upstream_duration: Family<ProviderLabels, Histogram>,
    audit_writes: Counter,
    audit_write_failures: Counter,
    audit_healthy: Gauge,
    checkpoint_seq: Gauge,
    checkpoint_info: Family<HashLabels, Gauge>,
    reloads: Counter,
    reload_failures: Counter,
    last_reload_ok: Gauge,
    /// Serialises scrapes: the checkpoint family is cleared and set before encoding.
    scrape: Mutex<()>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix(METRIC_PREFIX),
            requests: Family::default(),
            refusals: Family::default(),
            observed: Family::default(),
            findings: Family::default(),
            findings_by_nature: Family::default(),
            findings_by_sensitivity: Family::default(),
            streamed: Family::default(),
            bytes_in: Family::default(),
            bytes_out: Family::default(),
            proxy_duration: Histogram::new(PROXY_BUCKETS_SECONDS.iter().copied()),
            upstream_duration: Family::new_with_constructor(|| {
                Histogram::new(UPSTREAM_BUCKETS_SECONDS.iter().copied())
            }),
            audit_writes: Counter::default(),
            audit_write_failures: Counter::default(),
            audit_healthy: Gauge::default(),
            checkpoint_seq: Gauge::default(),
            checkpoint_info: Family::default(),
            reloads: Counter::default(),
            reload_failures: Counter::default(),
            last_reload_ok: Gauge::default(),
            scrape: Mutex::new(()),
        };
        m.last_reload_ok.set(1);
        m.registry.register(
            "config_reloads",
            "Configurations reloaded (SIGHUP) and now serving",
            m.reloads.clone(),
        );
        m.registry.register(
            "config_reload_failures",
            "Reloads refused (an invalid configuration: the running one stayed)",
            m.reload_failures.clone(),
        );
        m.registry.register(
            "config_last_reload_success",
            "1 when the last reload was applied (or none was asked), 0 when it was refused",
            m.last_reload_ok.clone(),
        );
        m.registry.register(
            "requests",
            "Requests handled, by provider (after routing), decision (forwarded, routed, blocked, refused) and the status the client got",
            m.requests.clone(),
        );
        m.registry.register(
            "refusals",
            "Requests blocked or refused, by provider and refusal code (paravent_secret, paravent_audit_unavailable...)",
            m.refusals.clone(),
        );
        m.registry.register(
            "observed_requests",
            "Requests in observe mode (forwarded as sent), by provider and what enforcement would have done (would: forwarded, routed, blocked, refused); they are counted in requests too",
            m.observed.clone(),
        );
        m.registry.register(
            "findings",
            "Values found in requests, by entity type",
            m.findings.clone(),
        );
        m.registry.register(
            "findings_by_nature",
            "Values found in requests, by nature (personal, special-category, financial, strategic, secret, technical)",
            m.findings_by_nature.clone(),
        );
        m.registry.register(
            "findings_by_sensitivity",
            "Values found in requests, by sensitivity (public, internal, confidential, secret)",
            m.findings_by_sensitivity.clone(),
        );
        m.registry.register(
            "streamed_requests",
            "Requests whose answer was a stream re-identified as it passed, by provider",
            m.streamed.clone(),
        );
        m.registry.register_with_unit(
            "request_received",
            "Request body bytes received from clients (after decompression), by provider",
            Unit::Bytes,
            m.bytes_in.clone(),
        );
        m.registry.register_with_unit(
            "request_sent",
            "Request body bytes sent to providers (pseudonymised), by provider",
            Unit::Bytes,
            m.bytes_out.clone(),
        );
        m.registry.register_with_unit(
            "proxy_duration",
            "Paravent's own time per request: from arrival to the answer's head, less the provider's time",
            Unit::Seconds,
            m.proxy_duration.clone(),
        );
        m.registry.register_with_unit(
            "upstream_duration",
            "The provider's time to answer: from sending the request to the answer's head, by provider",
            Unit::Seconds,
            m.upstream_duration.clone(),
        );
        m.registry.register(
            "audit_writes",
            "Audit records of requests written",
            m.audit_writes.clone(),
        );
        m.registry.register(
            "audit_write_failures",
            "Audit records that could not be written (each refused its request unless on_failure = continue)",
            m.audit_write_failures.clone(),
        );
        m.registry.register(
            "audit_healthy",
            "1 when the audit trail is off or its last write succeeded, 0 after a failed write",
            m.audit_healthy.clone(),
        );
        m.registry.register(
            "audit_checkpoint_seq",
            "Sequence number of the last audit record of this instance's chain (0: its chain-start)",
            m.checkpoint_seq.clone(),
        );
        m.registry.register(
            "audit_checkpoint_info",
            "The hash of the last audit record (label hash): a checkpoint for paravent audit verify --checkpoint",
            m.checkpoint_info.clone(),
        );
        m.registry.register(
            "build",
            "Paravent's version",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        m
    }

    /// Records one request's outcome (the proxy's outcome hook point).
    pub fn observe(&self, o: &Outcome) {
        let provider = o.provider.as_deref().unwrap_or(NONE);
        let labels = ProviderLabels {
            provider: provider.to_owned(),
        };
        self.requests
            .get_or_create(&RequestLabels {
                provider: provider.to_owned(),
                decision: o.decision.map_or(NONE, |d| d.as_str()),
                status: o.status,
            })
            .inc();
        if let Some(code) = o.refused {
            self.refusals
                .get_or_create(&RefusalLabels {
                    provider: provider.to_owned(),
                    code,
                })
                .inc();
        }
        for ((entity, nature), n) in &o.findings_by_entity_nature {
            self.findings
                .get_or_create(&EntityLabels {
                    entity: entity.clone(),
                    nature,
                })
                .inc_by(*n as u64);
        }
        for (nature, n) in &o.findings_by_nature {
            self.findings_by_nature
                .get_or_create(&NatureLabels { nature })
                .inc_by(*n as u64);
        }
        for (sensitivity, n) in &o.findings_by_sensitivity {
            self.findings_by_sensitivity
                .get_or_create(&SensitivityLabels { sensitivity })
                .inc_by(*n as u64);
        }
        if let Some(w) = &o.would {
            self.observed
                .get_or_create(&ObservedLabels {
                    provider: provider.to_owned(),
                    would: w.decision.as_str(),
                })
                .inc();
        }
        if o.streamed {
            self.streamed.get_or_create(&labels).inc();
        }
        self.bytes_in
            .get_or_create(&labels)
            .inc_by(o.bytes_in as u64);
        self.bytes_out
            .get_or_create(&labels)
            .inc_by(o.bytes_out as u64);
        let upstream = o.upstream_latency.unwrap_or_default();
        self.proxy_duration
            .observe(o.latency.saturating_sub(upstream).as_secs_f64());
        if let Some(up) = o.upstream_latency {
            self.upstream_duration
                .get_or_create(&labels)
                .observe(up.as_secs_f64());
        }
    }

    /// Records one audit write of a request's record: written or not.
    /// Counts a reload: applied, or refused (the running configuration stayed).
    pub fn reload(&self, applied: bool) {
        if applied {
            self.reloads.inc();
        } else {
            self.reload_failures.inc();
        }
        self.last_reload_ok.set(i64::from(applied));
    }

    /// Whether the last reload was applied (or none was asked).
    pub fn last_reload_ok(&self) -> bool {
        self.last_reload_ok.get() == 1
    }

    pub fn audit_write(&self, written: bool) {
        if written {
            self.audit_writes.inc();
        } else {
            self.audit_write_failures.inc();
        }
    }

    /// The text of every metric in `format`, with the audit checkpoint of `audit` (none
    /// when the audit trail is off).
    pub fn encode(&self, audit: Option<&AuditWriter>, format: Format) -> String {
        let _one_scrape = self
            .scrape
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.checkpoint_info.clear();
        match audit {
            Some(w) => {
                let (seq, hash) = w.checkpoint();
                self.checkpoint_seq
                    .set(i64::try_from(seq).unwrap_or(i64::MAX));
                self.checkpoint_info
                    .get_or_create(&HashLabels { hash })
                    .set(1);
                self.audit_healthy.set(i64::from(w.healthy()));
            }
            None => {
                self.checkpoint_seq.set(0);
                self.audit_healthy.set(1);
            }
        }
        let mut out = String::new();
        let encoded = match format {
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
        };
        // Writing to a String cannot fail; a metric that could not encode is a bug.
        debug_assert!(encoded.is_ok());
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::audit::Decision;

    fn outcome() -> Outcome {
        Outcome {
            request_id: "pv-1".into(),
            provider: Some("openai".into()),
            endpoint: Some("openai.chat"),
            model: Some("gpt-4o-mini".into()),
            principal: "alice".into(),
            team: Some("sales".into()),
            requested_provider: None,
            jurisdiction: Some("US".into()),
            forwarded: true,
            decision: Some(Decision::Forwarded),
            rule: None,
            findings_by_action: BTreeMap::new(),
            findings_by_rule: BTreeMap::new(),
            streamed: true,
            upstream_status: Some(200),
            status: 200,
            refused: None,
            findings: BTreeMap::from([("EMAIL".to_owned(), 2), ("PERSON".to_owned(), 1)]),
            findings_by_nature: BTreeMap::from([("personal", 3)]),
            findings_by_sensitivity: BTreeMap::from([("confidential", 3)]),
            findings_by_entity_nature: BTreeMap::from([
                (("EMAIL".to_owned(), "personal"), 2),
                (("PERSON".to_owned(), "personal"), 1),
            ]),
            value_hashes: vec![("EMAIL".into(), "ab".repeat(32))],
            replaced: 3,
            reidentified: 3,
            unknown_tokens: 0,
            unscanned: Vec::new(),
            bytes_in: 120,
            bytes_out: 130,
            usage: None,
            energy_uwh: None,
            latency: Duration::from_millis(30),
            upstream_latency: Some(Duration::from_millis(25)),
            stream_end: None,
            mode: crate::config::Mode::Enforce,
            would: None,
            client: None,
            allow_listed: Vec::new(),
            assistant: None,
            route_reason: None,
            settings: Vec::new(),
            risk: None,
            answer_leaks: None,
        }
    }

    #[test]
    fn an_outcome_is_counted_under_bounded_labels_only() {
        let m = Metrics::new();
        m.observe(&outcome());
        let mut refused = outcome();
        refused.provider = None;
        refused.decision = Some(Decision::Refused);
        refused.refused = Some("paravent_unknown_provider");
        refused.status = 404;
        refused.upstream_latency = None;
        refused.streamed = false;
        m.observe(&refused);
        let text = m.encode(None, Format::Prometheus);
        for line in [
            r#"paravent_requests_total{provider="openai",decision="forwarded",status="200"} 1"#,
            r#"paravent_requests_total{provider="-",decision="refused",status="404"} 1"#,
            r#"paravent_refusals_total{provider="-",code="paravent_unknown_provider"} 1"#,
            r#"paravent_findings_total{entity="EMAIL",nature="personal"} 4"#,
            r#"paravent_findings_by_nature_total{nature="personal"} 6"#,
            r#"paravent_findings_by_sensitivity_total{sensitivity="confidential"} 6"#,
            r#"paravent_streamed_requests_total{provider="openai"} 1"#,
            r#"paravent_request_received_bytes_total{provider="openai"} 120"#,
            r#"paravent_request_sent_bytes_total{provider="openai"} 130"#,
            r#"paravent_upstream_duration_seconds_count{provider="openai"} 1"#,
            "paravent_proxy_duration_seconds_count 2",
            r#"paravent_build_info{version=""#,
            "paravent_audit_healthy 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        // The principal and the team never become labels.
        assert!(!text.contains("alice") && !text.contains("sales"), "{text}");
    }

    #[test]
    fn the_proxy_histogram_takes_the_upstream_time_out() {
        let m = Metrics::new();
        m.observe(&outcome()); // 30 ms in all, 25 ms upstream: 5 ms of own work.
        let text = m.encode(None, Format::Prometheus);
        assert!(
            text.contains(r#"paravent_proxy_duration_seconds_bucket{le="0.0025"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"paravent_proxy_duration_seconds_bucket{le="0.005"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn audit_writes_and_failures_are_counted_apart() {
        let m = Metrics::new();
        m.audit_write(true);
        m.audit_write(true);
        m.audit_write(false);
        let text = m.encode(None, Format::Prometheus);
        assert!(text.contains("paravent_audit_writes_total 2\n"), "{text}");
        assert!(
            text.contains("paravent_audit_write_failures_total 1\n"),
            "{text}"
        );
    }

    #[test]
    fn openmetrics_is_served_to_scrapers_that_ask_for_it() {
        assert_eq!(Format::from_accept(None), Format::Prometheus);
        let om = Format::from_accept(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        ));
        assert_eq!(om, Format::OpenMetrics);
        let text = Metrics::new().encode(None, om);
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            !Metrics::new()
                .encode(None, Format::Prometheus)
                .contains("# EOF")
        );
    }
}
