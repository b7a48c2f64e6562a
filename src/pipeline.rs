//! \[pure\] The request phase: slots → normalise → detect → policy → vault → rewrite.
//!
//! The one path from a walked request ([`Walked`]) to the body that leaves, used by the
//! proxy, by `paravent scan`, by the tests and by the `pipeline` bench:
//!
//! 1. [`scan`] builds one document from every slot's normalised view (format characters
//!    removed, compatibility forms folded, every space and dash a plain one; see
//!    [`crate::detect::normalise`]), slots separated by a newline, and runs the detector
//!    once over it. The text parts the provider joins (one message's parts) are also
//!    scanned joined, so a value split across them is found. Findings are kept per slot,
//!    in normalised offsets, with the request's distinct values.
//! 2. The caller decides per finding (the policy) and turns that into one
//!    [`ValueAction`] per value ([`Scanned::value_actions`]).
//! 3. [`rewrite`] gives each pseudonymised value its vault token, finds every other
//!    occurrence of each masked value in every slot (propagation: a name found in turn
//!    3 is also masked where turn 1 repeats it without the context the detector
//!    needed), and rewrites the slots by index, each replaced span mapped back to the
//!    original text so that it covers the whole value, invisible characters included.
//!    Structural slots (model names, ids) are read by the detector but never reached
//!    by propagation.
//!
//! No I/O, no async; no value leaves this module except through the vault and the
//! rewritten slots. `Debug` shows counts only.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::detect::normalise::{Normalised, normalise};
use crate::detect::{Detector, Entity, Finding, Nature, Sensitivity};
use crate::vault::{TokenKey, Vault, VaultError};
use crate::walk::{SlotKind, Walked};

/// The kind reported when a field that hands a credential to a third party (an MCP
/// server's token or headers) is not empty.
pub const CREDENTIAL_KIND: &str = "third-party-credential";

/// Why a request may not leave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A credential was found; `kind` names the rule (`openai-key`), never the value.
    #[error("the request contains a secret ({kind})")]
    Secret { kind: String },
    /// Images, audio, files or token ids, which cannot be scanned for text.
    #[error("the request contains content that cannot be scanned ({kind})")]
    Unscannable { kind: &'static str },
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// A refused request: why, and what the scan found before refusing (counts and keyed
/// hashes only, never values), so the audit record of a refusal shows its findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub refusal: Refusal,
    /// The findings counted by the scan; `changed`, `replaced` and `unscanned` are empty.
    pub summary: Summary,
    /// `(entity, hex)` keyed hashes ([`crate::vault::TokenKey::audit_hash`]) of the
    /// distinct values found, as a forwarded request records them.
    pub value_hashes: Vec<(String, String)>,
}

/// What pseudonymisation did to one request (counts only, never values).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// A slot was rewritten.
    pub changed: bool,
    /// Findings per entity type (detector findings, not propagated repeats).
    pub findings: BTreeMap<String, usize>,
    /// The same findings per nature (`personal`, `secret`…) and per sensitivity.
    pub findings_by_nature: BTreeMap<&'static str, usize>,
    pub findings_by_sensitivity: BTreeMap<&'static str, usize>,
    /// The same findings per (entity, nature): the metrics' labels.
    pub findings_by_entity_nature: BTreeMap<(String, &'static str), usize>,
    /// Values replaced by a token, propagated repeats included.
    pub replaced: usize,
    /// Values replaced by `[REDACTED_<ENTITY>]`, propagated repeats included.
    pub redacted: usize,
    /// Kinds of unscannable content that were allowed to leave.
    pub unscanned: Vec<&'static str>,
}

/// What to do with one distinct value of a request (the policy's per-value answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ValueAction {
    /// Leaves as it is.
    Allow,
    /// Replaced by its token (in the vault; the answer gets it back).
    Pseudonymise,
    /// Replaced by `[REDACTED_<ENTITY>]`, not in the vault, never restored.
    Redact,
}

