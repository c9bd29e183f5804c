//! Whose rules a schema is held to, and the size limits a provider sets on the schemas it enforces.

use std::fmt;

/// A provider whose rules a schema is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// OpenAI's strict structured outputs, the strictest set of rules; what passes here passes on the
    /// other constrained decoders (llama.cpp, vLLM, Workers AI).
    OpenAi,
    /// A decoder that cannot follow `$ref` (Ollama's native API): recursion is not expressible.
    NoRefs,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Target::OpenAi => "OpenAI's strict mode",
            Target::NoRefs => "a decoder without `$ref`",
        })
    }
}

/// A size limit a provider sets on the schemas it enforces (OpenAI's, for strict structured
/// outputs). A schema over one is rejected by the provider, so `extract` refuses it before the
/// first request with [`Error::SchemaLimit`](crate::Error::SchemaLimit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// At most 5,000 object properties in all.
    Properties,
    /// Objects nested at most 10 deep.
    Depth,
    /// At most 1,000 enum values in all.
    EnumValues,
    /// An enum of more than 250 values may have at most 15,000 characters of values.
    EnumCharacters,
    /// At most 120,000 characters of property names, definition names, enum and const values.
    Characters,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Properties => "5,000 properties in all",
            Limit::Depth => "objects nested 10 deep",
            Limit::EnumValues => "1,000 enum values in all",
            Limit::EnumCharacters => "15,000 characters in an enum of over 250 values",
            Limit::Characters => "120,000 characters of names and values",
        })
    }
}
