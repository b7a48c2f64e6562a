//! Properties of every scan: it never panics, whatever the text; its findings are sorted,
//! do not overlap, lie within the text on character boundaries; it is deterministic
//! (twice the same text, two detectors, several threads: one answer); and invisible
//! characters sprinkled into a text change nothing but the findings' offsets, which then
//! cover the invisible characters inside each value.

use std::sync::LazyLock;

use paravent::detect::{Detector, Finding};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::support::DETECTOR;

/// A second detector compiled from the same rules, to show that compiling is
/// deterministic too.
static OTHER: LazyLock<Detector> = LazyLock::new(Detector::builtin);

/// Pieces of realistic prompts, so that random texts do produce findings (and
/// overlapping candidates) rather than only noise.
const FRAGMENTS: &[&str] = &[
    "Bonjour ",
    "Claire",
    " Fontaine",
    "M. ",
    "Mme ",
    "DUPONT",
    "Jean",
    ",\n",
    "Cordialement,\n",
    "jean.dupont@example.fr",
    "élodie",
    "@",
    "06 12 34 56 78",
    "+33 (0)6 ",
    "0612345678",
    "2 91 07 69 123 456 20",
    "2A",
    "404 833 048",
    " 00022",
    "SIREN ",
    "NIR ",
    "FR86 2004 1010 0505 1234 5678 K20",
    "4012 8888 8888 1881",
    "27 rue des Acacias",
    ", 33000 Bordeaux",
    "née le 14/02/1987",
    "sk-proj-Q9w8E7r6T5y4U3i2O1p0AsDfGhJkLzXcVbNm",
    "-----BEGIN PRIVATE KEY-----\n",
    "-----END PRIVATE KEY-----",
    "password=",
    "https://",
    "example.com/a?b=c",
    "192.168.1.20",
    "::",
    "std::fs::File",
    "1.12.0",
    "550e8400-e29b-41d4-a716-446655440000",
    "Paris",
    "Lyon",
    "Acme Holdings",
    "é",
    "É",
    "ß",
    "😀",
    "\u{a0}",
    "\u{202f}",
    "\u{301}",
    "\r\n",
    "\t",
    " ",
    ".",
    "-",
    "'",
    "’",
];

/// Texts made of realistic fragments, random characters and digit runs.
fn prompt_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
        2 => any::<char>().prop_map(String::from),
        1 => "[0-9 .+()/-]{1,16}",
        1 => "[A-Za-zÀ-ÿ]{1,12}",
    ];
    prop::collection::vec(piece, 0..40).prop_map(|parts| parts.concat())
}

/// Arbitrary Unicode, control characters included.
fn any_unicode() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..300).prop_map(String::from_iter)
}