impl ValueAction {
    /// What the policy's per-finding action does to the value: block and route decide
    /// the request, not the value, which is then pseudonymised (the safe reading).
    pub fn of(action: crate::policy::Action) -> ValueAction {
        use crate::policy::Action;
        match action {
            Action::Allow => ValueAction::Allow,
            Action::Redact => ValueAction::Redact,
            Action::Pseudonymise | Action::Block | Action::Route => ValueAction::Pseudonymise,
        }
    }
}

/// One detector finding of a request, without its value: `value` indexes the request's
/// distinct values ([`Scanned::value_count`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanFinding {
    pub entity: Entity,
    pub nature: Nature,
    pub sensitivity: Sensitivity,
    /// The detection rule (`fr.nir`).
    pub rule: Arc<str>,
    pub value: usize,
}

/// A replaced span of one slot, in the slot's normalised offsets. `part` is `0` for the
/// span that receives the replacement; a value split across slots has later parts,
/// which are removed.
#[derive(Debug, Clone, Copy)]
struct Span {
    slot: usize,
    start: usize,
    end: usize,
    value: usize,
    part: u32,
    /// The value spans several slots (this is one of its parts).
    split: bool,
}

/// The first pass over a request: every finding, and what the rewrite needs.
/// Holds the request's values: never logged, never printed (`Debug` shows counts).
pub struct Scanned {
    /// Distinct `(entity, value)` in the order found (values as the client wrote them).
    values: Vec<(String, String)>,
    /// Each value's normalised form, lower-cased (what propagation looks for).
    needles: Vec<String>,
    findings: Vec<ScanFinding>,
    spans: Vec<Span>,
    /// Every slot's normalised text, lower-cased, end to end: propagation searches it.
    doc: LowerDoc,
    /// Each slot's normalised view when it differs from the slot's text (the rewrite
    /// maps back through it).
    views: Vec<Option<Normalised<'static>>>,
    media: Vec<&'static str>,
    secret: Option<String>,
    summary: Summary,
}

impl std::fmt::Debug for Scanned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanned")
            .field("values", &self.values.len())
            .field("findings", &self.findings.len())
            .finish_non_exhaustive()
    }
}

/// The normalised text of `slot`.
fn view_text<'a>(
    views: &'a [Option<Normalised<'static>>],
    walked: &'a Walked,
    slot: usize,
) -> &'a str {
    match &views[slot] {
        Some(n) => n.as_str(),
        None => &walked.slots[slot].text,
    }
}

