//! The Anthropic dialect against Anthropic itself, when `ANTHROPIC_API_KEY` is set (and
//! `ANTHROPIC_MODEL`, else `claude-haiku-4-5`); skipped, saying so, without it. CI here has no key:
//! the wire format is proven against documented replies in `tests/anthropic.rs`.

use extract::stream::Update;
use extract::{Client, Mode};
use extract_workspace_tests::CalendarEvent;

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";

fn client() -> Option<Client> {
    let Some(key) = std::env::var("ANTHROPIC_API_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty())
    else {
        eprintln!("ANTHROPIC_API_KEY is not set: skipping the live Anthropic test");
        return None;
    };
    let model = std::env::var("ANTHROPIC_MODEL").unwrap_or_else(|_| "claude-haiku-4-5".into());
    Some(
        Client::anthropic(key)
            .model(model)
            .max_tokens(1024)
            .build()
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

#[tokio::test]
async fn live_anthropic_extracts_and_streams() {
    let Some(client) = client() else { return };
    let event = client
        .extract::<CalendarEvent>(TEXT)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(event.mode, Mode::Tools);
    assert!(event.value.participants.iter().any(|p| p == "Alice"));

    let mut stream = client.extract::<CalendarEvent>(TEXT).stream();
    loop {
        match stream.next().await {
            Some(Ok(Update::Done(done))) => {
                assert!(done.usage.prompt_tokens > 0);
                break;
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
            None => panic!("the stream ended without a value"),
        }
    }
}
