//! Paravent: a pseudonymising reverse proxy for generative-AI APIs.
//!
//! What leaves the company is pseudonymised, what comes back is re-identified, and every
//! request leaves audit evidence. The data flow of one request:
//!
//! ```text
//! client -> server -> route -> body -> api::<provider> + walk -> pipeline -> upstream
//!                                       (endpoint table,  (slots -> normalise -> detect
//!                                        strict parse)     -> policy -> vault -> rewrite)
//! client <- re-identify (JSON body, or SSE/NDJSON/JSON-array stream with carry-over) <-'
//!                 '-> audit record (hash-chained, keyed hashes only) + metrics
//! ```
//!
//! Modules marked *pure* do no I/O and no async, so they can be unit-tested, fuzzed and
//! benchmarked alone:
//!
//! - [`detect`] (pure): text in, findings out, from the rule files in `rules/`;
//! - [`config`]: the TOML configuration, parsed strictly then compiled;
//! - [`tls`]: the listener's `[server.tls]` files read into a rustls configuration when
//!   a configuration is compiled (so a reload renews certificates), and the refusal to
//!   serve cleartext on a non-loopback address;
//! - [`scan`]: the `paravent scan` command's rendering (plain and JSON lines);
//! - [`server`], [`proxy`], [`upstream`]: the listener, the request phases, the pooled
//!   TLS client (the only async modules, with [`admin`], the `/metrics` listener);
//! - [`metrics`] (pure): the Prometheus registry, fed by each request's outcome;
//! - [`route`]: path to provider and endpoint; [`body`]: limits and decompression;
//! - [`api`]: each provider API's endpoint table, structural fields, query parameters,
//!   headers and error format, one module per API;
//! - [`walk`] (pure): strict parse and deny-by-default walk of a body into slots;
//! - [`pipeline`] (pure): slots -> normalise -> detect -> policy -> vault -> rewrite, the
//!   one path for the proxy, `paravent scan`, the tests and the benches;
//! - [`vault`] (pure): keyed-BLAKE3 tokens and the per-request vault;
//! - [`reidentify`] (pure): tokens back to values, tolerant of what models do to them;
//! - [`risk`] (pure): the residual re-identification risk of what leaves (quasi-
//!   identifiers in clear near person references), and [`risk::leaks`]: personal data
//!   in answers that was not in the request;
//! - [`audit`] (pure, but [`audit::writer`]): hash-chained records, their check and file;
//! - [`error`]: one place that maps failures to statuses and messages;
//! - [`governance`] (pure): providers' declared terms and enforced settings, assistant
//!   profiles and their choice of provider (EU preference);
//! - [`identity`]: principals and teams from a trusted authenticating proxy's headers and
//!   a directory file.
//! - [`limits`] (no I/O): requests in flight and rate-limit buckets, process state.
//! - [`selftest`] (async, a driver of [`server`] as `main` is): `paravent selftest`, the
//!   configuration served in-process against a built-in echo provider, and its report.

pub mod admin;
pub mod api;
pub mod audit;
pub mod body;
pub mod config;
pub mod detect;
pub mod error;
pub mod governance;
pub mod identity;
pub mod limits;
pub mod metrics;
pub mod outcome;
pub mod pipeline;
pub mod policy;
pub mod proxy;
pub mod reidentify;
pub mod risk;
pub mod route;
pub mod scan;
pub mod selftest;
pub mod server;
pub mod stream;
pub mod tls;
pub mod upstream;
pub mod vault;
pub mod walk;

#[cfg(test)]
mod tests {
    fn assert_all<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}

    fn assert_shared<T: Send + Sync>() {}

    #[test]
    fn shared_types_are_thread_safe() {
        // parking_lot's locks (inside prometheus-client's families) are not unwind-safe.
        assert_shared::<crate::metrics::Metrics>();
        assert_all::<crate::detect::Detector>();
        assert_all::<crate::config::Config>();
        assert_all::<crate::reidentify::Reidentifier>();
        assert_all::<crate::vault::TokenKey>();
    }
}
