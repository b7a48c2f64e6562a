//! \[pure\] Checks audit chains: every line canonical, every hash right, every record
//! chained to the one before, and each chain anchored to its id or to the chain it
//! continues.
//!
//! The input is the files of any number of instances, in any order: a [`Verifier`] is
//! fed one line at a time and groups the records by chain id. The records of one chain
//! in one file are a *piece*; a piece must be whole (each record follows the one before:
//! `prev` = its hash, `seq` + 1), and the pieces of a chain, ordered by the `seq` of
//! their first record, must link the same way, from a `chain-start` to the chain's last
//! record. So a rotated file, or an object a log shipper cut anywhere, verifies in any
//! order, while a missing middle piece, a duplicated one, a record deleted, inserted,
//! modified, reordered or moved from one file to another breaks a link, reported at its
//! file and line. A `chain-start` whose `prev` is not its anchor continues another
//! chain (an instance restarted on its file): that chain's last record must be in the
//! input, so records cut from the end of any chain but the newest are found too.
//!
//! Each chain is checked on its own: one broken chain does not hide the others' state.
//! Removing records from the *end* of the newest chain leaves a valid, shorter chain:
//! only a checkpoint (a last hash published elsewhere, e.g. in the logs) reveals it,
//! which is what the checkpoints given to [`Verifier::new`] are for. A chain whose last
//! record is a `chain-close` was stopped gracefully; otherwise its instance is still
//! running, crashed, or its tail was cut (informative, not a failure).
//!
//! Memory: the state of each chain is the two ends of each of its pieces, never its
//! records, so files can be read line by line.
//!
//! Incremental verification ([`Verifier::resume`]): given a [`Resume`] point (chain id,
//! `seq` and hash of a record verified earlier, as `audit verify` prints it), the
//! records of that chain before it are skipped unparsed (only at the head of each file:
//! once a file reached the point, every later line of that chain in it is checked), and
//! the chain, instead of starting with a `chain-start`, must start with that very
//! record or with the one after it (`prev` = its hash); a chain that continues it (a
//! restart) may start from its hash.
//!
//! Signed checkpoints ([`Verifier::key`]): every `checkpoint` record's note must agree
//! with the chain where it stands (its size is the record's `seq`, its head the
//! record's `prev`, its origin names the record's instance and chain); given the
//! public key, its signature must verify under it too. A record changed before a
//! checkpoint then breaks either the chain or the signature, even when every hash
//! after it was computed again.

use std::collections::HashMap;

use serde::Serialize;

use super::checkpoint::{self, Checkpoint, VerifierKey};
use super::{AuditRecord, FORMAT_VERSION, Kind, anchor};

/// A verified input, in short (see [`verify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Records checked (chain starts included).
    pub records: u64,
    /// Chains (chain ids) seen: one per instance start.
    pub chains: u64,
    /// The last hash of the chain of the last record read: the checkpoint to publish
    /// (for the files of one instance).
    pub last_hash: String,
}

/// Where a verification resumes: a record verified earlier, printed by `audit verify`
/// (and logged by the writer) as `CHAIN:SEQ:HASH`.
///
/// ```
/// use paravent::audit::verify::Resume;
/// let h = "ab".repeat(32);
/// let r: Resume = format!("from=c0ffee:41:{h}").parse().unwrap();
/// assert_eq!((r.chain_id.as_str(), r.seq), ("c0ffee", 41));
/// assert_eq!(r.to_string(), format!("c0ffee:41:{h}"));
/// assert!("c0ffee:41".parse::<Resume>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resume {
    pub chain_id: String,
    pub seq: u64,
    pub hash: String,
}

/// A `--from` value that is not `CHAIN:SEQ:HASH`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a resume point is CHAIN:SEQ:HASH (the from= field of `audit verify`'s output)")]
pub struct ResumeError;

impl std::str::FromStr for Resume {
    type Err = ResumeError;
    fn from_str(s: &str) -> Result<Resume, ResumeError> {
        let s = s.trim();
        let s = s.strip_prefix("from=").unwrap_or(s);
        let mut parts = s.rsplitn(3, ':');
        let (Some(hash), Some(seq), Some(chain_id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(ResumeError);
        };
        if chain_id.is_empty() || hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ResumeError);
        }
        Ok(Resume {
            chain_id: chain_id.to_owned(),
            seq: seq.parse().map_err(|_| ResumeError)?,
            hash: hash.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Resume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.chain_id, self.seq, self.hash)
    }
}

