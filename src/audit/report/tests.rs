use std::collections::BTreeMap;

use super::*;
use crate::audit::{Usage, ValueHash, anchor, policy_version};

/// A request record with the fields most tests set; the rest default.
fn req(id: &str, time: &str, decision: Decision) -> (String, RequestFields) {
    (
        time.to_owned(),
        RequestFields {
            request_id: id.to_owned(),
            principal: "alice".into(),
            team: Some("finance".into()),
            provider: Some("openai".into()),
            jurisdiction: Some("US".into()),
            model: Some("gpt-4o".into()),
            endpoint: Some("openai.chat".into()),
            decision: Some(decision),
            rule: Some("builtin.pseudonymise".into()),
            status: 200,
            bytes_in: 100,
            bytes_out: 50,
            ..RequestFields::default()
        },
    )
}

/// Seals `requests` into one chain (after a chain start) and returns the file text.
fn chain(requests: Vec<(String, RequestFields)>) -> String {
    let mut start = AuditRecord::chain_start(
        "c1".into(),
        "inst-1".into(),
        policy_version("[server]\n"),
        "2026-05-01T00:00:00.000000Z".into(),
    );
    let mut out = format!("{}\n", start.seal(&anchor("c1")).unwrap());
    let mut prev = start.hash.clone().unwrap();
    for (i, (time, fields)) in requests.into_iter().enumerate() {
        let mut r = start.clone();
        r.kind = Kind::Request;
        r.seq = i as u64 + 1;
        r.time = time;
        r.request = Some(fields);
        out.push_str(&r.seal(&prev).unwrap());
        out.push('\n');
        prev = r.hash.clone().unwrap();
    }
    out
}

fn report_of(text: &str, range: &TimeRange) -> Report {
    build(
        &[("a.jsonl", text)],
        &[],
        range,
        "2026-06-01T00:00:00.000000Z",
    )
}

fn sample() -> Vec<(String, RequestFields)> {
    let nir = ValueHash {
        entity: "FR_NIR".into(),
        hash: "aa".repeat(32),
    };
    let email = ValueHash {
        entity: "EMAIL".into(),
        hash: "bb".repeat(32),
    };
    let mut a = req("r1", "2026-05-01T09:00:00.000000Z", Decision::Forwarded);
    a.1.findings_by_entity = BTreeMap::from([("FR_NIR".into(), 1), ("EMAIL".into(), 2)]);
    a.1.findings_by_nature = BTreeMap::from([("personal".into(), 3)]);
    a.1.findings_by_sensitivity = BTreeMap::from([("confidential".into(), 3)]);
    a.1.findings_by_action = BTreeMap::from([("pseudonymise".into(), 3)]);
    a.1.values = vec![email.clone(), nir.clone()];
    a.1.usage = Some(Usage {
        input_tokens: 10,
        output_tokens: 20,
    });
    a.1.energy_uwh = Some(1_500);
    let mut b = req("r2", "2026-05-01T10:00:00.000000Z", Decision::Routed);
    b.1.requested_provider = Some("openai".into());
    b.1.provider = Some("mistral".into());
    b.1.jurisdiction = Some("EU".into());
    b.1.rule = Some("health-eu-only".into());
    b.1.findings_by_entity = BTreeMap::from([("FR_NIR".into(), 1)]);
    b.1.values = vec![nir.clone()];
    b.1.usage = Some(Usage {
        input_tokens: 5,
        output_tokens: 5,
    });
    b.1.energy_uwh = Some(500);
    let mut c = req("r3", "2026-05-02T08:00:00.000000Z", Decision::Blocked);
    c.1.principal = "bob".into();
    c.1.team = None;
    c.1.rule = Some("secrets-blocked".into());
    c.1.refusal = Some("paravent_policy_block".into());
    c.1.status = 403;
    c.1.findings_by_entity = BTreeMap::from([("SECRET".into(), 1)]);
    // A blocked request's values did not leave: they do not count as sent.
    c.1.values = vec![nir.clone()];
    let mut d = req("r4", "2026-05-03T23:59:59.999999Z", Decision::Refused);
    d.1.provider = None;
    d.1.jurisdiction = None;
    d.1.model = None;
    d.1.rule = None;
    d.1.refusal = Some("paravent_unknown_provider".into());
    d.1.status = 404;
    vec![a, b, c, d]
}

