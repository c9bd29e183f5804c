#![allow(dead_code)] // the types exist for the schemas the model fills; not every field is read
//! The live tier: real extractions against llama.cpp's llama-server and SmolLM2-135M-Instruct, started
//! once for this test binary (see `scripts/local-model.sh`). A 135M model is held to what it can do:
//! in the constrained modes it returns a typed value every time; exact fields are asserted only where
//! the text leaves no doubt. `temperature(0.0)` keeps the runs repeatable.

use std::sync::atomic::{AtomicBool, Ordering};

use extract::{Error, Extract, Message, Mode};
use extract_workspace_tests::live_client;
use schemars::JsonSchema;
use serde::Deserialize;

/// A calendar event mentioned in the text. The examples' type, with one addition a 135M model needs:
/// a bound on the list (`maxItems`, which strict decoding enforces), since tiny models can repeat an
/// item until the token limit.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct CalendarEvent {
    /// Short name of the event
    name: String,
    date: String,
    #[schemars(length(max = 6))]
    participants: Vec<String>,
}

macro_rules! live {
    () => {
        match live_client() {
            Some(client) => client,
            None => return,
        }
    };
}

fn lower(items: &[String]) -> Vec<String> {
    items.iter().map(|s| s.to_lowercase()).collect()
}

#[tokio::test]
async fn calendar_event() {
    let client = live!();
    let extraction = client
        .extract::<CalendarEvent>("Alice and Bob are going to a science fair on Friday.")
        .temperature(0.0)
        .await
        .expect("a typed value");
    let event = extraction.value;
    let people = lower(&event.participants);
    assert!(people.iter().any(|p| p.contains("alice")), "{event:?}");
    assert!(people.iter().any(|p| p.contains("bob")), "{event:?}");
    assert!(
        !event.name.is_empty() && !event.date.is_empty(),
        "{event:?}"
    );
    assert_eq!(extraction.mode, Mode::JsonSchema);
    assert!(extraction.usage.prompt_tokens > 0 && extraction.usage.completion_tokens > 0);
}

/// A postal address.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Address {
    street: String,
    city: String,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Person {
    name: String,
    address: Address,
}

