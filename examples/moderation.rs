//! Content moderation: classify user messages into a closed set of categories, with a confidence
//! and a reason, as a typed value.
//!
//! The category is an enum, so a constrained decoder can only produce one of its names; the
//! confidence is a whole percent bounded to 0..=100, which constrained decoders enforce for
//! integers (a float's bounds are only checked after the reply, and a small model that ignores them
//! costs reasks). With the local 135M model the value is always well-typed; its judgement is not
//! to be trusted.
//!
//! ```sh
//! cargo run --example moderation
//! cargo run --example moderation -- "Buy cheap watches now!!! Limited offer!!!"
//! ```

use extract::{Client, Extract};
use schemars::JsonSchema;
use serde::Deserialize;

/// What kind of message it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema, Extract)]
#[serde(rename_all = "snake_case")]
enum Category {
    /// Nothing to act on.
    Safe,
    /// Advertising, scams, repeated links.
    Spam,
    /// Insults or threats aimed at a person.
    Harassment,
    /// Attacks on a group for who they are.
    Hate,
    /// Threats or praise of violence.
    Violence,
    /// Sexual content.
    Sexual,
}

/// A moderation decision about one message.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(
    instructions = "You moderate messages posted on a forum. Classify the user's message into the \
                    one category that fits best, say how confident you are in percent, and give a \
                    one-sentence reason."
)]
struct Moderation {
    /// The category that fits the message best.
    category: Category,
    /// How sure the decision is, in percent: 0 is a guess, 100 is certain.
    #[schemars(range(max = 100))]
    confidence: u8,
    /// One short sentence saying why.
    reason: String,
}

#[tokio::main]
async fn main() -> Result<(), extract::Error> {
    let mut messages: Vec<String> = std::env::args().skip(1).collect();
    if messages.is_empty() {
        messages = [
            "Thanks for the detailed answer, it fixed my build!",
            "BUY CHEAP WATCHES NOW!!! Visit cheap-watches.example for 90% off!!!",
            "You are a worthless idiot and everyone here hates you.",
        ]
        .map(String::from)
        .to_vec();
    }
    let client = Client::from_env_or_local().await?;
    for message in &messages {
        let decision = client
            .extract::<Moderation>(message)
            .temperature(0.0)
            .await?
            .value;
        println!(
            "{:<10} {:>3}%  {message:?}\n               {}",
            format!("{:?}", decision.category),
            decision.confidence,
            decision.reason
        );
    }
    Ok(())
}
