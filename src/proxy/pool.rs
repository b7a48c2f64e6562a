//! The bounded pool the CPU-bound request phase (decompression, strict parse, walk,
//! scan, policy, rewrite, serialisation) of a large body runs on, so that the async
//! workers never spend seconds on one request: a 7-byte request is answered while two
//! multi-megabyte ones are scanned. A large non-streamed answer is decompressed and
//! re-identified on it too.
//!
//! A body under [`INLINE_MAX_BYTES`] costs well under a millisecond and runs where it
//! is. A larger one first waits (asynchronously, holding no thread) for one of
//! `[limits] scan_threads` permits, then runs in `tokio::task::block_in_place`: the
//! worker thread it is on becomes a thread of tokio's blocking pool for the time of the
//! scan, and tokio hands its queued tasks to a new worker. This is `spawn_blocking`
//! without moving the request's state (it borrows the runtime, the request and its
//! vault) into a `'static` closure; the semaphore is what bounds the pool. On a
//! current-thread runtime (in-process tests) `block_in_place` is not available and the
//! phase runs inline. The phase itself stays pure (`pipeline`, `walk`, `detect`).

use tokio::sync::{Semaphore, SemaphorePermit};

/// Bodies below this many bytes (as received; a compressed body counts
/// [`COMPRESSED_WEIGHT`] times) are scanned inline. Measured (release, 2 vCPU,
/// `examples/propagation`): a chat body full of personal data costs about 100 ms of CPU
/// per MB in the request phase, so 64 KiB about 6 ms, and a usual 2 KB prompt 0.2 ms,
/// less than the handoff is worth.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;

/// What a compressed byte counts for against [`INLINE_MAX_BYTES`]: decompression and
/// the larger text behind it.
pub const COMPRESSED_WEIGHT: usize = 8;

/// The scan pool: a semaphore of `scan_threads` permits.
#[derive(Debug)]
pub struct ScanPool {
    permits: Semaphore,
    threads: usize,
}

impl ScanPool {
    /// A pool of `threads` (0: as many as the machine has cores).
    pub fn new(threads: usize) -> ScanPool {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(2, usize::from)
        } else {
            threads
        };
        ScanPool {
            permits: Semaphore::new(threads),
            threads,
        }
    }

    /// How many scans run at once at most.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// A turn on the pool for a body of `bytes` (`compressed` or not): `None` when it
    /// is small enough to run inline, else a permit, awaited without holding a thread.
    pub async fn turn(&self, bytes: usize, compressed: bool) -> Option<SemaphorePermit<'_>> {
        let weight = if compressed {
            bytes.saturating_mul(COMPRESSED_WEIGHT)
        } else {
            bytes
        };
        if weight < INLINE_MAX_BYTES {
            return None;
        }
        // The semaphore is never closed.
        self.permits.acquire().await.ok()
    }
}

/// Runs `f`, off the async workers when `turn` is a permit of the pool (see the module
/// docs), else here.
pub fn run<T>(turn: Option<&SemaphorePermit<'_>>, f: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if turn.is_some() && multi_thread {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}
