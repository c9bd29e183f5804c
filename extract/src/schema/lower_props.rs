//! Property tests of lowering over generated schemars-like schemas (objects, nested objects, arrays,
//! enums, optionals as type arrays and `anyOf`, tagged unions, `$defs` with `$ref`, recursion through
//! definitions and through `#`): lowering is idempotent in both forms, and what it produces meets
//! the strict rules, as `problems` checks them and as an independent walk below checks them.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::lower::{lower, Refs};
use super::problems::problems_of;
use crate::vocab::Target;

/// A type as schemars would describe it.
#[derive(Debug, Clone)]
enum Ty {
    Str(Option<&'static str>),
    Int,
    Num,
    Bool,
    /// A unit enum: `{"type": "string", "enum": [...]}`.
    Enum(Vec<String>),
    /// A unit enum with documented variants: `{"oneOf": [{"const": ...}, ...]}`.
    Consts(Vec<String>),
    Array(Box<Ty>),
    Optional(Box<Ty>),
    Object(Vec<Field>),
    /// An externally tagged enum with struct variants: `{"oneOf": [{"Variant": {...}}, ...]}`.
    Tagged(Vec<(String, Vec<Field>)>),
    /// A named type in `$defs`.
    Ref(usize),
    /// The root type itself (`{"$ref": "#"}`).
    Root,
}

#[derive(Debug, Clone)]
struct Field {
    name: String,
    ty: Ty,
    required: bool,
    description: Option<String>,
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "name", "date", "tags", "kind", "id", "items", "a_b", "x/y", "~t", "value",
    ])
    .prop_map(str::to_owned)
}

fn variants() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(
        prop::sample::select(vec!["Red", "Green", "Blue", "Low", "High"]).prop_map(str::to_owned),
        1..4,
    )
    .prop_map(|set| set.into_iter().collect())
}

fn fields(ty: BoxedStrategy<Ty>) -> impl Strategy<Value = Vec<Field>> {
    prop::collection::vec(
        (
            name(),
            ty,
            any::<bool>(),
            prop::option::of(Just("what it is".to_owned())),
        ),
        1..4,
    )
    .prop_map(|fields| {
        let mut seen = BTreeSet::new();
        fields
            .into_iter()
            .filter(|(name, ..)| seen.insert(name.clone()))
            .map(|(name, ty, required, description)| Field {
                name,
                ty,
                required,
                description,
            })
            .collect()
    })
}

/// A type whose objects nest at most `levels` deep (arrays and optionals count as a level too, to
/// keep the sizes small), referring to `defs` definitions and, when `root` is set, to the root.
fn ty(levels: u32, defs: usize, root: bool) -> BoxedStrategy<Ty> {
    let mut leaves: Vec<(u32, BoxedStrategy<Ty>)> = vec![
        (
            2,
            prop::option::of(prop::sample::select(vec![
                "date-time",
                "int32",
                "email",
                "uri",
            ]))
            .prop_map(Ty::Str)
            .boxed(),
        ),
        (1, Just(Ty::Int).boxed()),
        (1, Just(Ty::Num).boxed()),
        (1, Just(Ty::Bool).boxed()),
        (1, variants().prop_map(Ty::Enum).boxed()),
        (1, variants().prop_map(Ty::Consts).boxed()),
    ];
    if defs > 0 {
        leaves.push((3, (0..defs).prop_map(Ty::Ref).boxed()));
    }
    if root {
        leaves.push((1, Just(Ty::Root).boxed()));
    }
    let leaf = prop::strategy::Union::new_weighted(leaves).boxed();
    if levels == 0 {
        return leaf;
    }
    let inner = ty(levels - 1, defs, root);
    let mut options: Vec<(u32, BoxedStrategy<Ty>)> = vec![
        (3, leaf.clone()),
        (2, fields(inner.clone()).prop_map(Ty::Object).boxed()),
        (
            1,
            inner.clone().prop_map(|t| Ty::Array(Box::new(t))).boxed(),
        ),
        (1, inner.prop_map(|t| Ty::Optional(Box::new(t))).boxed()),
    ];
    if levels >= 2 {
        // The tag's object and the variant's object: two levels.
        let variant = (
            prop::sample::select(vec!["Circle", "Square", "Line"]).prop_map(str::to_owned),
            fields(leaf),
        );
        options.push((
            1,
            prop::collection::btree_map(variant.0, variant.1, 1..3)
                .prop_map(|v| Ty::Tagged(v.into_iter().collect()))
                .boxed(),
        ));
    }
    prop::strategy::Union::new_weighted(options).boxed()
}

