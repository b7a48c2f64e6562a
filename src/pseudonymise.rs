//! \[pure\] The request phase's core: scan every text slot of a request, decide whether
//! it may leave, and replace every sensitive value with its pseudonym.
//!
//! Two passes over the walker's slots. The first scans each slot and collects the values
//! found anywhere in the request. The second replaces, in every slot, the values the
//! detector found there *and* every other occurrence of any value found anywhere
//! (propagation: a name found in turn 3 is also masked where turn 1 repeats it without
//! the context the detector needed). Conversations are resent whole at every turn, so
//! what is found in one place must not leak from another.
//!
//! No I/O, no async, and no value ever leaves this module except through the vault.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use memchr::memmem::Finder;
use serde_json::Value;

use std::sync::Arc;

use crate::detect::{Detector, Nature, Sensitivity};
use crate::vault::{TokenKey, Vault, VaultError};
use crate::walk::{self, Endpoint, Visitor};

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
    /// The body was changed and must be serialised again.
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

/// One detector finding of a request, without its value: `value` indexes the request's
/// distinct values ([`Scanned::value_count`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanFinding {
    pub entity: String,
    pub nature: Nature,
    pub sensitivity: Sensitivity,
    /// The detection rule (`fr.nir`).
    pub rule: Arc<str>,
    pub value: usize,
}

/// The first pass over a request: every finding, and what the second pass needs.
/// Holds the request's values: never logged, never printed (`Debug` shows counts).
pub struct Scanned {
    slots: Vec<Slot>,
    /// Distinct `(entity, value)` in the order found.
    values: Vec<(String, String)>,
    findings: Vec<ScanFinding>,
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

impl Scanned {
    /// Every detector finding, in the order found (propagated repeats not included).
    pub fn findings(&self) -> &[ScanFinding] {
        &self.findings
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

    /// The distinct `(entity, value)` pairs found, in the order first found.
    pub fn values(&self) -> &[(String, String)] {
        &self.values
    }

    /// `(entity, hex)` keyed hashes of every distinct value found.
    pub fn value_hashes(&self, key: &TokenKey) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(entity, value)| {
                let h = key.audit_hash(entity, value);
                (entity.clone(), crate::audit::hex(&h))
            })
            .collect()
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

