//! Residual re-identification risk (`[policy.risk]`) and leaks in answers
//! (`[policy.answers]`) through the proxy and the mock provider: the record's `risk` and
//! `answer_leaks`, what the provider saw, what the client got (JSON and streams).

use std::time::{Duration, Instant};

use http::StatusCode;
use paravent::audit::RequestFields;
use paravent::stream::Decoder;
use serde_json::{Value, json};

use crate::support::mock_provider::Canned;
use crate::support::proxy::{EMAIL, Harness, PHONE, Reply};

/// Quasi-identifiers leave in clear; direct identifiers are pseudonymised.
const QUASI_IN_CLEAR: &str = r#"
[[policy.rules]]
id = "quasi-in-clear"
entity = ["LOCATION", "ORGANIZATION", "JOB_TITLE", "AGE", "DATE"]
action = "allow"
"#;

/// A person, an employer, a job title, a city and an age.
const PROFILE: &str =
    "M. Jean Dupont, 34 ans, ingénieur chez Dupont Frères SARL à Lyon, demande un congé.";

/// A value the request never held, that the answer produces.
const LEAKED_EMAIL: &str = "marie.curie@example.org";
const LEAKED_PHONE: &str = "07 98 76 54 32";

fn chat(text: &str, stream: bool) -> Value {
    json!({"model": "m", "stream": stream,
           "messages": [{"role": "user", "content": text}]})
}

