//! The statistical person-name layer: names nobody listed.
//!
//! Gazetteers cannot list the world's names (Icelandic, Czech, Japanese…), so a linear
//! model over word shape and context decides, for each capitalised or upper-case word,
//! whether it is part of a person's name. It is an averaged perceptron (Collins 2002)
//! read left to right, each decision seeing the one before it, over hashed features:
//!
//! - the word's shape (capitalised, upper case), length, first and last letters
//!   (`-sson`, `-ová`, `-ski`), hyphens, apostrophes and letters outside ASCII;
//! - the word itself and its neighbours, lower-cased and accent-folded, where the
//!   training text used them as ordinary (lower-case) words: the model never learns a
//!   name by heart, only words such as `said`, `dear`, `mr`, `with`;
//! - the neighbours' shapes and what separates them (`,` `(` a line break);
//! - the word lists each word is in (first names, surnames, stop words, places…), the
//!   gazetteers of [`super::Names`];
//! - whether the word begins a sentence.
//!
//! The weights are a table of feature hash -> weight (`rules/names/person-model.txt`),
//! trained offline by `scripts/train_names.py` (its data, licences and command are in
//! `rules/names/README.md`). Reading a text is pure and deterministic: the same text
//! and table give the same names.
//!
//! The layer only fills gaps: a name it finds is reported when no other rule found
//! anything there, or only parts of that same name.
//!
//! Cost: features are hashed straight from the token's slices into one reused buffer
//! (nothing allocated per token or feature), and each word's vocabulary lookup is made
//! once per text, not once per neighbour that asks. `Model::spans` takes about 0.13 M
//! instructions per request on the 1.9 KB prompt of `benches/load/prompt.json` (0.16 M
//! before step 9; callgrind, as in the `names` module docs); most of it is the weight lookups,
//! about 40 per candidate word.

use super::{
    AMBIGUOUS, ARTICLE, FIRST, GREETING, HONORIFIC, LABEL, LAST, LOCATIVE, NOT_BEFORE, PARTICLE,
    PLACE, STOP,
};
use super::{Hasher, Shape, Tok, joined, sentence_start};

type HashMap<K, V> = std::collections::HashMap<K, V, Hasher>;

/// The word-list flags that become features (the others are about phrases).
const FLAG_FEATURES: [u32; 12] = [
    FIRST, LAST, AMBIGUOUS, STOP, PLACE, NOT_BEFORE, LOCATIVE, ARTICLE, PARTICLE, LABEL, GREETING,
    HONORIFIC,
];

/// A trained table: feature hash -> weight, and the scores above which a word is a name.
#[derive(Debug)]
pub(crate) struct Model {
    weights: HashMap<u32, f32>,
    /// The words the training text used in lower case (hashed, see [`vocab_hash`]):
    /// the only words that are features of their own; a capitalised word outside it
    /// is more likely a name.
    vocab: std::collections::HashSet<u32, Hasher>,
    /// A word of a run of two or more is a name above this.
    threshold: f32,
    /// A word alone (no name word joined to it) is a name above this: one capitalised
    /// word is more often a place or a thing than two.
    threshold_single: f32,
}

/// A name the model found: tokens `start..end`, and its lowest word score.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

impl Span {
    /// The score as a confidence in 0..1 (a finding's `score`).
    pub fn confidence(self) -> f32 {
        0.5 + 0.45 * (self.score / 8.0).tanh()
    }
}

/// Feature templates; each hashes its id first, so equal values of two templates differ.
#[derive(Clone, Copy)]
#[repr(u8)]
enum T {
    Bias = 1,
    Shape,
    Len,
    Word,
    Prefix2,
    Prefix3,
    Suffix2,
    Suffix3,
    Suffix4,
    Flag,
    SentenceStart,
    PrevWord,
    PrevShape,
    PrevFlag,
    PrevGap,
    NextWord,
    NextShape,
    NextFlag,
    NextGap,
    Prev2Word,
    Next2Word,
    ShapeNextShape,
    PrevWordShape,
    PrevShapeShape,
    PrevTag,
    PrevTagShape,
    Hyphen,
    Apostrophe,
    NonAscii,
    WordNextWord,
    PrevWordWord,
    Vocab,
    Unknown,
    PrevUnknown,
    NextUnknown,
    UnknownShapeNext,
}

