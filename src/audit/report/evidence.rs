//! \[pure\] The report's "Evidence" section: what a proxy can evidence of the competence
//! framework for responsible use of generative AI (C1 sovereignty and environmental
//! impact, C4 leaks in answers, C5 classification, pseudonymisation and its verified
//! effectiveness, provider governance and tool settings, C7 assistant profiles, the
//! trail's integrity), each figure with the record fields it comes from.
//!
//! `EvidenceFold` reads records one at a time like the rest of the report: per record
//! it does O(1) work over the record's own fields, and it keeps maps bounded by what the
//! configuration defines (providers, assistants, settings, risk levels, natures, days),
//! never by the number of records. It never invents a figure: a field no record of the
//! period carries is reported as absent (`None`, or an empty list), and the renderers say
//! "no data in this period".

use std::collections::BTreeMap;

use serde::Serialize;

use super::words::Words;
use super::{Group, Report, Tally};
use crate::audit::{AssistantInfo, AuditRecord, Decision, Governance, Kind, RequestFields};

/// Distinct checkpoint signer names kept (more are counted, not named).
const MAX_SIGNERS: usize = 16;

/// The figures of the evidence section (in the JSON report under `evidence`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// C1: requests sent (forwarded or routed) per jurisdiction of the provider used,
    /// with its class (`EU`, `US`, `local`, `other`, `not-reported`).
    pub sent_by_jurisdiction: Vec<JurisdictionShare>,
    /// C1, C7: requests per `route_reason` (`eu-preference`, `profile`, `policy`,
    /// `max-sensitivity`); requests sent where the client asked have none.
    pub route_reasons: Vec<Tally>,
    /// C1, C5: each provider's declared terms, from the last `governance` record read
    /// that was written before the period's end, and the requests it got in the period.
    pub providers: Vec<ProviderEvidence>,
    /// `governance` records read (in `chain-start`, `file-start`, `reload` records) up to
    /// the period's end.
    pub governance_records: u64,
    /// C4: personal data in answers that was not in the request.
    pub answer_leaks: LeakEvidence,
    /// C5: the residual re-identification risk of what left.
    pub risk: RiskEvidence,
    /// C5: requests per provider setting enforced (`store=false`…), and how many
    /// requests had at least one.
    pub settings: Vec<Tally>,
    pub requests_with_settings: u64,
    /// C7: per assistant profile (requests naming it, and its owner and purpose from
    /// `governance`).
    pub assistants: Vec<AssistantEvidence>,
    pub requests_without_assistant: u64,
    /// Integrity: the signed checkpoints read.
    pub checkpoints: CheckpointEvidence,
    /// Findings per UTC day and nature, oldest first (the chart "findings by nature over
    /// time"; months are summed from it).
    pub findings_by_day: Vec<NatureBucket>,
}

/// Requests sent to one jurisdiction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JurisdictionShare {
    /// As the records say it (`null`: not reported).
    pub jurisdiction: Option<String>,
    /// `EU` (the EU or one of its member states), `US`, `local`, `other`, `not-reported`.
    pub class: &'static str,
    pub requests_sent: u64,
}

/// A provider's declared terms and its requests in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderEvidence {
    pub provider: String,
    /// Requests sent to it in the period (forwarded or routed).
    pub requests_sent: u64,
    /// `null` when no `governance` record names this provider.
    pub terms: Option<crate::audit::ProviderTerms>,
    /// The terms the provider does not declare, of `jurisdiction`, `region`,
    /// `retention_days`, `training_use`, `dpa` (all of them when `terms` is `null`).
    pub missing: Vec<&'static str>,
}

/// Leaks in answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LeakEvidence {
    /// Requests whose record has `answer_leaks` with at least one value.
    pub requests_with_leaks: u64,
    /// Of those, answers where the leaked values were redacted, and where they were not.
    pub requests_redacted: u64,
    pub requests_not_redacted: u64,
    /// Leaked values per entity (sum of `answer_leaks.by_entity`).
    pub by_entity: Vec<Count>,
}

/// Residual re-identification risk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RiskEvidence {
    /// Requests whose record has `risk`, and requests sent without it.
    pub requests_assessed: u64,
    pub requests_sent_not_assessed: u64,
    /// Requests per level, in the order none, low, medium, high, then any other.
    pub by_level: Vec<Tally>,
    /// Requests per `risk.action` (`pseudonymised-quasi`, `warned`, `blocked`).
    pub by_action: Vec<Tally>,
    /// Person references that left (sum of `risk.persons`).
    pub persons: u64,
    /// Quasi-identifiers left in clear near them, per kind (sum of `risk.quasi`).
    pub quasi: Vec<Count>,
}

