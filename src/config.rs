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
    detect: RawDetectConfig,
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
    #[serde(default)]
    identity: Option<RawIdentityConfig>,
    #[serde(default)]
    allow: AllowConfig,
    #[serde(default)]
    teams: BTreeMap<Spanned<String>, TeamConfig>,
    /// `[assistants.<name>]`: assistant profiles (crate::governance).
    #[serde(default)]
    assistants: BTreeMap<Spanned<String>, crate::governance::RawAssistant>,
    /// The entries [`parse_raw`] took out after reporting them (`providers.acme`): a
    /// provider dropped for its own mistake still counts as declared, so that the
    /// places naming it do not each report it again.
    #[serde(skip)]
    dropped: Vec<String>,
}

impl RawConfig {
    /// Is `name` a provider of this file (possibly dropped for a mistake reported)?
    fn declares(&self, name: &str) -> bool {
        self.providers.keys().any(|k| k.get_ref() == name)
            || self
                .dropped
                .iter()
                .any(|d| d.strip_prefix("providers.") == Some(name))
    }
}

/// `[identity]` as written: principals from an authenticating proxy's headers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentityConfig {
    /// Addresses (CIDRs) whose identity headers are believed.
    trusted_proxies: Vec<Spanned<String>>,
    #[serde(default)]
    user_header: Option<Spanned<String>>,
    /// `""` to read no groups.
    #[serde(default)]
    groups_header: Option<Spanned<String>>,
    /// A CSV file of people and their teams, relative to the config file.
    #[serde(default)]
    directory: Option<Spanned<PathBuf>>,
    /// Refuse a request that does not come from a trusted proxy with a principal.
    #[serde(default)]
    required: bool,
}

/// An allow list as written (`[allow]`, `[teams.<name>.allow]`): exact values and
/// patterns for any entity type, and the same per entity type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllowConfig {
    pub values: Vec<Spanned<String>>,
    pub patterns: Vec<Spanned<String>>,
    pub entities: BTreeMap<Spanned<String>, AllowEntries>,
}

/// One entity type's entries of an allow list (`[allow.entities.FR_SIREN]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllowEntries {
    pub values: Vec<Spanned<String>>,
    pub patterns: Vec<Spanned<String>>,
}

/// Whether the policy's decisions are carried out (`enforce`, the default) or only
/// recorded (`observe`: the request is forwarded as the client sent it, and its audit
/// record says what enforcement would have done). docs/OPERATIONS.md, "Observe first".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Enforce,
    Observe,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Observe => "observe",
        }
    }
}

/// `[teams.<name>]`: settings of one team (its principals come from virtual keys, the
/// directory or the groups header).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeamConfig {
    /// The team's mode; absent: the provider's, else `[policy] mode`.
    pub mode: Option<Mode>,
    /// Values the team sends as they are, besides the global `[allow]` list.
    pub allow: AllowConfig,
}

/// Where observe mode applies: `[policy] mode`, then `[providers.<p>] mode`, then
/// `[teams.<t>] mode`, the most specific that is set winning.
#[derive(Debug, Clone, Default)]
pub struct Modes {
    /// `[policy] mode`.
    pub all: Mode,
    /// `[providers.<p>] mode`, where set.
    pub providers: BTreeMap<String, Mode>,
    /// `[teams.<t>] mode`, where set.
    pub teams: BTreeMap<String, Mode>,
}

impl Modes {
    /// The mode of a request to `provider` (the one the client asked for) by a member
    /// of `team`: the team's, else the provider's, else `[policy] mode`.
    ///
    /// ```
    /// use paravent::config::{Mode, Modes};
    /// let mut m = Modes::default();
    /// m.providers.insert("openai".into(), Mode::Observe);
    /// m.teams.insert("rh".into(), Mode::Enforce);
    /// assert_eq!(m.of("openai", None), Mode::Observe);
    /// assert_eq!(m.of("openai", Some("rh")), Mode::Enforce);
    /// assert_eq!(m.of("mistral", Some("sales")), Mode::Enforce);
    /// ```
    pub fn of(&self, provider: &str, team: Option<&str>) -> Mode {
        team.and_then(|t| self.teams.get(t))
            .or_else(|| self.providers.get(provider))
            .copied()
            .unwrap_or(self.all)
    }

    /// Whether any request can be in observe mode.
    pub fn any_observe(&self) -> bool {
        self.all == Mode::Observe
            || self.providers.values().any(|m| *m == Mode::Observe)
            || self.teams.values().any(|m| *m == Mode::Observe)
    }
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

/// `[detect]` as written: `disable` keeps each id's place, for its line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDetectConfig {
    builtin_rules: bool,
    rules: Vec<PathBuf>,
    disable: Vec<Spanned<String>>,
}

