//! Each format's fixture stream, checked at every split point and in one-byte chunks:
//! the streamed result equals the batch result (STYLE.md habit 13).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::stream::for_each_split;
use crate::vault::{TokenKey, Vault};

struct Fixture {
    reid: Arc<Reidentifier>,
    person: String,
    email: String,
    phone: String,
}

fn fixture() -> Fixture {
    let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
    let mut v = Vault::new(&key, None, Default::default(), 100);
    let person = v.pseudonym("PERSON", "Jean Dupont").unwrap().to_owned();
    let email = v
        .pseudonym("EMAIL", "jean.dupont@example.fr")
        .unwrap()
        .to_owned();
    let phone = v.pseudonym("PHONE", "06 12 34 56 78").unwrap().to_owned();
    Fixture {
        reid: Arc::new(Reidentifier::new(&v)),
        person,
        email,
        phone,
    }
}

impl Fixture {
    /// The answer's deltas: one character each, then two tokens in one delta, and a
    /// token at the very end.
    fn deltas(&self) -> Vec<String> {
        let mut d: Vec<String> = format!("À {}", self.person)
            .chars()
            .map(String::from)
            .collect();
        d.push(format!(", {} {} ", self.person, self.email.to_lowercase()));
        d.extend(self.phone.clone().chars().map(String::from));
        d
    }

    /// Tool-call arguments (JSON text) in 5-byte fragments.
    fn arg_deltas(&self) -> Vec<String> {
        let args = json!({"to": self.email, "name": self.person}).to_string();
        args.as_bytes()
            .chunks(5)
            .map(|c| String::from_utf8(c.to_vec()).unwrap())
            .collect()
    }
}

fn sse(events: &[(Option<&str>, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in events {
        Event::new(*name, &data.to_string()).encode_into(&mut out);
    }
    out
}

fn run(kind: StreamKind, reid: &Arc<Reidentifier>, chunks: &[&[u8]]) -> Vec<u8> {
    let mut r = Rewriter::new(kind, reid.clone());
    let mut out = Vec::new();
    for c in chunks {
        out.extend(r.push(c).unwrap());
    }
    out.extend(r.finish().unwrap());
    out
}

/// The client's view: every event's JSON data (SSE) or line (NDJSON).
fn values(kind: StreamKind, bytes: &[u8]) -> Vec<(String, Value)> {
    if kind == StreamKind::GeminiArray {
        let all: Vec<Value> = serde_json::from_slice(bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)));
        return all.into_iter().map(|v| (String::new(), v)).collect();
    }
    if kind == StreamKind::Ollama {
        let mut d = LineDecoder::default();
        let mut lines = d.push(bytes).unwrap();
        lines.extend(d.finish().unwrap());
        return lines
            .iter()
            .map(|l| (String::new(), serde_json::from_str(l).unwrap()))
            .collect();
    }
    let mut d = Decoder::default();
    let mut events = d.push(bytes).unwrap();
    events.extend(d.finish().unwrap());
    events
        .iter()
        .filter_map(|e| {
            let data = e.data()?;
            let v = serde_json::from_str(&data).ok()?;
            Some((e.event_type().to_owned(), v))
        })
        .collect()
}

fn add(acc: &mut BTreeMap<String, String>, key: String, v: Option<&Value>) {
    if let Some(s) = v.and_then(Value::as_str) {
        acc.entry(key).or_default().push_str(s);
    }
}

