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
fn canonical_form_has_no_whitespace_and_no_hash() {
    let lines = chain(1);
    let r: AuditRecord = serde_json::from_str(&lines[1]).unwrap();
    let c = String::from_utf8(r.canonical().unwrap()).unwrap();
    assert!(!c.contains(' ') && !c.contains('\n'));
    assert!(!c.contains(r.hash.as_deref().unwrap()));
    assert!(c.starts_with("{\"v\":1,\"kind\":\"request\",\"seq\":1,\"time\":"));
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
    let bad = verify(&[("b", &b), ("a", &a)], None).unwrap_err();
    assert_eq!((bad.file.as_str(), bad.line), ("b", 1));
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
