//! Identity from a trusted authenticating proxy, teams from a directory file, the client
//! address hashed, and allow lists: against a real `paravent serve` and the mock
//! provider. Tests bind 127.0.0.1 only: an untrusted peer is one outside
//! `trusted_proxies = ["10.0.0.0/8"]`, a trusted one is `127.0.0.1/32`.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::Scratch;
use crate::support::proxy::{MockProvider, Reply};
use crate::support::serve::{Served, send};

const REAL_KEY: &str = "sk-real-provider-key-held-by-paravent";

/// A config with a virtual-key OpenAI provider (Paravent holds the real key), a
/// pass-through one, an audit trail, `[identity]` trusting `trusted` and `extra`.
fn config(mock: &MockProvider, trusted: &str, extra: &str) -> String {
    format!(
        "[server]\ndefault_provider = \"openai\"\n\n[audit]\npath = \"audit.jsonl\"\nfsync = \"never\"\n\n\
         [pseudonyms]\nsecret = \"an identity test secret of 32 bytes or more\"\n\n\
         [providers.openai]\nbase_url = \"{base}\"\napi = \"openai\"\nauth = \"virtual\"\nkey_env = \"IDENTITY_TEST_KEY\"\n\n\
         [providers.mine]\nbase_url = \"{base}\"\napi = \"openai\"\n\n\
         [identity]\ntrusted_proxies = [\"{trusted}\"]\ndirectory = \"people.csv\"\n\n{extra}",
        base = mock.base_url()
    )
}

fn start(dir: &Scratch, cfg: &str) -> Served {
    let path = dir.write("paravent.toml", cfg);
    Served::start(&path, &[], &[("IDENTITY_TEST_KEY", REAL_KEY)])
}

async fn chat(served: &Served, path: &str, text: &str, headers: &[(&str, &str)]) -> Reply {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": text}]});
    let mut h = vec![("content-type", "application/json")];
    h.extend_from_slice(headers);
    send(
        Method::POST,
        &served.url(path),
        &h,
        body.to_string().as_bytes(),
    )
    .await
}

/// The request records of the trail, in order.
fn records(dir: &Scratch) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| v.get("request").cloned())
        .collect()
}