impl Default for RawDetectConfig {
    fn default() -> RawDetectConfig {
        let d = DetectConfig::default();
        RawDetectConfig {
            builtin_rules: d.builtin_rules,
            rules: d.rules,
            disable: Vec::new(),
        }
    }
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
    /// The policy version in audit records: BLAKE3 of the configuration text and of
    /// every file in [`Config::inputs`] ([`version_of`]).
    pub version: String,
    /// The files this configuration was read from besides its own text (rule files,
    /// the directories holding them, the lists and dictionaries they name): a change to
    /// any of them, or to the config file, reloads `serve` (`[server]
    /// watch_interval_ms`).
    pub inputs: Vec<PathBuf>,
    /// `[policy]` and the providers' ceilings, compiled.
    pub policy: crate::policy::Policy,
    /// `[log]`: the log's format.
    pub log: LogConfig,
    /// Enforce or observe, for all, per provider and per team.
    pub modes: Modes,
    /// `[teams.<name>]`, by team name.
    pub teams: BTreeMap<String, TeamConfig>,
    /// Problems that do not stop the configuration from working (a policy rule that
    /// can never match…): `check` prints them, `serve` logs them.
    pub warnings: Vec<String>,
    /// `[identity]`: principals from a trusted proxy's headers, when configured.
    pub identity: Option<crate::identity::IdentityConfig>,
    /// The directory file's people and teams (empty without one).
    pub directory: crate::identity::Directory,
    /// Every team a principal can be in: `[teams]` tables, the directory's teams and
    /// the virtual keys' (a group names a team only if it is one of these).
    pub known_teams: std::collections::BTreeSet<String>,
    /// `[allow]` and each team's allow list, compiled.
    pub allow: crate::policy::allow::AllowLists,
    /// `[assistants.<name>]`: the assistant profiles, by name.
    pub assistants: BTreeMap<String, crate::governance::Assistant>,
    /// `[policy.risk]`: the residual re-identification risk's threshold and action.
    pub risk: crate::risk::RiskPolicy,
    /// `[policy.answers] leaks`: record or redact personal data in answers that was
    /// not in the request.
    pub answer_leaks: crate::risk::leaks::LeakAction,
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
/// Default interval between two looks at the configuration's files.
pub const DEFAULT_WATCH_INTERVAL_MS: u64 = 2_000;
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
    watch_interval_ms: u64,
    plaintext: bool,
    tls: Option<RawTlsConfig>,
}

/// `[server.tls]` as written: paths relative to the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTlsConfig {
    cert: Spanned<PathBuf>,
    key: Spanned<PathBuf>,
    #[serde(default)]
    client_ca: Option<Spanned<PathBuf>>,
    #[serde(default)]
    client_auth: Option<Spanned<crate::tls::ClientAuth>>,
}

impl Default for RawServerConfig {
    fn default() -> RawServerConfig {
        RawServerConfig {
            listen: Spanned::new(0..0, DEFAULT_LISTEN.to_owned()),
            default_provider: None,
            admin_listen: None,
            watch_interval_ms: DEFAULT_WATCH_INTERVAL_MS,
            plaintext: false,
            tls: None,
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
    /// How often `serve` looks for changes to the config file and its
    /// [`Config::inputs`] (0: never; reload with SIGHUP).
    pub watch_interval_ms: u64,
    /// `plaintext = true`: cleartext on a non-loopback address is intended (a proxy in
    /// front terminates TLS); without it `serve` refuses such an address unless
    /// `[server.tls]` is set ([`ServerConfig::plaintext_refusal`]).
    pub plaintext: bool,
    /// `[server.tls]`, compiled: the listener speaks TLS (h2 and http/1.1 by ALPN).
    pub tls: Option<crate::tls::Tls>,
}

impl ServerConfig {
    /// Why `serve` must not listen on `addr` (the configured one or `--listen`) with
    /// this configuration: cleartext on a non-loopback address, not declared intended.
    pub fn plaintext_refusal(&self, addr: std::net::SocketAddr) -> Option<String> {
        crate::tls::plaintext_refusal(addr, self.tls.is_some(), self.plaintext)
    }
}

/// `[audit]`: where the audit trail goes and how hard it is held to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The audit file (relative to the config file; `{instance}` is replaced by the
    /// instance id); no audit trail when absent.
    pub path: Option<PathBuf>,
    /// When a record reaches the disk: `always` (fsync each record) or `never` (the OS
    /// decides).
    pub fsync: FsyncPolicy,
    /// What a request gets when its record cannot be written: `refuse` (an error; the
    /// answer is not delivered) or `continue`.
    pub on_failure: OnFailure,
    /// This instance's name in the records and in `{instance}` of `path` (default:
    /// `$HOSTNAME`, else the host name, else `pid-<pid>`).
    pub instance_id: Option<String>,
    /// Rotate the file once it holds this many bytes (no size rotation when absent).
    pub rotate_bytes: Option<u64>,
    /// Rotate the file when the UTC day changes (`daily`), or not (`never`).
    pub rotate: Rotate,
    /// Log the checkpoint (`Audit checkpoint.`) every this many records (0: only at
    /// start, rotation and shutdown).
    pub checkpoint_every: u64,
    /// `[audit.signing]`: signed checkpoints in the trail; none when absent.
    pub signing: Option<SigningConfig>,
    /// The governance in force (providers' terms and settings, assistant profiles),
    /// built from the rest of the configuration: written in the trail's `chain-start`,
    /// `file-start` and `reload` records. Not a key of `[audit]`.
    #[serde(skip)]
    pub governance: Option<crate::audit::Governance>,
}

/// `[audit.signing]`: the Ed25519 key that signs the trail's checkpoints (held apart
/// from the deployment secret: `paravent audit keygen` makes it) and how often.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    /// The signer key file (`PRIVATE+KEY+…`, relative to the config file).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Or the environment variable that holds the signer key text.
    #[serde(default)]
    pub key_env: Option<String>,
    /// The key's name (the checkpoints' origin prefix): when set, the key must bear it.
    #[serde(default)]
    pub name: Option<String>,
    /// A checkpoint once this many records were written since the last (0: no count).
    #[serde(default = "default_interval_records")]
    pub interval_records: u64,
    /// A checkpoint once this many seconds passed with records unsigned (0: no timer).
    #[serde(default = "default_interval_seconds")]
    pub interval_seconds: u64,
}

