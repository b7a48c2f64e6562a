//! Signed checkpoints end to end: a key made by `paravent audit keygen`, a real
//! `paravent serve` signing its trail, `audit verify --key` accepting it and refusing
//! any change to a record, a checkpoint or its signature, or another key; a proof
//! bundle from `audit export` verified alone.

use std::path::{Path, PathBuf};

use paravent::audit::checkpoint::{Checkpoint, SigningKey, split_note};
use paravent::audit::{AuditRecord, Kind};
use serde_json::json;

use crate::support::mock_provider::MockProvider;
use crate::support::serve::{Served, send};
use crate::support::{Scratch, paravent};

const NAME: &str = "paravent.test/audit";

/// Makes a key with the binary, starts `serve` signing its trail with it (a checkpoint
/// every `every_records` records, or after `every_seconds`), and returns the scratch
/// directory, the trail path and the running process.
fn start_signed(
    name: &str,
    mock: &MockProvider,
    every_records: u64,
    every_seconds: u64,
) -> (Scratch, PathBuf, Served) {
    let dir = Scratch::new(name);
    let prefix = dir.path().join("signing");
    let made = paravent(
        &[
            "audit",
            "keygen",
            "--name",
            NAME,
            "--out",
            Scratch::arg(&prefix),
        ],
        b"",
    );
    made.assert_code(0);
    let public = std::fs::read_to_string(dir.path().join("signing.pub")).unwrap();
    assert_eq!(made.stdout.trim(), public.trim());
    let config = dir.write(
        "paravent.toml",
        format!(
            "[server]\ndefault_provider = \"openai\"\n[providers.openai]\nbase_url = \"{}\"\napi = \"openai\"\n[audit]\npath = \"trail/paravent.jsonl\"\nfsync = \"never\"\ninstance_id = \"pod-a\"\n[audit.signing]\nkey_file = \"signing.key\"\nname = \"{NAME}\"\ninterval_records = {every_records}\ninterval_seconds = {every_seconds}\n",
            mock.base_url()
        ),
    );
    let served = Served::start(
        &config,
        &[],
        &[("PARAVENT_SECRET", "checkpoint-test secret of enough length")],
    );
    let trail = dir.path().join("trail").join("paravent.jsonl");
    (dir, trail, served)
}

async fn send_requests(served: &Served, n: usize) {
    for i in 0..n {
        let body = json!({"model": "gpt-x",
            "messages": [{"role": "user", "content": format!("Bonjour, requête {i}.")}]});
        let r = send(
            http::Method::POST,
            &served.url("/v1/chat/completions"),
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        )
        .await;
        assert_eq!(r.status, http::StatusCode::OK, "{}", r.text());
    }
}

