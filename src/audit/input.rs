//! Audit files as `verify` and `report` read them: plain JSON lines, or rotated files
//! compressed with gzip or zstd (as log rotation and shipping leave them), recognised by
//! their first bytes whatever their name; and the cheap look at a plain file's two ends
//! that lets a report skip files outside its period without reading them.
//!
//! This module does file I/O only; what the lines mean is [`verify`](super::verify)'s
//! and [`report`](super::report)'s.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Read buffer per file.
const BUFFER: usize = 1 << 16;

/// How a file is stored, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn of(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// Whether a file name found in a directory is an audit file: `*.jsonl`, and what
/// rotation makes of it (`audit.jsonl.1`, `audit.jsonl-20260501`), compressed or not
/// (`.gz`, `.zst`, `.zstd`).
///
/// ```
/// use paravent::audit::input::is_trail_name;
/// assert!(is_trail_name("audit-a.jsonl"));
/// assert!(is_trail_name("audit.jsonl.3.gz"));
/// assert!(is_trail_name("audit.jsonl-20260501.zst"));
/// assert!(!is_trail_name("audit.jsonl.swp"));
/// assert!(!is_trail_name("notes.txt.gz"));
/// ```
pub fn is_trail_name(name: &str) -> bool {
    let Some(at) = name.rfind(".jsonl") else {
        return false;
    };
    let mut rest = &name[at + ".jsonl".len()..];
    for ext in [".gz", ".zst", ".zstd"] {
        if let Some(r) = rest.strip_suffix(ext) {
            rest = r;
            break;
        }
    }
    // What rotation appended: nothing, or `.N` / `-DATE` parts of digits.
    rest.split(['.', '-'])
        .skip(1)
        .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        && rest.split(['.', '-']).next() == Some("")
}

/// Opens an audit file for reading line by line, decompressing it when its first bytes
/// say gzip (several members, as `cat a.gz b.gz` makes, are read through) or zstd
/// (several frames too).
///
/// # Errors
/// The file cannot be opened or read.
pub fn open(path: &Path) -> io::Result<(Compression, Box<dyn BufRead>)> {
    let mut file = BufReader::with_capacity(BUFFER, File::open(path)?);
    let kind = Compression::of(file.fill_buf()?);
    let reader: Box<dyn BufRead> = match kind {
        Compression::None => Box::new(file),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            BUFFER,
            flate2::bufread::MultiGzDecoder::new(file),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            BUFFER,
            ZstdFrames {
                source: Some(file),
                frame: None,
            },
        )),
    };
    Ok((kind, reader))
}

/// The zstd frames of `source`, one after the other, as one stream.
struct ZstdFrames<R: BufRead> {
    source: Option<R>,
    frame: Option<ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>>,
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(frame) = &mut self.frame {
                let n = frame.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                // This frame is done: the next one, if any, follows.
                self.source = self.frame.take().map(|f| f.into_inner());
            }
            let Some(mut source) = self.source.take() else {
                return Ok(0);
            };
            if source.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.frame = Some(
                ruzstd::decoding::StreamingDecoder::new(source)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not a zstd frame"))?,
            );
        }
    }
}

/// The first and last lines of a plain (uncompressed) file, read from its two ends
/// without reading what is between; `None` for a compressed file, an empty one, or
/// lines longer than the block read.
///
/// # Errors
/// The file cannot be opened or read.
pub fn ends(path: &Path) -> io::Result<Option<(String, String)>> {
    const BLOCK: u64 = 1 << 16;
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = vec![0u8; BLOCK.min(len) as usize];
    file.read_exact(&mut head)?;
    if Compression::of(&head) != Compression::None {
        return Ok(None);
    }
    let Some(first) = head
        .split(|b| *b == b'\n')
        .next()
        .filter(|l| l.len() < head.len())
    else {
        return Ok(None);
    };
    let start = len.saturating_sub(BLOCK);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = vec![0u8; (len - start) as usize];
    file.read_exact(&mut tail)?;
    let tail = tail.strip_suffix(b"\n").unwrap_or(&tail);
    let last = match tail.iter().rposition(|b| *b == b'\n') {
        Some(i) => &tail[i + 1..],
        None if start == 0 => tail,
        None => return Ok(None),
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).ok();
    Ok(text(first).zip(text(last)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A file in the temp dir, removed when dropped.
    struct Temp(std::path::PathBuf);

    impl std::ops::Deref for Temp {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Temp {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn scratch(name: &str, bytes: &[u8]) -> Temp {
        let p = std::env::temp_dir().join(format!("paravent-input-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        Temp(p)
    }

    fn lines(path: &Path) -> (Compression, Vec<String>) {
        let (kind, r) = open(path).unwrap();
        (kind, r.lines().map(Result::unwrap).collect())
    }

    #[test]
    fn gzip_members_are_read_through_whatever_the_file_is_called() {
        let mut bytes = Vec::new();
        for part in ["a\nb\n", "c\n"] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part.as_bytes()).unwrap();
            bytes.extend(gz.finish().unwrap());
        }
        let p = scratch("gz-named.jsonl", &bytes);
        assert_eq!(
            lines(&p),
            (Compression::Gzip, vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn zstd_frames_are_read_through() {
        let mut bytes = Vec::new();
        for part in ["a\nb\n", "c\n"] {
            bytes.extend(ruzstd::encoding::compress_to_vec(
                part.as_bytes(),
                ruzstd::encoding::CompressionLevel::Fastest,
            ));
        }
        let p = scratch("two.jsonl.zst", &bytes);
        assert_eq!(
            lines(&p),
            (Compression::Zstd, vec!["a".into(), "b".into(), "c".into()])
        );
    }

    #[test]
    fn a_plain_files_two_ends_are_read_without_the_middle() {
        let long = "x".repeat(100_000);
        let p = scratch("ends.jsonl", format!("first\n{long}\nlast\n").as_bytes());
        assert_eq!(ends(&p).unwrap(), Some(("first".into(), "last".into())));
        let one = scratch("one.jsonl", b"only\n");
        assert_eq!(ends(&one).unwrap(), Some(("only".into(), "only".into())));
    }
}
