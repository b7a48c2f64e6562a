//! Observe mode against a real `paravent serve`: the provider receives what the client
//! sent (names, e-mails, a NIR, a secret), the audit record says what enforcement would
//! have done, the most specific mode wins (team, then provider, then `[policy]`),
//! enforcement elsewhere is unchanged, and `check`, the start-up log, the metrics and the
//! report say so.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::proxy::MockProvider;
use crate::support::serve::{Served, get, send};
use crate::support::{Scratch, paravent};

const NIR: &str = "1 85 03 75 115 022 36";
const NAME: &str = "Jean Dupont";
const EMAIL: &str = "jean.dupont@example.fr";
const SECRET: &str = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
const REAL_KEY: &str = "sk-real-observe-key-0123456789";
const ALICE: &str = "pv-alice-observe-key-0001"; // team sales
const BOB: &str = "pv-bob-observe-key-0002"; // team rh

/// Two providers of the OpenAI API on one mock (`us` declared US, `eu` EU), virtual
/// keys for alice (sales) and bob (rh), a rule that keeps NIRs from the US, `eu_mode`
/// (lines of `[providers.eu]`) and `modes`.
fn config(mock: &MockProvider, eu_mode: &str, modes: &str) -> String {
    let key = |k: &str| paravent::config::virtual_key_hash(k);
    format!(
        "[audit]\npath = \"audit.jsonl\"\nfsync = \"never\"\n\n\
         [pseudonyms]\nsecret = \"an observe test secret of 32 bytes or more\"\n\n\
         [providers.us]\nbase_url = \"{base}\"\napi = \"openai\"\njurisdiction = \"US\"\n\
         auth = \"virtual\"\nkey_env = \"OBSERVE_REAL_KEY\"\n\n\
         [providers.eu]\nbase_url = \"{base}\"\napi = \"openai\"\njurisdiction = \"EU\"\n\
         auth = \"virtual\"\nkey_env = \"OBSERVE_REAL_KEY\"\n{eu_mode}\n\
         [[keys.virtual]]\nhash = \"{alice}\"\nuser = \"alice\"\nteam = \"sales\"\n\n\
         [[keys.virtual]]\nhash = \"{bob}\"\nuser = \"bob\"\nteam = \"rh\"\n\n\
         [[policy.rules]]\nid = \"nir-never-to-us\"\nentity = [\"FR_NIR\"]\nproviders = [\"us\"]\n\
         action = \"block\"\n\n{modes}",
        base = mock.base_url(),
        alice = key(ALICE),
        bob = key(BOB),
    )
}

fn serve(dir: &Scratch, mock: &MockProvider, eu_mode: &str, modes: &str) -> Served {
    let path = dir.write("paravent.toml", config(mock, eu_mode, modes));
    Served::start(&path, &[], &[("OBSERVE_REAL_KEY", REAL_KEY)])
}

fn chat_body(text: &str) -> Vec<u8> {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
        .to_string()
        .into_bytes()
}

async fn chat(served: &Served, provider: &str, key: &str, body: &[u8]) -> (StatusCode, String) {
    let r = send(
        Method::POST,
        &served.url(&format!("/{provider}/v1/chat/completions")),
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {key}")),
        ],
        body,
    )
    .await;
    (r.status, r.text())
}

