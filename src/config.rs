//! Configuration: `RawConfig` (serde, strict) compiled into [`Config`] (validated, with
//! the compiled detector). Used by every command and, later, by hot reload.
//!
//! Unknown keys are errors (`deny_unknown_fields`): a typo must fail loudly rather than
//! quietly turn a safeguard off. Paths in the file are relative to the file itself.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::api::Api;
pub use crate::audit::energy::EnergyConfig;
use crate::detect::{Detector, RuleErrors, RuleSet, rules};

/// The configuration used when no `--config` is given.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../config/paravent.toml");

/// Where the default configuration says it comes from, in messages.
pub const DEFAULT_CONFIG_NAME: &str = "<builtin>/config/paravent.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    detect: DetectConfig,
    #[serde(default)]
    server: RawServerConfig,
    #[serde(default)]
    audit: AuditConfig,
    #[serde(default)]
    energy: EnergyConfig,
    #[serde(default)]
    providers: BTreeMap<Spanned<String>, RawProviderConfig>,
    #[serde(default)]
    keys: RawKeysConfig,
    #[serde(default)]
    limits: LimitsConfig,
    #[serde(default)]
    pseudonyms: RawPseudonymsConfig,
    #[serde(default)]
    policy: RawPolicyConfig,
    #[serde(default)]
    log: LogConfig,
}

/// `[log]`: how `serve` writes its log (never a value, a prompt or a key, either way).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

/// One line of text per event, or one JSON object per line (for log shippers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[detect]`: which rules the detector compiles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    /// Compile the shipped rule sets (embedded in the binary).
    pub builtin_rules: bool,
    /// More rule files or directories of `*.toml`, relative to the config file.
    pub rules: Vec<PathBuf>,
    /// Rule ids to turn off (`fr.siren`; `person` for the person-name heuristics).
    pub disable: Vec<String>,
}

impl Default for DetectConfig {
    fn default() -> DetectConfig {
        DetectConfig {
            builtin_rules: true,
            rules: Vec::new(),
            disable: Vec::new(),
        }
    }
}

/// A validated configuration and what it compiles to.
#[derive(Debug)]
pub struct Config {
    pub detect: DetectConfig,
    pub rule_set: RuleSet,
    pub detector: Arc<Detector>,
    pub server: ServerConfig,
    pub audit: AuditConfig,
    /// `[energy]`: the per-model table of the audit records' energy estimate.
    pub energy: EnergyConfig,
    /// Declared providers, by name (the first path segment that routes to them).
    pub providers: BTreeMap<String, ProviderConfig>,
    /// Issued virtual keys.
    pub keys: Vec<VirtualKey>,
    pub limits: LimitsConfig,
    pub pseudonyms: PseudonymsConfig,
    /// The directory of the config file (`None` for the embedded default): relative
    /// paths, and the generated pseudonym secret, live there.
    pub base_dir: Option<PathBuf>,
    /// BLAKE3 of the configuration text: the policy version in audit records.
    pub version: String,
    /// `[policy]` and the providers' ceilings, compiled.
    pub policy: crate::policy::Policy,
    /// `[log]`: the log's format.
    pub log: LogConfig,
    /// Problems that do not stop the configuration from working (a policy rule that
    /// can never match…): `check` prints them, `serve` logs them.
    pub warnings: Vec<String>,
}

/// Default address `serve` listens on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The admin address of the reference configuration (`/metrics`, `/healthz`, `/readyz`).
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// Default largest request body accepted, as received (compressed or not).
pub const DEFAULT_MAX_BODY_BYTES: u64 = 16 << 20;
/// Default largest request body once decompressed.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 32 << 20;
/// Default largest upstream JSON response read to re-identify it.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// Default largest number of distinct values pseudonymised in one request.
pub const DEFAULT_MAX_VAULT_ENTRIES: usize = 10_000;
/// Default time allowed to open an upstream connection.
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Default time allowed for the upstream's response headers.
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 600_000;
/// Default time to receive a request's head.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 30_000;
/// Default cap on requests in flight in one instance (streams included).
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1024;
/// Default longest silence of the provider in the middle of a stream.
pub const DEFAULT_STREAM_IDLE_TIMEOUT_MS: u64 = 300_000;
/// Default name of the generated pseudonym secret file, next to the config.
pub const DEFAULT_SECRET_FILE: &str = "paravent.secret";
/// Default environment variable holding the pseudonym secret.
pub const DEFAULT_SECRET_ENV: &str = "PARAVENT_SECRET";

/// `[server]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServerConfig {
    listen: Spanned<String>,
    default_provider: Option<Spanned<String>>,
    admin_listen: Option<Spanned<String>>,
}

impl Default for RawServerConfig {
    fn default() -> RawServerConfig {
        RawServerConfig {
            listen: Spanned::new(0..0, DEFAULT_LISTEN.to_owned()),
            default_provider: None,
            admin_listen: None,
        }
    }
}

