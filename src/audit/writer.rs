//! Appends audit records to the `[audit] path` file: one line each, chained, under one
//! mutex so that the order of the lines is the order of the chain.
//!
//! Writes are blocking (a line, then `fsync` when configured): the proxy calls
//! [`AuditWriter::append`] through `tokio::task::spawn_blocking`, so the async workers
//! never wait on the disk. Never writes values, prompt text or keys: records hold counts
//! and keyed hashes only (see [`super::RequestFields`]).
//!
//! Rotation (`[audit] rotate_bytes`, `rotate = "daily"`) happens under the same lock:
//! the live file is renamed `<stem>.<UTC time>.<ext>` (for example
//! `paravent.20261129T184500.123456Z.jsonl`, names that sort in time order), a new live
//! file is opened under the configured name, and its first line is a `file-start`
//! record that continues the chain. The checkpoint (seq and hash of the last record) is
//! logged as `Audit checkpoint.` at start, every `checkpoint_every` records, at rotation
//! and at shutdown ([`AuditWriter::log_checkpoint`]).
//!
//! `[audit] path` may hold `{instance}`, replaced by the instance id made safe for a file
//! name ([`resolve_path`]): one configuration then gives every replica its own file and
//! chain. A graceful stop ends the chain with a `chain-close` record
//! ([`AuditWriter::close`]); nothing is written after it.
//!
//! With `[audit.signing]` ([`AuditWriter::with_signer`], [`load_signing_key`]), the
//! writer also signs the chain: a `checkpoint` record holding a signed note
//! ([`super::checkpoint`]) every `interval_records` records, when records stayed unsigned
//! `interval_seconds`, and just before the `chain-close` record.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use super::checkpoint::{Checkpoint, SigningKey};
use super::{AuditError, AuditRecord, FORMAT_VERSION, Kind, RequestFields, anchor, hex, rfc3339};
use crate::config::{AuditConfig, FsyncPolicy, OnFailure, Rotate, SigningConfig};

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
    #[error(
        "the audit file {path} is in use by another paravent ({holder}): give each instance its own [audit] path (with {{instance}} in it, a distinct [audit] instance_id or hostname)"
    )]
    InUse { path: PathBuf, holder: String },
    #[error(
        "the instance id {instance:?} leaves nothing usable for {{instance}} in the [audit] path once made safe for a file name (letters, digits, '.', '-', '_'): set [audit] instance_id"
    )]
    InstanceName { instance: String },
    #[error("the audit chain is closed: nothing more is written")]
    Closed,
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

    /// A second handle that syncs the same data, used outside the writer's lock so that
    /// records keep being written during an fsync (group commit). `None`: the sink is
    /// synced under the lock, one record at a time.
    fn sync_handle(&self) -> Option<Box<dyn Sink>> {
        None
    }
}

impl Sink for File {
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }

    fn sync_handle(&self) -> Option<Box<dyn Sink>> {
        self.try_clone().ok().map(|f| Box::new(f) as Box<dyn Sink>)
    }
}

/// Who syncs, and how far the trail is known durable (`fsync = "always"`). Positions
/// count the records this writer wrote (`seq + 1` of each, from its `chain-start`).
#[derive(Default)]
struct Syncing {
    /// A handle on the live file to sync outside the state lock; taken by the writer
    /// syncing, `None` meanwhile (or when the sink has none).
    handle: Option<Box<dyn Sink>>,
    /// Bumped when rotation replaces the live file: a handle taken before goes away.
    generation: u64,
    /// A writer is syncing: the others wait for its result, then look again.
    busy: bool,
    /// Every record up to this position is durable.
    synced: u64,
    /// Records up to this position were in a batch whose sync failed: their appends
    /// fail, whatever a later sync says (a failed fsync may not be reported twice).
    failed_through: u64,
}

struct State {
    file: Box<dyn Sink>,
    prev: String,
    seq: u64,
    /// Bytes in the live file.
    bytes: u64,
    /// The UTC day (`YYYY-MM-DD`) of the live file's first record.
    day: Option<String>,
    /// Request records since the last logged checkpoint.
    since_checkpoint: u64,
    /// Records written since the last signed checkpoint record, and when the first of
    /// them was.
    unsigned: u64,
    unsigned_since: Option<std::time::Instant>,
    /// The chain-close record was written: nothing more is.
    closed: bool,
}

/// The audit file of one instance, shared by every request.
pub struct AuditWriter {
    state: Mutex<State>,
    path: PathBuf,
    chain_id: String,
    instance_id: String,
    /// The running configuration's version, replaced on reload.
    policy_version: std::sync::RwLock<String>,
    /// The governance in force (`[audit]`'s, built from the configuration), written in
    /// `chain-start`, `file-start` and `reload` records; replaced on reload.
    governance: std::sync::RwLock<Option<crate::audit::Governance>>,
    fsync: FsyncPolicy,
    on_failure: OnFailure,
    healthy: AtomicBool,
    /// The position of the last record written (see [`Syncing`]).
    written: std::sync::atomic::AtomicU64,
    syncing: Mutex<Syncing>,
    synced: std::sync::Condvar,
    /// Rotation settings; `None` for a sink that is not a file.
    rotation: Option<Rotation>,
    checkpoint_every: u64,
    /// Signs checkpoints into the chain (`[audit.signing]`), when configured.
    signer: Option<Signer>,
    /// The exclusive lock on `.<file name>.lock`, held as long as the writer: two
    /// processes never write one chain.
    _lock: Option<std::fs::File>,
}

/// What signs the chain's checkpoints, and how often ([`AuditWriter::with_signer`]).
struct Signer {
    key: SigningKey,
    /// A checkpoint once this many records are unsigned (0: no count).
    every_records: u64,
    /// A checkpoint once the oldest unsigned record is this old (`None`: no timer).
    every: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy)]
