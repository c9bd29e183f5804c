//! Every reason a lowered schema would be rejected, or silently not enforced, by a target. The derive
//! catches the common ones at compile time; this catches the rest (hand-written `JsonSchema` impls,
//! `schema_with`, limits that depend on sizes) for users to assert in their own tests. The size
//! limits ([`Limit`]) are also checked by the client itself, once per type and target, before the
//! first request to a provider that enforces them ([`Error::SchemaLimit`](crate::Error::SchemaLimit)).

use std::fmt;

use serde_json::Value;

use std::collections::BTreeSet;

use serde_json::Map;

use super::lower::is_object_schema;
use crate::vocab::{Limit, Target};
use crate::Extract;

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
    walk(schema, target).into_iter().map(|(_, p)| p).collect()
}

/// The first size limit `schema` is over for `target`, with where and by how much; `None` when it
/// is within every limit. Only OpenAI's strict mode has documented limits.
pub(crate) fn first_limit(schema: &Value, target: Target) -> Option<(Limit, Problem)> {
    if target != Target::OpenAi {
        return None;
    }
    walk(schema, target)
        .into_iter()
        .find_map(|(limit, problem)| Some((limit?, problem)))
}

fn walk(schema: &Value, target: Target) -> Vec<(Option<Limit>, Problem)> {
    let defs = match schema.get("$defs") {
        Some(Value::Object(defs)) => defs.clone(),
        _ => Map::new(),
    };
    let mut walk = Walk {
        out: Vec::new(),
        properties: Tally::up_to(MAX_PROPERTIES),
        enum_values: Tally::up_to(MAX_ENUM_VALUES),
        chars: Tally::up_to(MAX_STRING_CHARS),
        defs,
        visited: BTreeSet::new(),
    };
    if !is_object_schema(schema) {
        walk.push("", "the root must be an object with fixed properties");
    }
    let def_names = walk
        .defs
        .keys()
        .map(|name| name.chars().count())
        .sum::<usize>();
    walk.chars.add(def_names, "");
    walk.node(schema, String::new(), 0);
    let properties_at = walk.properties.crossed.take();
    let enum_values_at = walk.enum_values.crossed.take();
    let chars_at = walk.chars.crossed.take();
    if target == Target::NoRefs && has_refs(schema) {
        walk.push("", "the type is recursive, and this target cannot follow `$ref`; bound the depth with distinct types");
    }
    if walk.properties.sum > MAX_PROPERTIES {
        walk.push_limit(
            Limit::Properties,
            properties_at.unwrap_or_default(),
            format!(
                "{} properties in all, the limit passed here; strict mode allows {MAX_PROPERTIES}",
                walk.properties.sum
            ),
        );
    }
    if walk.enum_values.sum > MAX_ENUM_VALUES {
        walk.push_limit(
            Limit::EnumValues,
            enum_values_at.unwrap_or_default(),
            format!(
                "{} enum values in all, the limit passed here; strict mode allows {MAX_ENUM_VALUES}",
                walk.enum_values.sum
            ),
        );
    }
    if walk.chars.sum > MAX_STRING_CHARS {
        walk.push_limit(
            Limit::Characters,
            chars_at.unwrap_or_default(),
            format!(
                "{} characters of property names, definition names, enum and const values, the limit passed here; strict mode allows {MAX_STRING_CHARS}",
                walk.chars.sum
            ),
        );
    }
    walk.out
}

/// A running total with a limit, and where it first went over: the path a limit on a total is
/// reported at.
struct Tally {
    sum: usize,
    max: usize,
    crossed: Option<String>,
}

impl Tally {
    fn up_to(max: usize) -> Tally {
        Tally {
            sum: 0,
            max,
            crossed: None,
        }
    }

    fn add(&mut self, n: usize, path: &str) {
        self.sum += n;
        if self.sum > self.max && self.crossed.is_none() {
            self.crossed = Some(path.to_owned());
        }
    }
}

