//! A reply as the run and the streams see it, whatever the provider: the text or tool arguments, why
//! it ended, what it cost; and, streamed, one event of it at a time.

use super::{Mode, Usage};

/// Why a model's reply ended, as the provider said (`finish_reason`, `done_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FinishReason {
    /// The model finished its answer.
    Stop,
    /// The reply reached its token limit (`max_tokens`) and was cut there.
    Length,
    /// The provider's content filter stopped the reply.
    ContentFilter,
    /// The model called a tool.
    ToolCalls,
    /// Absent, empty, or a value this crate does not know.
    Other,
}

impl FinishReason {
    pub(crate) fn parse(reason: Option<&str>) -> FinishReason {
        match reason {
            Some("stop" | "eos" | "end_turn") => FinishReason::Stop,
            Some("length" | "max_tokens") => FinishReason::Length,
            Some("content_filter") => FinishReason::ContentFilter,
            Some("tool_calls" | "function_call") => FinishReason::ToolCalls,
            _ => FinishReason::Other,
        }
    }
}

/// A provider's reply, reduced to what judging needs.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) content: Option<String>,
    pub(crate) tool_arguments: Option<String>,
    pub(crate) refusal: Option<String>,
    pub(crate) finish: FinishReason,
    pub(crate) usage: Option<Usage>,
    pub(crate) model: Option<String>,
    /// A caching proxy's verdict (`cf-aig-cache-status: HIT`), when one answered.
    pub(crate) cache_status: Option<String>,
}

impl Reply {
    /// The text the value is read from in `mode`, moved out of the reply: the tool call's arguments
    /// in `Tools` mode (or the content, when a server answered in text anyway), the content otherwise.
    pub(crate) fn take_text(&mut self, mode: Mode) -> Option<String> {
        let (first, second) = match mode {
            Mode::Tools => (&mut self.tool_arguments, &mut self.content),
            _ => (&mut self.content, &mut self.tool_arguments),
        };
        first.take().or_else(|| second.take())
    }
}

/// How a streamed reply is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Server-sent events: `data: {json}` lines, `data: [DONE]` at the end.
    Sse,
    /// One JSON object per line (Ollama's native API).
    Ndjson,
}

/// One event of a streamed reply, reduced to what the stream needs. Every field is optional: a
/// provider sends the role first, then content, then the finish reason, then the usage.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Delta {
    pub(crate) content: Option<String>,
    pub(crate) tool_arguments: Option<String>,
    pub(crate) refusal: Option<String>,
    pub(crate) finish: Option<FinishReason>,
    pub(crate) usage: Option<Usage>,
    pub(crate) model: Option<String>,
    /// The provider said the stream is over (`[DONE]`, Ollama's `"done": true`).
    pub(crate) done: bool,
}