/// `[server]`: where to listen and where `/v1/...` goes.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: std::net::SocketAddr,
    /// The provider `/v1/...` is routed to, if any.
    pub default_provider: Option<String>,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (never on `listen`); no
    /// admin listener when absent.
    pub admin_listen: Option<std::net::SocketAddr>,
}

/// `[audit]`: where the audit trail goes and how hard it is held to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The audit file (relative to the config file); no audit trail when absent.
    pub path: Option<PathBuf>,
    /// When a record reaches the disk: `always` (fsync each record) or `never` (the OS
    /// decides).
    pub fsync: FsyncPolicy,
    /// What a request gets when its record cannot be written: `refuse` (an error; the
    /// answer is not delivered) or `continue`.
    pub on_failure: OnFailure,
    /// This instance's name in the records (default: `$HOSTNAME`, else `pid-<pid>`).
    pub instance_id: Option<String>,
    /// Rotate the file once it holds this many bytes (no size rotation when absent).
    pub rotate_bytes: Option<u64>,
    /// Rotate the file when the UTC day changes (`daily`), or not (`never`).
    pub rotate: Rotate,
    /// Log the checkpoint (`Audit checkpoint.`) every this many records (0: only at
    /// start, rotation and shutdown).
    pub checkpoint_every: u64,
}

/// Default number of records between two logged checkpoints.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

impl Default for AuditConfig {
    fn default() -> AuditConfig {
        AuditConfig {
            path: None,
            fsync: FsyncPolicy::Always,
            on_failure: OnFailure::Refuse,
            instance_id: None,
            rotate_bytes: None,
            rotate: Rotate::Never,
            checkpoint_every: DEFAULT_CHECKPOINT_EVERY,
        }
    }
}

/// `[audit] rotate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rotate {
    Never,
    Daily,
}

/// `[audit] fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsyncPolicy {
    Always,
    Never,
}

/// `[audit] on_failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    Refuse,
    Continue,
}

/// How a provider's credentials reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// The client's own `Authorization` / `x-api-key` goes on unchanged.
    #[default]
    PassThrough,
    /// The client presents a virtual key (`pv-...`); the real key is injected.
    Virtual,
}

/// `[providers.<name>]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProviderConfig {
    base_url: Spanned<String>,
    api: Api,
    #[serde(default)]
    jurisdiction: Option<String>,
    #[serde(default)]
    auth: AuthMode,
    #[serde(default)]
    key_env: Option<Spanned<String>>,
    #[serde(default)]
    allow_media: bool,
    #[serde(default)]
    pass_through: Vec<Spanned<String>>,
    #[serde(default)]
    other_endpoints: Option<Spanned<String>>,
    #[serde(default)]
    hosting: Option<String>,
    #[serde(default)]
    retention: Option<String>,
    #[serde(default)]
    max_sensitivity: Option<Spanned<String>>,
    #[serde(default)]
    on_exceed: Option<Spanned<String>>,
    #[serde(default)]
    route_model: Option<String>,
}

/// One upstream provider, validated.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    /// `scheme://authority` plus an optional path prefix, never a trailing `/`.
    pub base_url: http::Uri,
    pub api: Api,
    pub jurisdiction: Option<String>,
    pub auth: AuthMode,
    /// The environment variable holding the real key (virtual-key mode).
    pub key_env: Option<String>,
    /// Let images, audio and files leave unscanned (the audit record says so).
    pub allow_media: bool,
    /// Paths (after the provider prefix) whose bodies are forwarded unscanned; an entry
    /// ending in `*` is a prefix.
    pub pass_through: Vec<String>,
    /// `other_endpoints = "scan"`: a JSON body sent to an endpoint outside the API's
    /// table is walked with nothing structural (every string, number and key scanned)
    /// instead of refused.
    pub scan_other_endpoints: bool,
    /// Who hosts it and where (free text, for the audit report).
    pub hosting: Option<String>,
    /// Its data-retention terms (free text, for the audit report).
    pub retention: Option<String>,
}

impl ProviderConfig {
    /// Is `path` (after the provider prefix, without query) listed as pass-through?
    pub fn is_pass_through(&self, path: &str) -> bool {
        self.pass_through.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == p,
        })
    }
}

/// `[keys]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKeysConfig {
    #[serde(rename = "virtual")]
    virtual_keys: Vec<RawVirtualKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVirtualKey {
    hash: Spanned<String>,
    user: String,
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    providers: Vec<Spanned<String>>,
}

/// An issued virtual key: the BLAKE3 hash of the key, and whom it stands for.
#[derive(Debug, Clone)]
pub struct VirtualKey {
    pub hash: [u8; 32],
    pub user: String,
    pub team: Option<String>,
    /// Providers the key may use; empty means all.
    pub providers: Vec<String>,
}