/// The original span of normalised `[a, b)` in `slot`.
fn original_span(
    views: &[Option<Normalised<'static>>],
    slot: usize,
    a: usize,
    b: usize,
) -> (usize, usize) {
    match &views[slot] {
        Some(n) => n.original_span(a, b),
        None => (a, b),
    }
}

impl Scanned {
    /// Every detector finding, in the order found (propagated repeats not included).
    pub fn findings(&self) -> &[ScanFinding] {
        &self.findings
    }

    /// The findings as the policy reads them.
    pub fn items(&self) -> Vec<crate::policy::Item<'_>> {
        self.findings
            .iter()
            .map(|f| crate::policy::Item {
                entity: f.entity.as_str(),
                nature: f.nature,
                sensitivity: f.sensitivity,
            })
            .collect()
    }

    /// The number of distinct values found.
    pub fn value_count(&self) -> usize {
        self.values.len()
    }

    /// The findings counted per entity, nature and sensitivity.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The detection rule's kind (`openai-key`) of the first secret found, if any.
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// Whether the detector found anything in slot `slot`.
    pub fn slot_has_findings(&self, slot: usize) -> bool {
        self.spans.iter().any(|s| s.slot == slot)
    }

    /// The distinct `(entity, value)` pairs found, in the order first found.
    pub fn values(&self) -> &[(String, String)] {
        &self.values
    }

    /// `(entity, hex)` keyed hashes of every distinct value found.
    pub fn value_hashes(&self, key: &TokenKey) -> Vec<(String, String)> {
        hashes(&self.values, key)
    }

    /// The per-value actions from per-finding ones (`per_finding[i]` for
    /// `findings()[i]`): a value found several times gets the strictest (redact, then
    /// pseudonymise, then allow).
    pub fn value_actions(&self, per_finding: &[ValueAction]) -> Vec<ValueAction> {
        let mut out = vec![ValueAction::Allow; self.values.len()];
        let mut seen = vec![false; self.values.len()];
        for (f, a) in self.findings.iter().zip(per_finding) {
            let v = &mut out[f.value];
            *v = if seen[f.value] { (*v).max(*a) } else { *a };
            seen[f.value] = true;
        }
        // A value without a decision (never: every value has a finding) is pseudonymised.
        for (v, s) in out.iter_mut().zip(seen) {
            if !s {
                *v = ValueAction::Pseudonymise;
            }
        }
        out
    }

    /// The residual re-identification risk of this request once `actions` (one per
    /// distinct value, [`Scanned::value_actions`]) are applied: a pass over the
    /// findings' spans ([`crate::risk`]), no new scan.
    pub fn risk(&self, actions: &[ValueAction]) -> crate::risk::Assessment {
        let mut nature = vec![Nature::Personal; self.values.len()];
        for f in &self.findings {
            if f.nature == Nature::SpecialCategory || nature[f.value] == Nature::Personal {
                nature[f.value] = f.nature;
            }
        }
        let mentions: Vec<crate::risk::Mention<'_>> = self
            .spans
            .iter()
            .map(|s| crate::risk::Mention {
                slot: s.slot,
                start: s.start,
                end: s.end,
                entity: &self.values[s.value].0,
                nature: nature[s.value],
                value: s.value,
                leaves: match actions.get(s.value) {
                    Some(ValueAction::Allow) => crate::risk::Leaves::Clear,
                    _ => crate::risk::Leaves::Masked,
                },
            })
            .collect();
        crate::risk::assess(&mentions)
    }

    /// A refusal of this request, carrying its findings and keyed hashes.
    pub fn refuse(&self, refusal: Refusal, key: &TokenKey) -> Box<Refused> {
        refused(refusal, &self.summary, self.value_hashes(key))
    }
}

fn hashes(values: &[(String, String)], key: &TokenKey) -> Vec<(String, String)> {
    values
        .iter()
        .map(|(entity, value)| {
            let h = key.audit_hash(entity, value);
            (entity.clone(), crate::audit::hex(&h))
        })
        .collect()
}

fn refused(
    refusal: Refusal,
    summary: &Summary,
    value_hashes: Vec<(String, String)>,
) -> Box<Refused> {
    Box::new(Refused {
        refusal,
        summary: Summary {
            unscanned: Vec::new(),
            changed: false,
            replaced: 0,
            redacted: 0,
            ..summary.clone()
        },
        value_hashes,
    })
}

/// One slot's place in a scanned document.
struct Piece {
    slot: usize,
    start: usize,
    end: usize,
}

/// The scanned document, lower-cased (ASCII, which keeps every offset), with where
/// each slot lies in it.
struct LowerDoc {
    lower: String,
    pieces: Vec<Piece>,
}

/// Slots laid end to end for one detector pass.
struct Doc {
    text: String,
    pieces: Vec<Piece>,
}

impl Doc {
    fn new(capacity: usize) -> Doc {
        Doc {
            text: String::with_capacity(capacity),
            pieces: Vec::new(),
        }
    }

    fn push(&mut self, slot: usize, text: &str, separator: &str) {
        if !self.pieces.is_empty() {
            self.text.push_str(separator);
        }
        let start = self.text.len();
        self.text.push_str(text);
        self.pieces.push(Piece {
            slot,
            start,
            end: self.text.len(),
        });
    }

    /// The pieces `[start, end)` covers, each with its local range, into `out`
    /// (cleared first: one buffer serves every finding).
    fn locate(&self, start: usize, end: usize, out: &mut Vec<(usize, usize, usize)>) {
        out.clear();
        let first = self.pieces.partition_point(|p| p.end < start);
        for p in &self.pieces[first..] {
            if p.start >= end {
                break;
            }
            let s = start.max(p.start);
            let e = end.min(p.end);
            if s < e {
                out.push((p.slot, s - p.start, e - p.start));
            }
        }
    }
}

