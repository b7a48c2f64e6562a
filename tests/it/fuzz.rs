//! Fuzz targets, run as stable property tests (cargo-fuzz needs nightly): the rule-file
//! loader, each API's request walker and each stream decoder, fed arbitrary bytes and
//! inputs shaped like the real ones with bytes changed in them.
//!
//! Every target takes one byte string, so that an input that crashed it can be kept as
//! a file: `tests/fuzz/<target>/<name>` is replayed by
//! `every_kept_crash_input_replays_cleanly`. A failing case writes its input under
//! `target/fuzz-crashes/<target>/` (proptest prints the shrunk one last): move that file
//! into `tests/fuzz/<target>/`, fix the code, and it stays a regression test.
//!
//! The suite runs 64 cases per target; a longer run sets `PARAVENT_FUZZ_CASES`:
//!
//! ```text
//! PARAVENT_FUZZ_CASES=20000 cargo nextest run --test it --release fuzz
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use paravent::api::{Api, Endpoint};
use paravent::detect::{Detector, RuleSet};
use paravent::reidentify::Reidentifier;
use paravent::stream::formats::{Rewriter, StreamKind};
use paravent::stream::{ArrayDecoder, ArrayPiece, Decoder, LineDecoder};
use paravent::vault::{TokenKey, Vault};
use paravent::walk::Walked;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Cases per target: `PARAVENT_FUZZ_CASES`, or 64.
fn cases() -> u32 {
    std::env::var("PARAVENT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// The targets by name: the rule loader, a walker per API, a decoder per stream kind
/// and the three framing decoders.
const TARGETS: &[&str] = &[
    "rules",
    "walk-openai",
    "walk-anthropic",
    "walk-gemini",
    "walk-ollama",
    "stream-openai-chat",
    "stream-openai-responses",
    "stream-anthropic",
    "stream-gemini",
    "stream-gemini-array",
    "stream-ollama",
    "decode-sse",
    "decode-ndjson",
    "decode-array",
];

/// Runs target `name` on `input`; panics on a crash or a broken property.
fn run(name: &str, input: &[u8]) {
    match name {
        "rules" => rules(input),
        "walk-openai" => walk(Api::Openai, input),
        "walk-anthropic" => walk(Api::Anthropic, input),
        "walk-gemini" => walk(Api::Gemini, input),
        "walk-ollama" => walk(Api::Ollama, input),
        "stream-openai-chat" => stream(StreamKind::OpenaiChat, input),
        "stream-openai-responses" => stream(StreamKind::OpenaiResponses, input),
        "stream-anthropic" => stream(StreamKind::Anthropic, input),
        "stream-gemini" => stream(StreamKind::Gemini, input),
        "stream-gemini-array" => stream(StreamKind::GeminiArray, input),
        "stream-ollama" => stream(StreamKind::Ollama, input),
        "decode-sse" => decode_sse(input),
        "decode-ndjson" => decode_ndjson(input),
        "decode-array" => decode_array(input),
        other => panic!("no fuzz target {other:?}"),
    }
}

/// Chunk boundaries taken from the input itself: its first byte picks a chunk size
/// (1 to 32 bytes, or whole), the rest is the stream.
fn chunks(input: &[u8]) -> (usize, &[u8]) {
    match input.split_first() {
        Some((&b, rest)) if b < 224 => (usize::from(b % 32) + 1, rest),
        Some((_, rest)) => (rest.len().max(1), rest),
        None => (1, input),
    }
}

// ---- targets ----

/// Rule files the fuzzer got compiled (it must reach past the parser).
static COMPILED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The rule-file loader: parse, compile, then scan every example and a fixed text.
fn rules(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let Ok(set) = RuleSet::from_toml("fuzz.toml", text) else {
        return;
    };
    let _ = set.rule_ids();
    let examples = set.examples();
    if let Ok(detector) = Detector::new(&set) {
        COMPILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for ex in &examples {
            for f in detector.scan(&ex.text) {
                assert!(f.start <= f.end && f.end <= ex.text.len(), "{f:?}");
                assert!(ex.text.is_char_boundary(f.start) && ex.text.is_char_boundary(f.end));
            }
        }
        let fixed = "Jean Dupont, jean.dupont@example.fr, 06 12 34 56 78, Élodie à Paris";
        for f in detector.scan(fixed) {
            assert!(fixed.is_char_boundary(f.start) && fixed.is_char_boundary(f.end));
        }
    }
}

/// A walker: every endpoint schema of `api` parses the body or refuses it; a parsed
/// body is written back as valid JSON, and with every slot rewritten too.
fn walk(api: Api, input: &[u8]) {
    for e in schemas(api) {
        let Ok(mut w) = Walked::parse(input, e.schema()) else {
            continue;
        };
        let out = w.to_bytes();
        assert!(
            serde_json::from_slice::<serde_json::Value>(&out).is_ok(),
            "{e:?}: not JSON"
        );
        for s in w.slots.iter_mut() {
            s.text = format!("[X]{}", s.text);
        }
        let out = w.to_bytes();
        assert!(
            serde_json::from_slice::<serde_json::Value>(&out).is_ok(),
            "{e:?}: not JSON once rewritten"
        );
    }
}

/// The request schemas of one API, and the two every API can reach.
fn schemas(api: Api) -> Vec<Endpoint> {
    let mut v: Vec<Endpoint> = api.endpoints().iter().map(|r| r.endpoint).collect();
    v.extend([Endpoint::Read, Endpoint::Generic]);
    v.dedup();
    v
}

/// The pseudonyms the stream targets restore, and the rewriter's restorer.
struct Tokens {
    reid: Arc<Reidentifier>,
    person: String,
    email: String,
}

fn tokens() -> &'static Tokens {
    static T: std::sync::LazyLock<Tokens> = std::sync::LazyLock::new(|| {
        let key = TokenKey::from_secret(b"the fuzz targets' secret, 32 bytes");
        let mut v = Vault::new(&key, None, Default::default(), 100);
        let person = v.pseudonym("PERSON", "Jean Dupont").unwrap().to_owned();
        let email = v
            .pseudonym("EMAIL", "jean.dupont@example.fr")
            .unwrap()
            .to_owned();
        Tokens {
            reid: Arc::new(Reidentifier::new(&v)),
            person,
            email,
        }
    });
    &T
}

/// A stream decoder and re-identifier: any bytes in any chunks end in bytes or an
/// error, never a panic, and the output stays proportionate to the input.
fn stream(kind: StreamKind, input: &[u8]) {
    let (size, body) = chunks(input);
    let mut r = Rewriter::with_limit(kind, tokens().reid.clone(), 4096);
    let mut out = Vec::new();
    for chunk in body.chunks(size) {
        match r.push(chunk) {
            Ok(bytes) => out.extend(bytes),
            Err(_) => {
                let _ = r.error_frame(br#"{"error":"x"}"#);
                return;
            }
        }
    }
    if let Ok(bytes) = r.finish() {
        out.extend(bytes);
    }
    // Each original is at most a few times its token's length; framing adds events.
    assert!(
        out.len() <= 8 * body.len() + 4096,
        "{kind:?}: {} bytes out of {}",
        out.len(),
        body.len()
    );
}

/// The SSE decoder gives the same events however the bytes are cut.
fn decode_sse(input: &[u8]) {
    let (size, body) = chunks(input);
    let whole = {
        let mut d = Decoder::new(4096);
        d.push(body).map(|mut evs| {
            let last = d.finish();
            evs.extend(last.ok().flatten());
            evs.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>()
        })
    };
    let mut d = Decoder::new(4096);
    let mut cut = Vec::new();
    for chunk in body.chunks(size) {
        match d.push(chunk) {
            Ok(evs) => cut.extend(evs.iter().map(|e| format!("{e:?}"))),
            Err(_) => {
                assert!(whole.is_err(), "cut in {size}-byte chunks: refused");
                return;
            }
        }
    }
    cut.extend(d.finish().ok().flatten().map(|e| format!("{e:?}")));
    if let Ok(whole) = whole {
        assert_eq!(cut, whole, "cut in {size}-byte chunks");
    }
}

/// The NDJSON line decoder gives the same lines however the bytes are cut.
fn decode_ndjson(input: &[u8]) {
    let (size, body) = chunks(input);
    let decode = |size: usize| -> Result<Vec<String>, ()> {
        let mut d = LineDecoder::new(4096);
        let mut lines = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            lines.extend(d.push(chunk).map_err(|_| ())?);
        }
        lines.extend(d.finish().map_err(|_| ())?);
        Ok(lines)
    };
    let whole = decode(body.len());
    let cut = decode(size);
    assert_eq!(cut.is_ok(), whole.is_ok(), "cut in {size}-byte chunks");
    if let (Ok(a), Ok(b)) = (cut, whole) {
        assert_eq!(a, b, "cut in {size}-byte chunks");
    }
}

/// The JSON-array decoder gives the same pieces however the bytes are cut, and what it
/// returns, concatenated, is the input it consumed.
fn decode_array(input: &[u8]) {
    let (size, body) = chunks(input);
    let decode = |size: usize| -> (Vec<String>, bool) {
        let mut d = ArrayDecoder::new(4096);
        let mut pieces = Vec::new();
        for chunk in body.chunks(size.max(1)) {
            match d.push(chunk) {
                Ok(p) => pieces.extend(p.into_iter().map(|p| piece(&p))),
                Err(_) => return (pieces, false),
            }
        }
        match d.finish() {
            Ok(rest) => pieces.extend(rest),
            Err(_) => return (pieces, false),
        }
        (pieces, true)
    };
    let (whole, whole_ok) = decode(body.len());
    let (cut, cut_ok) = decode(size);
    assert_eq!(cut_ok, whole_ok, "cut in {size}-byte chunks");
    if whole_ok {
        assert_eq!(cut.concat(), whole.concat(), "cut in {size}-byte chunks");
    }
}

fn piece(p: &ArrayPiece) -> String {
    match p {
        ArrayPiece::Element(s) | ArrayPiece::Framing(s) => s.clone(),
    }
}

// ---- inputs ----

/// Bytes near a real input: a seed, with bytes replaced, cut out or repeated.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<u16>(), 0u8..4, any::<u8>()), 0..6);
    (prop::sample::select(seeds), edits).prop_map(|(mut s, edits)| {
        for (at, op, b) in edits {
            if s.is_empty() {
                s.push(b);
                continue;
            }
            let i = usize::from(at) % s.len();
            match op {
                0 => s[i] = b,
                1 => {
                    s.remove(i);
                }
                2 => s.insert(i, b),
                _ => {
                    let end = (i + usize::from(b % 16)).min(s.len());
                    let copy = s[i..end].to_vec();
                    s.splice(i..i, copy);
                }
            }
        }
        s
    })
}

