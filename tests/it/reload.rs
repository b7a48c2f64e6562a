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
        "[server]\ndefault_provider = \"openai\"\n\n[pseudonyms]\nsecret = \"a reload test secret of 32 bytes or more\"\n\n\
         [providers.openai]\nbase_url = \"{}\"\napi = \"openai\"\n\n{policy}",
        mock.base_url()
    )
}

const BLOCK_EMAILS: &str = "[[policy.rules]]\nid = \"no-email\"\nentity = [\"EMAIL\"]\naction = \"block\"\nmessage = \"No e-mails.\"\n";

async fn chat(served: &Served) -> crate::support::proxy::Reply {
    let body = json!({"model": "m", "messages": [{"role": "user",
        "content": "Écrivez à jean.dupont@example.fr"}]});
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

/// Waits until the process logged `needle` (a reload is asynchronous).
fn wait_for(served: &Served, needle: &str) {
    let start = Instant::now();
    while !served.output().contains(needle) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no {needle:?} in:\n{}",
            served.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
    wait_for(&served, "Configuration reloaded.");
    let r = chat(&served).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "paravent_policy_block");

    // An invalid file: refused with its problem, the rule stays in force.
    dir.write(
        "paravent.toml",
        format!("{}\n[providers.openai.typo]\n", config(&mock, BLOCK_EMAILS)),
    );
    served.signal("HUP");
    wait_for(&served, "Configuration reload refused");
    let r = chat(&served).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

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
    let output = served.stop();
    assert!(!output.contains("jean.dupont"), "{output}");
}