/// Faults outside any chain kept (the first, in input order); lines that are not records
/// beyond them are still not records, and still fail the verification.
const MAX_PROBLEMS: usize = 1_000;

/// A record that breaks a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}:{line}: record {}: {reason}", request_id.as_deref().unwrap_or("-"))]
pub struct BadRecord {
    pub file: String,
    /// 1-based line number in `file` (0 when the fault is the whole input, or the last
    /// line of a file a report did not read).
    pub line: usize,
    /// The record's request id, when it can be read.
    pub request_id: Option<String>,
    pub reason: String,
}

/// One chain (one chain id) as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    pub instance_id: String,
    pub chain_id: String,
    /// Its records in the input (chain-start and close included).
    pub records: u64,
    /// The earliest and latest record times.
    pub first_time: String,
    pub last_time: String,
    /// The `seq` and hash of its last record: its checkpoint.
    pub last_seq: u64,
    pub last_hash: String,
    /// It ends with a `chain-close` record (a graceful stop).
    pub closed: bool,
    /// The chain it continues (its instance restarted on the same file).
    pub continues: Option<String>,
    /// The files that hold its records, in chain order.
    pub files: Vec<String>,
    /// The first record that breaks it; `None` when it verified.
    pub bad: Option<BadRecord>,
    /// Verified from this resume point on (its earlier records were skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<Resume>,
    /// Its `checkpoint` records that verified (signatures too, given a key).
    #[serde(skip_serializing_if = "is_zero")]
    pub checkpoints: u64,
    /// The size of its last checkpoint: records from this `seq` on are not signed yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed: Option<u64>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ChainSummary {
    /// Where the next verification of this chain resumes: its last record.
    pub fn resume_point(&self) -> Resume {
        Resume {
            chain_id: self.chain_id.clone(),
            seq: self.last_seq,
            hash: self.last_hash.clone(),
        }
    }
}

/// Everything [`Verifier::finish`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Every chain, by instance id, then first record time.
    pub chains: Vec<ChainSummary>,
    /// Faults that belong to no chain: lines that are not records and follow none, or
    /// an input without any record.
    pub problems: Vec<BadRecord>,
    /// Checkpoints given that are in no chain: records after them were removed (or
    /// their files were not given).
    pub missing_checkpoints: Vec<String>,
    /// Records read (lines that parse as records).
    pub records: u64,
    /// Records before a resume point, skipped unread.
    pub skipped: u64,
    /// Resume points whose chain has no record after them in the input and that no
    /// chain continues: still where the next verification resumes.
    pub unchanged: Vec<Resume>,
    /// The first fault in input order (a problem, else the earliest bad record).
    first_bad: Option<BadRecord>,
}

impl Verification {
    /// Every chain verified, every checkpoint was found, and there was a record.
    pub fn ok(&self) -> bool {
        self.first_bad.is_none() && self.missing_checkpoints.is_empty()
    }

    /// The first fault in input order (by file, then line), if any.
    pub fn first_bad(&self) -> Option<&BadRecord> {
        self.first_bad.as_ref()
    }

    /// Chains that verified.
    pub fn verified_chains(&self) -> usize {
        self.chains.iter().filter(|c| c.bad.is_none()).count()
    }
}

/// One end of a piece.
#[derive(Debug, Clone)]
struct End {
    file: usize,
    line: usize,
    seq: u64,
    prev: String,
    hash: String,
    kind: Kind,
    request_id: Option<String>,
}

/// The records of one chain in one file: its first and last.
#[derive(Debug, Clone)]
struct Piece {
    first: End,
    last: End,
}

#[derive(Debug)]
struct Chain {
    instance_id: String,
    records: u64,
    first_time: String,
    last_time: String,
    pieces: Vec<Piece>,
    /// The first fault and where it is (file index, line).
    bad: Option<(usize, usize, BadRecord)>,
    /// Checkpoint records verified, and the largest size they signed.
    checkpoints: u64,
    signed: Option<u64>,
}

