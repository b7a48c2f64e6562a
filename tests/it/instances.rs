//! The audit trails of many instances: three `paravent serve` processes share one
//! configuration whose `[audit] path` holds `{instance}`, each writes its own chain in
//! one directory and closes it at a graceful stop; `audit verify` and `audit report`
//! take the directory and check each chain on its own.

use std::path::{Path, PathBuf};

use http::{Method, StatusCode};
use serde_json::json;

use crate::support::proxy::MockProvider;
use crate::support::serve::{Served, send};
use crate::support::{Scratch, paravent};

fn config(mock: &MockProvider) -> String {
    format!(
        "[server]\ndefault_provider = \"openai\"\n\n\
         [audit]\npath = \"trails/paravent-{{instance}}.jsonl\"\nfsync = \"never\"\n\n\
         [pseudonyms]\nsecret = \"an instances test secret of 32 bytes or more\"\n\n\
         [providers.openai]\nbase_url = \"{}\"\napi = \"openai\"\n",
        mock.base_url()
    )
}

async fn chat(served: &Served) {
    let body = json!({"model": "m", "messages": [{"role": "user",
        "content": "Écrivez à jean.dupont@example.fr"}]});
    let r = send(
        Method::POST,
        &served.url("/openai/v1/chat/completions"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-x"),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

/// Starts an instance whose host name is `host`, sends `requests` requests through it
/// and stops it gracefully.
async fn run_instance(config: &Path, host: &str, requests: usize) -> String {
    let served = Served::start(config, &[], &[("HOSTNAME", host)]);
    for _ in 0..requests {
        chat(&served).await;
    }
    let (clean, output) = served.terminate();
    assert!(clean, "{output}");
    output
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn kind(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["kind"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_instances_trails_verify_together_and_a_record_moved_between_them_fails() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("instances");
    let cfg = dir.write("paravent.toml", config(&mock));
    let trails = dir.path().join("trails");
    // One configuration, three replicas: each its own file, named by its host name
    // (made safe for a file name), written concurrently.
    let (a, b, c) = tokio::join!(
        run_instance(&cfg, "pod-a", 3),
        run_instance(&cfg, "pod-b", 2),
        run_instance(&cfg, "pod c/7", 1),
    );
    let file = |name: &str| trails.join(format!("paravent-{name}.jsonl"));
    for (out, name) in [(&a, "pod-a"), (&b, "pod-b"), (&c, "pod_c_7")] {
        assert!(
            out.contains(&format!("paravent-{name}.jsonl")),
            "the start log names the file: {out}"
        );
        let l = lines(&file(name));
        assert_eq!(kind(&l[0]), "chain-start");
        assert_eq!(kind(l.last().unwrap()), "chain-close", "{name}");
    }

    let ok = paravent(&["audit", "verify", Scratch::arg(&trails)], b"");
    ok.assert_code(0);
    let chains: Vec<&str> = ok.stdout.lines().filter(|l| l.starts_with("ok ")).collect();
    assert_eq!(chains.len(), 3, "{}", ok.stdout);
    for (line, (instance, records)) in
        chains
            .iter()
            .zip([("pod c/7", 3), ("pod-a", 5), ("pod-b", 4)])
    {
        assert!(
            line.contains(&format!("instance={instance} "))
                && line.contains(&format!("records={records} "))
                && line.contains("end=closed"),
            "{line}"
        );
    }
    assert!(
        ok.stdout.contains("3 chain(s) of 3 instance(s) verified"),
        "{}",
        ok.stdout
    );

    // One report over the directory: three instances, three verified chains.
    let rep = paravent(
        &["audit", "report", "--format", "json", Scratch::arg(&trails)],
        b"",
    );
    rep.assert_code(0);
    let v: serde_json::Value = serde_json::from_str(&rep.stdout).unwrap();
    assert_eq!(v["totals"]["requests"], 6);
    assert_eq!(v["instances"].as_array().unwrap().len(), 3);
    assert_eq!(v["integrity"]["chains"], 3);
    let by_chain = v["integrity"]["by_chain"].as_array().unwrap();
    assert_eq!(by_chain.len(), 3);
    assert!(
        by_chain
            .iter()
            .all(|c| c["bad"].is_null() && c["closed"] == true)
    );

    // A request record moved from pod-a's file into pod-b's: pod-a's chain fails at
    // the record after the gap; the other chains still verify.
    let moved_dir = dir.path().join("moved");
    std::fs::create_dir_all(&moved_dir).unwrap();
    let mut la = lines(&file("pod-a"));
    let record = la.remove(2);
    let mut lb = lines(&file("pod-b"));
    lb.insert(2, record);
    let write = |name: &str, l: &[String]| -> PathBuf {
        let p = moved_dir.join(format!("paravent-{name}.jsonl"));
        std::fs::write(&p, l.iter().map(|x| format!("{x}\n")).collect::<String>()).unwrap();
        p
    };
    let moved_from = write("pod-a", &la);
    write("pod-b", &lb);
    write("pod_c_7", &lines(&file("pod_c_7")));
    let bad = paravent(&["audit", "verify", Scratch::arg(&moved_dir)], b"");
    bad.assert_code(1);
    assert!(
        bad.stderr.contains(&format!("{}:3:", moved_from.display()))
            && bad.stderr.contains("deleted, inserted or moved"),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stdout.contains("BROKEN instance=pod-a "),
        "{}",
        bad.stdout
    );
    assert_eq!(
        bad.stdout.matches("\nok instance=").count()
            + usize::from(bad.stdout.starts_with("ok instance=")),
        2,
        "{}",
        bad.stdout
    );
    let rep = paravent(
        &[
            "audit",
            "report",
            "--format",
            "json",
            Scratch::arg(&moved_dir),
        ],
        b"",
    );
    rep.assert_code(1);

    // pod-a restarts on its file: a new chain follows the closed one, and all verify.
    run_instance(&cfg, "pod-a", 1).await;
    let ok = paravent(&["audit", "verify", Scratch::arg(&trails)], b"");
    ok.assert_code(0);
    assert_eq!(ok.stdout.matches(" continues=").count(), 1, "{}", ok.stdout);
    assert!(
        ok.stdout.contains("4 chain(s) of 3 instance(s) verified"),
        "{}",
        ok.stdout
    );
}