#[test]
fn totals_count_each_decision_and_sum_tokens_and_energy() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    assert!(r.integrity.verified);
    assert_eq!(r.integrity.records, Some(5));
    let t = &r.totals;
    assert_eq!(
        (t.requests, t.forwarded, t.routed, t.blocked, t.refused),
        (4, 1, 1, 1, 1)
    );
    assert_eq!((t.findings, t.bytes_in, t.bytes_out), (5, 400, 200));
    assert_eq!((t.tokens.input_tokens, t.tokens.output_tokens), (15, 25));
    assert_eq!(
        (t.tokens.requests_reported, t.tokens.requests_not_reported),
        (2, 2)
    );
    assert_eq!(t.energy.uwh, 2_000);
    assert!((t.energy.wh - 0.002).abs() < 1e-12);
    assert_eq!(
        r.period.first_record.as_deref(),
        Some("2026-05-01T09:00:00.000000Z")
    );
    assert_eq!(
        r.period.last_record.as_deref(),
        Some("2026-05-03T23:59:59.999999Z")
    );
}

#[test]
fn groups_per_day_principal_team_provider_and_jurisdiction() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    let keys = |g: &[Group]| -> Vec<(Option<String>, u64)> {
        g.iter().map(|g| (g.key.clone(), g.requests)).collect()
    };
    let s = |k: &str| Some(k.to_owned());
    assert_eq!(
        keys(&r.by_day),
        [
            (s("2026-05-01"), 2),
            (s("2026-05-02"), 1),
            (s("2026-05-03"), 1)
        ]
    );
    assert_eq!(keys(&r.by_month), [(s("2026-05"), 4)]);
    assert_eq!(keys(&r.by_principal), [(s("alice"), 3), (s("bob"), 1)]);
    assert_eq!(keys(&r.by_team), [(s("finance"), 3), (None, 1)]);
    assert_eq!(
        keys(&r.by_provider),
        [(s("openai"), 2), (s("mistral"), 1), (None, 1)]
    );
    assert_eq!(
        keys(&r.by_jurisdiction),
        [(s("US"), 2), (s("EU"), 1), (None, 1)]
    );
    assert_eq!(
        keys(&r.by_decision),
        [
            (s("forwarded"), 1),
            (s("routed"), 1),
            (s("blocked"), 1),
            (s("refused"), 1)
        ]
    );
    let day1 = &r.by_day[0];
    assert_eq!((day1.forwarded, day1.routed, day1.findings), (1, 1, 4));
    assert_eq!(
        (day1.input_tokens, day1.output_tokens, day1.energy_uwh),
        (Some(15), Some(25), Some(2_000))
    );
    // No request of that day reported usage: "not reported", not 0.
    let day2 = &r.by_day[1];
    assert_eq!(
        (day2.input_tokens, day2.output_tokens, day2.energy_uwh),
        (None, None, None)
    );
}

#[test]
fn findings_are_counted_per_entity_with_requests_sent_and_stopped() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    let nir = r
        .findings
        .by_entity
        .iter()
        .find(|c| c.key == "FR_NIR")
        .unwrap();
    assert_eq!(
        (
            nir.findings,
            nir.requests,
            nir.requests_sent,
            nir.requests_stopped
        ),
        (2, 2, 2, 0)
    );
    let secret = r
        .findings
        .by_entity
        .iter()
        .find(|c| c.key == "SECRET")
        .unwrap();
    assert_eq!((secret.requests_sent, secret.requests_stopped), (0, 1));
    assert_eq!(r.findings.by_nature[0].key, "personal");
    assert_eq!(r.findings.by_sensitivity[0].findings, 3);
    assert_eq!(r.findings.by_action[0].key, "pseudonymise");
    assert!(r.findings.by_rule.is_empty());
}

#[test]
fn refusals_name_code_and_rule_and_list_blocked_request_ids_only() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    assert_eq!(r.refusals.len(), 2);
    let blocked = &r.refusals[0];
    assert_eq!(blocked.decision, Decision::Blocked);
    assert_eq!(blocked.code.as_deref(), Some("paravent_policy_block"));
    assert_eq!(blocked.rule.as_deref(), Some("secrets-blocked"));
    assert_eq!(blocked.request_ids, ["r3"]);
    let refused = &r.refusals[1];
    assert_eq!(refused.decision, Decision::Refused);
    assert_eq!(refused.code.as_deref(), Some("paravent_unknown_provider"));
    assert!(refused.request_ids.is_empty());
}

