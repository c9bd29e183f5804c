//! Code generation. Everything the impl needs is reached through `::extract::__private`, and the
//! generated items live in an anonymous `const _: () = { ... };` so nothing leaks into the user's
//! namespace. On any error the impl is still emitted (with defaults) beside the `compile_error!`s, so
//! one mistake does not cascade into "`Extract` is not implemented" at every use.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, GenericParam};

use crate::ast::Container;
use crate::ctxt::Ctxt;
use crate::check;

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
    let wrap_key = snake_case(&ident.to_string());
    let description = option_str(cont.attrs.description.as_ref().map(|a| &a.value));
    let instructions = option_str(cont.attrs.instructions.as_ref().map(|a| &a.value));
    let validate = cont.attrs.validate.as_ref().map(|attr| {
        let path = &attr.value;
        let span = attr.span;
        quote_spanned! {span=>
            fn validate(&self) -> ::core::result::Result<(), ::extract::__private::String> {
                ::extract::__private::validate_with(self, #path)
            }
        }
    });
    // One assertion per field type, spanned at the type, so an unenforceable field (a map, a
    // `serde_json::Value`, a nested type that does not derive `Extract`) is reported where it is written.
    let assertions = cont.schema_fields.iter().map(|ty| assert_enforceable(ty)).chain(
        cont.schema_with.iter().map(assert_enforceable),
    );
    let (impl_generics, ty_generics, where_clause) = split_with_bounds(cont.input);
    quote! {
        #[automatically_derived]
        const _: () = {
            impl #impl_generics ::extract::Extract for #ident #ty_generics #where_clause {
                const NAME: &'static str = #name;
                const DESCRIPTION: ::core::option::Option<&'static str> = #description;
                const INSTRUCTIONS: ::core::option::Option<&'static str> = #instructions;
                const WRAP_KEY: &'static str = #wrap_key;
                #validate
                #[doc(hidden)]
                fn __assert_enforceable() {
                    ::extract::__private::require_serde_and_schemars::<Self>();
                    #(#assertions)*
                }
            }
            impl #impl_generics ::extract::Enforceable for #ident #ty_generics #where_clause {}
        };
    }
}

fn assert_enforceable(ty: &syn::Type) -> TokenStream {
    quote_spanned! {ty.span()=> ::extract::__private::assert_enforceable::<#ty>(); }
}

/// The impl a failed derive still emits: no assertions, default constants.
fn fallback(cont: &Container<'_>) -> TokenStream {
    let ident = cont.ident;
    let (impl_generics, ty_generics, where_clause) = split_with_bounds(cont.input);
    let name = ident.to_string();
    quote! {
        #[automatically_derived]
        const _: () = {
            impl #impl_generics ::extract::Extract for #ident #ty_generics #where_clause {
                const NAME: &'static str = #name;
            }
            impl #impl_generics ::extract::Enforceable for #ident #ty_generics #where_clause {}
        };
    }
}

/// The input's generics with `Param: ::extract::Enforceable` added for every type parameter, as serde
/// adds `Deserialize` bounds: a `Page<T>` is enforceable when its `T` is.
fn split_with_bounds(
    input: &DeriveInput,
) -> (TokenStream, TokenStream, TokenStream) {
    let mut generics = input.generics.clone();
    let params: Vec<_> = generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.clone()),
            _ => None,
        })
        .collect();
    if !params.is_empty() {
        let where_clause = generics.make_where_clause();
        for param in params {
            where_clause.predicates.push(syn::parse_quote!(#param: ::extract::Enforceable));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    (quote!(#impl_generics), quote!(#ty_generics), quote!(#where_clause))
}

fn option_str(lit: Option<&syn::LitStr>) -> TokenStream {
    match lit {
        Some(lit) => quote!(::core::option::Option::Some(#lit)),
        None => quote!(::core::option::Option::None),
    }
}

/// `CalendarEvent` → `calendar_event`: the property an enum root is wrapped in.
fn snake_case(ident: &str) -> String {
    let ident = ident.strip_prefix("r#").unwrap_or(ident);
    let mut out = String::with_capacity(ident.len() + 4);
    let chars: Vec<char> = ident.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
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