/// A sum of counts per key (values, quasi-identifiers), most first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub key: String,
    pub count: u64,
}

/// One assistant profile's indicators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssistantEvidence {
    pub name: String,
    /// From the last `governance` record naming it; `null` when none does.
    pub info: Option<AssistantInfo>,
    pub requests: u64,
    pub blocked: u64,
    pub findings: u64,
    pub findings_by_nature: BTreeMap<String, u64>,
    /// `null` when no request of the profile reported usage / an energy estimate.
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub energy_uwh: Option<u64>,
}

/// Signed checkpoints in the files read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckpointEvidence {
    /// `checkpoint` records read (all files read, whatever the period).
    pub records: u64,
    /// The key names that signed them (the first `MAX_SIGNERS`, 16, distinct ones).
    pub signers: Vec<String>,
    /// Per chain: its checkpoints and the records after the last one (not signed yet).
    pub by_chain: Vec<ChainCheckpoints>,
}

/// One chain's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainCheckpoints {
    pub chain_id: String,
    pub instance_id: String,
    pub checkpoints: u64,
    /// Records the last checkpoint signs (its `seq`), when there is one.
    pub signed_records: Option<u64>,
    /// Records of the chain read after them (all of them without a checkpoint).
    pub unsigned_tail: u64,
}

/// Findings of one day (or month) per nature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NatureBucket {
    pub key: String,
    pub by_nature: BTreeMap<String, u64>,
}

/// The EU and its member states' ISO 3166 codes: a jurisdiction of class `EU`.
const EU: [&str; 28] = [
    "EU", "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE",
    "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The class of a recorded jurisdiction.
///
/// ```
/// use paravent::audit::report::evidence::jurisdiction_class;
/// assert_eq!(jurisdiction_class(Some("FR")), "EU");
/// assert_eq!(jurisdiction_class(Some("local")), "local");
/// assert_eq!(jurisdiction_class(Some("CH")), "other");
/// assert_eq!(jurisdiction_class(None), "not-reported");
/// ```
pub fn jurisdiction_class(j: Option<&str>) -> &'static str {
    match j {
        None => "not-reported",
        Some(j) if EU.contains(&j) => "EU",
        Some("US") => "US",
        Some(j) if j.eq_ignore_ascii_case("local") => "local",
        Some(_) => "other",
    }
}

/// The order of risk levels in [`RiskEvidence::by_level`].
const LEVELS: [&str; 4] = ["none", "low", "medium", "high"];

#[derive(Debug, Default)]
struct AssistantSums {
    requests: u64,
    blocked: u64,
    findings: u64,
    by_nature: BTreeMap<String, u64>,
    tokens: Option<(u64, u64)>,
    energy_uwh: Option<u64>,
}

#[derive(Debug, Default)]
struct ChainSums {
    instance_id: String,
    checkpoints: u64,
    signed: Option<u64>,
    last_seq: u64,
}

/// The evidence in progress, one record at a time.
#[derive(Debug, Default)]
pub(super) struct EvidenceFold {
    governance: Option<(i64, Governance)>,
    governance_records: u64,
    route_reasons: BTreeMap<String, u64>,
    settings: BTreeMap<String, u64>,
    requests_with_settings: u64,
    leaks: LeakEvidence,
    leaks_by_entity: BTreeMap<String, u64>,
    risk_assessed: u64,
    risk_sent_not_assessed: u64,
    risk_levels: BTreeMap<String, u64>,
    risk_actions: BTreeMap<String, u64>,
    risk_persons: u64,
    risk_quasi: BTreeMap<String, u64>,
    assistants: BTreeMap<String, AssistantSums>,
    without_assistant: u64,
    checkpoints: u64,
    signers: Vec<String>,
    chains: BTreeMap<String, ChainSums>,
    by_day: BTreeMap<String, BTreeMap<String, u64>>,
}