    /// A refusal of this request, carrying its findings and keyed hashes.
    pub fn refuse(&self, refusal: Refusal, key: &TokenKey) -> Box<Refused> {
        refused(refusal, &self.summary, self.value_hashes(key))
    }
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

/// The first pass: scans every text slot of `body` (a request for `endpoint`) and
/// collects the findings; the body is not changed.
pub fn scan(detector: &Detector, endpoint: Endpoint, body: &mut Value) -> Scanned {
    let mut collect = Collector {
        detector,
        slots: Vec::new(),
        values: Vec::new(),
        index: HashMap::new(),
        found: Vec::new(),
        media: Vec::new(),
        secret: None,
        findings: BTreeMap::new(),
        by_nature: BTreeMap::new(),
        by_sensitivity: BTreeMap::new(),
        by_entity_nature: BTreeMap::new(),
    };
    walk::walk_request(endpoint, body, &mut collect);
    Scanned {
        summary: Summary {
            findings: collect.findings,
            findings_by_nature: collect.by_nature,
            findings_by_sensitivity: collect.by_sensitivity,
            findings_by_entity_nature: collect.by_entity_nature,
            ..Summary::default()
        },
        slots: collect.slots,
        values: collect.values,
        findings: collect.found,
        media: collect.media,
        secret: collect.secret,
    }
}

/// The second pass: rewrites `body` in place, each value as `actions` says (one per
/// distinct value, [`Scanned::value_actions`]), with propagation: every other
/// occurrence of a pseudonymised or redacted value is replaced too.
///
/// # Errors
/// A [`Refused`]: unscannable content when `allow_media` is false, or more distinct
/// values than the vault may hold. The body is then left half-done and must not be sent.
pub fn rewrite(
    scanned: Scanned,
    detector: &Detector,
    endpoint: Endpoint,
    body: &mut Value,
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
    // depend on which slot propagation reaches first.
    for (i, (entity, value)) in scanned.values.iter().enumerate() {
        if action(i) == ValueAction::Pseudonymise
            && let Err(e) = vault.pseudonym(entity, value)
        {
            return Err(scanned.refuse(e.into(), key));
        }
    }
    // Propagation searches every slot for every value, ASCII case-insensitively: the
    // slot is lower-cased once (which keeps byte offsets) and each value has a memmem
    // finder. For the few dozen values of a request this is cheaper than building an
    // Aho-Corasick automaton per request (~100 µs for 20 patterns). Allowed values
    // need none: they leave as they are.
    let finders: Vec<Option<Finder<'static>>> = scanned
        .values
        .iter()
        .enumerate()
        .map(|(i, (_, v))| {
            (action(i) != ValueAction::Allow)
                .then(|| Finder::new(v.to_ascii_lowercase().as_bytes()).into_owned())
        })
        .collect();
    let actions: Vec<ValueAction> = (0..scanned.values.len()).map(action).collect();
    let mut replace = Replacer {
        detector,
        slots: scanned.slots,
        next: 0,
        values: &scanned.values,
        actions: &actions,
        finders,
        vault,
        replaced: 0,
        redacted: 0,
        error: None,
    };
    summary.changed = walk::walk_request_changed(endpoint, body, &mut replace);
    if let Some(e) = replace.error {
        let hashes = scanned
            .values
            .iter()
            .map(|(entity, value)| {
                (
                    entity.clone(),
                    crate::audit::hex(&key.audit_hash(entity, value)),
                )
            })
            .collect();
        return Err(refused(e.into(), &scanned.summary, hashes));
    }
    summary.replaced = replace.replaced;
    summary.redacted = replace.redacted;
    Ok(summary)
}

/// Scans and pseudonymises `body` (a request for `endpoint`) in place: [`scan`], the
/// built-in secret refusal, then [`rewrite`] with every value pseudonymised (the
/// behaviour without a `[policy]`).
///
/// # Errors
/// A [`Refused`] carrying its [`Refusal`]: a secret, unscannable content when
/// `allow_media` is false, or more distinct values than the vault may hold. The body is
/// then left half-done and must not be sent.
pub fn pseudonymise(
    detector: &Detector,
    endpoint: Endpoint,
    body: &mut Value,
    vault: &mut Vault<'_>,
    allow_media: bool,
) -> Result<Summary, Box<Refused>> {
    let scanned = scan(detector, endpoint, body);
    if let Some(kind) = scanned.secret() {
        return Err(scanned.refuse(
            Refusal::Secret {
                kind: kind.to_owned(),
            },
            vault.key(),
        ));
    }
    let actions = vec![ValueAction::Pseudonymise; scanned.value_count()];
    rewrite(
        scanned,
        detector,
        endpoint,
        body,
        vault,
        &actions,
        allow_media,
    )
}

/// A slot as the first pass saw it: its fingerprint and the detector's spans in it.
struct Slot {
    len: usize,
    hash: u64,
    spans: Vec<(usize, usize, usize)>,
}

fn fingerprint(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

struct Collector<'d> {
    detector: &'d Detector,
    slots: Vec<Slot>,
    /// Distinct `(entity, value)` in the order found.
    values: Vec<(String, String)>,
    index: HashMap<String, usize>,
    found: Vec<ScanFinding>,
    media: Vec<&'static str>,
    secret: Option<String>,
    findings: BTreeMap<String, usize>,
    by_nature: BTreeMap<&'static str, usize>,
    by_sensitivity: BTreeMap<&'static str, usize>,
    by_entity_nature: BTreeMap<(String, &'static str), usize>,
}

impl Visitor for Collector<'_> {
    fn text(&mut self, text: &mut String) -> bool {
        let found = self.detector.scan(text);
        let mut spans = Vec::with_capacity(found.len());
        for f in &found {
            let entity = f.entity.as_str();
            if (f.nature == Nature::Secret || entity == "SECRET") && self.secret.is_none() {
                let kind = f.rule.rsplit('.').next().unwrap_or("secret");
                self.secret = Some(kind.to_owned());
            }
            *self.findings.entry(entity.to_owned()).or_default() += 1;
            *self.by_nature.entry(f.nature.as_str()).or_default() += 1;
            *self
                .by_entity_nature
                .entry((entity.to_owned(), f.nature.as_str()))
                .or_default() += 1;
            *self
                .by_sensitivity
                .entry(f.sensitivity.as_str())
                .or_default() += 1;
            let value = &text[f.start..f.end];
            let i = match self.index.get(value) {
                Some(&i) => i,
                None => {
                    let i = self.values.len();
                    self.values.push((entity.to_owned(), value.to_owned()));
                    self.index.insert(value.to_owned(), i);
                    i
                }
            };
            self.found.push(ScanFinding {
                entity: entity.to_owned(),
                nature: f.nature,
                sensitivity: f.sensitivity,
                rule: f.rule.clone(),
                value: i,
            });
            spans.push((f.start, f.end, i));
        }
        self.slots.push(Slot {
            len: text.len(),
            hash: fingerprint(text),
            spans,
        });
        false
    }

    fn media(&mut self, kind: &'static str) {
        if !self.media.contains(&kind) {
            self.media.push(kind);
        }
    }
}

struct Replacer<'a, 'k> {
    detector: &'a Detector,
    slots: Vec<Slot>,
    next: usize,
    values: &'a [(String, String)],
    actions: &'a [ValueAction],
    finders: Vec<Option<Finder<'static>>>,
    vault: &'a mut Vault<'k>,
    replaced: usize,
    redacted: usize,
    error: Option<VaultError>,
}

impl Replacer<'_, '_> {
    /// The detector's spans for this slot: from the first pass when the slot is the one
    /// it saw, else scanned again (the walk order is deterministic, this is a safeguard).
    fn spans_for(&mut self, text: &str) -> Vec<(usize, usize, usize)> {
        let i = self.next;
        self.next += 1;
        if let Some(s) = self.slots.get_mut(i)
            && s.len == text.len()
            && s.hash == fingerprint(text)
        {
            return std::mem::take(&mut s.spans);
        }
        self.detector
            .scan(text)
            .into_iter()
            .filter_map(|f| {
                let v = &text[f.start..f.end];
                let i = self.values.iter().position(|(_, x)| x == v)?;
                Some((f.start, f.end, i))
            })
            .collect()
    }
}

impl Visitor for Replacer<'_, '_> {
    fn text(&mut self, text: &mut String) -> bool {
        let mut spans = self.spans_for(text);
        let lower = text.to_ascii_lowercase();
        let mut extra = Vec::new();
        for (i, f) in self.finders.iter().enumerate() {
            let Some(f) = f else { continue };
            for s in f.find_iter(lower.as_bytes()) {
                let e = s + f.needle().len();
                // A valid UTF-8 needle found in valid UTF-8 starts and ends on character
                // boundaries; checked all the same before slicing.
                if !text.is_char_boundary(s) || !text.is_char_boundary(e) {
                    continue;
                }
                if !on_word_boundaries(text, s, e) || spans.iter().any(|&(a, b, _)| s < b && a < e)
                {
                    continue;
                }
                extra.push((s, e, i));
            }
        }
        // Leftmost-longest among the propagated matches.
        extra.sort_unstable_by(|a, b| a.0.cmp(&b.0).then((b.1 - b.0).cmp(&(a.1 - a.0))));
        let mut last_end = 0;
        for m in extra {
            if m.0 >= last_end {
                last_end = m.1;
                spans.push(m);
            }
        }
        if spans
            .iter()
            .all(|&(_, _, i)| self.actions.get(i) == Some(&ValueAction::Allow))
        {
            return false;
        }
        spans.sort_unstable_by_key(|&(s, _, _)| s);
        let mut out = String::with_capacity(text.len() + 16 * spans.len());
        let mut at = 0;
        for (s, e, i) in spans {
            if s < at {
                continue;
            }
            let entity = &self.values[i].0;
            match self.actions.get(i).copied() {
                Some(ValueAction::Allow) => continue,
                Some(ValueAction::Redact) => {
                    out.push_str(&text[at..s]);
                    out.push_str("[REDACTED_");
                    out.push_str(entity);
                    out.push(']');
                    at = e;
                    self.redacted += 1;
                    continue;
                }
                Some(ValueAction::Pseudonymise) | None => {}
            }
            match self.vault.pseudonym(entity, &text[s..e]) {
                Ok(p) => {
                    out.push_str(&text[at..s]);
                    out.push_str(p);
                    at = e;
                    self.replaced += 1;
                }
                Err(err) => {
                    self.error.get_or_insert(err);
                    return false;
                }
            }
        }
        out.push_str(&text[at..]);
        *text = out;
        true
    }

