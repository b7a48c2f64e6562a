//! Pattern rules: regular expressions with optional validators and context words.
//!
//! The *local* rules (those whose matches are at most `LOCAL_MAX_LEN_BYTES` long:
//! numbers, codes, most identifiers) are searched together first, to find the *windows*
//! of the text where each of them can match; each local rule then runs its own regex
//! only there:
//!
//! - a leftmost-first pass of all local patterns reports where any of them starts a
//!   match, and moves on past that match's end, so no match of any local rule starts in
//!   a gap between the places it reports (look-around, `\b`, sees the whole text, as in
//!   a search of the whole text). Around each place, up to the longest local match past
//!   it, is a *span*;
//! - an overlapping search of the local patterns (`MatchKind::All`, lazy DFAs of
//!   `LOCAL_GROUP_RULES` patterns each) over the spans reports every rule at every byte
//!   where one of its matches ends; a match of a rule whose longest match is `L` bytes,
//!   ending at `e`, starts at or after `e - L`, so the rule's windows are those
//!   `[e - L, e]`, merged;
//! - dense text (code, logs: numbers everywhere) would stop the leftmost-first pass at
//!   every number: once its spans cover half of what it has read, the rest of the text
//!   is one span;
//! - a rule searched from `at` inside a window `[start, end]`, over `[max(at, start),
//!   end]`, finds its next match exactly as a search of the whole text from `at` would:
//!   every match lies whole inside one window (windows that would cut one are merged),
//!   and a match inside the window is a match in the whole text;
//! - value groups are read by an anchored search over the match alone.
//!
//! The other rules (unbounded matches: e-mail, URLs, addresses, organisations) keep the
//! former scheme: prefilter `RegexSet`s over groups of `PREFILTER_GROUP_RULES` rules
//! say which match anywhere, and those run over the whole text. Rules that could match
//! the empty string always do, through the regex crate's own iterators. A rule that
//! requires context words is skipped when none of them occurs in the text: the words of
//! all such rules are one automaton, searched once. A test compares all this with every
//! rule run alone over the whole text (`patterns/tests.rs`).
//!
//! Measured (callgrind, instructions per scan, steady state, shipped rules, the
//! detector benchmark's texts: `examples/scan_repeat.rs`): before the local pass (one
//! `RegexSet` prefilter for all rules), 64 KB of code 23.9 M, of prose 23.0 M, the 2 KB
//! French prompt 1.31 M; with a leftmost-first pass and one set search per region
//! (regions re-read up to the longest match each, context words searched rule by rule)
//! 32.3 M, 23.0 M, 1.41 M; as described here 20.4 M, 22.8 M, 1.42 M.
//!
//! Why sets of `PREFILTER_GROUP_RULES`: one set of all 70-odd shipped patterns (several
//! with Unicode letter classes) overflows the lazy DFA's cache on long, dense texts and
//! falls back to the slow engines (1 MB of the development corpus: 3.4 s through one
//! set, 0.35 s through sets of 24, 0.45 s rule by rule), while on a 64 KB prompt-like
//! text sets of 24 cost 0.85 ms against 0.6 ms for one set and 3 ms rule by rule. The
//! multi-pattern automata of the local rules hold only bounded patterns; the
//! overlapping one gives up when its cache thrashes, and every local rule then searches
//! the whole text.

use regex::{Regex, RegexBuilder};
use regex_automata::hybrid::dfa::OverlappingState;
use regex_automata::util::pool::Pool;
use regex_automata::util::primitives::NonMaxUsize;
use regex_automata::{Anchored, Input, MatchKind, PatternID, hybrid, meta};

use super::fold::{self, Folded};
use super::validators::Validator;
use super::{Candidate, RuleMeta};

#[cfg(test)]
mod tests;

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

