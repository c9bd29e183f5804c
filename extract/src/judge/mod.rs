//! The judge: decides whether a reply's text is a valid `T`. In order: find and parse the JSON,
//! unwrap a wrapped root, validate against the full original schema (every error with its JSON path),
//! deserialize with serde, run the type's own `validate`. It knows nothing about HTTP.

pub(crate) mod locate;

use std::any::Any;

use serde_json::Value;

use crate::error::Violation;
use crate::schema::{allows_null, Prepared};
use crate::Extract;

/// How many errors one reply may report; past that, the first ones are enough to fix.
const MAX_ERRORS: usize = 50;

pub(crate) fn judge<T: Extract>(schema: &Prepared, text: &str) -> Result<T, Vec<Violation>> {
    let value = locate::locate(text).map_err(|message| vec![Violation::new("", message)])?;
    let (mut value, prefix) = unwrap(schema, value);
    strip_added_nulls(&mut value, &schema.original, &schema.original, 0);

    let validator = schema.validator.as_ref().map_err(|e| {
        vec![Violation::new(
            "",
            format!("the type's schema does not compile, so no reply can be checked: {e}"),
        )]
    })?;
    let errors: Vec<Violation> = validator
        .iter_errors(&value)
        .take(MAX_ERRORS)
        .map(|err| Violation::new(format!("{prefix}{}", err.instance_path()), err.to_string()))
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }

    let parsed: T = serde_path_to_error::deserialize(value).map_err(|err| {
        let path = pointer(err.path());
        vec![Violation::new(
            format!("{prefix}{path}"),
            err.into_inner().to_string(),
        )]
    })?;
    parsed
        .validate()
        .map_err(|message| vec![Violation::new(prefix.clone(), message)])?;
    Ok(parsed)
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
