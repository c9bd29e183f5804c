//! A chat whose history survives between runs, in a file the program owns, and a typed summary
//! extracted from it at the end.
//!
//! Each argument is one user turn; the history is read from and written back to `chat-history.json`
//! (or `$CHAT_HISTORY`), so running it twice continues the same conversation.
//!
//! ```sh
//! cargo run --example chat -- "I'd like to plan a trip to Lisbon." "What should I pack for May?"
//! cargo run --example chat -- "And which neighbourhood should I stay in?"
//! ```

use std::path::PathBuf;

use extract::{Client, Extract, Message};
use schemars::JsonSchema;
use serde::Deserialize;

/// What the conversation was about, for a CRM note or a ticket.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(instructions = "Summarise the conversation between the user and the assistant.")]
struct Summary {
    /// The subject of the conversation, in a few words
    #[schemars(length(max = 80))]
    topic: String,
    /// What the user asked for, one short item per request
    #[schemars(length(max = 5))]
    requests: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = std::env::var_os("CHAT_HISTORY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("chat-history.json"));
    let mut history: Vec<Message> = match std::fs::read(&store) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut turns: Vec<String> = std::env::args().skip(1).collect();
    if turns.is_empty() {
        turns.push("Hi! I'd like to plan a weekend in Lisbon.".to_owned());
    }

    let client = Client::from_env_or_local().await?;
    for turn in turns {
        println!("user:      {turn}");
        history.push(Message::user(turn));
        let reply = client
            .complete(history.clone())
            .instructions("You are a helpful travel assistant. Answer in two sentences.")
            .temperature(0.3)
            .max_tokens(120)
            .await?;
        println!("assistant: {}", reply.text.trim());
        history.push(Message::assistant(reply.text.trim()));
        // Saved after every turn: a crash loses nothing that was said.
        std::fs::write(&store, serde_json::to_vec_pretty(&history)?)?;
    }

    let summary = client
        .extract::<Summary>(history.clone())
        .temperature(0.0)
        .max_tokens(200)
        .await?
        .value;
    println!("\ntopic:     {}", summary.topic);
    for request in &summary.requests {
        println!("request:   {request}");
    }
    eprintln!("{} messages in {}", history.len(), store.display());
    Ok(())
}
