//! \[pure\] The energy estimate of a request, from the tokens its provider reported and the
//! `[energy]` table of the configuration.
//!
//! `energy_uwh = round((input / 1000 × wh_per_1k_input + output / 1000 × wh_per_1k_output)
//! × 10⁶)`, with the figures of the first `[[energy.models]]` row whose `match` fits the
//! model, else of `[energy.default]`. The figures and their sources are in the
//! configuration (config/paravent.toml) and docs/AUDIT.md: they are published estimates,
//! good to an order of magnitude, not measurements of this request.

use serde::Deserialize;

use super::Usage;

/// `[energy]`: watt-hours per thousand tokens, per model.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnergyConfig {
    /// Rows tried in order; the first whose `match` fits the model wins.
    pub models: Vec<EnergyRow>,
    /// The figures of a model no row matches (no estimate when absent).
    pub default: Option<EnergyFigures>,
}

/// One `[[energy.models]]` row.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyRow {
    /// A model name pattern, `*` matching any run of characters (`gpt-4o*`,
    /// `*mini*`), compared without regard to case.
    #[serde(rename = "match")]
    pub pattern: String,
    pub wh_per_1k_input: f64,
    pub wh_per_1k_output: f64,
    #[serde(default)]
    pub source: String,
}

impl EnergyRow {
    fn figures(&self) -> EnergyFigures {
        EnergyFigures {
            wh_per_1k_input: self.wh_per_1k_input,
            wh_per_1k_output: self.wh_per_1k_output,
            source: self.source.clone(),
        }
    }
}

/// Watt-hours per thousand tokens read and generated, and where the figures come from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyFigures {
    pub wh_per_1k_input: f64,
    pub wh_per_1k_output: f64,
    /// Where the figures come from (a citation, shown in docs and `check`).
    #[serde(default)]
    pub source: String,
}

impl EnergyConfig {
    /// What is wrong with the table, one message per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let check = |what: &str, f: &EnergyFigures, out: &mut Vec<String>| {
            for (name, x) in [
                ("wh_per_1k_input", f.wh_per_1k_input),
                ("wh_per_1k_output", f.wh_per_1k_output),
            ] {
                if !x.is_finite() || x < 0.0 {
                    out.push(format!(
                        "[energy] {what}: {name} must be a finite number >= 0"
                    ));
                }
            }
        };
        for (i, r) in self.models.iter().enumerate() {
            let what = format!("models[{i}] ({:?})", r.pattern);
            if r.pattern.is_empty() {
                out.push(format!("[energy] {what}: match is empty"));
            }
            check(&what, &r.figures(), &mut out);
        }
        if let Some(d) = &self.default {
            check("default", d, &mut out);
        }
        out
    }

    /// The figures that apply to `model` (the default's when no row matches, or when the
    /// model is unknown).
    pub fn figures(&self, model: Option<&str>) -> Option<EnergyFigures> {
        model
            .and_then(|m| {
                self.models
                    .iter()
                    .find(|r| glob_match(&r.pattern, m))
                    .map(EnergyRow::figures)
            })
            .or_else(|| self.default.clone())
    }

    /// The estimate of a request to `model` that used `usage`, in microwatt-hours; `None`
    /// without usage or without figures for the model.
    ///
    /// ```
    /// use paravent::audit::{Usage, energy::*};
    /// let t: EnergyConfig = toml::from_str(r#"
    ///     [[models]]
    ///     match = "gpt-4o*"
    ///     wh_per_1k_input = 0.2
    ///     wh_per_1k_output = 0.6
    /// "#).unwrap();
    /// let u = Usage { input_tokens: 1000, output_tokens: 500 };
    /// assert_eq!(t.estimate_uwh(Some("gpt-4o-2024-08-06"), Some(u)), Some(500_000));
    /// assert_eq!(t.estimate_uwh(Some("claude"), Some(u)), None);
    /// ```
    pub fn estimate_uwh(&self, model: Option<&str>, usage: Option<Usage>) -> Option<u64> {
        let usage = usage?;
        let f = self.figures(model)?;
        Some(estimate_uwh(&f, usage))
    }
}