/// Default number of records between two signed checkpoints.
pub const DEFAULT_SIGNING_INTERVAL_RECORDS: u64 = 1000;
/// Default longest time, in seconds, records stay unsigned.
pub const DEFAULT_SIGNING_INTERVAL_SECONDS: u64 = 300;

fn default_interval_records() -> u64 {
    DEFAULT_SIGNING_INTERVAL_RECORDS
}

fn default_interval_seconds() -> u64 {
    DEFAULT_SIGNING_INTERVAL_SECONDS
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
            signing: None,
            governance: None,
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
    #[serde(default)]
    mode: Option<Mode>,
    /// `[providers.<name>.terms]`: its declared data terms.
    #[serde(default)]
    terms: Option<crate::governance::Terms>,
    /// `[providers.<name>.settings]`: what Paravent enforces on every request to it.
    #[serde(default)]
    settings: Option<crate::governance::Settings>,
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
    /// Its declared data terms (`[providers.<name>.terms]`).
    pub terms: crate::governance::Terms,
    /// The settings enforced on every request to it (`[providers.<name>.settings]`).
    pub settings: crate::governance::Settings,
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
    /// The assistant profile every request with this key uses.
    #[serde(default)]
    assistant: Option<Spanned<String>>,
}

/// An issued virtual key: the BLAKE3 hash of the key, and whom it stands for.
#[derive(Debug, Clone)]
pub struct VirtualKey {
    pub hash: [u8; 32],
    pub user: String,
    pub team: Option<String>,
    /// Providers the key may use; empty means all.
    pub providers: Vec<String>,
    /// The assistant profile bound to the key (`[assistants.<name>]`).
    pub assistant: Option<String>,
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
        // Every check below runs even when an earlier one failed, so that one run lists
        // every problem (STYLE.md habit 3); only a TOML syntax error stops at once.
        let mut errors = Vec::new();
        let Some(raw) = parse_raw(name, text, &mut errors) else {
            return Err(ConfigErrors(errors));
        };
        let at =
            |span: std::ops::Range<usize>| format!("{name}:{}", rules::line_of(text, span.start));
        let mut warnings = Vec::new();
        let sections = compile_sections(&raw, &at, base, &mut errors);
        let tls = compile_tls(&raw.server, &at, base, &mut errors, &mut warnings);
        let detect = DetectConfig {
            builtin_rules: raw.detect.builtin_rules,
            rules: raw.detect.rules.clone(),
            disable: raw
                .detect
                .disable
                .iter()
                .map(|d| d.get_ref().clone())
                .collect(),
        };
        let paths: Vec<PathBuf> = detect
            .rules
            .iter()
            .map(|p| match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p.clone(),
            })
            .collect();
        // Rule files that fail to load leave the shipped rules, so that `disable` and
        // the policy are still checked (against what is known).
        let (mut rule_set, rules_complete) = match RuleSet::load(detect.builtin_rules, &paths) {
            Ok(set) => (set, true),
            Err(e) => {
                errors.extend(e.0.iter().map(ToString::to_string));
                let fallback = RuleSet::load(detect.builtin_rules, &[])?;
                (fallback, false)
            }
        };
        let known = rule_set.rule_ids();
        for id in &raw.detect.disable {
            if rules_complete && !known.iter().any(|k| k == id.get_ref()) {
                errors.push(format!(
                    "{}: [detect] disable names no rule {:?}",
                    at(id.span()),
                    id.get_ref()
                ));
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
        if let Some(sg) = &raw.audit.signing {
            if sg.key_file.is_some() == sg.key_env.is_some() {
                errors.push(format!(
                    "{name}: [audit.signing] needs one of key_file and key_env (`paravent audit keygen` makes the key)"
                ));
            }
            if let Some(n) = &sg.name
                && let Err(e) = crate::audit::checkpoint::check_name(n)
            {
                errors.push(format!("{name}: [audit.signing] name: {e}"));
            }
            if sg.interval_records == 0 && sg.interval_seconds == 0 {
                warnings.push(format!(
                    "{name}: [audit.signing] interval_records and interval_seconds are both 0: the trail is signed only at a graceful stop"
                ));
            }
        }
        rule_set.disable(&detect.disable);
        let detector = match Detector::new(&rule_set) {
            Ok(d) => Some(d),
            Err(e) => {
                errors.extend(e.0.iter().map(ToString::to_string));
                None
            }
        };
        let mut inputs: Vec<PathBuf> = paths.iter().filter(|p| p.is_dir()).cloned().collect();
        inputs.extend(rule_set.files_read());
        // Without the complete detector, the conditions naming entities cannot be
        // checked: they are skipped rather than reported falsely.
        let complete = detector.as_ref().filter(|_| rules_complete);
        let (identity, directory) = compile_identity(&raw, &at, base, &mut errors);
        let policy = compile_policy(&raw, &at, name, text, complete, &mut errors, &mut warnings);
        let (risk, answer_leaks) = compile_risk(&raw.policy, &at, &mut errors);
        let mut users: std::collections::BTreeSet<String> = raw
            .keys
            .virtual_keys
            .iter()
            .map(|k| k.user.clone())
            .collect();
        users.extend(directory.users().map(str::to_owned));
        if identity.is_some() {
            // The proxy in front may name anyone: a user condition is not a typo then.
            users.extend(policy.rules.iter().flat_map(|r| r.users.iter().cloned()));
        }
        let mut known_teams: std::collections::BTreeSet<String> = raw
            .keys
            .virtual_keys
            .iter()
            .filter_map(|k| k.team.clone())
            .collect();
        known_teams.extend(directory.teams());
        known_teams.extend(raw.teams.keys().map(|t| t.get_ref().clone()));
        for (error, line, message) in policy.lint(&users, &known_teams) {
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
        let allow = match complete {
            Some(d) => compile_allow(&raw, &at, d, &mut errors),
            None => crate::policy::allow::AllowLists::default(),
        };
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
        let modes = compile_modes(&raw, &at, &mut warnings);
        let jurisdictions = raw
            .providers
            .iter()
            .map(|(k, p)| (k.get_ref().clone(), p.jurisdiction.clone()))
            .collect();
        let assistants = crate::governance::compile_assistants(
            &raw.assistants,
            &jurisdictions,
            &policy,
            &at,
            &mut errors,
            &mut warnings,
        );
        if !errors.is_empty() {
            return Err(ConfigErrors(errors));
        }
        // `sections` and `detector` are `None` only when they pushed errors, which were
        // returned above.
        let (Some((mut server, providers, keys, pseudonyms)), Some(detector)) =
            (sections, detector)
        else {
            return Err(ConfigErrors(vec![format!("{name}: invalid configuration")]));
        };
        // C5: a provider whose data terms are not declared is used without knowing
        // them; `check` says which keys are missing (a warning: the company must look
        // them up in its contract).
        for p in providers.values() {
            let missing = crate::governance::missing_terms(p);
            if !missing.is_empty() {
                let line = raw
                    .providers
                    .keys()
                    .find(|k| k.get_ref() == &p.name)
                    .map_or_else(|| name.to_owned(), |k| at(k.span()));
                warnings.push(format!(
                    "{line}: [providers.{}] declares no {} in its terms ([providers.{}.terms]; docs/OPERATIONS.md, \"Provider terms and settings\")",
                    p.name,
                    missing.join(", "),
                    p.name
                ));
            }
        }
        let governance = crate::governance::audit_governance(&providers, &assistants);
        inputs.extend(identity.as_ref().and_then(|i| i.directory_path.clone()));
        inputs.sort();
        inputs.dedup();
        server.tls = tls;
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
                signing: raw.audit.signing.as_ref().map(|sg| SigningConfig {
                    key_file: sg.key_file.as_ref().map(|p| match base {
                        Some(b) if p.is_relative() => b.join(p),
                        _ => p.clone(),
                    }),
                    ..sg.clone()
                }),
                governance: Some(governance),
                ..raw.audit
            },
            energy: raw.energy,
            providers,
            keys,
            limits: raw.limits,
            pseudonyms,
            base_dir: base.map(Path::to_path_buf),
            // The shipped rules are not hashed: they change with the binary's version.
            version: version_of(text, &inputs),
            inputs,
            log: raw.log.clone(),
            policy,
            modes,
            teams: raw
                .teams
                .iter()
                .map(|(k, v)| (k.get_ref().clone(), v.clone()))
                .collect(),
            warnings,
            identity,
            directory,
            known_teams,
            allow,
            assistants,
            risk,
            answer_leaks,
        })
    }

    /// The files besides the configuration itself that this generation read and that
    /// a reload re-reads: the `[server.tls]` certificate, key and client CAs.
    pub fn tls_files(&self) -> Vec<PathBuf> {
        self.server
            .tls
            .as_ref()
            .map(|t| t.files.paths())
            .unwrap_or_default()
    }
}

