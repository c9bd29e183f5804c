//! Request bodies as a dialect lays them out, written straight to bytes. The schema goes in as the
//! fragment serialized once per type, so what a call serializes is its own: messages and options.
//! Nothing here builds a `serde_json::Value` or copies a schema.

use std::borrow::Cow;

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::vocab::Turn;

/// A JSON object whose members are written in the order they were added.
#[derive(Debug, Default)]
pub(crate) struct Body<'a> {
    members: Vec<(&'static str, Part<'a>)>,
}

/// One member's value.
#[derive(Debug)]
pub(crate) enum Part<'a> {
    Str(&'a str),
    Bool(bool),
    Uint(u64),
    /// Written as the shortest decimal that reads back as the same `f32` (`0.7`, not
    /// `0.699999988079071`).
    Float(f32),
    /// JSON serialized once and spliced in as it is: a schema.
    Raw(&'a RawValue),
    /// The turns as OpenAI `messages`.
    Messages(Cow<'a, [Turn]>),
    Object(Body<'a>),
    Array(Vec<Part<'a>>),
}

impl<'a> Body<'a> {
    pub(crate) fn new() -> Self {
        Body {
            members: Vec::with_capacity(8),
        }
    }

    /// Adds a member; a key already present is written twice, so dialects add each key once.
    pub(crate) fn push(&mut self, key: &'static str, value: impl Into<Part<'a>>) {
        self.members.push((key, value.into()));
    }

    /// Adds a member, for chaining.
    pub(crate) fn with(mut self, key: &'static str, value: impl Into<Part<'a>>) -> Self {
        self.push(key, value);
        self
    }

    /// The body serialized, into a buffer sized for it up front.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(self.size_hint());
        serde_json::to_writer(&mut out, self)?;
        Ok(out)
    }

    /// About the serialized length: a little over, unless strings need many escapes.
    fn size_hint(&self) -> usize {
        2 + self
            .members
            .iter()
            .map(|(key, part)| key.len() + 4 + part.size_hint())
            .sum::<usize>()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The body as a `Value`, for tests that read it.
    #[cfg(test)]
    pub(crate) fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl Serialize for Body<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.members.len()))?;
        for (key, value) in &self.members {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl Serialize for Part<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Part::Str(s) => serializer.serialize_str(s),
            Part::Bool(b) => serializer.serialize_bool(*b),
            Part::Uint(n) => serializer.serialize_u64(*n),
            Part::Float(f) => serializer.serialize_f32(*f),
            Part::Raw(raw) => raw.serialize(serializer),
            Part::Messages(turns) => {
                let mut seq = serializer.serialize_seq(Some(turns.len()))?;
                for turn in turns.iter() {
                    seq.serialize_element(&Message(turn))?;
                }
                seq.end()
            }
            Part::Object(body) => body.serialize(serializer),
            Part::Array(items) => items.serialize(serializer),
        }
    }
}

impl Part<'_> {
    fn size_hint(&self) -> usize {
        match self {
            Part::Str(s) => s.len() + 8,
            Part::Bool(_) | Part::Uint(_) | Part::Float(_) => 24,
            Part::Raw(raw) => raw.get().len(),
            Part::Messages(turns) => turns.iter().map(|turn| 48 + turn_len(turn)).sum(),
            Part::Object(body) => body.size_hint(),
            Part::Array(items) => 2 + items.iter().map(|item| item.size_hint() + 1).sum::<usize>(),
        }
    }
}

fn turn_len(turn: &Turn) -> usize {
    match turn {
        Turn::System(text) | Turn::User(text) | Turn::Assistant(text) => text.len(),
        Turn::ToolCall {
            id,
            name,
            arguments,
        } => 64 + id.len() + name.len() + arguments.len() + arguments.len() / 8,
        Turn::ToolResult { id, content } => 16 + id.len() + content.len(),
    }
}

impl<'a> From<&'a str> for Part<'a> {
    fn from(s: &'a str) -> Self {
        Part::Str(s)
    }
}
impl From<bool> for Part<'_> {
    fn from(b: bool) -> Self {
        Part::Bool(b)
    }
}
impl From<u32> for Part<'_> {
    fn from(n: u32) -> Self {
        Part::Uint(n.into())
    }
}
impl From<f32> for Part<'_> {
    fn from(f: f32) -> Self {
        Part::Float(f)
    }
}
impl<'a> From<&'a RawValue> for Part<'a> {
    fn from(raw: &'a RawValue) -> Self {
        Part::Raw(raw)
    }
}
impl<'a> From<Body<'a>> for Part<'a> {
    fn from(body: Body<'a>) -> Self {
        Part::Object(body)
    }
}
impl<'a> From<&'a [Turn]> for Part<'a> {
    fn from(turns: &'a [Turn]) -> Self {
        Part::Messages(Cow::Borrowed(turns))
    }
}
impl From<Vec<Turn>> for Part<'_> {
    fn from(turns: Vec<Turn>) -> Self {
        Part::Messages(Cow::Owned(turns))
    }
}

/// A turn as an OpenAI chat message.
struct Message<'t>(&'t Turn);

impl Serialize for Message<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Turn::System(content) => text(serializer, "system", content),
            Turn::User(content) => text(serializer, "user", content),
            Turn::Assistant(content) => text(serializer, "assistant", content),
            Turn::ToolCall {
                id,
                name,
                arguments,
            } => {
                #[derive(Serialize)]
                struct Call<'t> {
                    id: &'t str,
                    #[serde(rename = "type")]
                    kind: &'static str,
                    function: Function<'t>,
                }
                #[derive(Serialize)]
                struct Function<'t> {
                    name: &'t str,
                    arguments: &'t str,
                }
                let call = Call {
                    id,
                    kind: "function",
                    function: Function { name, arguments },
                };
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("role", "assistant")?;
                map.serialize_entry("content", &())?;
                map.serialize_entry("tool_calls", &[call])?;
                map.end()
            }
            Turn::ToolResult { id, content } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("role", "tool")?;
                map.serialize_entry("tool_call_id", id)?;
                map.serialize_entry("content", content)?;
                map.end()
            }
        }
    }
}

fn text<S: Serializer>(serializer: S, role: &str, content: &str) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(2))?;
    map.serialize_entry("role", role)?;
    map.serialize_entry("content", content)?;
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_keep_their_order_and_raw_json_is_spliced_as_is() {
        let schema = RawValue::from_string(r#"{"type":"object","properties":{}}"#.to_owned())
            .unwrap_or_default();
        let body = Body::new()
            .with("model", "m")
            .with("temperature", 0.7f32)
            .with("n", 3u32)
            .with(
                "format",
                Body::new().with("schema", &*schema).with("strict", true),
            );
        let text = serde_json::to_string(&body).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"model":"m","temperature":0.7,"n":3,"format":{"schema":{"type":"object","properties":{}},"strict":true}}"#
        );
    }

    #[test]
    fn turns_are_openai_messages() {
        let turns = vec![
            Turn::System("s".into()),
            Turn::User("u \"quoted\"".into()),
            Turn::Assistant("a".into()),
            Turn::ToolCall {
                id: "call_1".into(),
                name: "Event".into(),
                arguments: "{}".into(),
            },
            Turn::ToolResult {
                id: "call_1".into(),
                content: "bad".into(),
            },
        ];
        let body = Body::new().with("messages", turns.as_slice());
        assert_eq!(
            body.to_value(),
            json!({"messages": [
                {"role": "system", "content": "s"},
                {"role": "user", "content": "u \"quoted\""},
                {"role": "assistant", "content": "a"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "Event", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "bad"}
            ]})
        );
    }
}