    fn media(&mut self, _kind: &'static str) {}
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenStyle;
    use crate::reidentify::Reidentifier;
    use crate::vault::TokenKey;
    use serde_json::json;
    use std::sync::LazyLock;

    static DETECTOR: LazyLock<Detector> = LazyLock::new(Detector::builtin);

    fn run(
        body: &mut Value,
        allow_media: bool,
    ) -> (Result<Summary, Refusal>, Vec<(String, String)>) {
        let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
        let mut vault = Vault::new(&key, None, TokenStyle::Token, 1000);
        let r = pseudonymise(
            &DETECTOR,
            Endpoint::OpenaiChat,
            body,
            &mut vault,
            allow_media,
        )
        .map_err(|r| r.refusal);
        let pairs = vault
            .entries()
            .iter()
            .map(|e| (e.pseudonym.clone(), e.original.clone()))
            .collect();
        (r, pairs)
    }

    #[test]
    fn a_value_found_once_is_masked_in_every_message() {
        let mut body = json!({"model": "m", "messages": [
            {"role": "user", "content": "Dupont a appelé. Jean Dupont aussi."},
            {"role": "assistant", "content": "Bien reçu pour Dupont.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f",
                 "arguments": "{\"to\":\"jean.dupont@example.fr\",\"who\":\"Dupont\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "envoyé à jean.dupont@example.fr"},
            {"role": "user", "content": "Écrivez à M. Jean Dupont, jean.dupont@example.fr"}
        ]});
        let (r, pairs) = run(&mut body, false);
        let s = r.unwrap();
        assert!(s.changed);
        let text = body.to_string();
        assert!(!text.contains("Dupont"), "{text}");
        assert!(!text.contains("jean.dupont"), "{text}");
        // The arguments are still JSON.
        let args = body["messages"][1]["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap();
        let parsed: Value = serde_json::from_str(args).unwrap();
        assert!(parsed["to"].as_str().unwrap().starts_with("[EMAIL_"));
        assert!(!pairs.is_empty());
    }

    #[test]
    fn round_trip_restores_the_original_text() {
        let original = "Bonjour, je suis Jean Dupont (jean.dupont@example.fr, 06 12 34 56 78).";
        let mut body = json!({"messages": [{"role": "user", "content": original}]});
        let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
        let mut vault = Vault::new(&key, None, TokenStyle::Token, 1000);
        pseudonymise(
            &DETECTOR,
            Endpoint::OpenaiChat,
            &mut body,
            &mut vault,
            false,
        )
        .unwrap();
        let masked = body["messages"][0]["content"].as_str().unwrap().to_owned();
        assert_ne!(masked, original);
        let r = Reidentifier::new(&vault);
        assert_eq!(r.reidentify(&masked).0, original);
    }

    #[test]
    fn secrets_and_images_are_refused() {
        let mut body = json!({"messages": [{"role": "user",
            "content": "ma clé sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"}]});
        let (r, _) = run(&mut body, false);
        assert_eq!(
            r,
            Err(Refusal::Secret {
                kind: "openai-key".into()
            })
        );
        let mut body = json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "voici"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]});
        let (r, _) = run(&mut body.clone(), false);
        assert_eq!(r, Err(Refusal::Unscannable { kind: "image" }));
        let (r, _) = run(&mut body, true);
        assert_eq!(r.unwrap().unscanned, vec!["image"]);
    }