/// The text of each content stream, reassembled as a client does.
fn texts(kind: StreamKind, bytes: &[u8]) -> BTreeMap<String, String> {
    let mut acc = BTreeMap::new();
    for (name, v) in values(kind, bytes) {
        match kind {
            StreamKind::OpenaiChat => {
                for c in v["choices"].as_array().into_iter().flatten() {
                    let i = &c["index"];
                    add(&mut acc, format!("c{i}"), c["delta"].get("content"));
                    for t in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
                        let k = format!("json t{i}.{}", t["index"]);
                        add(&mut acc, k, t["function"].get("arguments"));
                    }
                }
            }
            StreamKind::Anthropic => {
                assert_eq!(name, v["type"].as_str().unwrap());
                if v["type"] == "content_block_delta" {
                    let i = &v["index"];
                    add(&mut acc, format!("b{i}"), v["delta"].get("text"));
                    add(
                        &mut acc,
                        format!("json b{i}"),
                        v["delta"].get("partial_json"),
                    );
                }
            }
            StreamKind::OpenaiResponses => {
                assert_eq!(name, v["type"].as_str().unwrap());
                let id = v["item_id"].as_str().unwrap_or("").to_owned();
                match v["type"].as_str().unwrap() {
                    "response.output_text.delta" => add(&mut acc, id, v.get("delta")),
                    "response.function_call_arguments.delta" => {
                        add(&mut acc, format!("json {id}"), v.get("delta"))
                    }
                    "response.output_text.done" => {
                        assert_eq!(acc.get(&id).map(String::as_str), v["text"].as_str());
                    }
                    "response.function_call_arguments.done" => {
                        let k = format!("json {id}");
                        assert_eq!(acc.get(&k).map(String::as_str), v["arguments"].as_str());
                    }
                    "response.completed" => {
                        let out = &v["response"]["output"];
                        let t = out[0]["content"][0]["text"].as_str();
                        assert_eq!(acc.get("msg_1").map(String::as_str), t);
                        let a = out[1]["arguments"].as_str();
                        assert_eq!(acc.get("json fc_1").map(String::as_str), a);
                    }
                    _ => {}
                }
            }
            StreamKind::Gemini | StreamKind::GeminiArray => {
                for c in v["candidates"].as_array().into_iter().flatten() {
                    for p in c["content"]["parts"].as_array().into_iter().flatten() {
                        add(&mut acc, format!("g{}", c["index"]), p.get("text"));
                    }
                }
            }
            StreamKind::Ollama => {
                add(&mut acc, "m".into(), v.pointer("/message/content"));
                add(&mut acc, "r".into(), v.get("response"));
            }
        }
    }
    acc
}

/// Streamed at every split and in 1-byte chunks == batch of the reassembled input.
fn check(kind: StreamKind, f: &Fixture, input: &[u8]) -> BTreeMap<String, String> {
    let want: BTreeMap<String, String> = texts(kind, input)
        .into_iter()
        .map(|(k, v)| {
            let out = if k.starts_with("json ") {
                f.reid.reidentify_json_text(&v).0.into_owned()
            } else {
                f.reid.reidentify(&v).0.into_owned()
            };
            (k, out)
        })
        .collect();
    let whole = run(kind, &f.reid, &[input]);
    assert_eq!(texts(kind, &whole), want);
    for_each_split(input, |chunks| {
        assert!(
            run(kind, &f.reid, chunks) == whole,
            "{kind:?} {}",
            chunks.len()
        );
    });
    let out = String::from_utf8(whole).unwrap();
    for token in [&f.person, &f.email, &f.phone] {
        assert!(!out.contains(token.as_str()), "{token} left in {out}");
    }
    want
}

