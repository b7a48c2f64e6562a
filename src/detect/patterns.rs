//! Pattern rules: regular expressions with optional validators and context words.
//!
//! `RegexSet`s tell, in one pass each, which rules match anywhere in the text; only those
//! rules then run on their own to find where (a set cannot say where, and one combined
//! leftmost-first regex would hide a valid match behind an overlapping one that its
//! validator later rejects).
//!
//! The rules are split into sets of [`PREFILTER_GROUP_RULES`]: one set of all 70-odd
//! shipped patterns (several with Unicode letter classes) overflows the lazy DFA's cache
//! on long, dense texts and falls back to the slow engines (1 MB of the development
//! corpus: 3.4 s through one set, 0.35 s through sets of 24, 0.45 s rule by rule), while
//! on a 64 KB prompt-like text sets of 24 cost 0.85 ms against 0.6 ms for one set and
//! 3 ms rule by rule.

use regex::{Regex, RegexBuilder};

use super::fold::{self, Folded};
use super::validators::Validator;
use super::{Candidate, RuleMeta};

/// A compiled regex may not exceed this (regex's own guard for untrusted patterns).
pub const REGEX_SIZE_LIMIT_BYTES: usize = 16 << 20;
/// Lazy-DFA cache per regex and thread; grown only as needed (PERFORMANCE-NOTES.md).
pub const REGEX_DFA_SIZE_LIMIT_BYTES: usize = 16 << 20;

/// How many rules share one prefilter `RegexSet` (see the module docs for the figures).
const PREFILTER_GROUP_RULES: usize = 24;

/// Score multiplier for a finding whose validator failed but whose context words
/// were present (for example a mistyped social-security number labelled as one).
const INVALID_WITH_CONTEXT_SCORE_FACTOR: f32 = 0.6;
/// Score multiplier for a finding of a rule with context words when none were found.
const NO_CONTEXT_SCORE_FACTOR: f32 = 0.8;

pub(crate) fn build_regex(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT_BYTES)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT_BYTES)
        .build()
}

#[derive(Debug)]
pub(crate) struct PatternRule {
    meta: usize,
    regex: Regex,
    /// Index of the `value` capture group: the reported span when the pattern also
    /// matches surrounding context (`né le (?P<value>…)`).
    value_group: Option<usize>,
    validator: Option<Validator>,
    /// The context words, folded, as one automaton (`None` without context words).
    context: Option<aho_corasick::AhoCorasick>,
    context_window: usize,
    context_required: bool,
    invalid_with_context: bool,
    /// Folded values that are never findings (`password: string`).
    exclude: Vec<String>,
    /// Keys that make the value after them an identifier, not a finding
    /// (`"id": 4821993518190934`, `trace_id=…`).
    veto_keys: Vec<String>,
    /// The rule's unchecked twin (entity `ID_NUMBER`): where a value that fails its
    /// check is reported, when its context announces it (`invalid_with_context`) or
    /// its shape is the identifier's (`invalid_by_shape`).
    unchecked_meta: Option<usize>,
    invalid_by_shape: bool,
    /// Folded words that, in the context window before the match, rule it out.
    veto_before: Option<aho_corasick::AhoCorasick>,
    /// Folded words that, as the first word after the match, rule it out (words of
    /// three characters or more also as its prefix).
    veto_after: Vec<String>,
}

/// What else a pattern rule may say, beyond its regex, validator and context words.
#[derive(Debug, Default)]
pub(crate) struct RuleExtras {
    pub exclude: Vec<String>,
    pub veto_keys: Vec<String>,
    pub unchecked_meta: Option<usize>,
    pub invalid_by_shape: bool,
    pub veto_before: Vec<String>,
    pub veto_after: Vec<String>,
}

/// Bytes after a match in which its first word is looked for (`veto_after`).
const VETO_AFTER_BYTES: usize = 24;

