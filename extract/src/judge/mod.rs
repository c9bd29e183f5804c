//! The judge: decides whether a reply's text is a valid `T`. In order: find and parse the JSON,
//! unwrap a wrapped root, validate against the full original schema (every error with its JSON path),
//! deserialize with serde, run the type's own `validate`. It knows nothing about HTTP.

pub(crate) mod locate;
mod tree;

use std::any::Any;
use std::fmt;

use jsonschema::Validator;
use serde_json::Value;

pub(crate) use tree::{Doc, Tree};

use crate::error::Violation;
use crate::schema::{allows_null, resolve, Prepared};
use crate::text::{bounded, Bounded};
use crate::Extract;

/// How many errors one reply may report; past that, the first ones are enough to fix.
const MAX_ERRORS: usize = 50;

pub(crate) fn judge<T: Extract>(schema: &Prepared, text: &str) -> Result<T, Vec<Violation>> {
    let validator = schema.validator.as_ref().map_err(|e| {
        vec![Violation::new(
            "",
            format!("the type's schema does not compile, so no reply can be checked: {e}"),
        )]
    })?;
    let parsed = match usual::<T>(schema, validator, text) {
        Some(Ok(parsed)) => parsed,
        Some(Err(errors)) => return Err(errors),
        None => explained::<T>(schema, validator, text)?,
    };
    parsed.validate().map_err(|message| {
        let prefix = schema.wrap_key.map(|key| format!("/{key}"));
        vec![Violation::new(prefix.unwrap_or_default(), message)]
    })?;
    Ok(parsed)
}

/// The usual reply, judged at the least cost: bare JSON for a type whose root is an object and whose
/// replies need no `null` removed, read into the light tree, validated, and deserialized from the
/// text itself; when invalid, its errors, read from the same tree (the locator would find this same
/// value, the whole reply, so [`explained`] would find the same errors, at the cost of another
/// copy of the reply). `None` for anything else (JSON to find in prose, a wrapped root, a repeated
/// key, a value serde refuses), which [`explained`] handles; both accept exactly the same replies.
fn usual<T: Extract>(
    schema: &Prepared,
    validator: &Validator<Tree>,
    text: &str,
) -> Option<Result<T, Vec<Violation>>> {
    if schema.wrap_key.is_some() || schema.strips_nulls {
        return None;
    }
    let text = text.trim().trim_start_matches('\u{feff}');
    let doc: Doc<'_> = serde_json::from_str(text).ok()?;
    if !validator.is_valid(&doc) {
        return Some(Err(errors(validator, &doc, "")));
    }
    serde_json::from_str(text).ok().map(Ok)
}

/// Every error of a value the schema refuses (up to [`MAX_ERRORS`]), with its path below `prefix`.
fn errors(validator: &Validator<Tree>, doc: &Doc<'_>, prefix: &str) -> Vec<Violation> {
    validator
        .iter_errors(doc)
        .take(MAX_ERRORS)
        .map(|err| {
            Violation::new(
                format!("{prefix}{}", err.instance_path()),
                message(&err, doc),
            )
        })
        .collect()
}

/// The full judgement: locate (and repair) the JSON, unwrap it, validate it collecting every error
/// with its path, deserialize it tracking the path of a failure.
fn explained<T: Extract>(
    schema: &Prepared,
    validator: &Validator<Tree>,
    text: &str,
) -> Result<T, Vec<Violation>> {
    let Found {
        value,
        prefix,
        valid,
    } = value_of(schema, validator, text)?;
    if !valid {
        return Err(errors(validator, &Doc::of(&value), &prefix));
    }
    // Deserialized without tracking the path, which costs a copy of every key; when it fails, the
    // value is read again with tracking to say where.
    match T::deserialize(value) {
        Ok(parsed) => Ok(parsed),
        Err(_) => {
            let Found { value, .. } = value_of(schema, validator, text)?;
            serde_path_to_error::deserialize::<_, T>(value).map_err(|err| {
                let path = pointer(err.path());
                vec![Violation::new(
                    format!("{prefix}{path}"),
                    bounded(err.inner(), MAX_MESSAGE_BYTES),
                )]
            })
        }
    }
}

