//! Dictionary rules: terms from TOML, text files or the admin's CSV files, matched with
//! one aho-corasick automaton over the folded text (case- and accent-insensitive),
//! leftmost-longest, on word boundaries.

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

#[derive(Debug)]
pub(crate) struct Dictionary {
    automaton: Option<AhoCorasick>,
    entries: Vec<DictEntry>,
}

impl Dictionary {
    /// The entity names rows give themselves (CSV `entity` column).
    pub(crate) fn row_entities(&self) -> impl Iterator<Item = &Entity> {
        self.entries.iter().filter_map(|e| e.entity.as_ref())
    }

    pub(crate) fn new(mut entries: Vec<DictEntry>) -> Result<Dictionary, aho_corasick::BuildError> {
        // One pattern per distinct folded term: the first rule to declare a term owns it
        // (rule files load in a fixed order, so this is deterministic).
        let mut seen = std::collections::HashSet::new();
        entries.retain(|e| seen.insert(e.folded.clone()));
        if entries.is_empty() {
            return Ok(Dictionary {
                automaton: None,
                entries,
            });
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Both)
            .build(entries.iter().map(|e| e.folded.as_str()))?;
        Ok(Dictionary {
            automaton: Some(automaton),
            entries,
        })
    }

    pub(crate) fn scan(
        &self,
        text: &str,
        folded: &Folded,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let Some(ac) = &self.automaton else { return };
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
                    out.push(Candidate {
                        start: s,
                        end: e,
                        meta: entry.meta,
                        sensitivity: entry.sensitivity,
                        entity: entry.entity.clone(),
                        score: metas[entry.meta].score,
                    });
                    at = cand.end();
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
