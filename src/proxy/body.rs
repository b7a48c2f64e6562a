//! [`ReidentifyBody`]: the upstream body of a streamed answer (SSE, NDJSON, Gemini's JSON
//! array), re-identified frame by frame as it passes (STYLE.md habit 10), its usage read,
//! and its audit record written when it ends.
//!
//! Each data frame is decoded first when the provider compressed the stream
//! ([`ReidentifyBody::with_decoder`]; it goes on uncompressed), goes through the
//! format's [`Rewriter`], has the injected provider keys redacted
//! ([`ReidentifyBody::with_redactor`]), and what comes out is sent at once; only the
//! bytes of an unfinished event and the few characters that could still start a token
//! wait for the next frame. The end of the stream releases them. Trailers pass through
//! unchanged, after the released text. `size_hint` is the default: the length changes.
//! When a limit is exceeded, or the stream cannot be read or decoded, the client gets an
//! error event in the provider's format (framed by [`Rewriter::error_frame`]) and the
//! stream ends (fail closed): it never gets bytes Paravent could not read. Dropping this
//! body drops the upstream body, which cancels the upstream request. Never logs values.
//! A stream with nothing to re-identify, decode or redact
//! ([`ReidentifyBody::pass_through`]) goes on byte for byte and is only read for its
//! usage.
//!
//! The audit record of a streamed answer is written at its end, whatever the end is
//! (`stream_end`): `complete`, `upstream-error`, `limit`, `upstream-idle` when the
//! provider sent nothing for `[limits] stream_idle_timeout_ms` (the client gets the
//! provider's error event, as for a limit), or `client-gone` when the body is dropped
//! before its end (the client went away). "The end" of a complete answer is
//! its last event (`[DONE]`, `message_stop`, `response.completed`, Ollama's `done`
//! line; see [`Rewriter::ended`]), where the usage is complete, or else the end of the
//! upstream body (Gemini). That last event (or the end of the stream, the trailers, the
//! upstream error) is held until the record is written, so that "written before the
//! response completes" holds for streams too. If it cannot be written and `[audit]
//! on_failure = "refuse"`, the stream ends with the provider's error event instead of
//! its last event: what was already streamed cannot be taken back, but the client's SDK
//! raises an error instead of returning a complete answer.
//!
//! Writing from `poll_frame`: the writer does blocking file I/O (and `fsync`), which must
//! not run on an async worker. The record is handed to `spawn_blocking` and its
//! `JoinHandle`, a future, is polled from `poll_frame` (it wakes the body's task when the
//! write is done). This keeps one writer, one lock and one order of records for the
//! streamed and the other answers, with no extra thread or channel. A dropped body
//! spawns the write and does not wait for it; the runtime finishes blocking tasks before
//! it shuts down.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use hyper::body::{Body, Frame};
use pin_project_lite::pin_project;

use super::{BoxError, PendingRecord, RecordSlot, Recording};
use crate::body::{BodyError, Decompressor};
use crate::reidentify::KeyRedactor;
use crate::stream::StreamError;
use crate::stream::formats::Rewriter;

/// How a streamed answer ended, as `stream_end` says it.
pub mod end {
    pub const COMPLETE: &str = "complete";
    pub const UPSTREAM_ERROR: &str = "upstream-error";
    pub const LIMIT: &str = "limit";
    pub const CLIENT_GONE: &str = "client-gone";
    /// The provider sent nothing for `[limits] stream_idle_timeout_ms`.
    pub const UPSTREAM_IDLE: &str = "upstream-idle";
}

/// What goes to the client once the record is written, after the held events.
enum After {
    /// The released text, then the end (or the trailers).
    End(Bytes, Option<HeaderMap>),
    /// The upstream body failed.
    Error(BoxError),
    /// A limit was exceeded, or the stream could not be read: the error event.
    ErrorEvent,
    /// The answer's last event was seen: it goes, then the rest of the stream.
    Resume,
}

