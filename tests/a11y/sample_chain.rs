//! A synthetic audit chain for the report's tests: sealed records (so `audit verify`
//! passes) over three days, two instance starts, every decision, routes, refusals,
//! usage and energy on some records only, a value sent twice, and hostile strings in
//! the fields a user or a client controls (principal, team, model). It carries every
//! field the report's "Evidence" section reads (format 3): `governance` in the chain
//! starts, an assistant profile, a route chosen for EU preference, provider settings
//! enforced, residual risk levels and actions, a leak in an answer, and a signed
//! checkpoint (a synthetic signature: the report counts checkpoints, `audit verify
//! --key` checks them).
//!
//! Shared by tests/it/report.rs and examples/audit_sample.rs (which writes it for the
//! accessibility check, tests/a11y/run.sh). Every value is synthetic.

use std::collections::BTreeMap;

use paravent::audit::checkpoint::{Checkpoint, SigningKey};
use paravent::audit::{
    AnswerLeaks, AssistantInfo, AuditRecord, Decision, Governance, Kind, ProviderTerms,
    RequestFields, Risk, Usage, ValueHash, Would, anchor, policy_version,
};

/// A principal name an attacker could choose: the report must show it as text.
pub const HOSTILE: &str = "<img src=x onerror=alert(1)>\"'&|*[x](javascript:y)";

/// The providers' terms and the assistant profile in force (synthetic): `openai` declares
/// everything, `mistral` leaves its retention and DPA undeclared, `ollama` (declared,
/// unused) only its jurisdiction.
pub fn sample_governance() -> Governance {
    Governance {
        providers: BTreeMap::from([
            (
                "openai".into(),
                ProviderTerms {
                    jurisdiction: Some("US".into()),
                    region: Some("us-east".into()),
                    retention_days: Some(30),
                    training_use: Some(false),
                    dpa: Some(true),
                    settings: vec!["store=false".into(), "user=hashed".into()],
                },
            ),
            (
                "mistral".into(),
                ProviderTerms {
                    jurisdiction: Some("EU".into()),
                    region: Some("eu-west".into()),
                    training_use: Some(false),
                    ..ProviderTerms::default()
                },
            ),
            (
                "ollama".into(),
                ProviderTerms {
                    jurisdiction: Some("local".into()),
                    ..ProviderTerms::default()
                },
            ),
        ]),
        assistants: BTreeMap::from([(
            "recrutement".into(),
            AssistantInfo {
                owner: "DRH <rh@example.org>".into(),
                purpose: "Tri des candidatures".into(),
                providers: vec!["mistral".into(), "openai".into()],
                prefer_eu: true,
            },
        )]),
    }
}

