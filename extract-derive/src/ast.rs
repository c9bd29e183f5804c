//! A typed model of the input: the container's attributes and, for each field that has a schema, the
//! Rust type the schema comes from.

use proc_macro2::Span;
use quote::ToTokens;
use syn::{Attribute, Data, DeriveInput, Fields, Ident, Type};

use crate::attr::{self, SchemaSource};
use crate::ctxt::Ctxt;

pub(crate) struct Container<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) input: &'a DeriveInput,
    pub(crate) attrs: attr::Container,
    pub(crate) shape: Shape<'a>,
    /// Every field, of the struct or of any variant, whose type determines part of the schema.
    pub(crate) schema_fields: Vec<&'a Type>,
    /// Types named by `#[schemars(with = "...")]`, checked in place of the field's own type.
    pub(crate) schema_with: Vec<Type>,
    /// For a struct with named fields: each field that has a property in the schema, in declaration
    /// order (the order of the schema's `properties`).
    pub(crate) fields: Vec<Field<'a>>,
    /// `#[serde(transparent)]`: the struct's JSON is its one field's.
    pub(crate) transparent: bool,
}

/// A field of a struct with named fields that appears in the schema.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) docs: Vec<&'a Attribute>,
    /// The type its schema and its partial come from: the field's own, or `with`'s. `None` for a
    /// `schema_with` function, whose schema the derive cannot see: the field has a property but no
    /// partial.
    pub(crate) ty: Option<Type>,
    /// The spans of `ty`'s first and last tokens, found once: tokens generated around the type take
    /// them, so that an error about it spans exactly the type as written.
    pub(crate) edges: (Span, Span),
    /// `#[serde(flatten)]`: its properties sit beside the container's own.
    pub(crate) flatten: bool,
}

pub(crate) enum Shape<'a> {
    NamedStruct,
    TupleStruct(&'a Fields),
    UnitStruct,
    Enum { variants: usize },
    Union,
}

impl<'a> Container<'a> {
    pub(crate) fn from_ast(cx: &Ctxt, input: &'a DeriveInput) -> Self {
        let attrs = attr::Container::from_ast(cx, &input.attrs);
        let mut schema_fields = Vec::new();
        let mut schema_with = Vec::new();
        let mut named = Vec::new();
        let mut collect = |cx: &Ctxt, fields: &'a Fields| {
            for field in fields {
                attr::reject_inner(cx, &field.attrs, "field");
                let source = SchemaSource::from_ast(&field.attrs);
                if source.skipped || source.custom {
                    continue;
                }
                match source.with {
                    Some(ty) => schema_with.push(ty),
                    None => schema_fields.push(&field.ty),
                }
            }
        };
        let shape = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(_) => {
                    collect(cx, &data.fields);
                    named = data.fields.iter().filter_map(Field::from_ast).collect();
                    Shape::NamedStruct
                }
                Fields::Unnamed(_) => Shape::TupleStruct(&data.fields),
                Fields::Unit => Shape::UnitStruct,
            },
            Data::Enum(data) => {
                for variant in &data.variants {
                    attr::reject_inner(cx, &variant.attrs, "variant");
                    if !SchemaSource::from_ast(&variant.attrs).skipped {
                        collect(cx, &variant.fields);
                    }
                }
                Shape::Enum {
                    variants: data.variants.len(),
                }
            }
            Data::Union(_) => Shape::Union,
        };
        Container {
            ident: &input.ident,
            input,
            attrs,
            shape,
            schema_fields,
            schema_with,
            fields: named,
            transparent: attr::is_transparent(&input.attrs),
        }
    }
}

impl<'a> Field<'a> {
    fn from_ast(field: &'a syn::Field) -> Option<Self> {
        let source = SchemaSource::from_ast(&field.attrs);
        if source.skipped {
            return None;
        }
        let ty = match (source.custom, source.with) {
            (true, _) => None,
            (false, Some(with)) => Some(with),
            (false, None) => Some(field.ty.clone()),
        };
        let edges = ty
            .as_ref()
            .map_or((Span::call_site(), Span::call_site()), edges);
        Some(Field {
            ident: field.ident.as_ref()?,
            edges,
            docs: field
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("doc"))
                .collect(),
            ty,
            flatten: source.flatten,
        })
    }
}

/// The spans of a type's first and last tokens.
fn edges(ty: &Type) -> (Span, Span) {
    let mut tokens = ty.to_token_stream().into_iter();
    let lo = tokens.next().map_or_else(Span::call_site, |t| t.span());
    let hi = tokens.last().map_or(lo, |t| t.span());
    (lo, hi)
}
