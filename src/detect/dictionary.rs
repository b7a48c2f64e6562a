//! Dictionary rules: terms from TOML, text files or the admin's CSV files, matched over
//! the folded text (case- and accent-insensitive), leftmost-longest, on word boundaries.
//!
//! The terms are one table keyed by a 64-bit hash of their folded bytes ([`Terms`]).
//! A term can only be kept where it starts a word and ends one, so the scan hashes
//! forward from each word start and looks the hash up only where a word may end
//! (before a character that is not an ASCII letter or digit): the first word of most
//! text starts no term, and the walk from there ends after one look-up. This finds
//! exactly what one leftmost-longest aho-corasick pass over every byte found, followed
//! by the same boundary checks (the test module keeps that pass as its reference), at
//! a fraction of its cost: the automaton read every byte through a 19,631-term
//! contiguous NFA (callgrind, 64 KB of prose: 4.4 M instructions per scan before,
//! see docs/PERFORMANCE.md for after).
//!
//! A rule may also name context words ([`TermContext`]): its terms then count only where
//! one of those words stands within the window before or after them, or, with
//! `context_person`, where a person's name does. That is how a special-category term
//! ("arrêt maladie", "syndiqué") is kept when it is about someone ("Paul est en arrêt
//! maladie", "elle est syndiquée") and left alone in prose about no one ("la politique
//! d'arrêt maladie de l'entreprise"). The name check needs the name heuristics' output,
//! so such terms are handed back as [`Pending`] and decided by the detector once the
//! names are known.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, Input};
use foldhash::fast::FixedState;

use super::fold::{self, Folded};
use super::{Candidate, Entity, RuleMeta, Sensitivity};

/// Terms shorter than this (in characters, after trimming) are skipped unless a rule
/// says otherwise: two-letter terms match inside too much ordinary text.
pub(crate) const DEFAULT_MIN_TERM_CHARS: usize = 3;

/// What one rule says about all of its terms.
pub(crate) struct RowDefaults {
    pub meta: usize,
    pub capitalized: bool,
    pub min_chars: usize,
    /// Folded terms to leave out (`Réunion`, more often "meeting" than the island).
    pub exclude: Vec<String>,
}

/// One term and what a match of it means.
#[derive(Debug, Clone)]
pub(crate) struct DictEntry {
    folded: String,
    meta: usize,
    capitalized: bool,
    sensitivity: Option<Sensitivity>,
    entity: Option<Entity>,
}

pub(crate) fn push_term(
    out: &mut Vec<DictEntry>,
    base: &RowDefaults,
    term: &str,
    sensitivity: Option<Sensitivity>,
    entity: Option<Entity>,
) {
    let term = term.trim();
    if term.chars().count() < base.min_chars {
        return;
    }
    let folded = fold::fold_str(term);
    // An empty term (a rule that allows terms of no characters, an empty cell) is
    // nothing to look for.
    if folded.is_empty() || base.exclude.contains(&folded) {
        return;
    }
    out.push(DictEntry {
        folded,
        meta: base.meta,
        capitalized: base.capitalized,
        sensitivity,
        entity,
    });
}