/// The key of a word in the vocabulary lines (`v <hash>`) of a table.
pub(super) fn vocab_hash(w: &str) -> u32 {
    H::new(T::Vocab).bytes(w.as_bytes()).finish()
}

/// FNV-1a over a template id and the bytes of its value, folded to 32 bits. Fixed here
/// (not `std`'s hasher, whose output may change between releases): the table's keys
/// depend on it.
struct H(u64);

impl H {
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new(t: T) -> H {
        let mut h = H(0xcbf2_9ce4_8422_2325);
        h.byte(t as u8);
        h
    }

    fn byte(&mut self, b: u8) -> &mut H {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        self
    }

    fn bytes(&mut self, bs: &[u8]) -> &mut H {
        for &b in bs {
            self.byte(b);
        }
        self
    }

    fn finish(&self) -> u32 {
        // Truncation intended: the upper half folded into the lower.
        ((self.0 >> 32) ^ self.0) as u32
    }
}

fn shape_code(s: Shape) -> u8 {
    match s {
        Shape::Cap => b'C',
        Shape::Upper => b'U',
        Shape::Initial => b'I',
        Shape::Lower => b'l',
        Shape::Other => b'o',
    }
}

fn len_bucket(chars: usize) -> u8 {
    match chars {
        0..=2 => 2,
        3 => 3,
        4 => 4,
        5..=6 => 5,
        7..=9 => 7,
        _ => 10,
    }
}

/// What separates two tokens, in at most three classes of characters: `,` `(` `\n`,
/// `0` for digits; plain spaces are nothing.
fn gap_class(gap: &str) -> [u8; 3] {
    let mut out = [0u8; 3];
    let mut n = 0;
    for c in gap.chars() {
        if n == out.len() {
            break;
        }
        let b = match c {
            ' ' | '\t' | '\u{a0}' => continue,
            '\n' | '\r' => b'\n',
            c if c.is_ascii_digit() => b'0',
            c if c.is_ascii() => c as u8,
            _ => b'*',
        };
        if n > 0 && out[n - 1] == b {
            continue;
        }
        out[n] = b;
        n += 1;
    }
    out
}

/// The first `n` characters of a word, as bytes.
fn head(w: &str, n: usize) -> &[u8] {
    let end = w.char_indices().nth(n).map_or(w.len(), |(i, _)| i);
    &w.as_bytes()[..end]
}

/// The last `n` characters of a word, as bytes.
fn tail(w: &str, n: usize) -> &[u8] {
    let start = w
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    &w.as_bytes()[start..]
}

/// The tokens the model decides on: capitalised or upper-case words of two letters or
/// more, not glued to digits, that are not stop words or honorifics (never part of a
/// name here: `The`, `Le`, `Mme`).
pub(super) fn is_candidate(t: &Tok<'_>) -> bool {
    matches!(t.shape, Shape::Cap | Shape::Upper) && t.flags & (STOP | HONORIFIC) == 0
}

