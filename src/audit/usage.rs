//! \[pure\] Token usage as the providers report it, read from a JSON answer or from the
//! events of a stream.
//!
//! One reader for every API Paravent walks, by the shape of the JSON (the fields do not
//! collide between APIs):
//!
//! | API | where | input | output |
//! | --- | --- | --- | --- |
//! | OpenAI chat, completions, embeddings (and Mistral) | `usage` | `prompt_tokens` | `completion_tokens` |
//! | OpenAI Responses | `usage`, `response.usage` (stream) | `input_tokens` | `output_tokens` |
//! | Anthropic Messages | `usage`, `message.usage` (stream start) | `input_tokens` + `cache_creation_input_tokens` + `cache_read_input_tokens` | `output_tokens` |
//! | Gemini | `usageMetadata` | `promptTokenCount` | `candidatesTokenCount` + `thoughtsTokenCount` |
//! | Ollama | top level | `prompt_eval_count` | `eval_count` |
//!
//! Anthropic's cached input is added to its input so that the count means what OpenAI's
//! `prompt_tokens` means (every token the model read); Gemini's thoughts are generated
//! tokens, billed as output, and counted as output. A stream reports usage in several
//! events whose counts are cumulative (Anthropic's `message_start` then
//! `message_delta`, every Gemini chunk): [`UsageMeter`] keeps the largest count seen
//! of each side. Reads counts only, never text.

use serde::Deserialize;

use super::Usage;

