//! Writes a synthetic, sealed audit chain to the file named as the first argument (or to
//! standard output): the input of the HTML report's accessibility check
//! (tests/a11y/run.sh). The same chain is used by tests/it/report.rs.
//!
//! `audit_sample OUT N [PER_DAY [DISTINCT]]` writes a long chain of N requests instead,
//! PER_DAY a day (default about 50: 29 minutes apart) from 2026-01-01, sending DISTINCT different values
//! (default 500), one record at a time: ten million records take no more memory than
//! ten (docs/AUDIT.md, "At a year's scale").

use std::io::Write;

#[path = "../tests/a11y/sample_chain.rs"]
mod sample_chain;

fn main() -> std::io::Result<()> {
    let arg = |i: usize| std::env::args().nth(i);
    let number = |s: String| s.parse::<u64>().map_err(std::io::Error::other);
    let out: Box<dyn Write> = match std::env::args_os().nth(1).filter(|p| p != "-") {
        Some(path) => Box::new(std::fs::File::create(path)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    match arg(2) {
        Some(n) => {
            // The default is bulk_chain's: 29 minutes apart, about 50 a day.
            let step_us = arg(3)
                .map(number)
                .transpose()?
                .map_or(29 * 60_000_000, |d| 86_400_000_000 / d.max(1));
            let distinct = arg(4).map(number).transpose()?.unwrap_or(500);
            sample_chain::write_bulk_chain(
                &mut out,
                number(n)? as usize,
                step_us,
                distinct as usize,
            )
        }
        None => {
            out.write_all(sample_chain::sample_chain().as_bytes())?;
            out.flush()
        }
    }
}