/// The features of token `i`, given whether the token before it (joined to it) was
/// decided a name. `known(k)` says whether token `k`'s word is in the vocabulary (words
/// the training text used in lower case): only those are features of their own, so that
/// no name is learnt by heart, and a capitalised word outside it is a feature too.
/// Asked by token, so that a caller looks each word up once however many of its
/// neighbours ask.
pub(super) fn features(
    text: &str,
    toks: &[Tok<'_>],
    i: usize,
    prev_name: bool,
    known: &dyn Fn(usize) -> bool,
    out: &mut Vec<u32>,
) {
    out.clear();
    let t = &toks[i];
    let w = t.folded;
    let shape = shape_code(t.shape);
    let word = known(i).then_some(w);
    out.push(H::new(T::Bias).finish());
    out.push(H::new(T::Shape).byte(shape).finish());
    out.push(H::new(T::Len).byte(len_bucket(w.chars().count())).finish());
    if let Some(w) = word {
        out.push(H::new(T::Word).bytes(w.as_bytes()).finish());
    } else {
        out.push(H::new(T::Unknown).byte(shape).finish());
    }
    out.push(H::new(T::Prefix2).bytes(head(w, 2)).finish());
    out.push(H::new(T::Prefix3).bytes(head(w, 3)).finish());
    out.push(H::new(T::Suffix2).bytes(tail(w, 2)).finish());
    out.push(H::new(T::Suffix3).bytes(tail(w, 3)).finish());
    out.push(H::new(T::Suffix4).bytes(tail(w, 4)).finish());
    for f in FLAG_FEATURES {
        if t.flags & f != 0 {
            out.push(H::new(T::Flag).bytes(&f.to_le_bytes()).finish());
        }
    }
    let raw = &text[t.s..t.e];
    if sentence_start(text, t.s) {
        out.push(H::new(T::SentenceStart).finish());
    }
    if raw.contains('-') {
        out.push(H::new(T::Hyphen).finish());
    }
    if raw.contains(['\'', '\u{2019}']) {
        out.push(H::new(T::Apostrophe).finish());
    }
    if !raw.is_ascii() {
        out.push(H::new(T::NonAscii).finish());
    }

    let prev = i.checked_sub(1).map(|p| &toks[p]);
    let next = toks.get(i + 1);
    match prev {
        Some(p) => {
            let gap = gap_class(&text[p.e..t.s]);
            let ps = shape_code(p.shape);
            out.push(H::new(T::PrevGap).bytes(&gap).finish());
            out.push(H::new(T::PrevShape).byte(ps).bytes(&gap).finish());
            out.push(H::new(T::PrevShapeShape).byte(ps).byte(shape).finish());
            for f in FLAG_FEATURES {
                if p.flags & f != 0 {
                    out.push(H::new(T::PrevFlag).bytes(&f.to_le_bytes()).finish());
                }
            }
            let p_known = known(i - 1);
            if !p_known {
                out.push(H::new(T::PrevUnknown).byte(ps).bytes(&gap).finish());
            }
            if p_known {
                out.push(H::new(T::PrevWord).bytes(p.folded.as_bytes()).finish());
                out.push(
                    H::new(T::PrevWordShape)
                        .bytes(p.folded.as_bytes())
                        .byte(shape)
                        .finish(),
                );
                if let Some(w) = word {
                    out.push(
                        H::new(T::PrevWordWord)
                            .bytes(p.folded.as_bytes())
                            .byte(b' ')
                            .bytes(w.as_bytes())
                            .finish(),
                    );
                }
            }
        }
        None => out.push(H::new(T::PrevGap).bytes(b"^").finish()),
    }
    match next {
        Some(n) => {
            let gap = gap_class(&text[t.e..n.s]);
            let ns = shape_code(n.shape);
            out.push(H::new(T::NextGap).bytes(&gap).finish());
            out.push(H::new(T::NextShape).byte(ns).bytes(&gap).finish());
            out.push(H::new(T::ShapeNextShape).byte(shape).byte(ns).finish());
            for f in FLAG_FEATURES {
                if n.flags & f != 0 {
                    out.push(H::new(T::NextFlag).bytes(&f.to_le_bytes()).finish());
                }
            }
            let n_known = known(i + 1);
            if !n_known {
                out.push(H::new(T::NextUnknown).byte(ns).bytes(&gap).finish());
                if word.is_none() {
                    out.push(H::new(T::UnknownShapeNext).byte(shape).byte(ns).finish());
                }
            }
            if n_known {
                out.push(H::new(T::NextWord).bytes(n.folded.as_bytes()).finish());
                if let Some(w) = word {
                    out.push(
                        H::new(T::WordNextWord)
                            .bytes(w.as_bytes())
                            .byte(b' ')
                            .bytes(n.folded.as_bytes())
                            .finish(),
                    );
                }
            }
        }
        None => out.push(H::new(T::NextGap).bytes(b"$").finish()),
    }
    if let Some(p2) = i.checked_sub(2).map(|p| &toks[p])
        && known(i - 2)
    {
        out.push(H::new(T::Prev2Word).bytes(p2.folded.as_bytes()).finish());
    }
    if let Some(n2) = toks.get(i + 2)
        && known(i + 2)
    {
        out.push(H::new(T::Next2Word).bytes(n2.folded.as_bytes()).finish());
    }
    out.push(H::new(T::PrevTag).byte(u8::from(prev_name)).finish());
    out.push(
        H::new(T::PrevTagShape)
            .byte(u8::from(prev_name))
            .byte(shape)
            .finish(),
    );
}

/// Whether token `i` continues a name decided at token `i - 1`.
fn follows_name(text: &str, toks: &[Tok<'_>], i: usize, names: &[bool]) -> bool {
    i > 0 && names[i - 1] && joined(text, &toks[i - 1], &toks[i])
}

impl Model {
    /// Reads a table: `#` comment lines, `threshold <f32>`, then `<8 hex digits>
    /// <weight>` lines.
    pub(crate) fn parse(text: &str) -> Result<Model, String> {
        let mut weights = HashMap::default();
        let mut vocab = std::collections::HashSet::default();
        let mut threshold = 0.0;
        let mut threshold_single = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = || format!("person model line {}: not `<hash> <weight>`", n + 1);
            let (k, v) = line.split_once(' ').ok_or_else(bad)?;
            if k == "v" {
                vocab.insert(u32::from_str_radix(v.trim(), 16).map_err(|_| bad())?);
                continue;
            }
            let v: f32 = v.trim().parse().map_err(|_| bad())?;
            if k == "threshold" {
                threshold = v;
                continue;
            }
            if k == "threshold_single" {
                threshold_single = Some(v);
                continue;
            }
            let k = u32::from_str_radix(k, 16).map_err(|_| bad())?;
            weights.insert(k, v);
        }
        if weights.is_empty() {
            return Err("person model: no weights".to_owned());
        }
        Ok(Model {
            weights,
            vocab,
            threshold,
            threshold_single: threshold_single.unwrap_or(threshold),
        })
    }

    fn score(&self, feats: &[u32]) -> f32 {
        feats
            .iter()
            .map(|f| self.weights.get(f).copied().unwrap_or(0.0))
            .sum()
    }

    /// The names the model finds, in order.
    pub(super) fn spans(&self, text: &str, toks: &[Tok<'_>]) -> Vec<Span> {
        let mut names = vec![false; toks.len()];
        let mut scores = vec![0.0f32; toks.len()];
        let mut feats = Vec::with_capacity(48);
        // Whether each token's word is in the vocabulary, looked up once when a
        // candidate within two tokens first asks: 0 not yet, 1 no, 2 yes.
        let mut known = vec![0u8; toks.len()];
        for i in 0..toks.len() {
            if !is_candidate(&toks[i]) {
                continue;
            }
            for k in i.saturating_sub(2)..toks.len().min(i + 3) {
                if known[k] == 0 {
                    known[k] = 1 + u8::from(self.vocab.contains(&vocab_hash(toks[k].folded)));
                }
            }
            let prev = follows_name(text, toks, i, &names);
            features(text, toks, i, prev, &|k| known[k] == 2, &mut feats);
            scores[i] = self.score(&feats);
            names[i] = scores[i] > self.threshold;
        }
        runs(text, toks, &names)
            .into_iter()
            .filter_map(|(start, end)| {
                let words = (start..end).filter(|&k| names[k]);
                let score = words
                    .clone()
                    .map(|k| scores[k])
                    .fold(f32::INFINITY, f32::min);
                let single = words.count() == 1;
                (!single || score > self.threshold_single).then_some(Span { start, end, score })
            })
            .collect()
    }
}

/// Runs of joined name tokens, with an initial between or before them (`John F.
/// Kennedy`, `J. Dupont`).
fn runs(text: &str, toks: &[Tok<'_>], names: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if !names[i] {
            i += 1;
            continue;
        }
        let mut s = i;
        // `M. Dupont`: an honorific's letter is not an initial.
        if s > 0
            && toks[s - 1].shape == Shape::Initial
            && toks[s - 1].flags & HONORIFIC == 0
            && joined(text, &toks[s - 1], &toks[s])
        {
            s -= 1;
        }
        let mut e = i + 1;
        loop {
            if e < toks.len() && names[e] && joined(text, &toks[e - 1], &toks[e]) {
                e += 1;
            } else if e + 1 < toks.len()
                && toks[e].shape == Shape::Initial
                && names[e + 1]
                && joined(text, &toks[e - 1], &toks[e])
                && joined(text, &toks[e], &toks[e + 1])
            {
                e += 2;
            } else {
                break;
            }
        }
        out.push((s, e));
        i = e;
    }
    out
}

/// Offline training: an averaged perceptron over the same features, for
/// `scripts/train_names.py` (through `examples/train_names.rs`).
pub(super) mod train {
    use super::*;

    /// One labelled token sequence: the tokens and, for each, whether it is in a name.
    pub(in crate::detect) struct Example<'a> {
        pub text: &'a str,
        pub toks: Vec<Tok<'a>>,
        pub gold: Vec<bool>,
    }

    #[derive(Default, Clone, Copy)]
    struct W {
        w: f32,
        total: f64,
        stamp: u64,
    }

    /// Trains for `epochs` passes in a fixed pseudo-random order; returns the averaged
    /// weights and the held-out token-level counts per threshold.
    pub(in crate::detect) fn train(
        examples: &[Example<'_>],
        known_word: &dyn Fn(&str) -> bool,
        epochs: usize,
    ) -> HashMap<u32, f32> {
        let mut weights: HashMap<u32, W> = HashMap::default();
        let mut clock: u64 = 0;
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut feats = Vec::with_capacity(48);
        for _ in 0..epochs {
            // Fisher-Yates with xorshift64: the same order on every machine.
            for k in (1..order.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let j = usize::try_from(seed % (k as u64 + 1)).unwrap_or(0);
                order.swap(k, j);
            }
            for &x in &order {
                let ex = &examples[x];
                let mut names = vec![false; ex.toks.len()];
                for i in 0..ex.toks.len() {
                    if !is_candidate(&ex.toks[i]) {
                        continue;
                    }
                    clock += 1;
                    let prev = follows_name(ex.text, &ex.toks, i, &names);
                    let known = |k: usize| known_word(ex.toks[k].folded);
                    features(ex.text, &ex.toks, i, prev, &known, &mut feats);
                    let score: f32 = feats
                        .iter()
                        .map(|f| weights.get(f).map_or(0.0, |w| w.w))
                        .sum();
                    let guess = score > 0.0;
                    let gold = ex.gold[i];
                    if guess != gold {
                        let delta = if gold { 1.0 } else { -1.0 };
                        for f in &feats {
                            let w = weights.entry(*f).or_default();
                            w.total += f64::from(w.w) * (clock - w.stamp) as f64;
                            w.stamp = clock;
                            w.w += delta;
                        }
                    }
                    names[i] = guess;
                }
            }
        }
        weights
            .into_iter()
            .map(|(k, w)| {
                let total = w.total + f64::from(w.w) * (clock - w.stamp) as f64;
                (k, (total / clock.max(1) as f64) as f32)
            })
            .collect()
    }

    /// Span-level counts of a table on examples at a threshold, for one-word and for
    /// longer spans: (right, found) each, a span being right when one of its words is
    /// in a gold name; and the gold name words found, and all of them.
    pub(in crate::detect) fn evaluate(
        weights: &HashMap<u32, f32>,
        vocab: &[&str],
        threshold: f32,
        examples: &[Example<'_>],
    ) -> [usize; 6] {
        let model = Model {
            weights: weights.clone(),
            vocab: vocab.iter().map(|w| vocab_hash(w)).collect(),
            threshold,
            threshold_single: threshold,
        };
        let mut c = [0usize; 6];
        for ex in examples {
            let mut found = vec![false; ex.toks.len()];
            for span in model.spans(ex.text, &ex.toks) {
                let words = (span.start..span.end)
                    .filter(|&k| is_candidate(&ex.toks[k]))
                    .count();
                let right = (span.start..span.end).any(|k| ex.gold[k]);
                let at = if words == 1 { 0 } else { 2 };
                c[at] += usize::from(right);
                c[at + 1] += 1;
                for f in &mut found[span.start..span.end] {
                    *f = true;
                }
            }
            for (i, t) in ex.toks.iter().enumerate() {
                if is_candidate(t) && ex.gold[i] {
                    c[4] += usize::from(found[i]);
                    c[5] += 1;
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detector;

    fn model_names(d: &Detector, text: &str) -> Vec<String> {
        d.scan(text)
            .into_iter()
            .filter(|f| &*f.rule == "person.model")
            .map(|f| text[f.start..f.end].to_owned())
            .collect()
    }

    fn person_names(d: &Detector, text: &str) -> Vec<String> {
        d.scan(text)
            .into_iter()
            .filter(|f| f.entity.as_str() == "PERSON")
            .map(|f| text[f.start..f.end].to_owned())
            .collect()
    }

    #[test]
    fn the_shipped_table_parses_and_has_its_thresholds() {
        let text = crate::detect::rules::builtin_file_for_tests("names/person-model.txt")
            .expect("the table is shipped");
        let model = Model::parse(text).expect("the shipped table parses");
        assert!(model.weights.len() > 1000, "{}", model.weights.len());
        assert!(model.threshold_single >= model.threshold);
    }

    #[test]
    fn a_table_without_weights_or_with_a_bad_line_is_refused() {
        assert!(Model::parse("# nothing\nthreshold 1\n").is_err());
        let e = Model::parse("threshold 1\n0000abcd 1.5\nnot a line\n").unwrap_err();
        assert!(e.contains("line 3"), "{e}");
        let m = Model::parse("threshold 1\n0000abcd 1.5\n").unwrap();
        assert_eq!(m.threshold_single, 1.0);
    }

    #[test]
    fn the_same_text_gives_the_same_names_every_time() {
        let d = Detector::builtin();
        let text = "Yesterday I had lunch with Květoslav Dvořáček and Haruto Takahashi; \
                    Dvořáček paid.";
        let first = d.scan(text);
        for _ in 0..3 {
            assert_eq!(d.scan(text), first);
        }
    }

    #[test]
    fn names_from_outside_the_lists_are_found_by_the_model_in_context() {
        let d = Detector::builtin();
        for (text, name) in [
            (
                "The report was reviewed by Þórhildur Guðmundsdóttir last week.",
                "Þórhildur Guðmundsdóttir",
            ),
            ("Ask Oluwaseun Adebayo for the keys.", "Oluwaseun Adebayo"),
        ] {
            assert_eq!(model_names(&d, text), vec![name.to_owned()], "{text}");
            assert_eq!(person_names(&d, text), vec![name.to_owned()], "{text}");
        }
    }

    #[test]
    fn common_capitalised_words_and_code_identifiers_are_not_names() {
        let d = Detector::builtin();
        for text in [
            "The Quarterly Report was sent to Finance on Monday.",
            "Call HashMap::new() and then Vec::with_capacity(16) in the Parser.",
            "See README, CHANGELOG and LICENSE for details.",
            "Our Annual General Meeting takes place in the Main Hall.",
            "Install Docker Desktop, then open Visual Studio Code.",
            "Tel : 01 23 45 67 89",
        ] {
            assert_eq!(model_names(&d, text), Vec::<String>::new(), "{text}");
        }
    }
}
