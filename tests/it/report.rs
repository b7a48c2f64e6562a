//! `paravent audit report`: the real binary on a sealed sample chain (all three formats,
//! --from/--to, --out, a broken chain) and on a chain written by the running proxy.

use serde_json::{Value, json};

use crate::support::proxy::{Harness, PROMPT, VALUES};
use crate::support::{Scratch, paravent};

#[path = "../a11y/sample_chain.rs"]
pub(crate) mod sample_chain; // tests/it/audit_scale.rs uses it too
use sample_chain::{HOSTILE, sample_chain};

fn sample(dir: &Scratch) -> String {
    let p = dir.write("audit.jsonl", sample_chain());
    Scratch::arg(&p).to_owned()
}

fn json_report(args: &[&str]) -> Value {
    let mut all = vec!["audit", "report", "--format", "json"];
    all.extend_from_slice(args);
    let r = paravent(&all, b"");
    r.assert_code(0);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

#[test]
fn the_json_report_counts_the_sample_chain() {
    let dir = Scratch::new("report-json");
    let file = sample(&dir);
    let v = json_report(&[&file]);
    assert_eq!(v["schema"], "paravent-audit-report/1");
    assert_eq!(v["integrity"]["verified"], true);
    assert_eq!(v["integrity"]["records"], 10);
    assert_eq!(v["integrity"]["chains"], 2);
    let t = &v["totals"];
    assert_eq!(
        [
            &t["requests"],
            &t["forwarded"],
            &t["routed"],
            &t["blocked"],
            &t["refused"]
        ],
        [&json!(7), &json!(3), &json!(1), &json!(2), &json!(1)]
    );
    assert_eq!(t["energy"]["requests_reported"], 3);
    assert_eq!(v["by_day"].as_array().unwrap().len(), 3);
    assert_eq!(v["routes"][0]["from"], "openai");
    assert_eq!(v["routes"][0]["to"], "mistral");
    let blocked = &v["refusals"][0];
    assert_eq!(blocked["decision"], "blocked");
    assert_eq!(blocked["rule"], "secrets-blocked");
    assert_eq!(blocked["request_ids"].as_array().unwrap().len(), 2);
    // The NIR went out in two requests: counted, not shown.
    let nir = v["repeated_values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["entity"] == "FR_NIR")
        .expect("the NIR is counted as repeated");
    assert_eq!(nir["occurrences"], 2);
    let principals: Vec<&str> = v["by_principal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert!(principals.contains(&HOSTILE), "{principals:?}");
}

#[test]
fn markdown_and_html_reports_escape_what_the_records_hold() {
    let dir = Scratch::new("report-formats");
    let file = sample(&dir);
    let md = paravent(&["audit", "report", &file], b"");
    md.assert_code(0);
    assert!(md.stdout.starts_with("# Paravent audit report\n"));
    assert!(md.stdout.contains("| Requests | 7 |"), "{}", md.stdout);
    assert!(!md.stdout.contains("<img"), "{}", md.stdout);
    let html = paravent(&["audit", "report", "--format", "html", &file], b"");
    html.assert_code(0);
    let page = &html.stdout;
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(page.contains("Chain verified: 10 records in 2 chain start(s)"));
    assert!(!page.contains("<img") && !page.contains("<b>legal") && !page.contains("<i>mistral"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"));
}

#[test]
fn lang_fr_gives_a_french_report_and_leaves_the_json_as_it_is() {
    let dir = Scratch::new("report-fr");
    let file = sample(&dir);
    let md = paravent(&["audit", "report", "--lang", "fr", &file], b"");
    md.assert_code(0);
    assert!(md.stdout.starts_with("# Rapport d’audit Paravent\n"));
    assert!(md.stdout.contains("| Requêtes | 7 |"), "{}", md.stdout);
    assert!(
        md.stdout
            .contains("| bloquée (blocked) | paravent\\_policy\\_block |")
    );
    assert!(!md.stdout.contains("<img") && !md.stdout.contains("| Requests |"));
    let html = paravent(
        &["audit", "report", "--format", "html", "--lang", "fr", &file],
        b"",
    );
    html.assert_code(0);
    let page = &html.stdout;
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"fr\">"));
    assert!(page.contains("Chaîne vérifiée\u{a0}: 10 enregistrements en 2 débuts de chaîne"));
    assert!(page.contains("<h2 id=\"summary\">Synthèse</h2>"));
    assert!(!page.contains("<img") && !page.contains("<b>legal"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"));
    // JSON is for machines: --lang changes nothing but the time it was generated.
    let strip = |mut v: Value| {
        v["generated_at"] = Value::Null;
        v
    };
    assert_eq!(
        strip(json_report(&["--lang", "fr", &file])),
        strip(json_report(&[&file]))
    );
    let bad = paravent(&["audit", "report", "--lang", "de", &file], b"");
    bad.assert_code(2);
    // A broken chain: the banner in French, standard error in English, exit 1.
    let text = sample_chain().replacen("\"principal\":\"bob\"", "\"principal\":\"eve\"", 1);
    let broken = dir.write("broken.jsonl", text);
    let r = paravent(
        &["audit", "report", "--lang", "fr", Scratch::arg(&broken)],
        b"",
    );
    r.assert_code(1);
    assert!(
        r.stdout
            .contains("**AVERTISSEMENT\u{a0}:** Chaîne NON vérifiée"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("Chain NOT verified"), "{}", r.stderr);
}

#[test]
fn from_and_to_select_the_period_and_out_writes_a_file() {
    let dir = Scratch::new("report-period");
    let file = sample(&dir);
    // --to as a date includes that day: 4 and 5 May.
    let v = json_report(&["--from", "2026-05-04", "--to", "2026-05-05", &file]);
    assert_eq!(v["totals"]["requests"], 5);
    assert_eq!(v["period"]["outside_period"], 2);
    assert_eq!(v["period"]["to"], "2026-05-06T00:00:00.000000Z");
    // A date-time is exact: from inclusive, to exclusive.
    let v = json_report(&[
        "--from",
        "2026-05-04T09:30:00Z",
        "--to",
        "2026-05-06T18:45:00+02:00",
        &file,
    ]);
    assert_eq!(v["totals"]["requests"], 4, "09:30 in, 16:45Z out");

    let out = dir.path().join("report.html");
    let r = paravent(
        &[
            "audit",
            "report",
            "--format",
            "html",
            "--out",
            Scratch::arg(&out),
            &file,
        ],
        b"",
    );
    r.assert_code(0);
    assert!(r.stdout.is_empty());
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.ends_with("</html>\n"));

    let bad = paravent(&["audit", "report", "--from", "05/04/2026", &file], b"");
    bad.assert_code(2);
    assert!(
        bad.stderr.contains("--from is not an RFC 3339 date"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_tampered_chain_is_still_reported_under_a_warning_and_exits_1() {
    let dir = Scratch::new("report-tampered");
    let text = sample_chain().replacen("\"principal\":\"bob\"", "\"principal\":\"eve\"", 1);
    let file = dir.write("audit.jsonl", text);
    for format in ["md", "html", "json"] {
        let r = paravent(
            &["audit", "report", "--format", format, Scratch::arg(&file)],
            b"",
        );
        r.assert_code(1);
        if format != "json" {
            assert!(
                r.stdout
                    .contains("Chain NOT verified: the first bad record is"),
                "{format}: {}",
                r.stdout
            );
        }
        assert!(
            r.stderr.contains("audit.jsonl:4 (request pv-2026-0002)"),
            "{}",
            r.stderr
        );
    }
    let v: Value = serde_json::from_str(
        &paravent(
            &["audit", "report", "--format", "json", Scratch::arg(&file)],
            b"",
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(v["integrity"]["verified"], false);
    assert_eq!(v["integrity"]["first_bad"]["line"], 4);
}

#[tokio::test]
async fn a_chain_written_by_the_proxy_is_reported_without_any_value() {
    let dir = Scratch::new("report-proxy");
    let path = dir.path().join("audit").join("paravent.jsonl");
    let h = Harness::start_audited(&path).await;
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &json!({"model": "gpt-x", "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
    assert_eq!(r.status, http::StatusCode::OK, "{}", r.text());
    let r = h
        .post(
            "/openai/v1/chat/completions",
            &json!({"model": "gpt-x", "messages": [{"role": "user", "content": PROMPT}]}),
        )
        .await;
    assert_eq!(r.status, http::StatusCode::OK, "{}", r.text());
    let r = h.post("/nowhere/v1/chat", &json!({})).await;
    assert_eq!(r.status, http::StatusCode::NOT_FOUND);
    drop(h);

    let file = Scratch::arg(&path);
    let v = json_report(&[file]);
    assert_eq!(v["integrity"]["verified"], true);
    assert_eq!(v["totals"]["requests"], 3);
    assert_eq!(v["totals"]["forwarded"], 2);
    assert_eq!(v["totals"]["refused"], 1);
    assert_eq!(v["refusals"][0]["code"], "paravent_unknown_provider");
    assert!(
        v["findings"]["by_entity"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "PERSON" && c["requests"] == 2)
    );
    // The same prompt twice: its values went out twice, by their keyed hashes.
    assert!(
        !v["repeated_values"].as_array().unwrap().is_empty(),
        "{v:#}"
    );
    for format in ["md", "html", "json"] {
        let r = paravent(&["audit", "report", "--format", format, file], b"");
        r.assert_code(0);
        for value in VALUES {
            assert!(
                !r.stdout.contains(value),
                "{value:?} in the {format} report"
            );
        }
    }
}

#[test]
fn a_long_chain_gives_one_row_per_day_and_every_decision() {
    let dir = Scratch::new("report-bulk");
    let file = dir.write("audit.jsonl", sample_chain::bulk_chain(3_000));
    let v = json_report(&[Scratch::arg(&file)]);
    let t = &v["totals"];
    assert_eq!(t["requests"], 3_000);
    assert_eq!(
        [&t["blocked"], &t["refused"], &t["routed"]],
        [&json!(150), &json!(150), &json!(300)]
    );
    // 29 minutes apart: 3,000 requests span 61 days (1 January to 2 March 2026).
    let days = v["by_day"].as_array().unwrap();
    assert_eq!(days.len(), 61);
    assert_eq!(days[0]["key"], "2026-01-01");
    assert_eq!(days[60]["key"], "2026-03-02");
    let months: Vec<(&str, u64)> = v["by_month"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap(), g["requests"].as_u64().unwrap()))
        .collect();
    assert_eq!(months.len(), 3, "{months:?}");
    assert_eq!(months.iter().map(|m| m.1).sum::<u64>(), 3_000);
    assert_eq!(v["by_principal"].as_array().unwrap().len(), 40);
    assert_eq!(v["by_team"].as_array().unwrap().len(), 5);
    assert_eq!(
        v["refusals"][0]["request_ids"].as_array().unwrap().len(),
        150
    );
    let person = &v["repeated_values"][0];
    assert_eq!(person["entity"], "PERSON");
    // 500 distinct values, but those of blocked and refused requests (i % 20 in 0..2,
    // and 20 divides 500) never left: 450 were sent, each in 6 requests.
    assert_eq!(person["distinct_values"], 450);
    assert_eq!(person["max_requests_per_value"], 6);
    // A month: --to as a date includes 31 January.
    let jan = json_report(&[
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        Scratch::arg(&file),
    ]);
    assert_eq!(jan["by_day"].as_array().unwrap().len(), 31);
    let html = paravent(
        &["audit", "report", "--format", "html", Scratch::arg(&file)],
        b"",
    );
    html.assert_code(0);
    assert!(
        html.stdout
            .contains("and 100 more (the first 1,000 in the JSON report)")
    );
}

#[test]
fn an_endless_or_non_utf8_line_is_reported_at_its_line_and_the_reader_stays_bounded() {
    let dir = Scratch::new("report-long-line");
    let chain = sample_chain();
    let lines: Vec<&str> = chain.lines().collect();
    // Line 3 replaced by 17 MiB without a newline before the next record, then by bytes
    // that are not UTF-8: each is a fault at line 3, not an unreadable file.
    for (name, bad) in [
        ("long.jsonl", vec![b'x'; 17 << 20]),
        ("latin1.jsonl", b"{\"v\":2,\"caf\xe9\"}".to_vec()),
    ] {
        let mut bytes = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if i == 2 {
                bytes.extend_from_slice(&bad);
            } else {
                bytes.extend_from_slice(l.as_bytes());
            }
            bytes.push(b'\n');
        }
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let r = paravent(&["audit", "verify", Scratch::arg(&path)], b"");
        r.assert_code(1);
        assert!(
            r.stderr.contains(&format!("{name}:3:")),
            "{name}: {}",
            r.stderr
        );
        assert!(
            r.stderr.len() < 4096,
            "the line is not echoed: {}",
            r.stderr.len()
        );
    }
}

#[test]
fn the_evidence_section_of_the_real_binary_has_a_figure_in_every_row_of_the_sample() {
    let dir = Scratch::new("report-evidence");
    let file = sample(&dir);
    let v = json_report(&[&file]);
    let e = &v["evidence"];
    // C1: where requests went, the terms in force, the route chosen for the EU.
    assert_eq!(e["sent_by_jurisdiction"][0]["jurisdiction"], "US");
    assert_eq!(e["sent_by_jurisdiction"][0]["requests_sent"], 3);
    assert_eq!(e["sent_by_jurisdiction"][1]["class"], "EU");
    assert_eq!(e["route_reasons"][0]["key"], "eu-preference");
    assert_eq!(e["governance_records"], 2);
    let providers = e["providers"].as_array().unwrap();
    let mistral = providers
        .iter()
        .find(|p| p["provider"] == "mistral")
        .unwrap();
    assert_eq!(mistral["missing"], json!(["retention_days", "dpa"]));
    // C4, C5, C7 and the checkpoint.
    assert_eq!(e["answer_leaks"]["requests_with_leaks"], 1);
    assert_eq!(e["answer_leaks"]["requests_redacted"], 1);
    assert_eq!(e["risk"]["requests_assessed"], 4);
    assert_eq!(e["risk"]["by_level"][3]["key"], "high");
    assert_eq!(e["requests_with_settings"], 3);
    assert_eq!(e["assistants"][0]["name"], "recrutement");
    assert_eq!(e["assistants"][0]["requests"], 4);
    assert_eq!(
        e["assistants"][0]["info"]["purpose"],
        "Tri des candidatures"
    );
    assert_eq!(e["checkpoints"]["records"], 1);
    assert_eq!(e["checkpoints"]["signers"], json!(["paravent-audit-2026"]));
    assert_eq!(e["checkpoints"]["by_chain"][0]["signed_records"], 5);
    assert_eq!(e["findings_by_day"].as_array().unwrap().len(), 3);

    for (lang, no_data, title) in [
        (
            "en",
            "No data in this period.",
            "<h2 id=\"evidence\">Evidence</h2>",
        ),
        (
            "fr",
            "Aucune donnée sur cette période.",
            "<h2 id=\"evidence\">Preuves</h2>",
        ),
    ] {
        let html = paravent(
            &["audit", "report", "--format", "html", "--lang", lang, &file],
            b"",
        );
        html.assert_code(0);
        let page = &html.stdout;
        assert!(page.contains(title), "{lang}");
        assert!(!page.contains(no_data), "{lang}: a row without data");
        assert!(page.contains("aria-labelledby=\"chart-nature-title chart-nature-desc\""));
        assert!(page.contains("aria-labelledby=\"chart-provider-title chart-provider-desc\""));
        // The owner comes from a record: escaped.
        assert!(page.contains("DRH &lt;rh@example.org&gt;"), "{lang}");
        let md = paravent(&["audit", "report", "--lang", lang, &file], b"");
        md.assert_code(0);
        assert!(!md.stdout.contains(no_data), "{lang}");
        assert!(md.stdout.contains("| C5 |"), "{lang}");
    }
    // A period without requests: every row that reads the trail says so.
    let md = paravent(&["audit", "report", "--from", "2027-01-01", &file], b"");
    md.assert_code(0);
    assert!(
        md.stdout
            .contains("| C4 | Leaks in answers | *No data in this period.*")
    );
}
