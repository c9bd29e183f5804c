//! Caching: the same request twice, the second answered from the local response cache (feature
//! `cache`) with no HTTP call and no tokens billed. Behind Cloudflare AI Gateway, the request options
//! `gateway_cache_ttl`, `skip_gateway_cache` and `gateway_cache_key` drive the gateway's own cache,
//! and `Extraction::cache_status` reports its verdict.
//!
//! ```sh
//! cargo run --example caching
//! ```

use std::time::{Duration, Instant};

use extract::cache::ResponseCache;
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
    let provider = Client::from_env_or_local().await?;
    let cache = ResponseCache::new()
        .max_entries(1_000)
        .ttl(Duration::from_secs(600));
    // The same server and model, with the cache in front.
    let mut builder = Client::builder()
        .base_url(provider.base_url())
        .dialect(provider.dialect())
        .model(provider.model())
        .cache(cache.clone());
    if let Ok(key) = std::env::var("OPENAI_API_KEY") {
        builder = builder.api_key(key);
    }
    let client = builder.build()?;

    let text = "Alice and Bob are going to a science fair on Friday.";
    for round in 1..=2 {
        let started = Instant::now();
        let extraction = client
            .extract::<CalendarEvent>(text)
            .temperature(0.0)
            .await?;
        println!(
            "round {round}: {} on {} with {} in {:?} · cache {} · {} tokens",
            extraction.value.name,
            extraction.value.date,
            extraction.value.participants.join(", "),
            started.elapsed(),
            extraction.cache_status.as_deref().unwrap_or("MISS"),
            extraction.usage.total_tokens,
        );
    }
    let stats = cache.stats();
    println!("hits {} · misses {}", stats.hits, stats.misses);
    drop(provider);
    Ok(())
}