impl EvidenceFold {
    /// Any record read (whatever its time): governance before the period's end
    /// (`before_end`), checkpoints and chain positions.
    pub(super) fn record(&mut self, rec: &AuditRecord, time_us: Option<i64>, before_end: bool) {
        // Looked up before inserting: no allocation per record once a chain is known.
        if !self.chains.contains_key(&rec.chain_id) {
            self.chains.insert(
                rec.chain_id.clone(),
                ChainSums {
                    instance_id: rec.instance_id.clone(),
                    ..ChainSums::default()
                },
            );
        }
        let Some(chain) = self.chains.get_mut(&rec.chain_id) else {
            return;
        };
        chain.last_seq = chain.last_seq.max(rec.seq);
        if rec.kind == Kind::Checkpoint {
            self.checkpoints += 1;
            chain.checkpoints += 1;
            chain.signed = Some(chain.signed.unwrap_or(0).max(rec.seq));
            if let Some(note) = &rec.checkpoint {
                for name in signers(note) {
                    if self.signers.len() < MAX_SIGNERS && !self.signers.iter().any(|s| s == name) {
                        self.signers.push(name.to_owned());
                    }
                }
            }
        }
        if let Some(g) = &rec.governance
            && before_end
        {
            self.governance_records += 1;
            let t = time_us.unwrap_or(i64::MIN);
            if self.governance.as_ref().is_none_or(|(last, _)| t >= *last) {
                self.governance = Some((t, g.clone()));
            }
        }
    }

    /// A request record of the period.
    pub(super) fn request(&mut self, req: &RequestFields, day: Option<&str>) {
        let sent = matches!(req.decision, Some(Decision::Forwarded | Decision::Routed));
        if let Some(r) = &req.route_reason {
            *self.route_reasons.entry(r.clone()).or_default() += 1;
        }
        if !req.settings.is_empty() {
            self.requests_with_settings += 1;
            for s in &req.settings {
                *self.settings.entry(s.clone()).or_default() += 1;
            }
        }
        if let Some(l) = &req.answer_leaks
            && (!l.by_entity.is_empty() || !l.values.is_empty())
        {
            self.leaks.requests_with_leaks += 1;
            if l.redacted {
                self.leaks.requests_redacted += 1;
            } else {
                self.leaks.requests_not_redacted += 1;
            }
            for (e, n) in &l.by_entity {
                *self.leaks_by_entity.entry(e.clone()).or_default() += n;
            }
        }
        match &req.risk {
            Some(r) => {
                self.risk_assessed += 1;
                *self.risk_levels.entry(r.level.clone()).or_default() += 1;
                if let Some(a) = &r.action {
                    *self.risk_actions.entry(a.clone()).or_default() += 1;
                }
                self.risk_persons += r.persons;
                for (k, n) in &r.quasi {
                    *self.risk_quasi.entry(k.clone()).or_default() += n;
                }
            }
            None => self.risk_sent_not_assessed += u64::from(sent),
        }
        match &req.assistant {
            Some(name) => {
                let a = self.assistants.entry(name.clone()).or_default();
                a.requests += 1;
                a.blocked += u64::from(req.decision == Some(Decision::Blocked));
                a.findings += req.findings_by_entity.values().sum::<u64>();
                for (k, n) in &req.findings_by_nature {
                    *a.by_nature.entry(k.clone()).or_default() += n;
                }
                if let Some(u) = req.usage {
                    let (i, o) = a.tokens.unwrap_or_default();
                    a.tokens = Some((i + u.input_tokens, o + u.output_tokens));
                }
                if let Some(e) = req.energy_uwh {
                    a.energy_uwh = Some(a.energy_uwh.unwrap_or(0) + e);
                }
            }
            None => self.without_assistant += 1,
        }
        if let Some(day) = day
            && !req.findings_by_nature.is_empty()
        {
            if !self.by_day.contains_key(day) {
                self.by_day.insert(day.to_owned(), BTreeMap::new());
            }
            let Some(d) = self.by_day.get_mut(day) else {
                return;
            };
            for (k, n) in &req.findings_by_nature {
                *d.entry(k.clone()).or_default() += n;
            }
        }
    }

