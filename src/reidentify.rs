//! \[pure\] Re-identification: every pseudonym of a request's vault found in the answer is
//! replaced by the value it stands for.
//!
//! Models do things to tokens: they change their case (`[person_7f3a2c]`), drop a bracket
//! or both (`PERSON_7F3A2C`), glue them to a French elision (`d'[PERSON_7F3A2C]`), write
//! a dash or a space instead of the underscore (`PERSON-7F3A2C`, `person 7f3a2c`,
//! `[FR-NIR-00AA11]`). The matcher therefore looks for the token's core `ENTITY_HEX`
//! with any of `_`, `-` or one space between its words, ASCII case-insensitively, not
//! inside a longer word, and takes the brackets around it when they are there. Only
//! the vault's own tokens are restored: `PERSON 7`, or a token shape the vault does not
//! hold, is left as it is. Surrogates are matched whole, case-insensitively, on word
//! boundaries.
//!
//! [`Reidentifier::max_pattern_len`] and [`MAX_TOKEN_CARRY_BYTES`] bound what a
//! streaming re-identifier must hold back between chunks (step 3).
//!
//! [`KeyRedactor`] is the other rewrite an answer gets: the real provider key Paravent
//! injected, wherever the provider quotes it (`Incorrect API key provided: sk-…`), is
//! replaced by [`REDACTED_KEY`]. Never logs values.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::vault::Vault;