/// Arbitrary bytes, or a seed of the target mutated.
fn input(seeds: Vec<Vec<u8>>) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..512),
        3 => mutated(seeds),
    ]
    .boxed()
}

/// A rule file built from the keys the loader knows, with generated values.
fn rule_file() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        Just("\"PERSON\"".to_owned()),
        Just("\"personal\"".to_owned()),
        Just("\"confidential\"".to_owned()),
        Just("\"luhn\"".to_owned()),
        Just("\"fr_nir\"".to_owned()),
        Just("true".to_owned()),
        (-5i64..200).prop_map(|n| n.to_string()),
        prop::sample::select(vec![
            i64::MAX,
            i64::from(u32::MAX),
            i64::from(i32::MAX),
            1 << 40
        ])
        .prop_map(|n| n.to_string()),
        "[-a-zA-Z0-9 .()|?*+\\[\\]{}\\\\:@é]{0,12}".prop_map(|s| format!("'''{s}'''")),
        prop::collection::vec("[a-zé \\[\\]0-9@.]{0,10}", 0..4).prop_map(|v| format!("{v:?}")),
    ];
    let key = prop::sample::select(vec![
        "priority",
        "score",
        "pattern",
        "validator",
        "context",
        "context_window",
        "context_required",
        "exclude",
        "terms",
        "capitalized",
        "min_term_chars",
        "examples",
        "counterexamples",
        "unknown_key",
    ]);
    prop::collection::vec(prop::collection::vec((key, value), 0..12), 0..4).prop_map(|rules| {
        let mut s = String::new();
        for rule in rules {
            s.push_str("[[rule]]\nid = \"fuzz.r\"\nentity = \"PERSON\"\nnature = \"personal\"\nsensitivity = \"confidential\"\n");
            let mut seen = std::collections::HashSet::new();
            for (k, v) in rule {
                // A key twice is a TOML error: the loader would never see the rule.
                if seen.insert(k) {
                    s.push_str(&format!("{k} = {v}\n"));
                }
            }
        }
        s.into_bytes()
    })
}

