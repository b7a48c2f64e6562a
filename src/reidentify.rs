//! \[pure\] Re-identification: every pseudonym of a request's vault found in the answer is
//! replaced by the value it stands for.
//!
//! Models do things to tokens: they change their case (`[person_7f3a2c]`), drop a bracket
//! or both (`PERSON_7F3A2C`), glue them to a French elision (`d'[PERSON_7F3A2C]`). The
//! matcher therefore looks for the token's core `ENTITY_HEX`, ASCII case-insensitively,
//! not inside a longer word, and takes the brackets around it when they are there.
//! Surrogates are matched whole, case-insensitively, on word boundaries. Tokens that are
//! not in the vault are left as they are.
//!
//! [`Reidentifier::max_pattern_len`] bounds what a streaming re-identifier must hold back
//! between chunks (step 3). Never logs values.

use std::borrow::Cow;
use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::vault::Vault;

/// Re-identifies text for one request's vault.
#[derive(Debug)]
pub struct Reidentifier {
    /// Token cores (`PERSON_7F3A2C`, upper case) → index in `originals`.
    tokens: HashMap<String, usize>,
    /// The same cores, sorted: a stream holds back a run only while it may still
    /// become one of them.
    cores_sorted: Vec<String>,
    /// Surrogates, matched whole (only with the `surrogate` style).
    surrogates: Option<AhoCorasick>,
    surrogate_index: Vec<usize>,
    originals: Vec<String>,
    /// The originals escaped for the inside of a JSON string (tool-call arguments are
    /// streamed as JSON text).
    originals_json: Vec<String>,
    max_pattern_len: usize,
    /// Every original is safe to write inside a JSON string as it is (no `"`, `\` or
    /// control characters), so JSON text can be re-identified without parsing it.
    json_safe: bool,
}

impl Reidentifier {
    /// Builds the matcher for every pseudonym of `vault`.
    ///
    /// ```
    /// use paravent::{reidentify::Reidentifier, vault::{TokenKey, Vault}};
    /// let key = TokenKey::from_secret(b"0123456789abcdef");
    /// let mut vault = Vault::new(&key, None, Default::default(), 10);
    /// let token = vault.pseudonym("PERSON", "Jean Dupont").unwrap().to_owned();
    /// let answer = format!("Bonjour {}, merci", token.to_lowercase());
    /// let r = Reidentifier::new(&vault);
    /// assert_eq!(r.reidentify(&answer).0, "Bonjour Jean Dupont, merci");
    /// ```
    pub fn new(vault: &Vault<'_>) -> Reidentifier {
        let mut tokens = HashMap::with_capacity(vault.len());
        let mut surrogates = Vec::new();
        let mut surrogate_index = Vec::new();
        let mut originals = Vec::with_capacity(vault.len());
        let mut max_pattern_len = 0;
        let mut json_safe = true;
        for (i, e) in vault.entries().iter().enumerate() {
            if e.is_token {
                let core = e.pseudonym.trim_start_matches('[').trim_end_matches(']');
                tokens.insert(core.to_ascii_uppercase(), i);
            } else {
                surrogates.push(e.pseudonym.clone());
                surrogate_index.push(i);
            }
            max_pattern_len = max_pattern_len.max(e.pseudonym.len());
            json_safe &= !e
                .original
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control());
            originals.push(e.original.clone());
        }
        let surrogates = if surrogates.is_empty() {
            None
        } else {
            // Surrogates are short plain strings; building cannot fail for them.
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .ascii_case_insensitive(true)
                .build(&surrogates)
                .ok()
        };
        let originals_json = originals
            .iter()
            .map(|o| {
                let quoted = serde_json::to_string(o).unwrap_or_default();
                quoted
                    .get(1..quoted.len().saturating_sub(1))
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        let mut cores_sorted: Vec<String> = tokens.keys().cloned().collect();
        cores_sorted.sort_unstable();
        Reidentifier {
            tokens,
            cores_sorted,
            surrogates,
            surrogate_index,
            originals,
            originals_json,
            max_pattern_len,
            json_safe,
        }
    }

    /// No pseudonym to look for.
    pub fn is_empty(&self) -> bool {
        self.originals.is_empty()
    }

    /// The longest pseudonym, brackets included.
    pub fn max_pattern_len(&self) -> usize {
        self.max_pattern_len
    }

    /// See the field: JSON text may be re-identified as plain text.
    pub fn json_safe(&self) -> bool {
        self.json_safe
    }

    /// Replaces every pseudonym of the vault in `text`; returns the text and the number
    /// of replacements.
    pub fn reidentify<'a>(&self, text: &'a str) -> (Cow<'a, str>, usize) {
        self.reidentify_as(text, false)
    }

