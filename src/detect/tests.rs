//! Unit tests of rule loading and compiling; the shipped rules' own examples and the
//! end-to-end behaviour are tested in `tests/it/`.

use super::rules::{self, RuleSet};
use super::*;

fn compile(toml: &str) -> Result<Detector, RuleErrors> {
    let set = RuleSet::from_toml("test.toml", toml)?;
    Detector::new(&set)
}

fn errors(toml: &str) -> Vec<String> {
    match compile(toml) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

const RULE_HEAD: &str = "[[rule]]\nid = \"t.x\"\nentity = \"CUSTOM\"\nnature = \"strategic\"\nsensitivity = \"internal\"\n";

#[test]
fn every_listed_rule_key_is_a_field_and_others_are_not() {
    for key in rules::RULE_KEYS_FOR_TESTS {
        let text = format!("[[rule]]\n{key} = 1\n");
        let message = match toml::from_str::<toml::Table>(&text) {
            Ok(_) => RuleSet::from_toml("t.toml", &text)
                .err()
                .map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        }
        .unwrap_or_default();
        assert!(!message.contains("unknown"), "{key}: {message}");
    }
    let e = RuleSet::from_toml("t.toml", "[[rule]]\npattrn = 1\n").unwrap_err();
    assert!(e.to_string().contains("unknown"), "{e}");
}

#[test]
fn every_listed_person_key_is_a_field() {
    for key in rules::PERSON_KEYS_FOR_TESTS {
        let text = format!("[person]\n{key} = 1\n");
        let message = RuleSet::from_toml("t.toml", &text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!message.contains("unknown"), "{key}: {message}");
    }
}

#[test]
fn a_bad_regex_is_reported_with_its_line() {
    let errs = errors(&format!("{RULE_HEAD}pattern = '''a(b'''\n"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("test.toml:6: rule t.x: invalid pattern"),
        "{errs:?}"
    );
}

#[test]
fn an_unknown_validator_is_reported_with_its_line_and_the_known_names() {
    let errs = errors(&format!(
        "{RULE_HEAD}pattern = 'x'\nvalidator = \"luhnn\"\n"
    ));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("test.toml:7:"), "{errs:?}");
    assert!(errs[0].contains("luhn, "), "{errs:?}");
}

#[test]
fn a_rule_needs_exactly_one_of_pattern_or_terms() {
    let none = errors(RULE_HEAD);
    assert!(none[0].contains("needs a pattern"), "{none:?}");
    let both = errors(&format!("{RULE_HEAD}pattern = 'x'\nterms = [\"y\"]\n"));
    assert!(both[0].contains("not both"), "{both:?}");
}

#[test]
fn duplicate_rule_ids_are_refused() {
    let errs = errors(&format!(
        "{RULE_HEAD}pattern = 'x'\n{RULE_HEAD}pattern = 'y'\n"
    ));
    assert!(errs.iter().any(|e| e.contains("already used")), "{errs:?}");
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let text = format!(
        "{RULE_HEAD}pattrn = 'x'\npattern = 'x'\n\
         [[rule]]\nid = \"t.y\"\nentity = \"CUSTOM\"\nnature = \"strategic\"\n\
         sensitivity = \"internal\"\npattern = '''(('''\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("test.toml:6: unknown key `pattrn`"),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("test.toml:13: rule t.y: invalid pattern"),
        "{errs:?}"
    );
}

#[test]
fn a_value_group_narrows_the_finding_and_context_can_be_required() {
    let d = compile(&format!(
        "{RULE_HEAD}pattern = '''ref:(?P<value>[0-9]{{4}})'''\ncontext = [\"dossier\"]\ncontext_required = true\n"
    ))
    .unwrap();
    let found = d.scan("dossier ref:1234");
    assert_eq!((found[0].start, found[0].end), (12, 16));
    assert!(d.scan("ref:1234").is_empty());
}

#[test]
fn a_validator_drops_invalid_candidates_unless_context_allows_them() {
    let rule = format!(
        "{RULE_HEAD}pattern = '''[0-9]{{16}}'''\nvalidator = \"luhn\"\ncontext = [\"carte\"]\ninvalid_with_context = true\n"
    );
    let d = compile(&rule).unwrap();
    assert_eq!(d.scan("4111111111111111").len(), 1);
    assert!(d.scan("4111111111111112").is_empty());
    let found = d.scan("carte 4111111111111112");
    assert_eq!(found.len(), 1);
    assert!(
        found[0].score < 0.9,
        "a labelled but invalid value scores lower"
    );
}

#[test]
fn dictionary_terms_match_any_case_and_accents_on_word_boundaries() {
    let d = compile(&format!(
        "{RULE_HEAD}terms = [\"Projet Hélios\", \"Acme\", \"Acme Holding\"]\n"
    ))
    .unwrap();
    let spans =
        |t: &str| -> Vec<(usize, usize)> { d.scan(t).iter().map(|f| (f.start, f.end)).collect() };
    assert_eq!(spans("le PROJET HELIOS avance"), [(3, 16)]);
    assert_eq!(spans("chez Acmeology"), []);
    assert_eq!(spans("Acme Holding SA"), [(0, 12)]);
    assert_eq!(spans("d'acme holdings"), [(2, 6)]);
}

#[test]
fn dictionary_rows_from_csv_carry_their_own_entity_and_sensitivity() {
    let dir = std::env::temp_dir().join(format!("paravent-unit-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("clients.csv"),
        "term,entity,sensitivity\nAcme,CLIENT,secret\n# a comment\nGlobex,,\n",
    )
    .unwrap();
    let rules_path = dir.join("company.toml");
    std::fs::write(&rules_path, format!("{RULE_HEAD}csv = \"clients.csv\"\n")).unwrap();
    let set = RuleSet::load(false, std::slice::from_ref(&rules_path)).unwrap();
    let d = Detector::new(&set).unwrap();
    let found = d.scan("Acme et Globex");
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found[0].entity.as_str(), "CLIENT");
    assert_eq!(found[0].sensitivity, Sensitivity::Secret);
    assert_eq!(found[1].entity.as_str(), "CUSTOM");
    assert_eq!(found[1].sensitivity, Sensitivity::Internal);
}

#[test]
fn the_shipped_rules_compile_and_cover_every_listed_entity_kind() {
    let d = Detector::builtin();
    assert!(d.rule_count() > 50);
    let ids: Vec<&str> = d.rule_ids().collect();
    for prefix in ["core.", "fr.", "en.", "quasi.", "person."] {
        assert!(ids.iter().any(|i| i.starts_with(prefix)), "{prefix}");
    }
}

#[test]
fn findings_carry_rule_nature_and_sensitivity() {
    let d = Detector::builtin();
    let found = d.scan("NIR : 1 85 03 75 115 022 36");
    assert_eq!(found.len(), 1);
    let f = &found[0];
    assert_eq!(f.entity.as_str(), "FR_NIR");
    assert_eq!(f.nature, Nature::Personal);
    assert_eq!(f.sensitivity, Sensitivity::Secret);
    assert_eq!(&*f.rule, "fr.nir");
}

#[test]
fn a_name_found_once_is_found_where_its_surname_recurs() {
    let d = Detector::builtin();
    let text = "M. Jean Lacombe est arrivé. Lacombe repart demain.";
    let persons: Vec<&str> = d
        .scan(text)
        .iter()
        .filter(|f| f.entity.as_str() == "PERSON")
        .map(|f| &text[f.start..f.end])
        .collect();
    assert_eq!(persons, ["Jean Lacombe", "Lacombe"]);
}

#[test]
fn an_example_with_an_unclosed_marker_is_a_failure_of_the_check() {
    let set = RuleSet::from_toml(
        "test.toml",
        &format!("{RULE_HEAD}pattern = 'x'\nexamples = [\"a [[x\"]\n"),
    )
    .unwrap();
    let d = Detector::new(&set).unwrap();
    let failures = rules::check_examples(&set, &d);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].message.contains("without `]]`"), "{failures:?}");
}

