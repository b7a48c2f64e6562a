//! `paravent scan`: show what would be pseudonymised in a text, or in a whole request.
//!
//! Plain mode runs the text through the proxy's own [`crate::pipeline`] (the
//! deployment's tokens, propagation, and the policy when `--provider` is given) and
//! prints what the provider would read, then a table of findings. `--request PATH`
//! does the same for a request body sent to `PATH`, and prints the body as it would
//! leave. `--jsonl` mode reads `{"id", "text"}` lines and writes one
//! `{"id", "findings": [...]}` line each, offsets in UTF-8 bytes of `text`, end
//! exclusive. A bad input line is reported on stderr with its number (never its text)
//! and the batch goes on. The detector is built once; lines are read through a length
//! limit, in batches scanned on every core, and written back in input order.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::sync::{Mutex, mpsc};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::detect::{Detector, Finding};
use crate::pipeline::{self, Refusal, Summary, ValueAction};
use crate::policy::{Decision, Item, Policy, Principal, Verdict};
use crate::vault::{TokenKey, Vault};
use crate::walk::Walked;

/// What the proxy would do with a request, previewed on its walked slots: they are
/// rewritten in place as the proxy would rewrite them.
///
/// # Errors
/// Why the proxy would refuse it, as the message its client would read.
pub fn preview(
    cfg: &Config,
    key: &TokenKey,
    walked: &mut Walked,
    explain: Option<&Explain<'_>>,
    allow_media: bool,
) -> Result<Summary, String> {
    let scanned = pipeline::scan(&cfg.detector, walked);
    let principal = explain.map_or("anonymous", |e| e.user.as_str());
    let mut vault = Vault::for_request(
        key,
        &cfg.pseudonyms,
        principal,
        cfg.limits.max_vault_entries,
    );
    let refusal_text = |r: Refusal| format!("refused: {r}");
    if let Some(kind) = scanned.secret() {
        return Err(refusal_text(Refusal::Secret {
            kind: kind.to_owned(),
        }));
    }
    let per_finding: Vec<ValueAction> = match explain {
        None => vec![ValueAction::Pseudonymise; scanned.findings().len()],
        Some(e) => {
            let who = Principal {
                user: &e.user,
                team: e.team.as_deref(),
            };
            let judged = pipeline::judge(&scanned, e.allow, e.policy, &who, &e.provider, false);
            if let Verdict::Block { rule, message, .. } = &judged.decision.verdict {
                return Err(format!("blocked by policy rule {rule}: {message}"));
            }
            judged.per_finding
        }
    };
    let actions = scanned.value_actions(&per_finding);
    pipeline::rewrite(scanned, walked, &mut vault, &actions, allow_media)
        .map_err(|r| refusal_text(r.refusal))
}

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
    /// With `--explain`: the policy's decision for each finding, then the request's.
    #[serde(skip_serializing_if = "Option::is_none")]
    decisions: Option<Vec<OutDecision>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<OutVerdict>,
}

#[derive(Serialize)]
struct OutDecision {
    action: &'static str,
    rule: String,
}

#[derive(Serialize)]
struct OutVerdict {
    decision: &'static str,
    rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

/// What `--explain` evaluates the policy for: a destination and a principal, under the
/// configuration's policy and allow lists.
#[derive(Debug, Clone)]
pub struct Explain<'a> {
    pub policy: &'a Policy,
    pub allow: &'a crate::policy::allow::AllowLists,
    pub provider: String,
    pub user: String,
    pub team: Option<String>,
}