/// The first pass: scans every slot of `walked` and collects the findings; nothing is
/// changed.
///
/// ```
/// use paravent::{api::Endpoint, detect::Detector, pipeline, walk::Walked};
/// let body = r#"{"model":"m","messages":[{"role":"user","content":"Écrivez à jean.dupont@example.fr"}]}"#.as_bytes();
/// let walked = Walked::parse(body, Endpoint::OpenaiChat.schema()).unwrap();
/// let scanned = pipeline::scan(&Detector::builtin(), &walked);
/// assert_eq!(scanned.findings()[0].entity.as_str(), "EMAIL");
/// ```
pub fn scan(detector: &Detector, walked: &Walked) -> Scanned {
    let views: Vec<Option<Normalised<'static>>> = walked
        .slots
        .iter()
        .map(|s| {
            let n = normalise(&s.text);
            (!n.is_identity()).then(|| n.into_owned())
        })
        .collect();
    let total: usize = walked.slots.iter().map(|s| s.text.len() + 1).sum();
    let mut doc = Doc::new(total);
    for i in 0..walked.slots.len() {
        doc.push(i, view_text(&views, walked, i), "\n");
    }
    let mut c = Collector::new(&views, walked);
    let findings = detector.scan(&doc.text);
    c.reserve(findings.len());
    for f in findings {
        c.add(&doc, &f, false);
    }
    // The text parts one message joins, scanned joined: only what crosses a part
    // boundary is new.
    let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, s) in walked.slots.iter().enumerate() {
        if s.group != 0 && s.kind == SlotKind::Text {
            groups.entry(s.group).or_default().push(i);
        }
    }
    for members in groups.values().filter(|m| m.len() > 1) {
        let mut joined = Doc::new(members.iter().map(|&i| walked.slots[i].text.len()).sum());
        for &i in members {
            joined.push(i, view_text(&views, walked, i), "");
        }
        let mut parts = Vec::new();
        for f in detector.scan(&joined.text) {
            joined.locate(f.start, f.end, &mut parts);
            if parts.len() > 1 {
                c.add(&joined, &f, true);
            }
        }
    }
    let mut secret = c.secret.take();
    if walked.credentials > 0 && secret.is_none() {
        secret = Some(CREDENTIAL_KIND.to_owned());
    }
    let summary = tally(&c.found);
    let (values, needles, found, spans) = (c.values, c.needles, c.found, c.spans);
    let mut lower = doc.text;
    lower.make_ascii_lowercase();
    Scanned {
        doc: LowerDoc {
            lower,
            pieces: doc.pieces,
        },
        summary,
        values,
        needles,
        findings: found,
        spans,
        views,
        media: walked.media.clone(),
        secret,
    }
}

/// The findings counted per entity, nature and sensitivity: one `String` per distinct
/// entity, not one per finding.
fn tally(found: &[ScanFinding]) -> Summary {
    let mut summary = Summary::default();
    let mut by_entity_nature: Vec<(&str, &'static str, usize)> = Vec::new();
    for f in found {
        let entity = f.entity.as_str();
        match summary.findings.get_mut(entity) {
            Some(n) => *n += 1,
            None => {
                summary.findings.insert(entity.to_owned(), 1);
            }
        }
        let nature = f.nature.as_str();
        *summary.findings_by_nature.entry(nature).or_default() += 1;
        *summary
            .findings_by_sensitivity
            .entry(f.sensitivity.as_str())
            .or_default() += 1;
        match by_entity_nature
            .iter_mut()
            .find(|(e, n, _)| *e == entity && *n == nature)
        {
            Some((_, _, count)) => *count += 1,
            None => by_entity_nature.push((entity, nature, 1)),
        }
    }
    summary.findings_by_entity_nature = by_entity_nature
        .into_iter()
        .map(|(e, n, count)| ((e.to_owned(), n), count))
        .collect();
    summary
}

struct Collector<'a> {
    views: &'a [Option<Normalised<'static>>],
    walked: &'a Walked,
    values: Vec<(String, String)>,
    needles: Vec<String>,
    /// By `entity \0 needle`. The standard map's SipHash, not a fast hasher: the keys
    /// are the client's text, and a client could craft colliding ones.
    index: HashMap<String, usize>,
    found: Vec<ScanFinding>,
    spans: Vec<Span>,
    secret: Option<String>,
    /// The finding being added: the slots it covers, and its key in `index`. Kept
    /// between findings so that neither allocates once grown.
    parts: Vec<(usize, usize, usize)>,
    key: String,
}