#[test]
fn routes_say_from_which_provider_to_which_and_why() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    assert_eq!(
        r.routes,
        [Route {
            from: Some("openai".into()),
            to: Some("mistral".into()),
            rule: Some("health-eu-only".into()),
            requests: 1,
        }]
    );
}

#[test]
fn a_value_sent_twice_is_counted_by_its_hash_and_a_blocked_one_is_not() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    // The NIR went out in r1 and r2 (and was found in the blocked r3, which did not
    // leave); the e-mail went out once.
    assert_eq!(
        r.repeated_values,
        [Repeated {
            entity: "FR_NIR".into(),
            distinct_values: 1,
            repeated_values: 1,
            occurrences: 2,
            max_requests_per_value: 2,
            sampling: 1,
        }]
    );
    let json = serde_json::to_string(&r).unwrap();
    assert!(
        !json.contains(&"aa".repeat(32)),
        "no value hash in the report"
    );
}

#[test]
fn from_is_inclusive_and_to_is_exclusive_or_the_whole_day_for_a_date() {
    let text = chain(sample());
    let day2 = TimeRange::parse(Some("2026-05-02"), Some("2026-05-02")).unwrap();
    let r = report_of(&text, &day2);
    assert_eq!(r.totals.requests, 1);
    assert_eq!(r.period.outside_period, 3);
    assert_eq!(
        r.period.from.as_deref(),
        Some("2026-05-02T00:00:00.000000Z")
    );
    assert_eq!(r.period.to.as_deref(), Some("2026-05-03T00:00:00.000000Z"));
    let exact = TimeRange::parse(
        Some("2026-05-01T10:00:00Z"),
        Some("2026-05-03T23:59:59.999999Z"),
    )
    .unwrap();
    let ids: Vec<u64> = report_of(&text, &exact)
        .by_day
        .iter()
        .map(|g| g.requests)
        .collect();
    assert_eq!(ids, [1, 1], "r2 (at from) and r3 in, r4 (at to) out");
    // 11:30 in Paris (+02:00) is 09:30 UTC: r1 (09:00 UTC) is before it.
    let offset = TimeRange::parse(Some("2026-05-01T11:30:00+02:00"), None).unwrap();
    assert_eq!(report_of(&text, &offset).totals.requests, 3);
}

#[test]
fn time_ranges_reject_what_is_not_rfc_3339_and_empty_periods() {
    for bad in [
        "2026-13-01",
        "2026-02-30",
        "01/05/2026",
        "2026-05-01T25:00:00Z",
        "2026-05-01T10:00:00",
        "2026-05-01T10:00:00+0200",
        "2026-05-01T10:00:00.Z",
        "",
    ] {
        assert_eq!(
            TimeRange::parse(Some(bad), None),
            Err(RangeError::Invalid("since/--from")),
            "{bad:?}"
        );
    }
    assert_eq!(
        TimeRange::parse(Some("2026-05-02"), Some("2026-05-01")),
        Err(RangeError::Empty)
    );
    assert!(TimeRange::parse(Some("2024-02-29"), Some("2024-02-29t00:00:01z")).is_ok());
}

#[test]
fn parse_time_agrees_with_the_record_time_format() {
    for us in [0u64, 951_782_400_000_000, 1_777_638_896_123_456] {
        let s = rfc3339(UNIX_EPOCH + Duration::from_micros(us));
        assert_eq!(parse_time(&s), Some((us as i64, false)), "{s}");
    }
}

#[test]
fn a_broken_chain_is_still_reported_with_its_first_bad_record() {
    let text = chain(sample());
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(2);
    let cut: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = report_of(&cut, &TimeRange::default());
    assert!(!r.integrity.verified);
    let bad = r.integrity.first_bad.as_ref().unwrap();
    assert_eq!((bad.line, bad.request_id.as_deref()), (3, Some("r3")));
    assert_eq!(r.totals.requests, 3);
    assert!(r.integrity_line().starts_with("Chain NOT verified"));
    for rendered in [html::render(&r, Lang::En), markdown::render(&r, Lang::En)] {
        assert!(rendered.contains("Chain NOT verified"), "{rendered}");
    }
}

#[test]
fn a_checkpoint_not_in_the_chain_fails_the_integrity_check() {
    let text = chain(sample());
    let r = build(
        &[("a", &text)],
        &[&"00".repeat(32)],
        &TimeRange::default(),
        "t",
    );
    assert!(!r.integrity.verified);
}

