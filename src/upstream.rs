//! The upstream client: hyper-util's pooled client over rustls (ring provider only),
//! trusting the system's roots, or the webpki roots where the system has none.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as LegacyClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// How long an idle upstream connection is kept for reuse.
pub const POOL_IDLE_TIMEOUT_SECS: u64 = 90;

/// The pooled upstream client. Request bodies are always whole: they were scanned.
pub type Client = LegacyClient<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the client.
///
/// # Errors
/// When no TLS configuration can be built for the ring provider.
pub fn client(connect_timeout: Duration) -> Result<Client, rustls::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider.clone())
    {
        Ok(b) => b,
        Err(_) => {
            tracing::info!("No system trust roots found; using the webpki roots.");
            hyper_rustls::HttpsConnectorBuilder::new().with_provider_and_webpki_roots(provider)?
        }
    };
    let https = builder
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Ok(LegacyClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(POOL_IDLE_TIMEOUT_SECS))
        .build(https))
}