/// Reads an admin CSV: a header row naming the columns, `term` required, `entity`,
/// `sensitivity` optional; one term per row.
///
/// # Errors
/// Every bad row, as (line, message).
pub(crate) fn push_csv(
    out: &mut Vec<DictEntry>,
    base: &RowDefaults,
    text: &str,
) -> Result<(), Vec<(usize, String)>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let mut problems = Vec::new();
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(vec![(1, format!("cannot read the header row: {e}"))]),
    };
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let Some(term_col) = col("term") else {
        return Err(vec![(
            1,
            "the header row must name a `term` column (optional: `entity`, `sensitivity`)"
                .to_owned(),
        )]);
    };
    for h in headers.iter() {
        if !["term", "entity", "sensitivity"]
            .iter()
            .any(|k| h.eq_ignore_ascii_case(k))
        {
            problems.push((
                1,
                format!("unknown column {h:?} (known: term, entity, sensitivity)"),
            ));
        }
    }
    let (entity_col, sens_col) = (col("entity"), col("sensitivity"));
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(text, p.byte()));
                problems.push((line, format!("bad row: {e}")));
                continue;
            }
        };
        // The csv crate's own line count skips comment lines: count from the bytes.
        let line = record.position().map_or(0, |p| line_at(text, p.byte()));
        let term = record.get(term_col).unwrap_or("");
        if term.is_empty() {
            problems.push((line, "empty term".to_owned()));
            continue;
        }
        let entity = match entity_col
            .and_then(|c| record.get(c))
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(e) => match Entity::parse(e) {
                Some(e) => Some(e),
                None => {
                    problems.push((line, format!("entity {e:?} must be an upper-case name")));
                    continue;
                }
            },
        };
        let sensitivity = match sens_col
            .and_then(|c| record.get(c))
            .filter(|s| !s.is_empty())
        {
            None => None,
            Some(s) => match Sensitivity::parse(s) {
                Some(s) => Some(s),
                None => {
                    problems.push((
                        line,
                        format!(
                            "sensitivity {s:?} is not one of {}",
                            Sensitivity::NAMES.join(", ")
                        ),
                    ));
                    continue;
                }
            },
        };
        // A CSV row is the admin's explicit choice: keep short terms too.
        let row_base = RowDefaults {
            meta: base.meta,
            capitalized: base.capitalized,
            min_chars: 1,
            exclude: Vec::new(),
        };
        push_term(out, &row_base, term, sensitivity, entity);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The context words of one dictionary rule.
#[derive(Debug)]
pub(crate) struct TermContext {
    /// The folded words, every match reported (`Standard`), checked on word boundaries.
    words: AhoCorasick,
    /// Bytes looked at on each side of the term.
    window: usize,
    /// A person's name within the window counts as context too.
    person: bool,
}

impl TermContext {
    pub(crate) fn new(
        words: &[String],
        window: usize,
        person: bool,
    ) -> Result<TermContext, aho_corasick::BuildError> {
        Ok(TermContext {
            words: AhoCorasick::new(words)?,
            window,
            person,
        })
    }

    /// True when a context word stands, as a whole word, within the window before
    /// `start` or after `end` of the folded text.
    fn near(&self, hay: &str, start: usize, end: usize) -> bool {
        let mut lo = start.saturating_sub(self.window);
        while !hay.is_char_boundary(lo) {
            lo += 1;
        }
        let mut hi = (end + self.window).min(hay.len());
        while !hay.is_char_boundary(hi) {
            hi -= 1;
        }
        [(lo, start), (end, hi)].into_iter().any(|(a, b)| {
            self.words
                .find_overlapping_iter(Input::new(hay).range(a..b))
                .any(|m| is_code_word_boundary(hay, m.start(), m.end()))
        })
    }
}

/// A term whose rule wants a person's name near it and found no context word: the
/// detector keeps it if a name candidate lies within `window` bytes of it.
#[derive(Debug)]
pub(crate) struct Pending {
    pub candidate: Candidate,
    pub window: usize,
}

/// The terms' table of the last dictionary built in this process: a configuration
/// reload that keeps every term (the usual case: the shipped gazetteers and an
/// unchanged company list) takes the table from here instead of building it again.
static LAST_BUILT: std::sync::Mutex<Option<Arc<Terms>>> = std::sync::Mutex::new(None);

/// The table over `entries`' folded terms, in their order (a term's value is the
/// entry's index).
fn terms_for(entries: &[DictEntry]) -> Arc<Terms> {
    // A poisoned lock only means another build panicked: what it holds is whole.
    let mut last = LAST_BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(table) = last.as_ref()
        && table.terms.len() == entries.len()
        && table
            .terms
            .iter()
            .zip(entries)
            .all(|(t, e)| **t == *e.folded.as_bytes())
    {
        return Arc::clone(table);
    }
    let table = Arc::new(Terms::new(entries.iter().map(|e| e.folded.as_str())));
    *last = Some(Arc::clone(&table));
    table
}

