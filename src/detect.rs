//! Detection: text in, findings out.
//!
//! This module owns the [`Detector`], compiled once per configuration generation from the
//! rule files (`rules/*.toml`) and shared as `Arc<Detector>`. It is pure: no I/O once
//! compiled, no async, no logging, and it never keeps or prints the text it scans.
//!
//! A scan runs four kinds of recognisers over the same text, then resolves overlaps:
//!
//! 1. pattern rules (one `RegexSet` as a prefilter, then each rule that hit, with an
//!    optional check-digit validator and context words), see `patterns`;
//! 2. dictionary rules (case- and accent-folded terms in one table keyed by their
//!    hash, looked up from word starts, checked on word boundaries), see `dictionary`;
//! 3. person names (first-name gazetteer, honorifics, greetings, signatures, upper-case
//!    surnames, names derived from e-mail addresses), see `names`;
//! 4. propagation: a name found once is found again wherever its parts recur.
//!
//! Overlaps resolve deterministically: longest first, then highest priority, then
//! earliest (see `overlap`).
//!
//! Every recogniser reads the *normalised view* of the text (see [`normalise`]): what the
//! provider reads, not the raw code points, so that a zero-width space, a narrow no-break
//! space, a fullwidth digit or a soft hyphen inside a value does not hide it. Findings are
//! mapped back to the original's byte offsets, covering the invisible characters inside
//! the value.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod dictionary;
mod fold;
mod names;
pub mod normalise;
mod organisations;
mod overlap;
mod patterns;
pub(crate) use patterns::build_regex;
pub mod rules;
pub mod validators;

#[cfg(test)]
mod tests;

pub use rules::{RuleError, RuleErrors, RuleSet, RuleSource};

/// What kind of value a finding is (`PERSON`, `EMAIL`, `FR_NIR`…).
///
/// Entity names are upper-case identifiers. The shipped rules use the names listed in
/// [`Entity::KNOWN`]; an admin's dictionary may add its own (`PROJECT`, `CLIENT`…).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Entity(Arc<str>);

impl Entity {
    /// The entity types the shipped rules produce.
    pub const KNOWN: &'static [&'static str] = &[
        "PERSON",
        "EMAIL",
        "PHONE",
        "IBAN",
        "CREDIT_CARD",
        "FR_NIR",
        "FR_SIREN",
        "FR_SIRET",
        "FR_VAT",
        "FR_RIB",
        "US_SSN",
        "UK_NINO",
        "IP_ADDRESS",
        "URL",
        "LOCATION",
        "ADDRESS",
        "DATE_OF_BIRTH",
        "DATE",
        "ORGANIZATION",
        "SECRET",
        "CUSTOM",
        "HEALTH",
        "RELIGION",
        "POLITICAL_OPINION",
        "UNION_MEMBERSHIP",
        "SEXUAL_ORIENTATION",
        "ETHNIC_ORIGIN",
        "CRIMINAL_RECORD",
        "ID_NUMBER",
    ];

    /// Parses an entity name: `A-Z`, `0-9` and `_`, starting with a letter.
    pub fn parse(name: &str) -> Option<Entity> {
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_uppercase());
        let rest_ok = chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        (first_ok && rest_ok && name.len() <= 64).then(|| Entity(Arc::from(name)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn person() -> Entity {
        Entity(Arc::from("PERSON"))
    }

    /// `ID_NUMBER`: a value of an identifier's shape whose check fails (a mistyped NIR
    /// announced as one, an IBAN whose mod 97 fails). Hidden like any personal
    /// identifier, at `confidential`, never with what the checked entity triggers.
    pub(crate) fn unchecked() -> Entity {
        Entity(Arc::from("ID_NUMBER"))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The nature of the data, which the policy uses to decide what to do with it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Nature {
    /// Personal data (GDPR art. 4).
    #[default]
    Personal,
    /// Special categories of personal data (GDPR art. 9: health, religion, …).
    SpecialCategory,
    /// Bank and payment data.
    Financial,
    /// The company's strategic data (clients, projects, figures).
    Strategic,
    /// Credentials: keys, tokens, passwords.
    Secret,
    /// Technical identifiers (IP addresses, URLs).
    Technical,
}

impl Nature {
    pub const NAMES: &'static [&'static str] = &[
        "personal",
        "special-category",
        "financial",
        "strategic",
        "secret",
        "technical",
    ];

    pub const ALL: [Nature; 6] = [
        Nature::Personal,
        Nature::SpecialCategory,
        Nature::Financial,
        Nature::Strategic,
        Nature::Secret,
        Nature::Technical,
    ];

    /// Parses a nature name as written in configs (`special-category`).
    pub fn parse(s: &str) -> Option<Nature> {
        Nature::ALL.into_iter().find(|n| n.as_str() == s.trim())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Nature::Personal => "personal",
            Nature::SpecialCategory => "special-category",
            Nature::Financial => "financial",
            Nature::Strategic => "strategic",
            Nature::Secret => "secret",
            Nature::Technical => "technical",
        }
    }
}

/// How sensitive a value is, ordered: `public < internal < confidential < secret`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Sensitivity {
    Public,
    Internal,
    #[default]
    Confidential,
    Secret,
}

