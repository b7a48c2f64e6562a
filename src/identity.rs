//! Who sends a request when an authenticating proxy stands in front (oauth2-proxy,
//! an ingress with OIDC): `[identity]` names the addresses trusted to say so, the header
//! that carries the principal and the one that carries groups, and a directory file
//! (CSV) that gives each person a team.
//!
//! - Identity headers are read only from a trusted peer (`trusted_proxies`, CIDRs). A
//!   request from any other address that carries one is refused
//!   (`paravent_untrusted_identity`): its value is never read, logged nor echoed.
//! - Identity headers are never forwarded upstream.
//! - The team: the directory's row for the principal, else the first group (in header
//!   order) that names a known team (a `[teams.<name>]` table, a directory team or a
//!   virtual key's team): an identity provider's other groups never become teams.
//! - The client address (for its keyed hash in the audit record): the peer's, or, from
//!   a trusted peer, the right-most `X-Forwarded-For` hop that is not itself trusted.
//!
//! Loading the directory is the only I/O here (with the configuration, so a reload
//! reads it again); resolving a request is pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use http::HeaderMap;

/// Headers authenticating proxies commonly set: refused from an untrusted peer when
/// `[identity]` is configured, and never forwarded, whichever ones the config reads.
pub const KNOWN_IDENTITY_HEADERS: &[&str] = &[
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-auth-request-user",
    "x-auth-request-email",
    "x-auth-request-groups",
    "x-auth-request-preferred-username",
    "remote-user",
    "x-remote-user",
];

/// Default header carrying the principal (oauth2-proxy's).
pub const DEFAULT_USER_HEADER: &str = "x-forwarded-email";
/// Default header carrying the groups (oauth2-proxy's, comma-separated).
pub const DEFAULT_GROUPS_HEADER: &str = "x-forwarded-groups";
/// Longest principal accepted from a header, in bytes.
pub const MAX_PRINCIPAL_BYTES: usize = 256;
/// Largest directory file read, in bytes.
pub const MAX_DIRECTORY_BYTES: u64 = 64 << 20;

/// An address range, `10.0.0.0/8` or `::1/128` (a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR/PREFIX` or `ADDR`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p.trim().parse::<u8>().ok().filter(|&p| p <= max)?,
        };
        Some(Cidr { addr, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// `[identity]`, validated.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Peers whose identity headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Lower-case header name carrying the principal.
    pub user_header: String,
    /// Lower-case header name carrying the groups (comma-separated), if read.
    pub groups_header: Option<String>,
    /// The directory file, resolved against the config's directory.
    pub directory_path: Option<PathBuf>,
    /// `required = true`: every request must come from a trusted proxy naming its
    /// principal (`paravent_identity_required` otherwise), so that nobody reaches the
    /// providers around the sign-in proxy.
    pub required: bool,
}

impl IdentityConfig {
    /// Whether `peer` may set identity headers.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(peer))
    }

    /// Whether `name` (lower case) is an identity header: the configured ones and the
    /// well-known ones.
    pub fn is_identity_header(&self, name: &str) -> bool {
        name == self.user_header
            || self.groups_header.as_deref() == Some(name)
            || KNOWN_IDENTITY_HEADERS.contains(&name)
    }

    /// Whether the request carries any identity header.
    pub fn carries_identity(&self, headers: &HeaderMap) -> bool {
        headers.keys().any(|n| self.is_identity_header(n.as_str()))
    }
}

/// What a trusted proxy said about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asserted {
    /// The principal, trimmed and lower-cased.
    pub user: String,
    /// The groups, in header order.
    pub groups: Vec<String>,
}

/// Why a trusted proxy's identity header was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadIdentity;

/// Reads the principal and groups a trusted proxy set; `Ok(None)` without a principal
/// header (the request is then identified by its key, as from any client).
///
/// # Errors
/// A principal header that is not UTF-8, empty, longer than [`MAX_PRINCIPAL_BYTES`],
/// holds control characters, or is repeated.
pub fn asserted(
    cfg: &IdentityConfig,
    headers: &HeaderMap,
) -> Result<Option<Asserted>, BadIdentity> {
    let mut values = headers.get_all(cfg.user_header.as_str()).iter();
    let Some(v) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(BadIdentity);
    }
    let user = std::str::from_utf8(v.as_bytes())
        .map_err(|_| BadIdentity)?
        .trim()
        .to_lowercase();
    if user.is_empty() || user.len() > MAX_PRINCIPAL_BYTES || user.chars().any(char::is_control) {
        return Err(BadIdentity);
    }
    let groups = match &cfg.groups_header {
        None => Vec::new(),
        Some(h) => headers
            .get_all(h.as_str())
            .iter()
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    Ok(Some(Asserted { user, groups }))
}

