//! `#[derive(Extract)]`: the compile-time half of the [`extract`](https://docs.rs/extract) crate.
//!
//! Use it through `extract::Extract`; this crate is an implementation detail whose version the runtime
//! pins exactly. The pipeline is visible in the modules: [`ast`] reads the input into a typed model,
//! [`attr`] parses `#[extract(...)]`, [`check`] applies the rules that span several attributes, and
//! [`expand`] writes the impl. Every error is collected in a [`ctxt::Ctxt`] and reported at once.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod partial;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `extract::Extract`; see the `extract` crate for the attributes.
#[proc_macro_derive(Extract, attributes(extract))]
pub fn derive_extract(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
