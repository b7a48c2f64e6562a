//! \[pure\] Residual re-identification risk: what could still single a person out in the
//! text that leaves, once the policy has decided what is pseudonymised.
//!
//! The method (docs/AUDIT.md, "Residual re-identification risk", says it for auditors):
//!
//! - a **person reference** is a finding of a direct identifier ([`is_person_reference`]:
//!   `PERSON`, `EMAIL`, `PHONE`, national numbers, bank numbers) whose value leaves
//!   pseudonymised or redacted: someone the provider cannot name, but knows is there;
//! - a **quasi-identifier** is a finding of [`quasi_kind`] (`LOCATION`, `DATE`,
//!   `DATE_OF_BIRTH`, `ORGANIZATION`, `ADDRESS`, `JOB_TITLE`, `AGE`) or of nature
//!   `special-category` (a rare attribute: a health condition, a religion) whose value
//!   leaves **in clear**;
//! - around each person reference, in the same slot (one message part) and within
//!   [`WINDOW_BYTES`] bytes of it on either side, the distinct quasi-identifier kinds are
//!   counted; the request's level is the highest over its person references:
//!   no kind → `none`, 1 → `low`, 2 → `medium`, 3 or more → `high`, and `high` too for a
//!   combination known to single people out on its own: a date of birth with a place or
//!   a postcode (Sweeney, 2000: ZIP code, date of birth and sex identify 87 % of the US
//!   population).
//!
//! It is a pass over the findings the detector already made (no new scan): what the
//! detector misses, it cannot count, so the level is a lower bound.
//!
//! Never sees a value: entities, natures, positions and value indices only.

use std::collections::{BTreeMap, BTreeSet};

use crate::detect::Nature;

pub mod leaks;

/// How far (in bytes of the normalised text, on either side of a person reference) a
/// quasi-identifier counts as near it: about two sentences.
pub const WINDOW_BYTES: usize = 160;

/// A residual re-identification risk level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::None, Level::Low, Level::Medium, Level::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// What `[policy.risk]` does about a request at or above its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RiskAction {
    /// Only the record's `risk` says it (the default).
    #[default]
    Record,
    /// The quasi-identifiers near person references are pseudonymised too.
    PseudonymiseQuasi,
    /// Forwarded, with a `paravent-risk` header on the answer.
    Warn,
    /// Refused (`paravent_reidentification_risk`).
    Block,
}

impl RiskAction {
    pub const NAMES: [&'static str; 4] = ["record", "pseudonymise-quasi", "warn", "block"];

    pub fn parse(s: &str) -> Option<RiskAction> {
        match s {
            "record" => Some(RiskAction::Record),
            "pseudonymise-quasi" => Some(RiskAction::PseudonymiseQuasi),
            "warn" => Some(RiskAction::Warn),
            "block" => Some(RiskAction::Block),
            _ => None,
        }
    }

    /// The record's `risk.action` once taken (`None` for record).
    pub fn recorded(self) -> Option<&'static str> {
        match self {
            RiskAction::Record => None,
            RiskAction::PseudonymiseQuasi => Some("pseudonymised-quasi"),
            RiskAction::Warn => Some("warned"),
            RiskAction::Block => Some("blocked"),
        }
    }
}

/// `[policy.risk]`, compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskPolicy {
    /// The level at which `action` is taken.
    pub threshold: Level,
    pub action: RiskAction,
}

impl Default for RiskPolicy {
    fn default() -> RiskPolicy {
        RiskPolicy {
            threshold: Level::Medium,
            action: RiskAction::Record,
        }
    }
}

impl RiskPolicy {
    /// The action to take at `level` (`Record` below the threshold or at `none`).
    pub fn action_at(&self, level: Level) -> RiskAction {
        if level > Level::None && level >= self.threshold {
            self.action
        } else {
            RiskAction::Record
        }
    }
}

/// Whether a finding of `entity` designates a person directly (a person reference when
/// pseudonymised).
pub fn is_person_reference(entity: &str) -> bool {
    matches!(
        entity,
        "PERSON"
            | "EMAIL"
            | "PHONE"
            | "FR_NIR"
            | "US_SSN"
            | "UK_NINO"
            | "IBAN"
            | "FR_RIB"
            | "CREDIT_CARD"
    )
}

