//! The audit trail at a year's scale, through the real binary: rotated files compressed
//! with gzip or zstd verified as plain ones (every kind of tampering still found, at
//! its file and line), `audit verify --from` resuming where the last run stopped, and
//! `audit report --since/--until` over the period asked only.

use std::io::Write;

use serde_json::json;

use paravent::audit::{AuditRecord, Kind, RequestFields, anchor};

use crate::report::sample_chain;
use crate::support::{Scratch, paravent};

fn gzip(text: &str) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap()
}

fn zstd(text: &str) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(text.as_bytes(), ruzstd::encoding::CompressionLevel::Fastest)
}

/// A second instance's chain of `n` requests (chain `other`, instance `paravent-other`).
fn other_chain(n: u64) -> Vec<String> {
    let mut prev = anchor("other");
    let mut start = AuditRecord::chain_start(
        "other".into(),
        "paravent-other".into(),
        "p".into(),
        "2026-01-01T00:00:00.000000Z".into(),
    );
    let mut lines = vec![start.seal(&prev).unwrap()];
    prev = start.hash.clone().unwrap();
    for seq in 1..=n {
        let mut r = start.clone();
        r.kind = Kind::Request;
        r.seq = seq;
        r.time = format!("2026-01-01T00:{seq:02}:00.000000Z");
        r.request = Some(RequestFields {
            request_id: format!("pv-other-{seq}"),
            principal: "bob".into(),
            status: 200,
            ..Default::default()
        });
        lines.push(r.seal(&prev).unwrap());
        prev = r.hash.clone().unwrap();
    }
    lines
}

fn text(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The bulk chain of 200 requests cut as rotation leaves it: `a.jsonl` (plain, records
/// 0–69), `a.jsonl.1.gz` (gzip, 70–139) and `b.jsonl` (zstd under a plain name,
/// 140–200), plus the other instance's plain file. Returns the file arguments.
fn write_trail(dir: &Scratch, bulk: &[String], other: &[String]) -> Vec<String> {
    let files = [
        dir.write("a.jsonl", text(&bulk[..70])),
        dir.write("a.jsonl.1.gz", gzip(&text(&bulk[70..140]))),
        dir.write("b.jsonl", zstd(&text(&bulk[140..]))),
        dir.write("other.jsonl", text(other)),
    ];
    files.iter().map(|f| Scratch::arg(f).to_owned()).collect()
}

fn verify(args: &[String]) -> crate::support::Run {
    let mut all = vec!["audit", "verify"];
    all.extend(args.iter().map(String::as_str));
    paravent(&all, b"")
}

fn bulk() -> Vec<String> {
    sample_chain::bulk_chain(200)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn tampering_inside_gzip_and_zstd_files_is_found_at_its_file_and_line() {
    let dir = Scratch::new("scale-tamper");
    let (bulk, other) = (bulk(), other_chain(5));
    let ok = verify(&write_trail(&dir, &bulk, &other));
    ok.assert_code(0);
    assert!(ok.stdout.contains("records=201"), "{}", ok.stdout);

    // (what is done, the file and line named, words of the reason)
    type Tamper = fn(&mut Vec<String>, &mut Vec<String>);
    let cases: [(&str, Tamper, &str, &str); 6] = [
        (
            "modified",
            |b, _| b[75] = b[75].replace("\"principal\":\"user", "\"principal\":\"usr"),
            "a.jsonl.1.gz:6:",
            "modified",
        ),
        (
            "deleted",
            |b, _| drop(b.remove(150)),
            "b.jsonl:11:",
            "deleted",
        ),
        (
            "inserted",
            |b, _| {
                let copy = b[100].clone();
                b.insert(102, copy);
            },
            "a.jsonl.1.gz:33:",
            "deleted, inserted or moved",
        ),
        (
            "reordered",
            |b, _| b.swap(160, 161),
            "b.jsonl:21:",
            "does not follow",
        ),
        (
            "truncated",
            |b, _| {
                let cut = b[190].len() / 2;
                b[190].truncate(cut);
            },
            "b.jsonl:51:",
            "truncated",
        ),
        (
            "moved between instances",
            |b, o| {
                let moved = o.remove(3);
                b.insert(145, moved);
            },
            "other.jsonl:4:",
            "moved",
        ),
    ];
    for (what, tamper, at, reason) in cases {
        let (mut b, mut o) = (bulk.clone(), other.clone());
        tamper(&mut b, &mut o);
        let bad = verify(&write_trail(&dir, &b, &o));
        bad.assert_code(1);
        assert!(
            bad.stderr.contains(at) && bad.stderr.contains(reason),
            "{what}: {}",
            bad.stderr
        );
    }
}

/// The `from=` fields of `audit verify`'s output: the next run's `--from` values.
fn resume_points(stdout: &str) -> Vec<String> {
    stdout
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("from="))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_daily_job_verifies_only_the_new_files_from_the_points_kept_yesterday() {
    let dir = Scratch::new("scale-from");
    let (bulk, other) = (bulk(), other_chain(5));
    // Yesterday: the first file and the other instance's.
    let first = dir.write("day1.jsonl", text(&bulk[..120]));
    let others = dir.write("other.jsonl", text(&other));
    let day1 = verify(&[Scratch::arg(&first).into(), Scratch::arg(&others).into()]);
    day1.assert_code(0);
    let points = resume_points(&day1.stdout);
    assert_eq!(points.len(), 2, "{}", day1.stdout);
    let with_points = |files: &[&std::path::Path], points: &[String]| {
        let mut args: Vec<String> = Vec::new();
        for p in points {
            args.extend(["--from".to_owned(), p.clone()]);
        }
        args.extend(files.iter().map(|f| Scratch::arg(f).to_owned()));
        verify(&args)
    };

    // Today: only the new file (gzip), resumed from yesterday's points.
    let today = dir.write("day2.jsonl.gz", gzip(&text(&bulk[120..])));
    let day2 = with_points(&[&today], &points);
    day2.assert_code(0);
    assert!(
        day2.stdout.contains("records=81") && day2.stdout.contains("resumed=119"),
        "{}",
        day2.stdout
    );
    // The idle instance's point is kept for tomorrow.
    assert!(
        day2.stdout
            .contains(&format!("unchanged chain=other from={}", points[1])),
        "{}",
        day2.stdout
    );
    assert_eq!(resume_points(&day2.stdout).len(), 2);

    // Given all the files, what precedes the point is skipped, not re-verified.
    let all = with_points(&[&first, &today], &points[..1]);
    all.assert_code(0);
    assert!(
        all.stdout.contains("119 earlier record(s) skipped"),
        "{}",
        all.stdout
    );

    // A first record deleted from today's file: it no longer continues the point.
    let cut = dir.write("day2.jsonl.gz", gzip(&text(&bulk[121..])));
    let bad = with_points(&[&cut], &points);
    bad.assert_code(1);
    assert!(bad.stderr.contains("missing before it"), "{}", bad.stderr);

    // A point of this chain that is not the record the files hold.
    let forged = points[0].replace(&points[0][points[0].len() - 4..], "0000");
    let bad = with_points(&[&first], &[forged]);
    bad.assert_code(1);
    assert!(
        bad.stderr.contains("not the record of the resume point"),
        "{}",
        bad.stderr
    );

    // The files end before the point: its record was removed (or not given).
    let short = dir.write("day1.jsonl", text(&bulk[..100]));
    let bad = with_points(&[&short], &points[..1]);
    bad.assert_code(1);
    assert!(bad.stderr.contains("is not in the files"), "{}", bad.stderr);

    // A malformed point is refused before anything is read.
    let bad = with_points(&[&short], &["bulk:12".to_owned()]);
    bad.assert_code(2);
    assert!(bad.stderr.contains("CHAIN:SEQ:HASH"), "{}", bad.stderr);
}

fn json_report(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["audit", "report", "--format", "json"];
    all.extend(args);
    let run = paravent(&all, b"");
    let v = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stderr));
    (run.code.expect("paravent exits"), v)
}

/// Requests among `lines` whose time is in [since, until).
fn requests_between(lines: &[String], since: &str, until: &str) -> u64 {
    lines
        .iter()
        .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap())
        .filter(|r| r.kind == Kind::Request && r.time.as_str() >= since && r.time.as_str() < until)
        .count() as u64
}

