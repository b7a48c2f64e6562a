//! `/metrics` on the admin listener of a real `paravent serve`: requests forwarded,
//! streamed and refused through the mock provider, then scraped over HTTP, parsed, and
//! checked count by count and label by label. The proxy listener does not serve them.
//! And, in process, an audit trail that cannot be written: counted, and not ready.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{Method, StatusCode};
use paravent::audit::writer::{AuditWriter, Sink};
use paravent::config::Config;
use paravent::proxy::Runtime;
use paravent::server::Running;
use paravent::vault::TokenKey;
use serde_json::json;

use crate::support::proxy::{MockProvider, PROMPT};
use crate::support::serve::{Served, get, send};
use crate::support::{Scratch, paravent};

/// One sample of the text format: name, labels, value.
#[derive(Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text format (0.0.4): `# HELP` / `# TYPE` lines, then samples
/// `name{label="value",...} number`. Panics on anything else, and on a sample whose
/// family has no `# TYPE` line before it.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut typed: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(
                ["counter", "gauge", "histogram", "untyped", "summary"].contains(&kind),
                "{line}"
            );
            typed.push(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                (name.to_owned(), parse_labels(body))
            }
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| typed.iter().any(|t| t == f))
            .unwrap_or(&name);
        assert!(
            typed.iter().any(|t| t == family),
            "{name} has no # TYPE line"
        );
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

