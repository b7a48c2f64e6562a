//! The local search against a plain reference: every rule run on its own over the whole
//! text, as the regex crate runs it (the way patterns were searched before the
//! multi-pattern pass). Both must give the same candidates, in the same order.

use proptest::prelude::*;

use super::super::{Candidate, Detector, fold::Folded};
use super::*;

/// The reference: each rule's own regex over the whole text, no prefilter, no regions.
fn reference(
    patterns: &Patterns,
    regexes: &[Regex],
    text: &str,
    folded: &Folded,
    metas: &[RuleMeta],
) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (rule, regex) in patterns.rules.iter().zip(regexes) {
        if !regex.is_match(text) {
            continue;
        }
        if rule.context_required
            && !rule
                .context
                .as_ref()
                .is_some_and(|ac| ac.is_match(&folded.text))
        {
            continue;
        }
        let base = metas[rule.meta].score;
        let value = regex.capture_names().position(|n| n == Some("value"));
        match value {
            None if rule.validator.is_some() => {
                let mut at = 0;
                let mut inside_failed = 0;
                while at <= text.len() {
                    let Some(m) = regex.find_at(text, at) else {
                        break;
                    };
                    let retried = m.start() < inside_failed;
                    let ok = (!retried || printed_whole(m.as_str()))
                        && rule.push(text, folded, m.start(), m.end(), base, &mut out);
                    if ok {
                        at = m.end().max(m.start() + 1);
                    } else {
                        inside_failed = inside_failed.max(m.end());
                        at = next_group(text, m.start(), m.end())
                            .unwrap_or(m.end().max(m.start() + 1));
                    }
                    while at < text.len() && !text.is_char_boundary(at) {
                        at += 1;
                    }
                }
            }
            None => {
                for m in regex.find_iter(text) {
                    rule.push(text, folded, m.start(), m.end(), base, &mut out);
                }
            }
            Some(g) => {
                for caps in regex.captures_iter(text) {
                    if let Some(m) = caps.get(g).or_else(|| caps.get(0)) {
                        let _ = rule.push(text, folded, m.start(), m.end(), base, &mut out);
                    }
                }
            }
        }
    }
    out
}

fn key(c: &Candidate) -> (usize, usize, usize, u32) {
    (c.start, c.end, c.meta, c.score.to_bits())
}

fn assert_same(detector: &Detector, text: &str) {
    assert_same_with(detector, regexes(), text);
}

fn assert_same_with(detector: &Detector, regexes: &[Regex], text: &str) {
    let folded = Folded::new(text);
    let mut engine = Vec::new();
    detector
        .patterns
        .scan(text, &folded, &detector.metas, &mut engine);
    let expected = reference(&detector.patterns, regexes, text, &folded, &detector.metas);
    let engine: Vec<_> = engine.iter().map(key).collect();
    let expected: Vec<_> = expected.iter().map(key).collect();
    assert_eq!(
        engine,
        expected,
        "candidates differ on a text of {} bytes",
        text.len()
    );
}

fn detector() -> &'static Detector {
    static DETECTOR: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
    DETECTOR.get_or_init(Detector::builtin)
}

/// The reference compiles each pattern itself, through the regex crate.
fn regexes() -> &'static [Regex] {
    static REGEXES: std::sync::OnceLock<Vec<Regex>> = std::sync::OnceLock::new();
    REGEXES.get_or_init(|| {
        detector()
            .patterns
            .rules
            .iter()
            .map(|r| build_regex(&r.pattern).expect("a shipped pattern compiles"))
            .collect()
    })
}

const FIXTURES: [&str; 3] = [
    include_str!("../../../benches/fixtures/prompt_fr.txt"),
    include_str!("../../../benches/fixtures/prose.txt"),
    include_str!("../../../benches/fixtures/code.txt"),
];