struct Rotation {
    bytes: Option<u64>,
    daily: bool,
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
        let lock = lock_exclusive(path, &instance_id)?;
        let mut raw = [0u8; CHAIN_ID_BYTES];
        getrandom::fill(&mut raw).map_err(|_| WriterError::Random)?;
        let chain_id = hex(&raw);
        let corrupt = |p: &Path| WriterError::CorruptTail {
            path: p.to_path_buf(),
        };
        let live = last_hash_of(path).map_err(open_err)?;
        let (prev, day) = match live.tail {
            Tail::Hash(h) => (h, live.first_day),
            Tail::Corrupt => return Err(corrupt(path)),
            // An empty or missing live file continues the newest rotated file, if any
            // (a rotation interrupted between the rename and the first record).
            Tail::Empty => match newest_rotated(path) {
                Some(rotated) => match last_hash_of(&rotated).map_err(open_err)?.tail {
                    Tail::Hash(h) => (h, None),
                    Tail::Corrupt => return Err(corrupt(&rotated)),
                    Tail::Empty => (anchor(&chain_id), None),
                },
                None => (anchor(&chain_id), None),
            },
        };
        let file = append_options().open(path).map_err(open_err)?;
        let rotation = Rotation {
            bytes: cfg.rotate_bytes,
            daily: cfg.rotate == Rotate::Daily,
        };
        let state = State {
            file: Box::new(file),
            prev,
            seq: 0,
            bytes: live.bytes,
            day,
            since_checkpoint: 0,
            unsigned: 0,
            unsigned_since: None,
            closed: false,
        };
        let mut w = AuditWriter::start(
            state,
            Some(rotation),
            chain_id,
            path,
            cfg,
            instance_id,
            policy_version,
        )?;
        w._lock = Some(lock);
        Ok(w)
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
        let state = State {
            file: sink,
            prev: anchor(&chain_id),
            seq: 0,
            bytes: 0,
            day: None,
            since_checkpoint: 0,
            unsigned: 0,
            unsigned_since: None,
            closed: false,
        };
        AuditWriter::start(
            state,
            None,
            chain_id,
            path,
            cfg,
            instance_id,
            policy_version,
        )
    }

    fn start(
        state: State,
        rotation: Option<Rotation>,
        chain_id: String,
        path: &Path,
        cfg: &AuditConfig,
        instance_id: String,
        policy_version: String,
    ) -> Result<AuditWriter, WriterError> {
        let handle = state.file.sync_handle();
        let w = AuditWriter {
            state: Mutex::new(state),
            written: std::sync::atomic::AtomicU64::new(0),
            syncing: Mutex::new(Syncing {
                handle,
                ..Syncing::default()
            }),
            synced: std::sync::Condvar::new(),
            path: path.to_path_buf(),
            chain_id,
            instance_id,
            policy_version: std::sync::RwLock::new(policy_version),
            governance: std::sync::RwLock::new(cfg.governance.clone()),
            fsync: cfg.fsync,
            on_failure: cfg.on_failure,
            healthy: AtomicBool::new(true),
            rotation,
            checkpoint_every: cfg.checkpoint_every,
            signer: None,
            _lock: None,
        };
        let mut start = AuditRecord::chain_start(
            w.chain_id.clone(),
            w.instance_id.clone(),
            w.policy_version(),
            rfc3339(SystemTime::now()),
        );
        start.governance = w.governance();
        w.write(start)?;
        w.log_checkpoint("start");
        Ok(w)
    }

    /// Appends the record of one request; returns its hash (the new checkpoint).
    ///
    /// # Errors
    /// The line could not be written (or synced); the writer is then unhealthy.
    pub fn append(&self, request: RequestFields) -> Result<String, WriterError> {
        let now = rfc3339(SystemTime::now());
        self.write(self.record(Kind::Request, Some(request), now))
    }

    /// A record of this writer's chain, not yet sealed (`seq` and `prev` are set under
    /// the lock).
    fn record(&self, kind: Kind, request: Option<RequestFields>, time: String) -> AuditRecord {
        AuditRecord {
            v: FORMAT_VERSION,
            kind,
            seq: 0,
            time,
            chain_id: self.chain_id.clone(),
            instance_id: self.instance_id.clone(),
            policy_version: self.policy_version(),
            request,
            // The governance in force opens every file and follows every reload.
            governance: match kind {
                Kind::FileStart | Kind::Reload => self.governance(),
                _ => None,
            },
            checkpoint: None,
            prev: String::new(),
            hash: None,
        }
    }

    /// Appends a reload record: the configuration was replaced and the records from here
    /// on carry `version` (set with [`AuditWriter::set_policy_version`] first).
    ///
    /// # Errors
    /// As [`AuditWriter::append`].
    pub fn append_reload(&self) -> Result<String, WriterError> {
        let now = rfc3339(SystemTime::now());
        self.write(self.record(Kind::Reload, None, now))
    }

    /// Ends the chain with a `chain-close` record (a graceful stop, once requests in
    /// flight have finished): its `seq` is the number of records before it, its `prev`
    /// their last hash. Later appends fail with [`WriterError::Closed`], so the close
    /// stays the chain's last record; a restart on the file starts a new chain after it.
    ///
    /// # Errors
    /// As [`AuditWriter::append`]; [`WriterError::Closed`] when already closed.
    pub fn close(&self) -> Result<String, WriterError> {
        let now = rfc3339(SystemTime::now());
        self.write(self.record(Kind::ChainClose, None, now))
    }

    /// From now on, signs checkpoints of the chain with `key` as `cfg` says: a
    /// `checkpoint` record every `interval_records` records, when the oldest record not
    /// yet signed is `interval_seconds` old ([`AuditWriter::sign_if_due`], called by a
    /// timer), and before the `chain-close` record.
    #[must_use]
    pub fn with_signer(mut self, key: SigningKey, cfg: &SigningConfig) -> AuditWriter {
        self.signer = Some(Signer {
            key,
            every_records: cfg.interval_records,
            every: (cfg.interval_seconds > 0)
                .then(|| std::time::Duration::from_secs(cfg.interval_seconds)),
        });
        self
    }

    /// How often a timer should call [`AuditWriter::sign_if_due`]: every second (or
    /// every `interval_seconds`, when shorter); `None` without a signer or a timer.
    pub fn signing_tick(&self) -> Option<std::time::Duration> {
        let every = self.signer.as_ref()?.every?;
        Some(every.min(std::time::Duration::from_secs(1)))
    }

    /// Writes a signed checkpoint when records have stayed unsigned `interval_seconds`;
    /// returns whether it did.
    ///
    /// # Errors
    /// As [`AuditWriter::append`].
    pub fn sign_if_due(&self) -> Result<bool, WriterError> {
        let Some(every) = self.signer.as_ref().and_then(|s| s.every) else {
            return Ok(false);
        };
        let mut st = self.state.lock().map_err(|_| WriterError::Poisoned)?;
        let due = !st.closed
            && st.unsigned > 0
            && st.unsigned_since.is_some_and(|t| t.elapsed() >= every);
        if !due {
            return Ok(false);
        }
        self.sign_locked(&mut st, "timer")?;
        let position = self.written.load(Ordering::Acquire);
        drop(st);
        if self.fsync == FsyncPolicy::Always {
            self.sync_through(position)?;
        }
        Ok(true)
    }

    /// Appends a `checkpoint` record that signs the chain up to the last record: its
    /// note's size is the record's `seq` (the records before it), its head the record's
    /// `prev`. Nothing when there is no signer or nothing new to sign.
    fn sign_locked(&self, st: &mut State, reason: &'static str) -> Result<(), WriterError> {
        let Some(signer) = &self.signer else {
            return Ok(());
        };
        if st.unsigned == 0 {
            return Ok(());
        }
        let head = super::unhex32(&st.prev).ok_or(AuditError::BadPrev)?;
        let size = st.seq + 1;
        let body = Checkpoint {
            origin: Checkpoint::origin_of(signer.key.name(), &self.instance_id, &self.chain_id),
            size,
            head,
        }
        .body();
        let mut rec = self.record(Kind::Checkpoint, None, rfc3339(SystemTime::now()));
        rec.checkpoint = Some(signer.key.sign_note(&body));
        self.write_locked(st, rec)?;
        tracing::info!(
            size,
            head = %st.prev,
            chain_id = %self.chain_id,
            key = %signer.key.verifier().label(),
            reason,
            "Audit checkpoint signed."
        );
        Ok(())
    }

    /// Writes `rec`, then, with `fsync = "always"`, waits until it is durable.
    fn write(&self, rec: AuditRecord) -> Result<String, WriterError> {
        let (hash, position) = self.write_unsynced(rec)?;
        if self.fsync == FsyncPolicy::Always {
            self.sync_through(position)?;
        }
        Ok(hash)
    }

    /// Waits until every record up to `position` is durable, syncing if no one else is.
    ///
    /// Group commit: the writer that syncs takes a second handle on the file and syncs
    /// outside the state lock, so the records of other requests keep being written
    /// meanwhile; they wait for its result, and the next of them to sync makes all of
    /// them durable with one fsync.
    fn sync_through(&self, position: u64) -> Result<(), WriterError> {
        let failed =
            || WriterError::Write(std::io::Error::other("the audit file could not be synced"));
        let mut sy = self.syncing.lock().map_err(|_| WriterError::Poisoned)?;
        loop {
            if position <= sy.failed_through {
                return Err(failed());
            }
            if position <= sy.synced {
                return Ok(());
            }
            if sy.busy {
                sy = self.synced.wait(sy).map_err(|_| WriterError::Poisoned)?;
                continue;
            }
            let Some(mut handle) = sy.handle.take() else {
                // No second handle: sync under the state lock.
                drop(sy);
                let mut st = self.state.lock().map_err(|_| WriterError::Poisoned)?;
                let through = self.written.load(Ordering::Acquire);
                let r = st.file.sync();
                drop(st);
                return self.synced_to(through, r);
            };
            let generation = sy.generation;
            let through = self.written.load(Ordering::Acquire);
            sy.busy = true;
            drop(sy);
            let r = handle.sync();
            sy = self.syncing.lock().map_err(|_| WriterError::Poisoned)?;
            sy.busy = false;
            if sy.generation == generation {
                sy.handle = Some(handle);
            }
            drop(sy);
            self.synced_to(through, r)?;
            sy = self.syncing.lock().map_err(|_| WriterError::Poisoned)?;
        }
    }

    /// Records the result of a sync that covered every record up to `through`, and
    /// wakes the writers waiting for it.
    fn synced_to(&self, through: u64, r: std::io::Result<()>) -> Result<(), WriterError> {
        let mut sy = self.syncing.lock().map_err(|_| WriterError::Poisoned)?;
        let result = match r {
            Ok(()) => {
                sy.synced = sy.synced.max(through);
                Ok(())
            }
            Err(e) => {
                sy.failed_through = sy.failed_through.max(through);
                self.healthy.store(false, Ordering::Relaxed);
                Err(WriterError::Write(e))
            }
        };
        drop(sy);
        self.synced.notify_all();
        result
    }

    /// Writes `rec` (rotating before or after it as configured); returns its hash and
    /// position. Not yet synced.
    fn write_unsynced(&self, rec: AuditRecord) -> Result<(String, u64), WriterError> {
        let mut st = self.state.lock().map_err(|_| WriterError::Poisoned)?;
        if st.closed {
            return Err(WriterError::Closed);
        }
        let closing = rec.kind == Kind::ChainClose;
        let day = rec.time.get(..10).unwrap_or("").to_owned();
        if let Some(r) = self.rotation
            && r.daily
            && st.bytes > 0
            && st.day.as_deref().is_some_and(|d| d != day)
        {
            self.rotate(&mut st);
        }
        let is_request = rec.kind == Kind::Request;
        if closing {
            // The last checkpoint signs every record but the close.
            self.sign_locked(&mut st, "close")?;
        }
        let hash = self.write_locked(&mut st, rec)?;
        let position = self.written.load(Ordering::Acquire);
        if closing {
            // The close is the chain's last record: no file-start after it.
            st.closed = true;
            return Ok((hash, position));
        }
        if let Some(s) = &self.signer
            && s.every_records > 0
            && st.unsigned >= s.every_records
            && let Err(e) = self.sign_locked(&mut st, "records")
        {
            // The record asked for is written; the next one tries again.
            tracing::error!(error = %e, "The audit checkpoint was not written.");
        }
        if let Some(r) = self.rotation
            && r.bytes.is_some_and(|max| st.bytes >= max)
        {
            self.rotate(&mut st);
        }
        if is_request {
            st.since_checkpoint += 1;
            if self.checkpoint_every > 0 && st.since_checkpoint >= self.checkpoint_every {
                self.log_locked(&mut st, "periodic");
            }
        }
        Ok((hash, position))
    }

    /// Seals `rec` after the last record and appends it to the live file.
    fn write_locked(&self, st: &mut State, mut rec: AuditRecord) -> Result<String, WriterError> {
        if rec.kind != Kind::ChainStart {
            rec.seq = st.seq + 1;
        }
        let mut line = rec.seal(&st.prev)?;
        line.push('\n');
        if let Err(e) = st.file.write_all(line.as_bytes()) {
            self.healthy.store(false, Ordering::Relaxed);
            return Err(WriterError::Write(e));
        }
        self.healthy.store(true, Ordering::Relaxed);
        if rec.kind == Kind::Checkpoint {
            st.unsigned = 0;
            st.unsigned_since = None;
        } else {
            st.unsigned += 1;
            st.unsigned_since
                .get_or_insert_with(std::time::Instant::now);
        }
        let hash = rec.hash.unwrap_or_default();
        st.prev.clone_from(&hash);
        st.seq = rec.seq;
        // Under the state lock: positions follow the order of the lines in the file.
        self.written.fetch_add(1, Ordering::AcqRel);
        st.bytes += line.len() as u64;
        if st.day.is_none() {
            st.day = rec.time.get(..10).map(str::to_owned);
        }
        Ok(hash)
    }

    /// Closes the live file under its rotated name and opens a new one that starts with
    /// a `file-start` record. A failure is logged and the live file kept: records keep
    /// going to it (rotation is tried again at the next record).
    fn rotate(&self, st: &mut State) {
        let now = rfc3339(SystemTime::now());
        let Some(closed) = rotated_name(&self.path, &now) else {
            return;
        };
        // The closed file's lines must be durable before its handle goes: writers still
        // waiting for their sync will sync the new file.
        if self.fsync == FsyncPolicy::Always {
            let through = self.written.load(Ordering::Acquire);
            let r = st.file.sync();
            let failed = r.is_err();
            if let Err(e) = self.synced_to(through, r) {
                tracing::error!(file = %self.path.display(), error = %e,
                    "Audit file not rotated: cannot sync it.");
            }
            if failed {
                return;
            }
        }
        self.log_locked(st, "rotation");
        if let Err(e) = std::fs::rename(&self.path, &closed) {
            tracing::error!(file = %self.path.display(), error = %e,
                "Audit file not rotated: cannot rename it.");
            return;
        }
        let file = match append_options().open(&self.path) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(file = %self.path.display(), error = %e,
                    "Audit file not rotated: cannot open a new one.");
                // Writes go on to the open handle; give the file its name back.
                let _ = std::fs::rename(&closed, &self.path);
                return;
            }
        };
        // The handle to the closed file is dropped here (its lines are written, and
        // synced above when `fsync = "always"`).
        let handle = file.sync_handle();
        st.file = Box::new(file);
        if let Ok(mut sy) = self.syncing.lock() {
            sy.handle = handle;
            sy.generation += 1;
        }
        st.bytes = 0;
        st.day = None;
        tracing::info!(closed = %closed.display(), file = %self.path.display(),
            "Audit file rotated.");
        let start = self.record(Kind::FileStart, None, now);
        if let Err(e) = self.write_locked(st, start) {
            // The next record fails the same way (and follows on_failure); an instance
            // restarted on the empty file continues the rotated one.
            tracing::error!(file = %self.path.display(), error = %e,
                "Audit file rotated, but its file-start record was not written.");
        }
    }

    /// The seq and hash of the last record written: the checkpoint to publish.
    pub fn checkpoint(&self) -> (u64, String) {
        self.state
            .lock()
            .map(|s| (s.seq, s.prev.clone()))
            .unwrap_or_default()
    }

    /// Logs the checkpoint at info level: `Audit checkpoint.` with `seq`, `hash`, `file`
    /// and `reason` (`start`, `periodic`, `rotation`, `shutdown`): a line to keep apart
    /// from the audit files and give to `paravent audit verify --checkpoint` (the hash)
    /// or `--from` (`from`, the resume point `CHAIN:SEQ:HASH`).
    pub fn log_checkpoint(&self, reason: &'static str) {
        if let Ok(mut st) = self.state.lock() {
            self.log_locked(&mut st, reason);
        }
    }

    fn log_locked(&self, st: &mut State, reason: &'static str) {
        st.since_checkpoint = 0;
        tracing::info!(
            seq = st.seq,
            hash = %st.prev,
            file = %self.path.display(),
            chain_id = %self.chain_id,
            from = %format_args!("{}:{}:{}", self.chain_id, st.seq, st.prev),
            reason,
            "Audit checkpoint."
        );
    }

    /// `false` after a failed write, until a write succeeds.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn on_failure(&self) -> OnFailure {
        self.on_failure
    }

    /// Whether each append waits for the disk (`fsync = "always"`). Without it an
    /// append is a write into the page cache, short enough for an async worker.
    pub fn syncs(&self) -> bool {
        self.fsync == FsyncPolicy::Always
    }

    /// The version of the configuration the records are written under.
    pub fn policy_version(&self) -> String {
        self.policy_version
            .read()
            .map(|v| v.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The governance written in the next `file-start` and `reload` records.
    fn governance(&self) -> Option<crate::audit::Governance> {
        self.governance
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// The next `file-start` and `reload` records carry `governance` (a reloaded
    /// configuration's; set it before [`AuditWriter::append_reload`]).
    pub fn set_governance(&self, governance: Option<crate::audit::Governance>) {
        match self.governance.write() {
            Ok(mut g) => *g = governance,
            Err(e) => *e.into_inner() = governance,
        }
    }

    /// Records written from now on carry `version` (a reloaded configuration).
    pub fn set_policy_version(&self, version: String) {
        match self.policy_version.write() {
            Ok(mut v) => *v = version,
            Err(e) => *e.into_inner() = version,
        }
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why the checkpoints' signing key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("cannot read the audit signing key file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the environment variable {0} ([audit.signing] key_env) is not set")]
    EnvUnset(String),
    #[error("the audit signing key ({from}) is not usable: {error}")]
    Key {
        from: String,
        error: super::checkpoint::NoteError,
    },
    #[error(
        "the audit signing key is named {found:?}, not {configured:?} as [audit.signing] name says"
    )]
    Name { found: String, configured: String },
}

/// The longest key file read: a signer key is some 100 bytes.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The signing key `[audit.signing]` names (its file or its environment variable), and
/// whether its file can be read by others than its owner (`serve` warns then).
///
/// # Errors
/// The file or variable cannot be read, does not hold a signer key, or the key's name
/// is not the configured `name`.
pub fn load_signing_key(cfg: &SigningConfig) -> Result<(SigningKey, bool), SigningKeyError> {
    use std::io::Read as _;
    let (text, from, open_to_others) = match (&cfg.key_file, &cfg.key_env) {
        (Some(path), _) => {
            let read_err = |source| SigningKeyError::Read {
                path: path.clone(),
                source,
            };
            let file = File::open(path).map_err(read_err)?;
            #[cfg(unix)]
            let open_to_others = {
                use std::os::unix::fs::PermissionsExt;
                file.metadata().map_err(read_err)?.permissions().mode() & 0o077 != 0
            };
            #[cfg(not(unix))]
            let open_to_others = false;
            let mut text = String::new();
            #[allow(clippy::disallowed_methods)] // bounded by take() on the same line
            file.take(MAX_KEY_FILE_BYTES)
                .read_to_string(&mut text)
                .map_err(read_err)?;
            (text, path.display().to_string(), open_to_others)
        }
        (None, Some(var)) => {
            let text = std::env::var(var).map_err(|_| SigningKeyError::EnvUnset(var.clone()))?;
            (text, format!("${var}"), false)
        }
        (None, None) => return Err(SigningKeyError::EnvUnset(String::new())),
    };
    let key = SigningKey::parse(&text).map_err(|error| SigningKeyError::Key { from, error })?;
    if let Some(name) = &cfg.name
        && name != key.name()
    {
        return Err(SigningKeyError::Name {
            found: key.name().to_owned(),
            configured: name.clone(),
        });
    }
    Ok((key, open_to_others))
}

/// Writes a new signing key: `PREFIX.key` (the signer key, owner-only, never
/// overwritten) and `PREFIX.pub` (the verifier key, for auditors); returns the verifier
/// key.
///
/// # Errors
/// A bad name, no random source, or a file that exists or cannot be written.
pub fn keygen(name: &str, prefix: &Path) -> Result<String, std::io::Error> {
    use std::io::Write as _;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|_| std::io::Error::other("no random source"))?;
    let secret = SigningKey::encode(name, &seed).map_err(std::io::Error::other)?;
    let public = SigningKey::parse(&secret)
        .map_err(std::io::Error::other)?
        .verifier()
        .to_string();
    let with_ext = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(with_ext(".key"))?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(with_ext(".pub"))?;
    f.write_all(public.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(public)
}

/// The instance id: `[audit] instance_id`, else `$HOSTNAME`, else the kernel's host
/// name (Linux: systemd services have no `$HOSTNAME`), else `pid-<pid>`.
pub fn instance_id(configured: Option<&str>) -> String {
    let nonempty = |s: String| {
        let s = s.trim().to_owned();
        (!s.is_empty()).then_some(s)
    };
    configured
        .map(str::to_owned)
        .and_then(nonempty)
        .or_else(|| std::env::var("HOSTNAME").ok().and_then(nonempty))
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .and_then(nonempty)
        })
        .unwrap_or_else(|| format!("pid-{}", std::process::id()))
}