    /// As [`Reidentifier::reidentify`] for JSON text (tool-call arguments): the
    /// originals are written escaped, as the inside of a JSON string.
    pub fn reidentify_json_text<'a>(&self, text: &'a str) -> (Cow<'a, str>, usize) {
        self.reidentify_as(text, true)
    }

    fn reidentify_as<'a>(&self, text: &'a str, json: bool) -> (Cow<'a, str>, usize) {
        let (text, n_tokens) = self.reidentify_tokens(text, 0, json);
        if self.surrogates.is_none() {
            return (text, n_tokens);
        }
        match self.reidentify_surrogates(&text, 0, text.len(), json) {
            (Cow::Borrowed(_), _) => (text, n_tokens),
            (Cow::Owned(s), n) => (Cow::Owned(s), n_tokens + n),
        }
    }

    /// Whether `run` (ASCII) is, case-insensitively, the start of a token core.
    fn could_start_core(&self, run: &[u8]) -> bool {
        let mut upper = [0u8; MAX_CORE_RUN_BYTES];
        let Some(dst) = upper.get_mut(..run.len()) else {
            return false;
        };
        for (d, b) in dst.iter_mut().zip(run) {
            *d = b.to_ascii_uppercase();
        }
        let run = &upper[..run.len()];
        let i = self.cores_sorted.partition_point(|c| c.as_bytes() < run);
        self.cores_sorted
            .get(i)
            .is_some_and(|c| c.as_bytes().starts_with(run))
    }

    fn original(&self, idx: usize, json: bool) -> &str {
        if json {
            &self.originals_json[idx]
        } else {
            &self.originals[idx]
        }
    }

    /// Tokens: every maximal run of `[A-Za-z0-9_]` is a candidate core; it is replaced
    /// when it is one of the vault's (case-insensitively), with the brackets around it.
    /// One pass over the text, no automaton to build per request.
    ///
    /// `text[..from]` is context already sent (streaming): it is looked at, never
    /// replaced nor returned; the result is what replaces `text[from..]`.
    fn reidentify_tokens<'a>(
        &self,
        text: &'a str,
        from: usize,
        json: bool,
    ) -> (Cow<'a, str>, usize) {
        if self.tokens.is_empty() {
            return (Cow::Borrowed(&text[from..]), 0);
        }
        let bytes = text.as_bytes();
        let mut out: Option<String> = None;
        let mut copied = from;
        let mut count = 0;
        let mut upper = String::with_capacity(64);
        let mut i = from;
        while i < bytes.len() {
            // Find the next '_' (every core has one), then widen to its run.
            let Some(off) = memchr::memchr(b'_', &bytes[i..]) else {
                break;
            };
            let us = i + off;
            let mut s = us;
            while s > 0 && is_run(bytes[s - 1]) {
                s -= 1;
            }
            let mut e = us;
            while e < bytes.len() && is_run(bytes[e]) {
                e += 1;
            }
            i = e.max(us + 1);
            // The run must not continue into a non-ASCII letter (`…_7F3A2Cé`).
            let before_ok = !text[..s]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
            let after_ok = !text[e..].chars().next().is_some_and(char::is_alphanumeric);
            if e - s > MAX_CORE_RUN_BYTES || !before_ok || !after_ok {
                continue;
            }
            upper.clear();
            upper.extend(
                bytes[s..e]
                    .iter()
                    .map(|b| char::from(b.to_ascii_uppercase())),
            );
            let Some(&idx) = self.tokens.get(upper.as_str()) else {
                continue;
            };
            let (mut s, mut e) = (s, e);
            if s > 0 && bytes[s - 1] == b'[' {
                s -= 1;
            }
            if bytes.get(e) == Some(&b']') {
                e += 1;
                i = e;
            }
            if s < copied {
                continue;
            }
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len() + 64));
            buf.push_str(&text[copied..s]);
            buf.push_str(self.original(idx, json));
            copied = e;
            count += 1;
        }
        match out {
            None => (Cow::Borrowed(&text[from..]), 0),
            Some(mut buf) => {
                buf.push_str(&text[copied..]);
                (Cow::Owned(buf), count)
            }
        }
    }

    /// Surrogates found in `text[from..upto]`; the text around is context for the word
    /// boundaries. The result replaces `text[from..upto]`.
    fn reidentify_surrogates<'a>(
        &self,
        text: &'a str,
        from: usize,
        upto: usize,
        json: bool,
    ) -> (Cow<'a, str>, usize) {
        let Some(ac) = &self.surrogates else {
            return (Cow::Borrowed(&text[from..upto]), 0);
        };
        let mut out: Option<String> = None;
        let mut copied = from;
        let mut count = 0;
        for m in ac.find_iter(aho_corasick::Input::new(text).span(from..upto)) {
            let (s, e) = (m.start(), m.end());
            let before = text[..s].chars().next_back();
            let after = text[e..].chars().next();
            if before.is_some_and(is_word_char) && starts_with_word_char(&text[s..e]) {
                continue;
            }
            if after.is_some_and(is_word_char) && ends_with_word_char(&text[s..e]) {
                continue;
            }
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len() + 64));
            buf.push_str(&text[copied..s]);
            buf.push_str(self.original(self.surrogate_index[m.pattern().as_usize()], json));
            copied = e;
            count += 1;
        }
        match out {
            None => (Cow::Borrowed(&text[from..upto]), 0),
            Some(mut buf) => {
                buf.push_str(&text[copied..upto]);
                (Cow::Owned(buf), count)
            }
        }
    }

    /// Where the surrogate stage of a stream may cut `text` (context `text[..from]`):
    /// every match that starts before the cut is final and ends at or before it.
    fn surrogate_cut(&self, text: &str, from: usize, at_end: bool) -> usize {
        let Some(ac) = &self.surrogates else {
            return text.len();
        };
        if at_end {
            return text.len();
        }
        let mut cut = floor_char_boundary(text, text.len().saturating_sub(self.max_pattern_len));
        if cut <= from {
            return from;
        }
        for m in ac.find_iter(aho_corasick::Input::new(text).span(from..text.len())) {
            if m.start() >= cut {
                break;
            }
            if m.end() > cut {
                cut = m.start();
                break;
            }
        }
        cut
    }
}

