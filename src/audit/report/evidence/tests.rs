use std::collections::BTreeMap;

use super::super::{Lang, TimeRange, build, html, markdown, words};
use super::*;
use crate::audit::{
    AnswerLeaks, AssistantInfo, AuditRecord, Decision, Governance, Kind, ProviderTerms,
    RequestFields, Risk, Usage, ValueHash, anchor, policy_version,
};

/// Seals `records` into one chain in order (seq from 0); the first must be a chain start.
/// Seals the records as one chain. A checkpoint record's placeholder note names its
/// signers (`— NAME …` lines): it is replaced by a real note of the chain at that point,
/// signed by a test key of each name.
fn seal_all(records: Vec<AuditRecord>) -> String {
    let mut prev = anchor(&records[0].chain_id);
    let mut out = String::new();
    for (i, mut r) in records.into_iter().enumerate() {
        r.seq = i as u64;
        if let (Kind::Checkpoint, Some(placeholder)) = (r.kind, &r.checkpoint) {
            r.checkpoint = Some(signed_note(placeholder, &r, &prev));
        }
        out.push_str(&r.seal(&prev).unwrap());
        out.push('\n');
        prev = r.hash.clone().unwrap();
    }
    out
}

fn signed_note(placeholder: &str, r: &AuditRecord, prev: &str) -> String {
    use crate::audit::checkpoint::{Checkpoint, SigningKey};
    let names: Vec<&str> = placeholder
        .lines()
        .filter_map(|l| l.strip_prefix("\u{2014} "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let body = |name: &str| {
        Checkpoint {
            origin: Checkpoint::origin_of(name, &r.instance_id, &r.chain_id),
            size: r.seq,
            head: crate::audit::unhex32(prev).unwrap(),
        }
        .body()
    };
    // The origin names the first signer; a witness co-signs the same text.
    let text = body(names[0]);
    let mut note = text.clone() + "\n";
    for (n, name) in names.iter().enumerate() {
        let key = SigningKey::from_seed(name, &[n as u8 + 1; 32]).unwrap();
        let signed = key.sign_note(&text);
        note.push_str(signed.lines().last().unwrap());
        note.push('\n');
    }
    note
}

fn base(kind: Kind, time: &str) -> AuditRecord {
    let mut r = AuditRecord::chain_start(
        "c1".into(),
        "inst-1".into(),
        policy_version("[server]\n"),
        time.into(),
    );
    r.kind = kind;
    r
}

fn request(time: &str, f: RequestFields) -> AuditRecord {
    let mut r = base(Kind::Request, time);
    r.request = Some(f);
    r
}

fn fields(provider: &str, jurisdiction: &str, decision: Decision) -> RequestFields {
    RequestFields {
        request_id: "r".into(),
        principal: "alice".into(),
        provider: Some(provider.into()),
        jurisdiction: Some(jurisdiction.into()),
        model: Some("m".into()),
        decision: Some(decision),
        status: 200,
        ..RequestFields::default()
    }
}

fn governance(openai_retention: Option<u32>) -> Governance {
    Governance {
        providers: BTreeMap::from([
            (
                "openai".into(),
                ProviderTerms {
                    jurisdiction: Some("US".into()),
                    region: Some("us".into()),
                    retention_days: openai_retention,
                    training_use: Some(false),
                    dpa: Some(true),
                    settings: vec!["store=false".into()],
                },
            ),
            ("ollama".into(), ProviderTerms::default()),
        ]),
        assistants: BTreeMap::from([(
            "recrutement".into(),
            AssistantInfo {
                owner: "rh".into(),
                purpose: "tri".into(),
                providers: vec!["mistral".into()],
                prefer_eu: true,
            },
        )]),
    }
}

/// A trail with every step-10 field: governance in the chain start (and a reload after
/// the period), an assistant, an EU-preference route, settings, risk, a leak, and a
/// checkpoint followed by two records.
fn trail() -> String {
    let mut start = base(Kind::ChainStart, "2026-05-01T00:00:00.000000Z");
    start.governance = Some(governance(Some(30)));
    let mut a = fields("openai", "US", Decision::Forwarded);
    a.settings = vec!["store=false".into(), "user=hashed".into()];
    a.findings_by_entity = BTreeMap::from([("PERSON".into(), 2)]);
    a.findings_by_nature = BTreeMap::from([("personal".into(), 2)]);
    a.findings_by_sensitivity = BTreeMap::from([("confidential".into(), 2)]);
    a.findings_by_action = BTreeMap::from([("pseudonymise".into(), 2)]);
    a.risk = Some(Risk {
        level: "medium".into(),
        persons: 1,
        quasi: BTreeMap::from([("LOCATION".into(), 1), ("DATE".into(), 1)]),
        action: Some("warned".into()),
    });
    a.answer_leaks = Some(AnswerLeaks {
        by_entity: BTreeMap::from([("EMAIL".into(), 2)]),
        values: vec![ValueHash {
            entity: "EMAIL".into(),
            hash: "ab".repeat(32),
        }],
        redacted: false,
    });
    a.usage = Some(Usage {
        input_tokens: 10,
        output_tokens: 5,
    });
    a.energy_uwh = Some(700);
    let mut b = fields("mistral", "FR", Decision::Routed);
    b.assistant = Some("recrutement".into());
    b.route_reason = Some("eu-preference".into());
    b.findings_by_entity = BTreeMap::from([("FR_NIR".into(), 1)]);
    b.findings_by_nature = BTreeMap::from([("special-category".into(), 1)]);
    b.risk = Some(Risk {
        level: "none".into(),
        persons: 0,
        quasi: BTreeMap::new(),
        action: None,
    });
    b.usage = Some(Usage {
        input_tokens: 3,
        output_tokens: 4,
    });
    b.energy_uwh = Some(300);
    let mut c = fields("openai", "US", Decision::Blocked);
    c.assistant = Some("recrutement".into());
    c.findings_by_entity = BTreeMap::from([("SECRET".into(), 1)]);
    c.findings_by_nature = BTreeMap::from([("secret".into(), 1)]);
    let d = fields("ollama", "local", Decision::Forwarded);
    let mut checkpoint = base(Kind::Checkpoint, "2026-05-02T12:00:00.000000Z");
    checkpoint.checkpoint = Some(
        "example.org/audit\n3\nAAAA\n\n\u{2014} audit-2026 c2ln\n\u{2014} witness c2ln\n".into(),
    );
    let mut reload = base(Kind::Reload, "2026-07-01T00:00:00.000000Z");
    reload.governance = Some(governance(None));
    seal_all(vec![
        start,
        request("2026-05-01T09:00:00.000000Z", a),
        request("2026-05-02T09:00:00.000000Z", b),
        checkpoint,
        request("2026-05-03T09:00:00.000000Z", c),
        request("2026-05-03T10:00:00.000000Z", d),
        reload,
    ])
}

fn may() -> TimeRange {
    TimeRange::parse(Some("2026-05-01"), Some("2026-05-31")).unwrap()
}

fn report(text: &str, range: &TimeRange) -> super::super::Report {
    build(&[("a.jsonl", text)], &[], range, "2026-06-01T00:00:00Z")
}

#[test]
fn requests_sent_are_counted_per_jurisdiction_with_their_class() {
    let r = report(&trail(), &may());
    assert!(r.integrity.verified);
    let got: Vec<(Option<&str>, &str, u64)> = r
        .evidence
        .sent_by_jurisdiction
        .iter()
        .map(|j| (j.jurisdiction.as_deref(), j.class, j.requests_sent))
        .collect();
    // The blocked request did not leave: openai counts one.
    assert_eq!(
        got,
        [
            (Some("FR"), "EU", 1),
            (Some("US"), "US", 1),
            (Some("local"), "local", 1)
        ]
    );
    assert_eq!(
        r.evidence.route_reasons,
        [Tally {
            key: "eu-preference".into(),
            requests: 1
        }]
    );
}

#[test]
fn the_terms_in_force_are_those_of_the_last_governance_record_before_the_period_ends() {
    let r = report(&trail(), &may());
    let e = &r.evidence;
    // The reload of July is after the period: May's terms are the chain start's.
    assert_eq!(e.governance_records, 1);
    let openai = e.providers.iter().find(|p| p.provider == "openai").unwrap();
    assert_eq!(openai.terms.as_ref().unwrap().retention_days, Some(30));
    assert!(openai.missing.is_empty());
    assert_eq!(openai.requests_sent, 1);
    let ollama = e.providers.iter().find(|p| p.provider == "ollama").unwrap();
    assert_eq!(ollama.missing, TERMS);
    // Used but named by no governance record: nothing declared.
    let mistral = e
        .providers
        .iter()
        .find(|p| p.provider == "mistral")
        .unwrap();
    assert_eq!((mistral.terms.is_none(), mistral.missing.len()), (true, 5));
    // Over the whole trail, the reload's terms are the last: retention undeclared.
    let all = report(&trail(), &TimeRange::default());
    assert_eq!(all.evidence.governance_records, 2);
    let openai = all
        .evidence
        .providers
        .iter()
        .find(|p| p.provider == "openai")
        .unwrap();
    assert_eq!(openai.missing, ["retention_days"]);
}

#[test]
fn leaks_risk_and_settings_are_summed_from_the_request_records() {
    let r = report(&trail(), &may());
    let e = &r.evidence;
    assert_eq!(
        (
            e.answer_leaks.requests_with_leaks,
            e.answer_leaks.requests_redacted,
            e.answer_leaks.requests_not_redacted
        ),
        (1, 0, 1)
    );
    assert_eq!(
        e.answer_leaks.by_entity,
        [Count {
            key: "EMAIL".into(),
            count: 2
        }]
    );
    let k = &e.risk;
    assert_eq!((k.requests_assessed, k.requests_sent_not_assessed), (2, 1));
    let levels: Vec<(&str, u64)> = k
        .by_level
        .iter()
        .map(|t| (t.key.as_str(), t.requests))
        .collect();
    assert_eq!(levels, [("none", 1), ("medium", 1)], "in level order");
    assert_eq!(k.by_action[0].key, "warned");
    assert_eq!(k.persons, 1);
    assert_eq!(k.quasi.len(), 2);
    assert_eq!(e.requests_with_settings, 1);
    let settings: Vec<&str> = e.settings.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(settings, ["store=false", "user=hashed"]);
}

#[test]
fn assistant_profiles_get_their_indicators_and_their_owner_from_governance() {
    let r = report(&trail(), &may());
    let e = &r.evidence;
    let [a] = e.assistants.as_slice() else {
        panic!("{:?}", e.assistants)
    };
    assert_eq!(a.name, "recrutement");
    assert_eq!(a.info.as_ref().unwrap().owner, "rh");
    assert_eq!((a.requests, a.blocked, a.findings), (2, 1, 2));
    assert_eq!(
        a.findings_by_nature,
        BTreeMap::from([("secret".into(), 1), ("special-category".into(), 1)])
    );
    assert_eq!(
        (a.input_tokens, a.output_tokens, a.energy_uwh),
        (Some(3), Some(4), Some(300))
    );
    assert_eq!(e.requests_without_assistant, 2);
}

#[test]
fn checkpoints_name_their_signers_and_the_unsigned_tail_of_each_chain() {
    let r = report(&trail(), &may());
    let c = &r.evidence.checkpoints;
    assert_eq!(c.records, 1);
    assert_eq!(c.signers, ["audit-2026", "witness"]);
    let [ch] = c.by_chain.as_slice() else {
        panic!("{:?}", c.by_chain)
    };
    // The checkpoint (seq 3) signs records 0–2; the checkpoint itself and the three
    // records after it are not signed yet.
    assert_eq!(
        (ch.checkpoints, ch.signed_records, ch.unsigned_tail),
        (1, Some(3), 4)
    );
}

#[test]
fn findings_by_nature_are_kept_per_day_and_charted_per_month_over_a_long_period() {
    let r = report(&trail(), &may());
    let days: Vec<&str> = r
        .evidence
        .findings_by_day
        .iter()
        .map(|d| d.key.as_str())
        .collect();
    assert_eq!(days, ["2026-05-01", "2026-05-02", "2026-05-03"]);
    let s = NatureSeries::of(&r.evidence.findings_by_day);
    assert!(!s.monthly);
    assert_eq!(s.buckets.len(), 3);
    // A gap of more than MAX_CHART_DAYS: months, those without findings at 0.
    let long = vec![
        NatureBucket {
            key: "2026-01-15".into(),
            by_nature: BTreeMap::from([("personal".into(), 2)]),
        },
        NatureBucket {
            key: "2026-04-02".into(),
            by_nature: BTreeMap::from([("personal".into(), 1), ("secret".into(), 5)]),
        },
    ];
    let s = NatureSeries::of(&long);
    assert!(s.monthly);
    assert_eq!(s.buckets, ["2026-01", "2026-02", "2026-03", "2026-04"]);
    assert_eq!(
        s.natures,
        [
            ("secret".to_owned(), vec![0, 0, 0, 5]),
            ("personal".to_owned(), vec![2, 0, 0, 1])
        ]
    );
}

#[test]
fn every_row_has_figures_from_a_trail_that_carries_every_field() {
    let r = report(&trail(), &may());
    for lang in [Lang::En, Lang::Fr] {
        let w = lang.words();
        let rows = rows(&r, w);
        assert_eq!(rows.len(), 15);
        for row in &rows {
            assert!(!row.no_data, "{lang:?}: {} has no data", row.topic);
            assert!(!row.figures.is_empty() && !row.source.is_empty());
        }
        let criteria: Vec<&str> = rows.iter().map(|r| r.criterion).collect();
        for c in ["C1", "C4", "C5", "C6", "C7"] {
            assert!(criteria.contains(&c), "{c}");
        }
    }
}

#[test]
fn a_trail_without_step_10_fields_says_no_data_rather_than_a_figure() {
    // A request of format 2: none of the fields the evidence reads.
    let text = seal_all(vec![
        base(Kind::ChainStart, "2026-05-01T00:00:00.000000Z"),
        request(
            "2026-05-01T09:00:00.000000Z",
            fields("openai", "US", Decision::Forwarded),
        ),
    ]);
    let r = report(&text, &TimeRange::default());
    let x = &words::EVIDENCE_EN;
    let rows = rows(&r, &words::EN);
    let no_data: Vec<&str> = rows.iter().filter(|r| r.no_data).map(|r| r.topic).collect();
    assert_eq!(
        no_data,
        [
            x.t_terms,
            x.t_eu_routes,
            x.t_energy,
            x.t_leaks,
            x.t_classification,
            x.t_pseudonymisation,
            x.t_risk,
            x.t_governance,
            x.t_settings,
            x.t_assistants,
            x.t_checkpoints
        ]
    );
    for row in rows.iter().filter(|r| r.no_data) {
        assert!(row.figures.is_empty(), "{}", row.topic);
    }
    let page = html::render(&r, Lang::En);
    assert_eq!(
        page.matches(x.no_data).count(),
        11 + 2,
        "rows, terms, profiles"
    );
    assert!(page.contains(x.no_leak));
    assert!(page.contains("No signed checkpoint in the files read: the chain can be checked by its hashes (<code>paravent audit verify</code>), not against a key."));
    let md = markdown::render(&r, Lang::Fr);
    assert!(md.contains(&format!("*{}*", words::EVIDENCE_FR.no_data)));
}

#[test]
fn the_html_evidence_section_comes_first_with_charts_that_have_alternatives_and_tables() {
    let r = report(&trail(), &may());
    let page = html::render(&r, Lang::En);
    let evidence = page.find("<h2 id=\"evidence\">Evidence</h2>").unwrap();
    assert!(evidence < page.find("<h2 id=\"summary\">").unwrap());
    for id in ["chart-nature", "chart-provider"] {
        assert!(
            page.contains(&format!(
                "<svg role=\"img\" aria-labelledby=\"{id}-title {id}-desc\""
            )),
            "{id}"
        );
        assert!(page.contains(&format!("<caption id=\"{id}-table-caption\">")));
    }
    // The text alternative states the trend; the bars are labelled, not only coloured.
    assert!(page.contains("personal 2 in total, at most 2 on 2026-05-01"));
    assert!(page.contains(">blocked 1</text>") && page.contains(">forwarded 1</text>"));
    assert!(page.contains("<code>findings_by_nature</code>"));
    assert!(page.contains("<li>per provider: openai: 700 µWh, mistral: 300 µWh</li>"));
    assert!(page.contains("<li>per model: m: 1.00 mWh</li>"));
    assert!(page.contains("<th scope=\"row\">recrutement</th><td>rh</td><td>tri</td>"));
    let fr = html::render(&r, Lang::Fr);
    assert!(fr.contains("<h2 id=\"evidence\">Preuves</h2>"));
    assert!(fr.contains("personnelle (personal)\u{a0}: 2 au total, au plus 2 le 2026-05-01"));
    assert!(fr.contains("FR (UE) — requêtes envoyées\u{a0}: 1 (33,3\u{202f}%)"));
}

#[test]
fn the_markdown_evidence_table_has_four_cells_a_row_and_code_for_field_names() {
    let r = report(&trail(), &may());
    for lang in [Lang::En, Lang::Fr] {
        let md = markdown::render(&r, lang);
        let x = lang.words().evidence();
        let start = md.find(&format!("## {}\n", x.title)).unwrap();
        let head = format!("| {} |", x.heads.join(" | "));
        let table = &md[md[start..].find(&head).unwrap() + start..];
        let rows: Vec<&str> = table.lines().take_while(|l| l.starts_with('|')).collect();
        assert_eq!(rows.len(), 2 + 15, "{lang:?}");
        for row in &rows {
            // Cells are split on unescaped pipes.
            assert_eq!(row.replace(r"\|", "").matches('|').count(), 5, "{row}");
        }
        assert!(md.contains("`answer_leaks`"), "{lang:?}");
        assert!(md.contains("`paravent audit verify --key"), "{lang:?}");
    }
}

#[test]
fn strings_from_governance_and_checkpoints_are_escaped() {
    let mut start = base(Kind::ChainStart, "2026-05-01T00:00:00.000000Z");
    let mut g = governance(Some(1));
    g.assistants.insert(
        "<script>x</script>".into(),
        AssistantInfo {
            owner: "<img src=x>".into(),
            purpose: "a|b `c`".into(),
            providers: vec![],
            prefer_eu: false,
        },
    );
    start.governance = Some(g);
    let mut f = fields("openai", "US", Decision::Forwarded);
    f.assistant = Some("<script>x</script>".into());
    let mut cp = base(Kind::Checkpoint, "2026-05-01T10:00:00.000000Z");
    cp.checkpoint = Some("o\n1\nAAAA\n\n\u{2014} <b>k</b> c2ln\n".into());
    let text = seal_all(vec![start, request("2026-05-01T09:00:00.000000Z", f), cp]);
    let r = report(&text, &TimeRange::default());
    let page = html::render(&r, Lang::En);
    for bad in ["<script>x", "<img src", "<b>k"] {
        assert!(!page.contains(bad), "{bad}");
    }
    assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
    let md = markdown::render(&r, Lang::En);
    assert!(!md.contains("<script>") && !md.contains("<b>k"));
    assert!(md.contains(r"a\|b \`c\`"), "{md}");
}

#[test]
fn a_file_skipped_outside_the_period_still_gives_its_governance_and_checkpoint() {
    let mut start = base(Kind::ChainStart, "2026-04-01T00:00:00.000000Z");
    start.governance = Some(governance(Some(30)));
    let mut cp = base(Kind::Checkpoint, "2026-04-30T00:00:00.000000Z");
    cp.checkpoint = Some("o\n2\nAAAA\n\n\u{2014} audit-2026 c2ln\n".into());
    let text = seal_all(vec![
        start,
        request(
            "2026-04-02T09:00:00.000000Z",
            fields("openai", "US", Decision::Forwarded),
        ),
        cp,
        request(
            "2026-05-02T09:00:00.000000Z",
            fields("openai", "US", Decision::Forwarded),
        ),
    ]);
    let lines: Vec<&str> = text.lines().collect();
    let range = may();
    let mut b = super::super::Builder::new::<&str>(&[], &range);
    // April's file is known by its two ends only (as `main` does with --since).
    b.skip("april.jsonl", lines[0], lines[2]);
    b.file("may.jsonl");
    b.push(lines[3]);
    let r = b.finish("now");
    assert!(r.integrity.verified, "{:?}", r.integrity.first_bad);
    assert_eq!(r.totals.requests, 1);
    let e = &r.evidence;
    assert_eq!((e.governance_records, e.checkpoints.records), (1, 1));
    assert_eq!(e.checkpoints.by_chain[0].unsigned_tail, 2);
    let rows = rows(&r, &words::EN);
    let terms = rows
        .iter()
        .find(|r| r.topic == words::EVIDENCE_EN.t_terms)
        .unwrap();
    assert!(!terms.no_data);
}