/// Verifies chains fed one line at a time: [`Verifier::file`] before each file's
/// lines, [`Verifier::push`] for each line, then [`Verifier::finish`].
///
/// ```
/// use paravent::audit::{AuditRecord, anchor, verify::Verifier};
/// let mut r = AuditRecord::chain_start("c".into(), "i".into(), "p".into(), "t".into());
/// let line = r.seal(&anchor("c")).unwrap();
/// let mut v = Verifier::new::<&str>(&[]);
/// v.file("a.jsonl");
/// v.push(&line);
/// let done = v.finish();
/// assert!(done.ok());
/// assert_eq!(done.chains[0].last_hash, r.hash.unwrap());
/// ```
#[derive(Debug)]
pub struct Verifier {
    files: Vec<String>,
    line: usize,
    chains: HashMap<String, Chain>,
    /// The chain of the previous record of the current file: a line that is not a
    /// record is blamed on it.
    previous_in_file: Option<String>,
    problems: Vec<(usize, usize, BadRecord)>,
    checkpoints: Vec<(String, bool)>,
    records: u64,
    /// The chain of the last record read.
    last_chain: Option<String>,
    /// Resume points, by chain id.
    resume: HashMap<String, Resume>,
    /// Chains of resume points that reached their point in the current file: their
    /// later lines in it are all checked.
    reached_in_file: Vec<String>,
    /// The next line follows unread lines of its file ([`Verifier::push_after_gap`]).
    gap: bool,
    /// Where each record is serialised again, reused.
    scratch: Vec<u8>,
    /// Records skipped before a resume point, and the chains they were of.
    skipped: u64,
    skipped_chains: std::collections::HashSet<String>,
    /// The public key every checkpoint must be signed with, when given.
    key: Option<VerifierKey>,
}

impl Verifier {
    /// A verifier that also looks for each of `checkpoints` (hashes published earlier).
    pub fn new<S: AsRef<str>>(checkpoints: &[S]) -> Verifier {
        Verifier {
            files: Vec::new(),
            line: 0,
            chains: HashMap::new(),
            previous_in_file: None,
            problems: Vec::new(),
            checkpoints: checkpoints
                .iter()
                .map(|c| (c.as_ref().trim().to_owned(), false))
                .collect(),
            records: 0,
            last_chain: None,
            resume: HashMap::new(),
            reached_in_file: Vec::new(),
            gap: false,
            scratch: Vec::new(),
            skipped: 0,
            skipped_chains: std::collections::HashSet::new(),
            key: None,
        }
    }

    /// Checks every checkpoint's signature under `key` too (see the module doc).
    pub fn key(mut self, key: Option<VerifierKey>) -> Verifier {
        self.key = key;
        self
    }

    /// Verifies the chains of `points` only from those points on (see the module doc).
    pub fn resume(mut self, points: &[Resume]) -> Verifier {
        self.resume = points
            .iter()
            .map(|p| (p.chain_id.clone(), p.clone()))
            .collect();
        self
    }

    /// Whether `line` is a record of a resumed chain before its point, at the head of
    /// its file: read from the canonical prefix (`…"seq":N,"time":…,"chain_id":"…"`)
    /// without parsing the line.
    fn before_resume(&mut self, line: &str) -> bool {
        if self.resume.is_empty() {
            return false;
        }
        let Some((chain, seq)) = canonical_chain_seq(line) else {
            return false;
        };
        let Some(point) = self.resume.get(chain) else {
            return false;
        };
        if seq >= point.seq || self.reached_in_file.iter().any(|c| c == chain) {
            if !self.reached_in_file.iter().any(|c| c == chain) {
                self.reached_in_file.push(chain.to_owned());
            }
            return false;
        }
        self.skipped += 1;
        if !self.skipped_chains.contains(chain) {
            self.skipped_chains.insert(chain.to_owned());
        }
        true
    }

    /// The lines pushed from now on are those of the file `name`.
    pub fn file(&mut self, name: &str) {
        self.files.push(name.to_owned());
        self.line = 0;
        self.previous_in_file = None;
        self.reached_in_file.clear();
    }