/// The record of the harness's last request (what the audit writer appends), waiting
/// for a streamed answer's to be made at its end.
fn last_record(h: &Harness) -> RequestFields {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(o) = h.outcomes.lock().unwrap().last() {
            return paravent::proxy::record_fields(o);
        }
        assert!(Instant::now() < deadline, "no outcome recorded");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn mock_body(h: &Harness) -> String {
    String::from_utf8_lossy(&h.mock.last().body).into_owned()
}

#[tokio::test]
async fn a_person_with_city_employer_job_title_and_age_is_recorded_at_high_risk() {
    let h = Harness::start(QUASI_IN_CLEAR).await;
    let r = h
        .post("/openai/v1/chat/completions", &chat(PROFILE, false))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent = mock_body(&h);
    assert!(
        !sent.contains("Jean Dupont") && sent.contains("Lyon"),
        "{sent}"
    );
    let risk = last_record(&h).risk.expect("a risk in the record");
    assert_eq!(risk.level, "high");
    assert_eq!(risk.persons, 1);
    for kind in ["AGE", "JOB_TITLE", "LOCATION", "ORGANIZATION"] {
        assert_eq!(risk.quasi.get(kind), Some(&1), "{kind} in {:?}", risk.quasi);
    }
    assert_eq!(risk.action, None, "recording only, by default");
    assert!(r.headers.get("paravent-risk").is_none());
}

#[tokio::test]
async fn a_request_without_a_person_has_no_risk_in_its_record() {
    let h = Harness::start(QUASI_IN_CLEAR).await;
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &chat("Quel temps fait-il à Lyon en mars 2019 ?", false),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(last_record(&h).risk, None);
}

#[tokio::test]
async fn pseudonymise_quasi_makes_the_provider_see_the_quasi_identifiers_as_tokens() {
    let h = Harness::start(&format!(
        "{QUASI_IN_CLEAR}\n[policy.risk]\nthreshold = \"medium\"\naction = \"pseudonymise-quasi\"\n"
    ))
    .await;
    let r = h
        .post("/openai/v1/chat/completions", &chat(PROFILE, false))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent = mock_body(&h);
    for v in [
        "Jean Dupont",
        "Lyon",
        "ingénieur",
        "34 ans",
        "Dupont Frères SARL",
    ] {
        assert!(!sent.contains(v), "{v} reached the provider: {sent}");
    }
    assert!(
        sent.contains("[LOCATION_") && sent.contains("[JOB_TITLE_"),
        "{sent}"
    );
    // The mock echoes the request: the client gets every value back.
    let answer = r.text();
    assert!(
        answer.contains("Lyon") && answer.contains("ingénieur"),
        "{answer}"
    );
    let risk = last_record(&h).risk.unwrap();
    assert_eq!(
        risk.level, "none",
        "the level once the quasi-identifiers are masked"
    );
    assert_eq!(risk.action.as_deref(), Some("pseudonymised-quasi"));
}

#[tokio::test]
async fn below_the_threshold_the_policy_does_nothing() {
    let h = Harness::start(&format!(
        "{QUASI_IN_CLEAR}\n[policy.risk]\nthreshold = \"high\"\naction = \"block\"\n"
    ))
    .await;
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &chat("M. Jean Dupont habite à Lyon.", false),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let risk = last_record(&h).risk.unwrap();
    assert_eq!((risk.level.as_str(), risk.action), ("low", None));
}

#[tokio::test]
async fn block_refuses_in_the_providers_error_format_and_is_audited() {
    let h = Harness::start(&format!(
        "{QUASI_IN_CLEAR}\n[policy.risk]\naction = \"block\"\n"
    ))
    .await;
    let r = h
        .post("/openai/v1/chat/completions", &chat(PROFILE, false))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["code"], "paravent_reidentification_risk");
    assert!(!r.text().contains("Lyon"), "the message quotes no value");
    let r = h
        .post(
            "/anthropic/v1/messages",
            &json!({"model": "m", "max_tokens": 10,
                    "messages": [{"role": "user", "content": PROFILE}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["type"], "error");
    assert_eq!(h.mock.count(), 0, "nothing left");
    let rec = last_record(&h);
    assert_eq!(
        rec.refusal.as_deref(),
        Some("paravent_reidentification_risk")
    );
    assert_eq!(rec.rule.as_deref(), Some("policy.risk"));
    let risk = rec.risk.unwrap();
    assert_eq!(
        (risk.level.as_str(), risk.action.as_deref()),
        ("high", Some("blocked"))
    );
}

#[tokio::test]
async fn warn_forwards_with_a_risk_header() {
    let h = Harness::start(&format!(
        "{QUASI_IN_CLEAR}\n[policy.risk]\nthreshold = \"medium\"\naction = \"warn\"\n"
    ))
    .await;
    let r = h
        .post("/openai/v1/chat/completions", &chat(PROFILE, false))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["paravent-risk"], "high");
    assert!(mock_body(&h).contains("Lyon"));
    let risk = last_record(&h).risk.unwrap();
    assert_eq!(risk.action.as_deref(), Some("warned"));
}

/// An OpenAI chat completion saying `text`.
fn completion(text: &str) -> Canned {
    let body = json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    Canned {
        status: StatusCode::OK,
        headers: vec![("content-type", "application/json".to_owned())],
        frames: vec![serde_json::to_vec(&body).unwrap()],
    }
}

/// An answer that gives someone else's contact details, and repeats the request's.
fn leaky_text() -> String {
    format!("Écrivez plutôt à {LEAKED_EMAIL} ou au {LEAKED_PHONE}, en copie de {EMAIL}. Merci.")
}

const REQUEST: &str = "Bonjour, mon email est jean.dupont@example.fr, à qui écrire ?";

fn assert_leaks_counted(rec: &RequestFields, redacted: bool) {
    let leaks = rec
        .answer_leaks
        .as_ref()
        .expect("answer leaks in the record");
    assert_eq!(leaks.by_entity.get("EMAIL"), Some(&1), "{leaks:?}");
    assert_eq!(leaks.by_entity.get("PHONE"), Some(&1), "{leaks:?}");
    assert_eq!(leaks.values.len(), 2);
    assert!(leaks.values.iter().all(|v| v.hash.len() == 64));
    assert_eq!(leaks.redacted, redacted);
    let line = serde_json::to_string(rec).unwrap();
    assert!(
        !line.contains("marie.curie") && !line.contains("98 76"),
        "{line}"
    );
}

/// Sends the request to a proxy whose mock answers `leaky_text()` as a JSON completion,
/// and returns the content the client got.
async fn leaky_json_answer(h: &Harness) -> String {
    h.mock.answer_next_with(|_| completion(&leaky_text()));
    let r = h
        .post("/openai/v1/chat/completions", &chat(REQUEST, false))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_json_answer_leaking_contact_details_is_counted_and_left_by_default() {
    let h = Harness::start("").await;
    let content = leaky_json_answer(&h).await;
    assert_eq!(content, leaky_text());
    assert_leaks_counted(&last_record(&h), false);
}

#[tokio::test]
async fn a_json_answer_leaking_contact_details_is_redacted_when_the_policy_says_so() {
    let h = Harness::start("[policy.answers]\nleaks = \"redact\"\n").await;
    let content = leaky_json_answer(&h).await;
    assert_eq!(
        content,
        format!(
            "Écrivez plutôt à [EMAIL redacted] ou au [PHONE redacted], en copie de {EMAIL}. Merci."
        )
    );
    assert_leaks_counted(&last_record(&h), true);
}

#[tokio::test]
async fn an_answer_repeating_the_requests_own_values_is_not_a_leak() {
    let h = Harness::start("[policy.answers]\nleaks = \"redact\"\n").await;
    // The mock echoes the request: its values come back, re-identified.
    let prompt = format!("Mon email est {EMAIL} et mon téléphone {PHONE}.");
    let r = h
        .post("/openai/v1/chat/completions", &chat(&prompt, false))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text().contains(EMAIL) && r.text().contains(PHONE),
        "{}",
        r.text()
    );
    assert_eq!(last_record(&h).answer_leaks, None);
}

/// The SSE frames of an OpenAI chat stream saying `text`, `n` bytes (whole characters)
/// per event.
fn openai_stream(text: &str, n: usize) -> Canned {
    let mut frames = Vec::new();
    for piece in pieces(text, n) {
        let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "choices": [{"index": 0, "delta": {"content": piece},
            "finish_reason": null}]});
        frames.push(format!("data: {chunk}\n\n").into_bytes());
    }
    let last = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1,
        "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    frames.push(format!("data: {last}\n\ndata: [DONE]\n\n").into_bytes());
    Canned {
        status: StatusCode::OK,
        headers: vec![("content-type", "text/event-stream".to_owned())],
        frames,
    }
}