    /// The figures; `by_provider` and `by_jurisdiction` are the report's own groups.
    pub(super) fn finish(self, by_provider: &[Group], by_jurisdiction: &[Group]) -> Evidence {
        let governance = self.governance.map(|g| g.1);
        let mut sent_by_jurisdiction: Vec<JurisdictionShare> = by_jurisdiction
            .iter()
            .filter(|g| g.forwarded + g.routed > 0)
            .map(|g| JurisdictionShare {
                jurisdiction: g.key.clone(),
                class: jurisdiction_class(g.key.as_deref()),
                requests_sent: g.forwarded + g.routed,
            })
            .collect();
        // Most sent first, then by name (not reported last among equals).
        sent_by_jurisdiction.sort_by(|a, b| {
            (
                std::cmp::Reverse(a.requests_sent),
                a.jurisdiction.is_none(),
                &a.jurisdiction,
            )
                .cmp(&(
                    std::cmp::Reverse(b.requests_sent),
                    b.jurisdiction.is_none(),
                    &b.jurisdiction,
                ))
        });
        // Providers used in the period, then those only declared, by name.
        let mut providers: BTreeMap<String, ProviderEvidence> = BTreeMap::new();
        for g in by_provider {
            let Some(name) = &g.key else { continue };
            providers.insert(
                name.clone(),
                ProviderEvidence {
                    provider: name.clone(),
                    requests_sent: g.forwarded + g.routed,
                    terms: None,
                    missing: Vec::new(),
                },
            );
        }
        if let Some(g) = &governance {
            for (name, terms) in &g.providers {
                providers
                    .entry(name.clone())
                    .or_insert_with(|| ProviderEvidence {
                        provider: name.clone(),
                        requests_sent: 0,
                        terms: None,
                        missing: Vec::new(),
                    })
                    .terms = Some(terms.clone());
            }
        }
        let providers = providers
            .into_values()
            .map(|mut p| {
                p.missing = missing_terms(p.terms.as_ref());
                p
            })
            .collect();
        let assistant_info = |name: &str| {
            governance
                .as_ref()
                .and_then(|g| g.assistants.get(name).cloned())
        };
        let mut assistants: BTreeMap<String, AssistantEvidence> = self
            .assistants
            .into_iter()
            .map(|(name, a)| {
                let ev = AssistantEvidence {
                    info: assistant_info(&name),
                    name: name.clone(),
                    requests: a.requests,
                    blocked: a.blocked,
                    findings: a.findings,
                    findings_by_nature: a.by_nature,
                    input_tokens: a.tokens.map(|t| t.0),
                    output_tokens: a.tokens.map(|t| t.1),
                    energy_uwh: a.energy_uwh,
                };
                (name, ev)
            })
            .collect();
        // Profiles declared but unused in the period: their indicators are zero.
        if let Some(g) = &governance {
            for (name, info) in &g.assistants {
                assistants
                    .entry(name.clone())
                    .or_insert_with(|| AssistantEvidence {
                        name: name.clone(),
                        info: Some(info.clone()),
                        requests: 0,
                        blocked: 0,
                        findings: 0,
                        findings_by_nature: BTreeMap::new(),
                        input_tokens: None,
                        output_tokens: None,
                        energy_uwh: None,
                    });
            }
        }
        let mut assistants: Vec<AssistantEvidence> = assistants.into_values().collect();
        assistants.sort_by_key(|a| std::cmp::Reverse(a.requests));
        let mut by_level: Vec<Tally> = LEVELS
            .iter()
            .filter_map(|l| {
                self.risk_levels.get(*l).map(|n| Tally {
                    key: (*l).to_owned(),
                    requests: *n,
                })
            })
            .collect();
        by_level.extend(
            self.risk_levels
                .iter()
                .filter(|(k, _)| !LEVELS.contains(&k.as_str()))
                .map(|(k, n)| Tally {
                    key: k.clone(),
                    requests: *n,
                }),
        );
        let by_chain = self
            .chains
            .into_iter()
            .map(|(chain_id, c)| ChainCheckpoints {
                chain_id,
                instance_id: c.instance_id,
                checkpoints: c.checkpoints,
                signed_records: c.signed,
                unsigned_tail: (c.last_seq + 1).saturating_sub(c.signed.unwrap_or(0)),
            })
            .collect();
        Evidence {
            sent_by_jurisdiction,
            route_reasons: tallies(self.route_reasons),
            providers,
            governance_records: self.governance_records,
            answer_leaks: LeakEvidence {
                by_entity: counts(self.leaks_by_entity),
                ..self.leaks
            },
            risk: RiskEvidence {
                requests_assessed: self.risk_assessed,
                requests_sent_not_assessed: self.risk_sent_not_assessed,
                by_level,
                by_action: tallies(self.risk_actions),
                persons: self.risk_persons,
                quasi: counts(self.risk_quasi),
            },
            settings: tallies(self.settings),
            requests_with_settings: self.requests_with_settings,
            assistants,
            requests_without_assistant: self.without_assistant,
            checkpoints: CheckpointEvidence {
                records: self.checkpoints,
                signers: self.signers,
                by_chain,
            },
            findings_by_day: self
                .by_day
                .into_iter()
                .map(|(key, by_nature)| NatureBucket { key, by_nature })
                .collect(),
        }
    }
}

