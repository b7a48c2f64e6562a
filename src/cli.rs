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
    /// Run the proxy.
    Serve {
        /// Configuration file (default: the embedded configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address and port to listen on (overrides [server] listen).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Address and port of /metrics, /healthz and /readyz (overrides [server]
        /// admin_listen).
        #[arg(long)]
        admin_listen: Option<std::net::SocketAddr>,
        /// Log filter, e.g. "info" or "paravent=debug" (default: $RUST_LOG, else info).
        #[arg(long)]
        log: Option<String>,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Ask a running `serve` whether it is healthy: GET /healthz (or /readyz) on its
    /// admin listener; exit 0 on 200, 1 otherwise. For a container's HEALTHCHECK on an
    /// image with no shell and no HTTP client (docs/DEPLOY.md).
    Healthcheck {
        /// Configuration file whose [server] admin_listen is asked (default: the
        /// embedded configuration). Only that key is read.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The admin address to ask instead (as `serve --admin-listen`).
        #[arg(long)]
        admin_listen: Option<std::net::SocketAddr>,
        /// Ask /readyz (the audit trail can be written) instead of /healthz.
        #[arg(long)]
        ready: bool,
    },
    /// Issue and hash virtual keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Prove this configuration on this machine: French and English prompts covering
    /// every entity of the rules, through every provider and API format, streamed and
    /// not, against a built-in echo provider (no network). Fails (exit 1) on any value
    /// sent in clear against the policy, any value not restored, a refusal the policy
    /// does not make, or an audit chain that does not verify.
    Selftest {
        /// Configuration file (default: the embedded configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Also write the report to this file (for the auditor).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Format of the --out report.
        #[arg(long, value_enum, default_value = "html")]
        format: SelftestFormat,
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
        /// With --jsonl: scanning threads (0: one per processor). The output is the
        /// same, in input order, whatever the number.
        #[arg(long, default_value_t = 0, requires = "jsonl")]
        threads: usize,
        /// Also show what the policy does with each finding and with the request, and
        /// why (needs --provider).
        #[arg(long, requires = "provider")]
        explain: bool,
        /// With --explain: the provider the text would be sent to.
        #[arg(long)]
        provider: Option<String>,
        /// With --explain: the user sending it (default: anonymous).
        #[arg(long, default_value = "anonymous")]
        user: String,
        /// With --explain: the user's team.
        #[arg(long)]
        team: Option<String>,
        /// Preview a whole request: the input is a JSON body sent to this path
        /// (`/openai/v1/chat/completions`), and the body printed is the one the proxy
        /// would forward.
        #[arg(long, value_name = "PATH", conflicts_with = "jsonl")]
        request: Option<String>,
        /// Input file, or - for standard input.
        #[arg(default_value = "-")]
        input: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Prove the hash chains intact: the files of any number of instances, each chain
    /// checked on its own; one line per chain (instance, chain id, records, first and
    /// last time, whether it was closed, last hash = checkpoint); names each bad record.
    Verify {
        /// Audit files, or directories (every `*.jsonl` in them, recursively), in any
        /// order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// A checkpoint published earlier: fails if it is in no chain (a truncated tail).
        /// May be given several times.
        #[arg(long)]
        checkpoint: Vec<String>,
        /// Verify only what follows a resume point kept from the last verification
        /// (`CHAIN:SEQ:HASH`, the `from=` field of each chain's line, or the writer's
        /// `Audit checkpoint.` log line): its chain must continue it. One per chain; may
        /// be given several times.
        #[arg(long, value_name = "CHAIN:SEQ:HASH")]
        from: Vec<String>,
        /// The public key of `[audit.signing]` (the `.pub` file `audit keygen` wrote, or
        /// its text): every checkpoint's signature must verify under it. Without it,
        /// checkpoints are still checked against the chain. A proof bundle (`audit
        /// export`) is verified alone, with this key or else the one it carries.
        #[arg(long, value_name = "PUB")]
        key: Option<String>,
    },
    /// Make the Ed25519 key that signs the trail's checkpoints: PREFIX.key (the signer
    /// key, owner-only, for [audit.signing] key_file) and PREFIX.pub (the public key, for
    /// auditors: `audit verify --key PREFIX.pub`). Never overwrites a file.
    Keygen {
        /// The key's name, which starts every checkpoint's origin line
        /// (`paravent.example.com/audit`): no space, no '+'.
        #[arg(long)]
        name: String,
        /// Where to write PREFIX.key and PREFIX.pub.
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
    /// Write an offline proof bundle: the records of one chain from a checkpoint to its
    /// last checkpoint (both included) and the public key, as one JSONL file that
    /// `audit verify BUNDLE` checks alone. The trail is verified first.
    Export {
        /// The first checkpoint: `CHAIN:SEQ` (the chain id and the checkpoint record's
        /// seq, which is its size), or a file holding that checkpoint's signed note.
        #[arg(long, value_name = "CHECKPOINT")]
        from: String,
        /// The bundle to write.
        #[arg(long, value_name = "BUNDLE")]
        out: PathBuf,
        /// The public key to put in the bundle (a `.pub` file or its text).
        #[arg(long, value_name = "PUB", required_unless_present = "config")]
        key: Option<String>,
        /// Or the configuration whose [audit.signing] key signed the checkpoints (its
        /// public half goes in the bundle).
        #[arg(long, conflicts_with = "key")]
        config: Option<PathBuf>,
        /// Audit files or directories, as for `audit verify`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Report on the audit trail: requests per day, principal, team, provider,
    /// jurisdiction, model, decision and rule; findings; refusals; routes; energy.
    /// Verifies the chain first: a broken chain is reported in a banner and exits 1.
    Report {
        /// Audit files, or directories (every `*.jsonl` in them, recursively), of any
        /// number of instances, in any order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "md")]
        format: ReportFormat,
        /// Language of the Markdown and HTML reports (JSON keys stay English).
        #[arg(long, value_enum, default_value = "en")]
        lang: ReportLang,
        /// First instant reported (inclusive): RFC 3339 date (2026-05-01, midnight UTC)
        /// or date-time (2026-05-01T08:00:00+02:00). Plain files wholly before it are
        /// not read (their first and last records are checked).
        #[arg(long, visible_alias = "from")]
        since: Option<String>,
        /// End of the period (exclusive); a date alone includes that whole day. Plain
        /// files wholly after it are not read.
        #[arg(long, visible_alias = "to")]
        until: Option<String>,
        /// Write the report to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// A checkpoint published earlier, checked as `audit verify` does (may be
        /// given several times).
        #[arg(long)]
        checkpoint: Vec<String>,
    },
}

/// `audit report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Json,
    Md,
}

/// `selftest --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SelftestFormat {
    Html,
    Json,
}

/// `audit report --lang`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportLang {
    En,
    Fr,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a new virtual key; prints the key, then its hash for [[keys.virtual]].
    New,
    /// Print the hash of a virtual key, for [[keys.virtual]] hash.
    Hash {
        /// The key (pv-...).
        key: String,
    },
}
