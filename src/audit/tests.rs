use std::collections::BTreeMap;

use super::verify::{BadRecord, verify};
use super::*;

/// A chain of a `chain-start` and `n` request records, one line each.
fn chain(n: usize) -> Vec<String> {
    let mut start = AuditRecord::chain_start(
        "chain-1".into(),
        "test-instance".into(),
        policy_version("[server]\n"),
        "2026-05-01T00:00:00.000000Z".into(),
    );
    let mut prev = anchor("chain-1");
    let mut lines = vec![start.seal(&prev).unwrap()];
    prev = start.hash.clone().unwrap();
    for i in 1..=n {
        let mut r = start.clone();
        r.kind = Kind::Request;
        r.seq = i as u64;
        r.request = Some(RequestFields {
            request_id: format!("pv-{i}"),
            principal: "alice".into(),
            provider: Some("openai".into()),
            model: Some("gpt-4o".into()),
            endpoint: Some("openai.chat".into()),
            decision: Some(Decision::Forwarded),
            findings_by_entity: BTreeMap::from([("PERSON".to_owned(), 2)]),
            status: 200,
            ..RequestFields::default()
        });
        lines.push(r.seal(&prev).unwrap());
        prev = r.hash.clone().unwrap();
    }
    lines
}

fn text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn check(lines: &[String]) -> Result<verify::Verified, BadRecord> {
    verify(&[("a.jsonl", &text(lines))], None)
}

#[test]
fn an_intact_chain_verifies_and_gives_its_last_hash() {
    let lines = chain(4);
    let v = check(&lines).unwrap();
    assert_eq!(v.records, 5);
    assert_eq!(v.chains, 1);
    let last: AuditRecord = serde_json::from_str(&lines[4]).unwrap();
    assert_eq!(Some(v.last_hash), last.hash);
}

#[test]
fn a_sealed_line_is_the_sealed_record_serialised_and_its_hash_covers_the_record_without_it() {
    let lines = chain(2);
    for line in &lines {
        let r: AuditRecord = serde_json::from_str(line).unwrap();
        // The line written from one serialisation is what serialising the sealed
        // record gives.
        assert_eq!(&serde_json::to_string(&r).unwrap(), line);
        // The hash is BLAKE3(prev ‖ the record serialised with no hash at all).
        let mut blank = r.clone();
        blank.hash = None;
        let mut h = blake3::Hasher::new();
        h.update(&unhex32(&r.prev).unwrap());
        h.update(&serde_json::to_vec(&blank).unwrap());
        assert_eq!(r.hash.as_deref(), Some(h.finalize().to_hex().as_str()));
        assert_eq!(r.canonical().unwrap(), serde_json::to_vec(&blank).unwrap());
    }
}

#[test]
fn canonical_form_has_no_whitespace_and_no_hash() {
    let lines = chain(1);
    let r: AuditRecord = serde_json::from_str(&lines[1]).unwrap();
    let c = String::from_utf8(r.canonical().unwrap()).unwrap();
    assert!(!c.contains(' ') && !c.contains('\n'));
    assert!(!c.contains(r.hash.as_deref().unwrap()));
    assert!(c.starts_with("{\"v\":3,\"kind\":\"request\",\"seq\":1,\"time\":"));
    assert_eq!(
        format!("{},\"hash\":\"{}\"}}", &c[..c.len() - 1], r.hash.unwrap()),
        lines[1]
    );
}

#[test]
fn a_modified_field_is_named_with_its_line_and_request_id() {
    let mut lines = chain(4);
    lines[2] = lines[2].replace("\"principal\":\"alice\"", "\"principal\":\"bob\"");
    let bad = check(&lines).unwrap_err();
    assert_eq!((bad.line, bad.request_id.as_deref()), (3, Some("pv-2")));
}

#[test]
fn a_modified_record_with_a_recomputed_hash_breaks_the_next_link() {
    let mut lines = chain(4);
    let mut r: AuditRecord = serde_json::from_str(&lines[2]).unwrap();
    r.request.as_mut().unwrap().status = 500;
    let prev = r.prev.clone();
    lines[2] = r.seal(&prev).unwrap();
    let bad = check(&lines).unwrap_err();
    assert_eq!((bad.line, bad.request_id.as_deref()), (4, Some("pv-3")));
}

#[test]
fn a_deleted_line_is_found_at_the_next_record() {
    let mut lines = chain(4);
    lines.remove(2);
    let bad = check(&lines).unwrap_err();
    assert_eq!((bad.line, bad.request_id.as_deref()), (3, Some("pv-3")));
}