/// The policy's decision for a text's findings, with what an allow list let through.
#[derive(Debug)]
pub struct Explained {
    /// Per finding: its action and the rule (or allow list) that chose it.
    pub per_finding: Vec<(&'static str, String)>,
    /// The policy's decision on the findings no allow list lets through.
    pub decision: Decision,
}

impl Explain<'_> {
    /// The decision for `findings` of `text`: the allow lists first, then the policy,
    /// as the proxy judges them.
    pub fn decide(&self, text: &str, findings: &[Finding]) -> Explained {
        let allowed: Vec<Option<String>> = findings
            .iter()
            .map(|f| {
                let value = text.get(f.start..f.end).unwrap_or("");
                self.allow
                    .allows(self.team.as_deref(), f.entity.as_str(), f.nature, value)
            })
            .collect();
        let items: Vec<Item<'_>> = findings
            .iter()
            .zip(&allowed)
            .filter(|(_, a)| a.is_none())
            .map(|(f, _)| Item {
                entity: f.entity.as_str(),
                nature: f.nature,
                sensitivity: f.sensitivity,
            })
            .collect();
        let who = Principal {
            user: &self.user,
            team: self.team.as_deref(),
        };
        let decision = self.policy.explain(&items, &who, &self.provider);
        let mut choices = decision.choices.iter();
        let per_finding = allowed
            .into_iter()
            .map(|a| match a {
                Some(list) => ("allow", list),
                None => choices.next().map_or(("pseudonymise", String::new()), |c| {
                    (c.action.as_str(), c.rule.clone())
                }),
            })
            .collect();
        Explained {
            per_finding,
            decision,
        }
    }
}

fn out_verdict(v: &Verdict) -> OutVerdict {
    match v {
        Verdict::Forward { rule } => OutVerdict {
            decision: "forwarded",
            rule: rule.clone(),
            provider: None,
            model: None,
            message: None,
        },
        Verdict::Route { to, model, rule } => OutVerdict {
            decision: "routed",
            rule: Some(rule.clone()),
            provider: Some(to.clone()),
            model: model.clone(),
            message: None,
        },
        Verdict::Block {
            rule,
            categories,
            message,
        } => OutVerdict {
            decision: "blocked",
            rule: Some(rule.clone()),
            provider: None,
            model: None,
            message: Some(format!("{} ({})", message, categories.join(", "))),
        },
    }
}

/// The plain-mode explanation: one line per finding (its action, rule and why), then
/// the request's verdict. Values are not shown (the findings table above shows them).
pub fn explain_text(explain: &Explain<'_>, text: &str, findings: &[Finding]) -> String {
    let Explained {
        per_finding,
        decision: d,
    } = explain.decide(text, findings);
    let who = match &explain.team {
        Some(t) => format!("user {} (team {t})", explain.user),
        None => format!("user {}", explain.user),
    };
    let mut out = format!("policy for {who}, provider {}:\n", explain.provider);
    for (f, (action, rule)) in findings.iter().zip(&per_finding) {
        out.push_str(&format!(
            "  {}..{} {} {}/{} -> {action} (rule {rule})\n",
            f.start,
            f.end,
            f.entity,
            f.nature.as_str(),
            f.sensitivity.as_str(),
        ));
    }
    out.push_str("why:\n");
    for t in &d.trace {
        out.push_str(&format!("  {t}\n"));
    }
    match &d.verdict {
        Verdict::Forward { rule } => out.push_str(&format!(
            "verdict: forwarded to {} (rule {})\n",
            explain.provider,
            rule.as_deref().unwrap_or("none: no findings")
        )),
        Verdict::Route { to, model, rule } => out.push_str(&format!(
            "verdict: routed to {to}{} (rule {rule})\n",
            model
                .as_deref()
                .map(|m| format!(", model {m}"))
                .unwrap_or_default()
        )),
        Verdict::Block {
            rule,
            categories,
            message,
        } => out.push_str(&format!(
            "verdict: blocked (rule {rule}): {}; {message}\n",
            categories.join(", ")
        )),
    }
    out
}

/// Counts of a JSON-lines run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JsonlSummary {
    pub lines: usize,
    pub bad_lines: usize,
}

/// Runs JSON-lines mode from `input` to `output`, errors to `errors`, on one thread.
///
/// # Errors
/// Only I/O errors on the streams; bad lines are reported to `errors` and counted.
pub fn scan_jsonl(
    detector: &Detector,
    input: impl BufRead + Send,
    output: impl Write,
    errors: impl Write,
) -> io::Result<JsonlSummary> {
    scan_jsonl_explained(detector, None, 1, input, output, errors)
}

/// Lines are handed to the scanning threads in batches of about this many bytes (one
/// line at least), so that a thread's share of the work outweighs passing it around.
pub const JSONL_BATCH_BYTES: usize = 256 << 10;
/// And of at most this many lines (short lines: one allocation per batch, not per line).
const JSONL_BATCH_LINES: usize = 4096;
/// Batches read and not yet written, per scanning thread: bounds the memory held when
/// one batch is slow (its successors wait, already scanned, in order).
const JSONL_BATCHES_IN_FLIGHT_PER_THREAD: usize = 3;

