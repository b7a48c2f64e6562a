//! \[pure\] Signed checkpoints of the audit chain, in the text formats of transparency
//! logs: a C2SP `signed-note` whose body has the shape of a C2SP `tlog-checkpoint`.
//!
//! A checkpoint says "the chain `origin` had `size` records, and the hash of the last of
//! them was `head`": its body is three lines,
//!
//! ```text
//! paravent.example.com/audit/pod-a/3f…e1
//! 1042
//! nywS0x…=
//! ```
//!
//! (origin = `<key name>/<instance id>/<chain id>`, the decimal size, the base64 of the
//! 32-byte head), then a blank line and one signature line per signer:
//! `— <key name> <base64(key id ‖ Ed25519 signature)>`. The key id is the first 4 bytes
//! of `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`; a verifier key is written
//! `<name>+<key id hex>+<base64(0x01 ‖ public key)>` and a signer key
//! `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 ‖ seed)>`, as the Go reference
//! implementation (golang.org/x/mod/sumdb/note) writes them, so its tools and witnesses
//! read ours.
//!
//! The one departure from `tlog-checkpoint`: the head is the hash-chain head (the BLAKE3
//! hash of the chain's record `size - 1`), not a Merkle tree root; an auditor checks it
//! against the chain, not with inclusion proofs (docs/AUDIT.md, "Signed checkpoints").
//!
//! This module does no I/O: the writer and `audit verify` read the keys and the trail.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::KeyPair as _;

/// The signature algorithm byte of an Ed25519 key in the signed-note formats.
const ALG_ED25519: u8 = 0x01;
/// What starts a signature line: an em dash and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// What starts a signer (private) key.
const PRIVATE_PREFIX: &str = "PRIVATE+KEY+";

/// Why a key, a note or a checkpoint was refused. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("a key name is not empty and has no space, no '+' and no control character: {0:?}")]
    BadName(String),
    #[error(
        "not a signed-note verifier key (<name>+<key id hex>+<base64 of 0x01 and the Ed25519 public key>)"
    )]
    BadVerifierKey,
    #[error(
        "not a signed-note signer key (PRIVATE+KEY+<name>+<key id hex>+<base64 of 0x01 and the Ed25519 seed>)"
    )]
    BadSignerKey,
    #[error("the key's id does not match its name and public key")]
    KeyIdMismatch,
    #[error("not a signed note (a text, a blank line, then signature lines)")]
    Malformed,
    #[error("not a checkpoint body (origin, decimal size, base64 of a 32-byte head)")]
    BadBody,
    #[error("not signed by the key {0}: {1}")]
    NotSignedBy(String, String),
    #[error(
        "the signature of {0} does not verify (the note was modified, or signed by another key with the same name and id)"
    )]
    BadSignature(String),
}

/// SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), first 4 bytes: the signed-note key id.
pub fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(name.as_bytes());
    ctx.update(b"\n");
    ctx.update(&[ALG_ED25519]);
    ctx.update(public);
    let d = ctx.finish();
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

/// A signed-note key name: not empty, no whitespace, no `+`, no control character.
///
/// # Errors
/// [`NoteError::BadName`].
pub fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+')
    {
        return Err(NoteError::BadName(name.to_owned()));
    }
    Ok(())
}

/// `<name>+<hex8>+<base64>` split, with the key id and the 32 key bytes after 0x01.
fn split_key(text: &str) -> Option<(&str, [u8; 4], [u8; 32])> {
    // From the left: a name has no '+', base64 may.
    let mut parts = text.trim().splitn(3, '+');
    let (name, hex, b64) = (parts.next()?, parts.next()?, parts.next()?);
    check_name(name).ok()?;
    if hex.len() != 8 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let id = u32::from_str_radix(hex, 16).ok()?.to_be_bytes();
    let raw = B64.decode(b64).ok()?;
    let (&alg, key) = raw.split_first()?;
    if alg != ALG_ED25519 {
        return None;
    }
    Some((name, id, key.try_into().ok()?))
}

/// A public key that checks signatures: what the auditor holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    pub name: String,
    pub id: [u8; 4],
    pub public: [u8; 32],
}

impl std::str::FromStr for VerifierKey {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<VerifierKey, NoteError> {
        let (name, id, public) = split_key(s).ok_or(NoteError::BadVerifierKey)?;
        if key_id(name, &public) != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(VerifierKey {
            name: name.to_owned(),
            id,
            public,
        })
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(&self.public);
        write!(
            f,
            "{}+{}+{}",
            self.name,
            super::hex(&self.id),
            B64.encode(raw)
        )
    }
}

impl VerifierKey {
    /// `name+id`, how messages name the key (never the key bytes alone).
    pub fn label(&self) -> String {
        format!("{}+{}", self.name, super::hex(&self.id))
    }
}

