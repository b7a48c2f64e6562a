//! Person names without a statistical model.
//!
//! Names are found from the words around them and from gazetteers:
//!
//! - an honorific (`M.`, `Mme`, `Dr`, `Maître`, `Mrs`…) followed by capitalised words;
//! - a form label (`Nom :`, `Patient :`, `Name:`) followed by capitalised words;
//! - a greeting (`Bonjour Claire,`, `Dear John`) or a signature after a sign-off line
//!   (`Cordialement,\nJean Dupont`);
//! - a known first name followed by a surname (`Jean Dupont`, `Jean DUPONT`) or preceded
//!   by an upper-case one (`DUPONT Jean`); a known first name alone, unless it is also
//!   a common word (Pierre, Rose, Claire, Avril…), which then needs one of the contexts
//!   above;
//! - the parts of an e-mail address's local part (`jean.dupont@…` makes `Jean Dupont`
//!   and `Dupont` findings elsewhere in the text);
//! - propagation: a surname found once is found again wherever it recurs capitalised;
//! - names nobody listed: a statistical layer over word shape and context ([`model`]),
//!   when the `[person]` table names a model, fills the gaps the rules above leave.
//!
//! Pure: works on the text it is given and returns candidates.
//!
//! Cost: one tokenisation of the text, each word a slice of the scan's one folded copy
//! and its word-list memberships one hash lookup (`Names::lexicon`), shared by the rules
//! above and the statistical layer; no string is built per word. On the 1.9 KB French
//! prompt of `benches/load/prompt.json`, `Names::scan` takes about 0.50 M instructions
//! per request (the statistical layer 0.13 M of them, the word-list lookups 0.05 M),
//! down from 0.61 M before step 9 (which dropped two new strings per word to look up
//! e-mail name pairs, a folded copy per street-word check and per sign-off line, and the
//! token vector's growth). Measured with callgrind, steady state:
//! `valgrind --tool=callgrind target/release/examples/request_phase
//! benches/load/prompt.json 21`, minus the same with 1, divided by 20.

/// foldhash (fixed seed): the sets hold short folded words looked up once or more per
/// token; SipHash's DoS resistance buys nothing here and costs a tenth of the scan.
type Hasher = foldhash::fast::FixedState;

/// A folded word's key in [`Names::lexicon`]: 64 bits of a hash with a fixed seed.
/// Two words share a key once in about 2^64 / (lexicon size) lookups, never in practice;
/// the cost of one would be a word given another word's lists.
fn word_key(word: &str) -> u64 {
    const KEYS: foldhash::fast::FixedState =
        foldhash::fast::FixedState::with_seed(0x7061_7261_7665_6e74);
    std::hash::BuildHasher::hash_one(&KEYS, word)
}

type HashSet<T> = std::collections::HashSet<T, Hasher>;
type HashMap<K, V> = std::collections::HashMap<K, V, Hasher>;
use std::sync::Arc;

use super::fold::{Folded, fold_into, fold_str};
use super::{Candidate, Entity, Nature, RuleMeta, Sensitivity};

pub(crate) mod model;
mod structure;

/// The longest run of words taken as one name.
const MAX_NAME_WORDS: usize = 4;
/// A line longer than this is not a sign-off (`Bien cordialement,`).
const MAX_SIGNOFF_LINE_BYTES: usize = 40;
/// A signature line longer than this is prose, not a name.
const MAX_SIGNATURE_LINE_BYTES: usize = 60;

/// The lists a `[person]` table names, read but not yet compiled.
#[derive(Debug, Default)]
pub(crate) struct NameLists {
    pub nature: Nature,
    pub sensitivity: Sensitivity,
    pub first_names: Vec<String>,
    pub last_names: Vec<String>,
    pub ambiguous: Vec<String>,
    pub unambiguous: Vec<String>,
    pub honorifics: Vec<String>,
    pub greetings: Vec<String>,
    pub signoffs: Vec<String>,
    pub labels: Vec<String>,
    pub stopwords: Vec<String>,
    pub particles: Vec<String>,
    pub also_ambiguous: Vec<String>,
    pub places: Vec<String>,
    pub introducers: Vec<String>,
    pub weak_introducers: Vec<String>,
    pub not_before: Vec<String>,
    pub locatives: Vec<String>,
    pub weak_honorifics: Vec<String>,
    pub articles: Vec<String>,
    /// The statistical layer's table, when the `[person]` table names one.
    pub model: Option<model::Model>,
}

/// Which heuristic found a name; each is a rule of its own in findings and policy.
#[derive(Debug, Clone, Copy)]
enum How {
    Honorific,
    Label,
    Greeting,
    Signature,
    FullName,
    FirstName,
    Email,
    Propagated,
    Introduced,
    Surname,
    Model,
}

impl How {
    const ALL: [How; 11] = [
        How::Honorific,
        How::Label,
        How::Greeting,
        How::Signature,
        How::FullName,
        How::FirstName,
        How::Email,
        How::Propagated,
        How::Introduced,
        How::Surname,
        How::Model,
    ];