/// The request records of every audit file in `dir`, oldest first per file.
fn requests(dir: &Scratch) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .filter(|r| r["kind"] == "request")
        .map(|r| r["request"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn observe_mode_forwards_the_request_as_sent_and_records_what_enforcement_would_have_done() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("observe-all");
    let served = serve(&dir, &mock, "", "[policy]\nmode = \"observe\"\n");
    // The start-up log warns, naming where observe mode is set.
    assert!(
        served
            .output()
            .contains("[policy] mode = \"observe\" for every provider"),
        "{}",
        served.output()
    );

    // A NIR to a US provider: enforcement would block it; observe forwards it as sent.
    let text = format!("Dossier de {NAME} ({EMAIL}), NIR {NIR}.");
    let body = chat_body(&text);
    let (status, answer) = chat(&served, "us", ALICE, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let got = mock.last();
    assert_eq!(got.body, body, "the provider receives the client's bytes");
    // The virtual key is still replaced by the provider's key.
    let auth = got.headers["authorization"].to_str().unwrap();
    assert_eq!(auth, format!("Bearer {REAL_KEY}"));
    assert!(!format!("{:?}", got.headers).contains("pv-"));

    // Names and e-mail only: enforcement would pseudonymise them.
    let body = chat_body(&format!("Écrivez à {NAME}, {EMAIL}."));
    assert_eq!(chat(&served, "us", ALICE, &body).await.0, StatusCode::OK);
    assert_eq!(mock.last().body, body);

    // A secret: enforcement would refuse it with paravent_secret.
    let body = chat_body(&format!("ma clé {SECRET}"));
    assert_eq!(chat(&served, "us", ALICE, &body).await.0, StatusCode::OK);
    assert_eq!(mock.last().body, body);

    // Authentication is not relaxed: an unknown virtual key is refused, nothing sent.
    let sent = mock.count();
    let (status, _) = chat(&served, "us", "pv-nobody", &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(mock.count(), sent);

    let metrics = get(&served.admin_url("/metrics")).await.text();
    assert!(
        metrics.contains("paravent_observed_requests_total{provider=\"us\",would=\"blocked\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("paravent_observed_requests_total{provider=\"us\",would=\"forwarded\"} 1"),
        "{metrics}"
    );
    let (clean, output) = served.terminate();
    assert!(clean, "{output}");
    for value in [NIR, EMAIL, SECRET] {
        assert!(!output.contains(value), "the log holds a value");
    }

    let recs = requests(&dir);
    assert_eq!(recs.len(), 4);
    let nir = &recs[0];
    assert_eq!(nir["mode"], "observe");
    assert_eq!(nir["decision"], "forwarded");
    assert_eq!(nir["refusal"], Value::Null);
    assert_eq!(nir["findings_by_entity"]["FR_NIR"], 1);
    assert_eq!(
        nir["findings_by_action"],
        json!({}),
        "nothing was done to a value"
    );
    let would = &nir["would"];
    assert_eq!(would["decision"], "blocked");
    assert_eq!(would["rule"], "nir-never-to-us");
    assert_eq!(would["refusal"], "paravent_policy_block");
    assert_eq!(would["findings_by_rule"]["nir-never-to-us"], 1);
    assert_eq!(
        would.get("pseudonymised"),
        None,
        "a blocked request leaves nothing"
    );

    let names = &recs[1]["would"];
    assert_eq!(names["decision"], "forwarded");
    assert_eq!(names["pseudonymised"], json!({"EMAIL": 1, "PERSON": 1}));
    assert_eq!(names["findings_by_action"]["pseudonymise"], 2);
    assert_eq!(recs[1]["bytes_out"], recs[1]["bytes_in"]);

    let secret = &recs[2]["would"];
    assert_eq!(secret["decision"], "blocked");
    assert_eq!(secret["rule"], "builtin.secret");
    assert_eq!(secret["refusal"], "paravent_secret");

    // The refused key was refused: no mode, nothing would-be about it.
    assert_eq!(recs[3]["decision"], "refused");
    assert_eq!(recs[3].get("would"), None);

    // The trail verifies, and holds no value.
    let trail = Scratch::arg(&dir.path().join("audit.jsonl")).to_owned();
    paravent(&["audit", "verify", &trail], b"").assert_code(0);
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap_or_default();
        if text.contains("\"kind\"") {
            assert!(!text.contains("Dupont") && !text.contains(SECRET));
        }
    }

    // The report's section says what enforcement would have done.
    let report = paravent(&["audit", "report", "--format", "json", &trail], b"");
    report.assert_code(0);
    let v: Value = serde_json::from_str(&report.stdout).unwrap();
    let total = &v["observed"]["total"];
    assert_eq!(total["requests"], 3);
    assert_eq!(total["would_block"], 2);
    assert_eq!(total["would_forward"], 1);
    assert_eq!(total["pseudonymised"], 2);
    let by_rule = v["observed"]["by_rule"].as_array().unwrap();
    assert!(
        by_rule
            .iter()
            .any(|g| g["key"] == "nir-never-to-us" && g["would_block"] == 1),
        "{by_rule:?}"
    );
    assert_eq!(v["observed"]["by_team"][0]["key"], "sales");
    let md = paravent(&["audit", "report", &trail], b"");
    assert!(md.stdout.contains("## What enforcement would have done\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_teams_mode_wins_over_its_providers_which_wins_over_the_global_one() {
    let mock = MockProvider::start().await;
    let dir = Scratch::new("observe-precedence");
    let served = serve(
        &dir,
        &mock,
        "mode = \"enforce\"\n",
        "[policy]\nmode = \"observe\"\n\n[teams.rh]\nmode = \"observe\"\n",
    );
    let text = format!("Dossier de {NAME} ({EMAIL}), NIR {NIR}.");
    let body = chat_body(&text);

    // alice (sales) to eu: the provider's enforce wins over [policy]: pseudonymised.
    assert_eq!(chat(&served, "eu", ALICE, &body).await.0, StatusCode::OK);
    let got = String::from_utf8(mock.last().body.to_vec()).unwrap();
    assert!(!got.contains(EMAIL) && !got.contains("Dupont"), "{got}");
    // bob (rh) to eu: the team's observe wins over the provider's enforce: as sent.
    assert_eq!(chat(&served, "eu", BOB, &body).await.0, StatusCode::OK);
    assert_eq!(mock.last().body, body);
    // alice to us: [policy] observe: as sent, though enforcement would block.
    assert_eq!(chat(&served, "us", ALICE, &body).await.0, StatusCode::OK);
    assert_eq!(mock.last().body, body);
    served.terminate();

    // Enforcement elsewhere is unchanged: the same config with no mode blocks the NIR.
    let dir2 = Scratch::new("observe-precedence-enforced");
    let served = serve(&dir2, &mock, "mode = \"enforce\"\n", "");
    let sent = mock.count();
    let (status, answer) = chat(&served, "us", ALICE, &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(answer.contains("paravent_policy_block"));
    assert_eq!(mock.count(), sent);
    served.terminate();

    let recs = requests(&dir);
    let modes: Vec<&Value> = recs.iter().map(|r| &r["mode"]).collect();
    assert_eq!(modes, [&Value::Null, &json!("observe"), &json!("observe")]);
    assert_eq!(recs[0].get("would"), None);
    assert!(recs[0]["findings_by_action"]["pseudonymise"].as_u64() >= Some(2));
    assert_eq!(recs[1]["would"]["decision"], "forwarded");
    assert_eq!(recs[1]["team"], "rh");
    assert_eq!(recs[2]["would"]["decision"], "blocked");
    assert!(requests(&dir2)[0].get("mode").is_none());
}

#[test]
fn check_warns_about_every_observe_mode_naming_where_it_is_set() {
    let dir = Scratch::new("observe-check");
    let path = dir.write(
        "paravent.toml",
        "[policy]\nmode = \"observe\"\n\n\
         [providers.us]\nbase_url = \"https://api.openai.com\"\napi = \"openai\"\nmode = \"observe\"\n\n\
         [providers.eu]\nbase_url = \"https://api.mistral.ai\"\napi = \"openai\"\nmode = \"enforce\"\n\n\
         [teams.rh]\nmode = \"observe\"\n\n[teams.sales]\nmode = \"enforce\"\n",
    );
    let run = paravent(&["check", "--config", Scratch::arg(&path)], b"");
    run.assert_code(0);
    let warnings: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("observe mode"))
        .collect();
    assert_eq!(warnings.len(), 3, "{}", run.stderr);
    let file = Scratch::arg(&path);
    assert!(warnings[0].starts_with(&format!("warning: {file}:2: [policy] mode")));
    assert!(
        warnings[1].contains(":4: [providers.us] mode"),
        "{warnings:?}"
    );
    assert!(warnings[2].contains(":14: [teams.rh] mode"), "{warnings:?}");
    // And one per provider for its undeclared terms (docs/OPERATIONS.md, "Provider
    // terms and settings").
    assert!(run.stdout.contains("5 warning(s)"), "{}", run.stdout);

    // A mode that is neither is an error with its line.
    let bad = dir.write("bad.toml", "[teams.rh]\nmode = \"watch\"\n");
    let run = paravent(&["check", "--config", Scratch::arg(&bad)], b"");
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains(":2"), "{}", run.stderr);
}
