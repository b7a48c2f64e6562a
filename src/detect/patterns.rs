//! Pattern rules: regular expressions with optional validators and context words.
//!
//! One `RegexSet` over every pattern tells, in one pass, which rules match anywhere in
//! the text; only those rules then run on their own to find where (the set cannot say
//! where, and one combined leftmost-first regex would hide a valid match behind an
//! overlapping one that its validator later rejects).

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use super::rules::{REGEX_DFA_SIZE_LIMIT_BYTES, REGEX_SIZE_LIMIT_BYTES};
use super::validators::Validator;
use super::{Candidate, RuleMeta, fold};

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
    source: String,
    regex: Regex,
    /// Index of the `value` capture group: the reported span when the pattern also
    /// matches surrounding context (`né le (?P<value>…)`).
    value_group: Option<usize>,
    validator: Option<Validator>,
    context: Vec<String>,
    context_window: usize,
    context_required: bool,
    invalid_with_context: bool,
    /// Folded values that are never findings (`password: string`).
    exclude: Vec<String>,
}

impl PatternRule {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        meta: usize,
        source: String,
        regex: Regex,
        validator: Option<Validator>,
        context: Vec<String>,
        context_window: usize,
        context_required: bool,
        invalid_with_context: bool,
        exclude: Vec<String>,
    ) -> PatternRule {
        let value_group = regex.capture_names().position(|n| n == Some("value"));
        PatternRule {
            meta,
            source,
            regex,
            value_group,
            validator,
            context,
            context_window,
            context_required,
            invalid_with_context,
            exclude,
        }
    }

    fn has_context(&self, text: &str, start: usize) -> bool {
        let mut lo = start.saturating_sub(self.context_window);
        while !text.is_char_boundary(lo) {
            lo -= 1;
        }
        // Context words are looked for before the match only: after it, they most often
        // announce the next value (`IPP: 2457230678, numéro de téléphone : …`).
        let before = fold::fold_str(&text[lo..start]);
        self.context.iter().any(|w| before.contains(w.as_str()))
    }

    fn push(
        &self,
        text: &str,
        start: usize,
        end: usize,
        base_score: f32,
        out: &mut Vec<Candidate>,
    ) {
        if !self.exclude.is_empty() && self.exclude.contains(&fold::fold_str(&text[start..end])) {
            return;
        }
        let valid = self.validator.is_none_or(|v| v.check(&text[start..end]));
        let mut score = base_score;
        if !self.context.is_empty() {
            let context = self.has_context(text, start);
            if !(valid || self.invalid_with_context && context) {
                return;
            }
            if self.context_required && !context {
                return;
            }
            if !valid {
                score *= INVALID_WITH_CONTEXT_SCORE_FACTOR;
            } else if !context {
                score *= NO_CONTEXT_SCORE_FACTOR;
            }
        } else if !valid {
            return;
        }
        out.push(Candidate {
            start,
            end,
            meta: self.meta,
            sensitivity: None,
            entity: None,
            score,
        });
    }
}

#[derive(Debug)]
pub(crate) struct Patterns {
    set: Option<RegexSet>,
    rules: Vec<PatternRule>,
}

impl Patterns {
    pub(crate) fn new(rules: Vec<PatternRule>) -> Result<Patterns, regex::Error> {
        let set = if rules.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(rules.iter().map(|r| r.source.as_str()))
                    .size_limit(REGEX_SIZE_LIMIT_BYTES * 4)
                    .dfa_size_limit(REGEX_DFA_SIZE_LIMIT_BYTES)
                    .build()?,
            )
        };
        Ok(Patterns { set, rules })
    }

    pub(crate) fn scan(&self, text: &str, metas: &[RuleMeta], out: &mut Vec<Candidate>) {
        let Some(set) = &self.set else { return };
        for i in set.matches(text).iter() {
            let rule = &self.rules[i];
            let base = metas[rule.meta].score;
            match rule.value_group {
                None => {
                    for m in rule.regex.find_iter(text) {
                        rule.push(text, m.start(), m.end(), base, out);
                    }
                }
                Some(g) => {
                    // Where the `value` group is in one branch of an alternation only,
                    // the other branches report the whole match.
                    for caps in rule.regex.captures_iter(text) {
                        if let Some(m) = caps.get(g).or_else(|| caps.get(0)) {
                            rule.push(text, m.start(), m.end(), base, out);
                        }
                    }
                }
            }
        }
    }
}
