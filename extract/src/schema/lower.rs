//! Lowering a schemars schema into what a strict provider enforces (OpenAI's strict mode, which the
//! other constrained decoders accept too): closed objects, every property required (the optional ones
//! made nullable), `anyOf` instead of `oneOf`, and none of the keywords the decoders reject. Keywords
//! removed here stay enforced: the judge validates replies against the original schema.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// Annotations and keywords that strict decoders reject or ignore. The local validator, which sees the
/// original schema, still enforces the ones that constrain values (`minLength`, `uniqueItems`, ...).
const DROPPED: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "minLength",
    "maxLength",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contentEncoding",
    "contentMediaType",
    "if",
    "then",
    "else",
    "not",
    "dependentRequired",
    "dependentSchemas",
    "contains",
    "minContains",
    "maxContains",
];

/// The `format` values strict mode understands; schemars' `int32`, `uint8`, `double` and the like are not.
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

/// How far to go in removing indirection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refs {
    /// Keep a definition in `$defs` only where that is shorter than writing it out at each use, and
    /// inline it where a `$ref` carries siblings (a description).
    Keep,
    /// Inline every definition that is not recursive (for servers without `$ref` support).
    Inline,
}

/// Lowers `schema` (a schemars root schema). When the root is not an object (an enum, say), it is
/// wrapped as the only property `wrap_key` of an object, since strict roots must be objects; the judge
/// unwraps replies the same way. Returns the lowered schema and whether it was wrapped.
pub(crate) fn lower(schema: &Value, wrap_key: &str, refs: Refs) -> (Value, bool) {
    lower_keeping(schema, wrap_key, refs, Lengths::Drop)
}

/// Whether `minLength` and `maxLength` survive lowering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lengths {
    /// Dropped, as OpenAI's strict mode requires (it rejects them).
    Drop,
    /// Kept, for the grammar-constrained decoders that enforce them (llama.cpp, Ollama, vLLM): a
    /// bounded string in the grammar, instead of a reply the judge must send back.
    Keep,
}

/// [`lower`], choosing what becomes of string lengths.
pub(crate) fn lower_keeping(
    schema: &Value,
    wrap_key: &str,
    refs: Refs,
    lengths: Lengths,
) -> (Value, bool) {
    let mut root = match schema {
        Value::Object(map) => map.clone(),
        // `true`/`false` roots: nothing to lower; `problems` reports them.
        other => return (other.clone(), false),
    };
    let defs: Map<String, Value> = match root.remove("$defs") {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    let cx = Cx {
        recursive: recursive_defs(&defs),
        defs: &defs,
        refs,
        lengths,
    };
    let mut root = Value::Object(root);
    cx.node(&mut root);
    let mut lowered_defs = Map::new();
    for (name, def) in &defs {
        let mut def = def.clone();
        cx.node(&mut def);
        lowered_defs.insert(name.clone(), def);
    }

    let wrapped = !is_object_schema(&root);
    if wrapped {
        // A recursive root refers to itself as `#`, which inside the wrapper would mean the wrapper:
        // move it into a definition and point the references there, the ones in other definitions
        // too (`enum Tree { Leaf(String), Node(Branch) }` whose `Branch` holds `Vec<Tree>`).
        // (Only in those the root reaches: one it does not is dropped below, and its `#` must not
        // make a root that is not recursive look so.)
        let reached = reachable_defs(&root, &lowered_defs);
        let mut found = rewrite_root_refs(&mut root, wrap_key);
        for (name, def) in lowered_defs.iter_mut() {
            if reached.contains(name) {
                found |= rewrite_root_refs(def, wrap_key);
            }
        }
        if found {
            lowered_defs.insert(format!("{wrap_key}_root"), root.clone());
            root = serde_json::json!({"$ref": format!("#/$defs/{wrap_key}_root")});
        }
        let mut properties = Map::new();
        properties.insert(wrap_key.to_owned(), root);
        let mut object = Map::new();
        object.insert("type".into(), "object".into());
        object.insert("properties".into(), Value::Object(properties));
        object.insert("required".into(), Value::Array(vec![wrap_key.into()]));
        object.insert("additionalProperties".into(), false.into());
        root = Value::Object(object);
    }

    // Keep only the definitions still referenced once inlining is done.
    let used = reachable_defs(&root, &lowered_defs);
    lowered_defs.retain(|name, _| used.contains(name));
    if refs == Refs::Keep {
        // Recomputed: a wrapped recursive root is a definition of its own by now.
        let recursive = recursive_defs(&lowered_defs);
        inline_where_shorter(&mut root, &mut lowered_defs, &recursive);
    }
    if !lowered_defs.is_empty() {
        if let Value::Object(map) = &mut root {
            map.insert("$defs".into(), Value::Object(lowered_defs));
        }
    }
    flatten_any_of(&mut root);
    (root, wrapped)
}

/// Splices an `anyOf` that is the whole of an `anyOf` option into its parent (what inlining an
/// enum's definition into `Option<Enum>` leaves), and drops repeated options: the same union,
/// written once.
fn flatten_any_of(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("properties" | "$defs", Value::Object(children)) => {
                children.values_mut().for_each(flatten_any_of)
            }
            ("anyOf" | "allOf" | "prefixItems", Value::Array(items)) => {
                items.iter_mut().for_each(flatten_any_of)
            }
            ("items" | "additionalProperties", child) => flatten_any_of(child),
            _ => {}
        }
    }
    let Some(Value::Array(options)) = map.get_mut("anyOf") else {
        return;
    };
    let mut flat: Vec<Value> = Vec::with_capacity(options.len());
    for option in options.drain(..) {
        match option {
            Value::Object(mut inner) if inner.len() == 1 && inner.contains_key("anyOf") => {
                if let Some(Value::Array(nested)) = inner.remove("anyOf") {
                    for item in nested {
                        if !flat.contains(&item) {
                            flat.push(item);
                        }
                    }
                }
            }
            other => {
                if !flat.contains(&other) {
                    flat.push(other);
                }
            }
        }
    }
    *options = flat;
}