/// The terms a provider leaves undeclared.
fn missing_terms(t: Option<&crate::audit::ProviderTerms>) -> Vec<&'static str> {
    let Some(t) = t else {
        return TERMS.to_vec();
    };
    [
        t.jurisdiction.is_none(),
        t.region.is_none(),
        t.retention_days.is_none(),
        t.training_use.is_none(),
        t.dpa.is_none(),
    ]
    .into_iter()
    .zip(TERMS)
    .filter_map(|(missing, name)| missing.then_some(name))
    .collect()
}

/// The declared terms, in the order of [`crate::audit::ProviderTerms`].
pub const TERMS: [&str; 5] = [
    "jurisdiction",
    "region",
    "retention_days",
    "training_use",
    "dpa",
];

/// The key names of a signed note's signature lines (`— NAME BASE64`, C2SP
/// signed-note), after its blank line.
///
/// ```
/// use paravent::audit::report::evidence::signers;
/// let note = "example.org/log\n3\nAAAA\n\n\u{2014} audit-key-2026 c2lnbmF0dXJl\n";
/// assert_eq!(signers(note).collect::<Vec<_>>(), ["audit-key-2026"]);
/// ```
pub fn signers(note: &str) -> impl Iterator<Item = &str> {
    let sigs = note.split_once("\n\n").map_or("", |(_, s)| s);
    sigs.lines().filter_map(|l| {
        l.strip_prefix("\u{2014} ")
            .and_then(|rest| rest.split(' ').next())
            .filter(|n| !n.is_empty())
    })
}

/// Counts most first, then by key.
fn counts(map: BTreeMap<String, u64>) -> Vec<Count> {
    let mut v: Vec<Count> = map
        .into_iter()
        .map(|(key, count)| Count { key, count })
        .collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.count));
    v
}

/// Tallies most first, then by key.
fn tallies(map: BTreeMap<String, u64>) -> Vec<Tally> {
    let mut v: Vec<Tally> = map
        .into_iter()
        .map(|(key, requests)| Tally { key, requests })
        .collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.requests));
    v
}

/// The findings per nature of [`Evidence::findings_by_day`] in month buckets
/// (`2026-05`), oldest first.
pub fn by_month(days: &[NatureBucket]) -> Vec<NatureBucket> {
    let mut months: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for d in days {
        let m = months
            .entry(d.key[..d.key.len().min(7)].to_owned())
            .or_default();
        for (k, n) in &d.by_nature {
            *m.entry(k.clone()).or_default() += n;
        }
    }
    months
        .into_iter()
        .map(|(key, by_nature)| NatureBucket { key, by_nature })
        .collect()
}

/// One row of the evidence table, in the report's language, not escaped. In `source`
/// and `note` (fixed wording), text between backticks is code (a field name, a
/// command), which the renderers mark as such; `figures` hold record values and are
/// plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `C1`…`C7`, or empty for integrity and what a proxy cannot evidence.
    pub criterion: &'static str,
    pub topic: &'static str,
    /// The figures, one per line; empty with `no_data`.
    pub figures: Vec<String>,
    pub source: &'static str,
    /// The trail holds nothing for this row in the period: the renderers say so.
    pub no_data: bool,
    /// A sentence after the figures (or after "no data"): what the absence means, or how
    /// an auditor checks them.
    pub note: Option<&'static str>,
}