fn chat_stream(f: &Fixture, with_done: bool) -> Vec<u8> {
    let top = json!({"id": "c1", "model": "m"});
    let chunk = |choices: Value| {
        let mut c = top.clone();
        c["choices"] = choices;
        (None, c)
    };
    let mut ev = vec![chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
    )];
    for (i, d) in f.deltas().iter().enumerate() {
        ev.push(chunk(
            json!([{"index": 0, "delta": {"content": d}, "finish_reason": null}]),
        ));
        // A second choice interleaved, one character behind.
        if i % 4 == 0 {
            ev.push(chunk(
                json!([{"index": 1, "delta": {"content": d}, "finish_reason": null}]),
            ));
        }
    }
    ev.push(chunk(
        json!([{"index": 2, "delta": {"tool_calls": [{"index": 0, "id": "call_1",
        "type": "function", "function": {"name": "send", "arguments": ""}}]},
        "finish_reason": null}]),
    ));
    for a in f.arg_deltas() {
        ev.push(chunk(
            json!([{"index": 2, "delta": {"tool_calls": [{"index": 0,
            "function": {"arguments": a}}]}, "finish_reason": null}]),
        ));
    }
    ev.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
    ));
    ev.push(chunk(
        json!([{"index": 2, "delta": {}, "finish_reason": "tool_calls"}]),
    ));
    let mut usage = top.clone();
    usage["choices"] = json!([]);
    usage["usage"] = json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3});
    ev.push((None, usage));
    let mut out = sse(&ev);
    if with_done {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
    out
}

#[test]
fn openai_chat_stream_is_reidentified_at_every_split() {
    let f = fixture();
    let input = chat_stream(&f, true);
    let want = check(StreamKind::OpenaiChat, &f, &input);
    assert!(want["c0"].contains("À Jean Dupont, Jean Dupont jean.dupont@example.fr"));
    assert!(want["c0"].ends_with("06 12 34 56 78"));
    let out = run(StreamKind::OpenaiChat, &f.reid, &[&input]);
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert!(text.contains("\"usage\":{\"prompt_tokens\":1"));
    // Choice 1 never finishes: its tail comes in an extra chunk before [DONE].
    let args: Value = serde_json::from_str(&want["json t2.0"]).unwrap();
    assert_eq!(args["name"], "Jean Dupont");
}

#[test]
fn a_stream_that_ends_without_its_final_event_still_releases_its_tail() {
    let f = fixture();
    let input = chat_stream(&f, false);
    let cut = input.len() - 200;
    let out = run(StreamKind::OpenaiChat, &f.reid, &[&input[..cut]]);
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("PHONE_"), "{text}");
}