/// The most problems one run of `parse_raw` reports before it gives up.
pub const MAX_REPORTED_PARSE_ERRORS: usize = 100;

/// Deserializes the configuration, reporting every entry serde refuses (unknown key,
/// wrong type, unknown value) with its line: each refused entry is reported, taken out
/// of the parsed document, and the rest deserialized again, so one typo does not hide
/// the next. A TOML syntax error stops at once (the document cannot be read past it).
fn parse_raw(name: &str, text: &str, errors: &mut Vec<String>) -> Option<RawConfig> {
    let located = |e: &toml::de::Error, path: Option<&str>| {
        let line = e.span().map(|s| rules::line_of(text, s.start));
        let at = line.map_or_else(String::new, |l| format!(":{l}"));
        let what = path.map_or_else(String::new, |p| format!("{p}: "));
        format!("{name}{at}: {what}{}", e.message().trim_end())
    };
    let mut doc = match toml::de::DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            errors.push(located(&e, None));
            return None;
        }
    };
    // (line, message) of each refused entry, sorted by line at the end.
    let mut found: Vec<(usize, String)> = Vec::new();
    let mut removed: Vec<String> = Vec::new();
    let mut raw = None;
    for _ in 0..MAX_REPORTED_PARSE_ERRORS {
        match RawConfig::deserialize(toml::de::Deserializer::from(doc.clone())) {
            Ok(r) => {
                raw = Some(r);
                break;
            }
            Err(e) => {
                let line = e.span().map_or(0, |s| rules::line_of(text, s.start));
                let Some(path) = e
                    .span()
                    .and_then(|s| remove_entry_at(doc.get_mut(), s.start))
                else {
                    found.push((line, located(&e, None)));
                    break;
                };
                // A table missing the very key taken out for a bad value was reported
                // already (`api = "cohere"`, then "missing field `api`").
                let echo = e.message().starts_with("missing field")
                    && removed.iter().any(|r| r.starts_with(&format!("{path}.")));
                if !echo {
                    found.push((line, located(&e, Some(&path))));
                }
                removed.push(path);
            }
        }
    }
    found.sort_by_key(|(line, _)| *line);
    errors.extend(found.into_iter().map(|(_, m)| m));
    raw.map(|r| RawConfig {
        dropped: removed,
        ..r
    })
}

