//! \[pure\] Incremental decoders and encoders for the streamed answers: Server-Sent Events
//! (OpenAI, Mistral, Anthropic, Gemini), newline-delimited JSON (Ollama) and the JSON
//! array Gemini streams without `alt=sse` (`[{…}\n,\r\n{…}\n]`).
//!
//! The decoders are explicit state machines fed whatever byte chunks the network gives
//! (STYLE.md habit 12): an event may be split across chunks anywhere, even inside a UTF-8
//! character or between the `\r` and `\n` of a line end. They keep every line of an
//! event as it came (`event:`, `id:`, `data:`, `retry:`, comments), so that re-encoding
//! an untouched event gives the client the same fields. Line ends are normalised to `\n`.
//!
//! Every buffer has a limit ([`MAX_SSE_EVENT_BYTES`], [`MAX_NDJSON_LINE_BYTES`],
//! [`MAX_JSON_ARRAY_ELEMENT_BYTES`]); going over it is an error, and the caller ends the stream (fail closed). The per-format
//! re-identification of events lives in [`formats`]. Never logs values.

pub mod formats;

/// The most an SSE event (all its lines) may hold before the stream is ended.
/// `response.completed` repeats the whole answer, so this is generous.
pub const MAX_SSE_EVENT_BYTES: usize = 16 * 1024 * 1024;
/// The most one NDJSON line may hold before the stream is ended.
pub const MAX_NDJSON_LINE_BYTES: usize = 16 * 1024 * 1024;
/// The most one element of a streamed JSON array may hold before the stream is ended.
pub const MAX_JSON_ARRAY_ELEMENT_BYTES: usize = 16 * 1024 * 1024;

/// Why a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("stream event over the limit of {limit} bytes")]
    EventTooLarge { limit: usize },
    #[error("stream line over the limit of {limit} bytes")]
    LineTooLarge { limit: usize },
    #[error("stream text is not UTF-8")]
    Utf8,
    #[error("stream event is not valid JSON")]
    Json,
    #[error("stream is not a JSON array")]
    NotArray,
}

/// One Server-Sent Event: its lines as they came, without line ends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    pub lines: Vec<String>,
}

impl Event {
    /// The value of the first field `name` (`event`, `id`…), leading space removed.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| field_value(l, name))
    }

    /// The event type: the `event:` field, `message` when absent.
    pub fn event_type(&self) -> &str {
        self.field("event").unwrap_or("message")
    }

    /// The data: every `data:` line joined by `\n` (`None` when the event has none).
    pub fn data(&self) -> Option<String> {
        let mut out: Option<String> = None;
        for l in &self.lines {
            if let Some(v) = field_value(l, "data") {
                match &mut out {
                    None => out = Some(v.to_owned()),
                    Some(o) => {
                        o.push('\n');
                        o.push_str(v);
                    }
                }
            }
        }
        out
    }

    /// Replaces the data lines by `data` (one `data:` line per line of it), where the
    /// first data line was; other lines keep their place.
    pub fn set_data(&mut self, data: &str) {
        let first = self
            .lines
            .iter()
            .position(|l| field_value(l, "data").is_some())
            .unwrap_or(self.lines.len());
        self.lines.retain(|l| field_value(l, "data").is_none());
        let new: Vec<String> = data.split('\n').map(|l| format!("data: {l}")).collect();
        let at = first.min(self.lines.len());
        self.lines.splice(at..at, new);
    }

    /// An event of type `event` (none for `message`) with `data`.
    pub fn new(event: Option<&str>, data: &str) -> Event {
        let mut e = Event::default();
        if let Some(t) = event {
            e.lines.push(format!("event: {t}"));
        }
        e.set_data(data);
        e
    }

    /// Writes the event: each line and `\n`, then the blank line that ends it.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for l in &self.lines {
            out.extend_from_slice(l.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
    }
}

fn field_value<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(name)?;
    if rest.is_empty() {
        return Some("");
    }
    let v = rest.strip_prefix(':')?;
    Some(v.strip_prefix(' ').unwrap_or(v))
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Where the SSE decoder is between two chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SseState {
    /// Inside a line (or between lines).
    Line,
    /// The last byte was a `\r`: a `\n` right after it belongs to the same line end.
    AfterCr,
}

/// Incremental SSE decoder: [`Decoder::push`] chunks, get complete events.
#[derive(Debug)]
pub struct Decoder {
    /// The bytes of the current, unfinished line.
    buf: Vec<u8>,
    state: SseState,
    /// No line has ended yet: a UTF-8 byte order mark may start it and is dropped.
    first_line: bool,
    /// Lines of the event being read.
    lines: Vec<String>,
    /// Bytes held in `lines` and `buf`.
    held: usize,
    limit: usize,
}

