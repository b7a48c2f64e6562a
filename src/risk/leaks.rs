//! \[pure\] Leaks in answers: personal data an answer holds that was not in the request
//! (the model producing someone's e-mail address, phone or bank number).
//!
//! - What is looked for: the direct identifiers of [`is_leak_entity`] (`EMAIL`,
//!   `PHONE`, national and bank numbers, card numbers), found by the request's own
//!   detector. Names (`PERSON`) are not: answers name public figures all the time.
//! - What is not a leak: a value the request held, pseudonymised (the vault restores
//!   it) or not (any value the detector found in the request, allowed ones included),
//!   compared in their key form ([`crate::detect::normalise::value_key`]: `06 12 34 56
//!   78` is `0612345678`).
//! - What is kept: per entity, the count of distinct leaked values, and their keyed
//!   hashes ([`crate::vault::TokenKey::audit_hash`], as the record's `values`); never a
//!   value.
//! - Redaction (`[policy.answers] leaks = "redact"`): each leaked value is replaced by
//!   [`placeholder`] (`[EMAIL redacted]`) in the answer the client gets. A stream
//!   ([`LeakStream`]) holds back only what may still grow into a value: the last word
//!   (until the next whitespace), and a trailing run of digits, spaces and `.-+()/`
//!   that holds a digit, with the word just before it (`FR76 3000 6000 …`); never more
//!   than [`MAX_HOLD_BYTES`], past which the text goes on as it is (docs/STREAMING.md).
//!   Recording alone holds nothing back: the text goes on as it came and is scanned
//!   behind it.
//!
//! Every leak entity's value holds a digit or an `@`: a stretch without either is not
//! scanned at all.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use crate::audit::{AnswerLeaks, ValueHash};
use crate::detect::Detector;
use crate::detect::normalise::value_key;
use crate::vault::TokenKey;

/// The most a stream holds back for a value still being written; past it, what is held
/// is sent on (and scanned all the same).
pub const MAX_HOLD_BYTES: usize = 128;

/// Text kept before what is scanned, for the detector's context words (`tél :`).
const CONTEXT_BYTES: usize = 64;

/// What `[policy.answers] leaks` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeakAction {
    /// Counted in the record only (the default).
    #[default]
    Record,
    /// Counted, and replaced in the answer by [`placeholder`].
    Redact,
}

/// Whether a finding of `entity` in an answer is looked at as a possible leak.
pub fn is_leak_entity(entity: &str) -> bool {
    entity != "PERSON" && super::is_person_reference(entity)
}

/// What replaces a leaked value in the answer: `[EMAIL redacted]`.
pub fn placeholder(entity: &str) -> String {
    format!("[{entity} redacted]")
}

/// Whether `text` may hold a leak entity's value at all.
fn may_hold(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_numeric() || c == '@' || c == '\u{FF20}')
}

/// One answer's leak finder, shared by every text stream of the answer.
pub struct Answers {
    detector: Arc<Detector>,
    key: TokenKey,
    /// The request's values of leak entities, as `(entity, value)` spans of
    /// `known_text`, until a finding must be compared with them.
    known_text: String,
    known_spans: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    /// Key forms of the request's values, computed at the first finding that needs
    /// them: most answers hold no value of a leak entity, and normalising every value of
    /// the request for each of them was a good part of the response phase.
    known: OnceLock<HashSet<String>>,
    redact: bool,
    /// `(entity, hex keyed hash)` of each distinct leaked value.
    found: Mutex<BTreeSet<(String, String)>>,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("known", &self.known_spans.len())
            .field("redact", &self.redact)
            .finish_non_exhaustive()
    }
}

