//! PLACEHOLDER (identity) until the normalised view lands; same interface.

/// A normalised view of a text, with the way back to original byte offsets.
#[derive(Debug, Clone)]
pub struct Normalised<'a> {
    text: std::borrow::Cow<'a, str>,
}

/// Builds the normalised view of `text`.
pub fn normalise(text: &str) -> Normalised<'_> {
    Normalised {
        text: std::borrow::Cow::Borrowed(text),
    }
}

impl Normalised<'_> {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_owned(self) -> Normalised<'static> {
        Normalised {
            text: std::borrow::Cow::Owned(self.text.into_owned()),
        }
    }

    pub fn is_identity(&self) -> bool {
        true
    }

    /// The original span covering normalised `[start, end)`.
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        (start, end)
    }
}