/// Where the body is between two polls.
enum State {
    Streaming,
    /// The record is being written; then `After`.
    Recording(Recording, After),
    /// The upstream trailers, sent after the released text.
    Trailers(HeaderMap),
    /// The upstream error, sent after the held events.
    Failed(BoxError),
    Done,
}

/// What a data frame goes through: decoded (a compressed stream), re-identified (or
/// only read for its usage), keys redacted.
struct Pipeline {
    decoder: Option<Decompressor>,
    rewriter: Rewriter,
    redactor: Option<KeyRedactor>,
    // Frames go on as they came; the rewriter only reads the usage.
    pass_through: bool,
    // The pass-through decoder failed (an event over its limit): no more usage.
    observing: bool,
}

/// Why a stream is ended before its end.
enum Fail {
    /// An event over a limit of Paravent, or one it cannot read.
    Limit(StreamError),
    /// The compressed stream does not decode.
    Decode(BodyError),
}

impl Fail {
    /// How the stream ended, for the record.
    fn end(&self) -> &'static str {
        match self {
            Fail::Limit(_) => end::LIMIT,
            Fail::Decode(_) => end::UPSTREAM_ERROR,
        }
    }

    fn log(&self, request_id: &str) {
        match self {
            Fail::Limit(e) => tracing::warn!(request_id, error = %e,
                "Stream ended: the provider's stream exceeded a limit or could not be read."),
            Fail::Decode(e) => tracing::warn!(request_id, error = %e,
                "Stream ended: the provider's compressed stream could not be decoded."),
        }
    }
}

impl Pipeline {
    fn push(&mut self, data: Bytes) -> Result<Bytes, Fail> {
        let data = match &mut self.decoder {
            Some(d) => Bytes::from(d.push(&data).map_err(Fail::Decode)?),
            None => data,
        };
        self.rewrite(data)
    }

    fn rewrite(&mut self, data: Bytes) -> Result<Bytes, Fail> {
        if self.pass_through {
            if self.observing && self.rewriter.observe(&data).is_err() {
                self.observing = false;
            }
            return Ok(data);
        }
        let out = self.rewriter.push(&data).map_err(Fail::Limit)?;
        Ok(Bytes::from(self.redact(out)))
    }

    fn redact(&self, out: Vec<u8>) -> Vec<u8> {
        match &self.redactor {
            Some(r) => r.redact_vec(out),
            None => out,
        }
    }

    /// The end of the upstream body: what the decoder and the rewriter still held, and
    /// whether they could finish.
    fn finish(&mut self) -> (Vec<u8>, Result<(), Fail>) {
        let mut out = Vec::new();
        if let Some(mut d) = self.decoder.take() {
            match d
                .finish()
                .map_err(Fail::Decode)
                .and_then(|rest| self.rewrite(rest.into()))
            {
                Ok(more) => out.extend_from_slice(&more),
                Err(f) => return (out, Err(f)),
            }
        }
        if self.pass_through {
            self.rewriter.observe_finish();
            return (out, Ok(()));
        }
        match self.rewriter.finish() {
            Ok(tail) => {
                out.extend(self.redact(tail));
                (out, Ok(()))
            }
            Err(e) => (out, Err(Fail::Limit(e))),
        }
    }
}

pin_project! {
    /// A streamed answer, re-identified on the way to the client.
    pub struct ReidentifyBody<B> {
        #[pin]
        inner: B,
        pipe: Pipeline,
        state: State,
        // The provider's error body that ends the stream when a limit is exceeded.
        error_body: Bytes,
        request_id: String,
        // The request's record, written at the end (absent in unit tests).
        record: Option<RecordSlot>,
        // The error body that ends the stream when the record cannot be written.
        audit_error_body: Bytes,
        // What came after the event that ends the answer (`[DONE]`, `message_stop`…),
        // held until the record is written.
        held: Vec<u8>,
        // The longest silence of the provider, and when the current one ends it.
        idle: Option<(std::time::Duration, Pin<Box<tokio::time::Sleep>>)>,
    }

    impl<B> PinnedDrop for ReidentifyBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(pending) = take(this.record) {
                // The client went away before the end: the record is still written.
                let _ = pending.finish(
                    end::CLIENT_GONE,
                    this.pipe.rewriter.usage(),
                    this.pipe.rewriter.count(),
                );
            }
        }
    }
}