impl PatternRule {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        meta: usize,
        regex: Regex,
        validator: Option<Validator>,
        context: Vec<String>,
        context_window: usize,
        context_required: bool,
        invalid_with_context: bool,
        extras: RuleExtras,
    ) -> PatternRule {
        let value_group = regex.capture_names().position(|n| n == Some("value"));
        // A handful of short words: building cannot fail short of memory limits, and a
        // rule that somehow has none simply has no context.
        let context = (!context.is_empty())
            .then(|| aho_corasick::AhoCorasick::new(&context).ok())
            .flatten();
        let veto_before = (!extras.veto_before.is_empty())
            .then(|| aho_corasick::AhoCorasick::new(&extras.veto_before).ok())
            .flatten();
        PatternRule {
            meta,
            regex,
            value_group,
            validator,
            context,
            context_window,
            context_required,
            invalid_with_context,
            exclude: extras.exclude,
            veto_keys: extras.veto_keys,
            unchecked_meta: extras.unchecked_meta,
            invalid_by_shape: extras.invalid_by_shape,
            veto_before,
            veto_after: extras.veto_after,
        }
    }

    /// Whether a word of `veto_before` occurs in the context window before `start`, or
    /// the first word after `end` starts with one of `veto_after`.
    fn context_vetoed(&self, text: &str, folded: &Folded, start: usize, end: usize) -> bool {
        if let Some(ac) = &self.veto_before
            && ac.is_match(self.window_before(folded, start))
        {
            return true;
        }
        if self.veto_after.is_empty() {
            return false;
        }
        let after = text[end..].trim_start_matches([' ', '\t']);
        let mut cut = after.len().min(VETO_AFTER_BYTES);
        while !after.is_char_boundary(cut) {
            cut -= 1;
        }
        let head = &after[..cut];
        let word = fold::fold_str(head.split([' ', '\t', '\n']).next().unwrap_or(head));
        // A short word (`km`, `go`) only whole, a longer one as a prefix too (`eur`
        // rules out `euros`).
        self.veto_after.iter().any(|w| {
            word == *w
                || word.starts_with(w.as_str())
                    && (w.chars().count() >= 3
                        || !word[w.len()..].starts_with(char::is_alphanumeric))
        })
    }

    /// The folded context window before `start`.
    fn window_before<'f>(&self, folded: &'f Folded, start: usize) -> &'f str {
        let end = folded.folded_offset(start);
        let mut lo = end.saturating_sub(self.context_window);
        while !folded.text.is_char_boundary(lo) {
            lo += 1;
        }
        &folded.text[lo..end]
    }

    /// True when the value at `start..end` is assigned to a key such as `id` or
    /// `trace_id` by an assignment (`:`, `=` or quotes). Only a bare run of digits or
    /// letters is an identifier: a value written in groups (`4111 1111 1111 1111`) is
    /// written for people, whatever precedes it.
    fn vetoed(&self, text: &str, start: usize, end: usize) -> bool {
        if self.veto_keys.is_empty() || !text[start..end].bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return false;
        }
        let before = text[..start].trim_end_matches([' ', '\t', '"', '\'', ':', '=', '[', ',']);
        // An assignment, not prose: `"id": 4821…`, `trace_id=4821…`, not `invoice 4821…`.
        if !text[before.len()..start].contains([':', '=', '"', '\'']) {
            return false;
        }
        let word_start = before
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '-')
            .last()
            .map_or(before.len(), |(i, _)| i);
        let word = &before[word_start..];
        let camel_id = word.len() > 2 && word.ends_with("Id");
        let key = fold::fold_str(word);
        camel_id || key.ends_with("_id") || key.ends_with("-id") || self.veto_keys.contains(&key)
    }

    fn has_context(&self, folded: &Folded, start: usize) -> bool {
        // Context words are looked for before the match only: after it, they most often
        // announce the next value (`IPP: 2457230678, numéro de téléphone : …`).
        self.context
            .as_ref()
            .is_some_and(|ac| ac.is_match(self.window_before(folded, start)))
    }

    /// Pushes the finding at `start..end` when the rule takes it; true when it did.
    ///
    /// A value that fails its check is tried again without its last group or two
    /// (`ES91 2100 0418 4502 0005 1332 EUR`: the regex took ` EUR` as the IBAN's short
    /// last group), as long as what is left is still printed whole. A value that fails
    /// every way is reported under the rule's unchecked twin (`ID_NUMBER`) when its
    /// context announces it or its shape is the identifier's.
    fn push(
        &self,
        text: &str,
        folded: &Folded,
        start: usize,
        end: usize,
        base_score: f32,
        out: &mut Vec<Candidate>,
    ) -> bool {
        if !self.exclude.is_empty() && self.exclude.contains(&fold::fold_str(&text[start..end])) {
            return false;
        }
        if self.vetoed(text, start, end) {
            return false;
        }
        let Some(validator) = self.validator else {
            return self.push_checked(text, folded, start, end, true, base_score, out);
        };
        let fits =
            |e: usize| validator.in_context(text, start, e) && validator.check(&text[start..e]);
        if fits(end) {
            return self.push_checked(text, folded, start, end, true, base_score, out);
        }
        let shorter = shorter_ends(text, start, end);
        for &e in shorter.iter().flatten() {
            if fits(e) {
                return self.push_checked(text, folded, start, e, true, base_score, out);
            }
        }
        let Some(unchecked) = self.unchecked_meta else {
            return self.push_checked(text, folded, start, end, false, base_score, out);
        };
        if self.context_vetoed(text, folded, start, end) {
            return false;
        }
        let announced = self.invalid_with_context && self.has_context(folded, start);
        let unchecked_end = if announced {
            Some(end)
        } else if self.invalid_by_shape {
            std::iter::once(end)
                .chain(shorter.iter().flatten().copied())
                .find(|&e| validator.shape(&text[start..e]))
        } else {
            None
        };
        let Some(e) = unchecked_end else {
            return false;
        };
        out.push(Candidate {
            start,
            end: e,
            meta: unchecked,
            sensitivity: None,
            entity: None,
            score: base_score * INVALID_WITH_CONTEXT_SCORE_FACTOR,
        });
        true
    }

    /// The finding of the rule itself, `valid` or not, after its context words.
    #[allow(clippy::too_many_arguments)]
    fn push_checked(
        &self,
        text: &str,
        folded: &Folded,
        start: usize,
        end: usize,
        valid: bool,
        base_score: f32,
        out: &mut Vec<Candidate>,
    ) -> bool {
        let mut score = base_score;
        if self.context.is_some() {
            let context = self.has_context(folded, start);
            // With an unchecked twin, an invalid value is reported there, never under
            // the rule's own entity.
            if !(valid || self.invalid_with_context && context && self.unchecked_meta.is_none()) {
                return false;
            }
            if self.context_required && !context {
                return false;
            }
            if !valid {
                score *= INVALID_WITH_CONTEXT_SCORE_FACTOR;
            } else if !context {
                score *= NO_CONTEXT_SCORE_FACTOR;
            }
        } else if !valid {
            return false;
        }
        if self.context_vetoed(text, folded, start, end) {
            return false;
        }
        out.push(Candidate {
            start,
            end,
            meta: self.meta,
            sensitivity: None,
            entity: None,
            score,
        });
        true
    }
}