    #[test]
    fn a_refusal_carries_its_findings_and_keyed_hashes_but_no_value() {
        let secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD";
        let mut body = json!({"messages": [{"role": "user",
            "content": format!("Jean Dupont, ma clé {secret}")}]});
        let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
        let mut vault = Vault::new(&key, None, TokenStyle::Token, 1000);
        let r = pseudonymise(
            &DETECTOR,
            Endpoint::OpenaiChat,
            &mut body,
            &mut vault,
            false,
        )
        .unwrap_err();
        assert!(matches!(r.refusal, Refusal::Secret { .. }));
        assert_eq!(r.summary.findings.get("SECRET"), Some(&1));
        assert_eq!(r.summary.findings_by_nature.get("secret"), Some(&1));
        assert!(!r.summary.findings_by_sensitivity.is_empty());
        let expected = crate::audit::hex(&key.audit_hash("SECRET", secret));
        assert!(
            r.value_hashes
                .iter()
                .any(|(e, h)| e == "SECRET" && *h == expected),
            "{r:?}"
        );
        assert!(!format!("{r:?}").contains(secret));
        assert!(!format!("{r:?}").contains("Dupont"));
        assert!(vault.is_empty());
    }

    /// Scans `body`, gives every value of `entity` the action `a` (others are
    /// pseudonymised) and rewrites.
    fn rewrite_with(body: &mut Value, entity: &str, a: ValueAction) -> (Summary, Vault<'static>) {
        static KEY: LazyLock<TokenKey> =
            LazyLock::new(|| TokenKey::from_secret(b"test secret, 32 bytes long......"));
        let mut vault = Vault::new(&KEY, None, TokenStyle::Token, 1000);
        let scanned = scan(&DETECTOR, Endpoint::OpenaiChat, body);
        let per_finding: Vec<ValueAction> = scanned
            .findings()
            .iter()
            .map(|f| {
                if f.entity == entity {
                    a
                } else {
                    ValueAction::Pseudonymise
                }
            })
            .collect();
        let actions = scanned.value_actions(&per_finding);
        let s = rewrite(
            scanned,
            &DETECTOR,
            Endpoint::OpenaiChat,
            body,
            &mut vault,
            &actions,
            false,
        )
        .unwrap();
        (s, vault)
    }

