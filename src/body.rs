//! Bodies: content encodings and what kind of body it is.
//!
//! Compressed bodies (gzip, deflate, br, zstd, or a list of them) are decompressed so
//! that they can be scanned, with a limit on the decompressed size: a zip bomb is refused,
//! never inflated. An encoding Paravent cannot read is refused too (nothing unscanned
//! leaves). No I/O: the caller reads the bytes (through `http_body_util::Limited`).
//!
//! Answers too: a provider that compresses a streamed answer although Paravent asked for
//! `identity` is decoded chunk by chunk by a [`Decompressor`] (gzip, deflate, br), so
//! that it can be re-identified as it streams. Each chunk's output has a limit
//! ([`MAX_INFLATED_CHUNK_BYTES`]). zstd is not decoded incrementally: a zstd stream is
//! refused (`ruzstd` decodes whole frames through `Read`).

use std::io::{Read, Write};

use bytes::Bytes;

/// Why a body cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the body is larger than {limit} bytes once decompressed")]
    DecompressedTooLarge { limit: u64 },
    #[error("unsupported content encoding")]
    UnsupportedEncoding,
    #[error("the body is not valid {encoding} data")]
    Corrupt { encoding: &'static str },
}

/// The encodings Paravent decompresses, as named in `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }
}

/// Parses a `Content-Encoding` value: the codings in the order they were applied.
///
/// # Errors
/// [`BodyError::UnsupportedEncoding`] for any coding other than those of [`Encoding`]
/// and `identity`.
pub fn parse_encodings(header: &str) -> Result<Vec<Encoding>, BodyError> {
    let mut out = Vec::new();
    for c in header.split(',') {
        match c.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => {}
            "gzip" | "x-gzip" => out.push(Encoding::Gzip),
            "deflate" => out.push(Encoding::Deflate),
            "br" => out.push(Encoding::Brotli),
            "zstd" => out.push(Encoding::Zstd),
            _ => return Err(BodyError::UnsupportedEncoding),
        }
    }
    Ok(out)
}

/// Undoes `encodings` (as applied, first to last), never producing more than `limit`
/// bytes.
///
/// # Errors
/// [`BodyError::DecompressedTooLarge`] past `limit`, [`BodyError::Corrupt`] for data
/// that does not decode.
///
/// ```
/// use paravent::body::{decode, parse_encodings};
/// let plain = decode(&parse_encodings("identity").unwrap(), "{}".into(), 10).unwrap();
/// assert_eq!(&plain[..], b"{}");
/// ```
pub fn decode(encodings: &[Encoding], body: Bytes, limit: u64) -> Result<Bytes, BodyError> {
    let mut data = body;
    for &enc in encodings.iter().rev() {
        data = Bytes::from(decode_one(enc, &data, limit)?);
    }
    Ok(data)
}

fn decode_one(enc: Encoding, data: &[u8], limit: u64) -> Result<Vec<u8>, BodyError> {
    let corrupt = BodyError::Corrupt {
        encoding: enc.name(),
    };
    match enc {
        Encoding::Gzip => read_limited(flate2::read::MultiGzDecoder::new(data), limit, corrupt),
        Encoding::Deflate => {
            // `deflate` means zlib-wrapped (RFC 9110), but some clients send raw deflate.
            let zlib_header = data.len() >= 2
                && data[0] & 0x0f == 8
                && (u16::from(data[0]) << 8 | u16::from(data[1])) % 31 == 0;
            if zlib_header {
                read_limited(flate2::read::ZlibDecoder::new(data), limit, corrupt)
            } else {
                read_limited(flate2::read::DeflateDecoder::new(data), limit, corrupt)
            }
        }
        Encoding::Brotli => read_limited(
            brotli_decompressor::Decompressor::new(data, 4096),
            limit,
            corrupt,
        ),
        Encoding::Zstd => {
            let mut out = Vec::new();
            let mut rest = data;
            while !rest.is_empty() {
                let dec = ruzstd::decoding::StreamingDecoder::new(&mut rest)
                    .map_err(|_| corrupt.clone())?;
                let room = limit.saturating_sub(out.len() as u64);
                let more = read_limited(dec, room, corrupt.clone()).map_err(|e| match e {
                    BodyError::DecompressedTooLarge { .. } => {
                        BodyError::DecompressedTooLarge { limit }
                    }
                    other => other,
                })?;
                out.extend_from_slice(&more);
            }
            Ok(out)
        }
    }
}