/// Whether a folded byte may follow the end of a word: anything but an ASCII letter or
/// digit (every byte of a non-ASCII character counts, so no end is missed).
fn breaks_word(byte: u8) -> bool {
    BREAKS_WORD[usize::from(byte)]
}

/// [`breaks_word`] as a table (one load per byte on the scan's hot path).
static BREAKS_WORD: [bool; 256] = {
    let mut table = [true; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = !(b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    table
};

/// No entry: the prefix is no whole term.
const NO_TERM: u32 = u32::MAX;

/// What the table says of one folded prefix of some term.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// The entry whose whole term this prefix is (`NO_TERM`: none).
    term: u32,
    /// Whether a longer term continues this prefix with a byte that `breaks_word`.
    longer: bool,
}

/// Distinct folded terms, looked up by the hash of their bytes.
///
/// The table holds each whole term, and each proper prefix that a term continues with
/// a byte that [`breaks_word`]. Walking the text from a start, where the next text byte
/// breaks a word, the prefix read so far is either in the table or no term continues
/// it (a term that did would continue it with that same byte): the walk stops there.
/// Where the next byte is an ASCII letter or digit, no term can end on a word boundary,
/// except inside a character that folding expanded (`œ` → `oe`, the caller's to say),
/// and the walk goes on without a look-up. A whole term found by its hash is compared
/// byte for byte; the seed is chosen so that no two prefixes in the table share a hash.
#[derive(Debug)]
pub(crate) struct Terms {
    /// The hash of a prefix's bytes → what it is.
    nodes: HashMap<u64, Node, FixedState>,
    /// How prefixes are hashed (its seed gives every prefix in `nodes` its own hash).
    keys: FixedState,
    /// Bytes a term may start with.
    first: [bool; 256],
    /// The longest term, in bytes.
    max_len: usize,
    /// The folded terms, by entry (to confirm a hash hit).
    terms: Vec<Box<[u8]>>,
}

impl Terms {
    fn new<'t>(terms: impl Iterator<Item = &'t str>) -> Terms {
        let terms: Vec<Box<[u8]>> = terms.map(|t| t.as_bytes().into()).collect();
        let mut first = [false; 256];
        let mut max_len = 0;
        for t in &terms {
            if let Some(&b) = t.first() {
                first[usize::from(b)] = true;
            }
            max_len = max_len.max(t.len());
        }
        // A seed under which every prefix in the table has its own hash (the first one,
        // short of a 64-bit collision among a few hundred thousand prefixes).
        let mut seed = 0x7061_7261_7665_6e74;
        loop {
            let keys = FixedState::with_seed(seed);
            if let Some(nodes) = Self::nodes(&terms, &keys) {
                return Terms {
                    nodes,
                    keys,
                    first,
                    max_len,
                    terms,
                };
            }
            seed += 1;
        }
    }

    /// The table with prefixes hashed by `keys`, or `None` when two different prefixes
    /// share a hash.
    fn nodes(terms: &[Box<[u8]>], keys: &FixedState) -> Option<HashMap<u64, Node, FixedState>> {
        let mut nodes: HashMap<u64, Node, _> = HashMap::with_hasher(FixedState::default());
        // Which prefix each hash stands for: (term, length).
        let mut owner: HashMap<u64, (usize, usize), _> =
            HashMap::with_hasher(FixedState::default());
        for (i, term) in terms.iter().enumerate() {
            for len in 1..=term.len() {
                let whole = len == term.len();
                let longer = !whole && breaks_word(term[len]);
                if !(whole || longer) {
                    continue;
                }
                let hash = keys.hash_one(&term[..len]);
                let (o, olen) = *owner.entry(hash).or_insert((i, len));
                if terms[o][..olen] != term[..len] {
                    return None;
                }
                let node = nodes.entry(hash).or_insert(Node {
                    term: NO_TERM,
                    longer: false,
                });
                if whole && node.term == NO_TERM {
                    node.term = u32::try_from(i).unwrap_or(NO_TERM);
                }
                node.longer |= longer;
            }
        }
        Some(nodes)
    }

    /// The term whose bytes are `bytes`, if any.
    fn whole(&self, node: Node, bytes: &[u8]) -> Option<usize> {
        let entry = node.term as usize;
        (node.term != NO_TERM && *self.terms[entry] == *bytes).then_some(entry)
    }

    /// Every term that starts at `start` of `hay` (the folded text), shortest first,
    /// as (end, entry), into `out`. `splits`: the offsets after `start` that fall
    /// inside a character that folding expanded (where a term may end although the
    /// next folded byte is a letter), in order.
    fn starting_at(&self, hay: &[u8], start: usize, splits: &[u32], out: &mut Vec<(usize, usize)>) {
        out.clear();
        let stop = hay.len().min(start + self.max_len);
        let split_at = |k: usize| splits.get(k).map_or(usize::MAX, |&o| o as usize);
        let (mut k, mut next_split) = (0, split_at(0));
        let mut end = start;
        while end < stop {
            // To the next place a word may end: before a byte that breaks one, or
            // inside an expanded character.
            let limit = stop.min(next_split);
            end = hay[end + 1..limit]
                .iter()
                .position(|&b| breaks_word(b))
                .map_or(limit, |p| end + 1 + p);
            let at_break = hay.get(end).is_none_or(|&b| breaks_word(b));
            if end == next_split {
                k += 1;
                next_split = split_at(k);
            } else if !at_break {
                // The longest term's length reached inside a word.
                return;
            }
            let Some(&node) = self.nodes.get(&self.keys.hash_one(&hay[start..end])) else {
                if at_break {
                    return;
                }
                continue;
            };
            if let Some(entry) = self.whole(node, &hay[start..end]) {
                out.push((end, entry));
            }
            if at_break && !node.longer {
                return;
            }
        }
    }

    /// The longest term that starts at `start` of `hay`, wherever it ends, as (end,
    /// entry): one look-up per length (for the few places a found term runs on over).
    fn longest_at(&self, hay: &[u8], start: usize) -> Option<(usize, usize)> {
        if !hay.get(start).is_some_and(|&b| self.first[usize::from(b)]) {
            return None;
        }
        let stop = hay.len().min(start + self.max_len);
        (start + 1..=stop).rev().find_map(|end| {
            let bytes = &hay[start..end];
            let node = *self.nodes.get(&self.keys.hash_one(bytes))?;
            self.whole(node, bytes).map(|entry| (end, entry))
        })
    }
}

