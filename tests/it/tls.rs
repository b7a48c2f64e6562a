//! TLS on the proxy listener of a real `paravent serve`: certificates generated at test
//! time (rcgen), a rustls client that says which certificate it was shown, HTTP/1.1 and
//! HTTP/2 by ALPN, client certificates, a certificate renewed by SIGHUP; and the refusal
//! to serve in cleartext on a non-loopback address (made before anything is bound).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;

use crate::support::proxy::{EMAIL, MockProvider};
use crate::support::serve::Served;
use crate::support::{Scratch, paravent};

/// A certificate authority made for one test.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate (PEM) and its key (PEM) for `names`, for a server or a client.
    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn server(&self) -> (String, String) {
        self.issue(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

fn config(mock: &MockProvider, tls: &str) -> String {
    format!(
        "[server]\ndefault_provider = \"openai\"\n\n{tls}\n\
         [pseudonyms]\nsecret = \"a TLS test secret of 32 bytes or more\"\n\n\
         [providers.openai]\nbase_url = \"{}\"\napi = \"openai\"\n",
        mock.base_url()
    )
}

const TLS: &str = "[server.tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n";

/// A TLS connection to `addr` trusting `ca_pem`, offering `alpn`, with a client
/// certificate when given.
async fn connect(
    addr: SocketAddr,
    ca_pem: &str,
    alpn: &[&[u8]],
    client: Option<&(String, String)>,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(ca_pem)).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![der(cert)],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

/// The certificate the server showed on `stream`.
fn shown(stream: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> CertificateDer<'_> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

fn chat_request() -> Request<Full<Bytes>> {
    let body = json!({"model": "m", "messages": [{"role": "user",
        "content": format!("Écrivez à {EMAIL}")}]});
    Request::post("https://localhost/openai/v1/chat/completions")
        .header("content-type", "application/json")
        .header("authorization", "Bearer sk-x")
        .header("host", "localhost")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// An HTTP/1.1 connection over `stream`, for as many requests as the test sends.
async fn http1(
    stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1.1 connection");
    tokio::spawn(conn);
    send
}

/// Sends one request; the status, the version and the body.
async fn exchange(
    send: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
) -> Result<(StatusCode, Version, String), hyper::Error> {
    let resp = send.send_request(chat_request()).await?;
    let (status, version) = (resp.status(), resp.version());
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, version, String::from_utf8_lossy(&body).into_owned()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_is_served_over_tls_with_http1_or_http2_as_alpn_chooses() {
    let mock = MockProvider::start().await;
    let ca = Ca::new("Paravent test CA");
    let (cert, key) = ca.server();
    let dir = Scratch::new("tls");
    dir.write("server.pem", &cert);
    dir.write("server.key", &key);
    let path = dir.write("paravent.toml", config(&mock, TLS));
    let served = Served::start(&path, &[], &[]);
    assert!(
        served.output().contains("TLS on the proxy listener"),
        "{}",
        served.output()
    );

    // HTTP/1.1: the answer is re-identified; the provider saw a token, not the e-mail.
    let stream = connect(served.proxy, &ca.pem, &[b"http/1.1"], None)
        .await
        .expect("a TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(shown(&stream), der(&cert));
    let mut send = http1(stream).await;
    let (status, version, body) = exchange(&mut send).await.expect("an answer");
    assert_eq!(
        (status, version),
        (StatusCode::OK, Version::HTTP_11),
        "{body}"
    );
    let sent = String::from_utf8_lossy(&mock.last().body).into_owned();
    assert!(!sent.contains(EMAIL), "{sent}");

    // HTTP/2, chosen by ALPN.
    let stream = connect(served.proxy, &ca.pem, &[b"h2", b"http/1.1"], None)
        .await
        .expect("a TLS handshake");
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("an HTTP/2 connection");
    tokio::spawn(conn);
    let resp = send.send_request(chat_request()).await.expect("an answer");
    assert_eq!(resp.version(), Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(mock.count(), 2);

    // A client that does not trust the certificate's CA gets no connection.
    let other = Ca::new("Another CA");
    assert!(
        connect(served.proxy, &other.pem, &[b"http/1.1"], None)
            .await
            .is_err()
    );
    let (clean, output) = served.terminate();
    assert!(clean, "{output}");
    assert!(!output.contains(EMAIL), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_client_certificates_required_a_client_without_one_is_refused() {
    let mock = MockProvider::start().await;
    let ca = Ca::new("Paravent test CA");
    let clients = Ca::new("Employees CA");
    let (cert, key) = ca.server();
    let good = clients.issue(&["alice"], ExtendedKeyUsagePurpose::ClientAuth);
    let stranger = Ca::new("Unknown CA").issue(&["mallory"], ExtendedKeyUsagePurpose::ClientAuth);
    let dir = Scratch::new("tls-mtls");
    dir.write("server.pem", &cert);
    dir.write("server.key", &key);
    dir.write("clients.pem", &clients.pem);
    let tls = format!("{TLS}client_ca = \"clients.pem\"\n");
    let path = dir.write("paravent.toml", config(&mock, &tls));
    let served = Served::start(&path, &[], &[]);
    assert!(
        served.output().contains("client_certificates=required"),
        "{}",
        served.output()
    );

    // Without a certificate, or with one from another CA: no answer (TLS 1.3 reports
    // the refusal after the client's side of the handshake, so on first use).
    for client in [None, Some(&stranger)] {
        let refused = match connect(served.proxy, &ca.pem, &[b"http/1.1"], client).await {
            Err(_) => true,
            Ok(stream) => exchange(&mut http1(stream).await).await.is_err(),
        };
        assert!(refused, "a client with {client:?} was served");
    }
    assert_eq!(mock.count(), 0);

    let stream = connect(served.proxy, &ca.pem, &[b"http/1.1"], Some(&good))
        .await
        .expect("a TLS handshake with a client certificate");
    let (status, _, body) = exchange(&mut http1(stream).await).await.expect("an answer");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(mock.count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_with_a_new_certificate_serves_it_to_new_connections_while_open_ones_keep_theirs() {
    let mock = MockProvider::start().await;
    let ca = Ca::new("Paravent test CA");
    let (old_cert, old_key) = ca.server();
    let dir = Scratch::new("tls-renew");
    dir.write("server.pem", &old_cert);
    dir.write("server.key", &old_key);
    let path = dir.write("paravent.toml", config(&mock, TLS));
    let served = Served::start(&path, &[], &[]);
    let before = connect(served.proxy, &ca.pem, &[b"http/1.1"], None)
        .await
        .expect("a TLS handshake");
    assert_eq!(shown(&before), der(&old_cert));
    let mut open = http1(before).await;

    // Renewed: new files, then SIGHUP (the process stays the same).
    let (new_cert, new_key) = ca.server();
    dir.write("server.pem", &new_cert);
    dir.write("server.key", &new_key);
    served.signal("HUP");
    let start = Instant::now();
    while !served.output().contains("Configuration reloaded.") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            served.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = connect(served.proxy, &ca.pem, &[b"http/1.1"], None)
        .await
        .expect("a TLS handshake");
    assert_eq!(shown(&after), der(&new_cert));
    let (status, _, body) = exchange(&mut http1(after).await).await.expect("an answer");
    assert_eq!(status, StatusCode::OK, "{body}");
    // The connection opened before the reload goes on with its own session.
    let (status, _, body) = exchange(&mut open).await.expect("an answer");
    assert_eq!(status, StatusCode::OK, "{body}");

    // A key that does not match the certificate: the reload is refused, the renewed
    // certificate stays in service.
    let (_, stray_key) = ca.server();
    dir.write("server.key", &stray_key);
    served.signal("HUP");
    let start = Instant::now();
    while !served.output().contains("Configuration reload refused") {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{}",
            served.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        served
            .output()
            .contains("is not the private key of the certificate"),
        "{}",
        served.output()
    );
    let again = connect(served.proxy, &ca.pem, &[b"http/1.1"], None)
        .await
        .expect("a TLS handshake");
    assert_eq!(shown(&again), der(&new_cert));
}

#[test]
fn serve_on_a_non_loopback_address_without_tls_exits_non_zero_and_says_why() {
    let dir = Scratch::new("plaintext");
    let path = dir.write(
        "paravent.toml",
        "[pseudonyms]\nsecret = \"a plaintext test secret of 32 bytes\"\n",
    );
    // Refused before anything is bound: nothing listens on 0.0.0.0 at any point.
    let run = paravent(
        &[
            "serve",
            "--config",
            Scratch::arg(&path),
            "--listen",
            "0.0.0.0:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        b"",
    );
    assert_ne!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stderr.contains("without TLS") && run.stderr.contains("plaintext = true"),
        "{}",
        run.stderr
    );
}

#[test]
fn check_refuses_a_cleartext_listen_address_on_the_network_unless_declared_intended() {
    let dir = Scratch::new("plaintext-check");
    let lan = dir.write("lan.toml", "[server]\nlisten = \"0.0.0.0:8080\"\n");
    let run = paravent(&["check", "--config", Scratch::arg(&lan)], b"");
    run.assert_code(1);
    assert!(
        run.stderr.contains("lan.toml:2:") && run.stderr.contains("without TLS"),
        "{}",
        run.stderr
    );
    let ingress = dir.write(
        "ingress.toml",
        "[server]\nlisten = \"0.0.0.0:8080\"\nplaintext = true\n",
    );
    paravent(&["check", "--config", Scratch::arg(&ingress)], b"").assert_code(0);
}

#[test]
fn check_reports_bad_tls_files_on_the_line_of_the_key_naming_them() {
    let ca = Ca::new("Paravent test CA");
    let (cert, _) = ca.server();
    let (_, other_key) = ca.server();
    let dir = Scratch::new("tls-check");
    dir.write("server.pem", &cert);
    dir.write("other.key", &other_key);
    // Expired: not valid after 2001.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let expired = params.signed_by(&key, &ca.issuer).unwrap();
    dir.write("expired.pem", expired.pem());
    dir.write("expired.key", key.serialize_pem());
    for (name, tls, line, needle) in [
        (
            "mismatch",
            "cert = \"server.pem\"\nkey = \"other.key\"\n",
            3,
            "is not the private key",
        ),
        (
            "expired",
            "cert = \"expired.pem\"\nkey = \"expired.key\"\n",
            2,
            "expired on 2001-01-01",
        ),
        (
            "missing",
            "cert = \"nowhere.pem\"\nkey = \"other.key\"\n",
            2,
            "cannot read",
        ),
        (
            "not-a-key",
            "cert = \"server.pem\"\nkey = \"server.pem\"\n",
            3,
            "no PEM private key",
        ),
        (
            "auth-without-ca",
            "cert = \"server.pem\"\nkey = \"other.key\"\nclient_auth = \"optional\"\n",
            4,
            "client_auth needs client_ca",
        ),
    ] {
        let path = dir.write(&format!("{name}.toml"), format!("[server.tls]\n{tls}"));
        let run = paravent(&["check", "--config", Scratch::arg(&path)], b"");
        run.assert_code(1);
        let at = format!("{name}.toml:{line}: ");
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(&at) && l.contains(needle)),
            "{name}: expected {needle:?} at line {line}:\n{}",
            run.stderr
        );
        // A message names files, never their contents.
        assert!(!run.stderr.contains("PRIVATE KEY"), "{}", run.stderr);
    }
}
