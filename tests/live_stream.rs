//! The live tier for streaming: real streamed replies from llama-server and SmolLM2-135M-Instruct
//! (see tests/live.rs for what a 135M model is held to).

use extract::stream::Update;
use extract::{Error, Extract};
use extract_workspace_tests::live_client;
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;

/// A calendar event mentioned in the text (the list bounded, as in tests/live.rs).
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
struct CalendarEvent {
    /// Short name of the event
    name: String,
    date: String,
    #[schemars(length(max = 6))]
    participants: Vec<String>,
}

/// One entry of a plan, every string bounded: the grammar then closes each string where a 135M
/// model would repeat a name until the token limit, so the list's elements complete.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
struct Entry {
    /// What happens.
    #[schemars(length(max = 24))]
    what: String,
    /// The day.
    #[schemars(length(max = 12))]
    day: String,
    /// Who it is with.
    #[schemars(length(max = 12))]
    with: String,
}

macro_rules! live {
    () => {
        match live_client() {
            Some(client) => client,
            None => return,
        }
    };
}

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";

#[tokio::test]
async fn streamed_calendar_extraction_ends_with_the_plain_extractions_type() {
    let client = live!();
    let plain = client
        .extract::<CalendarEvent>(TEXT)
        .temperature(0.0)
        .await
        .expect("a plain typed value");
    let mut stream = client
        .extract::<CalendarEvent>(TEXT)
        .temperature(0.0)
        .stream();
    let mut partials = 0;
    let mut last = None;
    while let Some(update) = stream.next().await {
        match update.expect("no error") {
            Update::Partial(_) => partials += 1,
            Update::Reask { .. } => {}
            Update::Done(done) => last = Some(done),
        }
    }
    let streamed = last.expect("the stream ends with the value");
    assert!(
        partials > 1,
        "the value filled in over {partials} update(s)"
    );
    // Same type, same judging; at temperature 0 the same value too.
    let _: &CalendarEvent = &streamed.value;
    assert_eq!(streamed.value, plain.value);
    assert!(streamed.usage.completion_tokens > 0);
}

#[tokio::test]
async fn element_stream_of_a_list() {
    let client = live!();
    // Each run must end in elements or a typed cut, nothing else. Even with every string bounded
    // the 135M model can go astray (its four server slots batch differently from run to run, so
    // temperature 0 is not the same reply every time): up to three runs, and one must yield.
    let mut runs = Vec::new();
    for _ in 0..3 {
        let mut events = client
            .extract::<Vec<Entry>>(
                "Monday: lunch with Ann. Tuesday: gym with Bo. Friday: a film with Cy.",
            )
            .temperature(0.0)
            // A 135M model may not stop a list by itself; the cap turns that into a cut.
            .max_tokens(250)
            .elements();
        let mut got = Vec::new();
        let mut ended = None;
        while let Some(item) = events.next().await {
            match item {
                Ok(event) => got.push(event),
                Err(err) => ended = Some(err),
            }
        }
        match &ended {
            None | Some(Error::Truncated { .. }) => {}
            Some(other) => panic!("{other:?} after {got:?}"),
        }
        if !got.is_empty() {
            return;
        }
        runs.push(ended);
    }
    panic!("no element arrived in three runs; they ended with {runs:?}");
}

#[tokio::test]
async fn text_stream() {
    let client = live!();
    let mut stream = client
        .complete("Name one planet.")
        .temperature(0.0)
        .max_tokens(24)
        .stream();
    let mut pieces = 0;
    let mut text = String::new();
    while let Some(piece) = stream.next().await {
        text.push_str(&piece.expect("no error"));
        pieces += 1;
    }
    assert!(pieces > 1, "{pieces} piece(s): {text:?}");
    assert!(!text.trim().is_empty());
    assert!(stream.summary().finish.is_some());
}
