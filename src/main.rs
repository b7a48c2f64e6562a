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

/// The binary's allocator: mimalloc instead of the C library's malloc. A proxied
/// request allocates and frees some thousands of small blocks (slots, findings, the
/// vault, the record), and glibc's malloc and free took about 14 % of its instructions
/// (docs/PROXY-PERFORMANCE.md, "Instructions per proxied request"). Only the binary:
/// the library, its tests and benches keep the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        cli::Command::Serve {
            config,
            listen,
            admin_listen,
            log,
        } => serve(config.as_deref(), listen, admin_listen, log.as_deref()),
        cli::Command::Audit {
            command:
                cli::AuditCommand::Verify {
                    files,
                    checkpoint,
                    from,
                    key,
                },
        } => audit_verify(&files, &checkpoint, &from, key.as_deref()),
        cli::Command::Audit {
            command: cli::AuditCommand::Keygen { name, out },
        } => {
            paravent::audit::checkpoint::check_name(&name)?;
            let public = paravent::audit::writer::keygen(&name, &out)
                .with_context(|| format!("cannot write {}.key and .pub", out.display()))?;
            println!("{public}");
            eprintln!(
                "wrote {0}.key (the signer key, owner-only: [audit.signing] key_file) and {0}.pub (the public key, for auditors)",
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::Audit {
            command:
                cli::AuditCommand::Export {
                    from,
                    out,
                    key,
                    config,
                    files,
                },
        } => audit_export(&from, &out, key.as_deref(), config.as_deref(), &files),
        cli::Command::Audit {
            command:
                cli::AuditCommand::Report {
                    files,
                    format,
                    lang,
                    since: from,
                    until: to,
                    out,
                    checkpoint,
                },
        } => audit_report(
            &files,
            (format, lang),
            (from.as_deref(), to.as_deref()),
            out.as_deref(),
            &checkpoint,
        ),
        cli::Command::Key { command } => {
            match command {
                cli::KeyCommand::New => {
                    let mut raw = [0u8; 24];
                    getrandom::fill(&mut raw)
                        .map_err(|_| anyhow::anyhow!("no random source for the key"))?;
                    let key = format!("pv-{}", paravent::audit::hex(&raw));
                    println!("{key}");
                    println!("{}", paravent::config::virtual_key_hash(&key));
                }
                cli::KeyCommand::Hash { key } => {
                    println!("{}", paravent::config::virtual_key_hash(key.trim()));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        cli::Command::Healthcheck {
            config,
            admin_listen,
            ready,
        } => {
            // Docker reserves exit code 2 in a HEALTHCHECK: every failure is 1 here.
            Ok(match healthcheck(config.as_deref(), admin_listen, ready) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("paravent: {e:#}");
                    ExitCode::FAILURE
                }
            })
        }
        cli::Command::Check { config } => {
            let cfg = match Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    // Errors make the configuration unusable (`serve` refuses it too);
                    // warnings (printed when it loads) do not.
                    for line in &e.0 {
                        // One `error:` line per problem; a message on several lines
                        // (a regex's caret) continues indented.
                        eprintln!("error: {}", line.replace('\n', "\n    "));
                    }
                    eprintln!("{} problem(s) found", e.0.len());
                    return Ok(ExitCode::FAILURE);
                }
            };
            for p in cfg.providers.values() {
                if let Some(var) = &p.key_env
                    && std::env::var_os(var).is_none()
                {
                    eprintln!(
                        "note: [providers.{}] key_env {var} is not set in this environment; `serve` needs it",
                        p.name
                    );
                }
            }
            for w in &cfg.warnings {
                eprintln!("warning: {w}");
            }
            match (&cfg.audit.path, &cfg.audit.signing) {
                (Some(_), None) => eprintln!(
                    "note: no [audit.signing]: the audit trail has no signed checkpoints (docs/AUDIT.md, \"Signed checkpoints\")"
                ),
                (None, Some(_)) => eprintln!(
                    "note: [audit.signing] without [audit] path: there is no trail to sign"
                ),
                (_, Some(sg)) => match paravent::audit::writer::load_signing_key(sg) {
                    Ok((key, open)) => {
                        if open {
                            eprintln!(
                                "note: the audit signing key file can be read by others than its owner: chmod 600 it"
                            );
                        }
                        eprintln!(
                            "note: audit checkpoints signed with {} (public key: {})",
                            key.verifier().label(),
                            key.verifier()
                        );
                    }
                    Err(e) => eprintln!("note: {e}; `serve` needs it"),
                },
                (None, None) => {}
            }
            let failures = rules::check_examples(&cfg.rule_set, &cfg.detector);
            for f in &failures {
                eprintln!("{f}");
            }
            if failures.is_empty() {
                println!(
                    "ok: {} rules compiled, {} examples and counterexamples pass, {} policy rules, {} warning(s)",
                    cfg.detector.rule_count(),
                    cfg.rule_set.examples().len(),
                    cfg.policy.rules.len(),
                    cfg.warnings.len()
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("{} example(s) failed", failures.len());
                Ok(ExitCode::FAILURE)
            }
        }
        cli::Command::Selftest {
            config,
            out,
            format,
        } => selftest(config.as_deref(), out.as_deref(), format),
        cli::Command::Scan {
            config,
            jsonl,
            threads,
            explain,
            provider,
            user,
            team,
            request,
            input,
        } => {
            let cfg = load(config.as_deref())?;
            // The policy is previewed whenever a provider is named; --explain also prints
            // why.
            let show_why = explain;
            let explain = match (explain || provider.is_some(), provider) {
                (true, Some(p)) => {
                    if !cfg.providers.contains_key(&p) {
                        anyhow::bail!(
                            "--provider {p:?} is not a declared provider (declared: {})",
                            cfg.providers.keys().cloned().collect::<Vec<_>>().join(", ")
                        );
                    }
                    Some(scan::Explain {
                        policy: &cfg.policy,
                        allow: &cfg.allow,
                        provider: p,
                        user,
                        team,
                    })
                }
                _ => None,
            };
            // Send: in --jsonl mode a thread of its own reads the input.
            let reader: Box<dyn Read + Send> = if input.as_os_str() == "-" {
                Box::new(io::stdin())
            } else {
                Box::new(
                    std::fs::File::open(&input)
                        .with_context(|| format!("cannot open {}", input.display()))?,
                )
            };
            if jsonl {
                let stdout = io::stdout().lock();
                let summary = scan::scan_jsonl_explained(
                    &cfg.detector,
                    explain.as_ref().filter(|_| show_why),
                    threads,
                    BufReader::with_capacity(1 << 16, reader),
                    io::BufWriter::with_capacity(1 << 16, stdout),
                    io::stderr().lock(),
                )?;
                // The process ends here: freeing the detector's automata and lexicons
                // one by one would cost about 3 % of building them.
                drop(explain);
                std::mem::forget(cfg);
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
            // The deployment's tokens when its secret can be read (nothing is created).
            let key = match paravent::vault::load_secret(&cfg.pseudonyms)
                .context("cannot read the pseudonym secret")?
            {
                Some((key, _)) => key,
                None => {
                    eprintln!(
                        "paravent: no pseudonym secret configured or found: the tokens shown are this run's, not the deployment's"
                    );
                    let mut raw = [0u8; 32];
                    getrandom::fill(&mut raw).map_err(|_| anyhow::anyhow!("no random source"))?;
                    paravent::vault::TokenKey::from_secret(&raw)
                }
            };
            if let Some(path) = request {
                return preview_request(&cfg, &key, explain.as_ref(), &path, &bytes);
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("the input is not valid UTF-8 text"))?;
            let findings = cfg.detector.scan(&text);
            let mut out = io::stdout().lock();
            let mut walked = paravent::walk::Walked::text(text.clone());
            match scan::preview(&cfg, &key, &mut walked, explain.as_ref(), true) {
                Ok(_) => writeln!(out, "{}", walked.slots[0].text.trim_end())?,
                Err(why) => writeln!(out, "{why}")?,
            }
            writeln!(out)?;
            if findings.is_empty() {
                writeln!(out, "no findings")?;
            } else {
                write!(out, "{}", scan::findings_table(&text, &findings))?;
            }
            if let Some(e) = explain.as_ref().filter(|_| show_why) {
                writeln!(out)?;
                write!(out, "{}", scan::explain_text(e, &text, &findings))?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `paravent scan --request PATH`: the body the proxy would forward for `body` sent to
/// `path`, and what it found.
fn preview_request(
    cfg: &Config,
    key: &paravent::vault::TokenKey,
    explain: Option<&scan::Explain<'_>>,
    path: &str,
    body: &[u8],
) -> anyhow::Result<ExitCode> {
    let safe = paravent::route::safe_path(path)
        .map_err(|_| anyhow::anyhow!("the path could leave the provider's base path"))?;
    let route =
        paravent::route::route(cfg, "POST", &safe).map_err(|e| anyhow::anyhow!("{e}: {path}"))?;
    let endpoint = match route.endpoint() {
        Some(e) => e,
        None if route.provider.scan_other_endpoints => paravent::api::Endpoint::Generic,
        None => anyhow::bail!(
            "{path} is not in the {} API's endpoint table",
            route.provider.api.as_str()
        ),
    };
    let mut walked = paravent::walk::Walked::parse(body, endpoint.schema())
        .map_err(|e| anyhow::anyhow!("the request would be refused: {e}"))?;
    let mut out = io::stdout().lock();
    match scan::preview(cfg, key, &mut walked, explain, route.provider.allow_media) {
        Ok(summary) => {
            out.write_all(&walked.to_bytes())?;
            writeln!(out)?;
            writeln!(out)?;
            if summary.findings.is_empty() {
                writeln!(out, "no findings")?;
            }
            for (entity, n) in &summary.findings {
                writeln!(out, "{entity}: {n}")?;
            }
            writeln!(
                out,
                "replaced: {}, redacted: {}",
                summary.replaced, summary.redacted
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            writeln!(out, "{why}")?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The audit files named by `args`: files as given, directories walked for `*.jsonl`
/// and their rotated, compressed forms (`audit::input::is_trail_name`; recursively,
/// hidden entries skipped, sorted by path); each file once.
fn audit_files(args: &[std::path::PathBuf]) -> anyhow::Result<Vec<std::path::PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> anyhow::Result<()> {
        let entries =
            std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
        let mut found = Vec::new();
        for e in entries {
            let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = e.path();
            if path.is_dir() {
                walk(&path, &mut found)?;
            } else if paravent::audit::input::is_trail_name(&name.to_string_lossy()) {
                found.push(path);
            }
        }
        found.sort();
        out.extend(found);
        Ok(())
    }
    let mut files = Vec::new();
    for a in args {
        if a.is_dir() {
            let before = files.len();
            walk(a, &mut files)?;
            if files.len() == before {
                anyhow::bail!("no *.jsonl file in {}", a.display());
            }
        } else {
            files.push(a.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    Ok(files)
}

/// What reads audit files one line at a time.
trait Lines {
    fn file(&mut self, name: &str);
    fn line(&mut self, line: &str);
}

impl Lines for paravent::audit::verify::Verifier {
    fn file(&mut self, name: &str) {
        paravent::audit::verify::Verifier::file(self, name);
    }
    fn line(&mut self, line: &str) {
        self.push(line);
    }
}

impl Lines for paravent::audit::report::Builder<'_> {
    fn file(&mut self, name: &str) {
        paravent::audit::report::Builder::file(self, name);
    }
    fn line(&mut self, line: &str) {
        self.push(line);
    }
}

/// The longest audit line read whole: far above any record the writer makes (a record
/// holds counts and at most `max_vault_entries` hashes). A longer line is not a record:
/// its first bytes go to the sink, which reports it, and the rest is skipped, so a
/// tampered file cannot make the reader hold an unbounded line.
const MAX_AUDIT_LINE_BYTES: u64 = 16 << 20;

/// Feeds every line of `files` (plain, gzip or zstd) to `sink`, one line at a time
/// (bytes that are not UTF-8 reach it replaced, and fail as any modified record).
fn read_trails(files: &[std::path::PathBuf], sink: &mut impl Lines) -> anyhow::Result<()> {
    use io::{BufRead as _, Read as _};
    for f in files {
        let (_, mut reader) = paravent::audit::input::open(f)
            .with_context(|| format!("cannot read {}", f.display()))?;
        sink.file(&f.display().to_string());
        let cannot = || format!("cannot read {}", f.display());
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut reader)
                .take(MAX_AUDIT_LINE_BYTES)
                .read_until(b'\n', &mut line)
                .with_context(cannot)?;
            if n == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            } else if n as u64 == MAX_AUDIT_LINE_BYTES {
                reader.skip_until(b'\n').with_context(cannot)?;
            }
            sink.line(&String::from_utf8_lossy(&line));
        }
    }
    Ok(())
}

/// `paravent audit verify`: one line per chain on standard output, each fault on
/// standard error; exits 1 when any chain is broken or a checkpoint is in none. With
/// `--from`, the chains named are verified from those points only.
fn audit_verify(
    files: &[std::path::PathBuf],
    checkpoints: &[String],
    from: &[String],
    key: Option<&str>,
) -> anyhow::Result<ExitCode> {
    use paravent::audit::verify::Resume;
    let key = key.map(read_verifier_key).transpose().context("--key")?;
    if let [one] = files
        && one.is_file()
        && let [header, first] = first_lines(one, 2)?.as_slice()
        && header.starts_with(BUNDLE_TAG)
    {
        return verify_bundle(one, header, first, key);
    }
    let points = from
        .iter()
        .map(|f| f.parse::<Resume>())
        .collect::<Result<Vec<_>, _>>()
        .context("--from")?;
    let files = audit_files(files)?;
    let mut verifier = paravent::audit::verify::Verifier::new(checkpoints)
        .resume(&points)
        .key(key.clone());
    read_trails(&files, &mut verifier)?;
    let done = verifier.finish();
    let mut out = io::stdout().lock();
    for c in &done.chains {
        writeln!(
            out,
            "{} instance={} chain={} records={} first={} last={} end={}{}{}{} checkpoint={} from={}",
            if c.bad.is_none() { "ok" } else { "BROKEN" },
            c.instance_id,
            c.chain_id,
            c.records,
            c.first_time,
            c.last_time,
            // Without a close: the instance is running, crashed, or the tail was cut.
            if c.closed { "closed" } else { "open" },
            c.continues
                .as_deref()
                .map(|p| format!(" continues={p}"))
                .unwrap_or_default(),
            c.resumed
                .as_ref()
                .map(|p| format!(" resumed={}", p.seq))
                .unwrap_or_default(),
            match c.signed {
                Some(size) => format!(" checkpoints={} signed={size}", c.checkpoints),
                None if key.is_some() => " checkpoints=0".to_owned(),
                None => String::new(),
            },
            c.last_hash,
            c.resume_point()
        )?;
    }
    // What no checkpoint signs yet (the records after the last checkpoint record).
    for c in done.chains.iter().filter(|c| c.bad.is_none()) {
        match c.signed {
            Some(size) if c.last_seq > size => writeln!(
                out,
                "unsigned chain={} records={} seq={}..{} (after its last checkpoint)",
                c.chain_id,
                c.last_seq - size,
                size + 1,
                c.last_seq
            )?,
            None if key.is_some() => writeln!(
                out,
                "unsigned chain={} records={} (no checkpoint)",
                c.chain_id, c.records
            )?,
            _ => {}
        }
    }
    for p in &done.unchanged {
        // Nothing after it in these files: the next verification resumes there too.
        writeln!(out, "unchanged chain={} from={p}", p.chain_id)?;
    }
    let broken = done.chains.len() - done.verified_chains();
    let instances: std::collections::BTreeSet<&str> =
        done.chains.iter().map(|c| c.instance_id.as_str()).collect();
    for p in &done.problems {
        eprintln!("paravent: audit trail broken at {p}");
    }
    for c in done.chains.iter().filter_map(|c| c.bad.as_ref()) {
        eprintln!("paravent: audit chain broken at {c}");
    }
    for h in &done.missing_checkpoints {
        eprintln!(
            "paravent: checkpoint {h} is in none of the chains: records after it were removed, or its files were not given"
        );
    }
    if done.ok() {
        let signed: u64 = done.chains.iter().map(|c| c.checkpoints).sum();
        writeln!(
            out,
            "ok: {} chain(s) of {} instance(s) verified, {} records in {} file(s){}{}{}",
            done.chains.len(),
            instances.len(),
            done.records,
            files.len(),
            match &key {
                Some(k) => format!("; {signed} checkpoint(s) signed by {} verified", k.label()),
                None if signed > 0 => format!(
                    "; {signed} checkpoint(s) agree with the chains (signatures not checked: no --key)"
                ),
                None => String::new(),
            },
            if checkpoints.is_empty() {
                String::new()
            } else {
                format!("; {} checkpoint(s) found", checkpoints.len())
            },
            if points.is_empty() {
                String::new()
            } else {
                format!(
                    "; resumed from {} point(s), {} earlier record(s) skipped",
                    points.len(),
                    done.skipped
                )
            }
        )?;
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "paravent: {broken} of {} chain(s) broken, {} other problem(s), {} checkpoint(s) missing",
            done.chains.len(),
            done.problems.len(),
            done.missing_checkpoints.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// What starts the first line of a proof bundle (`audit export`).
const BUNDLE_TAG: &str = "{\"paravent_bundle\":";
/// The bundle format's version.
const BUNDLE_VERSION: u32 = 1;
/// The longest key or note file read.
const MAX_KEY_BYTES: u64 = 64 << 10;

/// A small text file, read whole up to a limit.
fn read_small(path: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    #[allow(clippy::disallowed_methods)] // bounded by take() on the same line
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_KEY_BYTES).read_to_string(&mut text))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text)
}

/// A verifier key given as its text or as the file holding it (`PREFIX.pub`).
fn read_verifier_key(arg: &str) -> anyhow::Result<paravent::audit::checkpoint::VerifierKey> {
    let path = Path::new(arg);
    let text = if path.is_file() {
        read_small(path)?
    } else {
        arg.to_owned()
    };
    text.trim()
        .parse()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("{arg} is not a public key"))
}

/// The first `n` lines of an audit file (plain or compressed), each bounded.
fn first_lines(path: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    use io::BufRead as _;
    let (_, reader) = paravent::audit::input::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for line in reader.take(MAX_AUDIT_LINE_BYTES).lines().take(n) {
        out.push(line.with_context(|| format!("cannot read {}", path.display()))?);
    }
    Ok(out)
}

/// A verifier that skips each file's first line (a bundle's header).
struct AfterHeader<'a> {
    inner: &'a mut paravent::audit::verify::Verifier,
    at_header: bool,
}

impl Lines for AfterHeader<'_> {
    fn file(&mut self, name: &str) {
        self.inner.file(name);
        self.at_header = true;
    }
    fn line(&mut self, line: &str) {
        if std::mem::take(&mut self.at_header) {
            self.inner.skip_line();
        } else {
            self.inner.push(line);
        }
    }
}

/// `paravent audit verify BUNDLE`: a proof bundle checked alone. Its records start at
/// a checkpoint, whose signed head is where the chain is verified from, and end at a
/// checkpoint; every checkpoint must be signed by `key` (else the key the bundle
/// carries, which the auditor compares with the one they were given).
fn verify_bundle(
    path: &Path,
    header: &str,
    first: &str,
    key: Option<paravent::audit::checkpoint::VerifierKey>,
) -> anyhow::Result<ExitCode> {
    use paravent::audit::{AuditRecord, Kind, verify};
    let name = path.display().to_string();
    let head: serde_json::Value =
        serde_json::from_str(header).with_context(|| format!("{name}:1: not a bundle header"))?;
    if head["paravent_bundle"] != BUNDLE_VERSION {
        anyhow::bail!(
            "{name}:1: unknown bundle version {}",
            head["paravent_bundle"]
        );
    }
    let carried = head["key"].as_str().unwrap_or_default();
    let (key, from_bundle) = match key {
        Some(k) => (k, false),
        None => (read_verifier_key(carried)?, true),
    };
    let fail = |msg: String| -> anyhow::Result<ExitCode> {
        eprintln!("paravent: {msg}");
        Ok(ExitCode::FAILURE)
    };
    let start: AuditRecord = match serde_json::from_str(first) {
        Ok(r) => r,
        Err(_) => return fail(format!("{name}:2: not an audit record")),
    };
    if start.kind != Kind::Checkpoint || start.seq == 0 {
        return fail(format!(
            "{name}:2: a bundle starts with a checkpoint record"
        ));
    }
    // Verified from the head its first checkpoint signs (checked with its signature).
    let point = verify::Resume {
        chain_id: start.chain_id.clone(),
        seq: start.seq - 1,
        hash: start.prev.clone(),
    };
    let mut verifier = verify::Verifier::new::<&str>(&[])
        .resume(std::slice::from_ref(&point))
        .key(Some(key.clone()));
    read_trails(
        &[path.to_path_buf()],
        &mut AfterHeader {
            inner: &mut verifier,
            at_header: true,
        },
    )?;
    let done = verifier.finish();
    if let Some(bad) = done.first_bad() {
        return fail(format!("proof bundle broken at {bad}"));
    }
    let [c] = done.chains.as_slice() else {
        return fail(format!(
            "{name}: a bundle holds one chain, not {}",
            done.chains.len()
        ));
    };
    let first_seq = start.seq;
    if c.signed != Some(c.last_seq) {
        return fail(format!(
            "{name}: the bundle does not end with a checkpoint (records after seq {} are unsigned)",
            c.signed.unwrap_or(first_seq)
        ));
    }
    let claims = (
        head["chain_id"].as_str(),
        head["from_seq"].as_u64(),
        head["to_seq"].as_u64(),
    );
    if claims != (Some(c.chain_id.as_str()), Some(first_seq), Some(c.last_seq)) {
        return fail(format!(
            "{name}:1: the header does not describe the records (chain, from_seq, to_seq)"
        ));
    }
    println!(
        "ok: proof bundle {name} verified alone: instance={} chain={} records={} seq={}..{} first={} last={}, {} checkpoint(s) signed by {}",
        c.instance_id,
        c.chain_id,
        c.records,
        first_seq,
        c.last_seq,
        c.first_time,
        c.last_time,
        c.checkpoints,
        key.label()
    );
    if from_bundle {
        println!(
            "key: {key} (carried by the bundle: compare it with the public key you were given, or pass that one with --key)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Feeds a verifier and keeps the lines of one chain from one `seq` on.
struct Collect<'a> {
    verifier: &'a mut paravent::audit::verify::Verifier,
    chain_id: &'a str,
    from_seq: u64,
    kept: Vec<(u64, paravent::audit::AuditRecord, String)>,
}

impl Lines for Collect<'_> {
    fn file(&mut self, name: &str) {
        self.verifier.file(name);
    }
    fn line(&mut self, line: &str) {
        if let Some(rec) = self.verifier.push(line)
            && rec.chain_id == self.chain_id
            && rec.seq >= self.from_seq
        {
            self.kept.push((rec.seq, rec, line.to_owned()));
        }
    }
}

/// `paravent audit export`: the records of one chain from a checkpoint to its last
/// checkpoint, after a header line naming them and the public key, into one file.
fn audit_export(
    from: &str,
    out: &Path,
    key: Option<&str>,
    config: Option<&Path>,
    files: &[std::path::PathBuf],
) -> anyhow::Result<ExitCode> {
    use paravent::audit::Kind;
    use paravent::audit::checkpoint::{Checkpoint, split_note};
    let key = match (key, config) {
        (Some(k), _) => read_verifier_key(k).context("--key")?,
        (None, Some(c)) => {
            let cfg = load(Some(c))?;
            let sg = cfg
                .audit
                .signing
                .as_ref()
                .context("the configuration has no [audit.signing]")?;
            paravent::audit::writer::load_signing_key(sg)?
                .0
                .verifier()
                .clone()
        }
        (None, None) => anyhow::bail!("--key or --config names the public key"),
    };
    // The starting checkpoint: CHAIN:SEQ, or a note the auditor kept.
    let (chain_id, from_seq, kept_note) = if Path::new(from).is_file() {
        let note = read_small(Path::new(from))?;
        let (text, _) = split_note(&note).map_err(|e| anyhow::anyhow!("--from {from}: {e}"))?;
        let cp = Checkpoint::parse(text).map_err(|e| anyhow::anyhow!("--from {from}: {e}"))?;
        let chain = cp.origin.rsplit('/').next().unwrap_or_default().to_owned();
        (chain, cp.size, Some(text.to_owned()))
    } else {
        let (chain, seq) = from
            .rsplit_once(':')
            .and_then(|(c, s)| Some((c.to_owned(), s.parse::<u64>().ok()?)))
            .context("--from is CHAIN:SEQ (a checkpoint record's chain id and seq) or a file holding a checkpoint's signed note")?;
        (chain, seq, None)
    };
    let files = audit_files(files)?;
    let mut verifier = paravent::audit::verify::Verifier::new::<&str>(&[]).key(Some(key.clone()));
    let mut collect = Collect {
        verifier: &mut verifier,
        chain_id: &chain_id,
        from_seq,
        kept: Vec::new(),
    };
    read_trails(&files, &mut collect)?;
    let mut kept = std::mem::take(&mut collect.kept);
    let done = verifier.finish();
    if let Some(bad) = done.first_bad() {
        eprintln!("paravent: audit trail broken at {bad}");
        eprintln!("paravent: no bundle written: the trail does not verify");
        return Ok(ExitCode::FAILURE);
    }
    kept.sort_by_key(|k| k.0);
    kept.dedup_by_key(|k| k.0);
    let starts = kept
        .first()
        .is_some_and(|(seq, rec, _)| *seq == from_seq && rec.kind == Kind::Checkpoint);
    if !starts {
        anyhow::bail!("no checkpoint record at {chain_id}:{from_seq} in the files");
    }
    if let Some(text) = &kept_note {
        let in_trail = kept[0].1.checkpoint.as_deref().unwrap_or_default();
        let same = split_note(in_trail).is_ok_and(|(t, _)| t == text);
        if !same {
            eprintln!(
                "paravent: the trail's checkpoint at {chain_id}:{from_seq} is not the note given: the chain was rewritten after that note was signed"
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    let Some(last) = kept
        .iter()
        .rposition(|(_, r, _)| r.kind == Kind::Checkpoint)
    else {
        anyhow::bail!("no checkpoint record at {chain_id}:{from_seq}");
    };
    kept.truncate(last + 1);
    let to_seq = kept[last].0;
    let checkpoints = kept
        .iter()
        .filter(|(_, r, _)| r.kind == Kind::Checkpoint)
        .count();
    let header = serde_json::json!({
        "paravent_bundle": BUNDLE_VERSION,
        "key": key.to_string(),
        "chain_id": chain_id,
        "instance_id": kept[0].1.instance_id,
        "from_seq": from_seq,
        "to_seq": to_seq,
        "records": kept.len(),
        "checkpoints": checkpoints,
    });
    let mut text = format!("{header}\n");
    for (_, _, line) in &kept {
        text.push_str(line);
        text.push('\n');
    }
    // Owner-only, as the trail: the records name principals.
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(out)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {}: chain={chain_id} seq={from_seq}..{to_seq}, {} records, {checkpoints} checkpoint(s) signed by {}",
        out.display(),
        kept.len(),
        key.label()
    );
    Ok(ExitCode::SUCCESS)
}

/// The chain id and `time` of an audit record line, if it reads as one.
fn chain_and_time(line: &str) -> Option<(String, String)> {
    serde_json::from_str::<paravent::audit::AuditRecord>(line)
        .ok()
        .map(|r| (r.chain_id, r.time))
}

/// `paravent audit report`: reads the files, builds and renders the report. Exits 1
/// (after writing the report, which says so in a banner) when the chain does not verify.
fn audit_report(
    files: &[std::path::PathBuf],
    (format, lang): (cli::ReportFormat, cli::ReportLang),
    (from, to): (Option<&str>, Option<&str>),
    out: Option<&Path>,
    checkpoints: &[String],
) -> anyhow::Result<ExitCode> {
    use paravent::audit::report;
    let range = report::TimeRange::parse(from, to)?;
    let files = audit_files(files)?;
    let mut builder = report::Builder::new(checkpoints, &range);
    for f in &files {
        // A plain file of one chain wholly outside the period is known by its two ends.
        if range.is_bounded()
            && let Some((first, last)) = paravent::audit::input::ends(f)
                .with_context(|| format!("cannot read {}", f.display()))?
            && let (Some(a), Some(b)) = (chain_and_time(&first), chain_and_time(&last))
            && a.0 == b.0
            && range.excludes(&a.1, &b.1)
        {
            builder.skip(&f.display().to_string(), &first, &last);
            continue;
        }
        read_trails(std::slice::from_ref(f), &mut builder)?;
    }
    let now = paravent::audit::rfc3339(std::time::SystemTime::now());
    let rep = builder.finish(&now);
    let lang = match lang {
        cli::ReportLang::En => report::Lang::En,
        cli::ReportLang::Fr => report::Lang::Fr,
    };
    let rendered = match format {
        cli::ReportFormat::Html => report::html::render(&rep, lang),
        cli::ReportFormat::Md => report::markdown::render(&rep, lang),
        cli::ReportFormat::Json => {
            let mut s = serde_json::to_string_pretty(&rep).context("cannot render JSON")?;
            s.push('\n');
            s
        }
    };
    match out {
        Some(p) => {
            std::fs::write(p, rendered).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => io::stdout().lock().write_all(rendered.as_bytes())?,
    }
    if rep.integrity.verified {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("paravent: {}", rep.integrity_line());
        Ok(ExitCode::FAILURE)
    }
}

/// Loads the configuration as `serve` runs it: the embedded one keeps its generated
/// secret and its audit trail in the working directory.
fn load_for_serve(config: Option<&Path>) -> anyhow::Result<Config> {
    let mut cfg = load(config)?;
    if config.is_none() {
        let cwd = std::env::current_dir().context("no working directory")?;
        cfg.pseudonyms.secret_file = cwd.join(&cfg.pseudonyms.secret_file);
        if let Some(p) = &cfg.audit.path
            && p.is_relative()
        {
            cfg.audit.path = Some(cwd.join(p));
        }
    }
    Ok(cfg)
}

/// Builds the next generation from the configuration file and swaps it in; on any
/// problem the running generation stays and the problems are logged (with their lines,
/// never a request's content). The deployment secret, the audit trail and the metrics
/// are the process's: a reload keeps them (changing `[audit]` or the secret needs a
/// restart, and the log says so).
fn reload(
    config: Option<&Path>,
    current: &paravent::server::Generation,
    listen: std::net::SocketAddr,
    on_change: bool,
) {
    let started = std::time::Instant::now();
    let old = current.load_full();
    let cfg = match load_for_serve(config) {
        // A file saved again as it was (or a change SIGHUP already applied).
        Ok(cfg) if on_change && cfg.version == old.config.version => return,
        Ok(cfg) => cfg,
        Err(e) => {
            old.metrics().reload(false);
            tracing::error!(error = %format!("{e:#}"), "Configuration reload refused; the running configuration stays.");
            return;
        }
    };
    // The listener stays where it is: a generation that would serve it in cleartext on
    // a non-loopback address (TLS taken out) is refused as `serve` would refuse it.
    if let Some(why) = cfg.server.plaintext_refusal(listen) {
        old.metrics().reload(false);
        tracing::error!(error = %why, "Configuration reload refused; the running configuration stays.");
        return;
    }
    log_tls(&cfg, listen);
    if cfg.audit.path != old.config.audit.path
        || cfg.audit.fsync != old.config.audit.fsync
        || cfg.audit.instance_id != old.config.audit.instance_id
        || cfg.audit.signing != old.config.audit.signing
    {
        tracing::warn!("The [audit] section changed: it takes effect at the next restart.");
    }
    if cfg.pseudonyms.secret != old.config.pseudonyms.secret
        || cfg.pseudonyms.secret_file != old.config.pseudonyms.secret_file
        || cfg.pseudonyms.secret_env != old.config.pseudonyms.secret_env
    {
        tracing::warn!(
            "The pseudonym secret's source changed: it takes effect at the next restart."
        );
    }
    if cfg.server.listen != old.config.server.listen
        || cfg.server.admin_listen != old.config.server.admin_listen
    {
        tracing::warn!("The listen addresses changed: they take effect at the next restart.");
    }
    if cfg.log.format != old.config.log.format {
        tracing::warn!("The [log] format changed: it takes effect at the next restart.");
    }
    for w in &cfg.warnings {
        tracing::warn!(problem = %w, "Configuration warning.");
    }
    let version = cfg.version.clone();
    let governance = cfg.audit.governance.clone();
    let rules = cfg.detector.rule_count();
    // The process state (secret, audit trail, metrics, limits) carries over whole.
    let rt = match old.next(cfg) {
        Ok(rt) => rt,
        Err(e) => {
            old.metrics().reload(false);
            tracing::error!(error = %e, "Configuration reload refused; the running configuration stays.");
            return;
        }
    };
    if let Some(w) = old.audit() {
        w.set_policy_version(version.clone());
        w.set_governance(governance);
        // Each applied reload is in the trail, with the version it brings.
        if let Err(e) = w.append_reload() {
            tracing::error!(error = %e, "The reload's audit record was not written.");
        }
    }
    current.store(std::sync::Arc::new(rt));
    old.metrics().reload(true);
    let took_ms = started.elapsed().as_millis();
    tracing::info!(version = %version, rules, took_ms, "Configuration reloaded.");
}

/// `serve`'s first lines: which configuration is active (its file, or the embedded
/// default), its policy version and rule count, then one line per provider with its
/// name, API and jurisdiction. Never a key, a secret or a base URL's query.
fn log_active(config: Option<&Path>, cfg: &Config) {
    let file = config.map_or_else(
        || "embedded default".to_owned(),
        |p| p.display().to_string(),
    );
    tracing::info!(
        config = %file,
        version = %cfg.version,
        rules = cfg.detector.rule_count(),
        providers = cfg.providers.len(),
        "Configuration active."
    );
    for p in cfg.providers.values() {
        tracing::info!(
            provider = %p.name,
            api = %p.api.as_str(),
            jurisdiction = %p.jurisdiction.as_deref().unwrap_or("undeclared"),
            "Provider active."
        );
    }
}

/// Says how the proxy listener speaks: TLS (with the certificate's end of validity and
/// whether client certificates are asked), or cleartext, with a warning when that is
/// declared intended on a non-loopback address.
fn log_tls(cfg: &Config, addr: std::net::SocketAddr) {
    match &cfg.server.tls {
        Some(tls) => {
            let until = tls
                .not_after
                .map_or_else(|| "unknown".to_owned(), paravent::audit::rfc3339);
            let clients = match (&tls.files.client_ca, tls.files.client_auth) {
                (None, _) => "not asked",
                (Some(_), paravent::tls::ClientAuth::Required) => "required",
                (Some(_), paravent::tls::ClientAuth::Optional) => "optional",
            };
            tracing::info!(cert = %tls.files.cert.display(), valid_until = %until, client_certificates = %clients, "TLS on the proxy listener (h2, http/1.1).");
        }
        None if !addr.ip().to_canonical().is_loopback() => {
            tracing::warn!(listen = %addr, "Serving in cleartext on a non-loopback address, as [server] plaintext = true says: TLS must end in a proxy in front.");
        }
        None => {}
    }
}

fn serve(
    config: Option<&Path>,
    listen: Option<std::net::SocketAddr>,
    admin_listen: Option<std::net::SocketAddr>,
    log: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let filter = match log {
        Some(f) => tracing_subscriber::EnvFilter::try_new(f).context("invalid --log filter")?,
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    };
    let cfg = load_for_serve(config)?;
    // `[log] format` is read at start (a reload does not change it).
    let log = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr);
    match cfg.log.format {
        paravent::config::LogFormat::Json => log.json().flatten_event(true).init(),
        paravent::config::LogFormat::Text => log
            .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()))
            .init(),
    }
    log_active(config, &cfg);
    let addr = listen.unwrap_or(cfg.server.listen);
    let admin_addr = admin_listen.or(cfg.server.admin_listen);
    // Before anything is bound or opened: provider keys must not cross a network in
    // clear unless the configuration says a proxy in front terminates TLS.
    if let Some(why) = cfg.server.plaintext_refusal(addr) {
        tracing::error!(listen = %addr, "Refusing to serve without TLS on a non-loopback address.");
        anyhow::bail!("{why}");
    }
    log_tls(&cfg, addr);
    if let Some(a) = admin_addr
        && !a.ip().to_canonical().is_loopback()
    {
        tracing::warn!(admin = %a, "The admin endpoints (/metrics, /healthz, /readyz) are served in cleartext on a non-loopback address: keep it on a private network.");
    }
    let (key, source) = paravent::vault::load_or_create_secret(&cfg.pseudonyms)
        .context("cannot get the pseudonym secret")?;
    match &source {
        paravent::vault::SecretSource::Config => {
            tracing::info!("Pseudonym secret read from the configuration.");
        }
        paravent::vault::SecretSource::Env(var) => {
            tracing::info!(variable = %var, "Pseudonym secret read from the environment.");
        }
        paravent::vault::SecretSource::File(p) => {
            tracing::info!(file = %p.display(), "Pseudonym secret read from its file.");
        }
        paravent::vault::SecretSource::Generated(p) => {
            tracing::warn!(
                file = %p.display(),
                "No pseudonym secret was configured: generated one and stored it (owner-only). Every replica must share it; keep it safe."
            );
        }
    }
    for w in &cfg.warnings {
        tracing::warn!(problem = %w, "Configuration warning.");
    }
    let audit = match &cfg.audit.path {
        Some(path) => {
            use paravent::audit::writer;
            let instance = writer::instance_id(cfg.audit.instance_id.as_deref());
            // `{instance}` in the path: one configuration, one file per replica.
            let path =
                writer::resolve_path(path, &instance).context("cannot start the audit trail")?;
            // The signing key first: a trail asked to be signed is never written unsigned.
            let signing = match &cfg.audit.signing {
                Some(sg) => {
                    let (key, open) = writer::load_signing_key(sg)
                        .context("cannot start the audit trail's signed checkpoints")?;
                    if open {
                        tracing::warn!(
                            "The audit signing key file can be read by others than its owner: chmod 600 it."
                        );
                    }
                    Some((key, sg))
                }
                None => {
                    tracing::warn!(
                        "No [audit.signing]: the audit trail has no signed checkpoints."
                    );
                    None
                }
            };
            let mut w =
                writer::AuditWriter::open(&path, &cfg.audit, instance.clone(), cfg.version.clone())
                    .context("cannot start the audit trail")?;
            if let Some((key, sg)) = signing {
                tracing::info!(
                    key = %key.verifier().label(),
                    interval_records = sg.interval_records,
                    interval_seconds = sg.interval_seconds,
                    "Audit checkpoints are signed."
                );
                w = w.with_signer(key, sg);
            }
            tracing::info!(
                file = %path.display(),
                instance = %instance,
                chain_id = %w.chain_id(),
                checkpoint = %w.checkpoint().1,
                "Audit trail started."
            );
            Some(std::sync::Arc::new(w))
        }
        None => {
            tracing::warn!("No [audit] path: requests leave no audit trail.");
            None
        }
    };
    let mut rt = paravent::proxy::Runtime::new(cfg, key).context("cannot start")?;
    let audit_at_shutdown = audit.clone();
    if let Some(w) = audit {
        rt = rt.with_audit(w);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        let admin = match admin_addr {
            Some(a) => Some(
                tokio::net::TcpListener::bind(a)
                    .await
                    .with_context(|| format!("cannot listen on {a} (admin_listen)"))?,
            ),
            None => None,
        };
        let rt = std::sync::Arc::new(rt);
        // Records unsigned for `interval_seconds` get a checkpoint, requests or not.
        let signer = audit_at_shutdown.as_ref().and_then(|w| {
            let tick = w.signing_tick()?;
            let w = w.clone();
            Some(tokio::spawn(async move {
                let mut every = tokio::time::interval(tick);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let w = w.clone();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || w.sign_if_due()).await {
                        tracing::error!(error = %e, "The audit checkpoint was not written.");
                    }
                }
            }))
        });
        tracing::info!(listen = %local, "Paravent is serving.");
        let admin = match admin {
            Some(l) => {
                tracing::info!(admin = %l.local_addr()?, "Admin endpoints are serving: /metrics, /healthz, /readyz.");
                let rt = rt.clone();
                Some(tokio::spawn(paravent::admin::serve(l, rt, std::future::pending())))
            }
            None => None,
        };
        // SIGHUP: the configuration, rules and dictionaries again; an invalid one is
        // refused and the running one stays. Requests in flight finish on theirs.
        let current: paravent::server::Generation =
            std::sync::Arc::new(arc_swap::ArcSwap::new(rt.clone()));
        let reloader = {
            let current = current.clone();
            let config = config.map(Path::to_path_buf);
            tokio::spawn(paravent::server::on_reload_signal(move || {
                // Compiling the rules takes a few hundred milliseconds: off the async
                // workers' queue.
                tokio::task::block_in_place(|| reload(config.as_deref(), &current, local, false));
            }))
        };
        // And when the config file or a file it names changes (debounced).
        let watcher = match config {
            Some(path) if rt.config.server.watch_interval_ms > 0 => {
                let every = std::time::Duration::from_millis(rt.config.server.watch_interval_ms);
                let path = path.to_path_buf();
                let current = current.clone();
                Some(tokio::spawn(paravent::server::on_file_change(
                    {
                        let current = current.clone();
                        let path = path.clone();
                        move || {
                            let mut files = vec![path.clone()];
                            let generation = current.load();
                            files.extend(generation.config.inputs.iter().cloned());
                            files.extend(generation.config.tls_files());
                            files
                        }
                    },
                    every,
                    move || tokio::task::block_in_place(|| reload(Some(&path), &current, local, true)),
                )))
            }
            _ => None,
        };
        paravent::server::serve(listener, current, paravent::server::shutdown_signal()).await;
        reloader.abort();
        if let Some(task) = signer {
            task.abort();
        }
        if let Some(task) = watcher {
            task.abort();
        }
        if let Some(task) = admin {
            task.abort();
        }
        if let Some(w) = &audit_at_shutdown {
            // Requests in flight have finished: the chain ends with its close record,
            // then the last checkpoint, to keep apart from the trail (docs/AUDIT.md).
            if let Err(e) = w.close() {
                tracing::error!(error = %e, "The audit chain's close record was not written.");
            }
            w.log_checkpoint("shutdown");
        }
        tracing::info!("Paravent stopped.");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `paravent selftest`: runs the self-test, prints its summary, writes `--out`.
fn selftest(
    config: Option<&Path>,
    out: Option<&Path>,
    format: cli::SelftestFormat,
) -> anyhow::Result<ExitCode> {
    let cfg = load(config)?;
    // The deployment's tokens when its secret can be read (nothing is created); else
    // this run's.
    let key = match paravent::vault::load_secret(&cfg.pseudonyms)
        .context("cannot read the pseudonym secret")?
    {
        Some((key, _)) => key,
        None => {
            let mut raw = [0u8; 32];
            getrandom::fill(&mut raw).map_err(|_| anyhow::anyhow!("no random source"))?;
            paravent::vault::TokenKey::from_secret(&raw)
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime
        .block_on(paravent::selftest::run(cfg, key))
        .context("the self-test could not run")?;
    print!("{}", paravent::selftest::summary(&report));
    if let Some(path) = out {
        let text = match format {
            cli::SelftestFormat::Json => serde_json::to_string_pretty(&report)? + "\n",
            cli::SelftestFormat::Html => paravent::selftest::html(&report),
        };
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How long `paravent healthcheck` waits to connect, and then for the answer.
const HEALTHCHECK_TIMEOUT_MS: u64 = 2000;

/// `paravent healthcheck`: one GET on the admin listener with std's blocking socket, so
/// that a container image needs neither a shell nor curl for its health check.
fn healthcheck(
    config: Option<&Path>,
    admin_listen: Option<std::net::SocketAddr>,
    ready: bool,
) -> anyhow::Result<ExitCode> {
    let addr = match admin_listen {
        Some(a) => a,
        None => configured_admin_listen(config)?,
    };
    // `serve` binds the unspecified address on every interface: ask on loopback.
    let addr = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    };
    let path = if ready { "/readyz" } else { "/healthz" };
    let timeout = std::time::Duration::from_millis(HEALTHCHECK_TIMEOUT_MS);
    let status = (|| -> io::Result<String> {
        let mut conn = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        conn.set_read_timeout(Some(timeout))?;
        conn.set_write_timeout(Some(timeout))?;
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        // The status line is all we read: "HTTP/1.1 200 OK".
        let mut line = String::new();
        io::BufRead::read_line(&mut BufReader::new(conn.take(256)), &mut line)?;
        Ok(line)
    })()
    .with_context(|| format!("asking http://{addr}{path}"))?;
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code == "200" {
        println!("ok: http://{addr}{path} answered 200");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "paravent: http://{addr}{path} answered {:?}",
            status.trim_end()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// `[server] admin_listen` of a configuration file (or the embedded one), read without
/// compiling the rest: a health check must stay cheap.
fn configured_admin_listen(config: Option<&Path>) -> anyhow::Result<std::net::SocketAddr> {
    let text = match config {
        Some(p) => {
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
        }
        None => paravent::config::DEFAULT_CONFIG_TOML.to_owned(),
    };
    let table: toml::Table = text
        .parse()
        .context("the configuration is not valid TOML")?;
    let value = table
        .get("server")
        .and_then(|s| s.get("admin_listen"))
        .and_then(|v| v.as_str())
        .context("the configuration has no [server] admin_listen: no admin listener to ask")?;
    value
        .parse()
        .with_context(|| format!("[server] admin_listen {value:?} is not an address and port"))
}