fn take(slot: &mut Option<RecordSlot>) -> Option<PendingRecord> {
    slot.take()?.lock().ok()?.take()
}

impl<B> ReidentifyBody<B> {
    /// Wraps `inner`; `error_body` (the provider's JSON error body) ends the stream, in
    /// the stream's framing, if a limit is exceeded or the stream cannot be read.
    pub fn new(
        inner: B,
        rewriter: Rewriter,
        error_body: Vec<u8>,
        request_id: String,
    ) -> ReidentifyBody<B> {
        ReidentifyBody {
            inner,
            pipe: Pipeline {
                decoder: None,
                rewriter,
                redactor: None,
                pass_through: false,
                observing: true,
            },
            state: State::Streaming,
            error_body: Bytes::from(error_body),
            request_id,
            record: None,
            audit_error_body: Bytes::new(),
            held: Vec::new(),
            idle: None,
        }
    }

    /// Ends the stream (`upstream-idle`, the provider's error event) when the provider
    /// sends nothing for `timeout`. Must be called on a tokio runtime (it starts a timer).
    pub fn with_idle_timeout(mut self, timeout: std::time::Duration) -> ReidentifyBody<B> {
        self.idle = Some((timeout, Box::pin(tokio::time::sleep(timeout))));
        self
    }

    /// Sends the frames on as they come (nothing to re-identify), reading only the
    /// usage (after decoding them, with a decoder).
    pub fn pass_through(mut self) -> ReidentifyBody<B> {
        self.pipe.pass_through = true;
        self
    }

    /// Decodes the frames first (a compressed stream); they go on decoded.
    pub fn with_decoder(mut self, decoder: Decompressor) -> ReidentifyBody<B> {
        self.pipe.decoder = Some(decoder);
        self
    }

    /// Replaces the provider keys `redactor` knows in every frame that goes out. The
    /// frames must be whole events for that (not [`ReidentifyBody::pass_through`]).
    pub fn with_redactor(mut self, redactor: KeyRedactor) -> ReidentifyBody<B> {
        self.pipe.redactor = Some(redactor);
        self
    }

    /// Writes the record in `slot` when the stream ends; `audit_error_body` ends the
    /// stream if it cannot be written and the trail refuses.
    pub(crate) fn with_record(
        mut self,
        slot: RecordSlot,
        audit_error_body: Vec<u8>,
    ) -> ReidentifyBody<B> {
        self.record = Some(slot);
        self.audit_error_body = Bytes::from(audit_error_body);
        self
    }
}

