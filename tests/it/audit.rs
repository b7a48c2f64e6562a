//! The audit trail end to end: real requests through the proxy (forwarded, streamed,
//! refused), then the file checked by `paravent audit verify`, and searched for every
//! fixture value, which must not be there.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use paravent::audit::writer::{AuditWriter, Sink};

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::paravent;
use crate::support::proxy::{Harness, PROMPT, VALUES};

const NIR: &str = "1 85 03 75 115 022 36";
const SECRET: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
const CLIENT_KEY: &str = "sk-client";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("paravent-it-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn every_request_is_recorded_in_a_chain_the_binary_verifies_without_any_value() {
    let dir = scratch("chain");
    let path = dir.join("audit").join("paravent.jsonl");
    let h = Harness::start_audited(&path).await;
    let prompt = format!("{PROMPT} Mon NIR : {NIR}.");
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &json!({"model": "gpt-x", "messages": [{"role": "user", "content": prompt}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &json!({"model": "gpt-x", "stream": true,
                    "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = h
        .post(
            "/v1/chat/completions",
            &json!({"messages": [{"role": "user", "content": format!("ma clé {SECRET}")}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h.post("/nowhere/v1/chat", &json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    h.assert_no_leak(VALUES);

    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 5, "{text}");
    assert_eq!(records[0]["kind"], "chain-start");
    let req = |i: usize| &records[i]["request"];
    assert_eq!(req(1)["decision"], "forwarded");
    assert_eq!(req(1)["model"], "gpt-x");
    assert_eq!(req(1)["upstream_status"], 200);
    assert_eq!(req(1)["findings_by_entity"]["PERSON"], 1);
    assert!(req(1)["values"].as_array().unwrap().len() >= 4, "{text}");
    assert_eq!(req(2)["streamed"], true);
    // The built-in secret rule blocks: the policy's decision, with its rule.
    assert_eq!(req(3)["decision"], "blocked");
    assert_eq!(req(3)["rule"], "builtin.secret");
    assert_eq!(req(3)["refusal"], "paravent_secret");
    assert_eq!(req(1)["rule"], "builtin.default");
    assert!(
        req(1)["findings_by_action"]["pseudonymise"]
            .as_u64()
            .unwrap()
            >= 4,
        "{text}"
    );
    // A refusal records what was found (counts and keyed hashes, never the value).
    assert_eq!(req(3)["findings_by_entity"]["SECRET"], 1, "{text}");
    assert_eq!(req(3)["findings_by_nature"]["secret"], 1, "{text}");
    assert!(
        req(3)["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["entity"] == "SECRET"),
        "{text}"
    );
    assert_eq!(req(4)["refusal"], "paravent_unknown_provider");
    // The same values went out twice: the auditor sees the same keyed hashes.
    let hashes = |i: usize| -> Vec<String> {
        req(i)["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["hash"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(hashes(2).iter().all(|h| hashes(1).contains(h)));

    let mut fixture: Vec<&str> = VALUES.to_vec();
    fixture.extend([
        NIR,
        "185037511502236",
        SECRET,
        CLIENT_KEY,
        "Jean",
        "example.fr",
    ]);
    for v in fixture {
        assert!(!text.contains(v), "{v:?} is in the audit file");
    }

    let file = path.to_str().unwrap();
    let ok = paravent(&["audit", "verify", file], b"");
    ok.assert_code(0);
    let last = records[4]["hash"].as_str().unwrap();
    assert!(ok.stdout.contains(last), "{}", ok.stdout);

    // A modified copy fails, naming the line and the request.
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, text.replacen("\"status\":403", "\"status\":200", 1)).unwrap();
    let r = paravent(&["audit", "verify", bad.to_str().unwrap()], b"");
    r.assert_code(1);
    let rid = req(3)["request_id"].as_str().unwrap();
    assert!(
        r.stderr.contains(":4:") && r.stderr.contains(rid),
        "{}",
        r.stderr
    );

    // A deleted line fails; a truncated tail fails given the last checkpoint.
    let lines: Vec<&str> = text.lines().collect();
    let deleted: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&bad, deleted).unwrap();
    paravent(&["audit", "verify", bad.to_str().unwrap()], b"").assert_code(1);
    let truncated: String = lines[..4].iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&bad, truncated).unwrap();
    paravent(&["audit", "verify", bad.to_str().unwrap()], b"").assert_code(0);
    paravent(
        &[
            "audit",
            "verify",
            "--checkpoint",
            last,
            bad.to_str().unwrap(),
        ],
        b"",
    )
    .assert_code(1);
    drop(h);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An audit sink that keeps the lines in memory and fails every write while `fail` is set.
struct FlakySink {
    fail: Arc<AtomicBool>,
    lines: Arc<Mutex<Vec<u8>>>,
}

impl Write for FlakySink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("disk full (test)"));
        }
        self.lines.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Sink for FlakySink {
    fn sync(&mut self) -> std::io::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("disk full (test)"));
        }
        Ok(())
    }
}

async fn start_flaky(extra: &str) -> (Harness, Arc<AtomicBool>, Arc<Mutex<Vec<u8>>>) {
    let fail = Arc::new(AtomicBool::new(false));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = FlakySink {
        fail: fail.clone(),
        lines: lines.clone(),
    };
    let h = Harness::start_with_audit_writer(extra, move |config| {
        AuditWriter::with_sink(
            Box::new(sink),
            std::path::Path::new("flaky.jsonl"),
            &config.audit,
            "it-instance".to_owned(),
            config.version.clone(),
        )
        .expect("chain-start")
    })
    .await;
    (h, fail, lines)
}

fn anthropic_body() -> Value {
    json!({"model": "claude", "max_tokens": 10,
           "messages": [{"role": "user", "content": PROMPT}]})
}

fn openai_body() -> Value {
    json!({"model": "gpt-x", "messages": [{"role": "user", "content": PROMPT}]})
}

#[tokio::test]
async fn an_unwritable_audit_trail_refuses_and_then_sends_nothing() {
    // `on_failure = "refuse"` is the default.
    let (h, fail, lines) = start_flaky("").await;
    fail.store(true, Ordering::SeqCst);

    // The first failure is found after the answer: the answer is withheld, in the
    // provider's error format.
    let r = h.post("/anthropic/v1/messages", &anthropic_body()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "api_error", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audit trail"),
        "{v}"
    );
    let sent = h.mock.count();
    assert_eq!(sent, 1);

    // Later requests are refused before anything leaves.
    let r = h.post("/openai/v1/chat/completions", &openai_body()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "paravent_audit_unavailable");
    assert_eq!(h.mock.count(), sent, "a request reached the provider");

    // Once a record can be written again, requests go through.
    fail.store(false, Ordering::SeqCst);
    let r = h.post("/openai/v1/chat/completions", &openai_body()).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    let r = h.post("/openai/v1/chat/completions", &openai_body()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(h.mock.count(), sent + 1);
    let text = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
    for v in VALUES {
        assert!(!text.contains(v), "{v:?} is in the audit trail");
    }
}

#[tokio::test]
async fn an_unwritable_audit_trail_with_continue_delivers_the_answer() {
    let (h, fail, _) = start_flaky("[audit]\non_failure = \"continue\"\n").await;
    fail.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        let r = h.post("/openai/v1/chat/completions", &openai_body()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert!(r.json()["choices"].is_array(), "{}", r.text());
    }
    assert_eq!(h.mock.count(), 2);
    h.assert_no_leak(VALUES);
}

const ENERGY: &str = r#"
[[energy.models]]
match = "gpt-*"
wh_per_1k_input = 0.5
wh_per_1k_output = 2.0
source = "test figures"

[energy.default]
wh_per_1k_input = 1.0
wh_per_1k_output = 1.0
"#;

async fn start_audited_with(path: &std::path::Path, extra: &str) -> Harness {
    let path = path.to_path_buf();
    Harness::start_with_audit_writer(extra, move |config| {
        AuditWriter::open(
            &path,
            &config.audit,
            "it-instance".to_owned(),
            config.version.clone(),
        )
        .expect("audit file")
    })
    .await
}

fn read_records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The request record of `id`, asserting there is exactly one.
fn record_of<'a>(records: &'a [Value], id: &str) -> &'a Value {
    let found: Vec<&Value> = records
        .iter()
        .filter(|r| r["request"]["request_id"] == id)
        .collect();
    assert_eq!(found.len(), 1, "records of {id}: {records:#?}");
    &found[0]["request"]
}

fn request_id(r: &crate::support::proxy::Reply) -> String {
    r.headers[paravent::proxy::REQUEST_ID_HEADER]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_streamed_answer_is_recorded_once_at_its_end_with_its_usage() {
    let dir = scratch("stream-usage");
    let path = dir.join("paravent.jsonl");
    let h = start_audited_with(&path, ENERGY).await;
    // Streams re-identified (personal data in the prompt) and passed on (none).
    let chat = h
        .post(
            "/openai/v1/chat/completions",
            &json!({"model": "gpt-x", "stream": true,
                    "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
    assert_eq!(chat.status, StatusCode::OK, "{}", chat.text());
    assert!(chat.text().contains("[DONE]"), "{}", chat.text());
    let plain = h
        .post(
            "/anthropic/v1/messages",
            &json!({"model": "claude-x", "max_tokens": 10, "stream": true,
                    "messages": [{"role": "user", "content": "Bonjour, quel temps fait-il ?"}]}),
        )
        .await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.text());
    assert!(plain.text().contains("message_stop"), "{}", plain.text());
    // JSON answers: re-identified, and passed on.
    let json_chat = h.post("/openai/v1/chat/completions", &openai_body()).await;
    assert_eq!(json_chat.status, StatusCode::OK);
    let gemini = h
        .post(
            "/gemini/v1beta/models/gemini-x:generateContent",
            &json!({"contents": [{"role": "user", "parts": [{"text": "Bonjour"}]}]}),
        )
        .await;
    assert_eq!(gemini.status, StatusCode::OK, "{}", gemini.text());
    assert!(gemini.json()["candidates"].is_array());

    let records = read_records(&path);
    assert_eq!(records.len(), 5, "{records:#?}");
    let r = record_of(&records, &request_id(&chat));
    assert_eq!(r["streamed"], true);
    assert_eq!(r["stream_end"], "complete");
    assert_eq!(r["usage"], json!({"input_tokens": 1, "output_tokens": 1}));
    // gpt-*: 1/1000 × 0.5 + 1/1000 × 2.0 Wh = 2500 µWh.
    assert_eq!(r["energy_uwh"], 2500);
    assert!(r["latency_us"].as_u64().unwrap() >= r["upstream_latency_us"].as_u64().unwrap());
    let r = record_of(&records, &request_id(&plain));
    assert_eq!(r["stream_end"], "complete");
    assert_eq!(r["usage"], json!({"input_tokens": 1, "output_tokens": 1}));
    // The default row: 2 × 1/1000 Wh.
    assert_eq!(r["energy_uwh"], 2000);
    let r = record_of(&records, &request_id(&json_chat));
    assert_eq!(r["streamed"], false);
    assert_eq!(r["stream_end"], Value::Null);
    assert_eq!(r["usage"], json!({"input_tokens": 1, "output_tokens": 1}));
    let r = record_of(&records, &request_id(&gemini));
    assert_eq!(r["usage"], json!({"input_tokens": 1, "output_tokens": 1}));
    // The hook saw each request once too.
    assert_eq!(h.outcomes.lock().unwrap().len(), 4);

    paravent(&["audit", "verify", path.to_str().unwrap()], b"").assert_code(0);
    drop(h);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_still_gets_a_record_saying_so() {
    use http_body_util::BodyExt;
    let dir = scratch("client-gone");
    let path = dir.join("paravent.jsonl");
    let h = start_audited_with(&path, "").await;
    let body = json!({"model": "m", "stream": true,
        "messages": [{"role": "user", "content": PROMPT}]});
    let resp = crate::support::serve::open(
        http::Method::POST,
        &h.url("/openai/v1/chat/completions?x-mock-event-delay-ms=20"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-client"),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = resp.headers()[paravent::proxy::REQUEST_ID_HEADER]
        .to_str()
        .unwrap()
        .to_owned();
    let mut body = resp.into_body();
    assert!(body.frame().await.unwrap().unwrap().is_data());
    drop(body);
    // Wait for the record (written when the proxy notices the client is gone).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let records = loop {
        let records = read_records(&path);
        if records.len() == 2 {
            break records;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no record for the stream: {records:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let r = record_of(&records, &id);
    assert_eq!(r["stream_end"], "client-gone");
    assert_eq!(r["streamed"], true);
    assert_eq!(r["decision"], "forwarded");
    paravent(&["audit", "verify", path.to_str().unwrap()], b"").assert_code(0);
    drop(h);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_stream_whose_record_cannot_be_written_ends_with_an_error_event() {
    use http_body_util::BodyExt;
    let (h, fail, lines) = start_flaky("").await;
    let body = json!({"model": "claude", "max_tokens": 10, "stream": true,
        "messages": [{"role": "user", "content": PROMPT}]});
    let resp = crate::support::serve::open(
        http::Method::POST,
        &h.url("/anthropic/v1/messages?x-mock-event-delay-ms=5"),
        &[
            ("content-type", "application/json"),
            ("x-api-key", "sk-client"),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    // The trail fails while the answer streams: its end is replaced by an error event.
    fail.store(true, Ordering::SeqCst);
    let rest = body.collect().await.unwrap().to_bytes();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&rest)
    );
    let tail = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(
        tail.starts_with("event: error") && tail.contains("audit trail cannot be written"),
        "{tail}"
    );
    assert!(!text.contains("message_stop"), "{text}");
    let trail = String::from_utf8(lines.lock().unwrap().clone()).unwrap();
    assert_eq!(trail.lines().count(), 1, "only the chain-start: {trail}");
}

#[test]
fn rotated_files_verify_as_one_chain_and_a_missing_one_is_named() {
    let dir = scratch("rotation");
    let path = dir.join("paravent.jsonl");
    let cfg: paravent::config::Config =
        paravent::config::Config::from_toml("t.toml", "[audit]\nrotate_bytes = 900\n", None)
            .unwrap();
    let w = AuditWriter::open(&path, &cfg.audit, "it".into(), cfg.version.clone()).unwrap();
    for i in 0..10 {
        w.append(paravent::audit::RequestFields {
            request_id: format!("pv-{i}"),
            principal: "alice".into(),
            status: 200,
            ..Default::default()
        })
        .unwrap();
    }
    let (_, last) = w.checkpoint();
    drop(w);
    let mut rotated: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_str().unwrap().to_owned())
        // As a shell glob lists them: not the hidden lock file.
        .filter(|p| !p.ends_with("/paravent.jsonl") && !p.contains("/."))
        .collect();
    rotated.sort();
    assert!(rotated.len() >= 2, "{rotated:?}");
    let mut all: Vec<&str> = rotated.iter().map(String::as_str).collect();
    all.push(path.to_str().unwrap());
    let mut args = vec!["audit", "verify", "--checkpoint", &last];
    args.extend(&all);
    let ok = paravent(&args, b"");
    ok.assert_code(0);
    assert!(ok.stdout.contains(&last), "{}", ok.stdout);

    let mut without: Vec<&str> = vec!["audit", "verify"];
    without.extend(
        all.iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, p)| *p),
    );
    let bad = paravent(&without, b"");
    bad.assert_code(1);
    assert!(
        bad.stderr.contains(&format!("{}:1:", all[2])) && bad.stderr.contains("missing"),
        "{}",
        bad.stderr
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `paravent serve` with a trail and trace logs: fixture data sent (JSON, stream,
/// refusal), then SIGTERM. Neither the logs nor the trail hold any of it; the logs hold
/// the checkpoints, and the last one verifies the trail.
#[cfg(unix)]
#[tokio::test]
async fn serve_logs_checkpoints_and_neither_logs_nor_trail_hold_a_value() {
    let mock = crate::support::mock_provider::MockProvider::start().await;
    let dir = scratch("serve-checkpoints");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("paravent.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndefault_provider = \"openai\"\n[providers.openai]\nbase_url = \"{}\"\napi = \"openai\"\n[audit]\npath = \"trail/paravent.jsonl\"\ncheckpoint_every = 2\nrotate_bytes = 4000\nfsync = \"never\"\n",
            mock.base_url()
        ),
    )
    .unwrap();
    let served = crate::support::serve::Served::start(
        &config,
        &["--log", "trace"],
        &[("PARAVENT_SECRET", "audit-test secret of enough length")],
    );
    let prompt = format!("{PROMPT} Mon NIR : {NIR}.");
    let bodies = [
        json!({"model": "gpt-x", "messages": [{"role": "user", "content": prompt}]}),
        json!({"model": "gpt-x", "stream": true,
               "messages": [{"role": "user", "content": prompt}]}),
        json!({"messages": [{"role": "user", "content": format!("{prompt} {SECRET}")}]}),
        json!({"model": "gpt-x", "messages": [{"role": "user", "content": prompt}]}),
    ];
    let auth = format!("Bearer {CLIENT_KEY}-in-header");
    for body in &bodies {
        crate::support::serve::send(
            http::Method::POST,
            &served.url("/v1/chat/completions"),
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            body.to_string().as_bytes(),
        )
        .await;
    }
    let (clean, log) = served.terminate();
    assert!(clean, "{log}");

    let trail_dir = dir.join("trail");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&trail_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        // As a shell glob lists them: not the hidden lock file.
        .filter(|p| {
            !p.ends_with("paravent.jsonl")
                && !p.file_name().unwrap().to_string_lossy().starts_with('.')
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no rotation at 4000 bytes");
    files.push(trail_dir.join("paravent.jsonl"));
    let trail: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let mut fixture: Vec<&str> = VALUES.to_vec();
    fixture.extend([
        NIR,
        "185037511502236",
        SECRET,
        CLIENT_KEY,
        "Jean",
        "example.fr",
    ]);
    for v in &fixture {
        assert!(!trail.contains(v), "{v:?} is in the audit trail");
        assert!(!log.contains(v), "{v:?} is in the logs");
    }

    // Checkpoints: at start, every 2 records, at rotation and at shutdown.
    let checkpoints: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Audit checkpoint."))
        .collect();
    for reason in ["start", "periodic", "rotation", "shutdown"] {
        assert!(
            checkpoints
                .iter()
                .any(|l| l.contains(&format!("reason=\"{reason}\""))
                    || l.contains(&format!("reason={reason}"))),
            "no {reason} checkpoint:\n{log}"
        );
    }
    let last = checkpoints.last().unwrap();
    assert!(last.contains("shutdown"), "{last}");
    let hash = last
        .split("hash=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let mut args = vec!["audit", "verify", "--checkpoint", &hash];
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    args.extend(&names);
    let ok = paravent(&args, b"");
    ok.assert_code(0);
    assert!(ok.stdout.contains(&hash), "{}", ok.stdout);
    // 4 requests, one record each.
    assert_eq!(trail.matches("\"kind\":\"request\"").count(), 4, "{trail}");
    std::fs::remove_dir_all(&dir).unwrap();
}