/// Where a value grouped by separators ends without its last group, and without its
/// last two: only when the rest is still printed whole, one run or at least three
/// groups of four (the last one shorter). `[None, None]` for a value in one run.
fn shorter_ends(text: &str, start: usize, end: usize) -> [Option<usize>; 2] {
    let mut out = [None, None];
    let mut e = end;
    for slot in &mut out {
        let value = &text[start..e];
        let Some(cut) = value.rfind([' ', '-', '.']) else {
            break;
        };
        let kept = value[..cut].trim_end_matches([' ', '-', '.']);
        if kept.split([' ', '-', '.']).count() == 2 || !printed_whole(kept) {
            break;
        }
        e = start + kept.len();
        *slot = Some(e);
    }
    out
}

/// Whether `value` stands as one printed value: a single unbroken run, or groups of four
/// characters separated by spaces, dashes or dots (the last group may be shorter), as
/// cards and account numbers are printed.
fn printed_whole(value: &str) -> bool {
    let groups: Vec<&str> = value.split([' ', '-', '.']).collect();
    groups.len() == 1
        || (groups.len() >= 3
            && groups[..groups.len() - 1]
                .iter()
                .all(|g| g.chars().count() == 4)
            && groups
                .last()
                .is_some_and(|g| (1..=4).contains(&g.chars().count())))
}

