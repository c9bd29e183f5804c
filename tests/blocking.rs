//! `extract::blocking::Client` (feature `blocking`) from plain threads, against a scripted server
//! (the wiremock-based `MockProvider`, started without a runtime), and its refusal to block a
//! thread of a Tokio runtime.

use std::time::Duration;

use extract::testing::MockProvider;
use extract::{blocking, Error, Extract, Mode};
use extract_workspace_tests::{CalendarEvent, EVENT};
use serde_json::json;

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";

fn client(mock: &MockProvider) -> blocking::Client {
    mock.client_builder()
        .build_blocking()
        .expect("valid configuration")
}

#[test]
fn extracts_in_a_plain_fn() {
    let mock = MockProvider::start_blocking();
    mock.reply_text(EVENT);
    let client = client(&mock);
    let event = CalendarEvent::extract_blocking(&client, TEXT).expect("a valid reply");
    assert_eq!(event.participants, ["Alice", "Bob"]);
    assert_eq!(mock.requests()[0].last_user_message(), Some(TEXT));
}

#[test]
fn the_request_options_are_those_of_the_async_client() {
    let mock = MockProvider::start_blocking();
    mock.reply_value(&json!({"name": "Science fair", "date": "Friday"}))
        .reply_text(EVENT);
    let extraction = client(&mock)
        .extract::<CalendarEvent>(TEXT)
        .instructions("Extract the event.")
        .model("another-model")
        .temperature(0.0)
        .max_tokens(300)
        .max_retries(1)
        .mode(Mode::JsonObject)
        .send()
        .expect("the reask is answered validly");
    assert_eq!(extraction.attempts, 2);
    assert_eq!(extraction.mode, Mode::JsonObject);
    assert_eq!(extraction.value.name, "Science fair");
    let first = &mock.requests()[0];
    assert_eq!(first.model(), Some("another-model"));
    assert_eq!(first.temperature(), Some(0.0));
    assert_eq!(first.body["max_tokens"], 300);
    assert_eq!(
        first.response_format(),
        Some(&json!({"type": "json_object"}))
    );
    assert!(first
        .system_message()
        .is_some_and(|s| s.starts_with("Extract the event.")));
}

#[test]
fn failures_are_the_same_typed_errors() {
    let mock = MockProvider::start_blocking();
    let client = mock
        .client_builder()
        .timeout(Duration::from_millis(200))
        .transport_retries(0)
        .build_blocking()
        .expect("valid configuration");
    mock.refuse("I can't help with that.");
    assert!(matches!(
        client.extract::<CalendarEvent>(TEXT).send(),
        Err(Error::Refusal { .. })
    ));
    mock.delay(Duration::from_secs(3)).reply_text(EVENT);
    assert!(matches!(
        client.extract::<CalendarEvent>(TEXT).send(),
        Err(Error::Timeout { .. })
    ));
    let unscripted = client.extract::<CalendarEvent>(TEXT).max_retries(0).send();
    // The queue is empty now: the stand-in's 500, not a hang.
    assert!(
        matches!(&unscripted, Err(Error::Api { status: 500, message, .. }) if message.contains("no reply was scripted")),
        "{unscripted:?}"
    );
}

#[test]
fn one_client_serves_many_threads() {
    let mock = MockProvider::start_blocking();
    for _ in 0..6 {
        mock.reply_text(EVENT);
    }
    let client = client(&mock);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let client = client.clone();
                scope.spawn(move || client.extract::<CalendarEvent>(TEXT).send())
            })
            .collect();
        for handle in handles {
            let extraction = handle.join().expect("the thread finished");
            assert_eq!(
                extraction.map(|e| e.value.date).ok().as_deref(),
                Some("Friday")
            );
        }
    });
    assert_eq!(mock.requests().len(), 6);
}

#[tokio::test]
async fn inside_a_runtime_it_refuses_with_a_typed_error() {
    let mock = MockProvider::start().await;
    mock.reply_text(EVENT);
    let client = blocking::Client::from_async(mock.client()).expect("a runtime");
    match client.extract::<CalendarEvent>(TEXT).send() {
        Err(Error::Config { message }) => {
            assert!(message.contains("Tokio runtime"), "{message}");
            assert!(message.contains("async"), "{message}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    // Nothing was sent; the async client inside still works here.
    assert!(mock.requests().is_empty());
    let event = CalendarEvent::extract(client.async_client(), TEXT)
        .await
        .expect("a valid reply");
    assert_eq!(event.name, "Science fair");
    // Dropping the last clone inside the runtime does not panic.
    drop(client);
}

#[test]
fn the_request_limit_applies_to_a_blocking_extraction_too() {
    let mock = MockProvider::start_blocking();
    mock.reply_value(&json!({"name": "Science fair"}))
        .reply_value(&json!({"name": "Science fair", "date": 1}));
    let err = client(&mock)
        .extract::<CalendarEvent>(TEXT)
        .max_retries(5)
        .max_requests(2)
        .send()
        .map(|_| ())
        .expect_err("two invalid replies and no request left");
    match err {
        Error::RequestLimit {
            limit, requests, ..
        } => assert_eq!((limit, requests), (2, 2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.requests().len(), 2);
}