    /// (rule id, priority, score). A lone first name outranks a place of the same
    /// spelling (Gary, Elizabeth) unless a locative word stands before it (`à Florence`).
    fn rule(self) -> (&'static str, i32, f32) {
        match self {
            How::Honorific => ("person.honorific", 70, 0.9),
            How::Label => ("person.label", 70, 0.85),
            How::Greeting => ("person.greeting", 65, 0.8),
            How::Signature => ("person.signature", 65, 0.8),
            How::FullName => ("person.name", 60, 0.85),
            How::FirstName => ("person.first-name", 46, 0.6),
            How::Email => ("person.email", 60, 0.8),
            How::Propagated => ("person.propagated", 55, 0.75),
            How::Introduced => ("person.introduced", 68, 0.85),
            How::Surname => ("person.surname", 50, 0.6),
            How::Model => ("person.model", 45, 0.6),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `Dupont`, `Jean-Pierre`.
    Cap,
    /// `DUPONT`.
    Upper,
    /// One upper-case letter: `J` in `J. Dupont`.
    Initial,
    /// `dupont`, `de`.
    Lower,
    /// Glued to digits (`SW1A`, `v2`): never part of a name.
    Other,
}

#[derive(Debug)]
struct Tok<'t> {
    s: usize,
    e: usize,
    shape: Shape,
    /// The word case- and accent-folded: a slice of the scan's one folded text.
    folded: &'t str,
    /// The word lists it belongs to (`FIRST`, `STOP`…), from one lookup.
    flags: u32,
}

// Word-list memberships of a token, looked up once per token in `Names::lexicon`.
const FIRST: u32 = 1 << 0;
const LAST: u32 = 1 << 1;
const AMBIGUOUS: u32 = 1 << 2;
const STOP: u32 = 1 << 3;
const PLACE: u32 = 1 << 4;
const NOT_BEFORE: u32 = 1 << 5;
const LOCATIVE: u32 = 1 << 6;
const ARTICLE: u32 = 1 << 7;
const PARTICLE: u32 = 1 << 8;
const LABEL: u32 = 1 << 9;
const GREETING: u32 = 1 << 10;
const WEAK_HONORIFIC: u32 = 1 << 11;
const HONORIFIC: u32 = 1 << 12;
/// The honorific needs its dot (`M.`).
const HONORIFIC_DOT: u32 = 1 << 13;
/// The word's last run of letters ends an introducing phrase (`appelle`, `is`).
const INTRO_TAIL: u32 = 1 << 14;

#[derive(Debug)]
pub(crate) struct Names {
    /// The lists the tokens are looked up in, for what needs more than one token's flags
    /// (hyphenated first names, surnames to propagate, e-mail parts).
    first: HashSet<String>,
    stopwords: HashSet<String>,
    signoffs: Vec<String>,
    /// Phrases after which a capitalised word is a name (`je m'appelle`, `my name is`:
    /// strong, `true`) or a known first or last name is (`I'm`, `je suis`: weak), by
    /// the [`word_key`] of their [`final_run`]: a phrase can end a text only when the
    /// text's final run is the phrase's.
    introducers: HashMap<u64, Vec<(String, bool)>>,
    /// Every listed word, by its [`word_key`] -> the lists it is in (`FIRST | LAST`…),
    /// so that a token needs one lookup, and no string comparison.
    lexicon: HashMap<u64, u32>,
    /// Names nobody listed: the statistical layer, if any.
    model: Option<model::Model>,
    /// Index of the first of this component's rules in the detector's metas.
    meta_base: usize,
}

impl Names {
    pub(crate) fn new(lists: NameLists, metas: &mut Vec<RuleMeta>) -> Names {
        let meta_base = metas.len();
        for how in How::ALL {
            let (id, priority, score) = how.rule();
            metas.push(RuleMeta {
                id: Arc::from(id),
                entity: Entity::person(),
                nature: lists.nature,
                sensitivity: lists.sensitivity,
                priority,
                score,
            });
        }
        let set = |v: &[String]| v.iter().map(|s| fold_str(s.trim())).collect::<HashSet<_>>();
        let first = set(&lists.first_names);
        let ambiguous = {
            let keep = set(&lists.unambiguous);
            let mut a = set(&lists.ambiguous);
            a.extend(set(&lists.also_ambiguous));
            a.retain(|n| !keep.contains(n));
            a
        };
        let stopwords = set(&lists.stopwords);
        let introducers: Vec<String> = lists
            .introducers
            .iter()
            .map(|s| fold_str(s.trim()))
            .collect();
        let weak_introducers: Vec<String> = lists
            .weak_introducers
            .iter()
            .map(|s| fold_str(s.trim()))
            .collect();
        // The final letter run of every introducer (`appelle` for `je m'appelle`): an
        // introducer can end before a token only if the previous token ends with one.
        let intro_tails: HashSet<String> = introducers
            .iter()
            .chain(&weak_introducers)
            .map(|s| final_run(s).to_owned())
            .collect();

        let mut lexicon: HashMap<u64, u32> = HashMap::default();
        let lists_and_flags: [(&HashSet<String>, u32); 13] = [
            (&first, FIRST),
            (&set(&lists.last_names), LAST),
            (&ambiguous, AMBIGUOUS),
            (&stopwords, STOP),
            (&set(&lists.places), PLACE),
            (&set(&lists.not_before), NOT_BEFORE),
            (&set(&lists.locatives), LOCATIVE),
            (&set(&lists.articles), ARTICLE),
            (&set(&lists.particles), PARTICLE),
            (&set(&lists.labels), LABEL),
            (&set(&lists.greetings), GREETING),
            (&set(&lists.weak_honorifics), WEAK_HONORIFIC),
            (&intro_tails, INTRO_TAIL),
        ];
        for (words, flag) in lists_and_flags {
            for w in words {
                *lexicon.entry(word_key(w)).or_default() |= flag;
            }
        }
        // Honorifics: `M.` needs its dot; listed both with and without, the dot is
        // optional.
        let mut dotted: HashMap<String, bool> = HashMap::default();
        for h in &lists.honorifics {
            let h = fold_str(h.trim());
            let (bare, dot) = match h.strip_suffix('.') {
                Some(bare) => (bare.to_owned(), true),
                None => (h, false),
            };
            let needs = dotted.entry(bare).or_insert(dot);
            *needs = *needs && dot;
        }
        for (w, dot) in dotted {
            let flags = lexicon.entry(word_key(&w)).or_default();
            *flags |= HONORIFIC;
            if dot {
                *flags |= HONORIFIC_DOT;
            }
        }
        let mut by_tail: HashMap<u64, Vec<(String, bool)>> = HashMap::default();
        for (phrases, strong) in [(introducers, true), (weak_introducers, false)] {
            for p in phrases {
                by_tail
                    .entry(word_key(final_run(&p)))
                    .or_default()
                    .push((p, strong));
            }
        }
        Names {
            first,
            stopwords,
            signoffs: lists.signoffs.iter().map(|s| fold_str(s.trim())).collect(),
            introducers: by_tail,
            lexicon,
            model: lists.model,
            meta_base,
        }
    }

