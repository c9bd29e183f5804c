//! A light JSON tree for validation: strings borrowed from the reply where they have no escapes,
//! members in a `Vec` rather than a hashed map. Validating a reply is done on this instead of a
//! `serde_json::Value`, whose maps hash every key (the crate keeps declaration order, so they are
//! `IndexMap`s) and which costs more to build than the validation itself.

use std::borrow::Cow;
use std::fmt;

use jsonschema::json::{cmp, Array, Json, Node, NodeIdentity, Object};
use jsonschema::JsonType;
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::{Map, Number, Value};

/// Objects with more members than this are not read into a tree (the judge falls back to a
/// `Value`): duplicate keys are looked for by scanning, which would be quadratic.
const MAX_MEMBERS: usize = 256;

/// One JSON value.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) enum Doc<'a> {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Doc<'a>>),
    Object(Vec<(Cow<'a, str>, Doc<'a>)>),
}

impl<'a> Doc<'a> {
    /// The tree of a `Value`, borrowing its strings.
    pub(crate) fn of(value: &'a Value) -> Doc<'a> {
        match value {
            Value::Null => Doc::Null,
            Value::Bool(b) => Doc::Bool(*b),
            Value::Number(n) => Doc::Number(n.clone()),
            Value::String(s) => Doc::String(Cow::Borrowed(s)),
            Value::Array(items) => Doc::Array(items.iter().map(Doc::of).collect()),
            Value::Object(map) => Doc::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Doc::of(v)))
                    .collect(),
            ),
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        match self {
            Doc::Null => Value::Null,
            Doc::Bool(b) => Value::Bool(*b),
            Doc::Number(n) => Value::Number(n.clone()),
            Doc::String(s) => Value::String(s.clone().into_owned()),
            Doc::Array(items) => Value::Array(items.iter().map(Doc::to_value).collect()),
            Doc::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone().into_owned(), v.to_value()))
                    .collect::<Map<_, _>>(),
            ),
        }
    }
}

/// Writes the document as `Value` would (for quoting an offending value without making a `Value`
/// of it).
impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Doc::Null => serializer.serialize_unit(),
            Doc::Bool(b) => serializer.serialize_bool(*b),
            Doc::Number(n) => n.serialize(serializer),
            Doc::String(s) => serializer.serialize_str(s),
            Doc::Array(items) => serializer.collect_seq(items),
            Doc::Object(members) => serializer.collect_map(members.iter().map(|(k, v)| (k, v))),
        }
    }
}

/// Reads a document; an object with a repeated key is an error, so that no reading of it (which of
/// the two counts?) is ever chosen silently.
impl<'de> Deserialize<'de> for Doc<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }
    fn visit_none<E>(self) -> Result<Doc<'de>, E> {
        Ok(Doc::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Doc<'de>, E> {
        Ok(Doc::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Doc<'de>, E> {
        Ok(Doc::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Doc<'de>, E> {
        // `Value` reads a float it cannot hold as `null`; so does this, to agree with it.
        Ok(Number::from_f64(n).map_or(Doc::Null, Doc::Number))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Doc<'de>, E> {
        Ok(Doc::String(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Doc::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Doc<'de>)> = Vec::new();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if members.len() >= MAX_MEMBERS {
                return Err(A::Error::custom("too many members"));
            }
            if members.iter().any(|(k, _)| *k == key.0) {
                return Err(A::Error::custom(format!("duplicate key `{}`", key.0)));
            }
            members.push((key.0, map.next_value()?));
        }
        Ok(Doc::Object(members))
    }
}

/// A key, borrowed where it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The representation, for `jsonschema::options_for::<Tree>()`.
pub(crate) struct Tree;

impl Json for Tree {
    type Node<'a> = &'a Doc<'a>;
    type PreparedKey = String;
    type StringBuffer = Doc<'static>;
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(
        buffer: &mut Doc<'static>,
        string: &str,
        f: impl FnOnce(<Self as Json>::Node<'_>) -> T,
    ) -> T {
        *buffer = Doc::String(Cow::Owned(string.to_owned()));
        f(buffer)
    }
}

impl<'a> Node<'a, Tree> for &'a Doc<'a> {
    type Object = &'a [(Cow<'a, str>, Doc<'a>)];
    type Array = &'a [Doc<'a>];
    type Number = &'a Number;

    fn as_object(&self) -> Option<Self::Object> {
        match self {
            Doc::Object(members) => Some(members),
            _ => None,
        }
    }
    fn as_array(&self) -> Option<Self::Array> {
        match self {
            Doc::Array(items) => Some(items),
            _ => None,
        }
    }
    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self {
            Doc::String(s) => Some(Cow::Borrowed(s)),
            _ => None,
        }
    }
    fn as_number(&self) -> Option<&'a Number> {
        match self {
            Doc::Number(n) => Some(n),
            _ => None,
        }
    }
    fn as_boolean(&self) -> Option<bool> {
        match self {
            Doc::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn is_null(&self) -> bool {
        matches!(self, Doc::Null)
    }
    fn json_type(&self) -> JsonType {
        match self {
            Doc::Null => JsonType::Null,
            Doc::Bool(_) => JsonType::Boolean,
            Doc::Number(_) => JsonType::Number,
            Doc::String(_) => JsonType::String,
            Doc::Array(_) => JsonType::Array,
            Doc::Object(_) => JsonType::Object,
        }
    }
    /// `const` and `enum` compare scalars in place; only containers go through a `Value`.
    fn equals_value(&self, expected: &Value) -> bool {
        match (self, expected) {
            (Doc::String(s), Value::String(e)) => s == e,
            (Doc::Bool(b), Value::Bool(e)) => b == e,
            (Doc::Null, Value::Null) => true,
            (Doc::Number(n), Value::Number(e)) => cmp::equal_numbers(&n, e),
            (Doc::Array(_) | Doc::Object(_), Value::Array(_) | Value::Object(_)) => {
                cmp::equal(&self.to_value(), expected)
            }
            _ => false,
        }
    }
    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(Doc::to_value(self))
    }
    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(
            std::ptr::from_ref::<Doc<'a>>(*self) as usize
        ))
    }
}