/// The quasi-identifier kind of a finding, if it is one: its entity for the known
/// kinds, and for any special-category finding (a rare attribute).
pub fn quasi_kind(entity: &str, nature: Nature) -> Option<&str> {
    match entity {
        "LOCATION" | "DATE" | "DATE_OF_BIRTH" | "ORGANIZATION" | "ADDRESS" | "JOB_TITLE"
        | "AGE" => Some(entity),
        _ if nature == Nature::SpecialCategory => Some(entity),
        _ => None,
    }
}

/// How a mentioned value leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaves {
    /// As it was written.
    Clear,
    /// Replaced by a token or a redaction marker.
    Masked,
}

/// One finding's place in the outgoing text, without its value.
#[derive(Debug, Clone, Copy)]
pub struct Mention<'a> {
    pub slot: usize,
    pub start: usize,
    pub end: usize,
    pub entity: &'a str,
    pub nature: Nature,
    /// The distinct value it is (an index the caller understands).
    pub value: usize,
    pub leaves: Leaves,
}

/// The residual risk of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assessment {
    pub level: Level,
    /// Distinct person values referenced (masked).
    pub persons: usize,
    /// Quasi-identifier kind → distinct values of it in clear near a person reference.
    pub quasi: BTreeMap<String, usize>,
    /// The values of those quasi-identifiers (what `pseudonymise-quasi` masks), sorted.
    pub near: Vec<usize>,
}

/// The level of a set of quasi-identifier kinds around one person.
pub fn level_of(kinds: &BTreeSet<&str>) -> Level {
    let dob = kinds.contains("DATE_OF_BIRTH");
    let place = kinds.contains("ADDRESS") || kinds.contains("LOCATION");
    match kinds.len() {
        0 => Level::None,
        _ if dob && place => Level::High,
        1 => Level::Low,
        2 => Level::Medium,
        _ => Level::High,
    }
}

/// Assesses the mentions of one request (any order).
///
/// ```
/// use paravent::detect::Nature;
/// use paravent::risk::{assess, Leaves, Level, Mention};
/// let m = |start, entity, leaves, value| Mention {
///     slot: 0, start, end: start + 5, entity, nature: Nature::Personal, value, leaves,
/// };
/// let a = assess(&[
///     m(0, "PERSON", Leaves::Masked, 0),
///     m(20, "LOCATION", Leaves::Clear, 1),
///     m(40, "JOB_TITLE", Leaves::Clear, 2),
/// ]);
/// assert_eq!(a.level, Level::Medium);
/// assert_eq!(a.persons, 1);
/// ```
pub fn assess(mentions: &[Mention<'_>]) -> Assessment {
    let persons: Vec<&Mention<'_>> = mentions
        .iter()
        .filter(|m| m.leaves == Leaves::Masked && is_person_reference(m.entity))
        .collect();
    let quasi: Vec<(&Mention<'_>, &str)> = mentions
        .iter()
        .filter(|m| m.leaves == Leaves::Clear)
        .filter_map(|m| quasi_kind(m.entity, m.nature).map(|k| (m, k)))
        .collect();
    let mut level = Level::None;
    let mut near: BTreeMap<usize, &str> = BTreeMap::new();
    for p in &persons {
        let mut kinds = BTreeSet::new();
        for (q, kind) in &quasi {
            if q.slot == p.slot && gap(p, q) <= WINDOW_BYTES {
                kinds.insert(*kind);
                near.insert(q.value, kind);
            }
        }
        level = level.max(level_of(&kinds));
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for kind in near.values() {
        *counts.entry((*kind).to_owned()).or_default() += 1;
    }
    let distinct: BTreeSet<usize> = persons.iter().map(|p| p.value).collect();
    Assessment {
        level,
        persons: distinct.len(),
        quasi: counts,
        near: near.into_keys().collect(),
    }
}

/// Bytes between two spans (0 when they touch or overlap).
fn gap(a: &Mention<'_>, b: &Mention<'_>) -> usize {
    if b.start >= a.end {
        b.start - a.end
    } else {
        a.start.saturating_sub(b.end)
    }
}

#[cfg(test)]
mod tests;
