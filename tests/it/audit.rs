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
