//! Developer traffic: code, logs, stack traces, JSON, diffs, Dockerfiles, CSS, SQL and
//! git output pasted into prompts. None of it may come out as a phone number, a card, an
//! IBAN, a NIR, a SIREN or a SIRET (other entities, such as IP addresses, URLs or
//! dates, are allowed).

use crate::support::{DETECTOR, describe};

/// Entities that would be false alarms in developer traffic.
const FORBIDDEN: &[&str] = &[
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "FR_NIR",
    "FR_SIREN",
    "FR_SIRET",
];

/// (what it is, the snippet)
const SNIPPETS: &[(&str, &str)] = &[
    (
        "git log",
        "commit 3f9a1c2b7d4e6f8091a2b3c4d5e6f708192a3b4c\nAuthor: CI Bot <ci@example.com>\n\
         Date:   Tue Mar 12 14:03:27 2024 +0100\n\n    Bump regex to 1.11.1",
    ),
    (
        "git log --oneline",
        "9fceb02 Fix off-by-one in pager\n4a6c2e1 Bump serde to 1.0.197\n0612345 Merge branch 'main'",
    ),
    (
        "git diff header",
        "diff --git a/src/lib.rs b/src/lib.rs\nindex 83db48f..bf269f4 100644\n--- a/src/lib.rs\n\
         +++ b/src/lib.rs\n@@ -1204,7 +1204,9 @@ impl Foo {",
    ),
    (
        "git rebase",
        "Successfully rebased and updated refs/heads/feature/0612-login.\n\
         HEAD is now at 0a1b2c3 Merge pull request #1234 from acme/fix-4521",
    ),
    (
        "UUIDs in a log",
        "request_id=550e8400-e29b-41d4-a716-446655440000 trace=4bf92f3577b34da6a3ce929d0e0e4736",
    ),
    (
        "UUIDs in JSON",
        r#"{"uuid": "123e4567-e89b-12d3-a456-426614174000", "parent": "00112233-4455-6677-8899-aabbccddeeff"}"#,
    ),
    (
        "cargo output",
        "    Updating crates.io index\n  Downloaded tokio v1.38.0\n  Downloaded hyper v1.12.0\n\
         \x20  Compiling regex-automata v0.4.13",
    ),
    (
        "package.json",
        r#""dependencies": {"react": "^18.2.0", "typescript": "5.4.5", "@types/node": "20.12.12"}"#,
    ),
    (
        "pip",
        "pip install numpy==1.26.4 pandas==2.2.2 torch==2.3.0+cu121",
    ),
    (
        "go modules",
        "go: downloading github.com/stretchr/testify v1.9.0\ngo: downloading golang.org/x/sys v0.21.0",
    ),
    (
        "ISO timestamps",
        "2024-05-01T10:00:00.123Z INFO  server: listening on 0.0.0.0:8080\n\
         2024-05-01T10:00:01.456+02:00 WARN  pool: 12 of 64 connections busy",
    ),
    (
        "python logging",
        "[2024-03-12 14:03:27,512] ERROR worker-7 job 4521873 failed after 30012 ms",
    ),
    (
        "unix timestamps in JSON",
        r#"{"ts": 1700000000, "ts_ms": 1700000000123, "elapsed_ns": 98765432101}"#,
    ),
    (
        "unix timestamps in a log",
        "created_at=1712345678 updated_at=1712345678901 ttl=86400 ts_ns=1712345678908246289",
    ),
    (
        "hex colours",
        ".btn-primary { color: #061234; background: #ff8800; border: 1px solid #0a0b0c; }",
    ),
    (
        "CSS variables",
        ":root { --accent: #1e90ff; --shadow: 0 2px 4px rgba(0,0,0,.12); --z: 1000; }",
    ),
    (
        "docker ports",
        "docker run -p 8080:80 -p 5432:5432 -p 6379:6379 postgres:16.3",
    ),
    (
        "Dockerfile",
        "FROM rust:1.88-slim AS build\nEXPOSE 8080 9090 3000\n\
         ARG BASE_IMAGE=debian:bookworm-20240311-slim\n\
         RUN apt-get install -y curl=7.88.1-10+deb12u5",
    ),
    (
        "Rust panic",
        "thread 'main' panicked at src/detect/validators.rs:1204:17:\n\
         index out of bounds: the len is 3 but the index is 3",
    ),
    (
        "rustc error",
        "error[E0308]: mismatched types\n  --> src/main.rs:42:13\n   |\n42 |     let x: u32 = \"5\";",
    ),
    (
        "Python traceback",
        "  File \"/usr/lib/python3.11/site-packages/requests/adapters.py\", line 501, in send\n\
         \x20   raise ConnectionError(e, request=request)",
    ),
    (
        "Java stack trace",
        "Exception in thread \"main\" java.lang.NullPointerException\n\
         \tat com.example.App.main(App.java:1234)\n\
         \tat java.base/jdk.internal.reflect.NativeMethodAccessorImpl.invoke0(Native Method)",
    ),
    (
        "base64 image",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
    ),
    (
        "base64 headers",
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\nETag: \"33a64df551425fcc55e4d42a148795d9f25f89d4\"",
    ),
    (
        "numeric ids in JSON",
        r#"{"id": 1234567890123456, "user_id": 987654321, "order_id": 291076912345621, "count": 42}"#,
    ),
    (
        "more numeric ids in JSON",
        r#"[{"id": 404833049}, {"id": 612345678}, {"id": 5105105105105101}]"#,
    ),
    (
        "snowflake ids",
        r#"{"guild_id": "1252601815908301666", "channel_id": 1113186091390996036}"#,
    ),
    (
        "Rust paths (IPv6-looking)",
        "use std::fs::File;\nuse std::io::{self, BufRead};\nlet f = File::open(path)?; Foo::bar::<u8>()",
    ),
    (
        "Rust fmt impl",
        "impl fmt::Display for Error { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { todo!() } }",
    ),
    (
        "MAC address (ifconfig)",
        "eth0: flags=4163<UP,BROADCAST,RUNNING>  ether 02:42:ac:11:00:02  txqueuelen 0  (Ethernet)",
    ),
    (
        "MAC address (ip link)",
        "link/ether 3c:22:fb:a1:09:7e brd ff:ff:ff:ff:ff:ff",
    ),
    (
        "K8s resource quantities",
        "resources:\n  requests:\n    cpu: 250m\n    memory: 512Mi\n  limits:\n    cpu: \"2\"\n\
         \x20   memory: 4Gi\n    ephemeral-storage: 10G",
    ),
    (
        "kubectl",
        "NAME                          READY   STATUS    RESTARTS   AGE\n\
         api-7d9f8b6c5d-x2k9p          1/1     Running   0          3d4h",
    ),
    (
        "CVE ids",
        "Fixes CVE-2024-3094 and CVE-2021-44228 (log4shell); see GHSA-jfh8-c2jp-5v3q.",
    ),
    (
        "sha256 digest",
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (
        "image digest",
        "image: registry.example.com/api@sha256:9b2a1f0e8d7c6b5a49382716051f4e3d2c1b0a998877665544332211ffeeddcc",
    ),
    (
        "SQL select",
        "SELECT id, amount FROM invoices WHERE customer_id = 291076912 \
         AND created_at > '2024-01-01' LIMIT 500 OFFSET 1000;",
    ),
    (
        "SQL insert",
        "INSERT INTO events (id, ts) VALUES (7300000000000001, 1700000000123), (7300000000000002, 1700000000456);",
    ),
    (
        "SQL update",
        "UPDATE accounts SET balance = 1234567.89 WHERE id IN (40483304, 82116759);",
    ),
    (
        "line:column",
        "warning: unused variable `x` --> src/app.ts:612:34 (0612:34)",
    ),
    (
        "npm",
        "npm WARN deprecated inflight@1.0.6: This module is not supported\nadded 1432 packages in 12.345s",
    ),
    (
        "criterion",
        "detect/prose            time:   [4.1234 µs 4.1567 µs 4.1901 µs]\n\
         \x20                       thrpt:  [512.34 MiB/s 516.78 MiB/s 520.11 MiB/s]",
    ),
    (
        "netstat",
        "tcp        0      0 127.0.0.1:5432          0.0.0.0:*               LISTEN      1234/postgres",
    ),
    (
        "ps",
        "PID 29107 USER www-data %CPU 12.3 RSS 1048576 VSZ 2097152",
    ),
    (
        "certificate",
        "Serial: 04:00:00:00:00:01:15:4b:5a:c3:94\n\
         Fingerprint SHA1: 91:C6:D6:EE:3E:8A:C8:63:84:E5:48:C2:99:29:5C:75:6C:81:7B:81",
    ),
    (
        "version banner",
        "Version 2.14.3 (build 20240312.1) — released 2024-03-12",
    ),
    (
        "Windows build",
        "Ubuntu 22.04.4 LTS, kernel 6.1.0-18-amd64; Windows 10.0.19045.4170",
    ),
    (
        "floats",
        "float values[] = {0.123456789012, 3.14159265358979, 2.71828182845904};",
    ),
    (
        "coordinates",
        "Coordinates: 48.8566140, 2.3522219 (zoom 12)",
    ),
    (
        "syslog",
        "Mar 12 14:03:27 web-01 sshd[29107]: Accepted publickey for deploy from 10.0.12.7 port 51234 ssh2",
    ),
    (
        "pointers",
        "0x7ffd5e8c3a10 0x00005581a2b3c4d5 segfault at 0000000000000018 ip 00007f3c1a2b3c4d",
    ),
    (
        "byte counts",
        "Received 1 GiB (1073741824 bytes) in 8.589934592 s = 125.0 MB/s",
    ),
    (
        "JS constants in a diff",
        "@@ -0,0 +1,4 @@\n+const PORT = 3000;\n+const TIMEOUT_MS = 30000;\n+const MAX_ID = 9007199254740991;",
    ),
    (
        "HTTP access log",
        "10.0.0.5 - - [12/Mar/2024:14:03:27 +0100] \"GET /api/v1/orders/4521873 HTTP/1.1\" 200 5123 0.012",
    ),
    (
        "Ethereum-style hex",
        "tx 0x4821993518190934 block 19283746 gas 21000",
    ),
];

#[test]
fn there_are_enough_developer_snippets() {
    assert!(SNIPPETS.len() >= 40, "{}", SNIPPETS.len());
}

/// Every finding of one of `entities` in `texts` (a label, the text), described for the
/// failure message: one entry per text that has any.
fn alarms<'a>(
    texts: impl IntoIterator<Item = (&'a str, &'a str)>,
    entities: &[&str],
) -> Vec<String> {
    let mut alarms = Vec::new();
    for (what, text) in texts {
        let bad: Vec<_> = DETECTOR
            .scan(text)
            .into_iter()
            .filter(|f| entities.contains(&f.entity.as_str()))
            .collect();
        if !bad.is_empty() {
            alarms.push(format!("{what}: {text:?}\n{}", describe(text, &bad)));
        }
    }
    alarms
}