    /// Counts a line of the current file that is not part of the trail (a proof
    /// bundle's header) without checking it, so that later faults name their real line.
    pub fn skip_line(&mut self) {
        if self.files.is_empty() {
            self.file("-");
        }
        self.line += 1;
    }

    /// Checks `line`, the last of the current file, whose lines since the one pushed
    /// before were not read: it must be later in its chain than that one, not follow
    /// it (a report skips files outside its period so). Its line number is unknown: 0.
    pub fn push_after_gap(&mut self, line: &str) -> Option<AuditRecord> {
        self.gap = true;
        let rec = self.push(line);
        self.gap = false;
        rec
    }

    /// Checks one line (without its newline) of the current file; returns the record
    /// when the line is one, verified or not (the report counts what it can read).
    pub fn push(&mut self, line: &str) -> Option<AuditRecord> {
        if self.files.is_empty() {
            self.file("-");
        }
        self.line += 1;
        if self.before_resume(line) {
            return None;
        }
        let (file, n) = (self.files.len() - 1, if self.gap { 0 } else { self.line });
        let bad = |request_id: Option<String>, reason: &str| BadRecord {
            file: self.files[file].clone(),
            line: n,
            request_id,
            reason: reason.to_owned(),
        };
        let rec: AuditRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) => {
                let b = bad(
                    loose_field(line, &["request", "request_id"]),
                    "not a complete audit record (modified or truncated)",
                );
                match loose_field(line, &["chain_id"]).or_else(|| self.previous_in_file.clone()) {
                    Some(id) => {
                        let chain = self.chains.entry(id).or_insert_with(|| Chain::new("", ""));
                        chain.fail(file, n, b);
                    }
                    // The first ones only: memory stays bounded on any input.
                    None if self.problems.len() < MAX_PROBLEMS => self.problems.push((file, n, b)),
                    None => {}
                }
                return None;
            }
        };
        self.records += 1;
        self.previous_in_file = Some(rec.chain_id.clone());
        self.last_chain = Some(rec.chain_id.clone());
        let rid = rec.request.as_ref().map(|r| r.request_id.clone());
        let chain = self
            .chains
            .entry(rec.chain_id.clone())
            .or_insert_with(|| Chain::new(&rec.instance_id, &rec.time));
        chain.records += 1;
        if chain.instance_id.is_empty() {
            // First seen on a line that was not a record.
            chain.instance_id.clone_from(&rec.instance_id);
            chain.first_time.clone_from(&rec.time);
        }
        if rec.time < chain.first_time {
            chain.first_time.clone_from(&rec.time);
        }
        if rec.time > chain.last_time {
            chain.last_time.clone_from(&rec.time);
        }
        if chain.bad.is_some() {
            return Some(rec);
        }
        if let Err(reason) = check_record(&rec, line, &chain.instance_id, &mut self.scratch) {
            chain.fail(file, n, bad(rid, &reason));
            return Some(rec);
        }
        if rec.kind == Kind::Checkpoint {
            match check_checkpoint(&rec, self.key.as_ref()) {
                Ok(size) => {
                    chain.checkpoints += 1;
                    chain.signed = chain.signed.max(Some(size));
                }
                Err(reason) => {
                    chain.fail(file, n, bad(rid, &reason));
                    return Some(rec);
                }
            }
        }
        let hash = rec.hash.clone().unwrap_or_default();
        for (h, found) in &mut self.checkpoints {
            if *h == hash {
                *found = true;
            }
        }
        let end = End {
            file,
            line: n,
            seq: rec.seq,
            prev: rec.prev.clone(),
            hash,
            kind: rec.kind,
            request_id: rid.clone(),
        };
        match chain.pieces.last_mut() {
            Some(p) if p.last.file == file && self.gap => {
                if end.seq > p.last.seq && p.last.kind != Kind::ChainClose {
                    p.last = end;
                } else {
                    chain.fail(
                        file,
                        n,
                        bad(rid, "does not come after the file's first record"),
                    );
                }
            }
            Some(p) if p.last.file == file => match follows(&p.last, &end) {
                Ok(()) => p.last = end,
                Err(reason) => chain.fail(file, n, bad(rid, reason)),
            },
            _ => chain.pieces.push(Piece {
                first: end.clone(),
                last: end,
            }),
        }
        Some(rec)
    }

    /// Links the pieces of each chain and the chains to those they continue; returns
    /// what was found.
    pub fn finish(mut self) -> Verification {
        let files = std::mem::take(&mut self.files);
        let bad_at = |e: &End, reason: &str| {
            (
                e.file,
                e.line,
                BadRecord {
                    file: files.get(e.file).cloned().unwrap_or_default(),
                    line: e.line,
                    request_id: e.request_id.clone(),
                    reason: reason.to_owned(),
                },
            )
        };
        for (id, chain) in &mut self.chains {
            chain.pieces.sort_by_key(|p| p.first.seq);
            if chain.bad.is_some() {
                continue;
            }
            let Some(first) = chain.pieces.first() else {
                continue;
            };
            if let Some(point) = self.resume.get(id) {
                let (f, p) = (&first.first, point);
                let continues = (f.seq == p.seq && f.hash == p.hash)
                    || (f.seq == p.seq + 1 && f.prev == p.hash);
                if !continues {
                    chain.bad = Some(bad_at(
                        f,
                        if f.seq == p.seq {
                            "is not the record of the resume point (modified, or the point was not this chain's)"
                        } else if f.seq > p.seq + 1 {
                            "records after the resume point are missing before it"
                        } else {
                            "does not follow the resume point (a record was deleted, inserted or moved)"
                        },
                    ));
                    continue;
                }
            } else if first.first.kind != Kind::ChainStart {
                chain.bad = Some(bad_at(
                    &first.first,
                    "the first record is not a chain-start (records or files missing before it)",
                ));
                continue;
            }
            for w in chain.pieces.windows(2) {
                let (a, b) = (&w[0].last, &w[1].first);
                let reason = if a.kind == Kind::ChainClose {
                    Some("a record after its chain's close (records were inserted)")
                } else if b.seq <= a.seq {
                    Some(
                        "repeats records of its chain that another file holds (a duplicated piece)",
                    )
                } else if b.seq > a.seq + 1 {
                    Some(
                        "records of its chain are missing before it (a file or part of one is missing)",
                    )
                } else if b.prev != a.hash {
                    Some(
                        "does not follow the previous record (a record was deleted, inserted or moved)",
                    )
                } else {
                    None
                };
                if let Some(reason) = reason {
                    chain.bad = Some(bad_at(b, reason));
                    break;
                }
            }
        }
        // A chain-start not on its anchor continues the chain whose last record it
        // follows; each chain is continued at most once.
        let mut last_of: HashMap<&str, &str> = self
            .chains
            .iter()
            .filter_map(|(id, c)| Some((c.pieces.last()?.last.hash.as_str(), id.as_str())))
            .collect();
        for (id, p) in &self.resume {
            if self.chains.get(id).is_none_or(|c| c.pieces.is_empty()) {
                last_of.insert(p.hash.as_str(), id.as_str());
            }
        }
        let mut continues: HashMap<String, String> = HashMap::new();
        let mut continued: HashMap<String, usize> = HashMap::new();
        let mut late_bad: Vec<(String, (usize, usize, BadRecord))> = Vec::new();
        let mut ids: Vec<&String> = self.chains.keys().collect();
        ids.sort();
        for id in ids {
            let c = &self.chains[id];
            let Some(start) = c.pieces.first().map(|p| &p.first) else {
                continue;
            };
            if start.kind != Kind::ChainStart || start.prev == anchor(id) {
                continue;
            }
            match last_of.get(start.prev.as_str()) {
                Some(before) if *before != id.as_str() => {
                    let n = continued.entry((*before).to_owned()).or_default();
                    // A resume point, not a chain in the files: continued, so not unchanged.
                    *n += 1;
                    if *n > 1 {
                        late_bad.push((
                            id.clone(),
                            bad_at(
                                start,
                                "continues a chain that another chain already continues (a copy of the trail was written to)",
                            ),
                        ));
                    }
                    continues.insert(id.clone(), (*before).to_owned());
                }
                _ => late_bad.push((
                    id.clone(),
                    bad_at(
                        start,
                        "continues a chain that is not in the files (its files are missing, or its last records were removed)",
                    ),
                )),
            }
        }
        for (id, b) in late_bad {
            if let Some(c) = self.chains.get_mut(&id)
                && c.bad.is_none()
            {
                c.bad = Some(b);
            }
        }
        let mut faults: Vec<(usize, usize, BadRecord)> = self.problems.clone();
        // Resume points whose chain has nothing after them here.
        let mut unchanged = Vec::new();
        let mut points: Vec<&Resume> = self.resume.values().collect();
        points.sort_by(|a, b| a.chain_id.cmp(&b.chain_id));
        for p in points {
            if self
                .chains
                .get(&p.chain_id)
                .is_some_and(|c| !c.pieces.is_empty() || c.bad.is_some())
                || continued.contains_key(&p.chain_id)
            {
                continue;
            }
            if self.skipped_chains.contains(&p.chain_id) {
                // Its records end before the point: the point's record is gone.
                faults.push((
                    files.len(),
                    0,
                    BadRecord {
                        file: files.last().cloned().unwrap_or_else(|| "-".to_owned()),
                        line: 0,
                        request_id: None,
                        reason: format!(
                            "the resume point {p} is not in the files: its chain ends before it (records were removed, or its files were not given)"
                        ),
                    },
                ));
            } else {
                unchanged.push(p.clone());
            }
        }
        if self.records == 0 && self.skipped == 0 && faults.is_empty() {
            faults.push((
                0,
                0,
                BadRecord {
                    file: files.first().cloned().unwrap_or_else(|| "-".to_owned()),
                    line: 0,
                    request_id: None,
                    reason: "no audit record".to_owned(),
                },
            ));
        }
        let problems: Vec<BadRecord> = faults.iter().map(|f| f.2.clone()).collect();
        faults.extend(self.chains.values().filter_map(|c| c.bad.clone()));
        let first_bad = faults
            .into_iter()
            .min_by_key(|(f, l, _)| (*f, *l))
            .map(|f| f.2);
        let mut chains: Vec<ChainSummary> = self
            .chains
            .into_iter()
            .map(|(id, c)| {
                let last = c.pieces.last().map(|p| &p.last);
                let mut names: Vec<String> = Vec::new();
                for p in &c.pieces {
                    let name = &files[p.first.file];
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                ChainSummary {
                    continues: continues.remove(&id),
                    resumed: self.resume.get(&id).cloned(),
                    instance_id: c.instance_id,
                    records: c.records,
                    first_time: c.first_time,
                    last_time: c.last_time,
                    last_seq: last.map_or(0, |l| l.seq),
                    last_hash: last.map(|l| l.hash.clone()).unwrap_or_default(),
                    closed: last.is_some_and(|l| l.kind == Kind::ChainClose),
                    files: names,
                    bad: c.bad.map(|b| b.2),
                    checkpoints: c.checkpoints,
                    signed: c.signed,
                    chain_id: id,
                }
            })
            .collect();
        chains.sort_by(|a, b| {
            (&a.instance_id, &a.first_time, &a.chain_id).cmp(&(
                &b.instance_id,
                &b.first_time,
                &b.chain_id,
            ))
        });
        Verification {
            chains,
            problems,
            missing_checkpoints: self
                .checkpoints
                .into_iter()
                .filter(|(_, found)| !found)
                .map(|(h, _)| h)
                .collect(),
            records: self.records,
            skipped: self.skipped,
            unchanged,
            first_bad,
        }
    }
}