impl<'a> Collector<'a> {
    fn new(views: &'a [Option<Normalised<'static>>], walked: &'a Walked) -> Collector<'a> {
        Collector {
            views,
            walked,
            values: Vec::new(),
            needles: Vec::new(),
            index: HashMap::new(),
            found: Vec::new(),
            spans: Vec::new(),
            secret: None,
            parts: Vec::new(),
            key: String::new(),
        }
    }

    /// Room for `n` more findings (each a value at most, and usually one span).
    fn reserve(&mut self, n: usize) {
        self.values.reserve(n);
        self.needles.reserve(n);
        self.found.reserve(n);
        self.spans.reserve(n);
    }

    /// Records finding `f` of `doc`. A finding across part boundaries (`joined`)
    /// replaces the single-slot findings it overlaps.
    fn add(&mut self, doc: &Doc, f: &Finding, joined: bool) {
        let mut parts = std::mem::take(&mut self.parts);
        doc.locate(f.start, f.end, &mut parts);
        self.add_parts(f, &parts, joined);
        self.parts = parts;
    }

    fn add_parts(&mut self, f: &Finding, parts: &[(usize, usize, usize)], joined: bool) {
        if parts.is_empty() {
            return;
        }
        // In a model name or an identifier only what identifies someone counts: a date
        // in `gpt-4o-2024-08-06` or a place in a function name is not a value to hide.
        if f.sensitivity < Sensitivity::Confidential
            && parts
                .iter()
                .all(|&(slot, _, _)| self.walked.slots[slot].kind == SlotKind::Checked)
        {
            return;
        }
        if joined {
            self.spans.retain(|s| {
                !parts
                    .iter()
                    .any(|&(slot, a, b)| s.slot == slot && s.start < b && a < s.end)
            });
        }
        let entity = f.entity.as_str();
        if (f.nature == Nature::Secret || entity == "SECRET") && self.secret.is_none() {
            let kind = f.rule.rsplit('.').next().unwrap_or("secret");
            self.secret = Some(kind.to_owned());
        }
        // The value's key: its entity and its normalised form, lower-cased.
        self.key.clear();
        self.key.push_str(entity);
        self.key.push('\0');
        let needle_at = self.key.len();
        for &(slot, a, b) in parts {
            self.key
                .push_str(&view_text(self.views, self.walked, slot)[a..b]);
        }
        self.key[needle_at..].make_ascii_lowercase();
        let value = match self.index.get(self.key.as_str()) {
            Some(&i) => i,
            None => {
                // The value as the client wrote it.
                let mut original = String::new();
                for &(slot, a, b) in parts {
                    let (oa, ob) = original_span(self.views, slot, a, b);
                    original.push_str(&self.walked.slots[slot].text[oa..ob]);
                }
                let i = self.values.len();
                self.values.push((entity.to_owned(), original));
                self.needles.push(self.key[needle_at..].to_owned());
                self.index.insert(self.key.clone(), i);
                i
            }
        };
        self.found.push(ScanFinding {
            entity: f.entity.clone(),
            nature: f.nature,
            sensitivity: f.sensitivity,
            rule: f.rule.clone(),
            value,
        });
        let split = parts.len() > 1;
        for (part, &(slot, start, end)) in parts.iter().enumerate() {
            self.spans.push(Span {
                slot,
                start,
                end,
                value,
                part: part as u32,
                split,
            });
        }
    }
}

/// The policy's judgement of a scanned request, between [`scan`] and [`rewrite`].
#[derive(Debug)]
pub struct Judged {
    /// Per finding: the allow list that lets its value leave as it is (`allow-list`,
    /// `teams.<name>.allow`), if any.
    pub allowed: Vec<Option<String>>,
    /// The policy's decision on the findings no list allows (`choices` in their order).
    pub decision: crate::policy::Decision,
    /// Per finding: what becomes of its value.
    pub per_finding: Vec<ValueAction>,
}

