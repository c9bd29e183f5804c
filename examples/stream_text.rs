//! Chat text as it arrives: a plain completion streamed delta by delta.
//!
//! ```sh
//! cargo run --example stream_text
//! cargo run --example stream_text -- "Write a haiku about rust."
//! ```

use std::io::Write;

use extract::Client;
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), extract::Error> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Tell me one fact about the moon.".to_owned());
    let client = Client::from_env_or_local().await?;
    let mut stream = client
        .complete(prompt)
        .instructions("You are a concise assistant.")
        .max_tokens(120)
        .stream();
    let mut out = std::io::stdout();
    while let Some(piece) = stream.next().await {
        let _ = write!(out, "{}", piece?);
        let _ = out.flush();
    }
    let summary = stream.summary();
    eprintln!(
        "\n{} tokens · finished: {:?}",
        summary.usage.total_tokens, summary.finish
    );
    Ok(())
}