/// The private key that signs checkpoints (held apart from the deployment secret).
pub struct SigningKey {
    name: String,
    pair: ring::signature::Ed25519KeyPair,
    verifier: VerifierKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the seed.
        f.debug_struct("SigningKey")
            .field("verifier", &self.verifier.label())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key of `name` from its 32-byte seed (`paravent audit keygen` draws it).
    ///
    /// # Errors
    /// A bad name.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<SigningKey, NoteError> {
        check_name(name)?;
        let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
            .map_err(|_| NoteError::BadSignerKey)?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| NoteError::BadSignerKey)?;
        Ok(SigningKey {
            name: name.to_owned(),
            verifier: VerifierKey {
                name: name.to_owned(),
                id: key_id(name, &public),
                public,
            },
            pair,
        })
    }

    /// Reads a signer key, `PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ seed)>`.
    ///
    /// # Errors
    /// Not that format, or an id that does not match the key.
    pub fn parse(text: &str) -> Result<SigningKey, NoteError> {
        let rest = text
            .trim()
            .strip_prefix(PRIVATE_PREFIX)
            .ok_or(NoteError::BadSignerKey)?;
        let (name, id, seed) = split_key(rest).ok_or(NoteError::BadSignerKey)?;
        let key = SigningKey::from_seed(name, &seed)?;
        if key.verifier.id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(key)
    }

    /// The signer key text (`PRIVATE+KEY+…`) of `name` and `seed`, for the key file.
    ///
    /// # Errors
    /// A bad name.
    pub fn encode(name: &str, seed: &[u8; 32]) -> Result<String, NoteError> {
        let key = SigningKey::from_seed(name, seed)?;
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(seed);
        Ok(format!(
            "{PRIVATE_PREFIX}{name}+{}+{}",
            super::hex(&key.verifier.id),
            B64.encode(raw)
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public half, as the auditor is given it.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// `text` (which must end with a newline) as a signed note: the text, a blank line
    /// and this key's signature line.
    pub fn sign_note(&self, text: &str) -> String {
        let sig = self.pair.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(4 + 64);
        raw.extend_from_slice(&self.verifier.id);
        raw.extend_from_slice(sig.as_ref());
        format!("{text}\n{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub id: [u8; 4],
    pub signature: Vec<u8>,
}

/// A note split into its text and its signature lines (nothing verified).
///
/// # Errors
/// [`NoteError::Malformed`]: no blank line before the signatures, a text that is not
/// lines, or a signature line that is not `— <name> <base64 of id and signature>`.
pub fn split_note(note: &str) -> Result<(&str, Vec<NoteSignature>), NoteError> {
    let at = note.rfind("\n\n").ok_or(NoteError::Malformed)?;
    let (text, sigs) = (&note[..=at], &note[at + 2..]);
    if text.chars().any(|c| c.is_control() && c != '\n') || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed);
    }
    let mut out = Vec::new();
    for line in sigs.split_terminator('\n') {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed)?;
        let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed)?;
        check_name(name).map_err(|_| NoteError::Malformed)?;
        let raw = B64.decode(b64).map_err(|_| NoteError::Malformed)?;
        if raw.len() < 5 {
            return Err(NoteError::Malformed);
        }
        let (id, sig) = raw.split_at(4);
        out.push(NoteSignature {
            name: name.to_owned(),
            id: id.try_into().map_err(|_| NoteError::Malformed)?,
            signature: sig.to_vec(),
        });
    }
    if out.is_empty() {
        return Err(NoteError::Malformed);
    }
    Ok((text, out))
}

/// The note's text once `key`'s signature on it verifies.
///
/// # Errors
/// A malformed note, no signature by `key` (naming the signers), or a signature by
/// `key` that does not verify.
pub fn open_note<'a>(note: &'a str, key: &VerifierKey) -> Result<&'a str, NoteError> {
    let (text, sigs) = split_note(note)?;
    let Some(sig) = sigs.iter().find(|s| s.name == key.name && s.id == key.id) else {
        let by: Vec<String> = sigs
            .iter()
            .map(|s| format!("{}+{}", s.name, super::hex(&s.id)))
            .collect();
        return Err(NoteError::NotSignedBy(
            key.label(),
            format!("signed by {}", by.join(", ")),
        ));
    };
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &key.public)
        .verify(text.as_bytes(), &sig.signature)
        .map_err(|_| NoteError::BadSignature(key.label()))?;
    Ok(text)
}

/// What a checkpoint says of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// `<key name>/<instance id>/<chain id>`.
    pub origin: String,
    /// The records it covers: the chain's records `0 .. size - 1`.
    pub size: u64,
    /// The hash of the record `size - 1`.
    pub head: [u8; 32],
}

impl Checkpoint {
    /// The origin line of `key name`'s checkpoints of a chain.
    pub fn origin_of(name: &str, instance_id: &str, chain_id: &str) -> String {
        format!("{name}/{instance_id}/{chain_id}")
    }

