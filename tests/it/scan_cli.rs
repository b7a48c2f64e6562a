//! `paravent scan`: the pseudonymised text and a findings table in plain mode; one JSON
//! line per input line with UTF-8 byte offsets in `--jsonl` mode; bad input lines named
//! by number on stderr, never echoed.

use serde_json::{Value, json};

use crate::support::{Scratch, paravent};

const PROMPT: &str = "Bonjour Claire,\n\
Écrivez à jean.dupont@example.fr ou appelez le 06 12 34 56 78.\n\
Cordialement,\n\
Jean Dupont\n";

/// Numbers each distinct `[ENTITY_HEX]` token per entity in order of appearance
/// (`[PERSON_1]`, `[PERSON_2]`…): tokens depend on the deployment's secret, their
/// pattern (same value, same token) does not.
fn numbered(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find(']').map(|e| e + 1);
        let token = end.map(|e| &after[..e]).filter(|t| {
            t[1..t.len() - 1].rsplit_once('_').is_some_and(|(_, hex)| {
                hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit())
            })
        });
        match token {
            Some(t) => {
                if !seen.iter().any(|s| s == t) {
                    seen.push(t.to_owned());
                }
                let entity = t[1..].rsplit_once('_').unwrap().0;
                let n = seen
                    .iter()
                    .filter(|s| s[1..].rsplit_once('_').unwrap().0 == entity)
                    .position(|s| s == t)
                    .unwrap()
                    + 1;
                out.push_str(&format!("[{entity}_{n}]"));
                rest = &after[t.len()..];
            }
            None => {
                out.push('[');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits plain-mode output into the pseudonymised text and the table.
fn plain_parts(stdout: &str) -> (&str, &str) {
    stdout
        .split_once("\n\n")
        .unwrap_or_else(|| panic!("no blank line between text and table:\n{stdout}"))
}

#[test]
fn plain_mode_reads_stdin_and_shows_what_the_proxy_sends_and_a_findings_table() {
    let run = paravent(&["scan"], PROMPT.as_bytes());
    run.assert_code(0);
    let (text, table) = plain_parts(&run.stdout);
    assert_eq!(
        numbered(text),
        "Bonjour [PERSON_1],\n\
         Écrivez à [EMAIL_1] ou appelez le [PHONE_1].\n\
         Cordialement,\n\
         [PERSON_2]"
    );
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "start",
            "end",
            "entity",
            "nature",
            "sensitivity",
            "rule",
            "score",
            "value"
        ]
    );
    let email = PROMPT.find("jean.dupont@").unwrap();
    let row = rows
        .iter()
        .find(|r| r.get(2) == Some(&"EMAIL"))
        .unwrap_or_else(|| panic!("no EMAIL row:\n{table}"));
    assert_eq!(row[0], email.to_string(), "byte offset of the e-mail");
    assert_eq!(row[1], (email + "jean.dupont@example.fr".len()).to_string());
    assert_eq!(row[7], "jean.dupont@example.fr");
    let entities: Vec<&str> = rows[1..].iter().map(|r| r[2]).collect();
    assert_eq!(entities, ["PERSON", "EMAIL", "PHONE", "PERSON"], "{table}");
}

#[test]
fn plain_mode_reads_a_file_as_it_reads_stdin() {
    let dir = Scratch::new("plain-file");
    let path = dir.write("prompt.txt", PROMPT);
    let from_file = paravent(&["scan", Scratch::arg(&path)], b"");
    from_file.assert_code(0);
    let from_stdin = paravent(&["scan", "-"], PROMPT.as_bytes());
    // Without a deployment secret each run has its own tokens.
    assert_eq!(numbered(&from_file.stdout), numbered(&from_stdin.stdout));
}

#[test]
fn plain_mode_gives_each_distinct_value_one_token() {
    let text = "a@example.com, b@example.com, puis A@example.com encore";
    let run = paravent(&["scan"], text.as_bytes());
    run.assert_code(0);
    let (out, _) = plain_parts(&run.stdout);
    assert_eq!(numbered(out), "[EMAIL_1], [EMAIL_2], puis [EMAIL_1] encore");
}

