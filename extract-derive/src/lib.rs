//! `#[derive(Extract)]`: the compile-time half of the [`extract`](https://docs.rs/extract) crate.
//!
//! Use it through `extract::Extract`; this crate is an implementation detail whose version the runtime
//! pins exactly. The pipeline is visible in the modules (plain names: they are private):
//!
//! - `ast`: reads the input into a typed model of the container and its fields.
//! - `attr`: parses `#[extract(...)]`, and the serde and schemars field attributes that matter.
//! - `check`: applies the rules that span several attributes or the whole type.
//! - `expand`: writes the `Extract` impl, or a fallback one beside the errors.
//! - `partial`: writes the `Enforceable` impl and a struct's partial companion type.
//! - `generics`: the input's generics and where clauses, shared by `expand` and `partial`.
//! - `ctxt`: collects every error in a `ctxt::Ctxt`, so that all are reported at once.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod generics;
mod partial;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `extract::Extract`; see the `extract` crate for the attributes.
#[proc_macro_derive(Extract, attributes(extract))]
pub fn derive_extract(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
