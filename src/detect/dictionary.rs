//! Dictionary rules: terms from TOML, text files or the admin's CSV files, matched with
//! one aho-corasick automaton over the folded text (case- and accent-insensitive),
//! leftmost-longest, on word boundaries.
//!
//! A rule may also name context words ([`TermContext`]): its terms then count only where
//! one of those words stands within the window before or after them, or, with
//! `context_person`, where a person's name does. That is how a special-category term
//! ("arrêt maladie", "syndiqué") is kept when it is about someone ("Paul est en arrêt
//! maladie", "elle est syndiquée") and left alone in prose about no one ("la politique
//! d'arrêt maladie de l'entreprise"). The name check needs the name heuristics' output,
//! so such terms are handed back as [`Pending`] and decided by the detector once the
//! names are known.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored, Input, MatchKind, StartKind};

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
    if base.exclude.contains(&folded) {
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

/// The terms and automaton of the last dictionary built in this process: a
/// configuration reload that keeps every term (the usual case: the shipped gazetteers
/// and an unchanged company list) takes the automaton from here instead of building
/// it again (the largest of the detector's automata).
static LAST_BUILT: std::sync::Mutex<Option<(Vec<String>, AhoCorasick)>> =
    std::sync::Mutex::new(None);

/// The automaton over `entries`' folded terms, in their order (a match's pattern id is
/// the entry's index).
fn automaton_for(entries: &[DictEntry]) -> Result<AhoCorasick, aho_corasick::BuildError> {
    // A poisoned lock only means another build panicked: what it holds is whole.
    let mut last = LAST_BUILT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((terms, ac)) = last.as_ref()
        && terms.len() == entries.len()
        && terms.iter().zip(entries).all(|(t, e)| *t == e.folded)
    {
        return Ok(ac.clone());
    }
    let ac = AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostLongest)
        .start_kind(StartKind::Both)
        .build(entries.iter().map(|e| e.folded.as_str()))?;
    *last = Some((
        entries.iter().map(|e| e.folded.clone()).collect(),
        ac.clone(),
    ));
    Ok(ac)
}

#[derive(Debug)]
pub(crate) struct Dictionary {
    automaton: Option<AhoCorasick>,
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
    ) -> Result<Dictionary, aho_corasick::BuildError> {
        let contexts = contexts.into_iter().collect();
        // One pattern per distinct folded term: the first rule to declare a term owns it
        // (rule files load in a fixed order, so this is deterministic).
        let mut seen = std::collections::HashSet::new();
        entries.retain(|e| seen.insert(e.folded.clone()));
        if entries.is_empty() {
            return Ok(Dictionary {
                automaton: None,
                entries,
                contexts,
            });
        }
        let automaton = automaton_for(&entries)?;
        Ok(Dictionary {
            automaton: Some(automaton),
            entries,
            contexts,
        })
    }

    pub(crate) fn scan(
        &self,
        text: &str,
        folded: &Folded,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
        pending: &mut Vec<Pending>,
    ) {
        let Some(ac) = &self.automaton else { return };
        // One unanchored leftmost-longest pass. Running the automaton anchored at word
        // starts only (positions whose original character before is not a letter or a
        // digit, and whose first four bytes begin some term) finds the same terms but
        // cost more on the 1.9 KB prompt of `benches/load/prompt.json`: 0.126 M
        // instructions per request against 0.102 M (callgrind, step 9), the per-start
        // calls costing more than the automaton's own prefilter skips.
        let hay = folded.text.as_str();
        let mut at = 0;
        while at < hay.len() {
            let Some(first) = ac.find(Input::new(hay).range(at..)) else {
                break;
            };
            // The longest term at this start may fail its word boundary (`Acme
            // Holding` in `acme holdings`) while a shorter one holds (`Acme`): try the
            // shorter terms at the same start before moving on.
            let mut m = Some(first);
            let mut kept = None;
            while let Some(cand) = m {
                let entry = &self.entries[cand.pattern().as_usize()];
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
            match kept {
                Some((cand, entry, s, e)) => {
                    // A term of a context rule runs on over the terms of the same entity
                    // that overlap its end ("en arrêt pour" + "arrêt maladie"): cut at
                    // the first term's end, the rest would leave in clear what the token
                    // hides.
                    let (fold_end, e) = if self.contexts.contains_key(&entry.meta) {
                        let fold_end = self.run_on(ac, hay, cand.start(), cand.end(), metas, entry);
                        let e = if fold_end == cand.end() {
                            e
                        } else {
                            folded.original_span(cand.start(), fold_end, text).1
                        };
                        (fold_end, e)
                    } else {
                        (cand.end(), e)
                    };
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
                        Some(_) if !is_code_word_boundary(hay, cand.start(), fold_end) => {}
                        Some(c) if c.near(hay, cand.start(), fold_end) => out.push(candidate),
                        Some(c) if c.person => pending.push(Pending {
                            candidate,
                            window: c.window,
                        }),
                        Some(_) => {}
                    }
                    at = fold_end;
                }
                None => {
                    at = first.start()
                        + hay[first.start()..]
                            .chars()
                            .next()
                            .map_or(1, char::len_utf8);
                }
            }
        }
    }
}

impl Dictionary {
    /// The end of a term at `start..end` of the folded text, run on over every term of
    /// the same entity that starts inside it and ends after it, on a word boundary.
    fn run_on(
        &self,
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
            let other = &self.entries[m.pattern().as_usize()];
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
