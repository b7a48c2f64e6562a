//! Configuration: `RawConfig` (serde, strict) compiled into [`Config`] (validated, with
//! the compiled detector). Used by every command and, later, by hot reload.
//!
//! Unknown keys are errors (`deny_unknown_fields`): a typo must fail loudly rather than
//! quietly turn a safeguard off. Paths in the file are relative to the file itself.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::detect::{Detector, RuleErrors, RuleSet, rules};

/// The configuration used when no `--config` is given.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../config/paravent.toml");

/// Where the default configuration says it comes from, in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<builtin>/config/paravent.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    detect: DetectConfig,
}

/// `[detect]`: which rules the detector compiles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Compile the shipped rule sets (embedded in the binary).
    pub builtin_rules: bool,
    /// More rule files or directories of `*.toml`, relative to the config file.
    pub rules: Vec<PathBuf>,
    /// Rule ids to turn off (`fr.siren`; `person` for the person-name heuristics).
    pub disable: Vec<String>,
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            builtin_rules: true,
            rules: Vec::new(),
            disable: Vec::new(),
        }
    }
}

/// A validated configuration and what it compiles to.
#[derive(Debug)]
pub struct Config {
    pub detect: DetectConfig,
    pub rule_set: RuleSet,
    pub detector: Arc<Detector>,
}

/// Every problem in a configuration and its rules.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

impl From<RuleErrors> for ConfigErrors {
    fn from(e: RuleErrors) -> ConfigErrors {
        ConfigErrors(e.0.iter().map(ToString::to_string).collect())
    }
}

impl Config {
    /// Loads a config file, or the embedded default when `path` is `None`.
    ///
    /// # Errors
    /// Every problem found in the file and in the rules it names, with file and line.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        match path {
            None => Config::from_toml(DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TOML, None),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ConfigErrors(vec![format!("{}: cannot read: {e}", p.display())])
                })?;
                let base = p.parent().map(Path::to_path_buf);
                Config::from_toml(&p.display().to_string(), &text, base.as_deref())
            }
        }
    }

    /// Parses and compiles a configuration; `base` is the directory relative paths are
    /// read from (`None` for the embedded default).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_toml(name: &str, text: &str, base: Option<&Path>) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| rules::line_of(text, s.start));
            let at = line.map_or_else(String::new, |l| format!(":{l}"));
            ConfigErrors(vec![format!("{name}{at}: {}", e.message())])
        })?;
        let detect = raw.detect;
        let paths: Vec<PathBuf> = detect
            .rules
            .iter()
            .map(|p| match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p.clone(),
            })
            .collect();
        let mut rule_set = RuleSet::load(detect.builtin_rules, &paths)?;
        let mut errors = Vec::new();
        let known = rule_set.rule_ids();
        for id in &detect.disable {
            if !known.iter().any(|k| k == id) {
                errors.push(format!("{name}: [detect] disable names no rule {id:?}"));
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        rule_set.disable(&detect.disable);
        let detector = Detector::new(&rule_set)?;
        Ok(Config {
            detect,
            rule_set,
            detector: Arc::new(detector),
        })
    }
}
