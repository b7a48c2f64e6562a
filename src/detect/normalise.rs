//! The normalised view: a text as the provider reads it, with the way back to the original.
//!
//! A model reads meaning, not code points: `０６ １２`, `06\u{200B}12`, `06\u{202F}12`
//! and `06 12` are one number to it. The detector therefore runs on a normalised copy of
//! each text and reports its findings in the original's byte offsets, so that the span
//! that is replaced covers the whole value, the invisible characters inside it included.
//!
//! What normalising does, in this order, one *segment* at a time (a character and the
//! combining marks that follow it):
//!
//! 1. compatibility folding (NFKC) of the segment: fullwidth digits and letters become
//!    ASCII, `＠` becomes `@`, `．` becomes `.`, ligatures are split, `e` + U+0301
//!    becomes `é`;
//! 2. invisible characters are removed: format characters (general category Cf: zero-width
//!    space, non-joiner and joiner, word joiner, soft hyphen, BOM, bidirectional controls,
//!    tag characters), every other default-ignorable code point (variation selectors,
//!    Hangul fillers, the combining grapheme joiner) and the control characters other than
//!    tab, line feed, vertical tab, form feed and carriage return;
//! 3. every space separator (Zs: U+00A0, U+202F, U+2009…) becomes an ASCII space; line
//!    and paragraph separators (Zl, Zp) and U+0085 become a line feed;
//! 4. every dash (Pd) and U+2212 MINUS SIGN becomes `-`;
//! 5. decimal digits of every script (Nd: `٤`, `४`, `๔`…) become ASCII digits;
//! 6. a combining mark left on an ASCII character (one that did not compose with it, such
//!    as U+0336 or the keycap U+20E3) is removed: on a digit or an ASCII letter it only
//!    hides the value.
//!
//! Most texts need none of this (ASCII without control characters, or French prose whose
//! accented letters are already in NFC): they are recognised in one pass over the bytes
//! and borrowed, with no copy and no map.
//!
//! Offsets: the normalised text maps back through a list of *edits*, one per segment that
//! changed, with the text between them identical byte for byte. A normalised span maps to
//! the smallest original span that produced it: characters removed inside it are covered
//! (the original span is contiguous), characters removed just before or after it are not.
//!
//! The Unicode data comes from crates, not from tables written here: NFKC and combining
//! marks from `unicode-normalization`, the general categories and the default-ignorable
//! property from `regex-syntax`'s tables (already compiled in for `regex`).
//!
//! Pure: no I/O, no logging; it never keeps the text.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex_syntax::hir::{Class, HirKind};
use unicode_normalization::char::{canonical_combining_class, is_combining_mark};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// A text as the detector reads it, and the way back to the original's byte offsets.
///
/// ```
/// use paravent::detect::normalise::normalise;
///
/// let text = "IBAN\u{a0}: FR76\u{202f}3000\u{200b}6000";
/// let view = normalise(text);
/// assert_eq!(view.as_str(), "IBAN : FR76 30006000");
/// let at = view.as_str().find("FR76").unwrap();
/// let (start, end) = view.original_span(at, view.as_str().len());
/// assert_eq!(&text[start..end], "FR76\u{202f}3000\u{200b}6000");
/// ```
#[derive(Debug, Clone)]
pub struct Normalised<'a> {
    text: Cow<'a, str>,
    /// Every segment that changed, in order; between two edits the normalised text is
    /// the original, byte for byte. Empty when the text is borrowed.
    edits: Vec<Edit>,
}

/// One original segment and what it became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edit {
    /// Where its replacement starts in the normalised text.
    norm: usize,
    /// The replacement's length in bytes (0 when the segment was removed).
    norm_len: usize,
    /// Where the segment starts in the original text.
    orig: usize,
    /// The segment's length in bytes.
    orig_len: usize,
}