/// Where the next group of a value grouped by spaces begins inside `text[start..end]`:
/// just past the first space after `start`, if any. (Only spaces: `1.2.3.4.5` is a
/// version, and `2.3.4.5` inside it no address.)
fn next_group(text: &str, start: usize, end: usize) -> Option<usize> {
    let inner = &text[start..end];
    let sep = inner.find(' ')?;
    let after = start + sep;
    let rest = &text[after..end];
    let skip = rest.find(char::is_alphanumeric)?;
    Some(after + skip)
}

#[derive(Debug)]
pub(crate) struct Patterns {
    rules: Vec<PatternRule>,
    /// Prefilter sets over groups of rules, with the index of each group's first rule.
    sets: Vec<(usize, regex::RegexSet)>,
}

impl Patterns {
    pub(crate) fn new(rules: Vec<PatternRule>) -> Patterns {
        let sets = rules
            .chunks(PREFILTER_GROUP_RULES)
            .enumerate()
            .filter_map(|(g, chunk)| {
                regex::RegexSetBuilder::new(chunk.iter().map(|r| r.regex.as_str()))
                    .size_limit(REGEX_SIZE_LIMIT_BYTES * 4)
                    .dfa_size_limit(REGEX_DFA_SIZE_LIMIT_BYTES)
                    .build()
                    .ok()
                    .map(|s| (g * PREFILTER_GROUP_RULES, s))
            })
            .collect();
        Patterns { rules, sets }
    }

    pub(crate) fn scan(
        &self,
        text: &str,
        folded: &Folded,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let mut hits = Vec::new();
        for (first, set) in &self.sets {
            hits.extend(set.matches(text).into_iter().map(|i| first + i));
        }
        for rule in hits.into_iter().map(|i| &self.rules[i]) {
            // A rule that needs context cannot match where none of its words occurs.
            if rule.context_required
                && !rule
                    .context
                    .as_ref()
                    .is_some_and(|ac| ac.is_match(&folded.text))
            {
                continue;
            }
            let base = metas[rule.meta].score;
            match rule.value_group {
                None if rule.validator.is_some() => {
                    // A match whose check fails may hide a valid value that starts at
                    // one of its later groups (`0 4111 1111 1111 1111`: leftmost-first
                    // matching takes the `0`): look again from the next group.
                    // Only a value printed whole (one run, or groups of four) is looked
                    // for there: random digits pass a check one time in ten, and a long
                    // number tried at every group would soon show a false card.
                    let mut at = 0;
                    let mut inside_failed = 0;
                    while at <= text.len() {
                        let Some(m) = rule.regex.find_at(text, at) else {
                            break;
                        };
                        let retried = m.start() < inside_failed;
                        let ok = (!retried || printed_whole(&text[m.start()..m.end()]))
                            && rule.push(text, folded, m.start(), m.end(), base, out);
                        if ok {
                            at = m.end().max(m.start() + 1);
                        } else {
                            inside_failed = inside_failed.max(m.end());
                            at = next_group(text, m.start(), m.end())
                                .unwrap_or(m.end().max(m.start() + 1));
                        }
                        while at < text.len() && !text.is_char_boundary(at) {
                            at += 1;
                        }
                    }
                }
                None => {
                    for m in rule.regex.find_iter(text) {
                        rule.push(text, folded, m.start(), m.end(), base, out);
                    }
                }
                Some(g) => {
                    // Where the `value` group is in one branch of an alternation only,
                    // the other branches report the whole match.
                    for caps in rule.regex.captures_iter(text) {
                        if let Some(m) = caps.get(g).or_else(|| caps.get(0)) {
                            let _ = rule.push(text, folded, m.start(), m.end(), base, out);
                        }
                    }
                }
            }
        }
    }
}