#[derive(Deserialize)]
struct Answer {
    usage: Option<Counts>,
    #[serde(rename = "usageMetadata")]
    usage_metadata: Option<GeminiCounts>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    /// Anthropic's `message_start` (Ollama's chat message has no usage).
    message: Option<MaybeNested>,
    /// The Responses API's `response.completed` (Ollama's generate text is a string).
    response: Option<MaybeNested>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MaybeNested {
    Nested { usage: Option<Counts> },
    Other(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Counts {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct GeminiCounts {
    #[serde(rename = "promptTokenCount")]
    prompt: Option<u64>,
    #[serde(rename = "candidatesTokenCount")]
    candidates: Option<u64>,
    #[serde(rename = "thoughtsTokenCount")]
    thoughts: Option<u64>,
}

/// Input and output counts, each present or not.
type Sides = (Option<u64>, Option<u64>);

impl Counts {
    fn sides(&self) -> Sides {
        let input = match (self.prompt_tokens, self.input_tokens) {
            (Some(p), _) => Some(p),
            (None, Some(i)) => Some(
                i + self.cache_creation_input_tokens.unwrap_or(0)
                    + self.cache_read_input_tokens.unwrap_or(0),
            ),
            (None, None) => None,
        };
        (input, self.completion_tokens.or(self.output_tokens))
    }
}

fn sides_of(text: &[u8]) -> Sides {
    let Ok(a) = serde_json::from_slice::<Answer>(text) else {
        return (None, None);
    };
    let nested = |n: &Option<MaybeNested>| match n {
        Some(MaybeNested::Nested { usage: Some(u) }) => Some(u.sides()),
        _ => None,
    };
    let from = [
        a.usage.as_ref().map(Counts::sides),
        nested(&a.message),
        nested(&a.response),
        a.usage_metadata.as_ref().map(|g| {
            let out = match (g.candidates, g.thoughts) {
                (None, None) => None,
                (c, t) => Some(c.unwrap_or(0) + t.unwrap_or(0)),
            };
            (g.prompt, out)
        }),
        Some((a.prompt_eval_count, a.eval_count)),
    ];
    from.into_iter()
        .flatten()
        .fold((None, None), |(i, o), (i2, o2)| (i.or(i2), o.or(o2)))
}

/// The usage a JSON answer reports, if any (an answer that is not JSON has none).
///
/// ```
/// use paravent::audit::{Usage, usage::from_json};
/// let u = from_json(br#"{"usage":{"prompt_tokens":12,"completion_tokens":3}}"#);
/// assert_eq!(u, Some(Usage { input_tokens: 12, output_tokens: 3 }));
/// assert_eq!(from_json(b"not json"), None);
/// ```
pub fn from_json(text: &[u8]) -> Option<Usage> {
    match sides_of(text) {
        (None, None) => None,
        (i, o) => Some(Usage {
            input_tokens: i.unwrap_or(0),
            output_tokens: o.unwrap_or(0),
        }),
    }
}

/// Whether a stream event or line may carry usage: a cheap test that spares parsing the
/// text deltas.
pub fn may_carry_usage(data: &str) -> bool {
    data.contains("sage") || data.contains("eval_count")
}

/// The usage of a stream, from its events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageMeter {
    input: Option<u64>,
    output: Option<u64>,
}

impl UsageMeter {
    /// Reads one event's JSON data (or one NDJSON line).
    pub fn observe(&mut self, data: &str) {
        if !may_carry_usage(data) {
            return;
        }
        let (i, o) = sides_of(data.as_bytes());
        self.input = self.input.max(i);
        self.output = self.output.max(o);
    }

    /// The usage seen so far, if the stream reported any.
    pub fn usage(&self) -> Option<Usage> {
        match (self.input, self.output) {
            (None, None) => None,
            (i, o) => Some(Usage {
                input_tokens: i.unwrap_or(0),
                output_tokens: o.unwrap_or(0),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(input_tokens: u64, output_tokens: u64) -> Option<Usage> {
        Some(Usage {
            input_tokens,
            output_tokens,
        })
    }

    #[test]
    fn every_api_answer_gives_its_usage() {
        let cases: &[(&str, Option<Usage>)] = &[
            // OpenAI chat / completions.
            (
                r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#,
                u(10, 5),
            ),
            // Embeddings: no completion side.
            (
                r#"{"data":[],"usage":{"prompt_tokens":7,"total_tokens":7}}"#,
                u(7, 0),
            ),
            // Responses.
            (
                r#"{"output":[],"usage":{"input_tokens":9,"output_tokens":4,"total_tokens":13}}"#,
                u(9, 4),
            ),
            // Anthropic, cache included.
            (
                r#"{"content":[],"usage":{"input_tokens":3,"cache_creation_input_tokens":10,"cache_read_input_tokens":20,"output_tokens":8}}"#,
                u(33, 8),
            ),
            // Gemini, thoughts counted as output.
            (
                r#"{"candidates":[],"usageMetadata":{"promptTokenCount":6,"candidatesTokenCount":2,"thoughtsTokenCount":5,"totalTokenCount":13}}"#,
                u(6, 7),
            ),
            // Ollama chat / generate / embed.
            (
                r#"{"message":{"role":"assistant","content":"x"},"done":true,"prompt_eval_count":26,"eval_count":290}"#,
                u(26, 290),
            ),
            (r#"{"embeddings":[[0.1]],"prompt_eval_count":4}"#, u(4, 0)),
            // Nothing reported.
            (r#"{"choices":[]}"#, None),
            (r#"{"usage":null}"#, None),
            (r#"[1,2]"#, None),
        ];
        for (text, want) in cases {
            assert_eq!(from_json(text.as_bytes()), *want, "{text}");
        }
    }

    #[test]
    fn anthropic_stream_usage_comes_from_start_and_delta() {
        let mut m = UsageMeter::default();
        m.observe(r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":25,"output_tokens":1}}}"#);
        m.observe(r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"usage"}}"#);
        m.observe(r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}"#);
        assert_eq!(m.usage(), u(25, 15));
    }

    #[test]
    fn stream_usage_of_the_other_apis() {
        // OpenAI chat with include_usage: null usage in chunks, then the usage chunk.
        let mut m = UsageMeter::default();
        m.observe(r#"{"choices":[{"delta":{"content":"a"}}],"usage":null}"#);
        assert_eq!(m.usage(), None);
        m.observe(r#"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2}}"#);
        assert_eq!(m.usage(), u(4, 2));
        // Responses: response.completed.
        let mut m = UsageMeter::default();
        m.observe(r#"{"type":"response.created","response":{"usage":null}}"#);
        m.observe(r#"{"type":"response.completed","response":{"id":"r","usage":{"input_tokens":11,"output_tokens":3}}}"#);
        assert_eq!(m.usage(), u(11, 3));
        // Gemini: cumulative in every chunk.
        let mut m = UsageMeter::default();
        m.observe(
            r#"{"candidates":[],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1}}"#,
        );
        m.observe(
            r#"{"candidates":[],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":9}}"#,
        );
        assert_eq!(m.usage(), u(5, 9));
        // Ollama: the done line.
        let mut m = UsageMeter::default();
        m.observe(r#"{"response":"a","done":false}"#);
        m.observe(r#"{"response":"","done":true,"prompt_eval_count":8,"eval_count":30}"#);
        assert_eq!(m.usage(), u(8, 30));
    }
}