/// Normalises `text` for detection (see the module docs for what changes).
pub fn normalise(text: &str) -> Normalised<'_> {
    let Some(first) = first_change(text) else {
        return Normalised {
            text: Cow::Borrowed(text),
            edits: Vec::new(),
        };
    };
    let start = segment_start(text, first);
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..start]);
    let mut edits = Vec::new();
    let bytes = text.as_bytes();
    let mut i = start;
    while i < text.len() {
        // A run of plain ASCII is copied as it is, but for its last character when a
        // non-ASCII one follows: a combining mark after it may compose with it.
        let mut run = bytes[i..].iter().take_while(|&&b| !needs_a_look(b)).count();
        if bytes.get(i + run).is_some_and(|b| !b.is_ascii()) {
            run = run.saturating_sub(1);
        }
        if run > 0 {
            out.push_str(&text[i..i + run]);
            i += run;
            continue;
        }
        let end = segment_end(text, i);
        let segment = &text[i..end];
        let norm = out.len();
        if end == i + 1 && !ascii_removed(bytes[i]) {
            // An ASCII character alone: kept as it is.
            out.push(char::from(bytes[i]));
        } else if end == i + 1 {
            edits.push(Edit {
                norm,
                norm_len: 0,
                orig: i,
                orig_len: 1,
            });
        } else {
            push_segment(segment, &mut out);
            if &out[norm..] != segment {
                edits.push(Edit {
                    norm,
                    norm_len: out.len() - norm,
                    orig: i,
                    orig_len: segment.len(),
                });
            }
        }
        i = end;
    }
    if edits.is_empty() {
        // Only segments that normalise to themselves (rare: a combining sequence that is
        // already composed as far as it goes).
        return Normalised {
            text: Cow::Borrowed(text),
            edits,
        };
    }
    Normalised {
        text: Cow::Owned(out),
        edits,
    }
}

impl Normalised<'_> {
    /// The same view, owning its text.
    pub fn into_owned(self) -> Normalised<'static> {
        Normalised {
            text: Cow::Owned(self.text.into_owned()),
            edits: self.edits,
        }
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when normalising changed nothing: the normalised text is the original itself,
    /// and every offset maps to itself.
    pub fn is_identity(&self) -> bool {
        matches!(self.text, Cow::Borrowed(_))
    }

    /// Maps a span `start..end` of the normalised text (on character boundaries) to the
    /// smallest span of the original text that produced it.
    ///
    /// The result is on character boundaries of the original. Characters removed inside
    /// the span are covered; characters removed just before `start` or just after `end`
    /// are not. An empty span maps to an empty span. Offsets past the end are clamped.
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        if self.edits.is_empty() {
            return (start, end);
        }
        let len = self.text.len();
        let (start, end) = (start.min(len), end.min(len));
        if start >= end {
            let at = self.original_start(start);
            return (at, at);
        }
        (self.original_start(start), self.original_end(end - 1))
    }

    /// The original offset where the character holding normalised byte `at` starts; the
    /// original text's end for `at` at the normalised text's end.
    fn original_start(&self, at: usize) -> usize {
        match self.edit_at(at) {
            Place::Inside(edit) => edit.orig,
            Place::After(edit) => edit.orig + edit.orig_len + (at - edit.norm - edit.norm_len),
            Place::Before => at,
        }
    }

    /// The original offset just past the character holding normalised byte `last`.
    fn original_end(&self, last: usize) -> usize {
        match self.edit_at(last) {
            Place::Inside(edit) => edit.orig + edit.orig_len,
            Place::After(edit) => {
                edit.orig + edit.orig_len + (last - edit.norm - edit.norm_len) + 1
            }
            Place::Before => last + 1,
        }
    }

    /// Where normalised byte `at` lies with respect to the edits.
    fn edit_at(&self, at: usize) -> Place<'_> {
        // The last edit starting at or before `at`; removals (empty) that share their
        // position with a replacement come first, so the replacement is the one found.
        let n = self.edits.partition_point(|e| e.norm <= at);
        match n.checked_sub(1).map(|i| &self.edits[i]) {
            None => Place::Before,
            Some(edit) if at < edit.norm + edit.norm_len => Place::Inside(edit),
            Some(edit) => Place::After(edit),
        }
    }
}

enum Place<'a> {
    /// Before every edit: the offset is its own original.
    Before,
    /// Inside an edit's replacement.
    Inside(&'a Edit),
    /// In the unchanged text after an edit.
    After(&'a Edit),
}

/// ASCII control characters other than tab, line feed, vertical tab, form feed and
/// carriage return: removed.
fn ascii_removed(b: u8) -> bool {
    b.is_ascii() && needs_a_look(b)
}

/// The byte offset of the first character that normalising would change, if any.
fn first_change(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Plain ASCII, the common case, skipped a block at a time: the fold over a block
        // of fixed size has no branch, so the compiler vectorises it.
        while let Some(block) = bytes
            .get(i..i + ASCII_BLOCK_BYTES)
            .and_then(|b| <&[u8; ASCII_BLOCK_BYTES]>::try_from(b).ok())
            && !block.iter().fold(false, |acc, &b| acc | needs_a_look(b))
        {
            i += ASCII_BLOCK_BYTES;
        }
        // Then character by character to the end of the block that needs a look.
        let stop = (i + ASCII_BLOCK_BYTES).min(bytes.len());
        while i < stop {
            let b = bytes[i];
            if b.is_ascii() {
                if ascii_removed(b) {
                    return Some(i);
                }
                i += 1;
                continue;
            }
            let c = text[i..].chars().next()?;
            if changes(c) {
                return Some(i);
            }
            i += c.len_utf8();
        }
    }
    None
}