/// Removes the innermost entry (key and value, or array element) of `table` whose key
/// or value holds byte `at`, and returns its dotted path (`audit.fsync`,
/// `policy.rules.action`); `None` when there is none.
fn remove_entry_at(table: &mut toml::de::DeTable<'_>, at: usize) -> Option<String> {
    use toml::de::DeValue;
    let mut found = None;
    for (key, value) in table.iter_mut() {
        let inner = match value.get_mut() {
            DeValue::Table(t) => remove_entry_at(t, at),
            DeValue::Array(items) => remove_item_at(items, at),
            _ => None,
        };
        if let Some(inner) = inner {
            let sep = if inner.is_empty() { "" } else { "." };
            return Some(format!("{}{sep}{inner}", key.get_ref()));
        }
        if found.is_none() && (key.span().contains(&at) || value.span().contains(&at)) {
            found = Some(key.clone());
        }
    }
    let key = found?;
    table.remove(&key)?;
    Some(key.get_ref().to_string())
}

fn remove_item_at(items: &mut toml::de::DeArray<'_>, at: usize) -> Option<String> {
    use toml::de::DeValue;
    let mut found = None;
    for (i, item) in items.iter_mut().enumerate() {
        let inner = match item.get_mut() {
            DeValue::Table(t) => remove_entry_at(t, at),
            DeValue::Array(a) => remove_item_at(a, at),
            _ => None,
        };
        if inner.is_some() {
            return inner;
        }
        if found.is_none() && item.span().contains(&at) {
            found = Some(i);
        }
    }
    let i = found?;
    // DeArray has no `remove`: rebuilt without the element.
    let mut rest = toml::de::DeArray::new();
    for (j, item) in items.iter().enumerate() {
        if j != i {
            rest.push(item.clone());
        }
    }
    *items = rest;
    // Elements are not numbered: the numbers shift as elements are taken out, and the
    // message carries the line.
    Some(String::new())
}