#[test]
fn a_line_that_is_not_a_record_is_counted_and_left_out() {
    let mut text = chain(sample());
    text.push_str("{\"not\":\"a record\"}\n");
    let r = report_of(&text, &TimeRange::default());
    assert_eq!(r.integrity.unreadable_lines, 1);
    assert_eq!(r.totals.requests, 4);
}

#[test]
fn an_empty_chain_reports_not_reported_rather_than_zero() {
    let r = report_of(&chain(vec![]), &TimeRange::default());
    assert_eq!(r.totals.requests, 0);
    let md = markdown::render(&r, Lang::En);
    assert!(md.contains("| Tokens in / out | not reported |"), "{md}");
    let page = html::render(&r, Lang::En);
    assert!(page.contains("No request in this period."));
}

/// Strings an attacker could choose (a principal is a user name from a key file, a model
/// comes from the request body).
const HOSTILE: &str = "<script>alert(1)</script>\"'&|*[x](javascript:y)";

#[test]
fn strings_from_records_are_escaped_in_html_and_markdown() {
    let mut s = sample();
    s[0].1.principal = HOSTILE.into();
    s[0].1.model = Some(HOSTILE.into());
    s[0].1.team = Some("a\nb".into());
    s[2].1.request_id = HOSTILE.into();
    // A hostile key in a translated vocabulary (actions) stays as it is, escaped.
    s[0].1.findings_by_action = BTreeMap::from([(HOSTILE.into(), 1)]);
    let r = report_of(&chain(s), &TimeRange::default());
    for lang in [Lang::En, Lang::Fr] {
        let page = html::render(&r, lang);
        assert!(!page.contains("<script"), "HTML injection");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
        let md = markdown::render(&r, lang);
        assert!(!md.contains("<script"), "HTML in Markdown");
        assert!(md.contains(r"\|\*\[x\](javascript:y)"), "{md}");
        for line in md.lines().filter(|l| l.starts_with('|')) {
            let cells = line.replace(r"\|", "").matches('|').count();
            assert!(cells >= 3, "{line}");
        }
        assert!(!md.contains("a\nb"));
    }
}

#[test]
fn the_html_page_has_the_structure_accessibility_needs() {
    let page = html::render(
        &report_of(&chain(sample()), &TimeRange::default()),
        Lang::En,
    );
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert_eq!(page.matches("<h1").count(), 1);
    assert!(page.contains("<a class=\"skip\" href=\"#main\">"));
    assert_eq!(
        page.matches("<table>").count(),
        page.matches("<caption").count()
    );
    assert!(page.contains("<th scope=\"col\">") && page.contains("<th scope=\"row\">"));
    assert!(page.contains("<svg role=\"img\" aria-labelledby=\"chart-title chart-desc\""));
    // Self-contained: no script, no external resource.
    for needle in ["<script", "src=", "<link", "@import", "url("] {
        assert!(!page.contains(needle), "{needle}");
    }
    // Every anchor of the table of contents exists.
    for href in page.split("href=\"#").skip(1) {
        let id = &href[..href.find('"').unwrap()];
        assert!(page.contains(&format!("id=\"{id}\"")), "#{id}");
    }
}

#[test]
fn the_json_report_has_the_documented_top_level_keys() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    let v = serde_json::to_value(&r).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "schema",
            "generated_at",
            "integrity",
            "period",
            "totals",
            "by_day",
            "by_month",
            "by_principal",
            "by_team",
            "by_provider",
            "by_jurisdiction",
            "by_model",
            "by_decision",
            "by_rule",
            "findings",
            "refusals",
            "routes",
            "repeated_values",
            "policy_versions",
            "instances",
            "observed",
            "evidence"
        ]
    );
    assert_eq!(v["schema"], SCHEMA);
    assert_eq!(v["by_team"][1]["key"], serde_json::Value::Null);
    assert_eq!(v["by_day"][1]["input_tokens"], serde_json::Value::Null);
}

#[test]
fn the_chart_shows_days_without_requests_as_zero() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    let mut gap = r.by_day.clone();
    gap.remove(1); // 2 May without requests
    let days = html::chart_days(&gap);
    assert_eq!(
        days,
        [
            ("2026-05-01".to_owned(), 2),
            ("2026-05-02".to_owned(), 0),
            ("2026-05-03".to_owned(), 1)
        ]
    );
}

