//! TLS for the proxy listener: the `[server.tls]` PEM files (certificate chain, private
//! key, optionally the CAs that sign client certificates) read into a rustls
//! `ServerConfig` when a configuration is compiled. A bad file is then a configuration
//! error like any other (`check` lists it, a reload that brings it is refused), and a
//! reload with new files serves the new certificate to new connections.
//!
//! rustls with the ring provider only. Messages name files and say what is wrong with
//! them; they never quote a file's contents (a key must not reach a log).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// The largest PEM file read (a chain of a few certificates is a few kilobytes).
pub const MAX_PEM_FILE_BYTES: u64 = 1 << 20;

/// A certificate that expires sooner than this is a warning (`check`, start, reload).
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// The ALPN protocols offered, preferred first: the cleartext listener serves both too.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Whether a client must present a certificate signed by `client_ca`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientAuth {
    /// Connections without a valid client certificate are refused in the handshake.
    #[default]
    Required,
    /// A client may present none; one it presents must be valid.
    Optional,
}

/// The files `[server.tls]` names, resolved against the config's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub client_auth: ClientAuth,
}

impl TlsFiles {
    /// Every file read, for reload-on-change.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut v = vec![self.cert.clone(), self.key.clone()];
        v.extend(self.client_ca.clone());
        v
    }
}

/// The compiled `[server.tls]`: what the listener hands each new connection.
#[derive(Debug, Clone)]
pub struct Tls {
    pub files: TlsFiles,
    /// The rustls server configuration, built once per generation.
    pub server_config: ServerTls,
    /// When the end-entity certificate stops being valid, if it could be read.
    pub not_after: Option<SystemTime>,
}

/// A built rustls server configuration, shared by every connection of a generation.
#[derive(Debug, Clone)]
pub struct ServerTls(Arc<rustls::ServerConfig>);

// rustls keeps its session cache behind its own locks and is made to be shared across
// threads; a panic leaves nothing in it half-changed, so it is unwind-safe as `Runtime`
// must be (lib.rs `shared_types_are_thread_safe`).
impl std::panic::UnwindSafe for ServerTls {}
impl std::panic::RefUnwindSafe for ServerTls {}

impl ServerTls {
    /// The configuration, for a `tokio_rustls::TlsAcceptor`.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.0.clone()
    }
}

/// One problem with a `[server.tls]` file: which key of the table it concerns (`cert`,
/// `key`, `client_ca`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsProblem {
    pub key: &'static str,
    pub message: String,
}

fn problem(key: &'static str, message: String) -> TlsProblem {
    TlsProblem { key, message }
}

fn read_pem(path: &Path, key: &'static str) -> Result<Vec<u8>, TlsProblem> {
    let shown = path.display();
    let meta =
        std::fs::metadata(path).map_err(|e| problem(key, format!("cannot read {shown}: {e}")))?;
    if meta.len() > MAX_PEM_FILE_BYTES {
        return Err(problem(
            key,
            format!("{shown} is larger than {MAX_PEM_FILE_BYTES} bytes"),
        ));
    }
    std::fs::read(path).map_err(|e| problem(key, format!("cannot read {shown}: {e}")))
}

fn read_certs(path: &Path, key: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsProblem> {
    let pem = read_pem(path, key)?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(problem(
            key,
            format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        )),
        Err(_) => Err(problem(key, format!("{} is not valid PEM", path.display()))),
    }
}

/// Reads the files and builds the rustls configuration; `now` decides expiry.
///
/// # Errors
/// Every problem found: a file that cannot be read or holds no certificate or key, a
/// key that does not match the certificate, a certificate that has expired, bad CAs.
/// The second value holds warnings (a certificate not valid yet, or expiring soon).
pub fn load(files: &TlsFiles, now: SystemTime) -> Result<(Tls, Vec<String>), Vec<TlsProblem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let certs = read_certs(&files.cert, "cert")
        .map_err(|p| problems.push(p))
        .ok();
    let key = match read_pem(&files.key, "key") {
        Ok(pem) => match PrivateKeyDer::from_pem_slice(&pem) {
            Ok(k) => Some(k),
            Err(_) => {
                problems.push(problem(
                    "key",
                    format!(
                        "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                        files.key.display()
                    ),
                ));
                None
            }
        },
        Err(p) => {
            problems.push(p);
            None
        }
    };
    let mut not_after = None;
    if let Some(leaf) = certs.as_ref().and_then(|c| c.first()) {
        match validity(leaf) {
            Some((from, until)) => {
                not_after = Some(until);
                let shown = files.cert.display();
                if until <= now {
                    problems.push(problem(
                        "cert",
                        format!(
                            "{shown}: the certificate expired on {}; renew it",
                            crate::audit::rfc3339(until)
                        ),
                    ));
                } else if until.duration_since(now).unwrap_or_default() < EXPIRY_WARNING {
                    warnings.push(format!(
                        "[server.tls] cert {shown}: the certificate expires on {}",
                        crate::audit::rfc3339(until)
                    ));
                }
                if from > now {
                    warnings.push(format!(
                        "[server.tls] cert {shown}: the certificate is not valid before {} (check this machine's clock)",
                        crate::audit::rfc3339(from)
                    ));
                }
            }
            None => problems.push(problem(
                "cert",
                format!(
                    "{}: the first certificate is not a readable X.509 certificate",
                    files.cert.display()
                ),
            )),
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = match &files.client_ca {
        None => Some(rustls::server::WebPkiClientVerifier::no_client_auth()),
        Some(ca) => match read_certs(ca, "client_ca") {
            Ok(cas) => {
                let mut roots = rustls::RootCertStore::empty();
                let (_, bad) = roots.add_parsable_certificates(cas);
                if bad > 0 {
                    problems.push(problem(
                        "client_ca",
                        format!(
                            "{}: {bad} certificate(s) cannot be used as a CA",
                            ca.display()
                        ),
                    ));
                }
                let b = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider.clone(),
                );
                let b = match files.client_auth {
                    ClientAuth::Required => b,
                    ClientAuth::Optional => b.allow_unauthenticated(),
                };
                match b.build() {
                    Ok(v) => Some(v),
                    Err(e) => {
                        problems.push(problem("client_ca", format!("{}: {e}", ca.display())));
                        None
                    }
                }
            }
            Err(p) => {
                problems.push(p);
                None
            }
        },
    };
    let (Some(certs), Some(key), Some(verifier), true) =
        (certs, key, verifier, problems.is_empty())
    else {
        return Err(problems);
    };
    let built = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| vec![problem("cert", format!("TLS versions: {e}"))])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key);
    let mut server_config = match built {
        Ok(c) => c,
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(vec![problem(
                "key",
                format!(
                    "{} is not the private key of the certificate in {}",
                    files.key.display(),
                    files.cert.display()
                ),
            )]);
        }
        Err(e) => {
            return Err(vec![problem(
                "key",
                format!(
                    "{} cannot be used with {}: {e}",
                    files.key.display(),
                    files.cert.display()
                ),
            )]);
        }
    };
    server_config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok((
        Tls {
            files: files.clone(),
            server_config: ServerTls(Arc::new(server_config)),
            not_after,
        },
        warnings,
    ))
}

