//! \[pure\] Pseudonyms: deterministic tokens under a deployment secret, and the vault of one
//! request that maps them back to the values they stand for.
//!
//! A token is `[ENTITY_HEX]`, where `HEX` is the start of a keyed BLAKE3 hash of the
//! scope (the deployment, or one principal), the entity type and the value normalised
//! (case, spacing, and separators in numbers). The same value therefore gets the same
//! token in every turn of a conversation and on every replica, with no shared state.
//! With the `surrogate` style, names, e-mail addresses, IBANs and phone numbers get a
//! realistic stand-in chosen by the same hash instead.
//!
//! This module does no I/O apart from [`load_or_create_secret`], which `serve` calls once
//! at start. It never logs values.

use std::path::Path;

use crate::config::{PseudonymsConfig, TokenScope, TokenStyle};
use crate::detect::normalise::{KeySink, write_value_key};

/// The BLAKE3 `derive_key` context for the token key: changing it changes every token.
const TOKEN_KEY_CONTEXT: &str = "paravent 2026 pseudonym tokens v1";
/// Hex digits of a token's hash; lengthened inside a request on a collision.
pub const TOKEN_HEX_DIGITS: usize = 6;
/// Upper-case hex digits, for tokens.
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
/// Bytes of a generated secret.
pub const GENERATED_SECRET_BYTES: usize = 32;

/// The key tokens are derived from; built once from the deployment secret.
#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// Derives the token key from a deployment secret.
    ///
    /// ```
    /// let a = paravent::vault::TokenKey::from_secret(b"0123456789abcdef");
    /// let b = paravent::vault::TokenKey::from_secret(b"0123456789abcdef");
    /// let mut va = paravent::vault::Vault::new(&a, None, Default::default(), 10);
    /// let mut vb = paravent::vault::Vault::new(&b, None, Default::default(), 10);
    /// assert_eq!(va.pseudonym("PERSON", "Jean Dupont").unwrap(),
    ///            vb.pseudonym("PERSON", "jean  DUPONT").unwrap());
    /// ```
    pub fn from_secret(secret: &[u8]) -> TokenKey {
        TokenKey(blake3::derive_key(TOKEN_KEY_CONTEXT, secret))
    }

    /// The keyed hash of a value for the audit trail: the same value (normalised as for
    /// tokens) gives the same hash on every replica, so an auditor can tell that a value
    /// went out twice without learning it. Domain-separated from the tokens (a hash can
    /// never be turned into a token or back).
    ///
    /// ```
    /// let k = paravent::vault::TokenKey::from_secret(b"0123456789abcdef");
    /// assert_eq!(k.audit_hash("PERSON", "Jean Dupont"), k.audit_hash("PERSON", "jean  DUPONT"));
    /// assert_ne!(k.audit_hash("PERSON", "Jean Dupont"), k.audit_hash("PERSON", "Jean Martin"));
    /// ```
    pub fn audit_hash(&self, entity: &str, value: &str) -> [u8; 32] {
        let mut h = Feed::new(&self.0);
        h.push_str("a\0");
        h.push_str(entity);
        h.push_ascii(0);
        h.key_of(entity, value)
    }

    /// The opaque identifier sent to a provider in place of an identifying field
    /// (`user`, `safety_identifier`, Anthropic's `metadata.user_id`) when the provider's
    /// settings say `hash`: 32 hex digits, stable for one value and one deployment
    /// secret, domain-separated from the tokens and from the audit hashes (the provider
    /// cannot match it against either).
    ///
    /// ```
    /// let k = paravent::vault::TokenKey::from_secret(b"0123456789abcdef");
    /// let h = k.setting_hash("user", "alice");
    /// assert_eq!(h.len(), 32);
    /// assert_eq!(h, k.setting_hash("user", "alice"));
    /// assert_ne!(h, k.setting_hash("user", "bob"));
    /// assert!(!h.contains("alice"));
    /// ```
    pub fn setting_hash(&self, field: &str, value: &str) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"s\0").update(field.as_bytes()).update(b"\0");
        h.update(value.as_bytes());
        crate::audit::hex(&h.finalize().as_bytes()[..16])
    }

    /// The token hash of `value` (an `entity`) in `scope`: the keyed hash of the value
    /// normalised ([`normalise`]), which is streamed into the hash, never built.
    fn hash(&self, scope: Option<&str>, entity: &str, value: &str, round: u32) -> [u8; 32] {
        let mut h = Feed::new(&self.0);
        match scope {
            None => h.push_str("d\0"),
            Some(p) => {
                h.push_str("p\0");
                h.push_str(p);
                h.push_ascii(0);
            }
        }
        h.push_str(entity);
        h.push_ascii(0);
        write_value_key(entity, value, &mut h);
        if round > 0 {
            h.push_ascii(0);
            h.push_bytes(&round.to_le_bytes());
        }
        h.finish()
    }
}

