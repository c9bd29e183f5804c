//! Schemas, computed once per type and process: the schemars original (what replies are validated
//! against), the lowered form a provider enforces, its serialization, and the compiled validator.

mod instructions;
mod lower;
#[cfg(test)]
mod lower_props;
mod problems;

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use crate::error::Error;

use serde_json::value::RawValue;
use serde_json::Value;

pub use crate::vocab::{Limit, Target};
pub(crate) use instructions::{default_instructions, schema_instructions};
pub(crate) use lower::allows_null;
// Lowering on its own is reached only by the benchmarks' hooks (`crate::__bench`).
#[cfg(feature = "__bench")]
pub(crate) use lower::{lower, Refs};
pub use problems::{problems, Problem};

use crate::Extract;

/// Everything derived from a type's schema; built on first use and kept for the life of the process.
pub(crate) struct Prepared {
    pub(crate) name: &'static str,
    pub(crate) description: Option<&'static str>,
    pub(crate) instructions: Option<&'static str>,
    /// The instructions sent when neither the request nor the type gives any.
    pub(crate) default_instructions: String,
    /// The schemars schema, with `$defs`: the whole truth, including what strict mode cannot express.
    pub(crate) original: Value,
    /// The strict schema sent to providers that understand `$ref`.
    pub(crate) strict: Value,
    /// The strict schema with every non-recursive definition inlined (Ollama and friends).
    pub(crate) inlined: Value,
    /// `strict`, serialized once: request bodies splice it in rather than serialize it per call.
    pub(crate) strict_json: Box<RawValue>,
    /// `inlined`, serialized once.
    pub(crate) inlined_json: Box<RawValue>,
    /// `strict` with `minLength` and `maxLength` kept, serialized, for the grammar-constrained
    /// decoders that enforce them; `None` when the type has no string lengths.
    pub(crate) lengths_json: Option<Box<RawValue>>,
    /// `Some(key)` when the root is not an object and travels as `{key: value}`.
    pub(crate) wrap_key: Option<&'static str>,
    /// The validator of `original`, for replies read into the judge's light tree.
    pub(crate) validator: Result<jsonschema::Validator<crate::judge::Tree>, String>,
    /// Whether replies may hold a `null` the judge must remove (an optional property that does not
    /// accept `null`, which lowering made nullable); when not, replies are not walked for it.
    pub(crate) strips_nulls: bool,
    /// The first of OpenAI's strict-mode size limits `strict` is over, judged on first use: once
    /// per type and target for the life of the process (the only target with size limits).
    openai_limit: OnceLock<Option<(Limit, Problem)>>,
}

impl Prepared {
    /// Refuses a schema over a size limit of `target` before anything is sent: the provider would
    /// reject the request, and every reask with it. Judged once per type and target.
    pub(crate) fn check_limits(&self, target: Target) -> Result<(), Error> {
        let over = match target {
            Target::OpenAi => self
                .openai_limit
                .get_or_init(|| problems::first_limit(&self.strict, target))
                .as_ref(),
            // No size limits are documented for it.
            Target::NoRefs => None,
        };
        match over {
            None => Ok(()),
            Some((limit, problem)) => Err(Error::SchemaLimit {
                schema: self.name,
                target,
                limit: *limit,
                path: problem.path.clone(),
                message: problem.message.clone(),
            }),
        }
    }
}

type Cache = RwLock<HashMap<TypeId, &'static Prepared>>;

/// How many types a thread remembers without asking the process-wide cache: a program extracts a
/// handful of types, and a hit then costs neither a lock nor a hash.
const LOCAL_TYPES: usize = 16;

thread_local! {
    static LOCAL: RefCell<Vec<(TypeId, &'static Prepared)>> = const { RefCell::new(Vec::new()) };
}

/// The prepared schemas of `T`, computed once per process and kept for its life (so they are lent as
/// `&'static`, with no count to keep: every request of every thread reads them).
pub(crate) fn prepared<T: Extract>() -> &'static Prepared {
    let id = TypeId::of::<T>();
    let local = LOCAL
        .try_with(|local| {
            let local = local.borrow();
            local.iter().find(|(t, _)| *t == id).map(|(_, p)| *p)
        })
        .ok()
        .flatten();
    if let Some(found) = local {
        return found;
    }
    let found = shared::<T>(id);
    let _ = LOCAL.try_with(|local| {
        let mut local = local.borrow_mut();
        if local.len() < LOCAL_TYPES {
            local.push((id, found));
        }
    });
    found
}

fn shared<T: Extract>(id: TypeId) -> &'static Prepared {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return found;
    }
    // Built outside the lock: two threads may race to build it once each; the first insert wins,
    // and only it is kept.
    let built = build::<T>();
    cache
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(id)
        .or_insert_with(|| Box::leak(Box::new(built)))
}

pub(crate) fn build<T: Extract>() -> Prepared {
    let original = original_schema::<T>();
    let (mut strict, wrapped) = lower::lower(&original, T::WRAP_KEY, lower::Refs::Keep);
    let (mut inlined, _) = lower::lower(&original, T::WRAP_KEY, lower::Refs::Inline);
    let (mut lengths, _) = lower::lower_keeping(
        &original,
        T::WRAP_KEY,
        lower::Refs::Keep,
        lower::Lengths::Keep,
    );
    // The wrapper is the root the provider sees: the type's description goes on it too, so that it
    // reaches the model in every mode (a list of a described type, an enum), not only where the API
    // has a field for it.
    if let (true, Some(description)) = (wrapped, T::DESCRIPTION) {
        for schema in [&mut strict, &mut inlined, &mut lengths] {
            if let Value::Object(root) = schema {
                root.insert("description".into(), description.into());
            }
        }
    }
    let validator = jsonschema::options_for::<crate::judge::Tree>()
        .build(&original)
        .map_err(|e| e.to_string());
    let strips_nulls = strips_nulls(&original);
    Prepared {
        strict_json: raw(&strict),
        inlined_json: raw(&inlined),
        lengths_json: (lengths != strict).then(|| raw(&lengths)),
        name: T::NAME,
        description: T::DESCRIPTION,
        instructions: T::INSTRUCTIONS,
        default_instructions: default_instructions(T::NAME, T::DESCRIPTION, &strict),
        original,
        strict,
        inlined,
        wrap_key: wrapped.then_some(T::WRAP_KEY),
        validator,
        strips_nulls,
        openai_limit: OnceLock::new(),
    }
}

/// A schema as compact JSON. Serializing a `Value` cannot fail (its keys are strings), so the
/// fallback, `true`, is never sent.
fn raw(schema: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(schema).unwrap_or_else(|_| RawValue::TRUE.to_owned())
}

/// The schemars schema of `T` (JSON Schema 2020-12, definitions under `$defs`, properties in
/// declaration order).
pub fn original_schema<T: schemars::JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    generator.into_root_schema_for::<T>().into()
}

/// The schema `extract` sends for `T` in the `JsonSchema` mode: strict, closed, every property
/// required, wrapped in an object when `T` is not one. Useful for snapshots and for reading what the
/// model will be held to.
pub fn strict_schema<T: Extract>() -> Value {
    prepared::<T>().strict.clone()
}
pub(crate) fn resolve<'a>(schema: &'a Value, root: &'a Value) -> Option<&'a Value> {
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
