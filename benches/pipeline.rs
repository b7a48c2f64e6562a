//! The whole request phase, pure core only: strict parse, deny-by-default walk, one
//! detector pass over the normalised slots, propagation, vault, rewrite by slot index,
//! serialisation of the body that leaves.
//!
//! - `request/chat_prompt_2k`: `benches/load/prompt.json`, the 1.9 KB French chat
//!   request with 37 personal values that `scripts/loadtest.sh` sends;
//! - `request/tools_conversation`: a four-turn chat with two tool definitions (JSON
//!   schemas), a tool call with object arguments and its result: many keys, numbers and
//!   short strings, which deny-by-default walking all reads;
//! - `request/no_findings_1k`: a chat request with nothing to replace;
//! - `governed/*`: the same two chat requests, then what step 10 adds on the way out
//!   (an assistant profile's system prompt, the shipped OpenAI settings `store=false`,
//!   `user`/`safety_identifier` hashed, `metadata` dropped, and the record's `settings`
//!   strings): compare with `request/*` for the cost of governance.
//! - `vault/*`: the prompt's distinct values given their tokens in a fresh vault, then
//!   every value looked up again (what the rewrite does), and their audit hashes: the
//!   value normalisation and keyed hashing alone;
//! - `risk/*`: the residual re-identification risk alone, over a scan already made;
//! - `answer_leaks/*`: an answer's leak scan (`risk::leaks::Answers::scan`) over text
//!   with personal data (the prompt's JSON text) and over prose without a digit.
//!
//! Run with `cargo bench --bench pipeline`; docs/PERFORMANCE.md has the figures.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paravent::api::Endpoint;
use paravent::config::TokenStyle;
use paravent::detect::Detector;
use paravent::pipeline;
use paravent::vault::{TokenKey, Vault};
use paravent::walk::Walked;

const PROMPT: &[u8] = include_bytes!("load/prompt.json");

fn tools_conversation() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "model": "gpt-4o-mini", "temperature": 0.2, "parallel_tool_calls": true,
        "tools": [
            {"type": "function", "function": {"name": "find_customer",
              "description": "Finds a customer file by name, e-mail or phone number.",
              "parameters": {"type": "object", "properties": {
                  "name": {"type": "string", "description": "Full name"},
                  "email": {"type": "string", "format": "email"},
                  "phone": {"type": "string"},
                  "limit": {"type": "integer", "minimum": 1, "maximum": 50}},
                "required": ["name"], "additionalProperties": false}}},
            {"type": "function", "function": {"name": "send_mail",
              "description": "Sends an e-mail on behalf of the support team.",
              "parameters": {"type": "object", "properties": {
                  "to": {"type": "string"}, "subject": {"type": "string"},
                  "body": {"type": "string"}, "cc": {"type": "array", "items": {"type": "string"}}},
                "required": ["to", "subject", "body"]}}}],
        "messages": [
            {"role": "system", "content": "Tu es l'assistant du support client."},
            {"role": "user", "content": "Retrouve le dossier de Mme Claire Martin (claire.martin@example.org, 06 12 34 56 78) et écris-lui."},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a1", "type": "function", "function": {"name": "find_customer",
                 "arguments": "{\"name\":\"Claire Martin\",\"email\":\"claire.martin@example.org\",\"limit\":5}"}}]},
            {"role": "tool", "tool_call_id": "call_a1", "content": "{\"id\":48213,\"name\":\"Claire Martin\",\"city\":\"Lyon\",\"iban\":\"FR76 3000 6000 0112 3456 7890 189\",\"orders\":[{\"n\":1,\"total\":129.5},{\"n\":2,\"total\":42}]}"},
            {"role": "user", "content": "Parfait, envoie-lui le récapitulatif de ses deux commandes."}]}))
    .unwrap()
}

fn no_findings() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You are a helpful assistant for a software team."},
        {"role": "user", "content": "Explain the difference between a mutex and a read-write lock, with an example in Rust using std::sync, and say when each one is the better choice for a cache that is read far more often than it is written. Keep it under two hundred words and avoid jargon where a plain word will do; add a short code sample that compiles."}]}))
    .unwrap()
}

fn request_phase(detector: &Detector, key: &TokenKey, body: &[u8]) -> Vec<u8> {
    let mut walked = Walked::parse(body, Endpoint::OpenaiChat.schema()).unwrap();
    let mut vault = Vault::new(key, None, TokenStyle::Token, 10_000);
    pipeline::pseudonymise(detector, &mut walked, &mut vault, false).unwrap();
    walked.to_bytes()
}

