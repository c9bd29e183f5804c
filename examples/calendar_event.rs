//! The main job: extract a calendar event from a sentence.
//!
//! With `OPENAI_API_KEY` (or `OPENAI_BASE_URL` and `EXTRACT_MODEL`) set, it asks that provider;
//! otherwise it starts the local model (llama.cpp + SmolLM2-135M, built and cached on first use).
//!
//! ```sh
//! cargo run --example calendar_event
//! cargo run --example calendar_event -- "Dinner with Carol and Dave next Tuesday."
//! ```

use extract::{Client, Extract};
use schemars::JsonSchema;
use serde::Deserialize;

/// A calendar event mentioned in the text.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct CalendarEvent {
    /// Short name of the event
    name: String,
    date: String,
    participants: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), extract::Error> {
    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Alice and Bob are going to a science fair on Friday.".to_owned());
    let client = Client::from_env_or_local().await?;
    let extraction = client
        .extract::<CalendarEvent>(text.as_str())
        // Extraction wants the most likely reading, not variety; it also keeps a small local model
        // from wandering into a list it never closes.
        .temperature(0.0)
        .await?;
    let event = &extraction.value;
    println!("name:         {}", event.name);
    println!("date:         {}", event.date);
    println!("participants: {}", event.participants.join(", "));
    eprintln!(
        "model {} · mode {} · {} attempt(s) · {} tokens",
        extraction.model, extraction.mode, extraction.attempts, extraction.usage.total_tokens
    );
    Ok(())
}
