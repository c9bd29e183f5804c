//! Which field of a derived struct an object key belongs to, for the generated `feed`. The keys are
//! the names of the struct's schema's `properties`, read from schemars once per type, so serde and
//! schemars alone decide what `rename`, `rename_all`, `skip` and `flatten` mean.
//!
//! The derive lists the fields that have a property, in declaration order; schemars writes the
//! properties in the same order (the workspace enables its `preserve_order`). Where the two lists do
//! not line up one to one, no key is recognised rather than a wrong one: the struct's own fields then
//! stay `None` while it streams, and the complete value still arrives when the reply ends.

use std::any::TypeId;
use std::collections::{HashMap, HashSet};
use std::sync::{OnceLock, RwLock};

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::Value;

use super::json::{Event, Seg};

/// A type's schema, as `JsonSchema::json_schema` gives it.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// Where an event about a field goes: the struct's partial, the field's position among the fields
/// the derive listed, and the path below the field.
type Route<'s, 'p, P> = Option<(&'s mut P, usize, &'p [Seg])>;

/// Where an event of a struct with flattened fields goes: the partial, and the own field with the
/// path below it, or `None` for the flattened fields.
type FlatRoute<'s, 'p, P> = Option<(&'s mut P, Option<(usize, &'p [Seg])>)>;

/// The keys of one struct's fields, read on first use.
///
/// The derive puts one in a `static` inside the struct's `feed`, so a lookup costs one atomic load
/// and a scan of a few short strings. One per definition serves every instantiation of a generic
/// struct: a field's key comes from its attributes, never from a type parameter. (Only a flattened
/// field's keys depend on its type; those structs go through [`route_flattened`].)
pub struct Keys(OnceLock<Option<Box<[Box<str>]>>>);

impl Keys {
    /// Keys not read yet.
    #[allow(clippy::new_without_default)] // used in a `static`, which needs a `const fn`
    pub const fn new() -> Self {
        Keys(OnceLock::new())
    }

    /// Routes one event of the struct whose schema `schema` gives, which has `fields` properties: an
    /// `Open` of the struct itself creates its partial; an event under a known key returns the field
    /// to feed. Unknown keys and anything else are ignored.
    #[inline(never)]
    pub fn route<'s, 'p, P: Default>(
        &self,
        schema: SchemaFn,
        slot: &'s mut Option<P>,
        at: &'p [Seg],
        event: &Event<'_>,
        fields: usize,
    ) -> Route<'s, 'p, P> {
        match at.split_first() {
            None => {
                if let Event::Open = event {
                    slot.get_or_insert_with(P::default);
                }
                None
            }
            Some((Seg::Key(key), rest)) => {
                let keys = self.0.get_or_init(|| own_keys(schema, fields, &[]));
                let index = position(keys.as_deref()?, key)?;
                Some((slot.get_or_insert_with(P::default), index, rest))
            }
            Some((Seg::Index(_), _)) => None,
        }
    }
}

/// Routes one event of a struct `T` with flattened fields, whose properties sit beside its own
/// `fields` properties. The struct's own keys are its properties less those the flattened types'
/// schemas claim (`flattened`, one per flattened field). Returns the partial with `Some` field for
/// an event under one of its own keys, and `None` for every other event about the struct or below
/// it, which the derive passes unchanged to each flattened field: a flattened struct picks out its
/// own keys, and a flattened enum is read from the whole object when it closes.
#[inline(never)]
pub fn route_flattened<'s, 'p, T, P>(
    slot: &'s mut Option<P>,
    at: &'p [Seg],
    event: &Event<'_>,
    fields: usize,
    flattened: &[SchemaFn],
) -> FlatRoute<'s, 'p, P>
where
    T: JsonSchema + ?Sized + 'static,
    P: Default,
{
    match at.split_first() {
        None => {
            if let Event::Open = event {
                slot.get_or_insert_with(P::default);
            }
            slot.as_mut().map(|partial| (partial, None))
        }
        Some((Seg::Key(key), rest)) => {
            let own = flattened_keys::<T>(fields, flattened).and_then(|keys| position(keys, key));
            Some((slot.get_or_insert_with(P::default), own.map(|i| (i, rest))))
        }
        Some((Seg::Index(_), _)) => None,
    }
}

fn position(keys: &[Box<str>], key: &str) -> Option<usize> {
    keys.iter().position(|k| **k == *key)
}

/// The own keys of a struct with flattened fields, per type: they depend on the flattened types,
/// which may be type parameters, so one cache per definition would not do.
fn flattened_keys<T: JsonSchema + ?Sized + 'static>(
    fields: usize,
    flattened: &[SchemaFn],
) -> Option<&'static [Box<str>]> {
    type Cache = RwLock<HashMap<TypeId, Option<&'static [Box<str>]>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = TypeId::of::<T>();
    if let Some(found) = cache.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return *found;
    }
    // Leaked once per type, like a `static`: a few short strings, kept for the life of the process.
    let built = own_keys(T::json_schema, fields, flattened).map(|keys| &*Box::leak(keys));
    *cache
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(id)
        .or_insert(built)
}

/// The names of the properties of the struct whose schema `schema` gives that belong to no
/// flattened field, in order; `None` unless there are exactly `fields` of them.
fn own_keys(schema: SchemaFn, fields: usize, flattened: &[SchemaFn]) -> Option<Box<[Box<str>]>> {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let schema = schema(&mut generator);
    let mut claimed = HashSet::new();
    for schema_of in flattened {
        let flat = schema_of(&mut generator);
        claim(
            flat.as_value(),
            &generator,
            &mut claimed,
            &mut HashSet::new(),
        );
    }
    let properties = schema.get("properties")?.as_object()?;
    let own: Box<[Box<str>]> = properties
        .keys()
        .filter(|key| !claimed.contains(key.as_str()))
        .map(|key| key.as_str().into())
        .collect();
    (own.len() == fields).then_some(own)
}

/// Collects every property name a flattened schema can contribute: its `properties`, those of the
/// alternatives it combines, and those of the definitions it refers to.
fn claim(
    schema: &Value,
    generator: &SchemaGenerator,
    claimed: &mut HashSet<String>,
    seen: &mut HashSet<String>,
) {
    let Some(object) = schema.as_object() else {
        return;
    };
    if let Some(properties) = object.get("properties").and_then(Value::as_object) {
        claimed.extend(properties.keys().cloned());
    }
    for combinator in ["allOf", "anyOf", "oneOf"] {
        for alternative in object
            .get(combinator)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            claim(alternative, generator, claimed, seen);
        }
    }
    let prefix = format!("#{}/", generator.settings().definitions_path);
    if let Some(name) = object
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(&prefix))
    {
        let name = name.replace("~1", "/").replace("~0", "~");
        if seen.insert(name.clone()) {
            if let Some(definition) = generator.definitions().get(&name) {
                claim(definition, generator, claimed, seen);
            }
        }
    }
}
