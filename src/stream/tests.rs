use proptest::prelude::*;

use super::*;

fn decode_all(chunks: &[&[u8]]) -> Result<Vec<Event>, StreamError> {
    let mut d = Decoder::default();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(d.push(c)?);
    }
    out.extend(d.finish()?);
    Ok(out)
}

fn lines_all(chunks: &[&[u8]]) -> Vec<String> {
    let mut d = LineDecoder::default();
    let mut out = Vec::new();
    for c in chunks {
        out.extend(d.push(c).unwrap());
    }
    out.extend(d.finish().unwrap());
    out
}

const FIXTURE: &[u8] =
    "\u{feff}: keep-alive comment\r\nevent: message_start\r\ndata: {\"a\":\"é\"}\r\n\r\n\
id: 7\rdata: line one\rdata:line two\r\rretry: 100\n\ndata: [DONE]\n\nevent: tail\ndata: x"
        .as_bytes();

#[test]
fn events_keep_their_fields_comments_and_data_lines() {
    let events = decode_all(&[FIXTURE]).unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0].lines[0], ": keep-alive comment");
    assert_eq!(events[0].event_type(), "message_start");
    assert_eq!(events[0].data().as_deref(), Some("{\"a\":\"é\"}"));
    assert_eq!(events[1].field("id"), Some("7"));
    assert_eq!(events[1].event_type(), "message");
    assert_eq!(events[1].data().as_deref(), Some("line one\nline two"));
    assert_eq!(events[2].data(), None);
    assert_eq!(events[3].data().as_deref(), Some("[DONE]"));
    assert_eq!(events[4].event_type(), "tail");
}

#[test]
fn every_split_of_the_fixture_decodes_to_the_same_events() {
    let whole = decode_all(&[FIXTURE]).unwrap();
    for_each_split(FIXTURE, |chunks| {
        assert_eq!(decode_all(chunks).unwrap(), whole, "{chunks:?}");
    });
}

#[test]
fn encoding_an_untouched_event_gives_its_lines_back() {
    let text = b": c\nevent: e\nid: 1\ndata: a\ndata: b\n\n";
    let events = decode_all(&[text]).unwrap();
    let mut out = Vec::new();
    events[0].encode_into(&mut out);
    assert_eq!(out, text);
}

#[test]
fn set_data_keeps_the_other_lines_in_place() {
    let mut e = decode_all(&[b"event: e\ndata: a\ndata: b\nid: 3\n\n"])
        .unwrap()
        .remove(0);
    e.set_data("x\ny");
    assert_eq!(e.lines, ["event: e", "data: x", "data: y", "id: 3"]);
}

#[test]
fn an_event_over_the_limit_is_an_error() {
    let mut d = Decoder::new(16);
    assert!(d.push(b"data: 0123456789").is_ok());
    assert_eq!(
        d.push(b"abcdef\n"),
        Err(StreamError::EventTooLarge { limit: 16 })
    );
    let mut d = Decoder::new(16);
    assert!(d.push(b"data: 01234\n\n").is_ok());
    assert!(d.push(b"data: 01234\n\n").is_ok(), "the limit is per event");
}

#[test]
fn ndjson_lines_over_the_limit_are_an_error() {
    let mut d = LineDecoder::new(4);
    assert_eq!(d.push(b"12\n34\n").unwrap(), ["12", "34"]);
    assert_eq!(
        d.push(b"12345"),
        Err(StreamError::LineTooLarge { limit: 4 })
    );
}

#[test]
fn ndjson_every_split_gives_the_same_lines() {
    let input = "{\"a\":\"é\"}\r\n\n{\"b\":2}\n{\"c\":3}".as_bytes();
    let whole = lines_all(&[input]);
    assert_eq!(whole, ["{\"a\":\"é\"}", "{\"b\":2}", "{\"c\":3}"]);
    for_each_split(input, |chunks| assert_eq!(lines_all(chunks), whole));
}

#[test]
fn invalid_utf8_is_an_error() {
    assert_eq!(decode_all(&[b"data: \xff\n\n"]), Err(StreamError::Utf8));
}