/// Waits until the trail holds `n` request records (each is written before the answer,
/// so this is immediate; the deadline only guards against a hang).
fn nth_record(dir: &Scratch, n: usize) -> Value {
    let start = Instant::now();
    loop {
        let r = records(dir);
        if r.len() >= n {
            return r[n - 1].clone();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{r:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_headers_from_an_untrusted_address_are_refused_audited_and_never_forwarded() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("identity-untrusted");
    dir.write("people.csv", "email,team\nalice@acme.fr,rh\n");
    let served = start(&dir, &config(&mock, "10.0.0.0/8", ""));
    for header in [
        "x-forwarded-email",
        "x-forwarded-user",
        "x-forwarded-groups",
    ] {
        let r = chat(
            &served,
            "/mine/v1/chat/completions",
            "Bonjour",
            &[
                (header, "spoofed.boss@acme.fr"),
                ("authorization", "Bearer sk-own"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "paravent_untrusted_identity");
        assert!(!r.text().contains("spoofed"), "{}", r.text());
    }
    assert_eq!(mock.count(), 0, "nothing was sent");
    let rec = nth_record(&dir, 3);
    assert_eq!(rec["refusal"], "paravent_untrusted_identity");
    assert_eq!(rec["principal"], "anonymous");
    assert!(
        rec["client"].as_str().is_some_and(|h| h.len() == 64),
        "{rec}"
    );
    // Without the headers, the same client is served as any other.
    let r = chat(
        &served,
        "/mine/v1/chat/completions",
        "Bonjour",
        &[("authorization", "Bearer sk-own")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let metrics = crate::support::serve::get(&served.admin_url("/metrics"))
        .await
        .text();
    assert!(
        metrics.contains("code=\"paravent_untrusted_identity\"} 3"),
        "{metrics}"
    );
    let output = served.stop();
    let trail = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    for text in [&output, &trail] {
        assert!(!text.contains("spoofed"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_virtual_key_presented_to_a_pass_through_provider_is_refused_and_not_sent() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("identity-pv-pass-through");
    dir.write("people.csv", "email,team\n");
    let served = start(&dir, &config(&mock, "10.0.0.0/8", ""));
    let r = chat(
        &served,
        "/mine/v1/chat/completions",
        "Bonjour",
        &[("authorization", "Bearer pv-alice-0123456789abcdef")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert_eq!(
        r.json()["error"]["code"],
        "paravent_virtual_key_not_accepted"
    );
    assert!(!r.text().contains("pv-alice"));
    assert_eq!(mock.count(), 0);
    served.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trusted_proxy_names_the_principal_the_directory_its_team_and_a_sighup_rereads_it() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("identity-trusted");
    dir.write(
        "people.csv",
        "email;name;team\nalice@acme.fr;Alice;rh\n# contractors have no team\n",
    );
    let served = start(
        &dir,
        &config(&mock, "127.0.0.1/32", "[teams.finance]\n[teams.rh]\n"),
    );
    let me = [
        ("x-forwarded-email", "Alice@Acme.fr"),
        ("x-forwarded-groups", "staff,finance"),
        ("x-forwarded-for", "203.0.113.7"),
    ];
    // No key from the client: the proxy authenticated the person, Paravent holds the key.
    let r = chat(&served, "/openai/v1/chat/completions", "Bonjour", &me).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let got = mock.last();
    assert_eq!(
        got.headers.get("authorization").unwrap(),
        &format!("Bearer {REAL_KEY}")
    );
    for h in ["x-forwarded-email", "x-forwarded-groups", "x-forwarded-for"] {
        assert!(got.headers.get(h).is_none(), "{h} was forwarded");
    }
    let rec = nth_record(&dir, 1);
    assert_eq!(rec["principal"], "alice@acme.fr");
    assert_eq!(rec["team"], "rh", "the directory wins over the groups");
    let alice_client = rec["client"].as_str().unwrap().to_owned();

    // Someone the directory does not list: the first group that is a known team.
    let r = chat(
        &served,
        "/openai/v1/chat/completions",
        "Bonjour",
        &[
            ("x-forwarded-email", "bob@acme.fr"),
            ("x-forwarded-groups", "all-staff, Finance"),
            ("x-forwarded-for", "203.0.113.8"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let rec = nth_record(&dir, 2);
    assert_eq!(rec["principal"], "bob@acme.fr");
    assert_eq!(rec["team"], "finance");
    // The forwarded client's address is what is hashed, not the proxy's.
    assert_ne!(rec["client"].as_str().unwrap(), alice_client);

    // Alice moves to finance: the directory is read again with the configuration.
    dir.write(
        "people.csv",
        "email;name;team\nalice@acme.fr;Alice;finance\n",
    );
    served.signal("HUP");
    served.wait_for("Configuration reloaded.");
    let r = chat(&served, "/openai/v1/chat/completions", "Bonjour", &me).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let rec = nth_record(&dir, 3);
    assert_eq!(rec["team"], "finance");
    assert_eq!(rec["client"].as_str().unwrap(), alice_client);

    // A broken directory on reload: refused with its line, the old one stays.
    dir.write(
        "people.csv",
        "email,team\nalice@acme.fr,rh\nalice@acme.fr,it\n",
    );
    served.signal("HUP");
    let start = Instant::now();
    while !served.output().contains("Configuration reload refused") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            served.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        served.output().contains("people.csv:3:"),
        "{}",
        served.output()
    );
    let r = chat(&served, "/openai/v1/chat/completions", "Bonjour", &me).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(nth_record(&dir, 4)["team"], "finance");
    let output = served.stop();
    assert!(!output.contains("203.0.113"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_listed_values_reach_the_provider_verbatim_and_are_recorded_as_allowed_without_their_value()
 {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("identity-allow");
    dir.write(
        "people.csv",
        "email,team\nalice@acme.fr,rh\nbob@acme.fr,it\n",
    );
    let extra = r#"
[allow]
values = ["support@acme.fr"]
patterns = ['[a-z]+@acme-produits\.fr']

[allow.entities.FR_SIREN]
values = ["552 100 554"]

[teams.rh.allow]
values = ["paie@acme.fr"]

[teams.it]

[[policy.rules]]
id = "no-siren"
entity = ["FR_SIREN"]
action = "block"
"#;
    let served = start(&dir, &config(&mock, "127.0.0.1/32", extra));
    let text = "SIREN 552100554 ; écrire à support@acme.fr, ventes@acme-produits.fr, \
                paie@acme.fr ou jean.dupont@example.fr";
    let alice = [("x-forwarded-email", "alice@acme.fr")];
    let r = chat(&served, "/openai/v1/chat/completions", text, &alice).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent = String::from_utf8(mock.last().body.to_vec()).unwrap();
    for listed in [
        "552100554",
        "support@acme.fr",
        "ventes@acme-produits.fr",
        "paie@acme.fr",
    ] {
        assert!(sent.contains(listed), "{listed} not sent as is: {sent}");
    }
    assert!(!sent.contains("jean.dupont"), "{sent}");
    assert!(sent.contains("[EMAIL_"), "{sent}");
    let rec = nth_record(&dir, 1);
    assert_eq!(rec["findings_by_action"]["allow"], 4, "{rec}");
    assert_eq!(rec["findings_by_action"]["pseudonymise"], 1, "{rec}");
    assert_eq!(rec["findings_by_rule"]["allow-list"], 3, "{rec}");
    assert_eq!(rec["findings_by_rule"]["teams.rh.allow"], 1, "{rec}");
    let listed = rec["allow_listed"].as_array().unwrap();
    assert_eq!(listed.len(), 4, "{rec}");
    assert!(
        listed
            .iter()
            .all(|v| v["hash"].as_str().unwrap().len() == 64)
    );

    // Another team: rh's own list does not apply, the global one does.
    let r = chat(
        &served,
        "/openai/v1/chat/completions",
        "paie@acme.fr et support@acme.fr",
        &[("x-forwarded-email", "bob@acme.fr")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let sent = String::from_utf8(mock.last().body.to_vec()).unwrap();
    assert!(
        !sent.contains("paie@acme.fr") && sent.contains("support@acme.fr"),
        "{sent}"
    );

    // A SIREN that is not the company's is still blocked by the rule.
    let r = chat(
        &served,
        "/openai/v1/chat/completions",
        "SIREN 732 829 320",
        &alice,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "paravent_policy_block");
    served.stop();
    let trail = std::fs::read_to_string(dir.path().join("audit.jsonl")).unwrap();
    for v in [
        "552100554",
        "552 100 554",
        "support@acme",
        "paie@",
        "ventes@",
        "jean.dupont",
    ] {
        assert!(!trail.contains(v), "{v} in the trail");
    }
}

#[test]
fn check_reports_bad_allow_lists_with_their_lines() {
    let dir = Scratch::new("identity-check");
    dir.write("people.csv", "email,team\nalice@acme.fr,rh\n");
    let path = dir.write(
        "paravent.toml",
        "[identity]\ntrusted_proxies = [\"10.0.0.0/8\", \"not-an-address\"]\ndirectory = \"people.csv\"\n\n\
         [allow]\npatterns = [\"(unclosed\"]\nvalues = [\"sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD\"]\n\n\
         [allow.entities.NOPE]\nvalues = [\"x\"]\n\n\
         [teams.rh.allow]\npatterns = [\"[z-a]\"]\n",
    );
    let r = crate::support::paravent(&["check", "--config", Scratch::arg(&path)], b"");
    r.assert_code(1);
    let out = format!("{}{}", r.stdout, r.stderr);
    for (line, what) in [
        (2, "not-an-address"),
        (6, "does not compile"),
        (7, "reads as a secret"),
        (9, "NOPE"),
        (13, "does not compile"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.contains(&format!("paravent.toml:{line}:")) && l.contains(what)),
            "line {line} {what}:\n{out}"
        );
    }
    assert!(!out.contains("sk-proj-abc"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_identity_required_a_request_without_the_proxys_identity_is_refused() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("identity-required");
    dir.write("people.csv", "email,team\nalice@acme.fr,rh\n");
    let cfg = config(&mock, "127.0.0.1/32", "").replace(
        "directory = \"people.csv\"\n",
        "directory = \"people.csv\"\nrequired = true\n",
    );
    let served = start(&dir, &cfg);
    // From the trusted proxy, naming the principal: served.
    let r = chat(
        &served,
        "/openai/v1/chat/completions",
        "Bonjour",
        &[("x-forwarded-email", "alice@acme.fr")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Around the sign-in proxy (no identity), even with a key of one's own: refused.
    let r = chat(
        &served,
        "/mine/v1/chat/completions",
        "Bonjour",
        &[("authorization", "Bearer sk-own")],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "paravent_identity_required");
    assert_eq!(mock.count(), 1, "only the identified request was sent");
    let rec = nth_record(&dir, 2);
    assert_eq!(rec["refusal"], "paravent_identity_required");
    assert_eq!(rec["decision"], "refused");
    served.stop();
}