/// A keyed BLAKE3 hash fed through a stack buffer: a message that fits (every short
/// value's, the usual case) is hashed in one call of `blake3::keyed_hash`, which costs
/// far less than the incremental `Hasher` with its many small updates; a longer one
/// spills into a `Hasher`. Both give the same hash. Nothing is allocated: the value's
/// key ([`write_value_key`]) goes straight into the buffer.
struct Feed<'k> {
    key: &'k [u8; 32],
    buf: [u8; FEED_BUFFER_BYTES],
    len: usize,
    spilled: Option<Box<blake3::Hasher>>,
}

/// The buffer of [`Feed`]: four BLAKE3 blocks, more than a value usually needs.
const FEED_BUFFER_BYTES: usize = 256;

impl<'k> Feed<'k> {
    fn new(key: &'k [u8; 32]) -> Feed<'k> {
        Feed {
            key,
            buf: [0; FEED_BUFFER_BYTES],
            len: 0,
            spilled: None,
        }
    }

    /// Hashes the key of `value` (an `entity`) and returns the hash.
    fn key_of(mut self, entity: &str, value: &str) -> [u8; 32] {
        write_value_key(entity, value, &mut self);
        self.finish()
    }

    fn push_bytes(&mut self, b: &[u8]) {
        if b.len() > FEED_BUFFER_BYTES - self.len {
            self.spill();
            if b.len() > FEED_BUFFER_BYTES {
                if let Some(h) = &mut self.spilled {
                    h.update(b);
                }
                return;
            }
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    /// Moves what the buffer holds into the incremental hasher.
    fn spill(&mut self) {
        let key = self.key;
        let h = self
            .spilled
            .get_or_insert_with(|| Box::new(blake3::Hasher::new_keyed(key)));
        h.update(&self.buf[..self.len]);
        self.len = 0;
    }

    fn finish(self) -> [u8; 32] {
        match self.spilled {
            None => *blake3::keyed_hash(self.key, &self.buf[..self.len]).as_bytes(),
            Some(mut h) => {
                h.update(&self.buf[..self.len]);
                *h.finalize().as_bytes()
            }
        }
    }
}

impl KeySink for Feed<'_> {
    fn push_ascii(&mut self, b: u8) {
        if self.len == FEED_BUFFER_BYTES {
            self.spill();
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn push_str(&mut self, s: &str) {
        self.push_bytes(s.as_bytes());
    }
}

/// Why a value could not be given a pseudonym.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    #[error("the request holds more than {limit} distinct sensitive values")]
    Full { limit: usize },
}

/// One value of the vault and what stands for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub entity: String,
    /// The value as first seen in the request.
    pub original: String,
    /// What the provider sees: a token `[PERSON_7F3A2C]`, or a surrogate.
    pub pseudonym: String,
    /// `true` for `[ENTITY_HEX]` tokens, `false` for surrogates.
    pub is_token: bool,
}

/// The vault of one request: value ↔ pseudonym.
///
/// Its maps use foldhash, not the standard SipHash: neither is keyed by what the client
/// chose. `by_value` is keyed by the value's token hash (keyed BLAKE3 under the
/// deployment secret, so colliding keys cannot be crafted without the secret), and
/// `by_pseudonym` by the pseudonyms this vault made.
#[derive(Debug)]
pub struct Vault<'k> {
    key: &'k TokenKey,
    scope: Option<String>,
    style: TokenStyle,
    limit: usize,
    entries: Vec<Entry>,
    /// By the round-0 token hash of `(scope, entity, normalised value)`: one hash gives
    /// both the lookup and a fresh value's token.
    by_value: foldhash::HashMap<[u8; 32], usize>,
    /// By the pseudonym upper-cased.
    by_pseudonym: foldhash::HashMap<String, usize>,
}

impl<'k> Vault<'k> {
    /// An empty vault. `scope` is the principal when tokens are per principal.
    pub fn new(
        key: &'k TokenKey,
        scope: Option<String>,
        style: TokenStyle,
        limit: usize,
    ) -> Vault<'k> {
        Vault {
            key,
            scope,
            style,
            limit,
            entries: Vec::new(),
            by_value: foldhash::HashMap::default(),
            by_pseudonym: foldhash::HashMap::default(),
        }
    }