impl Default for Decoder {
    fn default() -> Decoder {
        Decoder::new(MAX_SSE_EVENT_BYTES)
    }
}

impl Decoder {
    /// A decoder holding at most `limit` bytes of one event.
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            buf: Vec::new(),
            state: SseState::Line,
            first_line: true,
            lines: Vec::new(),
            held: 0,
            limit,
        }
    }

    /// Feeds a chunk; returns the events it completed.
    ///
    /// # Errors
    /// [`StreamError::EventTooLarge`] when an event grows over the limit,
    /// [`StreamError::Utf8`] when a line is not UTF-8.
    ///
    /// ```
    /// let mut d = paravent::stream::Decoder::default();
    /// assert!(d.push(b"event: ping\nda").unwrap().is_empty());
    /// let events = d.push(b"ta: {}\n\n").unwrap();
    /// assert_eq!(events[0].event_type(), "ping");
    /// assert_eq!(events[0].data().as_deref(), Some("{}"));
    /// ```
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, StreamError> {
        let mut events = Vec::new();
        self.feed(chunk, &mut events)?;
        Ok(events)
    }

    fn feed(&mut self, mut chunk: &[u8], events: &mut Vec<Event>) -> Result<(), StreamError> {
        while !chunk.is_empty() {
            if self.state == SseState::AfterCr {
                self.state = SseState::Line;
                if chunk[0] == b'\n' {
                    chunk = &chunk[1..];
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', chunk) {
                None => {
                    self.grow(chunk.len())?;
                    self.buf.extend_from_slice(chunk);
                    return Ok(());
                }
                Some(i) => {
                    self.grow(i)?;
                    self.buf.extend_from_slice(&chunk[..i]);
                    if chunk[i] == b'\r' {
                        self.state = SseState::AfterCr;
                    }
                    chunk = &chunk[i + 1..];
                    self.end_line(events)?;
                }
            }
        }
        Ok(())
    }

    /// The first line of the stream may start with a byte order mark.
    fn state_was_start(&mut self) -> bool {
        std::mem::replace(&mut self.first_line, false)
    }

    fn grow(&mut self, n: usize) -> Result<(), StreamError> {
        self.held += n;
        if self.held > self.limit {
            return Err(StreamError::EventTooLarge { limit: self.limit });
        }
        Ok(())
    }

    fn end_line(&mut self, events: &mut Vec<Event>) -> Result<(), StreamError> {
        let mut line = std::mem::take(&mut self.buf);
        if self.state_was_start() && line.starts_with(BOM) {
            line.drain(..BOM.len());
        }
        if line.is_empty() {
            if !self.lines.is_empty() {
                events.push(Event {
                    lines: std::mem::take(&mut self.lines),
                });
            }
            self.held = 0;
            return Ok(());
        }
        let line = String::from_utf8(line).map_err(|_| StreamError::Utf8)?;
        self.lines.push(line);
        Ok(())
    }

    /// Ends the stream: an event the provider did not finish with a blank line is
    /// returned as it is (with its last line, even unterminated).
    ///
    /// # Errors
    /// [`StreamError::Utf8`] when the last line is not UTF-8.
    pub fn finish(mut self) -> Result<Option<Event>, StreamError> {
        if self.first_line && BOM.starts_with(&self.buf) {
            self.buf.clear();
        }
        if !self.buf.is_empty() {
            let line =
                String::from_utf8(std::mem::take(&mut self.buf)).map_err(|_| StreamError::Utf8)?;
            self.lines.push(line);
        }
        Ok((!self.lines.is_empty()).then_some(Event { lines: self.lines }))
    }
}

/// Incremental NDJSON decoder: complete lines out, `\r\n` accepted, empty lines dropped.
#[derive(Debug)]
pub struct LineDecoder {
    buf: Vec<u8>,
    limit: usize,
}

impl Default for LineDecoder {
    fn default() -> LineDecoder {
        LineDecoder::new(MAX_NDJSON_LINE_BYTES)
    }
}

impl LineDecoder {
    /// A decoder holding at most `limit` bytes of one line.
    pub fn new(limit: usize) -> LineDecoder {
        LineDecoder {
            buf: Vec::new(),
            limit,
        }
    }