#[test]
fn a_report_over_a_period_reads_only_the_files_in_it_and_still_links_the_chain() {
    let dir = Scratch::new("scale-period");
    // 3,000 requests 29 minutes apart: 1 January to 2 March, cut in three files of about
    // twenty days; the first gzip-compressed (its ends cannot be read without it).
    let bulk: Vec<String> = sample_chain::bulk_chain(3_000)
        .lines()
        .map(str::to_owned)
        .collect();
    let files = [
        dir.write("audit.jsonl.2.gz", gzip(&text(&bulk[..1_000]))),
        dir.write("audit.jsonl.1", text(&bulk[1_000..2_000])),
        dir.write("audit.jsonl", text(&bulk[2_000..])),
    ];
    let args: Vec<&str> = files.iter().map(|f| Scratch::arg(f)).collect();
    let name = |i: usize| json!(Scratch::arg(&files[i]));

    let mut since = vec!["--since", "2026-02-11"];
    since.extend(&args);
    let (code, v) = json_report(&since);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["integrity"]["verified"], true);
    // The compressed file is read; the plain one wholly before the period is not.
    assert_eq!(v["integrity"]["files_skipped"], json!([name(1)]));
    assert_eq!(
        v["totals"]["requests"],
        requests_between(&bulk, "2026-02-11", "9999")
    );

    let mut until = vec!["--until", "2026-01-10"];
    until.extend(&args);
    let (code, v) = json_report(&until);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["integrity"]["files_skipped"], json!([name(1), name(2)]));
    assert_eq!(
        v["totals"]["requests"],
        requests_between(&bulk, "0", "2026-01-11")
    );
    assert_eq!(v["by_day"].as_array().unwrap().len(), 10);

    // The last record of a skipped file removed: the chain no longer links across it.
    dir.write("audit.jsonl.1", text(&bulk[1_000..1_999]));
    let (code, v) = json_report(&since);
    assert_eq!(code, 1);
    assert_eq!(v["integrity"]["verified"], false);
    assert!(
        v["integrity"]["first_bad"]["reason"]
            .as_str()
            .unwrap()
            .contains("missing"),
        "{v}"
    );
}