impl Answers {
    /// A leak finder for the answer to a request that held `known` `(entity, value)`
    /// pairs (its findings and its vault's entries).
    pub fn new<'v>(
        detector: Arc<Detector>,
        key: TokenKey,
        action: LeakAction,
        known: impl IntoIterator<Item = (&'v str, &'v str)>,
    ) -> Answers {
        let mut known_text = String::new();
        let mut known_spans = Vec::new();
        for (entity, value) in known {
            if is_leak_entity(entity) {
                let e = known_text.len()..known_text.len() + entity.len();
                known_text.push_str(entity);
                let v = known_text.len()..known_text.len() + value.len();
                known_text.push_str(value);
                known_spans.push((e, v));
            }
        }
        Answers {
            detector,
            key,
            known_text,
            known_spans,
            known: OnceLock::new(),
            redact: action == LeakAction::Redact,
            found: Mutex::new(BTreeSet::new()),
        }
    }

    /// The key forms of the request's values (built once, at the first call).
    fn known_keys(&self) -> &HashSet<String> {
        self.known.get_or_init(|| {
            self.known_spans
                .iter()
                .map(|(e, v)| value_key(&self.known_text[e.clone()], &self.known_text[v.clone()]))
                .collect()
        })
    }

    /// Whether leaked values are replaced in the answer.
    pub fn redacts(&self) -> bool {
        self.redact
    }

    /// The leaks of `text[..end]` that end after `from`, as `(start, end, entity)`,
    /// recorded as found.
    fn find(&self, text: &str, from: usize, end: usize) -> Vec<(usize, usize, String)> {
        let mut out = Vec::new();
        if !may_hold(&text[from..end]) {
            return out;
        }
        for f in self.detector.scan(&text[..end]) {
            if f.end <= from || !is_leak_entity(f.entity.as_str()) {
                continue;
            }
            let entity = f.entity.as_str();
            let value = &text[f.start..f.end];
            if self.known_keys().contains(&value_key(entity, value)) {
                continue;
            }
            let hash = crate::audit::hex(&self.key.audit_hash(entity, value));
            if let Ok(mut found) = self.found.lock() {
                found.insert((entity.to_owned(), hash));
            }
            out.push((f.start, f.end, entity.to_owned()));
        }
        out
    }

    /// Scans a whole text (a JSON answer's string); returns it with its leaks replaced
    /// when redacting.
    pub fn scan<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let leaks = self.find(text, 0, text.len());
        if leaks.is_empty() || !self.redact {
            return Cow::Borrowed(text);
        }
        Cow::Owned(replace(text, 0, &leaks, false))
    }

    /// What the record's `answer_leaks` says; `None` when nothing leaked.
    pub fn report(&self) -> Option<AnswerLeaks> {
        let found = self.found.lock().ok()?;
        if found.is_empty() {
            return None;
        }
        let mut by_entity: BTreeMap<String, u64> = BTreeMap::new();
        for (entity, _) in found.iter() {
            *by_entity.entry(entity.clone()).or_default() += 1;
        }
        Some(AnswerLeaks {
            by_entity,
            values: found
                .iter()
                .map(|(entity, hash)| ValueHash {
                    entity: entity.clone(),
                    hash: hash.clone(),
                })
                .collect(),
            redacted: self.redact,
        })
    }
}

/// `text[from..]` with each leak (sorted, from [`Answers::find`]) replaced; a leak that
/// began before `from` (already sent) has its remaining part replaced. In JSON text, a
/// leak right after a backslash starts one character later (`\njean@…` is `\n` and
/// `jean@…`), so no escape is cut.
fn replace(text: &str, from: usize, leaks: &[(usize, usize, String)], json: bool) -> String {
    let mut out = String::with_capacity(text.len() - from + 16);
    let mut last = from;
    for (start, end, entity) in leaks {
        let mut start = (*start).max(last);
        if json && start > 0 && text.as_bytes()[start - 1] == b'\\' {
            start += text[start..].chars().next().map_or(0, char::len_utf8);
        }
        if start >= *end {
            continue;
        }
        out.push_str(&text[last..start]);
        out.push_str(&placeholder(entity));
        last = *end;
    }
    out.push_str(&text[last..]);
    out
}