impl<'a> Object<'a, Tree> for &'a [(Cow<'a, str>, Doc<'a>)] {
    type Node = &'a Doc<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        <[_]>::len(self)
    }
    fn get(&self, key: &String) -> Option<&'a Doc<'a>> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    fn members(&self) -> Members<'a> {
        Members(self.iter())
    }
}

pub(crate) struct Members<'a>(std::slice::Iter<'a, (Cow<'a, str>, Doc<'a>)>);

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a Doc<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k.as_ref(), v))
    }
}

impl<'a> Array<'a, Tree> for &'a [Doc<'a>] {
    type Node = &'a Doc<'a>;
    type ElementsIter = std::slice::Iter<'a, Doc<'a>>;

    fn len(&self) -> usize {
        <[_]>::len(self)
    }
    fn elements(&self) -> Self::ElementsIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_as_a_value_does() {
        let text = r#"{"a":"x\"y","b":[1,-2,3.5,true,null],"c":{"d":"é"}}"#;
        let doc: Doc<'_> = serde_json::from_str(text).unwrap_or_default();
        let value: Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(doc.to_value(), value);
        assert_eq!(Doc::of(&value), doc);
        assert!(matches!(&doc, Doc::Object(m) if matches!(m[0].1, Doc::String(Cow::Owned(_)))));
    }

    #[test]
    fn a_repeated_key_is_refused() {
        assert!(serde_json::from_str::<Doc<'_>>(r#"{"a":1,"a":2}"#).is_err());
        assert!(serde_json::from_str::<Doc<'_>>(r#"[{"a":1},{"a":2}]"#).is_ok());
    }

    #[test]
    fn validates_as_a_value_does() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 2},
                "kind": {"enum": ["a", "b", 3]},
                "n": {"type": "integer", "maximum": 5},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "point": {"const": {"x": 1}}
            },
            "required": ["name", "kind"],
            "additionalProperties": false
        });
        let tree = jsonschema::options_for::<Tree>()
            .build(&schema)
            .map_err(|e| e.to_string());
        let value = jsonschema::validator_for(&schema).map_err(|e| e.to_string());
        let (Ok(tree), Ok(value)) = (tree, value) else {
            panic!("both compile");
        };
        for instance in [
            json!({"name": "ab", "kind": "a", "n": 5, "tags": ["x", "y"], "point": {"x": 1}}),
            json!({"name": "ab", "kind": 3.0}),
            json!({"name": "a", "kind": "c", "n": 5.5, "tags": ["x", "x"], "point": {"x": 2}, "extra": 1}),
            json!({"kind": null}),
            json!([1]),
        ] {
            let doc = Doc::of(&instance);
            assert_eq!(tree.is_valid(&doc), value.is_valid(&instance), "{instance}");
            let ours: Vec<String> = tree
                .iter_errors(&doc)
                .map(|e| format!("{} {e}", e.instance_path()))
                .collect();
            let theirs: Vec<String> = value
                .iter_errors(&instance)
                .map(|e| format!("{} {e}", e.instance_path()))
                .collect();
            assert_eq!(ours, theirs, "{instance}");
        }
    }
}