/// The client's address: the peer's, or, from a trusted peer, the right-most
/// `X-Forwarded-For` hop that is not itself a trusted proxy (the left-most hop when all
/// are trusted; the peer's when the header is absent or unreadable).
pub fn client_address(cfg: Option<&IdentityConfig>, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let Some(cfg) = cfg.filter(|c| c.trusts(peer)) else {
        return peer;
    };
    let mut hops = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else { return peer };
        for h in v.split(',') {
            match parse_hop(h.trim()) {
                Some(ip) => hops.push(ip),
                None => return peer,
            }
        }
    }
    let Some(&first) = hops.first() else {
        return peer;
    };
    hops.iter()
        .rev()
        .find(|ip| !cfg.trusts(**ip))
        .copied()
        .unwrap_or(first)
}

/// One `X-Forwarded-For` hop: an address, maybe with a port or in brackets.
fn parse_hop(h: &str) -> Option<IpAddr> {
    if let Ok(ip) = h.parse() {
        return Some(ip);
    }
    if let Ok(sa) = h.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    h.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The directory: each person (user name or e-mail, lower case) and their team.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    teams: BTreeMap<String, String>,
}

impl Directory {
    /// The team of `user` (lower case).
    pub fn team_of(&self, user: &str) -> Option<&str> {
        self.teams.get(user).map(String::as_str)
    }