    /// Feeds a chunk; returns the lines it completed, without their line ends.
    ///
    /// # Errors
    /// [`StreamError::LineTooLarge`] over the limit, [`StreamError::Utf8`].
    ///
    /// ```
    /// let mut d = paravent::stream::LineDecoder::default();
    /// assert!(d.push(b"{\"a\":").unwrap().is_empty());
    /// assert_eq!(d.push(b"1}\n{").unwrap(), vec!["{\"a\":1}".to_owned()]);
    /// assert_eq!(d.finish().unwrap().as_deref(), Some("{"));
    /// ```
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<Vec<String>, StreamError> {
        let mut lines = Vec::new();
        while let Some(i) = memchr::memchr(b'\n', chunk) {
            self.append(&chunk[..i])?;
            chunk = &chunk[i + 1..];
            let mut line = std::mem::take(&mut self.buf);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !line.is_empty() {
                lines.push(String::from_utf8(line).map_err(|_| StreamError::Utf8)?);
            }
        }
        self.append(chunk)?;
        Ok(lines)
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        if self.buf.len() + bytes.len() > self.limit {
            return Err(StreamError::LineTooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Ends the stream: a last line without its `\n`, if any.
    ///
    /// # Errors
    /// [`StreamError::Utf8`].
    pub fn finish(self) -> Result<Option<String>, StreamError> {
        let mut line = self.buf;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            return Ok(None);
        }
        String::from_utf8(line)
            .map(Some)
            .map_err(|_| StreamError::Utf8)
    }
}

/// A piece of a streamed JSON array, in the order it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArrayPiece {
    /// What lies between the elements, byte for byte: the opening `[`, whitespace, the
    /// `,` separators, the closing `]`. Only those bytes: always ASCII.
    Framing(String),
    /// One element's JSON text, whole (not checked further than its brackets and
    /// strings: the caller parses it).
    Element(String),
}

/// Where the JSON-array decoder is between two chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayState {
    /// Before the opening `[`: whitespace only.
    Start,
    /// After `[` (`first`) or a `,`: whitespace, then an element (or, right after the
    /// `[`, the `]` of an empty array).
    BeforeElement { first: bool },
    /// Inside an element.
    Element(ElementState),
    /// After an element: whitespace, then `,` or `]`.
    AfterElement,
    /// After the closing `]`: whitespace only.
    Closed,
}

/// Inside an element: how deep in its brackets, whether in a string (and just after a
/// backslash in it), and whether it is a bare literal (a number, `true`, `null`) that
/// ends at the first delimiter instead of a bracket or quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ElementState {
    depth: usize,
    in_string: bool,
    escaped: bool,
    literal: bool,
}

impl ElementState {
    /// A byte that may change the state: a quote or backslash in a string, a delimiter
    /// after a literal, a quote or bracket elsewhere.
    fn special(self, b: u8) -> bool {
        if self.in_string {
            b == b'"' || b == b'\\'
        } else if self.literal {
            is_json_ws(b) || b == b',' || b == b']'
        } else {
            matches!(b, b'"' | b'{' | b'[' | b'}' | b']')
        }
    }
}