impl Chain {
    fn new(instance_id: &str, time: &str) -> Chain {
        Chain {
            instance_id: instance_id.to_owned(),
            records: 0,
            first_time: time.to_owned(),
            last_time: time.to_owned(),
            pieces: Vec::new(),
            bad: None,
            checkpoints: 0,
            signed: None,
        }
    }

    /// Keeps the first fault only: what follows a break says nothing more.
    fn fail(&mut self, file: usize, line: usize, bad: BadRecord) {
        if self.bad.is_none() {
            self.bad = Some((file, line, bad));
        }
    }
}

/// What one record must be on its own: a known version, canonical, its hash right, its
/// kind matching its content, and its chain's instance.
fn check_record(
    rec: &AuditRecord,
    line: &str,
    instance_id: &str,
    scratch: &mut Vec<u8>,
) -> Result<(), String> {
    if rec.v == 0 || rec.v > FORMAT_VERSION {
        return Err(format!("unknown format version {}", rec.v));
    }
    if rec.v == 1
        && (rec.kind == Kind::ChainClose
            || rec.request.as_ref().is_some_and(|r| {
                r.client.is_some()
                    || !r.allow_listed.is_empty()
                    || r.mode.is_some()
                    || r.would.is_some()
            }))
    {
        return Err("holds what format version 1 did not have".to_owned());
    }
    if rec.v < 3
        && (rec.kind == Kind::Checkpoint
            || rec.governance.is_some()
            || rec.checkpoint.is_some()
            || rec.request.as_ref().is_some_and(|r| {
                r.assistant.is_some()
                    || r.route_reason.is_some()
                    || !r.settings.is_empty()
                    || r.risk.is_some()
                    || r.answer_leaks.is_some()
            }))
    {
        return Err(format!("holds what format version {} did not have", rec.v));
    }
    scratch.clear();
    match serde_json::to_writer(&mut *scratch, rec) {
        Ok(()) if scratch.as_slice() == line.as_bytes() => {}
        _ => return Err("not in canonical form (modified)".to_owned()),
    }
    if !hash_holds(rec, line) {
        return Err("hash does not match its content (modified)".to_owned());
    }
    let shaped = match rec.kind {
        Kind::ChainStart => rec.seq == 0 && rec.request.is_none() && rec.checkpoint.is_none(),
        Kind::Request => {
            rec.request.is_some() && rec.governance.is_none() && rec.checkpoint.is_none()
        }
        Kind::FileStart | Kind::Reload => rec.request.is_none() && rec.checkpoint.is_none(),
        Kind::ChainClose => {
            rec.request.is_none() && rec.governance.is_none() && rec.checkpoint.is_none()
        }
        Kind::Checkpoint => {
            rec.request.is_none() && rec.governance.is_none() && rec.checkpoint.is_some()
        }
    };
    if !shaped {
        return Err("malformed record (its kind does not match its content)".to_owned());
    }
    if rec.instance_id != instance_id {
        return Err(
            "names another instance than the rest of its chain (records were mixed)".to_owned(),
        );
    }
    Ok(())
}