    /// Every person listed.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.teams.keys().map(String::as_str)
    }

    /// Every team listed.
    pub fn teams(&self) -> BTreeSet<String> {
        self.teams.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.teams.len()
    }

    pub fn is_empty(&self) -> bool {
        self.teams.is_empty()
    }

    /// Reads a directory file (at most [`MAX_DIRECTORY_BYTES`]).
    ///
    /// # Errors
    /// Every problem, as `file:line: message`.
    pub fn load(path: &Path) -> Result<Directory, Vec<String>> {
        let name = path.display().to_string();
        let file =
            std::fs::File::open(path).map_err(|e| vec![format!("{name}: cannot read: {e}")])?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len > MAX_DIRECTORY_BYTES {
            return Err(vec![format!(
                "{name}: larger than the {MAX_DIRECTORY_BYTES} bytes a directory may hold"
            )]);
        }
        let mut text = String::new();
        #[allow(clippy::disallowed_methods)] // Read through `take`.
        std::io::Read::read_to_string(
            &mut std::io::Read::take(file, MAX_DIRECTORY_BYTES),
            &mut text,
        )
        .map_err(|e| vec![format!("{name}: cannot read: {e}")])?;
        Directory::parse(&name, &text)
    }

    /// Parses a directory: a header row naming the columns (`user` and/or `email`, and
    /// `team`, in any order, case-insensitive; other columns are ignored), then one
    /// person per row. Commas or semicolons (told from the header row); `#` starts a
    /// comment line; quoted fields as in RFC 4180.
    ///
    /// # Errors
    /// Every problem, as `name:line: message`.
    pub fn parse(name: &str, text: &str) -> Result<Directory, Vec<String>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let header_line = text
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let delimiter = if header_line.contains(';') && !header_line.contains(',') {
            b';'
        } else {
            b','
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .comment(Some(b'#'))
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut errors = Vec::new();
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(vec![format!("{name}: {}", csv_error(&e))]),
        };
        let column = |want: &str| {
            headers
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(want))
        };
        let keys: Vec<usize> = ["user", "email"].iter().filter_map(|c| column(c)).collect();
        let team = column("team");
        let header_no = headers.position().map_or(1, csv::Position::line);
        if keys.is_empty() || team.is_none() {
            return Err(vec![format!(
                "{name}:{header_no}: the header row must name a \"team\" column and a \"user\" or \"email\" column (found: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            )]);
        }
        let team = team.unwrap_or_default();
        let mut teams: BTreeMap<String, (String, u64)> = BTreeMap::new();
        for row in reader.records() {
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    errors.push(format!("{name}:{}", csv_error(&e)));
                    continue;
                }
            };
            let line = row.position().map_or(0, csv::Position::line);
            let t = row.get(team).unwrap_or("");
            if t.is_empty() {
                continue;
            }
            if t.len() > 64 || t.chars().any(|c| c.is_control() || c == ',') {
                errors.push(format!(
                    "{name}:{line}: a team name is at most 64 characters, without commas or control characters"
                ));
                continue;
            }
            for &k in &keys {
                let who = row.get(k).unwrap_or("").to_lowercase();
                if who.is_empty() {
                    continue;
                }
                match teams.get(&who) {
                    Some((other, at)) if other != t => errors.push(format!(
                        "{name}:{line}: this person is already in team {other:?} (line {at})"
                    )),
                    Some(_) => {}
                    None => {
                        teams.insert(who, (t.to_owned(), line));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Directory {
            teams: teams.into_iter().map(|(k, (t, _))| (k, t)).collect(),
        })
    }
}

fn csv_error(e: &csv::Error) -> String {
    let line = e.position().map(csv::Position::line);
    let what = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".to_owned(),
        csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => "malformed CSV".to_owned(),
    };
    match line {
        Some(l) => format!("{l}: {what}"),
        None => what,
    }
}

/// The team of a principal identified by a trusted proxy: the directory's, else the
/// first group that names a known team (compared case-insensitively).
pub fn team_of<'a>(
    directory: &'a Directory,
    known_teams: &'a BTreeSet<String>,
    who: &Asserted,
) -> Option<&'a str> {
    directory.team_of(&who.user).or_else(|| {
        who.groups.iter().find_map(|g| {
            known_teams
                .iter()
                .find(|t| t.eq_ignore_ascii_case(g))
                .map(String::as_str)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_api_forwards_a_known_identity_header() {
        for api in crate::api::Api::ALL {
            for h in KNOWN_IDENTITY_HEADERS {
                assert_eq!(api.header(h), crate::api::Param::Drop, "{h}");
            }
        }
    }

    #[test]
    fn cidrs_contain_what_they_should() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            Cidr::parse("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nowhere"), None);
    }

    fn cfg() -> IdentityConfig {
        IdentityConfig {
            trusted_proxies: vec![Cidr::parse("10.0.0.0/8").unwrap()],
            user_header: DEFAULT_USER_HEADER.into(),
            groups_header: Some(DEFAULT_GROUPS_HEADER.into()),
            directory_path: None,
            required: false,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_forwarded_hop_from_a_trusted_peer_only() {
        let c = cfg();
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.0.0.5")]);
        let trusted = "10.0.0.1".parse().unwrap();
        assert_eq!(
            client_address(Some(&c), trusted, &h),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let untrusted: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(client_address(Some(&c), untrusted, &h), untrusted);
        assert_eq!(client_address(None, trusted, &h), trusted);
        let junk = headers(&[("x-forwarded-for", "unknown")]);
        assert_eq!(client_address(Some(&c), trusted, &junk), trusted);
    }

    #[test]
    fn the_principal_is_trimmed_and_lower_cased_and_groups_split() {
        let c = cfg();
        let a = asserted(
            &c,
            &headers(&[
                ("x-forwarded-email", " Alice@Acme.FR "),
                ("x-forwarded-groups", "staff, RH"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.user, "alice@acme.fr");
        assert_eq!(a.groups, ["staff", "RH"]);
        assert_eq!(asserted(&c, &headers(&[])), Ok(None));
        assert_eq!(
            asserted(&c, &headers(&[("x-forwarded-email", "  ")])),
            Err(BadIdentity)
        );
    }

    #[test]
    fn the_directory_reads_either_delimiter_and_reports_lines() {
        let d = Directory::parse(
            "d.csv",
            "\u{feff}email;Name;Team\n# a comment\nAlice@acme.fr;Alice;rh\nbob@acme.fr;Bob;\n",
        )
        .unwrap();
        assert_eq!(d.team_of("alice@acme.fr"), Some("rh"));
        assert_eq!(d.team_of("bob@acme.fr"), None);
        let e = Directory::parse("d.csv", "user,team\nalice,rh\nalice,it\n").unwrap_err();
        assert!(
            e[0].starts_with("d.csv:3:") && e[0].contains("line 2"),
            "{e:?}"
        );
        let e = Directory::parse("d.csv", "name,dept\nalice,rh\n").unwrap_err();
        assert!(e[0].starts_with("d.csv:1:"), "{e:?}");
    }

    #[test]
    fn the_directory_wins_over_groups_and_only_known_teams_count() {
        let d = Directory::parse("d.csv", "user,team\nalice,rh\n").unwrap();
        let known: BTreeSet<String> = ["rh".into(), "finance".into()].into();
        let who = |u: &str, g: &[&str]| Asserted {
            user: u.into(),
            groups: g.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert_eq!(team_of(&d, &known, &who("alice", &["finance"])), Some("rh"));
        assert_eq!(
            team_of(&d, &known, &who("bob", &["admins", "Finance"])),
            Some("finance")
        );
        assert_eq!(team_of(&d, &known, &who("bob", &["admins"])), None);
    }
}
