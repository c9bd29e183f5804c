//! The partial companion types `#[derive(Extract)]` generates, fed by hand-built event sequences as
//! the incremental parser reports them: keys from serde's renames, skipped fields, nesting, lists,
//! enums, generics, unknown keys, and the flatten and transparent cases.

#![allow(dead_code)] // the types exist for their partial forms; their own fields are never read

use extract::stream::{Event, Seg};
use extract::{Enforceable, Extract, Partial};
use schemars::JsonSchema;
use serde::Deserialize;

/// One step of a document: the path below the root and what happened there.
type Step<'a> = (Vec<Seg>, Event<'a>);

fn key(k: &str) -> Seg {
    Seg::Key(k.into())
}

fn path(segs: &[Seg]) -> Vec<Seg> {
    segs.to_vec()
}

/// The partial after each of `steps`: each prefix fed into a fresh slot, as `into_stream()` rebuilds
/// its snapshots, since a partial form is not `Clone` unless asked.
fn run<T: Enforceable>(steps: &[Step<'_>]) -> Vec<Option<T::Partial>> {
    (1..=steps.len())
        .map(|n| {
            let mut slot = None;
            for (at, event) in &steps[..n] {
                T::feed(&mut slot, at, event);
            }
            slot
        })
        .collect()
}

fn last<T: Enforceable>(steps: &[Step<'_>]) -> T::Partial {
    run::<T>(steps)
        .pop()
        .flatten()
        .expect("the partial exists once the object opened")
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Flat {
    name: String,
    age: u32,
    active: bool,
    nickname: Option<String>,
}

#[test]
fn a_flat_struct_fills_field_by_field() {
    // {"name": "Ada Lovelace", "age": 36, "active": true, "nickname": null}
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("name")]), Event::Text("Ada ")),
        (path(&[key("name")]), Event::Text("Love")),
        (path(&[key("name")]), Event::Text("lace")),
        (path(&[key("name")]), Event::Close("\"Ada Lovelace\"")),
        (path(&[key("age")]), Event::Close("36")),
        (path(&[key("active")]), Event::Close("true")),
        (path(&[key("nickname")]), Event::Close("null")),
        (vec![], Event::Close("{...}")),
    ];
    let mut states = run::<Flat>(&steps);

    let opened = states[0]
        .take()
        .expect("an open object creates the partial");
    let empty = Partial::<Flat>::default();
    assert_eq!(format!("{opened:?}"), format!("{empty:?}"));
    assert_eq!(opened.name, None);

    let names: Vec<Option<String>> = states[1..5]
        .iter()
        .map(|s| s.as_ref().and_then(|p| p.name.clone()))
        .collect();
    assert_eq!(
        names,
        [
            Some("Ada ".to_owned()),
            Some("Ada Love".to_owned()),
            Some("Ada Lovelace".to_owned()),
            Some("Ada Lovelace".to_owned()),
        ]
    );
    let before_age = states[4].as_ref().map(|p| p.age);
    assert_eq!(
        before_age,
        Some(None),
        "a number appears only once complete"
    );

    let done = states[8].take().expect("partial");
    assert_eq!(done.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(done.age, Some(36));
    assert_eq!(done.active, Some(true));
    assert_eq!(done.nickname, None, "null leaves an optional field absent");
}

#[test]
fn nothing_exists_before_the_object_opens() {
    let mut slot: Option<Partial<Flat>> = None;
    Flat::feed(&mut slot, &[], &Event::Close("null"));
    assert!(slot.is_none());
    Flat::feed(&mut slot, &[Seg::Index(0)], &Event::Close("1"));
    assert!(slot.is_none());
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "camelCase")]
struct Renamed {
    first_name: String,
    #[serde(rename = "years")]
    age_in_years: u32,
    #[serde(skip)]
    #[allow(dead_code)]
    cache: Vec<String>,
    home_town: Option<String>,
}

#[test]
fn keys_follow_serde_renames_and_skipped_fields_have_no_slot() {
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("firstName")]), Event::Text("Grace")),
        (path(&[key("years")]), Event::Close("85")),
        (path(&[key("homeTown")]), Event::Text("New York")),
        // The Rust names are not keys of the JSON.
        (path(&[key("first_name")]), Event::Text("wrong")),
        (path(&[key("age_in_years")]), Event::Close("1")),
        (path(&[key("cache")]), Event::Open),
    ];
    let partial = last::<Renamed>(&steps);
    assert_eq!(partial.first_name.as_deref(), Some("Grace"));
    assert_eq!(partial.age_in_years, Some(85));
    assert_eq!(partial.home_town.as_deref(), Some("New York"));
    // `cache` is skipped by serde: the partial has no such field (this would not compile):
    // let _ = partial.cache;
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Person {
    name: String,
    address: Address,
    tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema, Extract)]
