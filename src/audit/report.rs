//! \[pure\] The auditor's report: audit records aggregated per period, principal, team,
//! provider, jurisdiction, model, decision and rule; findings per entity, nature,
//! sensitivity, action and rule; refusals and why; routes; energy and tokens; values that
//! went out more than once (counted by their keyed hashes, never shown).
//!
//! [`build`] takes the files' texts, verifies their chain with [`verify`](super::verify)
//! and aggregates the records in a [`TimeRange`]; [`html`] and [`markdown`] render the
//! [`Report`], which serialises as the JSON format (schema [`SCHEMA`], docs/REPORT.md).
//! No I/O here: `main` reads the files and writes the output.
//!
//! A record carries counts and keyed hashes only, so the report can hold nothing else;
//! every string that comes from a record (principal, team, model, rule…) is escaped by the
//! renderers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::verify::{ChainSummary, Verifier};
use super::{AuditRecord, Decision, Kind, RequestFields, Would, rfc3339};

pub mod evidence;
pub mod html;
pub mod markdown;
pub mod words;

pub use words::Lang;

/// The JSON report's schema name and version (bumped on any incompatible change).
pub const SCHEMA: &str = "paravent-audit-report/1";

/// Microseconds in a day.
const DAY_US: i64 = 86_400_000_000;

/// A `--from`/`--to` value that is not an RFC 3339 date or date-time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("--{0} is not an RFC 3339 date (2026-05-01) or date-time (2026-05-01T08:00:00Z)")]
    Invalid(&'static str),
    #[error("--since/--from is not before --until/--to: the period is empty")]
    Empty,
}

/// The period a report covers: `from` inclusive, `to` exclusive, in microseconds since
/// the Unix epoch (UTC). A `--to` given as a date alone includes that whole day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
}

impl TimeRange {
    /// Parses `--from` and `--to`.
    ///
    /// # Errors
    /// [`RangeError::Invalid`] for a value that is not RFC 3339, [`RangeError::Empty`]
    /// when `from` is not before `to`.
    ///
    /// ```
    /// use paravent::audit::report::TimeRange;
    /// let may = TimeRange::parse(Some("2026-05-01"), Some("2026-05-31")).unwrap();
    /// assert!(may.contains_time("2026-05-31T23:59:59.999999Z"));
    /// assert!(!may.contains_time("2026-06-01T00:00:00.000000Z"));
    /// let morning = TimeRange::parse(None, Some("2026-05-01T12:00:00+02:00")).unwrap();
    /// assert!(morning.contains_time("2026-05-01T09:59:59.000000Z"));
    /// assert!(!morning.contains_time("2026-05-01T10:00:00.000000Z"));
    /// ```
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<TimeRange, RangeError> {
        let from_us = match from {
            Some(s) => Some(parse_time(s).ok_or(RangeError::Invalid("since/--from"))?.0),
            None => None,
        };
        let to_us = match to {
            Some(s) => {
                let (us, date_only) = parse_time(s).ok_or(RangeError::Invalid("until/--to"))?;
                Some(if date_only { us + DAY_US } else { us })
            }
            None => None,
        };
        if let (Some(f), Some(t)) = (from_us, to_us)
            && f >= t
        {
            return Err(RangeError::Empty);
        }
        Ok(TimeRange { from_us, to_us })
    }

    /// Whether a record time falls in the range (an unreadable time falls in none but
    /// the unbounded range).
    pub fn contains_time(&self, time: &str) -> bool {
        match parse_time(time) {
            Some((us, _)) => self.contains(us),
            None => self.from_us.is_none() && self.to_us.is_none(),
        }
    }

    /// Whether records timed from `first` to `last` (a file's two ends: records are in
    /// time order in a file) are all outside the period; `false` when either time does
    /// not read.
    ///
    /// ```
    /// use paravent::audit::report::TimeRange;
    /// let may = TimeRange::parse(Some("2026-05-01"), Some("2026-05-31")).unwrap();
    /// assert!(may.excludes("2026-04-01T00:00:00Z", "2026-04-30T23:59:59Z"));
    /// assert!(!may.excludes("2026-04-30T00:00:00Z", "2026-05-01T00:00:00Z"));
    /// assert!(may.excludes("2026-06-01T00:00:00Z", "2026-06-02T00:00:00Z"));
    /// ```
    pub fn excludes(&self, first: &str, last: &str) -> bool {
        let (Some((first, _)), Some((last, _))) = (parse_time(first), parse_time(last)) else {
            return false;
        };
        self.from_us.is_some_and(|f| last < f) || self.to_us.is_some_and(|t| first >= t)
    }

    /// Whether the period has a bound.
    pub fn is_bounded(&self) -> bool {
        self.from_us.is_some() || self.to_us.is_some()
    }

    fn contains(&self, us: i64) -> bool {
        self.from_us.is_none_or(|f| us >= f) && self.to_us.is_none_or(|t| us < t)
    }