    /// The note body: origin, size and base64 head, one per line.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.head)
        )
    }

    /// Reads a note body (extension lines after the head, which `tlog-checkpoint`
    /// allows, are ignored: Paravent writes none).
    ///
    /// # Errors
    /// [`NoteError::BadBody`].
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = text.split_terminator('\n');
        let (Some(origin), Some(size), Some(head)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::BadBody);
        };
        let canonical_size = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        if origin.is_empty() || !canonical_size || !text.ends_with('\n') {
            return Err(NoteError::BadBody);
        }
        let size = size.parse().map_err(|_| NoteError::BadBody)?;
        let head: [u8; 32] = B64
            .decode(head)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or(NoteError::BadBody)?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            head,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The published example of the Go reference implementation of signed notes
    // (golang.org/x/mod/sumdb/note): the same key must give the same note here.
    const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const GO_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const GO_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn the_reference_implementations_example_key_and_note_are_read_and_made_alike() {
        let skey = SigningKey::parse(GO_SKEY).unwrap();
        assert_eq!(skey.verifier().to_string(), GO_VKEY);
        let vkey: VerifierKey = GO_VKEY.parse().unwrap();
        let note = format!("{GO_TEXT}\n{GO_SIG}");
        assert_eq!(skey.sign_note(GO_TEXT), note);
        assert_eq!(open_note(&note, &vkey).unwrap(), GO_TEXT);
    }

    #[test]
    fn a_changed_text_signature_or_key_is_refused() {
        let vkey: VerifierKey = GO_VKEY.parse().unwrap();
        let note = format!("{GO_TEXT}\n{GO_SIG}");
        let changed = note.replacen("problem", "problems", 1);
        assert!(matches!(
            open_note(&changed, &vkey),
            Err(NoteError::BadSignature(_))
        ));
        let sig = note.replacen("x08go", "x08gp", 1);
        assert!(open_note(&sig, &vkey).is_err());
        let other = SigningKey::from_seed("PeterNeumann", &[7u8; 32]).unwrap();
        let err = open_note(&note, other.verifier()).unwrap_err();
        assert!(matches!(err, NoteError::NotSignedBy(..)), "{err}");
        assert!(err.to_string().contains("PeterNeumann+c74f20a3"), "{err}");
        // A key whose id does not match its name and bytes is not a key.
        let renamed = GO_VKEY.replacen("PeterNeumann", "PeterNeuman", 1);
        assert_eq!(
            renamed.parse::<VerifierKey>(),
            Err(NoteError::KeyIdMismatch)
        );
        for bad in ["", "a+b", "n+c74f20a3+AQ==", "PeterNeumann+C74F20A3+x"] {
            assert!(bad.parse::<VerifierKey>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_checkpoint_body_round_trips_and_its_size_is_canonical() {
        let c = Checkpoint {
            origin: Checkpoint::origin_of("paravent.example/audit", "pod-a", "c0ffee"),
            size: 42,
            head: [9u8; 32],
        };
        let body = c.body();
        assert_eq!(body.lines().count(), 3);
        assert_eq!(Checkpoint::parse(&body).unwrap(), c);
        let key = SigningKey::from_seed("paravent.example/audit", &[1u8; 32]).unwrap();
        let note = key.sign_note(&body);
        let text = open_note(&note, key.verifier()).unwrap();
        assert_eq!(Checkpoint::parse(text).unwrap(), c);
        for bad in [
            "o\n042\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
            "o\n-1\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
            "o\n1\nCQkJ\n",
            "o\n1\n",
            "\n1\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
        ] {
            assert_eq!(Checkpoint::parse(bad), Err(NoteError::BadBody), "{bad:?}");
        }
    }

    #[test]
    fn a_signer_key_round_trips_and_a_bad_name_is_refused() {
        let text = SigningKey::encode("paravent.example/audit", &[3u8; 32]).unwrap();
        let key = SigningKey::parse(&text).unwrap();
        assert_eq!(key.name(), "paravent.example/audit");
        assert_eq!(
            key.verifier().to_string().parse::<VerifierKey>().unwrap(),
            *key.verifier()
        );
        assert!(!format!("{key:?}").contains(&text[PRIVATE_PREFIX.len()..]));
        for name in ["", "a b", "a+b", "a\tb"] {
            assert!(SigningKey::from_seed(name, &[3u8; 32]).is_err(), "{name:?}");
        }
        assert!(SigningKey::parse(&text.replacen("PRIVATE+KEY+", "", 1)).is_err());
    }

    #[test]
    fn a_note_with_a_witness_cosignature_still_opens_with_each_key() {
        let log = SigningKey::from_seed("log.example", &[1u8; 32]).unwrap();
        let witness = SigningKey::from_seed("witness.example", &[2u8; 32]).unwrap();
        let body = "log.example/i/c\n3\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n";
        let note = log.sign_note(body);
        let cosigned = format!(
            "{note}{}",
            witness.sign_note(body).rsplit_once("\n\n").unwrap().1
        );
        assert_eq!(open_note(&cosigned, log.verifier()).unwrap(), body);
        assert_eq!(open_note(&cosigned, witness.verifier()).unwrap(), body);
        assert_eq!(split_note(&cosigned).unwrap().1.len(), 2);
    }
}