/// A root schema: the root type (an object, or anything at all, which lowering wraps) and up to three
/// definitions that may refer to each other, to themselves and to the root, each with at most two
/// levels of objects, so that nothing nests deeper than strict mode allows however they are inlined.
fn schemas() -> impl Strategy<Value = Value> {
    // A named type or the root is never just another name (schemars writes a newtype in place).
    fn named(n: usize) -> impl Strategy<Value = Ty> {
        prop_oneof![
            3 => fields(ty(1, n, true)).prop_map(Ty::Object),
            1 => ty(2, n, true).prop_filter("an alias", |t| !matches!(t, Ty::Ref(_) | Ty::Root)),
        ]
    }
    (0usize..4).prop_flat_map(|n| {
        let def = named(n);
        let root = named(n);
        (root, prop::collection::vec(def, n), any::<bool>())
            .prop_map(|(root, defs, annotate)| render_root(&root, &defs, annotate))
    })
}

fn render_root(root: &Ty, defs: &[Ty], annotate: bool) -> Value {
    let mut schema = render(root);
    if let Value::Object(map) = &mut schema {
        if annotate {
            map.insert(
                "$schema".into(),
                "https://json-schema.org/draft/2020-12/schema".into(),
            );
            map.insert("title".into(), "Root".into());
        }
        if !defs.is_empty() {
            let defs: Map<String, Value> = defs
                .iter()
                .enumerate()
                .map(|(i, def)| {
                    let mut body = render(def);
                    if annotate {
                        if let Value::Object(m) = &mut body {
                            m.insert("description".into(), format!("Def {i}").into());
                        }
                    }
                    (format!("Def{i}"), body)
                })
                .collect();
            map.insert("$defs".into(), Value::Object(defs));
        }
    }
    schema
}

fn render(ty: &Ty) -> Value {
    match ty {
        Ty::Str(format) => match format {
            Some(f) => json!({"type": "string", "format": f, "minLength": 1}),
            None => json!({"type": "string"}),
        },
        Ty::Int => json!({"type": "integer", "format": "int32", "minimum": 0}),
        Ty::Num => json!({"type": "number", "format": "double"}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::Enum(values) => json!({"type": "string", "enum": values}),
        Ty::Consts(values) => json!({"oneOf": values
            .iter()
            .map(|v| json!({"type": "string", "const": v, "description": format!("The {v} one")}))
            .collect::<Vec<_>>()}),
        Ty::Array(item) => json!({"type": "array", "items": render(item)}),
        Ty::Optional(inner) => optional(render(inner)),
        Ty::Object(fields) => object(fields),
        Ty::Tagged(variants) => json!({"oneOf": variants
            .iter()
            .map(|(tag, fields)| json!({
                "type": "object",
                "properties": {tag.as_str(): object(fields)},
                "required": [tag],
                "additionalProperties": false
            }))
            .collect::<Vec<_>>()}),
        Ty::Ref(i) => json!({"$ref": format!("#/$defs/Def{i}")}),
        Ty::Root => json!({"$ref": "#"}),
    }
}

/// `Option<T>` as schemars writes it: a `null` in the type array where there is one, else `anyOf`.
fn optional(inner: Value) -> Value {
    let Value::Object(mut map) = inner else {
        return inner;
    };
    let simple = !map.contains_key("oneOf") && !map.contains_key("$ref");
    match map.get_mut("type") {
        Some(Value::String(t)) if simple && t != "null" => {
            let t = std::mem::take(t);
            map.insert("type".into(), json!([t, "null"]));
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.push(Value::Null);
            }
            Value::Object(map)
        }
        Some(Value::Array(_)) => Value::Object(map),
        _ => json!({"anyOf": [Value::Object(map), {"type": "null"}]}),
    }
}

