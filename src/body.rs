//! Request bodies: content encodings and what kind of body it is.
//!
//! Compressed bodies (gzip, deflate, br, zstd, or a list of them) are decompressed so
//! that they can be scanned, with a limit on the decompressed size: a zip bomb is refused,
//! never inflated. An encoding Paravent cannot read is refused too (nothing unscanned
//! leaves). No I/O: the caller reads the bytes (through `http_body_util::Limited`).

use std::io::Read;

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
