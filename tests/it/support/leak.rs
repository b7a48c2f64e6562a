//! Did a planted value reach the provider in clear? The leak tests' one oracle.
//!
//! A value counts as received when it appears, in any request the mock recorded, in the
//! path and query (as sent, and percent-decoded), in any header value, or in the body (as
//! sent, and as the provider reads it once parsed: every string, object key and number of
//! the JSON, JSON held in strings included, and all its text joined with nothing between,
//! since providers join the text parts of a message). Each place is searched for the
//! value as written, lower-cased, JSON-escaped and URL-encoded, after removing Unicode
//! format characters (zero-width space and joiner, soft hyphen, word joiner, BOM...) and
//! folding fullwidth and mathematical forms to ASCII; an identifier (mostly digits: card,
//! IBAN, NIR, phone) is also searched with every character but letters and digits removed
//! on both sides, so `4111 1111 1111 1111` sent as `4111-1111.1111\u{200b}1111` counts.
//! A value replaced in part only leaks too: the local part of an e-mail (or a word of
//! it) left before a pseudonym of its domain, eight digits of a card or IBAN left beside a pseudonym of the
//! rest, twelve characters of a key.
//!
//! These tables are the tests' own: they are what a reader of the text would see, not the
//! proxy's normalisation, so the tests do not share the proxy's blind spots.

use serde_json::Value;

use super::mock_provider::{MockProvider, Recorded};

/// Characters a reader does not see (Unicode general category Cf, and variation
/// selectors), removed before searching.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}'
        | '\u{FEFF}' | '\u{FFA0}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{E0000}'..='\u{E007F}')
}

/// Fullwidth ASCII, the ideographic space and mathematical digits as ASCII.
fn fold(c: char) -> char {
    let u = c as u32;
    match u {
        0xFF01..=0xFF5E => char::from_u32(u - 0xFF01 + 0x21).unwrap_or(c),
        0x3000 => ' ',
        0x1D7CE..=0x1D7FF => char::from_digit((u - 0x1D7CE) % 10, 10).unwrap_or(c),
        _ => c,
    }
}

/// What a reader sees: invisible characters removed, compatibility forms folded,
/// lower case.
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !invisible(*c))
        .map(fold)
        .flat_map(char::to_lowercase)
        .collect()
}

/// Letters and digits only (after [`normalise`]).
pub fn alnum(text: &str) -> String {
    normalise(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect()
}

/// A value made mostly of digits (card, IBAN, NIR, phone): its separators carry no
/// meaning, so it is also searched as letters and digits only.
pub fn is_identifier(value: &str) -> bool {
    let a = alnum(value);
    let digits = a.chars().filter(char::is_ascii_digit).count();
    a.chars().count() >= 9 && digits * 3 >= a.chars().count() * 2
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `%XX` decoded (invalid escapes kept), `+` read as a space when `plus` is set.
pub fn percent_decode(text: &str, plus: bool) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The forms `value` may take once written into a request, normalised.
pub fn forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).expect("a string serialises");
    let json = json[1..json.len() - 1].to_owned();
    let ascii: String = value
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    let url = percent_encode(value);
    let mut out: Vec<String> = [
        value.to_owned(),
        json,
        ascii,
        url.clone(),
        url.replace("%20", "+"),
    ]
    .iter()
    .map(|f| normalise(f))
    .filter(|f| !f.is_empty())
    .collect();
    out.sort();
    out.dedup();
    out
}

/// Every string, key and number of `v` (JSON held in strings opened too), in order.
fn scalars(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            out.push(s.clone());
            let t = s.trim_start();
            if (t.starts_with('{') || t.starts_with('['))
                && let Ok(inner) = serde_json::from_str::<Value>(s)
            {
                scalars(&inner, out);
            }
        }
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(a) => a.iter().for_each(|x| scalars(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            scalars(x, out);
        }),
        Value::Bool(_) | Value::Null => {}
    }
}

/// The places of one request and the text each holds, as a provider would read them.
pub fn views(r: &Recorded) -> Vec<(String, String)> {
    let mut out = vec![
        ("path".to_owned(), r.path.clone()),
        ("path, decoded".to_owned(), percent_decode(&r.path, false)),
        (
            "path, form-decoded".to_owned(),
            percent_decode(&r.path, true),
        ),
    ];
    for (name, value) in &r.headers {
        out.push((
            format!("header {name}"),
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        ));
    }
    out.push((
        "body".to_owned(),
        String::from_utf8_lossy(&r.body).into_owned(),
    ));
    if let Ok(v) = serde_json::from_slice::<Value>(&r.body) {
        let mut all = Vec::new();
        scalars(&v, &mut all);
        out.push(("body, parsed".to_owned(), all.join("\n")));
        out.push(("body, text joined".to_owned(), all.concat()));
    }
    out
}