/// Every heading and caption of the English report: none may be left in the French one.
fn english_headings() -> Vec<&'static str> {
    let w = &words::EN;
    let mut all = vec![
        w.report_title,
        w.skip,
        w.h1,
        w.contents,
        w.summary,
        w.chart,
        w.findings,
        w.refusals,
        w.routes,
        w.repeated,
        w.provenance,
        w.chart_title,
        w.refusals_caption,
        w.routes_caption,
        w.repeated_caption,
        w.versions_caption,
        w.instances_caption,
        w.version_head,
        w.not_reported,
        w.no_team,
        w.findings_intro,
        w.footer,
        "Chain verified",
        "Period:",
        "Generated",
        "Files, oldest first",
    ];
    all.extend(w.group_titles);
    all.extend(w.finding_titles);
    all.extend(w.group_heads);
    all.extend(w.finding_heads);
    all.extend(w.refusal_heads);
    all.extend(w.route_heads);
    all.extend(w.repeated_heads);
    let x = &words::EVIDENCE_EN;
    all.extend([
        x.title,
        x.intro,
        x.caption,
        x.no_data,
        x.t_sovereignty,
        x.t_risk,
        x.t_cannot,
        x.s_classification,
        x.terms_title,
        x.terms_caption,
        x.assistants_title,
        x.chart_nature_title,
        x.chart_provider_title,
        x.figures_fold,
        x.accessibility,
        x.cannot,
    ]);
    all.extend(x.heads);
    all.extend(x.terms_heads);
    all
}

#[test]
fn the_french_html_page_is_in_french_from_its_lang_to_its_last_heading() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    let page = html::render(&r, Lang::Fr);
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"fr\">"));
    for fr in [
        "<title>Rapport d’audit Paravent — ",
        "<a class=\"skip\" href=\"#main\">Aller au rapport</a>",
        "<h1>Rapport d’audit</h1>",
        "<h2 id=\"toc\">Sommaire</h2>",
        "<h2 id=\"summary\">Synthèse</h2>",
        "<h2 id=\"findings\">Détections</h2>",
        "<h2 id=\"requests\">Requêtes</h2>",
        "<h3 id=\"by-day\">Requêtes par jour (UTC)</h3>",
        "<h3 id=\"by-principal\">Requêtes par utilisateur</h3>",
        "<h2 id=\"refusals\">Requêtes bloquées et refusées</h2>",
        "<h2 id=\"repeated\">Valeurs envoyées plusieurs fois</h2>",
        "<th scope=\"col\">Jetons en entrée</th>",
        "<strong>Intégrité\u{a0}:</strong> Chaîne vérifiée\u{a0}: 5 enregistrements en 1 début de chaîne",
        "<th scope=\"row\">bloquée (blocked)</th>",
        "<th scope=\"row\" class=\"muted\">sans équipe</th>",
        "<td class=\"muted\">non communiqué</td>",
        // 2 000 µWh: a narrow no-break space between thousands, a decimal comma.
        "2,00 mWh (2\u{202f}000 µWh\u{202f}; estimée pour 2 requêtes, pas pour 2)",
    ] {
        assert!(page.contains(fr), "missing {fr}");
    }
    for en in english_headings() {
        assert!(!page.contains(en), "English left in the French page: {en}");
    }
    // The same anchors as in English: links into a report do not depend on its language.
    let ids = |p: &str| -> Vec<String> {
        p.split(" id=\"")
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].to_owned())
            .collect()
    };
    assert_eq!(ids(&page), ids(&html::render(&r, Lang::En)));
}

#[test]
fn the_french_markdown_report_is_in_french_and_keeps_the_record_values() {
    let r = report_of(&chain(sample()), &TimeRange::default());
    let md = markdown::render(&r, Lang::Fr);
    assert!(md.starts_with("# Rapport d’audit Paravent\n"), "{md}");
    for fr in [
        "## Synthèse",
        "| Indicateur | Valeur |",
        "| Requêtes | 4 |",
        "### Détections par entité",
        "| FR\\_NIR | 1 |",
        "| transmise (forwarded) | 1 |",
        "| pseudonymiser (pseudonymise) | 3 |",
        "| confidentielle (confidential) | 3 |",
        "| refusée (refused) | paravent\\_unknown\\_provider | *non communiqué* |",
        "| secrets-blocked |",
        "2026-05-01",
    ] {
        assert!(md.contains(fr), "missing {fr}: {md}");
    }
    for en in english_headings() {
        assert!(
            !md.contains(en),
            "English left in the French Markdown: {en}"
        );
    }
    let empty = markdown::render(&report_of(&chain(vec![]), &TimeRange::default()), Lang::Fr);
    assert!(empty.contains("| Jetons en entrée / en sortie | non communiqué |"));
    assert!(empty.contains("Aucune requête sur cette période."));
}