impl Sensitivity {
    pub const NAMES: &'static [&'static str] = &["public", "internal", "confidential", "secret"];
    /// Every level, from the least sensitive.
    pub const ALL: [Sensitivity; 4] = [
        Sensitivity::Public,
        Sensitivity::Internal,
        Sensitivity::Confidential,
        Sensitivity::Secret,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Confidential => "confidential",
            Sensitivity::Secret => "secret",
        }
    }

    pub fn parse(s: &str) -> Option<Sensitivity> {
        let s = s.trim();
        Sensitivity::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s))
    }
}

/// One value found in a text.
///
/// `start..end` is a byte range of the scanned `&str`, always on character boundaries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    pub entity: Entity,
    pub nature: Nature,
    pub sensitivity: Sensitivity,
    /// The id of the rule that produced the finding (`fr.nir`, `person.honorific`…).
    pub rule: Arc<str>,
    /// Confidence in `0.0..=1.0`.
    pub score: f32,
}

impl Finding {
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// What a rule says about the values it finds; shared by every finding of that rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleMeta {
    pub id: Arc<str>,
    pub entity: Entity,
    pub nature: Nature,
    pub sensitivity: Sensitivity,
    pub priority: i32,
    pub score: f32,
}

/// A candidate before overlap resolution: a span and the rule (or name heuristic)
/// that proposed it, with the row's own sensitivity for dictionary terms.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub start: usize,
    pub end: usize,
    pub meta: usize,
    pub sensitivity: Option<Sensitivity>,
    pub entity: Option<Entity>,
    pub score: f32,
}

/// The compiled detector: every rule of a [`RuleSet`], ready to scan.
///
/// Build it once per configuration and share it (`Detector: Send + Sync`).
#[derive(Debug)]
pub struct Detector {
    metas: Vec<RuleMeta>,
    patterns: patterns::Patterns,
    dictionary: dictionary::Dictionary,
    names: Option<names::Names>,
}

impl Detector {
    /// Compiles a rule set.
    ///
    /// # Errors
    /// Every problem found (bad regex, unknown validator, unreadable dictionary, …), each
    /// with the file and line it comes from.
    pub fn new(set: &RuleSet) -> Result<Detector, RuleErrors> {
        rules::compile(set)
    }

    /// The shipped rule sets (embedded in the binary), compiled.
    ///
    /// # Panics
    /// Never in a released build: a test compiles the shipped rules.
    pub fn builtin() -> Detector {
        let set = RuleSet::builtin().expect("the shipped rules parse");
        Detector::new(&set).expect("the shipped rules compile")
    }

    /// The number of rules compiled in (pattern, dictionary and name heuristics).
    pub fn rule_count(&self) -> usize {
        self.metas.len()
    }

    /// Every entity name this detector can produce: its rules' entities and the ones
    /// dictionary rows name (the policy validates its `entity` lists against them).
    pub fn entities(&self) -> std::collections::BTreeSet<String> {
        let mut out: std::collections::BTreeSet<String> =
            self.metas.iter().map(|m| m.entity.to_string()).collect();
        out.extend(self.dictionary.row_entities().map(ToString::to_string));
        out
    }

    /// Every nature this detector's rules give their findings.
    pub fn natures(&self) -> std::collections::BTreeSet<Nature> {
        self.metas.iter().map(|m| m.nature).collect()
    }

    /// Every entity name a rule of nature `secret` produces, and `SECRET`: allow lists
    /// may not name them.
    pub fn secret_entities(&self) -> std::collections::BTreeSet<String> {
        let mut out: std::collections::BTreeSet<String> = self
            .metas
            .iter()
            .filter(|m| m.nature == Nature::Secret)
            .map(|m| m.entity.to_string())
            .collect();
        out.insert("SECRET".to_owned());
        out
    }

