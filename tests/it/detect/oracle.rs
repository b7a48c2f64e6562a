//! Identifiers generated and checked by oracles (python-stdnum, phonenumbers), with their
//! look-alikes (one digit changed, two adjacent digits swapped), in neutral or labelled
//! sentences: `oracle_identifiers.tsv`, written by `scripts/gen_identifier_oracle.py`.
//!
//! Valid values must be found, with their exact span, at least 98 % of the time for each
//! type; look-alikes may be reported under a checksum entity (the ones that say "this
//! number is checked": NIR, card, IBAN, SIREN, SIRET, VAT, RIB) at most 2 % of the time.
//! A labelled look-alike is still hidden, as an unchecked `ID_NUMBER`, and an IBAN
//! look-alike is hidden whole, never cut into a phone number with the rest left in clear.

use std::collections::BTreeMap;

use crate::support::{DETECTOR, describe, marked};

const FIXTURE: &str = include_str!("oracle_identifiers.tsv");

/// Entities that claim a check passed: a look-alike must never be one of them.
const CHECKED: &[&str] = &[
    "FR_NIR",
    "CREDIT_CARD",
    "IBAN",
    "FR_SIREN",
    "FR_SIRET",
    "FR_VAT",
    "FR_RIB",
];

struct Row {
    entity: &'static str,
    variant: &'static str,
    text: String,
    span: (usize, usize),
}

fn rows() -> Vec<Row> {
    FIXTURE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut cols = l.splitn(3, '\t');
            let (Some(entity), Some(variant), Some(sentence)) =
                (cols.next(), cols.next(), cols.next())
            else {
                panic!("fixture line without three columns: {l:?}");
            };
            let (text, spans) = marked(sentence);
            assert_eq!(spans.len(), 1, "one marked value per line: {l:?}");
            Row {
                entity,
                variant,
                text,
                span: spans[0],
            }
        })
        .collect()
}

#[test]
fn the_fixture_covers_every_identifier_type_with_valid_values_and_look_alikes() {
    let rows = rows();
    for entity in [
        "FR_NIR",
        "CREDIT_CARD",
        "IBAN",
        "FR_SIREN",
        "FR_SIRET",
        "FR_VAT",
    ] {
        let valid = rows
            .iter()
            .filter(|r| r.entity == entity && r.variant.starts_with("valid"))
            .count();
        let look = rows
            .iter()
            .filter(|r| r.entity == entity && r.variant.starts_with("lookalike"))
            .count();
        assert!(
            valid >= 25 && look >= 25,
            "{entity}: {valid} valid, {look} look-alikes"
        );
    }
}

#[test]
fn valid_generated_identifiers_are_found_with_their_span_at_least_98_percent_per_type() {
    let mut per_type: BTreeMap<&str, (usize, usize, Vec<String>)> = BTreeMap::new();
    for r in rows().iter().filter(|r| r.variant.starts_with("valid")) {
        let found = DETECTOR.scan(&r.text);
        let hit = found
            .iter()
            .any(|f| f.entity.as_str() == r.entity && (f.start, f.end) == r.span);
        let e = per_type.entry(r.entity).or_default();
        e.1 += 1;
        if hit {
            e.0 += 1;
        } else {
            e.2.push(format!("{:?}\n{}", r.text, describe(&r.text, &found)));
        }
    }
    let mut failures = Vec::new();
    for (entity, (hit, total, missed)) in &per_type {
        if *hit * 100 < *total * 98 {
            failures.push(format!(
                "{entity}: {hit}/{total} found; missed:\n{}",
                missed.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn look_alikes_are_reported_under_a_checksum_entity_at_most_2_percent_per_type() {
    let mut per_type: BTreeMap<&str, (usize, usize, Vec<String>)> = BTreeMap::new();
    for r in rows().iter().filter(|r| r.variant.starts_with("lookalike")) {
        let found = DETECTOR.scan(&r.text);
        let (s, e) = r.span;
        let claimed = found
            .iter()
            .any(|f| f.start < e && s < f.end && CHECKED.contains(&f.entity.as_str()));
        let t = per_type.entry(r.entity).or_default();
        t.1 += 1;
        if claimed {
            t.0 += 1;
            t.2.push(format!("{:?}\n{}", r.text, describe(&r.text, &found)));
        }
    }
    let mut failures = Vec::new();
    for (entity, (bad, total, shown)) in &per_type {
        if *bad * 100 > *total * 2 {
            failures.push(format!(
                "{entity}: {bad}/{total} look-alikes under a checksum entity:\n{}",
                shown.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn labelled_look_alikes_are_still_hidden_whole_as_unchecked_identifiers() {
    let mut missed = Vec::new();
    let mut total = 0;
    for r in rows().iter().filter(|r| {
        r.variant == "lookalike-context" || r.entity == "IBAN" && r.variant == "lookalike"
    }) {
        total += 1;
        let found = DETECTOR.scan(&r.text);
        let whole = found
            .iter()
            .any(|f| f.entity.as_str() == "ID_NUMBER" && f.start <= r.span.0 && r.span.1 <= f.end);
        if !whole {
            missed.push(format!("{:?}\n{}", r.text, describe(&r.text, &found)));
        }
    }
    assert!(total > 80, "only {total} labelled look-alikes");
    assert!(
        missed.len() * 100 <= total * 2,
        "{}/{} labelled look-alikes not hidden whole as ID_NUMBER:\n{}",
        missed.len(),
        total,
        missed.join("\n")
    );
}

#[test]
fn an_iban_look_alike_never_holds_a_phone_number_or_any_other_finding_inside_it() {
    for r in rows()
        .iter()
        .filter(|r| r.entity == "IBAN" && r.variant.starts_with("lookalike"))
    {
        let found = DETECTOR.scan(&r.text);
        let (s, e) = r.span;
        let inside: Vec<_> = found
            .iter()
            .filter(|f| f.start < e && s < f.end && (f.start > s || f.end < e))
            .collect();
        assert!(
            inside.is_empty(),
            "{:?}\n{}",
            r.text,
            describe(&r.text, &found)
        );
    }
}

#[test]
fn through_the_binary_a_mistyped_nir_is_pseudonymised_for_a_us_provider_while_a_valid_one_is_blocked()
 {
    use crate::support::paravent;
    // The shipped configuration: openai may receive up to `confidential`.
    let scan = |text: &str| {
        let run = paravent(
            &["scan", "--explain", "--provider", "openai"],
            text.as_bytes(),
        );
        run.assert_code(0);
        run.stdout
    };
    let mistyped = scan(
        "N° de sécurité sociale : 1 85 03 75 115 022 46, IBAN FR76 3000 6000 0112 3456 7890 180",
    );
    assert!(
        mistyped.contains("verdict: forwarded to openai"),
        "{mistyped}"
    );
    assert_eq!(
        mistyped
            .matches("ID_NUMBER personal/confidential -> pseudonymise")
            .count(),
        2,
        "{mistyped}"
    );
    // The text as it would leave (the table below it shows the values, for the user).
    let sent = mistyped.split("\n\n").next().unwrap_or_default();
    assert!(
        sent.starts_with("N° de sécurité sociale : [ID_NUMBER_")
            && !sent.contains("115 022")
            && !sent.contains("7890"),
        "the values leave pseudonymised whole: {sent}"
    );
    let valid = scan("N° de sécurité sociale : 1 85 03 75 115 022 36");
    assert!(
        valid.contains("verdict: blocked (rule provider.openai.max_sensitivity)"),
        "{valid}"
    );
}