#[extract(partial_derive(Clone, PartialEq, serde::Serialize))]
struct Address {
    street: String,
    city: String,
}

#[test]
fn nested_structs_are_partial_too() {
    // {"name": "Lin", "address": {"street": "Main St", "city": "Os
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("name")]), Event::Text("Lin")),
        (path(&[key("name")]), Event::Close("\"Lin\"")),
        (path(&[key("address")]), Event::Open),
        (
            path(&[key("address"), key("street")]),
            Event::Text("Main St"),
        ),
        (
            path(&[key("address"), key("street")]),
            Event::Close("\"Main St\""),
        ),
        (path(&[key("address"), key("city")]), Event::Text("Os")),
    ];
    let mut states = run::<Person>(&steps);
    let at_open = states[3].take().expect("partial");
    let address = at_open
        .address
        .expect("an opened object is present at once");
    assert_eq!(address.street, None);
    assert_eq!(address.city, None);

    let partial = states[6].take().expect("partial");
    let address = partial.address.expect("address");
    assert_eq!(address.street.as_deref(), Some("Main St"));
    assert_eq!(address.city.as_deref(), Some("Os"));
    assert_eq!(partial.tags, None);
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Team {
    members: Vec<Address>,
}

#[test]
fn a_list_of_structs_grows_one_partial_element_at_a_time() {
    let members = || key("members");
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[members()]), Event::Open),
        (path(&[members(), Seg::Index(0)]), Event::Open),
        (
            path(&[members(), Seg::Index(0), key("street")]),
            Event::Text("A"),
        ),
        (
            path(&[members(), Seg::Index(0), key("city")]),
            Event::Text("B"),
        ),
        (path(&[members(), Seg::Index(0)]), Event::Close("{...}")),
        (path(&[members(), Seg::Index(1)]), Event::Open),
        (
            path(&[members(), Seg::Index(1), key("street")]),
            Event::Text("C"),
        ),
    ];
    let partial = last::<Team>(&steps);
    let members = partial.members.expect("list");
    assert_eq!(members.len(), 2);
    let first = members[0].as_ref().expect("first element");
    assert_eq!(
        (first.street.as_deref(), first.city.as_deref()),
        (Some("A"), Some("B"))
    );
    let second = members[1].as_ref().expect("second element");
    assert_eq!(
        (second.street.as_deref(), second.city.as_deref()),
        (Some("C"), None)
    );
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema, Extract)]
enum Mood {
    Happy,
    Sad,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema, Extract)]
enum Shape {
    Circle { radius: f64 },
    Square { side: f64 },
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Drawing {
    mood: Mood,
    shape: Shape,
}

#[test]
fn enums_appear_once_complete() {
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("mood")]), Event::Text("Ha")),
        (path(&[key("mood")]), Event::Text("ppy")),
    ];
    assert_eq!(last::<Drawing>(&steps).mood, None, "no half-read variant");

    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("mood")]), Event::Text("Happy")),
        (path(&[key("mood")]), Event::Close("\"Happy\"")),
        (path(&[key("shape")]), Event::Open),
        (path(&[key("shape"), key("Circle")]), Event::Open),
        (
            path(&[key("shape"), key("Circle"), key("radius")]),
            Event::Close("2.5"),
        ),
        (
            path(&[key("shape"), key("Circle")]),
            Event::Close(r#"{"radius": 2.5}"#),
        ),
    ];
    let partial = last::<Drawing>(&steps);
    assert_eq!(partial.mood, Some(Mood::Happy));
    assert_eq!(
        partial.shape, None,
        "a data variant waits for the enum's own close"
    );

    let mut steps = steps;
    steps.push((
        path(&[key("shape")]),
        Event::Close(r#"{"Circle": {"radius": 2.5}}"#),
    ));
    let partial = last::<Drawing>(&steps);
    assert_eq!(partial.shape, Some(Shape::Circle { radius: 2.5 }));
}

/// An enum that is not `Debug`.
#[derive(Deserialize, JsonSchema, Extract)]
enum Secret {
    Kept,
}

#[derive(Deserialize, JsonSchema, Extract)]
struct Printed {
    mood: Mood,
    secret: Option<Secret>,
    team: Box<Team>,
    pages: Vec<Page<Mood>>,
}

