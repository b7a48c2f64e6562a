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
        cli::Command::Serve {
            config,
            listen,
            admin_listen,
            log,
        } => serve(config.as_deref(), listen, admin_listen, log.as_deref()),
        cli::Command::Audit {
            command: cli::AuditCommand::Verify { files, checkpoint },
        } => audit_verify(&files, checkpoint.as_deref()),
        cli::Command::Audit {
            command:
                cli::AuditCommand::Report {
                    files,
                    format,
                    lang,
                    from,
                    to,
                    out,
                    checkpoint,
                },
        } => audit_report(
            &files,
            (format, lang),
            (from.as_deref(), to.as_deref()),
            out.as_deref(),
            checkpoint.as_deref(),
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
        cli::Command::Check { config } => {
            let cfg = match Config::load(config.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    // Errors make the configuration unusable (`serve` refuses it too);
                    // warnings (printed when it loads) do not.
                    for line in &e.0 {
                        eprintln!("error: {line}");
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
        cli::Command::Scan {
            config,
            jsonl,
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
                        provider: p,
                        user,
                        team,
                    })
                }
                _ => None,
            };
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
                let summary = scan::scan_jsonl_explained(
                    &cfg.detector,
                    explain.as_ref().filter(|_| show_why),
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
                write!(out, "{}", scan::explain_text(e, &findings))?;
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

fn audit_verify(
    files: &[std::path::PathBuf],
    checkpoint: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut texts = Vec::with_capacity(files.len());
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        texts.push((f.display().to_string(), text));
    }
    let inputs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    match paravent::audit::verify::verify(&inputs, checkpoint) {
        Ok(v) => {
            println!(
                "ok: {} records in {} chain start(s); checkpoint {}",
                v.records, v.chains, v.last_hash
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(bad) => {
            eprintln!("paravent: audit chain broken at {bad}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `paravent audit report`: reads the files, builds and renders the report. Exits 1
/// (after writing the report, which says so in a banner) when the chain does not verify.
fn audit_report(
    files: &[std::path::PathBuf],
    (format, lang): (cli::ReportFormat, cli::ReportLang),
    (from, to): (Option<&str>, Option<&str>),
    out: Option<&Path>,
    checkpoint: Option<&str>,
) -> anyhow::Result<ExitCode> {
    use paravent::audit::report;
    let range = report::TimeRange::parse(from, to)?;
    let mut texts = Vec::with_capacity(files.len());
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        texts.push((f.display().to_string(), text));
    }
    let inputs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let now = paravent::audit::rfc3339(std::time::SystemTime::now());
    let rep = report::build(&inputs, checkpoint, &range, &now);
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
fn reload(config: Option<&Path>, current: &paravent::server::Generation) {
    let old = current.load_full();
    let cfg = match load_for_serve(config) {
        Ok(cfg) => cfg,
        Err(e) => {
            old.metrics().reload(false);
            tracing::error!(error = %format!("{e:#}"), "Configuration reload refused; the running configuration stays.");
            return;
        }
    };
    if cfg.audit.path != old.config.audit.path || cfg.audit.fsync != old.config.audit.fsync {
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
    for w in &cfg.warnings {
        tracing::warn!(problem = %w, "Configuration warning.");
    }
    let version = cfg.version.clone();
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
        // Each applied reload is in the trail, with the version it brings.
        if let Err(e) = w.append_reload() {
            tracing::error!(error = %e, "The reload's audit record was not written.");
        }
    }
    current.store(std::sync::Arc::new(rt));
    old.metrics().reload(true);
    tracing::info!(version = %version, rules, "Configuration reloaded.");
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
    let addr = listen.unwrap_or(cfg.server.listen);
    let admin_addr = admin_listen.or(cfg.server.admin_listen);
    let audit = match &cfg.audit.path {
        Some(path) => {
            let instance = cfg
                .audit
                .instance_id
                .clone()
                .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
                .unwrap_or_else(|| format!("pid-{}", std::process::id()));
            let w = paravent::audit::writer::AuditWriter::open(
                path,
                &cfg.audit,
                instance,
                cfg.version.clone(),
            )
            .context("cannot start the audit trail")?;
            tracing::info!(
                file = %path.display(),
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
                reload(config.as_deref(), &current);
            }))
        };
        paravent::server::serve(listener, current, paravent::server::shutdown_signal()).await;
        reloader.abort();
        if let Some(task) = admin {
            task.abort();
        }
        if let Some(w) = &audit_at_shutdown {
            // The last checkpoint, to keep apart from the trail (docs/AUDIT.md).
            w.log_checkpoint("shutdown");
        }
        tracing::info!("Paravent stopped.");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