fn object(fields: &[Field]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        let mut schema = render(&field.ty);
        if let (Some(d), Value::Object(map)) = (&field.description, &mut schema) {
            // schemars puts a field's doc comment beside a `$ref` too.
            map.insert("description".into(), d.clone().into());
        }
        if field.required {
            required.push(Value::String(field.name.clone()));
        } else if let Value::Object(map) = &mut schema {
            map.insert("default".into(), Value::Null);
        }
        properties.insert(field.name.clone(), schema);
    }
    json!({"type": "object", "properties": properties, "required": required})
}

// ---- the strict rules, checked independently of `problems` ----

const NEVER: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "default",
    "examples",
    "oneOf",
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "minLength",
    "maxLength",
    "patternProperties",
    "prefixItems",
];
const FORMATS: &[&str] = &[
    "date-time",
    "time",
    "date",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uuid",
];

/// Everything in `schema` (a lowered root) that a strict decoder would reject.
fn strict_violations(schema: &Value, wrapped: bool) -> Vec<String> {
    let mut out = Vec::new();
    let is_object_root = schema.get("type") == Some(&json!("object"))
        && ["anyOf", "enum", "$ref"]
            .iter()
            .all(|k| schema.get(*k).is_none());
    if !is_object_root {
        out.push("the root is not an object".to_owned());
    }
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    walk(schema, "", true, &defs, wrapped, &mut out);
    for (name, def) in &defs {
        walk(
            def,
            &format!("/$defs/{name}"),
            false,
            &defs,
            wrapped,
            &mut out,
        );
    }
    out
}

fn walk(
    node: &Value,
    path: &str,
    is_root: bool,
    defs: &Map<String, Value>,
    wrapped: bool,
    out: &mut Vec<String>,
) {
    let Value::Object(map) = node else {
        out.push(format!("{path}: not a schema object"));
        return;
    };
    if map.is_empty() {
        out.push(format!("{path}: accepts anything"));
    }
    for key in NEVER {
        if map.contains_key(*key) {
            out.push(format!("{path}: `{key}`"));
        }
    }
    if !is_root && map.contains_key("$defs") {
        out.push(format!("{path}: `$defs` below the root"));
    }
    if let Some(format) = map.get("format") {
        if !format.as_str().is_some_and(|f| FORMATS.contains(&f)) {
            out.push(format!("{path}: format {format}"));
        }
    }
    if let Some(reference) = map.get("$ref") {
        if map.len() > 1 {
            out.push(format!("{path}: a `$ref` with siblings"));
        }
        match reference.as_str() {
            Some("#") if !wrapped => {}
            Some("#") => out.push(format!("{path}: `#` means the wrapper")),
            Some(r) => match r.strip_prefix("#/$defs/") {
                Some(name) if defs.contains_key(name) => {}
                _ => out.push(format!("{path}: `{r}` does not resolve")),
            },
            None => out.push(format!("{path}: `$ref` is not a string")),
        }
    }
    let is_object = map.get("type").is_some_and(|t| {
        t == "object" || t.as_array().is_some_and(|a| a.contains(&json!("object")))
    }) || map.contains_key("properties");
    if is_object {
        if map.get("additionalProperties") != Some(&json!(false)) {
            out.push(format!("{path}: an open object"));
        }
        let names: Vec<&String> = map
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if names.len() != required.len() || names.iter().any(|n| !required.contains(&n.as_str())) {
            out.push(format!(
                "{path}: required {required:?} is not every property {names:?}"
            ));
        }
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        for (name, prop) in props {
            walk(
                prop,
                &format!("{path}/properties/{name}"),
                false,
                defs,
                wrapped,
                out,
            );
        }
    }
    if let Some(items) = map.get("items") {
        walk(items, &format!("{path}/items"), false, defs, wrapped, out);
    }
    if let Some(options) = map.get("anyOf") {
        match options.as_array() {
            Some(options) if !options.is_empty() => {
                for (i, option) in options.iter().enumerate() {
                    if option
                        .as_object()
                        .is_some_and(|o| o.len() == 1 && o.contains_key("anyOf"))
                    {
                        out.push(format!("{path}/anyOf/{i}: a union directly in a union"));
                    }
                    walk(
                        option,
                        &format!("{path}/anyOf/{i}"),
                        false,
                        defs,
                        wrapped,
                        out,
                    );
                }
            }
            _ => out.push(format!("{path}: an empty or malformed `anyOf`")),
        }
    }
}