struct Cx<'a> {
    defs: &'a Map<String, Value>,
    recursive: BTreeSet<String>,
    refs: Refs,
    lengths: Lengths,
}

impl Cx<'_> {
    fn node(&self, node: &mut Value) {
        let Value::Object(map) = node else { return };
        for key in DROPPED {
            let length = matches!(*key, "minLength" | "maxLength");
            if !(length && self.lengths == Lengths::Keep) {
                map.remove(*key);
            }
        }
        if let Some(Value::String(format)) = map.get("format") {
            if !FORMATS.contains(&format.as_str()) {
                map.remove("format");
            }
        }
        if let Some(one_of) = map.remove("oneOf") {
            match map.get_mut("anyOf") {
                Some(Value::Array(any_of)) => {
                    if let Value::Array(items) = one_of {
                        any_of.extend(items);
                    }
                }
                _ => {
                    map.insert("anyOf".into(), one_of);
                }
            }
        }
        // A lone `allOf` is how some generators attach a description to a reference.
        if let Some(Value::Array(all_of)) = map.get("allOf") {
            if all_of.len() == 1 {
                if let Some(Value::Array(mut all_of)) = map.remove("allOf") {
                    if let Some(Value::Object(inner)) = all_of.pop() {
                        for (k, v) in inner {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
            }
        }
        self.inline_ref(map);

        for key in ["anyOf", "allOf", "prefixItems"] {
            if let Some(Value::Array(items)) = map.get_mut(key) {
                items.iter_mut().for_each(|item| self.node(item));
            }
        }
        if let Some(items) = map.get_mut("items") {
            self.node(items);
        }
        if let Some(Value::Object(props)) = map.get_mut("properties") {
            props.values_mut().for_each(|p| self.node(p));
        }
        if let Some(extra @ Value::Object(_)) = map.get_mut("additionalProperties") {
            self.node(extra);
        }
        close_object(map);
    }

    /// Replaces `{"$ref": "#/$defs/X", ...siblings}` by the lowered definition merged with the
    /// siblings, where that is allowed: always in `Refs::Inline`, and when siblings exist (strict
    /// decoders ignore or reject keywords beside a `$ref`) otherwise. Recursive definitions stay
    /// references; their siblings are dropped.
    fn inline_ref(&self, map: &mut Map<String, Value>) {
        let Some(Value::String(reference)) = map.get("$ref") else {
            return;
        };
        // The root refers to itself (`enum Expr { Not { /** doc */ operand: Box<Expr> } }`): like
        // a recursive definition, it stays a reference and loses its siblings.
        if reference == "#" {
            if map.len() > 1 {
                map.retain(|k, _| k == "$ref");
            }
            return;
        }
        let Some(name) = reference.strip_prefix("#/$defs/") else {
            return;
        };
        let name = name.to_owned();
        let has_siblings = map.len() > 1;
        if self.recursive.contains(&name) {
            if has_siblings {
                map.retain(|k, _| k == "$ref");
            }
            return;
        }
        if !(has_siblings || self.refs == Refs::Inline) {
            return;
        }
        let Some(Value::Object(def)) = self.defs.get(&name) else {
            return;
        };
        map.remove("$ref");
        for (k, v) in def {
            // The use site's own description is the more specific one.
            map.entry(k.clone()).or_insert_with(|| v.clone());
        }
        // The merged node may itself hold references; lower it like any other node.
        let mut merged = Value::Object(std::mem::take(map));
        self.node(&mut merged);
        if let Value::Object(merged) = merged {
            *map = merged;
        }
    }
}

/// Sets `additionalProperties: false` on objects with fixed properties and makes every property
/// required, turning the ones that were optional into nullable ones. Objects whose keys are open (maps)
/// are left as they are, for `problems` to report.
fn close_object(map: &mut Map<String, Value>) {
    let is_object =
        map.get("type").is_some_and(|t| t == "object") || map.contains_key("properties");
    if !is_object {
        return;
    }
    let open = matches!(map.get("additionalProperties"), Some(v) if v != &Value::Bool(false))
        || map.contains_key("patternProperties");
    if open && !map.contains_key("properties") {
        return;
    }
    map.insert("additionalProperties".into(), false.into());
    map.remove("patternProperties");
    let required: BTreeSet<String> = match map.get("required") {
        Some(Value::Array(req)) => req
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => BTreeSet::new(),
    };
    let mut all = Vec::new();
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            if !required.contains(name) {
                make_nullable(prop);
            }
            all.push(Value::String(name.clone()));
        }
    }
    map.insert("required".into(), Value::Array(all));
}