/// `round((in/1000 × wh_in + out/1000 × wh_out) × 10⁶)` µWh.
pub fn estimate_uwh(f: &EnergyFigures, u: Usage) -> u64 {
    let wh = u.input_tokens as f64 / 1000.0 * f.wh_per_1k_input
        + u.output_tokens as f64 / 1000.0 * f.wh_per_1k_output;
    let uwh = (wh * 1e6).round();
    if uwh.is_finite() && uwh >= 0.0 {
        // Saturating: `as` clamps to u64::MAX.
        uwh as u64
    } else {
        0
    }
}

/// `pattern` with `*` matching any run of characters, against `text`, ASCII case
/// folded.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let t = text.to_ascii_lowercase();
    let mut parts = p.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = t.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        // No `*`: the whole text.
        return rest.is_empty();
    };
    for m in middle {
        match rest.find(m) {
            Some(at) => rest = &rest[at + m.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> EnergyConfig {
        toml::from_str(
            r#"
            [[models]]
            match = "gpt-4o-mini*"
            wh_per_1k_input = 0.05
            wh_per_1k_output = 0.12
            source = "mini"
            [[models]]
            match = "gpt-4o*"
            wh_per_1k_input = 0.2
            wh_per_1k_output = 0.6
            source = "epoch"
            [default]
            wh_per_1k_input = 0.3
            wh_per_1k_output = 1.0
            source = "default"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn the_first_matching_row_wins_else_the_default() {
        let t = table();
        assert_eq!(t.figures(Some("gpt-4o-mini-2024")).unwrap().source, "mini");
        assert_eq!(t.figures(Some("GPT-4o")).unwrap().source, "epoch");
        assert_eq!(t.figures(Some("claude-sonnet")).unwrap().source, "default");
        assert_eq!(t.figures(None).unwrap().source, "default");
        assert!(t.problems().is_empty());
    }

    #[test]
    fn the_estimate_follows_the_formula() {
        let t = table();
        let u = |i, o| {
            Some(Usage {
                input_tokens: i,
                output_tokens: o,
            })
        };
        // 2000/1000*0.2 + 500/1000*0.6 = 0.7 Wh.
        assert_eq!(t.estimate_uwh(Some("gpt-4o"), u(2000, 500)), Some(700_000));
        // 1 input token of the default: 0.0003 Wh = 300 µWh.
        assert_eq!(t.estimate_uwh(Some("x"), u(1, 0)), Some(300));
        // 1 token of mini: 0.05 µWh/… rounds: 1/1000*0.12 Wh = 120 µWh.
        assert_eq!(t.estimate_uwh(Some("gpt-4o-mini"), u(0, 1)), Some(120));
        assert_eq!(t.estimate_uwh(Some("gpt-4o"), None), None);
        assert_eq!(t.estimate_uwh(Some("gpt-4o"), u(0, 0)), Some(0));
        let no_default = EnergyConfig {
            default: None,
            ..table()
        };
        assert_eq!(no_default.estimate_uwh(Some("llama3"), u(5, 5)), None);
        assert_eq!(
            no_default.estimate_uwh(None, u(5, 5)),
            None,
            "no model, no default"
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match("gpt-4o*", "gpt-4o"));
        assert!(glob_match("gpt-4o*", "gpt-4o-2024-08-06"));
        assert!(!glob_match("gpt-4o*", "xgpt-4o"));
        assert!(glob_match("*mini*", "o4-mini-high"));
        assert!(glob_match("claude-*-4*", "claude-sonnet-4-5"));
        assert!(!glob_match("claude-*-4*", "claude-3-haiku"));
        assert!(glob_match("llama3", "LLAMA3"));
        assert!(!glob_match("llama3", "llama3:8b"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*a", "aa"));
        assert!(!glob_match("a*a", "a"));
    }

    #[test]
    fn bad_figures_are_reported() {
        let t: EnergyConfig = toml::from_str(
            r#"
            [[models]]
            match = ""
            wh_per_1k_input = -1.0
            wh_per_1k_output = nan
            "#,
        )
        .unwrap();
        assert_eq!(t.problems().len(), 3, "{:?}", t.problems());
    }
}
