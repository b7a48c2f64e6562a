//! The `paravent` binary: parses flags and runs a command. anyhow lives only here.

use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use paravent::config::Config;
use paravent::detect::rules;
use paravent::scan;

mod cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paravent: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load(config: Option<&Path>) -> anyhow::Result<Config> {
    Config::load(config).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))
}

fn run(cli: cli::Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        cli::Command::Check { config } => {
            let cfg = match Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    eprintln!("{} problem(s) found", e.0.len());
                    return Ok(ExitCode::FAILURE);
                }
            };
            let failures = rules::check_examples(&cfg.rule_set, &cfg.detector);
            for f in &failures {
                eprintln!("{f}");
            }
            if failures.is_empty() {
                println!(
                    "ok: {} rules compiled, {} examples and counterexamples pass",
                    cfg.detector.rule_count(),
                    cfg.rule_set.examples().len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{} example(s) failed", failures.len());
                Ok(ExitCode::FAILURE)
            }
        }
        cli::Command::Scan {
            config,
            jsonl,
            input,
        } => {
            let cfg = load(config.as_deref())?;
            let reader: Box<dyn Read> = if input.as_os_str() == "-" {
                Box::new(io::stdin().lock())
            } else {
                Box::new(
                    std::fs::File::open(&input)
                        .with_context(|| format!("cannot open {}", input.display()))?,
                )
            };
            if jsonl {
                let stdout = io::stdout().lock();
                let summary = scan::scan_jsonl(
                    &cfg.detector,
                    BufReader::with_capacity(1 << 16, reader),
                    io::BufWriter::with_capacity(1 << 16, stdout),
                    io::stderr().lock(),
                )?;
                if summary.bad_lines > 0 {
                    eprintln!(
                        "paravent: {} of {} input lines were invalid",
                        summary.bad_lines, summary.lines
                    );
                    return Ok(ExitCode::FAILURE);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let mut bytes = Vec::new();
            let limit = scan::MAX_PLAIN_INPUT_BYTES as u64;
            #[allow(clippy::disallowed_methods)] // bounded by take() just above
            reader.take(limit + 1).read_to_end(&mut bytes)?;
            if bytes.len() as u64 > limit {
                anyhow::bail!(
                    "the input is larger than {} bytes: split it, or use --jsonl",
                    scan::MAX_PLAIN_INPUT_BYTES
                );
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("the input is not valid UTF-8 text"))?;
            let findings = cfg.detector.scan(&text);
            let mut out = io::stdout().lock();
            writeln!(
                out,
                "{}",
                scan::placeholder_text(&text, &findings).trim_end()
            )?;
            writeln!(out)?;
            if findings.is_empty() {
                writeln!(out, "no findings")?;
            } else {
                write!(out, "{}", scan::findings_table(&text, &findings))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
