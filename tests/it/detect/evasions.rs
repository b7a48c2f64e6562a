//! Values written so that a detector reading raw code points misses them while the
//! provider reads them plainly (issue 9, class 3): look-alike digits and signs, invisible
//! characters inside the value, typographic spaces and dashes as separators, a phone glued
//! to a word, internationalised e-mail addresses.
//!
//! Each marked span must come out as one finding of the entity with exactly that span in
//! the ORIGINAL text, so that what is replaced covers the whole value, the invisible
//! characters inside it included, and nothing is left of it.
//!
//! Every value is synthetic: the NIR, SIREN, SIRET and IBAN are the rule files' examples
//! (valid check digits), the cards are the networks' published test numbers.

use crate::support::{DETECTOR, describe, marked};

/// (what the evasion is, entity, text with the expected span marked)
const CASES: &[(&str, &str, &str)] = &[
    // Typographic spaces and dashes as separators.
    (
        "NIR grouped with narrow no-break spaces",
        "FR_NIR",
        "NIR : [[1\u{202F}85\u{202F}03\u{202F}75\u{202F}115\u{202F}022\u{202F}36]]",
    ),
    (
        "IBAN grouped with narrow no-break spaces",
        "IBAN",
        "IBAN : [[FR76\u{202F}3000\u{202F}6000\u{202F}0112\u{202F}3456\u{202F}7890\u{202F}189]]",
    ),
    (
        "IBAN grouped with thin spaces",
        "IBAN",
        "IBAN [[FR76\u{2009}3000\u{2009}6000\u{2009}0112\u{2009}3456\u{2009}7890\u{2009}189]].",
    ),
    (
        "IBAN grouped with dashes",
        "IBAN",
        "virement sur [[FR76-3000-6000-0112-3456-7890-189]] demain",
    ),
    (
        "IBAN grouped with en dashes",
        "IBAN",
        "[[FR76\u{2013}3000\u{2013}6000\u{2013}0112\u{2013}3456\u{2013}7890\u{2013}189]]",
    ),
    (
        "NIR grouped with dashes",
        "FR_NIR",
        "assuré [[1-85-03-75-115-022-36]] depuis 2010",
    ),
    (
        "NIR grouped with non-breaking hyphens",
        "FR_NIR",
        "[[1\u{2011}85\u{2011}03\u{2011}75\u{2011}115\u{2011}022\u{2011}36]]",
    ),
    (
        "card grouped with dots",
        "CREDIT_CARD",
        "carte [[4111.1111.1111.1111]] exp 12/27",
    ),
    (
        "Amex grouped with dots",
        "CREDIT_CARD",
        "carte [[3782.822463.10005]]",
    ),
    (
        "card grouped with figure spaces",
        "CREDIT_CARD",
        "[[5555\u{2007}5555\u{2007}5555\u{2007}4444]]",
    ),
    (
        "phone grouped with narrow no-break spaces",
        "PHONE",
        "appelez le [[06\u{202F}12\u{202F}34\u{202F}56\u{202F}78]]",
    ),
    (
        "phone grouped with en dashes",
        "PHONE",
        "appelez le [[06\u{2013}12\u{2013}34\u{2013}56\u{2013}78]]",
    ),
    (
        "SIRET grouped with dots",
        "FR_SIRET",
        "établissement [[732.829.320.00074]]",
    ),
    (
        "SIREN grouped with dashes",
        "FR_SIREN",
        "SIREN : [[732-829-320]]",
    ),
    // Invisible characters inside the value.
    (
        "zero-width spaces inside a card",
        "CREDIT_CARD",
        "carte [[4111\u{200B}1111\u{200B}1111\u{200B}1111]]",
    ),
    (
        "zero-width joiners inside a phone",
        "PHONE",
        "tél [[06\u{200D}12\u{200D}34\u{200D}56\u{200D}78]]",
    ),
    (
        "zero-width non-joiners inside a compact phone",
        "PHONE",
        "tél [[06\u{200C}12\u{200C}34\u{200C}56\u{200C}78]]",
    ),
    (
        "soft hyphens inside a NIR",
        "FR_NIR",
        "NIR [[1 85 03\u{AD} 75 115\u{AD} 022 36]]",
    ),
    (
        "word joiners inside an IBAN",
        "IBAN",
        "[[FR76 3000\u{2060} 6000 0112\u{2060} 3456 7890 189]]",
    ),
    (
        "a byte-order mark inside a card",
        "CREDIT_CARD",
        "[[4111 1111 \u{FEFF}1111 1111]]",
    ),
    (
        "a zero-width space inside an e-mail address",
        "EMAIL",
        "écrire à [[jean\u{200B}.dupont@example.fr]]",
    ),
    (
        "a soft hyphen and a word joiner inside an e-mail address",
        "EMAIL",
        "écrire à [[jean.du\u{AD}pont@exam\u{2060}ple.fr]]",
    ),
    (
        "a zero-width space inside an OpenAI key",
        "SECRET",
        "OPENAI_API_KEY=[[sk-proj-abcdefghij\u{200B}klmnopqrstuvwxyz0123456789ABCD]]",
    ),
    (
        "a zero-width non-joiner inside an Anthropic key",
        "SECRET",
        "[[sk-ant-api03-abcdefghij\u{200C}klmnopqrstuvwxyz0123456789-_ABCDEFG]]",
    ),
    (
        "a soft hyphen inside a GitHub token",
        "SECRET",
        "token [[ghp_1a2B3c4D5e6F7g8H9i\u{AD}0J1k2L3m4N5o6P7q8R]]",
    ),
    (
        "bidirectional marks inside a phone",
        "PHONE",
        "[[06 12\u{200E} 34\u{200F} 56 78]]",
    ),
    (
        "tag characters inside an IBAN",
        "IBAN",
        "[[FR76 3000 6000 0112\u{E0020} 3456 7890 189]]",
    ),
    (
        "variation selectors inside a card",
        "CREDIT_CARD",
        "[[4111\u{FE0F} 1111\u{FE0E} 1111 1111]]",
    ),
    (
        "a control character inside a card",
        "CREDIT_CARD",
        "[[4111\u{1}1111\u{7F}1111\u{9F}1111]]",
    ),
    (
        "strikethrough combining marks on the digits of a card",
        "CREDIT_CARD",
        "[[4\u{336}111 1111 1111 1111\u{336}]]",
    ),
    (
        "a combining grapheme joiner inside a NIR",
        "FR_NIR",
        "[[1 85 03 75\u{34F} 115 022 36]]",
    ),
    // Look-alike characters.
    (
        "fullwidth digits in a phone",
        "PHONE",
        "Tél : [[０６ １２ ３４ ５６ ７８]]",
    ),
    (
        "fullwidth digits in a card",
        "CREDIT_CARD",
        "[[４１１１ １１１１ １１１１ １１１１]]",
    ),
    (
        "fullwidth letters and digits in an IBAN",
        "IBAN",
        "[[ＦＲ７６ ３０００ ６０００ ０１１２ ３４５６ ７８９０ １８９]]",
    ),
    (
        "a fullwidth at sign and full stop in an e-mail address",
        "EMAIL",
        "[[jean.dupont＠example．fr]]",
    ),
    (
        "mathematical bold digits in a NIR",
        "FR_NIR",
        "NIR [[𝟏 𝟖𝟓 𝟎𝟑 𝟕𝟓 𝟏𝟏𝟓 𝟎𝟐𝟐 𝟑𝟔]]",
    ),
    (
        "Arabic-Indic digits in a card",
        "CREDIT_CARD",
        "[[٤١١١ ١١١١ ١١١١ ١١١١]]",
    ),
    (
        "Devanagari digits in a phone",
        "PHONE",
        "[[०६ १२ ३४ ५६ ७८]]",
    ),
    (
        "an accent written as a combining mark at the start of an e-mail address",
        "EMAIL",
        "[[e\u{301}lodie.dupont@example.fr]]",
    ),
    // A phone glued to a word.
    (
        "a phone glued after a word, international form",
        "PHONE",
        "Standard[[+33 4 72 00 00 00]]",
    ),
    (
        "a phone glued after a word, national form",
        "PHONE",
        "Mobile[[06 12 34 56 78]]",
    ),
    (
        "a compact phone glued after an accented word",
        "PHONE",
        "Tél[[0612345678]]",
    ),
    (
        "a phone after a colon without a space",
        "PHONE",
        "Tél:[[0612345678]]",
    ),
    (
        "a phone glued before a word",
        "PHONE",
        "appelez le [[06 12 34 56 78]]merci",
    ),
    (
        "a foreign phone glued after a word",
        "PHONE",
        "Standard[[+44 20 7946 0958]]",
    ),
    // Names: case and accent folding reads the view too.
    (
        "a name with its accents written as combining marks",
        "PERSON",
        "Bonjour, je suis Mme [[He\u{301}le\u{300}ne Fontaine]], merci.",
    ),
    (
        "a soft hyphen inside a surname",
        "PERSON",
        "Bonjour, je suis Mme [[Hélène Fon\u{AD}taine]], merci.",
    ),
    (
        "a first name in fullwidth capitals",
        "PERSON",
        "Bonjour, je suis Mme [[ＣＬＡＩＲＥ Fontaine]], merci.",
    ),
    (
        "a zero-width space inside an upper-case surname",
        "PERSON",
        "Le dossier de [[Jean DU\u{200B}PONT]] est incomplet.",
    ),
    // Internationalised e-mail addresses.
    (
        "an e-mail address with an accented domain",
        "EMAIL",
        "écrire à [[jean@exämple.fr]]",
    ),
    (
        "an e-mail address with an accented local part and domain",
        "EMAIL",
        "écrire à [[marie@société.fr]] ce soir",
    ),
    (
        "an e-mail address in Cyrillic with a Cyrillic top-level domain",
        "EMAIL",
        "почта: [[иван@пример.рф]].",
    ),
];