#[test]
fn plain_mode_uses_the_deployments_tokens() {
    let dir = Scratch::new("scan-secret");
    let config = dir.write(
        "p.toml",
        "[pseudonyms]\nsecret = \"a deployment secret of at least 32 bytes\"\n\n[providers.openai]\nbase_url = \"http://127.0.0.1:9\"\napi = \"openai\"\n",
    );
    let a = paravent(
        &["scan", "--config", Scratch::arg(&config)],
        b"jean.dupont@example.fr",
    );
    let b = paravent(
        &["scan", "--config", Scratch::arg(&config)],
        b"jean.dupont@example.fr",
    );
    a.assert_code(0);
    assert_eq!(plain_parts(&a.stdout).0, plain_parts(&b.stdout).0);
    assert!(
        plain_parts(&a.stdout).0.starts_with("[EMAIL_"),
        "{}",
        a.stdout
    );
}

#[test]
fn request_mode_prints_the_body_the_proxy_would_forward() {
    let body = r#"{"model":"gpt-4o","messages":[{"role":"user","content":"Appelez Jean Dupont"}],"metadata":{"jean.dupont@example.fr":"vip"},"temperature":0.3}"#;
    let run = paravent(
        &["scan", "--request", "/openai/v1/chat/completions"],
        body.as_bytes(),
    );
    run.assert_code(0);
    let (sent, counts) = plain_parts(&run.stdout);
    let sent: serde_json::Value = serde_json::from_str(sent).unwrap();
    assert_eq!(sent["model"], "gpt-4o");
    assert_eq!(sent["temperature"], 0.3);
    let text = sent.to_string();
    assert!(
        !text.contains("Dupont") && !text.contains("jean.dupont@"),
        "{text}"
    );
    assert!(
        counts.contains("EMAIL: 1") && counts.contains("PERSON: 1"),
        "{counts}"
    );
    // What the proxy refuses, the preview refuses.
    let run = paravent(
        &["scan", "--request", "/openai/v1/chat/completions"],
        br#"{"messages":[{"role":"user","content":"a","content":"b"}]}"#,
    );
    assert_ne!(run.code, Some(0));
    let run = paravent(&["scan", "--request", "/openai/v1/files"], b"{}");
    assert_ne!(run.code, Some(0));
}

#[test]
fn plain_mode_never_prints_a_secret_in_full() {
    let key = "sk-proj-Q9w8E7r6T5y4U3i2O1p0AsDfGhJkLzXcVbNm";
    let pem =
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----";
    let text = format!("OPENAI_API_KEY={key}\n{pem}\n");
    let run = paravent(&["scan"], text.as_bytes());
    run.assert_code(0);
    assert!(!run.stdout.contains(key), "{}", run.stdout);
    assert!(
        !run.stdout.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
        "{}",
        run.stdout
    );
    // The proxy refuses a request holding a secret: so does the preview.
    assert!(
        run.stdout
            .starts_with("refused: the request contains a secret"),
        "{}",
        run.stdout
    );
}

#[test]
fn plain_mode_says_when_there_is_nothing_to_pseudonymise() {
    let run = paravent(&["scan"], b"Le chat dort sur le canap\xc3\xa9.\n");
    run.assert_code(0);
    assert_eq!(run.stdout, "Le chat dort sur le canapé.\n\nno findings\n");
}

#[test]
fn plain_mode_refuses_input_that_is_not_utf8() {
    let run = paravent(&["scan"], b"caf\xe9 latin-1\n");
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("UTF-8"), "{}", run.stderr);
}

#[test]
fn a_missing_input_file_is_an_error_that_names_it() {
    let dir = Scratch::new("missing-input");
    let path = dir.path().join("absent.txt");
    for args in [vec!["scan"], vec!["scan", "--jsonl"]] {
        let mut args = args.clone();
        args.push(Scratch::arg(&path));
        let run = paravent(&args, b"");
        assert_ne!(run.code, Some(0));
        assert!(run.stderr.contains("absent.txt"), "{}", run.stderr);
    }
}