/// As [`scan_jsonl`] on `threads` scanning threads (`0`: one per processor); with
/// `explain`, each output line also holds `decisions` (one `{action, rule}` per finding)
/// and the request's `verdict`.
///
/// The input is read in bounded lines and batches (never whole), and the output is the
/// same, byte for byte and in the same order, whatever the number of threads: one thread
/// reads, the scanning threads take whole batches, and the calling thread writes the
/// batches back in input order.
///
/// # Errors
/// As [`scan_jsonl`].
pub fn scan_jsonl_explained(
    detector: &Detector,
    explain: Option<&Explain<'_>>,
    threads: usize,
    input: impl BufRead + Send,
    mut output: impl Write,
    mut errors: impl Write,
) -> io::Result<JsonlSummary> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let mut summary = JsonlSummary::default();
    if threads <= 1 {
        let mut reader = BatchReader::new(input);
        while let Some(batch) = reader.next_batch()? {
            let done = scan_batch(detector, explain, &batch);
            done.write(&mut output, &mut errors, &mut summary)?;
        }
        output.flush()?;
        return Ok(summary);
    }
    let in_flight = threads * JSONL_BATCHES_IN_FLIGHT_PER_THREAD;
    // The work queue holds every batch a token allows, so the reader waits only for a
    // token (or its input), and stops as soon as the writer stops.
    let (work_tx, work_rx) = mpsc::sync_channel::<Batch>(in_flight);
    let work_rx = Mutex::new(work_rx);
    let work_rx = &work_rx;
    let (done_tx, done_rx) = mpsc::channel::<ScannedBatch>();
    // A batch may be read only when a token is free; the writer gives one back per
    // batch written.
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        let _ = token_tx.send(());
    }
    std::thread::scope(move |s| {
        let reading = s.spawn(move || -> io::Result<()> {
            let mut reader = BatchReader::new(input);
            while token_rx.recv().is_ok() {
                let Some(batch) = reader.next_batch()? else {
                    break;
                };
                if work_tx.send(batch).is_err() {
                    break;
                }
            }
            // Without a token the writer stopped on an error: it reports it.
            Ok(())
        });
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            s.spawn(move || {
                loop {
                    // A poisoned lock means another scanning thread panicked: the
                    // scope re-raises that panic.
                    let Ok(next) = work_rx.lock().map(|rx| rx.recv()) else {
                        break;
                    };
                    let Ok(batch) = next else { break };
                    if done_tx.send(scan_batch(detector, explain, &batch)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0usize;
        for done in done_rx {
            waiting.insert(done.seq, done);
            while let Some(done) = waiting.remove(&next) {
                done.write(&mut output, &mut errors, &mut summary)?;
                next += 1;
                let _ = token_tx.send(());
            }
        }
        // Every scanning thread has stopped, so the reader has stopped too.
        match reading.join() {
            Ok(read) => read?,
            Err(panic) => std::panic::resume_unwind(panic),
        }
        output.flush()?;
        Ok(summary)
    })
}

/// Input lines read together: their bytes back to back, and where each one is.
struct Batch {
    seq: usize,
    bytes: Vec<u8>,
    lines: Vec<BatchLine>,
}

/// One input line of a batch: its number (from 1) and its bytes in the batch, or
/// `None` when it was longer than [`MAX_JSONL_LINE_BYTES`] and skipped unread.
struct BatchLine {
    number: usize,
    range: Option<std::ops::Range<usize>>,
}

/// Reads input lines, each through a limit, into batches.
struct BatchReader<R> {
    input: R,
    number: usize,
    seq: usize,
}

impl<R: BufRead> BatchReader<R> {
    fn new(input: R) -> Self {
        BatchReader {
            input,
            number: 0,
            seq: 0,
        }
    }

    /// The next batch, `None` at the end of the input.
    fn next_batch(&mut self) -> io::Result<Option<Batch>> {
        let limit = MAX_JSONL_LINE_BYTES as u64 + 1;
        let mut batch = Batch {
            seq: self.seq,
            bytes: Vec::new(),
            lines: Vec::new(),
        };
        while batch.bytes.len() < JSONL_BATCH_BYTES && batch.lines.len() < JSONL_BATCH_LINES {
            let at = batch.bytes.len();
            let n = io::Read::take(&mut self.input, limit).read_until(b'\n', &mut batch.bytes)?;
            if n == 0 {
                break;
            }
            self.number += 1;
            let range = if n > MAX_JSONL_LINE_BYTES && !batch.bytes.ends_with(b"\n") {
                batch.bytes.truncate(at);
                self.skip_line()?;
                None
            } else {
                Some(at..at + n)
            };
            batch.lines.push(BatchLine {
                number: self.number,
                range,
            });
        }
        if batch.lines.is_empty() {
            return Ok(None);
        }
        self.seq += 1;
        Ok(Some(batch))
    }

    /// Skips the rest of an over-long line without keeping it.
    fn skip_line(&mut self) -> io::Result<()> {
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(());
            }
            match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    self.input.consume(i + 1);
                    return Ok(());
                }
                None => {
                    let n = buf.len();
                    self.input.consume(n);
                }
            }
        }
    }
}

