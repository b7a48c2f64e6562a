//! [`ReidentifyBody`]: the upstream body of a streamed answer (SSE, NDJSON), re-identified
//! frame by frame as it passes (STYLE.md habit 10), its usage read, and its audit record
//! written when it ends.
//!
//! Each data frame goes through the format's [`Rewriter`] and what it returns is sent at
//! once; only the bytes of an unfinished event and the few characters that could still
//! start a token wait for the next frame. The end of the stream releases them. Trailers
//! pass through unchanged, after the released text. `size_hint` is the default: the
//! length changes. When a limit is exceeded, the client gets an error event in the
//! provider's format and the stream ends (fail closed); dropping this body drops the
//! upstream body, which cancels the upstream request. Never logs values. A stream with
//! nothing to re-identify ([`ReidentifyBody::pass_through`]) goes on byte for byte and is
//! only read for its usage.
//!
//! The audit record of a streamed answer is written at its end, whatever the end is
//! (`stream_end`): `complete`, `upstream-error`, `limit`, or `client-gone` when the body
//! is dropped before its end (the client went away). "The end" of a complete answer is
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
use crate::stream::formats::Rewriter;

/// How a streamed answer ended, as `stream_end` says it.
pub mod end {
    pub const COMPLETE: &str = "complete";
    pub const UPSTREAM_ERROR: &str = "upstream-error";
    pub const LIMIT: &str = "limit";
    pub const CLIENT_GONE: &str = "client-gone";
}

/// What goes to the client once the record is written, after the held events.
enum After {
    /// The released text, then the end (or the trailers).
    End(Bytes, Option<HeaderMap>),
    /// The upstream body failed.
    Error(BoxError),
    /// A limit was exceeded: the error event.
    Limit,
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

pin_project! {
    /// A streamed answer, re-identified on the way to the client.
    pub struct ReidentifyBody<B> {
        #[pin]
        inner: B,
        rewriter: Rewriter,
        state: State,
        // The error event that ends the stream when a limit is exceeded.
        error_frame: Bytes,
        request_id: String,
        // Frames go on as they came; the rewriter only reads the usage.
        pass_through: bool,
        // The pass-through decoder failed (an event over its limit): no more usage.
        observing: bool,
        // The request's record, written at the end (absent in unit tests).
        record: Option<RecordSlot>,
        // The error event that ends the stream when the record cannot be written.
        audit_error_frame: Bytes,
        // What came after the event that ends the answer (`[DONE]`, `message_stop`…),
        // held until the record is written.
        held: Vec<u8>,
    }

    impl<B> PinnedDrop for ReidentifyBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(pending) = take(this.record) {
                // The client went away before the end: the record is still written.
                let _ = pending.finish(end::CLIENT_GONE, this.rewriter.usage());
            }
        }
    }
}

fn take(slot: &mut Option<RecordSlot>) -> Option<PendingRecord> {
    slot.take()?.lock().ok()?.take()
}

impl<B> ReidentifyBody<B> {
    /// Wraps `inner`; `error_frame` is sent if a limit is exceeded.
    pub fn new(
        inner: B,
        rewriter: Rewriter,
        error_frame: Vec<u8>,
        request_id: String,
    ) -> ReidentifyBody<B> {
        ReidentifyBody {
            inner,
            rewriter,
            state: State::Streaming,
            error_frame: Bytes::from(error_frame),
            request_id,
            pass_through: false,
            observing: true,
            record: None,
            audit_error_frame: Bytes::new(),
            held: Vec::new(),
        }
    }

    /// Sends the frames on as they come (nothing to re-identify), reading only the
    /// usage.
    pub fn pass_through(mut self) -> ReidentifyBody<B> {
        self.pass_through = true;
        self
    }