fn read_limited(r: impl Read, limit: u64, corrupt: BodyError) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    #[allow(clippy::disallowed_methods)] // bounded by take() just before
    r.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|_| corrupt)?;
    if out.len() as u64 > limit {
        return Err(BodyError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

/// The most one chunk of a compressed stream may decode to. A network chunk is a few
/// kilobytes; one that inflates past this is a bomb, and the stream is ended.
pub const MAX_INFLATED_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// Incremental decoder of a compressed stream: [`Decompressor::push`] the chunks as
/// they come and get at once what they decode to (nothing waits for the next chunk but
/// the bytes the codec itself needs), [`Decompressor::finish`] at the end.
///
/// ```
/// use std::io::Write;
/// use paravent::body::{Decompressor, Encoding};
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(b"data: {}\n\n").unwrap();
/// let gz = gz.finish().unwrap();
/// let mut d = Decompressor::new(&[Encoding::Gzip], 1 << 20).unwrap();
/// let mut out = d.push(&gz[..5]).unwrap();
/// out.extend(d.push(&gz[5..]).unwrap());
/// out.extend(d.finish().unwrap());
/// assert_eq!(out, b"data: {}\n\n");
/// ```
pub struct Decompressor {
    /// In decoding order: the last coding applied is undone first.
    stages: Vec<Stage>,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("stages", &self.stages.len())
            .finish()
    }
}

/// One coding being undone.
struct Stage {
    codec: Codec,
    /// Whether any input came (an empty body with an encoding is empty).
    fed: bool,
    limit: usize,
}

enum Codec {
    /// `deflate` before its first two bytes tell a zlib header from raw deflate (RFC
    /// 9110 says zlib; some servers send raw).
    DeflateUnknown(Vec<u8>),
    Gzip(flate2::write::MultiGzDecoder<Sink>),
    Zlib(flate2::write::ZlibDecoder<Sink>),
    Deflate(flate2::write::DeflateDecoder<Sink>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Sink>>),
}

/// Where a codec writes what it decodes: refuses more than `limit` bytes per push.
struct Sink {
    buf: Vec<u8>,
    limit: usize,
    over: bool,
}

impl Sink {
    fn new(limit: usize) -> Sink {
        Sink {
            buf: Vec::new(),
            limit,
            over: false,
        }
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.over = true;
            return Err(std::io::Error::other("decoded chunk over the limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn zlib_header(head: &[u8]) -> bool {
    head.len() >= 2
        && head[0] & 0x0f == 8
        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0
}

impl Stage {
    fn new(enc: Encoding, limit: usize) -> Result<Stage, BodyError> {
        let codec = match enc {
            Encoding::Gzip => Codec::Gzip(flate2::write::MultiGzDecoder::new(Sink::new(limit))),
            Encoding::Deflate => Codec::DeflateUnknown(Vec::new()),
            Encoding::Brotli => Codec::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(Sink::new(limit), 4096),
            )),
            Encoding::Zstd => return Err(BodyError::UnsupportedEncoding),
        };
        Ok(Stage {
            codec,
            fed: false,
            limit,
        })
    }

    fn name(&self) -> &'static str {
        match self.codec {
            Codec::Gzip(_) => "gzip",
            Codec::Brotli(_) => "br",
            Codec::DeflateUnknown(_) | Codec::Zlib(_) | Codec::Deflate(_) => "deflate",
        }
    }

    fn sink(&mut self) -> Option<&mut Sink> {
        match &mut self.codec {
            Codec::DeflateUnknown(_) => None,
            Codec::Gzip(d) => Some(d.get_mut()),
            Codec::Zlib(d) => Some(d.get_mut()),
            Codec::Deflate(d) => Some(d.get_mut()),
            Codec::Brotli(d) => Some(d.get_mut()),
        }
    }

    /// What the codec wrote, or why it failed (over the limit, or not its data).
    fn output(&mut self, r: std::io::Result<()>) -> Result<Vec<u8>, BodyError> {
        let (name, limit) = (self.name(), self.limit);
        let Some(sink) = self.sink() else {
            return Ok(Vec::new());
        };
        let over = std::mem::take(&mut sink.over);
        let out = std::mem::take(&mut sink.buf);
        match r {
            Ok(()) => Ok(out),
            Err(_) if over => Err(BodyError::DecompressedTooLarge {
                limit: limit as u64,
            }),
            Err(_) => Err(BodyError::Corrupt { encoding: name }),
        }
    }

    fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, BodyError> {
        if input.is_empty() {
            return Ok(Vec::new());
        }
        self.fed = true;
        if let Codec::DeflateUnknown(head) = &mut self.codec {
            head.extend_from_slice(input);
            if head.len() < 2 {
                return Ok(Vec::new());
            }
            let head = std::mem::take(head);
            let sink = Sink::new(self.limit);
            self.codec = if zlib_header(&head) {
                Codec::Zlib(flate2::write::ZlibDecoder::new(sink))
            } else {
                Codec::Deflate(flate2::write::DeflateDecoder::new(sink))
            };
            return self.push(&head);
        }
        // flush() after each write: flate2 keeps up to 32 KiB of output in its own
        // buffer until the next write otherwise, and an event would wait for the next.
        let r = match &mut self.codec {
            Codec::DeflateUnknown(_) => Ok(()),
            Codec::Gzip(d) => d.write_all(input).and_then(|()| d.flush()),
            Codec::Zlib(d) => d.write_all(input).and_then(|()| d.flush()),
            Codec::Deflate(d) => d.write_all(input).and_then(|()| d.flush()),
            Codec::Brotli(d) => d.write_all(input).and_then(|()| d.flush()),
        };
        self.output(r)
    }

    fn finish(&mut self) -> Result<Vec<u8>, BodyError> {
        if !self.fed {
            return Ok(Vec::new());
        }
        let r = match &mut self.codec {
            Codec::DeflateUnknown(_) => {
                return Err(BodyError::Corrupt {
                    encoding: "deflate",
                });
            }
            Codec::Gzip(d) => d.try_finish(),
            Codec::Zlib(d) => d.try_finish(),
            Codec::Deflate(d) => d.try_finish(),
            Codec::Brotli(d) => d.close(),
        };
        self.output(r)
    }
}

impl Decompressor {
    /// A decoder of a stream with `encodings` (as [`parse_encodings`] gives them), each
    /// chunk decoding to at most `limit_per_chunk` bytes.
    ///
    /// # Errors
    /// [`BodyError::UnsupportedEncoding`] for zstd.
    pub fn new(encodings: &[Encoding], limit_per_chunk: usize) -> Result<Decompressor, BodyError> {
        let stages = encodings
            .iter()
            .rev()
            .map(|&e| Stage::new(e, limit_per_chunk))
            .collect::<Result<_, _>>()?;
        Ok(Decompressor { stages })
    }

    /// Feeds a chunk; returns what it decodes to.
    ///
    /// # Errors
    /// [`BodyError::DecompressedTooLarge`] past the per-chunk limit,
    /// [`BodyError::Corrupt`] for data that does not decode.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, BodyError> {
        let mut data = chunk.to_vec();
        for stage in &mut self.stages {
            data = stage.push(&data)?;
        }
        Ok(data)
    }

    /// Ends the stream: what the codecs still held.
    ///
    /// # Errors
    /// As [`Decompressor::push`], and [`BodyError::Corrupt`] for a stream cut before
    /// its end.
    pub fn finish(&mut self) -> Result<Vec<u8>, BodyError> {
        let mut carry = Vec::new();
        for stage in &mut self.stages {
            let mut out = stage.push(&carry)?;
            out.extend(stage.finish()?);
            carry = out;
        }
        Ok(carry)
    }
}