/// What a batch gives: its output lines and its error lines, in input order.
struct ScannedBatch {
    seq: usize,
    output: Vec<u8>,
    errors: Vec<u8>,
    summary: JsonlSummary,
}

impl ScannedBatch {
    fn write(
        &self,
        output: &mut impl Write,
        errors: &mut impl Write,
        summary: &mut JsonlSummary,
    ) -> io::Result<()> {
        output.write_all(&self.output)?;
        errors.write_all(&self.errors)?;
        summary.lines += self.summary.lines;
        summary.bad_lines += self.summary.bad_lines;
        Ok(())
    }
}

fn scan_batch(detector: &Detector, explain: Option<&Explain<'_>>, batch: &Batch) -> ScannedBatch {
    let mut done = ScannedBatch {
        seq: batch.seq,
        output: Vec::with_capacity(batch.bytes.len() / 2),
        errors: Vec::new(),
        summary: JsonlSummary::default(),
    };
    for line in &batch.lines {
        let number = line.number;
        let Some(range) = line.range.clone() else {
            done.summary.bad_lines += 1;
            // Writing into a Vec cannot fail.
            let _ = writeln!(
                done.errors,
                "line {number}: longer than {MAX_JSONL_LINE_BYTES} bytes, skipped"
            );
            continue;
        };
        let _ = scan_line(detector, explain, number, &batch.bytes[range], &mut done);
    }
    done
}

/// Scans one input line into `done`'s output (or its errors).
fn scan_line(
    detector: &Detector,
    explain: Option<&Explain<'_>>,
    number: usize,
    raw: &[u8],
    done: &mut ScannedBatch,
) -> io::Result<()> {
    let mut line = trim_ascii(raw);
    if number == 1 {
        line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    }
    if line.is_empty() {
        return Ok(());
    }
    done.summary.lines += 1;
    let parsed: InLine = match serde_json::from_slice(line) {
        Ok(p) => p,
        Err(e) => {
            done.summary.bad_lines += 1;
            // serde_json's own messages quote values (`invalid type: string "…"`):
            // say only what kind of problem it is and where.
            let what = match e.classify() {
                serde_json::error::Category::Syntax => "not valid JSON",
                serde_json::error::Category::Eof => "JSON cut short",
                serde_json::error::Category::Data | serde_json::error::Category::Io => {
                    "not an object with an \"id\" and a string \"text\""
                }
            };
            return writeln!(
                done.errors,
                "line {number}: {what} (column {}); expected {{\"id\": ..., \"text\": \"...\"}}",
                e.column()
            );
        }
    };
    let findings = detector.scan(&parsed.text);
    let explained = explain.map(|e| e.decide(&parsed.text, &findings));
    let out = OutLine {
        decisions: explained.as_ref().map(|x| {
            x.per_finding
                .iter()
                .map(|(action, rule)| OutDecision {
                    action,
                    rule: rule.clone(),
                })
                .collect()
        }),
        verdict: explained.as_ref().map(|x| out_verdict(&x.decision.verdict)),
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
    serde_json::to_writer(&mut done.output, &out)?;
    done.output.push(b'\n');
    Ok(())
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}
