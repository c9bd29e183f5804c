//! What an extraction or a completion reads: a text, or a chat history of messages.

use serde::{Deserialize, Serialize};

/// Who said a message in a chat history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The person (or program) talking to the model.
    User,
    /// The model.
    Assistant,
}

/// One message of a chat history.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// What to extract from: one text (sent as the user message) or a whole chat history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A text, sent as a user message.
    Text(String),
    /// A chat history, sent as it is after the extraction's instructions.
    Messages(Vec<Message>),
}

impl From<&str> for Input {
    fn from(text: &str) -> Self {
        Input::Text(text.to_owned())
    }
}
impl From<String> for Input {
    fn from(text: String) -> Self {
        Input::Text(text)
    }
}
impl From<&String> for Input {
    fn from(text: &String) -> Self {
        Input::Text(text.clone())
    }
}
impl From<Vec<Message>> for Input {
    fn from(messages: Vec<Message>) -> Self {
        Input::Messages(messages)
    }
}
impl From<&[Message]> for Input {
    fn from(messages: &[Message]) -> Self {
        Input::Messages(messages.to_vec())
    }
}
