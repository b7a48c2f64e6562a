//! [pure] Re-identification: every pseudonym of a request's vault found in the answer is
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
    /// Surrogates, matched whole (only with the `surrogate` style).
    surrogates: Option<AhoCorasick>,
    surrogate_index: Vec<usize>,
    originals: Vec<String>,
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
        Reidentifier {
            tokens,
            surrogates,
            surrogate_index,
            originals,
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
        let (text, n_tokens) = self.reidentify_tokens(text);
        if self.surrogates.is_none() {
            return (text, n_tokens);
        }
        match self.reidentify_surrogates(&text) {
            (Cow::Borrowed(_), _) => (text, n_tokens),
            (Cow::Owned(s), n) => (Cow::Owned(s), n_tokens + n),
        }
    }

    /// Tokens: every maximal run of `[A-Za-z0-9_]` is a candidate core; it is replaced
    /// when it is one of the vault's (case-insensitively), with the brackets around it.
    /// One pass over the text, no automaton to build per request.
    fn reidentify_tokens<'a>(&self, text: &'a str) -> (Cow<'a, str>, usize) {
        if self.tokens.is_empty() {
            return (Cow::Borrowed(text), 0);
        }
        let bytes = text.as_bytes();
        let is_run = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut count = 0;
        let mut upper = String::with_capacity(64);
        let mut i = 0;
        while i < bytes.len() {
            // Find the next '_' (every core has one), then widen to its run.
            let Some(off) = bytes[i..].iter().position(|&b| b == b'_') else {
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
            if e - s > 64 + 2 || !before_ok || !after_ok {
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
            buf.push_str(&self.originals[idx]);
            copied = e;
            count += 1;
        }
        match out {
            None => (Cow::Borrowed(text), 0),
            Some(mut buf) => {
                buf.push_str(&text[copied..]);
                (Cow::Owned(buf), count)
            }
        }
    }

    fn reidentify_surrogates<'a>(&self, text: &'a str) -> (Cow<'a, str>, usize) {
        let Some(ac) = &self.surrogates else {
            return (Cow::Borrowed(text), 0);
        };
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut count = 0;
        for m in ac.find_iter(text) {
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
            buf.push_str(&self.originals[self.surrogate_index[m.pattern().as_usize()]]);
            copied = e;
            count += 1;
        }
        match out {
            None => (Cow::Borrowed(text), 0),
            Some(mut buf) => {
                buf.push_str(&text[copied..]);
                (Cow::Owned(buf), count)
            }
        }
    }
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