#[test]
fn every_evasion_is_found_with_its_original_span_covering_the_whole_value() {
    let mut misses = Vec::new();
    for (what, entity, example) in CASES {
        let (text, spans) = marked(example);
        assert_eq!(spans.len(), 1, "{what}: one marked span");
        let (s, e) = spans[0];
        let found = DETECTOR.scan(&text);
        let hit = found
            .iter()
            .any(|f| f.entity.as_str() == *entity && (f.start, f.end) == (s, e));
        if !hit {
            misses.push(format!(
                "{what}: {entity} {:?} in {text:?}; found:\n{}",
                &text[s..e],
                describe(&text, &found)
            ));
        }
    }
    assert!(
        misses.is_empty(),
        "{} of {} evasions missed:\n{}",
        misses.len(),
        CASES.len(),
        misses.join("\n")
    );
}

#[test]
fn invisible_characters_around_a_value_are_not_swallowed() {
    let text = "mail \u{FEFF}\u{200B}jean@example.fr\u{200B}\u{FEFF} fin";
    let found = DETECTOR.scan(text);
    let email: Vec<&str> = found
        .iter()
        .filter(|f| f.entity.as_str() == "EMAIL")
        .map(|f| &text[f.start..f.end])
        .collect();
    assert_eq!(email, ["jean@example.fr"], "\n{}", describe(text, &found));
}

#[test]
fn hashes_and_identifiers_glued_to_letters_are_not_phones() {
    for text in [
        "deadbeef0612345678",
        "sha 0a1b2c3d4e5f0612345678ab",
        "user_0612345678",
        "0612345678abcdef",
        "count+10000000",
        "lat 4.111111111111111",
        "version 4111.1111.1111",
    ] {
        let found = DETECTOR.scan(text);
        assert!(
            !found
                .iter()
                .any(|f| matches!(f.entity.as_str(), "PHONE" | "CREDIT_CARD")),
            "{text:?}:\n{}",
            describe(text, &found)
        );
    }
}
