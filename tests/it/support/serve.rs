//! A real `paravent serve` process on ephemeral ports (`--listen 127.0.0.1:0
//! --admin-listen 127.0.0.1:0`, the bound addresses read from its log), its standard
//! output and error captured whole; killed on drop. And a small HTTP client for it.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::proxy::Reply;

/// A running `paravent serve`.
pub struct Served {
    child: Child,
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

/// The address logged as `field=ADDR` on a line, if any.
fn logged_addr(line: &str, field: &str) -> Option<SocketAddr> {
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(line) {
        // `[log] format = "json"`.
        return o.get(field)?.as_str()?.parse().ok();
    }
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(field)?.strip_prefix('='))
        .and_then(|a| a.parse().ok())
}

impl Served {
    /// Starts `paravent serve --config CONFIG` with `args` and `env` added, and waits
    /// until it logs that both listeners serve.
    pub fn start(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Served {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_paravent"));
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("paravent serve starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let mut readers = Vec::new();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        for stream in [
            Box::new(stdout) as Box<dyn Read + Send>,
            Box::new(stderr) as Box<dyn Read + Send>,
        ] {
            let out = output.clone();
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut o = out.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                    drop(o);
                    let _ = tx.send(line);
                }
            }));
        }
        drop(tx);
        let (mut proxy, mut admin) = (None, None);
        // Every line until both addresses are known; the channel closes if it exits.
        while proxy.is_none() || admin.is_none() {
            let Ok(line) = rx.recv() else {
                let status = child.wait().ok();
                panic!(
                    "paravent serve stopped ({status:?}):\n{}",
                    output.lock().unwrap()
                );
            };
            if line.contains("Paravent is serving.") {
                proxy = logged_addr(&line, "listen");
            }
            if line.contains("Admin endpoints are serving") {
                admin = logged_addr(&line, "admin");
            }
        }
        Served {
            child,
            proxy: proxy.unwrap(),
            admin: admin.unwrap(),
            output,
            readers,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy)
    }

    /// The process id (a reload keeps it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`HUP`, `TERM`…) to the process, as `kill -SIG` would.
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {pid}");
    }

    /// Waits (20 s at most) until the process has written `needle`.
    pub fn wait_for(&self, needle: &str) {
        let start = std::time::Instant::now();
        while !self.output().contains(needle) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "no {needle:?} in:\n{}",
                self.output()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Everything the process wrote so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Stops the process and returns everything it wrote (stdout, then stderr lines
    /// as they came).
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.output.lock().unwrap().clone()
    }
}

impl Served {
    /// Asks the process to stop as an admin would (SIGTERM: graceful shutdown), waits
    /// for it, and returns whether it exited cleanly and everything it wrote.
    pub fn terminate(mut self) -> (bool, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        let clean = sent && self.child.wait().is_ok_and(|s| s.success());
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        let output = self.output.lock().unwrap().clone();
        (clean, output)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one request (a new connection each time) and returns the answer's head, its
/// body not read yet: for streams, read frame by frame or dropped mid-way.
pub async fn open(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> http::Response<hyper::body::Incoming> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
    client.request(req).await.expect("request to paravent")
}

/// Sends one request (a new connection each time) and reads the whole answer.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let resp = open(method, url, headers, body).await;
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("the whole answer").to_bytes(),
    }
}

/// As [`send`] (a POST), over HTTP/2 cleartext with prior knowledge (h2c).
pub async fn send_h2(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let mut req = Request::builder().method(Method::POST).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
    let resp = client.request(req).await.expect("h2c request to paravent");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let (parts, body) = resp.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("the whole answer").to_bytes(),
    }
}

/// GETs `url`.
pub async fn get(url: &str) -> Reply {
    send(Method::GET, url, &[], b"").await
}
