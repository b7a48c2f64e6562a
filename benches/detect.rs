//! Detector benchmarks: the pure core only (no I/O, no proxy).
//!
//! - `scan/full/*`: the whole shipped rule set over ~64 KiB of mixed French/English
//!   prose and ~64 KiB of code, logs and stack traces (throughput), and over a ~2 KB
//!   French chat prompt full of personal data (time per call);
//! - `scan/patterns/*`: pattern rules only (person heuristics and city/country
//!   dictionaries turned off) over the same two 64 KiB texts;
//! - `normalise/*`: the normalised view alone (`detect::normalise::normalise`) over the
//!   64 KiB of code and logs (pure ASCII), the 64 KiB of prose (accented letters already
//!   in NFC: both borrowed, no copy) and the 2 KB prompt with every space made a narrow
//!   no-break space and a zero-width space after every digit (copied and mapped); and
//!   `scan/full/prompt_fr_2k_invisibles`, the whole scan of that prompt;
//! - `compile/builtin`: `Detector::builtin()`;
//! - `policy/decide/prompt_fr_2k`: `Policy::decide` on the prompt's findings with a
//!   ten-rule policy whose rules mostly miss (the worst case: every rule is tried).
//!
//! The texts are synthetic: small hand-written fixtures in `benches/fixtures/`, repeated
//! in a deterministic pseudo-random order with their `{placeholders}` filled in so that
//! no two copies are byte-identical. Run with `cargo bench --bench detect`; see
//! docs/PERFORMANCE.md for the figures.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paravent::detect::{Detector, RuleSet};

const PROSE: &str = include_str!("fixtures/prose.txt");
const CODE: &str = include_str!("fixtures/code.txt");
const PROMPT: &str = include_str!("fixtures/prompt_fr.txt");

/// Size of the large inputs.
const LARGE_BYTES: usize = 64 * 1024;

/// Rule ids turned off for the "patterns only" detector.
const NON_PATTERN_RULES: [&str; 3] = ["person", "quasi.city", "quasi.country"];