/// The longest instance id part of a file name.
const MAX_INSTANCE_NAME_CHARS: usize = 64;

/// `path` with each `{instance}` replaced by `instance` made safe for a file name:
/// letters, digits, `.`, `-` and `_` kept, anything else `_`, no leading dot, at most
/// 64 characters (so no `/`, no `..`, no hidden file).
///
/// # Errors
/// [`WriterError::InstanceName`] when nothing usable is left.
///
/// ```
/// use std::path::Path;
/// use paravent::audit::writer::resolve_path;
/// let p = resolve_path(Path::new("audit/paravent-{instance}.jsonl"), "../pod 7").unwrap();
/// assert_eq!(p, Path::new("audit/paravent-_pod_7.jsonl"));
/// assert_eq!(resolve_path(Path::new("a.jsonl"), "x").unwrap(), Path::new("a.jsonl"));
/// ```
pub fn resolve_path(path: &Path, instance: &str) -> Result<PathBuf, WriterError> {
    const PLACEHOLDER: &str = "{instance}";
    let Some(text) = path.to_str().filter(|t| t.contains(PLACEHOLDER)) else {
        return Ok(path.to_path_buf());
    };
    let safe: String = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .skip_while(|c| *c == '.')
        .take(MAX_INSTANCE_NAME_CHARS)
        .collect();
    if safe.is_empty() || safe.chars().all(|c| c == '_') {
        return Err(WriterError::InstanceName {
            instance: instance.to_owned(),
        });
    }
    Ok(PathBuf::from(text.replace(PLACEHOLDER, &safe)))
}

