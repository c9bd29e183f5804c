//! What the derive's generated code reaches; not a public API.
//!
//! Each requirement of the derive is a trait of its own with its own message, checked where the
//! user wrote the offending token, so that a mistake yields one error that says what to write.

pub use schemars::JsonSchema;
pub use serde::de::DeserializeOwned;
pub use std::string::String;

pub use crate::stream::keys::{route_flattened, Keys, SchemaFn};

use crate::Enforceable;

pub fn assert_enforceable<T: Enforceable + ?Sized>() {}

/// `(&Probe(value)).fmt_probe(f)` prints `value` with `Debug` where its type has it, and `..`
/// where it does not: method resolution picks [`ViaDebug`] first and falls back to
/// [`ViaOpaque`] through one more reference. Decided where the type is concrete, so the
/// derive uses it for an enum without parameters (whose partial form is the enum itself).
pub struct Probe<'a, T>(pub &'a T);

pub trait ViaDebug {
    fn fmt_probe(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
}

impl<T: core::fmt::Debug> ViaDebug for Probe<'_, T> {
    fn fmt_probe(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.0, f)
    }
}

pub trait ViaOpaque {
    fn fmt_probe(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result;
}

impl<T> ViaOpaque for &Probe<'_, T> {
    fn fmt_probe(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("..")
    }
}

/// A partial form's `Debug`: one call with the field names and values, which costs the
/// compiler less in every derived type than a builder call per field.
pub fn debug_partial(
    f: &mut core::fmt::Formatter<'_>,
    name: &str,
    names: &[&str],
    values: &[&dyn core::fmt::Debug],
) -> core::fmt::Result {
    let mut out = f.debug_struct(name);
    for (name, value) in names.iter().zip(values) {
        out.field(name, value);
    }
    out.finish()
}

#[diagnostic::on_unimplemented(
    message = "`#[derive(Extract)]` needs `{Self}` to implement `serde::Deserialize`",
    label = "add `#[derive(serde::Deserialize)]` to this type",
    note = "`Extract` reads the model's reply through serde, so serde's attributes (`rename`, `default`, ...) keep their meaning"
)]
pub trait DerivesDeserialize: Sized {
    fn parse(raw: &str) -> Option<Self>;
}
#[diagnostic::do_not_recommend]
impl<T: DeserializeOwned> DerivesDeserialize for T {
    fn parse(raw: &str) -> Option<T> {
        serde_json::from_str(raw).ok()
    }
}
/// The derive's check that the type derives `Deserialize`, made where the user wrote the type's
/// name; as a function pointer it also parses an enum's complete JSON for its partial form, so
/// that the enum's `feed` needs no `Deserialize` bound of its own.
pub fn require_deserialize<T: DerivesDeserialize>(raw: &str) -> Option<T> {
    T::parse(raw)
}

#[diagnostic::on_unimplemented(
    message = "`#[derive(Extract)]` needs `{Self}` to implement `schemars::JsonSchema`",
    label = "add `#[derive(schemars::JsonSchema)]` to this type",
    note = "`Extract` sends the schema schemars generates, so doc comments and schemars' attributes keep their meaning"
)]
pub trait DerivesJsonSchema {
    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
}
#[diagnostic::do_not_recommend]
impl<T: JsonSchema + ?Sized> DerivesJsonSchema for T {
    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}
/// The derive's check that the type derives `JsonSchema`, made where the user wrote the type's
/// name; as a function pointer it is also the schema a struct's `feed` reads its keys from.
///
/// A `feed` that named `Self: JsonSchema` instead would need it as a where clause on the
/// `Enforceable` impl (or report a missing derive twice), and rustc proves an impl's where
/// clauses each time it uses the impl: for every mention of a field's partial form in every
/// type, which made a quarter of the derive's build time.
pub fn require_json_schema<T: DerivesJsonSchema + ?Sized>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    T::schema(generator)
}

pub use crate::stream::{feed_parsed, DebugWith};

/// A function usable as `#[extract(validate = ...)]`: `fn(&T) -> Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "`validate` must name a function `fn(&{T}) -> Result<(), E>` where `E: Display`",
    label = "expected `fn(&{T}) -> Result<(), E>`",
    note = "for example `fn check(value: &{T}) -> Result<(), String>`; the error text is sent back to the model"
)]
pub trait Validator<T> {
    fn run(&self, value: &T) -> Result<(), String>;
}
#[diagnostic::do_not_recommend]
impl<T, F, E> Validator<T> for F
where
    F: Fn(&T) -> Result<(), E>,
    E: std::fmt::Display,
{
    fn run(&self, value: &T) -> Result<(), String> {
        self(value).map_err(|e| e.to_string())
    }
}

/// Runs a user's `validate` function and turns its error into the text sent to the model.
pub fn validate_with<T, F: Validator<T>>(value: &T, check: F) -> Result<(), String> {
    check.run(value)
}