struct Walk {
    out: Vec<(Option<Limit>, Problem)>,
    properties: Tally,
    enum_values: Tally,
    chars: Tally,
    defs: Map<String, Value>,
    /// Definitions already walked: each is reported once, at the first place that uses it.
    visited: BTreeSet<String>,
}

impl Walk {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.out.push((
            None,
            Problem {
                path: path.into(),
                message: message.into(),
            },
        ));
    }

    fn push_limit(&mut self, limit: Limit, path: impl Into<String>, message: impl Into<String>) {
        self.out.push((
            Some(limit),
            Problem {
                path: path.into(),
                message: message.into(),
            },
        ));
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
                self.push_limit(
                    Limit::Depth,
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
            self.enum_values.add(values.len(), &path);
            let chars: usize = values
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.chars().count())
                .sum();
            self.chars.add(chars, &path);
            if values.len() > LARGE_ENUM && chars > MAX_LARGE_ENUM_CHARS {
                self.push_limit(Limit::EnumCharacters, path.clone(), format!("an enum of {} values with {chars} characters; strict mode allows {MAX_LARGE_ENUM_CHARS} characters above {LARGE_ENUM} values", values.len()));
            }
        }
        if let Some(Value::String(s)) = map.get("const") {
            self.chars.add(s.chars().count(), &path);
        }
        if let Some(Value::Array(all_of)) = map.get("allOf") {
            if !all_of.is_empty() {
                self.push(path.clone(), "`allOf` is not supported by strict decoders");
            }
        }
        if let Some(Value::Object(props)) = map.get("properties") {
            self.properties.add(props.len(), &path);
            for (name, prop) in props {
                self.chars.add(name.chars().count(), &path);
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Map, Value};

    use super::*;

    /// An object of `n` string properties, closed as strict mode wants it.
    fn object(n: usize) -> Value {
        let properties: Map<String, Value> = (0..n)
            .map(|i| (format!("p{i}"), json!({"type": "string"})))
            .collect();
        json!({"type": "object", "properties": properties, "additionalProperties": false})
    }

    #[test]
    fn a_total_is_reported_where_it_passed_its_limit() {
        // 3,000 properties in one object, then 2,001 in another: the second passes 5,000.
        let schema = json!({
            "type": "object",
            "properties": {"a": object(2_999), "b": object(2_000)},
            "additionalProperties": false
        });
        let (limit, problem) =
            first_limit(&schema, Target::OpenAi).unwrap_or_else(|| panic!("over the limit"));
        assert_eq!(limit, Limit::Properties);
        assert_eq!(problem.path, "/properties/b");
        assert!(problem.message.starts_with("5001 properties"), "{problem}");
        // Exactly at the limit is within it.
        let within = json!({
            "type": "object",
            "properties": {"a": object(2_999), "b": object(1_999)},
            "additionalProperties": false
        });
        assert_eq!(first_limit(&within, Target::OpenAi), None);
    }

    #[test]
    fn only_size_limits_count_and_only_for_openai() {
        // An open map is a problem, but not a limit the provider rejects a request for.
        let open = json!({"type": "object", "properties": {"m": {"type": "object"}}, "additionalProperties": false});
        assert!(!problems_of(&open, Target::OpenAi).is_empty());
        assert_eq!(first_limit(&open, Target::OpenAi), None);
        let values: Vec<String> = (0..300).map(|i| format!("{i:0>60}")).collect();
        let long = json!({
            "type": "object",
            "properties": {"e": {"type": "string", "enum": values}},
            "additionalProperties": false
        });
        let found = first_limit(&long, Target::OpenAi).map(|(l, p)| (l, p.path));
        assert_eq!(found, Some((Limit::EnumCharacters, "/properties/e".into())));
        assert_eq!(first_limit(&long, Target::NoRefs), None);
    }
}