/// Judges `scanned` for `who` asking `provider`: the allow lists first (a listed value
/// leaves as it is and is not the policy's to block, route or count toward a ceiling;
/// secrets are never listed), then the policy on the rest. `explain` fills the
/// decision's trace (`scan --explain`).
pub fn judge(
    scanned: &Scanned,
    allow: &crate::policy::allow::AllowLists,
    policy: &crate::policy::Policy,
    who: &crate::policy::Principal<'_>,
    provider: &str,
    explain: bool,
) -> Judged {
    let allowed: Vec<Option<String>> = if allow.is_empty() {
        vec![None; scanned.findings.len()]
    } else {
        scanned
            .findings
            .iter()
            .map(|f| {
                allow.allows(
                    who.team,
                    f.entity.as_str(),
                    f.nature,
                    &scanned.values[f.value].1,
                )
            })
            .collect()
    };
    let items: Vec<_> = scanned
        .items()
        .into_iter()
        .zip(&allowed)
        .filter(|(_, a)| a.is_none())
        .map(|(i, _)| i)
        .collect();
    let decision = if explain {
        policy.explain(&items, who, provider)
    } else {
        policy.decide(&items, who, provider)
    };
    let mut choices = decision.choices.iter();
    let per_finding = allowed
        .iter()
        .map(|a| match a {
            Some(_) => ValueAction::Allow,
            None => choices
                .next()
                .map_or(ValueAction::Pseudonymise, |c| ValueAction::of(c.action)),
        })
        .collect();
    Judged {
        allowed,
        decision,
        per_finding,
    }
}

/// The second pass: rewrites the slots of `walked`, each value as `actions` says (one
/// per distinct value, [`Scanned::value_actions`]), with propagation: every other
/// occurrence of a pseudonymised or redacted value is replaced too.
///
/// # Errors
/// A [`Refused`]: unscannable content when `allow_media` is false, or more distinct
/// values than the vault may hold. `walked` is then left half-done and must not be sent.
pub fn rewrite(
    scanned: Scanned,
    walked: &mut Walked,
    vault: &mut Vault<'_>,
    actions: &[ValueAction],
    allow_media: bool,
) -> Result<Summary, Box<Refused>> {
    let key = vault.key();
    if let Some(&kind) = scanned.media.first()
        && !allow_media
    {
        return Err(scanned.refuse(Refusal::Unscannable { kind }, key));
    }
    let mut summary = scanned.summary.clone();
    summary.unscanned = scanned.media.clone();
    if scanned.values.is_empty() {
        return Ok(summary);
    }
    let action = |i: usize| actions.get(i).copied().unwrap_or(ValueAction::Pseudonymise);
    // The vault gets every pseudonymised value in the order found, so tokens do not
    // depend on which slot propagation reaches first. Each value's entry is kept: a span
    // that reads as the value does needs no second lookup.
    let mut entries: Vec<Option<usize>> = vec![None; scanned.values.len()];
    vault.reserve(
        (0..scanned.values.len())
            .filter(|&i| action(i) == ValueAction::Pseudonymise)
            .count(),
    );
    for (i, (entity, value)) in scanned.values.iter().enumerate() {
        if action(i) == ValueAction::Pseudonymise {
            match vault.entry_of(entity, value) {
                Ok(e) => entries[i] = Some(e),
                Err(e) => return Err(scanned.refuse(e.into(), key)),
            }
        }
    }
    let mut spans = scanned.spans.clone();
    propagate(&scanned, walked, &action, &mut spans, MEMMEM_MAX_WORK_BYTES);
    spans.sort_unstable_by_key(|s| (s.slot, s.start, std::cmp::Reverse(s.end)));
    let mut replaced = 0;
    let mut redacted = 0;
    let mut at = 0;
    // The rewritten slot is built here, then swapped with the slot's text, whose buffer
    // serves the next slot: one buffer for the whole rewrite.
    let mut out = String::new();
    while at < spans.len() {
        let slot = spans[at].slot;
        let end = spans[at..]
            .iter()
            .position(|s| s.slot != slot)
            .map_or(spans.len(), |n| at + n);
        let text = &walked.slots[slot].text;
        out.clear();
        out.reserve(text.len() + 16);
        let mut last = 0;
        let mut changed = false;
        for s in &spans[at..end] {
            let (oa, ob) = original_span(&scanned.views, slot, s.start, s.end);
            if oa < last {
                continue;
            }
            let (entity, value) = &scanned.values[s.value];
            let a = action(s.value);
            if a == ValueAction::Allow {
                continue;
            }
            out.push_str(&text[last..oa]);
            last = ob;
            changed = true;
            if s.part > 0 {
                continue;
            }
            if a == ValueAction::Redact {
                redacted += 1;
                out.push_str("[REDACTED_");
                out.push_str(entity);
                out.push(']');
                continue;
            }
            // A propagated repeat may differ in case or invisible characters: it
            // gets the same token, and is restored as it was written.
            let v = if s.split {
                value.as_str()
            } else {
                &text[oa..ob]
            };
            let entry = match entries[s.value] {
                Some(e) if v == value => Ok(e),
                _ => vault.entry_of(entity, v),
            };
            match entry {
                Ok(e) => {
                    replaced += 1;
                    out.push_str(&vault.entries()[e].pseudonym);
                }
                Err(e) => {
                    return Err(refused(
                        e.into(),
                        &scanned.summary,
                        hashes(&scanned.values, key),
                    ));
                }
            }
        }
        if changed {
            out.push_str(&text[last..]);
            let slot = &mut walked.slots[slot];
            std::mem::swap(&mut slot.text, &mut out);
            slot.changed = true;
            summary.changed = true;
        }
        at = end;
    }
    summary.replaced = replaced;
    summary.redacted = redacted;
    Ok(summary)
}