/// How many bytes [`first_change`] checks at once.
const ASCII_BLOCK_BYTES: usize = 16;

/// True for a byte that is not plain ASCII text: the start or the continuation of a
/// multi-byte character, or a control character that is removed. Written with `&` and
/// `|`, not `&&` and `||`, so that a fold over a block has no branch.
fn needs_a_look(b: u8) -> bool {
    let removed_control = (b < 0x20) & !(0x09..=0x0D).contains(&b);
    (b >= 0x7F) | removed_control
}

/// True when a non-ASCII character may change: it is not NFKC-stable on its own, is a
/// combining mark (which may compose with, or be removed from, what precedes it), or
/// falls in one of the classes that are removed or replaced.
fn changes(c: char) -> bool {
    // Latin-1 letters (à, é, ç, ô, ß…), the bulk of French text beyond ASCII: stable.
    if ('\u{C0}'..='\u{FF}').contains(&c) {
        return false;
    }
    !matches!(class(c), Kind::Keep)
        || is_combining_mark(c)
        || is_nfkc_quick(std::iter::once(c)) != IsNormalized::Yes
}

/// The start of the segment holding the character at `at`: back over combining marks
/// (non-starters) to the character they belong to.
fn segment_start(text: &str, at: usize) -> usize {
    let mut start = at;
    while let Some(c) = text[start..].chars().next() {
        if canonical_combining_class(c) == 0 || start == 0 {
            break;
        }
        let Some((prev, _)) = text[..start].char_indices().next_back() else {
            break;
        };
        start = prev;
    }
    start
}

/// The end of the segment starting at `start`: its first character and the non-starters
/// (combining marks with a non-zero combining class) after it.
fn segment_end(text: &str, start: usize) -> usize {
    let mut chars = text[start..].char_indices();
    let Some((_, first)) = chars.next() else {
        return start;
    };
    let mut end = start + first.len_utf8();
    for (at, c) in chars {
        // An ASCII character is always a starter: most segments end on the next byte.
        if c.is_ascii() || canonical_combining_class(c) == 0 {
            break;
        }
        end = start + at + c.len_utf8();
    }
    end
}

/// Appends the normalised form of one segment to `out`.
fn push_segment(segment: &str, out: &mut String) {
    let mut chars = segment.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        // One character alone: a space, a dash, an invisible character or a digit gives
        // the same with or without NFKC first (U+202F and U+3000 fold to a space, U+FF0D
        // to `-`, `５` to `5`), and so does a character NFKC keeps; only the others need
        // the composing iterator.
        let kind = class(c);
        if kind != Kind::Keep || is_nfkc_quick(std::iter::once(c)) == IsNormalized::Yes {
            push_char(c, kind, out);
            return;
        }
    }
    for c in segment.chars().nfkc() {
        push_char(c, class(c), out);
    }
}

/// Appends one character, already in NFKC, as the view has it.
fn push_char(c: char, kind: Kind, out: &mut String) {
    match kind {
        Kind::Remove => {}
        Kind::Space => out.push(' '),
        Kind::Newline => out.push('\n'),
        Kind::Dash => out.push('-'),
        Kind::Digit(d) => out.push(d),
        Kind::Keep if c.is_ascii() => {
            if !ascii_removed(c as u8) {
                out.push(c);
            }
        }
        Kind::Keep => {
            let on_ascii = out.as_bytes().last().is_some_and(u8::is_ascii);
            if !(on_ascii && is_combining_mark(c)) {
                out.push(c);
            }
        }
    }
}

/// What normalising does with one character (after NFKC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Keep,
    Remove,
    Space,
    Newline,
    Dash,
    Digit(char),
}

