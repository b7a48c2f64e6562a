//! The cost of the metrics: recording one request's outcome (the work added to every
//! request), and one scrape. Pure core only. Run with `cargo bench --bench metrics`;
//! the figures are in docs/OPERATIONS.md.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use paravent::audit::Decision;
use paravent::metrics::{Format, Metrics};
use paravent::proxy::Outcome;

/// A typical forwarded request: five findings of four entities, two natures.
fn outcome(provider: &str) -> Outcome {
    Outcome {
        request_id: "pv-0000000000000001".into(),
        provider: Some(provider.into()),
        endpoint: Some("openai.chat"),
        model: Some("gpt-4o-mini".into()),
        principal: "alice".into(),
        team: Some("legal".into()),
        requested_provider: None,
        jurisdiction: Some("US".into()),
        forwarded: true,
        decision: Some(Decision::Forwarded),
        rule: None,
        findings_by_action: BTreeMap::new(),
        findings_by_rule: BTreeMap::new(),
        streamed: false,
        upstream_status: Some(200),
        status: 200,
        refused: None,
        findings: BTreeMap::from([
            ("PERSON".to_owned(), 2),
            ("EMAIL".to_owned(), 1),
            ("PHONE".to_owned(), 1),
            ("IBAN".to_owned(), 1),
        ]),
        findings_by_nature: BTreeMap::from([("personal", 4), ("financial", 1)]),
        findings_by_sensitivity: BTreeMap::from([("confidential", 5)]),
        findings_by_entity_nature: BTreeMap::from([
            (("PERSON".to_owned(), "personal"), 2),
            (("EMAIL".to_owned(), "personal"), 1),
            (("PHONE".to_owned(), "personal"), 1),
            (("IBAN".to_owned(), "financial"), 1),
        ]),
        value_hashes: Vec::new(),
        replaced: 5,
        reidentified: 5,
        unknown_tokens: 0,
        unscanned: Vec::new(),
        bytes_in: 2048,
        bytes_out: 2100,
        usage: None,
        energy_uwh: None,
        latency: Duration::from_millis(420),
        upstream_latency: Some(Duration::from_millis(418)),
        stream_end: None,
        mode: paravent::config::Mode::Enforce,
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

fn bench(c: &mut Criterion) {
    let m = Metrics::new();
    let o = outcome("openai");
    c.bench_function("metrics/observe", |b| b.iter(|| m.observe(black_box(&o))));
    for p in ["anthropic", "mistral", "gemini", "ollama"] {
        m.observe(&outcome(p));
    }
    c.bench_function("metrics/scrape", |b| {
        b.iter(|| black_box(m.encode(None, Format::Prometheus)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().noise_threshold(0.02);
    targets = bench
}
criterion_main!(benches);