#[derive(Debug)]
pub(crate) struct Dictionary {
    terms: Option<Arc<Terms>>,
    entries: Vec<DictEntry>,
    /// The context of each rule (by its meta index) that has one.
    contexts: std::collections::HashMap<usize, TermContext>,
}

impl Dictionary {
    /// The entity names rows give themselves (CSV `entity` column).
    pub(crate) fn row_entities(&self) -> impl Iterator<Item = &Entity> {
        self.entries.iter().filter_map(|e| e.entity.as_ref())
    }

    pub(crate) fn new(
        mut entries: Vec<DictEntry>,
        contexts: Vec<(usize, TermContext)>,
    ) -> Dictionary {
        let contexts = contexts.into_iter().collect();
        // One pattern per distinct folded term: the first rule to declare a term owns it
        // (rule files load in a fixed order, so this is deterministic).
        let mut seen = std::collections::HashSet::new();
        entries.retain(|e| seen.insert(e.folded.clone()));
        let terms = (!entries.is_empty()).then(|| terms_for(&entries));
        Dictionary {
            terms,
            entries,
            contexts,
        }
    }

    pub(crate) fn scan(
        &self,
        text: &str,
        folded: &Folded,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
        pending: &mut Vec<Pending>,
    ) {
        let Some(terms) = self.terms.as_deref() else {
            return;
        };
        let hay = folded.text.as_str();
        let bytes = hay.as_bytes();
        // Inside a character folding expanded (`œ` → `oe`) a term may start or end
        // between two letters: its span maps to the whole character.
        let splits = folded.splits();
        // The first of `splits` at or after `at`.
        let mut next_split = 0;
        let mut found = Vec::new();
        let mut at = 0;
        // Whether the byte before `at` may end a word (the text's start does).
        let mut after_break = true;
        while at < bytes.len() {
            let start = at;
            let byte = bytes[start];
            at += 1;
            let mut word_start = after_break;
            after_break = breaks_word(byte);
            if let Some(&o) = splits.get(next_split)
                && o as usize <= start
            {
                next_split += splits[next_split..].partition_point(|&o| (o as usize) < start);
                if splits.get(next_split).is_some_and(|&o| o as usize == start) {
                    word_start = true;
                    next_split += 1;
                }
            }
            if !(word_start && terms.first[usize::from(byte)]) {
                continue;
            }
            terms.starting_at(bytes, start, &splits[next_split..], &mut found);
            // The longest term at this start may fail its word boundary (`Acme
            // Holding` in `acme holdings`) while a shorter one holds (`Acme`).
            let kept = found.iter().rev().find_map(|&(end, entry)| {
                let entry = &self.entries[entry];
                let (s, e) = folded.original_span(start, end, text);
                let capital_ok =
                    !entry.capitalized || text[s..].chars().next().is_some_and(char::is_uppercase);
                (is_word_boundary(text, s, e) && capital_ok).then_some((end, entry, s, e))
            });
            let Some((end, entry, s, e)) = kept else {
                continue;
            };
            // A term of a context rule runs on over the terms of the same entity that
            // overlap its end ("en arrêt pour" + "arrêt maladie"): cut at the first
            // term's end, the rest would leave in clear what the token hides.
            let (fold_end, e) = if self.contexts.contains_key(&entry.meta) {
                let fold_end = self.run_on(terms, hay, start, end, metas, entry);
                let e = if fold_end == end {
                    e
                } else {
                    folded.original_span(start, fold_end, text).1
                };
                (fold_end, e)
            } else {
                (end, e)
            };
            self.emit(entry, hay, (start, fold_end), (s, e), metas, out, pending);
            at = fold_end;
            after_break = breaks_word(bytes[fold_end - 1]);
        }
    }
}

