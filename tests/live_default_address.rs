#![allow(dead_code)] // the fields exist for the schema the model fills
//! Issue 18's one-liner: an `Address` with the library's defaults on the embedded local model. Before
//! the local preset bounded `max_tokens`, the model never closed a string and the call ran into the
//! client's timeout; now it ends in seconds, as a value or as a typed `Truncated` with its text.
//! Alone in its binary, so that no other test shares the server's time while it is measured.

use std::time::{Duration, Instant};

use extract::{Error, Extract};
use extract_workspace_tests::live_base_url;
use schemars::JsonSchema;
use serde::Deserialize;

/// A postal address.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Address {
    street: String,
    city: String,
    country: String,
}

#[tokio::test]
async fn address_with_default_options_ends_within_ten_seconds() {
    let Some(base_url) = live_base_url() else {
        return;
    };
    // What `Client::from_env_or_local()` builds, against the server already running.
    let client = extract::local::builder(&base_url)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let result = Address::extract(
        &client,
        "Please send the invoice to 42 Elm Street, Springfield, United States.",
    )
    .await;
    let elapsed = started.elapsed();
    eprintln!("{elapsed:?}: {result:?}");
    match &result {
        Ok(_) | Err(Error::Truncated { .. }) => {}
        Err(e) => panic!("neither a value nor Truncated: {e}"),
    }
    assert!(
        elapsed < Duration::from_secs(10),
        "took {elapsed:?}: {result:?}"
    );
}