#[test]
fn a_dictionary_rule_with_context_keeps_a_term_only_near_a_whole_context_word() {
    let d = compile(&format!(
        "{RULE_HEAD}terms = [\"arrêt maladie\"]\ncontext = [\"il est\", \"son\"]\ncontext_window = 20\n"
    ))
    .unwrap();
    let count = |t: &str| d.scan(t).len();
    assert_eq!(count("Il est en arrêt maladie."), 1, "before");
    assert_eq!(count("L'arrêt maladie de son fils."), 1, "after");
    assert_eq!(count("La politique d'arrêt maladie."), 0, "no context word");
    // `son` inside `saison` is no word; `il est` too far away is no context.
    assert_eq!(count("En saison, arrêt maladie."), 0);
    assert_eq!(
        count("Il est clair que la politique d'arrêt maladie change."),
        0
    );
    // A term glued to an identifier is code.
    assert_eq!(count("son arrêt_maladie"), 0);
}

#[test]
fn a_dictionary_rule_reads_its_context_words_from_a_file_beside_it() {
    let dir = std::env::temp_dir().join(format!("paravent-unit-ctx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("people.txt"), "# people\nsalarié\n").unwrap();
    let rules_path = dir.join("hr.toml");
    std::fs::write(
        &rules_path,
        format!("{RULE_HEAD}terms = [\"mutation\"]\ncontext_file = \"people.txt\"\n"),
    )
    .unwrap();
    let set = RuleSet::load(false, std::slice::from_ref(&rules_path)).unwrap();
    let d = Detector::new(&set).unwrap();
    let read = set.files_read();
    let with = d.scan("la mutation du salarié").len();
    let without = d.scan("la mutation du gène").len();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!((with, without), (1, 0));
    assert!(read.iter().any(|p| p.ends_with("people.txt")), "{read:?}");
}

#[test]
fn context_person_is_for_dictionary_rules_with_context_words() {
    let on_pattern = errors(&format!(
        "{RULE_HEAD}pattern = 'x'\ncontext = [\"a\"]\ncontext_person = true\n"
    ));
    assert!(
        on_pattern
            .iter()
            .any(|e| e.contains("for dictionary rules")),
        "{on_pattern:?}"
    );
    let no_words = errors(&format!(
        "{RULE_HEAD}terms = [\"xyz\"]\ncontext_person = true\n"
    ));
    assert!(
        no_words.iter().any(|e| e.contains("need context words")),
        "{no_words:?}"
    );
    let missing = errors(&format!(
        "{RULE_HEAD}terms = [\"xyz\"]\ncontext_file = \"nowhere.txt\"\n"
    ));
    assert!(
        missing.iter().any(|e| e.contains("nowhere.txt")),
        "{missing:?}"
    );
}

#[test]
fn a_special_category_term_is_kept_near_a_persons_name_and_the_name_stays_a_person() {
    let d = Detector::builtin();
    let text = "Bonjour, Julien Morel est en arrêt maladie depuis lundi.";
    let found = d.scan(text);
    let got: Vec<(&str, &str, Nature)> = found
        .iter()
        .map(|f| (f.entity.as_str(), &text[f.start..f.end], f.nature))
        .collect();
    assert!(
        got.contains(&("PERSON", "Julien Morel", Nature::Personal)),
        "{got:?}"
    );
    assert!(
        got.contains(&("HEALTH", "arrêt maladie", Nature::SpecialCategory)),
        "{got:?}"
    );
    // Without the name (or a word for a person), the same words are about no one.
    let topic = "La durée moyenne d'un arrêt maladie a augmenté.";
    assert!(
        d.scan(topic).iter().all(|f| f.entity.as_str() != "HEALTH"),
        "{:?}",
        d.scan(topic)
    );
}

#[test]
fn a_context_term_runs_on_over_an_overlapping_term_of_the_same_entity() {
    let d = compile(&format!(
        "{RULE_HEAD}terms = [\"chez le médecin\", \"médecin du travail\"]\ncontext = [\"elle\"]\n"
    ))
    .unwrap();
    let text = "Elle est chez le médecin du travail.";
    let found = d.scan(text);
    let spans: Vec<&str> = found.iter().map(|f| &text[f.start..f.end]).collect();
    assert_eq!(spans, ["chez le médecin du travail"]);
}

/// Detectors reuse the compiled regexes and dictionary table of the last build
/// (a reload that keeps them): a changed pattern or term list must never find what the
/// previous rules found.
#[test]
fn a_rebuilt_detector_finds_what_its_own_rules_say_not_the_previous_ones() {
    let found = |d: &Detector, text: &str| -> Vec<String> {
        d.scan(text)
            .iter()
            .map(|f| text[f.start..f.end].to_owned())
            .collect()
    };
    let pattern = |p: &str| format!("{RULE_HEAD}pattern = '{p}'\n");
    let terms = |t: &str| {
        format!(
            "[[rule]]\nid = \"t.d\"\nentity = \"CUSTOM\"\nnature = \"strategic\"\nsensitivity = \"internal\"\nterms = [\"{t}\"]\n"
        )
    };
    let text = "projet Orion, code ABC-123, code XYZ-987";
    for _ in 0..2 {
        let first = compile(&format!("{}{}", pattern("ABC-[0-9]+"), terms("Orion"))).unwrap();
        assert_eq!(found(&first, text), ["Orion", "ABC-123"]);
        let again = compile(&format!("{}{}", pattern("ABC-[0-9]+"), terms("Orion"))).unwrap();
        assert_eq!(found(&again, text), ["Orion", "ABC-123"]);
        let changed = compile(&format!("{}{}", pattern("XYZ-[0-9]+"), terms("code"))).unwrap();
        assert_eq!(found(&changed, text), ["code", "code", "XYZ-987"]);
        // The first detector is untouched by the later builds.
        assert_eq!(found(&first, text), ["Orion", "ABC-123"]);
    }
}

/// The part of `text` from about `start`, about `len` bytes long, on character
/// boundaries: a random cut of a fixture for the differential property tests.
pub(crate) fn cut(text: &str, start: usize, len: usize) -> &str {
    let mut s = start.min(text.len());
    while !text.is_char_boundary(s) {
        s += 1;
    }
    let mut e = (s + len).min(text.len());
    while !text.is_char_boundary(e) {
        e += 1;
    }
    &text[s..e]
}
