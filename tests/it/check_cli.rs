//! `paravent check`: a config and its rule files are validated as a whole, every problem
//! reported at once with its file and line; and the company dictionaries (CSV) that a
//! config names are matched as the design says.

use crate::support::{Scratch, paravent};

/// A rule file whose lines are counted in the assertions below: keep the line numbers
/// in the comments true when editing it.
const RULES_WITH_PROBLEMS: &str = r#"# Acme's own rules.
[[rule]]
id = "acme.badregex"
entity = "CUSTOM"
nature = "strategic"
sensitivity = "internal"
pattern = 'ACME-(unclosed'
# line 7 above: an unclosed group

[[rule]]
id = "acme.badvalidator"
entity = "CUSTOM"
nature = "strategic"
sensitivity = "internal"
pattern = 'ACME-[0-9]{6}'
validator = "lunh"
# line 16 above: a misspelt validator

[[rule]]
id = "acme.clients"
entity = "ORGANIZATION"
nature = "strategic"
sensitivity = "internal"
csv = "clients.csv"
"#;

/// Row 4 has an unknown sensitivity, row 5 the wrong number of fields.
const CSV_WITH_PROBLEMS: &str = "term,entity,sensitivity\n\
Acme,ORGANIZATION,confidential\n\
Projet Hélios,CUSTOM,secret\n\
Globex,ORGANIZATION,top-secret\n\
Initech,ORGANIZATION,internal,extra\n";

/// The same rule file with an unknown key (`pattrn`, line 6) in a first rule.
fn rules_with_unknown_key_too() -> String {
    let typo = "[[rule]]\n\
id = \"acme.typo\"\n\
entity = \"CUSTOM\"\n\
nature = \"strategic\"\n\
sensitivity = \"internal\"\n\
pattrn = 'ACME-[0-9]+'\n\n";
    // The typo rule takes 7 lines: everything else moves down by 7.
    format!("{typo}{RULES_WITH_PROBLEMS}")
}

fn config_naming(rules: &[&str]) -> String {
    let list: Vec<String> = rules.iter().map(|r| format!("{r:?}")).collect();
    format!("[detect]\nrules = [{}]\n", list.join(", "))
}

/// Runs `paravent check --config` on a scratch directory holding `files`.
fn check(name: &str, files: &[(&str, &str)]) -> crate::support::Run {
    let dir = Scratch::new(name);
    for (file, contents) in files {
        dir.write(file, contents);
    }
    let config = dir.path().join("paravent.toml");
    paravent(&["check", "--config", Scratch::arg(&config)], b"")
}

/// Asserts that one stderr line names `file:line:` and contains `needle`.
#[track_caller]
fn assert_reported(stderr: &str, file: &str, line: usize, needle: &str) {
    // Rule files are reported as `path:line: …`, a CSV as `name (csv of rule …):line: …`.
    let at = format!(":{line}: ");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains(file) && l.contains(&at) && l.contains(needle)),
        "expected a problem in {file} at line {line} mentioning {needle:?}; stderr:\n{stderr}"
    );
}

#[test]
fn check_passes_on_the_default_config() {
    let run = paravent(&["check"], b"");
    run.assert_code(0);
    assert!(run.stdout.starts_with("ok: "), "{}", run.stdout);
}

#[test]
fn check_passes_on_every_shipped_example_config() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("config/ exists") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|x| x == "toml") {
            seen += 1;
            let run = paravent(&["check", "--config", Scratch::arg(&path)], b"");
            assert_eq!(run.code, Some(0), "{}:\n{}", path.display(), run.stderr);
        }
    }
    assert!(seen > 0, "no config/*.toml found");
}

#[test]
fn check_reports_a_bad_regex_an_unknown_validator_and_bad_csv_rows_each_with_file_and_line() {
    let run = check(
        "problems",
        &[
            ("paravent.toml", &config_naming(&["acme.toml"])),
            ("acme.toml", RULES_WITH_PROBLEMS),
            ("clients.csv", CSV_WITH_PROBLEMS),
        ],
    );
    assert_ne!(run.code, Some(0), "check must fail");
    let err = &run.stderr;
    assert_reported(err, "acme.toml", 7, "acme.badregex");
    assert_reported(err, "acme.toml", 16, "lunh");
    assert_reported(err, "clients.csv", 4, "top-secret");
    assert_reported(err, "clients.csv", 5, "");
    assert!(err.contains("4 problem(s)"), "{err}");
}

