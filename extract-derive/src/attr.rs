//! `#[extract(...)]` on the container, read with one `parse_nested_meta` loop, plus the few serde and
//! schemars field attributes that change which Rust type a field's schema comes from.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, LitStr, Path};

use crate::ctxt::Ctxt;

/// A value together with the span of the key that set it, so a duplicate can point at both.
pub(crate) struct Attr<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

#[derive(Default)]
pub(crate) struct Container {
    pub(crate) name: Option<Attr<LitStr>>,
    pub(crate) description: Option<Attr<LitStr>>,
    pub(crate) instructions: Option<Attr<LitStr>>,
    pub(crate) validate: Option<Attr<Path>>,
    /// `partial_derive(Clone, PartialEq, serde::Serialize)`: traits the partial struct implements,
    /// beyond the `Debug` and `Default` it always has.
    pub(crate) partial_derive: Option<Attr<Vec<Path>>>,
}

const CONTAINER_KEYS: &str = "`name`, `description`, `instructions`, `validate`, `partial_derive`";

/// What the partial struct implements without being asked.
const PARTIAL_ALWAYS: &[&str] = &["Debug", "Default"];

impl Container {
    pub(crate) fn from_ast(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = Container::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("extract")) {
            let result = attr.parse_nested_meta(|meta| {
                let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
                match key.as_str() {
                    "name" => set(cx, &meta, &mut out.name, "name", |m| m.value()?.parse()),
                    "description" => {
                        set(cx, &meta, &mut out.description, "description", |m| m.value()?.parse())
                    }
                    "instructions" => {
                        set(cx, &meta, &mut out.instructions, "instructions", |m| m.value()?.parse())
                    }
                    "validate" => set(cx, &meta, &mut out.validate, "validate", parse_path),
                    "partial_derive" => set(
                        cx,
                        &meta,
                        &mut out.partial_derive,
                        "partial_derive",
                        |m| parse_derives(cx, m),
                    ),
                    _ => {
                        cx.error_spanned_by(
                            &meta.path,
                            format!(
                                "unknown `extract` attribute `{}`; expected one of {CONTAINER_KEYS}",
                                path_text(&meta.path)
                            ),
                        );
                        skip_value(&meta)
                    }
                }
            });
            if let Err(err) = result {
                cx.syn_error(err);
            }
        }
        out
    }
}

/// Field and variant attributes of `extract` do not exist yet; say so where they are written.
pub(crate) fn reject_inner(cx: &Ctxt, attrs: &[Attribute], what: &str) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("extract")) {
        cx.error_spanned_by(
            attr,
            format!(
                "`#[extract(...)]` goes on the type, not on a {what}; field names, descriptions and \
                 renames come from serde and schemars attributes and doc comments"
            ),
        );
    }
}

/// What serde and schemars say about the schema of one field or variant.
#[derive(Default)]
pub(crate) struct SchemaSource {
    /// `#[serde(skip)]`, `#[serde(skip_deserializing)]` or `#[schemars(skip)]`: no schema at all.
    pub(crate) skipped: bool,
    /// `#[schemars(with = "Type")]`: the schema is `Type`'s, not the field's.
    pub(crate) with: Option<syn::Type>,
    /// `#[schemars(schema_with = ...)]`: a hand-written schema the derive cannot see into.
    pub(crate) custom: bool,
    /// `#[serde(flatten)]`: the field's properties are merged into the container's, so the
    /// container's properties no longer line up one to one with its fields.
    pub(crate) flatten: bool,
}

impl SchemaSource {
    pub(crate) fn from_ast(attrs: &[Attribute]) -> Self {
        let mut out = SchemaSource::default();
        for attr in attrs {
            let is_serde = attr.path().is_ident("serde");
            let is_schemars = attr.path().is_ident("schemars");
            if !is_serde && !is_schemars {
                continue;
            }
            // These attributes belong to serde and schemars, which report their own mistakes; read
            // what matters here and pass over the rest without complaint.
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("skip") || meta.path.is_ident("skip_deserializing") {
                    out.skipped = true;
                } else if is_schemars && meta.path.is_ident("with") {
                    let lit: LitStr = meta.value()?.parse()?;
                    out.with = lit.parse().ok();
                    return Ok(());
                } else if is_schemars && meta.path.is_ident("schema_with") {
                    out.custom = true;
                } else if meta.path.is_ident("flatten") {
                    out.flatten = true;
                }
                skip_value(&meta)
            });
        }
        out
    }
}

/// `#[serde(transparent)]` (or schemars' spelling of it): the struct is its one field's JSON, not an
/// object around it.
pub(crate) fn is_transparent(attrs: &[Attribute]) -> bool {
    let mut transparent = false;
    for attr in attrs {
        if !attr.path().is_ident("serde") && !attr.path().is_ident("schemars") {
            continue;
        }
        let _ = attr.parse_nested_meta(|meta| {
            transparent |= meta.path.is_ident("transparent");
            skip_value(&meta)
        });
    }
    transparent
}

fn set<T>(
    cx: &Ctxt,
    meta: &ParseNestedMeta<'_>,
    slot: &mut Option<Attr<T>>,
    key: &str,
    parse: impl FnOnce(&ParseNestedMeta<'_>) -> syn::Result<T>,
) -> syn::Result<()> {
    let value = parse(meta)?;
    if slot.is_some() {
        cx.error_spanned_by(
            &meta.path,
            format!("duplicate `extract` attribute `{key}`; keep one"),
        );
    } else {
        *slot = Some(Attr {
            value,
            span: meta
                .path
                .get_ident()
                .map_or_else(Span::call_site, |i| i.span()),
        });
    }
    Ok(())
}

/// `validate = path::to::fn` or, as serde writes it, `validate = "path::to::fn"`.
fn parse_path(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    let input = meta.value()?;
    if input.peek(LitStr) {
        let lit: LitStr = input.parse()?;
        lit.parse()
    } else {
        input.parse()
    }
}

/// `Clone` in `partial_derive`: the derive's own impl rather than a forwarded `#[derive]`.
pub(crate) fn is_clone(path: &syn::Path) -> bool {
    path.is_ident("Clone")
        || path.segments.len() == 3
            && ["core", "std"].contains(&path.segments[0].ident.to_string().as_str())
            && path.segments[1].ident == "clone"
            && path.segments[2].ident == "Clone"
}

/// `partial_derive(Clone, PartialEq, serde::Serialize)`: the paths, each once, none that the partial
/// struct implements already.
fn parse_derives(cx: &Ctxt, meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<Path>> {
    let mut paths: Vec<Path> = Vec::new();
    meta.parse_nested_meta(|inner| {
        let path = inner.path.clone();
        let last = path.segments.last().map(|s| s.ident.to_string());
        if let Some(name) = last.filter(|n| PARTIAL_ALWAYS.contains(&n.as_str())) {
            cx.error_spanned_by(
                &path,
                format!(
                    "the partial form always implements `Debug` and `Default`; remove `{name}` \
                     from `partial_derive`"
                ),
            );
        } else if paths.iter().any(|p| path_text(p) == path_text(&path)) {
            cx.error_spanned_by(&path, "listed twice in `partial_derive`; keep one");
        } else {
            paths.push(path);
        }
        Ok(())
    })?;
    Ok(paths)
}

/// Consumes `= value` or `(...)` after a key we do not handle, so parsing can go on to the next key.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_value(&inner))?;
    }
    Ok(())
}

fn path_text(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
