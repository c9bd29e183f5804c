//! Rules about the whole type: which shapes a strict provider can be asked for, and attribute values
//! that the provider would reject at run time.

use crate::ast::{Container, Shape};
use crate::ctxt::Ctxt;

/// OpenAI's rule for `json_schema.name`, the strictest of the providers.
const NAME_MAX: usize = 64;

pub(crate) fn check(cx: &Ctxt, cont: &Container<'_>) {
    check_shape(cx, cont);
    check_name(cx, cont);
    check_partial_derive(cx, cont);
    if let Some(lifetime) = cont.input.generics.lifetimes().next() {
        cx.error_spanned_by(
            lifetime,
            "an `Extract` type owns its data (it is deserialized from a reply that is gone once \
             parsed); use `String` or `Vec<T>` instead of borrowed fields and remove the lifetime",
        );
    }
}

fn check_shape(cx: &Ctxt, cont: &Container<'_>) {
    match &cont.shape {
        Shape::NamedStruct => {}
        Shape::Enum { variants: 0 } => cx.error_spanned_by(
            cont.ident,
            "an enum with no variants has no value a model could produce; add at least one variant",
        ),
        Shape::Enum { .. } => {}
        Shape::TupleStruct(fields) => cx.error_spanned_by(
            fields,
            "a tuple struct becomes a JSON array of positional items, which strict structured \
             output cannot describe; give the fields names: `struct Name { field: Type }`",
        ),
        Shape::UnitStruct => cx.error_spanned_by(
            cont.ident,
            "a unit struct has no fields to extract; add named fields, or use an enum for a \
             classification",
        ),
        Shape::Union => cx.error_spanned_by(
            cont.ident,
            "a union cannot be deserialized by serde; use a struct with named fields or an enum",
        ),
    }
}

fn check_name(cx: &Ctxt, cont: &Container<'_>) {
    let (text, tokens): (String, &dyn quote::ToTokens) = match &cont.attrs.name {
        Some(attr) => (attr.value.value(), &attr.value),
        None => (cont.ident.to_string(), cont.ident),
    };
    let valid = !text.is_empty()
        && text.len() <= NAME_MAX
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        cx.error_spanned_by(
            tokens,
            format!(
                "`{text}` cannot be a schema name: providers accept 1 to {NAME_MAX} ASCII letters, \
                 digits, `_` or `-`; set one with `#[extract(name = \"...\")]`"
            ),
        );
    }
}

/// Only a struct with named fields has a partial struct to derive on; an enum is its own partial form.
fn check_partial_derive(cx: &Ctxt, cont: &Container<'_>) {
    let Some(attr) = &cont.attrs.partial_derive else {
        return;
    };
    let key = syn::Ident::new("partial_derive", attr.span);
    if matches!(cont.shape, Shape::Enum { .. }) {
        cx.error_spanned_by(
            key,
            "an enum is its own partial form (it appears once complete); derive the traits on the \
             enum itself",
        );
    } else if cont.input.generics.type_params().next().is_some()
        && attr.value.iter().any(|path| !crate::attr::is_clone(path))
    {
        // std's derives would bound `T`, not `T`'s partial form inside `Option<Vec<..>>`. `Clone`
        // is the derive's own impl, bounded on the fields' partial forms, so it is available.
        cx.error_spanned_by(
            key,
            "`partial_derive` is not available on a generic type beyond `Clone`: the derives \
             cannot bound the parameter's partial form; use it on the concrete types inside",
        );
    }
}
