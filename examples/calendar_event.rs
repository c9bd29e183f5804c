//! The main job: extract a calendar event from a sentence.
//!
//! With `OPENAI_API_KEY` (or `OPENAI_BASE_URL` and `EXTRACT_MODEL`), or `ANTHROPIC_API_KEY`, set, it asks that provider;
//! otherwise it starts the local model (llama.cpp's prebuilt server + SmolLM2-135M,
//! installed and cached on first use: seconds, and it says what it is doing).
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
    // The local model's preset already asks for temperature 0 and bounds the reply's tokens
    // (`extract::local::builder`); a request's own `.temperature(..)` or `.max_tokens(..)` would win.
    let extraction = client.extract::<CalendarEvent>(text.as_str()).await?;
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
