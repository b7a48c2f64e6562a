//! Rule files: `rules/*.toml` parsed (`Raw*` types), then compiled into a [`Detector`].
//!
//! Parsing is strict (`deny_unknown_fields`): a typo such as `pattrn =` is an error with
//! its file and line, never a rule quietly turned off. Every problem in every file is
//! collected before failing, so `paravent check` can show them all at once.
//!
//! A rule file holds `[[rule]]` tables (pattern or dictionary rules) and at most one
//! `[person]` table (the person-name heuristics). Files named by a rule (`terms_file`,
//! `csv`, gazetteers) are read relative to the rule file; the shipped rules and their
//! data are embedded in the binary.
//!
//! Compiling is pure computation and runs on a few threads (the regexes, then the
//! prefilter sets beside the dictionaries); the regexes of the last build are kept by
//! pattern text, so that a reload compiles only the patterns it changes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::dictionary::{self, DictEntry};
use super::names::{self, NameLists};
use super::patterns::{self, PatternRule};
use super::validators::Validator;
use super::{Detector, Entity, Nature, RuleMeta, Sensitivity, fold};

/// Default priority of a rule; higher wins between two spans of the same length.
pub const DEFAULT_PRIORITY: i32 = 50;
/// Default priority of a dictionary rule: above the name heuristics (`person.name` 60).
pub const DEFAULT_DICTIONARY_PRIORITY: i32 = 70;
/// Default confidence of a finding.
pub const DEFAULT_SCORE: f32 = 0.9;
/// Suffix of the rule id of a rule's unchecked twin (`fr.nir.unchecked`): the rule
/// that reports, as `ID_NUMBER`, the values of the identifier's shape whose check fails.
pub const UNCHECKED_SUFFIX: &str = ".unchecked";
/// Default number of bytes searched for context words on each side of a match.
pub const DEFAULT_CONTEXT_WINDOW_BYTES: usize = 48;
pub use super::patterns::{REGEX_DFA_SIZE_LIMIT_BYTES, REGEX_SIZE_LIMIT_BYTES};
/// A rule file, dictionary or gazetteer larger than this is refused.
pub const RULE_FILE_LIMIT_BYTES: u64 = 64 << 20;

/// The shipped rule files and the data they name, embedded at build time.
static BUILTIN: &[(&str, &str)] = &[
    ("core.toml", include_str!("../../rules/core.toml")),
    ("fr.toml", include_str!("../../rules/fr.toml")),
    ("en.toml", include_str!("../../rules/en.toml")),
    ("quasi.toml", include_str!("../../rules/quasi.toml")),
    ("person.toml", include_str!("../../rules/person.toml")),
    ("special.toml", include_str!("../../rules/special.toml")),
    (
        "special/person_context.txt",
        include_str!("../../rules/special/person_context.txt"),
    ),
    (
        "special/health_icd10cm.txt",
        include_str!("../../rules/special/health_icd10cm.txt"),
    ),
    (
        "names/first_names.txt",
        include_str!("../../rules/names/first_names.txt"),
    ),
    (
        "names/last_names.txt",
        include_str!("../../rules/names/last_names.txt"),
    ),
    (
        "names/ambiguous.txt",
        include_str!("../../rules/names/ambiguous.txt"),
    ),
    (
        "names/person-model.txt",
        include_str!("../../rules/names/person-model.txt"),
    ),
    (
        "places/cities.txt",
        include_str!("../../rules/places/cities.txt"),
    ),
    (
        "places/countries.txt",
        include_str!("../../rules/places/countries.txt"),
    ),
];

/// One problem in a rule file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in a rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleErrors {}

/// Where a rule file comes from, and so where the files it names are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// Embedded in the binary, under this relative name (`fr.toml`).
    Builtin(&'static str),
    /// A file on disk.
    Path(PathBuf),
}

impl RuleSource {
    fn display(&self) -> String {
        match self {
            RuleSource::Builtin(name) => format!("<builtin>/rules/{name}"),
            RuleSource::Path(p) => p.display().to_string(),
        }
    }

    /// How a file named relative to this rule file is shown in messages.
    fn relative_display(&self, rel: &str) -> String {
        match self {
            RuleSource::Builtin(name) => {
                let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                format!(
                    "<builtin>/rules/{dir}{}{rel}",
                    if dir.is_empty() { "" } else { "/" }
                )
            }
            RuleSource::Path(p) => p
                .parent()
                .unwrap_or(Path::new("."))
                .join(rel)
                .display()
                .to_string(),
        }
    }

    /// Reads a file named relative to this rule file.
    fn read_relative(&self, rel: &str) -> Result<String, String> {
        match self {
            RuleSource::Builtin(name) => {
                let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                let full = if dir.is_empty() {
                    rel.to_owned()
                } else {
                    format!("{dir}/{rel}")
                };
                builtin_file(&full)
                    .map(str::to_owned)
                    .ok_or_else(|| format!("no shipped file named {rel:?}"))
            }
            RuleSource::Path(p) => {
                let dir = p.parent().unwrap_or(Path::new("."));
                read_limited(&dir.join(rel))
            }
        }
    }
}