/// Re-identifies text for one request's vault.
#[derive(Debug)]
pub struct Reidentifier {
    /// Token cores (`PERSON_7F3A2C`, upper case) and their index in `originals`, sorted
    /// by core: looked up by binary search, and a stream holds back a run only while
    /// it may still become one of them (no map to hash into per request).
    cores: Vec<(String, usize)>,
    /// The fewest hex digits a core of the vault ends with.
    min_hex: usize,
    /// Surrogates, matched whole (only with the `surrogate` style).
    surrogates: Option<AhoCorasick>,
    surrogate_index: Vec<usize>,
    originals: Vec<String>,
    /// The originals escaped for the inside of a JSON string (tool-call arguments are
    /// streamed as JSON text); `None` when it is the original as it is.
    originals_json: Vec<Option<String>>,
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
        let mut cores = Vec::with_capacity(vault.len());
        let mut surrogates = Vec::new();
        let mut surrogate_index = Vec::new();
        let mut originals = Vec::with_capacity(vault.len());
        let mut originals_json = Vec::with_capacity(vault.len());
        let mut max_pattern_len = 0;
        let mut json_safe = true;
        for (i, e) in vault.entries().iter().enumerate() {
            if e.is_token {
                let core = e.pseudonym.trim_start_matches('[').trim_end_matches(']');
                cores.push((core.to_ascii_uppercase(), i));
            } else {
                surrogates.push(e.pseudonym.clone());
                surrogate_index.push(i);
            }
            max_pattern_len = max_pattern_len.max(e.pseudonym.len());
            let safe = !e
                .original
                .chars()
                .any(|c| c == '"' || c == '\\' || c.is_control());
            json_safe &= safe;
            // Escaped only when it must be: most originals read the same in JSON.
            originals_json.push((!safe).then(|| {
                let quoted = serde_json::to_string(&e.original).unwrap_or_default();
                quoted
                    .get(1..quoted.len().saturating_sub(1))
                    .unwrap_or_default()
                    .to_owned()
            }));
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
        // Sorted by core for the binary searches; of two equal cores the later entry
        // wins (as it did in a map).
        cores.sort_by(|a, b| a.0.cmp(&b.0));
        cores.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 = later.1;
            }
            same
        });
        let min_hex = cores
            .iter()
            .filter_map(|(c, _)| c.rsplit_once('_'))
            .map(|(_, hex)| hex.len())
            .min()
            .unwrap_or(crate::vault::TOKEN_HEX_DIGITS)
            .max(1);
        Reidentifier {
            cores,
            min_hex,
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
        let (text, n_tokens, _) = self.reidentify_tokens(text, 0, text.len(), json);
        if self.surrogates.is_none() {
            return (text, n_tokens);
        }
        match self.reidentify_surrogates(&text, 0, text.len(), json) {
            (Cow::Borrowed(_), _) => (text, n_tokens),
            (Cow::Owned(s), n) => (Cow::Owned(s), n_tokens + n),
        }
    }

    /// Whether `run` (ASCII letters, digits and separators) is, case-insensitively and
    /// with `-` or a space read as `_`, the start of a token core.
    fn could_start_core(&self, run: &[u8]) -> bool {
        let mut canon = [0u8; MAX_CORE_RUN_BYTES];
        let Some(dst) = canon.get_mut(..run.len()) else {
            return false;
        };
        for (d, &b) in dst.iter_mut().zip(run) {
            *d = canonical(b);
        }
        let run = &canon[..run.len()];
        let i = self.cores.partition_point(|(c, _)| c.as_bytes() < run);
        self.cores
            .get(i)
            .is_some_and(|(c, _)| c.as_bytes().starts_with(run))
    }

    fn original(&self, idx: usize, json: bool) -> &str {
        if json {
            self.originals_json[idx]
                .as_deref()
                .unwrap_or(&self.originals[idx])
        } else {
            &self.originals[idx]
        }
    }

    /// The vault token whose hex part follows the separator at `sep` (`PERSON_7F3A2C`,
    /// `person-7f3a2c`, `FR NIR 00AA11`), with its brackets when they are there; `None`
    /// when the words around `sep` are no token of the vault, or the token would start
    /// before `min_start`.
    ///
    /// The hex part is the word after `sep`; the entity is the one or more words before
    /// it, each after a single separator. The longest entity that names a vault token
    /// wins (`FR NIR 00AA11` is `FR_NIR`'s, not `NIR`'s). Neither end may continue a
    /// longer word: no letter or digit (of any script) and no `_` just before or after.
    /// In JSON text (`json`), an escape (`\n`, `\t`…) before the token is a boundary,
    /// as the character it stands for is.
    fn token_at(
        &self,
        text: &str,
        sep: usize,
        min_start: usize,
        json: bool,
        canon: &mut String,
    ) -> Option<TokenMatch> {
        let b = text.as_bytes();
        let hex_start = sep + 1;
        let mut hex_end = hex_start;
        while hex_end < b.len() && b[hex_end].is_ascii_alphanumeric() {
            hex_end += 1;
        }
        if hex_end - hex_start < self.min_hex
            || !b[hex_start..hex_end].iter().all(u8::is_ascii_hexdigit)
            || b.get(hex_end) == Some(&b'_')
            || text[hex_end..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric)
        {
            return None;
        }
        let mut found = None;
        let mut word_end = sep;
        loop {
            let mut s = word_end;
            while s > 0 && b[s - 1].is_ascii_alphanumeric() && !(json && after_escape(b, s)) {
                s -= 1;
            }
            if s == word_end || s < min_start || hex_end - s > MAX_CORE_RUN_BYTES {
                break;
            }
            let glued = text[..s]
                .chars()
                .next_back()
                .is_some_and(|c| c == '_' || c.is_alphanumeric())
                && !(json && after_escape(b, s));
            if !glued {
                canon.clear();
                canon.extend(b[s..hex_end].iter().map(|&c| char::from(canonical(c))));
                if let Ok(at) = self
                    .cores
                    .binary_search_by(|(c, _)| c.as_str().cmp(canon.as_str()))
                {
                    found = Some((s, self.cores[at].1));
                }
            }
            if s >= 2 && is_sep(b[s - 1]) {
                word_end = s - 1;
            } else {
                break;
            }
        }
        let (mut start, idx) = found?;
        let mut end = hex_end;
        if start > 0 && b[start - 1] == b'[' {
            start -= 1;
        }
        if b.get(end) == Some(&b']') {
            end += 1;
        }
        (start >= min_start).then_some(TokenMatch { start, end, idx })
    }

    /// Tokens: at every separator (`_`, `-`, space) followed by a hex word, the words
    /// before it are a candidate core ([`Reidentifier::token_at`]); it is replaced when
    /// it is one of the vault's. One pass over the text, no automaton to build per
    /// request.
    ///
    /// `text[..from]` is context already sent (streaming): it is looked at, never
    /// replaced nor returned. Only tokens that end by `upto` are replaced; one that
    /// starts before `upto` and ends after it moves the cut back to its start, so that
    /// it is held whole. Returns what replaces `text[from..cut]`, the number of tokens
    /// replaced, and `cut` (`upto` or earlier). The text after `upto` is read for the
    /// word boundaries only.
    fn reidentify_tokens<'a>(
        &self,
        text: &'a str,
        from: usize,
        upto: usize,
        json: bool,
    ) -> (Cow<'a, str>, usize, usize) {
        if self.cores.is_empty() {
            return (Cow::Borrowed(&text[from..upto]), 0, upto);
        }
        let bytes = text.as_bytes();
        let mut out: Option<String> = None;
        let mut copied = from;
        let mut count = 0;
        let mut cut = upto;
        let mut canon = String::with_capacity(64);
        let mut i = from;
        while i < bytes.len() {
            let Some(off) = memchr::memchr3(b'_', b'-', b' ', &bytes[i..]) else {
                break;
            };
            let sep = i + off;
            i = sep + 1;
            // A token starts at most MAX_CORE_RUN_BYTES before its hex part ends.
            if sep > cut.saturating_add(MAX_CORE_RUN_BYTES) {
                break;
            }
            let Some(m) = self.token_at(text, sep, copied, json, &mut canon) else {
                continue;
            };
            if m.start >= cut {
                continue;
            }
            if m.end > cut {
                cut = m.start;
                break;
            }
            let buf = out.get_or_insert_with(|| String::with_capacity(text.len() + 64));
            buf.push_str(&text[copied..m.start]);
            buf.push_str(self.original(m.idx, json));
            copied = m.end;
            i = m.end;
            count += 1;
        }
        match out {
            None => (Cow::Borrowed(&text[from..cut]), 0, cut),
            Some(mut buf) => {
                buf.push_str(&text[copied..cut]);
                (Cow::Owned(buf), count, cut)
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

/// A token found in a text: `start..end` with its brackets, and its vault index.
struct TokenMatch {
    start: usize,
    end: usize,
    idx: usize,
}

/// The longest text that can be a token's core (entity, separator, hex).
const MAX_CORE_RUN_BYTES: usize = 64 + 2;
/// The most the token stage of a stream holds back: a core and its opening bracket.
pub const MAX_TOKEN_CARRY_BYTES: usize = MAX_CORE_RUN_BYTES + 1;

/// What a model may write between a token's words: `_` as issued, `-` or a space.
fn is_sep(b: u8) -> bool {
    matches!(b, b'_' | b'-' | b' ')
}

/// The most backslashes counted before an escape letter: the stream keeps
/// [`CONTEXT_BYTES`] of context, and batch counts no further, so both read the same.
const MAX_ESCAPE_RUN: usize = 8;
/// Context a stream keeps before what it holds back: what the boundary checks read.
const CONTEXT_BYTES: usize = MAX_ESCAPE_RUN + 2;

/// Whether `b[..at]` ends in a JSON escape of a control character (`\n`, `\r`, `\t`,
/// `\b`, `\f`): the letter is preceded by an odd run of backslashes.
fn after_escape(b: &[u8], at: usize) -> bool {
    if at < 2 || !matches!(b[at - 1], b'n' | b'r' | b't' | b'b' | b'f') {
        return false;
    }
    let run = b[..at - 1]
        .iter()
        .rev()
        .take(MAX_ESCAPE_RUN)
        .take_while(|&&c| c == b'\\')
        .count();
    run % 2 == 1
}

/// A byte of a core as the vault writes it: upper case, separators as `_`.
fn canonical(b: u8) -> u8 {
    if is_sep(b) {
        b'_'
    } else {
        b.to_ascii_uppercase()
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Where the token stage of a stream may cut `text`: before the earliest word of its
/// tail (the final run of ASCII letters, digits and separators, at most a core long)
/// from which the tail may still become a token core, since more of it, or its `]`,
/// may still come, and before the `[` in front of that word; before a final `[`.
/// A tail that is no core's start can never become one, however it goes on: nothing
/// is held then.
fn token_cut(reid: &Reidentifier, text: &str, from: usize, json: bool) -> usize {
    let b = text.as_bytes();
    let n = b.len();
    let mut tail = n;
    while tail > 0
        && n - tail < MAX_CORE_RUN_BYTES
        && (b[tail - 1].is_ascii_alphanumeric() || is_sep(b[tail - 1]))
    {
        tail -= 1;
    }
    let word = (tail..n).find(|&i| {
        b[i].is_ascii_alphanumeric()
            && (i == tail || is_sep(b[i - 1]) || (json && after_escape(b, i)))
            && reid.could_start_core(&b[i..])
    });
    let cut = match word {
        Some(i) if i > 0 && b[i - 1] == b'[' => i - 1,
        Some(i) => i,
        None if n > 0 && b[n - 1] == b'[' => n - 1,
        None => n,
    };
    cut.max(from)
}

/// Re-identifies one content stream (a choice, a content block, a tool call's
/// arguments) given as fragments, holding back only what could still be the start of a
/// pseudonym: the concatenated output equals [`Reidentifier::reidentify`] of the
/// concatenated input, however the text is split.
///
/// Two stages, as in the batch: tokens, then surrogates on the result. Each keeps what it
/// holds back after a few bytes of context already sent (ten bytes, at least one
/// character), which the word-boundary checks need.
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
    /// The leak stage after re-identification ([`crate::risk::leaks`]), when answers
    /// are scanned.
    leaks: Option<crate::risk::leaks::LeakStream>,
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
            leaks: None,
        }
    }

    /// With a leak stage: the re-identified text is scanned for personal data the
    /// request did not hold (and, when `answers` redacts, held back as little as it
    /// takes to see a whole value).
    pub fn with_leaks(mut self, answers: std::sync::Arc<crate::risk::leaks::Answers>) -> Self {
        self.leaks = Some(crate::risk::leaks::LeakStream::new(answers, self.json));
        self
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
            + self.leaks.as_ref().map_or(0, |l| l.held())
    }

    /// Replacements made so far.
    pub fn count(&self) -> usize {
        self.count
    }

    fn step(&mut self, fragment: &str, at_end: bool) -> String {
        let out = self.restore(fragment, at_end);
        match &mut self.leaks {
            Some(l) => l.push(&out, at_end),
            None => out,
        }
    }

    fn restore(&mut self, fragment: &str, at_end: bool) -> String {
        if self.reid.is_empty() {
            return fragment.to_owned();
        }
        // Token stage.
        self.tok.push_str(fragment);
        let cut = if at_end {
            self.tok.len()
        } else {
            token_cut(&self.reid, &self.tok, self.tok_ctx, self.json)
        };
        let (mid, n, cut) = self
            .reid
            .reidentify_tokens(&self.tok, self.tok_ctx, cut, self.json);
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

/// Drops what was sent from `buf` up to `cut`, keeping the last character before `cut`,
/// and up to [`CONTEXT_BYTES`] (whole characters), as context.
fn keep_context(buf: &mut String, ctx: &mut usize, cut: usize) {
    let last = buf[..cut]
        .char_indices()
        .next_back()
        .map_or(cut, |(i, _)| i);
    let mut keep_from = last.min(cut.saturating_sub(CONTEXT_BYTES));
    while !buf.is_char_boundary(keep_from) {
        keep_from -= 1;
    }
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
        if token_shape_len(&text[start..]).is_some() {
            n += 1;
        }
        i = start;
    }
    n
}

/// When `rest` starts with the inside of a token and its closing bracket
/// (`AGE_61C3A0]…`: an entity in capitals, `_`, at least [`TOKEN_HEX_DIGITS`]
/// upper-case hex digits), the length of both.
///
/// [`TOKEN_HEX_DIGITS`]: crate::vault::TOKEN_HEX_DIGITS
pub fn token_shape_len(rest: &str) -> Option<usize> {
    let b = rest.as_bytes();
    let j = b
        .iter()
        .position(|&c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'))?;
    if b[j] != b']' || j == 0 {
        return None;
    }
    let (entity, hex) = rest[..j].rsplit_once('_')?;
    (!entity.is_empty()
        && hex.len() >= crate::vault::TOKEN_HEX_DIGITS
        && hex.bytes().all(|c| c.is_ascii_hexdigit()))
    .then_some(j + 1)
}

/// What replaces a provider key quoted in an answer.
pub const REDACTED_KEY: &str = "[REDACTED_KEY]";

/// Replaces every occurrence of the provider keys Paravent injected (virtual-key mode)
/// in an answer by [`REDACTED_KEY`]: providers quote a wrong key in their errors
/// (`Incorrect API key provided: sk-…`), and the client must never read the company's
/// key. Each key is looked for as sent without its `Bearer ` prefix (which also covers
/// `Bearer sk-…`), and with `/` written `\/` when it has one (JSON may escape it).
///
/// ```
/// use paravent::reidentify::KeyRedactor;
/// let r = KeyRedactor::new([&b"Bearer sk-real-0123"[..]]).unwrap();
/// let out = r.redact(b"{\"error\":\"Incorrect API key provided: sk-real-0123\"}");
/// assert_eq!(&out[..], &b"{\"error\":\"Incorrect API key provided: [REDACTED_KEY]\"}"[..]);
/// ```
#[derive(Debug, Clone)]
pub struct KeyRedactor {
    /// The forms to look for, longest first.
    needles: Vec<Vec<u8>>,
}

impl KeyRedactor {
    /// A redactor of `keys` (header values, `Bearer ` prefix or not); `None` when none
    /// is left to look for.
    pub fn new<'k>(keys: impl IntoIterator<Item = &'k [u8]>) -> Option<KeyRedactor> {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        for k in keys {
            let k = k.trim_ascii_start();
            let k = k
                .strip_prefix(b"Bearer ")
                .or_else(|| k.strip_prefix(b"bearer "))
                .unwrap_or(k)
                .trim_ascii();
            if k.is_empty() {
                continue;
            }
            if k.contains(&b'/') {
                let mut escaped = Vec::with_capacity(k.len() + 4);
                for &b in k {
                    if b == b'/' {
                        escaped.push(b'\\');
                    }
                    escaped.push(b);
                }
                needles.push(escaped);
            }
            needles.push(k.to_vec());
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        (!needles.is_empty()).then_some(KeyRedactor { needles })
    }

    /// `bytes` with every key replaced; borrowed when none was there.
    pub fn redact<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out: Cow<'a, [u8]> = Cow::Borrowed(bytes);
        for needle in &self.needles {
            let hay: &[u8] = &out;
            let mut hits = memchr::memmem::find_iter(hay, needle).peekable();
            if hits.peek().is_none() {
                continue;
            }
            let mut buf = Vec::with_capacity(hay.len());
            let mut copied = 0;
            for at in hits {
                // Occurrences do not overlap once one is replaced.
                if at < copied {
                    continue;
                }
                buf.extend_from_slice(&hay[copied..at]);
                buf.extend_from_slice(REDACTED_KEY.as_bytes());
                copied = at + needle.len();
            }
            buf.extend_from_slice(&hay[copied..]);
            out = Cow::Owned(buf);
        }
        out
    }

    /// As [`KeyRedactor::redact`], into an owned buffer.
    pub fn redact_vec(&self, bytes: Vec<u8>) -> Vec<u8> {
        match self.redact(&bytes) {
            Cow::Borrowed(_) => bytes,
            Cow::Owned(v) => v,
        }
    }
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
    fn tokens_rewritten_with_a_dash_or_a_space_come_back() {
        let (key, pairs) = setup(TokenStyle::Token);
        let v = vault_of(&key, TokenStyle::Token);
        let r = Reidentifier::new(&v);
        let core = pairs[0].0.trim_matches(['[', ']']).to_owned();
        let dash = core.replace('_', "-");
        let space = core.replace('_', " ");
        let cases = [
            (format!("Bonjour {dash}."), "Bonjour Jean Dupont."),
            (format!("Bonjour {space}."), "Bonjour Jean Dupont."),
            (format!("Bonjour [{dash}]."), "Bonjour Jean Dupont."),
            (format!("Bonjour [{space}]!"), "Bonjour Jean Dupont!"),
            (
                format!("Bonjour {}.", space.to_lowercase()),
                "Bonjour Jean Dupont.",
            ),
            (format!("d'{dash}"), "d'Jean Dupont"),
            (format!("{space}\n{dash}"), "Jean Dupont\nJean Dupont"),
            (format!("cher {space} et"), "cher Jean Dupont et"),
            (format!("({dash})"), "(Jean Dupont)"),
        ];
        for (input, want) in cases {
            assert_eq!(r.reidentify(&input).0, want, "{input}");
        }
    }

    #[test]
    fn text_that_only_looks_like_a_token_is_left_alone() {
        let (key, pairs) = setup(TokenStyle::Token);
        let v = vault_of(&key, TokenStyle::Token);
        let r = Reidentifier::new(&v);
        let core = pairs[0].0.trim_matches(['[', ']']).to_owned();
        let space = core.replace('_', " ");
        let dash = core.replace('_', "-");
        let cases = [
            "PERSON 7".to_owned(),
            "PERSON 7 ans plus tard".to_owned(),
            "PERSON-000000 et PERSON 000000".to_owned(),
            "la PERSON décédée".to_owned(),
            format!("X{space}"),
            format!("X{dash}"),
            format!("{space}9"),
            format!("{dash}_x"),
            format!("a_{space}"),
            space.replace(' ', "  "),
            format!("{space}é"),
            format!("é{space}"),
        ];
        for input in cases {
            assert_eq!(r.reidentify(&input).0, input, "{input}");
        }
    }

    #[test]
    fn in_json_text_a_token_after_an_escape_comes_back() {
        let (key, pairs) = setup(TokenStyle::Token);
        let v = vault_of(&key, TokenStyle::Token);
        let r = Reidentifier::new(&v);
        let core = pairs[0].0.trim_matches(['[', ']']).to_owned();
        let space = core.replace('_', " ");
        for (input, want) in [
            (
                format!(r#"{{"t":"a\n\n{core} b"}}"#),
                r#"{"t":"a\n\nJean Dupont b"}"#,
            ),
            (
                format!(r#"{{"t":"\t{space}"}}"#),
                r#"{"t":"\tJean Dupont"}"#,
            ),
        ] {
            assert_eq!(r.reidentify_json_text(&input).0, want, "{input}");
            // Plain text has no escapes: the letter is glued there.
            assert_eq!(r.reidentify(&input).0, input, "{input}");
        }
        // An escaped backslash then a letter `n`: glued.
        let input = format!(r#"{{"t":"\\n{core}"}}"#);
        assert_eq!(r.reidentify_json_text(&input).0, input);
    }

    #[test]
    fn a_multi_word_entity_comes_back_with_any_separator() {
        let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
        let mut v = Vault::new(&key, None, TokenStyle::Token, 10);
        let t = v
            .pseudonym("FR_NIR", "2 84 05 75 108 042 36")
            .unwrap()
            .to_owned();
        let r = Reidentifier::new(&v);
        let core = t.trim_matches(['[', ']']);
        for form in [
            core.to_owned(),
            core.replace('_', "-"),
            core.replace('_', " "),
            core.to_lowercase().replace('_', " "),
            format!("[{}]", core.replace('_', "-")),
        ] {
            let text = format!("NIR : {form}.");
            assert_eq!(
                r.reidentify(&text).0,
                "NIR : 2 84 05 75 108 042 36.",
                "{form}"
            );
        }
    }

    #[test]
    fn provider_keys_are_redacted_in_every_form() {
        let r = KeyRedactor::new([&b"Bearer sk-real/abc+123"[..], &b""[..]]).unwrap();
        let text = br#"{"m":"Bearer sk-real/abc+123 or sk-real\/abc+123, sk-real/abc+123"}"#;
        let out = r.redact(text);
        let out = std::str::from_utf8(&out).unwrap();
        assert_eq!(
            out,
            r#"{"m":"Bearer [REDACTED_KEY] or [REDACTED_KEY], [REDACTED_KEY]"}"#
        );
        assert!(matches!(r.redact(b"nothing here"), Cow::Borrowed(_)));
        assert!(KeyRedactor::new([&b"Bearer "[..]]).is_none());
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