#[test]
fn the_shipped_rules_leave_most_rules_to_the_local_search() {
    // Not a correctness property: a guard that the fast path is in use at all.
    let local = detector()
        .patterns
        .local
        .as_ref()
        .expect("the local rules compile together");
    assert!(local.rules.len() * 3 >= detector().patterns.rules.len());
}

#[test]
fn the_local_search_finds_what_each_rule_finds_alone_on_the_fixtures() {
    for text in FIXTURES {
        assert_same(detector(), text);
        // Every suffix start a few bytes apart: regions begin and end everywhere.
        for cut in (0..text.len())
            .step_by(97)
            .filter(|&c| text.is_char_boundary(c))
        {
            assert_same(detector(), &text[cut..]);
        }
    }
}

#[test]
fn the_local_search_agrees_on_dense_values_cut_at_every_byte() {
    // Dense values one after another, the case where leftmost-first hides the most.
    let dense = "0 4111 1111 1111 1111 06 12 34 56 78 +33 6 12 34 56 78 FR76 3000 6000 0112 3456 \
                 7890 189 1 2 75 108 042 73 1 85 01 23 456 789 012 3 rue de la Paix 75002 Paris \
                 123-45-6789 jean.dupont@example.fr 192.168.1.12 12/03/1985 né le 3 mars 1960";
    assert_same(detector(), dense);
    for cut in (0..dense.len()).filter(|&c| dense.is_char_boundary(c)) {
        assert_same(detector(), &dense[cut..]);
        assert_same(detector(), &dense[..cut]);
    }
}

/// Text made of the characters the rules look at, with many digits and separators.
fn text_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[0-9]{1,6}",
        3 => "[ .\\-/]{1,2}",
        2 => "[A-Za-z]{1,5}",
        1 => "[@+()éÉ:=\n\t,]",
        1 => Just("FR".to_owned()),
        1 => Just("rue ".to_owned()),
        1 => Just("né le ".to_owned()),
        1 => Just("+33 ".to_owned()),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_local_search_finds_what_each_rule_finds_alone_on_random_text(text in text_strategy()) {
        assert_same(detector(), &text);
    }

    #[test]
    fn the_local_search_agrees_on_random_cuts_of_the_fixtures(
        which in 0..FIXTURES.len(),
        start in 0usize..4000,
        len in 1usize..600,
    ) {
        assert_same(detector(), super::super::tests::cut(FIXTURES[which], start, len));
    }
}

#[test]
fn a_rule_the_lazy_dfa_cannot_search_leaves_every_local_rule_the_whole_text() {
    // A Unicode `\b` makes the overlapping search quit on the first non-ASCII byte.
    let toml = "[[rule]]\nid = \"t.word\"\nentity = \"CUSTOM\"\nnature = \"strategic\"\n\
                sensitivity = \"internal\"\npattern = '\\bZK[0-9]{4}\\b'\n\n\
                [[rule]]\nid = \"t.ascii\"\nentity = \"CUSTOM\"\nnature = \"strategic\"\n\
                sensitivity = \"internal\"\npattern = '(?-u:\\b)QX-[0-9]{3}(?-u:\\b)'\n";
    let set = crate::detect::RuleSet::from_toml("t.toml", toml).expect("parses");
    let detector = Detector::new(&set).expect("compiles");
    let local = detector
        .patterns
        .local
        .as_ref()
        .expect("both rules are local");
    assert_eq!(local.rules.len(), 2);
    let regexes: Vec<Regex> = detector
        .patterns
        .rules
        .iter()
        .map(|r| build_regex(&r.pattern).expect("compiles"))
        .collect();
    for text in [
        "réf. ZK1234 et QX-123, puis éZK1234 et ZK12345",
        "ZK1234 QX-123 ascii only",
        "QX-123 ZK9876 é",
    ] {
        assert_same_with(&detector, &regexes, text);
        let mut found = Vec::new();
        detector
            .patterns
            .scan(text, &Folded::new(text), &detector.metas, &mut found);
        assert!(found.len() >= 2, "{text}: {found:?}");
    }
}