/// Whether the note of a `checkpoint` record agrees with the chain where it stands
/// (and, given `key`, is signed by it); returns the size it signs.
fn check_checkpoint(rec: &AuditRecord, key: Option<&VerifierKey>) -> Result<u64, String> {
    let note = rec.checkpoint.as_deref().unwrap_or_default();
    let text = match key {
        Some(k) => checkpoint::open_note(note, k).map_err(|e| format!("checkpoint: {e}"))?,
        None => {
            checkpoint::split_note(note)
                .map_err(|e| format!("checkpoint: {e}"))?
                .0
        }
    };
    let cp = Checkpoint::parse(text).map_err(|e| format!("checkpoint: {e}"))?;
    if cp.size != rec.seq {
        return Err(format!(
            "checkpoint: it signs {} records, but stands after {} (it was moved, or the chain changed)",
            cp.size, rec.seq
        ));
    }
    if super::hex(&cp.head) != rec.prev {
        return Err(
            "checkpoint: the head it signs is not the hash of the record before it (the chain changed)"
                .to_owned(),
        );
    }
    let tail = format!("/{}/{}", rec.instance_id, rec.chain_id);
    let origin_ok = match key {
        Some(k) => cp.origin == Checkpoint::origin_of(&k.name, &rec.instance_id, &rec.chain_id),
        None => cp.origin.ends_with(&tail),
    };
    if !origin_ok {
        return Err(
            "checkpoint: its origin names another key, instance or chain than its record's"
                .to_owned(),
        );
    }
    Ok(cp.size)
}