impl Dictionary {
    /// Hands on the term `entry` found at `start..fold_end` of the folded text `hay`
    /// (`s..e` of the original text): a finding, a term waiting for a person's name near
    /// it, or nothing when its rule's context is missing.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &self,
        entry: &DictEntry,
        hay: &str,
        (start, fold_end): (usize, usize),
        (s, e): (usize, usize),
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
        pending: &mut Vec<Pending>,
    ) {
        let candidate = Candidate {
            start: s,
            end: e,
            meta: entry.meta,
            sensitivity: entry.sensitivity,
            entity: entry.entity.clone(),
            score: metas[entry.meta].score,
        };
        match self.contexts.get(&entry.meta) {
            None => out.push(candidate),
            // A term glued to an identifier (`cancer_rate`) is code.
            Some(_) if !is_code_word_boundary(hay, start, fold_end) => {}
            Some(c) if c.near(hay, start, fold_end) => out.push(candidate),
            Some(c) if c.person => pending.push(Pending {
                candidate,
                window: c.window,
            }),
            Some(_) => {}
        }
    }

    /// The end of a term at `start..end` of the folded text, run on over every term of
    /// the same entity that starts inside it and ends after it, on a word boundary.
    ///
    /// At each place inside, only the longest term starting there counts, whatever its
    /// boundaries (as a leftmost-longest automaton reports it). A place glued to a
    /// letter, digit or `_` before it starts no term that passes the boundary check,
    /// and is skipped.
    fn run_on(
        &self,
        terms: &Terms,
        hay: &str,
        start: usize,
        mut end: usize,
        metas: &[RuleMeta],
        entry: &DictEntry,
    ) -> usize {
        let entity = entry.entity.as_ref().unwrap_or(&metas[entry.meta].entity);
        let bytes = hay.as_bytes();
        let mut probe = start + hay[start..].chars().next().map_or(1, char::len_utf8);
        while probe < end {
            let at = probe;
            probe += 1;
            if !hay.is_char_boundary(at)
                || bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_'
            {
                continue;
            }
            let Some((m_end, other)) = terms.longest_at(bytes, at) else {
                continue;
            };
            let other = &self.entries[other];
            let other_entity = other.entity.as_ref().unwrap_or(&metas[other.meta].entity);
            if m_end > end && other_entity == entity && is_code_word_boundary(hay, at, m_end) {
                end = m_end;
            }
        }
        end
    }
}