/// The BLAKE3 hash of a virtual key, as written in `[[keys.virtual]] hash`.
pub fn virtual_key_hash(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

/// `[limits]`: every buffer the proxy fills has a bound here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_body_bytes: u64,
    pub max_decompressed_bytes: u64,
    pub max_response_bytes: u64,
    pub max_vault_entries: usize,
    pub connect_timeout_ms: u64,
    pub upstream_timeout_ms: u64,
    /// Time a client has to send a request's head (HTTP/1): a connection that sends it
    /// slower is closed, so half-sent headers cannot hold connections open.
    pub header_read_timeout_ms: u64,
    /// Requests in flight at once in this instance (a stream until its end); beyond
    /// it, 503 with `Retry-After`. 0: no cap.
    pub max_concurrent_requests: usize,
    /// Requests a minute per principal (token bucket, per instance); 0: no limit.
    pub principal_requests_per_minute: u32,
    /// Requests a principal may send at once; absent: one minute's worth.
    pub principal_burst: Option<u32>,
    /// Requests a minute per team, all its principals together; 0: no limit.
    pub team_requests_per_minute: u32,
    /// Requests a team may send at once; absent: one minute's worth.
    pub team_burst: Option<u32>,
    /// Large bodies scanned at once (the scan pool); 0: one per core. Read at start.
    pub scan_threads: usize,
    /// A stream that receives nothing from the provider for this long is ended, with
    /// the provider's error event; 0: never.
    pub stream_idle_timeout_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_decompressed_bytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_vault_entries: DEFAULT_MAX_VAULT_ENTRIES,
            connect_timeout_ms: DEFAULT_CONNECT_TIMEOUT_MS,
            upstream_timeout_ms: DEFAULT_UPSTREAM_TIMEOUT_MS,
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            principal_requests_per_minute: 0,
            principal_burst: None,
            team_requests_per_minute: 0,
            team_burst: None,
            scan_threads: 0,
            stream_idle_timeout_ms: DEFAULT_STREAM_IDLE_TIMEOUT_MS,
        }
    }
}

/// Whose tokens are the same: everyone's, or each principal's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenScope {
    #[default]
    Deployment,
    Principal,
}

/// What a value is replaced with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenStyle {
    /// `[PERSON_7F3A2C]`.
    #[default]
    Token,
    /// A realistic stand-in where one is known (names, e-mails, IBANs, phones).
    Surrogate,
}

/// `[pseudonyms]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPseudonymsConfig {
    scope: TokenScope,
    style: TokenStyle,
    secret: Option<Spanned<String>>,
    secret_env: String,
    secret_file: PathBuf,
}

impl Default for RawPseudonymsConfig {
    fn default() -> RawPseudonymsConfig {
        RawPseudonymsConfig {
            scope: TokenScope::default(),
            style: TokenStyle::default(),
            secret: None,
            secret_env: DEFAULT_SECRET_ENV.to_owned(),
            secret_file: PathBuf::from(DEFAULT_SECRET_FILE),
        }
    }
}

/// `[pseudonyms]`, validated. The secret itself is resolved by `serve`
/// ([`crate::vault::load_or_create_secret`]).
#[derive(Debug, Clone)]
pub struct PseudonymsConfig {
    pub scope: TokenScope,
    pub style: TokenStyle,
    /// A secret written in the config (discouraged: prefer `secret_env`).
    pub secret: Option<String>,
    pub secret_env: String,
    /// Where the generated secret is kept, resolved against the config's directory.
    pub secret_file: PathBuf,
}

/// The smallest pseudonym secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// Every problem in a configuration and its rules.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for ConfigErrors {}

impl From<RuleErrors> for ConfigErrors {
    fn from(e: RuleErrors) -> ConfigErrors {
        ConfigErrors(e.0.iter().map(ToString::to_string).collect())
    }
}