/// Above this many bytes searched in all (values × request size), propagation builds
/// one automaton for all values instead of searching the request once per value.
const MEMMEM_MAX_WORK_BYTES: usize = 4 << 20;

/// Adds, for every masked value, its other occurrences in every slot the provider reads
/// as text: ASCII case-insensitive, on word boundaries, not inside a span already
/// found; leftmost-longest among them.
///
/// Linear in the size of the request (docs/PROXY-PERFORMANCE.md, "Propagation"): past
/// `memmem_max_work_bytes` ([`MEMMEM_MAX_WORK_BYTES`]), one Aho-Corasick pass finds every occurrence of every
/// value at once (not one search of the whole request per value), and a match is
/// checked against the spans already found with a binary search over their running end
/// (not a walk back over the slot's spans).
fn propagate(
    scanned: &Scanned,
    walked: &Walked,
    action: &dyn Fn(usize) -> ValueAction,
    spans: &mut Vec<Span>,
    memmem_max_work_bytes: usize,
) {
    let doc = &scanned.doc;
    // The values to look for, and which value each pattern is.
    let (values, needles): (Vec<usize>, Vec<&str>) = scanned
        .needles
        .iter()
        .enumerate()
        .filter(|&(i, n)| action(i) != ValueAction::Allow && !n.is_empty())
        .map(|(i, n)| (i, n.as_str()))
        .unzip();
    if needles.is_empty() {
        return;
    }
    let mut extra: Vec<(usize, usize, usize, usize)> = Vec::new();
    // An occurrence inside one slot the provider reads as text, on word boundaries.
    let mut consider = |s: usize, e: usize, value: usize| {
        let k = doc.pieces.partition_point(|p| p.end < e);
        let Some(p) = doc.pieces.get(k) else { return };
        if s < p.start || walked.slots[p.slot].kind == SlotKind::Checked {
            return;
        }
        let text = &doc.lower[p.start..p.end];
        let (ls, le) = (s - p.start, e - p.start);
        if !text.is_char_boundary(ls) || !text.is_char_boundary(le) {
            return;
        }
        if on_word_boundaries(text, ls, le) {
            extra.push((p.slot, ls, le, value));
        }
    };
    let haystack = doc.lower.as_bytes();
    if needles.len().saturating_mul(haystack.len()) <= memmem_max_work_bytes {
        // A usual request: one memmem search per value costs less than building an
        // automaton (measured: 40–100 µs for 20 values, docs/PROXY-PERFORMANCE.md).
        // Overlapping occurrences too, as the automaton finds them.
        for (&value, needle) in values.iter().zip(&needles) {
            let finder = memchr::memmem::Finder::new(needle.as_bytes());
            let mut at = 0;
            while let Some(i) = haystack.get(at..).and_then(|h| finder.find(h)) {
                consider(at + i, at + i + needle.len(), value);
                at += i + 1;
            }
        }
    } else {
        // Every occurrence of every value in one pass, overlapping ones too: the
        // leftmost-longest choice below is made after the word-boundary check.
        let Ok(ac) = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::Standard)
            .build(&needles)
        else {
            // Patterns the automaton cannot hold (never within the body limits): the
            // detector's spans are still replaced.
            return;
        };
        for m in ac.find_overlapping_iter(haystack) {
            consider(m.start(), m.end(), values[m.pattern().as_usize()]);
        }
    }
    if extra.is_empty() {
        return;
    }
    // The spans already found, sorted, with the furthest end so far in their slot: a
    // propagated match overlaps one of them when one that starts before it ends, ends
    // after it starts.
    let mut taken: Vec<(usize, usize, usize)> =
        spans.iter().map(|s| (s.slot, s.start, s.end)).collect();
    taken.sort_unstable();
    let mut furthest: Vec<usize> = Vec::with_capacity(taken.len());
    for (i, &(slot, _, end)) in taken.iter().enumerate() {
        let before = if i > 0 && taken[i - 1].0 == slot {
            furthest[i - 1]
        } else {
            0
        };
        furthest.push(before.max(end));
    }
    // Leftmost-longest per slot among the propagated matches.
    extra.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then((b.2 - b.1).cmp(&(a.2 - a.1)))
    });
    let mut last = (usize::MAX, 0);
    for (slot, s, e, value) in extra {
        let i = taken.partition_point(|&(t, a, _)| (t, a) < (slot, e));
        if i > 0 && taken[i - 1].0 == slot && furthest[i - 1] > s {
            continue;
        }
        if last.0 == slot && s < last.1 {
            continue;
        }
        last = (slot, e);
        spans.push(Span {
            slot,
            start: s,
            end: e,
            value,
            part: 0,
            split: false,
        });
    }
}