proptest! {
    #[test]
    fn any_chunking_decodes_like_one_chunk(
        text in "(event: [a-z]{1,5}\r?\n|data: [a-zé ]{0,8}\r?\n|: c\r?\n|\r?\n|\r)*",
        cuts in proptest::collection::vec(0usize..200, 0..8),
    ) {
        let bytes = text.as_bytes();
        let whole = decode_all(&[bytes]).unwrap();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts {
            chunks.push(&bytes[prev..c]);
            prev = c;
        }
        chunks.push(&bytes[prev..]);
        prop_assert_eq!(decode_all(&chunks).unwrap(), whole);
    }
}

/// The pieces of a JSON-array stream, adjacent framing merged (framing is returned as
/// soon as it is read, so its cuts follow the chunks'), and the cut element at the end.
fn array_all(chunks: &[&[u8]]) -> Result<(Vec<ArrayPiece>, Option<String>), StreamError> {
    let mut d = ArrayDecoder::default();
    let mut out: Vec<ArrayPiece> = Vec::new();
    for c in chunks {
        for p in d.push(c)? {
            match (out.last_mut(), p) {
                (Some(ArrayPiece::Framing(a)), ArrayPiece::Framing(b)) => a.push_str(&b),
                (_, p) => out.push(p),
            }
        }
    }
    Ok((out, d.finish()?))
}

fn joined(pieces: &[ArrayPiece]) -> String {
    pieces
        .iter()
        .map(|p| match p {
            ArrayPiece::Framing(s) | ArrayPiece::Element(s) => s.as_str(),
        })
        .collect()
}

const ARRAY: &str = "[{\"a\":\"x,]\\\"}\",\"b\":[1,{\"c\":\"é\"}]}\n,\r\n{\"d\":\"\\\\\"}\n,\n\"s]\" , -12.5e3,true,null\n]\n";

#[test]
fn a_json_array_stream_is_cut_into_its_elements_and_framing() {
    let (pieces, cut) = array_all(&[ARRAY.as_bytes()]).unwrap();
    assert_eq!(cut, None);
    let elements: Vec<&str> = pieces
        .iter()
        .filter_map(|p| match p {
            ArrayPiece::Element(e) => Some(e.as_str()),
            ArrayPiece::Framing(_) => None,
        })
        .collect();
    assert_eq!(
        elements,
        [
            "{\"a\":\"x,]\\\"}\",\"b\":[1,{\"c\":\"é\"}]}",
            "{\"d\":\"\\\\\"}",
            "\"s]\"",
            "-12.5e3",
            "true",
            "null"
        ]
    );
    for e in &elements {
        serde_json::from_str::<serde_json::Value>(e).unwrap();
    }
    assert_eq!(joined(&pieces), ARRAY, "the framing is kept byte for byte");
    assert_eq!(pieces.first(), Some(&ArrayPiece::Framing("[".to_owned())));
    assert_eq!(
        pieces.last(),
        Some(&ArrayPiece::Framing("\n]\n".to_owned()))
    );
}

#[test]
fn every_split_of_a_json_array_stream_gives_the_same_pieces() {
    let whole = array_all(&[ARRAY.as_bytes()]).unwrap();
    for_each_split(ARRAY.as_bytes(), |chunks| {
        assert_eq!(array_all(chunks).unwrap(), whole, "{chunks:?}");
    });
}