/// A rule's pattern compiled as `build_regex` compiles it (same syntax, limits and
/// match semantics), as the lower-level regex that can search part of a text.
///
/// # Errors
/// The error `build_regex` would give for the same pattern.
pub(crate) fn build_rule_regex(pattern: &str) -> Result<meta::Regex, regex::Error> {
    meta::Builder::new()
        .configure(rule_config(MatchKind::LeftmostFirst))
        .build(pattern)
        .map_err(|e| {
            // The regex crate's own conversion of a build error.
            if let Some(limit) = e.size_limit() {
                regex::Error::CompiledTooBig(limit)
            } else if let Some(syntax) = e.syntax_error() {
                regex::Error::Syntax(syntax.to_string())
            } else {
                regex::Error::Syntax(e.to_string())
            }
        })
}

/// The settings `regex::RegexBuilder` gives its regex (see `build_regex`).
fn rule_config(kind: MatchKind) -> meta::Config {
    meta::Config::new()
        .match_kind(kind)
        .utf8_empty(true)
        .nfa_size_limit(Some(REGEX_SIZE_LIMIT_BYTES))
        .hybrid_cache_capacity(REGEX_DFA_SIZE_LIMIT_BYTES)
}

#[derive(Debug)]
pub(crate) struct PatternRule {
    meta: usize,
    /// The pattern's text (the multi-pattern regexes are built from it).
    pattern: String,
    regex: meta::Regex,
    /// The slots of the `value` capture group: the reported span when the pattern also
    /// matches surrounding context (`né le (?P<value>…)`).
    value_group: Option<(usize, usize)>,
    /// The shortest and longest match in bytes (`None`: no bound).
    min_len: usize,
    max_len: Option<usize>,
    validator: Option<Validator>,
    /// The context words, folded, as one automaton (`None` without context words).
    context: Option<aho_corasick::AhoCorasick>,
    /// The context words themselves, kept for a rule that requires them
    /// ([`Patterns::new`] searches them all in one pass).
    required_words: Vec<String>,
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
        pattern: String,
        regex: meta::Regex,
        validator: Option<Validator>,
        context: Vec<String>,
        context_window: usize,
        context_required: bool,
        invalid_with_context: bool,
        extras: RuleExtras,
    ) -> PatternRule {
        let info = regex.group_info();
        let value_group = info
            .to_index(PatternID::ZERO, "value")
            .and_then(|g| info.slots(PatternID::ZERO, g));
        // The pattern compiled, so it parses; a parser that disagreed would only cost
        // this rule its local search (no bound known).
        let (min_len, max_len) = regex_syntax::ParserBuilder::new()
            .build()
            .parse(&pattern)
            .map_or((0, None), |hir| {
                let p = hir.properties();
                (p.minimum_len().unwrap_or(0), p.maximum_len())
            });
        // A handful of short words: building cannot fail short of memory limits, and a
        // rule that somehow has none simply has no context.
        let context_ac = (!context.is_empty())
            .then(|| aho_corasick::AhoCorasick::new(&context).ok())
            .flatten();
        let required_words = if context_required {
            context
        } else {
            Vec::new()
        };
        let veto_before = (!extras.veto_before.is_empty())
            .then(|| aho_corasick::AhoCorasick::new(&extras.veto_before).ok())
            .flatten();
        PatternRule {
            meta,
            pattern,
            regex,
            value_group,
            min_len,
            max_len,
            validator,
            context: context_ac,
            required_words,
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

/// Rules whose matches are at most this long are searched locally (see the module docs);
/// longer or unbounded ones search the whole text.
const LOCAL_MAX_LEN_BYTES: usize = 160;
/// Spans of the multi-pattern search closer than this are searched as one region.
const REGION_GAP_BYTES: usize = 8;
/// The leftmost-first pass gives way to one overlapping search of the rest of the
/// text after this many spans, when they cover half of what it has read.
const DENSE_MIN_SPANS: usize = 8;

/// How many local patterns share one overlapping lazy DFA (see `Local::dfas`).
///
/// A lazy DFA builds its states as the text needs them, and a state of the overlapping
/// search is a set of positions in every pattern at once: one DFA of all 44 shipped
/// local patterns kept building new states on text it had not seen, and that was 78 %
/// of `scan --jsonl` on the development corpus (1.92 G of 2.45 G instructions per MiB,
/// callgrind, after the first MiB). Two DFAs of 22 patterns each have far fewer
/// states between them: 3 MiB of the corpus take 0.8 s of CPU instead of 1.5 s, for
/// 3 % more instructions on the prompt and 3 % (prose) to 10 % (code) more on the
/// benchmark's 64 KB texts, whose states are all built after the first scan.
/// Groups of 12 or 6 cost more on those and gain nothing more on the corpus.
const LOCAL_GROUP_RULES: usize = 22;

/// A span of the text where a match of a local rule may start.
type Span = (usize, usize);

#[derive(Debug)]
pub(crate) struct Patterns {
    rules: Vec<PatternRule>,
    /// The multi-pattern search over the local rules, when they compiled together.
    local: Option<Local>,
    /// Prefilter sets over groups of the other rules, with each set's rule indices.
    sets: Vec<(Vec<usize>, regex::RegexSet)>,
    /// The context words of every rule that requires them, as one automaton, with the
    /// rules each word belongs to: one pass tells which of those rules can match.
    required: Option<(aho_corasick::AhoCorasick, Vec<Vec<usize>>)>,
    scratch: Pool<Scratch, ScratchFn>,
}

type ScratchFn =
    Box<dyn Fn() -> Scratch + Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>;

/// The local rules as one multi-pattern lazy DFA, pattern `p` being rule `rules[p]`.
#[derive(Debug)]
struct Local {
    /// Leftmost-first: where any local rule may start a match.
    first: meta::Regex,
    /// Every pattern at every place one of its matches ends (`MatchKind::All`,
    /// searched overlapping), in groups of `LOCAL_GROUP_RULES` patterns: pattern `p`
    /// of group `g` is local rule `g * LOCAL_GROUP_RULES + p`.
    dfas: Vec<hybrid::dfa::DFA>,
    rules: Vec<usize>,
    /// Position of each rule among the local ones (`None` for the others).
    slot: Vec<Option<usize>>,
    /// The longest match of each local rule, in bytes.
    reach: Vec<usize>,
    /// The longest match of any local rule, in bytes.
    reach_max: usize,
}

/// Buffers reused from scan to scan (one per thread at a time).
#[derive(Debug)]
struct Scratch {
    /// For each local rule, the spans its matches lie in (sorted, disjoint).
    windows: Vec<Vec<Span>>,
    /// The spans the overlapping search runs over.
    spans: Vec<Span>,
    /// One cache per group of the overlapping search (empty without local rules).
    caches: Vec<hybrid::dfa::Cache>,
    slots: Vec<Option<NonMaxUsize>>,
    hits: Vec<bool>,
    /// For each rule that requires context words, whether one occurs in the text.
    has_required: Vec<bool>,
}

impl Patterns {
    pub(crate) fn new(rules: Vec<PatternRule>) -> Patterns {
        let is_local =
            |r: &PatternRule| r.min_len > 0 && r.max_len.is_some_and(|l| l <= LOCAL_MAX_LEN_BYTES);
        let local_ids: Vec<usize> = (0..rules.len()).filter(|&i| is_local(&rules[i])).collect();
        let local = (!local_ids.is_empty())
            .then(|| {
                let pats: Vec<&str> = local_ids
                    .iter()
                    .map(|&i| rules[i].pattern.as_str())
                    .collect();
                let dfas = pats
                    .chunks(LOCAL_GROUP_RULES)
                    .map(|group| {
                        hybrid::dfa::Builder::new()
                            .configure(
                                hybrid::dfa::Config::new()
                                    .match_kind(MatchKind::All)
                                    .cache_capacity(REGEX_DFA_SIZE_LIMIT_BYTES)
                                    // A pattern with a Unicode `\b` builds, and quits on
                                    // the first non-ASCII byte: those texts take the
                                    // fallback.
                                    .unicode_word_boundary(true)
                                    // Thrashing: give up, and take the fallback.
                                    .minimum_cache_clear_count(Some(3))
                                    .minimum_bytes_per_state(Some(10)),
                            )
                            .syntax(regex_automata::util::syntax::Config::new().utf8(true))
                            .thompson(
                                regex_automata::nfa::thompson::Config::new()
                                    .nfa_size_limit(Some(REGEX_SIZE_LIMIT_BYTES * 4)),
                            )
                            .build_many(group)
                            .ok()
                    })
                    .collect::<Option<Vec<_>>>()?;
                let mut slot = vec![None; rules.len()];
                for (k, &i) in local_ids.iter().enumerate() {
                    slot[i] = Some(k);
                }
                let first = meta::Builder::new()
                    .configure(
                        rule_config(MatchKind::LeftmostFirst)
                            .nfa_size_limit(Some(REGEX_SIZE_LIMIT_BYTES * 4)),
                    )
                    .build_many(&pats)
                    .ok()?;
                let reach: Vec<usize> = local_ids
                    .iter()
                    .map(|&i| rules[i].max_len.unwrap_or(0))
                    .collect();
                Some(Local {
                    first,
                    dfas,
                    reach_max: reach.iter().copied().max().unwrap_or(0),
                    reach,
                    rules: local_ids,
                    slot,
                })
            })
            .flatten();
        let global: Vec<usize> = (0..rules.len())
            .filter(|&i| local.as_ref().is_none_or(|l| l.slot[i].is_none()))
            .collect();
        let sets = global
            .chunks(PREFILTER_GROUP_RULES)
            .filter_map(|chunk| {
                regex::RegexSetBuilder::new(chunk.iter().map(|&i| rules[i].pattern.as_str()))
                    .size_limit(REGEX_SIZE_LIMIT_BYTES * 4)
                    .dfa_size_limit(REGEX_DFA_SIZE_LIMIT_BYTES)
                    .build()
                    .ok()
                    .map(|s| (chunk.to_vec(), s))
            })
            .collect();
        let n_local = local.as_ref().map_or(0, |l| l.rules.len());
        let dfas = local.as_ref().map_or_else(Vec::new, |l| l.dfas.clone());
        let slot_len = rules
            .iter()
            .map(|r| r.regex.group_info().slot_len())
            .max()
            .unwrap_or(0);
        let n = rules.len();
        let create: ScratchFn = Box::new(move || Scratch {
            windows: vec![Vec::new(); n_local],
            spans: Vec::new(),
            caches: dfas.iter().map(hybrid::dfa::DFA::create_cache).collect(),
            slots: vec![None; slot_len],
            hits: vec![false; n],
            has_required: vec![false; n],
        });
        let required = {
            let mut words: Vec<&str> = Vec::new();
            let mut owners: Vec<Vec<usize>> = Vec::new();
            for (i, r) in rules.iter().enumerate() {
                for w in &r.required_words {
                    match words.iter().position(|x| x == w) {
                        Some(p) => owners[p].push(i),
                        None => {
                            words.push(w);
                            owners.push(vec![i]);
                        }
                    }
                }
            }
            (!words.is_empty())
                .then(|| aho_corasick::AhoCorasick::new(&words).ok())
                .flatten()
                .map(|ac| (ac, owners))
        };
        Patterns {
            rules,
            local,
            sets,
            required,
            scratch: Pool::new(create),
        }
    }

    pub(crate) fn scan(
        &self,
        text: &str,
        folded: &Folded,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let mut guard = self.scratch.get();
        let scratch = &mut *guard;
        scratch.hits.fill(false);
        for (ids, set) in &self.sets {
            for i in set.matches(text).into_iter() {
                scratch.hits[ids[i]] = true;
            }
        }
        if let Some(local) = &self.local {
            local.windows(text, scratch);
        }
        let Scratch {
            windows,
            slots,
            hits,
            has_required,
            ..
        } = scratch;
        let mut required_searched = false;
        let slot_of = |i: usize| self.local.as_ref().and_then(|l| l.slot[i]);
        // Whether rule `i` may match: windows for a local rule, its set's say otherwise.
        let may_match = |i: usize| match slot_of(i) {
            Some(k) => !windows[k].is_empty(),
            None => hits[i],
        };
        for (i, rule) in self.rules.iter().enumerate() {
            let slot = slot_of(i);
            if !may_match(i) {
                continue;
            }
            // A rule that needs context cannot match where none of its words occurs.
            if rule.context_required {
                if !required_searched {
                    // Only the rules that may match wait for their words.
                    self.search_required(folded, has_required, may_match);
                    required_searched = true;
                }
                if !has_required[i] {
                    continue;
                }
            }
            let base = metas[rule.meta].score;
            if let Some(k) = slot {
                // The next match at or after `at`: it lies inside one of the rule's
                // windows (module docs).
                let windows = &windows[k];
                let mut w = 0;
                let find = |at: usize| {
                    while let Some(&(start, end)) = windows.get(w) {
                        if end > at {
                            let span = at.max(start)..end;
                            if let Some(m) = rule.regex.search(&Input::new(text).span(span)) {
                                return Some((m.start(), m.end()));
                            }
                        }
                        w += 1;
                    }
                    None
                };
                rule.run(text, folded, base, slots, out, find);
            } else if rule.min_len == 0 && rule.validator.is_none() {
                rule.run_empty(text, folded, base, out);
            } else {
                let find = |at: usize| {
                    let m = rule.regex.search(&Input::new(text).span(at..text.len()));
                    m.map(|m| (m.start(), m.end()))
                };
                rule.run(text, folded, base, slots, out, find);
            }
        }
    }

    /// Sets `has[i]` for each rule `i` that requires context words and has one in the
    /// folded text (every word of every such rule, in one pass that stops once each
    /// rule `wanted` has one).
    fn search_required(&self, folded: &Folded, has: &mut [bool], wanted: impl Fn(usize) -> bool) {
        has.fill(false);
        let Some((ac, owners)) = &self.required else {
            return;
        };
        let mut left = (0..self.rules.len())
            .filter(|&i| !self.rules[i].required_words.is_empty() && wanted(i))
            .count();
        for m in ac.find_overlapping_iter(folded.text.as_str()) {
            for &i in &owners[m.pattern().as_usize()] {
                if !has[i] {
                    has[i] = true;
                    if wanted(i) {
                        left -= 1;
                    }
                }
            }
            if left == 0 {
                return;
            }
        }
    }
}

impl Local {
    /// Fills `scratch.windows`: for each local rule, the spans of the text its matches
    /// lie in (module docs). When the lazy DFA cannot search the text (a Unicode `\b`
    /// before a non-ASCII byte, or a cache that thrashes), every rule gets the whole
    /// text.
    fn windows(&self, text: &str, scratch: &mut Scratch) {
        for w in &mut scratch.windows {
            w.clear();
        }
        self.spans(text, &mut scratch.spans);
        for (g, (dfa, cache)) in self.dfas.iter().zip(&mut scratch.caches).enumerate() {
            for &(from, to) in &scratch.spans {
                let input = Input::new(text).span(from..to);
                let mut state = OverlappingState::start();
                loop {
                    if dfa
                        .try_search_overlapping_fwd(cache, &input, &mut state)
                        .is_err()
                    {
                        for w in &mut scratch.windows {
                            w.clear();
                            w.push((0, text.len()));
                        }
                        return;
                    }
                    let Some(m) = state.get_match() else {
                        break;
                    };
                    let k = g * LOCAL_GROUP_RULES + m.pattern().as_usize();
                    let end = m.offset();
                    let mut start = end.saturating_sub(self.reach[k]);
                    while !text.is_char_boundary(start) {
                        start -= 1;
                    }
                    let windows = &mut scratch.windows[k];
                    match windows.last_mut() {
                        Some(last) if start <= last.1 + REGION_GAP_BYTES => {
                            last.1 = last.1.max(end);
                        }
                        _ => windows.push((start, end)),
                    }
                }
            }
        }
    }

    /// Fills `spans` with where the overlapping search must look: around each place
    /// the leftmost-first pass reports, up to the longest match past it. Once those
    /// cover most of the text read so far (code, logs: numbers everywhere), the rest
    /// of the text is one span, the overlapping search being cheaper than stopping at
    /// every match.
    fn spans(&self, text: &str, spans: &mut Vec<Span>) {
        spans.clear();
        let mut at = 0;
        let mut covered = 0;
        while at < text.len() {
            if spans.len() >= DENSE_MIN_SPANS && covered * 2 > at {
                match spans.last_mut() {
                    Some(last) if at <= last.1 => last.1 = text.len(),
                    _ => spans.push((at, text.len())),
                }
                return;
            }
            let Some(m) = self.first.search(&Input::new(text).span(at..text.len())) else {
                break;
            };
            let (start, end) = (m.start(), (m.end() + self.reach_max).min(text.len()));
            match spans.last_mut() {
                Some(last) if start <= last.1 + REGION_GAP_BYTES => {
                    covered += end.saturating_sub(last.1);
                    last.1 = last.1.max(end);
                }
                _ => {
                    covered += end - start;
                    spans.push((start, end));
                }
            }
            // Local rules match at least one byte: `at` moves on.
            at = m.end();
        }
    }
}

impl PatternRule {
    /// Runs the rule over `text`, `find(at)` giving its next match at or after `at` as
    /// the rule's own regex would find it.
    fn run(
        &self,
        text: &str,
        folded: &Folded,
        base: f32,
        slots: &mut [Option<NonMaxUsize>],
        out: &mut Vec<Candidate>,
        mut find: impl FnMut(usize) -> Option<Span>,
    ) {
        match self.value_group {
            None if self.validator.is_some() => {
                // A match whose check fails may hide a valid value that starts at
                // one of its later groups (`0 4111 1111 1111 1111`: leftmost-first
                // matching takes the `0`): look again from the next group.
                // Only a value printed whole (one run, or groups of four) is looked
                // for there: random digits pass a check one time in ten, and a long
                // number tried at every group would soon show a false card.
                let mut at = 0;
                let mut inside_failed = 0;
                while at <= text.len() {
                    let Some((start, end)) = find(at) else {
                        break;
                    };
                    let retried = start < inside_failed;
                    let ok = (!retried || printed_whole(&text[start..end]))
                        && self.push(text, folded, start, end, base, out);
                    if ok {
                        at = end.max(start + 1);
                    } else {
                        inside_failed = inside_failed.max(end);
                        at = next_group(text, start, end).unwrap_or(end.max(start + 1));
                    }
                    while at < text.len() && !text.is_char_boundary(at) {
                        at += 1;
                    }
                }
            }
            None => {
                // Matches are never empty here (`run_empty` takes those rules).
                let mut at = 0;
                while let Some((start, end)) = find(at) {
                    self.push(text, folded, start, end, base, out);
                    at = end;
                }
            }
            Some((value_start, value_end)) => {
                // Where the `value` group is in one branch of an alternation only,
                // the other branches report the whole match.
                let mut at = 0;
                while let Some((start, end)) = find(at) {
                    at = end;
                    let input = Input::new(text).span(start..end).anchored(Anchored::Yes);
                    let (start, end) = match self.regex.search_slots(&input, slots) {
                        Some(_) => match (slots[value_start], slots[value_end]) {
                            (Some(s), Some(e)) => (s.get(), e.get()),
                            _ => (start, end),
                        },
                        None => (start, end),
                    };
                    let _ = self.push(text, folded, start, end, base, out);
                }
            }
        }
    }

    /// [`PatternRule::run`] for a rule that may match the empty string, as the regex
    /// crate's iterators step over such matches.
    fn run_empty(&self, text: &str, folded: &Folded, base: f32, out: &mut Vec<Candidate>) {
        match self.value_group {
            None => {
                for m in self.regex.find_iter(text) {
                    self.push(text, folded, m.start(), m.end(), base, out);
                }
            }
            Some(_) => {
                let info = self.regex.group_info();
                let g = info.to_index(PatternID::ZERO, "value").unwrap_or(0);
                for caps in self.regex.captures_iter(text) {
                    if let Some(m) = caps
                        .get_group(g)
                        .or_else(|| caps.get_match().map(|m| m.span()))
                    {
                        let _ = self.push(text, folded, m.start, m.end, base, out);
                    }
                }
            }
        }
    }
}
