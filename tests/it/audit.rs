//! The audit trail end to end: real requests through the proxy (forwarded, streamed,
//! refused), then the file checked by `paravent audit verify`, and searched for every
//! fixture value, which must not be there.

use std::path::PathBuf;

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
    assert_eq!(req(3)["decision"], "refused");
    assert_eq!(req(3)["refusal"], "paravent_secret");
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