#[test]
fn anthropic_stream_is_reidentified_at_every_split() {
    let f = fixture();
    let mut ev = vec![
        (
            Some("message_start"),
            json!({"type": "message_start", "message": {"id": "msg_1",
            "type": "message", "role": "assistant", "model": "m", "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 1}}}),
        ),
        (
            Some("content_block_start"),
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
        (Some("ping"), json!({"type": "ping"})),
    ];
    for d in f.deltas() {
        ev.push((
            Some("content_block_delta"),
            json!({"type": "content_block_delta",
            "index": 0, "delta": {"type": "text_delta", "text": d}}),
        ));
    }
    ev.push((
        Some("content_block_stop"),
        json!({"type": "content_block_stop", "index": 0}),
    ));
    ev.push((
        Some("content_block_start"),
        json!({"type": "content_block_start", "index": 1,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "send", "input": {}}}),
    ));
    for a in f.arg_deltas() {
        ev.push((
            Some("content_block_delta"),
            json!({"type": "content_block_delta",
            "index": 1, "delta": {"type": "input_json_delta", "partial_json": a}}),
        ));
    }
    ev.push((
        Some("content_block_stop"),
        json!({"type": "content_block_stop", "index": 1}),
    ));
    ev.push((
        Some("message_delta"),
        json!({"type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": null},
        "usage": {"output_tokens": 9}}),
    ));
    ev.push((Some("message_stop"), json!({"type": "message_stop"})));
    let input = sse(&ev);
    let want = check(StreamKind::Anthropic, &f, &input);
    assert!(want["b0"].ends_with(" 06 12 34 56 78"));
    // The tail of block 0 comes before its stop.
    let out = run(StreamKind::Anthropic, &f.reid, &[&input]);
    let vals = values(StreamKind::Anthropic, &out);
    let stop = vals
        .iter()
        .position(|(n, v)| n == "content_block_stop" && v["index"] == 0)
        .unwrap();
    assert_eq!(vals[stop - 1].1["delta"]["text"], "06 12 34 56 78");
    assert!(vals.iter().any(|(n, _)| n == "ping"));
}

#[test]
fn openai_responses_stream_is_reidentified_at_every_split() {
    let f = fixture();
    let full: String = f.deltas().concat();
    let args: String = f.arg_deltas().concat();
    let mut seq = 0;
    let mut ev = Vec::new();
    let mut push = |ty: &'static str, mut v: Value| {
        v["type"] = json!(ty);
        v["sequence_number"] = json!(seq);
        seq += 1;
        ev.push((Some(ty), v));
    };
    push(
        "response.created",
        json!({"response": {"id": "resp_1", "status": "in_progress",
        "output": []}}),
    );
    push(
        "response.output_item.added",
        json!({"output_index": 0, "item": {"id": "msg_1",
        "type": "message", "role": "assistant", "content": [], "status": "in_progress"}}),
    );
    for d in f.deltas() {
        push(
            "response.output_text.delta",
            json!({"item_id": "msg_1", "output_index": 0,
            "content_index": 0, "delta": d, "logprobs": []}),
        );
    }
    push(
        "response.output_text.done",
        json!({"item_id": "msg_1", "output_index": 0,
        "content_index": 0, "text": full, "logprobs": []}),
    );
    for a in f.arg_deltas() {
        push(
            "response.function_call_arguments.delta",
            json!({"item_id": "fc_1",
            "output_index": 1, "delta": a}),
        );
    }
    push(
        "response.function_call_arguments.done",
        json!({"item_id": "fc_1",
        "output_index": 1, "arguments": args}),
    );
    push(
        "response.completed",
        json!({"response": {"id": "resp_1", "status": "completed",
        "output": [{"id": "msg_1", "type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": full, "annotations": []}]},
            {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "send",
            "arguments": args}]}}),
    );
    let input = sse(&ev);
    let want = check(StreamKind::OpenaiResponses, &f, &input);
    assert!(want["msg_1"].contains("Jean Dupont"));
}

#[test]
fn gemini_stream_is_reidentified_at_every_split() {
    let f = fixture();
    let deltas = f.deltas();
    let mut ev = Vec::new();
    let n = deltas.len();
    for (i, d) in deltas.iter().enumerate() {
        let mut c = json!({"content": {"parts": [{"text": d}], "role": "model"}, "index": 0});
        if i == n - 1 {
            c["finishReason"] = json!("STOP");
        }
        ev.push((
            None,
            json!({"candidates": [c], "modelVersion": "g", "responseId": "r1"}),
        ));
    }
    let mut last = ev.pop().unwrap().1;
    last["usageMetadata"] = json!({"promptTokenCount": 1, "totalTokenCount": 2});
    ev.push((None, last));
    let input = sse(&ev);
    let want = check(StreamKind::Gemini, &f, &input);
    assert!(want["g0"].ends_with("06 12 34 56 78"));
}

#[test]
fn ollama_streams_are_reidentified_at_every_split() {
    let f = fixture();
    for (pointer, key) in [("/message/content", "m"), ("/response", "r")] {
        let mut input = Vec::new();
        for d in f.deltas() {
            let mut v = json!({"model": "m", "created_at": "2026-01-01T00:00:00Z", "done": false});
            if key == "m" {
                v["message"] = json!({"role": "assistant", "content": d});
            } else {
                v["response"] = json!(d);
            }
            input.extend_from_slice(v.to_string().as_bytes());
            input.push(b'\n');
        }
        let mut done = json!({"model": "m", "done": true, "done_reason": "stop",
            "eval_count": 3});
        if key == "m" {
            done["message"] = json!({"role": "assistant", "content": ""});
        } else {
            done["response"] = json!("");
        }
        input.extend_from_slice(done.to_string().as_bytes());
        input.push(b'\n');
        let want = check(StreamKind::Ollama, &f, &input);
        assert!(want[key].ends_with("06 12 34 56 78"), "{pointer}");
    }
}