impl<B> Body for ReidentifyBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            match std::mem::replace(this.state, State::Done) {
                State::Done => return Poll::Ready(None),
                State::Trailers(t) => return Poll::Ready(Some(Ok(Frame::trailers(t)))),
                State::Failed(e) => return Poll::Ready(Some(Err(e))),
                State::Recording(mut rec, after) => {
                    let written = match &mut rec {
                        Recording::Pending(h) => match Pin::new(h).poll(cx) {
                            Poll::Pending => {
                                *this.state = State::Recording(rec, after);
                                return Poll::Pending;
                            }
                            Poll::Ready(r) => r.unwrap_or(false),
                        },
                        Recording::Done(ok) => *ok,
                    };
                    let frame = |body: &Bytes| Bytes::from(this.pipe.rewriter.error_frame(body));
                    let error_frame = frame(this.error_body);
                    let audit_error_frame = frame(this.audit_error_body);
                    return Poll::Ready(deliver(
                        std::mem::take(this.held),
                        after,
                        written,
                        &error_frame,
                        &audit_error_frame,
                        this.state,
                    ));
                }
                State::Streaming => *this.state = State::Streaming,
            }
            let polled = this.inner.as_mut().poll_frame(cx);
            if let Some((timeout, sleep)) = this.idle.as_mut() {
                if polled.is_ready() {
                    let next = tokio::time::Instant::now() + *timeout;
                    sleep.as_mut().reset(next);
                } else if sleep.as_mut().poll(cx).is_ready() {
                    tracing::warn!(request_id = %this.request_id,
                        "Stream ended: the provider sent nothing for [limits] stream_idle_timeout_ms.");
                    *this.idle = None;
                    // After the answer's last event the stream just ends; before it,
                    // the client's SDK gets the provider's error event.
                    let after = if this.pipe.rewriter.ended() {
                        After::End(Bytes::new(), None)
                    } else {
                        After::ErrorEvent
                    };
                    *this.state =
                        record(this.record, end::UPSTREAM_IDLE, &this.pipe.rewriter, after);
                    continue;
                }
            }
            let frame = match ready!(polled) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    tracing::warn!(request_id = %this.request_id,
                        "Stream ended: the provider's stream failed.");
                    *this.state = record(
                        this.record,
                        end::UPSTREAM_ERROR,
                        &this.pipe.rewriter,
                        After::Error(e.into()),
                    );
                    continue;
                }
                None => {
                    let (tail, how) = finish(this.pipe, this.error_body, this.request_id);
                    *this.state = record(
                        this.record,
                        how,
                        &this.pipe.rewriter,
                        After::End(tail, None),
                    );
                    continue;
                }
            };
            let frame = match frame.into_data() {
                Ok(data) => match this.pipe.push(data) {
                    Ok(out) if out.is_empty() => continue,
                    Ok(out) if this.pipe.rewriter.ended() && this.record.is_some() => {
                        // The answer's last event: it waits for the record.
                        this.held.extend_from_slice(&out);
                        *this.state = record(
                            this.record,
                            end::COMPLETE,
                            &this.pipe.rewriter,
                            After::Resume,
                        );
                        continue;
                    }
                    Ok(out) => return Poll::Ready(Some(Ok(Frame::data(out)))),
                    Err(fail) => {
                        fail.log(this.request_id);
                        *this.state = record(
                            this.record,
                            fail.end(),
                            &this.pipe.rewriter,
                            After::ErrorEvent,
                        );
                        continue;
                    }
                },
                Err(frame) => frame,
            };
            // Trailers: the held-back text goes first.
            if let Ok(trailers) = frame.into_trailers() {
                let (tail, how) = finish(this.pipe, this.error_body, this.request_id);
                *this.state = record(
                    this.record,
                    how,
                    &this.pipe.rewriter,
                    After::End(tail, Some(trailers)),
                );
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

/// Starts writing the record (if any) of a stream that ended `how`.
fn record(
    slot: &mut Option<RecordSlot>,
    how: &'static str,
    rewriter: &Rewriter,
    after: After,
) -> State {
    let rec = match take(slot) {
        Some(pending) => pending.finish(how, rewriter.usage(), rewriter.count()),
        None => Recording::Done(true),
    };
    State::Recording(rec, after)
}

/// What the client gets once the record is written (or not): the held events, then
/// `after`.
fn deliver(
    held: Vec<u8>,
    after: After,
    written: bool,
    error_frame: &Bytes,
    audit_error_frame: &Bytes,
    state: &mut State,
) -> Option<Result<Frame<Bytes>, BoxError>> {
    *state = State::Done;
    let mut out = held;
    if !written {
        // No clean end without the record: the error event instead of the answer's last
        // events (what was streamed before them is the client's already).
        out.clear();
        out.extend_from_slice(audit_error_frame);
        return Some(Ok(Frame::data(Bytes::from(out))));
    }
    match after {
        After::End(tail, trailers) => {
            out.extend_from_slice(&tail);
            if let Some(t) = trailers {
                if out.is_empty() {
                    return Some(Ok(Frame::trailers(t)));
                }
                *state = State::Trailers(t);
            }
            (!out.is_empty()).then(|| Ok(Frame::data(Bytes::from(out))))
        }
        After::Error(e) => {
            if out.is_empty() {
                return Some(Err(e));
            }
            *state = State::Failed(e);
            Some(Ok(Frame::data(Bytes::from(out))))
        }
        After::ErrorEvent => {
            out.extend_from_slice(error_frame);
            Some(Ok(Frame::data(Bytes::from(out))))
        }
        After::Resume => {
            *state = State::Streaming;
            Some(Ok(Frame::data(Bytes::from(out))))
        }
    }
}

/// The held-back text, and how the stream ended: when the decoder or the rewriter cannot
/// finish (a cut compressed stream, an invalid last event), what they could release and
/// then the error event.
fn finish(pipe: &mut Pipeline, error_body: &Bytes, request_id: &str) -> (Bytes, &'static str) {
    match pipe.finish() {
        (out, Ok(())) => {
            tracing::debug!(
                request_id,
                reidentified = pipe.rewriter.count(),
                "Stream ended."
            );
            (Bytes::from(out), end::COMPLETE)
        }
        (mut out, Err(fail)) => {
            fail.log(request_id);
            out.extend(pipe.rewriter.error_frame(error_body));
            (Bytes::from(out), fail.end())
        }
    }
}

/// A body read up to a limit.
pub enum Collected<B> {
    /// All of it, and its trailers.
    Whole(Bytes, Option<HeaderMap>),
    /// Over the limit: what was read, and the rest still to read.
    Partial(Bytes, B),
    /// The body failed.
    Failed,
}

/// Reads `body` whole if it is at most `limit` bytes; else stops after the frame that
/// crosses the limit and returns what it read with the rest of the body.
pub async fn collect_up_to<B>(mut body: B, limit: usize) -> Collected<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::new();
    loop {
        match body.frame().await {
            None => return Collected::Whole(buf.freeze(), None),
            Some(Err(_)) => return Collected::Failed,
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    buf.extend_from_slice(&data);
                    if buf.len() > limit {
                        return Collected::Partial(buf.freeze(), body);
                    }
                }
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        return Collected::Whole(buf.freeze(), Some(t));
                    }
                }
            },
        }
    }
}