/// The request phase, then the profile's system prompt and the provider's settings.
fn governed_phase(
    detector: &Detector,
    key: &TokenKey,
    settings: &paravent::governance::Settings,
    body: &[u8],
) -> (Vec<u8>, Vec<String>) {
    let mut walked = Walked::parse(body, Endpoint::OpenaiChat.schema()).unwrap();
    let mut vault = Vault::new(key, None, TokenStyle::Token, 10_000);
    pipeline::pseudonymise(detector, &mut walked, &mut vault, false).unwrap();
    Endpoint::OpenaiChat.prepend_system(&mut walked, "Tu aides le service RH. Reste factuel.");
    let mut applied = Vec::new();
    settings.apply(
        Endpoint::OpenaiChat,
        "/v1/chat/completions",
        &mut walked,
        &mut |f, v| key.setting_hash(f, v),
        &mut applied,
    );
    let mut recorded: Vec<String> = applied.iter().map(|s| (*s).to_owned()).collect();
    recorded.sort_unstable();
    (walked.to_bytes(), recorded)
}

/// A chat request with the identifying fields the settings act on.
fn with_identifiers(body: &[u8]) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["user"] = "employee-4821".into();
    v["safety_identifier"] = "employee-4821".into();
    v["metadata"] = serde_json::json!({"project": "onboarding"});
    serde_json::to_vec(&v).unwrap()
}

fn bench(c: &mut Criterion) {
    let detector = Detector::builtin();
    let key = TokenKey::from_secret(b"a benchmark secret of 32 bytes..");
    let mut g = c.benchmark_group("request");
    for (name, body) in [
        ("chat_prompt_2k", PROMPT.to_vec()),
        ("tools_conversation", tools_conversation()),
        ("no_findings_1k", no_findings()),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| request_phase(&detector, &key, black_box(&body)))
        });
    }
    g.finish();
    let config = paravent::config::Config::load(None).unwrap();
    let settings = &config.providers["openai"].settings;
    let mut g = c.benchmark_group("governed");
    for (name, body) in [
        ("chat_prompt_2k", with_identifiers(PROMPT)),
        ("no_findings_1k", with_identifiers(&no_findings())),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("{name}_plain"), |b| {
            b.iter(|| request_phase(&detector, &key, black_box(&body)))
        });
        g.bench_function(name, |b| {
            b.iter(|| governed_phase(&detector, &key, settings, black_box(&body)))
        });
    }
    g.finish();
    // Tokens and audit hashes alone, for the prompt's values as the scan found them.
    let mut g = c.benchmark_group("vault");
    let walked = Walked::parse(PROMPT, Endpoint::OpenaiChat.schema()).unwrap();
    let values = pipeline::scan(&detector, &walked).values().to_vec();
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("tokens_prompt_values", |b| {
        b.iter(|| {
            let mut vault = Vault::new(&key, None, TokenStyle::Token, 10_000);
            for _ in 0..2 {
                for (entity, value) in black_box(&values) {
                    vault.pseudonym(entity, value).unwrap();
                }
            }
            vault.len()
        })
    });
    g.bench_function("audit_hashes_prompt_values", |b| {
        b.iter(|| {
            black_box(&values)
                .iter()
                .map(|(entity, value)| key.audit_hash(entity, value)[0])
                .fold(0u8, u8::wrapping_add)
        })
    });
    g.finish();
    // What step 10 adds to the request phase: the residual risk, a pass over the
    // findings of a scan already made (every value pseudonymised but the quasi-
    // identifiers, the policy the risk is about).
    let mut g = c.benchmark_group("risk");
    for (name, body) in [
        ("chat_prompt_2k", PROMPT.to_vec()),
        ("tools_conversation", tools_conversation()),
    ] {
        let walked = Walked::parse(&body, Endpoint::OpenaiChat.schema()).unwrap();
        let scanned = pipeline::scan(&detector, &walked);
        let actions: Vec<pipeline::ValueAction> = scanned
            .values()
            .iter()
            .map(|(entity, _)| match entity.as_str() {
                "LOCATION" | "DATE" | "ORGANIZATION" | "JOB_TITLE" | "AGE" => {
                    pipeline::ValueAction::Allow
                }
                _ => pipeline::ValueAction::Pseudonymise,
            })
            .collect();
        g.bench_function(name, |b| b.iter(|| black_box(&scanned).risk(&actions)));
    }
    g.finish();
    // The answer's leak scan: a detector pass over each string with a digit or an `@`.
    let mut g = c.benchmark_group("answer_leaks");
    let answers = paravent::risk::leaks::Answers::new(
        std::sync::Arc::new(Detector::builtin()),
        key.clone(),
        paravent::risk::leaks::LeakAction::Redact,
        [("EMAIL", "jean.dupont@example.fr")],
    );
    let with_values = String::from_utf8_lossy(PROMPT).into_owned();
    let prose = "The difference between a mutex and a read-write lock is who may hold it at \
        once: a mutex admits one holder, a read-write lock admits many readers or one \
        writer. For a cache read far more often than written, the read-write lock lets \
        readers proceed together; when writes are frequent, a mutex is simpler and often \
        faster, because a read-write lock costs more to take and release. "
        .repeat(4);
    for (name, text) in [("prompt_2k_text", with_values), ("prose_1k", prose)] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| b.iter(|| answers.scan(black_box(&text)).len()));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().noise_threshold(0.02);
    targets = bench
}
criterion_main!(benches);