#[test]
fn check_reports_an_unknown_key_in_a_rule_with_file_and_line() {
    let rules = "[[rule]]\n\
id = \"acme.typo\"\n\
entity = \"CUSTOM\"\n\
nature = \"strategic\"\n\
sensitivity = \"internal\"\n\
pattrn = 'ACME-[0-9]+'\n";
    let run = check(
        "unknown-key",
        &[
            ("paravent.toml", &config_naming(&["acme.toml"])),
            ("acme.toml", rules),
        ],
    );
    assert_ne!(run.code, Some(0), "check must fail");
    assert_reported(&run.stderr, "acme.toml", 6, "pattrn");
}

/// The unknown key must not hide the other problems of the same file: `check` is the
/// admin's one pass over everything.
#[test]
fn check_reports_an_unknown_key_together_with_every_other_problem_of_the_file() {
    let run = check(
        "all-at-once",
        &[
            ("paravent.toml", &config_naming(&["acme.toml"])),
            ("acme.toml", &rules_with_unknown_key_too()),
            ("clients.csv", CSV_WITH_PROBLEMS),
        ],
    );
    assert_ne!(run.code, Some(0), "check must fail");
    let err = &run.stderr;
    assert_reported(err, "acme.toml", 6, "pattrn");
    assert_reported(err, "acme.toml", 7 + 7, "acme.badregex");
    assert_reported(err, "acme.toml", 16 + 7, "lunh");
    assert_reported(err, "clients.csv", 4, "top-secret");
    assert_reported(err, "clients.csv", 5, "");
}

/// An unknown key in one rule file must not hide the problems of another.
#[test]
fn check_reports_the_problems_of_every_rule_file_at_once() {
    let typo = "[[rule]]\nid = \"a.typo\"\nentity = \"CUSTOM\"\nnature = \"strategic\"\n\
sensitivity = \"internal\"\npattern = 'A-[0-9]+'\nexemples = [\"A-1\"]\n";
    let run = check(
        "two-files",
        &[
            ("paravent.toml", &config_naming(&["a.toml", "b.toml"])),
            ("a.toml", typo),
            ("b.toml", RULES_WITH_PROBLEMS),
            ("clients.csv", CSV_WITH_PROBLEMS),
        ],
    );
    assert_ne!(run.code, Some(0), "check must fail");
    let err = &run.stderr;
    assert_reported(err, "a.toml", 7, "exemples");
    assert_reported(err, "b.toml", 7, "acme.badregex");
    assert_reported(err, "b.toml", 16, "lunh");
}

#[test]
fn check_reports_an_unknown_key_in_the_detect_table_with_its_line() {
    let config = "# Acme\n[detect]\nbuiltin_rules = true\nbuiltin = false\n";
    let run = check("detect-key", &[("paravent.toml", config)]);
    assert_ne!(run.code, Some(0), "check must fail");
    assert_reported(&run.stderr, "paravent.toml", 4, "builtin");
}

#[test]
fn check_reports_an_unknown_top_level_table_with_its_line() {
    let config = "[detect]\nrules = []\n\n[detcet]\nrules = []\n";
    let run = check("top-key", &[("paravent.toml", config)]);
    assert_ne!(run.code, Some(0), "check must fail");
    assert_reported(&run.stderr, "paravent.toml", 4, "detcet");
}

#[test]
fn check_reports_a_disabled_rule_id_that_names_no_rule() {
    let config = "[detect]\ndisable = [\"fr.nir\", \"fr.nri\"]\n";
    let run = check("disable", &[("paravent.toml", config)]);
    assert_ne!(run.code, Some(0), "check must fail");
    assert!(run.stderr.contains("fr.nri"), "{}", run.stderr);
    assert!(!run.stderr.contains("\"fr.nir\""), "{}", run.stderr);
}

#[test]
fn check_reports_a_rules_file_that_does_not_exist() {
    let run = check(
        "missing",
        &[("paravent.toml", &config_naming(&["nowhere.toml"]))],
    );
    assert_ne!(run.code, Some(0), "check must fail");
    assert!(run.stderr.contains("nowhere.toml"), "{}", run.stderr);
}

