//! \[pure\] Allow lists: the company's own identifiers (its SIREN, its support address,
//! its public phone number, product names that read as names), sent as they are.
//!
//! A list holds exact values and patterns, for any entity type or for one
//! (`[allow]`, `[allow.entities.<ENTITY>]`), for everyone or for one team
//! (`[teams.<name>.allow]`). A finding is allowed when its value is on the global list or
//! on its team's list:
//!
//! - an exact value matches in the form the audit hashes values in
//!   ([`crate::detect::normalise::value_key`]): the detector's normalised view, lower case, single
//!   spaces, and for number-like entities (phone, IBAN, SIREN…) letters and digits only,
//!   so `552 100 554` on the list allows `552100554` in a prompt;
//! - a pattern must match the whole normalised value (it is anchored), case-insensitively.
//!
//! Secrets are never allowed by a list (a finding of nature `secret` or entity `SECRET`
//! is not even looked up): `check` refuses lists for secret entities and exact values
//! the detector reads as secrets, and a pattern cannot widen what `builtin.secret`
//! blocks.
//!
//! Never logs, never keeps a request's value.

use std::collections::{BTreeMap, HashSet};

use regex::Regex;

use crate::detect::Nature;

/// The rule id findings allowed by the global list are counted under.
pub const RULE_ALLOW_LIST: &str = "allow-list";

/// Every allow list of a configuration: the global one and each team's.
#[derive(Debug, Default)]
pub struct AllowLists {
    pub global: AllowList,
    pub teams: BTreeMap<String, AllowList>,
}

impl AllowLists {
    /// No list holds anything: nothing to look up.
    pub fn is_empty(&self) -> bool {
        self.global.is_empty() && self.teams.values().all(AllowList::is_empty)
    }

    /// The id of the list that allows this finding's value (`allow-list`, or
    /// `teams.<name>.allow` for the team's own), if any. Secrets are never allowed.
    pub fn allows(
        &self,
        team: Option<&str>,
        entity: &str,
        nature: Nature,
        value: &str,
    ) -> Option<String> {
        if nature == Nature::Secret || entity == "SECRET" || self.is_empty() {
            return None;
        }
        let key = Key::of(entity, value);
        if self.global.matches(entity, &key) {
            return Some(RULE_ALLOW_LIST.to_owned());
        }
        let t = team?;
        self.teams
            .get(t)
            .filter(|l| l.matches(entity, &key))
            .map(|_| format!("teams.{t}.allow"))
    }
}

/// One list: entries for any entity type, and entries for one entity type.
#[derive(Debug, Default)]
pub struct AllowList {
    pub any: Entries,
    pub by_entity: BTreeMap<String, Entries>,
}

impl AllowList {
    pub fn is_empty(&self) -> bool {
        self.any.is_empty() && self.by_entity.values().all(Entries::is_empty)
    }

    fn matches(&self, entity: &str, key: &Key) -> bool {
        self.any.matches(entity, key)
            || self
                .by_entity
                .get(entity)
                .is_some_and(|e| e.matches(entity, key))
    }
}

/// Exact values (in both hashed forms) and anchored, case-insensitive patterns.
#[derive(Debug, Default)]
pub struct Entries {
    /// `value_key` of each value for a word-like entity.
    words: HashSet<String>,
    /// The same for a number-like entity: letters and digits only.
    compact: HashSet<String>,
    patterns: Vec<Regex>,
}

/// Why an entry could not be compiled: which pattern, and the regex error.
#[derive(Debug)]
pub struct BadPattern {
    pub index: usize,
    pub error: String,
}