    /// A vault for a request of `principal` under the configured scope and style.
    pub fn for_request(
        key: &'k TokenKey,
        cfg: &PseudonymsConfig,
        principal: &str,
        limit: usize,
    ) -> Vault<'k> {
        let scope = match cfg.scope {
            TokenScope::Deployment => None,
            TokenScope::Principal => Some(principal.to_owned()),
        };
        Vault::new(key, scope, cfg.style, limit)
    }

    /// Room for `n` more values, so that a rewrite that knows how many it will add does
    /// not grow the vault's maps one doubling at a time (never past the limit).
    pub fn reserve(&mut self, n: usize) {
        let n = n.min(self.limit.saturating_sub(self.entries.len()));
        self.entries.reserve(n);
        self.by_value.reserve(n);
        self.by_pseudonym.reserve(n);
    }

    /// The pseudonym of `value` (an `entity`), creating it on first use.
    ///
    /// # Errors
    /// [`VaultError::Full`] when the request already holds `limit` distinct values.
    pub fn pseudonym(&mut self, entity: &str, value: &str) -> Result<&str, VaultError> {
        let i = self.entry_of(entity, value)?;
        Ok(&self.entries[i].pseudonym)
    }

    /// The index in [`Vault::entries`] of `value`'s entry, creating it on first use.
    ///
    /// # Errors
    /// [`VaultError::Full`] when the request already holds `limit` distinct values.
    ///
    /// ```
    /// use paravent::vault::{TokenKey, Vault};
    /// let key = TokenKey::from_secret(b"0123456789abcdef");
    /// let mut v = Vault::new(&key, None, Default::default(), 10);
    /// let i = v.entry_of("PERSON", "Jean Dupont").unwrap();
    /// assert_eq!(v.entry_of("PERSON", "JEAN  dupont").unwrap(), i);
    /// assert!(v.entries()[i].pseudonym.starts_with("[PERSON_"));
    /// ```
    pub fn entry_of(&mut self, entity: &str, value: &str) -> Result<usize, VaultError> {
        let scope = self.scope.as_deref();
        let h = self.key.hash(scope, entity, value, 0);
        if let Some(&i) = self.by_value.get(&h) {
            return Ok(i);
        }
        if self.entries.len() >= self.limit {
            return Err(VaultError::Full { limit: self.limit });
        }
        let (pseudonym, is_token) = self.fresh_pseudonym(entity, value, &h);
        let i = self.entries.len();
        self.by_pseudonym.insert(pseudonym.to_ascii_uppercase(), i);
        self.by_value.insert(h, i);
        self.entries.push(Entry {
            entity: entity.to_owned(),
            original: value.to_owned(),
            pseudonym,
            is_token,
        });
        Ok(i)
    }

    /// A pseudonym for a value not in the vault, whose round-0 token hash is `h`.
    fn fresh_pseudonym(&self, entity: &str, value: &str, h: &[u8; 32]) -> (String, bool) {
        let scope = self.scope.as_deref();
        if self.style == TokenStyle::Surrogate {
            for round in 0..16 {
                let hr;
                let hr = if round == 0 {
                    h
                } else {
                    hr = self.key.hash(scope, entity, value, round);
                    &hr
                };
                match surrogate(entity, value, hr) {
                    Some(s) if !self.taken(&s) => return (s, false),
                    Some(_) => continue,
                    None => break,
                }
            }
        }
        // A collision inside one request (two values, one token) is told apart by a
        // longer hash: the token stays deterministic for the common case.
        let mut digits = TOKEN_HEX_DIGITS;
        loop {
            let mut t = String::with_capacity(entity.len() + digits + 3);
            t.push('[');
            t.push_str(entity);
            t.push('_');
            for b in &h[..digits.div_ceil(2)] {
                t.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
                t.push(char::from(HEX_UPPER[usize::from(b & 0xF)]));
            }
            t.truncate(entity.len() + 2 + digits);
            t.push(']');
            if !self.taken(&t) || digits >= 64 {
                return (t, true);
            }
            digits += 2;
        }
    }

    fn taken(&self, pseudonym: &str) -> bool {
        // Tokens are upper case already: no copy to look them up.
        if !pseudonym.bytes().any(|b| b.is_ascii_lowercase()) {
            return self.by_pseudonym.contains_key(pseudonym);
        }
        self.by_pseudonym
            .contains_key(&pseudonym.to_ascii_uppercase())
    }

    /// The audit trail's keyed hash of a value ([`TokenKey::audit_hash`]).
    pub fn audit_hash(&self, entity: &str, value: &str) -> [u8; 32] {
        self.key.audit_hash(entity, value)
    }

    /// The deployment key this vault derives tokens from.
    pub fn key(&self) -> &'k TokenKey {
        self.key
    }

    /// Every value of the request, in the order first seen.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

