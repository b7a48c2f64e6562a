//! Command-line flags: runtime knobs only (config path, input, output mode).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "paravent",
    version,
    about = "A pseudonymising reverse proxy for generative-AI APIs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and rules: every problem with file and line, and every
    /// rule's examples and counterexamples.
    Check {
        /// Configuration file (default: the embedded configuration).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Show what would be pseudonymised in a text.
    Scan {
        /// Configuration file (default: the embedded configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Batch mode: each input line {"id", "text"} gives one output line
        /// {"id", "findings": [...]}, offsets in UTF-8 bytes.
        #[arg(long)]
        jsonl: bool,
        /// Input file, or - for standard input.
        #[arg(default_value = "-")]
        input: PathBuf,
    },
}
