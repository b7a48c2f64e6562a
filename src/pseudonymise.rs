//! [pure] The request phase's core: scan every text slot of a request, decide whether
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

use crate::detect::{Detector, Nature};
use crate::vault::{Vault, VaultError};
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
    /// Values replaced, propagated repeats included.
    pub replaced: usize,
    /// Kinds of unscannable content that were allowed to leave.
    pub unscanned: Vec<&'static str>,
}

/// Scans and pseudonymises `body` (a request for `endpoint`) in place.
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
    let mut collect = Collector {
        detector,
        slots: Vec::new(),
        values: Vec::new(),
        index: HashMap::new(),
        media: Vec::new(),
        secret: None,
        findings: BTreeMap::new(),
        by_nature: BTreeMap::new(),
        by_sensitivity: BTreeMap::new(),
    };
    walk::walk_request(endpoint, body, &mut collect);
    let mut summary = Summary {
        findings: std::mem::take(&mut collect.findings),
        findings_by_nature: std::mem::take(&mut collect.by_nature),
        findings_by_sensitivity: std::mem::take(&mut collect.by_sensitivity),
        ..Summary::default()
    };
    let refused = |refusal: Refusal, summary: &Summary, vault: &Vault<'_>| {
        Box::new(Refused {
            refusal,
            summary: Summary {
                unscanned: Vec::new(),
                changed: false,
                replaced: 0,
                ..summary.clone()
            },
            value_hashes: collect
                .values
                .iter()
                .map(|(entity, value)| {
                    let h = vault.audit_hash(entity, value);
                    (entity.clone(), crate::audit::hex(&h))
                })
                .collect(),
        })
    };
    if let Some(kind) = collect.secret.clone() {
        return Err(refused(Refusal::Secret { kind }, &summary, vault));
    }
    if let Some(&kind) = collect.media.first()
        && !allow_media
    {
        return Err(refused(Refusal::Unscannable { kind }, &summary, vault));
    }
    summary.unscanned = std::mem::take(&mut collect.media);
    if collect.values.is_empty() {
        return Ok(summary);
    }
    // The vault gets every value in the order found, so tokens do not depend on which
    // slot propagation reaches first.
    for (entity, value) in &collect.values {
        if let Err(e) = vault.pseudonym(entity, value) {
            return Err(refused(e.into(), &summary, vault));
        }
    }
    // Propagation searches every slot for every value, ASCII case-insensitively: the
    // slot is lower-cased once (which keeps byte offsets) and each value has a memmem
    // finder. For the few dozen values of a request this is cheaper than building an
    // Aho-Corasick automaton per request (~100 µs for 20 patterns).
    let finders: Vec<Finder<'static>> = collect
        .values
        .iter()
        .map(|(_, v)| Finder::new(v.to_ascii_lowercase().as_bytes()).into_owned())
        .collect();
    let mut replace = Replacer {
        detector,
        slots: collect.slots,
        next: 0,
        values: &collect.values,
        finders,
        vault,
        replaced: 0,
        error: None,
    };
    summary.changed = walk::walk_request_changed(endpoint, body, &mut replace);
    if let Some(e) = replace.error {
        return Err(refused(e.into(), &summary, replace.vault));
    }
    summary.replaced = replace.replaced;
    Ok(summary)
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
    media: Vec<&'static str>,
    secret: Option<String>,
    findings: BTreeMap<String, usize>,
    by_nature: BTreeMap<&'static str, usize>,
    by_sensitivity: BTreeMap<&'static str, usize>,
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
    finders: Vec<Finder<'static>>,
    vault: &'a mut Vault<'k>,
    replaced: usize,
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
        if spans.is_empty() {
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

    #[test]
    fn nothing_found_leaves_the_body_unchanged() {
        let mut body = json!({"messages": [{"role": "user", "content": "Quelle heure est-il ?"}]});
        let before = body.clone();
        let (r, _) = run(&mut body, false);
        assert!(!r.unwrap().changed);
        assert_eq!(body, before);
    }
}
