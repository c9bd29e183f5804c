//! The conversation as the run builds it: richer than a [`Message`](super::Message), since the reask
//! of a `Tools` extraction replays the model's tool call and answers it.

/// One turn of the conversation as the extraction builds it, richer than [`crate::Message`]: the
/// reask of a `Tools` extraction replays the model's tool call and answers it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Turn {
    System(String),
    User(String),
    Assistant(String),
    ToolCall {
        id: String,
        name: String,
        arguments: String,
    },
    ToolResult {
        id: String,
        content: String,
    },
}