#[test]
fn developer_traffic_gives_no_phone_card_iban_nir_siren_or_siret() {
    let alarms = alarms(SNIPPETS.iter().copied(), FORBIDDEN);
    assert!(
        alarms.is_empty(),
        "{} false alarm(s):\n{}",
        alarms.len(),
        alarms.join("\n")
    );
}

/// A 16-digit numeric id passes Luhn one time in ten: in a JSON id or a trace id it is
/// an id, not a card (the `core.credit-card` counterexample `{"id": 1234567890123456}`
/// only passes because that number fails Luhn).
#[test]
fn luhn_valid_numeric_ids_in_json_and_logs_are_not_cards() {
    let snippets = [
        r#"{"id": 4821993518190934, "parent_id": 5278657975432312}"#,
        "trace_id=4821993518190934 span_id=5278657975432312",
    ];
    let alarms = alarms(snippets.map(|t| ("", t)), &["CREDIT_CARD"]);
    assert!(alarms.is_empty(), "{}", alarms.join("\n"));
}

/// The special categories (GDPR art. 9 and 10), by entity.
const SPECIAL: &[&str] = &[
    "HEALTH",
    "RELIGION",
    "POLITICAL_OPINION",
    "UNION_MEMBERSHIP",
    "SEXUAL_ORIENTATION",
    "ETHNIC_ORIGIN",
    "CRIMINAL_RECORD",
];