// --- JSON lines ---------------------------------------------------------------------------

fn jsonl_input(lines: &[Value]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn jsonl_ids_of_every_json_type_round_trip() {
    let ids = [
        json!(1),
        json!(-7),
        json!(0),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(2.5),
        json!(1e-7),
        json!("a"),
        json!("dossier-é-😀"),
        json!(""),
        Value::Null,
        json!(true),
        json!(false),
        json!([]),
        json!([1, {"x": [null, "y"]}]),
        json!({}),
        json!({"batch": 3, "row": "b"}),
    ];
    let lines: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "text": "écrire à a@example.com"}))
        .collect();
    let run = paravent(&["scan", "--jsonl"], jsonl_input(&lines).as_bytes());
    run.assert_code(0);
    let out = run.jsonl();
    assert_eq!(out.len(), ids.len());
    for (id, line) in ids.iter().zip(&out) {
        assert_eq!(&line["id"], id);
        assert_eq!(line["findings"][0]["entity"], "EMAIL", "{line}");
    }
}

/// Integers beyond 64 bits are valid JSON ids too (some systems use 128-bit ids).
#[test]
fn jsonl_integer_ids_beyond_64_bits_round_trip_exactly() {
    let input = "{\"id\": 340282366920938463463374607431768211455, \"text\": \"x\"}\n";
    let run = paravent(&["scan", "--jsonl"], input.as_bytes());
    run.assert_code(0);
    assert_eq!(
        run.stdout,
        "{\"id\":340282366920938463463374607431768211455,\"findings\":[]}\n"
    );
}

#[test]
fn jsonl_offsets_are_utf8_byte_offsets() {
    let texts = [
        "Élodie écrit à elodie.dupont@example.fr",
        "😀🎉 Tél : 06 12 34 56 78 — merci",
        "Ça coûte 3 € ; carte 4012 8888 8888 1881 refusée",
    ];
    let values = [
        "elodie.dupont@example.fr",
        "06 12 34 56 78",
        "4012 8888 8888 1881",
    ];
    let lines: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"id": i, "text": t}))
        .collect();
    let run = paravent(&["scan", "--jsonl"], jsonl_input(&lines).as_bytes());
    run.assert_code(0);
    let out = run.jsonl();
    // The first text, by hand: "Élodie écrit à " is 15 characters but 18 bytes.
    let email = out[0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["entity"] == "EMAIL")
        .expect("an EMAIL finding");
    assert_eq!((&email["start"], &email["end"]), (&json!(18), &json!(42)));
    for ((text, value), line) in texts.iter().zip(values).zip(&out) {
        let start = text.find(value).unwrap();
        let spans: Vec<(u64, u64)> = line["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["start"].as_u64().unwrap(), f["end"].as_u64().unwrap()))
            .collect();
        assert!(
            spans.contains(&(start as u64, (start + value.len()) as u64)),
            "{value:?} should be at bytes {start}..{}: {line}",
            start + value.len()
        );
    }
}

/// An e-mail whose local part begins with an accented letter is one e-mail: the finding
/// must not start in the middle of the word and leave "é" outside.
#[test]
fn jsonl_an_email_with_an_accented_local_part_is_found_whole() {
    let text = "Élodie écrit à élodie.dupont@example.fr";
    let input = format!("{}\n", json!({"id": 1, "text": text}));
    let run = paravent(&["scan", "--jsonl"], input.as_bytes());
    run.assert_code(0);
    let out = run.jsonl();
    let findings = out[0]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f["entity"] == "EMAIL" && f["start"] == 18 && f["end"] == 43),
        "expected EMAIL at 18..43 (\"élodie.dupont@example.fr\"); got {findings:?}"
    );
}

