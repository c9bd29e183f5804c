//! How the schema reaches the model and how the value comes back.

use std::fmt;

/// How the schema reaches the model and how the value comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Native constrained decoding: `response_format: {"type": "json_schema", ...}` with `strict`.
    JsonSchema,
    /// `response_format: {"type": "json_object"}`: valid JSON guaranteed, the schema in the instructions.
    JsonObject,
    /// One function whose parameters are the schema, forced with `tool_choice`; the value is read from
    /// the call's arguments.
    Tools,
    /// No API support at all: the schema in the instructions, the JSON found in the reply (in a code
    /// fence or in prose) and repaired where the repair is unambiguous.
    Prompt,
}

impl Mode {
    /// The mode to fall back to when a server rejects this one: each step asks less of it.
    pub(crate) fn simpler(self) -> Option<Mode> {
        match self {
            Mode::JsonSchema => Some(Mode::JsonObject),
            Mode::Tools | Mode::JsonObject => Some(Mode::Prompt),
            Mode::Prompt => None,
        }
    }

    /// The name used in logs and metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::JsonSchema => "json_schema",
            Mode::JsonObject => "json_object",
            Mode::Tools => "tools",
            Mode::Prompt => "prompt",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