#[test]
fn a_deleted_chain_start_is_found_at_the_first_line() {
    let mut lines = chain(2);
    lines.remove(0);
    let bad = check(&lines).unwrap_err();
    assert_eq!((bad.line, bad.request_id.as_deref()), (1, Some("pv-1")));
}

#[test]
fn an_inserted_line_is_found() {
    let mut lines = chain(4);
    let copy = lines[2].clone();
    lines.insert(3, copy);
    let bad = check(&lines).unwrap_err();
    assert_eq!((bad.line, bad.request_id.as_deref()), (4, Some("pv-2")));
}

#[test]
fn an_inserted_forged_record_is_found() {
    let mut lines = chain(4);
    let mut forged: AuditRecord = serde_json::from_str(&lines[2]).unwrap();
    forged.request.as_mut().unwrap().request_id = "pv-forged".into();
    let prev = forged.hash.clone().unwrap();
    forged.seq = 3;
    lines.insert(3, forged.seal(&prev).unwrap());
    let bad = check(&lines).unwrap_err();
    assert_eq!((bad.line, bad.request_id.as_deref()), (5, Some("pv-3")));
}

#[test]
fn two_swapped_lines_are_found() {
    let mut lines = chain(4);
    lines.swap(2, 3);
    let bad = check(&lines).unwrap_err();
    assert_eq!((bad.line, bad.request_id.as_deref()), (3, Some("pv-3")));
}

#[test]
fn a_truncated_last_line_is_found() {
    let lines = chain(3);
    let mut t = text(&lines);
    t.truncate(t.len() - 20);
    let bad = verify(&[("a.jsonl", &t)], None).unwrap_err();
    assert_eq!(bad.line, 4);
}

#[test]
fn a_truncated_tail_is_found_with_the_last_checkpoint() {
    let lines = chain(4);
    let full = check(&lines).unwrap();
    let short = &lines[..3];
    assert!(
        check(short).is_ok(),
        "without a checkpoint, a shorter chain is valid"
    );
    let bad = verify(&[("a.jsonl", &text(short))], Some(&full.last_hash)).unwrap_err();
    assert_eq!((bad.line, bad.request_id.as_deref()), (3, Some("pv-2")));
    assert!(verify(&[("a.jsonl", &text(&lines))], Some(&full.last_hash)).is_ok());
}

#[test]
fn whitespace_added_to_a_line_is_found() {
    let mut lines = chain(2);
    lines[1] = lines[1].replacen(':', ": ", 1);
    let bad = check(&lines).unwrap_err();
    assert_eq!(bad.line, 2);
}

#[test]
fn an_unknown_field_is_found() {
    let mut lines = chain(2);
    lines[1] = lines[1].replacen('{', "{\"note\":1,", 1);
    assert_eq!(check(&lines).unwrap_err().line, 2);
}

#[test]
fn an_empty_input_fails() {
    assert!(verify(&[("a.jsonl", "")], None).is_err());
}

#[test]
fn a_chain_continues_across_files() {
    let lines = chain(4);
    let a = text(&lines[..2]);
    let b = text(&lines[2..]);
    assert_eq!(verify(&[("a", &a), ("b", &b)], None).unwrap().records, 5);
    // Given in the other order, the pieces are still put in chain order.
    let v = verify(&[("b", &b), ("a", &a)], None).unwrap();
    assert_eq!(v.records, 5);
    let last: AuditRecord = serde_json::from_str(&lines[4]).unwrap();
    assert_eq!(Some(v.last_hash), last.hash);
}

/// The lines of chain `id` of instance `instance`: a chain-start (anchored, or after
/// `after`), `n` requests, and a close when `close`.
fn chain_of(id: &str, instance: &str, n: usize, after: Option<&str>, close: bool) -> Vec<String> {
    let mut prev = after.map_or_else(|| anchor(id), str::to_owned);
    let mut start = AuditRecord::chain_start(
        id.into(),
        instance.into(),
        "p".into(),
        "2026-05-01T00:00:00.000000Z".into(),
    );
    let mut lines = vec![start.seal(&prev).unwrap()];
    prev = start.hash.clone().unwrap();
    for i in 1..=n + usize::from(close) {
        let mut r = start.clone();
        r.seq = i as u64;
        r.time = format!("2026-05-01T00:00:{i:02}.000000Z");
        if i <= n {
            r.kind = Kind::Request;
            r.request = Some(RequestFields {
                request_id: format!("{instance}-{i}"),
                principal: "alice".into(),
                status: 200,
                ..RequestFields::default()
            });
        } else {
            r.kind = Kind::ChainClose;
        }
        lines.push(r.seal(&prev).unwrap());
        prev = r.hash.clone().unwrap();
    }
    lines
}