/// Whether the stored hash of `rec`, whose canonical line with its hash is `line`, is
/// `BLAKE3(prev ‖ canonical)`: the canonical form is `line` without its last field,
/// `,"hash":"…"` (serialised last), so it is hashed from `line` without serialising the
/// record again.
fn hash_holds(rec: &AuditRecord, line: &str) -> bool {
    let (Some(stored), Some(prev)) = (&rec.hash, super::unhex32(&rec.prev)) else {
        return false;
    };
    let body = line
        .strip_suffix("\"}")
        .and_then(|l| l.strip_suffix(stored.as_str()))
        .and_then(|l| l.strip_suffix(",\"hash\":\""));
    let Some(body) = body else {
        return false;
    };
    let mut h = blake3::Hasher::new();
    h.update(&prev);
    h.update(body.as_bytes());
    h.update(b"}");
    h.finalize().to_hex().as_str() == stored
}

/// Whether `next` follows `last` in one piece.
fn follows(last: &End, next: &End) -> Result<(), &'static str> {
    if last.kind == Kind::ChainClose {
        return Err("a record after its chain's close (records were inserted)");
    }
    if next.kind == Kind::ChainStart || next.seq != last.seq + 1 || next.prev != last.hash {
        return Err(
            "does not follow the previous record (a record was deleted, inserted or moved)",
        );
    }
    Ok(())
}