/// Compiles `[server.tls]`: the rustls configuration, or every problem of its files
/// on the line of the key naming them.
fn compile_tls(
    server: &RawServerConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    base: Option<&Path>,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<crate::tls::Tls> {
    let raw = server.tls.as_ref()?;
    let resolve = |p: &Spanned<PathBuf>| match base {
        Some(b) if p.get_ref().is_relative() => b.join(p.get_ref()),
        _ => p.get_ref().clone(),
    };
    if let (Some(a), None) = (&raw.client_auth, &raw.client_ca) {
        errors.push(format!(
            "{}: [server.tls] client_auth needs client_ca, the CA certificates (PEM) that sign client certificates",
            at(a.span())
        ));
        return None;
    }
    let files = crate::tls::TlsFiles {
        cert: resolve(&raw.cert),
        key: resolve(&raw.key),
        client_ca: raw.client_ca.as_ref().map(resolve),
        client_auth: raw
            .client_auth
            .as_ref()
            .map(|a| *a.get_ref())
            .unwrap_or_default(),
    };
    match crate::tls::load(&files, std::time::SystemTime::now()) {
        Ok((tls, w)) => {
            warnings.extend(w);
            Some(tls)
        }
        Err(problems) => {
            for p in problems {
                let span = match p.key {
                    "key" => raw.key.span(),
                    "client_ca" => raw.client_ca.as_ref().map_or(raw.cert.span(), |c| c.span()),
                    _ => raw.cert.span(),
                };
                errors.push(format!(
                    "{}: [server.tls] {} {}",
                    at(span),
                    p.key,
                    p.message
                ));
            }
            None
        }
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
        Ok(a) => {
            // The same refusal `serve` makes for `--listen`, here with its line.
            if let Some(why) =
                crate::tls::plaintext_refusal(a, raw.server.tls.is_some(), raw.server.plaintext)
            {
                errors.push(format!(
                    "{}: [server] listen: {why}",
                    at(raw.server.listen.span())
                ));
            }
            Some(a)
        }
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
        if let Some(settings) = &p.settings {
            for problem in settings.problems(p.api) {
                errors.push(format!(
                    "{}: [providers.{name}.settings] {problem}",
                    at(pname.span())
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
                    terms: p.terms.clone().unwrap_or_default(),
                    settings: p.settings.clone().unwrap_or_default(),
                },
            );
        }
    }
    let default_provider = raw.server.default_provider.as_ref().map(|d| {
        if !raw.declares(d.get_ref()) {
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
            if !raw.declares(p.get_ref()) {
                errors.push(format!(
                    "{}: [[keys.virtual]] providers names no declared provider {:?}",
                    at(p.span()),
                    p.get_ref()
                ));
            }
        }
        if let Some(a) = &k.assistant
            && !raw.assistants.keys().any(|n| n.get_ref() == a.get_ref())
        {
            errors.push(format!(
                "{}: [[keys.virtual]] assistant names no [assistants.{}]",
                at(a.span()),
                a.get_ref()
            ));
        }
        keys.push(VirtualKey {
            hash,
            user: k.user.clone(),
            team: k.team.clone(),
            providers: k.providers.iter().map(|p| p.get_ref().clone()).collect(),
            assistant: k.assistant.as_ref().map(|a| a.get_ref().clone()),
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
            watch_interval_ms: raw.server.watch_interval_ms,
            plaintext: raw.server.plaintext,
            tls: None,
        },
        providers,
        keys,
        pseudonyms,
    ))
}

/// The modes of `[policy]`, `[providers.<p>]` and `[teams.<t>]`; each observe mode is a
/// warning naming where it is set (`check` prints them, `serve` logs them at start and
/// on every reload): observe mode lets everything leave as sent.
fn compile_modes(
    raw: &RawConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    warnings: &mut Vec<String>,
) -> Modes {
    const WHAT: &str = "observe mode: requests are forwarded as sent (nothing pseudonymised, redacted, blocked or routed); the audit records say what enforcement would have done";
    let mut modes = Modes::default();
    if let Some(m) = &raw.policy.mode {
        modes.all = *m.get_ref();
        if modes.all == Mode::Observe {
            warnings.push(format!(
                "{}: [policy] mode = \"observe\" for every provider and team without a mode of its own: {WHAT}",
                at(m.span())
            ));
        }
    }
    for (pname, p) in &raw.providers {
        if let Some(m) = p.mode {
            modes.providers.insert(pname.get_ref().clone(), m);
            if m == Mode::Observe {
                warnings.push(format!(
                    "{}: [providers.{}] mode = \"observe\" for this provider (teams with a mode of their own excepted): {WHAT}",
                    at(pname.span()),
                    pname.get_ref()
                ));
            }
        }
    }
    for (tname, t) in &raw.teams {
        if let Some(m) = t.mode {
            modes.teams.insert(tname.get_ref().clone(), m);
            if m == Mode::Observe {
                warnings.push(format!(
                    "{}: [teams.{}] mode = \"observe\" for this team, whatever the provider: {WHAT}",
                    at(tname.span()),
                    tname.get_ref()
                ));
            }
        }
    }
    modes
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
    mode: Option<Spanned<Mode>>,
    rules: Vec<RawPolicyRule>,
    /// `[policy.risk]`: what to do about the residual re-identification risk.
    risk: RawRiskConfig,
    /// `[policy.answers]`: what to do about personal data in answers.
    answers: RawAnswersConfig,
}

/// `[policy.risk]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRiskConfig {
    threshold: Option<Spanned<String>>,
    action: Option<Spanned<String>>,
}

/// `[policy.answers]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAnswersConfig {
    leaks: Option<Spanned<String>>,
}

/// Compiles `[policy.risk]` and `[policy.answers]`.
fn compile_risk(
    raw: &RawPolicyConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    errors: &mut Vec<String>,
) -> (crate::risk::RiskPolicy, crate::risk::leaks::LeakAction) {
    use crate::risk::leaks::LeakAction;
    use crate::risk::{Level, RiskAction, RiskPolicy};
    let mut risk = RiskPolicy::default();
    if let Some(t) = &raw.risk.threshold {
        match Level::parse(t.get_ref()) {
            Some(l) if l > Level::None => risk.threshold = l,
            _ => errors.push(format!(
                "{}: [policy.risk] threshold must be low, medium or high",
                at(t.span())
            )),
        }
    }
    if let Some(a) = &raw.risk.action {
        match RiskAction::parse(a.get_ref()) {
            Some(a) => risk.action = a,
            None => errors.push(format!(
                "{}: [policy.risk] action must be one of: {}",
                at(a.span()),
                RiskAction::NAMES.join(", ")
            )),
        }
    }
    let leaks = match &raw.answers.leaks {
        None => LeakAction::Record,
        Some(l) => match l.get_ref().as_str() {
            "record" => LeakAction::Record,
            "redact" => LeakAction::Redact,
            _ => {
                errors.push(format!(
                    "{}: [policy.answers] leaks must be \"record\" or \"redact\"",
                    at(l.span())
                ));
                LeakAction::Record
            }
        },
    };
    (risk, leaks)
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
/// every problem (with its line) into `errors` and the warnings (natures no rule gives) into
/// `warnings`.
fn compile_policy(
    raw: &RawConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    name: &str,
    text: &str,
    detector: Option<&Detector>,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> crate::policy::Policy {
    use crate::detect::{Nature, Sensitivity};
    use crate::policy::{Action, Destination, Levels, OnExceed, Policy, Rule};
    let declared = |p: &str| raw.declares(p);
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
    // `None`: the rules did not compile, so what they produce is not known.
    let entities = detector.map(Detector::entities);
    let produced = detector.map(Detector::natures);
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
        if id.starts_with("builtin.")
            || id.starts_with("provider.")
            || id.starts_with("teams.")
            || id == crate::policy::allow::RULE_ALLOW_LIST
        {
            errors.push(format!(
                "{here}: [[policy.rules]] id {id:?} may not start with builtin., provider. or teams., nor be allow-list (reserved)"
            ));
        }
        if rules.iter().any(|o| &o.id == id) {
            errors.push(format!("{here}: [[policy.rules]] id {id:?} is used twice"));
        }
        let mut rule_entities = std::collections::BTreeSet::new();
        for e in &r.entity {
            let Some(entities) = &entities else {
                rule_entities.insert(e.get_ref().clone());
                continue;
            };
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
                    if produced.as_ref().is_some_and(|p| !p.contains(&v)) && v != Nature::Secret {
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
    Policy {
        default,
        rules,
        providers,
    }
}

/// Compiles `[identity]` and reads its directory file.
fn compile_identity(
    raw: &RawConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    base: Option<&Path>,
    errors: &mut Vec<String>,
) -> (
    Option<crate::identity::IdentityConfig>,
    crate::identity::Directory,
) {
    use crate::identity::{
        Cidr, DEFAULT_GROUPS_HEADER, DEFAULT_USER_HEADER, Directory, IdentityConfig,
    };
    let Some(id) = &raw.identity else {
        return (None, Directory::default());
    };
    let mut trusted_proxies = Vec::new();
    for c in &id.trusted_proxies {
        match Cidr::parse(c.get_ref()) {
            Some(v) => trusted_proxies.push(v),
            None => errors.push(format!(
                "{}: [identity] trusted_proxies entries are addresses or CIDRs (\"10.0.0.0/8\"), not {:?}",
                at(c.span()),
                c.get_ref()
            )),
        }
    }
    let header = |h: &Option<Spanned<String>>, default: &str, errors: &mut Vec<String>| {
        let Some(h) = h else {
            return Some(default.to_owned());
        };
        let v = h.get_ref().to_ascii_lowercase();
        if v.is_empty() {
            return None;
        }
        // A header some API forwards (or a key header) could carry the identity to the
        // provider, or a client's key into the record: not an identity header.
        if http::HeaderName::from_bytes(v.as_bytes()).is_err()
            || v == "x-forwarded-for"
            || Api::ALL
                .iter()
                .any(|a| a.header(&v) != crate::api::Param::Drop)
        {
            errors.push(format!(
                "{}: [identity] {v:?} cannot be an identity header (it is forwarded to providers, or not a header name): use the header your authenticating proxy sets, such as x-forwarded-email",
                at(h.span())
            ));
        }
        Some(v)
    };
    let user_header = header(&id.user_header, DEFAULT_USER_HEADER, errors);
    if user_header.is_none()
        && let Some(h) = &id.user_header
    {
        errors.push(format!(
            "{}: [identity] user_header may not be empty",
            at(h.span())
        ));
    }
    let groups_header = header(&id.groups_header, DEFAULT_GROUPS_HEADER, errors);
    let directory_path = id.directory.as_ref().map(|d| match base {
        Some(b) if d.get_ref().is_relative() => b.join(d.get_ref()),
        _ => d.get_ref().clone(),
    });
    let directory = match &directory_path {
        None => Directory::default(),
        Some(p) => match Directory::load(p) {
            Ok(d) => d,
            Err(e) => {
                errors.extend(e);
                Directory::default()
            }
        },
    };
    (
        Some(IdentityConfig {
            trusted_proxies,
            required: id.required,
            user_header: user_header.unwrap_or_default(),
            groups_header,
            directory_path,
        }),
        directory,
    )
}

/// Compiles `[allow]` and the teams' allow lists: bad patterns, unknown entities and
/// anything that would allow a secret are errors, with their line.
fn compile_allow(
    raw: &RawConfig,
    at: &dyn Fn(std::ops::Range<usize>) -> String,
    detector: &Detector,
    errors: &mut Vec<String>,
) -> crate::policy::allow::AllowLists {
    use crate::policy::allow::{AllowList, AllowLists, Entries};
    let entities = detector.entities();
    let secret_entities = detector.secret_entities();
    let entries = |what: &str,
                   values: &[Spanned<String>],
                   patterns: &[Spanned<String>],
                   errors: &mut Vec<String>| {
        for v in values {
            let text = v.get_ref();
            if text.trim().is_empty() {
                errors.push(format!("{}: {what}: an empty value", at(v.span())));
            } else if detector
                .scan(text)
                .iter()
                .any(|f| f.nature == crate::detect::Nature::Secret || f.entity.as_str() == "SECRET")
            {
                errors.push(format!(
                    "{}: {what}: this value reads as a secret, and secrets are never allow-listed (they are always blocked)",
                    at(v.span())
                ));
            }
        }
        match Entries::new(
            values.iter().map(|v| v.get_ref().as_str()),
            patterns.iter().map(|p| p.get_ref().as_str()),
        ) {
            Ok(e) => e,
            Err(bad) => {
                for b in bad {
                    errors.push(format!(
                        "{}: {what}: the pattern does not compile: {}",
                        at(patterns[b.index].span()),
                        b.error.lines().last().unwrap_or("")
                    ));
                }
                Entries::default()
            }
        }
    };
    let list = |what: &str, a: &AllowConfig, errors: &mut Vec<String>| {
        let any = entries(what, &a.values, &a.patterns, errors);
        let mut by_entity = BTreeMap::new();
        for (e, ents) in &a.entities {
            let ename = e.get_ref();
            let what = format!("{what} entity {ename}");
            if secret_entities.contains(ename) {
                errors.push(format!(
                    "{}: {what}: {ename} is a secret, and secrets are never allow-listed (they are always blocked)",
                    at(e.span())
                ));
                continue;
            }
            if !entities.contains(ename) {
                errors.push(format!(
                    "{}: {what}: no detection rule produces entity {ename:?}",
                    at(e.span())
                ));
                continue;
            }
            by_entity.insert(
                ename.clone(),
                entries(&what, &ents.values, &ents.patterns, errors),
            );
        }
        AllowList { any, by_entity }
    };
    let global = list("[allow]", &raw.allow, errors);
    let mut teams = BTreeMap::new();
    for (t, tc) in &raw.teams {
        let t = t.get_ref();
        teams.insert(
            t.clone(),
            list(&format!("[teams.{t}.allow]"), &tc.allow, errors),
        );
    }
    AllowLists { global, teams }
}

/// `http(s)://authority[/prefix]`, without query or fragment; the trailing `/` dropped.
/// The policy version: BLAKE3 of the configuration text alone when it names no other
/// file (so the embedded default's version is [`crate::audit::policy_version`] of its
/// text), else of the text followed by each input's path and content, in order. A file
/// that cannot be read counts as absent; a directory by its name only (its files are
/// inputs of their own).
pub fn version_of(text: &str, inputs: &[PathBuf]) -> String {
    if inputs.is_empty() {
        return crate::audit::policy_version(text);
    }
    let mut h = blake3::Hasher::new();
    h.update(text.as_bytes());
    for p in inputs {
        h.update(b"\0");
        h.update(p.display().to_string().as_bytes());
        h.update(b"\0");
        if p.is_dir() {
            continue;
        }
        let read = std::fs::File::open(p).and_then(|f| h.update_reader(f).map(|_| ()));
        if read.is_err() {
            h.update(b"\0absent");
        }
    }
    h.finalize().to_hex().to_string()
}

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
        // The only warnings: the cloud providers' terms the company must look up.
        assert!(
            cfg.warnings.iter().all(|w| w.contains("in its terms")),
            "{:?}",
            cfg.warnings
        );
        for p in ["openai", "anthropic", "mistral", "gemini"] {
            let named = format!("[providers.{p}] declares no");
            assert!(cfg.warnings.iter().any(|w| w.contains(&named)), "{p}");
        }
        for p in ["ollama", "local"] {
            let named = format!("[providers.{p}]");
            assert!(!cfg.warnings.iter().any(|w| w.contains(&named)), "{p}");
        }
    }

    #[test]
    fn policy_risk_and_answers_default_to_recording_and_reject_unknown_values() {
        use crate::risk::leaks::LeakAction;
        use crate::risk::{Level, RiskAction};
        let base = "[providers.a]\nbase_url = \"http://x\"\napi = \"openai\"\n";
        let cfg = Config::from_toml("t.toml", base, None).unwrap();
        assert_eq!(cfg.risk.threshold, Level::Medium);
        assert_eq!(cfg.risk.action, RiskAction::Record);
        assert_eq!(cfg.answer_leaks, LeakAction::Record);
        let cfg = Config::from_toml(
            "t.toml",
            &format!("{base}[policy.risk]\nthreshold = \"high\"\naction = \"pseudonymise-quasi\"\n[policy.answers]\nleaks = \"redact\"\n"),
            None,
        )
        .unwrap();
        assert_eq!(cfg.risk.threshold, Level::High);
        assert_eq!(cfg.risk.action, RiskAction::PseudonymiseQuasi);
        assert_eq!(cfg.answer_leaks, LeakAction::Redact);
        let e = errors(&format!(
            "{base}[policy.risk]\nthreshold = \"none\"\naction = \"shout\"\n[policy.answers]\nleaks = \"drop\"\n"
        ));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].contains("t.toml:") && e[0].contains("threshold"),
            "{e:?}"
        );
        assert!(e.iter().any(|m| m.contains("pseudonymise-quasi")), "{e:?}");
        assert!(
            e.iter().any(|m| m.contains("[policy.answers] leaks")),
            "{e:?}"
        );
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

#[cfg(test)]
mod every_problem_tests {
    use super::*;

    fn errors(toml: &str) -> Vec<String> {
        match Config::from_toml("t.toml", toml, None) {
            Ok(_) => Vec::new(),
            Err(e) => e.0,
        }
    }

    #[test]
    fn one_run_reports_every_refused_entry_and_every_later_check_each_with_its_line() {
        let e = errors(
            "[server]\nlisen = \"x\"\nlisten = \"nowhere\"\n\n[limits]\nmax_body_bytes = \"big\"\nmax_bodies = 2\n\n[audit]\nfsync = 3\n\n[providers.a]\nbase_url = \"http://x\"\napi = \"cohere\"\nalow_media = true\n\n[providers.b]\nbase_url = \"http://x\"\n\n[detect]\ndisable = [\"nope\"]\n\n[[policy.rules]]\nid = \"r\"\naction = \"nuke\"\n\n[[policy.rules]]\nid = \"s\"\n\n[[policy.rules]]\nid = \"t\"\naction = \"block\"\nentity = [\"EMAIL\"]\nprovidres = []\n",
        );
        let expected = [
            (2, "server.lisen"),
            (6, "limits.max_body_bytes"),
            (7, "limits.max_bodies"),
            (10, "audit.fsync"),
            (14, "cohere"),
            (15, "alow_media"),
            (17, "missing field `api`"),
            (27, "missing field `action`"),
            (34, "providres"),
            (3, "listen must be"),
            (21, "disable names no rule"),
            (25, "action must be"),
        ];
        assert_eq!(e.len(), expected.len(), "{e:#?}");
        for (line, needle) in expected {
            let at = format!("t.toml:{line}: ");
            assert!(
                e.iter().any(|m| m.starts_with(&at) && m.contains(needle)),
                "no {needle:?} at line {line}: {e:#?}"
            );
        }
    }

    #[test]
    fn a_syntax_error_stops_the_parse_with_its_line() {
        let e = errors("[server]\nlisten = \"127.0.0.1:1\"\n[limits\nmax_body_bytes = 1\n");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.toml:3:"), "{e:?}");
    }
}
