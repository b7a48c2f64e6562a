//! Stream re-identification benchmarks: the pure core only (no I/O, no proxy).
//!
//! - `stream/openai_chat`, `stream/anthropic`: a synthetic SSE answer (~256 KiB,
//!   4-character deltas as models send them, one pseudonym every ~120 characters)
//!   through [`Rewriter`] in 16 KiB network chunks: decode, re-identify, encode;
//! - `stream/reidentifier`: the same text through [`StreamReidentifier`] alone, in
//!   4-character fragments.
//!
//! Throughput is bytes of SSE (or text) in. Run with `cargo bench --bench stream`; see
//! docs/STREAMING.md for the figures.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paravent::reidentify::{Reidentifier, StreamReidentifier};
use paravent::stream::Event;
use paravent::stream::formats::{Rewriter, StreamKind};
use paravent::vault::{TokenKey, Vault};
use serde_json::json;

const TEXT_BYTES: usize = 64 * 1024;
const CHUNK_BYTES: usize = 16 * 1024;
const DELTA_CHARS: usize = 4;

fn setup() -> (Arc<Reidentifier>, String) {
    let key = TokenKey::from_secret(b"bench secret, at least 16 bytes");
    let mut v = Vault::new(&key, None, Default::default(), 100);
    let tokens: Vec<String> = [
        ("PERSON", "Jean Dupont"),
        ("EMAIL", "jean.dupont@example.fr"),
        ("PHONE", "06 12 34 56 78"),
        ("IBAN", "FR76 3000 6000 0112 3456 7890 189"),
    ]
    .iter()
    .map(|(e, val)| v.pseudonym(e, val).unwrap().to_owned())
    .collect();
    let mut text = String::new();
    let mut i = 0;
    while text.len() < TEXT_BYTES {
        text.push_str("Voici la réponse au dossier, comme convenu avec le service client ");
        text.push_str(&tokens[i % tokens.len()]);
        text.push_str(", merci. ");
        i += 1;
    }
    (Arc::new(Reidentifier::new(&v)), text)
}

fn deltas(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(DELTA_CHARS)
        .map(|c| c.iter().collect())
        .collect()
}

fn openai_sse(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for d in deltas(text) {
        let v = json!({"id": "chatcmpl-0123456789", "object": "chat.completion.chunk",
            "created": 1_767_225_600, "model": "gpt-4o-2024-08-06",
            "system_fingerprint": "fp_0123456789",
            "choices": [{"index": 0, "delta": {"content": d}, "logprobs": null,
            "finish_reason": null}]});
        Event::new(None, &v.to_string()).encode_into(&mut out);
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    out
}

fn anthropic_sse(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for d in deltas(text) {
        let v = json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": d}});
        Event::new(Some("content_block_delta"), &v.to_string()).encode_into(&mut out);
    }
    out
}

fn run(kind: StreamKind, reid: &Arc<Reidentifier>, input: &[u8]) -> usize {
    let mut r = Rewriter::new(kind, reid.clone());
    let mut n = 0;
    for c in input.chunks(CHUNK_BYTES) {
        n += r.push(c).unwrap().len();
    }
    n + r.finish().unwrap().len()
}

fn benches(c: &mut Criterion) {
    let (reid, text) = setup();
    let mut g = c.benchmark_group("stream");
    for (name, kind, input) in [
        ("openai_chat", StreamKind::OpenaiChat, openai_sse(&text)),
        ("anthropic", StreamKind::Anthropic, anthropic_sse(&text)),
    ] {
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| b.iter(|| run(kind, &reid, black_box(&input))));
    }
    let fragments = deltas(&text);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("reidentifier", |b| {
        b.iter(|| {
            let mut s = StreamReidentifier::new(reid.clone());
            let mut n = 0;
            for f in &fragments {
                n += s.push(black_box(f)).len();
            }
            n + s.finish().len()
        })
    });
    g.finish();
}

criterion_group! {
    name = stream;
    config = Criterion::default().noise_threshold(0.02);
    targets = benches
}
criterion_main!(stream);
