//! Appends audit records to the `[audit] path` file: one line each, chained, under one
//! mutex so that the order of the lines is the order of the chain.
//!
//! Writes are blocking (a line, then `fsync` when configured): the proxy calls
//! [`AuditWriter::append`] through `tokio::task::spawn_blocking`, so the async workers
//! never wait on the disk. Never writes values, prompt text or keys: records hold counts
//! and keyed hashes only (see [`super::RequestFields`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use super::{AuditError, AuditRecord, FORMAT_VERSION, Kind, RequestFields, anchor, hex, rfc3339};
use crate::config::{AuditConfig, FsyncPolicy, OnFailure};

/// Bytes of a random chain id.
const CHAIN_ID_BYTES: usize = 16;

/// Why the audit file could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("cannot open the audit file {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the audit file {path} does not end with a valid record; verify it, then move it aside"
    )]
    CorruptTail { path: PathBuf },
    #[error("cannot write the audit file")]
    Write(#[source] std::io::Error),
    #[error("no random source for the chain id")]
    Random,
    #[error(transparent)]
    Record(#[from] AuditError),
    #[error("the audit writer's lock was poisoned")]
    Poisoned,
}

/// Where the lines go: the audit file, or anything that writes (tests inject a sink that
/// fails on demand to exercise `on_failure`).
pub trait Sink: Write + Send {
    /// Makes what was written durable (`fsync = "always"`).
    ///
    /// # Errors
    /// The data could not be synced.
    fn sync(&mut self) -> std::io::Result<()>;
}

impl Sink for File {
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }
}

struct State {
    file: Box<dyn Sink>,
    prev: String,
    seq: u64,
}

/// The audit file of one instance, shared by every request.
pub struct AuditWriter {
    state: Mutex<State>,
    path: PathBuf,
    chain_id: String,
    instance_id: String,
    policy_version: String,
    fsync: FsyncPolicy,
    on_failure: OnFailure,
    healthy: AtomicBool,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("path", &self.path)
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// Opens (creating it and its directory) the audit file at `path` and writes a
    /// `chain-start` record: anchored to a new random chain id, or, when the file already
    /// holds records, chained to its last one.
    ///
    /// # Errors
    /// The file cannot be opened or written, or it ends with something that is not a
    /// record (refusing to chain onto a damaged file hides nothing).
    pub fn open(
        path: &Path,
        cfg: &AuditConfig,
        instance_id: String,
        policy_version: String,
    ) -> Result<AuditWriter, WriterError> {
        let open_err = |source| WriterError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(open_err)?;
        }
        let mut raw = [0u8; CHAIN_ID_BYTES];
        getrandom::fill(&mut raw).map_err(|_| WriterError::Random)?;
        let chain_id = hex(&raw);
        let prev = match last_hash_of(path).map_err(open_err)? {
            Tail::Empty => anchor(&chain_id),
            Tail::Hash(h) => h,
            Tail::Corrupt => {
                return Err(WriterError::CorruptTail {
                    path: path.to_path_buf(),
                });
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(open_err)?;
        AuditWriter::start(
            Box::new(file),
            prev,
            chain_id,
            path,
            cfg,
            instance_id,
            policy_version,
        )
    }

    /// A writer appending to `sink` instead of a file (`path` is only reported), starting
    /// a new chain there. For tests and embedders; [`AuditWriter::open`] is the usual way.
    ///
    /// # Errors
    /// The `chain-start` record cannot be written.
    pub fn with_sink(
        sink: Box<dyn Sink>,
        path: &Path,
        cfg: &AuditConfig,
        instance_id: String,
        policy_version: String,
    ) -> Result<AuditWriter, WriterError> {
        let mut raw = [0u8; CHAIN_ID_BYTES];
        getrandom::fill(&mut raw).map_err(|_| WriterError::Random)?;
        let chain_id = hex(&raw);
        let prev = anchor(&chain_id);
        AuditWriter::start(sink, prev, chain_id, path, cfg, instance_id, policy_version)
    }

    fn start(
        file: Box<dyn Sink>,
        prev: String,
        chain_id: String,
        path: &Path,
        cfg: &AuditConfig,
        instance_id: String,
        policy_version: String,
    ) -> Result<AuditWriter, WriterError> {
        let w = AuditWriter {
            state: Mutex::new(State { file, prev, seq: 0 }),
            path: path.to_path_buf(),
            chain_id,
            instance_id,
            policy_version,
            fsync: cfg.fsync,
            on_failure: cfg.on_failure,
            healthy: AtomicBool::new(true),
        };
        let start = AuditRecord::chain_start(
            w.chain_id.clone(),
            w.instance_id.clone(),
            w.policy_version.clone(),
            rfc3339(SystemTime::now()),
        );
        w.write(start)?;
        Ok(w)
    }

    /// Appends the record of one request; returns its hash (the new checkpoint).
    ///
    /// # Errors
    /// The line could not be written (or synced); the writer is then unhealthy.
    pub fn append(&self, request: RequestFields) -> Result<String, WriterError> {
        let rec = AuditRecord {
            v: FORMAT_VERSION,
            kind: Kind::Request,
            seq: 0, // set under the lock
            time: rfc3339(SystemTime::now()),
            chain_id: self.chain_id.clone(),
            instance_id: self.instance_id.clone(),
            policy_version: self.policy_version.clone(),
            request: Some(request),
            prev: String::new(),
            hash: None,
        };
        self.write(rec)
    }

    fn write(&self, mut rec: AuditRecord) -> Result<String, WriterError> {
        let mut st = self.state.lock().map_err(|_| WriterError::Poisoned)?;
        if rec.kind == Kind::Request {
            rec.seq = st.seq + 1;
        }
        let mut line = rec.seal(&st.prev)?;
        line.push('\n');
        let result = st
            .file
            .write_all(line.as_bytes())
            .and_then(|()| match self.fsync {
                FsyncPolicy::Always => st.file.sync(),
                FsyncPolicy::Never => Ok(()),
            });
        if let Err(e) = result {
            self.healthy.store(false, Ordering::Relaxed);
            return Err(WriterError::Write(e));
        }
        self.healthy.store(true, Ordering::Relaxed);
        let hash = rec.hash.unwrap_or_default();
        st.prev.clone_from(&hash);
        st.seq = rec.seq;
        Ok(hash)
    }

    /// The hash of the last record written: the checkpoint to publish.
    pub fn checkpoint(&self) -> String {
        self.state
            .lock()
            .map(|s| s.prev.clone())
            .unwrap_or_default()
    }

    /// `false` after a failed write, until a write succeeds.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn on_failure(&self) -> OnFailure {
        self.on_failure
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

enum Tail {
    Empty,
    Hash(String),
    Corrupt,
}

/// The hash of the file's last record. Reads the whole file once at start; rotation
/// (issue 5, still to do) will keep files small enough for that.
fn last_hash_of(path: &Path) -> std::io::Result<Tail> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tail::Empty),
        Err(e) => return Err(e),
    };
    let mut last: Option<String> = None;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if !line.is_empty() {
            last = Some(line);
        }
    }
    let Some(line) = last else {
        return Ok(Tail::Empty);
    };
    match serde_json::from_str::<AuditRecord>(&line) {
        Ok(AuditRecord { hash: Some(h), .. }) => Ok(Tail::Hash(h)),
        _ => Ok(Tail::Corrupt),
    }
}
