//! Error handling: every way an extraction can fail is a variant of `extract::Error` that keeps the
//! evidence. This provokes two against the model (a reply cut at its token limit, and a value the
//! type's own `validate` keeps rejecting) and shows what a caller does with each variant.
//!
//! ```sh
//! cargo run --example errors
//! ```

use std::time::Duration;

use extract::{Client, Error, Extract};
use schemars::JsonSchema;
use serde::Deserialize;

/// A calendar event mentioned in the text.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(validate = in_the_future)]
struct CalendarEvent {
    /// Short name of the event
    name: String,
    /// The date, as YYYY-MM-DD
    date: String,
}

/// A rule the model cannot meet from this text: it says "Friday", never a year.
fn in_the_future(event: &CalendarEvent) -> Result<(), String> {
    if event.date.starts_with("2099-") {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a date in 2099; the event is in 2099",
            event.date
        ))
    }
}

fn explain(error: &Error) {
    match error {
        Error::Truncated { partial, cause, .. } => {
            println!("cut off {cause}; kept {} bytes: {partial:?}", partial.len())
        }
        Error::Invalid {
            errors,
            attempts,
            stop,
            raw,
            ..
        } => {
            println!("still invalid after {attempts} attempt(s) ({stop:?}); last reply {raw:?}");
            for violation in errors {
                println!("  at `{}`: {}", violation.path, violation.message);
            }
        }
        Error::RateLimited { retry_after, .. } => {
            println!("rate limited; retry after {retry_after:?}")
        }
        Error::Refusal { refusal, .. } => println!("the model refused: {refusal}"),
        Error::Timeout { elapsed } => println!("timed out after {elapsed:?}"),
        Error::Api {
            status, message, ..
        } => println!("the provider said {status}: {message}"),
        other => println!("{other}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let client = Client::from_env_or_local().await?;
    let text = "Alice and Bob are going to a science fair on Friday.";

    let cut = client
        .extract::<CalendarEvent>(text)
        .max_tokens(6)
        .await
        .expect_err("six tokens cannot hold the value");
    explain(&cut);

    let invalid = client
        .extract::<CalendarEvent>(text)
        .temperature(0.0)
        .max_reasks(1)
        .token_budget(4_000)
        .await;
    match invalid {
        Ok(extraction) => println!(
            "the model met the rule: {} on {}",
            extraction.value.name, extraction.value.date
        ),
        Err(error) => explain(&error),
    }

    // A server that is not there: a transport error, after the configured retries.
    let nowhere = Client::builder()
        .base_url("http://127.0.0.1:9/v1")
        .model("none")
        .max_resends(1)
        .initial_backoff(Duration::from_millis(10))
        .build()?;
    if let Err(error) = CalendarEvent::extract(&nowhere, text).await {
        explain(&error);
    }
    Ok(())
}