#[tokio::test]
async fn nested_struct() {
    let client = live!();
    let person = client
        .extract::<Person>("John Smith lives at 12 Oak Street in Springfield.")
        .temperature(0.0)
        .await
        .expect("a typed value")
        .value;
    assert!(person.name.contains("John"), "{person:?}");
    assert!(person.address.city.contains("Springfield"), "{person:?}");
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Contact {
    name: String,
    email: Option<String>,
    phone: Option<String>,
}

#[tokio::test]
async fn optional_fields() {
    let client = live!();
    let contact = client
        .extract::<Contact>("Contact: Maria, email maria@example.com.")
        .temperature(0.0)
        .await
        .expect("a typed value")
        .value;
    assert!(contact.name.contains("Maria"), "{contact:?}");
    assert_eq!(
        contact.email.as_deref(),
        Some("maria@example.com"),
        "{contact:?}"
    );
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct LineItem {
    product: String,
    quantity: u32,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Order {
    #[schemars(length(max = 6))]
    items: Vec<LineItem>,
}

#[tokio::test]
async fn vec_of_objects() {
    let client = live!();
    let order = client
        .extract::<Order>("I'd like 2 apples and 3 bananas.")
        .temperature(0.0)
        .await
        .expect("a typed value")
        .value;
    assert!(!order.items.is_empty(), "{order:?}");
    assert!(
        order.items.iter().all(|item| !item.product.is_empty()),
        "{order:?}"
    );
}

#[derive(Debug, Deserialize, JsonSchema, Extract, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Priority {
    Low,
    Medium,
    High,
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Ticket {
    title: String,
    priority: Priority,
}

#[tokio::test]
async fn unit_enum_field() {
    let client = live!();
    let ticket = client
        .extract::<Ticket>("Urgent, high priority: the login page is down.")
        .temperature(0.0)
        .await
        .expect("a typed value")
        .value;
    assert!(!ticket.title.is_empty(), "{ticket:?}");
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Payment {
    Card { last_four: String },
    Cash { amount: f64 },
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Purchase {
    item: String,
    payment: Payment,
}

#[tokio::test]
async fn data_enum_field() {
    let client = live!();
    let purchase = client
        .extract::<Purchase>("Paid for a coffee in cash, 3.50 dollars.")
        .temperature(0.0)
        .await
        .expect("a typed value")
        .value;
    assert!(!purchase.item.is_empty(), "{purchase:?}");
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Review {
    product: String,
    /// From 1 to 5
    #[schemars(range(min = 1, max = 5))]
    stars: u8,
    price: f64,
}

#[tokio::test]
async fn numbers_with_ranges() {
    let client = live!();
    let review = client
        .extract::<Review>("The Acme kettle costs 25 dollars. I give it 4 stars out of 5.")
        .temperature(0.0)
        .await
        .expect("a typed value")
        .value;
    assert!((1..=5).contains(&review.stars), "{review:?}");
    assert!(review.price >= 0.0, "{review:?}");
}

#[derive(Debug, Deserialize, JsonSchema, Extract, PartialEq)]
enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

#[tokio::test]
async fn classification_enum_root() {
    let client = live!();
    let extraction = client
        .extract::<Sentiment>("I love this phone, it is wonderful!")
        .temperature(0.0)
        .await
        .expect("a typed value");
    assert!(
        extraction.raw.contains("\"sentiment\""),
        "the enum travels wrapped: {}",
        extraction.raw
    );
}

static FIRST_CHECK: AtomicBool = AtomicBool::new(true);

/// Rejects the first answer it sees, whatever it is, so the reask path runs against the real model.
fn reject_first(_: &Summary) -> Result<(), String> {
    if FIRST_CHECK.swap(false, Ordering::SeqCst) {
        Err("the title must restate the main topic; try again".into())
    } else {
        Ok(())
    }
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(validate = reject_first)]
struct Summary {
    title: String,
    #[schemars(length(max = 6))]
    topics: Vec<String>,
}

#[tokio::test]
async fn validate_reask() {
    let client = live!();
    let extraction = client
        .extract::<Summary>("The meeting covered the budget and the hiring plan.")
        .temperature(0.0)
        .await
        .expect("a typed value after the reask");
    assert_eq!(extraction.attempts, 2);
    assert!(extraction.usage.prompt_tokens > 0);
}

#[tokio::test]
async fn chat_history_input() {
    let client = live!();
    let history = vec![
        Message::user("Hi, I want to plan something."),
        Message::assistant("Sure, what is it?"),
        Message::user("A birthday party with Carol and Dave on Saturday."),
    ];
    let event = client
        .extract::<CalendarEvent>("")
        .messages(history)
        .temperature(0.0)
        .await
        .expect("a typed value")
        .value;
    let people = lower(&event.participants);
    assert!(
        people.iter().any(|p| p.contains("carol")) || people.iter().any(|p| p.contains("dave")),
        "{event:?}"
    );
}

#[tokio::test]
async fn truncation_at_the_token_limit() {
    let client = live!();
    let err = client
        .extract::<CalendarEvent>("Alice and Bob are going to a science fair on Friday.")
        .max_tokens(5)
        .temperature(0.0)
        .await
        .expect_err("5 tokens cannot hold the event");
    match err {
        Error::Truncated { partial, usage, .. } => {
            assert!(
                partial.starts_with('{'),
                "greedy decoding under the grammar opens an object: {partial:?}"
            );
            assert_eq!(usage.completion_tokens, 5);
        }
        other => panic!("{other:?}"),
    }
}

/// In the modes the server does not constrain to the schema, a 135M model may fail the schema or run
/// on until the token limit; what it must never do is end in anything but a value, `Invalid` or
/// `Truncated`, each with the evidence.
async fn unconstrained(mode: Mode) -> Result<CalendarEvent, Error> {
    let client = live_client().expect("live");
    let result = client
        .extract::<CalendarEvent>("Alice and Bob are going to a science fair on Friday.")
        .mode(mode)
        .temperature(0.0)
        .max_tokens(300)
        .await;
    match result {
        Ok(extraction) => {
            assert_eq!(extraction.mode, mode);
            Ok(extraction.value)
        }
        Err(err @ (Error::Invalid { .. } | Error::Truncated { .. })) => {
            assert!(
                err.raw_output().is_some_and(|raw| !raw.is_empty()),
                "{mode}: the evidence is kept"
            );
            eprintln!("{mode}: {err}");
            Err(err)
        }
        Err(other) => panic!("{mode}: {other:?}"),
    }
}

#[tokio::test]
async fn json_object_mode() {
    if live_client().is_none() {
        return;
    }
    let _ = unconstrained(Mode::JsonObject).await;
}

#[tokio::test]
async fn prompt_mode() {
    if live_client().is_none() {
        return;
    }
    let _ = unconstrained(Mode::Prompt).await;
}

#[tokio::test]
async fn tools_mode() {
    if live_client().is_none() {
        return;
    }
    let _ = unconstrained(Mode::Tools).await;
}
