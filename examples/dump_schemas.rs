//! Sends one extraction of each type of the reference set (`tests/support/reference.rs`) to an
//! OpenAI-compatible endpoint, so that what `extract` puts on the wire can be measured there.
//! `scripts/bench-tokens.py` runs it against its capture server to count the schema's tokens.
//!
//! ```sh
//! cargo run --example dump_schemas -- http://127.0.0.1:8080/v1
//! ```

use extract::{Client, Extract};
use extract_workspace_tests::for_each_reference_type;
use extract_workspace_tests::reference::*;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), extract::Error> {
    let Some(base_url) = std::env::args().nth(1) else {
        eprintln!("usage: dump_schemas <base URL of an OpenAI-compatible endpoint>");
        std::process::exit(2);
    };
    let client = Client::builder()
        .base_url(base_url)
        .model("bench")
        .max_reasks(0)
        .max_resends(0)
        .build()?;
    // The endpoint's reply is not expected to be a valid value: the request is what counts.
    async fn send<T: Extract>(client: &Client) {
        if let Err(err) = client.extract::<T>("(no input)").await {
            if !matches!(err, extract::Error::Invalid { .. }) {
                eprintln!("{}: {err}", T::NAME);
            }
        }
    }
    macro_rules! visit {
        ($t:ident) => {
            send::<$t>(&client).await
        };
    }
    for_each_reference_type!(visit);
    Ok(())
}