/// The Unicode classes the view cares about, as sorted code-point ranges.
struct Tables {
    /// Cf and Default_Ignorable_Code_Point.
    invisible: Vec<(u32, u32)>,
    /// Zs.
    space: Vec<(u32, u32)>,
    /// Zl and Zp.
    newline: Vec<(u32, u32)>,
    /// Pd.
    dash: Vec<(u32, u32)>,
    /// Nd; every range is a whole number of runs of ten, `0` to `9` (Unicode encodes each
    /// script's decimal digits contiguously, in order).
    digit: Vec<(u32, u32)>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| Tables {
    invisible: ranges(r"[\p{Cf}\p{Default_Ignorable_Code_Point}]"),
    space: ranges(r"\p{Zs}"),
    newline: ranges(r"[\p{Zl}\p{Zp}]"),
    dash: ranges(r"\p{Pd}"),
    digit: ranges(r"\p{Nd}"),
});

/// The code-point ranges of a Unicode class written in regex syntax.
///
/// # Panics
/// When `class` is not a Unicode class of several code points; only called on the
/// constant classes above, which a test builds.
fn ranges(class: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::Parser::new()
        .parse(class)
        .expect("the Unicode classes of the normalised view parse");
    let HirKind::Class(Class::Unicode(class)) = hir.kind() else {
        panic!("not a Unicode class");
    };
    class
        .ranges()
        .iter()
        .map(|r| (u32::from(r.start()), u32::from(r.end())))
        .collect()
}

/// The range of `table` holding `c`, if any.
fn find(table: &[(u32, u32)], c: char) -> Option<(u32, u32)> {
    let c = u32::from(c);
    let i = table.partition_point(|&(_, end)| end < c);
    table.get(i).copied().filter(|&(start, _)| start <= c)
}

fn class(c: char) -> Kind {
    if c.is_ascii() {
        return Kind::Keep;
    }
    if ('\u{80}'..='\u{9F}').contains(&c) {
        // C1 controls; NEL is a line break.
        return if c == '\u{85}' {
            Kind::Newline
        } else {
            Kind::Remove
        };
    }
    let t = &*TABLES;
    if find(&t.invisible, c).is_some() {
        Kind::Remove
    } else if find(&t.space, c).is_some() {
        Kind::Space
    } else if find(&t.newline, c).is_some() {
        Kind::Newline
    } else if c == '\u{2212}' || find(&t.dash, c).is_some() {
        Kind::Dash
    } else if let Some((start, _)) = find(&t.digit, c) {
        let value = (u32::from(c) - start) % 10;
        Kind::Digit(char::from(b'0' + value as u8))
    } else {
        Kind::Keep
    }
}

/// Entities whose separators carry no meaning: `06 12 34 56 78` is `0612345678`.
const NUMBER_LIKE: &[&str] = &[
    "PHONE",
    "IBAN",
    "CREDIT_CARD",
    "FR_NIR",
    "FR_SIREN",
    "FR_SIRET",
    "FR_VAT",
    "FR_RIB",
    "US_SSN",
    "UK_NINO",
    "ID_NUMBER",
];

/// Whether separators in `entity`'s values carry no meaning (`06 12` is `0612`).
pub fn is_number_like(entity: &str) -> bool {
    NUMBER_LIKE.contains(&entity)
}

/// The form a value is keyed in (its token, its audit hash, allow lists): as the
/// detector reads it (invisible characters removed, compatibility forms folded,
/// [`normalise`]), lower case, single spaces, and for numbers no separators, so the
/// variants of one value get one token.
///
/// ```
/// use paravent::detect::normalise::value_key;
/// assert_eq!(value_key("PERSON", " Jean\u{a0}\u{200b}DUPONT "), "jean dupont");
/// assert_eq!(value_key("PHONE", "０６ 12-34"), "061234");
/// ```
pub fn value_key(entity: &str, value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    write_value_key(entity, value, &mut out);
    out
}

/// Where [`write_value_key`] puts a value's key: a string, or a keyed hash fed as the
/// key is produced (the vault's tokens and audit hashes), so that no string is built.
pub trait KeySink {
    /// Appends one ASCII byte.
    fn push_ascii(&mut self, b: u8);
    /// Appends a string.
    fn push_str(&mut self, s: &str);
}

impl KeySink for String {
    fn push_ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }

    fn push_str(&mut self, s: &str) {
        String::push_str(self, s);
    }
}