/// Verifies `files` (name, text), given in any order, and sums it up.
///
/// # Errors
/// The first [`BadRecord`] in input order: a line that is not a canonical record, a
/// wrong hash, a broken link (deletion, insertion, reordering, a missing or duplicated
/// piece), a chain that does not start with an anchored or continuing `chain-start`,
/// an empty input, or a `checkpoint` that is in no chain.
///
/// ```
/// use paravent::audit::{AuditRecord, anchor, verify::verify};
/// let mut r = AuditRecord::chain_start("c".into(), "i".into(), "p".into(), "t".into());
/// let line = r.seal(&anchor("c")).unwrap();
/// let ok = verify(&[("a.jsonl", format!("{line}\n").as_str())], None).unwrap();
/// assert_eq!(Some(ok.last_hash), r.hash);
/// ```
pub fn verify(files: &[(&str, &str)], checkpoint: Option<&str>) -> Result<Verified, BadRecord> {
    let mut v = Verifier::new(&checkpoint.into_iter().collect::<Vec<_>>());
    let mut at_end = ("-", 0usize, None);
    for (file, text) in files {
        v.file(file);
        for (i, line) in text.split_terminator('\n').enumerate() {
            if let Some(r) = v.push(line) {
                at_end = (file, i + 1, r.request.map(|r| r.request_id));
            }
        }
    }
    let last_chain = v.last_chain.clone();
    let done = v.finish();
    if let Some(bad) = done.first_bad() {
        return Err(bad.clone());
    }
    if !done.missing_checkpoints.is_empty() {
        return Err(BadRecord {
            file: at_end.0.to_owned(),
            line: at_end.1,
            request_id: at_end.2,
            reason: "the checkpoint is not in the chain: records after this one were removed"
                .to_owned(),
        });
    }
    let last_hash = done
        .chains
        .iter()
        .find(|c| Some(&c.chain_id) == last_chain.as_ref())
        .map(|c| c.last_hash.clone())
        .unwrap_or_default();
    Ok(Verified {
        records: done.records,
        chains: done.chains.len() as u64,
        last_hash,
    })
}

/// The chain id and `seq` of a line in canonical form, read from its prefix
/// (`{"v":N,"kind":"…","seq":N,"time":"…","chain_id":"…"`) without parsing it.
fn canonical_chain_seq(line: &str) -> Option<(&str, u64)> {
    let mut end = line.len().min(256);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let head = &line[..end];
    let at = head.find(",\"seq\":")? + ",\"seq\":".len();
    let digits = head[at..].bytes().take_while(u8::is_ascii_digit).count();
    let seq = head[at..at + digits].parse().ok()?;
    let rest = &head[at + digits..];
    let at = rest.find(",\"chain_id\":\"")? + ",\"chain_id\":\"".len();
    let len = rest[at..].find('"')?;
    Some((&rest[at..at + len], seq))
}

/// A string field of a line that is not a valid record, when it is still JSON.
fn loose_field(line: &str, path: &[&str]) -> Option<String> {
    let parsed: serde_json::Value = serde_json::from_str(line).ok()?;
    let mut v = &parsed;
    for key in path {
        v = v.get(key)?;
    }
    Some(v.as_str()?.to_owned())
}