fn last_hash(lines: &[String]) -> String {
    let r: AuditRecord = serde_json::from_str(lines.last().unwrap()).unwrap();
    r.hash.unwrap()
}

/// Feeds (name, lines) in the order given.
fn verify_pieces(pieces: &[(&str, &[String])], checkpoints: &[&str]) -> verify::Verification {
    let mut v = verify::Verifier::new(checkpoints);
    for (name, lines) in pieces {
        v.file(name);
        for l in *lines {
            v.push(l);
        }
    }
    v.finish()
}

#[test]
fn the_pieces_of_three_instances_verify_given_in_any_order() {
    let a = chain_of("ca", "pod-a", 6, None, true);
    let b = chain_of("cb", "pod-b", 5, None, true);
    let c = chain_of("cc", "pod-c", 4, None, false);
    let pieces: Vec<(&str, &[String])> = vec![
        ("b.2", &b[4..]),
        ("a.3", &a[6..]),
        ("c.1", &c[..]),
        ("a.1", &a[..3]),
        ("b.1", &b[..4]),
        ("a.2", &a[3..6]),
    ];
    let v = verify_pieces(&pieces, &[&last_hash(&a), &last_hash(&c)]);
    assert!(v.ok(), "{:?}", v.first_bad());
    let got: Vec<(&str, &str, u64, bool)> = v
        .chains
        .iter()
        .map(|c| {
            (
                c.instance_id.as_str(),
                c.chain_id.as_str(),
                c.records,
                c.closed,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("pod-a", "ca", 8, true),
            ("pod-b", "cb", 7, true),
            ("pod-c", "cc", 5, false)
        ]
    );
    assert_eq!(v.chains[0].files, ["a.1", "a.2", "a.3"]);
    assert_eq!(v.chains[0].last_hash, last_hash(&a));
    assert_eq!(v.chains[0].last_seq, 7);
    assert_eq!(v.chains[0].first_time, "2026-05-01T00:00:00.000000Z");
    assert_eq!(v.chains[0].last_time, "2026-05-01T00:00:07.000000Z");
}

#[test]
fn lines_of_several_chains_interleaved_in_one_file_verify() {
    let a = chain_of("ca", "pod-a", 3, None, false);
    let b = chain_of("cb", "pod-b", 3, None, false);
    let mixed: Vec<String> = a
        .iter()
        .zip(&b)
        .flat_map(|(x, y)| [x.clone(), y.clone()])
        .collect();
    let v = verify_pieces(&[("shipped", &mixed)], &[]);
    assert!(v.ok(), "{:?}", v.first_bad());
    assert_eq!(v.verified_chains(), 2);
}

#[test]
fn a_missing_middle_piece_fails_at_the_piece_after_it() {
    let a = chain_of("ca", "pod-a", 6, None, true);
    let v = verify_pieces(&[("a.1", &a[..3]), ("a.3", &a[6..])], &[]);
    let bad = v.first_bad().unwrap();
    assert_eq!((bad.file.as_str(), bad.line), ("a.3", 1), "{bad}");
    assert!(bad.reason.contains("missing"), "{bad}");
}

#[test]
fn a_duplicated_piece_fails() {
    let a = chain_of("ca", "pod-a", 6, None, false);
    let v = verify_pieces(
        &[("a.1", &a[..4]), ("a.2", &a[4..]), ("copy", &a[4..])],
        &[],
    );
    let bad = v.first_bad().unwrap();
    assert!(bad.reason.contains("duplicated"), "{bad}");
    assert!(!v.ok());
}

#[test]
fn a_record_moved_into_another_instances_file_fails_and_the_other_chains_still_verify() {
    let a = chain_of("ca", "pod-a", 6, None, true);
    let b = chain_of("cb", "pod-b", 3, None, true);
    let c = chain_of("cc", "pod-c", 3, None, true);
    let mut a_file = a.clone();
    let moved = a_file.remove(3);
    let mut b_file = b.clone();
    b_file.insert(2, moved);
    let v = verify_pieces(&[("a", &a_file), ("b", &b_file), ("c", &c)], &[]);
    assert!(!v.ok());
    let bad = v.first_bad().unwrap();
    assert_eq!((bad.file.as_str(), bad.line), ("a", 4), "{bad}");
    assert_eq!(bad.request_id.as_deref(), Some("pod-a-4"));
    let state: Vec<(&str, bool)> = v
        .chains
        .iter()
        .map(|c| (c.instance_id.as_str(), c.bad.is_none()))
        .collect();
    assert_eq!(state, [("pod-a", false), ("pod-b", true), ("pod-c", true)]);
}

#[test]
fn a_restart_after_a_close_continues_the_chain_and_cut_records_before_it_fail() {
    let first = chain_of("c1", "pod-a", 3, None, true);
    let second = chain_of("c2", "pod-a", 2, Some(&last_hash(&first)), false);
    let file: Vec<String> = first.iter().chain(&second).cloned().collect();
    let v = verify_pieces(&[("a", &file)], &[]);
    assert!(v.ok(), "{:?}", v.first_bad());
    let c2 = v.chains.iter().find(|c| c.chain_id == "c2").unwrap();
    assert_eq!(c2.continues.as_deref(), Some("c1"));
    assert!(!c2.closed);
    // The close (or any last record) of the chain before removed: found at the restart.
    let mut cut = file.clone();
    cut.remove(first.len() - 1);
    let bad = verify_pieces(&[("a", &cut)], &[])
        .first_bad()
        .cloned()
        .unwrap();
    assert_eq!(bad.line, first.len(), "{bad}");
    assert!(bad.reason.contains("not in the files"), "{bad}");
    // A record after a close, in the closed chain, fails.
    let mut after = first.clone();
    let mut extra: AuditRecord = serde_json::from_str(&first[1]).unwrap();
    extra.seq = 5;
    after.push(extra.seal(&last_hash(&first)).unwrap());
    let bad = verify_pieces(&[("a", &after)], &[])
        .first_bad()
        .cloned()
        .unwrap();
    assert!(bad.reason.contains("after its chain's close"), "{bad}");
}

#[test]
fn two_chains_continuing_one_chain_fail() {
    let first = chain_of("c1", "pod-a", 2, None, false);
    let x = chain_of("c2", "pod-a", 1, Some(&last_hash(&first)), false);
    let y = chain_of("c3", "pod-a", 1, Some(&last_hash(&first)), false);
    let v = verify_pieces(&[("a", &first), ("x", &x), ("y", &y)], &[]);
    assert!(v.first_bad().unwrap().reason.contains("already continues"));
}

#[test]
fn every_checkpoint_given_must_be_in_some_chain() {
    let a = chain_of("ca", "pod-a", 4, None, false);
    let b = chain_of("cb", "pod-b", 2, None, false);
    let cut = &a[..3];
    let v = verify_pieces(&[("a", cut), ("b", &b)], &[&last_hash(&b), &last_hash(&a)]);
    assert_eq!(v.missing_checkpoints, [last_hash(&a)]);
    assert!(v.first_bad().is_none() && !v.ok());
}

#[test]
fn rfc3339_formats_leap_days_and_epoch() {
    use std::time::Duration;
    assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
    assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000000Z");
}

mod writer_tests {
    use super::super::writer::AuditWriter;
    use super::super::{RequestFields, verify::verify};
    use crate::config::AuditConfig;

    #[test]
    fn a_restarted_writer_continues_the_files_chain() {
        let dir = std::env::temp_dir().join(format!("paravent-audit-{}", std::process::id()));
        let path = dir.join("a.jsonl");
        let _ = std::fs::remove_file(&path);
        let cfg = AuditConfig::default();
        for run in 0..2 {
            let w = AuditWriter::open(&path, &cfg, "i".into(), "p".into()).unwrap();
            for n in 0..3 {
                let f = RequestFields {
                    request_id: format!("r{run}-{n}"),
                    ..RequestFields::default()
                };
                w.append(f).unwrap();
            }
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let v = verify(&[("a.jsonl", &text)], None).unwrap();
        assert_eq!((v.records, v.chains), (8, 2));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// `chain(n)` written as version 1 records (before step 7), resealed.
fn chain_v1(n: usize, last: impl Fn(&mut AuditRecord)) -> Vec<String> {
    let mut prev = anchor("chain-1");
    let mut out = Vec::new();
    let lines = chain(n);
    let count = lines.len();
    for (i, l) in lines.into_iter().enumerate() {
        let mut r: AuditRecord = serde_json::from_str(&l).unwrap();
        r.v = 1;
        if i + 1 == count {
            last(&mut r);
        }
        out.push(r.seal(&prev).unwrap());
        prev = r.hash.clone().unwrap();
    }
    out
}

#[test]
fn a_version_1_chain_still_verifies_but_not_with_what_version_2_added() {
    assert!(check(&chain_v1(3, |_| {})).is_ok());
    let closed = chain_v1(3, |r| {
        r.kind = Kind::ChainClose;
        r.request = None;
    });
    let e = check(&closed).unwrap_err();
    assert!(e.reason.contains("format version 1"), "{e}");
    let observed = chain_v1(3, |r| {
        if let Some(q) = r.request.as_mut() {
            q.mode = Some("observe".into());
        }
    });
    let e = check(&observed).unwrap_err();
    assert_eq!(e.line, 4, "{e}");
}
