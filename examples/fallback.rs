//! Fallback between providers: a request goes to the first client and, when that one fails in a way
//! another provider may not (a rate limit, overload, a timeout, a server that is down), starts over
//! on the next. Here the first is a server that is down (`EXTRACT_PRIMARY_URL`, by default a port
//! nothing listens on), and the next is the configured provider, or the local model.
//!
//! ```sh
//! cargo run --example fallback
//! ```

use std::time::Duration;

use extract::{Client, Extract};
use schemars::JsonSchema;
use serde::Deserialize;

/// A calendar event mentioned in the text.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct CalendarEvent {
    /// Short name of the event.
    name: String,
    /// When it happens, as the text says it.
    date: String,
    /// Who takes part.
    participants: Vec<String>,
}

#[tokio::main]
async fn main() -> Result<(), extract::Error> {
    let next = Client::from_env_or_local().await?;
    let primary =
        std::env::var("EXTRACT_PRIMARY_URL").unwrap_or_else(|_| "http://127.0.0.1:9/v1".to_owned());
    let client = Client::builder()
        .base_url(primary)
        .model("primary-model")
        .connect_timeout(Duration::from_secs(2))
        .max_resends(0)
        .fallback(next)
        .build()?;
    let extraction = client
        .extract::<CalendarEvent>("Alice and Bob are going to a science fair on Friday.")
        .await?;
    println!(
        "answered by:  {} ({})",
        extraction.dialect, extraction.model
    );
    println!("name:         {}", extraction.value.name);
    println!("date:         {}", extraction.value.date);
    println!("participants: {}", extraction.value.participants.join(", "));
    Ok(())
}
