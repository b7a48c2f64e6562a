//! Streamed equals batch, however the text is split (STYLE.md habits 13 and 15).

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::config::TokenStyle;
use crate::vault::{TokenKey, Vault};

const VALUES: &[(&str, &str)] = &[
    ("PERSON", "Jean Dupont"),
    ("EMAIL", "jean.dupont@example.fr"),
    ("PHONE", "06 12 34 56 78"),
    ("PERSON", "Marie \"Mimi\" Curie"),
];

fn reidentifier(style: TokenStyle) -> (Arc<Reidentifier>, Vec<String>) {
    let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
    let mut v = Vault::new(&key, None, style, 100);
    let pseudonyms = VALUES
        .iter()
        .map(|(e, val)| v.pseudonym(e, val).unwrap().to_owned())
        .collect();
    (Arc::new(Reidentifier::new(&v)), pseudonyms)
}

fn streamed(reid: &Arc<Reidentifier>, json: bool, parts: &[&str]) -> String {
    let mut s = if json {
        StreamReidentifier::new_json(reid.clone())
    } else {
        StreamReidentifier::new(reid.clone())
    };
    let mut out = String::new();
    for p in parts {
        out += &s.push(p);
        assert!(s.held() <= MAX_TOKEN_CARRY_BYTES + 2 * reid.max_pattern_len() + 8);
    }
    out += &s.finish();
    assert_eq!(s.held(), 0);
    out
}

fn batch(reid: &Reidentifier, json: bool, text: &str) -> String {
    if json {
        reid.reidentify_json_text(text).0.into_owned()
    } else {
        reid.reidentify(text).0.into_owned()
    }
}

/// Every split into two, and one character per fragment.
fn check_every_split(reid: &Arc<Reidentifier>, json: bool, text: &str) {
    let want = batch(reid, json, text);
    assert_eq!(streamed(reid, json, &[text]), want);
    for (i, _) in text.char_indices().chain([(text.len(), ' ')]) {
        assert_eq!(
            streamed(reid, json, &[&text[..i], &text[i..]]),
            want,
            "split at {i} of {text:?}"
        );
    }
    let chars: Vec<String> = text.chars().map(String::from).collect();
    let chars: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(streamed(reid, json, &chars), want, "1-char fragments");
}

#[test]
fn a_token_split_at_every_position_comes_back_whole() {
    for style in [TokenStyle::Token, TokenStyle::Surrogate] {
        let (reid, p) = reidentifier(style);
        let cases = [
            format!("Bonjour {}, merci.", p[0]),
            format!("{} et {}", p[0], p[1]),
            format!("{}{}", p[1], p[2]),
            format!("à la fin: {}", p[2]),
            p[0].clone(),
            format!("d'{} ({})", p[0].to_lowercase(), p[1]),
            format!("[[{}]]", p[0].trim_matches(['[', ']'])),
            format!("x{} é{}é _{}", p[0], p[1], p[2]),
            format!("{}{}", "A".repeat(80), p[0]),
            format!("{} {}", "A_".repeat(60), p[1]),
            "[PERSON_000000] [ ] _ [[".to_owned(),
            format!("{} et {}.", dashed(&p[0]), spaced(&p[1]).to_lowercase()),
            format!("[{}] {}-", spaced(&p[0]), spaced(&p[2])),
            format!("PERSON {} PERSON 7 {}", "A ".repeat(40), dashed(&p[0])),
            format!("{}x {}_ {}", spaced(&p[0]), dashed(&p[0]), spaced(&p[0])),
            format!(
                "a\\n{}\\t{} \\\\n{}",
                dashed(&p[0]),
                spaced(&p[1]),
                dashed(&p[2])
            ),
        ];
        for text in &cases {
            check_every_split(&reid, false, text);
            let json = format!("{{\"to\": \"{}\"}}", text.replace('"', "\\\""));
            check_every_split(&reid, true, &json);
        }
    }
}

/// A token as a model may rewrite it: brackets dropped, `-` for `_`.
fn dashed(token: &str) -> String {
    token.trim_matches(['[', ']']).replace('_', "-")
}

/// A token with a space for `_`.
fn spaced(token: &str) -> String {
    token.trim_matches(['[', ']']).replace('_', " ")
}

#[test]
fn json_text_gets_originals_escaped() {
    let (reid, p) = reidentifier(TokenStyle::Token);
    let args = format!("{{\"name\":\"{}\"}}", p[3]);
    let out = streamed(&reid, true, &[&args[..12], &args[12..]]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["name"], "Marie \"Mimi\" Curie");
}

