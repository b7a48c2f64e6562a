//! Case and accent folding, with a map back to the original byte offsets.
//!
//! Dictionaries and name gazetteers match regardless of case and accents: `ÉLOÏSE`,
//! `Eloise` and `éloïse` are one name. aho-corasick's ASCII case folding does not fold
//! `É`, so the text is folded once per scan and each match is mapped back.
//!
//! Folding copies ASCII runs a run at a time (lower-cased in place) and decodes only the
//! other characters: about 36 k instructions for the 1.9 KB French prompt of
//! `benches/load/prompt.json`, 60 k when it pushed byte by byte (callgrind).

/// Folds one character: lower case, accents removed, typographic apostrophes and
/// dashes made ASCII, non-breaking spaces made plain spaces. Writes to `out`.
pub(crate) fn fold_char(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    let folded = match c {
        'À'..='Å' | 'à'..='å' | 'Ā'..='ą' => 'a',
        'Ç' | 'ç' | 'Ć'..='č' => 'c',
        'Ď'..='đ' => 'd',
        'È'..='Ë' | 'è'..='ë' | 'Ē'..='ě' => 'e',
        'Ĝ'..='ģ' => 'g',
        'Ĥ'..='ħ' => 'h',
        'Ì'..='Ï' | 'ì'..='ï' | 'Ĩ'..='ı' => 'i',
        'Ĵ' | 'ĵ' => 'j',
        'Ķ' | 'ķ' => 'k',
        'Ĺ'..='ł' => 'l',
        'Ñ' | 'ñ' | 'Ń'..='ň' => 'n',
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō'..='ő' => 'o',
        'Ŕ'..='ř' => 'r',
        'Ś'..='š' => 's',
        'Ţ'..='ŧ' => 't',
        'Ù'..='Ü' | 'ù'..='ü' | 'Ũ'..='ų' => 'u',
        'Ŵ' | 'ŵ' => 'w',
        'Ý' | 'ý' | 'ÿ' | 'Ŷ' | 'Ÿ' => 'y',
        'Ź'..='ž' => 'z',
        'Œ' | 'œ' => {
            out.push_str("oe");
            return;
        }
        'Æ' | 'æ' => {
            out.push_str("ae");
            return;
        }
        'ß' => {
            out.push_str("ss");
            return;
        }
        '\u{2018}' | '\u{2019}' | '\u{02BC}' | '\u{2032}' => '\'',
        '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
        '\u{00A0}' | '\u{202F}' | '\u{2007}' | '\u{2009}' => ' ',
        _ => {
            out.extend(c.to_lowercase());
            return;
        }
    };
    out.push(folded);
}

/// Folds a whole string (no offset map); used for dictionary terms and gazetteers.
pub(crate) fn fold_str(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        fold_char(c, &mut out);
    }
    out
}

/// As [`fold_str`], appending to `out` (a buffer the caller reuses: no allocation once
/// it is large enough).
pub(crate) fn fold_into(s: &str, out: &mut String) {
    if s.is_ascii() {
        let before = out.len();
        out.push_str(s);
        out[before..].make_ascii_lowercase();
        return;
    }
    for c in s.chars() {
        fold_char(c, out);
    }
}

/// A folded copy of a text and the way back to the original's byte offsets.
#[derive(Debug)]
pub(crate) struct Folded {
    pub text: String,
    /// `map[i]` is the original byte offset of folded byte `i`; one extra entry maps
    /// the end. Empty when the folding kept every offset (ASCII input).
    map: Vec<u32>,
    /// The folded offsets inside the folding of one character into several (`œ` →
    /// `oe`: between the `o` and the `e`), in order. Empty for most texts.
    splits: Vec<u32>,
}