/// One DER element: its tag, its contents and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The validity period (notBefore, notAfter) of an X.509 certificate (RFC 5280 4.1):
/// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
/// serialNumber, signature, issuer, validity SEQUENCE { notBefore, notAfter }, … } … }.
fn validity(cert: &CertificateDer<'_>) -> Option<(SystemTime, SystemTime)> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = der(cert.as_ref())? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der(certificate)? else {
        return None;
    };
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = der(rest)?.2;
    }
    // serialNumber, signature, issuer.
    for _ in 0..3 {
        rest = der(rest)?.2;
    }
    let (SEQUENCE, period, _) = der(rest)? else {
        return None;
    };
    let (tag_from, from, after) = der(period)?;
    let (tag_until, until, _) = der(after)?;
    Some((asn1_time(tag_from, from)?, asn1_time(tag_until, until)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 23) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, tag 24).
fn asn1_time(tag: u8, text: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (year, rest) = match (tag, text.len()) {
        (23, 12) => {
            let yy: i64 = text[..2].parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        (24, 14) => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |i: usize| rest[i..i + 2].parse::<i64>().ok();
    let (month, day, h, m, s) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Why `serve` refuses to listen on `addr` in cleartext, if it does: a non-loopback
/// address without TLS, unless `[server] plaintext = true` says TLS ends in front.
pub fn plaintext_refusal(addr: std::net::SocketAddr, tls: bool, plaintext: bool) -> Option<String> {
    if tls || plaintext || addr.ip().to_canonical().is_loopback() {
        return None;
    }
    Some(format!(
        "refusing to serve on {addr} without TLS: provider keys and prompts would cross the network in clear. \
         Configure [server.tls] (cert, key), listen on a loopback address, or set [server] plaintext = true \
         if a proxy in front terminates TLS"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_is_refused_only_on_non_loopback_addresses_without_tls_or_consent() {
        let any: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let lan: std::net::SocketAddr = "10.1.2.3:8080".parse().unwrap();
        let v6: std::net::SocketAddr = "[::]:8080".parse().unwrap();
        for a in [any, lan, v6] {
            assert!(plaintext_refusal(a, false, false).is_some(), "{a}");
            assert!(plaintext_refusal(a, true, false).is_none(), "{a}");
            assert!(plaintext_refusal(a, false, true).is_none(), "{a}");
        }
        for a in [
            "127.0.0.1:8080",
            "127.9.9.9:1",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
        ] {
            let a: std::net::SocketAddr = a.parse().unwrap();
            assert!(plaintext_refusal(a, false, false).is_none(), "{a}");
        }
        let msg = plaintext_refusal(any, false, false).unwrap();
        assert!(msg.contains("0.0.0.0:8080") && msg.contains("plaintext = true"));
    }

    #[test]
    fn asn1_times_read_as_utc_seconds() {
        let t = |tag, s: &str| {
            asn1_time(tag, s.as_bytes())
                .map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
        };
        assert_eq!(t(23, "700101000000Z"), Some(0));
        assert_eq!(t(23, "491231235959Z"), Some(2_524_607_999));
        assert_eq!(t(24, "20000301000000Z"), Some(951_868_800));
        assert_eq!(t(24, "20240229120000Z"), Some(1_709_208_000));
        assert_eq!(t(23, "20240229120000Z"), None);
        assert_eq!(t(24, "2024022912000Z"), None);
        assert_eq!(t(24, "20241329120000Z"), None);
        assert_eq!(t(24, "20240229120000"), None);
    }
}
