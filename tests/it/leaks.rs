//! No raw value, prompt text, provider key or virtual key in the logs, the audit file or
//! `/metrics` (issue 5): a real `paravent serve` at its most verbose log level (`trace`,
//! every crate), with an audit file, virtual keys and real provider keys in its
//! environment, is sent fixture prompts full of values by every path a request can take
//! (forwarded, streamed, refused for a secret, a bad or missing key, invalid JSON, an
//! unknown provider, a provider error, Gemini's `?key=`); then everything it wrote is
//! searched for every fixture string, as written, lower-cased, JSON-escaped, without
//! spaces and URL-encoded.

use http::{Method, StatusCode};
use serde_json::json;

use crate::support::Scratch;
use crate::support::proxy::{EMAIL, IBAN, MockProvider, NAME, PHONE};
use crate::support::serve::{Served, get, send, send_h2};

const NIR: &str = "1 85 03 75 115 022 36";
/// A phrase of the prompts that holds no value: prompt text as such.
const PHRASE: &str = "rappelle-moi demain au sujet du dossier prud'homal";
/// An OpenAI-shaped key pasted into a prompt: refused.
const SECRET: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
/// The employee's virtual key, and a wrong one.
const VIRTUAL_KEY: &str = "pv-5f1c2d3e4a5b6c7d8e9f00112233445566778899aabbccdd";
const BAD_KEY: &str = "pv-0000deadbeef0000deadbeef0000deadbeef0000deadbe";
/// The real provider keys, only in Paravent's environment.
const OPENAI_REAL_KEY: &str = "sk-real-openai-Zq8Rw2Lk5Vn7Tb3Xc9Hm";
const GEMINI_REAL_KEY: &str = "AIzaRealGeminiKey-Pq7Ws4Ed1Rf8Tg5Yh2Uj";
/// A client's own key passed through to Anthropic.
const CLIENT_KEY: &str = "sk-ant-api03-ClientOwnKey-Mn4Bv7Cx0Za3Sd6Fg9";
/// The pseudonym secret.
const PSEUDONYM_SECRET: &str = "leak-test pseudonym secret, 32+ bytes long";

/// Every string that must appear nowhere.
const NEEDLES: &[&str] = &[
    NAME,
    "Dupont",
    EMAIL,
    "jean.dupont",
    PHONE,
    IBAN,
    NIR,
    PHRASE,
    "Bonjour, je suis",
    "Reçu", // the provider's answer (the mock echoes the prompt after it)
    SECRET,
    VIRTUAL_KEY,
    BAD_KEY,
    OPENAI_REAL_KEY,
    GEMINI_REAL_KEY,
    CLIENT_KEY,
    PSEUDONYM_SECRET,
];

/// The forms a needle could take once written somewhere.
fn forms(needle: &str) -> Vec<String> {
    let mut out = vec![needle.to_owned(), needle.to_lowercase()];
    let json = serde_json::to_string(needle).unwrap();
    out.push(json[1..json.len() - 1].to_owned());
    let ascii: String = needle
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\u{:04x}", c as u32)
            }
        })
        .collect();
    out.push(ascii);
    if needle.contains(' ') {
        out.push(needle.replace(' ', ""));
    }
    let url: String = needle
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    out.push(url.clone());
    out.push(url.replace("%20", "+"));
    out.sort();
    out.dedup();
    out
}

/// Panics naming the needle and where it was found in `what`.
fn assert_clean(what: &str, text: &str) {
    let lower = text.to_lowercase();
    for needle in NEEDLES {
        for form in forms(needle) {
            let at = lower.find(&form.to_lowercase());
            if let Some(at) = at {
                let line = text[..at].matches('\n').count() + 1;
                let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
                panic!(
                    "{what} line {line} holds {needle:?} (as {form:?}):\n{}",
                    &text[start..end]
                );
            }
        }
    }
}