fn is_json_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Incremental decoder of a JSON array streamed element by element (Gemini's
/// `streamGenerateContent` without `alt=sse`): [`ArrayDecoder::push`] chunks, get
/// whole elements and the framing between them, so that the array can be written
/// again exactly as it came, elements changed.
///
/// An element is cut out by its brackets and strings (escapes included), without
/// parsing it. Anything but whitespace, `,`, `[` and `]` outside the elements is an
/// error ([`StreamError::NotArray`]): the caller ends the stream, it never passes bytes
/// it could not read.
#[derive(Debug)]
pub struct ArrayDecoder {
    state: ArrayState,
    /// The bytes of the element being read.
    element: Vec<u8>,
    limit: usize,
}

impl Default for ArrayDecoder {
    fn default() -> ArrayDecoder {
        ArrayDecoder::new(MAX_JSON_ARRAY_ELEMENT_BYTES)
    }
}

impl ArrayDecoder {
    /// A decoder holding at most `limit` bytes of one element.
    pub fn new(limit: usize) -> ArrayDecoder {
        ArrayDecoder {
            state: ArrayState::Start,
            element: Vec::new(),
            limit,
        }
    }

    /// Feeds a chunk; returns the framing it read and the elements it completed, in
    /// order. Framing is returned as soon as it is read, never held.
    ///
    /// # Errors
    /// [`StreamError::NotArray`] for bytes that cannot be there,
    /// [`StreamError::EventTooLarge`] when an element grows over the limit,
    /// [`StreamError::Utf8`] when an element is not UTF-8.
    ///
    /// ```
    /// use paravent::stream::{ArrayDecoder, ArrayPiece};
    /// let mut d = ArrayDecoder::default();
    /// let mut pieces = d.push(b"[{\"a\":\"]\"}\n,").unwrap();
    /// pieces.extend(d.push(b"\r\n{\"b\":[1]}\n]").unwrap());
    /// assert_eq!(pieces, [
    ///     ArrayPiece::Framing("[".into()),
    ///     ArrayPiece::Element("{\"a\":\"]\"}".into()),
    ///     // Framing goes out with the chunk that brought it.
    ///     ArrayPiece::Framing("\n,".into()),
    ///     ArrayPiece::Framing("\r\n".into()),
    ///     ArrayPiece::Element("{\"b\":[1]}".into()),
    ///     ArrayPiece::Framing("\n]".into()),
    /// ]);
    /// ```
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<ArrayPiece>, StreamError> {
        let mut pieces = Vec::new();
        let mut framing = String::new();
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            match self.state {
                ArrayState::Element(mut el) => {
                    if el.literal && (is_json_ws(b) || b == b',' || b == b']') {
                        // The delimiter is framing: read it again after the element.
                        self.end_element(&mut pieces)?;
                        continue;
                    }
                    // The run of bytes that cannot end, open or close anything goes at once.
                    if !el.escaped {
                        let run = chunk[i..]
                            .iter()
                            .position(|&c| el.special(c))
                            .unwrap_or(chunk.len() - i);
                        if run > 0 {
                            self.take(&chunk[i..i + run])?;
                            i += run;
                            continue;
                        }
                    }
                    self.take(&[b])?;
                    i += 1;
                    if el.in_string {
                        if el.escaped {
                            el.escaped = false;
                        } else if b == b'\\' {
                            el.escaped = true;
                        } else if b == b'"' {
                            el.in_string = false;
                        }
                    } else if !el.literal {
                        match b {
                            b'"' => el.in_string = true,
                            b'{' | b'[' => el.depth += 1,
                            b'}' | b']' => el.depth = el.depth.saturating_sub(1),
                            _ => {}
                        }
                    }
                    self.state = ArrayState::Element(el);
                    if el.depth == 0 && !el.in_string && !el.literal {
                        self.end_element(&mut pieces)?;
                    }
                    continue;
                }
                ArrayState::Start | ArrayState::Closed if is_json_ws(b) => framing.push(b as char),
                ArrayState::Start if b == b'[' => {
                    framing.push('[');
                    self.state = ArrayState::BeforeElement { first: true };
                }
                ArrayState::BeforeElement { .. } | ArrayState::AfterElement if is_json_ws(b) => {
                    framing.push(b as char)
                }
                ArrayState::BeforeElement { first: true } | ArrayState::AfterElement
                    if b == b']' =>
                {
                    framing.push(']');
                    self.state = ArrayState::Closed;
                }
                ArrayState::AfterElement if b == b',' => {
                    framing.push(',');
                    self.state = ArrayState::BeforeElement { first: false };
                }
                ArrayState::BeforeElement { .. } => {
                    let literal = match b {
                        b'{' | b'[' | b'"' => false,
                        b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => true,
                        _ => return Err(StreamError::NotArray),
                    };
                    let el = ElementState {
                        depth: 0,
                        in_string: false,
                        escaped: false,
                        literal,
                    };
                    if !framing.is_empty() {
                        pieces.push(ArrayPiece::Framing(std::mem::take(&mut framing)));
                    }
                    self.element.clear();
                    self.state = ArrayState::Element(el);
                    // Read again inside the element: it opens the bracket or string.
                    continue;
                }
                ArrayState::Start | ArrayState::AfterElement | ArrayState::Closed => {
                    return Err(StreamError::NotArray);
                }
            }
            i += 1;
        }
        if !framing.is_empty() {
            pieces.push(ArrayPiece::Framing(framing));
        }
        Ok(pieces)
    }

    fn take(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        if self.element.len() + bytes.len() > self.limit {
            return Err(StreamError::EventTooLarge { limit: self.limit });
        }
        self.element.extend_from_slice(bytes);
        Ok(())
    }

    fn end_element(&mut self, pieces: &mut Vec<ArrayPiece>) -> Result<(), StreamError> {
        let text =
            String::from_utf8(std::mem::take(&mut self.element)).map_err(|_| StreamError::Utf8)?;
        pieces.push(ArrayPiece::Element(text));
        self.state = ArrayState::AfterElement;
        Ok(())
    }

    /// Whether the closing `]` has been read.
    pub fn closed(&self) -> bool {
        self.state == ArrayState::Closed
    }

    /// Ends the stream: an element the provider did not finish is returned as it came
    /// (a cut stream; the caller decides what to do with it).
    ///
    /// # Errors
    /// [`StreamError::Utf8`] when that element is not UTF-8.
    pub fn finish(self) -> Result<Option<String>, StreamError> {
        match self.state {
            ArrayState::Element(_) if !self.element.is_empty() => String::from_utf8(self.element)
                .map(Some)
                .map_err(|_| StreamError::Utf8),
            _ => Ok(None),
        }
    }
}

/// Calls `f` with the chunks of `input` split at every position, and in 1-byte chunks
/// (STYLE.md habit 13); for tests.
#[doc(hidden)]
pub fn for_each_split(input: &[u8], mut f: impl FnMut(&[&[u8]])) {
    f(&[input]);
    for i in 0..=input.len() {
        f(&[&input[..i], &input[i..]]);
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    f(&bytes);
}

#[cfg(test)]
mod tests;
