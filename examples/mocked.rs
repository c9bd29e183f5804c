//! Testing without a network: code that calls `T::extract` run against the scripted stand-in of the
//! `testing` feature, which answers with queued replies and records every request. Put the same in
//! your own `#[tokio::test]`s; this example runs the scenario as a program.
//!
//! ```sh
//! cargo run --example mocked
//! ```

use extract::testing::MockProvider;
use extract::{Client, Error, Extract};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// A calendar event mentioned in the text.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
struct CalendarEvent {
    name: String,
    date: String,
}

/// The code under test: what an application would write.
async fn next_event(client: &Client, email: &str) -> Result<CalendarEvent, Error> {
    CalendarEvent::extract(client, email).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mock = MockProvider::start().await;
    let client = mock.client();

    // A reply that misses a field, then a good one: the code gets the value after one reask.
    mock.reply_value(&json!({"name": "Science fair"}))
        .reply_value(&json!({"name": "Science fair", "date": "Friday"}));
    let event = next_event(&client, "The science fair is on Friday.").await?;
    assert_eq!(event.date, "Friday");
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    let reask = requests[1].last_user_message().unwrap_or_default();
    assert!(
        reask.contains("date"),
        "the reask names the missing field: {reask}"
    );
    println!("reasked once, got {event:?}");

    // A refusal reaches the code as a typed error.
    mock.refuse("I can't help with that.");
    match next_event(&client, "…").await {
        Err(Error::Refusal { refusal, .. }) => println!("refused: {refusal}"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // An exhausted rate limit too.
    mock.rate_limit(None).rate_limit(None).rate_limit(None);
    match next_event(&client, "…").await {
        Err(Error::RateLimited { .. }) => println!("rate limited, as scripted"),
        other => panic!("expected a rate limit, got {other:?}"),
    }
    Ok(())
}