/// A checkpoint note (C2SP signed-note, tlog-checkpoint body) over `size` records whose
/// last hash is `head` (hex), with a synthetic signature line.
fn checkpoint_note(instance_id: &str, chain_id: &str, size: u64, head: &str) -> String {
    let head: Vec<u8> = (0..head.len() / 2)
        .map(|i| u8::from_str_radix(&head[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let key = SigningKey::from_seed("paravent-audit-2026", &[7u8; 32]).expect("key");
    let body = Checkpoint {
        origin: Checkpoint::origin_of(key.name(), instance_id, chain_id),
        size,
        head: head.try_into().expect("32 bytes"),
    }
    .body();
    key.sign_note(&body)
}

/// The chain as file text, one record per line.
pub fn sample_chain() -> String {
    let policy = policy_version("[server]\nlisten = \"127.0.0.1:8080\"\n");
    let mut out = String::new();
    let mut prev = anchor("chain-a");
    let mut seal = |r: &mut AuditRecord, prev: &mut String| {
        out.push_str(&r.seal(prev).expect("seal"));
        out.push('\n');
        *prev = r.hash.clone().expect("sealed");
    };
    let nir = ValueHash {
        entity: "FR_NIR".into(),
        hash: "1f".repeat(32),
    };
    let email = ValueHash {
        entity: "EMAIL".into(),
        hash: "2e".repeat(32),
    };
    let mut seq = 0u64;
    let mut chain_id = "chain-a";
    let mut start = AuditRecord::chain_start(
        chain_id.into(),
        "paravent-1".into(),
        policy.clone(),
        "2026-05-04T07:59:00.000000Z".into(),
    );
    start.governance = Some(sample_governance());
    seal(&mut start, &mut prev);
    let mut base = start.clone();
    base.governance = None;
    for (i, (time, principal, team, decision)) in [
        (
            "2026-05-04T08:00:00.000000Z",
            "alice",
            Some("finance"),
            Decision::Forwarded,
        ),
        (
            "2026-05-04T09:30:00.000000Z",
            "alice",
            Some("finance"),
            Decision::Forwarded,
        ),
        (
            "2026-05-04T10:15:00.000000Z",
            "bob",
            Some("rh"),
            Decision::Routed,
        ),
        (
            "2026-05-05T11:00:00.000000Z",
            HOSTILE,
            None,
            Decision::Blocked,
        ),
        ("restart", "", None, Decision::Forwarded),
        (
            "2026-05-05T14:00:00.000000Z",
            "key:3fa2c1",
            None,
            Decision::Refused,
        ),
        (
            "2026-05-06T16:45:00.000000Z",
            "bob",
            Some("rh"),
            Decision::Forwarded,
        ),
        (
            "2026-05-06T17:00:00.000000Z",
            "carol",
            Some("<b>legal</b>"),
            Decision::Blocked,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        if time == "restart" {
            // The first chain's last records signed by a checkpoint (size = its seq).
            seq += 1;
            let mut c = base.clone();
            c.kind = Kind::Checkpoint;
            c.seq = seq;
            c.time = "2026-05-05T11:59:00.000000Z".into();
            c.checkpoint = Some(checkpoint_note(&c.instance_id, chain_id, seq, &prev));
            seal(&mut c, &mut prev);
            // A second instance start continues the file's chain from its last hash.
            chain_id = "chain-b";
            seq = 0;
            let mut s = AuditRecord::chain_start(
                chain_id.into(),
                "paravent-2".into(),
                policy.clone(),
                "2026-05-05T12:00:00.000000Z".into(),
            );
            s.governance = Some(sample_governance());
            seal(&mut s, &mut prev);
            base = s;
            base.governance = None;
            continue;
        }
        seq += 1;
        let mut f = RequestFields {
            request_id: format!("pv-2026-{i:04}"),
            principal: principal.into(),
            team: team.map(str::to_owned),
            provider: Some("openai".into()),
            jurisdiction: Some("US".into()),
            model: Some("gpt-4o-mini".into()),
            endpoint: Some("openai.chat".into()),
            streamed: i % 2 == 0,
            decision: Some(decision),
            rule: Some("builtin.pseudonymise".into()),
            status: 200,
            upstream_status: Some(200),
            bytes_in: 1_200 + 100 * i as u64,
            bytes_out: 800 + 10 * i as u64,
            latency_us: 250_000,
            upstream_latency_us: Some(240_000),
            findings_by_entity: BTreeMap::from([("PERSON".into(), 1), ("EMAIL".into(), 1)]),
            findings_by_nature: BTreeMap::from([("personal".into(), 2)]),
            findings_by_sensitivity: BTreeMap::from([("confidential".into(), 2)]),
            findings_by_action: BTreeMap::from([("pseudonymise".into(), 2)]),
            findings_by_rule: BTreeMap::from([("builtin.pseudonymise".into(), 2)]),
            values: vec![email.clone()],
            usage: Some(Usage {
                input_tokens: 300 + i as u64,
                output_tokens: 120,
            }),
            energy_uwh: Some(90_000 + 1_000 * i as u64),
            ..RequestFields::default()
        };
        // Evidence fields: the profile on alice's and bob's requests, settings on what
        // went to openai, a risk level on every request sent.
        if matches!(principal, "alice" | "bob") {
            f.assistant = Some("recrutement".into());
        }
        if matches!(decision, Decision::Forwarded) {
            f.settings = vec!["store=false".into(), "user=hashed".into()];
            f.risk = Some(Risk {
                level: match i {
                    0 => "none",
                    6 => "medium",
                    _ => "low",
                }
                .into(),
                persons: 1,
                quasi: if i == 0 {
                    BTreeMap::new()
                } else {
                    BTreeMap::from([("LOCATION".into(), 1)])
                },
                action: (i == 6).then(|| "warned".into()),
            });
        }
        if i == 0 {
            // The model answered with an e-mail address the request did not hold.
            f.answer_leaks = Some(AnswerLeaks {
                by_entity: BTreeMap::from([("EMAIL".into(), 1)]),
                values: vec![ValueHash {
                    entity: "EMAIL".into(),
                    hash: "3d".repeat(32),
                }],
                redacted: true,
            });
        }
        match decision {
            Decision::Routed => {
                f.route_reason = Some("eu-preference".into());
                f.risk = Some(Risk {
                    level: "high".into(),
                    persons: 2,
                    quasi: BTreeMap::from([
                        ("DATE".into(), 1),
                        ("JOB_TITLE".into(), 1),
                        ("LOCATION".into(), 2),
                    ]),
                    action: Some("pseudonymised-quasi".into()),
                });
                f.requested_provider = Some("openai".into());
                f.provider = Some("mistral".into());
                f.jurisdiction = Some("EU".into());
                f.model = Some("<i>mistral-large</i>".into());
                f.rule = Some("health-data-eu-only".into());
                f.findings_by_entity.insert("FR_NIR".into(), 1);
                f.findings_by_nature.insert("special-category".into(), 1);
                f.findings_by_sensitivity.insert("secret".into(), 1);
                f.findings_by_action.insert("route".into(), 1);
                f.values.push(nir.clone());
                f.usage = None;
                f.energy_uwh = None;
            }
            Decision::Blocked => {
                f.rule = Some("secrets-blocked".into());
                f.refusal = Some("paravent_policy_block".into());
                f.status = 403;
                f.upstream_status = None;
                f.upstream_latency_us = None;
                f.findings_by_entity = BTreeMap::from([("SECRET".into(), 1)]);
                f.findings_by_nature = BTreeMap::from([("secret".into(), 1)]);
                f.findings_by_sensitivity = BTreeMap::from([("secret".into(), 1)]);
                f.findings_by_action = BTreeMap::from([("block".into(), 1)]);
                f.findings_by_rule = BTreeMap::from([("secrets-blocked".into(), 1)]);
                f.values = vec![];
                f.bytes_out = 0;
                f.usage = None;
                f.energy_uwh = None;
            }
            Decision::Refused => {
                f.provider = None;
                f.jurisdiction = None;
                f.model = None;
                f.rule = None;
                f.refusal = Some("paravent_unknown_provider".into());
                f.status = 404;
                f.upstream_status = None;
                f.upstream_latency_us = None;
                f.findings_by_entity.clear();
                f.findings_by_nature.clear();
                f.findings_by_sensitivity.clear();
                f.findings_by_action.clear();
                f.findings_by_rule.clear();
                f.values = vec![];
                f.usage = None;
                f.energy_uwh = None;
            }
            Decision::Forwarded => {
                if i == 1 {
                    f.values.push(nir.clone());
                }
            }
        }
        if decision == Decision::Forwarded && (i == 1 || i == 6) {
            // Observe mode: forwarded as sent; what enforcement would have done (the
            // NIR sent at i = 1 would have been blocked).
            let blocked = i == 1;
            f.mode = Some("observe".into());
            f.rule = None;
            f.would = Some(Would {
                decision: if blocked {
                    Decision::Blocked
                } else {
                    Decision::Forwarded
                },
                rule: Some(
                    if blocked {
                        "<b>nir</b>-never-to-us"
                    } else {
                        "builtin.default"
                    }
                    .into(),
                ),
                refusal: blocked.then(|| "paravent_policy_block".into()),
                provider: None,
                findings_by_action: std::mem::take(&mut f.findings_by_action),
                findings_by_rule: std::mem::take(&mut f.findings_by_rule),
                pseudonymised: if blocked {
                    BTreeMap::new()
                } else {
                    BTreeMap::from([("PERSON".into(), 1), ("EMAIL".into(), 1)])
                },
                redacted: BTreeMap::new(),
            });
        }
        let mut r = base.clone();
        r.kind = Kind::Request;
        r.seq = seq;
        r.time = time.into();
        r.chain_id = chain_id.into();
        r.request = Some(f);
        seal(&mut r, &mut prev);
    }
    out
}

/// A long sealed chain of `n` requests, about 50 a day from 2026-01-01, from 40
/// principals in 5 teams, to 3 providers, with every decision: for figures and charts
/// at scale (`audit_sample OUT N`, the report's timing in docs/REPORT.md).
#[allow(dead_code)] // by tests/it/report.rs; the example writes the stream
pub fn bulk_chain(n: usize) -> String {
    let mut out = Vec::with_capacity(n * 1_100);
    // 29 minutes apart: about 50 a day.
    write_bulk_chain(&mut out, n, 29 * 60_000_000, 500).expect("writing to memory");
    String::from_utf8(out).expect("records are UTF-8")
}

/// Writes [`bulk_chain`]'s records one at a time to `out`, `step_us` microseconds apart,
/// sending `distinct` different values: nothing is held, so it can write ten million.
pub fn write_bulk_chain(
    out: &mut impl std::io::Write,
    n: usize,
    step_us: u64,
    distinct: usize,
) -> std::io::Result<()> {
    const PROVIDERS: [(&str, &str); 3] = [("openai", "US"), ("mistral", "EU"), ("ollama", "EU")];
    let mut start = AuditRecord::chain_start(
        "bulk".into(),
        "paravent-bulk".into(),
        policy_version("[server]\n"),
        "2026-01-01T00:00:00.000000Z".into(),
    );
    let mut prev = anchor("bulk");
    writeln!(out, "{}", start.seal(&prev).expect("seal"))?;
    prev = start.hash.clone().expect("sealed");
    for i in 0..n {
        let date = paravent::audit::rfc3339(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_secs(1_767_225_600)
                + std::time::Duration::from_micros(i as u64 * step_us),
        );
        let (provider, jurisdiction) = PROVIDERS[i % 3];
        let decision = match i % 20 {
            0 => Decision::Blocked,
            1 => Decision::Refused,
            2 | 3 => Decision::Routed,
            _ => Decision::Forwarded,
        };
        let sent = matches!(decision, Decision::Forwarded | Decision::Routed);
        let f = RequestFields {
            request_id: format!("pv-bulk-{i:07}"),
            principal: format!("user{:02}", i % 40),
            team: Some(format!("team{}", i % 5)),
            provider: Some(provider.into()),
            requested_provider: (decision == Decision::Routed).then(|| "openai".into()),
            jurisdiction: Some(jurisdiction.into()),
            model: Some(format!("{provider}-model")),
            endpoint: Some("openai.chat".into()),
            decision: Some(decision),
            rule: Some(
                match decision {
                    Decision::Blocked => "secrets-blocked",
                    Decision::Routed => "health-data-eu-only",
                    _ => "builtin.pseudonymise",
                }
                .into(),
            ),
            refusal: match decision {
                Decision::Blocked => Some("paravent_policy_block".into()),
                Decision::Refused => Some("paravent_body_too_large".into()),
                _ => None,
            },
            findings_by_entity: BTreeMap::from([("PERSON".into(), 1 + i as u64 % 3)]),
            findings_by_nature: BTreeMap::from([("personal".into(), 1 + i as u64 % 3)]),
            findings_by_sensitivity: BTreeMap::from([("confidential".into(), 1 + i as u64 % 3)]),
            findings_by_action: BTreeMap::from([("pseudonymise".into(), 1 + i as u64 % 3)]),
            values: vec![ValueHash {
                entity: "PERSON".into(),
                hash: format!("{:064x}", i.wrapping_mul(7_919) % distinct.max(1)),
            }],
            bytes_in: 2_000,
            bytes_out: if sent { 1_000 } else { 0 },
            usage: sent.then_some(Usage {
                input_tokens: 400,
                output_tokens: 150,
            }),
            energy_uwh: sent.then_some(120_000),
            latency_us: 300_000,
            status: if sent { 200 } else { 403 },
            ..RequestFields::default()
        };
        let mut r = start.clone();
        r.kind = Kind::Request;
        r.seq = i as u64 + 1;
        r.time = date;
        r.request = Some(f);
        writeln!(out, "{}", r.seal(&prev).expect("seal"))?;
        prev = r.hash.clone().expect("sealed");
    }
    out.flush()
}
