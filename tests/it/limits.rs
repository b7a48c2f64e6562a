//! `[limits]` on a real `paravent serve`: rate limits (429 with `Retry-After`, in each
//! provider's error format), the cap on requests in flight (503 with `Retry-After`), the
//! idle stream timeout, the slow request head, and small requests answered while large
//! ones are scanned on the scan pool.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::support::Scratch;
use crate::support::proxy::{MockProvider, Reply};
use crate::support::serve::{Served, open, send};

fn config(mock: &MockProvider, limits: &str) -> String {
    format!(
        "[server]\ndefault_provider = \"openai\"\n\n[audit]\npath = \"audit.jsonl\"\nfsync = \"never\"\n\n\
         [pseudonyms]\nsecret = \"a limits test secret of 32 bytes or more\"\n\n\
         [providers.openai]\nbase_url = \"{0}\"\napi = \"openai\"\n\n\
         [providers.anthropic]\nbase_url = \"{0}\"\napi = \"anthropic\"\n\n[limits]\n{limits}\n",
        mock.base_url()
    )
}

const CHAT: &str = "/openai/v1/chat/completions";

fn chat_body(text: &str, stream: bool) -> Vec<u8> {
    json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": text}]})
        .to_string()
        .into_bytes()
}

async fn chat(served: &Served, key: &str, query: &str) -> Reply {
    let auth = format!("Bearer {key}");
    send(
        Method::POST,
        &served.url(&format!("{CHAT}{query}")),
        &[
            ("content-type", "application/json"),
            ("authorization", &auth),
        ],
        &chat_body("Bonjour, écrivez à jean.dupont@example.fr", false),
    )
    .await
}

async fn messages(served: &Served, key: &str) -> Reply {
    let body = json!({"model": "claude", "max_tokens": 10,
        "messages": [{"role": "user", "content": "Bonjour"}]});
    send(
        Method::POST,
        &served.url("/anthropic/v1/messages"),
        &[
            ("content-type", "application/json"),
            ("x-api-key", key),
            ("anthropic-version", "2023-06-01"),
        ],
        body.to_string().as_bytes(),
    )
    .await
}