fn rule_seeds() -> Vec<Vec<u8>> {
    vec![
        include_bytes!("../../rules/core.toml")[..4000].to_vec(),
        b"[[rule]]\nid = \"x.a\"\nentity = \"PERSON\"\nnature = \"personal\"\n\
          sensitivity = \"confidential\"\npattern = '''[0-9]{3}'''\nvalidator = \"luhn\"\n\
          examples = [\"a [[123]] b\"]\ncounterexamples = [\"12\"]\n"
            .to_vec(),
        b"[[rule]]\nid = \"x.t\"\nentity = \"ORG\"\nnature = \"personal\"\n\
          sensitivity = \"internal\"\nterms = [\"Acme\", \"B\xc3\xa9ta\"]\ncapitalized = true\n\
          examples = [\"chez [[Acme]]\"]\n"
            .to_vec(),
    ]
}

fn walk_seeds(api: Api) -> Vec<Vec<u8>> {
    let body = match api {
        Api::Openai => serde_json::json!({"model": "gpt-4o", "stream": true,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Jean"}]},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                 "function": {"name": "f", "arguments": "{\"to\":\"jean@example.fr\"}"}}]}],
            "tools": [{"type": "function", "function": {"name": "f",
                 "parameters": {"type": "object", "properties": {"to": {"type": "string"}}}}}],
            "input": [{"role": "user", "content": "x"}], "temperature": 0.2}),
        Api::Anthropic => serde_json::json!({"model": "claude", "max_tokens": 10,
            "system": [{"type": "text", "text": "Jean"}],
            "messages": [{"role": "user", "content": [{"type": "tool_result",
                "tool_use_id": "t", "content": "{\"a\":1}"}]}]}),
        Api::Gemini => serde_json::json!({"contents": [{"role": "user", "parts": [
                {"text": "Jean"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}],
            "generationConfig": {"temperature": 1}}),
        Api::Ollama => serde_json::json!({"model": "llama3", "prompt": "Jean",
            "messages": [{"role": "user", "content": "x", "images": ["AAAA"]}],
            "options": {"num_ctx": 4096}, "format": {"type": "object"}}),
    };
    vec![serde_json::to_vec(&body).unwrap(), b"{}".to_vec()]
}

