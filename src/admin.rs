//! The admin listener: `/metrics` (Prometheus), `/healthz` (the process answers) and
//! `/readyz` (ready to proxy: configuration loaded, audit trail writable), on an address
//! of its own (`[server] admin_listen`), never on the proxy listener, so that the
//! metrics can be firewalled apart from the clients.
//!
//! Serves nothing else; reads no request body; never logs paths or headers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::metrics::Format;
use crate::proxy::Runtime;

/// Answers one admin request. `accept` is the request's `Accept` header (the metrics
/// format is negotiated on it).
pub fn respond(rt: &Runtime, method: &Method, path: &str, accept: Option<&str>) -> Response<Bytes> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/metrics" => {
            let format = Format::from_accept(accept);
            let body = rt.metrics().encode(rt.audit().map(|a| &**a), format);
            let mut r = Response::new(Bytes::from(body));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            r
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => match rt.audit() {
            Some(a) if !a.healthy() => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the audit trail cannot be written\n",
            ),
            // Still serving (the previous configuration), but an admin must know.
            _ if !rt.metrics().last_reload_ok() => text(
                StatusCode::OK,
                "ready (the last reload was refused: the previous configuration is serving)\n",
            ),
            _ => text(StatusCode::OK, "ready\n"),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: /metrics, /healthz, /readyz\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(body.as_bytes()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Serves the admin endpoints on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, rt: Arc<Runtime>, shutdown: impl Future<Output = ()>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _peer)) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "Admin accept failed.");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let rt = rt.clone();
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let accept = req
                        .headers()
                        .get(header::ACCEPT)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let resp = respond(&rt, req.method(), req.uri().path(), accept.as_deref());
                    let head = req.method() == Method::HEAD;
                    async move {
                        let (parts, body) = resp.into_parts();
                        let body = if head { Bytes::new() } else { body };
                        Ok::<_, Infallible>(Response::from_parts(parts, Full::new(body)))
                    }
                });
                let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "Admin connection ended with an error.");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
}

/// Binds `addr` (port 0 for any) and serves the admin endpoints in a task of the
/// current runtime; returns the bound address and the task (abort it to stop).
///
/// # Errors
/// When `addr` cannot be bound.
pub async fn start(
    rt: Arc<Runtime>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, rt, std::future::pending()));
    Ok((local, task))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::audit::RequestFields;
    use crate::audit::writer::{AuditWriter, Sink};
    use crate::config::Config;
    use crate::vault::TokenKey;

    fn runtime() -> Runtime {
        let cfg = Config::from_toml(
            "t.toml",
            "[detect]\nbuiltin_rules = false\n[providers.openai]\nbase_url = \"http://127.0.0.1:9\"\napi = \"openai\"\n",
            None,
        )
        .expect("config");
        Runtime::with_env(
            cfg,
            TokenKey::from_secret(b"admin unit-test secret"),
            |_| None,
        )
        .expect("runtime")
    }

    #[test]
    fn metrics_health_and_readiness_are_served_and_nothing_else() {
        let rt = runtime();
        let m = respond(&rt, &Method::GET, "/metrics", None);
        assert_eq!(m.status(), StatusCode::OK);
        assert_eq!(
            m.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let body = String::from_utf8(m.body().to_vec()).unwrap();
        // Families appear with their first sample; these are there from the start.
        assert!(body.contains("paravent_audit_writes_total 0\n"), "{body}");
        assert!(body.contains("paravent_build_info{version="), "{body}");
        assert_eq!(
            respond(&rt, &Method::GET, "/healthz", None).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&rt, &Method::GET, "/readyz", None).status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&rt, &Method::GET, "/openai/v1/models", None).status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&rt, &Method::POST, "/metrics", None).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    /// Writes until `broken` is set, then fails every write.
    struct Flaky(Arc<AtomicBool>);

    impl std::io::Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0.load(Ordering::SeqCst) {
                Err(std::io::Error::other("disk full"))
            } else {
                Ok(buf.len())
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink for Flaky {
        fn sync(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn readiness_and_the_checkpoint_follow_the_audit_writer() {
        let broken = Arc::new(AtomicBool::new(false));
        let rt = runtime();
        let writer = AuditWriter::with_sink(
            Box::new(Flaky(broken.clone())),
            std::path::Path::new("mem"),
            &rt.config.audit,
            "i1".into(),
            "p".into(),
        )
        .expect("chain-start");
        let (_, start) = writer.checkpoint();
        let rt = rt.with_audit(Arc::new(writer));
        let body = |rt: &Runtime| {
            let r = respond(rt, &Method::GET, "/metrics", None);
            String::from_utf8(r.body().to_vec()).unwrap()
        };
        let m = body(&rt);
        assert!(
            m.contains(&format!(
                "paravent_audit_checkpoint_info{{hash=\"{start}\"}} 1\n"
            )),
            "{m}"
        );
        assert!(m.contains("paravent_audit_checkpoint_seq 0\n"), "{m}");
        assert!(m.contains("paravent_audit_healthy 1\n"), "{m}");
        assert_eq!(
            respond(&rt, &Method::GET, "/readyz", None).status(),
            StatusCode::OK
        );

        let audit = rt.audit().unwrap().clone();
        let next = audit.append(RequestFields::default()).expect("written");
        rt.metrics().audit_write(true);
        let m = body(&rt);
        assert!(m.contains(&format!("{{hash=\"{next}\"}} 1\n")), "{m}");
        assert!(!m.contains(&start), "the old checkpoint stays: {m}");
        assert!(m.contains("paravent_audit_checkpoint_seq 1\n"), "{m}");

        broken.store(true, Ordering::SeqCst);
        assert!(audit.append(RequestFields::default()).is_err());
        assert_eq!(
            respond(&rt, &Method::GET, "/readyz", None).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(body(&rt).contains("paravent_audit_healthy 0\n"));
        // Health is about the process, not the trail.
        assert_eq!(
            respond(&rt, &Method::GET, "/healthz", None).status(),
            StatusCode::OK
        );
    }
}