#[test]
fn french_numbers_group_thousands_and_english_ones_stay_plain() {
    let (en, fr) = (&words::EN, &words::FR);
    assert_eq!(en.n(1_234_567), "1234567");
    assert_eq!(fr.n(0), "0");
    assert_eq!(fr.n(999), "999");
    assert_eq!(fr.n(1_000), "1\u{202f}000");
    assert_eq!(fr.n(1_234_567), "1\u{202f}234\u{202f}567");
    assert_eq!(fr.energy(12_345), "12,35 mWh");
    assert_eq!(en.energy(12_345), "12.35 mWh");
    assert_eq!(fr.term("decision", "blocked"), "bloquée (blocked)");
    assert_eq!(fr.term("rule", "blocked"), "blocked");
    assert_eq!(en.term("decision", "blocked"), "blocked");
}

#[test]
fn a_broken_chain_is_reported_in_french_with_a_french_reason() {
    let text = chain(sample());
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(2);
    let cut: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = report_of(&cut, &TimeRange::default());
    for rendered in [html::render(&r, Lang::Fr), markdown::render(&r, Lang::Fr)] {
        assert!(rendered.contains("Chaîne NON vérifiée"), "{rendered}");
        assert!(rendered.contains("ne suit pas l’enregistrement précédent"));
        assert!(rendered.contains("Avertissement") || rendered.contains("AVERTISSEMENT"));
        assert!(!rendered.contains("does not follow"));
    }
    // Standard error stays English.
    assert!(r.integrity_line().starts_with("Chain NOT verified"));
}

#[test]
fn every_translated_verification_reason_is_one_verify_gives() {
    // verify.rs writes some reasons over two lines (`\` continuation): join them.
    let source = include_str!("../verify.rs");
    let mut joined = String::new();
    let mut rest = source;
    while let Some(i) = rest.find("\\\n") {
        joined.push_str(&rest[..i]);
        rest = rest[i + 2..].trim_start();
    }
    joined.push_str(rest);
    for (en, _) in words::REASONS_FR {
        assert!(
            joined.contains(&format!("\"{en}\"")),
            "not a reason of verify.rs: {en}"
        );
    }
}

/// An observed request: forwarded as sent, with what enforcement would have done.
fn observed(id: &str, team: &str, would: crate::audit::Would) -> (String, RequestFields) {
    let (time, mut f) = req(id, "2026-05-01T09:00:00.000000Z", Decision::Forwarded);
    f.team = Some(team.into());
    f.rule = None;
    f.mode = Some("observe".into());
    f.findings_by_entity = would
        .pseudonymised
        .keys()
        .chain(would.redacted.keys())
        .map(|e| (e.clone(), 1))
        .collect();
    if would.decision == Decision::Blocked {
        f.findings_by_entity.insert("FR_NIR".into(), 1);
    }
    f.would = Some(would);
    (time, f)
}