/// Parts of a value that must not be left either, once the rest is replaced: for an
/// identifier every run of [`IDENTIFIER_RUN`] of its letters and digits (a pseudonym must
/// cover the whole number, not its tail); for an e-mail its local part and each word of
/// it of five characters or more (`claire.` left before `[EMAIL_…]`); for a key-like
/// string (long, no space, letters and digits) every run of [`KEY_RUN`] of its letters
/// and digits. Runs are searched separators aside.
fn parts(value: &str) -> (Vec<String>, Vec<String>) {
    let a: Vec<char> = alnum(value).chars().collect();
    let runs = |n: usize| -> Vec<String> {
        if a.len() <= n {
            return Vec::new();
        }
        a.windows(n).map(|w| w.iter().collect()).collect()
    };
    let norm = normalise(value);
    if is_identifier(value) {
        (Vec::new(), runs(IDENTIFIER_RUN))
    } else if let Some((local, _)) = norm.split_once('@').filter(|_| !norm.contains(' ')) {
        let words = local
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().count() >= 5)
            .map(str::to_owned);
        (
            std::iter::once(local.to_owned()).chain(words).collect(),
            Vec::new(),
        )
    } else if !norm.contains(' ')
        && a.len() >= 20
        && a.iter().any(char::is_ascii_digit)
        && a.iter().any(char::is_ascii_alphabetic)
    {
        (Vec::new(), runs(KEY_RUN))
    } else {
        (Vec::new(), Vec::new())
    }
}

/// The shortest run of an identifier's digits that counts as a leak.
pub const IDENTIFIER_RUN: usize = 8;
/// The shortest run of a key's letters and digits that counts as a leak.
pub const KEY_RUN: usize = 12;

/// Where each of `values` appears in `text` (one line per hit), `place` naming it.
pub fn found_in(place: &str, text: &str, values: &[&str]) -> Vec<String> {
    let seen = normalise(text);
    let seen_alnum = alnum(text);
    let mut hits = Vec::new();
    for v in values {
        let (plain, runs) = parts(v);
        if let Some(f) = forms(v).into_iter().find(|f| seen.contains(f.as_str())) {
            hits.push(format!("{v:?} in {place} (as {f:?})"));
        } else if is_identifier(v) && seen_alnum.contains(&alnum(v)) {
            hits.push(format!(
                "{v:?} in {place} (as {:?}, separators aside)",
                alnum(v)
            ));
        } else if let Some(f) = plain.iter().find(|f| seen.contains(f.as_str())) {
            hits.push(format!("{v:?} in part in {place} ({f:?} left)"));
        } else if let Some(f) = runs.iter().find(|f| seen_alnum.contains(f.as_str())) {
            hits.push(format!(
                "{v:?} in part in {place} ({f:?} left, separators aside)"
            ));
        }
    }
    hits
}

/// Where each of `values` reached the provider in clear, over `requests`.
pub fn received_in_clear(requests: &[Recorded], values: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let places = views(r);
        // One line per value and request: the most direct place it was found in.
        for v in values {
            if let Some(h) = places.iter().find_map(|(place, text)| {
                found_in(&format!("request {i} {place}"), text, &[v]).pop()
            }) {
                hits.push(h);
            }
        }
    }
    hits
}

/// Panics naming every place where one of `values` reached the mock in clear.
#[track_caller]
pub fn assert_not_received(mock: &MockProvider, values: &[&str]) {
    let hits = received_in_clear(&mock.requests(), values);
    assert!(
        hits.is_empty(),
        "the provider received in clear:\n  {}",
        hits.join("\n  ")
    );
}

/// The pseudonyms (`[EMAIL_7F3A2C]`) in `text`, in order, without repeats.
pub fn tokens_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        rest = &rest[open..];
        let inner: String = rest[1..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let closed = rest[1 + inner.len()..].starts_with(']');
        let shaped = inner.rsplit_once('_').is_some_and(|(entity, hex)| {
            !entity.is_empty()
                && hex.len() >= 6
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        });
        if closed && shaped {
            let t = format!("[{inner}]");
            if !out.contains(&t) {
                out.push(t);
            }
        }
        rest = &rest[1..];
    }
    out
}

/// Pseudonym-shaped text left in an answer: `[EMAIL_7F3A2C]` and the variants models
/// write (`EMAIL-7F3A2C`, `EMAIL 7F3A2C`, `FR-NIR-...`), for the entities the tests plant.
pub fn token_remnants(text: &str) -> Vec<String> {
    const ENTITIES: &[&str] = &["PERSON", "EMAIL", "PHONE", "IBAN", "CREDIT_CARD", "FR_NIR"];
    let mut out = Vec::new();
    for entity in ENTITIES {
        for sep in ["_", "-", " "] {
            let head = format!("{}{sep}", entity.replace('_', sep));
            let mut from = 0;
            while let Some(at) = text[from..].find(&head) {
                let start = from + at + head.len();
                let hex: String = text[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || ('A'..='F').contains(c))
                    .collect();
                if hex.len() >= 6 {
                    out.push(format!("{head}{hex}"));
                }
                from = start;
            }
        }
    }
    out
}