/// `a="x",b="y\"z"` → {a: x, b: y"z}.
fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label {key} is quoted");
        let mut value = String::new();
        loop {
            match chars.next().expect("closing quote") {
                '"' => break,
                '\\' => match chars.next().expect("escaped char") {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

/// The value of the one sample named `name` whose labels include `labels` (0 when
/// there is none: families appear with their first sample).
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "several samples match {name} {labels:?}");
    found.first().map_or(0.0, |s| s.value)
}

fn config(dir: &Scratch, mock: &MockProvider) -> std::path::PathBuf {
    let base = mock.base_url();
    dir.write(
        "paravent.toml",
        format!(
            r#"
[server]
default_provider = "openai"

[audit]
path = "audit/paravent.jsonl"
fsync = "never"

[providers.openai]
base_url = "{base}"
api = "openai"

[providers.anthropic]
base_url = "{base}"
api = "anthropic"
"#
        ),
    )
}

const JSON: (&str, &str) = ("content-type", "application/json");
const KEY: (&str, &str) = ("authorization", "Bearer sk-client-metrics");

#[tokio::test(flavor = "multi_thread")]
async fn requests_findings_latencies_and_the_audit_checkpoint_are_scraped_from_the_admin_listener()
{
    let mock = MockProvider::start().await;
    let dir = Scratch::new("metrics");
    let config = config(&dir, &mock);
    let served = Served::start(
        &config,
        &[],
        &[("PARAVENT_SECRET", "metrics-test secret, 32 bytes or more")],
    );
    let chat = |stream: bool, text: &str| {
        json!({"model": "gpt-x", "stream": stream, "messages": [{"role": "user", "content": text}]})
            .to_string()
    };
    let url = served.url("/openai/v1/chat/completions");
    for _ in 0..2 {
        let r = send(
            Method::POST,
            &url,
            &[JSON, KEY],
            chat(false, PROMPT).as_bytes(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let r = send(
        Method::POST,
        &url,
        &[JSON, KEY],
        chat(true, PROMPT).as_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let secret = "ma clé sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
    let r = send(
        Method::POST,
        &url,
        &[JSON, KEY],
        chat(false, secret).as_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let anthropic = json!({"model": "claude-x", "max_tokens": 10,
        "messages": [{"role": "user", "content": PROMPT}]});
    let r = send(
        Method::POST,
        &served.url("/anthropic/v1/messages"),
        &[
            JSON,
            ("x-api-key", "sk-ant-client"),
            ("anthropic-version", "2023-06-01"),
        ],
        anthropic.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // The proxy listener has no /metrics: it is an unknown provider there.
    let r = get(&served.url("/metrics")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.text().contains("paravent_requests"), "{}", r.text());

    let scraped = get(&served.admin_url("/metrics")).await;
    assert_eq!(scraped.status, StatusCode::OK);
    assert_eq!(
        scraped.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = scraped.text();
    let m = parse(&text);
    let requests = |provider: &str, decision: &str, status: &str| {
        value(
            &m,
            "paravent_requests_total",
            &[
                ("provider", provider),
                ("decision", decision),
                ("status", status),
            ],
        )
    };
    assert_eq!(requests("openai", "forwarded", "200"), 3.0, "{text}");
    assert_eq!(requests("openai", "blocked", "403"), 1.0, "{text}");
    assert_eq!(requests("anthropic", "forwarded", "200"), 1.0, "{text}");
    assert_eq!(requests("-", "refused", "404"), 1.0, "{text}");
    let all: f64 = m
        .iter()
        .filter(|s| s.name == "paravent_requests_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(all, 6.0, "{text}");
    let refusals = |code: &str| value(&m, "paravent_refusals_total", &[("code", code)]);
    assert_eq!(refusals("paravent_secret"), 1.0, "{text}");
    assert_eq!(refusals("paravent_unknown_provider"), 1.0, "{text}");
    // PROMPT holds one e-mail and one IBAN; it went out four times.
    let findings = |e: &str, n: &str| {
        value(
            &m,
            "paravent_findings_total",
            &[("entity", e), ("nature", n)],
        )
    };
    assert_eq!(findings("EMAIL", "personal"), 4.0, "{text}");
    assert_eq!(findings("IBAN", "financial"), 4.0, "{text}");
    assert_eq!(findings("SECRET", "secret"), 1.0, "{text}");
    let nature = |n: &str| value(&m, "paravent_findings_by_nature_total", &[("nature", n)]);
    assert_eq!(nature("secret"), 1.0, "{text}");
    assert!(nature("personal") >= 8.0, "{text}");
    let by_provider = |name: &str, p: &str| value(&m, name, &[("provider", p)]);
    assert_eq!(
        by_provider("paravent_streamed_requests_total", "openai"),
        1.0
    );
    assert_eq!(
        by_provider("paravent_upstream_duration_seconds_count", "openai"),
        3.0,
        "{text}"
    );
    assert_eq!(
        by_provider("paravent_upstream_duration_seconds_count", "anthropic"),
        1.0
    );
    // Buckets are cumulative: the +Inf bucket holds every observation.
    assert_eq!(
        value(
            &m,
            "paravent_upstream_duration_seconds_bucket",
            &[("provider", "openai"), ("le", "+Inf")]
        ),
        3.0,
        "{text}"
    );
    assert_eq!(value(&m, "paravent_proxy_duration_seconds_count", &[]), 6.0);
    assert!(value(&m, "paravent_proxy_duration_seconds_sum", &[]) > 0.0);
    assert!(by_provider("paravent_request_received_bytes_total", "openai") > 0.0);
    // What was sent is the pseudonymised body: never more requests than were forwarded.
    assert!(by_provider("paravent_request_sent_bytes_total", "anthropic") > 0.0);
    assert_eq!(
        value(
            &m,
            "paravent_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );

    // The audit trail: every request written, none failed, and the checkpoint is the
    // last record's hash, which `audit verify --checkpoint` accepts.
    assert_eq!(value(&m, "paravent_audit_writes_total", &[]), 6.0, "{text}");
    assert_eq!(value(&m, "paravent_audit_write_failures_total", &[]), 0.0);
    assert_eq!(value(&m, "paravent_audit_checkpoint_seq", &[]), 6.0);
    assert_eq!(value(&m, "paravent_audit_healthy", &[]), 1.0);
    let audit = dir.path().join("audit/paravent.jsonl");
    let lines = std::fs::read_to_string(&audit).unwrap();
    let last: serde_json::Value = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    let hash = last["hash"].as_str().unwrap();
    assert_eq!(
        value(&m, "paravent_audit_checkpoint_info", &[("hash", hash)]),
        1.0,
        "{text}"
    );
    assert_eq!(
        m.iter()
            .filter(|s| s.name == "paravent_audit_checkpoint_info")
            .count(),
        1
    );
    paravent(
        &[
            "audit",
            "verify",
            Scratch::arg(&audit),
            "--checkpoint",
            hash,
        ],
        b"",
    )
    .assert_code(0);

    // OpenMetrics for the scrapers that ask for it; health and readiness.
    let om = send(
        Method::GET,
        &served.admin_url("/metrics"),
        &[("accept", "application/openmetrics-text; version=1.0.0")],
        b"",
    )
    .await;
    assert!(
        om.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text"),
    );
    assert!(om.text().ends_with("# EOF\n"));
    let r = get(&served.admin_url("/healthz")).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ok\n"));
    let r = get(&served.admin_url("/readyz")).await;
    assert_eq!((r.status, r.text().as_str()), (StatusCode::OK, "ready\n"));
    let r = get(&served.admin_url("/openai/v1/models")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Nothing of the admin listener's own traffic reached the provider or the trail.
    assert_eq!(mock.count(), 4);
    served.stop();
}

#[test]
fn the_parser_reads_labels_with_escapes_and_checks_types() {
    let m = parse(
        "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"z\"} 2\n\
         # TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 0.5\nh_count 3\n",
    );
    assert_eq!(value(&m, "a_total", &[("y", "q\"z")]), 2.0);
    assert_eq!(value(&m, "h_count", &[]), 3.0);
    assert_eq!(value(&m, "absent", &[]), 0.0);
    assert!(std::panic::catch_unwind(|| parse("untyped_sample 1\n")).is_err());
}

/// Writes until `fail` is set, then fails every write (a full disk).
struct Flaky(Arc<AtomicBool>);

impl std::io::Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("disk full (test)"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink for Flaky {
    fn sync(&mut self) -> std::io::Result<()> {
        std::io::Write::write(self, b"").map(|_| ())
    }
}

#[tokio::test]
async fn audit_write_failures_are_counted_and_make_the_instance_unready_until_a_write_succeeds() {
    let mock = MockProvider::start().await;
    let toml = format!(
        "[providers.openai]\nbase_url = \"{}\"\napi = \"openai\"\n",
        mock.base_url()
    );
    let config = Config::from_toml("t.toml", &toml, None).expect("config");
    let fail = Arc::new(AtomicBool::new(false));
    let writer = AuditWriter::with_sink(
        Box::new(Flaky(fail.clone())),
        std::path::Path::new("flaky.jsonl"),
        &config.audit,
        "it-instance".to_owned(),
        config.version.clone(),
    )
    .expect("chain-start");
    let key = TokenKey::from_secret(b"integration-test secret 32 bytes");
    let rt = Runtime::with_env(config, key, |_| None)
        .expect("runtime")
        .with_audit(Arc::new(writer));
    let rt = Arc::new(rt);
    let proxy = Running::start(rt.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("proxy listener");
    let (admin, task) = paravent::admin::start(rt.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .expect("admin listener");
    let chat =
        json!({"model": "gpt-x", "messages": [{"role": "user", "content": PROMPT}]}).to_string();
    let url = format!("http://{}/openai/v1/chat/completions", proxy.addr);
    let post = || send(Method::POST, &url, &[JSON, KEY], chat.as_bytes());
    let scrape = || async {
        let r = get(&format!("http://{admin}/metrics")).await;
        assert_eq!(r.status, StatusCode::OK);
        parse(&r.text())
    };
    let ready = || async { get(&format!("http://{admin}/readyz")).await.status };

    assert_eq!(post().await.status, StatusCode::OK);
    fail.store(true, Ordering::SeqCst);
    // The answer came, its record did not: withheld. The next is refused before it leaves.
    assert_eq!(post().await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(post().await.status, StatusCode::SERVICE_UNAVAILABLE);
    let m = scrape().await;
    assert_eq!(value(&m, "paravent_audit_writes_total", &[]), 1.0);
    assert_eq!(value(&m, "paravent_audit_write_failures_total", &[]), 2.0);
    assert_eq!(value(&m, "paravent_audit_healthy", &[]), 0.0);
    assert_eq!(value(&m, "paravent_audit_checkpoint_seq", &[]), 1.0);
    assert_eq!(
        value(
            &m,
            "paravent_requests_total",
            &[("decision", "refused"), ("status", "503")]
        ),
        2.0
    );
    assert_eq!(
        value(
            &m,
            "paravent_refusals_total",
            &[("code", "paravent_audit_unavailable")]
        ),
        2.0
    );
    assert_eq!(ready().await, StatusCode::SERVICE_UNAVAILABLE);

    // The disk is back: the next record is written (its request still refused), then
    // the instance is ready again.
    fail.store(false, Ordering::SeqCst);
    assert_eq!(post().await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready().await, StatusCode::OK);
    assert_eq!(post().await.status, StatusCode::OK);
    let m = scrape().await;
    assert_eq!(value(&m, "paravent_audit_writes_total", &[]), 3.0);
    assert_eq!(value(&m, "paravent_audit_write_failures_total", &[]), 2.0);
    assert_eq!(value(&m, "paravent_audit_checkpoint_seq", &[]), 3.0);
    assert_eq!(value(&m, "paravent_audit_healthy", &[]), 1.0);
    assert_eq!(mock.count(), 3);
    task.abort();
    proxy.stop().await;
}