pub use crate::detect::normalise::{is_number_like, value_key as normalise};

const SURROGATE_FIRST_NAMES: &[&str] = &[
    "Camille",
    "Alexis",
    "Dominique",
    "Claude",
    "Sacha",
    "Charlie",
    "Maxime",
    "Morgan",
    "Lou",
    "Noa",
    "Eden",
    "Jordan",
    "Andrea",
    "Gabriel",
    "Louise",
    "Hugo",
    "Lucie",
    "Arthur",
    "Jeanne",
    "Paul",
    "Rose",
    "Victor",
    "Alice",
    "Jules",
    "Inès",
    "Léon",
    "Agathe",
    "Simon",
    "Margot",
    "Émile",
    "Clara",
    "Félix",
];
const SURROGATE_LAST_NAMES: &[&str] = &[
    "Arnaud",
    "Barbier",
    "Carpentier",
    "Delorme",
    "Esnault",
    "Faure",
    "Gauthier",
    "Hamon",
    "Imbert",
    "Jacquet",
    "Klein",
    "Lemaire",
    "Marchand",
    "Noël",
    "Olivier",
    "Perrin",
    "Quentin",
    "Renaud",
    "Schmitt",
    "Tessier",
    "Vasseur",
    "Weber",
    "Aubert",
    "Bonnet",
    "Collet",
    "Dumont",
    "Étienne",
    "Fleury",
    "Giraud",
    "Hervé",
    "Joly",
    "Leclerc",
];

/// A realistic stand-in for `value`, chosen by the hash `h`, where one is known.
fn surrogate(entity: &str, value: &str, h: &[u8; 32]) -> Option<String> {
    let first = SURROGATE_FIRST_NAMES[usize::from(h[0]) % SURROGATE_FIRST_NAMES.len()];
    let last = SURROGATE_LAST_NAMES[usize::from(h[1]) % SURROGATE_LAST_NAMES.len()];
    let n = u32::from_le_bytes([h[2], h[3], h[4], h[5]]);
    match entity {
        "PERSON" => Some(format!("{first} {last}")),
        "EMAIL" => Some(format!(
            "{}.{}{}@example.com",
            ascii_lower(first),
            ascii_lower(last),
            n % 100
        )),
        "PHONE" => {
            // ARCEP reserves 06 39 98 xx xx for fiction.
            let tail = n % 10_000;
            let (a, b) = (tail / 100, tail % 100);
            if value.trim_start().starts_with('+') {
                Some(format!("+33 6 39 98 {a:02} {b:02}"))
            } else {
                Some(format!("06 39 98 {a:02} {b:02}"))
            }
        }
        "IBAN" => {
            let mut bban = String::with_capacity(23);
            for b in &h[6..29] {
                bban.push(char::from(b'0' + b % 10));
            }
            let check = 98 - iban_mod97(&format!("{bban}FR00"));
            let iban = format!("FR{check:02}{bban}");
            if value.contains(' ') {
                let grouped: Vec<String> = iban
                    .as_bytes()
                    .chunks(4)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                Some(grouped.join(" "))
            } else {
                Some(iban)
            }
        }
        _ => None,
    }
}

