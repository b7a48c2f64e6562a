//! SIGHUP reloads the configuration of a running `paravent serve`: a valid new one is
//! taken by the next requests, an invalid one is refused and the running one stays, and
//! the process never stops.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::json;

use crate::support::Scratch;
use crate::support::proxy::MockProvider;
use crate::support::serve::{Served, send};

fn config(mock: &MockProvider, policy: &str) -> String {
    format!(
        "[server]\ndefault_provider = \"openai\"\nwatch_interval_ms = 0\n\n[audit]\npath = \"audit.jsonl\"\nfsync = \"never\"\n\n\
         [pseudonyms]\nsecret = \"a reload test secret of 32 bytes or more\"\n\n\
         [providers.openai]\nbase_url = \"{}\"\napi = \"openai\"\n\n{policy}",
        mock.base_url()
    )
}

const BLOCK_EMAILS: &str = "[[policy.rules]]\nid = \"no-email\"\nentity = [\"EMAIL\"]\naction = \"block\"\nmessage = \"No e-mails.\"\n";

async fn chat(served: &Served) -> crate::support::proxy::Reply {
    send_text(served, "Écrivez à jean.dupont@example.fr").await
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_takes_a_valid_configuration_and_refuses_an_invalid_one() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("reload");
    let path = dir.write("paravent.toml", config(&mock, ""));
    let served = Served::start(&path, &[], &[]);
    assert_eq!(chat(&served).await.status, StatusCode::OK);

    // A new rule: the next request is blocked, without a restart.
    dir.write("paravent.toml", config(&mock, BLOCK_EMAILS));
    served.signal("HUP");
    served.wait_for("Configuration reloaded.");
    let r = chat(&served).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "paravent_policy_block");

    // An invalid file: refused with its problem, the rule stays in force.
    dir.write(
        "paravent.toml",
        format!("{}\n[providers.openai.typo]\n", config(&mock, BLOCK_EMAILS)),
    );
    served.signal("HUP");
    served.wait_for("Configuration reload refused");
    let r = chat(&served).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // The admin sees it: /readyz says so, the metrics count it.
    let ready = crate::support::serve::get(&served.admin_url("/readyz")).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert!(
        ready.text().contains("last reload was refused"),
        "{}",
        ready.text()
    );
    let metrics = crate::support::serve::get(&served.admin_url("/metrics"))
        .await
        .text();
    assert!(
        metrics.contains("paravent_config_reload_failures_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("paravent_config_reloads_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("paravent_config_last_reload_success 0\n"),
        "{metrics}"
    );

    // Back to no rule: forwarded again; the process served throughout.
    dir.write("paravent.toml", config(&mock, ""));
    served.signal("HUP");
    let start = Instant::now();
    loop {
        if chat(&served).await.status == StatusCode::OK {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            served.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (clean, output) = served.terminate();
    assert!(clean, "{output}");
    assert!(!output.contains("jean.dupont"), "{output}");
    // Each applied reload is in the trail, naming the version it brought, and the
    // chain verifies across them.
    let trail = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    let reloads: Vec<serde_json::Value> = trail
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "reload")
        .collect();
    assert_eq!(reloads.len(), 2, "{trail}");
    assert_ne!(reloads[0]["policy_version"], reloads[1]["policy_version"]);
    let audit = dir.path().join("audit.jsonl");
    crate::support::paravent(&["audit", "verify", Scratch::arg(&audit)], b"").assert_code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_opened_before_a_reload_completes_on_its_own_configuration() {
    use http_body_util::BodyExt;
    let mock = MockProvider::start().await;
    let dir = Scratch::new("reload-stream");
    let path = dir.write("paravent.toml", config(&mock, ""));
    let served = Served::start(&path, &[], &[]);
    let body = json!({"model": "m", "stream": true, "messages": [{"role": "user",
        "content": "Écrivez à jean.dupont@example.fr"}]});
    let resp = crate::support::serve::open(
        Method::POST,
        &served.url("/openai/v1/chat/completions?x-mock-event-delay-ms=20"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-x"),
        ],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    // Mid-stream, a configuration that blocks e-mails.
    dir.write("paravent.toml", config(&mock, BLOCK_EMAILS));
    served.signal("HUP");
    served.wait_for("Configuration reloaded.");
    let mut text = String::from_utf8_lossy(first.data_ref().unwrap()).into_owned();
    while let Some(f) = body.frame().await {
        if let Ok(d) = f.unwrap().into_data() {
            text.push_str(&String::from_utf8_lossy(&d));
        }
    }
    // The stream ran to its end, re-identified, on the generation it started with.
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let joined: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(joined.contains("jean.dupont@example.fr"), "{joined}");
    // The next request takes the new one.
    assert_eq!(chat(&served).await.status, StatusCode::FORBIDDEN);
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line_without_values() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("json-logs");
    let path = dir.write(
        "paravent.toml",
        format!("{}\n[log]\nformat = \"json\"\n", config(&mock, "")),
    );
    let served = Served::start(&path, &[], &[]);
    assert_eq!(chat(&served).await.status, StatusCode::OK);
    served.wait_for("Request handled.");
    let output = served.stop();
    assert!(!output.contains("jean.dupont"), "{output}");
    let mut handled = 0;
    for line in output.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
        if v["message"] == "Request handled." {
            handled += 1;
            assert_eq!(v["provider"], "openai");
            assert_eq!(v["status"], 200);
            assert!(v["request_id"].as_str().unwrap().starts_with("pv-"));
        }
    }
    assert_eq!(handled, 1, "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_instance_on_the_same_audit_path_refuses_to_start_naming_the_holder() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("audit-lock");
    let path = dir.write("paravent.toml", config(&mock, ""));
    let first = Served::start(&path, &[], &[]);
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_paravent"))
        .args(["serve", "--config", Scratch::arg(&path)])
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("paravent runs");
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("in use by another paravent") && stderr.contains("pid "),
        "{stderr}"
    );
    // The first instance serves on, its chain intact.
    assert_eq!(chat(&first).await.status, StatusCode::OK);
    let (clean, output) = first.terminate();
    assert!(clean, "{output}");
    let audit = dir.path().join("audit.jsonl");
    crate::support::paravent(&["audit", "verify", Scratch::arg(&audit)], b"").assert_code(0);
}

/// The reload tests' configuration, watching its files every 100 ms, with a rule file
/// naming a dictionary.
fn watched_config(mock: &MockProvider, policy: &str) -> String {
    config(mock, policy).replace("watch_interval_ms = 0", "watch_interval_ms = 100")
        + "\n[detect]\nrules = [\"rules.toml\"]\n"
}

const PROJECT_RULES: &str = "[[rule]]\nid = \"projects\"\nentity = \"PROJECT\"\n\
    nature = \"strategic\"\nsensitivity = \"confidential\"\nterms_file = \"projects.txt\"\n";

async fn send_text(served: &Served, text: &str) -> crate::support::proxy::Reply {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": text}]});
    send(
        Method::POST,
        &served.url("/openai/v1/chat/completions"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-x"),
        ],
        body.to_string().as_bytes(),
    )
    .await
}

/// Polls `check` until it holds, for up to 20 s.
async fn eventually(served: &Served, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never {what}:\n{}",
            served.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_config_or_dictionary_file_reloads_without_a_signal() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("reload-watch");
    dir.write("rules.toml", PROJECT_RULES);
    dir.write("projects.txt", "Orion\n");
    let path = dir.write("paravent.toml", watched_config(&mock, ""));
    let served = Served::start(&path, &[], &[]);
    let pid = served.pid();
    assert_eq!(chat(&served).await.status, StatusCode::OK);

    // The config file changes: the new rule is in force, same process.
    dir.write("paravent.toml", watched_config(&mock, BLOCK_EMAILS));
    eventually(&served, "blocked after the config changed", async || {
        chat(&served).await.status == StatusCode::FORBIDDEN
    })
    .await;

    // A dictionary the rule file names changes: its new term is found. (A code name
    // with a digit: a bare capitalised word may be read as a surname by the name model.)
    assert_eq!(
        send_text(&served, "Le projet Vega7 avance.").await.status,
        StatusCode::OK
    );
    let sent = mock.requests();
    let before = sent.len();
    let last = String::from_utf8_lossy(&sent[before - 1].body).into_owned();
    assert!(last.contains("Vega7"), "not yet a term: {last}");
    dir.write("projects.txt", "Orion\nVega7\n");
    eventually(&served, "the new term pseudonymised", async || {
        send_text(&served, "Le projet Vega7 avance.").await;
        let sent = mock.requests();
        sent.len() > before
            && !sent
                .last()
                .is_some_and(|r| String::from_utf8_lossy(&r.body).contains("Vega7"))
    })
    .await;

    // A broken file is refused, logged, and the running configuration stays.
    dir.write("paravent.toml", "[server\n");
    served.wait_for("Configuration reload refused");
    assert_eq!(chat(&served).await.status, StatusCode::FORBIDDEN);
    assert_eq!(served.pid(), pid);

    let (clean, output) = served.terminate();
    assert!(clean, "{output}");
    assert!(
        !output.contains("Vega7") && !output.contains("jean.dupont"),
        "{output}"
    );
}