/// The audit records of the serve's trail.
fn records(dir: &Scratch) -> Vec<Value> {
    std::fs::read_to_string(dir.path().join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect()
}

/// The record of the request whose answer carried `reply`'s request id, waiting for it
/// (a stream's record is written at its end).
fn record_of(dir: &Scratch, id: &str) -> Value {
    let start = Instant::now();
    loop {
        if let Some(r) = records(dir)
            .into_iter()
            .find(|r| r["request"]["request_id"] == id)
        {
            return r["request"].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no record for {id}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn request_id(reply: &Reply) -> String {
    reply.headers["x-paravent-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

fn retry_after(reply: &Reply) -> u64 {
    reply
        .headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {reply:?}"))
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_principal_over_its_rate_gets_429_with_retry_after_in_its_providers_format() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("rate");
    let path = dir.write(
        "paravent.toml",
        config(
            &mock,
            "principal_requests_per_minute = 1\nprincipal_burst = 2",
        ),
    );
    let served = Served::start(&path, &[], &[]);

    // OpenAI: two go through (the burst), the third is refused before anything leaves.
    for _ in 0..2 {
        let r = chat(&served, "sk-alice", "").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let sent = mock.count();
    let r = chat(&served, "sk-alice", "").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert_eq!(mock.count(), sent, "a refused request was forwarded");
    // One a minute: the next token in about 60 s, said in whole seconds.
    let wait = retry_after(&r);
    assert!((50..=60).contains(&wait), "Retry-After: {wait}");
    let e = r.json();
    assert_eq!(e["error"]["type"], "rate_limit_exceeded");
    assert_eq!(e["error"]["code"], "paravent_rate_limited");
    let record = record_of(&dir, &request_id(&r));
    assert_eq!(record["refusal"], "paravent_rate_limited");
    assert_eq!(record["status"], 429);

    // Another principal has its own bucket.
    assert_eq!(chat(&served, "sk-bob", "").await.status, StatusCode::OK);

    // Anthropic: its own error shape.
    for _ in 0..2 {
        let r = messages(&served, "sk-ant-carol").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let r = messages(&served, "sk-ant-carol").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(retry_after(&r) >= 1);
    let e = r.json();
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["type"], "rate_limit_error");

    // Counted with the other refusals, per provider.
    let metrics = crate::support::serve::get(&served.admin_url("/metrics")).await;
    let text = metrics.text();
    for provider in ["openai", "anthropic"] {
        let line = format!(
            "paravent_refusals_total{{provider=\"{provider}\",code=\"paravent_rate_limited\"}} 1"
        );
        assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_team_shares_one_bucket_and_a_reload_applies_new_rates_to_it() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("rate-team");
    let keys = "\n[providers.virt]\nbase_url = \"BASE\"\napi = \"openai\"\nauth = \"virtual\"\nkey_env = \"LIMITS_REAL_KEY\"\n\n\
        [[keys.virtual]]\nhash = \"HASH_A\"\nuser = \"alice\"\nteam = \"sales\"\n\n\
        [[keys.virtual]]\nhash = \"HASH_B\"\nuser = \"bob\"\nteam = \"sales\"\n"
        .replace("BASE", &mock.base_url())
        .replace("HASH_A", &paravent::config::virtual_key_hash("pv-alice-key"))
        .replace("HASH_B", &paravent::config::virtual_key_hash("pv-bob-key"));
    let with = |limits: &str| format!("{}{keys}", config(&mock, limits));
    let path = dir.write(
        "paravent.toml",
        with("team_requests_per_minute = 1\nteam_burst = 1"),
    );
    let served = Served::start(&path, &[], &[("LIMITS_REAL_KEY", "sk-real")]);
    let ask = |key: &'static str| {
        let url = served.url("/virt/v1/chat/completions");
        async move {
            send(
                Method::POST,
                &url,
                &[
                    ("content-type", "application/json"),
                    ("authorization", &format!("Bearer {key}")),
                ],
                &chat_body("Bonjour", false),
            )
            .await
        }
    };
    assert_eq!(ask("pv-alice-key").await.status, StatusCode::OK);
    // Bob is in the same team: its one request a minute is spent.
    let r = ask("pv-bob-key").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("your team")
    );

    // A reload to 6,000 a minute: the same bucket refills within a hundredth of a second.
    dir.write(
        "paravent.toml",
        with("team_requests_per_minute = 6000\nteam_burst = 1"),
    );
    served.signal("HUP");
    let start = Instant::now();
    while !served.output().contains("Configuration reloaded.") {
        assert!(start.elapsed() < Duration::from_secs(20), "no reload");
        std::thread::sleep(Duration::from_millis(20));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(ask("pv-bob-key").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_cap_of_requests_in_flight_a_request_gets_503_and_a_stream_holds_its_place() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("cap");
    let path = dir.write(
        "paravent.toml",
        config(&mock, "max_concurrent_requests = 1"),
    );
    let served = Served::start(&path, &[], &[]);

    // A stream, slow enough to be in flight while the next request comes.
    let resp = open(
        Method::POST,
        &served.url(&format!("{CHAT}?x-mock-event-delay-ms=40")),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-x"),
        ],
        &chat_body("Un texte assez long pour durer un moment", true),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.into_body();
    let first = stream.frame().await.expect("a first event").unwrap();
    assert!(first.is_data());

    let r = chat(&served, "sk-y", "").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
    assert_eq!(retry_after(&r), 1);
    assert_eq!(r.json()["error"]["code"], "paravent_overloaded");
    let record = record_of(&dir, &request_id(&r));
    assert_eq!(record["refusal"], "paravent_overloaded");

    // The stream's end gives the place back.
    let rest = stream.collect().await.expect("the whole stream").to_bytes();
    assert!(String::from_utf8_lossy(&rest).contains("[DONE]"));
    let start = Instant::now();
    loop {
        let r = chat(&served, "sk-y", "").await;
        if r.status == StatusCode::OK {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still refused: {}",
            r.text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_the_provider_stops_feeding_is_ended_with_an_error_event_and_recorded() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("idle");
    let path = dir.write(
        "paravent.toml",
        config(&mock, "stream_idle_timeout_ms = 300"),
    );
    let served = Served::start(&path, &[], &[]);

    // One event a second: the first arrives, then the provider is silent too long.
    let started = Instant::now();
    let resp = open(
        Method::POST,
        &served.url(&format!("{CHAT}?x-mock-event-delay-ms=1000")),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-x"),
        ],
        &chat_body("Bonjour tout le monde", true),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let id = resp.headers()["x-paravent-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect())
        .await
        .expect("the stream ends, it does not hang")
        .expect("a clean end, not a broken connection")
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("paravent_stream_limit"), "{text}");
    assert!(!text.contains("[DONE]"), "{text}");
    // Ended by the timeout, not by the provider's 20-odd events.
    assert!(started.elapsed() < Duration::from_secs(8));
    let record = record_of(&dir, &id);
    assert_eq!(record["stream_end"], "upstream-idle");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_head_sent_too_slowly_is_closed_by_the_real_binary() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = MockProvider::start().await;
    let dir = Scratch::new("slow-head");
    let path = dir.write(
        "paravent.toml",
        config(&mock, "header_read_timeout_ms = 300"),
    );
    let served = Served::start(&path, &[], &[]);
    let mut conn = tokio::net::TcpStream::connect(served.proxy).await.unwrap();
    conn.write_all(b"POST /openai/v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection is still open after 10 s");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(mock.count(), 0);
}

/// A chat body of about `bytes` bytes, full of values to find and repeat.
fn big_body(bytes: usize) -> Vec<u8> {
    let mut text = String::with_capacity(bytes + 200);
    let mut i = 0u32;
    while text.len() < bytes {
        text.push_str(&format!(
            "Ligne {i} : M. Jean Dupont (jean.dupont@example.fr) rappelle au 06 {:02} {:02} {:02} 12 ; Dupont confirme.\n",
            (i / 10_000) % 100,
            (i / 100) % 100,
            i % 100,
        ));
        i += 1;
    }
    chat_body(&text, false)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seven_byte_request_is_answered_while_two_large_ones_are_being_scanned() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("pool");
    let path = dir.write(
        "paravent.toml",
        config(&mock, "scan_threads = 2\nmax_vault_entries = 100000"),
    );
    // As many async workers as large requests: without the scan pool both would be
    // busy scanning and the small request would wait for one of them.
    let served = Served::start(&path, &[], &[("TOKIO_WORKER_THREADS", "2")]);
    let big = big_body(3_000_000);
    let url = served.url(CHAT);
    let large = |body: Vec<u8>| {
        let url = url.clone();
        tokio::spawn(async move {
            send(
                Method::POST,
                &url,
                &[
                    ("content-type", "application/json"),
                    ("authorization", "Bearer sk-x"),
                ],
                &body,
            )
            .await
            .status
        })
    };
    let is_large = |m: &crate::support::mock_provider::Recorded| m.body.len() > 1_000_000;
    let sent = Instant::now();
    let first = large(big.clone());
    let second = large(big);
    // Time for both bodies to arrive; their scans take longer (debug build: seconds).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let asked = Instant::now();
    let r = send(
        Method::POST,
        &served.url(CHAT),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-x"),
        ],
        b"{\"a\":1}",
    )
    .await;
    let small = asked.elapsed();
    assert!(!r.status.is_server_error(), "{}", r.text());
    // Answered while both large requests are still in Paravent, being scanned.
    assert!(
        !mock.requests().iter().any(is_large),
        "a large request was forwarded before the small one was answered ({small:?})"
    );
    // And well before the first of them is through its scan.
    let through = loop {
        if mock.requests().iter().any(is_large) {
            break sent.elapsed();
        }
        assert!(
            sent.elapsed() < Duration::from_secs(120),
            "no large request forwarded"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        small * 4 < through,
        "the small request took {small:?}; the first large one was forwarded after {through:?}"
    );
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    assert_eq!(second.await.unwrap(), StatusCode::OK);
}