enum Tail {
    Empty,
    Hash(String),
    Corrupt,
}

/// What opening needs to know of an audit file.
struct FileTail {
    tail: Tail,
    /// The UTC day of its first record.
    first_day: Option<String>,
    bytes: u64,
}

/// The hash of the file's last record, the day of its first, and its size. Reads the
/// whole file once at start (rotation keeps files small enough for that).
fn last_hash_of(path: &Path) -> std::io::Result<FileTail> {
    let empty = FileTail {
        tail: Tail::Empty,
        first_day: None,
        bytes: 0,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(empty),
        Err(e) => return Err(e),
    };
    let bytes = file.metadata()?.len();
    let mut first: Option<String> = None;
    let mut last: Option<String> = None;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if !line.is_empty() {
            if first.is_none() {
                first = Some(line.clone());
            }
            last = Some(line);
        }
    }
    let Some(line) = last else {
        return Ok(FileTail { bytes, ..empty });
    };
    let first_day = first
        .and_then(|l| serde_json::from_str::<AuditRecord>(&l).ok())
        .and_then(|r| r.time.get(..10).map(str::to_owned));
    let tail = match serde_json::from_str::<AuditRecord>(&line) {
        Ok(AuditRecord { hash: Some(h), .. }) => Tail::Hash(h),
        _ => Tail::Corrupt,
    };
    Ok(FileTail {
        tail,
        first_day,
        bytes,
    })
}

