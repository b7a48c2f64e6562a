//! Writes a synthetic, sealed audit chain to the file named as the first argument (or to
//! standard output): the input of the HTML report's accessibility check
//! (tests/a11y/run.sh). The same chain is used by tests/it/report.rs.
//!
//! `audit_sample OUT N` writes a long chain of N requests instead (about 50 a day).

use std::io::Write;

#[path = "../tests/a11y/sample_chain.rs"]
mod sample_chain;

fn main() -> std::io::Result<()> {
    let text = match std::env::args().nth(2) {
        Some(n) => sample_chain::bulk_chain(n.parse().map_err(std::io::Error::other)?),
        None => sample_chain::sample_chain(),
    };
    match std::env::args_os().nth(1) {
        Some(path) => std::fs::write(path, text),
        None => std::io::stdout().lock().write_all(text.as_bytes()),
    }
}