#[test]
fn every_partial_prints_as_debug_would_print_its_fields() {
    let partial = Partial::<Printed> {
        mood: Some(Mood::Sad),
        secret: Some(Secret::Kept),
        team: Some(Box::new(Partial::<Team> {
            members: Some(vec![
                Some(Partial::<Address> {
                    street: Some("Elm".to_owned()),
                    ..Default::default()
                }),
                None,
            ]),
            ..Default::default()
        })),
        pages: Some(vec![Some(Partial::<Page<Mood>> {
            items: Some(vec![Some(Mood::Happy)]),
            next: Some(2),
            ..Default::default()
        })]),
        ..Default::default()
    };
    // What `#[derive(Debug)]` on the same shapes would print, except the enum that is not `Debug`,
    // which prints as `..`. A generic struct prints its parameter's partial form as that type does.
    assert_eq!(
        format!("{partial:?}"),
        "PartialPrinted { mood: Some(Sad), secret: Some(..), team: Some(PartialTeam { members: \
         Some([Some(PartialAddress { street: Some(\"Elm\"), city: None }), None]) }), pages: \
         Some([Some(PartialPage { items: Some([Some(Happy)]), next: Some(2) })]) }"
    );
    let empty = Partial::<Printed>::default();
    assert_eq!(
        format!("{empty:#?}"),
        "PartialPrinted {\n    mood: None,\n    secret: None,\n    team: None,\n    pages: None,\n}"
    );
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(partial_derive(Clone))]
struct Page<T> {
    items: Vec<T>,
    next: Option<u32>,
}

#[test]
fn generic_structs_have_generic_partials() {
    let items = || key("items");
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[items()]), Event::Open),
        (path(&[items(), Seg::Index(0)]), Event::Open),
        (
            path(&[items(), Seg::Index(0), key("city")]),
            Event::Text("Paris"),
        ),
        (path(&[key("next")]), Event::Close("2")),
    ];
    let partial: Partial<Page<Address>> = last::<Page<Address>>(&steps);
    let list = partial.items.expect("items");
    let first = list[0].as_ref().expect("first");
    assert_eq!(first.city.as_deref(), Some("Paris"));
    assert_eq!(partial.next, Some(2));

    // The same definition with another parameter reads the same keys.
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[items(), Seg::Index(0)]), Event::Text("x")),
        (path(&[key("next")]), Event::Close("3")),
    ];
    let partial = last::<Page<String>>(&steps);
    assert_eq!(partial.items, Some(vec![Some("x".to_owned())]));
    assert_eq!(partial.next, Some(3));
}

#[test]
fn unknown_keys_and_their_contents_are_ignored() {
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("street")]), Event::Text("Elm")),
        (path(&[key("extra")]), Event::Open),
        (
            path(&[key("extra"), key("street")]),
            Event::Text("not this one"),
        ),
        (
            path(&[key("extra")]),
            Event::Close(r#"{"street": "not this one"}"#),
        ),
        (path(&[key("zip")]), Event::Close("12345")),
    ];
    let partial = last::<Address>(&steps);
    assert_eq!(partial.street.as_deref(), Some("Elm"));
    assert_eq!(partial.city, None);
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Labelled {
    title: String,
    #[serde(flatten)]
    address: Address,
    #[serde(rename = "n")]
    count: u32,
}

#[test]
fn flattened_fields_read_their_keys_at_the_same_level() {
    // {"title": "HQ", "street": "Elm", "city": "Rome", "n": 3}
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("title")]), Event::Text("HQ")),
        (path(&[key("street")]), Event::Text("Elm")),
        (path(&[key("city")]), Event::Text("Ro")),
        (path(&[key("n")]), Event::Close("3")),
    ];
    let partial = last::<Labelled>(&steps);
    assert_eq!(partial.title.as_deref(), Some("HQ"));
    assert_eq!(partial.count, Some(3));
    let address = partial
        .address
        .expect("the flattened struct opens with its container");
    assert_eq!(address.street.as_deref(), Some("Elm"));
    assert_eq!(address.city.as_deref(), Some("Ro"));
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "kind")]
enum Contact {
    Email { address: String },
    Phone { number: String },
}

impl Enforceable for Contact {
    type Partial = Contact;
    fn feed(slot: &mut Option<Contact>, at: &[Seg], event: &Event<'_>) {
        extract::stream::feed_atomic(slot, at, event)
    }
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Card {
    name: String,
    #[serde(flatten)]
    contact: Contact,
}

#[test]
fn a_flattened_enum_is_read_from_the_whole_object_when_it_closes() {
    let raw = r#"{"name": "Bo", "kind": "Email", "address": "bo@example.com"}"#;
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("name")]), Event::Text("Bo")),
        (path(&[key("kind")]), Event::Text("Email")),
        (path(&[key("address")]), Event::Text("bo@example.com")),
    ];
    let partial = last::<Card>(&steps);
    assert_eq!(partial.name.as_deref(), Some("Bo"));
    assert!(partial.contact.is_none(), "not before the object closes");

    let mut steps = steps;
    steps.push((vec![], Event::Close(raw)));
    let partial = last::<Card>(&steps);
    assert!(matches!(
        partial.contact,
        Some(Contact::Email { ref address }) if address == "bo@example.com"
    ));
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Wrapper {
    inner: Flat,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[serde(transparent)]
struct Transparent {
    flat: Flat,
}

#[test]
fn a_transparent_struct_is_its_field() {
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("name")]), Event::Text("Tess")),
    ];
    let partial = last::<Transparent>(&steps);
    assert_eq!(partial.flat.expect("inner").name.as_deref(), Some("Tess"));
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Comment {
    text: String,
    reply: Option<Box<Comment>>,
    replies: Vec<Comment>,
}

