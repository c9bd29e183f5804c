//! The input's generics as the emitted impls need them: the parameters, the `Enforceable` where
//! clause every impl shares, and the `Extract` impl's own. Shared by `expand` and `partial`, which
//! is why it lives in neither.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, GenericParam};

/// A type without parameters is left out of the "other types implement `Enforceable`" list of an
/// error about another field; a generic one stays, so an error inside `Page<HashMap<..>>` goes on
/// to name the map.
pub(crate) fn do_not_recommend(generics: &Generics) -> TokenStream {
    if generics.is_generic {
        TokenStream::new()
    } else {
        quote!(#[diagnostic::do_not_recommend])
    }
}

/// The input's generics, written out once for every impl the derive emits.
pub(crate) struct Generics {
    /// The input's parameters with their bounds and defaults, for the partial struct's definition.
    pub(crate) params: TokenStream,
    pub(crate) impl_generics: TokenStream,
    pub(crate) ty_generics: TokenStream,
    /// The `Extract` impl's where clause: the `Enforceable` one plus `Extract`'s supertraits.
    pub(crate) extract_where: TokenStream,
    /// The input's where clause with `Param: ::extract::Enforceable + 'static` for every type
    /// parameter, as serde adds `Deserialize` bounds: a `Page<T>` is enforceable when its `T` is.
    pub(crate) enforceable: syn::WhereClause,
    pub(crate) is_generic: bool,
}

impl Generics {
    /// The `Enforceable` where clause with `extra` predicates added: written out as tokens, not
    /// parsed back into syn's tree, which the derive would do for every field of every type.
    pub(crate) fn enforceable_where(&self, extra: &[TokenStream]) -> TokenStream {
        let own = self.enforceable.predicates.iter();
        if self.enforceable.predicates.is_empty() && extra.is_empty() {
            TokenStream::new()
        } else {
            quote!(where #(#own,)* #(#extra,)*)
        }
    }
}

pub(crate) fn generics(input: &DeriveInput) -> Generics {
    let ident = &input.ident;
    let mut generics = input.generics.clone();
    let params: Vec<_> = generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.clone()),
            _ => None,
        })
        .collect();
    let is_generic = !params.is_empty();
    let where_clause = generics.make_where_clause();
    for param in &params {
        // `'static` because a partial form is: a `Page<T>`'s holds `T`'s.
        where_clause
            .predicates
            .push(syn::parse_quote!(#param: ::extract::Enforceable + 'static));
    }
    let enforceable = where_clause.clone();
    let (impl_generics, ty_generics, _) = generics.split_for_impl();

    // `Extract: Enforceable<Partial: Send> + DeserializeOwned + JsonSchema + Send + 'static`. Stating
    // the middle ones here means a missing derive is reported once, by `require_serde_and_schemars`,
    // not a second time by rustc at the impl, and a field that is not enforceable once, at the
    // field, not again by the partial form around it. The binder keeps the bounds from being
    // "trivially false" on a type without parameters, which rustc would reject at the impl too.
    // `Send` and `'static` are left to rustc's own supertrait check (its message names the field
    // that is not `Send`), except on a generic type, whose parameters they constrain.
    let mut extract_generics = generics.clone();
    let where_clause = extract_generics.make_where_clause();
    where_clause.predicates.push(syn::parse_quote! {
        for<'__extract> #ident #ty_generics: ::extract::__private::DeserializeOwned
            + ::extract::__private::JsonSchema
    });
    where_clause.predicates.push(syn::parse_quote! {
        for<'__extract> <#ident #ty_generics as ::extract::Enforceable>::Partial: ::core::marker::Send
    });
    if is_generic {
        where_clause
            .predicates
            .push(syn::parse_quote!(#ident #ty_generics: ::core::marker::Send + 'static));
    }
    let extract_where = quote!(#where_clause);
    let params = &input.generics;

    Generics {
        params: quote!(#params),
        impl_generics: quote!(#impl_generics),
        ty_generics: quote!(#ty_generics),
        extract_where,
        enforceable,
        is_generic,
    }
}