/// One streamed text's leak stage (a content block, a tool call's arguments): after
/// re-identification, before the client.
#[derive(Debug, Clone)]
pub struct LeakStream {
    answers: Arc<Answers>,
    /// The fragments are JSON text.
    json: bool,
    /// Context (scanned, sent) then what is pending.
    buf: String,
    /// `buf[..scanned]` has been scanned (and, when redacting, sent).
    scanned: usize,
}

impl LeakStream {
    pub fn new(answers: Arc<Answers>, json: bool) -> LeakStream {
        LeakStream {
            answers,
            json,
            buf: String::new(),
            scanned: 0,
        }
    }

    /// Feeds re-identified text; returns what can be sent now (all of it when only
    /// recording).
    pub fn push(&mut self, fragment: &str, at_end: bool) -> String {
        self.buf.push_str(fragment);
        let cut = if at_end {
            self.buf.len()
        } else {
            hold_cut(&self.buf, self.scanned)
        };
        let leaks = self.answers.find(&self.buf, self.scanned, cut);
        let out = if !self.answers.redact {
            fragment.to_owned()
        } else if leaks.is_empty() {
            self.buf[self.scanned..cut].to_owned()
        } else {
            replace(&self.buf[..cut], self.scanned, &leaks, self.json)
        };
        // Keep some context before the cut, on a character boundary.
        let mut keep = cut.saturating_sub(CONTEXT_BYTES);
        while !self.buf.is_char_boundary(keep) {
            keep -= 1;
        }
        self.buf.drain(..keep);
        self.scanned = cut - keep;
        if at_end {
            self.buf.clear();
            self.scanned = 0;
        }
        out
    }

    /// Bytes held back.
    pub fn held(&self) -> usize {
        if self.answers.redact {
            self.buf.len() - self.scanned
        } else {
            0
        }
    }
}

fn digitish(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '+' | '(' | ')' | '/')
}

