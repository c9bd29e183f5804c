//! Code generation. Everything the impl needs is reached through `::extract::__private`, and the
//! generated items live in an anonymous `const _: () = { ... };` so nothing leaks into the user's
//! namespace. On any error the impl is still emitted (with defaults) beside the `compile_error!`s, so
//! one mistake does not cascade into "`Extract` is not implemented" at every use.
//!
//! Each requirement is checked where the user wrote the token it is about, with a message of its
//! own: a missing `Deserialize` or `JsonSchema` at the type's name, an unenforceable field at the
//! field's type, a bad `validate` at the path. The impl itself carries `Self: DeserializeOwned +
//! JsonSchema` as a where clause, so rustc does not also report `Extract`'s supertraits at the impl.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::DeriveInput;

use crate::ast::{Container, Shape};
use crate::check;
use crate::ctxt::Ctxt;
use crate::generics::{generics, Generics};
use crate::partial;

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let cont = Container::from_ast(&cx, input);
    check::check(&cx, &cont);
    match cx.check() {
        Ok(()) => impl_extract(&cont),
        Err(err) => {
            let errors = err.to_compile_error();
            let fallback = fallback(&cont);
            quote! { #errors #fallback }
        }
    }
}

fn impl_extract(cont: &Container<'_>) -> TokenStream {
    let ident = cont.ident;
    let name = match &cont.attrs.name {
        Some(attr) => attr.value.value(),
        None => ident.to_string(),
    };
    // Only what differs from the trait's defaults is emitted: each constant is one more item for
    // rustc to check in every derived type, and most types have neither a description nor
    // instructions. A named struct's schema is an object, so it is never wrapped and needs no key.
    let description = cont.attrs.description.as_ref().map(|attr| {
        let lit = &attr.value;
        quote!(const DESCRIPTION: ::core::option::Option<&'static str> = ::core::option::Option::Some(#lit);)
    });
    let instructions = cont.attrs.instructions.as_ref().map(|attr| {
        let lit = &attr.value;
        quote!(const INSTRUCTIONS: ::core::option::Option<&'static str> = ::core::option::Option::Some(#lit);)
    });
    let wrap_key = (!matches!(cont.shape, Shape::NamedStruct) || cont.transparent).then(|| {
        let key = snake_case(&ident.to_string());
        quote!(const WRAP_KEY: &'static str = #key;)
    });
    let validate = cont.attrs.validate.as_ref().map(|attr| {
        let path = &attr.value;
        let span = attr.span;
        quote_spanned! {span=>
            fn validate(&self) -> ::core::result::Result<(), ::extract::__private::String> {
                ::extract::__private::validate_with(self, #path)
            }
        }
    });
    let generics = generics(cont.input);
    // A struct's fields are checked by its partial type, whose fields are their partial forms. An
    // enum's appear only in assertions, one per field type, spanned at the type, so an
    // unenforceable field (a map, a `serde_json::Value`, a nested type that does not derive
    // `Extract`) is reported where it is written.
    let (partial, assertions) = match cont.shape {
        Shape::NamedStruct => (partial::for_struct(cont, &generics), None),
        _ => {
            let assertions = cont
                .schema_fields
                .iter()
                .map(|ty| assert_enforceable(ty))
                .chain(cont.schema_with.iter().map(assert_enforceable));
            let assertions = quote! {
                #[doc(hidden)]
                fn __assert_enforceable() {
                    #(#assertions)*
                }
            };
            (partial::for_enum(cont, &generics), Some(assertions))
        }
    };
    emit(
        cont,
        &generics,
        quote! {
            const NAME: &'static str = #name;
            #description
            #instructions
            #wrap_key
            #validate
            #assertions
        },
        partial,
    )
}

/// The `Extract` impl with `items` inside it, the `Enforceable` impl and its partial type
/// (`partial`), and the serde and schemars checks: the same frame for a successful derive and for
/// the fallback after an error.
fn emit(
    cont: &Container<'_>,
    generics: &Generics,
    items: TokenStream,
    partial: TokenStream,
) -> TokenStream {
    let ident = cont.ident;
    let Generics {
        impl_generics,
        ty_generics,
        extract_where,
        ..
    } = generics;
    let requirements = require_serde_and_schemars(cont);
    quote! {
        #[automatically_derived]
        const _: () = {
            impl #impl_generics ::extract::Extract for #ident #ty_generics #extract_where {
                #items
            }
            #partial
            #requirements
        };
    }
}

fn assert_enforceable(ty: &syn::Type) -> TokenStream {
    quote_spanned! {ty.span()=> ::extract::__private::assert_enforceable::<#ty>(); }
}

/// `Deserialize` and `JsonSchema` are checked at the type's name, one trait each, so a missing derive
/// is one error saying which derive to add. The impl's where clause holds them for `Extract`'s
/// supertraits, so they must be checked outside it. A generic type is checked where it is used with
/// concrete parameters: which bounds serde and schemars put on the parameters is theirs to decide.
///
/// The checks are function pointers that the `feed` of a type without parameters uses in place of
/// the traits (`__EXTRACT_SCHEMA` for a struct's keys, `__EXTRACT_PARSE` for an enum's value), so
/// its `Enforceable` impl needs no where clause: rustc proves an impl's where clauses at every use,
/// and this one is used wherever a field's partial form is named.
fn require_serde_and_schemars(cont: &Container<'_>) -> TokenStream {
    let ident = cont.ident;
    if !cont.input.generics.params.is_empty() {
        return TokenStream::new();
    }
    quote_spanned! {ident.span()=>
        #[allow(dead_code)]
        const __EXTRACT_PARSE: fn(&str) -> ::core::option::Option<#ident> =
            ::extract::__private::require_deserialize::<#ident>;
        #[allow(dead_code)]
        const __EXTRACT_SCHEMA: ::extract::__private::SchemaFn =
            ::extract::__private::require_json_schema::<#ident>;
    }
}

/// The impl a failed derive still emits: no assertions, default constants, a partial form that is
/// never filled. None for a union (serde cannot deserialize it) or a type with a lifetime (it cannot
/// be `'static`): there the impl would only add errors to the one already reported.
fn fallback(cont: &Container<'_>) -> TokenStream {
    if matches!(cont.shape, Shape::Union) || cont.input.generics.lifetimes().next().is_some() {
        return TokenStream::new();
    }
    let name = cont.ident.to_string();
    let generics = generics(cont.input);
    let partial = partial::fallback(cont, &generics);
    emit(
        cont,
        &generics,
        quote!(const NAME: &'static str = #name;),
        partial,
    )
}

/// `CalendarEvent` → `calendar_event`: the property an enum root is wrapped in.
fn snake_case(ident: &str) -> String {
    let ident = ident.strip_prefix("r#").unwrap_or(ident);
    let mut out = String::with_capacity(ident.len() + 4);
    let chars: Vec<char> = ident.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if i > 0 && (prev_lower || next_lower) && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_of_type_names() {
        assert_eq!(snake_case("Sentiment"), "sentiment");
        assert_eq!(snake_case("CalendarEvent"), "calendar_event");
        assert_eq!(snake_case("HTTPStatus"), "http_status");
        assert_eq!(snake_case("Level2Item"), "level2_item");
    }
}