fn config(dir: &Scratch, mock: &MockProvider) -> std::path::PathBuf {
    let base = mock.base_url();
    // A provider nobody listens for: the upstream error path (logged as a warning).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let hash = paravent::config::virtual_key_hash(VIRTUAL_KEY);
    dir.write(
        "paravent.toml",
        format!(
            r#"
[server]
default_provider = "openai"

[audit]
path = "audit/paravent.jsonl"
fsync = "never"

[providers.openai]
base_url = "{base}"
api = "openai"
auth = "virtual"
key_env = "LEAK_TEST_OPENAI_KEY"

[providers.gemini]
base_url = "{base}"
api = "gemini"
auth = "virtual"
key_env = "LEAK_TEST_GEMINI_KEY"

[providers.anthropic]
base_url = "{base}"
api = "anthropic"

[providers.ollama]
base_url = "{base}"
api = "ollama"

[providers.down]
base_url = "http://{closed}"
api = "openai"

[[keys.virtual]]
hash = "{hash}"
user = "alice"
team = "legal"
"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn no_value_prompt_or_key_reaches_the_trace_logs_the_audit_file_or_the_metrics() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("leaks");
    let config = config(&dir, &mock);
    let served = Served::start(
        &config,
        &["--log", "trace"],
        &[
            ("LEAK_TEST_OPENAI_KEY", OPENAI_REAL_KEY),
            ("LEAK_TEST_GEMINI_KEY", GEMINI_REAL_KEY),
            ("PARAVENT_SECRET", PSEUDONYM_SECRET),
        ],
    );
    let prompt = format!(
        "Bonjour, je suis {NAME}, mon email est {EMAIL}, mon téléphone {PHONE}, \
         mon IBAN {IBAN} et mon NIR {NIR} ; {PHRASE}."
    );
    let bearer = format!("Bearer {VIRTUAL_KEY}");
    let json_ct = ("content-type", "application/json");
    let auth = ("authorization", bearer.as_str());
    let chat = |stream: bool, text: &str| {
        json!({"model": "gpt-x", "stream": stream,
            "messages": [{"role": "user", "content": text}]})
        .to_string()
    };
    let openai = served.url("/openai/v1/chat/completions");
    let mut expected = 0;
    let mut expect = |r: &crate::support::proxy::Reply, status: StatusCode| {
        assert_eq!(r.status, status, "{}", r.text());
        expected += 1;
    };

    // Forwarded, with a value in a header and in the query too.
    let note = format!("{NAME} <{EMAIL}>");
    let r = send(
        Method::POST,
        &format!("{openai}?user=jean.dupont%40example.fr"),
        &[json_ct, auth, ("x-note", note.as_str())],
        chat(false, &prompt).as_bytes(),
    )
    .await;
    expect(&r, StatusCode::OK);
    assert!(r.text().contains(EMAIL), "re-identified: {}", r.text());
    // Streamed (SSE), re-identified as it passes.
    let r = send(
        Method::POST,
        &openai,
        &[json_ct, auth],
        chat(true, &prompt).as_bytes(),
    )
    .await;
    expect(&r, StatusCode::OK);
    assert!(r.text().contains("data: "), "{}", r.text());
    // A provider error that echoes the prompt.
    let r = send(
        Method::POST,
        &format!("{openai}?x-mock-status=429"),
        &[json_ct, auth],
        chat(false, &prompt).as_bytes(),
    )
    .await;
    expect(&r, StatusCode::TOO_MANY_REQUESTS);
    // A secret in the prompt: refused.
    let r = send(
        Method::POST,
        &openai,
        &[json_ct, auth],
        chat(false, &format!("{prompt} Ma clé : {SECRET}")).as_bytes(),
    )
    .await;
    expect(&r, StatusCode::FORBIDDEN);
    // A wrong virtual key, and none.
    let bad = format!("Bearer {BAD_KEY}");
    let r = send(
        Method::POST,
        &openai,
        &[json_ct, ("authorization", bad.as_str())],
        chat(false, &prompt).as_bytes(),
    )
    .await;
    expect(&r, StatusCode::UNAUTHORIZED);
    let r = send(
        Method::POST,
        &openai,
        &[json_ct],
        chat(false, &prompt).as_bytes(),
    )
    .await;
    expect(&r, StatusCode::UNAUTHORIZED);
    // Invalid JSON full of values.
    let broken = format!("{{\"messages\": [{{\"role\": \"user\", \"content\": \"{prompt}");
    let r = send(Method::POST, &openai, &[json_ct, auth], broken.as_bytes()).await;
    expect(&r, StatusCode::BAD_REQUEST);
    // Gemini with the virtual key in `?key=`, then a wrong one.
    let gemini = json!({"contents": [{"role": "user", "parts": [{"text": prompt}]}]}).to_string();
    for (key, status) in [
        (VIRTUAL_KEY, StatusCode::OK),
        (BAD_KEY, StatusCode::UNAUTHORIZED),
    ] {
        let url = served.url(&format!(
            "/gemini/v1beta/models/gemini-x:generateContent?key={key}"
        ));
        let r = send(Method::POST, &url, &[json_ct], gemini.as_bytes()).await;
        expect(&r, status);
    }
    // Anthropic with the client's own key, plain and streamed.
    for stream in [false, true] {
        let body = json!({"model": "claude-x", "max_tokens": 50, "stream": stream,
            "messages": [{"role": "user", "content": prompt}]});
        let r = send(
            Method::POST,
            &served.url("/anthropic/v1/messages"),
            &[
                json_ct,
                ("x-api-key", CLIENT_KEY),
                ("anthropic-version", "2023-06-01"),
            ],
            body.to_string().as_bytes(),
        )
        .await;
        expect(&r, StatusCode::OK);
    }
    // Ollama's NDJSON stream.
    let body = json!({"model": "llama-x", "stream": true,
        "messages": [{"role": "user", "content": prompt}]});
    let r = send(
        Method::POST,
        &served.url("/ollama/api/chat"),
        &[json_ct],
        body.to_string().as_bytes(),
    )
    .await;
    expect(&r, StatusCode::OK);
    // HTTP/2 cleartext (h2c), whose frames the h2 crate traces.
    let r = send_h2(&openai, &[json_ct, auth], chat(false, &prompt).as_bytes()).await;
    expect(&r, StatusCode::OK);
    // A provider that cannot be reached: 502, and a warning in the log.
    let r = send(
        Method::POST,
        &served.url("/down/v1/chat/completions"),
        &[json_ct, ("authorization", "Bearer sk-client-own-key")],
        chat(false, &prompt).as_bytes(),
    )
    .await;
    expect(&r, StatusCode::BAD_GATEWAY);
    // Values in the path of an unknown provider.
    let r = send(
        Method::POST,
        &served.url("/jean.dupont@example.fr/v1/chat/completions"),
        &[json_ct, auth],
        chat(false, &prompt).as_bytes(),
    )
    .await;
    expect(&r, StatusCode::NOT_FOUND);

    // The provider did get every forwarded request, pseudonymised; the exchange worked.
    assert_eq!(mock.count(), 8);
    for req in mock.requests() {
        assert!(
            !String::from_utf8_lossy(&req.body).contains(EMAIL),
            "{}",
            req.path
        );
    }
    let metrics = get(&served.admin_url("/metrics")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let output = served.stop();

    // The capture is real: the most verbose level is on, and every request was logged
    // and recorded.
    assert!(output.contains(" TRACE "), "{output}");
    assert!(output.contains("Request failed."), "{output}");
    assert_eq!(
        output.matches("Request handled.").count(),
        expected,
        "{output}"
    );
    let audit = std::fs::read_to_string(dir.path().join("audit/paravent.jsonl")).unwrap();
    assert_eq!(
        audit
            .lines()
            .filter(|l| l.contains(r#""kind":"request""#))
            .count(),
        expected
    );
    assert!(audit.contains(r#""principal":"alice""#));

    assert_clean("the log (stdout and stderr)", &output);
    assert_clean("the audit file", &audit);
    assert_clean("/metrics", &metrics.text());
}

#[test]
fn the_search_covers_the_usual_encodings() {
    let f = forms("Jean Dupont <j@é.fr>");
    for form in [
        "jean dupont <j@é.fr>",
        "JeanDupont<j@é.fr>",
        "Jean Dupont <j@\\u00e9.fr>",
        "Jean%20Dupont%20%3Cj%40%C3%A9.fr%3E",
        "Jean+Dupont+%3Cj%40%C3%A9.fr%3E",
    ] {
        assert!(f.iter().any(|x| x == form), "{form} not in {f:?}");
    }
    let caught = std::panic::catch_unwind(|| {
        assert_clean("a log", "INFO x\nDEBUG user=jean.dupont%40example.fr\n")
    });
    assert!(caught.is_err());
}