#[test]
fn the_array_decoder_goes_state_by_state() {
    let mut d = ArrayDecoder::default();
    assert_eq!(
        d.push(b" \r\n").unwrap(),
        [ArrayPiece::Framing(" \r\n".into())]
    );
    assert_eq!(d.state, ArrayState::Start);
    assert_eq!(d.push(b"[").unwrap(), [ArrayPiece::Framing("[".into())]);
    assert_eq!(d.state, ArrayState::BeforeElement { first: true });
    // Framing goes at once; an unfinished element is held.
    assert_eq!(
        d.push(b"\n{\"t\":\"a").unwrap(),
        [ArrayPiece::Framing("\n".into())]
    );
    assert!(matches!(
        d.state,
        ArrayState::Element(ElementState {
            depth: 1,
            in_string: true,
            ..
        })
    ));
    assert_eq!(d.push(b"\\").unwrap(), []);
    assert!(matches!(
        d.state,
        ArrayState::Element(ElementState { escaped: true, .. })
    ));
    assert_eq!(
        d.push(b"\"}").unwrap(),
        [],
        "an escaped quote does not end the string"
    );
    assert_eq!(
        d.push(b"\"}").unwrap(),
        [ArrayPiece::Element("{\"t\":\"a\\\"}\"}".into())]
    );
    assert_eq!(d.state, ArrayState::AfterElement);
    assert_eq!(
        d.push(b"\r\n,").unwrap(),
        [ArrayPiece::Framing("\r\n,".into())]
    );
    assert_eq!(d.state, ArrayState::BeforeElement { first: false });
    assert_eq!(d.push(b"42").unwrap(), []);
    assert!(matches!(
        d.state,
        ArrayState::Element(ElementState { literal: true, .. })
    ));
    assert_eq!(
        d.push(b"]").unwrap(),
        [
            ArrayPiece::Element("42".into()),
            ArrayPiece::Framing("]".into())
        ]
    );
    assert!(d.closed());
    assert_eq!(d.push(b"\n").unwrap(), [ArrayPiece::Framing("\n".into())]);
    assert_eq!(d.finish(), Ok(None));
}

#[test]
fn an_empty_array_is_framing_only() {
    let (pieces, cut) = array_all(&[b"[ ]"]).unwrap();
    assert_eq!(pieces, [ArrayPiece::Framing("[ ]".into())]);
    assert_eq!(cut, None);
}

#[test]
fn what_is_not_a_json_array_is_an_error() {
    for bad in [
        &b"{\"a\":1}"[..],
        b"[1 2]",
        b"[1,]x",
        b"[{}]x",
        b"[,{}]",
        b"[{}]]",
        b"data: {}\n\n",
        b"[1]\n[2]",
    ] {
        assert_eq!(
            array_all(&[bad]).map(|_| ()),
            Err(StreamError::NotArray),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn an_array_element_over_the_limit_or_not_utf8_is_an_error() {
    let mut d = ArrayDecoder::new(8);
    assert!(d.push(b"[{\"a\":1}").is_ok());
    assert_eq!(
        d.push(b",{\"abcdefgh\":1}"),
        Err(StreamError::EventTooLarge { limit: 8 })
    );
    assert_eq!(array_all(&[b"[\"\xff\"]"]), Err(StreamError::Utf8));
}

#[test]
fn a_cut_array_stream_returns_its_unfinished_element() {
    let (pieces, cut) = array_all(&[b"[{\"a\":1},\n{\"b\":\"PER"]).unwrap();
    assert_eq!(joined(&pieces), "[{\"a\":1},\n");
    assert_eq!(cut.as_deref(), Some("{\"b\":\"PER"));
}

proptest! {
    #[test]
    fn any_chunking_of_a_json_array_decodes_like_one_chunk(
        elements in proptest::collection::vec("[a-zé\\]\\[,\"\\\\ ]{0,6}", 0..6),
        seps in proptest::collection::vec("[ \r\n]{0,3}", 8),
        cuts in proptest::collection::vec(0usize..200, 0..8),
    ) {
        let mut text = format!("{}[", seps[0]);
        for (i, e) in elements.iter().enumerate() {
            if i > 0 {
                text.push_str(&seps[i % 8]);
                text.push(',');
            }
            text.push_str(&seps[(i + 1) % 8]);
            text.push_str(&serde_json::json!({"t": e, "n": [i]}).to_string());
        }
        text.push_str(&seps[7]);
        text.push(']');
        let bytes = text.as_bytes();
        let whole = array_all(&[bytes]).unwrap();
        prop_assert_eq!(joined(&whole.0), text.clone());
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for c in cuts {
            chunks.push(&bytes[prev..c]);
            prev = c;
        }
        chunks.push(&bytes[prev..]);
        prop_assert_eq!(array_all(&chunks).unwrap(), whole);
    }
}