impl Entries {
    /// Compiles a list's values and patterns.
    ///
    /// # Errors
    /// Each pattern that does not compile (or is over the size limit), by index.
    pub fn new<'a>(
        values: impl IntoIterator<Item = &'a str>,
        patterns: impl IntoIterator<Item = &'a str>,
    ) -> Result<Entries, Vec<BadPattern>> {
        let mut e = Entries::default();
        for v in values {
            e.words.insert(crate::detect::normalise::value_key("", v));
            e.compact
                .insert(crate::detect::normalise::value_key("PHONE", v));
        }
        let mut bad = Vec::new();
        for (index, p) in patterns.into_iter().enumerate() {
            match crate::detect::build_regex(&format!("(?i)^(?:{p})$")) {
                Ok(r) => e.patterns.push(r),
                Err(err) => bad.push(BadPattern {
                    index,
                    error: err.to_string(),
                }),
            }
        }
        if bad.is_empty() { Ok(e) } else { Err(bad) }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty() && self.patterns.is_empty()
    }

    fn matches(&self, entity: &str, key: &Key) -> bool {
        let exact = if crate::detect::normalise::is_number_like(entity) {
            &self.compact
        } else {
            &self.words
        };
        exact.contains(&key.hashed) || self.patterns.iter().any(|r| r.is_match(&key.view))
    }
}

/// A finding's value in the forms the lists compare: as hashed, and the normalised view.
struct Key {
    hashed: String,
    view: String,
}

impl Key {
    fn of(entity: &str, value: &str) -> Key {
        let view = crate::detect::normalise::normalise(value);
        Key {
            hashed: crate::detect::normalise::value_key(entity, value),
            view: view.as_str().trim().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists(values: &[&str], patterns: &[&str]) -> AllowLists {
        AllowLists {
            global: AllowList {
                any: Entries::new(values.iter().copied(), patterns.iter().copied()).unwrap(),
                by_entity: BTreeMap::new(),
            },
            teams: BTreeMap::new(),
        }
    }

    #[test]
    fn exact_values_match_in_their_hashed_form_whatever_the_spacing_and_case() {
        let l = lists(&["552 100 554", "Support@Acme.fr", "Acme  Lumière"], &[]);
        let p = Nature::Personal;
        assert!(l.allows(None, "FR_SIREN", p, "552100554").is_some());
        assert!(
            l.allows(None, "FR_SIREN", p, "552\u{a0}100\u{a0}554")
                .is_some()
        );
        assert!(l.allows(None, "EMAIL", p, "support@acme.fr").is_some());
        assert!(l.allows(None, "PERSON", p, "ACME LUMIÈRE").is_some());
        assert!(l.allows(None, "EMAIL", p, "jean@acme.fr").is_none());
        assert!(l.allows(None, "FR_SIREN", p, "552100555").is_none());
    }

    #[test]
    fn patterns_must_match_the_whole_value_case_insensitively() {
        let l = lists(&[], &[r"[a-z]+@acme\.fr"]);
        let p = Nature::Personal;
        assert!(l.allows(None, "EMAIL", p, "Ventes@ACME.fr").is_some());
        assert!(l.allows(None, "EMAIL", p, "x@acme.fr.evil.com").is_none());
        assert!(l.allows(None, "EMAIL", p, "jean.dupont@acme.fr").is_none());
    }

    #[test]
    fn a_secret_is_never_allowed_even_when_listed() {
        let l = lists(&["sk-abc"], &[".*"]);
        assert!(
            l.allows(None, "API_KEY", Nature::Secret, "sk-abc")
                .is_none()
        );
        assert!(
            l.allows(None, "SECRET", Nature::Personal, "sk-abc")
                .is_none()
        );
    }

    #[test]
    fn a_teams_list_applies_to_that_team_only_and_names_it() {
        let mut l = AllowLists::default();
        let mut by_entity = BTreeMap::new();
        by_entity.insert(
            "PERSON".to_owned(),
            Entries::new(["Marie Curie"], []).unwrap(),
        );
        l.teams.insert(
            "rh".to_owned(),
            AllowList {
                any: Entries::default(),
                by_entity,
            },
        );
        let p = Nature::Personal;
        assert_eq!(
            l.allows(Some("rh"), "PERSON", p, "Marie Curie").as_deref(),
            Some("teams.rh.allow")
        );
        assert!(l.allows(Some("it"), "PERSON", p, "Marie Curie").is_none());
        assert!(l.allows(None, "PERSON", p, "Marie Curie").is_none());
        // Entity lists hold for their entity only.
        assert!(l.allows(Some("rh"), "ORG", p, "Marie Curie").is_none());
    }

    #[test]
    fn a_bad_pattern_is_reported_by_index() {
        let e = Entries::new([], ["ok", "(unclosed"]).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].index, 1);
    }
}