/// The longest run of `[A-Za-z0-9_]` that can be a token's core (entity, `_`, hex).
const MAX_CORE_RUN_BYTES: usize = 64 + 2;
/// The most the token stage of a stream holds back: a core and its opening bracket.
pub const MAX_TOKEN_CARRY_BYTES: usize = MAX_CORE_RUN_BYTES + 1;

fn is_run(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Where the token stage of a stream may cut `text`: before the last run of
/// `[A-Za-z0-9_]` (and the `[` before it) when the text ends in one that may still
/// become a token core, since more of the run, or its `]`, may still come; before a
/// final `[`. A run that is no core's start can never become one, however it goes on.
fn token_cut(reid: &Reidentifier, text: &str, from: usize) -> usize {
    let b = text.as_bytes();
    let mut c = b.len();
    while c > 0 && is_run(b[c - 1]) {
        c -= 1;
    }
    if c < b.len() && !reid.could_start_core(&b[c..]) {
        return b.len();
    }
    if c > 0 && b[c - 1] == b'[' {
        c -= 1;
    }
    c.max(from)
}

/// Re-identifies one content stream (a choice, a content block, a tool call's
/// arguments) given as fragments, holding back only what could still be the start of a
/// pseudonym: the concatenated output equals [`Reidentifier::reidentify`] of the
/// concatenated input, however the text is split.
///
/// Two stages, as in the batch: tokens, then surrogates on the result. Each keeps what it
/// holds back after one character of context already sent, which the word-boundary
/// checks need.
///
/// ```
/// use std::sync::Arc;
/// use paravent::{reidentify::{Reidentifier, StreamReidentifier}, vault::{TokenKey, Vault}};
/// let key = TokenKey::from_secret(b"0123456789abcdef");
/// let mut vault = Vault::new(&key, None, Default::default(), 10);
/// let token = vault.pseudonym("PERSON", "Jean Dupont").unwrap().to_owned();
/// let mut s = StreamReidentifier::new(Arc::new(Reidentifier::new(&vault)));
/// let mut out = s.push("Bonjour ");
/// out += &s.push(&token[..5]);
/// out += &s.push(&token[5..]);
/// out += &s.push(", merci");
/// out += &s.finish();
/// assert_eq!(out, "Bonjour Jean Dupont, merci");
/// ```
#[derive(Debug, Clone)]
pub struct StreamReidentifier {
    reid: std::sync::Arc<Reidentifier>,
    /// The fragments are JSON text (originals are written escaped).
    json: bool,
    /// Token stage: context (`tok[..tok_ctx]`, already sent) then text held back.
    tok: String,
    tok_ctx: usize,
    /// Surrogate stage, the same way.
    sur: String,
    sur_ctx: usize,
    count: usize,
}

impl StreamReidentifier {
    /// A stream of plain text.
    pub fn new(reid: std::sync::Arc<Reidentifier>) -> StreamReidentifier {
        StreamReidentifier {
            reid,
            json: false,
            tok: String::new(),
            tok_ctx: 0,
            sur: String::new(),
            sur_ctx: 0,
            count: 0,
        }
    }

    /// A stream of JSON text (tool-call arguments): originals are written escaped.
    pub fn new_json(reid: std::sync::Arc<Reidentifier>) -> StreamReidentifier {
        StreamReidentifier {
            json: true,
            ..StreamReidentifier::new(reid)
        }
    }

    /// Feeds a fragment; returns the re-identified text that can be sent now.
    pub fn push(&mut self, fragment: &str) -> String {
        self.step(fragment, false)
    }

    /// Ends the stream: returns what was held back, re-identified. The stream may be
    /// used again afterwards, as a new one.
    pub fn finish(&mut self) -> String {
        let out = self.step("", true);
        self.tok.clear();
        self.tok_ctx = 0;
        self.sur.clear();
        self.sur_ctx = 0;
        out
    }

    /// Bytes held back (context excluded).
    pub fn held(&self) -> usize {
        self.tok.len() - self.tok_ctx + self.sur.len() - self.sur_ctx
    }

    /// Replacements made so far.
    pub fn count(&self) -> usize {
        self.count
    }

    fn step(&mut self, fragment: &str, at_end: bool) -> String {
        if self.reid.is_empty() {
            return fragment.to_owned();
        }
        // Token stage.
        self.tok.push_str(fragment);
        let cut = if at_end {
            self.tok.len()
        } else {
            token_cut(&self.reid, &self.tok, self.tok_ctx)
        };
        let (mid, n) = self
            .reid
            .reidentify_tokens(&self.tok[..cut], self.tok_ctx, self.json);
        let mid = mid.into_owned();
        self.count += n;
        keep_context(&mut self.tok, &mut self.tok_ctx, cut);
        if self.reid.surrogates.is_none() {
            return mid;
        }
        // Surrogate stage, on what the token stage let through.
        self.sur.push_str(&mid);
        let cut = self.reid.surrogate_cut(&self.sur, self.sur_ctx, at_end);
        let (out, n) = self
            .reid
            .reidentify_surrogates(&self.sur, self.sur_ctx, cut, self.json);
        let out = out.into_owned();
        self.count += n;
        keep_context(&mut self.sur, &mut self.sur_ctx, cut);
        out
    }
}

/// Drops what was sent from `buf` up to `cut`, keeping the last character before `cut`
/// as context.
fn keep_context(buf: &mut String, ctx: &mut usize, cut: usize) {
    let keep_from = buf[..cut]
        .char_indices()
        .next_back()
        .map_or(cut, |(i, _)| i);
    buf.drain(..keep_from);
    *ctx = cut - keep_from;
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn starts_with_word_char(s: &str) -> bool {
    s.chars().next().is_some_and(is_word_char)
}

fn ends_with_word_char(s: &str) -> bool {
    s.chars().next_back().is_some_and(is_word_char)
}

/// Counts what looks like a Paravent token (`[ENTITY_HEX]`) in `text`: after
/// re-identification, these are tokens the vault did not know.
pub fn count_token_shapes(text: &str) -> usize {
    let b = text.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'[') {
        let start = i + off + 1;
        let mut j = start;
        while j < b.len() && (b[j].is_ascii_uppercase() || b[j].is_ascii_digit() || b[j] == b'_') {
            j += 1;
        }
        if j < b.len() && b[j] == b']' && j > start {
            let inner = &text[start..j];
            if let Some((entity, hex)) = inner.rsplit_once('_')
                && !entity.is_empty()
                && hex.len() >= crate::vault::TOKEN_HEX_DIGITS
                && hex.bytes().all(|c| c.is_ascii_hexdigit())
            {
                n += 1;
            }
        }
        i = start;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenStyle;
    use crate::vault::{TokenKey, Vault};

    fn setup(style: TokenStyle) -> (TokenKey, Vec<(String, String)>) {
        let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
        let mut v = Vault::new(&key, None, style, 100);
        let mut pairs = Vec::new();
        for (e, val) in [
            ("PERSON", "Jean Dupont"),
            ("EMAIL", "jean.dupont@example.fr"),
            ("PHONE", "06 12 34 56 78"),
        ] {
            pairs.push((v.pseudonym(e, val).unwrap().to_owned(), val.to_owned()));
        }
        (key, pairs)
    }

    fn vault_of(key: &TokenKey, style: TokenStyle) -> Vault<'_> {
        let mut v = Vault::new(key, None, style, 100);
        for (e, val) in [
            ("PERSON", "Jean Dupont"),
            ("EMAIL", "jean.dupont@example.fr"),
            ("PHONE", "06 12 34 56 78"),
        ] {
            v.pseudonym(e, val).unwrap();
        }
        v
    }

    #[test]
    fn tokens_come_back_in_every_variant_models_produce() {
        let (key, pairs) = setup(TokenStyle::Token);
        let v = vault_of(&key, TokenStyle::Token);
        let r = Reidentifier::new(&v);
        let person = &pairs[0].0;
        let core = person.trim_matches(|c| c == '[' || c == ']');
        let cases = [
            (format!("Bonjour {person}."), "Bonjour Jean Dupont."),
            (
                format!("Bonjour {}.", person.to_lowercase()),
                "Bonjour Jean Dupont.",
            ),
            (format!("Bonjour {core}."), "Bonjour Jean Dupont."),
            (format!("Bonjour [{core}."), "Bonjour Jean Dupont."),
            (format!("Bonjour {core}]."), "Bonjour Jean Dupont."),
            (format!("le dossier d'{person}"), "le dossier d'Jean Dupont"),
            (format!("le dossier d'{core}"), "le dossier d'Jean Dupont"),
            (format!("({person})"), "(Jean Dupont)"),
            (format!("X{core}"), &*format!("X{core}")),
            (format!("{core}9"), &*format!("{core}9")),
            (
                "[PERSON_000000] inconnu".to_owned(),
                "[PERSON_000000] inconnu",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(r.reidentify(&input).0, want, "{input}");
        }
        let all = format!("{} / {} / {}", pairs[0].0, pairs[1].0, pairs[2].0);
        let (out, n) = r.reidentify(&all);
        assert_eq!(out, "Jean Dupont / jean.dupont@example.fr / 06 12 34 56 78");
        assert_eq!(n, 3);
    }

    #[test]
    fn surrogates_come_back_on_word_boundaries() {
        let (key, pairs) = setup(TokenStyle::Surrogate);
        let v = vault_of(&key, TokenStyle::Surrogate);
        let r = Reidentifier::new(&v);
        let name = &pairs[0].0;
        assert!(!name.starts_with('['));
        let text = format!("Cher {name}, écrivez à {}.", pairs[1].0);
        assert_eq!(
            r.reidentify(&text).0,
            "Cher Jean Dupont, écrivez à jean.dupont@example.fr."
        );
        let glued = format!("X{name}");
        assert_eq!(r.reidentify(&glued).0, glued);
    }

    #[test]
    fn unknown_token_shapes_are_counted() {
        assert_eq!(
            count_token_shapes("a [PERSON_7F3A2C] b [FR_NIR_00AA11] [x]"),
            2
        );
        assert_eq!(count_token_shapes("[PERSON_7F3] [] [A_B]"), 0);
    }
}

#[cfg(test)]
mod stream_tests;