#[test]
fn developer_traffic_gives_no_special_category() {
    let alarms = alarms(SNIPPETS.iter().copied(), SPECIAL);
    assert!(alarms.is_empty(), "{}", alarms.join("\n"));
}

/// The words of a special category in a text about no one: a company's finances, an
/// endpoint, a product's fans, a film, a law, a statistic, a co-owners' association.
#[test]
fn special_category_words_about_no_one_are_not_findings() {
    let texts = [
        "La santé financière de l'entreprise s'est améliorée au troisième trimestre.",
        "Add a health check endpoint that returns 200 when the database answers.",
        "Le syndicat des copropriétaires se réunit jeudi à 18 h.",
        "The product has a religious following among designers.",
        "The detective faces criminal charges in the film's second act.",
        "La politique d'arrêt maladie est décrite dans l'accord d'entreprise.",
        "Our sick leave policy follows the collective agreement.",
        "Le taux de cancer du poumon baisse en France depuis 2010.",
        "The union of two sorted sets is computed in linear time.",
        "Set `disabled: true` to turn the feature off.",
        "Une enceinte Bluetooth est offerte avec l'abonnement.",
        "La CGT appelle à la grève nationale jeudi.",
        "The new version is coming out next week.",
        "Les produits d'origine française portent un logo.",
        "Labour costs rose by 3 % in 2024.",
        "fn depression_angle(v: f32) -> f32 { v.atan() }",
        "let cancer_rate = cases as f64 / population as f64;",
        "stroke-width: 2px; stroke: #333;",
    ];
    let alarms = alarms(texts.map(|t| ("", t)), SPECIAL);
    assert!(
        alarms.is_empty(),
        "{} false alarm(s):\n{}",
        alarms.len(),
        alarms.join("\n")
    );
}