/// Writes [`value_key`]`(entity, value)` into `out`, byte for byte the same, without
/// allocating (but where the value itself needs normalising: an invisible or
/// compatibility character in it).
///
/// ```
/// use paravent::detect::normalise::{value_key, write_value_key};
/// let mut key = String::new();
/// write_value_key("PHONE", "06\u{a0}12 34", &mut key);
/// assert_eq!(key, value_key("PHONE", "06 12 34"));
/// ```
pub fn write_value_key(entity: &str, value: &str, out: &mut impl KeySink) {
    let view = normalise(value);
    let value = view.as_str();
    if NUMBER_LIKE.contains(&entity) {
        for c in value.chars().filter(|c| c.is_alphanumeric()) {
            push_lower(c, out);
        }
        return;
    }
    for (i, word) in value.split_whitespace().enumerate() {
        if i > 0 {
            out.push_ascii(b' ');
        }
        if word.is_ascii() {
            // The common case, one byte at a time with no case table.
            for &b in word.as_bytes() {
                out.push_ascii(b.to_ascii_lowercase());
            }
        } else {
            for c in word.chars() {
                push_lower(c, out);
            }
        }
    }
}

/// Appends `c` lower-cased as `char::to_lowercase` does it (one or more characters).
fn push_lower(c: char, out: &mut impl KeySink) {
    if c.is_ascii() {
        out.push_ascii(c.to_ascii_lowercase() as u8);
        return;
    }
    let mut buf = [0; 4];
    for l in c.to_lowercase() {
        out.push_str(l.encode_utf8(&mut buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normalises `text` and maps the span of `needle` in the view back to the original.
    fn original_of<'t>(text: &'t str, needle: &str) -> &'t str {
        let view = normalise(text);
        let at = view
            .as_str()
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {:?}", view.as_str()));
        let (s, e) = view.original_span(at, at + needle.len());
        &text[s..e]
    }

    /// `value_key` as it was written before it streamed into a sink (issue 13).
    fn value_key_by_collecting(entity: &str, value: &str) -> String {
        let view = normalise(value);
        let value = view.as_str();
        if NUMBER_LIKE.contains(&entity) {
            return value
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
        }
        let mut out = String::with_capacity(value.len());
        for word in value.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(word.chars().flat_map(char::to_lowercase));
        }
        out
    }

    #[test]
    fn the_streamed_value_key_is_the_collected_one_for_every_script() {
        let mut text = String::new();
        // Every character of the scripts with case, marks and compatibility forms, and
        // a sample of the rest (all of it takes minutes in a debug build).
        let chars = every_char().filter(|&c| {
            let c = u32::from(c);
            c < 0x3000 || (0xFF00..0xFFF0).contains(&c) || c % 61 == 0
        });
        for c in chars {
            text.clear();
            text.extend(['A', c, 'b', ' ', c, '\u{301}', c]);
            for entity in ["PERSON", "PHONE"] {
                assert_eq!(
                    value_key(entity, &text),
                    value_key_by_collecting(entity, &text),
                    "{entity} {c:?}"
                );
            }
        }
        for text in [
            "",
            " ",
            "  Jean \t DUPONT\n",
            "ÉLODIE İstanbul ΣΑΣ",
            "\u{200b} \u{a0}x",
        ] {
            for entity in ["PERSON", "IBAN", "EMAIL"] {
                assert_eq!(
                    value_key(entity, text),
                    value_key_by_collecting(entity, text)
                );
            }
        }
    }

    #[test]
    fn the_unicode_tables_are_built_and_digits_come_in_runs_of_ten() {
        let t = &*TABLES;
        assert!(find(&t.invisible, '\u{200B}').is_some());
        assert!(find(&t.invisible, '\u{FE0F}').is_some());
        assert!(find(&t.space, '\u{202F}').is_some());
        assert!(find(&t.dash, '\u{2013}').is_some());
        assert!(find(&t.digit, '٤').is_some());
        for &(start, end) in &t.digit {
            assert_eq!((end - start + 1) % 10, 0, "{start:x}..={end:x}");
        }
    }

    /// Every Unicode scalar value.
    fn every_char() -> impl Iterator<Item = char> {
        (0..=u32::from(char::MAX)).filter_map(char::from_u32)
    }

    #[test]
    fn a_lone_character_gives_the_same_through_the_shortcut_as_through_nfkc() {
        let mut buf = [0; 4];
        for c in every_char() {
            let mut short = String::new();
            push_segment(c.encode_utf8(&mut buf), &mut short);
            let mut long = String::new();
            for d in std::iter::once(c).nfkc() {
                push_char(d, class(d), &mut long);
            }
            assert_eq!(short, long, "{c:?}");
        }
    }

    #[test]
    fn a_character_the_first_pass_lets_through_is_kept_as_it_is() {
        let (mut text, mut out) = (String::new(), String::new());
        for c in every_char().filter(|&c| !c.is_ascii() && !changes(c)) {
            text.clear();
            text.extend(['a', c, 'b']);
            assert!(normalise(&text).is_identity(), "{c:?}");
            out.clear();
            push_segment(&text[1..1 + c.len_utf8()], &mut out);
            assert_eq!(out, text[1..1 + c.len_utf8()], "{c:?}");
        }
    }

    #[test]
    fn ascii_and_french_prose_are_borrowed_without_a_map() {
        for text in [
            "",
            "Hello, world.\n\tTabs and\r\nlines stay.",
            "Élodie a écrit à Œdipe : « ça va ? », l’été, 45 €.",
        ] {
            let view = normalise(text);
            assert!(view.is_identity(), "{text:?}");
            assert_eq!(view.as_str(), text);
            assert_eq!(view.original_span(0, text.len()), (0, text.len()));
        }
        // An em dash is a dash: the same prose with one is copied.
        assert!(!normalise("l’été — 45 €").is_identity());
    }

    #[test]
    fn each_kind_of_change_gives_the_expected_view() {
        let cases: &[(&str, &str)] = &[
            ("０６ １２ ３４", "06 12 34"),
            ("jean＠example．fr", "jean@example.fr"),
            (
                "06\u{200B}12\u{200C}34\u{200D}56\u{2060}78\u{FEFF}",
                "0612345678",
            ),
            ("41\u{AD}11", "4111"),
            ("1\u{202F}85\u{A0}03\u{2009}75", "1 85 03 75"),
            (
                "FR76\u{2011}3000\u{2013}6000\u{2212}0112",
                "FR76-3000-6000-0112",
            ),
            ("٠٦١٢ ०६ ๐๖", "0612 06 06"),
            ("e\u{301}lodie", "élodie"),
            ("4\u{336}1\u{336}11", "4111"),
            ("4\u{FE0F}\u{20E3}", "4"),
            ("a\u{1}b\u{7F}c\u{9F}d", "abcd"),
            ("a\u{2028}b\u{85}c", "a\nb\nc"),
            ("ﬁle", "file"),
            ("x\u{E0041}y", "xy"),
        ];
        for (text, want) in cases {
            let view = normalise(text);
            assert_eq!(view.as_str(), *want, "{text:?}");
            assert!(!view.is_identity(), "{text:?}");
        }
    }

    #[test]
    fn marks_on_letters_of_other_scripts_are_kept() {
        // Devanagari vowel signs are combining marks; they carry the word.
        assert!(normalise("नमस्ते").is_identity());
        // Marks are put in canonical order and composed as far as they go (é + dot below
        // is ẹ + acute); what is left on a non-ASCII letter stays.
        assert_eq!(normalise("é\u{323}").as_str(), "ẹ\u{301}");
    }

    #[test]
    fn a_span_maps_back_over_removed_and_replaced_characters() {
        let text = "NIR 1\u{202F}85\u{200B}03 75\u{AD}115 022 36 fin";
        assert_eq!(
            original_of(text, "1 8503 75115 022 36"),
            "1\u{202F}85\u{200B}03 75\u{AD}115 022 36"
        );
        assert_eq!(original_of("tél ０６１２", "0612"), "０６１２");
        assert_eq!(original_of("tél ０６１２", "61"), "６１");
        assert_eq!(original_of("x ﬁle y", "file"), "ﬁle");
        // Ending inside an expanded character widens to the whole character.
        assert_eq!(original_of("x ﬁle y", "f"), "ﬁ");
    }

    #[test]
    fn invisible_characters_at_the_edges_of_a_span_are_not_swallowed() {
        let text = "a \u{200B}jean@example.fr\u{200B} b";
        assert_eq!(original_of(text, "jean@example.fr"), "jean@example.fr");
    }

    #[test]
    fn spans_after_the_last_change_shift_by_what_changed() {
        let text = "０ then 4111 1111";
        assert_eq!(original_of(text, "4111 1111"), "4111 1111");
        assert_eq!(original_of(text, "then"), "then");
    }

    #[test]
    fn empty_and_clamped_spans_stay_inside_the_text() {
        let text = "\u{200B}ab\u{200B}";
        let view = normalise(text);
        assert_eq!(view.as_str(), "ab");
        assert_eq!(view.original_span(0, 0), (3, 3));
        assert_eq!(view.original_span(0, 2), (3, 5));
        assert_eq!(view.original_span(2, 2), (8, 8));
        assert_eq!(view.original_span(0, 99), (3, 5));
    }
}
