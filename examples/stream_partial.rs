//! A typed value filling in as the model writes it: each update is the value so far, then the
//! validated value.
//!
//! ```sh
//! cargo run --example stream_partial
//! ```

use extract::stream::Update;
use extract::{Client, Extract};
use schemars::JsonSchema;
use serde::Deserialize;

/// A calendar event mentioned in the text.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct CalendarEvent {
    /// Short name of the event
    name: String,
    date: String,
    #[schemars(length(max = 6))]
    participants: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), extract::Error> {
    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Alice and Bob are going to a science fair on Friday.".to_owned());
    let client = Client::from_env_or_local().await?;
    let mut stream = client
        .extract::<CalendarEvent>(text)
        .temperature(0.0)
        .stream();
    while let Some(update) = stream.next().await {
        match update? {
            // Borrowed: following the stream costs nothing per update.
            Update::Partial(event) => println!("… {event:?}"),
            Update::Reask { attempt, errors } => {
                println!("asking again (attempt {attempt}): {errors:?}")
            }
            Update::Done(extraction) => {
                let event = &extraction.value;
                println!(
                    "= {} on {} with {}",
                    event.name,
                    event.date,
                    event.participants.join(", ")
                );
                eprintln!(
                    "{} attempt(s) · {} tokens",
                    extraction.attempts, extraction.usage.total_tokens
                );
            }
        }
    }
    Ok(())
}