#[test]
fn an_event_over_the_limit_is_an_error() {
    let f = fixture();
    let mut r = Rewriter::with_limit(StreamKind::Anthropic, f.reid.clone(), 64);
    assert!(r.push(&[b'x'; 100]).is_err());
    let frame = StreamKind::Anthropic.error_frame(b"{\"type\":\"error\"}");
    assert!(frame.starts_with(b"event: error\ndata: "));
}

#[test]
fn the_usage_of_a_stream_is_read_as_it_passes() {
    let f = fixture();
    let body = sse(&[
        (
            Some("message_start"),
            json!({"type": "message_start", "message": {"id": "m", "content": [],
                "usage": {"input_tokens": 21, "output_tokens": 1}}}),
        ),
        (
            Some("content_block_delta"),
            json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": f.person}}),
        ),
        (
            Some("message_delta"),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 9}}),
        ),
    ]);
    let mut r = Rewriter::new(StreamKind::Anthropic, f.reid.clone());
    for c in body.chunks(7) {
        r.push(c).unwrap();
    }
    r.finish().unwrap();
    let u = r.usage().unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (21, 9));

    // Observed only (nothing to re-identify): Ollama's last line, unterminated.
    let mut r = Rewriter::new(StreamKind::Ollama, f.reid.clone());
    r.observe(b"{\"response\":\"a\",\"done\":false}\n{\"response\":\"\",\"done\":tr")
        .unwrap();
    assert_eq!(r.usage(), None);
    r.observe(b"ue,\"prompt_eval_count\":3,\"eval_count\":4}")
        .unwrap();
    r.observe_finish();
    let u = r.usage().unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (3, 4));
}

#[test]
fn the_last_event_of_each_api_is_recognised_and_not_its_text() {
    let f = fixture();
    let cases: &[(StreamKind, &[u8], &[u8])] = &[
        (
            StreamKind::OpenaiChat,
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"[DONE]\"}}]}\n\n",
            b"data: [DONE]\n\n",
        ),
        (
            StreamKind::Anthropic,
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"\\\"type\\\":\\\"message_stop\\\"\"}}\n\n",
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        ),
        (
            StreamKind::OpenaiResponses,
            b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"response.completed\"}\n\n",
            b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{}}\n\n",
        ),
        (
            StreamKind::Ollama,
            b"{\"response\":\"\\\"done\\\":true\",\"done\":false}\n",
            b"{\"response\":\"\",\"done\":true}\n",
        ),
    ];
    for (kind, text, last) in cases {
        for observe in [false, true] {
            let mut r = Rewriter::new(*kind, f.reid.clone());
            let feed = |r: &mut Rewriter, b: &[u8]| {
                if observe {
                    r.observe(b).unwrap();
                } else {
                    r.push(b).unwrap();
                }
            };
            feed(&mut r, text);
            assert!(!r.ended(), "{kind:?}");
            feed(&mut r, last);
            assert!(r.ended(), "{kind:?}");
        }
    }
}

/// Gemini's chunks (one per delta, the last with `finishReason` and the usage) as a
/// JSON array streamed the way Gemini writes it: `[{…}\n,\r\n{…}\n]`.
fn gemini_array(f: &Fixture, finish: bool) -> Vec<u8> {
    let deltas = f.deltas();
    let n = deltas.len();
    let mut elements = Vec::new();
    for (i, d) in deltas.iter().enumerate() {
        let mut c = json!({"content": {"parts": [{"text": d}], "role": "model"}, "index": 0});
        let mut chunk = json!({"candidates": [c.clone()], "modelVersion": "g"});
        if i == n - 1 && finish {
            c["finishReason"] = json!("STOP");
            chunk = json!({"candidates": [c], "modelVersion": "g",
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7,
                    "totalTokenCount": 12}});
        }
        elements.push(chunk.to_string());
    }
    format!("[{}\n]", elements.join("\n,\r\n")).into_bytes()
}