/// Whether a schema accepts `null`.
pub(crate) fn allows_null(schema: &Value) -> bool {
    let Value::Object(map) = schema else {
        return schema == &Value::Bool(true);
    };
    match map.get("type") {
        Some(Value::String(t)) if t == "null" => return true,
        Some(Value::Array(types)) if types.iter().any(|t| t == "null") => return true,
        _ => {}
    }
    if map.get("const") == Some(&Value::Null) {
        return true;
    }
    if let Some(Value::Array(values)) = map.get("enum") {
        if values.contains(&Value::Null) {
            return true;
        }
    }
    ["anyOf", "oneOf"].iter().any(|key| match map.get(*key) {
        Some(Value::Array(options)) => options.iter().any(allows_null),
        _ => false,
    })
}

fn make_nullable(schema: &mut Value) {
    if allows_null(schema) {
        return;
    }
    let Value::Object(map) = schema else { return };
    let simple =
        !map.contains_key("$ref") && !map.contains_key("anyOf") && !map.contains_key("const");
    match map.get_mut("type") {
        Some(Value::String(t)) if simple => {
            let t = std::mem::take(t);
            map.insert("type".into(), Value::Array(vec![t.into(), "null".into()]));
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.push(Value::Null);
            }
            return;
        }
        Some(Value::Array(types)) if simple => {
            types.push("null".into());
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.push(Value::Null);
            }
            return;
        }
        _ => {}
    }
    if let Some(Value::Array(options)) = map.get_mut("anyOf") {
        options.push(serde_json::json!({"type": "null"}));
        return;
    }
    let description = map.remove("description");
    let inner = Value::Object(std::mem::take(map));
    map.insert(
        "anyOf".into(),
        Value::Array(vec![inner, serde_json::json!({"type": "null"})]),
    );
    if let Some(description) = description {
        map.insert("description".into(), description);
    }
}

/// Whether a lowered schema describes a JSON object with fixed properties (a valid strict root).
pub(crate) fn is_object_schema(schema: &Value) -> bool {
    let Value::Object(map) = schema else {
        return false;
    };
    map.get("type").is_some_and(|t| t == "object")
        && !map.contains_key("anyOf")
        && !map.contains_key("enum")
        && !map.contains_key("$ref")
}

/// Replaces every `{"$ref": "#"}` under `schema` by a reference to the definition the root will be
/// moved to; returns whether there was any.
fn rewrite_root_refs(schema: &mut Value, wrap_key: &str) -> bool {
    match schema {
        Value::Object(map) => {
            let mut found = false;
            if map.get("$ref").is_some_and(|r| r == "#") {
                map.insert("$ref".into(), format!("#/$defs/{wrap_key}_root").into());
                found = true;
            }
            for value in map.values_mut() {
                found |= rewrite_root_refs(value, wrap_key);
            }
            found
        }
        Value::Array(items) => items.iter_mut().fold(false, |found, item| {
            rewrite_root_refs(item, wrap_key) | found
        }),
        _ => false,
    }
}