pin_project! {
    /// Bytes already read, then the trailers or the rest of the body.
    pub struct Prefixed<B> {
        head: Option<Bytes>,
        trailers: Option<HeaderMap>,
        #[pin]
        rest: Option<B>,
    }
}

impl<B> Prefixed<B> {
    pub fn new(head: Bytes, trailers: Option<HeaderMap>, rest: Option<B>) -> Prefixed<B> {
        Prefixed {
            head: (!head.is_empty()).then_some(head),
            trailers,
            rest,
        }
    }
}

impl<B> Body for Prefixed<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if let Some(h) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(h))));
        }
        if let Some(t) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(t))));
        }
        match this.rest.as_pin_mut() {
            Some(rest) => rest
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(Into::into))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        match &self.rest {
            None => hyper::body::SizeHint::with_exact(head),
            Some(r) => {
                let h = r.size_hint();
                let mut out = hyper::body::SizeHint::new();
                out.set_lower(h.lower() + head);
                if let Some(u) = h.upper() {
                    out.set_upper(u + head);
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http_body_util::BodyExt;

    use super::*;
    use crate::reidentify::Reidentifier;
    use crate::stream::formats::StreamKind;
    use crate::vault::{TokenKey, Vault};

    /// A body that yields `parts`, one frame per poll.
    fn frames(
        parts: Vec<Frame<Bytes>>,
    ) -> impl hyper::body::Body<Data = Bytes, Error = BoxError> + Unpin {
        struct Frames(std::collections::VecDeque<Frame<Bytes>>);
        impl Body for Frames {
            type Data = Bytes;
            type Error = BoxError;
            fn poll_frame(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
                Poll::Ready(self.0.pop_front().map(Ok))
            }
        }
        Frames(parts.into())
    }

    #[tokio::test]
    async fn tokens_split_across_frames_come_back_and_trailers_pass() {
        let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
        let mut v = Vault::new(&key, None, Default::default(), 10);
        let t = v.pseudonym("PERSON", "Jean Dupont").unwrap().to_owned();
        let reid = Arc::new(Reidentifier::new(&v));
        let ev = |s: &str| {
            format!(
                "data: {}\n\n",
                serde_json::json!({"choices": [{"index": 0, "delta": {"content": s}}]})
            )
        };
        let mut parts: Vec<Frame<Bytes>> = t
            .chars()
            .map(|c| Frame::data(Bytes::from(ev(&c.to_string()))))
            .collect();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-t", "1".parse().unwrap());
        parts.push(Frame::trailers(trailers));
        let body = ReidentifyBody::new(
            frames(parts),
            Rewriter::new(StreamKind::OpenaiChat, reid),
            b"{\"error\":{}}".to_vec(),
            "pv-test".into(),
        );
        assert_eq!(body.size_hint().exact(), None);
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["x-t"], "1");
        let text = String::from_utf8(collected.to_bytes().to_vec()).unwrap();
        assert!(!text.contains("PERSON_"), "{text}");
        let mut joined = String::new();
        for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            joined += v["choices"][0]["delta"]["content"].as_str().unwrap_or("");
        }
        assert_eq!(joined, "Jean Dupont");
    }

    #[tokio::test]
    async fn an_event_over_the_limit_ends_the_stream_with_an_error_event() {
        let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
        let mut v = Vault::new(&key, None, Default::default(), 10);
        v.pseudonym("PERSON", "Jean Dupont").unwrap();
        let reid = Arc::new(Reidentifier::new(&v));
        let parts = vec![
            Frame::data(Bytes::from_static(b"data: {}\n\n")),
            Frame::data(Bytes::from(vec![b'x'; 100])),
            Frame::data(Bytes::from_static(b"data: {}\n\n")),
        ];
        let body = ReidentifyBody::new(
            frames(parts),
            Rewriter::with_limit(StreamKind::Anthropic, reid, 64),
            b"{}".to_vec(),
            "pv-test".into(),
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"data: {}\n\nevent: error\ndata: {}\n\n");
    }

    fn reid_with(value: &str) -> (Arc<Reidentifier>, String) {
        let key = TokenKey::from_secret(b"test secret, 32 bytes long......");
        let mut v = Vault::new(&key, None, Default::default(), 10);
        let t = v.pseudonym("PERSON", value).unwrap().to_owned();
        (Arc::new(Reidentifier::new(&v)), t)
    }

    /// An OpenAI chat event carrying `text`.
    fn chat_event(text: &str) -> String {
        format!(
            "data: {}\n\n",
            serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]})
        )
    }

    /// `events` gzip-compressed, one frame per event as a server flushing each writes.
    fn gzip_frames(events: &[String]) -> Vec<Frame<Bytes>> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut frames = Vec::new();
        let mut sent = 0;
        for e in events {
            gz.write_all(e.as_bytes()).unwrap();
            gz.flush().unwrap();
            frames.push(Frame::data(Bytes::copy_from_slice(&gz.get_ref()[sent..])));
            sent = gz.get_ref().len();
        }
        let all = gz.finish().unwrap();
        frames.push(Frame::data(Bytes::copy_from_slice(&all[sent..])));
        frames
    }

    #[tokio::test]
    async fn a_gzip_stream_is_decoded_reidentified_and_sent_event_by_event() {
        let (reid, t) = reid_with("Jean Dupont");
        let events: Vec<String> = ["Bonjour ", &t[..6], &t[6..], " !"]
            .iter()
            .map(|s| chat_event(s))
            .collect();
        let body = ReidentifyBody::new(
            frames(gzip_frames(&events)),
            Rewriter::new(StreamKind::OpenaiChat, reid),
            b"{}".to_vec(),
            "pv-test".into(),
        )
        .with_decoder(Decompressor::new(&[crate::body::Encoding::Gzip], 1 << 20).unwrap());
        let mut body = std::pin::pin!(body);
        // The first event comes out of the first frame, decoded.
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&first[..], events[0].as_bytes());
        let mut text = String::from_utf8(first.to_vec()).unwrap();
        while let Some(f) = body.frame().await {
            text += std::str::from_utf8(&f.unwrap().into_data().unwrap()).unwrap();
        }
        assert!(!text.contains("PERSON"), "{text}");
        let joined: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(joined, "Bonjour Jean Dupont !");
    }

    #[tokio::test]
    async fn a_compressed_stream_that_does_not_decode_ends_with_the_error_event() {
        let (reid, _) = reid_with("Jean Dupont");
        let mut parts = gzip_frames(&[chat_event("un"), chat_event("deux")]);
        // The second event's bytes damaged.
        let second = parts[1].data_ref().unwrap().clone();
        let mut bad = second.to_vec();
        for b in &mut bad {
            *b ^= 0x5a;
        }
        parts[1] = Frame::data(Bytes::from(bad));
        let body = ReidentifyBody::new(
            frames(parts),
            Rewriter::new(StreamKind::OpenaiChat, reid),
            b"{\"error\":{\"code\":\"paravent_stream_limit\"}}".to_vec(),
            "pv-test".into(),
        )
        .with_decoder(Decompressor::new(&[crate::body::Encoding::Gzip], 1 << 20).unwrap());
        let out = body.collect().await.unwrap().to_bytes();
        let want = format!(
            "{}data: {{\"error\":{{\"code\":\"paravent_stream_limit\"}}}}\n\n",
            chat_event("un")
        );
        assert_eq!(String::from_utf8_lossy(&out), want);
    }

    #[tokio::test]
    async fn an_injected_key_quoted_in_a_stream_is_redacted() {
        let (reid, _) = reid_with("Jean Dupont");
        let key = "sk-real-provider-key-0123456789";
        let ev = chat_event(&format!("Incorrect API key provided: {key}"));
        let half = ev.len() / 2;
        let parts = vec![
            Frame::data(Bytes::copy_from_slice(&ev.as_bytes()[..half])),
            Frame::data(Bytes::copy_from_slice(&ev.as_bytes()[half..])),
        ];
        let body = ReidentifyBody::new(
            frames(parts),
            Rewriter::new(StreamKind::OpenaiChat, reid),
            b"{}".to_vec(),
            "pv-test".into(),
        )
        .with_redactor(KeyRedactor::new([format!("Bearer {key}").as_bytes()]).unwrap());
        let out = body.collect().await.unwrap().to_bytes();
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(!text.contains(key), "{text}");
        assert!(text.contains("Incorrect API key provided: [REDACTED_KEY]"));
    }

    #[tokio::test]
    async fn a_json_array_stream_over_a_limit_still_ends_as_a_json_array() {
        let (reid, _) = reid_with("Jean Dupont");
        let parts = vec![
            Frame::data(Bytes::from_static(b"[{\"candidates\":[]}\n,")),
            Frame::data(Bytes::from(format!("{{\"x\":\"{}\"}}", "a".repeat(100)))),
        ];
        let body = ReidentifyBody::new(
            frames(parts),
            Rewriter::with_limit(StreamKind::GeminiArray, reid, 64),
            b"{\"error\":{\"code\":502}}".to_vec(),
            "pv-test".into(),
        );
        let out = body.collect().await.unwrap().to_bytes();
        let v: Vec<serde_json::Value> = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
        assert_eq!(v.len(), 2);
        assert_eq!(v[1]["error"]["code"], 502);
    }
}