    fn bound(us: Option<i64>) -> Option<String> {
        us.map(time_of_us)
    }
}

/// Parses an RFC 3339 date (`2026-05-01`, as midnight UTC; `true` for date-only) or
/// date-time with `Z` or an offset, fractional seconds optional, to microseconds since
/// the Unix epoch.
fn parse_time(s: &str) -> Option<(i64, bool)> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if b.len() == 10 {
        return Some((days * DAY_US, true));
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &s[start..i.min(start + 6)];
        micros = digits.parse::<i64>().ok()? * 10i64.pow(6 - digits.len() as u32);
    }
    let offset_s = match &s[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') => {
            if rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if rest.as_bytes()[0] == b'-' { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss - offset_s;
    Some((secs * 1_000_000 + micros, false))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`,
/// public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Microseconds since the epoch as a record-style RFC 3339 time.
fn time_of_us(us: i64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_micros(u64::try_from(us).unwrap_or(0)))
}

/// The report; serialised as is for `--format json` (docs/REPORT.md describes it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// When the report was made (RFC 3339, UTC), as `main` gives it.
    pub generated_at: String,
    pub integrity: Integrity,
    pub period: Period,
    pub totals: Totals,
    /// Per UTC day, oldest first.
    pub by_day: Vec<Group>,
    /// Per UTC month (`2026-05`), oldest first.
    pub by_month: Vec<Group>,
    pub by_principal: Vec<Group>,
    pub by_team: Vec<Group>,
    pub by_provider: Vec<Group>,
    pub by_jurisdiction: Vec<Group>,
    pub by_model: Vec<Group>,
    /// In the order forwarded, routed, blocked, refused, then not reported.
    pub by_decision: Vec<Group>,
    /// The policy rule behind each request's decision.
    pub by_rule: Vec<Group>,
    pub findings: Findings,
    /// Blocked and refused requests, grouped by decision, refusal code and rule.
    pub refusals: Vec<Refusal>,
    /// Routed requests, grouped by asked provider, provider used and rule.
    pub routes: Vec<Route>,
    /// Per entity: values (by keyed hash) that left in more than one request.
    pub repeated_values: Vec<Repeated>,
    /// Requests per policy version (BLAKE3 of the configuration in force).
    pub policy_versions: Vec<Tally>,
    /// Requests per instance id.
    pub instances: Vec<Tally>,
    /// The requests recorded in observe mode: what enforcement would have done.
    pub observed: Observed,
    /// The figures of the "Evidence" section (C1–C7), with their sources
    /// (docs/REPORT.md, "Evidence").
    pub evidence: evidence::Evidence,
}

/// What enforcement would have done to the requests recorded in observe mode (they
/// were forwarded as sent; the figures above count them as forwarded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    /// Every observed request (`key` is null).
    pub total: ObservedGroup,
    /// Per entity found: the observed requests holding it, what would have become of
    /// them, and the values of this entity that would have been pseudonymised / redacted.
    pub by_entity: Vec<ObservedGroup>,
    pub by_team: Vec<ObservedGroup>,
    /// Per provider asked for.
    pub by_provider: Vec<ObservedGroup>,
    /// Per policy rule that would have decided the request.
    pub by_rule: Vec<ObservedGroup>,
}

/// Observed requests that share a key, by what enforcement would have done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ObservedGroup {
    /// The value; `null` when the records do not say (no team, no rule).
    pub key: Option<String>,
    pub requests: u64,
    /// Of those, what enforcement would have decided.
    pub would_forward: u64,
    pub would_route: u64,
    pub would_block: u64,
    pub would_refuse: u64,
    /// Distinct values (per request, summed) that would have been pseudonymised and
    /// redacted.
    pub pseudonymised: u64,
    pub redacted: u64,
}

impl ObservedGroup {
    fn add(&mut self, w: &Would, entity: Option<&str>) {
        self.requests += 1;
        match w.decision {
            Decision::Forwarded => self.would_forward += 1,
            Decision::Routed => self.would_route += 1,
            Decision::Blocked => self.would_block += 1,
            Decision::Refused => self.would_refuse += 1,
        }
        let values = |m: &BTreeMap<String, u64>| match entity {
            Some(e) => m.get(e).copied().unwrap_or(0),
            None => m.values().sum(),
        };
        self.pseudonymised += values(&w.pseudonymised);
        self.redacted += values(&w.redacted);
    }
}

/// Whether the chains behind the report are intact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Integrity {
    /// Every chain verified (and the checkpoints given are in them).
    pub verified: bool,
    /// The input files, in the order given.
    pub files: Vec<String>,
    /// The first checkpoint given, when one was (all of them: `checkpoints_given`).
    pub checkpoint_given: Option<String>,
    /// The checkpoints the chains were checked against.
    pub checkpoints_given: Vec<String>,
    /// Records in the files (chain starts included), when verified.
    pub records: Option<u64>,
    /// Chains (one per instance start), when verified.
    pub chains: Option<u64>,
    /// The last hash of the chain of the last record read, when verified: the
    /// checkpoint to keep (per chain: `by_chain`).
    pub last_hash: Option<String>,
    /// Each chain: instance, chain id, records, first and last time, last hash, whether
    /// it was closed and whether it verified (`bad` names its first bad record).
    pub by_chain: Vec<ChainSummary>,
    /// The first record that breaks the chain, when not verified.
    pub first_bad: Option<BadRecordInfo>,
    /// Lines that are not audit records at all (left out of the figures).
    pub unreadable_lines: u64,
    /// Files wholly outside the period (`--since`/`--until`), known from their first and
    /// last records: those two are checked and linked into their chain, the records
    /// between them are neither read nor verified (nor counted in `records`).
    pub files_skipped: Vec<String>,
}

/// Where the chain breaks (from [`super::verify::BadRecord`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRecordInfo {
    pub file: String,
    pub line: usize,
    pub request_id: Option<String>,
    pub reason: String,
}

/// The period asked for and the one the records cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// `--from`, inclusive, normalised to UTC.
    pub from: Option<String>,
    /// `--to`, exclusive, normalised to UTC (a date alone was moved to the next midnight).
    pub to: Option<String>,
    /// Times of the first and last request records reported.
    pub first_record: Option<String>,
    pub last_record: Option<String>,
    /// Request records outside the period (left out).
    pub outside_period: u64,
}

/// Figures over every request reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub forwarded: u64,
    pub routed: u64,
    pub blocked: u64,
    pub refused: u64,
    /// Records without a decision (written before decisions were recorded).
    pub decision_not_reported: u64,
    /// Findings, all entities.
    pub findings: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub tokens: Tokens,
    pub energy: Energy,
}

/// Token usage as the providers reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tokens {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Requests with reported usage, and without (refusals, providers that do not say).
    pub requests_reported: u64,
    pub requests_not_reported: u64,
}

/// The energy estimate (docs/AUDIT.md gives the method).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Energy {
    /// Sum of the records' `energy_uwh`, in microwatt-hours (exact).
    pub uwh: u64,
    /// The same in watt-hours.
    pub wh: f64,
    pub requests_reported: u64,
    pub requests_not_reported: u64,
}

/// Figures for one value of a dimension (a day, a principal, a provider…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The value; `null` when the records do not say (no team, older records…).
    pub key: Option<String>,
    pub requests: u64,
    pub forwarded: u64,
    pub routed: u64,
    pub blocked: u64,
    pub refused: u64,
    pub findings: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// `null` when no request of the group reported usage / an energy estimate.
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub energy_uwh: Option<u64>,
}

/// Findings counted one way (per entity, nature, sensitivity, action or rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Findings {
    pub by_entity: Vec<FindingCount>,
    pub by_nature: Vec<FindingCount>,
    pub by_sensitivity: Vec<FindingCount>,
    pub by_action: Vec<FindingCount>,
    pub by_rule: Vec<FindingCount>,
}

/// Findings of one kind: how many, in how many requests, and what became of those.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingCount {
    pub key: String,
    pub findings: u64,
    pub requests: u64,
    /// Of those requests: sent (forwarded or routed), and blocked or refused.
    pub requests_sent: u64,
    pub requests_stopped: u64,
}

/// Blocked or refused requests that share a decision, a refusal code and a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// `blocked` or `refused`.
    pub decision: Decision,
    pub code: Option<String>,
    pub rule: Option<String>,
    pub requests: u64,
    /// The request ids, for blocked requests (a policy decision an auditor may want to
    /// trace); empty for refusals.
    pub request_ids: Vec<String>,
}

/// Routed requests that share their asked provider, the provider used and the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub from: Option<String>,
    pub to: Option<String>,
    pub rule: Option<String>,
    pub requests: u64,
}

/// Per entity, the values that left (forwarded or routed requests) more than once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repeated {
    pub entity: String,
    /// Distinct values of this entity in requests sent.
    pub distinct_values: u64,
    /// Of those, values seen in two requests or more.
    pub repeated_values: u64,
    /// Requests that carried a repeated value (counted once per value).
    pub occurrences: u64,
    /// The most requests one value was sent in.
    pub max_requests_per_value: u64,
    /// 1 when every value was counted; N when the distinct values were too many to
    /// count in bounded memory and one value in N was (chosen by its hash, every
    /// occurrence of a chosen value counted): the three counts above are then that
    /// sample's times N, estimates, and the maximum is the sample's.
    pub sampling: u64,
}

/// A count of request records per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub key: String,
    pub requests: u64,
}

/// Builds the report over `files` (name, text) of any number of instances, in any
/// order.
///
/// The chains are verified (against `checkpoints`): the report is built in any case,
/// from every line that reads as a record, and [`Integrity`] says whether each chain
/// held and where the first broke. `generated_at` is written as given.
///
/// ```
/// use paravent::audit::{AuditRecord, anchor, report};
/// let mut r = AuditRecord::chain_start("c".into(), "i".into(), "p".into(), "t".into());
/// let text = format!("{}\n", r.seal(&anchor("c")).unwrap());
/// let rep = report::build(&[("a.jsonl", &text)], &[], &Default::default(), "now");
/// assert!(rep.integrity.verified);
/// assert_eq!(rep.totals.requests, 0);
/// ```
pub fn build(
    files: &[(&str, &str)],
    checkpoints: &[&str],
    range: &TimeRange,
    generated_at: &str,
) -> Report {
    let mut b = Builder::new(checkpoints, range);
    for (name, text) in files {
        b.file(name);
        for line in text.split_terminator('\n') {
            b.push(line);
        }
    }
    b.finish(generated_at)
}

/// The report built one line at a time: [`Builder::file`] before each file's lines,
/// [`Builder::push`] for each line, then [`Builder::finish`]. Records are verified and
/// aggregated as they are read, never collected.
pub struct Builder<'a> {
    verifier: Verifier,
    fold: Fold<'a>,
    files: Vec<String>,
    checkpoints: Vec<String>,
    unreadable_lines: u64,
    files_skipped: Vec<String>,
    /// The chain of the last record read, and where it was.
    last: Option<(String, String, usize, Option<String>)>,
    line: usize,
}

impl<'a> Builder<'a> {
    pub fn new<S: AsRef<str>>(checkpoints: &[S], range: &'a TimeRange) -> Builder<'a> {
        Builder {
            verifier: Verifier::new(checkpoints),
            fold: Fold::new(range),
            files: Vec::new(),
            checkpoints: checkpoints.iter().map(|c| c.as_ref().to_owned()).collect(),
            unreadable_lines: 0,
            files_skipped: Vec::new(),
            last: None,
            line: 0,
        }
    }

    /// The lines pushed from now on are those of the file `name`.
    pub fn file(&mut self, name: &str) {
        self.files.push(name.to_owned());
        self.verifier.file(name);
        self.line = 0;
    }

    /// A file outside the period, known by its `first` and `last` lines only: they are
    /// checked and linked into their chain, what is between is taken as read.
    pub fn skip(&mut self, name: &str, first: &str, last: &str) {
        self.files.push(name.to_owned());
        self.files_skipped.push(name.to_owned());
        self.verifier.file(name);
        // Its two ends still count for the evidence: the governance in force (a file
        // starts with a chain-start or file-start) and the chain's checkpoints.
        if let Some(r) = self.verifier.push(first) {
            self.fold.note(&r);
        }
        if first != last
            && let Some(r) = self.verifier.push_after_gap(last)
        {
            self.fold.note(&r);
        }
        self.line = 0;
    }

    /// One line (without its newline) of the current file.
    pub fn push(&mut self, line: &str) {
        self.line += 1;
        match self.verifier.push(line) {
            Some(r) => {
                self.fold.add(&r);
                self.last = Some((
                    r.chain_id,
                    self.files.last().cloned().unwrap_or_default(),
                    self.line,
                    r.request.map(|q| q.request_id),
                ));
            }
            None => self.unreadable_lines += 1,
        }
    }

    pub fn finish(self, generated_at: &str) -> Report {
        let done = self.verifier.finish();
        let verified = done.ok();
        let first_bad = match (done.first_bad(), &self.last) {
            (Some(b), _) => Some(BadRecordInfo {
                file: b.file.clone(),
                line: b.line,
                request_id: b.request_id.clone(),
                reason: b.reason.clone(),
            }),
            (None, Some((_, file, line, rid))) if !done.missing_checkpoints.is_empty() => {
                Some(BadRecordInfo {
                    file: file.clone(),
                    line: *line,
                    request_id: rid.clone(),
                    reason:
                        "the checkpoint is not in the chain: records after this one were removed"
                            .to_owned(),
                })
            }
            _ => None,
        };
        let last_hash = self.last.as_ref().and_then(|(id, ..)| {
            done.chains
                .iter()
                .find(|c| &c.chain_id == id)
                .map(|c| c.last_hash.clone())
        });
        let integrity = Integrity {
            verified,
            files: self.files,
            checkpoint_given: self.checkpoints.first().cloned(),
            checkpoints_given: self.checkpoints,
            records: verified.then_some(done.records),
            chains: verified.then_some(done.chains.len() as u64),
            last_hash: last_hash.filter(|_| verified),
            by_chain: done.chains,
            first_bad,
            unreadable_lines: self.unreadable_lines,
            files_skipped: self.files_skipped,
        };
        self.fold.finish(integrity, generated_at)
    }
}

/// Aggregates `records` (chain starts are skipped) that fall in `range`.
pub fn aggregate(
    records: &[AuditRecord],
    range: &TimeRange,
    integrity: Integrity,
    generated_at: &str,
) -> Report {
    let mut fold = Fold::new(range);
    for rec in records {
        fold.add(rec);
    }
    fold.finish(integrity, generated_at)
}

/// The aggregation in progress, one record at a time.
struct Fold<'a> {
    range: &'a TimeRange,
    agg: Aggregator,
    outside_period: u64,
    first: Option<(i64, String)>,
    last: Option<(i64, String)>,
}

impl<'a> Fold<'a> {
    fn new(range: &'a TimeRange) -> Fold<'a> {
        Fold {
            range,
            agg: Aggregator::default(),
            outside_period: 0,
            first: None,
            last: None,
        }
    }

    /// A record that counts for the evidence only (governance, checkpoints, chain
    /// positions): the ends of a file outside the period. Returns its time.
    fn note(&mut self, rec: &AuditRecord) -> Option<i64> {
        let parsed = parse_time(&rec.time).map(|t| t.0);
        let before_end = match (parsed, self.range.to_us) {
            (Some(us), Some(to)) => us < to,
            _ => true,
        };
        self.agg.evidence.record(rec, parsed, before_end);
        parsed
    }

    fn add(&mut self, rec: &AuditRecord) {
        let parsed = self.note(rec);
        let (Kind::Request, Some(req)) = (rec.kind, &rec.request) else {
            return;
        };
        let inside = match parsed {
            Some(us) => self.range.contains(us),
            None => self.range.from_us.is_none() && self.range.to_us.is_none(),
        };
        if !inside {
            self.outside_period += 1;
            return;
        }
        if let Some(us) = parsed {
            if self.first.as_ref().is_none_or(|f| us < f.0) {
                self.first = Some((us, rec.time.clone()));
            }
            if self.last.as_ref().is_none_or(|l| us >= l.0) {
                self.last = Some((us, rec.time.clone()));
            }
        }
        let day = parsed
            .filter(|us| *us >= 0)
            .map(|us| time_of_us(us)[..10].to_owned());
        self.agg.add(rec, req, day);
    }

    fn finish(self, integrity: Integrity, generated_at: &str) -> Report {
        let period = Period {
            from: TimeRange::bound(self.range.from_us),
            to: TimeRange::bound(self.range.to_us),
            first_record: self.first.map(|f| f.1),
            last_record: self.last.map(|l| l.1),
            outside_period: self.outside_period,
        };
        self.agg.finish(integrity, period, generated_at)
    }
}

/// Running sums for one group.
#[derive(Debug, Default, Clone)]
struct Sums {
    requests: u64,
    decisions: [u64; 5],
    findings: u64,
    bytes_in: u64,
    bytes_out: u64,
    tokens: Option<(u64, u64)>,
    energy_uwh: Option<u64>,
}

impl Sums {
    fn add(&mut self, req: &RequestFields) {
        self.requests += 1;
        self.decisions[decision_index(req.decision)] += 1;
        self.findings += req.findings_by_entity.values().sum::<u64>();
        self.bytes_in += req.bytes_in;
        self.bytes_out += req.bytes_out;
        if let Some(u) = req.usage {
            let (i, o) = self.tokens.unwrap_or_default();
            self.tokens = Some((i + u.input_tokens, o + u.output_tokens));
        }
        if let Some(e) = req.energy_uwh {
            self.energy_uwh = Some(self.energy_uwh.unwrap_or(0) + e);
        }
    }

    fn group(&self, key: Option<String>) -> Group {
        Group {
            key,
            requests: self.requests,
            forwarded: self.decisions[0],
            routed: self.decisions[1],
            blocked: self.decisions[2],
            refused: self.decisions[3],
            findings: self.findings,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            input_tokens: self.tokens.map(|t| t.0),
            output_tokens: self.tokens.map(|t| t.1),
            energy_uwh: self.energy_uwh,
        }
    }
}

/// 0 forwarded, 1 routed, 2 blocked, 3 refused, 4 not reported.
fn decision_index(d: Option<Decision>) -> usize {
    match d {
        Some(Decision::Forwarded) => 0,
        Some(Decision::Routed) => 1,
        Some(Decision::Blocked) => 2,
        Some(Decision::Refused) => 3,
        None => 4,
    }
}

fn is_sent(d: Option<Decision>) -> bool {
    matches!(d, Some(Decision::Forwarded | Decision::Routed))
}

#[derive(Debug, Default)]
struct FindingSums {
    findings: u64,
    requests: u64,
    sent: u64,
    stopped: u64,
}

/// (decision, refusal code, rule) of a refusal group.
type RefusalKey = (Decision, Option<String>, Option<String>);
/// (asked provider, provider used, rule) of a route.
type RouteKey = (Option<String>, Option<String>, Option<String>);

#[derive(Debug, Default)]
struct Aggregator {
    total: Sums,
    usage_reported: u64,
    energy_reported: u64,
    by_day: BTreeMap<Option<String>, Sums>,
    by_month: BTreeMap<Option<String>, Sums>,
    by_principal: BTreeMap<Option<String>, Sums>,
    by_team: BTreeMap<Option<String>, Sums>,
    by_provider: BTreeMap<Option<String>, Sums>,
    by_jurisdiction: BTreeMap<Option<String>, Sums>,
    by_model: BTreeMap<Option<String>, Sums>,
    by_decision: BTreeMap<usize, Sums>,
    by_rule: BTreeMap<Option<String>, Sums>,
    findings: [BTreeMap<String, FindingSums>; 5],
    /// Requests, and the blocked ones' ids (the first [`MAX_REQUEST_IDS`]).
    refusals: BTreeMap<RefusalKey, (u64, Vec<String>)>,
    routes: BTreeMap<RouteKey, u64>,
    /// Requests sent per value, in bounded memory.
    values: ValueCounts,
    policy_versions: BTreeMap<String, u64>,
    instances: BTreeMap<String, u64>,
    observed: ObservedGroup,
    /// Per entity, team, provider and rule.
    observed_by: [BTreeMap<Option<String>, ObservedGroup>; 4],
    evidence: evidence::EvidenceFold,
}

impl Aggregator {
    fn add(&mut self, rec: &AuditRecord, req: &RequestFields, day: Option<String>) {
        self.evidence.request(req, day.as_deref());
        self.total.add(req);
        self.usage_reported += u64::from(req.usage.is_some());
        self.energy_reported += u64::from(req.energy_uwh.is_some());
        let principal = Some(req.principal.clone()).filter(|p| !p.is_empty());
        for (map, key) in [
            (&mut self.by_month, day.as_ref().map(|d| d[..7].to_owned())),
            (&mut self.by_day, day),
            (&mut self.by_principal, principal),
            (&mut self.by_team, req.team.clone()),
            (&mut self.by_provider, req.provider.clone()),
            (&mut self.by_jurisdiction, req.jurisdiction.clone()),
            (&mut self.by_model, req.model.clone()),
            (&mut self.by_rule, req.rule.clone()),
        ] {
            map.entry(key).or_default().add(req);
        }
        self.by_decision
            .entry(decision_index(req.decision))
            .or_default()
            .add(req);
        let sent = is_sent(req.decision);
        let stopped = matches!(req.decision, Some(Decision::Blocked | Decision::Refused));
        for (sums, counts) in self.findings.iter_mut().zip([
            &req.findings_by_entity,
            &req.findings_by_nature,
            &req.findings_by_sensitivity,
            &req.findings_by_action,
            &req.findings_by_rule,
        ]) {
            for (k, n) in counts {
                let s = sums.entry(k.clone()).or_default();
                s.findings += n;
                s.requests += 1;
                s.sent += u64::from(sent);
                s.stopped += u64::from(stopped);
            }
        }
        if let Some(d @ (Decision::Blocked | Decision::Refused)) = req.decision {
            let e = self
                .refusals
                .entry((d, req.refusal.clone(), req.rule.clone()))
                .or_default();
            e.0 += 1;
            if d == Decision::Blocked && e.1.len() < MAX_REQUEST_IDS {
                e.1.push(req.request_id.clone());
            }
        }
        if req.decision == Some(Decision::Routed) {
            *self
                .routes
                .entry((
                    req.requested_provider.clone(),
                    req.provider.clone(),
                    req.rule.clone(),
                ))
                .or_default() += 1;
        }
        if sent {
            // `values` is sorted and distinct per record; a duplicate would not count twice.
            let distinct: BTreeSet<(&str, &str)> = req
                .values
                .iter()
                .map(|v| (v.entity.as_str(), v.hash.as_str()))
                .collect();
            for (entity, hash) in distinct {
                self.values.add(entity, hash);
            }
        }
        *self
            .policy_versions
            .entry(rec.policy_version.clone())
            .or_default() += 1;
        *self.instances.entry(rec.instance_id.clone()).or_default() += 1;
        if let Some(w) = &req.would {
            self.observed.add(w, None);
            let [by_entity, by_team, by_provider, by_rule] = &mut self.observed_by;
            for entity in req.findings_by_entity.keys() {
                by_entity
                    .entry(Some(entity.clone()))
                    .or_default()
                    .add(w, Some(entity));
            }
            for (map, key) in [
                (by_team, &req.team),
                (by_provider, &req.provider),
                (by_rule, &w.rule),
            ] {
                map.entry(key.clone()).or_default().add(w, None);
            }
        }
    }

    fn finish(self, integrity: Integrity, period: Period, generated_at: &str) -> Report {
        let t = &self.total;
        let requests = t.requests;
        let (input_tokens, output_tokens) = t.tokens.unwrap_or_default();
        let energy_uwh = t.energy_uwh.unwrap_or(0);
        let totals = Totals {
            requests,
            forwarded: t.decisions[0],
            routed: t.decisions[1],
            blocked: t.decisions[2],
            refused: t.decisions[3],
            decision_not_reported: t.decisions[4],
            findings: t.findings,
            bytes_in: t.bytes_in,
            bytes_out: t.bytes_out,
            tokens: Tokens {
                input_tokens,
                output_tokens,
                requests_reported: self.usage_reported,
                requests_not_reported: requests - self.usage_reported,
            },
            energy: Energy {
                uwh: energy_uwh,
                wh: energy_uwh as f64 / 1e6,
                requests_reported: self.energy_reported,
                requests_not_reported: requests - self.energy_reported,
            },
        };
        let [entity, nature, sensitivity, action, rule] = self.findings;
        let mut refusals: Vec<Refusal> = self
            .refusals
            .into_iter()
            .map(
                |((decision, code, rule), (requests, request_ids))| Refusal {
                    decision,
                    code,
                    rule,
                    requests,
                    request_ids,
                },
            )
            .collect();
        refusals.sort_by(|a, b| {
            (a.decision, std::cmp::Reverse(a.requests))
                .cmp(&(b.decision, std::cmp::Reverse(b.requests)))
        });
        let mut routes: Vec<Route> = self
            .routes
            .into_iter()
            .map(|((from, to, rule), requests)| Route {
                from,
                to,
                rule,
                requests,
            })
            .collect();
        routes.sort_by_key(|r| std::cmp::Reverse(r.requests));
        let repeated = self.values.finish();
        let by_day = chronological(&self.by_day);
        let by_month = chronological(&self.by_month);
        let by_provider = ranked(self.by_provider);
        let by_jurisdiction = ranked(self.by_jurisdiction);
        let evidence = self.evidence.finish(&by_provider, &by_jurisdiction);
        Report {
            schema: SCHEMA,
            generated_at: generated_at.to_owned(),
            integrity,
            period,
            totals,
            by_day,
            by_month,
            by_principal: ranked(self.by_principal),
            by_team: ranked(self.by_team),
            by_provider,
            by_jurisdiction,
            by_model: ranked(self.by_model),
            by_decision: self
                .by_decision
                .iter()
                .map(|(i, s)| {
                    let key = [
                        Some(Decision::Forwarded),
                        Some(Decision::Routed),
                        Some(Decision::Blocked),
                        Some(Decision::Refused),
                        None,
                    ][*i]
                        .map(|d| d.as_str().to_owned());
                    s.group(key)
                })
                .collect(),
            by_rule: ranked(self.by_rule),
            findings: Findings {
                by_entity: finding_counts(entity),
                by_nature: finding_counts(nature),
                by_sensitivity: finding_counts(sensitivity),
                by_action: finding_counts(action),
                by_rule: finding_counts(rule),
            },
            refusals,
            routes,
            repeated_values: repeated,
            policy_versions: tallies(self.policy_versions),
            instances: tallies(self.instances),
            observed: {
                let [by_entity, by_team, by_provider, by_rule] = self.observed_by.map(observed);
                Observed {
                    total: self.observed,
                    by_entity,
                    by_team,
                    by_provider,
                    by_rule,
                }
            },
            evidence,
        }
    }
}

/// The blocked request ids a report keeps per refusal row: the first read (the count
/// stays exact).
pub const MAX_REQUEST_IDS: usize = 1_000;

/// Values [`ValueCounts`] counts exactly before it samples: 12 MB or so.
const MAX_VALUES_COUNTED: usize = 1 << 18;

/// Requests sent per (entity, value), in bounded memory: each value is known by a 64-bit
/// digest of its keyed hash; past [`MAX_VALUES_COUNTED`] distinct values, only those
/// whose digest starts with `level` zero bits are kept (adaptive sampling: one value
/// in 2^level, each kept value counted exactly), `level` rising as needed.
#[derive(Debug, Default)]
struct ValueCounts {
    entities: Vec<String>,
    counts: std::collections::HashMap<(u16, u64), u32>,
    level: u32,
}

impl ValueCounts {
    fn add(&mut self, entity: &str, hash: &str) {
        let digest = digest64(hash);
        if digest.leading_zeros() < self.level {
            return;
        }
        let e = match self.entities.iter().position(|x| x == entity) {
            Some(i) => i,
            None => {
                self.entities.push(entity.to_owned());
                self.entities.len() - 1
            }
        };
        let Ok(e) = u16::try_from(e) else {
            return; // more entity kinds than any policy defines
        };
        let n = self.counts.entry((e, digest)).or_default();
        *n = n.saturating_add(1);
        while self.counts.len() > MAX_VALUES_COUNTED {
            self.level += 1;
            let level = self.level;
            self.counts.retain(|(_, d), _| d.leading_zeros() >= level);
        }
    }

    /// Per entity (sorted), what [`Repeated`] says; entities without a repeated value
    /// are left out.
    fn finish(self) -> Vec<Repeated> {
        let scale = 1u64 << self.level;
        let mut by: BTreeMap<&str, Repeated> = BTreeMap::new();
        for ((e, _), n) in &self.counts {
            let entity = self.entities[usize::from(*e)].as_str();
            let r = by.entry(entity).or_insert_with(|| Repeated {
                entity: entity.to_owned(),
                distinct_values: 0,
                repeated_values: 0,
                occurrences: 0,
                max_requests_per_value: 0,
                sampling: scale,
            });
            let n = u64::from(*n);
            r.distinct_values += scale;
            if n > 1 {
                r.repeated_values += scale;
                r.occurrences += n * scale;
            }
            r.max_requests_per_value = r.max_requests_per_value.max(n);
        }
        by.into_values().filter(|r| r.repeated_values > 0).collect()
    }
}

/// A well-mixed 64-bit digest of `s` (FNV-1a, then a finaliser): keyed hashes are
/// uniform already, but the digest must be for any text.
fn digest64(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Groups oldest first (keys are dates); records without a readable time last.
fn chronological(map: &BTreeMap<Option<String>, Sums>) -> Vec<Group> {
    let mut v: Vec<Group> = map.iter().map(|(k, s)| s.group(k.clone())).collect();
    v.sort_by(|a, b| (a.key.is_none(), &a.key).cmp(&(b.key.is_none(), &b.key)));
    v
}

/// Groups, most requests first, then by key (not reported last among equals).
fn ranked(map: BTreeMap<Option<String>, Sums>) -> Vec<Group> {
    let mut v: Vec<Group> = map.into_iter().map(|(k, s)| s.group(k)).collect();
    v.sort_by(|a, b| {
        (std::cmp::Reverse(a.requests), a.key.is_none(), &a.key).cmp(&(
            std::cmp::Reverse(b.requests),
            b.key.is_none(),
            &b.key,
        ))
    });
    v
}

fn finding_counts(map: BTreeMap<String, FindingSums>) -> Vec<FindingCount> {
    let mut v: Vec<FindingCount> = map
        .into_iter()
        .map(|(key, s)| FindingCount {
            key,
            findings: s.findings,
            requests: s.requests,
            requests_sent: s.sent,
            requests_stopped: s.stopped,
        })
        .collect();
    v.sort_by_key(|c| std::cmp::Reverse(c.findings));
    v
}

/// Observed groups, most requests first, then by key (not reported last among equals).
fn observed(map: BTreeMap<Option<String>, ObservedGroup>) -> Vec<ObservedGroup> {
    let mut v: Vec<ObservedGroup> = map
        .into_iter()
        .map(|(key, g)| ObservedGroup { key, ..g })
        .collect();
    v.sort_by(|a, b| {
        (std::cmp::Reverse(a.requests), a.key.is_none(), &a.key).cmp(&(
            std::cmp::Reverse(b.requests),
            b.key.is_none(),
            &b.key,
        ))
    });
    v
}

fn tallies(map: BTreeMap<String, u64>) -> Vec<Tally> {
    let mut v: Vec<Tally> = map
        .into_iter()
        .map(|(key, requests)| Tally { key, requests })
        .collect();
    v.sort_by_key(|t| std::cmp::Reverse(t.requests));
    v
}

/// Energy for people: µWh below a milliwatt-hour, mWh below a watt-hour, else Wh.
///
/// ```
/// use paravent::audit::report::format_energy;
/// assert_eq!(format_energy(950), "950 µWh");
/// assert_eq!(format_energy(12_345), "12.35 mWh");
/// assert_eq!(format_energy(3_200_000), "3.20 Wh");
/// ```
pub fn format_energy(uwh: u64) -> String {
    if uwh < 1_000 {
        format!("{uwh} µWh")
    } else if uwh < 1_000_000 {
        format!("{:.2} mWh", uwh as f64 / 1e3)
    } else {
        format!("{:.2} Wh", uwh as f64 / 1e6)
    }
}

impl Report {
    /// The groups of [`words::GROUPS`], in the same order.
    pub(crate) fn groups(&self) -> [&[Group]; 9] {
        [
            &self.by_day,
            &self.by_month,
            &self.by_decision,
            &self.by_principal,
            &self.by_team,
            &self.by_provider,
            &self.by_jurisdiction,
            &self.by_model,
            &self.by_rule,
        ]
    }

    /// The observed groups of [`words::OBSERVED`], in the same order.
    pub(crate) fn observed_tables(&self) -> [&[ObservedGroup]; 4] {
        [
            &self.observed.by_entity,
            &self.observed.by_team,
            &self.observed.by_provider,
            &self.observed.by_rule,
        ]
    }

    /// The finding counts of [`words::FINDINGS`], in the same order.
    pub(crate) fn finding_tables(&self) -> [&[FindingCount]; 5] {
        [
            &self.findings.by_entity,
            &self.findings.by_nature,
            &self.findings.by_sensitivity,
            &self.findings.by_action,
            &self.findings.by_rule,
        ]
    }

    /// One line on the chain's state, in English (standard error; the renderers use
    /// [`words::Words::integrity_line`] in the report's language).
    pub fn integrity_line(&self) -> String {
        words::EN.integrity_line(self)
    }
}

#[cfg(test)]
mod tests;