/// `key: n` pairs, joined by commas.
fn pairs<'a>(w: &Words, items: impl IntoIterator<Item = (String, u64)> + 'a) -> String {
    items
        .into_iter()
        .map(|(k, n)| format!("{k}{} {}", w.colon(), w.n(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of the evidence table, in order.
pub fn rows(r: &Report, w: &Words) -> Vec<Row> {
    let e = &r.evidence;
    let x = w.evidence();
    let row = |criterion, topic, source, figures: Vec<String>| Row {
        criterion,
        topic,
        no_data: figures.is_empty(),
        figures,
        source,
        note: None,
    };
    let mut out = Vec::with_capacity(16);

    // C1: where requests went.
    let sent: u64 = e.sent_by_jurisdiction.iter().map(|j| j.requests_sent).sum();
    let figures = e
        .sent_by_jurisdiction
        .iter()
        .map(|j| {
            let class = match j.class {
                "EU" => x.class_eu,
                "US" => x.class_us,
                "local" => x.class_local,
                "other" => x.class_other,
                _ => w.not_reported,
            };
            let name = match j.jurisdiction.as_deref() {
                Some(n) if n == class => n.to_owned(),
                Some(n) => format!("{n} ({class})"),
                None => class.to_owned(),
            };
            format!(
                "{name} — {}{} {} ({})",
                x.requests_sent,
                w.colon(),
                w.n(j.requests_sent),
                w.percent(j.requests_sent, sent)
            )
        })
        .collect();
    out.push(row("C1", x.t_sovereignty, x.s_sovereignty, figures));

    // C1: the declared terms (the table below has them all).
    let declared = e.governance_records > 0;
    let figures = if declared {
        e.providers
            .iter()
            .filter_map(|p| {
                let t = p.terms.as_ref()?;
                let mut parts = Vec::new();
                if let Some(j) = &t.jurisdiction {
                    parts.push(format!("{}{} {j}", x.terms_heads[0], w.colon()));
                }
                if let Some(g) = &t.region {
                    parts.push(format!("{}{} {g}", x.terms_heads[1], w.colon()));
                }
                if let Some(d) = t.retention_days {
                    parts.push(format!(
                        "{}{} {} {}",
                        x.terms_heads[2],
                        w.colon(),
                        w.n(u64::from(d)),
                        x.days
                    ));
                }
                for (i, v) in [(3, t.training_use), (4, t.dpa)] {
                    if let Some(v) = v {
                        let yn = if v { x.yes } else { x.no };
                        parts.push(format!("{}{} {yn}", x.terms_heads[i], w.colon()));
                    }
                }
                if parts.is_empty() {
                    parts.push(x.nothing_declared.to_owned());
                }
                Some(format!("{}{} {}", p.provider, w.colon(), parts.join(", ")))
            })
            .collect()
    } else {
        Vec::new()
    };
    out.push(row("C1", x.t_terms, x.s_terms, figures));

    // C1: routes Paravent chose.
    let figures = if e.route_reasons.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{}{} {}",
            x.requests,
            w.colon(),
            pairs(
                w,
                e.route_reasons.iter().map(|t| (t.key.clone(), t.requests))
            )
        )]
    };
    out.push(row("C1", x.t_eu_routes, x.s_eu_routes, figures));

    // C1: energy.
    let figures = if r.totals.energy.requests_reported == 0 {
        Vec::new()
    } else {
        let mut f = vec![format!(
            "{}{} {}",
            x.energy_total,
            w.colon(),
            w.energy_total(&r.totals.energy)
        )];
        // Per provider, then per model (each list on one line).
        for (label, groups) in [(x.per_provider, &r.by_provider), (x.per_model, &r.by_model)] {
            let items: Vec<String> = groups
                .iter()
                .filter_map(|g| {
                    let uwh = g.energy_uwh?;
                    let name = g.key.as_deref().unwrap_or(w.not_reported);
                    Some(format!("{name}{} {}", w.colon(), w.energy(uwh)))
                })
                .collect();
            if !items.is_empty() {
                f.push(format!("{label}{} {}", w.colon(), items.join(", ")));
            }
        }
        f
    };
    out.push(row("C1", x.t_energy, x.s_energy, figures));

    // C4: leaks in answers.
    let l = &e.answer_leaks;
    let figures = if l.requests_with_leaks == 0 {
        Vec::new()
    } else {
        vec![
            format!(
                "{}{} {} ({}{} {}, {}{} {})",
                x.with_leaks,
                w.colon(),
                w.n(l.requests_with_leaks),
                x.redacted,
                w.colon(),
                w.n(l.requests_redacted),
                x.not_redacted,
                w.colon(),
                w.n(l.requests_not_redacted)
            ),
            format!(
                "{}{} {}",
                x.leaked_values,
                w.colon(),
                pairs(w, l.by_entity.iter().map(|c| (c.key.clone(), c.count)))
            ),
        ]
    };
    let mut leaks = row("C4", x.t_leaks, x.s_leaks, figures);
    if leaks.no_data {
        leaks.note = Some(x.no_leak);
    }
    out.push(leaks);

    // C5: classification.
    let mut figures = Vec::new();
    for (label, dim, counts) in [
        (x.nature, "nature", &r.findings.by_nature),
        (x.sensitivity, "sensitivity", &r.findings.by_sensitivity),
    ] {
        if !counts.is_empty() {
            figures.push(format!(
                "{label}{} {}",
                w.colon(),
                pairs(w, counts.iter().map(|c| (w.term(dim, &c.key), c.findings)))
            ));
        }
    }
    out.push(row("C5", x.t_classification, x.s_classification, figures));

    // C5: pseudonymisation applied.
    let figures = if r.findings.by_action.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{}{} {}",
            x.findings,
            w.colon(),
            pairs(
                w,
                r.findings
                    .by_action
                    .iter()
                    .map(|c| (w.term("action", &c.key), c.findings))
            )
        )]
    };
    out.push(row(
        "C5",
        x.t_pseudonymisation,
        x.s_pseudonymisation,
        figures,
    ));

    // C5: its verified effectiveness.
    let k = &e.risk;
    let figures = if k.requests_assessed == 0 {
        Vec::new()
    } else {
        let mut f = vec![
            format!(
                "{}{} {}, {}{} {}",
                x.assessed,
                w.colon(),
                w.n(k.requests_assessed),
                x.sent_not_assessed,
                w.colon(),
                w.n(k.requests_sent_not_assessed)
            ),
            format!(
                "{}{} {}",
                x.by_level,
                w.colon(),
                pairs(w, k.by_level.iter().map(|t| (t.key.clone(), t.requests)))
            ),
        ];
        if !k.by_action.is_empty() {
            f.push(format!(
                "{}{} {}",
                x.by_action,
                w.colon(),
                pairs(w, k.by_action.iter().map(|t| (t.key.clone(), t.requests)))
            ));
        }
        f.push(format!("{}{} {}", x.persons, w.colon(), w.n(k.persons)));
        if !k.quasi.is_empty() {
            f.push(format!(
                "{}{} {}",
                x.quasi,
                w.colon(),
                pairs(w, k.quasi.iter().map(|c| (c.key.clone(), c.count)))
            ));
        }
        f
    };
    out.push(row("C5", x.t_risk, x.s_risk, figures));

    // C5: provider governance, declared or missing.
    let figures = if declared {
        let (all, none) = e.providers.iter().fold((0u64, 0u64), |(a, n), p| {
            (
                a + u64::from(p.missing.is_empty()),
                n + u64::from(p.terms.is_none()),
            )
        });
        let some = e.providers.len() as u64 - all - none;
        let mut f = vec![format!(
            "{}{} {}, {}{} {}, {}{} {}",
            x.providers_all_declared,
            w.colon(),
            w.n(all),
            x.providers_some_missing,
            w.colon(),
            w.n(some),
            x.providers_none_declared,
            w.colon(),
            w.n(none)
        )];
        f.extend(e.providers.iter().map(|p| {
            let state = if p.terms.is_none() {
                x.nothing_declared.to_owned()
            } else if p.missing.is_empty() {
                x.all_declared.to_owned()
            } else {
                format!("{} {}", x.missing, p.missing.join(", "))
            };
            format!("{}{} {state}", p.provider, w.colon())
        }));
        f
    } else {
        Vec::new()
    };
    out.push(row("C5", x.t_governance, x.s_governance, figures));

    // C5: settings enforced.
    let figures = if e.requests_with_settings == 0 {
        Vec::new()
    } else {
        vec![
            format!(
                "{}{} {} / {}",
                x.with_settings,
                w.colon(),
                w.n(e.requests_with_settings),
                w.n(r.totals.forwarded + r.totals.routed)
            ),
            pairs(w, e.settings.iter().map(|t| (t.key.clone(), t.requests))),
        ]
    };
    out.push(row("C5", x.t_settings, x.s_settings, figures));

    // C6: the report itself.
    out.push(row(
        "C6",
        x.t_accessibility,
        x.s_accessibility,
        vec![x.accessibility.to_owned()],
    ));

    // C7: assistant profiles.
    let figures = if e.assistants.is_empty() {
        Vec::new()
    } else {
        let mut f: Vec<String> = e
            .assistants
            .iter()
            .map(|a| {
                format!(
                    "{}{} {}",
                    a.name,
                    w.colon(),
                    pairs(
                        w,
                        [
                            (x.requests.to_owned(), a.requests),
                            (x.findings.to_owned(), a.findings),
                            (x.blocked.to_owned(), a.blocked),
                        ]
                    )
                )
            })
            .collect();
        f.push(format!(
            "{}{} {}",
            x.without_assistant,
            w.colon(),
            w.n(e.requests_without_assistant)
        ));
        f
    };
    out.push(row("C7", x.t_assistants, x.s_assistants, figures));

    // Integrity.
    out.push(row("", x.t_records, x.s_records, vec![w.integrity_line(r)]));
    let c = &e.checkpoints;
    let figures = if c.records == 0 {
        Vec::new()
    } else {
        let mut f = vec![format!(
            "{}{} {}{}",
            x.checkpoint_records,
            w.colon(),
            w.n(c.records),
            if c.signers.is_empty() {
                String::new()
            } else {
                format!(", {} {}", x.signed_by, c.signers.join(", "))
            }
        )];
        f.extend(c.by_chain.iter().map(|ch| {
            let signed = match ch.signed_records {
                Some(n) => format!("{}{} {}", x.signs, w.colon(), w.n(n)),
                None => x.no_chain_checkpoint.to_owned(),
            };
            format!(
                "{} {} ({}){} {signed}, {}{} {}",
                x.chain,
                ch.chain_id,
                ch.instance_id,
                w.colon(),
                x.unsigned_tail,
                w.colon(),
                w.n(ch.unsigned_tail)
            )
        }));
        f
    };
    let mut checkpoints = row("", x.t_checkpoints, x.s_checkpoints, figures);
    checkpoints.note = Some(if checkpoints.no_data {
        x.no_checkpoint
    } else {
        x.how_to_check
    });
    out.push(checkpoints);

    out.push(row("", x.t_cannot, x.s_cannot, vec![x.cannot.to_owned()]));
    out
}