/// A small deterministic generator (64-bit LCG), so every run scans the same text.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Fills the `{placeholders}` of one block with fresh values.
fn fill(block: &str, rng: &mut Lcg) -> String {
    let mut out = String::with_capacity(block.len() + 16);
    let mut rest = block;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let key = &rest[open + 1..open + len];
        let value = match key {
            "n" => Some(format!("{}", 1 + rng.below(9_999))),
            "pct" => Some(format!("{}", 1 + rng.below(60))),
            "port" => Some(format!("{}", 1_024 + rng.below(60_000))),
            "dd" => Some(format!("{:02}", 1 + rng.below(28))),
            "mm" | "ss" => Some(format!("{:02}", rng.below(60))),
            "ms" => Some(format!("{:03}", rng.below(1_000))),
            "b" | "c" => Some(format!("{}", rng.below(256))),
            "date" => {
                const MONTHS: [&str; 6] = ["janvier", "mars", "mai", "juin", "octobre", "décembre"];
                let month = MONTHS[rng.below(MONTHS.len() as u64) as usize];
                Some(format!("{} {month}", 1 + rng.below(28)))
            }
            // Code braces (`{}`, `{ listen, … }`) are text, not placeholders.
            _ => None,
        };
        match value {
            Some(v) => {
                out.push_str(&rest[..open]);
                out.push_str(&v);
                rest = &rest[open + len + 1..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// About `LARGE_BYTES` of text: the fixture's blank-line-separated blocks, drawn in a
/// deterministic pseudo-random order, placeholders filled, cut at the last line end.
fn large(fixture: &str, seed: u64) -> String {
    let blocks: Vec<&str> = fixture
        .split("\n\n")
        .map(str::trim_end)
        .filter(|b| !b.is_empty())
        .collect();
    let mut rng = Lcg(seed);
    let mut text = String::with_capacity(LARGE_BYTES + 4096);
    while text.len() < LARGE_BYTES {
        let block = blocks[rng.below(blocks.len() as u64) as usize];
        text.push_str(&fill(block, &mut rng));
        text.push_str("\n\n");
    }
    let mut cut = LARGE_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let cut = text[..cut].rfind('\n').map_or(cut, |i| i + 1);
    text.truncate(cut);
    text
}

fn patterns_only() -> Detector {
    let mut set = RuleSet::builtin().expect("the shipped rules parse");
    let off: Vec<String> = NON_PATTERN_RULES.iter().map(|s| (*s).to_owned()).collect();
    set.disable(&off);
    Detector::new(&set).expect("the shipped rules compile")
}

fn scan(c: &mut Criterion) {
    let full = Detector::builtin();
    let patterns = patterns_only();
    let prose = large(PROSE, 0x5eed_0001);
    let code = large(CODE, 0x5eed_0002);

    // The fixtures must exercise the detector, or the figures mean nothing.
    assert!(
        full.scan(PROMPT).len() >= 10,
        "the prompt fixture should hold many findings"
    );
    assert!(!full.scan(&prose).is_empty() && !full.scan(&code).is_empty());

    for (name, detector) in [("full", &full), ("patterns", &patterns)] {
        let mut group = c.benchmark_group(format!("scan/{name}"));
        for (input, text) in [("prose_64k", &prose), ("code_logs_64k", &code)] {
            group.throughput(Throughput::Bytes(text.len() as u64));
            group.bench_function(input, |b| b.iter(|| detector.scan(black_box(text))));
        }
        group.finish();
    }

    let invisibles = with_invisibles(PROMPT);
    let mut group = c.benchmark_group("scan/full");
    group.bench_function("prompt_fr_2k", |b| b.iter(|| full.scan(black_box(PROMPT))));
    group.bench_function("prompt_fr_2k_invisibles", |b| {
        b.iter(|| full.scan(black_box(&invisibles)))
    });
    group.finish();

    use paravent::detect::normalise::normalise;
    assert!(normalise(&code).is_identity() && normalise(&prose).is_identity());
    assert!(!normalise(&invisibles).is_identity());
    assert_eq!(
        full.scan(&invisibles).len(),
        full.scan(PROMPT).len(),
        "the invisible characters hide nothing"
    );
    let mut group = c.benchmark_group("normalise");
    for (input, text) in [
        ("code_logs_64k", &code),
        ("prose_64k", &prose),
        ("prompt_fr_2k_invisibles", &invisibles),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(input, |b| {
            b.iter(|| normalise(black_box(text)).is_identity())
        });
    }
    group.finish();
}

/// The prompt as an evasive writer would send it: every space a narrow no-break space,
/// a zero-width space after every digit.
fn with_invisibles(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        match c {
            ' ' => out.push('\u{202F}'),
            '0'..='9' => {
                out.push(c);
                out.push('\u{200B}');
            }
            _ => out.push(c),
        }
    }
    out
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("builtin", |b| b.iter(Detector::builtin));
    group.finish();
}

/// Ten rules that the prompt's findings mostly do not match, then the ceiling.
const POLICY_TOML: &str = r#"
[providers.openai]
base_url = "http://127.0.0.1:9"
api = "openai"
max_sensitivity = "secret"

[providers.local]
base_url = "http://127.0.0.1:9"
api = "openai"

[[policy.rules]]
id = "r1"
teams = ["rh"]
entity = ["PERSON"]
action = "redact"

[[policy.rules]]
id = "r2"
users = ["bob"]
action = "block"

[[policy.rules]]
id = "r3"
entity = ["US_SSN"]
action = "block"

[[policy.rules]]
id = "r4"
entity = ["UK_NINO"]
action = "block"

[[policy.rules]]
id = "r5"
nature = ["strategic"]
providers = ["local"]
action = "allow"

[[policy.rules]]
id = "r6"
entity = ["IP_ADDRESS"]
action = "allow"

[[policy.rules]]
id = "r7"
entity = ["URL"]
action = "allow"

[[policy.rules]]
id = "r8"
sensitivity = ["public"]
action = "allow"

[[policy.rules]]
id = "r9"
entity = ["DATE"]
action = "redact"

[[policy.rules]]
id = "r10"
entity = ["FR_SIREN", "FR_SIRET"]
action = "pseudonymise"
"#;

fn policy(c: &mut Criterion) {
    use paravent::policy::{Item, Principal};
    let config = paravent::config::Config::from_toml("bench.toml", POLICY_TOML, None)
        .expect("the bench policy compiles");
    let found = config.detector.scan(PROMPT);
    let items: Vec<Item<'_>> = found
        .iter()
        .map(|f| Item {
            entity: f.entity.as_str(),
            nature: f.nature,
            sensitivity: f.sensitivity,
        })
        .collect();
    let who = Principal {
        user: "alice",
        team: Some("sales"),
    };
    let mut group = c.benchmark_group("policy/decide");
    group.bench_function("prompt_fr_2k", |b| {
        b.iter(|| config.policy.decide(black_box(&items), &who, "openai"))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().noise_threshold(0.02);
    targets = scan, compile, policy
}
criterion_main!(benches);
