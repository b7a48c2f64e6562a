//! Dictionary rules: terms from TOML, text files or the admin's CSV files, matched with
//! one aho-corasick automaton over the folded text (case- and accent-insensitive),
//! leftmost-longest, on word boundaries.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};

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
    out.push(DictEntry {
        folded: fold::fold_str(term),
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
                let line = e.position().map_or(0, |p| p.line() as usize);
                problems.push((line, format!("bad row: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line() as usize);
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
            let Some(m) = ac.find(Input::new(hay).range(at..)) else {
                break;
            };
            let entry = &self.entries[m.pattern().as_usize()];
            let (s, e) = folded.original_span(m.start(), m.end(), text);
            let ok = is_word_boundary(text, s, e)
                && (!entry.capitalized || text[s..].chars().next().is_some_and(char::is_uppercase));
            if ok {
                out.push(Candidate {
                    start: s,
                    end: e,
                    meta: entry.meta,
                    sensitivity: entry.sensitivity,
                    entity: entry.entity.clone(),
                    score: metas[entry.meta].score,
                });
                at = m.end();
            } else {
                // A longer term rejected at this start may hide a shorter valid one
                // further on: resume one character later.
                at = m.start() + hay[m.start()..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
}

/// True when `text[s..e]` is not glued to a letter or digit on either side.
pub(crate) fn is_word_boundary(text: &str, s: usize, e: usize) -> bool {
    let before = text[..s].chars().next_back();
    let after = text[e..].chars().next();
    !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
}