/// Days above which the findings chart counts per month rather than per day (as the
/// per-day table folds month by month past 62 days).
pub const MAX_CHART_DAYS: i64 = 62;

/// The data of the chart "findings by nature over time": whether per month, the
/// buckets (every day, or every month, from the first to the last with findings: those
/// without are 0), and per nature (most findings first) its count per bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatureSeries {
    pub monthly: bool,
    pub buckets: Vec<String>,
    pub natures: Vec<(String, Vec<u64>)>,
}

impl NatureSeries {
    /// From [`Evidence::findings_by_day`].
    pub fn of(days: &[NatureBucket]) -> NatureSeries {
        let day_of = |k: &str| super::parse_time(k).map(|t| t.0 / super::DAY_US);
        let span = match (
            days.first().and_then(|d| day_of(&d.key)),
            days.last().and_then(|d| day_of(&d.key)),
        ) {
            (Some(a), Some(b)) if a >= 0 => Some((a, b)),
            _ => None,
        };
        let (monthly, buckets, data) = match span {
            Some((a, b)) if b - a < MAX_CHART_DAYS => {
                let keys: Vec<String> = (a..=b)
                    .map(|d| super::time_of_us(d * super::DAY_US)[..10].to_owned())
                    .collect();
                (false, keys, days.to_vec())
            }
            _ => {
                let months = by_month(days);
                let keys = month_span(&months);
                (true, keys, months)
            }
        };
        let index: BTreeMap<&str, &BTreeMap<String, u64>> = data
            .iter()
            .map(|b| (b.key.as_str(), &b.by_nature))
            .collect();
        let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
        for b in &data {
            for (k, n) in &b.by_nature {
                *totals.entry(k.as_str()).or_default() += n;
            }
        }
        let mut order: Vec<(&str, u64)> = totals.into_iter().collect();
        order.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        let natures = order
            .into_iter()
            .map(|(nature, _)| {
                let counts = buckets
                    .iter()
                    .map(|k| {
                        index
                            .get(k.as_str())
                            .and_then(|m| m.get(nature))
                            .copied()
                            .unwrap_or(0)
                    })
                    .collect();
                (nature.to_owned(), counts)
            })
            .collect();
        NatureSeries {
            monthly,
            buckets,
            natures,
        }
    }
}