#[test]
fn check_runs_the_examples_of_the_admins_own_rules() {
    let rules = r#"[[rule]]
id = "acme.ticket"
entity = "CUSTOM"
nature = "strategic"
sensitivity = "internal"
pattern = '(?-u:\b)ACME-[0-9]{6}(?-u:\b)'
examples = ["ticket [[ACME-123456]] ouvert"]
counterexamples = ["ACME-12 seulement", "ticket ACME-1234567"]
"#;
    let ok = check(
        "own-examples",
        &[
            ("paravent.toml", &config_naming(&["acme.toml"])),
            ("acme.toml", rules),
        ],
    );
    ok.assert_code(0);
    let broken = rules.replace("ACME-12 seulement", "ACME-654321 trouvé");
    let run = check(
        "own-examples-fail",
        &[
            ("paravent.toml", &config_naming(&["acme.toml"])),
            ("acme.toml", &broken),
        ],
    );
    assert_ne!(run.code, Some(0), "a failing counterexample fails check");
    assert!(run.stderr.contains("acme.ticket"), "{}", run.stderr);
}

// --- CSV line numbers ------------------------------------------------------------------

fn csv_rule() -> (&'static str, String) {
    (
        "[[rule]]\nid = \"acme.clients\"\nentity = \"ORGANIZATION\"\nnature = \"strategic\"\n\
sensitivity = \"internal\"\ncsv = \"clients.csv\"\n",
        config_naming(&["acme.toml"]),
    )
}

#[test]
fn csv_errors_name_the_right_line_after_blank_and_comment_lines() {
    let (rules, config) = csv_rule();
    let csv = "term,entity,sensitivity\n\
# Clients grands comptes\n\
Acme,ORGANIZATION,confidential\n\
\n\
Globex,ORGANIZATION,top-secret\n";
    let run = check(
        "csv-blank",
        &[
            ("paravent.toml", &config),
            ("acme.toml", rules),
            ("clients.csv", csv),
        ],
    );
    assert_ne!(run.code, Some(0), "check must fail");
    assert_reported(&run.stderr, "clients.csv", 5, "top-secret");
}

/// Spreadsheets save CSV with CRLF line endings.
#[test]
fn csv_errors_name_the_right_line_with_crlf_line_endings() {
    let (rules, config) = csv_rule();
    let csv = "term,entity,sensitivity\r\n\
Acme,ORGANIZATION,confidential\r\n\
Projet Hélios,CUSTOM,secret\r\n\
Globex,ORGANIZATION,top-secret\r\n";
    let run = check(
        "csv-crlf",
        &[
            ("paravent.toml", &config),
            ("acme.toml", rules),
            ("clients.csv", csv),
        ],
    );
    assert_ne!(run.code, Some(0), "check must fail");
    assert_reported(&run.stderr, "clients.csv", 4, "top-secret");
}

#[test]
fn csv_without_a_term_column_is_an_error_on_its_header() {
    let (rules, config) = csv_rule();
    let run = check(
        "csv-header",
        &[
            ("paravent.toml", &config),
            ("acme.toml", rules),
            ("clients.csv", "name,entity\nAcme,ORGANIZATION\n"),
        ],
    );
    assert_ne!(run.code, Some(0), "check must fail");
    assert_reported(&run.stderr, "clients.csv", 1, "term");
}

// --- Company dictionaries ----------------------------------------------------------------

/// The admin's dictionary: the rule's defaults are ORGANIZATION / internal, rows may set
/// their own entity and sensitivity. A UTF-8 BOM and CRLF endings, as a spreadsheet
/// writes them.
const CLIENTS_CSV: &str = "\u{feff}term,entity,sensitivity\r\n\
Acme,,confidential\r\n\
Acme Holdings,,secret\r\n\
Projet Hélios,CUSTOM,secret\r\n\
Zéphyr,CUSTOM,\r\n";

/// A finding as `scan --jsonl` prints it: (start, end, entity, sensitivity, rule).
type Row = (usize, usize, String, String, String);

