//! A typed model of the input: the container's attributes and, for each field that has a schema, the
//! Rust type the schema comes from.

use syn::{Data, DeriveInput, Fields, Ident, Type};

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
        }
    }
}
