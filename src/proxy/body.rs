//! [`ReidentifyBody`]: the upstream body of a streamed answer (SSE, NDJSON), re-identified
//! frame by frame as it passes (STYLE.md habit 10).
//!
//! Each data frame goes through the format's [`Rewriter`] and what it returns is sent at
//! once; only the bytes of an unfinished event and the few characters that could still
//! start a token wait for the next frame. The end of the stream releases them. Trailers
//! pass through unchanged, after the released text. `size_hint` is the default: the
//! length changes. When a limit is exceeded, the client gets an error event in the
//! provider's format and the stream ends (fail closed); dropping this body drops the
//! upstream body, which cancels the upstream request. Never logs values.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use hyper::body::{Body, Frame};
use pin_project_lite::pin_project;

use super::BoxError;
use crate::stream::formats::Rewriter;

/// Where the body is between two polls.
#[derive(Debug)]
enum State {
    Streaming,
    /// The upstream trailers, sent after the released text.
    Trailers(HeaderMap),
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
    }
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
        }
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
                State::Streaming => *this.state = State::Streaming,
            }
            let frame = match ready!(this.inner.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    *this.state = State::Done;
                    return Poll::Ready(Some(Err(e.into())));
                }
                None => {
                    *this.state = State::Done;
                    let tail = finish(this.rewriter, this.error_frame, this.request_id);
                    return Poll::Ready((!tail.is_empty()).then(|| Ok(Frame::data(tail))));
                }
            };
            let frame = match frame.into_data() {
                Ok(data) => match this.rewriter.push(&data) {
                    Ok(out) if out.is_empty() => continue,
                    Ok(out) => return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out))))),
                    Err(e) => {
                        tracing::warn!(request_id = %this.request_id, error = %e,
                            "Stream ended: the provider's stream exceeded a limit.");
                        *this.state = State::Done;
                        return Poll::Ready(Some(Ok(Frame::data(this.error_frame.clone()))));
                    }
                },
                Err(frame) => frame,
            };
            // Trailers: the held-back text goes first.
            if let Ok(trailers) = frame.into_trailers() {
                *this.state = State::Trailers(trailers);
                let tail = finish(this.rewriter, this.error_frame, this.request_id);
                if !tail.is_empty() {
                    return Poll::Ready(Some(Ok(Frame::data(tail))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }
}

fn finish(rewriter: &mut Rewriter, error_frame: &Bytes, request_id: &str) -> Bytes {
    match rewriter.finish() {
        Ok(out) => {
            tracing::debug!(request_id, reidentified = rewriter.count(), "Stream ended.");
            Bytes::from(out)
        }
        Err(e) => {
            tracing::warn!(request_id, error = %e, "Stream ended: its last event is invalid.");
            error_frame.clone()
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