fn ascii_lower(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'É' | 'é' | 'è' => 'e',
            'ë' => 'e',
            'ï' => 'i',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// ISO 13616 mod 97 of an IBAN already rearranged (BBAN, country, check digits).
fn iban_mod97(rearranged: &str) -> u32 {
    let mut r: u32 = 0;
    for c in rearranged.chars() {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => continue,
        };
        r = if v >= 10 {
            (r * 100 + v) % 97
        } else {
            (r * 10 + v) % 97
        };
    }
    r
}

/// Where the deployment secret came from, for the start-up log (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Config,
    Env(String),
    File(std::path::PathBuf),
    Generated(std::path::PathBuf),
}

/// Why no deployment secret could be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret in {0} is shorter than 16 bytes")]
    TooShort(String),
    #[error("cannot read the pseudonym secret file {path}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the pseudonym secret file {path}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no random source for the pseudonym secret")]
    Random,
}

/// The deployment secret: from the config, else the environment variable, else the
/// secret file, which is created (owner-only) with a random secret on first start.
///
/// # Errors
/// A secret that is too short, or a secret file that can be neither read nor created.
pub fn load_or_create_secret(
    cfg: &PseudonymsConfig,
) -> Result<(TokenKey, SecretSource), SecretError> {
    if let Some(found) = load_secret(cfg)? {
        return Ok(found);
    }
    let path = &cfg.secret_file;
    let mut raw = [0u8; GENERATED_SECRET_BYTES];
    getrandom::fill(&mut raw).map_err(|_| SecretError::Random)?;
    let hex = crate::audit::hex(&raw);
    write_owner_only(path, &hex).map_err(|source| SecretError::Write {
        path: path.clone(),
        source,
    })?;
    Ok((
        TokenKey::from_secret(hex.as_bytes()),
        SecretSource::Generated(path.clone()),
    ))
}