fn well_formed(text: &str, findings: &[Finding]) -> Result<(), TestCaseError> {
    for f in findings {
        prop_assert!(f.start < f.end, "empty finding {f:?}");
        prop_assert!(f.end <= text.len(), "finding beyond the text {f:?}");
        prop_assert!(
            text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
            "finding off a character boundary {f:?}"
        );
        prop_assert!((0.0..=1.0).contains(&f.score), "score out of range {f:?}");
    }
    for w in findings.windows(2) {
        prop_assert!(
            w[0].end <= w[1].start,
            "findings unsorted or overlapping: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    // The plain-mode renderings slice the text by the findings: they must not panic.
    let _ = paravent::scan::placeholder_text(text, findings);
    let _ = paravent::scan::findings_table(text, findings);
    Ok(())
}

/// Characters a reader does not see and the provider ignores: format characters, other
/// default-ignorable code points, control characters.
const INVISIBLES: &[char] = &[
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{2060}',
    '\u{AD}',
    '\u{FEFF}',
    '\u{180E}',
    '\u{200E}',
    '\u{200F}',
    '\u{202A}',
    '\u{202C}',
    '\u{2066}',
    '\u{2069}',
    '\u{2061}',
    '\u{34F}',
    '\u{FE0F}',
    '\u{3164}',
    '\u{E0041}',
    '\u{1}',
    '\u{7F}',
    '\u{9F}',
];

/// `text` with invisible characters inserted before the characters at the given
/// positions (indices into its characters, any number of times each), and for each
/// original byte offset, the offset of the same character in the result (one past the
/// end included). No character goes before a combining mark: it would stop the mark
/// from composing with its base, which changes what the provider reads.
fn sprinkle(text: &str, at: &[(usize, char)]) -> (String, Vec<usize>) {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len() + 4 * at.len());
    let mut map = vec![0; text.len() + 1];
    for (n, &(offset, c)) in chars.iter().chain(&[(text.len(), '\0')]).enumerate() {
        let starter = unicode_normalization::char::canonical_combining_class(c) == 0;
        if starter {
            for &(_, invisible) in at.iter().filter(|(i, _)| i % (chars.len() + 1) == n) {
                out.push(invisible);
            }
        }
        map[offset] = out.len();
        if offset < text.len() {
            out.push(c);
        }
    }
    (out, map)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn invisible_characters_inside_a_text_change_only_the_offsets_of_its_findings(
        text in prompt_like(),
        at in prop::collection::vec((any::<usize>(), prop::sample::select(INVISIBLES)), 1..24),
    ) {
        let (dirty, map) = sprinkle(&text, &at);
        let clean_found = DETECTOR.scan(&text);
        let dirty_found = DETECTOR.scan(&dirty);
        well_formed(&dirty, &dirty_found)?;
        // A finding starts where its first character went and ends right after its
        // last one: the invisible characters inside are covered, those around are not.
        let end_of = |end: usize| {
            let last = text[..end].char_indices().next_back().map_or(0, |(i, _)| i);
            map[last] + text[last..end].len()
        };
        let expected: Vec<(usize, usize, &str, &str)> = clean_found
            .iter()
            .map(|f| (map[f.start], end_of(f.end), f.entity.as_str(), &*f.rule))
            .collect();
        let got: Vec<(usize, usize, &str, &str)> = dirty_found
            .iter()
            .map(|f| (f.start, f.end, f.entity.as_str(), &*f.rule))
            .collect();
        prop_assert_eq!(got, expected, "clean {:?}, dirty {:?}", text, dirty);
    }

    #[test]
    fn scanning_arbitrary_unicode_never_panics_and_gives_well_formed_findings(
        text in any_unicode()
    ) {
        let findings = DETECTOR.scan(&text);
        well_formed(&text, &findings)?;
    }

    #[test]
    fn scanning_prompt_like_text_gives_well_formed_findings(text in prompt_like()) {
        let findings = DETECTOR.scan(&text);
        well_formed(&text, &findings)?;
    }

    #[test]
    fn scanning_is_deterministic(text in prompt_like()) {
        let first = DETECTOR.scan(&text);
        prop_assert_eq!(&first, &DETECTOR.scan(&text));
        prop_assert_eq!(&first, &OTHER.scan(&text));
    }
}

#[test]
fn scanning_from_several_threads_gives_the_same_findings() {
    let texts: Vec<String> = (0..32)
        .map(|i| {
            format!(
                "Bonjour Claire,\nticket {i}: écrire à jean.dupont@example.fr ou au \
                 06 12 34 56 {i:02}, NIR 2 91 07 69 123 456 20.\nCordialement,\nJean Dupont"
            )
        })
        .collect();
    let expected: Vec<Vec<Finding>> = texts.iter().map(|t| DETECTOR.scan(t)).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| texts.iter().map(|t| DETECTOR.scan(t)).collect::<Vec<_>>()))
            .collect();
        for h in handles {
            assert_eq!(h.join().expect("no panic"), expected);
        }
    });
}

/// The properties above mean something only if the generated texts produce findings,
/// overlapping candidates included.
#[test]
fn prompt_like_texts_do_produce_findings() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = prompt_like();
    let (mut with_findings, mut with_several) = (0, 0);
    for _ in 0..100 {
        let text = strategy.new_tree(&mut runner).expect("a value").current();
        let n = DETECTOR.scan(&text).len();
        with_findings += usize::from(n > 0);
        with_several += usize::from(n >= 3);
    }
    assert!(
        with_findings >= 60,
        "{with_findings} of 100 texts had findings"
    );
    assert!(
        with_several >= 20,
        "{with_several} of 100 texts had 3+ findings"
    );
}