/// Scans `texts` (one JSON line each) with the shipped rules plus the dictionary; returns
/// each text's findings.
fn scan_with_dictionary(name: &str, csv: &str, texts: &[&str]) -> Vec<Vec<Row>> {
    let dir = Scratch::new(name);
    let (rules, config) = csv_rule();
    let config_path = dir.write("paravent.toml", config);
    dir.write("acme.toml", rules);
    dir.write("clients.csv", csv);
    let input: String = texts
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}\n", serde_json::json!({"id": i, "text": t})))
        .collect();
    let run = paravent(
        &["scan", "--jsonl", "--config", Scratch::arg(&config_path)],
        input.as_bytes(),
    );
    run.assert_code(0);
    run.jsonl()
        .iter()
        .map(|line| {
            line["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .map(|f| {
                    (
                        f["start"].as_u64().unwrap() as usize,
                        f["end"].as_u64().unwrap() as usize,
                        f["entity"].as_str().unwrap().to_owned(),
                        f["sensitivity"].as_str().unwrap().to_owned(),
                        f["rule"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .collect()
}

fn dict(found: &[(usize, usize, String, String, String)]) -> Vec<(usize, usize, &str, &str)> {
    found
        .iter()
        .filter(|f| f.4 == "acme.clients")
        .map(|f| (f.0, f.1, f.2.as_str(), f.3.as_str()))
        .collect()
}

#[test]
fn dictionary_terms_match_case_and_accent_insensitively_with_each_rows_entity_and_sensitivity() {
    let texts = [
        "le projet helios avance",
        "Point sur le projet HÉLIOS demain",
        "contrat ACME signé",
        "la facture d’Acme arrive",
        "le module zephyr plante",
    ];
    let found = scan_with_dictionary("dict-fold", CLIENTS_CSV, &texts);
    assert_eq!(
        dict(&found[0]),
        [(3, 16, "CUSTOM", "secret")],
        "{:?}",
        found[0]
    );
    let (s, e) = (
        texts[1].find("projet").unwrap(),
        texts[1].find(" demain").unwrap(),
    );
    assert_eq!(
        dict(&found[1]),
        [(s, e, "CUSTOM", "secret")],
        "{:?}",
        found[1]
    );
    assert_eq!(
        dict(&found[2]),
        [(8, 12, "ORGANIZATION", "confidential")],
        "{:?}",
        found[2]
    );
    let s = texts[3].find("Acme").unwrap();
    assert_eq!(
        dict(&found[3]),
        [(s, s + 4, "ORGANIZATION", "confidential")],
        "{:?}",
        found[3]
    );
    // An empty sensitivity cell takes the rule's own.
    let s = texts[4].find("zephyr").unwrap();
    assert_eq!(
        dict(&found[4]),
        [(s, s + 6, "CUSTOM", "internal")],
        "{:?}",
        found[4]
    );
}

#[test]
fn dictionary_terms_match_only_on_word_boundaries() {
    let texts = [
        "Acmeology rachète MegaAcme",
        "Acme2 et 2Acme",
        "Zéphyrine et Zéphyr-2",
    ];
    let found = scan_with_dictionary("dict-bounds", CLIENTS_CSV, &texts);
    assert_eq!(dict(&found[0]), [], "{:?}", found[0]);
    assert_eq!(dict(&found[1]), [], "{:?}", found[1]);
    let s = texts[2].find("Zéphyr-").unwrap();
    assert_eq!(
        dict(&found[2]),
        [(s, s + "Zéphyr".len(), "CUSTOM", "internal")],
        "{:?}",
        found[2]
    );
}

#[test]
fn dictionary_terms_match_leftmost_longest() {
    let text = "acme holdings a racheté acme.";
    let found = scan_with_dictionary("dict-longest", CLIENTS_CSV, &[text]);
    let last = text.rfind("acme").unwrap();
    assert_eq!(
        dict(&found[0]),
        [
            (0, 13, "ORGANIZATION", "secret"),
            (last, last + 4, "ORGANIZATION", "confidential")
        ],
        "{:?}",
        found[0]
    );
}

/// "Acme Holding" is in the dictionary, the text says "Acme Holdings": the longer term
/// fails its word-boundary check, and the shorter term at the same start must still
/// count.
#[test]
fn a_longer_term_failing_its_word_boundary_does_not_hide_a_shorter_term_at_the_same_start() {
    let csv = "term,entity,sensitivity\nAcme,,confidential\nAcme Holding,,secret\n";
    let text = "les comptes d'acme holdings sont prêts";
    let found = scan_with_dictionary("dict-shorter", csv, &[text]);
    let s = text.find("acme").unwrap();
    assert_eq!(
        dict(&found[0]),
        [(s, s + 4, "ORGANIZATION", "confidential")],
        "{:?}",
        found[0]
    );
}

#[test]
fn check_warns_about_every_relaxation_of_the_scan() {
    let run = check(
        "relaxations",
        &[(
            "paravent.toml",
            "[providers.local]\nbase_url = \"http://127.0.0.1:9\"\napi = \"openai\"\n\
             allow_media = true\npass_through = [\"/v1/files\"]\nother_endpoints = \"scan\"\n",
        )],
    );
    run.assert_code(0);
    assert_reported(
        &run.stderr,
        "paravent.toml",
        1,
        "pass_through forwards 1 path(s) unscanned",
    );
    assert_reported(&run.stderr, "paravent.toml", 1, "allow_media lets images");
    let run = check(
        "bad-other-endpoints",
        &[(
            "paravent.toml",
            "[providers.local]\nbase_url = \"http://127.0.0.1:9\"\napi = \"openai\"\n\
             other_endpoints = \"always\"\n",
        )],
    );
    assert_reported(
        &run.stderr,
        "paravent.toml",
        4,
        "other_endpoints is \"refuse\" or \"scan\"",
    );
}

/// A configuration with ten different mistakes, one per numbered line; keep the line
/// numbers in `TEN_MISTAKES_AT` true when editing it.
const TEN_MISTAKES: &str = r#"[server]
listen = "nowhere"
lisen = "127.0.0.1:8080"
default_provider = "acme"

[limits]
max_body_bytes = "16 MiB"
max_bodies = 2

[detect]
rules = ["acme.toml"]
disable = ["fr.siret", "fr.sirte"]

[providers.acme]
base_url = "https://llm.acme.example"
api = "cohere"
alow_media = true

[audit]
fsync = 3

[[policy.rules]]
id = "no-secrets"
action = "nuke"
"#;

/// Where each mistake of [`TEN_MISTAKES`] (and of its rule file) is, and a word of
/// its message.
const TEN_MISTAKES_AT: [(&str, usize, &str); 10] = [
    ("paravent.toml", 2, "listen must be an IP address"),
    ("paravent.toml", 3, "lisen"),
    ("paravent.toml", 7, "max_body_bytes"),
    ("paravent.toml", 8, "max_bodies"),
    ("paravent.toml", 12, "fr.sirte"),
    ("paravent.toml", 16, "cohere"),
    ("paravent.toml", 17, "alow_media"),
    ("paravent.toml", 20, "fsync"),
    ("paravent.toml", 24, "action must be"),
    ("acme.toml", 7, "acme.badregex"),
];

#[test]
fn check_on_a_file_with_ten_mistakes_lists_the_ten_each_with_its_file_and_line() {
    let rules = "[[rule]]\nid = \"acme.badregex\"\nentity = \"CUSTOM\"\nnature = \"strategic\"\n\
                 sensitivity = \"internal\"\n\n pattern = 'ACME-(unclosed'\n";
    let run = check(
        "ten-mistakes",
        &[("paravent.toml", TEN_MISTAKES), ("acme.toml", rules)],
    );
    run.assert_code(1);
    for (file, line, needle) in TEN_MISTAKES_AT {
        assert_reported(&run.stderr, file, line, needle);
    }
    let errors = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .count();
    assert_eq!(errors, 10, "{}", run.stderr);
    assert!(run.stderr.contains("10 problem(s) found"), "{}", run.stderr);
}

#[test]
fn serve_prints_the_same_full_list_and_exits_non_zero() {
    let dir = Scratch::new("ten-mistakes-serve");
    dir.write("acme.toml", "[[rule]]\nid = \"acme.ok\"\nentity = \"CUSTOM\"\nnature = \"strategic\"\nsensitivity = \"internal\"\npattern = 'ACME-[0-9]{6}'\n");
    let config = dir.write("paravent.toml", TEN_MISTAKES);
    let run = paravent(
        &[
            "serve",
            "--config",
            Scratch::arg(&config),
            "--listen",
            "127.0.0.1:0",
        ],
        b"",
    );
    assert_ne!(run.code, Some(0), "{}", run.stderr);
    // The nine of the configuration itself (its rule file is fine here).
    for (file, line, needle) in &TEN_MISTAKES_AT[..9] {
        assert_reported(&run.stderr, file, *line, needle);
    }
}