/// The reply's value as the schema sees it.
struct Found {
    /// Located, unwrapped, and with the nulls lowering added removed.
    value: Value,
    /// The path prefix of the wrapper, if any.
    prefix: String,
    /// Whether the schema accepts it.
    valid: bool,
}

/// The reply's value: where prose holds several JSON values (an example, then the answer), the
/// first that the schema accepts is the one; when none is, the first one, whose errors the model
/// then hears.
fn value_of(
    schema: &Prepared,
    validator: &Validator<Tree>,
    text: &str,
) -> Result<Found, Vec<Violation>> {
    locate::locate_with(text, |value| {
        let (mut value, prefix) = unwrap(schema, value);
        if schema.strips_nulls {
            strip_added_nulls(&mut value, &schema.original, &schema.original, 0);
        }
        let valid = validator.is_valid(&Doc::of(&value));
        let found = Found {
            value,
            prefix,
            valid,
        };
        if valid {
            Ok(found)
        } else {
            Err(found)
        }
    })
    .map_err(|message| vec![Violation::new("", message)])
}

/// The most bytes of one violation's message: a message quotes the offending value, which can be
/// megabytes (the reply itself keeps all of it).
pub(crate) const MAX_MESSAGE_BYTES: usize = 1_024;

/// The most bytes of the offending value that a violation's message quotes.
const MAX_QUOTED_VALUE_BYTES: usize = 512;