/// Inlines each non-recursive definition wherever that shortens the serialized schema, which every
/// request carries and pays for in prompt tokens: always a definition used once, and one used more
/// often when writing it out at each use costs less than the definition and its references. Lengths
/// are those of the compact serialization, which tracks the token count closely for JSON.
fn inline_where_shorter(
    root: &mut Value,
    defs: &mut Map<String, Value>,
    recursive: &BTreeSet<String>,
) {
    loop {
        let mut uses = BTreeMap::new();
        count_refs(root, &mut uses);
        defs.values().for_each(|def| count_refs(def, &mut uses));
        let last = defs.len() == 1;
        let pick = defs.iter().find_map(|(name, def)| {
            let n = uses.get(name.as_str()).copied().unwrap_or(0);
            let shorter = n > 0
                && !recursive.contains(name)
                && n * json_len(def) <= kept_len(name, def, n, last);
            shorter.then(|| name.clone())
        });
        let Some(name) = pick else { return };
        let Some(def) = defs.shift_remove(&name) else {
            return;
        };
        let target = format!("#/$defs/{name}");
        replace_refs(root, &target, &def);
        defs.values_mut()
            .for_each(|other| replace_refs(other, &target, &def));
    }
}

/// The length of a definition kept in `$defs` and referred to `uses` times.
fn kept_len(name: &str, def: &Value, uses: usize, last: bool) -> usize {
    // `"Name":` plus a comma in `$defs`; `{"$ref":"#/$defs/Name"}` at each use; `,"$defs":{}` when it
    // is the only definition.
    let entry = json_len(&Value::String(name.to_owned())) + 2 + json_len(def);
    let reference = 17 + name.len() + 2;
    entry + uses * reference + if last { 10 } else { 0 }
}

fn json_len(value: &Value) -> usize {
    serde_json::to_string(value).map_or(usize::MAX / 4, |s| s.len())
}

/// Counts the `$ref`s to each definition (not following them).
fn count_refs<'a>(schema: &'a Value, uses: &mut BTreeMap<&'a str, usize>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                if let Some(name) = r.strip_prefix("#/$defs/") {
                    *uses.entry(name).or_default() += 1;
                }
            }
            map.iter()
                .filter(|(k, _)| *k != "$defs")
                .for_each(|(_, v)| count_refs(v, uses));
        }
        Value::Array(items) => items.iter().for_each(|item| count_refs(item, uses)),
        _ => {}
    }
}

/// Replaces every node that is exactly `{"$ref": target}` by `def`. After lowering in `Keep` mode a
/// reference carries no siblings: those with siblings were inlined already.
fn replace_refs(schema: &mut Value, target: &str, def: &Value) {
    match schema {
        Value::Object(map) => {
            if map.len() == 1 && map.get("$ref").is_some_and(|r| r == target) {
                *schema = def.clone();
                return;
            }
            map.iter_mut()
                .filter(|(k, _)| *k != "$defs")
                .for_each(|(_, v)| replace_refs(v, target, def));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| replace_refs(item, target, def)),
        _ => {}
    }
}

/// Definitions that can reach themselves through references: they cannot be inlined.
fn recursive_defs(defs: &Map<String, Value>) -> BTreeSet<String> {
    let edges: BTreeMap<&str, BTreeSet<String>> = defs
        .iter()
        .map(|(name, def)| (name.as_str(), refs_in(def)))
        .collect();
    let mut recursive = BTreeSet::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = edges[start].iter().cloned().collect();
        while let Some(next) = stack.pop() {
            if next == *start {
                recursive.insert((*start).to_owned());
                break;
            }
            if seen.insert(next.clone()) {
                if let Some(more) = edges.get(next.as_str()) {
                    stack.extend(more.iter().cloned());
                }
            }
        }
    }
    recursive
}

fn reachable_defs(root: &Value, defs: &Map<String, Value>) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<String> = refs_in(root).into_iter().collect();
    while let Some(name) = stack.pop() {
        if seen.insert(name.clone()) {
            if let Some(def) = defs.get(&name) {
                stack.extend(refs_in(def));
            }
        }
    }
    seen
}

/// Names of the `#/$defs/...` definitions a schema refers to, at any depth (not following them).
fn refs_in(schema: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![schema];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    if let Some(name) = r.strip_prefix("#/$defs/") {
                        out.insert(name.to_owned());
                    }
                }
                stack.extend(map.iter().filter(|(k, _)| *k != "$defs").map(|(_, v)| v));
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
