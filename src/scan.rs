//! `paravent scan`: show what would be pseudonymised in a text.
//!
//! Plain mode prints the text with each finding replaced by a placeholder, then a table
//! of findings. `--jsonl` mode reads `{"id", "text"}` lines and writes one
//! `{"id", "findings": [...]}` line each, offsets in UTF-8 bytes of `text`, end
//! exclusive. A bad input line is reported on stderr with its number (never its text)
//! and the batch goes on.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::detect::{Detector, Finding};

/// Plain mode reads its whole input; larger inputs are refused (use `--jsonl`).
pub const MAX_PLAIN_INPUT_BYTES: usize = 64 << 20;

/// A JSON-lines input line longer than this is refused (it is reported, not read whole).
pub const MAX_JSONL_LINE_BYTES: usize = 16 << 20;

/// Replaces each finding with a placeholder numbered per distinct value and entity:
/// `[PERSON_1]`, `[EMAIL_1]`, `[PERSON_2]`…
pub fn placeholder_text(text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut numbers: HashMap<(&str, &str), usize> = HashMap::new();
    let mut per_entity: HashMap<&str, usize> = HashMap::new();
    let mut at = 0;
    for f in findings {
        out.push_str(&text[at..f.start]);
        let entity = f.entity.as_str();
        let n = *numbers
            .entry((entity, &text[f.start..f.end]))
            .or_insert_with(|| {
                let c = per_entity.entry(entity).or_default();
                *c += 1;
                *c
            });
        out.push_str(&format!("[{entity}_{n}]"));
        at = f.end;
    }
    out.push_str(&text[at..]);
    out
}

/// The findings table of plain mode. Secret values are shown only by their first
/// characters.
pub fn findings_table(text: &str, findings: &[Finding]) -> String {
    let mut rows = vec![[
        "start".to_owned(),
        "end".to_owned(),
        "entity".to_owned(),
        "nature".to_owned(),
        "sensitivity".to_owned(),
        "rule".to_owned(),
        "score".to_owned(),
        "value".to_owned(),
    ]];
    for f in findings {
        let value = &text[f.start..f.end];
        let shown = if f.nature == crate::detect::Nature::Secret {
            let head: String = value.chars().take(4).collect();
            format!("{head}…")
        } else {
            let flat = value.replace(['\n', '\r', '\t'], " ");
            if flat.chars().count() > 40 {
                format!("{}…", flat.chars().take(39).collect::<String>())
            } else {
                flat
            }
        };
        rows.push([
            f.start.to_string(),
            f.end.to_string(),
            f.entity.to_string(),
            f.nature.as_str().to_owned(),
            f.sensitivity.as_str().to_owned(),
            f.rule.to_string(),
            format!("{:.2}", f.score),
            shown,
        ]);
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[derive(Deserialize)]
struct InLine {
    id: serde_json::Value,
    text: String,
}

#[derive(Serialize)]
struct OutFinding<'a> {
    start: usize,
    end: usize,
    entity: &'a str,
    nature: &'a str,
    sensitivity: &'a str,
    rule: &'a str,
    score: f32,
}

#[derive(Serialize)]
struct OutLine<'a> {
    id: &'a serde_json::Value,
    findings: Vec<OutFinding<'a>>,
}

/// Counts of a JSON-lines run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JsonlSummary {
    pub lines: usize,
    pub bad_lines: usize,
}

/// Runs JSON-lines mode from `input` to `output`, errors to `errors`.
///
/// # Errors
/// Only I/O errors on the streams; bad lines are reported to `errors` and counted.
pub fn scan_jsonl(
    detector: &Detector,
    input: impl BufRead,
    mut output: impl Write,
    mut errors: impl Write,
) -> io::Result<JsonlSummary> {
    let mut summary = JsonlSummary::default();
    let mut input = input;
    let mut buf = Vec::new();
    let limit = MAX_JSONL_LINE_BYTES as u64 + 1;
    let mut number = 0usize;
    loop {
        buf.clear();
        let n = io::Read::take(&mut input, limit).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        number += 1;
        if buf.len() > MAX_JSONL_LINE_BYTES && !buf.ends_with(b"\n") {
            // Skip the rest of the over-long line.
            let mut sink = Vec::new();
            input.read_until(b'\n', &mut sink)?;
            summary.bad_lines += 1;
            writeln!(
                errors,
                "line {number}: longer than {MAX_JSONL_LINE_BYTES} bytes, skipped"
            )?;
            continue;
        }
        let mut line = trim_ascii(&buf);
        if number == 1 {
            line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        }
        if line.is_empty() {
            continue;
        }
        summary.lines += 1;
        let parsed: InLine = match serde_json::from_slice(line) {
            Ok(p) => p,
            Err(e) => {
                summary.bad_lines += 1;
                // serde_json's own messages quote values (`invalid type: string "…"`):
                // say only what kind of problem it is and where.
                let what = match e.classify() {
                    serde_json::error::Category::Syntax => "not valid JSON",
                    serde_json::error::Category::Eof => "JSON cut short",
                    serde_json::error::Category::Data | serde_json::error::Category::Io => {
                        "not an object with an \"id\" and a string \"text\""
                    }
                };
                writeln!(
                    errors,
                    "line {number}: {what} (column {}); expected {{\"id\": ..., \"text\": \"...\"}}",
                    e.column()
                )?;
                continue;
            }
        };
        let findings = detector.scan(&parsed.text);
        let out = OutLine {
            id: &parsed.id,
            findings: findings
                .iter()
                .map(|f| OutFinding {
                    start: f.start,
                    end: f.end,
                    entity: f.entity.as_str(),
                    nature: f.nature.as_str(),
                    sensitivity: f.sensitivity.as_str(),
                    rule: &f.rule,
                    score: (f.score * 1000.0).round() / 1000.0,
                })
                .collect(),
        };
        serde_json::to_writer(&mut output, &out)?;
        output.write_all(b"\n")?;
    }
    output.flush()?;
    Ok(summary)
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}