#[test]
fn jsonl_findings_carry_every_field() {
    let input = format!("{}\n", json!({"id": "x", "text": "NIR : 291076912345620"}));
    let run = paravent(&["scan", "--jsonl"], input.as_bytes());
    run.assert_code(0);
    let out = run.jsonl();
    let f = &out[0]["findings"][0];
    let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "end",
            "entity",
            "nature",
            "rule",
            "score",
            "sensitivity",
            "start"
        ]
    );
    assert_eq!(f["start"], 6);
    assert_eq!(f["end"], 21);
    assert_eq!(f["entity"], "FR_NIR");
    assert_eq!(f["nature"], "personal");
    assert_eq!(f["sensitivity"], "secret");
    assert_eq!(f["rule"], "fr.nir");
    let score = f["score"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&score), "{score}");
}

#[test]
fn jsonl_gives_one_output_line_per_valid_input_line_in_order() {
    // Blank lines are skipped, CRLF endings accepted, the last line may lack its newline.
    let input = "{\"id\": 1, \"text\": \"un\"}\r\n\
                 \n\
                 {\"id\": 2, \"text\": \"\"}\n\
                 \x20\x20{\"text\": \"trois\", \"id\": 3, \"lang\": \"fr\"}\n\
                 {\"id\": 4, \"text\": \"quatre a@example.com\"}";
    let run = paravent(&["scan", "--jsonl"], input.as_bytes());
    run.assert_code(0);
    let ids: Vec<Value> = run.jsonl().iter().map(|l| l["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!(2), json!(3), json!(4)]);
    assert_eq!(run.stderr, "");
}

#[test]
fn jsonl_reads_a_file() {
    let dir = Scratch::new("jsonl-file");
    let path = dir.write(
        "batch.jsonl",
        "{\"id\": \"a\", \"text\": \"a@example.com\"}\n{\"id\": \"b\", \"text\": \"rien\"}\n",
    );
    let run = paravent(&["scan", "--jsonl", Scratch::arg(&path)], b"");
    run.assert_code(0);
    let out = run.jsonl();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["findings"][0]["entity"], "EMAIL");
    assert_eq!(out[1], json!({"id": "b", "findings": []}));
}

#[test]
fn jsonl_bad_lines_are_reported_by_number_and_the_batch_goes_on() {
    let input = [
        r#"{"id": 1, "text": "a@example.com"}"#,
        r#"{"id": 2, "text": "unterminated"#,
        r#"{"id": 3}"#,
        r#"{"id": 4, "text": ["a", "b"]}"#,
        r#"{"id": 5, "text": null}"#,
        r#"[1, 2, 3]"#,
        r#"{"id": 7, "text": "b@example.com"}"#,
    ]
    .join("\n");
    let run = paravent(&["scan", "--jsonl"], input.as_bytes());
    assert_ne!(run.code, Some(0), "bad lines make the exit code non-zero");
    let ids: Vec<Value> = run.jsonl().iter().map(|l| l["id"].clone()).collect();
    assert_eq!(ids, [json!(1), json!(7)], "the batch goes on");
    for n in 2..=6 {
        let tag = format!("line {n}:");
        assert!(
            run.stderr.lines().any(|l| l.starts_with(&tag)),
            "no error for {tag}\n{}",
            run.stderr
        );
    }
    for n in [1, 7] {
        assert!(
            !run.stderr.contains(&format!("line {n}:")),
            "{}",
            run.stderr
        );
    }
}

/// Several scanning threads give the very bytes one thread gives, in input order:
/// thousands of lines (several batches), blank and bad lines among them, a byte-order
/// mark on the first line and a line over the length limit, skipped unread.
#[test]
fn jsonl_on_several_threads_writes_what_one_thread_writes_byte_for_byte() {
    let mut input = String::from("\u{feff}");
    let texts = [
        "écrire à claire.martin@example.fr",
        "x",
        "Appelez le 06 12 34 56 78, Jean Dupont.",
        "",
        "carte 4111 1111 1111 1111",
    ];
    for n in 0..9000 {
        match n % 1000 {
            17 => input.push_str("{\"id\": 1, \"text\": \"unterminated\n"),
            400 => input.push('\n'),
            _ => input.push_str(&format!(
                "{}\n",
                json!({"id": n, "text": texts[n % texts.len()]})
            )),
        }
        if n == 5000 {
            let long = "a".repeat(paravent::scan::MAX_JSONL_LINE_BYTES);
            input.push_str(&format!("{{\"id\": \"long\", \"text\": \"{long}\"}}\n"));
        }
    }
    let dir = Scratch::new("jsonl-threads");
    let path = dir.write("batch.jsonl", &input);
    let one = paravent(
        &["scan", "--jsonl", "--threads", "1", Scratch::arg(&path)],
        b"",
    );
    let three = paravent(
        &["scan", "--jsonl", "--threads", "3", Scratch::arg(&path)],
        b"",
    );
    assert_eq!(one.code, three.code);
    assert_ne!(
        one.code,
        Some(0),
        "the bad lines make the exit code non-zero"
    );
    assert!(one.stdout == three.stdout, "the outputs differ");
    assert_eq!(one.stderr, three.stderr);
    let ids: Vec<Value> = one.jsonl().iter().map(|l| l["id"].clone()).collect();
    assert_eq!(ids.len(), 9000 - 9 - 9, "one line per valid input line");
    assert_eq!(
        ids[0],
        json!(0),
        "the byte-order mark is not part of line 1"
    );
    assert!(
        ids.windows(2).all(|w| w[0].as_u64() < w[1].as_u64()),
        "in order"
    );
    assert!(
        one.stderr.contains("line 5002: longer than"),
        "{}",
        one.stderr
    );
    assert_eq!(
        one.stderr.matches("not valid JSON").count() + one.stderr.matches("cut short").count(),
        9
    );
}

/// The error for a bad line names its number, never its content: the content is the
/// very data the proxy must not spill into logs.
#[test]
fn jsonl_errors_never_echo_the_content_of_a_bad_line() {
    let bad = [
        // (line, what must not appear in the error)
        (
            r#"{"id": 1, "text": "jean.dupont@example.fr 2 91 07 69 123 456 20"#,
            "jean.dupont",
        ),
        (
            r#"{"id": 2, "txt": "claire.martin@example.fr"}"#,
            "claire.martin",
        ),
        (
            r#"{"id": 3, "text": ["sophie.leroy@example.fr"]}"#,
            "sophie.leroy",
        ),
        (r#"{"id": 4, "text": 291076912345620}"#, "291076912345620"),
        (r#""paul.girard@example.fr""#, "paul.girard"),
        (
            r#"{"id": 6, "text": "ok", "text": "lucie.blanc@example.fr"}"#,
            "lucie.blanc",
        ),
        (
            r#"{"id": 7, "text": "a\x", "nir": "2 91 07 69 123 456 20"}"#,
            "123 456",
        ),
        (r#"nir=291076912345620 marc.roux@example.fr"#, "marc.roux"),
        (
            r#"{"id": 9, "text": true, "mail": "anne.faure@example.fr"}"#,
            "anne.faure",
        ),
    ];
    let input: String = bad.iter().map(|(l, _)| format!("{l}\n")).collect();
    let run = paravent(&["scan", "--jsonl"], input.as_bytes());
    assert_ne!(run.code, Some(0));
    let mut leaks = Vec::new();
    for (i, (_, secret)) in bad.iter().enumerate() {
        let tag = format!("line {}:", i + 1);
        let Some(msg) = run.stderr.lines().find(|l| l.starts_with(&tag)) else {
            leaks.push(format!("{tag} not reported"));
            continue;
        };
        if msg.contains(secret) {
            leaks.push(format!("{msg}   <- echoes {secret:?}"));
        }
    }
    assert!(leaks.is_empty(), "\n{}", leaks.join("\n"));
}