/// The line of a CSV record from the byte offset the csv crate gives, which may point
/// at the end of the previous line (CRLF), a blank line or a comment line before it.
fn line_at(text: &str, byte: u64) -> usize {
    let mut at = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start_matches(['\r', '\n', ' ', '\t']);
        at += rest.len() - trimmed.len();
        if trimmed.starts_with('#') {
            at += trimmed.find('\n').map_or(trimmed.len(), |i| i + 1);
        } else {
            break;
        }
    }
    // The 1-based line of byte `at` (as `rules::line_of` counts, without importing the
    // rule compiler that uses this module).
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// True when `text[s..e]` is not glued to a letter or digit on either side.
pub(crate) fn is_word_boundary(text: &str, s: usize, e: usize) -> bool {
    let before = text[..s].chars().next_back();
    let after = text[e..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}

/// As [`is_word_boundary`], and not glued to `_` either: in code, `my_cancer_flag` holds
/// no word `my` and no word `cancer`.
fn is_code_word_boundary(text: &str, s: usize, e: usize) -> bool {
    let glued = |c: char| c.is_alphanumeric() || c == '_';
    !text[..s].chars().next_back().is_some_and(glued)
        && !text[e..].chars().next().is_some_and(glued)
}

#[cfg(test)]
mod tests {
    //! The table walk against the pass it replaced: one leftmost-longest aho-corasick
    //! automaton over every byte of the folded text, then the same checks. Both must
    //! give the same candidates and pending terms, in the same order.

    use aho_corasick::{AhoCorasickBuilder, Anchored, MatchKind, StartKind};
    use proptest::prelude::*;

    use super::super::Detector;
    use super::*;

    fn detector() -> &'static Detector {
        static DETECTOR: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
        DETECTOR.get_or_init(Detector::builtin)
    }

    fn automaton(dict: &Dictionary) -> AhoCorasick {
        AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Both)
            .build(dict.entries.iter().map(|e| e.folded.as_str()))
            .expect("the terms build")
    }

    fn builtin_automaton() -> &'static AhoCorasick {
        static AC: std::sync::OnceLock<AhoCorasick> = std::sync::OnceLock::new();
        AC.get_or_init(|| automaton(&detector().dictionary))
    }

    /// The former scan, as it was.
    fn reference(
        dict: &Dictionary,
        ac: &AhoCorasick,
        text: &str,
        folded: &Folded,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
        pending: &mut Vec<Pending>,
    ) {
        let hay = folded.text.as_str();
        let mut at = 0;
        while at < hay.len() {
            let Some(first) = ac.find(Input::new(hay).range(at..)) else {
                break;
            };
            let mut m = Some(first);
            let mut kept = None;
            while let Some(cand) = m {
                let entry = &dict.entries[cand.pattern().as_usize()];
                let (s, e) = folded.original_span(cand.start(), cand.end(), text);
                let capital_ok =
                    !entry.capitalized || text[s..].chars().next().is_some_and(char::is_uppercase);
                if is_word_boundary(text, s, e) && capital_ok {
                    kept = Some((cand, entry, s, e));
                    break;
                }
                m = (cand.end() > cand.start() + 1)
                    .then(|| {
                        let input = Input::new(hay)
                            .range(cand.start()..cand.end() - 1)
                            .anchored(Anchored::Yes);
                        ac.find(input)
                    })
                    .flatten();
            }
            let Some((cand, entry, s, e)) = kept else {
                at = first.start()
                    + hay[first.start()..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                continue;
            };
            let (fold_end, e) = if dict.contexts.contains_key(&entry.meta) {
                let fold_end =
                    reference_run_on(dict, ac, hay, cand.start(), cand.end(), metas, entry);
                let e = if fold_end == cand.end() {
                    e
                } else {
                    folded.original_span(cand.start(), fold_end, text).1
                };
                (fold_end, e)
            } else {
                (cand.end(), e)
            };
            // What follows a found term is the scan's own (`emit`): the reference is
            // about which terms are found.
            dict.emit(
                entry,
                hay,
                (cand.start(), fold_end),
                (s, e),
                metas,
                out,
                pending,
            );
            at = fold_end;
        }
    }

    fn reference_run_on(
        dict: &Dictionary,
        ac: &AhoCorasick,
        hay: &str,
        start: usize,
        mut end: usize,
        metas: &[RuleMeta],
        entry: &DictEntry,
    ) -> usize {
        let entity = entry.entity.as_ref().unwrap_or(&metas[entry.meta].entity);
        let next = |at: usize| at + hay[at..].chars().next().map_or(1, char::len_utf8);
        let mut probe = next(start);
        while probe < end {
            let Some(m) = ac.find(Input::new(hay).range(probe..)) else {
                break;
            };
            if m.start() >= end {
                break;
            }
            let other = &dict.entries[m.pattern().as_usize()];
            let other_entity = other.entity.as_ref().unwrap_or(&metas[other.meta].entity);
            if m.end() > end
                && other_entity == entity
                && is_code_word_boundary(hay, m.start(), m.end())
            {
                end = m.end();
            }
            probe = next(m.start());
        }
        end
    }

    type Found = Vec<(usize, usize, usize, Option<Entity>, Option<Sensitivity>)>;

    fn keys(out: &[Candidate], pending: &[Pending]) -> (Found, Found) {
        let key = |c: &Candidate| (c.start, c.end, c.meta, c.entity.clone(), c.sensitivity);
        (
            out.iter().map(key).collect(),
            pending.iter().map(|p| key(&p.candidate)).collect(),
        )
    }

    fn assert_same_with(dict: &Dictionary, ac: &AhoCorasick, text: &str) {
        let metas = &detector().metas;
        let folded = Folded::new(text);
        let (mut out, mut pending) = (Vec::new(), Vec::new());
        dict.scan(text, &folded, metas, &mut out, &mut pending);
        let (mut want, mut want_pending) = (Vec::new(), Vec::new());
        reference(dict, ac, text, &folded, metas, &mut want, &mut want_pending);
        assert_eq!(
            keys(&out, &pending),
            keys(&want, &want_pending),
            "text: {text:?}"
        );
    }

    fn assert_same(text: &str) {
        assert_same_with(&detector().dictionary, builtin_automaton(), text);
    }

    const FIXTURES: [&str; 3] = [
        include_str!("../../benches/fixtures/prompt_fr.txt"),
        include_str!("../../benches/fixtures/prose.txt"),
        include_str!("../../benches/fixtures/code.txt"),
    ];

    #[test]
    fn the_table_finds_what_the_automaton_found_on_the_fixtures() {
        let dict = &detector().dictionary;
        let metas = &detector().metas;
        let mut found = 0;
        for text in FIXTURES {
            assert_same(text);
            let (mut out, mut pending) = (Vec::new(), Vec::new());
            dict.scan(text, &Folded::new(text), metas, &mut out, &mut pending);
            found += out.len() + pending.len();
        }
        assert!(found >= 5, "the fixtures hold dictionary terms: {found}");
    }

    #[test]
    fn terms_inside_expanded_characters_and_runs_on_agree() {
        for text in [
            "Le Cœur de Paris, le cœur-de-lion, CŒUR, cœurs, œuvre, Œuvre",
            "Straße, STRASSE, Maße, Ærø, ærø, İstanbul, i̇stanbul",
            "Paul est en arrêt maladie depuis lundi ; arrêt maladie_long ; arrêt-maladie",
            "elle est syndiquée, il est séropositif et en arrêt de travail pour dépression",
            "diabète de type 2, diabète_type, hypertension artérielle, VIH+, cancer du sein",
            "Saint-Denis, saint denis, SAINT-DENIS, Saint–Denis, Saint Denis-sur-Mer",
            "",
            "a",
            "L'Haÿ-les-Roses, l’Haÿ-les-Roses, Villeneuve-d’Ascq, Villeneuve-d'Ascq.",
        ] {
            assert_same(text);
        }
    }

    #[test]
    fn overlapping_terms_of_an_admin_list_agree() {
        let metas = &detector().metas;
        // A meta index of some shipped dictionary rule, so scores and entities resolve.
        let meta = detector().dictionary.entries[0].meta;
        let base = RowDefaults {
            meta,
            capitalized: false,
            min_chars: 1,
            exclude: Vec::new(),
        };
        let capital = RowDefaults {
            capitalized: true,
            ..RowDefaults {
                meta,
                capitalized: false,
                min_chars: 1,
                exclude: Vec::new(),
            }
        };
        let mut entries = Vec::new();
        for term in [
            "Acme",
            "Acme Holding",
            "Acme Holdings SA",
            "S.A.",
            "Co.",
            "x",
            "cœur",
            "oe",
            "e",
            "ss",
            "Projet Phénix",
            "phénix-2",
            "a-b",
            "a-b-c",
            "_tag",
        ] {
            push_term(&mut entries, &base, term, None, None);
        }
        push_term(&mut entries, &capital, "Rose", None, None);
        let dict = Dictionary::new(entries, Vec::new());
        let ac = automaton(&dict);
        let _ = metas;
        for text in [
            "acme holdings, Acme Holding, ACME HOLDINGS SA, acme-holding, acmeholding",
            "Rose et rose, S.A. et s.a.x, Co.x, co., x, xx, x_y",
            "Cœur, coeur, cœurs, Œ, œ, ß, Straße, ssß",
            "Projet Phénix, projet phenix-2, phénix-2b, a-b-c-d, a-b, a-b-",
            "_tag, x_tag, _tagged, (_tag)",
        ] {
            assert_same_with(&dict, &ac, text);
        }
    }

    /// Text made of shipped terms, cut and joined, cased, with expanding characters.
    fn text_strategy() -> impl Strategy<Value = String> {
        let n = detector().dictionary.entries.len();
        let piece = prop_oneof![
            4 => (0..n, 0..3u8).prop_map(|(i, case)| {
                let t = &detector().dictionary.entries[i].folded;
                match case {
                    0 => t.clone(),
                    1 => t.to_uppercase(),
                    _ => {
                        let mut c = t.chars();
                        c.next().map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
                    }
                }
            }),
            3 => "[ ,.'’\\-_\n]{1,2}",
            2 => "[a-zA-Zéèà]{1,6}",
            1 => "[œŒßæÆİ]",
            1 => Just("arrêt maladie ".to_owned()),
            1 => Just("est ".to_owned()),
        ];
        proptest::collection::vec(piece, 0..30).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn the_table_finds_what_the_automaton_found_on_random_text(text in text_strategy()) {
            assert_same(&text);
        }

        #[test]
        fn the_table_agrees_on_random_cuts_of_the_fixtures(
            which in 0..FIXTURES.len(),
            start in 0usize..4000,
            len in 1usize..600,
        ) {
            assert_same(super::super::tests::cut(FIXTURES[which], start, len));
        }
    }
}