/// A validation error in words, quoting the offending value up to [`MAX_QUOTED_VALUE_BYTES`]
/// (read from the reply's tree: the error's own copy of the value, which the validator would build
/// to print it, is never made) and cut to [`MAX_MESSAGE_BYTES`] in all.
fn message(err: &jsonschema::ValidationError<'_>, doc: &Doc<'_>) -> String {
    let mut node = doc;
    for segment in err.instance_path() {
        let next = match (&segment, node) {
            (jsonschema::paths::LocationSegment::Property(key), Doc::Object(members)) => {
                members.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            (jsonschema::paths::LocationSegment::Index(i), Doc::Array(items)) => items.get(*i),
            _ => None,
        };
        match next {
            Some(next) => node = next,
            // Not reached (the path is the validator's walk of this tree); the error as it is.
            None => return bounded(err, MAX_MESSAGE_BYTES),
        }
    }
    let mut quoted = Bounded::new(MAX_QUOTED_VALUE_BYTES);
    let _ = serde_json::to_writer(&mut quoted, node);
    bounded(&err.masked_with(quoted.finish()), MAX_MESSAGE_BYTES)
}

/// A request's own check (`ExtractRequest::validate_with`), its error text meant for the model. It
/// takes the value as `Any` so that the run holding it need not be generic; it was made for the
/// request's type and checks only that. Shared, so that a fallback client runs the same checks.
pub(crate) type Check<'a> =
    std::sync::Arc<dyn Fn(&dyn Any) -> Result<(), String> + Send + Sync + 'a>;

/// A typed check, erased into a [`Check`] (the run is not generic); the judge hands it the `T` back.
pub(crate) fn check_of<'a, T, F, E>(check: F) -> Check<'a>
where
    T: Any,
    F: Fn(&T) -> Result<(), E> + Send + Sync + 'a,
    E: fmt::Display,
{
    std::sync::Arc::new(move |value: &dyn Any| match value.downcast_ref::<T>() {
        Some(value) => check(value).map_err(|e| e.to_string()),
        None => Ok(()),
    })
}

/// Runs a request's own checks on a value [`judge`] accepted: each failure is a violation of the
/// whole value, and all of them are reported at once.
pub(crate) fn check<T: Any>(value: T, checks: &[Check<'_>]) -> Result<T, Vec<Violation>> {
    let errors: Vec<Violation> = checks
        .iter()
        .filter_map(|check| check(&value).err())
        .map(|message| Violation::new("", message))
        .collect();
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

/// Takes the value out of its wrapper object when the root was wrapped. A bare value is accepted too:
/// small models sometimes answer with just the enum.
fn unwrap(schema: &Prepared, value: Value) -> (Value, String) {
    let Some(key) = schema.wrap_key else {
        return (value, String::new());
    };
    match value {
        Value::Object(mut map) if map.contains_key(key) => {
            (map.remove(key).unwrap_or(Value::Null), format!("/{key}"))
        }
        other => (other, String::new()),
    }
}

/// Lowering made optional properties required-but-nullable; where the original schema does not accept
/// `null` for such a property (a `#[serde(default)]` field), a `null` answer means "absent" and is
/// removed, so serde applies the default.
fn strip_added_nulls(value: &mut Value, schema: &Value, root: &Value, depth: usize) {
    if depth > 64 {
        return;
    }
    let Some(schema) = resolve(schema, root) else {
        return;
    };
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = schema.get("properties") {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                map.retain(|key, v| {
                    !(v.is_null()
                        && !required.contains(&key.as_str())
                        && props
                            .get(key)
                            .and_then(|p| resolve(p, root))
                            .is_some_and(|p| !allows_null(p)))
                });
                for (key, v) in map.iter_mut() {
                    if let Some(prop) = props.get(key) {
                        strip_added_nulls(v, prop, root, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    strip_added_nulls(item, item_schema, root, depth + 1);
                }
            }
        }
        _ => return,
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key) {
            let non_null: Vec<&Value> = options
                .iter()
                .filter(|o| o.get("type") != Some(&"null".into()))
                .collect();
            if let [only] = non_null.as_slice() {
                strip_added_nulls(value, only, root, depth + 1);
            }
        }
    }
}

/// serde_path_to_error's path (`participants[0].name`) as a JSON Pointer (`/participants/0/name`).
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                out.push_str(&format!("/{}", key.replace('~', "~0").replace('/', "~1")))
            }
            Segment::Enum { variant } => out.push_str(&format!("/{variant}")),
            Segment::Unknown => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::clip;
    use serde_json::json;

    #[test]
    fn messages_read_as_the_validators_and_quote_a_bounded_value() {
        let schema = json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer"},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
                "point": {"type": "object", "properties": {"x": {"type": "string"}}}
            },
            "required": ["n", "gone"],
            "additionalProperties": false
        });
        let Ok(validator) = jsonschema::options_for::<Tree>().build(&schema) else {
            panic!("the schema compiles");
        };
        let value =
            json!({"n": 1.5, "tags": ["a", "é\"c"], "point": {"x": [1, {"y": null}]}, "k/~": 1});
        let doc = Doc::of(&value);
        let (ours, theirs): (Vec<String>, Vec<String>) = validator
            .iter_errors(&doc)
            .map(|err| (message(&err, &doc), err.to_string()))
            .unzip();
        assert_eq!(ours.len(), 5, "{ours:?}");
        assert_eq!(ours, theirs);

        let value = json!({"n": "x".repeat(10_000)});
        let doc = Doc::of(&value);
        let messages: Vec<String> = validator
            .iter_errors(&doc)
            .map(|err| message(&err, &doc))
            .collect();
        let expected = format!(
            "\"{}… [cut 9490 bytes] is not of type \"integer\"",
            "x".repeat(511)
        );
        assert!(messages.contains(&expected), "{messages:?}");
        assert_eq!(bounded(&"é".repeat(10), 5), "éé… [cut 16 bytes]");
        assert_eq!(clip(&"é".repeat(10), 5), "éé… [cut 16 bytes]");
        assert_eq!(clip("short", 5), "short");
    }
}