#[test]
fn recursive_types_have_finite_partials() {
    let steps: Vec<Step<'_>> = vec![
        (vec![], Event::Open),
        (path(&[key("reply")]), Event::Open),
        (path(&[key("reply"), key("text")]), Event::Text("deep")),
        (path(&[key("replies"), Seg::Index(0)]), Event::Open),
        (
            path(&[key("replies"), Seg::Index(0), key("text")]),
            Event::Text("wide"),
        ),
    ];
    let partial = last::<Comment>(&steps);
    assert_eq!(partial.reply.expect("reply").text.as_deref(), Some("deep"));
    let replies = partial.replies.expect("replies");
    let first = replies[0].as_ref().expect("first");
    assert_eq!(first.text.as_deref(), Some("wide"));
}

#[test]
fn partials_print_compare_and_clone() {
    // Built through the alias, as a user outside the defining module would.
    let mut partial = Partial::<Address> {
        street: Some("Elm".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        format!("{partial:?}"),
        r#"PartialAddress { street: Some("Elm"), city: None }"#
    );
    let copy = partial.clone();
    // `Clone`, `PartialEq` and `Serialize` because the type asks for them with `partial_derive`.
    assert_eq!(copy, partial);
    partial.city = Some("Rome".to_owned());
    assert_ne!(copy, partial);
    assert_eq!(
        serde_json::to_value(&partial).expect("serializes"),
        serde_json::json!({"street": "Elm", "city": "Rome"}),
        "the hidden last field is not serialized"
    );
}

/// A partial form that nests another asks for the same derives all the way down.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(partial_derive(Clone, PartialEq, Eq, Hash))]
struct Tagged {
    label: String,
    items: Vec<Leaf>,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(partial_derive(Clone, PartialEq, Eq, Hash))]
struct Leaf {
    name: String,
}

#[test]
fn partial_derive_reaches_nested_partials() {
    use std::collections::HashSet;
    let leaf = Partial::<Leaf> {
        name: Some("a".to_owned()),
        ..Default::default()
    };
    let tagged = Partial::<Tagged> {
        label: Some("x".to_owned()),
        items: Some(vec![Some(leaf.clone()), None]),
        ..Default::default()
    };
    let mut set = HashSet::new();
    assert!(set.insert(tagged.clone()));
    assert!(!set.insert(tagged), "equal partials hash alike");
}

/// Whether `T: Clone`, asked where `T` is concrete: the inherent constant applies when its bound
/// holds, and the trait's otherwise.
struct IsClone<T>(std::marker::PhantomData<T>);
trait NotClone {
    const CLONE: bool = false;
}
impl<T> NotClone for IsClone<T> {}
impl<T: Clone> IsClone<T> {
    const CLONE: bool = true;
}

#[test]
fn a_partial_form_is_clone_only_when_asked() {
    // Checked when the test compiles.
    const {
        assert!(!IsClone::<Partial<Flat>>::CLONE, "not asked");
        assert!(IsClone::<Partial<Address>>::CLONE, "partial_derive(Clone)");
        // A generic struct may ask too; its partial form is `Clone` when its fields' are.
        assert!(IsClone::<Partial<Page<Address>>>::CLONE);
        assert!(!IsClone::<Partial<Page<Flat>>>::CLONE);
    }
    let page = Partial::<Page<Address>> {
        items: Some(vec![Some(Partial::<Address> {
            city: Some("Oslo".to_owned()),
            ..Default::default()
        })]),
        ..Default::default()
    };
    let copy = page.clone();
    assert_eq!(format!("{copy:?}"), format!("{page:?}"));
}

#[test]
fn an_extract_type_has_a_sendable_partial() {
    fn sendable<T: Extract>() -> impl Send
    where
        T::Partial: Default,
    {
        T::Partial::default()
    }
    let _ = sendable::<Person>();
    let _ = sendable::<Page<Address>>();
    let _ = Wrapper::NAME;
}
