//! `extract::blocking::Client` (feature `blocking`) from plain threads, against a scripted server
//! (the wiremock-based `MockProvider`, started without a runtime), and its refusal to block a
//! thread of a Tokio runtime.

use std::time::Duration;

use extract::testing::MockProvider;
use extract::{blocking, Client, Error, Extract, Mode};
use extract_workspace_tests::{bodies, completion, CalendarEvent, Meeting, EVENT};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

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
        .max_reasks(1)
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
        .max_resends(0)
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
    let unscripted = client.extract::<CalendarEvent>(TEXT).max_reasks(0).send();
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
        .max_reasks(5)
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

// The tests below were the unit tests of `extract/src/blocking.rs` (issue 13 moved them here), on
// the shared `Meeting`, against a bare wiremock server (whose usage the tests count).

/// A server (on wiremock's own thread) answering `replies` in order, the last one repeated.
fn server(replies: Vec<serde_json::Value>) -> MockServer {
    block_on(async {
        let server = MockServer::start().await;
        let count = replies.len();
        for (i, reply) in replies.into_iter().enumerate() {
            let mock = Mock::given(method("POST"))
                .and(path("/v1/chat/completions"))
                .respond_with(ResponseTemplate::new(200).set_body_json(reply))
                .with_priority(u8::try_from(i + 1).unwrap_or(u8::MAX));
            let mock = if i + 1 < count {
                mock.up_to_n_times(1)
            } else {
                mock
            };
            mock.mount(&server).await;
        }
        server
    })
}

fn client_of(server: &MockServer) -> blocking::Client {
    Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .timeout(Duration::from_secs(5))
        .build_blocking()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn sent(server: &MockServer) -> Vec<serde_json::Value> {
    block_on(bodies(server))
}

/// Runs `f` to its end on a runtime of its own, as the blocking client does.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
        .block_on(f)
}

#[test]
fn is_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<blocking::Client>();
}

#[test]
fn extracts_without_a_runtime_with_the_request_options() {
    let server = server(vec![
        completion(r#"{"name": "Fair"}"#),
        completion(r#"{"name": "Fair", "day": "Friday"}"#),
    ]);
    let client = client_of(&server);
    let extraction = client
        .extract::<Meeting>("A fair on Friday.")
        .instructions("Find the event.")
        .model("other-model")
        .temperature(0.25)
        .max_tokens(64)
        .max_reasks(1)
        .mode(Mode::JsonObject)
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        extraction.value,
        Meeting {
            name: "Fair".into(),
            day: "Friday".into()
        }
    );
    assert_eq!(extraction.attempts, 2);
    assert_eq!(extraction.mode, Mode::JsonObject);
    assert_eq!(extraction.usage.total_tokens, 30);
    let sent = sent(&server);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["model"], "other-model");
    assert_eq!(sent[0]["temperature"], 0.25);
    assert_eq!(sent[0]["max_tokens"], 64);
    assert_eq!(sent[0]["response_format"]["type"], "json_object");
    assert!(sent[0]["messages"][0]["content"]
        .as_str()
        .is_some_and(|s| s.starts_with("Find the event.")));
    assert!(sent[1].to_string().contains("day"));
}

#[test]
fn errors_are_the_async_errors() {
    let server = server(vec![completion("not json at all")]);
    let client = client_of(&server);
    let err = client
        .extract::<Meeting>("x")
        .max_reasks(0)
        .send()
        .err()
        .unwrap_or_else(|| panic!("an invalid reply must fail"));
    assert!(matches!(err, Error::Invalid { attempts: 1, .. }), "{err:?}");
}

#[test]
fn clones_work_from_many_threads_at_once() {
    let server = server(vec![completion(r#"{"name": "Fair", "day": "Friday"}"#)]);
    let client = client_of(&server);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let client = client.clone();
                scope.spawn(move || client.extract::<Meeting>("x").send().map(|e| e.value.day))
            })
            .collect();
        for handle in handles {
            let day = handle
                .join()
                .unwrap_or_else(|_| panic!("a thread panicked"));
            assert_eq!(day.ok().as_deref(), Some("Friday"));
        }
    });
    assert_eq!(sent(&server).len(), 8);
}

#[tokio::test]
async fn refuses_to_block_an_async_runtime_and_drops_cleanly_there() {
    let server = MockServer::start().await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let blocking = blocking::Client::from_async(client).unwrap_or_else(|e| panic!("{e}"));
    let err = blocking
        .extract::<Meeting>("x")
        .send()
        .err()
        .unwrap_or_else(|| panic!("blocking inside a runtime must be refused"));
    match err {
        Error::Config { message } => {
            assert!(message.contains("thread of a Tokio runtime"), "{message}");
            assert!(message.contains("async"), "{message}");
        }
        other => panic!("expected Config, got {other:?}"),
    }
    // In spawn_blocking too, which Tokio cannot tell apart without a panic.
    let clone = blocking.clone();
    let err = tokio::task::spawn_blocking(move || clone.extract::<Meeting>("x").send())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(err, Err(Error::Config { .. })));
    // Nothing was sent, and dropping the last clone here does not panic.
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
    drop(blocking);
}
