//! \[pure\] Checks an audit chain: every line canonical, every hash right, every record
//! chained to the one before, and the chain anchored to its id.
//!
//! Deleting, inserting, modifying or reordering records breaks a link and is reported at
//! the first record where it shows. Removing records from the *end* leaves a valid,
//! shorter chain: only a checkpoint (a last hash published elsewhere, e.g. in the logs)
//! reveals it, which is what [`verify`]'s `checkpoint` is for.
//!
//! Rotated files are verified as one chain when given in order, oldest first, the live
//! file last: each file after the first starts with a `file-start` record chained to the
//! last record of the file before, so a missing, extra or misplaced file breaks a link.

use super::{AuditRecord, FORMAT_VERSION, Kind, anchor};

/// A verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Records checked (chain starts included).
    pub records: u64,
    /// Chain starts seen (one per instance start).
    pub chains: u64,
    /// The last record's hash: the checkpoint to publish.
    pub last_hash: String,
}

/// The first record that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: record {}: {reason}", request_id.as_deref().unwrap_or("-"))]
pub struct BadRecord {
    pub file: String,
    /// 1-based line number in `file` (0 when the fault is the whole input).
    pub line: usize,
    /// The record's request id, when it can be read.
    pub request_id: Option<String>,
    pub reason: String,
}

/// Verifies the concatenation of `files` (name, text), in order.
///
/// # Errors
/// The first [`BadRecord`]: a line that is not a canonical record, a wrong hash, a broken
/// link (deletion, insertion, reordering), a first record that is not an anchored
/// `chain-start`, an empty input, or a `checkpoint` that is not in the chain.
///
/// ```
/// use paravent::audit::{AuditRecord, anchor, verify::verify};
/// let mut r = AuditRecord::chain_start("c".into(), "i".into(), "p".into(), "t".into());
/// let line = r.seal(&anchor("c")).unwrap();
/// let ok = verify(&[("a.jsonl", format!("{line}\n").as_str())], None).unwrap();
/// assert_eq!(Some(ok.last_hash), r.hash);
/// ```
pub fn verify(files: &[(&str, &str)], checkpoint: Option<&str>) -> Result<Verified, BadRecord> {
    let mut last: Option<AuditRecord> = None;
    let mut records = 0u64;
    let mut chains = 0u64;
    let mut seen_checkpoint = checkpoint.is_none();
    let mut at_end = ("", 0usize);
    for (file, text) in files {
        for (i, line) in text.split_terminator('\n').enumerate() {
            let n = i + 1;
            at_end = (file, n);
            let bad = |request_id: Option<String>, reason: String| BadRecord {
                file: (*file).to_owned(),
                line: n,
                request_id,
                reason,
            };
            let rec: AuditRecord = match serde_json::from_str(line) {
                Ok(r) => r,
                Err(_) => {
                    return Err(bad(
                        loose_request_id(line),
                        "not a complete audit record (modified or truncated)".to_owned(),
                    ));
                }
            };
            let rid = rec.request.as_ref().map(|r| r.request_id.clone());
            if rec.v != FORMAT_VERSION {
                return Err(bad(rid, format!("unknown format version {}", rec.v)));
            }
            match serde_json::to_string(&rec) {
                Ok(s) if s == line => {}
                _ => return Err(bad(rid, "not in canonical form (modified)".to_owned())),
            }
            match (rec.compute_hash(), &rec.hash) {
                (Ok(h), Some(stored)) if &h == stored => {}
                _ => {
                    return Err(bad(
                        rid,
                        "hash does not match its content (modified)".to_owned(),
                    ));
                }
            }
            let expected_prev = match &last {
                None => {
                    if rec.kind != Kind::ChainStart {
                        return Err(bad(
                            rid,
                            "the first record is not a chain-start (records or files missing before it)"
                                .to_owned(),
                        ));
                    }
                    anchor(&rec.chain_id)
                }
                Some(l) => l.hash.clone().unwrap_or_default(),
            };
            if rec.prev != expected_prev {
                let reason = if rec.kind == Kind::FileStart {
                    "does not follow the last record of the file before (a file is missing, \
                     or the files are out of order)"
                } else {
                    "does not follow the previous record (a record was deleted, inserted or moved)"
                };
                return Err(bad(rid, reason.to_owned()));
            }
            match (&last, rec.kind) {
                (_, Kind::ChainStart) => {
                    if rec.seq != 0 || rec.request.is_some() {
                        return Err(bad(rid, "malformed chain-start".to_owned()));
                    }
                    chains += 1;
                }
                (Some(l), Kind::FileStart) => {
                    if n != 1 {
                        return Err(bad(
                            rid,
                            "a file-start record inside a file (records were moved)".to_owned(),
                        ));
                    }
                    if rec.chain_id != l.chain_id || rec.seq != l.seq + 1 || rec.request.is_some() {
                        return Err(bad(
                            rid,
                            "out of sequence (a record was deleted, inserted or moved)".to_owned(),
                        ));
                    }
                }
                (Some(l), kind @ (Kind::Request | Kind::Reload)) => {
                    // A request record carries its request; a reload record none.
                    let shaped = rec.request.is_some() == (kind == Kind::Request);
                    if rec.chain_id != l.chain_id || rec.seq != l.seq + 1 || !shaped {
                        return Err(bad(
                            rid,
                            "out of sequence (a record was deleted, inserted or moved)".to_owned(),
                        ));
                    }
                }
                (None, Kind::Request | Kind::FileStart | Kind::Reload) => {
                    unreachable!("checked above")
                }
            }
            if checkpoint.is_some() && rec.hash.as_deref() == checkpoint {
                seen_checkpoint = true;
            }
            records += 1;
            last = Some(rec);
        }
    }
    let Some(last) = last else {
        return Err(BadRecord {
            file: files.first().map(|f| f.0).unwrap_or("-").to_owned(),
            line: 0,
            request_id: None,
            reason: "no audit record".to_owned(),
        });
    };
    if !seen_checkpoint {
        return Err(BadRecord {
            file: at_end.0.to_owned(),
            line: at_end.1,
            request_id: last.request.as_ref().map(|r| r.request_id.clone()),
            reason: "the checkpoint is not in the chain: records after this one were removed"
                .to_owned(),
        });
    }
    Ok(Verified {
        records,
        chains,
        last_hash: last.hash.unwrap_or_default(),
    })
}

/// The request id of a line that is not a valid record, when it is still JSON.
fn loose_request_id(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(v.get("request")?.get("request_id")?.as_str()?.to_owned())
}
