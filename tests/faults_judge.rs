//! The judge's faults (issue 15, items 4, 12, 17 and 18), each provoked through a local server the
//! way a model would: a repeated key, a reply of megabytes where an integer belongs, prose with an
//! example before the answer, and a list whose element type has its own instructions and
//! description.

use std::time::Duration;

use extract::stream::Update;
use extract::{Client, Error, Extract, Mode, StopReason};
use extract_workspace_tests::{
    bodies, completion, ok, ok_sse, server_with, sse, CalendarEvent, EVENT,
};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use wiremock::MockServer;

/// `EVENT` with its `name` given twice.
const REPEATED: &str =
    r#"{"name":"first","name":"second","date":"Friday","participants":["Alice","Bob"]}"#;

fn client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .api_key("sk-test-judge")
        .model("test-model")
        .initial_backoff(Duration::from_millis(5))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn event() -> CalendarEvent {
    serde_json::from_str(EVENT).unwrap_or_else(|e| panic!("EVENT is a CalendarEvent: {e}"))
}

/// The messages of the n-th request (0-based).
async fn messages(server: &MockServer, n: usize) -> Vec<Value> {
    bodies(server).await[n]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The feedback the n-th request carried back to the model: its last message.
async fn feedback(server: &MockServer, n: usize) -> String {
    messages(server, n)
        .await
        .last()
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

// ---- Item 4: a repeated key is a violation, on every path ----

/// The violation every path reports for `REPEATED`.
fn names_the_repeated_key(message: &str) -> bool {
    message.contains("the key `name` appears more than once in one object")
}

#[tokio::test]
async fn a_repeated_key_in_bare_json_is_reasked_not_resolved() {
    // Bare JSON of an object type: the fast path reads it first, then the full judgement.
    let server = server_with(vec![ok(completion(REPEATED)), ok(completion(EVENT))]).await;
    let extraction = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect("the second reply is valid");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 2);
    let said = feedback(&server, 1).await;
    assert!(said.contains("- (root): "), "{said}");
    assert!(names_the_repeated_key(&said), "{said}");
    assert_eq!(bodies(&server).await.len(), 2);
}

#[tokio::test]
async fn a_repeated_key_on_the_fallback_paths_is_invalid_output_naming_the_key() {
    // Prose (the locator), a wrapped root (a list) and an object too large for the fast tree all
    // take the path that reads a `Value`, where the last key used to win silently.
    let many: String = (0..300).map(|i| format!(",\"extra{i}\":{i}")).collect();
    let huge = format!("{}{many}}}", REPEATED.trim_end_matches('}'));
    let cases = [
        format!("Here it is: {REPEATED} Anything else?"),
        format!("```json\n{REPEATED}\n```"),
        huge,
    ];
    for reply in &cases {
        let server = server_with(vec![ok(completion(reply))]).await;
        let err = client(&server)
            .extract::<CalendarEvent>("text")
            .mode(Mode::Prompt)
            .await
            .expect_err("never valid");
        match &err {
            Error::Invalid {
                raw,
                errors,
                attempts,
                stop,
                ..
            } => {
                assert_eq!(raw, reply);
                assert_eq!(errors.len(), 1, "{errors:?}");
                assert_eq!(errors[0].path, "");
                assert!(names_the_repeated_key(&errors[0].message), "{errors:?}");
                assert_eq!(*attempts, 2);
                assert_eq!(*stop, StopReason::RepeatedErrors);
            }
            other => panic!("{other:?}"),
        }
        assert!(names_the_repeated_key(&feedback(&server, 1).await));
    }

    let list = r#"{"items":[{"name":"a","date":"d","participants":[]}],"items":[]}"#;
    let server = server_with(vec![
        ok(completion(list)),
        ok(completion(&format!(r#"{{"items":[{EVENT}]}}"#))),
    ])
    .await;
    let extraction = client(&server)
        .extract::<Vec<CalendarEvent>>("text")
        .await
        .expect("the second reply is valid");
    assert_eq!(extraction.value, vec![event()]);
    assert_eq!(extraction.attempts, 2);
    let said = feedback(&server, 1).await;
    assert!(
        said.contains("the key `items` appears more than once"),
        "{said}"
    );
}

#[tokio::test]
async fn a_streamed_repeated_key_never_shows_both_values_and_is_reasked() {
    let server = server_with(vec![
        ok_sse(sse(REPEATED, 5, "stop")),
        ok_sse(sse(EVENT, 5, "stop")),
    ])
    .await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut names = Vec::new();
    let mut reasks = Vec::new();
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update.expect("no error") {
            Update::Partial(p) => names.push((reasks.len(), p.name.clone())),
            Update::Reask { attempt, errors } => reasks.push((attempt, errors)),
            Update::Done(extraction) => done = Some(extraction),
        }
    }
    // During the first reply the name is never more than `first`: the parser stops at the repeated
    // key, before its value.
    let first: Vec<_> = names.iter().filter(|(n, _)| *n == 0).collect();
    assert!(!first.is_empty());
    for (_, name) in &first {
        let name = name.as_deref().unwrap_or_default();
        assert!("first".starts_with(name), "{names:?}");
    }
    assert!(
        names
            .iter()
            .all(|(_, n)| !n.as_deref().unwrap_or_default().contains("second")),
        "{names:?}"
    );
    assert_eq!(reasks.len(), 1, "{reasks:?}");
    assert_eq!(reasks[0].0, 2);
    assert_eq!(reasks[0].1.len(), 1);
    assert!(
        names_the_repeated_key(&reasks[0].1[0].message),
        "{reasks:?}"
    );
    let done = done.expect("a Done update");
    assert_eq!(done.value, event());
    assert_eq!(done.attempts, 2);
    assert!(names_the_repeated_key(&feedback(&server, 1).await));
}

#[tokio::test]
async fn a_streamed_repeated_key_gets_the_same_verdict_as_a_plain_one() {
    let server = server_with(vec![ok_sse(sse(REPEATED, 7, "stop"))]).await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut last = None;
    while let Some(update) = stream.next().await {
        if let Err(err) = update {
            last = Some(err);
        }
    }
    match last {
        Some(Error::Invalid {
            raw,
            errors,
            attempts,
            stop,
            ..
        }) => {
            assert_eq!(raw, REPEATED);
            assert_eq!(attempts, 2);
            assert_eq!(stop, StopReason::RepeatedErrors);
            assert!(names_the_repeated_key(&errors[0].message), "{errors:?}");
        }
        other => panic!("{other:?}"),
    }
}

// ---- Item 12: an invalid reply of megabytes ----

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[allow(dead_code)] // only its schema matters: no reply here is valid
struct Count {
    count: i64,
}

#[tokio::test]
async fn a_reply_of_megabytes_gives_a_bounded_display_and_keeps_the_raw_text() {
    let big = "x".repeat(7_900_000);
    let reply = format!(r#"{{"count":"{big}"}}"#);
    let server = server_with(vec![ok(completion(&reply))]).await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .api_key("sk-test-judge")
        .model("test-model")
        .max_response_bytes(16 * 1024 * 1024)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = client
        .extract::<Count>("text")
        .await
        .expect_err("a string is not an integer");
    let shown = err.to_string();
    assert!(shown.len() < 1_000, "{} bytes shown", shown.len());
    assert!(
        shown.starts_with(
            "invalid output after 2 attempt(s) (the model repeated the same errors): /count: \"xxx"
        ),
        "{shown}"
    );
    assert!(shown.contains("… [cut "), "{shown}");
    assert!(shown.ends_with(" bytes]"), "{shown}");
    match &err {
        Error::Invalid { raw, errors, .. } => {
            assert_eq!(raw.len(), reply.len(), "the raw text is kept whole");
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].path, "/count");
            // The violation quotes the value, cut, and says how much was cut.
            let expected = format!(
                "\"{}… [cut {} bytes] is not of type \"integer\"",
                "x".repeat(511),
                7_900_002 - 512
            );
            assert_eq!(errors[0].message, expected);
        }
        other => panic!("{other:?}"),
    }
    // The reask quotes the reply and its errors, both cut.
    let sent = &server.received_requests().await.unwrap_or_default()[1].body;
    assert!(
        sent.len() < 20_000,
        "the reask's body is {} bytes",
        sent.len()
    );
    let said = feedback(&server, 1).await;
    assert!(said.contains("- /count: \"xxx"), "{said}");
    assert!(said.contains("… [cut "), "{said}");
}

// ---- Item 17: an example object before the answer ----

#[tokio::test]
async fn prose_with_an_example_before_the_answer_yields_the_answer_in_one_attempt() {
    let reply = format!(
        "The format is {{\"name\": \"...\", \"date\": \"...\"}}, for example \
         {{\"name\": \"Party\", \"date\": \"Monday\", \"participants\": \"everyone\"}}.\n\
         Here is the event: {EVENT}\nAnything else?"
    );
    let server = server_with(vec![ok(completion(&reply))]).await;
    let extraction = client(&server)
        .extract::<CalendarEvent>("text")
        .mode(Mode::Prompt)
        .await
        .expect("the answer validates");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 1);
    assert_eq!(bodies(&server).await.len(), 1);
}

#[tokio::test]
async fn prose_where_no_object_validates_reports_the_first_one() {
    let reply = "For example {\"name\": \"Party\"} and then {\"date\": \"Friday\"}.";
    let server = server_with(vec![ok(completion(reply))]).await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .mode(Mode::Prompt)
        .max_reasks(0)
        .await
        .expect_err("nothing validates");
    match &err {
        Error::Invalid {
            errors, attempts, ..
        } => {
            assert_eq!(*attempts, 1);
            let messages: Vec<&str> = errors.iter().map(|v| v.message.as_str()).collect();
            assert!(
                messages.contains(&"\"date\" is a required property"),
                "{messages:?}"
            );
            assert!(
                !messages.contains(&"\"name\" is a required property"),
                "{messages:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

// ---- Item 18: a list keeps its element type's instructions and description ----

/// A line of an invoice.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
#[extract(
    description = "One line item of an invoice, as printed.",
    instructions = "Extract the invoice's line items, in the order printed."
)]
struct LineItem {
    product: String,
    quantity: u32,
}

const ITEMS: &str = r#"{"items":[{"product":"Tea","quantity":2},{"product":"Cake","quantity":1}]}"#;

fn line_items() -> Vec<LineItem> {
    vec![
        LineItem {
            product: "Tea".into(),
            quantity: 2,
        },
        LineItem {
            product: "Cake".into(),
            quantity: 1,
        },
    ]
}

/// Asserts that a request for a list of `LineItem` carries its instructions and description.
fn carries_the_element_type(body: &Value, mode: Mode) {
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(
        system.starts_with("Extract the invoice's line items, in the order printed."),
        "{system}"
    );
    let description = "One line item of an invoice, as printed.";
    match mode {
        Mode::JsonSchema => {
            let schema = &body["response_format"]["json_schema"];
            assert_eq!(schema["name"], "list");
            assert_eq!(schema["description"], description);
            assert_eq!(schema["schema"]["description"], description);
        }
        _ => assert!(
            system.contains(&format!("\"description\":\"{description}\"")),
            "{system}"
        ),
    }
}

#[tokio::test]
async fn a_list_request_carries_its_element_types_instructions_and_description() {
    for mode in [Mode::JsonSchema, Mode::Prompt] {
        let server = server_with(vec![ok(completion(ITEMS))]).await;
        let extraction = client(&server)
            .extract::<Vec<LineItem>>("Tea x2, Cake x1")
            .mode(mode)
            .await
            .expect("valid");
        assert_eq!(extraction.value, line_items());
        carries_the_element_type(&bodies(&server).await[0], mode);
    }
}

#[tokio::test]
async fn an_element_stream_carries_its_element_types_instructions_and_description() {
    let server = server_with(vec![ok_sse(sse(ITEMS, 8, "stop"))]).await;
    let client = client(&server);
    let items: Vec<LineItem> = client
        .extract::<Vec<LineItem>>("Tea x2, Cake x1")
        .elements()
        .map(|item| item.expect("valid"))
        .collect()
        .await;
    assert_eq!(items, line_items());
    carries_the_element_type(&bodies(&server).await[0], Mode::JsonSchema);
}