/// The SSE frames of an Anthropic Messages stream saying `text`.
fn anthropic_stream(text: &str, n: usize) -> Canned {
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n").into_bytes();
    let mut frames = vec![
        ev(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1",
            "type": "message", "role": "assistant", "content": [], "model": "m",
            "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        ),
        ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
    ];
    for piece in pieces(text, n) {
        frames.push(ev(
            "content_block_delta",
            json!({"type": "content_block_delta",
            "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    frames.push(ev(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    frames.push(ev(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}),
    ));
    frames.push(ev("message_stop", json!({"type": "message_stop"})));
    Canned {
        status: StatusCode::OK,
        headers: vec![("content-type", "text/event-stream".to_owned())],
        frames,
    }
}

fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

/// The text of a streamed answer, every event parsed as the SDKs do.
fn streamed_text(r: &Reply, pointer: &str) -> String {
    let mut d = Decoder::default();
    let mut events = d.push(&r.body).unwrap();
    events.extend(d.finish().unwrap());
    events
        .iter()
        .filter_map(|e| e.data())
        .filter(|d| d.trim() != "[DONE]")
        .map(|d| serde_json::from_str::<Value>(&d).expect("every event is JSON"))
        .filter_map(|v| {
            v.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn an_openai_stream_leaking_contact_details_is_counted_or_redacted() {
    for (extra, redacted) in [
        ("", false),
        ("[policy.answers]\nleaks = \"redact\"\n", true),
    ] {
        let h = Harness::start(extra).await;
        h.mock.answer_next_with(|_| openai_stream(&leaky_text(), 3));
        let r = h
            .post("/openai/v1/chat/completions", &chat(REQUEST, true))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let text = streamed_text(&r, "/choices/0/delta/content");
        if redacted {
            assert_eq!(
                text,
                format!(
                    "Écrivez plutôt à [EMAIL redacted] ou au [PHONE redacted], en copie de {EMAIL}. Merci."
                )
            );
            assert!(!r.text().contains("curie"), "{}", r.text());
        } else {
            assert_eq!(text, leaky_text());
        }
        assert!(r.text().ends_with("data: [DONE]\n\n"));
        assert_leaks_counted(&last_record(&h), redacted);
    }
}

#[tokio::test]
async fn an_anthropic_stream_leaking_contact_details_is_redacted() {
    let h = Harness::start("[policy.answers]\nleaks = \"redact\"\n").await;
    h.mock
        .answer_next_with(|_| anthropic_stream(&leaky_text(), 2));
    let r = h
        .post(
            "/anthropic/v1/messages",
            &json!({"model": "m", "max_tokens": 100, "stream": true,
                    "messages": [{"role": "user", "content": REQUEST}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let text = streamed_text(&r, "/delta/text");
    assert_eq!(
        text,
        format!(
            "Écrivez plutôt à [EMAIL redacted] ou au [PHONE redacted], en copie de {EMAIL}. Merci."
        )
    );
    assert!(!r.text().contains("curie"));
    assert!(r.text().contains("event: message_stop"));
    assert_leaks_counted(&last_record(&h), true);
}