fn stream_seeds(kind: StreamKind) -> Vec<Vec<u8>> {
    let t = tokens();
    let (p, e) = (&t.person, &t.email);
    let text = match kind {
        StreamKind::OpenaiChat => format!(
            "\x05data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"À {p}\"}}}}]}}\n\n\
             data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\"{{\\\"to\\\":\\\"{e}\\\"}}\"}}}}]}}}}]}}\n\n\
             data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\ndata: [DONE]\n\n"
        ),
        StreamKind::OpenaiResponses => format!(
            "\x03event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"item_id\":\"i\",\"output_index\":0,\"content_index\":0,\"delta\":\"{p}\"}}\n\n\
             event: response.output_text.done\ndata: {{\"type\":\"response.output_text.done\",\"item_id\":\"i\",\"output_index\":0,\"content_index\":0,\"text\":\"{p}\"}}\n\n"
        ),
        StreamKind::Anthropic => format!(
            "\x07event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n\
             event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{p} {e}\"}}}}\n\n\
             event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n"
        ),
        StreamKind::Gemini => format!(
            "\x02data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{p}\"}}]}}}}]}}\r\n\r\n\
             data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"\"}}]}},\"finishReason\":\"STOP\"}}]}}\r\n\r\n"
        ),
        StreamKind::GeminiArray => format!(
            "\x04[{{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{p}\"}}]}}}}]}}\n,\r\n\
             {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{e}\"}}]}},\"finishReason\":\"STOP\"}}]}}]"
        ),
        StreamKind::Ollama => format!(
            "\x06{{\"model\":\"m\",\"message\":{{\"role\":\"assistant\",\"content\":\"{p}\"}},\"done\":false}}\n\
             {{\"model\":\"m\",\"response\":\"{e}\",\"done\":true}}\n"
        ),
    };
    vec![text.into_bytes()]
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    match target {
        "rules" => rule_seeds(),
        "walk-openai" => walk_seeds(Api::Openai),
        "walk-anthropic" => walk_seeds(Api::Anthropic),
        "walk-gemini" => walk_seeds(Api::Gemini),
        "walk-ollama" => walk_seeds(Api::Ollama),
        "stream-openai-chat" | "decode-sse" => stream_seeds(StreamKind::OpenaiChat)
            .into_iter()
            .chain(stream_seeds(StreamKind::Anthropic))
            .collect(),
        "stream-openai-responses" => stream_seeds(StreamKind::OpenaiResponses),
        "stream-anthropic" => stream_seeds(StreamKind::Anthropic),
        "stream-gemini" => stream_seeds(StreamKind::Gemini),
        "stream-gemini-array" | "decode-array" => stream_seeds(StreamKind::GeminiArray),
        "stream-ollama" | "decode-ndjson" => stream_seeds(StreamKind::Ollama),
        other => panic!("no fuzz target {other:?}"),
    }
}

