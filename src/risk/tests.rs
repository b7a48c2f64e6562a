use super::*;
use crate::api::Endpoint;
use crate::detect::Detector;
use crate::pipeline::{self, ValueAction};
use crate::walk::Walked;

/// The level of `text` when direct identifiers are pseudonymised and everything else
/// leaves in clear (a policy that allows quasi-identifiers), with the assessment.
fn assessed(detector: &Detector, text: &str) -> Assessment {
    let body = serde_json::json!({
        "model": "m",
        "messages": [{"role": "user", "content": text}],
    })
    .to_string();
    let walked = Walked::parse(body.as_bytes(), Endpoint::OpenaiChat.schema()).unwrap();
    let scanned = pipeline::scan(detector, &walked);
    let actions: Vec<ValueAction> = scanned
        .values()
        .iter()
        .map(|(entity, _)| {
            if is_person_reference(entity) {
                ValueAction::Pseudonymise
            } else {
                ValueAction::Allow
            }
        })
        .collect();
    scanned.risk(&actions)
}

#[test]
fn levels_of_french_and_english_texts_follow_the_kinds_around_each_person() {
    let detector = Detector::builtin();
    // (text, expected level, quasi kinds expected near a person)
    let table: &[(&str, Level, &[&str])] = &[
        (
            "Bonjour, pouvez-vous reformuler ce paragraphe ?",
            Level::None,
            &[],
        ),
        ("Il fait beau à Lyon en mars 2019.", Level::None, &[]),
        (
            "Merci de répondre à M. Jean Dupont avant lundi.",
            Level::None,
            &[],
        ),
        ("M. Jean Dupont habite à Lyon.", Level::Low, &["LOCATION"]),
        (
            "Mme Claire Martin, cheffe de projet à Bordeaux, demande un congé.",
            Level::Medium,
            &["JOB_TITLE", "LOCATION"],
        ),
        (
            "M. Jean Dupont, 34 ans, ingénieur chez Dupont Frères SARL à Lyon.",
            Level::High,
            &["AGE", "JOB_TITLE", "LOCATION", "ORGANIZATION"],
        ),
        (
            "Écrivez à jean.dupont@example.fr, comptable à Nantes.",
            Level::Medium,
            &["JOB_TITLE", "LOCATION"],
        ),
        (
            "Mr. John Smith lives in Manchester.",
            Level::Low,
            &["LOCATION"],
        ),
        (
            "Mr. John Smith, aged 52, is a nurse in Manchester.",
            Level::High,
            &["AGE", "JOB_TITLE", "LOCATION"],
        ),
        (
            "Dear Mr. John Smith, the project manager role is yours.",
            Level::Low,
            &["JOB_TITLE"],
        ),
        (
            "Call Mr. John Smith on +44 20 7946 0958 about the contract.",
            Level::None,
            &[],
        ),
        (
            "M. Jean Dupont, né le 12/03/1985, habite à Lyon.",
            Level::High,
            &["DATE_OF_BIRTH", "LOCATION"],
        ),
    ];
    let mut failures = Vec::new();
    for (text, level, kinds) in table {
        let a = assessed(&detector, text);
        let got: Vec<&str> = a.quasi.keys().map(String::as_str).collect();
        if a.level != *level || got != *kinds {
            failures.push(format!(
                "{text:?}: expected {} {kinds:?}, got {} {got:?}",
                level.as_str(),
                a.level.as_str()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn quasi_identifiers_far_from_any_person_do_not_count() {
    let detector = Detector::builtin();
    let filler = "Le reste de ce texte ne parle de personne en particulier. ".repeat(4);
    let text = format!("M. Jean Dupont a écrit. {filler}Le siège est à Lyon.");
    let a = assessed(&detector, &text);
    assert_eq!(a.persons, 1);
    assert_eq!(a.level, Level::None);
}

#[test]
fn pseudonymised_quasi_identifiers_do_not_count() {
    let detector = Detector::builtin();
    let body = serde_json::json!({
        "model": "m",
        "messages": [{"role": "user", "content": "M. Jean Dupont, comptable à Lyon."}],
    })
    .to_string();
    let walked = Walked::parse(body.as_bytes(), Endpoint::OpenaiChat.schema()).unwrap();
    let scanned = pipeline::scan(&detector, &walked);
    let all = vec![ValueAction::Pseudonymise; scanned.value_count()];
    let a = scanned.risk(&all);
    assert_eq!((a.level, a.persons), (Level::None, 1));
    assert!(a.quasi.is_empty());
}

#[test]
fn a_date_of_birth_with_a_place_is_high_on_its_own() {
    let kinds: BTreeSet<&str> = ["DATE_OF_BIRTH", "ADDRESS"].into_iter().collect();
    assert_eq!(level_of(&kinds), Level::High);
    let kinds: BTreeSet<&str> = ["DATE", "LOCATION"].into_iter().collect();
    assert_eq!(level_of(&kinds), Level::Medium);
}

#[test]
fn levels_parse_from_their_names() {
    for l in Level::ALL {
        assert_eq!(Level::parse(l.as_str()), Some(l));
    }
    assert_eq!(Level::parse("extreme"), None);
}
