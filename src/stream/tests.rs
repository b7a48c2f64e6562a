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
