//! A list extracted element by element: each event is printed as soon as it is complete and valid,
//! while the model is still writing the next one.
//!
//! ```sh
//! cargo run --example stream_elements
//! ```

use extract::{Client, Extract};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;

/// A calendar event mentioned in the text.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct CalendarEvent {
    /// Short name of the event
    #[schemars(length(max = 60))]
    name: String,
    #[schemars(length(max = 40))]
    date: String,
}

#[tokio::main]
async fn main() -> Result<(), extract::Error> {
    let text = std::env::args().nth(1).unwrap_or_else(|| {
        "Monday: lunch with Ann. Tuesday: gym. Friday: a film with Bo and Cy.".to_owned()
    });
    let client = Client::from_env_or_local().await?;
    let mut events = client
        .extract::<Vec<CalendarEvent>>(text)
        // A bound on the reply: a small model may not end a list by itself.
        .max_tokens(400)
        .elements();
    while let Some(event) = events.next().await {
        let event = event?;
        println!("{}: {}", event.date, event.name);
    }
    let summary = events.summary();
    eprintln!(
        "{} attempt(s) · {} tokens",
        summary.attempts, summary.usage.total_tokens
    );
    Ok(())
}