#[test]
fn what_is_held_back_is_released_as_soon_as_it_cannot_be_a_token() {
    let (reid, p) = reidentifier(TokenStyle::Token);
    let mut s = StreamReidentifier::new(reid);
    assert_eq!(s.push("Bonjour "), "Bonjour ");
    assert_eq!(s.push(&p[0][..4]), "");
    // The closing bracket decides it.
    assert_eq!(s.push(&p[0][4..]), "Jean Dupont");
    let core = p[0].trim_matches(['[', ']']);
    assert_eq!(s.push(core), "");
    assert_eq!(s.push(", "), "Jean Dupont, ");
    // A word that is no token's start is not held back; one that may be is.
    assert_eq!(s.push("fin"), "fin");
    assert_eq!(s.push(" pers"), " ");
    assert_eq!(s.push("on"), "");
    assert_eq!(s.push("nel "), "personnel ");
    assert_eq!(s.push("PERS"), "");
    assert_eq!(s.finish(), "PERS");
    // A token rewritten with spaces is held word by word while it may still be one.
    let spaced = spaced(&p[0]);
    let (entity, hex) = spaced.split_once(' ').unwrap();
    assert_eq!(s.push("Merci "), "Merci ");
    assert_eq!(s.push(entity), "");
    assert_eq!(s.push(" "), "");
    assert_eq!(s.push(hex), "");
    assert_eq!(s.push(" !"), "Jean Dupont !");
    assert_eq!(s.push(&format!("{entity} 7 ")), format!("{entity} 7 "));
}

fn piece(p: Vec<String>) -> impl Strategy<Value = String> {
    let mut pieces: Vec<String> = vec![
        "Bonjour ".into(),
        " ".into(),
        "é".into(),
        "[".into(),
        "]".into(),
        "_".into(),
        "x".into(),
        "9".into(),
        "PERSON_".into(),
        "[PERSON_000000]".into(),
        "d'".into(),
        "\\n".into(),
        "\\".into(),
        ", ".into(),
        "\"".into(),
        "Jean".into(),
    ];
    for t in p {
        let core = t.trim_matches(['[', ']']).to_owned();
        pieces.push(t.to_lowercase());
        pieces.push(format!("[{core}"));
        pieces.push(format!("{core}]"));
        // The variants models write: a dash or a space for the underscore, and the
        // pieces of one (the entity and its separator, the hex part alone).
        pieces.push(core.replace('_', "-"));
        pieces.push(format!("[{}]", core.replace('_', " ")));
        pieces.push(core.to_lowercase().replace('_', " "));
        if let Some((entity, hex)) = core.rsplit_once('_') {
            pieces.push(format!("{entity}-"));
            pieces.push(format!("{entity} "));
            pieces.push(hex.to_owned());
        }
        pieces.push(core);
        pieces.push(t);
    }
    proptest::sample::select(pieces)
}

fn text_and_cuts(style: TokenStyle) -> impl Strategy<Value = (String, Vec<usize>)> {
    let (_, p) = reidentifier(style);
    (
        proptest::collection::vec(piece(p), 0..16).prop_map(|v| v.concat()),
        proptest::collection::vec(0usize..400, 0..10),
    )
}

fn check_cuts(reid: &Arc<Reidentifier>, json: bool, text: &str, cuts: Vec<usize>) {
    let mut cuts: Vec<usize> = cuts
        .into_iter()
        .map(|c| floor_char_boundary(text, c.min(text.len())))
        .collect();
    cuts.sort_unstable();
    let mut parts = Vec::new();
    let mut prev = 0;
    for c in cuts {
        parts.push(&text[prev..c]);
        prev = c;
    }
    parts.push(&text[prev..]);
    assert_eq!(
        streamed(reid, json, &parts),
        batch(reid, json, text),
        "{parts:?}"
    );
}

proptest! {
    #[test]
    fn streamed_equals_batch_for_tokens((text, cuts) in text_and_cuts(TokenStyle::Token)) {
        let (reid, _) = reidentifier(TokenStyle::Token);
        check_cuts(&reid, false, &text, cuts.clone());
        check_cuts(&reid, true, &text, cuts);
    }

    #[test]
    fn streamed_equals_batch_for_surrogates((text, cuts) in text_and_cuts(TokenStyle::Surrogate)) {
        let (reid, _) = reidentifier(TokenStyle::Surrogate);
        check_cuts(&reid, false, &text, cuts.clone());
        check_cuts(&reid, true, &text, cuts);
    }
}
