//! Times the pure request phase (strict parse, walk, scan, propagation, rewrite,
//! serialisation) on chat bodies of repeated values of growing size, to check that its
//! cost grows linearly with the body: `cargo run --release --example propagation
//! [MB ...]` (default 0.6 1.2 2.4). Prints the thread's CPU time per size (Linux:
//! /proc/thread-self/schedstat, so other processes on a shared machine do not count;
//! elsewhere wall time) and the ratio to the previous size.
//! Each line of the body holds a value repeated everywhere (a name, an e-mail) and a
//! value of its own (a phone number), so both the number of spans and the number of
//! distinct values grow with the body.
use std::time::{Duration, Instant};

use paravent::{
    api::Endpoint,
    config::TokenStyle,
    detect::Detector,
    pipeline,
    vault::{TokenKey, Vault},
    walk::Walked,
};

fn body(bytes: usize) -> Vec<u8> {
    let mut text = String::with_capacity(bytes + 200);
    let mut i = 0u32;
    while text.len() < bytes {
        text.push_str(&format!(
            "Ligne {i} : M. Jean Dupont (jean.dupont@example.fr) rappelle au 06 {:02} {:02} {:02} {:02} ; Dupont confirme.\n",
            (i / 1_000_000) % 100,
            (i / 10_000) % 100,
            (i / 100) % 100,
            i % 100
        ));
        i += 1;
    }
    serde_json::to_vec(&serde_json::json!({"model": "m",
        "messages": [{"role": "user", "content": text}]}))
    .expect("JSON")
}

/// A clock of this thread's CPU time, or of wall time where there is none.
struct Clock(Instant);

impl Clock {
    fn start() -> Clock {
        Clock(Instant::now())
    }

    fn elapsed(&self) -> Duration {
        cpu().unwrap_or_else(|| self.0.elapsed())
    }
}

fn cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

fn main() {
    let sizes: Vec<f64> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("a size in MB"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![0.6, 1.2, 2.4]
    } else {
        sizes
    };
    let d = Detector::builtin();
    let key = TokenKey::from_secret(b"a benchmark secret of 32 bytes..");
    let mut last: Option<f64> = None;
    for mb in sizes {
        let body = body((mb * 1e6) as usize);
        let base = cpu();
        let start = Clock::start();
        let since = |c: &Clock| c.elapsed() - base.unwrap_or_default();
        let mut w = Walked::parse(&body, Endpoint::OpenaiChat.schema()).expect("valid");
        let parsed = since(&start);
        let scanned = pipeline::scan(&d, &w);
        let scan = since(&start) - parsed;
        let values = scanned.value_count();
        let actions = vec![pipeline::ValueAction::Pseudonymise; values];
        let mut v = Vault::new(&key, None, TokenStyle::Token, 1_000_000);
        let summary = pipeline::rewrite(scanned, &mut w, &mut v, &actions, false)
            .unwrap_or_else(|_| panic!("refused"));
        let rewrite = since(&start) - parsed - scan;
        let out = w.to_bytes();
        let total = since(&start).as_secs_f64();
        println!(
            "{:.2} MB: {:.3} s (parse {:.3}, scan {:.3}, rewrite+propagation {:.3}); {} values, {} replaced, {} bytes out{}",
            body.len() as f64 / 1e6,
            total,
            parsed.as_secs_f64(),
            scan.as_secs_f64(),
            rewrite.as_secs_f64(),
            values,
            summary.replaced,
            out.len(),
            last.map_or(String::new(), |l| format!(
                "; x{:.2} the previous size",
                total / l
            )),
        );
        last = Some(total);
    }
}