impl Config {
    /// Loads a config file, or the embedded default when `path` is `None`.
    ///
    /// # Errors
    /// Every problem found in the file and in the rules it names, with file and line.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        match path {
            None => Config::from_toml(DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TOML, None),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ConfigErrors(vec![format!("{}: cannot read: {e}", p.display())])
                })?;
                let base = p.parent().map(Path::to_path_buf);
                Config::from_toml(&p.display().to_string(), &text, base.as_deref())
            }
        }
    }

    /// Parses and compiles a configuration; `base` is the directory relative paths are
    /// read from (`None` for the embedded default).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_toml(name: &str, text: &str, base: Option<&Path>) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| rules::line_of(text, s.start));
            let at = line.map_or_else(String::new, |l| format!(":{l}"));
            ConfigErrors(vec![format!("{name}{at}: {}", e.message())])
        })?;
        let mut errors = Vec::new();
        let at =
            |span: std::ops::Range<usize>| format!("{name}:{}", rules::line_of(text, span.start));
        let sections = compile_sections(&raw, &at, base, &mut errors);
        let detect = raw.detect.clone();
        let paths: Vec<PathBuf> = detect
            .rules
            .iter()
            .map(|p| match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p.clone(),
            })
            .collect();
        let mut rule_set = match RuleSet::load(detect.builtin_rules, &paths) {
            Ok(set) => set,
            Err(e) => {
                errors.extend(e.0.iter().map(ToString::to_string));
                return Err(ConfigErrors(errors));
            }
        };
        let known = rule_set.rule_ids();
        for id in &detect.disable {
            if !known.iter().any(|k| k == id) {
                errors.push(format!("{name}: [detect] disable names no rule {id:?}"));
            }
        }
        errors.extend(
            raw.energy
                .problems()
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
        if raw.audit.rotate_bytes == Some(0) {
            errors.push(format!("{name}: [audit] rotate_bytes must be > 0"));
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        rule_set.disable(&detect.disable);
        let detector = Detector::new(&rule_set)?;
        let mut warnings = Vec::new();
        let policy = compile_policy(&raw, &at, name, text, &detector, &mut errors, &mut warnings);
        // Relaxations of "nothing unscanned leaves" are the administrator's to make, and
        // `check` says so every time.
        for (pname, p) in &raw.providers {
            let name = pname.get_ref();
            if !p.pass_through.is_empty() {
                warnings.push(format!(
                    "{}: [providers.{name}] pass_through forwards {} path(s) unscanned (bodies, query and headers as sent)",
                    at(pname.span()),
                    p.pass_through.len()
                ));
            }
            if p.allow_media {
                warnings.push(format!(
                    "{}: [providers.{name}] allow_media lets images, audio, files and token ids leave unscanned",
                    at(pname.span())
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        // `sections` is `None` only when it pushed errors, which were returned above.
        let Some((server, providers, keys, pseudonyms)) = sections else {
            return Err(ConfigErrors(vec![format!("{name}: invalid configuration")]));
        };
        Ok(Config {
            detect,
            rule_set,
            detector: Arc::new(detector),
            server,
            audit: AuditConfig {
                path: raw.audit.path.as_ref().map(|p| match base {
                    Some(b) if p.is_relative() => b.join(p),
                    _ => p.clone(),
                }),
                ..raw.audit
            },
            energy: raw.energy,
            providers,
            keys,
            limits: raw.limits,
            pseudonyms,
            base_dir: base.map(Path::to_path_buf),
            // The config text only: rule files named by [detect] rules are not hashed
            // (the shipped ones change with the binary's version).
            version: crate::audit::policy_version(text),
            log: raw.log.clone(),
            policy,
            warnings,
        })
    }
}

type Sections = (
    ServerConfig,
    BTreeMap<String, ProviderConfig>,
    Vec<VirtualKey>,
    PseudonymsConfig,
);

/// Validates `[server]`, `[providers]`, `[keys]`, `[limits]` and `[pseudonyms]`,
/// pushing every problem (with its line) into `errors`.
fn compile_sections(
    raw: &RawConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    base: Option<&Path>,
    errors: &mut Vec<String>,
) -> Option<Sections> {
    let before = errors.len();
    let listen = match raw.server.listen.get_ref().parse() {
        Ok(a) => Some(a),
        Err(_) => {
            errors.push(format!(
                "{}: [server] listen must be an IP address and port, such as {DEFAULT_LISTEN:?}",
                at(raw.server.listen.span())
            ));
            None
        }
    };
    let admin_listen = compile_admin_listen(&raw.server, at, errors);
    let mut providers = BTreeMap::new();
    for (pname, p) in &raw.providers {
        let name = pname.get_ref();
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_name || name == "v1" || name == "healthz" {
            errors.push(format!(
                "{}: provider name {name:?} must be lower-case letters, digits, - or _, and not \"v1\" or \"healthz\"",
                at(pname.span())
            ));
        }
        let base_url = match parse_base_url(p.base_url.get_ref()) {
            Ok(u) => Some(u),
            Err(why) => {
                errors.push(format!(
                    "{}: [providers.{name}] base_url {why}",
                    at(p.base_url.span())
                ));
                None
            }
        };
        let key_env = p.key_env.as_ref().map(|k| k.get_ref().clone());
        if p.auth == AuthMode::Virtual && key_env.as_deref().is_none_or(str::is_empty) {
            errors.push(format!(
                "{}: [providers.{name}] auth = \"virtual\" needs key_env, the environment variable holding the real key",
                at(pname.span())
            ));
        }
        for pt in &p.pass_through {
            if !pt.get_ref().starts_with('/') {
                errors.push(format!(
                    "{}: [providers.{name}] pass_through paths start with /",
                    at(pt.span())
                ));
            }
        }
        let scan_other_endpoints = match &p.other_endpoints {
            None => false,
            Some(v) => match v.get_ref().as_str() {
                "refuse" => false,
                "scan" => true,
                other => {
                    errors.push(format!(
                        "{}: [providers.{name}] other_endpoints is \"refuse\" or \"scan\", not {other:?}",
                        at(v.span())
                    ));
                    false
                }
            },
        };
        if let Some(u) = base_url {
            providers.insert(
                name.clone(),
                ProviderConfig {
                    name: name.clone(),
                    base_url: u,
                    api: p.api,
                    jurisdiction: p.jurisdiction.clone(),
                    auth: p.auth,
                    key_env,
                    allow_media: p.allow_media,
                    pass_through: p.pass_through.iter().map(|s| s.get_ref().clone()).collect(),
                    scan_other_endpoints,
                    hosting: p.hosting.clone(),
                    retention: p.retention.clone(),
                },
            );
        }
    }
    let default_provider = raw.server.default_provider.as_ref().map(|d| {
        if !raw.providers.keys().any(|k| k.get_ref() == d.get_ref()) {
            errors.push(format!(
                "{}: [server] default_provider {:?} is not a declared provider",
                at(d.span()),
                d.get_ref()
            ));
        }
        d.get_ref().clone()
    });
    let mut keys = Vec::new();
    for k in &raw.keys.virtual_keys {
        let mut hash = [0u8; 32];
        let hex = k.hash.get_ref();
        if hex.len() != 64 || !decode_hex(hex, &mut hash) {
            errors.push(format!(
                "{}: [[keys.virtual]] hash must be 64 hex digits (`paravent key hash pv-...` prints it)",
                at(k.hash.span())
            ));
        }
        for p in &k.providers {
            if !raw.providers.keys().any(|n| n.get_ref() == p.get_ref()) {
                errors.push(format!(
                    "{}: [[keys.virtual]] providers names no declared provider {:?}",
                    at(p.span()),
                    p.get_ref()
                ));
            }
        }
        keys.push(VirtualKey {
            hash,
            user: k.user.clone(),
            team: k.team.clone(),
            providers: k.providers.iter().map(|p| p.get_ref().clone()).collect(),
        });
    }
    let l = &raw.limits;
    if l.max_body_bytes == 0 || l.max_decompressed_bytes == 0 || l.max_response_bytes == 0 {
        errors.push("[limits] sizes must be above 0".to_owned());
    }
    if l.principal_burst == Some(0) || l.team_burst == Some(0) {
        errors.push(
            "[limits] principal_burst and team_burst must be above 0 (leave them out for one minute's worth)"
                .to_owned(),
        );
    }
    let ps = &raw.pseudonyms;
    if let Some(s) = &ps.secret
        && s.get_ref().len() < MIN_SECRET_BYTES
    {
        errors.push(format!(
            "{}: [pseudonyms] secret must be at least {MIN_SECRET_BYTES} bytes",
            at(s.span())
        ));
    }
    let secret_file = match base {
        Some(b) if ps.secret_file.is_relative() => b.join(&ps.secret_file),
        _ => ps.secret_file.clone(),
    };
    let pseudonyms = PseudonymsConfig {
        scope: ps.scope,
        style: ps.style,
        secret: ps.secret.as_ref().map(|s| s.get_ref().clone()),
        secret_env: ps.secret_env.clone(),
        secret_file,
    };
    if errors.len() > before {
        return None;
    }
    Some((
        ServerConfig {
            listen: listen?,
            default_provider,
            admin_listen,
        },
        providers,
        keys,
        pseudonyms,
    ))
}

/// `[server] admin_listen`: an address and port that is not `listen`'s.
fn compile_admin_listen(
    server: &RawServerConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    errors: &mut Vec<String>,
) -> Option<std::net::SocketAddr> {
    let raw = server.admin_listen.as_ref()?;
    let Ok(addr) = raw.get_ref().parse::<std::net::SocketAddr>() else {
        errors.push(format!(
            "{}: [server] admin_listen must be an IP address and port, such as {DEFAULT_ADMIN_LISTEN:?}",
            at(raw.span())
        ));
        return None;
    };
    if server.listen.get_ref().parse::<std::net::SocketAddr>() == Ok(addr) && addr.port() != 0 {
        errors.push(format!(
            "{}: [server] admin_listen must differ from listen: the metrics are not served to the proxy's clients",
            at(raw.span())
        ));
        return None;
    }
    Some(addr)
}

/// `[policy]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPolicyConfig {
    default: Option<Spanned<String>>,
    rules: Vec<RawPolicyRule>,
}

/// One `[[policy.rules]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyRule {
    id: Spanned<String>,
    #[serde(default)]
    entity: Vec<Spanned<String>>,
    #[serde(default)]
    nature: Vec<Spanned<String>>,
    #[serde(default)]
    sensitivity: Vec<Spanned<String>>,
    #[serde(default)]
    min_sensitivity: Option<Spanned<String>>,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    teams: Vec<String>,
    #[serde(default)]
    providers: Vec<Spanned<String>>,
    action: Spanned<String>,
    #[serde(default)]
    route_to: Option<Spanned<String>>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Compiles `[policy]` and the providers' `max_sensitivity` / `on_exceed`, pushing
/// every problem (with its line) into `errors` and the policy lint's warnings into
/// `warnings`.
fn compile_policy(
    raw: &RawConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    name: &str,
    text: &str,
    detector: &Detector,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> crate::policy::Policy {
    use crate::detect::{Nature, Sensitivity};
    use crate::policy::{Action, Destination, Levels, OnExceed, Policy, Rule};
    let declared = |p: &str| raw.providers.keys().any(|k| k.get_ref() == p);
    let sensitivity = |s: &Spanned<String>, what: &str, errors: &mut Vec<String>| {
        let v = Sensitivity::parse(s.get_ref());
        if v.is_none() {
            errors.push(format!(
                "{}: {what} {:?} is not a sensitivity (one of: {})",
                at(s.span()),
                s.get_ref(),
                Sensitivity::NAMES.join(", ")
            ));
        }
        v
    };
    let mut providers = BTreeMap::new();
    for (pname, p) in &raw.providers {
        let pn = pname.get_ref();
        let max_sensitivity = p
            .max_sensitivity
            .as_ref()
            .and_then(|s| sensitivity(s, &format!("[providers.{pn}] max_sensitivity"), errors))
            .unwrap_or(Sensitivity::Secret);
        let on_exceed = match &p.on_exceed {
            None => OnExceed::Block,
            Some(s) => match s.get_ref().as_str() {
                "block" => OnExceed::Block,
                v => match v.strip_prefix("route:") {
                    Some(to) if declared(to) && to != pn.as_str() => OnExceed::Route(to.to_owned()),
                    Some(to) => {
                        errors.push(format!(
                            "{}: [providers.{pn}] on_exceed routes to {to:?}, which is {}",
                            at(s.span()),
                            if to == pn.as_str() {
                                "itself"
                            } else {
                                "not a declared provider"
                            }
                        ));
                        OnExceed::Block
                    }
                    None => {
                        errors.push(format!(
                            "{}: [providers.{pn}] on_exceed must be \"block\" or \"route:<provider>\"",
                            at(s.span())
                        ));
                        OnExceed::Block
                    }
                },
            },
        };
        providers.insert(
            pn.clone(),
            Destination {
                api: p.api,
                max_sensitivity,
                on_exceed,
                route_model: p.route_model.clone(),
            },
        );
    }
    // A route:<provider> to another API can never be followed.
    for (pn, d) in &providers {
        if let OnExceed::Route(to) = &d.on_exceed
            && let Some(t) = providers.get(to)
            && t.api != d.api
        {
            errors.push(format!(
                "{name}: [providers.{pn}] on_exceed routes to {to}, which speaks the {} API, not {}",
                t.api.as_str(),
                d.api.as_str()
            ));
        }
    }
    let default = match &raw.policy.default {
        None => Action::Pseudonymise,
        Some(s) => match Action::parse(s.get_ref()) {
            Some(a @ (Action::Pseudonymise | Action::Redact | Action::Allow | Action::Block)) => a,
            _ => {
                errors.push(format!(
                    "{}: [policy] default must be pseudonymise, redact, allow or block",
                    at(s.span())
                ));
                Action::Pseudonymise
            }
        },
    };
    let entities = detector.entities();
    let produced = detector.natures();
    let mut rules: Vec<Rule> = Vec::new();
    for r in &raw.policy.rules {
        // A rule with a problem is reported and left out, so that the lint below does
        // not reason about conditions that were not written that way.
        let before = errors.len();
        let id = r.id.get_ref();
        let here = at(r.id.span());
        let line = rules::line_of(text, r.id.span().start);
        if id.is_empty() {
            errors.push(format!("{here}: [[policy.rules]] id may not be empty"));
        }
        if id.starts_with("builtin.") || id.starts_with("provider.") {
            errors.push(format!(
                "{here}: [[policy.rules]] id {id:?} may not start with builtin. or provider. (reserved)"
            ));
        }
        if rules.iter().any(|o| &o.id == id) {
            errors.push(format!("{here}: [[policy.rules]] id {id:?} is used twice"));
        }
        let mut rule_entities = std::collections::BTreeSet::new();
        for e in &r.entity {
            if entities.contains(e.get_ref()) {
                rule_entities.insert(e.get_ref().clone());
            } else {
                errors.push(format!(
                    "{}: rule {id:?}: no detection rule produces entity {:?}, so this condition can never match (known: {})",
                    at(e.span()),
                    e.get_ref(),
                    entities.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let mut natures = std::collections::BTreeSet::new();
        for n in &r.nature {
            match Nature::parse(n.get_ref()) {
                Some(v) => {
                    if !produced.contains(&v) && v != Nature::Secret {
                        warnings.push(format!(
                            "{}: rule {id:?}: no detection rule gives nature {:?}, so this condition never matches until a rule file does",
                            at(n.span()),
                            n.get_ref()
                        ));
                    }
                    natures.insert(v);
                }
                None => errors.push(format!(
                    "{}: rule {id:?}: {:?} is not a nature (one of: {})",
                    at(n.span()),
                    n.get_ref(),
                    Nature::NAMES.join(", ")
                )),
            }
        }
        let mut levels = if r.sensitivity.is_empty() {
            Levels::ALL
        } else {
            let mut l = Levels::NONE;
            for s in &r.sensitivity {
                if let Some(v) = sensitivity(s, &format!("rule {id:?}: sensitivity"), errors) {
                    l = l.union(Levels::only(v));
                }
            }
            l
        };
        if let Some(m) = &r.min_sensitivity
            && let Some(v) = sensitivity(m, &format!("rule {id:?}: min_sensitivity"), errors)
        {
            levels = levels.intersect(Levels::at_least(v));
        }
        let mut rule_providers = std::collections::BTreeSet::new();
        for p in &r.providers {
            if declared(p.get_ref()) {
                rule_providers.insert(p.get_ref().clone());
            } else {
                errors.push(format!(
                    "{}: rule {id:?}: providers names {:?}, which is not a declared provider",
                    at(p.span()),
                    p.get_ref()
                ));
            }
        }
        let action = match Action::parse(r.action.get_ref()) {
            Some(a) => a,
            None => {
                errors.push(format!(
                    "{}: rule {id:?}: action must be pseudonymise, redact, allow, block or route",
                    at(r.action.span())
                ));
                Action::Block
            }
        };
        let route_to = match (&r.route_to, action) {
            (None, Action::Route) => {
                errors.push(format!(
                    "{here}: rule {id:?}: action = \"route\" needs route_to, a declared provider"
                ));
                None
            }
            (Some(t), Action::Route) => {
                let to = t.get_ref();
                if !declared(to) {
                    errors.push(format!(
                        "{}: rule {id:?}: route_to {to:?} is not a declared provider",
                        at(t.span())
                    ));
                } else if rule_providers.len() == 1 && rule_providers.contains(to) {
                    errors.push(format!(
                        "{}: rule {id:?}: routes requests to {to} to {to} itself",
                        at(t.span())
                    ));
                }
                Some(to.clone())
            }
            (Some(t), _) => {
                errors.push(format!(
                    "{}: rule {id:?}: route_to is only for action = \"route\"",
                    at(t.span())
                ));
                None
            }
            (None, _) => None,
        };
        if r.model.is_some() && action != Action::Route {
            errors.push(format!(
                "{here}: rule {id:?}: model is only for action = \"route\""
            ));
        }
        if errors.len() > before {
            continue;
        }
        rules.push(Rule {
            id: id.clone(),
            line,
            entities: rule_entities,
            natures,
            levels,
            users: r.users.iter().cloned().collect(),
            teams: r.teams.iter().cloned().collect(),
            providers: rule_providers,
            action,
            route_to,
            model: r.model.clone(),
            message: r.message.clone(),
        });
    }
    let policy = Policy {
        default,
        rules,
        providers,
    };
    let users = raw
        .keys
        .virtual_keys
        .iter()
        .map(|k| k.user.clone())
        .collect();
    let teams = raw
        .keys
        .virtual_keys
        .iter()
        .filter_map(|k| k.team.clone())
        .collect();
    for (error, line, message) in policy.lint(&users, &teams) {
        let msg = if line > 0 {
            format!("{name}:{line}: {message}")
        } else {
            format!("{name}: {message}")
        };
        if error {
            errors.push(msg);
        } else {
            warnings.push(msg);
        }
    }
    policy
}

/// `http(s)://authority[/prefix]`, without query or fragment; the trailing `/` dropped.
fn parse_base_url(s: &str) -> Result<http::Uri, &'static str> {
    let uri: http::Uri = s
        .trim_end_matches('/')
        .parse()
        .map_err(|_| "is not a URL")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("must start with http:// or https://"),
    }
    if uri.authority().is_none() {
        return Err("has no host");
    }
    if uri.query().is_some() {
        return Err("may not have a query");
    }
    Ok(uri)
}

fn decode_hex(hex: &str, out: &mut [u8]) -> bool {
    if hex.len() != out.len() * 2 {
        return false;
    }
    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
        let Ok(s) = std::str::from_utf8(pair) else {
            return false;
        };
        match u8::from_str_radix(s, 16) {
            Ok(b) => out[i] = b,
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod proxy_sections_tests {
    use super::*;

    fn errors(toml: &str) -> Vec<String> {
        match Config::from_toml("t.toml", toml, None) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    #[test]
    fn the_embedded_default_declares_the_public_providers() {
        let cfg = Config::load(None).unwrap();
        for p in ["openai", "anthropic", "mistral", "gemini", "ollama"] {
            assert!(cfg.providers.contains_key(p), "{p}");
        }
        assert_eq!(cfg.server.default_provider.as_deref(), Some("openai"));
        assert_eq!(cfg.server.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(
            cfg.providers["ollama"].base_url.to_string(),
            "http://127.0.0.1:11434/"
        );
    }

    #[test]
    fn the_embedded_default_declares_each_providers_terms_and_ceiling() {
        use crate::detect::Sensitivity;
        use crate::policy::{Action, OnExceed};
        let cfg = Config::load(None).unwrap();
        for p in cfg.providers.values() {
            assert!(p.hosting.is_some() && p.retention.is_some(), "{}", p.name);
            assert!(p.jurisdiction.is_some(), "{}", p.name);
        }
        let d = &cfg.policy.providers;
        assert_eq!(d["openai"].max_sensitivity, Sensitivity::Confidential);
        assert_eq!(d["openai"].on_exceed, OnExceed::Block);
        assert_eq!(d["mistral"].max_sensitivity, Sensitivity::Secret);
        assert_eq!(cfg.providers["local"].api, Api::Openai);
        assert_eq!(cfg.policy.default, Action::Pseudonymise);
        assert!(cfg.policy.rules.is_empty());
        assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    }

    #[test]
    fn policy_rules_compile_with_their_conditions() {
        let cfg = Config::from_toml(
            "t.toml",
            "[providers.a]\nbase_url = \"http://x\"\napi = \"openai\"\n\n[providers.b]\nbase_url = \"http://y\"\napi = \"openai\"\nmax_sensitivity = \"internal\"\non_exceed = \"route:a\"\n\n[[policy.rules]]\nid = \"r\"\nentity = [\"EMAIL\"]\nnature = [\"personal\"]\nmin_sensitivity = \"confidential\"\nusers = [\"u\"]\nproviders = [\"b\"]\naction = \"route\"\nroute_to = \"a\"\nmodel = \"m\"\n",
            None,
        )
        .unwrap();
        let r = &cfg.policy.rules[0];
        assert_eq!(r.line, 12);
        assert!(r.entities.contains("EMAIL"));
        assert!(!r.levels.contains(crate::detect::Sensitivity::Internal));
        assert_eq!(r.route_to.as_deref(), Some("a"));
        assert_eq!(r.model.as_deref(), Some("m"));
        assert_eq!(
            cfg.policy.providers["b"].on_exceed,
            crate::policy::OnExceed::Route("a".into())
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let e = errors(
            "[server]\nlisten = \"nowhere\"\ndefault_provider = \"ghost\"\n\n[providers.x]\nbase_url = \"ftp://a\"\napi = \"openai\"\nauth = \"virtual\"\n\n[[keys.virtual]]\nhash = \"abc\"\nuser = \"u\"\n",
        );
        assert_eq!(e.len(), 5, "{e:#?}");
        assert!(e[0].starts_with("t.toml:2:"), "{}", e[0]);
        assert!(
            e.iter()
                .any(|m| m.starts_with("t.toml:3:") && m.contains("ghost"))
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("t.toml:6:") && m.contains("http"))
        );
        assert!(e.iter().any(|m| m.contains("key_env")));
        assert!(
            e.iter()
                .any(|m| m.starts_with("t.toml:11:") && m.contains("64 hex"))
        );
    }

    #[test]
    fn unknown_keys_and_apis_are_errors_with_lines() {
        let e =
            errors("[providers.a]\nbase_url = \"http://x\"\napi = \"openai\"\nalow_media = true\n");
        assert!(e[0].starts_with("t.toml:4:"), "{e:?}");
        let e = errors("[providers.a]\nbase_url = \"http://x\"\napi = \"cohere\"\n");
        assert!(e[0].starts_with("t.toml:3:"), "{e:?}");
        let e = errors("[limits]\nmax_body_bytes = 1\nmax_bodies = 2\n");
        assert!(e[0].starts_with("t.toml:3:"), "{e:?}");
        let e = errors("[pseudonyms]\nsecret = \"short\"\n");
        assert!(e[0].starts_with("t.toml:2:"), "{e:?}");
    }

    #[test]
    fn pass_through_paths_match_exactly_or_by_prefix() {
        let cfg = Config::from_toml(
            "t.toml",
            "[providers.a]\nbase_url = \"http://x\"\napi = \"openai\"\npass_through = [\"/v1/audio/*\", \"/v1/files\"]\n",
            None,
        )
        .unwrap();
        let p = &cfg.providers["a"];
        assert!(p.is_pass_through("/v1/audio/speech"));
        assert!(p.is_pass_through("/v1/files"));
        assert!(!p.is_pass_through("/v1/files/x"));
        assert!(!p.is_pass_through("/v1/chat/completions"));
    }

    #[test]
    fn the_admin_listener_is_optional_and_apart_from_the_proxy_listener() {
        let cfg = Config::load(None).unwrap();
        assert_eq!(
            cfg.server.admin_listen.map(|a| a.to_string()).as_deref(),
            Some(DEFAULT_ADMIN_LISTEN)
        );
        let cfg =
            Config::from_toml("t.toml", "[server]\nlisten = \"127.0.0.1:1\"\n", None).unwrap();
        assert_eq!(cfg.server.admin_listen, None);
        let e = errors("[server]\nlisten = \"127.0.0.1:8080\"\nadmin_listen = \"metrics\"\n");
        assert!(
            e.len() == 1 && e[0].starts_with("t.toml:3:") && e[0].contains("admin_listen"),
            "{e:?}"
        );
        let e = errors("[server]\nadmin_listen = \"127.0.0.1:8080\"\n");
        assert!(
            e.len() == 1 && e[0].starts_with("t.toml:2:") && e[0].contains("differ"),
            "{e:?}"
        );
    }
}