    /// The lists a folded word belongs to.
    fn flags_of(&self, word: &str) -> u32 {
        let mut flags = self.lexicon.get(&word_key(word)).copied().unwrap_or(0);
        if word.contains(|c: char| !c.is_alphanumeric()) {
            flags |= self
                .lexicon
                .get(&word_key(final_run(word)))
                .copied()
                .unwrap_or(0)
                & INTRO_TAIL;
        }
        flags
    }

    fn meta(&self, how: How) -> usize {
        // `How::ALL` lists the variants in declaration order.
        self.meta_base + how as usize
    }

    fn push(&self, out: &mut Vec<Candidate>, metas: &[RuleMeta], how: How, s: usize, e: usize) {
        let meta = self.meta(how);
        out.push(Candidate {
            start: s,
            end: e,
            meta,
            sensitivity: None,
            entity: None,
            score: metas[meta].score,
        });
    }

    pub(crate) fn scan(
        &self,
        text: &str,
        folded: &Folded,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let toks = tokenize(text, folded, |w| self.flags_of(w));
        let first_new = out.len();
        for i in 0..toks.len() {
            self.at_token(text, &toks, i, metas, out);
        }
        self.signatures(text, &toks, metas, out);
        self.derived_from_emails(text, &toks, metas, out);
        self.propagate(&toks, first_new, metas, out);
        self.around_found_names(text, &toks, metas, out);
        if let Some(model) = &self.model {
            self.unlisted(text, &toks, model, metas, out);
        }
    }