    /// Writes the record in `slot` when the stream ends; `audit_error_frame` ends the
    /// stream if it cannot be written and the trail refuses.
    pub(crate) fn with_record(
        mut self,
        slot: RecordSlot,
        audit_error_frame: Vec<u8>,
    ) -> ReidentifyBody<B> {
        self.record = Some(slot);
        self.audit_error_frame = Bytes::from(audit_error_frame);
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
                    return Poll::Ready(deliver(
                        std::mem::take(this.held),
                        after,
                        written,
                        this.error_frame,
                        this.audit_error_frame,
                        this.state,
                    ));
                }
                State::Streaming => *this.state = State::Streaming,
            }
            let frame = match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    tracing::warn!(request_id = %this.request_id,
                        "Stream ended: the provider's stream failed.");
                    *this.state = record(
                        this.record,
                        end::UPSTREAM_ERROR,
                        this.rewriter,
                        After::Error(e.into()),
                    );
                    continue;
                }
                None => {
                    let (tail, how) = if *this.pass_through {
                        this.rewriter.observe_finish();
                        (Bytes::new(), end::COMPLETE)
                    } else {
                        finish(this.rewriter, this.error_frame, this.request_id)
                    };
                    *this.state = record(this.record, how, this.rewriter, After::End(tail, None));
                    continue;
                }
            };
            let frame = match frame.into_data() {
                Ok(data) if *this.pass_through => {
                    if *this.observing && this.rewriter.observe(&data).is_err() {
                        *this.observing = false;
                    }
                    if this.rewriter.ended() && this.record.is_some() {
                        // The answer's last event: it waits for the record.
                        this.held.extend_from_slice(&data);
                        *this.state =
                            record(this.record, end::COMPLETE, this.rewriter, After::Resume);
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(data) => match this.rewriter.push(&data) {
                    Ok(out) if out.is_empty() => continue,
                    Ok(out) if this.rewriter.ended() && this.record.is_some() => {
                        // The answer's last event: it waits for the record.
                        this.held.extend_from_slice(&out);
                        *this.state =
                            record(this.record, end::COMPLETE, this.rewriter, After::Resume);
                        continue;
                    }
                    Ok(out) => return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out))))),
                    Err(e) => {
                        tracing::warn!(request_id = %this.request_id, error = %e,
                            "Stream ended: the provider's stream exceeded a limit.");
                        *this.state = record(this.record, end::LIMIT, this.rewriter, After::Limit);
                        continue;
                    }
                },
                Err(frame) => frame,
            };
            // Trailers: the held-back text goes first.
            if let Ok(trailers) = frame.into_trailers() {
                let (tail, how) = if *this.pass_through {
                    this.rewriter.observe_finish();
                    (Bytes::new(), end::COMPLETE)
                } else {
                    finish(this.rewriter, this.error_frame, this.request_id)
                };
                *this.state = record(
                    this.record,
                    how,
                    this.rewriter,
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
        Some(pending) => pending.finish(how, rewriter.usage()),
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
        After::Limit => {
            out.extend_from_slice(error_frame);
            Some(Ok(Frame::data(Bytes::from(out))))
        }
        After::Resume => {
            *state = State::Streaming;
            Some(Ok(Frame::data(Bytes::from(out))))
        }
    }
}

/// The held-back text, and how the stream ended (`limit` when its last event is
/// invalid: the error event goes instead).
fn finish(rewriter: &mut Rewriter, error_frame: &Bytes, request_id: &str) -> (Bytes, &'static str) {
    match rewriter.finish() {
        Ok(out) => {
            tracing::debug!(request_id, reidentified = rewriter.count(), "Stream ended.");
            (Bytes::from(out), end::COMPLETE)
        }
        Err(e) => {
            tracing::warn!(request_id, error = %e, "Stream ended: its last event is invalid.");
            (error_frame.clone(), end::LIMIT)
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
            b"data: {\"error\":{}}\n\n".to_vec(),
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
            b"event: error\ndata: {}\n\n".to_vec(),
            "pv-test".into(),
        );
        let out = body.collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"data: {}\n\nevent: error\ndata: {}\n\n");
    }
}
