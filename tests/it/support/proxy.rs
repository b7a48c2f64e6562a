//! The proxy tests' harness: Paravent in front of the in-process mock provider, both on
//! 127.0.0.1 ephemeral ports, stopped on drop.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use paravent::audit::writer::AuditWriter;
use paravent::config::Config;
use paravent::proxy::{Outcome, Runtime};
use paravent::server::Running;
use paravent::vault::TokenKey;

pub use super::mock_provider::MockProvider;

/// Synthetic personal data used across the tests (no real person).
pub const NAME: &str = "Jean Dupont";
pub const EMAIL: &str = "jean.dupont@example.fr";
pub const PHONE: &str = "06 12 34 56 78";
pub const IBAN: &str = "FR76 3000 6000 0112 3456 7890 189";
/// A French prompt full of personal data.
pub const PROMPT: &str = "Bonjour, je suis Jean Dupont, mon email est jean.dupont@example.fr \
    et mon téléphone 06 12 34 56 78. Mon IBAN est FR76 3000 6000 0112 3456 7890 189.";
/// Values of [`PROMPT`] that must never reach a provider.
pub const VALUES: &[&str] = &[NAME, EMAIL, PHONE, IBAN, "Dupont", "jean.dupont"];

/// Builds the audit writer from the test's configuration.
type MakeWriter = Box<dyn FnOnce(&Config) -> AuditWriter>;

/// Paravent in front of a mock provider.
pub struct Harness {
    pub mock: MockProvider,
    pub server: Running,
    pub outcomes: Arc<Mutex<Vec<Outcome>>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A response as the client saw it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Harness {
    /// Paravent with providers `openai`, `anthropic`, `gemini`, `ollama` (all on the
    /// mock), `openai` the default, and `extra` TOML appended.
    pub async fn start(extra: &str) -> Harness {
        Harness::start_full(|base| Harness::default_toml(base, extra), &[], None).await
    }

    /// As [`Harness::start`], appending every request's audit record to `audit`.
    pub async fn start_audited(audit: &std::path::Path) -> Harness {
        let path = audit.to_path_buf();
        Harness::start_full(
            |base| Harness::default_toml(base, ""),
            &[],
            Some(Box::new(move |config: &Config| {
                AuditWriter::open(
                    &path,
                    &config.audit,
                    "it-instance".to_owned(),
                    config.version.clone(),
                )
                .expect("audit file")
            })),
        )
        .await
    }

    /// As [`Harness::start`], with the audit writer `make(config)` (e.g. one over a sink
    /// that fails on demand).
    pub async fn start_with_audit_writer(
        extra: &str,
        make: impl FnOnce(&Config) -> AuditWriter + 'static,
    ) -> Harness {
        Harness::start_full(
            |base| Harness::default_toml(base, extra),
            &[],
            Some(Box::new(make)),
        )
        .await
    }

    fn default_toml(base: &str, extra: &str) -> String {
        format!(
            r#"
[server]
default_provider = "openai"

[providers.openai]
base_url = "{base}"
api = "openai"

[providers.anthropic]
base_url = "{base}"
api = "anthropic"

[providers.gemini]
base_url = "{base}"
api = "gemini"

[providers.ollama]
base_url = "{base}"
api = "ollama"

{extra}
"#
        )
    }

    /// Paravent with the config `make(mock_base_url)`.
    pub async fn start_with(make: impl FnOnce(&str) -> String) -> Harness {
        Harness::start_with_env(make, &[]).await
    }

    /// As [`Harness::start_with`], with `env` as the environment the runtime reads.
    pub async fn start_with_env(
        make: impl FnOnce(&str) -> String,
        env: &[(&str, &str)],
    ) -> Harness {
        Harness::start_full(make, env, None).await
    }

    async fn start_full(
        make: impl FnOnce(&str) -> String,
        env: &[(&str, &str)],
        audit: Option<MakeWriter>,
    ) -> Harness {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mock = MockProvider::start().await;
        let toml = make(&mock.base_url());
        let config = Config::from_toml("test.toml", &toml, None)
            .unwrap_or_else(|e| panic!("test config: {e}"));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let sink = outcomes.clone();
        let key = TokenKey::from_secret(b"integration-test secret 32 bytes");
        let writer = audit.map(|make| Arc::new(make(&config)));
        let mut rt = Runtime::with_env(config, key, move |var| {
            env.iter().find(|(k, _)| k == var).map(|(_, v)| v.clone())
        })
        .expect("runtime")
        .with_outcome_hook(Arc::new(move |o: &Outcome| {
            sink.lock().unwrap().push(o.clone());
        }));
        if let Some(w) = writer {
            rt = rt.with_audit(w);
        }
        let server = Running::start(Arc::new(rt), "127.0.0.1:0".parse().unwrap())
            .await
            .expect("bind 127.0.0.1:0");
        Harness {
            mock,
            server,
            outcomes,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr)
    }

    /// Sends a request to Paravent. The mock's `x-mock-*` switches given as headers
    /// travel as query parameters (Paravent drops client headers outside each API's
    /// allow list, and scans and forwards the query).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut path = path.to_owned();
        for (k, v) in headers.iter().filter(|(k, _)| k.starts_with("x-mock-")) {
            path.push(if path.contains('?') { '&' } else { '?' });
            let v = percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC);
            path.push_str(&format!("{k}={v}"));
        }
        let mut req = Request::builder().method(method).uri(self.url(&path));
        for (k, v) in headers.iter().filter(|(k, _)| !k.starts_with("x-mock-")) {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).unwrap();
        let resp = self.client.request(req).await.expect("request to paravent");
        let (parts, body) = resp.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    /// POSTs JSON to Paravent.
    pub async fn post(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.send(
            Method::POST,
            path,
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer sk-client"),
            ],
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    /// Asserts the mock never received any of `values`, in any request.
    pub fn assert_no_leak(&self, values: &[&str]) {
        for r in self.mock.requests() {
            let body = String::from_utf8_lossy(&r.body);
            for v in values {
                assert!(
                    !body.contains(v),
                    "{v:?} reached the provider at {}: {body}",
                    r.path
                );
            }
        }
    }
}