fn builtin_file(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[cfg(test)]
pub(crate) fn builtin_file_for_tests(name: &str) -> Option<&'static str> {
    builtin_file(name)
}

fn read_limited(path: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.len() > RULE_FILE_LIMIT_BYTES {
        return Err(format!(
            "{} is larger than {} bytes",
            path.display(),
            RULE_FILE_LIMIT_BYTES
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuleFile {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    person: Option<Spanned<RawPerson>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    entity: Spanned<String>,
    nature: Nature,
    sensitivity: Sensitivity,
    /// For the people who read the rule file; parsed only so that it is allowed.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    score: Option<f32>,
    // Pattern rules.
    #[serde(default)]
    pattern: Option<Spanned<String>>,
    #[serde(default)]
    validator: Option<Spanned<String>>,
    #[serde(default)]
    context: Vec<String>,
    /// More context words, one per line, from a file beside the rule file (one list
    /// that several rules share).
    #[serde(default)]
    context_file: Option<Spanned<String>>,
    /// Dictionary rules: a person's name found within the window counts as context.
    #[serde(default)]
    context_person: bool,
    #[serde(default)]
    context_window: Option<usize>,
    #[serde(default)]
    context_required: bool,
    #[serde(default)]
    invalid_with_context: bool,
    #[serde(default)]
    invalid_by_shape: bool,
    #[serde(default)]
    veto_before: Vec<String>,
    #[serde(default)]
    veto_after: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    veto_keys: Vec<String>,
    // Dictionary rules.
    #[serde(default)]
    terms: Vec<String>,
    #[serde(default)]
    terms_file: Option<Spanned<String>>,
    #[serde(default)]
    csv: Option<Spanned<String>>,
    #[serde(default)]
    capitalized: bool,
    #[serde(default)]
    min_term_chars: Option<usize>,
    // Tests.
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    counterexamples: Vec<String>,
    #[serde(default)]
    unchecked_examples: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPerson {
    #[serde(default = "default_person_nature")]
    nature: Nature,
    #[serde(default = "default_person_sensitivity")]
    sensitivity: Sensitivity,
    #[serde(default)]
    first_names: Vec<Spanned<String>>,
    #[serde(default)]
    last_names: Vec<Spanned<String>>,
    #[serde(default)]
    ambiguous: Vec<Spanned<String>>,
    #[serde(default)]
    unambiguous: Vec<String>,
    #[serde(default)]
    also_ambiguous: Vec<String>,
    #[serde(default)]
    places: Vec<Spanned<String>>,
    #[serde(default)]
    introducers: Vec<String>,
    #[serde(default)]
    weak_introducers: Vec<String>,
    #[serde(default)]
    not_before: Vec<String>,
    #[serde(default)]
    locatives: Vec<String>,
    #[serde(default)]
    weak_honorifics: Vec<String>,
    #[serde(default)]
    articles: Vec<String>,
    #[serde(default)]
    honorifics: Vec<String>,
    #[serde(default)]
    greetings: Vec<String>,
    #[serde(default)]
    signoffs: Vec<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    particles: Vec<String>,
    /// The statistical layer's table (`names/person-model.txt`), if any.
    #[serde(default)]
    model: Option<Spanned<String>>,
    #[serde(default)]
    examples: Vec<String>,
    #[serde(default)]
    counterexamples: Vec<String>,
}

fn default_person_nature() -> Nature {
    Nature::Personal
}

fn default_person_sensitivity() -> Sensitivity {
    Sensitivity::Confidential
}

#[derive(Debug)]
struct LoadedFile {
    source: RuleSource,
    text: String,
    raw: RawRuleFile,
}

/// Parsed rule files, ready to compile. Request code never sees the raw types.
#[derive(Debug)]
pub struct RuleSet {
    files: Vec<LoadedFile>,
    disabled: Vec<String>,
    /// Problems found while loading (unreadable files, unknown keys), reported with
    /// the compile errors so that `check` shows everything at once.
    problems: Vec<RuleError>,
}

/// One example or counterexample of a rule, for checking.
#[derive(Debug, Clone)]
pub struct RuleExample {
    pub file: String,
    pub rule: String,
    pub entity: Entity,
    /// The text to scan, with the `[[…]]` markers removed.
    pub text: String,
    /// Expected spans (byte ranges of `text`); empty for a counterexample.
    pub expected: Vec<(usize, usize)>,
    pub counter: bool,
    /// The example has a `[[` without its `]]`: reported as a failure by the check.
    pub unclosed_marker: bool,
}

impl RuleSet {
    /// The shipped rule files.
    ///
    /// # Errors
    /// When a shipped file does not parse (a test guards against that).
    pub fn builtin() -> Result<RuleSet, RuleErrors> {
        RuleSet::load(true, &[])
    }

    /// Loads the shipped rules (when `builtin`) and the given files or directories
    /// (every `*.toml` inside, in name order).
    ///
    /// # Errors
    /// Every file that cannot be read or parsed, each with its line.
    pub fn load(builtin: bool, paths: &[PathBuf]) -> Result<RuleSet, RuleErrors> {
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        if builtin {
            for (name, text) in BUILTIN.iter().filter(|(n, _)| !n.contains('/')) {
                sources.push((RuleSource::Builtin(name), Ok((*text).to_owned())));
            }
        }
        for path in paths {
            if path.is_dir() {
                match list_toml(path) {
                    Ok(files) => {
                        for f in files {
                            let text = read_limited(&f);
                            sources.push((RuleSource::Path(f), text));
                        }
                    }
                    Err(e) => errors.push(RuleError {
                        file: path.display().to_string(),
                        line: None,
                        message: e,
                    }),
                }
            } else {
                let text = read_limited(path);
                sources.push((RuleSource::Path(path.clone()), text));
            }
        }
        let mut files = Vec::new();
        for (source, text) in sources {
            match text {
                Ok(text) => {
                    if let Some(f) = parse_file(source, text, &mut errors) {
                        files.push(f);
                    }
                }
                Err(message) => errors.push(RuleError {
                    file: source.display(),
                    line: None,
                    message,
                }),
            }
        }
        // A file that parsed with unknown keys blanked out is kept, so that compiling
        // reports its other problems too; the keys' errors are reported then, first.
        if files.is_empty() && !errors.is_empty() {
            return Err(RuleErrors(errors));
        }
        Ok(RuleSet {
            files,
            disabled: Vec::new(),
            problems: errors,
        })
    }

    /// Parses one rule file from a string (tests, `check` of a single file).
    ///
    /// # Errors
    /// When it does not parse at all; other problems are reported by
    /// [`Detector::new`].
    pub fn from_toml(path: impl Into<PathBuf>, text: &str) -> Result<RuleSet, RuleErrors> {
        let mut errors = Vec::new();
        match parse_file(RuleSource::Path(path.into()), text.to_owned(), &mut errors) {
            Some(file) => Ok(RuleSet {
                files: vec![file],
                disabled: Vec::new(),
                problems: errors,
            }),
            None => Err(RuleErrors(errors)),
        }
    }

    /// Turns rules off by id (`fr.siren`), or the person heuristics with `person`.
    pub fn disable(&mut self, ids: &[String]) {
        self.disabled.extend(ids.iter().cloned());
    }

    /// The rules version: BLAKE3 of every file's name and text and of the disabled ids
    /// (the shipped files included, which the configuration version does not cover).
    pub fn version(&self) -> String {
        let mut h = blake3::Hasher::new();
        for f in &self.files {
            h.update(f.source.display().as_bytes()).update(b"\0");
            h.update(f.text.as_bytes()).update(b"\0");
        }
        for d in &self.disabled {
            h.update(b"disabled\0").update(d.as_bytes());
        }
        h.finalize().to_hex().to_string()
    }

    /// Every rule id declared, in file order.
    pub fn rule_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for f in &self.files {
            ids.extend(f.raw.rule.iter().map(|r| r.get_ref().id.get_ref().clone()));
            if f.raw.person.is_some() {
                ids.push("person".to_owned());
            }
        }
        ids
    }

    /// The files on disk this set was read from, and the files they name (term lists,
    /// CSV dictionaries, `[person]` lists): what a change of should reload. The shipped
    /// files are not in it (they change with the binary).
    pub fn files_read(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for f in &self.files {
            let RuleSource::Path(p) = &f.source else {
                continue;
            };
            out.push(p.clone());
            let dir = p.parent().unwrap_or(Path::new("."));
            let mut named = |rel: &Spanned<String>| out.push(dir.join(rel.get_ref()));
            for r in &f.raw.rule {
                let r = r.get_ref();
                r.terms_file
                    .iter()
                    .chain(&r.csv)
                    .chain(&r.context_file)
                    .for_each(&mut named);
            }
            if let Some(p) = &f.raw.person {
                let p = p.get_ref();
                p.first_names
                    .iter()
                    .chain(&p.last_names)
                    .chain(&p.ambiguous)
                    .chain(&p.places)
                    .for_each(&mut named);
            }
        }
        out
    }

    fn is_disabled(&self, id: &str) -> bool {
        self.disabled.iter().any(|d| d == id)
    }

    /// Every example and counterexample of every enabled rule.
    ///
    /// In an example, `[[` and `]]` mark the expected findings; without markers the whole
    /// example is the expected finding.
    pub fn examples(&self) -> Vec<RuleExample> {
        let mut out = Vec::new();
        for f in &self.files {
            let file = f.source.display();
            let mut push = |rule: &str, entity: &Entity, ex: &[String], cx: &[String]| {
                for e in ex {
                    // Without markers the whole example is the expected finding; an
                    // unclosed marker keeps the raw text and is reported by the check.
                    let (text, expected, unclosed_marker) = match split_marked(e) {
                        Some((text, spans)) if spans.is_empty() => {
                            let whole = vec![(0, text.len())];
                            (text, whole, false)
                        }
                        Some((text, spans)) => (text, spans, false),
                        None => (e.clone(), Vec::new(), true),
                    };
                    out.push(RuleExample {
                        file: file.clone(),
                        rule: rule.to_owned(),
                        entity: entity.clone(),
                        text,
                        expected,
                        counter: false,
                        unclosed_marker,
                    });
                }
                for c in cx {
                    out.push(RuleExample {
                        file: file.clone(),
                        rule: rule.to_owned(),
                        entity: entity.clone(),
                        text: c.clone(),
                        expected: Vec::new(),
                        counter: true,
                        unclosed_marker: false,
                    });
                }
            };
            for r in &f.raw.rule {
                let r = r.get_ref();
                let id = r.id.get_ref();
                if self.is_disabled(id) {
                    continue;
                }
                if let Some(entity) = Entity::parse(r.entity.get_ref()) {
                    push(id, &entity, &r.examples, &r.counterexamples);
                }
                if !r.unchecked_examples.is_empty() {
                    push(id, &Entity::unchecked(), &r.unchecked_examples, &[]);
                }
            }
            if let Some(p) = &f.raw.person
                && !self.is_disabled("person")
            {
                let p = p.get_ref();
                push("person", &Entity::person(), &p.examples, &p.counterexamples);
            }
        }
        out
    }
}

/// Parses one rule file: every unknown key is reported (with its line) and blanked out,
/// so that one typo does not hide the file's other problems; `None` when the file
/// does not parse even then.
fn parse_file(source: RuleSource, text: String, errors: &mut Vec<RuleError>) -> Option<LoadedFile> {
    let (checked, unknown) = strip_unknown_keys(&text);
    for (line, message) in unknown {
        errors.push(RuleError {
            file: source.display(),
            line: Some(line),
            message,
        });
    }
    match toml::from_str::<RawRuleFile>(&checked) {
        Ok(raw) => Some(LoadedFile { source, text, raw }),
        Err(e) => {
            errors.push(RuleError {
                file: source.display(),
                line: e.span().map(|s| line_of(&text, s.start)),
                message: e.message().to_owned(),
            });
            None
        }
    }
}

/// Checks every example and counterexample against a detector compiled from the set.
///
/// An example passes when, for each marked span, a finding of the rule's entity has
/// exactly that span. A counterexample passes when no finding of the rule's entity is
/// made at all.
pub fn check_examples(set: &RuleSet, detector: &Detector) -> Vec<RuleError> {
    let mut failures = Vec::new();
    for ex in set.examples() {
        if ex.unclosed_marker {
            failures.push(RuleError {
                file: ex.file.clone(),
                line: None,
                message: format!(
                    "rule {}: example {:?} has a `[[` without `]]`",
                    ex.rule, ex.text
                ),
            });
            continue;
        }
        let found = detector.scan(&ex.text);
        let of_entity: Vec<_> = found.iter().filter(|f| f.entity == ex.entity).collect();
        if ex.counter {
            if let Some(f) = of_entity.first() {
                failures.push(RuleError {
                    file: ex.file.clone(),
                    line: None,
                    message: format!(
                        "rule {}: counterexample {:?} gives {} at {}..{} ({:?}, rule {})",
                        ex.rule,
                        ex.text,
                        ex.entity,
                        f.start,
                        f.end,
                        &ex.text[f.start..f.end],
                        f.rule
                    ),
                });
            }
            continue;
        }
        for &(s, e) in &ex.expected {
            if !of_entity.iter().any(|f| f.start == s && f.end == e) {
                let got: Vec<String> = found
                    .iter()
                    .map(|f| format!("{} {:?} ({})", f.entity, &ex.text[f.start..f.end], f.rule))
                    .collect();
                failures.push(RuleError {
                    file: ex.file.clone(),
                    line: None,
                    message: format!(
                        "rule {}: example {:?} should give {} {:?}; found [{}]",
                        ex.rule,
                        ex.text,
                        ex.entity,
                        &ex.text[s..e],
                        got.join(", ")
                    ),
                });
            }
        }
    }
    failures
}

/// Splits an example with `[[…]]` markers into the text and the marked byte spans
/// (no markers: no spans). `None` when a `[[` has no `]]`.
///
/// ```
/// let (text, spans) = paravent::detect::rules::split_marked("à [[Lyon]] demain").unwrap();
/// assert_eq!((text.as_str(), spans), ("à Lyon demain", vec![(3, 7)]));
/// ```
pub fn split_marked(example: &str) -> Option<(String, Vec<(usize, usize)>)> {
    let mut text = String::with_capacity(example.len());
    let mut spans = Vec::new();
    let mut rest = example;
    while let Some(open) = rest.find("[[") {
        text.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("]]")?;
        let start = text.len();
        text.push_str(&after[..close]);
        spans.push((start, text.len()));
        rest = &after[close + 2..];
    }
    text.push_str(rest);
    Some((text, spans))
}

/// The keys a `[[rule]]` table may hold; kept in step with [`RawRule`] by a test.
const RULE_KEYS: &[&str] = &[
    "id",
    "entity",
    "nature",
    "sensitivity",
    "description",
    "priority",
    "score",
    "pattern",
    "validator",
    "context",
    "context_file",
    "context_person",
    "context_window",
    "context_required",
    "invalid_with_context",
    "invalid_by_shape",
    "veto_before",
    "veto_after",
    "exclude",
    "veto_keys",
    "terms",
    "terms_file",
    "csv",
    "capitalized",
    "min_term_chars",
    "examples",
    "counterexamples",
    "unchecked_examples",
];

/// The keys the `[person]` table may hold; kept in step with [`RawPerson`] by a test.
const PERSON_KEYS: &[&str] = &[
    "nature",
    "sensitivity",
    "first_names",
    "last_names",
    "ambiguous",
    "unambiguous",
    "also_ambiguous",
    "places",
    "introducers",
    "weak_introducers",
    "not_before",
    "locatives",
    "weak_honorifics",
    "articles",
    "honorifics",
    "greetings",
    "signoffs",
    "labels",
    "stopwords",
    "particles",
    "model",
    "examples",
    "counterexamples",
];

#[cfg(test)]
pub(crate) const RULE_KEYS_FOR_TESTS: &[&str] = RULE_KEYS;
#[cfg(test)]
pub(crate) const PERSON_KEYS_FOR_TESTS: &[&str] = PERSON_KEYS;

/// Finds every unknown key of a rule file, with its line, and returns the text with
/// those keys blanked out (new lines kept, so line numbers stay right).
fn strip_unknown_keys(text: &str) -> (String, Vec<(usize, String)>) {
    // A syntax error is reported by the strict parse that follows.
    let Ok(doc) = toml::de::DeTable::parse(text) else {
        return (text.to_owned(), Vec::new());
    };
    let mut problems = Vec::new();
    let mut cuts: Vec<std::ops::Range<usize>> = Vec::new();
    let mut check = |table: &toml::de::DeTable<'_>, known: &[&str], what: &str| {
        for (key, value) in table {
            if !known.contains(&key.get_ref().as_ref()) {
                problems.push((
                    line_of(text, key.span().start),
                    format!(
                        "unknown key `{}` in {what} (known: {})",
                        key.get_ref(),
                        known.join(", ")
                    ),
                ));
                cuts.push(key.span().start..value.span().end);
            }
        }
    };
    for (key, value) in doc.get_ref() {
        match (key.get_ref().as_ref(), value.get_ref()) {
            ("rule", toml::de::DeValue::Array(rules)) => {
                for rule in rules {
                    if let toml::de::DeValue::Table(t) = rule.get_ref() {
                        check(t, RULE_KEYS, "[[rule]]");
                    }
                }
            }
            ("person", toml::de::DeValue::Table(t)) => check(t, PERSON_KEYS, "[person]"),
            _ => {}
        }
    }
    if cuts.is_empty() {
        return (text.to_owned(), problems);
    }
    let mut bytes = text.as_bytes().to_vec();
    for cut in cuts {
        for b in &mut bytes[cut.start.min(text.len())..cut.end.min(text.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    }
    // Blanking whole keys and values keeps the text valid UTF-8 (every multi-byte
    // character inside a blanked range is blanked whole).
    (String::from_utf8_lossy(&bytes).into_owned(), problems)
}

fn list_toml(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let rd = std::fs::read_dir(dir).map_err(|e| format!("cannot read directory: {e}"))?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

pub(crate) fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Reads a list file: one entry per line, `#` starts a comment line, blank lines skipped.
fn list_entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Compiles a rule set into a detector, collecting every error.
/// The detector is built on at most this many threads (fewer on a smaller machine).
const BUILD_THREADS_MAX: usize = 4;

/// `f` over every item, on up to [`BUILD_THREADS_MAX`] threads; results in item order.
///
/// Building is pure computation (no I/O): the threads only share its cost, so that a
/// process that scans once does not wait for each regex in turn. Items are taken in
/// order by whichever thread is free: put the costly ones first.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(BUILD_THREADS_MAX)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return done;
                        };
                        done.push((i, f(item)));
                    }
                })
            })
            .collect();
        for w in workers {
            match w.join() {
                Ok(done) => {
                    for (i, r) in done {
                        out[i] = Some(r);
                    }
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    out.into_iter().flatten().collect()
}

/// The regexes of the last detector built in this process, by pattern text: a
/// configuration reload (or any later detector) that keeps a pattern takes its compiled
/// regex from here instead of compiling it again. Only the last build's patterns are
/// kept, so a reload that drops a rule frees its regex with the old detector.
static LAST_BUILT_REGEXES: std::sync::Mutex<Vec<(String, regex_automata::meta::Regex)>> =
    std::sync::Mutex::new(Vec::new());

/// Every enabled rule's pattern compiled, on several threads, by pattern text (the
/// compile loop takes them from here in rule order, so errors keep their order).
fn compile_patterns(
    set: &RuleSet,
) -> std::collections::HashMap<&str, Result<regex_automata::meta::Regex, regex::Error>> {
    let mut patterns: Vec<&str> = set
        .files
        .iter()
        .flat_map(|f| &f.raw.rule)
        .map(Spanned::get_ref)
        .filter(|r| !set.is_disabled(r.id.get_ref()))
        .filter_map(|r| r.pattern.as_ref().map(|p| p.get_ref().as_str()))
        .collect();
    // Longest first: the long patterns are the costly ones (one e-mail rule costs more
    // than half of all the others), and should not start last.
    patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
    patterns.dedup();
    // A poisoned lock only means another build panicked: the regexes in it are whole.
    let mut last = LAST_BUILT_REGEXES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut built: std::collections::HashMap<
        &str,
        Result<regex_automata::meta::Regex, regex::Error>,
    > = patterns
        .iter()
        .filter_map(|p| {
            let (_, r) = last.iter().find(|(q, _)| q == p)?;
            Some((*p, Ok(r.clone())))
        })
        .collect();
    let missing: Vec<&str> = patterns
        .iter()
        .copied()
        .filter(|p| !built.contains_key(p))
        .collect();
    let compiled = par_map(&missing, |p| patterns::build_rule_regex(p));
    built.extend(missing.into_iter().zip(compiled));
    *last = patterns
        .iter()
        .filter_map(|p| match built.get(p) {
            Some(Ok(r)) => Some(((*p).to_owned(), r.clone())),
            _ => None,
        })
        .collect();
    built
}

pub(crate) fn compile(set: &RuleSet) -> Result<Detector, RuleErrors> {
    let mut compiled = compile_patterns(set);
    let mut errors = set.problems.clone();
    let mut metas: Vec<RuleMeta> = Vec::new();
    let mut pattern_rules: Vec<PatternRule> = Vec::new();
    let mut dict_entries: Vec<DictEntry> = Vec::new();
    let mut dict_contexts: Vec<(usize, dictionary::TermContext)> = Vec::new();
    let mut person: Option<(NameLists, usize)> = None;
    let mut seen_ids: Vec<(String, String)> = Vec::new();

    for f in &set.files {
        let file = f.source.display();
        let err = |errors: &mut Vec<RuleError>, at: usize, message: String| {
            errors.push(RuleError {
                file: file.clone(),
                line: Some(line_of(&f.text, at)),
                message,
            });
        };
        for spanned in &f.raw.rule {
            let at = spanned.span().start;
            let r = spanned.get_ref();
            let id = r.id.get_ref();
            if set.is_disabled(id) {
                continue;
            }
            if !valid_id(id) {
                err(
                    &mut errors,
                    r.id.span().start,
                    format!("rule id {id:?} must be lower-case letters, digits, '.', '_' or '-'"),
                );
            }
            if let Some((_, other)) = seen_ids.iter().find(|(i, _)| i == id) {
                err(
                    &mut errors,
                    r.id.span().start,
                    format!("rule id {id:?} is already used in {other}"),
                );
            }
            seen_ids.push((id.clone(), file.clone()));
            let Some(entity) = Entity::parse(r.entity.get_ref()) else {
                err(
                    &mut errors,
                    r.entity.span().start,
                    format!(
                        "entity {:?} must be an upper-case name such as PERSON or CUSTOM",
                        r.entity.get_ref()
                    ),
                );
                continue;
            };
            let score = r.score.unwrap_or(DEFAULT_SCORE);
            if !(0.0..=1.0).contains(&score) {
                err(
                    &mut errors,
                    at,
                    format!("rule {id}: score must be within 0.0..=1.0"),
                );
            }
            let meta_index = metas.len();
            metas.push(RuleMeta {
                id: Arc::from(id.as_str()),
                entity,
                nature: r.nature,
                sensitivity: r.sensitivity,
                // An admin's dictionary names the company's own terms: by default it
                // outranks the generic heuristics on a span of the same length.
                priority: r.priority.unwrap_or(if r.pattern.is_some() {
                    DEFAULT_PRIORITY
                } else {
                    DEFAULT_DICTIONARY_PRIORITY
                }),
                score,
            });
            let is_dict = !r.terms.is_empty() || r.terms_file.is_some() || r.csv.is_some();
            // Context words: inline, then the shared list the rule names, folded.
            let mut context: Vec<String> = r.context.iter().map(|c| fold::fold_str(c)).collect();
            if let Some(cf) = &r.context_file {
                match f.source.read_relative(cf.get_ref()) {
                    Ok(text) => context.extend(list_entries(&text).map(fold::fold_str)),
                    Err(e) => err(&mut errors, cf.span().start, format!("rule {id}: {e}")),
                }
            }
            let context_window = r.context_window.unwrap_or(DEFAULT_CONTEXT_WINDOW_BYTES);
            match (&r.pattern, is_dict) {
                (Some(_), true) => err(
                    &mut errors,
                    at,
                    format!("rule {id}: a rule has either a pattern or terms, not both"),
                ),
                (None, false) => err(
                    &mut errors,
                    at,
                    format!("rule {id}: a rule needs a pattern, terms, terms_file or csv"),
                ),
                (Some(pattern), false) => {
                    if r.capitalized || r.min_term_chars.is_some() {
                        err(
                            &mut errors,
                            at,
                            format!(
                                "rule {id}: capitalized and min_term_chars are for dictionary rules"
                            ),
                        );
                    }
                    let validator = match &r.validator {
                        None => None,
                        Some(v) => match Validator::from_name(v.get_ref()) {
                            Some(v) => Some(v),
                            None => {
                                err(
                                    &mut errors,
                                    v.span().start,
                                    format!(
                                        "rule {id}: unknown validator {:?} (known: {})",
                                        v.get_ref(),
                                        Validator::NAMES.join(", ")
                                    ),
                                );
                                continue;
                            }
                        },
                    };
                    if r.context_required && context.is_empty() {
                        err(
                            &mut errors,
                            at,
                            format!("rule {id}: context_required needs context words"),
                        );
                    }
                    if r.context_person {
                        err(
                            &mut errors,
                            at,
                            format!("rule {id}: context_person is for dictionary rules"),
                        );
                    }
                    if r.invalid_with_context && (validator.is_none() || context.is_empty()) {
                        err(
                            &mut errors,
                            at,
                            format!(
                                "rule {id}: invalid_with_context needs a validator and context words"
                            ),
                        );
                    }
                    if r.invalid_by_shape && !validator.is_some_and(Validator::has_shape) {
                        err(
                            &mut errors,
                            at,
                            format!(
                                "rule {id}: invalid_by_shape needs a validator that knows a shape (iban)"
                            ),
                        );
                    }
                    let has_unchecked = r.invalid_with_context || r.invalid_by_shape;
                    if !r.unchecked_examples.is_empty() && !has_unchecked {
                        err(
                            &mut errors,
                            at,
                            format!(
                                "rule {id}: unchecked_examples need invalid_with_context or invalid_by_shape"
                            ),
                        );
                    }
                    // The unchecked twin: a value of the identifier's shape whose check
                    // fails is still hidden, as a personal identifier of no known kind,
                    // never under the checked entity and its sensitivity.
                    let unchecked_meta = has_unchecked.then(|| {
                        let base = &metas[meta_index];
                        let twin = RuleMeta {
                            id: Arc::from(format!("{id}{UNCHECKED_SUFFIX}")),
                            entity: Entity::unchecked(),
                            nature: Nature::Personal,
                            sensitivity: Sensitivity::Confidential,
                            priority: base.priority,
                            score,
                        };
                        metas.push(twin);
                        metas.len() - 1
                    });
                    let fold_all =
                        |v: &[String]| v.iter().map(|c| fold::fold_str(c)).collect::<Vec<_>>();
                    let regex = compiled
                        .get(pattern.get_ref().as_str())
                        .cloned()
                        .unwrap_or_else(|| patterns::build_rule_regex(pattern.get_ref()));
                    match regex {
                        Ok(regex) => pattern_rules.push(PatternRule::new(
                            meta_index,
                            pattern.get_ref().clone(),
                            regex,
                            validator,
                            context,
                            context_window,
                            r.context_required,
                            r.invalid_with_context,
                            patterns::RuleExtras {
                                exclude: fold_all(&r.exclude),
                                veto_keys: fold_all(&r.veto_keys),
                                unchecked_meta,
                                invalid_by_shape: r.invalid_by_shape,
                                veto_before: fold_all(&r.veto_before),
                                veto_after: fold_all(&r.veto_after),
                            },
                        )),
                        Err(e) => err(
                            &mut errors,
                            pattern.span().start,
                            format!("rule {id}: invalid pattern: {e}"),
                        ),
                    }
                }
                (None, true) => {
                    if r.validator.is_some() || r.invalid_with_context || !r.veto_keys.is_empty() {
                        err(
                            &mut errors,
                            at,
                            format!(
                                "rule {id}: validator, invalid_with_context and veto_keys are for pattern rules"
                            ),
                        );
                    }
                    if (r.context_required || r.context_person) && context.is_empty() {
                        err(
                            &mut errors,
                            at,
                            format!(
                                "rule {id}: context_required and context_person need context words"
                            ),
                        );
                    }
                    // A dictionary rule with context words keeps a term only where one
                    // stands near it (or, with `context_person`, a person's name).
                    if !context.is_empty() {
                        match dictionary::TermContext::new(
                            &context,
                            context_window,
                            r.context_person,
                        ) {
                            Ok(c) => dict_contexts.push((meta_index, c)),
                            Err(e) => err(
                                &mut errors,
                                at,
                                format!("rule {id}: the context words do not compile: {e}"),
                            ),
                        }
                    }
                    let min_chars = r
                        .min_term_chars
                        .unwrap_or(dictionary::DEFAULT_MIN_TERM_CHARS);
                    let base = dictionary::RowDefaults {
                        meta: meta_index,
                        capitalized: r.capitalized,
                        min_chars,
                        exclude: r.exclude.iter().map(|x| fold::fold_str(x)).collect(),
                    };
                    for term in &r.terms {
                        dictionary::push_term(&mut dict_entries, &base, term, None, None);
                    }
                    if let Some(tf) = &r.terms_file {
                        match f.source.read_relative(tf.get_ref()) {
                            Ok(text) => {
                                for term in list_entries(&text) {
                                    dictionary::push_term(
                                        &mut dict_entries,
                                        &base,
                                        term,
                                        None,
                                        None,
                                    );
                                }
                            }
                            Err(e) => err(&mut errors, tf.span().start, format!("rule {id}: {e}")),
                        }
                    }
                    if let Some(csv) = &r.csv {
                        match f.source.read_relative(csv.get_ref()) {
                            Ok(text) => {
                                if let Err(problems) =
                                    dictionary::push_csv(&mut dict_entries, &base, &text)
                                {
                                    for (line, msg) in problems {
                                        errors.push(RuleError {
                                            file: f.source.relative_display(csv.get_ref()),
                                            line: Some(line),
                                            message: format!("rule {id}: {msg}"),
                                        });
                                    }
                                }
                            }
                            Err(e) => err(&mut errors, csv.span().start, format!("rule {id}: {e}")),
                        }
                    }
                }
            }
        }
        if let Some(p) = &f.raw.person {
            if set.is_disabled("person") {
                continue;
            }
            let at = p.span().start;
            if person.is_some() {
                err(
                    &mut errors,
                    at,
                    "only one [person] table may be declared".to_owned(),
                );
                continue;
            }
            let p = p.get_ref();
            let mut lists = NameLists {
                nature: p.nature,
                sensitivity: p.sensitivity,
                honorifics: p.honorifics.clone(),
                greetings: p.greetings.clone(),
                signoffs: p.signoffs.clone(),
                labels: p.labels.clone(),
                stopwords: p.stopwords.clone(),
                particles: p.particles.clone(),
                unambiguous: p.unambiguous.clone(),
                also_ambiguous: p.also_ambiguous.clone(),
                introducers: p.introducers.clone(),
                weak_introducers: p.weak_introducers.clone(),
                not_before: p.not_before.clone(),
                locatives: p.locatives.clone(),
                weak_honorifics: p.weak_honorifics.clone(),
                articles: p.articles.clone(),
                ..NameLists::default()
            };
            let mut read_lists = |names: &[Spanned<String>], into: &mut Vec<String>| {
                for n in names {
                    match f.source.read_relative(n.get_ref()) {
                        Ok(text) => into.extend(list_entries(&text).map(str::to_owned)),
                        Err(e) => err(&mut errors, n.span().start, format!("[person]: {e}")),
                    }
                }
            };
            read_lists(&p.first_names, &mut lists.first_names);
            read_lists(&p.last_names, &mut lists.last_names);
            read_lists(&p.ambiguous, &mut lists.ambiguous);
            read_lists(&p.places, &mut lists.places);
            if let Some(m) = &p.model {
                match f.source.read_relative(m.get_ref()) {
                    Ok(text) => match names::model::Model::parse(&text) {
                        Ok(model) => lists.model = Some(model),
                        Err(e) => err(&mut errors, m.span().start, format!("[person]: {e}")),
                    },
                    Err(e) => err(&mut errors, m.span().start, format!("[person]: {e}")),
                }
            }
            person = Some((lists, at));
        }
    }

    if !errors.is_empty() {
        return Err(RuleErrors(errors));
    }
    compiled.clear();
    // The prefilter sets on a thread of their own while this one builds the
    // dictionaries and the name lexicons: about the same cost each.
    let (patterns, dictionary, names) = std::thread::scope(|s| {
        let sets = s.spawn(move || patterns::Patterns::new(pattern_rules));
        let dictionary = dictionary::Dictionary::new(dict_entries, dict_contexts);
        let names = person.map(|(lists, _)| names::Names::new(lists, &mut metas));
        let patterns = match sets.join() {
            Ok(p) => p,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (patterns, dictionary, names)
    });
    Ok(Detector {
        metas,
        patterns,
        dictionary,
        names,
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}
