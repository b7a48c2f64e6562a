//! The listener: HTTP/1.1 and HTTP/2 on one port, in cleartext (h2c) or TLS (`[server.tls]`,
//! h2 and http/1.1 by ALPN), each connection served by [`proxy::handle`], and a graceful
//! shutdown that lets requests in flight finish.
//!
//! TLS belongs to the generation: each new connection is handshaken with the
//! certificate of the generation current when it is accepted, so a reload with new
//! files serves them to new connections while open ones keep theirs. Whether to serve
//! cleartext at all is decided before binding (`ServerConfig::plaintext_refusal`).
//!
//! The runtime (configuration, rules, policy, keys) is a [`Generation`]: each request
//! takes the current one when it starts and finishes on it, and a reload swaps it whole
//! (STYLE.md habit 18), so no request ever sees two configurations.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use arc_swap::ArcSwap;

use crate::proxy::{self, Runtime};

/// The runtime every new request takes, replaced whole on reload.
pub type Generation = Arc<ArcSwap<Runtime>>;

/// How long a graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE_SECS: u64 = 30;

/// Serves `listener` until `shutdown` completes, then waits (up to
/// [`SHUTDOWN_GRACE_SECS`]) for the connections in flight.
pub async fn serve(listener: TcpListener, rt: Generation, shutdown: impl Future<Output = ()>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A request head sent slower than this closes the connection (slowloris).
    let head_ms = rt.load().config.limits.header_read_timeout_ms;
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(head_ms));
    // A TLS handshake gets the same time as a request head: a client that opens a
    // connection and stalls must not hold it.
    let handshake_timeout = Duration::from_millis(head_ms);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "Accept failed.");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // The certificate of the generation current at accept time.
                let tls = rt
                    .load()
                    .config
                    .server
                    .tls
                    .as_ref()
                    .map(|t| tokio_rustls::TlsAcceptor::from(t.server_config.config()));
                let rt = rt.clone();
                let svc = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    // The peer's address, for [identity] and the audit record.
                    req.extensions_mut().insert(proxy::PeerAddr(peer));
                    // One snapshot per request, taken when it starts.
                    let rt = rt.load_full();
                    async move { Ok::<_, Infallible>(proxy::handle(rt, req).await) }
                });
                let Some(acceptor) = tls else {
                    let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "Connection ended with an error.");
                        }
                    });
                    continue;
                };
                // Watched from before the handshake, so a shutdown waits for it too.
                let watcher = graceful.watcher();
                let builder = builder.clone();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed.");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out.");
                            return;
                        }
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    if let Err(e) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(error = %e, "Connection ended with an error.");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(SHUTDOWN_GRACE_SECS)) => {
            tracing::warn!("Shutdown grace period over; closing the remaining connections.");
        }
    }
}

/// A server running in the background (tests, embedding); stopped on drop.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Binds `addr` (port 0 for any) and serves in a task of the current runtime.
    ///
    /// # Errors
    /// When `addr` cannot be bound.
    pub async fn start(rt: Arc<Runtime>, addr: SocketAddr) -> std::io::Result<Running> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(serve(listener, Arc::new(ArcSwap::new(rt)), async {
            let _ = rx.await;
        }));
        Ok(Running {
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// Stops accepting and waits for the connections in flight.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Calls `reload` at every SIGHUP (Unix), for the life of the process.
pub async fn on_reload_signal(mut reload: impl FnMut()) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("SIGHUP cannot be handled: reload by restarting.");
            return;
        };
        while hup.recv().await.is_some() {
            reload();
        }
    }
    #[cfg(not(unix))]
    {
        let _ = &mut reload;
        std::future::pending::<()>().await;
    }
}

/// What a file looks like from outside: enough to see that it changed without reading
/// it (a Kubernetes ConfigMap update swaps a symlink: `metadata` follows it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    modified: Option<std::time::SystemTime>,
    len: u64,
    #[cfg(unix)]
    inode: u64,
}

fn look(files: &[PathBuf]) -> Vec<Option<Seen>> {
    files
        .iter()
        .map(|p| {
            std::fs::metadata(p).ok().map(|m| Seen {
                modified: m.modified().ok(),
                len: m.len(),
                #[cfg(unix)]
                inode: std::os::unix::fs::MetadataExt::ino(&m),
            })
        })
        .collect()
}

/// Calls `reload` when one of the files `watched` lists changes, for the life of the
/// process: they are looked at every `every`, and a change is acted on once they have
/// stayed the same for one more look (an editor or a deployment writing several files
/// is done). `watched` is asked again after each reload: the new configuration may name
/// other files. A reload that fails is not retried until the files change again.
pub async fn on_file_change(
    watched: impl Fn() -> Vec<PathBuf>,
    every: Duration,
    mut reload: impl FnMut(),
) {
    let mut files = watched();
    let mut seen = look(&files);
    let mut pending: Option<Vec<Option<Seen>>> = None;
    loop {
        tokio::time::sleep(every).await;
        let now = look(&files);
        if now == seen {
            pending = None;
            continue;
        }
        if pending.as_ref() != Some(&now) {
            // Changed since the last look: wait for it to settle.
            pending = Some(now);
            continue;
        }
        tracing::info!("A configuration file changed: reloading.");
        reload();
        pending = None;
        // What the reload read is at least as new as `now`: keep `now` as seen, so a
        // change made while it ran is acted on at the next look. Files the new
        // configuration names for the first time are seen as they are now.
        let next = watched();
        let fresh = look(&next);
        seen = next
            .iter()
            .zip(fresh)
            .map(|(f, fresh)| {
                files
                    .iter()
                    .position(|old| old == f)
                    .map_or(fresh, |i| now[i].clone())
            })
            .collect();
        files = next;
    }
}

/// Resolves when the process is asked to stop (Ctrl-C, or SIGTERM on Unix).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = ctrl_c => {}
            () = term => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}