/// Where what may still grow into a value begins in `buf` (not before `from`): the last
/// word, and a trailing run of digits and separators holding a digit with the word
/// before it. Everything is let go past [`MAX_HOLD_BYTES`].
fn hold_cut(buf: &str, from: usize) -> usize {
    let tail = &buf[from..];
    // The last word (nothing when the text ends with a space).
    let word = tail
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    // A trailing run of digits and separators holding a digit, up to the last word
    // when that word begins like a number (`32,` continues `06 12 …`), else to the end.
    let numeric = |c: char| c.is_ascii_digit() || c == '+' || c == '(';
    let end = if tail[word..].chars().next().is_some_and(numeric) {
        word
    } else {
        tail.len()
    };
    let mut run = end;
    let mut digit = end < tail.len() && tail[end..].starts_with(|c: char| c.is_ascii_digit());
    for (i, c) in tail[..end].char_indices().rev() {
        if !digitish(c) {
            break;
        }
        digit |= c.is_ascii_digit();
        run = i;
    }
    if digit {
        // With the word glued before it (`FR76`, `+33`, `tél:`).
        run = tail[..run]
            .char_indices()
            .rev()
            .take_while(|(_, c)| !c.is_whitespace())
            .last()
            .map_or(run, |(i, _)| i);
    } else {
        run = tail.len();
    }
    let cut = word.min(run);
    if tail.len() - cut > MAX_HOLD_BYTES {
        return buf.len();
    }
    from + cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(action: LeakAction, known: &[(&str, &str)]) -> Arc<Answers> {
        Arc::new(Answers::new(
            Arc::new(Detector::builtin()),
            TokenKey::from_secret(b"0123456789abcdef"),
            action,
            known.iter().copied(),
        ))
    }

    fn streamed(a: &Arc<Answers>, pieces: &[&str]) -> (String, usize) {
        let mut s = LeakStream::new(a.clone(), false);
        let mut out = String::new();
        let mut held = 0;
        for p in pieces {
            out += &s.push(p, false);
            held = held.max(s.held());
        }
        out += &s.push("", true);
        (out, held)
    }

    #[test]
    fn a_value_the_request_did_not_hold_is_a_leak_and_redacted() {
        let a = answers(LeakAction::Redact, &[]);
        let out = a.scan("Écrivez à marie.curie@example.org ou au 06 12 34 56 78.");
        assert_eq!(out, "Écrivez à [EMAIL redacted] ou au [PHONE redacted].");
        let r = a.report().unwrap();
        assert_eq!(r.by_entity.get("EMAIL"), Some(&1));
        assert_eq!(r.by_entity.get("PHONE"), Some(&1));
        assert!(r.redacted);
        assert!(r.values.iter().all(|v| v.hash.len() == 64));
    }

    #[test]
    fn the_requests_own_values_are_not_leaks_in_any_spelling() {
        let a = answers(
            LeakAction::Redact,
            &[
                ("EMAIL", "Jean.Dupont@example.fr"),
                ("PHONE", "06 12 34 56 78"),
            ],
        );
        let text = "Contact: jean.dupont@example.fr, 0612345678.";
        assert_eq!(a.scan(text), text);
        assert!(a.report().is_none());
    }

    #[test]
    fn recording_counts_without_changing_the_text() {
        let a = answers(LeakAction::Record, &[]);
        let text = "Mail: paul@example.com";
        assert_eq!(a.scan(text), text);
        assert_eq!(a.report().unwrap().by_entity.get("EMAIL"), Some(&1));
        assert!(!a.report().unwrap().redacted);
    }

    #[test]
    fn a_value_split_across_fragments_is_redacted_whole_with_a_bounded_holdback() {
        let a = answers(LeakAction::Redact, &[]);
        let (out, held) = streamed(
            &a,
            &[
                "Son adresse est ma",
                "rie.cu",
                "rie@exam",
                "ple.org et son numéro le 06 ",
                "12 34",
                " 56 78",
                ". Merci",
                " beaucoup",
            ],
        );
        assert_eq!(
            out,
            "Son adresse est [EMAIL redacted] et son numéro le [PHONE redacted]. Merci beaucoup"
        );
        assert!(held <= MAX_HOLD_BYTES, "held {held}");
        assert_eq!(a.report().unwrap().values.len(), 2);
    }

    #[test]
    fn a_number_whose_last_group_comes_with_its_comma_is_redacted_whole() {
        let a = answers(LeakAction::Redact, &[]);
        let (out, _) = streamed(
            &a,
            &[
                "Appelez le",
                " 0",
                "7 ",
                "98",
                " 7",
                "6 ",
                "54",
                " 3",
                "2,",
                " merci",
            ],
        );
        assert_eq!(out, "Appelez le [PHONE redacted], merci");
    }

    #[test]
    fn recording_a_stream_sends_every_fragment_at_once() {
        let a = answers(LeakAction::Record, &[]);
        let mut s = LeakStream::new(a.clone(), false);
        for p in ["Écrivez à pa", "ul@exa", "mple.com demain"] {
            assert_eq!(s.push(p, false), p);
        }
        s.push("", true);
        let r = a.report().unwrap();
        assert_eq!(r.values.len(), 1, "one value, not its prefixes");
    }

    #[test]
    fn plain_words_are_held_back_one_word_at_most() {
        let a = answers(LeakAction::Redact, &[]);
        let mut s = LeakStream::new(a, false);
        assert_eq!(s.push("Bonjour, comment al", false), "Bonjour, comment ");
        assert_eq!(s.push("lez-vous ", false), "allez-vous ");
    }

    #[test]
    fn json_text_keeps_its_escapes_when_a_value_follows_one() {
        let a = answers(LeakAction::Redact, &[]);
        let mut s = LeakStream::new(a, true);
        let out = s.push(r#"{"to":"x\npaul@example.com"}"#, true);
        assert!(
            serde_json::from_str::<serde_json::Value>(&out).is_ok(),
            "{out}"
        );
        assert!(!out.contains("example.com"));
    }
}
