//! Organisation names that are lists of words other recognisers know.
//!
//! A firm named after its partners (`Lopez, Santos and Coleman`) and a list of people or
//! places (`Derek, Anna and Andrew`, `California, Utah, and Arizona`) are written alike,
//! and one regex cannot tell them apart; the gazetteers can. So an organisation found in
//! the list form (its span holds `, `) is kept only when one of its capitalised words is
//! neither a first name (`person.first-name`) nor a place (a `LOCATION` candidate):
//! `Lopez` is neither, so the firm stands and, being the longest span, hides the names
//! and places inside it; `Derek`, `Anna` and `Andrew` are all first names, so the list
//! is left to the name recogniser. The list form is also dropped where the text shows a
//! longer list (`Matheus, Janet, Kevin, Brittany and Terri`: a comma just before), a
//! plural honorific before it (`MM. Martinez, Clare et Havers`), or a capitalised word
//! right after it that continues the last name (`Brin, Spider and Jeanne Robinson`).
//!
//! Runs on the candidates before overlap resolution. Pure.

use super::{Candidate, RuleMeta};

/// The name heuristics whose candidates do not mark a word as a known name: a surname
/// alone, or one found again, is what a firm named after its partners is made of.
const WEAK_NAME_RULES: &[&str] = &["person.surname", "person.propagated"];

/// Plural honorifics: the names after them are people (folded to lower case).
const PLURAL_HONORIFICS: &[&str] = &[
    "mm.", "mm", "mmes", "mmes.", "messrs", "messrs.", "drs", "drs.", "mes", "pr.",
];

/// Drops the organisation candidates in list form that sit in a longer list, or whose
/// every capitalised word is a name or a place found by another recogniser.
pub(crate) fn settle(text: &str, candidates: &mut Vec<Candidate>, metas: &[RuleMeta]) {
    let entity = |c: &Candidate| {
        c.entity
            .as_ref()
            .unwrap_or(&metas[c.meta].entity)
            .as_str()
            .to_owned()
    };
    let lists: Vec<usize> = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| entity(c) == "ORGANIZATION" && text[c.start..c.end].contains(", "))
        .map(|(i, _)| i)
        .collect();
    if lists.is_empty() {
        return;
    }
    // Spans of first names and places, the words a list of people or places is made of.
    let known: Vec<(usize, usize)> = candidates
        .iter()
        .filter(|c| {
            let e = entity(c);
            e == "LOCATION" || (e == "PERSON" && !WEAK_NAME_RULES.contains(&&*metas[c.meta].id))
        })
        .map(|c| (c.start, c.end))
        .collect();
    let drop: Vec<usize> = lists
        .into_iter()
        .filter(|&i| {
            let c = &candidates[i];
            if in_longer_list(text, c.start, c.end) {
                return true;
            }
            let mut words = capitalised_words(&text[c.start..c.end], c.start).peekable();
            words.peek().is_some()
                && words.all(|(s, e)| known.iter().any(|&(ks, ke)| ks <= s && e <= ke))
        })
        .collect();
    for i in drop.into_iter().rev() {
        candidates.swap_remove(i);
    }
}

/// Whether the text around `start..end` shows a list or a run of people rather than a
/// firm: a comma just before, a plural honorific before, a capitalised word just after.
fn in_longer_list(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].trim_end_matches(' ');
    if before.ends_with(',') {
        return true;
    }
    let previous = before
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("")
        .to_lowercase();
    if PLURAL_HONORIFICS.contains(&previous.as_str()) {
        return true;
    }
    let after = &text[end..];
    after
        .strip_prefix(' ')
        .is_some_and(|rest| rest.starts_with(char::is_uppercase))
}

/// The capitalised words of `span` (letters, with inner hyphens and apostrophes), as
/// byte ranges of the text `span` starts at `offset` in.
fn capitalised_words(span: &str, offset: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            let rest = &span[at..];
            let start = at + rest.find(char::is_alphabetic)?;
            let len = span[start..]
                .find(|c: char| !(c.is_alphabetic() || matches!(c, '-' | '\'' | '’')))
                .unwrap_or(span.len() - start);
            at = start + len;
            let word = &span[start..at];
            if word.starts_with(char::is_uppercase) {
                return Some((offset + start, offset + at));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::capitalised_words;

    #[test]
    fn capitalised_words_skip_joining_words_and_keep_hyphens() {
        let span = "Lopez, Santos-Ruiz and Coleman";
        let words: Vec<&str> = capitalised_words(span, 0)
            .map(|(s, e)| &span[s..e])
            .collect();
        assert_eq!(words, ["Lopez", "Santos-Ruiz", "Coleman"]);
        let offset: Vec<(usize, usize)> = capitalised_words("é, Ab", 10).collect();
        assert_eq!(offset, [(14, 16)]);
    }
}