/// A propagated match must not be part of a longer word: `Jean` is not in `Jeanne`.
fn on_word_boundaries(text: &str, s: usize, e: usize) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let m = &text[s..e];
    let starts_word = m.chars().next().is_some_and(word);
    let ends_word = m.chars().next_back().is_some_and(word);
    let before_ok = !starts_word || !text[..s].chars().next_back().is_some_and(word);
    let after_ok = !ends_word || !text[e..].chars().next().is_some_and(word);
    before_ok && after_ok
}

/// Scans and pseudonymises `walked` in place: [`scan`], the built-in secret refusal,
/// then [`rewrite`] with every value pseudonymised (the behaviour without a
/// `[policy]`).
///
/// # Errors
/// A [`Refused`] carrying its [`Refusal`]: a secret, unscannable content when
/// `allow_media` is false, or more distinct values than the vault may hold.
pub fn pseudonymise(
    detector: &Detector,
    walked: &mut Walked,
    vault: &mut Vault<'_>,
    allow_media: bool,
) -> Result<Summary, Box<Refused>> {
    let scanned = scan(detector, walked);
    if let Some(kind) = scanned.secret() {
        return Err(scanned.refuse(
            Refusal::Secret {
                kind: kind.to_owned(),
            },
            vault.key(),
        ));
    }
    let actions = vec![ValueAction::Pseudonymise; scanned.value_count()];
    rewrite(scanned, walked, vault, &actions, allow_media)
}

#[cfg(test)]
mod tests;