fn records(path: &Path) -> Vec<AuditRecord> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The records as a trail, each sealed again after the one before (what someone
/// rewriting the trail without the signing key can do).
fn resealed(recs: &[AuditRecord]) -> String {
    let mut prev = recs[0].prev.clone();
    let mut out = String::new();
    for r in recs {
        let mut r = r.clone();
        out.push_str(&r.seal(&prev).unwrap());
        out.push('\n');
        prev = r.hash.clone().unwrap();
    }
    out
}

/// As [`resealed`], each checkpoint's note also made again for its new head and
/// signed by `forger`.
fn forged(recs: &[AuditRecord], forger: &SigningKey) -> String {
    let mut prev = recs[0].prev.clone();
    let mut out = String::new();
    for r in recs {
        let mut r = r.clone();
        if r.kind == Kind::Checkpoint {
            let mut head = [0u8; 32];
            for (i, o) in head.iter_mut().enumerate() {
                *o = u8::from_str_radix(&prev[2 * i..2 * i + 2], 16).unwrap();
            }
            let body = Checkpoint {
                origin: Checkpoint::origin_of(NAME, &r.instance_id, &r.chain_id),
                size: r.seq,
                head,
            }
            .body();
            r.checkpoint = Some(forger.sign_note(&body));
        }
        out.push_str(&r.seal(&prev).unwrap());
        out.push('\n');
        prev = r.hash.clone().unwrap();
    }
    out
}

fn verify_with_key(dir: &Scratch, file: &Path, key: Option<&Path>) -> crate::support::Run {
    let mut args = vec!["audit", "verify"];
    if let Some(k) = key {
        args.extend(["--key", Scratch::arg(k)]);
    }
    let _ = dir;
    args.push(Scratch::arg(file));
    paravent(&args, b"")
}

#[cfg(unix)]
#[tokio::test]
async fn a_running_serve_signs_its_trail_and_a_graceful_stop_signs_before_the_close() {
    let mock = MockProvider::start().await;
    let (dir, trail, served) = start_signed("ckpt-serve", &mock, 3, 300);
    send_requests(&served, 5).await;
    let (clean, log) = served.terminate();
    assert!(clean, "{log}");
    assert!(log.contains("Audit checkpoints are signed."), "{log}");

    let recs = records(&trail);
    let kinds: Vec<Kind> = recs.iter().map(|r| r.kind).collect();
    use Kind::{ChainClose as X, ChainStart as S, Checkpoint as C, Request as R};
    // Every 3 records (the checkpoint itself counts in the next 3), then the rest
    // signed before the close.
    assert_eq!(kinds, [S, R, R, C, R, R, R, C, X], "{kinds:?}");
    let key: paravent::audit::checkpoint::VerifierKey =
        std::fs::read_to_string(dir.path().join("signing.pub"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    let last_cp = &recs[7];
    let text =
        paravent::audit::checkpoint::open_note(last_cp.checkpoint.as_ref().unwrap(), &key).unwrap();
    let cp = Checkpoint::parse(text).unwrap();
    assert_eq!(cp.size, 7, "it signs every record before it");
    assert_eq!(recs[8].seq, 8);
    assert_eq!(
        paravent::audit::hex(&cp.head),
        recs[6].hash.clone().unwrap()
    );
    assert_eq!(cp.origin, format!("{NAME}/pod-a/{}", recs[0].chain_id));

    let pubkey = dir.path().join("signing.pub");
    let ok = verify_with_key(&dir, &trail, Some(&pubkey));
    ok.assert_code(0);
    assert!(
        ok.stdout.contains("checkpoints=2 signed=7"),
        "{}",
        ok.stdout
    );
    assert!(
        ok.stdout
            .contains("2 checkpoint(s) signed by paravent.test/audit+"),
        "{}",
        ok.stdout
    );
    // Only the close comes after the last checkpoint.
    assert!(ok.stdout.contains("records=1 seq=8..8"), "{}", ok.stdout);
}

#[cfg(unix)]
#[tokio::test]
async fn any_change_to_a_record_a_checkpoint_or_its_signature_and_any_other_key_are_refused() {
    let mock = MockProvider::start().await;
    let (dir, trail, served) = start_signed("ckpt-tamper", &mock, 3, 300);
    send_requests(&served, 5).await;
    let (clean, log) = served.terminate();
    assert!(clean, "{log}");
    let pubkey = dir.path().join("signing.pub");
    verify_with_key(&dir, &trail, Some(&pubkey)).assert_code(0);
    let recs = records(&trail);
    let file = |name: &str, text: &str| dir.write(name, text);
    let refused = |path: &Path, key: Option<&Path>, line: usize, needle: &str| {
        let r = verify_with_key(&dir, path, key);
        r.assert_code(1);
        let at = format!("{}:{line}:", path.display());
        assert!(
            r.stderr.contains(&at) && r.stderr.contains(needle),
            "expected {at} … {needle}:\n{}",
            r.stderr
        );
    };

    // A record changed and every hash after it computed again: the next checkpoint's
    // head no longer matches, with or without the key.
    let mut changed = recs.clone();
    changed[2].request.as_mut().unwrap().status = 201;
    let p = file("record.jsonl", &resealed(&changed));
    refused(&p, Some(&pubkey), 4, "head it signs");
    refused(&p, None, 4, "head it signs");

    // … and every checkpoint's note rewritten to the new heads, signed by another key
    // of the same name: the signatures are not the key's.
    let forger = SigningKey::from_seed(NAME, &[42u8; 32]).unwrap();
    let p = file("forged.jsonl", &forged(&changed, &forger));
    refused(&p, Some(&pubkey), 4, "not signed by the key");
    // Without the key, a forged trail that agrees with itself is not found: the key is
    // what an auditor verifies with.
    verify_with_key(&dir, &p, None).assert_code(0);

    // The checkpoint's body changed (its size), the chain sealed again.
    let mut body_changed = recs.clone();
    let note = body_changed[3].checkpoint.clone().unwrap();
    body_changed[3].checkpoint = Some(note.replacen("\n3\n", "\n2\n", 1));
    let p = file("body.jsonl", &resealed(&body_changed));
    refused(&p, Some(&pubkey), 4, "does not verify");
    refused(&p, None, 4, "signs 2 records");

    // One byte of its signature changed, the chain sealed again.
    let mut sig_changed = recs.clone();
    let note = sig_changed[7].checkpoint.clone().unwrap();
    let (text, sigs) = split_note(&note).unwrap();
    let mut raw = sigs[0].id.to_vec();
    let mut sig = sigs[0].signature.clone();
    sig[10] ^= 1;
    raw.extend(sig);
    use base64::Engine as _;
    let line = format!(
        "\u{2014} {} {}\n",
        sigs[0].name,
        base64::engine::general_purpose::STANDARD.encode(raw)
    );
    sig_changed[7].checkpoint = Some(format!("{text}\n{line}"));
    let p = file("sig.jsonl", &resealed(&sig_changed));
    refused(&p, Some(&pubkey), 8, "does not verify");

    // A record changed in place (its hash not computed again).
    let text = std::fs::read_to_string(&trail).unwrap();
    let p = file(
        "inplace.jsonl",
        &text.replacen("\"status\":200", "\"status\":201", 1),
    );
    refused(&p, Some(&pubkey), 2, "modified");

    // Another key.
    let other = dir.path().join("other");
    paravent(
        &[
            "audit",
            "keygen",
            "--name",
            "someone.else",
            "--out",
            Scratch::arg(&other),
        ],
        b"",
    )
    .assert_code(0);
    let other_pub = dir.path().join("other.pub");
    refused(
        &trail,
        Some(&other_pub),
        4,
        "not signed by the key someone.else+",
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_proof_bundle_verifies_alone_and_fails_once_changed() {
    let mock = MockProvider::start().await;
    let (dir, trail, served) = start_signed("ckpt-bundle", &mock, 3, 300);
    send_requests(&served, 8).await;
    let (clean, log) = served.terminate();
    assert!(clean, "{log}");
    let recs = records(&trail);
    let cps: Vec<&AuditRecord> = recs.iter().filter(|r| r.kind == Kind::Checkpoint).collect();
    assert!(cps.len() >= 3, "{} checkpoints", cps.len());
    let chain = &recs[0].chain_id;
    let from = format!("{chain}:{}", cps[1].seq);
    let bundle = dir.path().join("proof.jsonl");
    let trail_dir = dir.path().join("trail");
    let pubkey = dir.path().join("signing.pub");
    let made = paravent(
        &[
            "audit",
            "export",
            "--from",
            &from,
            "--out",
            Scratch::arg(&bundle),
            "--key",
            Scratch::arg(&pubkey),
            Scratch::arg(&trail_dir),
        ],
        b"",
    );
    made.assert_code(0);
    let last_cp = cps.last().unwrap().seq;
    assert!(
        made.stdout
            .contains(&format!("seq={}..{last_cp}", cps[1].seq)),
        "{}",
        made.stdout
    );

    // Alone: copied where there is no trail and no key file.
    let alone = Scratch::new("ckpt-bundle-alone");
    let copy = alone.write("proof.jsonl", std::fs::read(&bundle).unwrap());
    let ok = paravent(&["audit", "verify", Scratch::arg(&copy)], b"");
    ok.assert_code(0);
    assert!(ok.stdout.contains("verified alone"), "{}", ok.stdout);
    assert!(ok.stdout.contains("carried by the bundle"), "{}", ok.stdout);
    let public = std::fs::read_to_string(&pubkey).unwrap();
    let ok = paravent(
        &[
            "audit",
            "verify",
            "--key",
            public.trim(),
            Scratch::arg(&copy),
        ],
        b"",
    );
    ok.assert_code(0);
    assert!(
        ok.stdout
            .contains(&format!("records={}", last_cp - cps[1].seq + 1)),
        "{}",
        ok.stdout
    );

    // From a note the auditor kept: the same bundle.
    let note = alone.write("kept-note.txt", cps[1].checkpoint.clone().unwrap());
    let again = dir.path().join("again.jsonl");
    paravent(
        &[
            "audit",
            "export",
            "--from",
            Scratch::arg(&note),
            "--out",
            Scratch::arg(&again),
            "--key",
            Scratch::arg(&pubkey),
            Scratch::arg(&trail_dir),
        ],
        b"",
    )
    .assert_code(0);
    assert_eq!(
        std::fs::read(&again).unwrap(),
        std::fs::read(&bundle).unwrap()
    );

    // Another key given: refused.
    let other = SigningKey::from_seed(NAME, &[9u8; 32]).unwrap();
    let wrong = other.verifier().to_string();
    paravent(
        &["audit", "verify", "--key", &wrong, Scratch::arg(&copy)],
        b"",
    )
    .assert_code(1);

    // A record changed inside: refused at its line.
    let text = std::fs::read_to_string(&copy).unwrap();
    let bad = alone.write(
        "bad.jsonl",
        text.replacen("\"status\":200", "\"status\":201", 1),
    );
    let r = paravent(&["audit", "verify", Scratch::arg(&bad)], b"");
    r.assert_code(1);
    assert!(r.stderr.contains("bad.jsonl:3:"), "{}", r.stderr);

    // The last checkpoint cut off: the bundle no longer ends signed.
    let cut: String = text
        .lines()
        .take(text.lines().count() - 1)
        .map(|l| format!("{l}\n"))
        .collect();
    let cut = alone.write("cut.jsonl", cut);
    let r = paravent(&["audit", "verify", Scratch::arg(&cut)], b"");
    r.assert_code(1);
    assert!(
        r.stderr.contains("does not end with a checkpoint"),
        "{}",
        r.stderr
    );
}

#[cfg(unix)]
#[tokio::test]
async fn records_left_unsigned_are_signed_on_the_timer_without_new_requests() {
    let mock = MockProvider::start().await;
    let (dir, trail, served) = start_signed("ckpt-timer", &mock, 1000, 1);
    send_requests(&served, 1).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // A checkpoint after the request (one may have signed the chain-start alone before
    // it, on a slow machine).
    let signed = loop {
        let recs = records(&trail);
        let request = recs.iter().position(|r| r.kind == Kind::Request);
        if let Some(cp) = recs
            .iter()
            .enumerate()
            .find(|(i, r)| r.kind == Kind::Checkpoint && request.is_some_and(|q| q < *i))
        {
            break cp.1.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 20 s:\n{}",
            served.output()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // It signs everything before it, the request included.
    let recs = records(&trail);
    assert_eq!(recs[usize::try_from(signed.seq).unwrap()], signed);
    assert_eq!(
        recs[usize::try_from(signed.seq).unwrap() - 1].kind,
        Kind::Request
    );
    let (clean, log) = served.terminate();
    assert!(clean, "{log}");
    assert!(
        log.contains("reason=\"timer\"") || log.contains("reason=timer"),
        "{log}"
    );
    verify_with_key(&dir, &trail, Some(&dir.path().join("signing.pub"))).assert_code(0);
}

#[test]
fn check_says_a_trail_is_unsigned_refuses_a_signing_section_without_a_key_and_serve_refuses_an_unreadable_key()
 {
    let dir = Scratch::new("ckpt-config");
    let unsigned = dir.write("unsigned.toml", "[audit]\npath = \"trail/a.jsonl\"\n");
    let r = paravent(&["check", "--config", Scratch::arg(&unsigned)], b"");
    r.assert_code(0);
    assert!(r.stderr.contains("no [audit.signing]"), "{}", r.stderr);

    let keyless = dir.write(
        "keyless.toml",
        "[audit]\npath = \"trail/a.jsonl\"\n[audit.signing]\nname = \"a.example\"\n",
    );
    let r = paravent(&["check", "--config", Scratch::arg(&keyless)], b"");
    r.assert_code(1);
    assert!(
        r.stderr.contains("needs one of key_file and key_env"),
        "{}",
        r.stderr
    );

    let missing = dir.write(
        "missing.toml",
        "[audit]\npath = \"trail/a.jsonl\"\n[audit.signing]\nkey_file = \"nowhere.key\"\n",
    );
    let r = paravent(&["check", "--config", Scratch::arg(&missing)], b"");
    r.assert_code(0);
    assert!(r.stderr.contains("nowhere.key"), "{}", r.stderr);
    let r = paravent(
        &[
            "serve",
            "--config",
            Scratch::arg(&missing),
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        b"",
    );
    r.assert_code(2);
    assert!(r.stderr.contains("signed checkpoints"), "{}", r.stderr);
    // Nothing was written unsigned.
    assert!(!dir.path().join("trail").join("a.jsonl").exists());
}