/// `dir/stem.ext` → `dir/stem.<compact time>.ext`, for the time `now` (RFC 3339), or a
/// few microseconds later when that name is taken.
fn rotated_name(path: &Path, now: &str) -> Option<PathBuf> {
    let (stem, ext) = stem_ext(path)?;
    let compact: String = now.chars().filter(|c| *c != '-' && *c != ':').collect();
    let dir = path.parent().unwrap_or(Path::new(""));
    for n in 0..1000 {
        let name = if n == 0 {
            format!("{stem}.{compact}{ext}")
        } else {
            // Two rotations in the same microsecond: still unique, still sorted.
            format!("{stem}.{compact}-{n:03}{ext}")
        };
        let p = dir.join(name);
        if !p.exists() {
            return Some(p);
        }
    }
    None
}

/// The file name's stem and extension (with its dot, or empty).
fn stem_ext(path: &Path) -> Option<(String, String)> {
    let stem = path.file_stem()?.to_str()?.to_owned();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    Some((stem, ext))
}

/// The newest file rotated from `path` (`stem.<time>.ext`), by name.
fn newest_rotated(path: &Path) -> Option<PathBuf> {
    let (stem, ext) = stem_ext(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let prefix = format!("{stem}.");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            n.strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix(&ext))
                .is_some_and(|t| t.len() >= 16 && t.as_bytes()[8] == b'T' && t.contains('Z'))
        })
        .max()
        .map(|n| dir.join(n))
}

