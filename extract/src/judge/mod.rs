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
use crate::schema::{allows_null, Prepared};
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
        Some(parsed) => parsed,
        None => explained::<T>(schema, validator, text)?,
    };
    parsed.validate().map_err(|message| {
        let prefix = schema.wrap_key.map(|key| format!("/{key}"));
        vec![Violation::new(prefix.unwrap_or_default(), message)]
    })?;
    Ok(parsed)
}

/// The usual reply, judged at the least cost: bare JSON for a type whose root is an object and whose
/// replies need no `null` removed, valid, and deserialized from the text itself. `None` for anything
/// else (JSON to find in prose, a wrapped root, an invalid reply), which [`explained`] handles and,
/// when it fails, explains; both accept exactly the same replies.
fn usual<T: Extract>(schema: &Prepared, validator: &Validator<Tree>, text: &str) -> Option<T> {
    if schema.wrap_key.is_some() || schema.strips_nulls {
        return None;
    }
    let text = text.trim().trim_start_matches('\u{feff}');
    let doc: Doc<'_> = serde_json::from_str(text).ok()?;
    if !validator.is_valid(&doc) {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// The full judgement: locate (and repair) the JSON, unwrap it, validate it collecting every error
/// with its path, deserialize it tracking the path of a failure.
fn explained<T: Extract>(
    schema: &Prepared,
    validator: &Validator<Tree>,
    text: &str,
) -> Result<T, Vec<Violation>> {
    let (value, prefix) = value_of(schema, validator, text)?;
    let errors: Vec<Violation> = validator
        .iter_errors(&Doc::of(&value))
        .take(MAX_ERRORS)
        .map(|err| {
            Violation::new(
                format!("{prefix}{}", err.instance_path()),
                bounded(&err, MAX_MESSAGE_BYTES),
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    // Deserialized without tracking the path, which costs a copy of every key; when it fails, the
    // value is read again with tracking to say where.
    match T::deserialize(value) {
        Ok(parsed) => Ok(parsed),
        Err(_) => {
            let (value, _) = value_of(schema, validator, text)?;
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

/// The reply's value as the schema sees it: located, unwrapped, and with the nulls lowering added
/// removed; and the path prefix of the wrapper, if any. Where prose holds several JSON values (an
/// example, then the answer), the first that the schema accepts is the one; when none is, the
/// first one, whose errors the model then hears.
fn value_of(
    schema: &Prepared,
    validator: &Validator<Tree>,
    text: &str,
) -> Result<(Value, String), Vec<Violation>> {
    locate::locate_with(text, |value| {
        let (mut value, prefix) = unwrap(schema, value);
        if schema.strips_nulls {
            strip_added_nulls(&mut value, &schema.original, &schema.original, 0);
        }
        if validator.is_valid(&Doc::of(&value)) {
            Ok((value, prefix))
        } else {
            Err((value, prefix))
        }
    })
    .map_err(|message| vec![Violation::new("", message)])
}

/// The most bytes of one violation's message: a message quotes the offending value, which can be
/// megabytes (the reply itself keeps all of it).
pub(crate) const MAX_MESSAGE_BYTES: usize = 1_024;

/// `text` cut to at most `max` bytes (at a character boundary), saying how many bytes were cut.
pub(crate) fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let kept = text.get(..cut).unwrap_or_default();
    format!("{kept}… [cut {} bytes]", text.len() - cut).into()
}

/// What `shown` displays, cut to at most `max` bytes as [`clip`] cuts, without ever holding more
/// than that: a validation error formats the offending value, however large, on demand.
pub(crate) fn bounded(shown: &dyn fmt::Display, max: usize) -> String {
    let mut out = Bounded {
        kept: String::new(),
        max,
        cut: 0,
    };
    let _ = fmt::write(&mut out, format_args!("{shown}"));
    if out.cut > 0 {
        out.kept.push_str(&format!("… [cut {} bytes]", out.cut));
    }
    out.kept
}

/// A writer that keeps the first `max` bytes (whole characters) and counts the rest.
struct Bounded {
    kept: String,
    max: usize,
    cut: usize,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut == 0 {
            let room = self.max.saturating_sub(self.kept.len());
            if s.len() <= room {
                self.kept.push_str(s);
                return Ok(());
            }
            let mut end = room;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            self.kept.push_str(s.get(..end).unwrap_or_default());
            self.cut += s.len() - end;
        } else {
            self.cut += s.len();
        }
        Ok(())
    }
}

/// A request's own check (`ExtractRequest::validate_with`), its error text meant for the model. It
/// takes the value as `Any` so that the run holding it need not be generic; it was made for the
/// request's type and checks only that.
pub(crate) type Check<'a> = Box<dyn Fn(&dyn Any) -> Result<(), String> + Send + Sync + 'a>;

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

/// Whether a `null` can ever be removed by [`strip_added_nulls`]: whether some property of the
/// schema is optional and does not accept `null`. Most types have none (an `Option` accepts `null`),
/// and then their replies are not walked for it.
pub(crate) fn strips_nulls(original: &Value) -> bool {
    let mut stack = vec![original];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    let required: Vec<&str> = map
                        .get("required")
                        .and_then(Value::as_array)
                        .map(|r| r.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    let optional_not_null = props.iter().any(|(key, prop)| {
                        !required.contains(&key.as_str())
                            && resolve(prop, original).is_some_and(|p| !allows_null(p))
                    });
                    if optional_not_null {
                        return true;
                    }
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
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

fn resolve<'a>(schema: &'a Value, root: &'a Value) -> Option<&'a Value> {
    let mut current = schema;
    for _ in 0..16 {
        match current.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.strip_prefix("#/$defs/")?;
                current = root.get("$defs")?.get(name)?;
            }
            None => return Some(current),
        }
    }
    None
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