    /// Names the statistical layer finds where no other rule found anything, or only
    /// parts of the same name (`Sigurðsson` inside `Jón Sigurðsson`).
    fn unlisted(
        &self,
        text: &str,
        toks: &[Tok<'_>],
        model: &model::Model,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let spans = model.spans(text, toks);
        if spans.is_empty() {
            return;
        }
        let mut taken: Vec<(usize, usize)> = out.iter().map(|c| (c.start, c.end)).collect();
        taken.sort_unstable();
        // The furthest end among the candidates starting at or before each one.
        let reach: Vec<usize> = taken
            .iter()
            .scan(0, |m, &(_, te)| {
                *m = te.max(*m);
                Some(*m)
            })
            .collect();
        let mut found = Vec::new();
        for span in spans {
            let (a, b) = (span.start, span.end);
            let (s, e) = (toks[a].s, toks[b - 1].e);
            if self.thing_after(text, toks, b) || is_in_address(text, s, e) {
                continue;
            }
            // `the Franklin Railway`: after an article, capitalised words name a thing.
            if a > 0 && toks[a - 1].flags & ARTICLE != 0 && text[toks[a - 1].e..s].trim().is_empty()
            {
                continue;
            }
            // `Hall Orchestra`: a word that names things inside the run.
            if toks[a..b].iter().any(|t| t.flags & NOT_BEFORE != 0) {
                continue;
            }
            // `Tel :`: a word before a colon is a label; `B. La`: a run that starts or
            // ends with a stop word is not a name.
            if text[e..].trim_start_matches([' ', '\t']).starts_with(':')
                || self.is_stop(&toks[a])
                || self.is_stop(&toks[b - 1])
            {
                continue;
            }
            // `12 Baker`: a capitalised word right after a number is a street or a place.
            let before = text[..s].trim_end_matches([' ', '\t']);
            if before.ends_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            // One word alone on its line, outside a signature (which the rules above
            // read), is more often an address's town than a name.
            let alone = |lo: usize, hi: usize| {
                let line_start = text[..lo].rfind('\n').map_or(0, |i| i + 1);
                let line_end = text[hi..].find('\n').map_or(text.len(), |i| hi + i);
                text[line_start..lo].trim().is_empty()
                    && text[hi..line_end]
                        .trim()
                        .trim_end_matches([',', '.'])
                        .is_empty()
            };
            if b - a == 1 && alone(s, e) {
                continue;
            }
            let lo = taken.partition_point(|&(ts, _)| ts < s);
            let hi = taken.partition_point(|&(ts, _)| ts < e);
            // Only where nothing else was found: a run that holds a name the rules found
            // (`Appelez Jean Dupont`) would only add its neighbours to it.
            let covered_before = lo > 0 && reach[lo - 1] > s;
            if !covered_before && lo == hi {
                found.push((s, e, span.confidence()));
            }
        }
        for (s, e, score) in found {
            self.push(out, metas, How::Model, s, e);
            if let Some(c) = out.last_mut() {
                c.score = score;
            }
        }
    }

    /// An honorific is capitalised (`M.`, `Mme`), or upper case when longer than two
    /// letters (`MME`; `MS`, `ME` are more often acronyms).
    fn is_honorific(&self, text: &str, t: &Tok<'_>) -> bool {
        let shape_ok = match t.shape {
            Shape::Cap | Shape::Initial => true,
            Shape::Upper => t.e - t.s > 2 || t.folded == "dr" || t.folded == "mr",
            Shape::Lower | Shape::Other => false,
        };
        let dotted = text[t.e..].starts_with('.');
        shape_ok && t.flags & HONORIFIC != 0 && (dotted || t.flags & HONORIFIC_DOT == 0)
    }

    /// A known first or last name, or an upper-case word: what a weak context needs.
    fn is_known(&self, t: &Tok<'_>) -> bool {
        t.shape == Shape::Upper || self.is_first(t) || (t.flags & LAST != 0)
    }

    fn is_stop(&self, t: &Tok<'_>) -> bool {
        t.flags & STOP != 0
    }

    fn is_first(&self, t: &Tok<'_>) -> bool {
        (t.flags & FIRST != 0)
            || (t.folded.contains('-')
                && t.folded
                    .split('-')
                    .all(|p| self.first.contains(p) && !self.stopwords.contains(p)))
    }

    /// A word that may be part of a name: capitalised or upper-case, not a stop word or
    /// an honorific.
    fn name_like(&self, text: &str, t: &Tok<'_>) -> bool {
        matches!(t.shape, Shape::Cap | Shape::Upper | Shape::Initial)
            && !self.is_stop(t)
            && !self.is_honorific(text, t)
    }

    /// The run of name words starting at token `j`: the index one past its last word.
    fn collect(&self, text: &str, toks: &[Tok<'_>], j: usize, max: usize) -> Option<usize> {
        let mut k = j;
        let mut last = None;
        let mut words = 0;
        while k < toks.len() && words < max {
            if k > j && !joined(text, &toks[k - 1], &toks[k]) {
                break;
            }
            let t = &toks[k];
            if self.name_like(text, t) {
                if t.shape != Shape::Initial {
                    last = Some(k + 1);
                }
                words += 1;
            } else if t.shape == Shape::Lower
                && (t.flags & PARTICLE != 0)
                && toks.get(k + 1).is_some_and(|n| joined(text, t, n))
            {
                // `Charles de Gaulle`, `Madame de Staël`: a particle before a name word.
            } else {
                break;
            }
            k += 1;
        }
        last
    }

    fn at_token(
        &self,
        text: &str,
        toks: &[Tok<'_>],
        i: usize,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let t = &toks[i];
        if self.is_honorific(text, t) {
            // `M. Dupont`, `Dr Martin`: the honorific's own dot may stand in the gap.
            let after_dot = |n: &&Tok<'_>| {
                let gap = &text[t.e..n.s];
                let gap = gap.strip_prefix('.').unwrap_or(gap);
                !gap.is_empty() && gap.len() <= 2 && gap.bytes().all(|b| b == b' ' || b == b'\t')
            };
            // Weak honorifics (`Me`, `Lord`) are also ordinary words: they need a
            // known name after them.
            let weak = t.flags & WEAK_HONORIFIC != 0;
            if let Some(end) = toks
                .get(i + 1)
                .filter(after_dot)
                .filter(|n| !weak || self.is_known(n))
                .and_then(|_| self.collect(text, toks, i + 1, MAX_NAME_WORDS))
            {
                self.push(out, metas, How::Honorific, toks[i + 1].s, toks[end - 1].e);
            }
            return;
        }
        if (t.flags & LABEL != 0) && matches!(t.shape, Shape::Cap | Shape::Upper) {
            let rest = &text[t.e..];
            let gap = rest.len() - rest.trim_start_matches([' ', '\t']).len();
            if rest[gap..].starts_with(':')
                && let Some(n) = toks.get(i + 1).filter(|n| same_line(text, t.e, n.s))
                && let Some(end) = self.collect(text, toks, i + 1, MAX_NAME_WORDS)
            {
                self.push(out, metas, How::Label, n.s, toks[end - 1].e);
            }
            return;
        }
        if t.flags & GREETING != 0 {
            if let Some(n) = toks.get(i + 1).filter(|n| joined(text, t, n))
                && let Some(end) = self.collect(text, toks, i + 1, 3)
            {
                let after = text[toks[end - 1].e..].trim_start_matches([' ', '\t']);
                let closes = after.is_empty() || after.starts_with([',', '!', '\n', '\r']);
                let known =
                    (n.flags & FIRST != 0) || (n.flags & LAST != 0) || n.shape == Shape::Upper;
                if closes && (known || after.starts_with(',')) {
                    self.push(out, metas, How::Greeting, n.s, toks[end - 1].e);
                }
            }
            return;
        }
        if let Some(strong) = self.introduced(text, toks, i) {
            let known = self.is_first(t) || (t.flags & LAST != 0);
            if strong
                && t.shape == Shape::Lower
                && !self.is_stop(t)
                && t.e - t.s >= 2
                && self.names_follow(text, t)
            {
                self.push(out, metas, How::Introduced, t.s, t.e);
                return;
            }
            if (strong || known || t.shape == Shape::Upper)
                && let Some(end) = self.collect(text, toks, i, 3)
                && !self.thing_after(text, toks, end)
            {
                self.push(out, metas, How::Introduced, t.s, toks[end - 1].e);
                return;
            }
        }
        // `the Franklin and Megantic Railway`, `The Alfred Phillips House`: after an
        // article, capitalised words name a thing.
        if i > 0 && (toks[i - 1].flags & ARTICLE != 0) && text[toks[i - 1].e..t.s].trim().is_empty()
        {
            return;
        }
        if t.shape == Shape::Cap && !self.is_first(t) {
            self.unknown_then_surname(text, toks, i, metas, out);
            return;
        }
        if !matches!(t.shape, Shape::Cap | Shape::Upper) || !self.is_first(t) || self.is_stop(t) {
            return;
        }
        let ambiguous = t.flags & AMBIGUOUS != 0;
        // Surname after: the first word is any name-like word; more words only when they
        // look like names too (upper case, a known first or last name).
        let mut end = i + 1;
        // `Charles de Gaulle`: particles between the first name and the surname.
        let mut next = i + 1;
        while toks.get(next).is_some_and(|p| {
            p.shape == Shape::Lower && (p.flags & PARTICLE != 0) && joined(text, &toks[next - 1], p)
        }) {
            next += 1;
        }
        if let Some(n) = toks
            .get(next)
            .filter(|n| joined(text, &toks[next - 1], n) && self.name_like(text, n))
            && (n.shape != Shape::Initial || text[n.e..].starts_with('.'))
        {
            end = next + 1;
            while end < toks.len()
                && end - i < MAX_NAME_WORDS
                && joined(text, &toks[end - 1], &toks[end])
                && self.name_like(text, &toks[end])
                && (toks[end].shape == Shape::Upper
                    || (toks[end].flags & LAST != 0)
                    || (toks[end].flags & FIRST != 0)
                    || toks[end - 1].shape == Shape::Initial)
            {
                end += 1;
            }
        }
        // Upper-case surname before: `DUPONT Jean`.
        let mut start = i;
        if i > 0 {
            let p = &toks[i - 1];
            if p.shape == Shape::Upper
                && joined(text, p, t)
                && !self.is_stop(p)
                && !self.is_honorific(text, p)
                && !self.is_first(p)
            {
                start = i - 1;
            }
        }
        let surname_ok = |k: usize| {
            let s = &toks[k];
            s.shape == Shape::Upper
                || (s.flags & LAST != 0)
                || (s.flags & FIRST != 0 && s.flags & AMBIGUOUS == 0)
        };
        // `Stanley Cup`, `Clark Orchestra`: a thing named after a person.
        if self.thing_after(text, toks, end)
            || (end > i + 1 && (toks[end - 1].flags & NOT_BEFORE != 0))
        {
            return;
        }
        let has_surname = end > i + 1 || start < i;
        if has_surname {
            // An ambiguous first name counts with an upper-case or known surname, or as
            // the start of a short run of capitalised words in mid-sentence (`… by Bob
            // Ezrin,`), where capitals mark a proper name; not inside a longer title-case
            // run (`Best Rock Video`).
            let run_start = i == 0
                || !matches!(toks[i - 1].shape, Shape::Cap | Shape::Upper)
                || !joined(text, &toks[i - 1], t);
            let trusted = !ambiguous
                || (start < i)
                || (next..end).all(surname_ok)
                || (run_start && !sentence_start(text, t.s) && end == next + 1);
            if trusted {
                self.push(out, metas, How::FullName, toks[start].s, toks[end - 1].e);
            }
        } else if !ambiguous {
            let locative = i > 0
                && (t.flags & PLACE != 0)
                && (toks[i - 1].flags & LOCATIVE != 0)
                && text[toks[i - 1].e..t.s].trim().is_empty();
            if !locative {
                self.push(out, metas, How::FirstName, t.s, t.e);
            }
        }
    }

    /// `… starring Kanye West`: an unknown capitalised word, then a known surname, in
    /// the middle of a sentence (where capitals mark proper names) is a name. Places,
    /// stop words and things (`Stanley Cup`) are left out.
    fn unknown_then_surname(
        &self,
        text: &str,
        toks: &[Tok<'_>],
        i: usize,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let t = &toks[i];
        let Some(n) = toks.get(i + 1) else { return };
        let plain = |w: &Tok<'_>| {
            !self.is_stop(w)
                && w.flags & PLACE == 0
                && w.flags & NOT_BEFORE == 0
                && !self.is_honorific(text, w)
                && w.e - w.s >= 3
        };
        if n.shape == Shape::Cap
            && joined(text, t, n)
            && (n.flags & LAST != 0)
            && n.flags & AMBIGUOUS == 0
            && plain(t)
            && plain(n)
            && !sentence_start(text, t.s)
            && !self.thing_after(text, toks, i + 2)
            && (i == 0
                || !matches!(toks[i - 1].shape, Shape::Cap | Shape::Upper)
                || !joined(text, &toks[i - 1], t))
        {
            self.push(out, metas, How::Surname, t.s, n.e);
        }
    }

    /// True when a naming phrase (`my name is`, `je m'appelle`) stands right before the
    /// token: then even a lower-case word is a name.
    fn names_follow(&self, text: &str, t: &Tok<'_>) -> bool {
        let mut lo = t.s.saturating_sub(24);
        while !text.is_char_boundary(lo) {
            lo += 1;
        }
        let before = fold_str(&text[lo..t.s]);
        let before = before.trim_end_matches([' ', ':', '\t']);
        ["name is", "appelle", "nom est", "call me"]
            .iter()
            .any(|p| before.ends_with(p))
    }

    /// True when the word after a name run makes it a thing: `Clark Orchestra`.
    fn thing_after(&self, text: &str, toks: &[Tok<'_>], end: usize) -> bool {
        toks.get(end).is_some_and(|n| {
            matches!(n.shape, Shape::Cap | Shape::Upper)
                && joined(text, &toks[end - 1], n)
                && (n.flags & NOT_BEFORE != 0)
        })
    }

    /// Whether an introducing phrase stands right before the token: `Some(true)` for
    /// a strong one (`my name is`), `Some(false)` for a weak one (`I'm`).
    fn introduced(&self, text: &str, toks: &[Tok<'_>], i: usize) -> Option<bool> {
        let t = &toks[i];
        if self.introducers.is_empty() {
            return None;
        }
        // Cheap necessary condition before folding the text before the token.
        if i == 0 || toks[i - 1].flags & INTRO_TAIL == 0 {
            return None;
        }
        let mut lo = t.s.saturating_sub(32);
        while !text.is_char_boundary(lo) {
            lo += 1;
        }
        let before = fold_str(&text[lo..t.s]);
        let before = before.trim_end_matches([' ', ':', '\t']);
        let ends_with_phrase = |p: &str| {
            before.ends_with(p)
                && before[..before.len() - p.len()]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !c.is_alphanumeric())
        };
        // A phrase of no letter or digit (its final run empty) could end any text.
        let tail = word_key(final_run(before));
        let empty = word_key("");
        let phrases = [Some(tail), (tail != empty).then_some(empty)]
            .into_iter()
            .flatten()
            .filter_map(|k| self.introducers.get(&k))
            .flatten();
        let mut found = None;
        for (p, strong) in phrases {
            if ends_with_phrase(p) {
                if *strong {
                    return Some(true);
                }
                found = Some(false);
            }
        }
        found
    }

    /// `Cordialement,\nJean Dupont`: a sign-off line, then a line that is only a name.
    fn signatures(
        &self,
        text: &str,
        toks: &[Tok<'_>],
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let mut offset = 0;
        let lines = text.split_inclusive('\n').map(|l| {
            let at = offset;
            offset += l.len();
            (at, l)
        });
        let mut pending = false;
        let mut key = String::new();
        for (at, line) in lines {
            let trimmed = line.trim();
            if trimmed.is_empty() {
                continue;
            }
            if pending {
                pending = false;
                let start = at + (line.len() - line.trim_start().len());
                let end = start + trimmed.trim_end_matches([',', '.']).len();
                if end - start <= MAX_SIGNATURE_LINE_BYTES {
                    let first = toks.partition_point(|t| t.s < start);
                    if let Some(stop) = self.collect(text, toks, first, MAX_NAME_WORDS)
                        && toks.get(first).is_some_and(|t| t.s == start)
                        && toks[stop - 1].e == end
                    {
                        self.push(out, metas, How::Signature, start, end);
                    }
                }
                continue;
            }
            // Sign-offs are short: fold only lines that could be one.
            pending = trimmed.len() <= MAX_SIGNOFF_LINE_BYTES && {
                key.clear();
                fold_into(trimmed.trim_end_matches([',', '.', '!', ' ']), &mut key);
                self.signoffs.contains(&key)
            };
        }
    }

    /// Names derived from e-mail local parts found by the pattern rules: the pair
    /// (`Jean Dupont`, `Dupont Jean`, any case) and the surname alone when capitalised.
    /// Works on tokens, so it stays linear in the text whatever the number of e-mails.
    fn derived_from_emails(
        &self,
        text: &str,
        toks: &[Tok<'_>],
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        // `first last` keys: folded words hold no space, so the pair is one string and
        // a token pair is looked up through one reused buffer, not two new strings.
        let mut pairs: HashSet<String> = HashSet::default();
        let mut lasts: HashSet<String> = HashSet::default();
        for c in out.iter() {
            if metas[c.meta].entity.as_str() != "EMAIL" {
                continue;
            }
            let local = text[c.start..c.end].split('@').next().unwrap_or("");
            let parts: Vec<String> = local
                .split(['.', '_', '-'])
                .filter(|p| !p.is_empty())
                .map(fold_str)
                .collect();
            if parts.len() < 2 || !parts.iter().all(|p| p.chars().all(char::is_alphabetic)) {
                continue;
            }
            let (first, last) = (&parts[0], &parts[parts.len() - 1]);
            if last.chars().count() < 2 {
                continue;
            }
            if first.chars().count() >= 2 {
                pairs.insert(format!("{first} {last}"));
                pairs.insert(format!("{last} {first}"));
            }
            if last.chars().count() >= 3 && !self.stopwords.contains(last) {
                lasts.insert(last.clone());
            }
        }
        if pairs.is_empty() && lasts.is_empty() {
            return;
        }
        let mut found = Vec::new();
        let mut key = String::new();
        let mut is_pair = |a: &str, b: &str| {
            key.clear();
            key.push_str(a);
            key.push(' ');
            key.push_str(b);
            pairs.contains(key.as_str())
        };
        for (i, t) in toks.iter().enumerate() {
            if t.shape == Shape::Other {
                continue;
            }
            let span = if let Some(n) = toks.get(i + 1).filter(|n| joined(text, t, n))
                && !pairs.is_empty()
                && is_pair(t.folded, n.folded)
            {
                Some((t.s, n.e))
            } else if matches!(t.shape, Shape::Cap | Shape::Upper) && lasts.contains(t.folded) {
                Some((t.s, t.e))
            } else {
                None
            };
            if let Some((s, e)) = span.filter(|&(s, e)| !is_in_address(text, s, e)) {
                found.push((s, e));
            }
        }
        for (s, e) in found {
            self.push(out, metas, How::Email, s, e);
        }
    }

    /// A surname found once is found wherever it recurs capitalised.
    fn propagate(
        &self,
        toks: &[Tok<'_>],
        first_new: usize,
        metas: &[RuleMeta],
        out: &mut Vec<Candidate>,
    ) {
        let mut surnames: HashSet<&str> = HashSet::default();
        for c in &out[first_new..] {
            if metas[c.meta].entity.as_str() != "PERSON" || metas[c.meta].priority < 55 {
                continue;
            }
            let lo = toks.partition_point(|t| t.s < c.start);
            for t in toks[lo..].iter().take_while(|t| t.e <= c.end) {
                let word = t.folded;
                // Not a first name, a stop word or an ambiguous word: the token's lists.
                if matches!(t.shape, Shape::Cap | Shape::Upper)
                    && word.chars().count() >= 3
                    && t.flags & (FIRST | STOP | AMBIGUOUS) == 0
                {
                    surnames.insert(word);
                }
            }
        }
        if surnames.is_empty() {
            return;
        }
        let found: Vec<(usize, usize)> = toks
            .iter()
            .filter(|t| matches!(t.shape, Shape::Cap | Shape::Upper) && surnames.contains(t.folded))
            .map(|t| (t.s, t.e))
            .collect();
        for (s, e) in found {
            self.push(out, metas, How::Propagated, s, e);
        }
    }
}

/// The last run of letters and digits of a folded word or phrase.
fn final_run(s: &str) -> &str {
    let s = s.trim_end_matches(|c: char| !c.is_alphanumeric());
    s.rfind(|c: char| !c.is_alphanumeric()).map_or(s, |i| {
        &s[i + s[i..].chars().next().map_or(1, char::len_utf8)..]
    })
}

/// Two tokens are one name's words when only one or two spaces (or a dot and a space,
/// after an initial) separate them, on the same line.
fn joined(text: &str, a: &Tok<'_>, b: &Tok<'_>) -> bool {
    let gap = &text[a.e..b.s];
    let gap = if a.shape == Shape::Initial {
        gap.strip_prefix('.').unwrap_or(gap)
    } else {
        gap
    };
    !gap.is_empty() && gap.len() <= 2 && gap.bytes().all(|b| b == b' ' || b == b'\t')
        || gap == "\u{a0}"
}

/// True when the word at `at` begins a sentence, a line or the text.
fn sentence_start(text: &str, at: usize) -> bool {
    let before = text[..at].trim_end_matches([' ', '\t', '"', '«', '\u{a0}', '(', '\'']);
    before.is_empty() || before.ends_with(['.', '!', '?', ':', ';', '\n', '\r', '…', '-', '*', '#'])
}

fn same_line(text: &str, a: usize, b: usize) -> bool {
    !text[a..b].contains('\n')
}

/// `Dupont` in `12 rue Dupont` is a street name: derived names skip street contexts.
fn is_in_address(text: &str, s: usize, _e: usize) -> bool {
    let before = text[..s].trim_end();
    let word_start = before.rfind(|c: char| !c.is_alphabetic()).map_or(0, |i| {
        i + before[i..].chars().next().map_or(1, char::len_utf8)
    });
    let word = &before[word_start..];
    // An ASCII word is lower-cased on the stack: no folded copy per call.
    let mut buf = [0u8; 32];
    let owned;
    let prev = if word.is_ascii() && word.len() <= buf.len() {
        let lower = &mut buf[..word.len()];
        lower.copy_from_slice(word.as_bytes());
        lower.make_ascii_lowercase();
        std::str::from_utf8(lower).unwrap_or_default()
    } else {
        owned = fold_str(word);
        owned.as_str()
    };
    matches!(
        prev,
        "rue"
            | "avenue"
            | "boulevard"
            | "bd"
            | "place"
            | "allee"
            | "impasse"
            | "chemin"
            | "quai"
            | "street"
            | "st"
            | "avenue,"
            | "road"
            | "lane"
    )
}

/// `Err(e)`, `Pin::new`, `i64::MAX`: a word directly followed by `(` or `::`, or directly
/// after `::`, is an identifier in code, not a name (prose puts a space before a
/// bracket, and `::` joins no words).
fn in_code_syntax(text: &str, s: usize, e: usize) -> bool {
    let after = &text[e..];
    after.starts_with('(') || after.starts_with("::") || text[..s].ends_with("::")
}

fn tokenize<'t>(text: &str, folded: &'t Folded, flags_of: impl Fn(&str) -> u32) -> Vec<Tok<'t>> {
    // About one word in six bytes of prose: most texts fill this without growing.
    let mut toks = Vec::with_capacity(text.len() / 6 + 4);
    let mut cursor = 0;
    let bytes = text.as_bytes();
    // The character at byte `i` (a character boundary) and its length: ASCII, most of
    // any text, without decoding.
    let char_at = |i: usize| -> (char, usize) {
        let b = bytes[i];
        if b.is_ascii() {
            (char::from(b), 1)
        } else {
            let c = text[i..].chars().next().unwrap_or('\u{FFFD}');
            (c, c.len_utf8())
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let (c, len) = char_at(i);
        if !c.is_alphabetic() {
            i += len;
            continue;
        }
        let s = i;
        let mut e = s + len;
        let mut upper = usize::from(c.is_uppercase());
        let mut lower = usize::from(c.is_lowercase());
        let first_upper = c.is_uppercase();
        let mut letters = 1;
        // `i` is the first character not yet taken into the word; the word ends at `e`.
        i = e;
        while i < bytes.len() {
            let (c, len) = char_at(i);
            if c.is_alphabetic() {
                upper += usize::from(c.is_uppercase());
                lower += usize::from(c.is_lowercase());
                letters += 1;
                e = i + len;
                i = e;
            } else if matches!(c, '-' | '\'' | '\u{2019}') {
                // A connector only between two letters: `Jean-Pierre`, `O'Brien`;
                // a possessive `'s` ends the word (`Thomas's`).
                let rest = &text[i + len..];
                let next = rest.chars().next();
                let possessive = c != '-'
                    && matches!(next, Some('s' | 'S'))
                    && !rest[1..].chars().next().is_some_and(char::is_alphabetic);
                if next.is_some_and(char::is_alphabetic) && !possessive {
                    e = i + len;
                    i = e;
                } else {
                    break;
                }
            } else {
                break;
            }
        }
        let glued = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit() || c == '_');
        let shape = if glued(text[..s].chars().next_back())
            || glued(text[e..].chars().next())
            || in_code_syntax(text, s, e)
        {
            Shape::Other
        } else if letters == 1 && first_upper {
            Shape::Initial
        } else if first_upper && lower == 0 && upper >= 2 {
            Shape::Upper
        } else if first_upper {
            Shape::Cap
        } else {
            Shape::Lower
        };
        let fs = folded.folded_offset_from(cursor, s);
        cursor = folded.folded_offset_from(fs, e);
        let word = &folded.text[fs..cursor];
        toks.push(Tok {
            s,
            e,
            shape,
            folded: word,
            flags: flags_of(word),
        });
    }
    toks
}

/// Offline training of the statistical layer ([`model`]) with this component's tokenizer
/// and word lists; see `scripts/train_names.py`.
impl Names {
    /// Trains on texts with their name spans (byte offsets) for `epochs` passes, on
    /// nine samples in ten; the tenth is held out and measured. Returns the table (the
    /// text of `rules/names/person-model.txt`, after `header`) and a report of the
    /// held-out token-level precision and recall per threshold.
    pub(crate) fn train_model(
        &self,
        samples: &[(String, Vec<(usize, usize)>)],
        epochs: usize,
        (threshold, threshold_single): (f32, f32),
        min_weight: f32,
        header: &str,
    ) -> (String, String) {
        use std::fmt::Write as _;

        /// A word is a feature of its own when it was seen this often in lower case.
        const MIN_LOWER_COUNT: usize = 3;

        let folded: Vec<Folded> = samples.iter().map(|(t, _)| Folded::new(t)).collect();
        let mut examples = Vec::with_capacity(samples.len());
        for ((text, spans), f) in samples.iter().zip(&folded) {
            let toks = tokenize(text, f, |w| self.flags_of(w));
            let gold = toks
                .iter()
                .map(|t| spans.iter().any(|&(s, e)| t.s < e && s < t.e))
                .collect();
            examples.push(model::train::Example {
                text: text.as_str(),
                toks,
                gold,
            });
        }
        let mut lower: HashMap<&str, usize> = HashMap::default();
        for ex in &examples {
            for t in &ex.toks {
                if t.shape == Shape::Lower {
                    *lower.entry(t.folded).or_default() += 1;
                }
            }
        }
        let known = |w: &str| lower.get(w).is_some_and(|&n| n >= MIN_LOWER_COUNT);
        let mut vocab: Vec<&str> = lower
            .iter()
            .filter(|&(_, &n)| n >= MIN_LOWER_COUNT)
            .map(|(w, _)| *w)
            .collect();
        vocab.sort_unstable();
        let (held, trained): (Vec<_>, Vec<_>) = examples
            .into_iter()
            .enumerate()
            .partition(|(i, _)| i % 10 == 9);
        let held: Vec<_> = held.into_iter().map(|(_, e)| e).collect();
        let trained: Vec<_> = trained.into_iter().map(|(_, e)| e).collect();
        let mut weights = model::train::train(&trained, &known, epochs);
        // Weights smaller than `min_weight` are left out of the table (and so of the
        // held-out measure below).
        weights.retain(|_, w| w.abs() >= min_weight.max(0.0005));

        let mut report = String::new();
        let _ = writeln!(
            report,
            "{} training samples, {} held out, {} features",
            trained.len(),
            held.len(),
            weights.len()
        );
        let ratio = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        for th in [-2.0f32, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0] {
            let c = model::train::evaluate(&weights, &vocab, th, &held);
            let _ = writeln!(
                report,
                "threshold {th:5.1}: held-out one-word spans precision {:.3} ({}), longer \
                 spans precision {:.3} ({}), name-word recall {:.3}",
                ratio(c[0], c[1]),
                c[1],
                ratio(c[2], c[3]),
                c[3],
                ratio(c[4], c[5]),
            );
        }

        let mut rows: Vec<(u32, f32)> = weights.into_iter().collect();
        rows.sort_unstable_by_key(|&(k, _)| k);
        let mut table = String::with_capacity(rows.len() * 16 + header.len() + 32);
        table.push_str(header);
        let _ = writeln!(table, "threshold {threshold}");
        let _ = writeln!(table, "threshold_single {threshold_single}");
        let mut keys: Vec<u32> = vocab.iter().map(|w| model::vocab_hash(w)).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in &keys {
            let _ = writeln!(table, "v {k:08x}");
        }
        for (k, w) in &rows {
            let _ = writeln!(table, "{k:08x} {w:.3}");
        }
        let _ = writeln!(
            report,
            "{} weights and {} vocabulary words written",
            rows.len(),
            keys.len()
        );
        (table, report)
    }
}