    #[test]
    fn redacted_values_get_a_placeholder_everywhere_and_stay_out_of_the_vault() {
        let mut body = json!({"messages": [
            {"role": "user", "content": "Jean Dupont, jean.dupont@example.fr"},
            {"role": "user", "content": "Copie à JEAN.DUPONT@EXAMPLE.FR"}]});
        let (s, vault) = rewrite_with(&mut body, "EMAIL", ValueAction::Redact);
        let text = body.to_string();
        assert!(!text.to_lowercase().contains("jean.dupont@"), "{text}");
        assert_eq!(text.matches("[REDACTED_EMAIL]").count(), 2, "{text}");
        assert_eq!(s.redacted, 2);
        assert!(vault.entries().iter().all(|e| e.entity != "EMAIL"));
        assert!(vault.entries().iter().any(|e| e.entity == "PERSON"));
        // Re-identification restores the name, never the redacted value.
        let r = Reidentifier::new(&vault);
        let back = r.reidentify(&text).0.into_owned();
        assert!(
            back.contains("Jean Dupont") && back.contains("[REDACTED_EMAIL]"),
            "{back}"
        );
    }

    #[test]
    fn allowed_values_leave_as_they_are() {
        let mut body = json!({"messages": [
            {"role": "user", "content": "Jean Dupont, 06 12 34 56 78"}]});
        let (s, vault) = rewrite_with(&mut body, "PHONE", ValueAction::Allow);
        let text = body.to_string();
        assert!(text.contains("06 12 34 56 78"), "{text}");
        assert!(!text.contains("Dupont"), "{text}");
        assert_eq!(s.redacted, 0);
        assert!(vault.entries().iter().all(|e| e.entity != "PHONE"));
        let mut body = json!({"messages": [{"role": "user", "content": "06 12 34 56 78"}]});
        let before = body.clone();
        let (s, _) = rewrite_with(&mut body, "PHONE", ValueAction::Allow);
        assert!(!s.changed);
        assert_eq!(body, before);
    }

    #[test]
    fn a_value_found_with_different_actions_gets_the_strictest() {
        let mut body = json!({"messages": [{"role": "user",
            "content": "Jean Dupont écrit. Jean Dupont signe."}]});
        let scanned = scan(&DETECTOR, Endpoint::OpenaiChat, &mut body);
        assert!(scanned.findings().len() >= 2, "{scanned:?}");
        let mut per = vec![ValueAction::Allow; scanned.findings().len()];
        per[1] = ValueAction::Redact;
        let actions = scanned.value_actions(&per);
        assert_eq!(actions[scanned.findings()[0].value], ValueAction::Redact);
        // Debug never shows a value.
        assert!(!format!("{scanned:?}").contains("Dupont"));
    }

    #[test]
    fn nothing_found_leaves_the_body_unchanged() {
        let mut body = json!({"messages": [{"role": "user", "content": "Quelle heure est-il ?"}]});
        let before = body.clone();
        let (r, _) = run(&mut body, false);
        assert!(!r.unwrap().changed);
        assert_eq!(body, before);
    }
}
