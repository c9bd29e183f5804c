#![allow(dead_code)] // the types exist for their schemas; their fields are never read
//! The schemas `extract` sends, as snapshots a reader can check by eye (insta), and the problems a
//! user can assert in their own tests.

use std::collections::{BTreeMap, HashMap};

use extract::schema::{problems, strict_schema, Target};
use extract::stream::{feed_atomic, Event, Seg};
use extract::{Enforceable, Extract};
use schemars::JsonSchema;
use serde::Deserialize;

/// A postal address.
#[derive(Deserialize, JsonSchema, Extract)]
struct Address {
    street: String,
    city: String,
    /// Two-letter country code
    country: Option<String>,
}

/// A person and where they live.
#[derive(Deserialize, JsonSchema, Extract)]
struct Person {
    /// Think step by step before filling the other fields.
    reasoning: String,
    name: String,
    age: Option<u8>,
    #[serde(rename = "homeAddress")]
    home: Address,
    previous_addresses: Vec<Address>,
    #[serde(default)]
    nicknames: Vec<String>,
    role: Role,
    contact: Option<Contact>,
}

/// What the person does.
#[derive(Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "snake_case")]
enum Role {
    /// Writes code
    Engineer,
    Manager,
    Other,
}

#[derive(Deserialize, JsonSchema, Extract)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Contact {
    Email {
        address: String,
    },
    Phone {
        number: String,
        extension: Option<u32>,
    },
}

/// A tree of comments, recursive through `Box` and `Vec`.
#[derive(Deserialize, JsonSchema, Extract)]
struct Comment {
    text: String,
    reply: Option<Box<Comment>>,
    replies: Vec<Comment>,
}

#[derive(Deserialize, JsonSchema, Extract)]
enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

#[derive(Deserialize, JsonSchema, Extract)]
struct Ranges {
    /// 0 to 255
    small: u8,
    percent: f64,
    #[schemars(range(min = 1, max = 5))]
    stars: u32,
    #[schemars(length(min = 2))]
    code: String,
}

#[test]
fn snapshots_of_lowered_schemas() {
    insta::assert_json_snapshot!("person", strict_schema::<Person>());
    insta::assert_json_snapshot!("comment_recursive", strict_schema::<Comment>());
    insta::assert_json_snapshot!("sentiment_enum_root", strict_schema::<Sentiment>());
    insta::assert_json_snapshot!("ranges", strict_schema::<Ranges>());
}

#[test]
fn reference_types_have_no_problems() {
    assert_eq!(problems::<Person>(Target::OpenAi), vec![]);
    assert_eq!(problems::<Comment>(Target::OpenAi), vec![]);
    assert_eq!(problems::<Sentiment>(Target::OpenAi), vec![]);
    assert_eq!(problems::<Ranges>(Target::OpenAi), vec![]);
    assert_eq!(problems::<Person>(Target::NoRefs), vec![]);
}

#[test]
fn recursion_is_a_problem_only_without_refs() {
    let found = problems::<Comment>(Target::NoRefs);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].message.contains("recursive"));
}

// A type whose schema is hand-made (or comes from a crate we cannot see into) can opt in to
// `Enforceable`; `problems` then finds what the compile-time check could not. Such a type streams as
// a whole: it appears once its JSON is complete.
macro_rules! atomic {
    ($ty:ty) => {
        impl Enforceable for $ty {
            type Partial = $ty;
            fn feed(slot: &mut Option<$ty>, at: &[Seg], event: &Event<'_>) {
                feed_atomic(slot, at, event)
            }
        }
    };
}
#[derive(Deserialize, JsonSchema)]
struct Labels(HashMap<String, String>);
atomic!(Labels);

#[derive(Deserialize, JsonSchema)]
struct Anything(serde_json::Value);
atomic!(Anything);

#[derive(Deserialize, JsonSchema, Extract)]
struct Loose {
    labels: Labels,
    payload: Anything,
    counts: Option<Counts>,
}

#[derive(Deserialize, JsonSchema)]
struct Counts(BTreeMap<String, u32>);
atomic!(Counts);

#[test]
fn problems_name_each_offending_path() {
    let found = problems::<Loose>(Target::OpenAi);
    let text: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(found.len(), 3, "{text:#?}");
    assert!(
        text.iter()
            .any(|p| p.contains("labels") && p.contains("open keys")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|p| p.contains("payload") && p.contains("any value")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|p| p.contains("Counts") || p.contains("counts")),
        "{text:#?}"
    );
}

#[derive(Deserialize, JsonSchema, Extract)]
struct L1 {
    next: L2,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L2 {
    next: L3,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L3 {
    next: L4,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L4 {
    next: L5,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L5 {
    next: L6,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L6 {
    next: L7,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L7 {
    next: L8,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L8 {
    next: L9,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L9 {
    next: L10,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L10 {
    next: L11,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L11 {
    next: L12,
}
#[derive(Deserialize, JsonSchema, Extract)]
struct L12 {
    leaf: String,
}

#[test]
fn nesting_deeper_than_openai_allows_is_a_problem() {
    let found = problems::<L1>(Target::OpenAi);
    assert!(
        found.iter().any(|p| p.message.contains("nested 11 deep")),
        "{found:#?}"
    );
    assert!(problems::<L3>(Target::OpenAi).is_empty());
}

#[derive(Deserialize, JsonSchema, Extract)]
struct Huge {
    #[schemars(with = "BigEnum")]
    value: String,
}

struct BigEnum;
impl JsonSchema for BigEnum {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "BigEnum".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let values: Vec<String> = (0..1200).map(|i| format!("value-number-{i:05}")).collect();
        schemars::json_schema!({"type": "string", "enum": values})
    }
}
// Only its schema matters here; it has no serde impl, so it has nothing to fill while streaming.
impl Enforceable for BigEnum {
    type Partial = ();
    fn feed(_: &mut Option<()>, _: &[Seg], _: &Event<'_>) {}
}

#[test]
fn openai_limits_are_checked() {
    let found = problems::<Huge>(Target::OpenAi);
    let text: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|p| p.contains("1200 enum values in all")),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|p| p.contains("an enum of 1200 values")),
        "{text:#?}"
    );
}

#[test]
fn schemas_are_computed_once() {
    let a = strict_schema::<Person>();
    let b = strict_schema::<Person>();
    assert_eq!(a, b);
    assert_eq!(<Person as Extract>::NAME, "Person");
}
