//! Every reason a lowered schema would be rejected, or silently not enforced, by a target. The derive
//! catches the common ones at compile time; this catches the rest (hand-written `JsonSchema` impls,
//! `schema_with`, limits that depend on sizes) for users to assert in their own tests.

use std::fmt;

use serde_json::Value;

use std::collections::BTreeSet;

use serde_json::Map;

use super::lower::is_object_schema;
use crate::Extract;

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

/// One reason a schema would not be enforced as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON Pointer into the lowered schema (`/properties/tags`).
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// OpenAI's documented limits for strict schemas.
const MAX_PROPERTIES: usize = 5_000;
const MAX_DEPTH: usize = 10;
const MAX_ENUM_VALUES: usize = 1_000;
const MAX_STRING_CHARS: usize = 120_000;
const MAX_LARGE_ENUM_CHARS: usize = 15_000;
const LARGE_ENUM: usize = 250;

/// Every problem of `T`'s lowered schema for `target`; empty when the schema can be enforced.
///
/// ```
/// # use extract::{Extract, schema::{problems, Target}};
/// # #[derive(serde::Deserialize, schemars::JsonSchema, Extract)]
/// # struct CalendarEvent { name: String }
/// assert_eq!(problems::<CalendarEvent>(Target::OpenAi), vec![]);
/// ```
pub fn problems<T: Extract>(target: Target) -> Vec<Problem> {
    let prepared = super::prepared::<T>();
    let schema = match target {
        Target::OpenAi => &prepared.strict,
        Target::NoRefs => &prepared.inlined,
    };
    problems_of(schema, target)
}

pub(crate) fn problems_of(schema: &Value, target: Target) -> Vec<Problem> {
    let defs = match schema.get("$defs") {
        Some(Value::Object(defs)) => defs.clone(),
        _ => Map::new(),
    };
    let mut walk = Walk {
        out: Vec::new(),
        properties: 0,
        enum_values: 0,
        chars: 0,
        defs,
        visited: BTreeSet::new(),
    };
    if !is_object_schema(schema) {
        walk.push("", "the root must be an object with fixed properties");
    }
    walk.chars += walk
        .defs
        .keys()
        .map(|name| name.chars().count())
        .sum::<usize>();
    walk.node(schema, String::new(), 0);
    if target == Target::NoRefs && has_refs(schema) {
        walk.push("", "the type is recursive, and this target cannot follow `$ref`; bound the depth with distinct types");
    }
    if walk.properties > MAX_PROPERTIES {
        walk.push(
            "",
            format!(
                "{} properties in all; strict mode allows {MAX_PROPERTIES}",
                walk.properties
            ),
        );
    }
    if walk.enum_values > MAX_ENUM_VALUES {
        walk.push(
            "",
            format!(
                "{} enum values in all; strict mode allows {MAX_ENUM_VALUES}",
                walk.enum_values
            ),
        );
    }
    if walk.chars > MAX_STRING_CHARS {
        walk.push(
            "",
            format!(
                "{} characters of property names, definition names, enum and const values; strict mode allows {MAX_STRING_CHARS}",
                walk.chars
            ),
        );
    }
    walk.out
}

struct Walk {
    out: Vec<Problem>,
    properties: usize,
    enum_values: usize,
    chars: usize,
    defs: Map<String, Value>,
    /// Definitions already walked: each is reported once, at the first place that uses it.
    visited: BTreeSet<String>,
}

impl Walk {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.out.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn node(&mut self, schema: &Value, path: String, depth: usize) {
        let map = match schema {
            Value::Object(map) if map.is_empty() => {
                return self.push(path, "accepts any value (`serde_json::Value`?), which strict mode cannot constrain; use a typed struct or enum");
            }
            Value::Object(map) => map,
            Value::Bool(true) => {
                return self.push(path, "accepts any value (`serde_json::Value`?), which strict mode cannot constrain; use a typed struct or enum");
            }
            Value::Bool(false) => return self.push(path, "accepts no value at all"),
            _ => return self.push(path, "is not a schema"),
        };
        if let Some(Value::String(reference)) = map.get("$ref") {
            if let Some(name) = reference.strip_prefix("#/$defs/") {
                if self.visited.insert(name.to_owned()) {
                    if let Some(def) = self.defs.get(name).cloned() {
                        self.node(&def, path.clone(), depth);
                    }
                }
            }
        }
        let is_object = map.get("type").is_some_and(|t| {
            t == "object" || t.as_array().is_some_and(|a| a.contains(&"object".into()))
        });
        if is_object || map.contains_key("properties") {
            if depth > MAX_DEPTH {
                self.push(
                    path.clone(),
                    format!("objects nested {depth} deep; strict mode allows {MAX_DEPTH}"),
                );
            }
            match map.get("additionalProperties") {
                Some(Value::Bool(false)) => {}
                _ => self.push(
                    path.clone(),
                    "an object with open keys (a `HashMap`/`BTreeMap`, or a map flattened into a struct), which `additionalProperties: false` forbids; use a `Vec` of key/value structs",
                ),
            }
        }
        if let Some(Value::Array(values)) = map.get("enum") {
            self.enum_values += values.len();
            let chars: usize = values
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.chars().count())
                .sum();
            self.chars += chars;
            if values.len() > LARGE_ENUM && chars > MAX_LARGE_ENUM_CHARS {
                self.push(path.clone(), format!("an enum of {} values with {chars} characters; strict mode allows {MAX_LARGE_ENUM_CHARS} characters above {LARGE_ENUM} values", values.len()));
            }
        }
        if let Some(Value::String(s)) = map.get("const") {
            self.chars += s.chars().count();
        }
        if let Some(Value::Array(all_of)) = map.get("allOf") {
            if !all_of.is_empty() {
                self.push(path.clone(), "`allOf` is not supported by strict decoders");
            }
        }
        if let Some(Value::Object(props)) = map.get("properties") {
            self.properties += props.len();
            for (name, prop) in props {
                self.chars += name.chars().count();
                self.node(
                    prop,
                    format!("{path}/properties/{}", escape(name)),
                    depth + 1,
                );
            }
        }
        for key in ["anyOf", "allOf", "prefixItems"] {
            if let Some(Value::Array(items)) = map.get(key) {
                for (i, item) in items.iter().enumerate() {
                    self.node(item, format!("{path}/{key}/{i}"), depth);
                }
            }
        }
        if map.contains_key("prefixItems") {
            self.push(path.clone(), "a tuple (`prefixItems`) is not supported by strict decoders; use a struct with named fields");
        }
        if let Some(items) = map.get("items") {
            self.node(items, format!("{path}/items"), depth);
        }
    }
}

fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// Whether a schema holds any `$ref` (to a definition, or `#` for a recursive root).
fn has_refs(schema: &Value) -> bool {
    match schema {
        Value::Object(map) => map.contains_key("$ref") || map.values().any(has_refs),
        Value::Array(items) => items.iter().any(has_refs),
        _ => false,
    }
}