// ---- drivers ----

/// Writes an input that failed under `target/fuzz-crashes/<target>/` for keeping.
fn keep_crash(target: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/fuzz-crashes")
        .join(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(&blake3::hash(input).to_hex()[..16]);
    let _ = std::fs::write(&path, input);
    path
}

/// Runs `target` over `cases()` inputs from `strategy`; a failing input is written
/// for keeping, and the failure names the file.
fn fuzz(target: &str, strategy: BoxedStrategy<Vec<u8>>) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |input| {
        let outcome = std::panic::catch_unwind(|| run(target, &input));
        if let Err(e) = outcome {
            let kept = keep_crash(target, &input);
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            return Err(TestCaseError::fail(format!(
                "{why} (input kept in {})",
                kept.display()
            )));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("fuzz target {target}: {e}");
    }
}

#[test]
fn the_rule_file_loader_takes_any_bytes_and_any_rule_file_without_panicking() {
    let strategy = prop_oneof![1 => input(seeds("rules")), 2 => rule_file()].boxed();
    fuzz("rules", strategy);
    let compiled = COMPILED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        compiled >= cases() as usize / 10,
        "only {compiled} rule files compiled"
    );
}

#[test]
fn every_api_walker_takes_any_body_and_writes_back_json() {
    for target in [
        "walk-openai",
        "walk-anthropic",
        "walk-gemini",
        "walk-ollama",
    ] {
        fuzz(target, input(seeds(target)));
    }
}

#[test]
fn every_stream_rewriter_takes_any_bytes_in_any_chunks_without_panicking() {
    for target in TARGETS.iter().filter(|t| t.starts_with("stream-")) {
        fuzz(target, input(seeds(target)));
    }
}

#[test]
fn the_framing_decoders_decode_the_same_however_the_bytes_are_cut() {
    for target in ["decode-sse", "decode-ndjson", "decode-array"] {
        fuzz(target, input(seeds(target)));
    }
}

/// `tests/fuzz/<target>/*`: every input a target ever crashed on, replayed.
#[test]
fn every_kept_crash_input_replays_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&root).expect("tests/fuzz exists") {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            TARGETS.contains(&target.as_str()),
            "tests/fuzz/{target}: no such target"
        );
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            let input = std::fs::read(&file).unwrap();
            run(&target, &input);
            replayed += 1;
        }
    }
    // The seeds are replayed too, so a target broken on its own seed fails here.
    for target in TARGETS {
        for s in seeds(target) {
            run(target, &s);
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len());
}