impl Folded {
    pub fn new(original: &str) -> Folded {
        if original.is_ascii() {
            return Folded {
                text: original.to_ascii_lowercase(),
                map: Vec::new(),
                splits: Vec::new(),
            };
        }
        let mut text = String::with_capacity(original.len() + 8);
        let mut map = Vec::with_capacity(original.len() + 9);
        // Offsets are u32: a scanned text is bounded far below 4 GiB by the body
        // limits; saturate rather than wrap if that ever changes.
        let at = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
        let bytes = original.as_bytes();
        let mut splits = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            // ASCII runs, the bulk of French text too, copied and lower-cased a run at a
            // time (no decoding, no push per byte).
            let run = bytes[i..].iter().take_while(|b| b.is_ascii()).count();
            if run > 0 {
                let before = text.len();
                text.push_str(&original[i..i + run]);
                text[before..].make_ascii_lowercase();
                map.extend((i..i + run).map(at));
                i += run;
                continue;
            }
            let c = original[i..].chars().next().unwrap_or('\u{FFFD}');
            let before = text.len();
            fold_char(c, &mut text);
            let added = text.len() - before;
            splits.extend(
                text[before..]
                    .char_indices()
                    .skip(1)
                    .map(|(k, _)| at(before + k)),
            );
            map.extend(std::iter::repeat_n(at(i), added));
            i += c.len_utf8();
        }
        map.push(u32::try_from(original.len()).unwrap_or(u32::MAX));
        Folded { text, map, splits }
    }

    /// The folded byte offset of an original byte offset (a character boundary).
    pub fn folded_offset(&self, original: usize) -> usize {
        if self.map.is_empty() {
            return original;
        }
        self.map.partition_point(|&o| (o as usize) < original)
    }

    /// As [`Folded::folded_offset`], searching forward from `hint`, a folded offset at
    /// or before the answer: linear over a left-to-right walk instead of a search each.
    pub fn folded_offset_from(&self, hint: usize, original: usize) -> usize {
        if self.map.is_empty() {
            return original;
        }
        let mut at = hint.min(self.map.len());
        while at < self.map.len() && (self.map[at] as usize) < original {
            at += 1;
        }
        at
    }

    /// The folded offsets that fall inside the folding of one original character into
    /// several (`œ` → `oe`: between the `o` and the `e`), in order.
    pub fn splits(&self) -> &[u32] {
        &self.splits
    }

    /// Maps a folded span back to the original text's byte span.
    ///
    /// A span that ends inside an expanded character (`œ` → `oe`) is widened to the
    /// whole character.
    pub fn original_span(&self, start: usize, end: usize, original: &str) -> (usize, usize) {
        if self.map.is_empty() {
            return (start, end);
        }
        let s = self.map[start] as usize;
        // The end maps to the start of the last folded byte's character, then past it.
        let last = self.map[end.saturating_sub(1).max(start)] as usize;
        let e = original[last..]
            .chars()
            .next()
            .map_or(original.len(), |c| last + c.len_utf8());
        (s, e.max(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_removes_case_and_accents() {
        assert_eq!(fold_str("ÉLOÏSE Hélène-Œdipe"), "eloise helene-oedipe");
        assert_eq!(fold_str("Villeneuve-d’Ascq"), "villeneuve-d'ascq");
    }

    #[test]
    fn folded_spans_map_back_to_original_bytes() {
        let text = "Chère Éloïse Dœuf, bonjour";
        let folded = Folded::new(text);
        let at = folded.text.find("eloise").unwrap();
        let (s, e) = folded.original_span(at, at + "eloise".len(), text);
        assert_eq!(&text[s..e], "Éloïse");
        let at = folded.text.find("doeuf").unwrap();
        let (s, e) = folded.original_span(at, at + "doeuf".len(), text);
        assert_eq!(&text[s..e], "Dœuf");
    }

    #[test]
    fn runs_of_ascii_between_accented_letters_map_back_byte_for_byte() {
        let text = "Rendez-vous à l'Haÿ-les-Roses avec M. DŒUF, Straße 12\u{a0}bis";
        let folded = Folded::new(text);
        assert_eq!(
            folded.text,
            "rendez-vous a l'hay-les-roses avec m. doeuf, strasse 12 bis"
        );
        // Every word of the folded text maps back to the original word it came from.
        for (word, original) in [
            ("rendez", "Rendez"),
            ("hay", "Haÿ"),
            ("roses", "Roses"),
            ("doeuf", "DŒUF"),
            ("strasse", "Straße"),
            ("bis", "bis"),
        ] {
            let at = folded.text.find(word).unwrap();
            let (s, e) = folded.original_span(at, at + word.len(), text);
            assert_eq!(&text[s..e], original);
            assert_eq!(folded.folded_offset(s), at);
        }
        let mut buf = String::from("x");
        fold_into("ÉLOÏSE Dupont", &mut buf);
        assert_eq!(buf, "xeloise dupont");
    }

    #[test]
    fn ascii_text_keeps_its_offsets() {
        let folded = Folded::new("Hello JOHN");
        assert_eq!(folded.text, "hello john");
        assert_eq!(folded.original_span(6, 10, "Hello JOHN"), (6, 10));
    }
}