/// How audit files are opened: append-only, created owner-only (`0600` on Unix): the
/// trail names principals, which are personal data (auditors get copies, as logs are
/// shipped: docs/AUDIT.md).
fn append_options() -> OpenOptions {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Takes the exclusive lock on `.<file name>.lock` beside the audit file (created
/// owner-only, hidden so that `audit verify DIR/*` never reads it) and writes who holds
/// it there; fails with [`WriterError::InUse`], naming the holder, when another process
/// has it.
fn lock_exclusive(path: &Path, instance_id: &str) -> Result<std::fs::File, WriterError> {
    use std::io::{Read, Seek, Write};
    let name = path
        .file_name()
        .map_or_else(|| "paravent".into(), |n| n.to_string_lossy().into_owned());
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let open_err = |source| WriterError::Open {
        path: lock_path.clone(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&lock_path).map_err(open_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            #[allow(clippy::disallowed_methods)] // bounded by take() on the same line
            let _ = file.take(256).read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(WriterError::InUse {
                path: path.to_path_buf(),
                holder: if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    holder.to_owned()
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(open_err(e)),
    }
    let who = format!("pid {}, instance {instance_id}\n", std::process::id());
    file.set_len(0).map_err(open_err)?;
    file.rewind().map_err(open_err)?;
    file.write_all(who.as_bytes()).map_err(open_err)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::super::checkpoint::VerifierKey;
    use super::*;

    fn cfg(rotate_bytes: Option<u64>) -> AuditConfig {
        AuditConfig {
            rotate_bytes,
            fsync: FsyncPolicy::Never,
            ..AuditConfig::default()
        }
    }

    fn req(i: usize) -> RequestFields {
        RequestFields {
            request_id: format!("pv-{i}"),
            principal: "alice".into(),
            status: 200,
            ..RequestFields::default()
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("paravent-writer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// The rotated files then the live one, oldest first, as (name, text).
    fn files_in_order(path: &Path) -> Vec<(String, String)> {
        let dir = path.parent().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "paravent.jsonl" && !n.starts_with('.'))
            .collect();
        names.sort();
        names.push("paravent.jsonl".into());
        names
            .into_iter()
            .map(|n| {
                let t = std::fs::read_to_string(dir.join(&n)).unwrap();
                (n, t)
            })
            .collect()
    }

    fn verify_files(
        files: &[(String, String)],
    ) -> Result<super::super::verify::Verified, super::super::verify::BadRecord> {
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(n, t)| (n.as_str(), t.as_str()))
            .collect();
        super::super::verify::verify(&refs, None)
    }

    /// A sink into shared memory that counts its syncs, takes 2 ms for each (so that
    /// writers queue behind it), fails them on demand, and gives sync handles.
    #[derive(Clone, Default)]
    struct SlowSink {
        bytes: std::sync::Arc<Mutex<Vec<u8>>>,
        syncs: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        fail: std::sync::Arc<AtomicBool>,
    }

    impl Write for SlowSink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink for SlowSink {
        fn sync(&mut self) -> std::io::Result<()> {
            std::thread::sleep(std::time::Duration::from_millis(2));
            self.syncs.fetch_add(1, Ordering::SeqCst);
            if self.fail.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("injected sync failure"));
            }
            Ok(())
        }

        fn sync_handle(&self) -> Option<Box<dyn Sink>> {
            Some(Box::new(self.clone()))
        }
    }

    fn synced_writer(sink: &SlowSink) -> AuditWriter {
        let c = AuditConfig {
            fsync: FsyncPolicy::Always,
            ..cfg(None)
        };
        let path = std::env::temp_dir().join("paravent-writer-unused.jsonl");
        AuditWriter::with_sink(Box::new(sink.clone()), &path, &c, "i".into(), "p".into()).unwrap()
    }

    #[test]
    fn concurrent_appends_share_their_syncs_and_every_record_is_synced() {
        let sink = SlowSink::default();
        let w = std::sync::Arc::new(synced_writer(&sink));
        let before = sink.syncs.load(Ordering::SeqCst);
        assert_eq!(before, 1, "the chain-start is synced");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..20 {
                        w.append(req(t * 100 + i)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let syncs = sink.syncs.load(Ordering::SeqCst) - before;
        // Each append returned once its record was synced; 8 writers queuing behind
        // each 2 ms sync shared far fewer syncs than one each.
        assert!(syncs < 100, "{syncs} syncs for 160 records");
        let (seq, hash) = w.checkpoint();
        assert_eq!(seq, 160);
        let text = String::from_utf8(sink.bytes.lock().unwrap().clone()).unwrap();
        let v = super::super::verify::verify(&[("a.jsonl", &text)], None).unwrap();
        assert_eq!(v.records, 161);
        assert_eq!(v.last_hash, hash);
    }

    #[test]
    fn a_failed_sync_fails_the_appends_it_covered_and_marks_the_writer_unhealthy() {
        let sink = SlowSink::default();
        let w = synced_writer(&sink);
        w.append(req(1)).unwrap();
        sink.fail.store(true, Ordering::SeqCst);
        assert!(w.append(req(2)).is_err());
        assert!(!w.healthy());
        // The record written but not known durable stays failed, even once syncs work.
        sink.fail.store(false, Ordering::SeqCst);
        assert!(w.sync_through(3).is_err());
        // Later records are synced again and the writer is healthy.
        w.append(req(3)).unwrap();
        assert!(w.healthy());
    }

    #[test]
    fn a_reload_record_continues_the_chain_and_later_records_carry_the_new_version() {
        let dir = scratch("reload");
        let path = dir.join("paravent.jsonl");
        let w = AuditWriter::open(&path, &cfg(None), "i".into(), "v1".into()).unwrap();
        w.append(req(1)).unwrap();
        w.set_policy_version("v2".into());
        w.append_reload().unwrap();
        w.append(req(2)).unwrap();
        drop(w);
        let files = files_in_order(&path);
        let lines: Vec<AuditRecord> = files[0]
            .1
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let kinds: Vec<Kind> = lines.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [Kind::ChainStart, Kind::Request, Kind::Reload, Kind::Request]
        );
        let versions: Vec<&str> = lines.iter().map(|r| r.policy_version.as_str()).collect();
        assert_eq!(versions, ["v1", "v1", "v2", "v2"]);
        assert_eq!(verify_files(&files).unwrap().records, 4);
        // A reload record that carries a request is malformed.
        let mut bad = lines.clone();
        bad[2].request = lines[1].request.clone();
        let text: String = bad
            .iter()
            .map(|r| format!("{}\n", serde_json::to_string(r).unwrap()))
            .collect();
        assert!(verify_files(&[(files[0].0.clone(), text)]).is_err());
    }

    #[test]
    fn size_rotation_keeps_one_chain_across_files() {
        let dir = scratch("size");
        let path = dir.join("paravent.jsonl");
        let w = AuditWriter::open(&path, &cfg(Some(600)), "i".into(), "p".into()).unwrap();
        for i in 0..12 {
            w.append(req(i)).unwrap();
        }
        let (seq, hash) = w.checkpoint();
        drop(w);
        let files = files_in_order(&path);
        assert!(files.len() >= 3, "{} files", files.len());
        // Every file, the rotated ones included, is owner-only.
        #[cfg(unix)]
        for entry in std::fs::read_dir(&dir).unwrap() {
            use std::os::unix::fs::PermissionsExt;
            let mode = entry.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        for (name, text) in &files[1..] {
            let first: AuditRecord = serde_json::from_str(text.lines().next().unwrap()).unwrap();
            assert_eq!(first.kind, Kind::FileStart, "{name}");
        }
        let v = verify_files(&files).unwrap();
        assert_eq!(v.last_hash, hash);
        assert_eq!(v.chains, 1);
        // chain-start + 12 requests + one file-start per rotated file.
        assert_eq!(v.records, 13 + files.len() as u64 - 1);
        assert_eq!(seq, v.records - 1);

        // A missing middle file, or files out of order, break the chain there.
        let mut missing = files.clone();
        missing.remove(1);
        let bad = verify_files(&missing).unwrap_err();
        assert_eq!(
            (bad.file.as_str(), bad.line),
            (missing[1].0.as_str(), 1),
            "{bad}"
        );
        assert!(bad.reason.contains("missing"), "{bad}");
        // Files given in any order verify: pieces are ordered by their first seq.
        let mut swapped = files.clone();
        swapped.swap(1, 2);
        assert_eq!(verify_files(&swapped).unwrap().last_hash, hash);
        // The live file alone does not start a chain.
        assert!(verify_files(&files[files.len() - 1..]).is_err());

        // A restart continues the live file's chain.
        let w = AuditWriter::open(&path, &cfg(Some(600)), "i".into(), "p".into()).unwrap();
        w.append(req(99)).unwrap();
        drop(w);
        let v = verify_files(&files_in_order(&path)).unwrap();
        assert_eq!(v.chains, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_restart_after_an_interrupted_rotation_continues_the_rotated_file() {
        let dir = scratch("interrupted");
        let path = dir.join("paravent.jsonl");
        let w = AuditWriter::open(&path, &cfg(None), "i".into(), "p".into()).unwrap();
        w.append(req(1)).unwrap();
        drop(w);
        // As if the process stopped between the rename and the file-start record.
        let rotated = dir.join("paravent.20260101T000000.000000Z.jsonl");
        std::fs::rename(&path, &rotated).unwrap();
        std::fs::write(&path, "").unwrap();
        let w = AuditWriter::open(&path, &cfg(None), "i".into(), "p".into()).unwrap();
        w.append(req(2)).unwrap();
        drop(w);
        verify_files(&files_in_order(&path)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn signed_writer(sink: &SlowSink, every_records: u64) -> (AuditWriter, VerifierKey) {
        let key = SigningKey::from_seed("paravent.test/audit", &[5u8; 32]).unwrap();
        let verifier = key.verifier().clone();
        let c = AuditConfig {
            fsync: FsyncPolicy::Never,
            ..cfg(None)
        };
        let path = std::env::temp_dir().join("paravent-writer-unused.jsonl");
        let w = AuditWriter::with_sink(Box::new(sink.clone()), &path, &c, "i".into(), "p".into())
            .unwrap()
            .with_signer(
                key,
                &SigningConfig {
                    key_file: None,
                    key_env: None,
                    name: None,
                    interval_records: every_records,
                    interval_seconds: 300,
                },
            );
        (w, verifier)
    }

    fn verify_signed(text: &str, key: &VerifierKey) -> super::super::verify::Verification {
        let mut v = super::super::verify::Verifier::new::<&str>(&[]).key(Some(key.clone()));
        v.file("a.jsonl");
        for line in text.lines() {
            v.push(line);
        }
        v.finish()
    }

    #[test]
    fn a_signed_writer_checkpoints_every_n_records_and_before_the_close() {
        let sink = SlowSink::default();
        let (w, key) = signed_writer(&sink, 3);
        for i in 0..7 {
            w.append(req(i)).unwrap();
        }
        w.close().unwrap();
        let text = String::from_utf8(sink.bytes.lock().unwrap().clone()).unwrap();
        let recs: Vec<AuditRecord> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let kinds: Vec<Kind> = recs.iter().map(|r| r.kind).collect();
        use Kind::{ChainClose as X, ChainStart as S, Checkpoint as C, Request as R};
        // chain-start + 2 requests = 3 unsigned; then 3 more each (the checkpoint
        // itself included in the next); the last signs the rest before the close.
        assert_eq!(kinds, [S, R, R, C, R, R, R, C, R, R, C, X], "{text}");
        for r in recs.iter().filter(|r| r.kind == Kind::Checkpoint) {
            let note = r.checkpoint.as_deref().unwrap();
            let body = super::super::checkpoint::open_note(note, &key).unwrap();
            let cp = Checkpoint::parse(body).unwrap();
            assert_eq!(cp.size, r.seq);
            assert_eq!(hex(&cp.head), r.prev);
            assert_eq!(cp.origin, format!("paravent.test/audit/i/{}", w.chain_id()));
        }
        let done = verify_signed(&text, &key);
        assert!(done.ok(), "{:?}", done.first_bad());
        assert_eq!(done.chains[0].checkpoints, 3);
        assert_eq!(done.chains[0].signed, Some(10));
        assert!(done.chains[0].closed);
    }

    #[test]
    fn a_signed_writer_checkpoints_on_its_timer_only_when_something_is_unsigned() {
        let sink = SlowSink::default();
        let (w, key) = signed_writer(&sink, 0);
        assert_eq!(w.signing_tick(), Some(std::time::Duration::from_secs(1)));
        w.append(req(1)).unwrap();
        assert!(!w.sign_if_due().unwrap(), "not yet 300 s old");
        // As if the oldest unsigned record were 301 s old.
        let past = std::time::Instant::now()
            .checked_sub(std::time::Duration::from_secs(301))
            .unwrap();
        w.state.lock().unwrap().unsigned_since = Some(past);
        assert!(w.sign_if_due().unwrap());
        w.state.lock().unwrap().unsigned_since = Some(past);
        assert!(!w.sign_if_due().unwrap(), "nothing new to sign");
        let text = String::from_utf8(sink.bytes.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("\"kind\":\"checkpoint\"").count(), 1);
        assert!(verify_signed(&text, &key).ok());
        // A close right after a checkpoint has nothing more to sign.
        w.close().unwrap();
        let text = String::from_utf8(sink.bytes.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("\"kind\":\"checkpoint\"").count(), 1);
    }

    #[test]
    fn a_key_file_is_read_its_name_checked_and_its_openness_reported() {
        let dir = scratch("keygen");
        std::fs::create_dir_all(&dir).unwrap();
        let prefix = dir.join("audit-signing");
        let public = keygen("paravent.test/audit", &prefix).unwrap();
        assert!(
            keygen("paravent.test/audit", &prefix).is_err(),
            "never overwritten"
        );
        let on_disk = std::fs::read_to_string(dir.join("audit-signing.pub")).unwrap();
        assert_eq!(on_disk.trim(), public);
        let mut sc = SigningConfig {
            key_file: Some(dir.join("audit-signing.key")),
            key_env: None,
            name: Some("paravent.test/audit".into()),
            interval_records: 1,
            interval_seconds: 1,
        };
        let (key, open) = load_signing_key(&sc).unwrap();
        assert_eq!(key.verifier().to_string(), public);
        assert!(!open, "created owner-only");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.join("audit-signing.key");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(load_signing_key(&sc).unwrap().1);
        }
        sc.name = Some("other.name".into());
        assert!(matches!(
            load_signing_key(&sc),
            Err(SigningKeyError::Name { .. })
        ));
        sc.key_file = Some(dir.join("audit-signing.pub"));
        sc.name = None;
        let err = load_signing_key(&sc).unwrap_err().to_string();
        assert!(!err.contains(&public), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn daily_rotation_starts_a_new_file_on_a_new_day() {
        let dir = scratch("daily");
        let path = dir.join("paravent.jsonl");
        let c = AuditConfig {
            rotate: Rotate::Daily,
            ..cfg(None)
        };
        let w = AuditWriter::open(&path, &c, "i".into(), "p".into()).unwrap();
        w.append(req(1)).unwrap();
        // Yesterday's file, as far as the writer knows.
        w.state.lock().unwrap().day = Some("2000-01-01".into());
        w.append(req(2)).unwrap();
        drop(w);
        let files = files_in_order(&path);
        assert_eq!(files.len(), 2);
        let live: Vec<&str> = files[1].1.lines().collect();
        assert_eq!(live.len(), 2, "file-start then the record");
        assert!(live[0].contains("\"kind\":\"file-start\""));
        verify_files(&files).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