/// Every month (`2026-05`) from the first to the last of `months` (sorted), or the
/// months as they are when a key does not read.
fn month_span(months: &[NatureBucket]) -> Vec<String> {
    let ym = |k: &str| -> Option<(i64, i64)> {
        let (y, m) = k.split_once('-')?;
        Some((y.parse().ok()?, m.parse().ok()?))
    };
    let (Some(a), Some(b)) = (
        months.first().and_then(|m| ym(&m.key)),
        months.last().and_then(|m| ym(&m.key)),
    ) else {
        return months.iter().map(|m| m.key.clone()).collect();
    };
    let mut out = Vec::new();
    let (mut y, mut m) = a;
    // Bounded: at most the months between two record dates (four-digit years).
    while (y, m) <= b && out.len() < 12 * 10_000 {
        out.push(format!("{y:04}-{m:02}"));
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
    out
}

/// The decisions of the chart "decisions by provider": per provider (as the report's
/// `by_provider`, most requests first), forwarded, routed, blocked and refused.
pub fn provider_decisions(r: &Report, w: &Words) -> Vec<(String, [u64; 4])> {
    r.by_provider
        .iter()
        .map(|g| {
            (
                g.key.clone().unwrap_or_else(|| w.not_reported.to_owned()),
                [g.forwarded, g.routed, g.blocked, g.refused],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