/// As [`load_or_create_secret`], but `None` where it would create the secret file
/// (`paravent scan` previews with the deployment's tokens, and creates nothing).
///
/// # Errors
/// A secret that is too short, or a secret file that exists but cannot be read.
pub fn load_secret(
    cfg: &PseudonymsConfig,
) -> Result<Option<(TokenKey, SecretSource)>, SecretError> {
    let min = crate::config::MIN_SECRET_BYTES;
    if let Some(s) = &cfg.secret {
        return Ok(Some((
            TokenKey::from_secret(s.as_bytes()),
            SecretSource::Config,
        )));
    }
    if let Ok(s) = std::env::var(&cfg.secret_env)
        && !s.is_empty()
    {
        if s.len() < min {
            return Err(SecretError::TooShort(cfg.secret_env.clone()));
        }
        return Ok(Some((
            TokenKey::from_secret(s.as_bytes()),
            SecretSource::Env(cfg.secret_env.clone()),
        )));
    }
    let path = &cfg.secret_file;
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let s = s.trim();
            if s.len() < min {
                return Err(SecretError::TooShort(path.display().to_string()));
            }
            Ok(Some((
                TokenKey::from_secret(s.as_bytes()),
                SecretSource::File(path.clone()),
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SecretError::Read {
            path: path.clone(),
            source,
        }),
    }
}

fn write_owner_only(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TokenKey {
        TokenKey::from_secret(b"test secret, 32 bytes long......")
    }

    #[test]
    fn same_value_gets_same_token_across_vaults_and_variants() {
        let k = key();
        let mut a = Vault::new(&k, None, TokenStyle::Token, 100);
        let mut b = Vault::new(&k, None, TokenStyle::Token, 100);
        let t1 = a.pseudonym("PERSON", "Jean Dupont").unwrap().to_owned();
        let t2 = b.pseudonym("PERSON", "JEAN   dupont").unwrap().to_owned();
        assert_eq!(t1, t2);
        assert!(t1.starts_with("[PERSON_") && t1.len() == "[PERSON_".len() + 7);
        let p1 = a.pseudonym("PHONE", "06 12 34 56 78").unwrap().to_owned();
        let p2 = a.pseudonym("PHONE", "0612345678").unwrap().to_owned();
        assert_eq!(p1, p2);
        assert_eq!(a.len(), 2);
    }

    /// Tokens, surrogates and audit hashes pinned as the release before the allocation
    /// work gave them (issue 13): the value key is computed differently since (streamed
    /// into the keyed hash, no string built), and every variant of a value must still
    /// give the same token as before, on every replica and across upgrades.
    #[test]
    fn tokens_of_normalisation_variants_are_pinned_across_releases() {
        let k = key();
        let mut wrong = Vec::new();
        let mut check = |got: &str, want: &str, what: String| {
            if got != want {
                wrong.push(format!("{what}: {got}"));
            }
        };
        let pinned: &[(&str, &[&str], &str)] = &[
            (
                "PERSON",
                &[
                    "Jean Dupont",
                    "JEAN   dupont",
                    " jean\u{a0}Du\u{200b}pont\t",
                    "Ｊｅａｎ Dupont",
                ],
                "[PERSON_6DDD4C]",
            ),
            (
                "PERSON",
                &[
                    "Élodie Lefèvre",
                    "ÉLODIE LEFÈVRE",
                    "e\u{301}lodie lefe\u{300}vre",
                ],
                "[PERSON_21F599]",
            ),
            (
                "PHONE",
                &[
                    "06 12 34 56 78",
                    "0612345678",
                    "06.12.34.56.78",
                    "０６ １２ ３４ ５６ ７８",
                    "06\u{200b}12-34\u{2011}56 78",
                ],
                "[PHONE_857889]",
            ),
            (
                "IBAN",
                &[
                    "FR76 3000 6000 0112 3456 7890 189",
                    "fr7630006000011234567890189",
                ],
                "[IBAN_603EFA]",
            ),
            (
                "EMAIL",
                &["Jean.Dupont@Example.fr", "jean.dupont＠example．fr"],
                "[EMAIL_316815]",
            ),
            (
                "ADDRESS",
                &[
                    "12 rue de la Paix\n75002 Paris",
                    "12 RUE DE LA PAIX 75002 PARIS",
                ],
                "[ADDRESS_33A092]",
            ),
            (
                "FR_NIR",
                &["1 84 12 75 123 456 78", "184127512345678"],
                "[FR_NIR_17A7E1]",
            ),
        ];
        for (entity, variants, want) in pinned {
            for v in *variants {
                let mut vault = Vault::new(&k, None, TokenStyle::Token, 10);
                let got = vault.pseudonym(entity, v).unwrap().to_owned();
                check(&got, want, format!("{entity} {v:?}"));
            }
        }
        let mut scoped = Vault::new(&k, Some("alice".into()), TokenStyle::Token, 10);
        let got = scoped
            .pseudonym("PERSON", "jean DUPONT")
            .unwrap()
            .to_owned();
        check(&got, "[PERSON_52DEC2]", "scoped".into());
        let mut surrogates = Vault::new(&k, None, TokenStyle::Surrogate, 10);
        for (entity, value, want) in [
            ("PERSON", "JEAN dupont", "Gabriel Hervé"),
            ("PHONE", "+33 6 12 34 56 78", "+33 6 39 98 66 96"),
            (
                "IBAN",
                "FR76 3000 6000 0112 3456 7890 189",
                "FR87 4234 8804 5076 7708 9137 466",
            ),
            ("EMAIL", "jean@corp.fr", "dominique.olivier37@example.com"),
        ] {
            let got = surrogates.pseudonym(entity, value).unwrap().to_owned();
            check(&got, want, format!("surrogate {entity}"));
        }
        for (entity, value, want) in [
            (
                "PERSON",
                "Jean  DUPONT",
                "ecbbbd7f8a3c46c0b093f2e2636925bf1924e9f2ef5fd078c8b9b121cfc56442",
            ),
            (
                "PHONE",
                "06 12 34 56 78",
                "0b95c5f7939ef782ed685477c4a5654f3d95e03288c61d880450c6d41851d487",
            ),
        ] {
            check(
                &crate::audit::hex(&k.audit_hash(entity, value)),
                want,
                format!("audit {entity}"),
            );
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    #[test]
    fn the_buffered_hash_is_the_incremental_hash_of_the_key_at_every_length() {
        let k = key();
        let mut values: Vec<String> = (230..270).map(|n| "x".repeat(n)).collect();
        values.extend([
            "Jean Dupont".into(),
            "Jean Dupont ".repeat(40),
            "é".repeat(300),
        ]);
        for value in &values {
            for entity in ["PERSON", "PHONE"] {
                let norm = normalise(entity, value);
                let mut h = blake3::Hasher::new_keyed(&k.0);
                h.update(b"a\0").update(entity.as_bytes()).update(b"\0");
                h.update(norm.as_bytes());
                assert_eq!(k.audit_hash(entity, value), *h.finalize().as_bytes());
                let mut h = blake3::Hasher::new_keyed(&k.0);
                h.update(b"p\0alice\0")
                    .update(entity.as_bytes())
                    .update(b"\0");
                h.update(norm.as_bytes())
                    .update(b"\0")
                    .update(&3u32.to_le_bytes());
                let got = k.hash(Some("alice"), entity, value, 3);
                assert_eq!(got, *h.finalize().as_bytes(), "{}", value.len());
            }
        }
    }

    #[test]
    fn scope_and_secret_change_tokens() {
        let k = key();
        let other = TokenKey::from_secret(b"another secret of enough length");
        let mut d = Vault::new(&k, None, TokenStyle::Token, 100);
        let mut p = Vault::new(&k, Some("alice".into()), TokenStyle::Token, 100);
        let mut o = Vault::new(&other, None, TokenStyle::Token, 100);
        let t = d.pseudonym("EMAIL", "a@b.fr").unwrap().to_owned();
        assert_ne!(t, p.pseudonym("EMAIL", "a@b.fr").unwrap());
        assert_ne!(t, o.pseudonym("EMAIL", "a@b.fr").unwrap());
    }

    #[test]
    fn vault_over_its_limit_fails() {
        let k = key();
        let mut v = Vault::new(&k, None, TokenStyle::Token, 1);
        v.pseudonym("PERSON", "A B").unwrap();
        v.pseudonym("PERSON", "a b").unwrap();
        assert_eq!(
            v.pseudonym("PERSON", "C D"),
            Err(VaultError::Full { limit: 1 })
        );
    }

    #[test]
    fn many_values_never_share_a_pseudonym() {
        let k = key();
        for style in [TokenStyle::Token, TokenStyle::Surrogate] {
            let mut v = Vault::new(&k, None, style, 100_000);
            for i in 0..3000 {
                v.pseudonym("PERSON", &format!("Person {i}")).unwrap();
            }
            let mut seen = std::collections::HashSet::new();
            for e in v.entries() {
                assert!(seen.insert(e.pseudonym.to_ascii_uppercase()), "{style:?}");
            }
        }
    }

    #[test]
    fn surrogate_iban_has_a_valid_checksum() {
        let k = key();
        let mut v = Vault::new(&k, None, TokenStyle::Surrogate, 10);
        let iban = v
            .pseudonym("IBAN", "FR76 3000 6000 0112 3456 7890 189")
            .unwrap()
            .replace(' ', "");
        assert_eq!(iban.len(), 27);
        let rearranged = format!("{}{}", &iban[4..], &iban[..4]);
        assert_eq!(iban_mod97(&rearranged), 1);
        let phone = v.pseudonym("PHONE", "+33 6 12 34 56 78").unwrap();
        assert!(phone.starts_with("+33 6 39 98 "));
        let mail = v.pseudonym("EMAIL", "jean@corp.fr").unwrap();
        assert!(mail.ends_with("@example.com"));
        let other = v.pseudonym("FR_NIR", "1 84 12 75 123 456 78").unwrap();
        assert!(other.starts_with("[FR_NIR_"));
    }
}