    /// Trains the statistical person-name layer on labelled texts (name spans in byte
    /// offsets) with this detector's tokenizer and name lists; returns the table text
    /// and a held-out report. For `examples/train_names.rs` only: pure, no I/O.
    #[doc(hidden)]
    pub fn train_person_model(
        &self,
        samples: &[(String, Vec<(usize, usize)>)],
        epochs: usize,
        thresholds: (f32, f32),
        min_weight: f32,
        header: &str,
    ) -> Option<(String, String)> {
        self.names
            .as_ref()
            .map(|n| n.train_model(samples, epochs, thresholds, min_weight, header))
    }

    /// Ids of every compiled rule.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.metas.iter().map(|m| &*m.id)
    }

    /// Finds the sensitive values in `text`, sorted by start, never overlapping.
    ///
    /// Every recogniser reads the normalised view of the text ([`normalise`]: what the
    /// provider reads, with invisible characters removed and look-alike digits, spaces and
    /// dashes folded); the findings are in `text`'s own byte offsets, and a finding's span
    /// covers the invisible characters inside the value.
    ///
    /// ```
    /// let detector = paravent::detect::Detector::builtin();
    /// let found = detector.scan("Écrivez à jean.dupont@example.fr");
    /// assert_eq!(found[0].entity.as_str(), "EMAIL");
    /// let text = "carte 4111\u{200b}1111 1111 1111";
    /// let found = detector.scan(text);
    /// assert_eq!(&text[found[0].start..found[0].end], "4111\u{200b}1111 1111 1111");
    /// ```
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let view = normalise::normalise(text);
        let found = self.scan_normalised(view.as_str());
        if view.is_identity() {
            return found;
        }
        let mut out: Vec<Finding> = Vec::with_capacity(found.len());
        for mut f in found {
            (f.start, f.end) = view.original_span(f.start, f.end);
            // Two findings inside one expanded character (a ligature, U+FDFA) map to the
            // same original span: the first one covers it.
            if out.last().is_some_and(|prev| f.start < prev.end) {
                continue;
            }
            out.push(f);
        }
        out
    }

    /// Keeps the terms that wanted a person's name near them (special categories) where
    /// a name candidate, not overlapping the term, lies within the rule's window.
    fn keep_near_names(&self, pending: Vec<dictionary::Pending>, candidates: &mut Vec<Candidate>) {
        if pending.is_empty() {
            return;
        }
        let is_person = |c: &Candidate| {
            c.entity
                .as_ref()
                .unwrap_or(&self.metas[c.meta].entity)
                .as_str()
                == "PERSON"
        };
        let names: Vec<(usize, usize)> = candidates
            .iter()
            .filter(|c| is_person(c))
            .map(|c| (c.start, c.end))
            .collect();
        for p in pending {
            let (s, e) = (p.candidate.start, p.candidate.end);
            let near = names.iter().any(|&(ns, ne)| {
                (ne <= s && s - ne <= p.window) || (ns >= e && ns - e <= p.window)
            });
            if near {
                candidates.push(p.candidate);
            }
        }
    }

    /// [`Detector::scan`] on a text that is already normalised.
    fn scan_normalised(&self, text: &str) -> Vec<Finding> {
        let mut candidates = Vec::new();
        // One folded copy (lower case, no accents) serves context words, dictionaries
        // and names.
        let folded = fold::Folded::new(text);
        self.patterns
            .scan(text, &folded, &self.metas, &mut candidates);
        let mut pending = Vec::new();
        self.dictionary
            .scan(text, &folded, &self.metas, &mut candidates, &mut pending);
        if let Some(names) = &self.names {
            names.scan(text, &folded, &self.metas, &mut candidates);
        }
        organisations::settle(text, &mut candidates, &self.metas);
        self.keep_near_names(pending, &mut candidates);
        let kept = overlap::resolve(candidates, &self.metas);
        kept.into_iter()
            .map(|c| {
                let meta = &self.metas[c.meta];
                Finding {
                    start: c.start,
                    end: c.end,
                    entity: c.entity.unwrap_or_else(|| meta.entity.clone()),
                    nature: meta.nature,
                    sensitivity: c.sensitivity.unwrap_or(meta.sensitivity),
                    rule: meta.id.clone(),
                    score: c.score,
                }
            })
            .collect()
    }
}