#[test]
fn observed_requests_say_what_enforcement_would_have_done_per_entity_team_provider_and_rule() {
    use crate::audit::Would;
    let would = |decision, rule: Option<&str>, pseudo: &[&str], redact: &[&str]| Would {
        decision,
        rule: rule.map(str::to_owned),
        refusal: (decision == Decision::Blocked).then(|| "paravent_policy_block".into()),
        provider: None,
        findings_by_action: BTreeMap::new(),
        findings_by_rule: BTreeMap::new(),
        pseudonymised: pseudo.iter().map(|e| ((*e).to_owned(), 1)).collect(),
        redacted: redact.iter().map(|e| ((*e).to_owned(), 1)).collect(),
    };
    let mut records = vec![
        observed(
            "o1",
            "rh",
            would(Decision::Blocked, Some("nir-never-to-us"), &[], &[]),
        ),
        observed(
            "o2",
            "rh",
            would(
                Decision::Forwarded,
                Some("builtin.default"),
                &["EMAIL", "PERSON"],
                &[],
            ),
        ),
        observed(
            "o3",
            "sales",
            would(Decision::Forwarded, Some("names"), &["EMAIL"], &["PERSON"]),
        ),
    ];
    // An enforced request is not in the section.
    records.push(req("e1", "2026-05-01T10:00:00.000000Z", Decision::Blocked));
    let r = report_of(&chain(records), &TimeRange::default());
    let o = &r.observed;
    assert_eq!(
        (o.total.requests, o.total.would_forward, o.total.would_block),
        (3, 2, 1)
    );
    assert_eq!((o.total.pseudonymised, o.total.redacted), (3, 1));
    let rh = o
        .by_team
        .iter()
        .find(|g| g.key.as_deref() == Some("rh"))
        .unwrap();
    assert_eq!((rh.requests, rh.would_block, rh.pseudonymised), (2, 1, 2));
    let email = o
        .by_entity
        .iter()
        .find(|g| g.key.as_deref() == Some("EMAIL"))
        .unwrap();
    assert_eq!(
        (email.requests, email.pseudonymised, email.redacted),
        (2, 2, 0)
    );
    let person = o
        .by_entity
        .iter()
        .find(|g| g.key.as_deref() == Some("PERSON"))
        .unwrap();
    assert_eq!((person.pseudonymised, person.redacted), (1, 1));
    let nir = o
        .by_entity
        .iter()
        .find(|g| g.key.as_deref() == Some("FR_NIR"))
        .unwrap();
    assert_eq!((nir.requests, nir.would_block), (1, 1));
    assert_eq!(o.by_provider.len(), 1);
    assert_eq!(o.by_provider[0].requests, 3);
    let block = o
        .by_rule
        .iter()
        .find(|g| g.key.as_deref() == Some("nir-never-to-us"))
        .unwrap();
    assert_eq!(block.would_block, 1);
    // Both renderers, both languages, show the section with its tables.
    for (lang, title) in [
        (Lang::En, "What enforcement would have done"),
        (Lang::Fr, "Ce que l’application de la politique aurait fait"),
    ] {
        let page = html::render(&r, lang);
        assert!(
            page.contains(&format!("<h2 id=\"observed\">{title}</h2>")),
            "{lang:?}"
        );
        assert!(page.contains("id=\"observed-rule-table-caption\""));
        assert!(page.contains("nir-never-to-us"));
        let md = markdown::render(&r, lang);
        assert!(md.contains(&format!("## {title}\n")), "{lang:?}");
    }
    // Without observed requests, the section says so.
    let none = report_of(
        &chain(vec![req(
            "e1",
            "2026-05-01T10:00:00.000000Z",
            Decision::Forwarded,
        )]),
        &TimeRange::default(),
    );
    assert!(markdown::render(&none, Lang::En).contains("No request was in observe mode"));
}

#[test]
fn distinct_values_beyond_the_bound_are_sampled_and_estimated_close_to_the_truth() {
    let mut v = super::ValueCounts::default();
    let distinct = 3 * super::MAX_VALUES_COUNTED as u64;
    // Every value sent twice; a third of them a third time.
    for round in 0..3 {
        for i in 0..distinct {
            if round < 2 || i % 3 == 0 {
                v.add("PERSON", &format!("{i:064x}"));
            }
        }
    }
    assert!(v.counts.len() <= super::MAX_VALUES_COUNTED, "bounded");
    let [r] = v.finish().try_into().unwrap();
    assert!(r.sampling >= 4, "sampled: {}", r.sampling);
    let near = |got: u64, want: u64| got.abs_diff(want) * 20 < want; // within 5 %
    assert!(near(r.distinct_values, distinct), "{r:?}");
    assert!(near(r.repeated_values, distinct), "{r:?}");
    assert!(near(r.occurrences, distinct * 2 + distinct / 3), "{r:?}");
    assert_eq!(r.max_requests_per_value, 3);
}

#[test]
fn below_the_bound_values_are_counted_exactly() {
    let mut v = super::ValueCounts::default();
    for i in 0..1_000u64 {
        v.add("EMAIL", &format!("{:064x}", i % 400));
    }
    let [r] = v.finish().try_into().unwrap();
    assert_eq!(
        (
            r.sampling,
            r.distinct_values,
            r.repeated_values,
            r.occurrences
        ),
        (1, 400, 400, 1_000)
    );
    assert_eq!(r.max_requests_per_value, 3);
}