/// Whether a lowered schema accepts `null` at `node` (following one reference).
fn nullable(node: &Value, root: &Value) -> bool {
    let node = match node.get("$ref").and_then(Value::as_str) {
        Some("#") => root,
        Some(r) => match r.strip_prefix("#/$defs/") {
            Some(name) => &root["$defs"][name],
            None => node,
        },
        None => node,
    };
    node.get("type")
        .is_some_and(|t| t == "null" || t.as_array().is_some_and(|a| a.contains(&json!("null"))))
        || node
            .get("anyOf")
            .and_then(Value::as_array)
            .is_some_and(|o| o.iter().any(|o| o.get("type") == Some(&json!("null"))))
        || node
            .get("enum")
            .and_then(Value::as_array)
            .is_some_and(|v| v.contains(&Value::Null))
}

/// Definitions of a lowered schema that can reach themselves.
fn recursive(schema: &Value) -> BTreeSet<String> {
    fn refs(node: &Value, out: &mut BTreeSet<String>) {
        match node {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                {
                    out.insert(name.to_owned());
                }
                map.iter()
                    .filter(|(k, _)| *k != "$defs")
                    .for_each(|(_, v)| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    defs.keys()
        .filter(|start| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![(*start).clone()];
            while let Some(name) = stack.pop() {
                let mut next = BTreeSet::new();
                refs(&defs[&name], &mut next);
                if next.contains(*start) {
                    return true;
                }
                stack.extend(next.into_iter().filter(|n| seen.insert(n.clone())));
            }
            false
        })
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lowering_is_idempotent(schema in schemas()) {
        for refs in [Refs::Keep, Refs::Inline] {
            let (once, _) = lower(&schema, "value", refs);
            let (twice, wrapped_again) = lower(&once, "value", refs);
            prop_assert!(!wrapped_again, "{refs:?}: the lowered root is an object");
            prop_assert_eq!(&twice, &once, "{:?}", refs);
        }
    }

    #[test]
    fn lowered_schemas_meet_the_strict_rules(schema in schemas()) {
        let (strict, wrapped) = lower(&schema, "value", Refs::Keep);
        prop_assert_eq!(problems_of(&strict, Target::OpenAi), vec![]);
        let violations = strict_violations(&strict, wrapped);
        prop_assert!(violations.is_empty(), "{violations:#?}\n{strict:#}");

        let (inlined, wrapped) = lower(&schema, "value", Refs::Inline);
        let violations = strict_violations(&inlined, wrapped);
        prop_assert!(violations.is_empty(), "{violations:#?}\n{inlined:#}");
        // Only what cannot be written out stays a definition.
        let kept: BTreeSet<String> = inlined
            .get("$defs")
            .and_then(Value::as_object)
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        prop_assert_eq!(&kept, &recursive(&inlined));
        let text = serde_json::to_string(&inlined).unwrap_or_default();
        if !text.contains("\"$ref\"") {
            prop_assert_eq!(problems_of(&inlined, Target::NoRefs), vec![]);
        }
    }

    #[test]
    fn optional_fields_become_required_and_nullable(schema in schemas()) {
        let Some(Value::Object(props)) = schema.get("properties") else {
            return Ok(());
        };
        let required: Vec<&Value> = schema["required"].as_array().map(|r| r.iter().collect()).unwrap_or_default();
        let (strict, wrapped) = lower(&schema, "value", Refs::Keep);
        prop_assume!(!wrapped);
        for (name, original) in props {
            let lowered = &strict["properties"][name];
            if !required.contains(&&Value::String(name.clone())) {
                prop_assert!(nullable(lowered, &strict), "{name}: {lowered}");
            } else if !nullable(original, &schema) {
                // A required field stays as strict as it was.
                prop_assert!(!nullable(lowered, &strict), "{name}: {lowered}");
            }
        }
    }
}