/// Is this `Content-Type` one a JSON API body may have? A missing type is accepted, and
/// so is curl's default `application/x-www-form-urlencoded` (Ollama users rely on it):
/// the body is parsed as JSON all the same, and refused if it is not.
pub fn is_json_content_type(content_type: Option<&str>) -> bool {
    match content_type {
        None => true,
        Some(ct) => {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json"
                || mime.ends_with("+json")
                || mime == "text/plain"
                || mime == "application/x-www-form-urlencoded"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const TEXT: &[u8] = br#"{"messages":[{"role":"user","content":"Bonjour Jean Dupont"}]}"#;

    #[test]
    fn every_supported_encoding_decodes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(TEXT).unwrap();
        let gz = gz.finish().unwrap();
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zl.write_all(TEXT).unwrap();
        let zl = zl.finish().unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(TEXT).unwrap();
        let raw = raw.finish().unwrap();
        let mut br = Vec::new();
        brotli::BrotliCompress(&mut &TEXT[..], &mut br, &Default::default()).unwrap();
        let zs =
            ruzstd::encoding::compress_to_vec(TEXT, ruzstd::encoding::CompressionLevel::Fastest);
        for (enc, data) in [
            ("gzip", gz),
            ("deflate", zl),
            ("deflate", raw),
            ("br", br),
            ("zstd", zs),
        ] {
            let encs = parse_encodings(enc).unwrap();
            assert_eq!(
                &decode(&encs, data.into(), 1 << 20).unwrap()[..],
                TEXT,
                "{enc}"
            );
        }
    }

    #[test]
    fn a_zip_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 4 << 20];
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&zeros).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 64 << 10);
        let e = decode(&[Encoding::Gzip], gz.into(), 1 << 20).unwrap_err();
        assert_eq!(e, BodyError::DecompressedTooLarge { limit: 1 << 20 });
    }

    /// `text` compressed by `enc` in two parts, flushed between them, as a server
    /// streaming events does; and where the first part ends in the compressed bytes.
    fn compressed_in_two(enc: &str, first: &[u8], second: &[u8]) -> (Vec<u8>, usize) {
        match enc {
            "gzip" => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(first).unwrap();
                e.flush().unwrap();
                let at = e.get_ref().len();
                e.write_all(second).unwrap();
                (e.finish().unwrap(), at)
            }
            "deflate" => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(first).unwrap();
                e.flush().unwrap();
                let at = e.get_ref().len();
                e.write_all(second).unwrap();
                (e.finish().unwrap(), at)
            }
            "raw-deflate" => {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(first).unwrap();
                e.flush().unwrap();
                let at = e.get_ref().len();
                e.write_all(second).unwrap();
                (e.finish().unwrap(), at)
            }
            "br" => {
                let mut e = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
                e.write_all(first).unwrap();
                e.flush().unwrap();
                let at = e.get_ref().len();
                e.write_all(second).unwrap();
                (e.into_inner(), at)
            }
            _ => unreachable!(),
        }
    }

    const EVENTS: (&[u8], &[u8]) = (
        b"data: {\"choices\":[{\"delta\":{\"content\":\"[PERSON_7F3A2C]\"}}]}\n\n",
        b"data: {\"choices\":[{\"delta\":{\"content\":\" merci\"}}]}\n\ndata: [DONE]\n\n",
    );

    fn stream_decode(encs: &[Encoding], chunks: &[&[u8]]) -> Result<Vec<u8>, BodyError> {
        let mut d = Decompressor::new(encs, 1 << 20)?;
        let mut out = Vec::new();
        for c in chunks {
            out.extend(d.push(c)?);
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    #[test]
    fn compressed_streams_decode_at_every_split_and_event_by_event() {
        let (first, second) = EVENTS;
        let whole = [first, second].concat();
        for enc in ["gzip", "deflate", "raw-deflate", "br"] {
            let (data, at) = compressed_in_two(enc, first, second);
            let encs = parse_encodings(enc.trim_start_matches("raw-")).unwrap();
            crate::stream::for_each_split(&data, |chunks| {
                assert_eq!(stream_decode(&encs, chunks).unwrap(), whole, "{enc}");
            });
            // The first event comes out of the bytes that carry it, before the rest.
            let mut d = Decompressor::new(&encs, 1 << 20).unwrap();
            assert_eq!(d.push(&data[..at]).unwrap(), first, "{enc}");
            let mut rest = d.push(&data[at..]).unwrap();
            rest.extend(d.finish().unwrap());
            assert_eq!(rest, second, "{enc}");
        }
    }

    #[test]
    fn a_stream_with_two_codings_is_undone_in_reverse_order() {
        let (first, second) = EVENTS;
        let (gz, _) = compressed_in_two("gzip", first, second);
        let mut br = Vec::new();
        brotli::BrotliCompress(&mut &gz[..], &mut br, &Default::default()).unwrap();
        let encs = parse_encodings("gzip, br").unwrap();
        assert_eq!(
            stream_decode(&encs, &[&br[..7], &br[7..]]).unwrap(),
            [first, second].concat()
        );
    }

    #[test]
    fn a_compressed_stream_fails_closed() {
        // zstd is not decoded as a stream.
        assert_eq!(
            Decompressor::new(&[Encoding::Zstd], 1 << 20).unwrap_err(),
            BodyError::UnsupportedEncoding
        );
        // A bomb: one chunk over the per-chunk limit.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![b'a'; 4 << 20]).unwrap();
        let gz = gz.finish().unwrap();
        let mut d = Decompressor::new(&[Encoding::Gzip], 1 << 20).unwrap();
        assert_eq!(
            d.push(&gz),
            Err(BodyError::DecompressedTooLarge { limit: 1 << 20 })
        );
        // Not gzip, and a stream cut before its end.
        assert_eq!(
            stream_decode(&[Encoding::Gzip], &[b"data: {}\n\n"]),
            Err(BodyError::Corrupt { encoding: "gzip" })
        );
        let (data, _) = compressed_in_two("br", EVENTS.0, EVENTS.1);
        assert_eq!(
            stream_decode(&[Encoding::Brotli], &[&data[..data.len() - 3]]),
            Err(BodyError::Corrupt { encoding: "br" })
        );
        let (data, _) = compressed_in_two("gzip", EVENTS.0, EVENTS.1);
        assert_eq!(
            stream_decode(&[Encoding::Gzip], &[&data[..data.len() - 3]]),
            Err(BodyError::Corrupt { encoding: "gzip" })
        );
        // An empty body with an encoding is empty.
        assert_eq!(stream_decode(&[Encoding::Gzip], &[]), Ok(Vec::new()));
    }

    #[test]
    fn unknown_and_corrupt_encodings_are_refused() {
        assert_eq!(
            parse_encodings("compress"),
            Err(BodyError::UnsupportedEncoding)
        );
        assert_eq!(
            parse_encodings("gzip, snappy"),
            Err(BodyError::UnsupportedEncoding)
        );
        let e = decode(&[Encoding::Gzip], Bytes::from_static(b"not gzip"), 100).unwrap_err();
        assert_eq!(e, BodyError::Corrupt { encoding: "gzip" });
    }
}
