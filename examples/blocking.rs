//! The main job without an async runtime: `extract::blocking::Client` drives the async client on a
//! private runtime, so a plain `fn main` extracts a calendar event (feature `blocking`).
//!
//! With `OPENAI_API_KEY` (or `OPENAI_BASE_URL` and `EXTRACT_MODEL`), or `ANTHROPIC_API_KEY`, set, it asks that provider;
//! otherwise it starts the local model (llama.cpp + SmolLM2-135M, installed and cached on first use).
//!
//! ```sh
//! cargo run --example blocking
//! cargo run --example blocking -- "Dinner with Carol and Dave next Tuesday."
//! ```

use extract::Extract;
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

fn main() -> Result<(), extract::Error> {
    let text = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Alice and Bob are going to a science fair on Friday.".to_owned());
    let client = extract::blocking::Client::from_env_or_local()?;
    let extraction = client
        .extract::<CalendarEvent>(text.as_str())
        // As in the async main job: the most likely reading, which also keeps a small local model
        // from wandering into a list it never closes.
        .temperature(0.0)
        .send()?;
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