#[test]
fn gemini_json_array_stream_is_reidentified_at_every_split() {
    let f = fixture();
    let input = gemini_array(&f, true);
    let want = check(StreamKind::GeminiArray, &f, &input);
    assert!(want["g0"].starts_with("À Jean Dupont, Jean Dupont jean.dupont@example.fr"));
    assert!(want["g0"].ends_with("06 12 34 56 78"));
    let mut r = Rewriter::new(StreamKind::GeminiArray, f.reid.clone());
    let mut out = r.push(&input).unwrap();
    // The `]` waits for the end of the body.
    assert!(out.ends_with(b"\n"), "{}", String::from_utf8_lossy(&out));
    out.extend(r.finish().unwrap());
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("[{\"candidates\""));
    assert!(text.contains("}\n,\r\n{"), "the framing is kept");
    assert!(text.ends_with("}\n]"));
    let u = r.usage().unwrap();
    assert_eq!((u.input_tokens, u.output_tokens), (5, 7));
    assert!(!r.ended(), "the end of the body ends a Gemini answer");
}

#[test]
fn a_gemini_array_without_finish_reason_releases_its_tail_before_the_bracket() {
    let f = fixture();
    let input = gemini_array(&f, false);
    let want = check(StreamKind::GeminiArray, &f, &input);
    assert!(want["g0"].ends_with("06 12 34 56 78"));
    // Cut before its end: the tail still comes back, the client's parser sees the cut.
    let cut = &input[..input.len() - 20];
    let out = String::from_utf8(run(StreamKind::GeminiArray, &f.reid, &[cut])).unwrap();
    assert!(!out.contains("PHONE_"), "{out}");
    assert!(!out.ends_with(']'));
}

#[test]
fn the_array_error_frame_fits_what_the_client_already_has() {
    let f = fixture();
    let err = br#"{"error":{"code":502}}"#;
    let element = br#"{"candidates":[]}"#;
    let mut r = Rewriter::new(StreamKind::GeminiArray, f.reid.clone());
    let cases: [(&[u8], &str); 5] = [
        (b" ", r#"[{"error":{"code":502}}]"#),
        (b"[", r#"{"error":{"code":502}}]"#),
        (element, r#",{"error":{"code":502}}]"#),
        (b"\n,", r#"{"error":{"code":502}}]"#),
        (b"{}]", r#",{"error":{"code":502}}]"#),
    ];
    let mut sent = Vec::new();
    for (chunk, frame) in cases {
        sent.extend(r.push(chunk).unwrap());
        let got = r.error_frame(err);
        assert_eq!(String::from_utf8_lossy(&got), frame);
        let mut whole = sent.clone();
        whole.extend(&got);
        let v: Vec<Value> = serde_json::from_slice(&whole)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&whole)));
        assert_eq!(v.last().unwrap()["error"]["code"], 502);
    }
    // finish() does not move what the client has: its output may be replaced.
    let tail = r.finish().unwrap();
    assert_eq!(tail, b"]");
    assert_eq!(r.error_frame(err), br#",{"error":{"code":502}}]"#);
}

#[test]
fn what_is_not_a_json_array_ends_the_array_stream() {
    let f = fixture();
    let mut r = Rewriter::new(StreamKind::GeminiArray, f.reid.clone());
    assert_eq!(r.push(b"data: {}\n\n"), Err(StreamError::NotArray));
    let mut r = Rewriter::with_limit(StreamKind::GeminiArray, f.reid.clone(), 16);
    assert!(r.push(b"[{\"a\":1}").is_ok());
    assert!(r.push(br#",{"text":"0123456789abcdef"}"#).is_err());
}
