//! Writes a synthetic, sealed audit chain to the file named as the first argument (or to
//! standard output): the input of the HTML report's accessibility check
//! (tests/a11y/run.sh). The same chain is used by tests/it/report.rs.

use std::io::Write;

#[path = "../tests/a11y/sample_chain.rs"]
mod sample_chain;

fn main() -> std::io::Result<()> {
    let text = sample_chain::sample_chain();
    match std::env::args_os().nth(1) {
        Some(path) => std::fs::write(path, text),
        None => std::io::stdout().lock().write_all(text.as_bytes()),
    }
}
