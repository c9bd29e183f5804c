//! Input limits against a scripted server (wiremock): an input over `max_input_tokens` is rejected
//! before anything is sent (`expect(0)`), or truncated to fit and sent; the request's settings win
//! over the client's; a custom counter replaces the estimate; streams obey the same limit.

use std::time::Duration;

use extract::{Client, ClientBuilder, Error, InputPolicy, Message};
use extract_workspace_tests::{bodies, completion, ok, ok_sse, sse, CalendarEvent, EVENT};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

/// `n` words: "w0 w1 ... w{n-1}".
fn words(n: usize) -> String {
    (0..n)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn by_words(text: &str) -> usize {
    text.split_whitespace().count()
}

async fn server(expected: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ok(completion(EVENT)))
        .expect(expected)
        .mount(&server)
        .await;
    server
}

fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .timeout(Duration::from_secs(5))
}

fn build(builder: ClientBuilder) -> Client {
    builder.build().expect("valid configuration")
}

/// The user messages of the one request the server received.
async fn sent_user_text(server: &MockServer) -> Vec<String> {
    let body = bodies(server).await.remove(0);
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn reject_sends_nothing_and_says_how_long() {
    let server = server(0).await;
    let client = build(
        builder(&server)
            .max_input_tokens(10)
            .token_counter(by_words),
    );
    match client.extract::<CalendarEvent>(words(40)).await {
        Err(err @ Error::InputTooLong { .. }) => {
            assert!(matches!(
                err,
                Error::InputTooLong {
                    tokens: 40,
                    limit: 10
                }
            ));
            let text = err.to_string();
            assert!(
                text.contains("40 tokens") && text.contains("limit of 10"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn reject_is_the_default_policy_and_the_estimate_the_default_counter() {
    let server = server(0).await;
    let client = build(builder(&server).max_input_tokens(100));
    // 300 letters are at least 100 tokens by the estimate (one per three letters).
    let long = "abc ".repeat(150);
    assert!(matches!(
        client.extract::<CalendarEvent>(long).await,
        Err(Error::InputTooLong { limit: 100, .. })
    ));
}

#[tokio::test]
async fn an_input_within_the_limit_is_sent_unchanged() {
    let server = server(1).await;
    let client = build(
        builder(&server)
            .max_input_tokens(40)
            .token_counter(by_words),
    );
    let extraction = client
        .extract::<CalendarEvent>(words(40))
        .await
        .expect("sent");
    assert_eq!(extraction.value.name, "Science fair");
    assert_eq!(sent_user_text(&server).await, [words(40)]);
}

#[tokio::test]
async fn truncate_end_keeps_the_beginning() {
    let server = server(1).await;
    let client = build(
        builder(&server)
            .max_input_tokens(5)
            .on_long_input(InputPolicy::TruncateEnd)
            .token_counter(by_words),
    );
    client
        .extract::<CalendarEvent>(words(40))
        .await
        .expect("truncated and sent");
    assert_eq!(sent_user_text(&server).await, ["w0 w1 w2 w3 w4"]);
}

#[tokio::test]
async fn truncate_start_keeps_the_end() {
    let server = server(1).await;
    let client = build(builder(&server).token_counter(by_words));
    client
        .extract::<CalendarEvent>(words(40))
        .max_input_tokens(3)
        .on_long_input(InputPolicy::TruncateStart)
        .await
        .expect("truncated and sent");
    assert_eq!(sent_user_text(&server).await, ["w37 w38 w39"]);
}

#[tokio::test]
async fn the_request_overrides_the_client() {
    let server = server(0).await;
    let client = build(
        builder(&server)
            .max_input_tokens(1_000)
            .on_long_input(InputPolicy::TruncateEnd)
            .token_counter(by_words),
    );
    let result = client
        .extract::<CalendarEvent>(words(40))
        .max_input_tokens(10)
        .on_long_input(InputPolicy::Reject)
        .await;
    assert!(matches!(
        result,
        Err(Error::InputTooLong {
            tokens: 40,
            limit: 10
        })
    ));
}

#[tokio::test]
async fn a_history_keeps_its_system_messages_and_latest_turns() {
    let server = server(1).await;
    let client = build(
        builder(&server)
            .max_input_tokens(8)
            .on_long_input(InputPolicy::TruncateStart)
            .token_counter(by_words),
    );
    let history = vec![
        Message::system("dates as written"),
        Message::user("one two three four"),
        Message::assistant("five six seven"),
        Message::user("Alice and Bob, Friday"),
    ];
    client
        .extract::<CalendarEvent>(history)
        .await
        .expect("truncated and sent");
    let body = bodies(&server).await.remove(0);
    let roles_and_text: Vec<(String, String)> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .skip(1) // the extraction's own instructions
        .map(|m| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&m["role"]), text(&m["content"]))
        })
        .collect();
    assert_eq!(
        roles_and_text,
        [
            ("system".to_owned(), "dates as written".to_owned()),
            ("assistant".to_owned(), "seven".to_owned()),
            ("user".to_owned(), "Alice and Bob, Friday".to_owned()),
        ]
    );
}

#[tokio::test]
async fn nothing_left_after_truncation_is_a_rejection() {
    let server = server(0).await;
    let client = build(
        builder(&server)
            .max_input_tokens(2)
            .on_long_input(InputPolicy::TruncateEnd)
            .token_counter(by_words),
    );
    let history = vec![
        Message::system("three system words"),
        Message::user("w0 w1"),
    ];
    assert!(matches!(
        client.extract::<CalendarEvent>(history).await,
        Err(Error::InputTooLong {
            tokens: 5,
            limit: 2
        })
    ));
}

#[tokio::test]
async fn a_stream_of_a_rejected_input_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok_sse(sse(EVENT, 8, "stop")))
        .expect(0)
        .mount(&server)
        .await;
    let client = build(
        builder(&server)
            .max_input_tokens(10)
            .token_counter(by_words),
    );
    let mut stream = client.extract::<CalendarEvent>(words(40)).stream();
    match stream.next().await {
        Some(Err(Error::InputTooLong {
            tokens: 40,
            limit: 10,
        })) => {}
        other => panic!("{:?}", other.map(|r| r.map(|_| "an update"))),
    }
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn a_stream_of_a_long_input_sends_it_truncated() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok_sse(sse(EVENT, 8, "stop")))
        .expect(1)
        .mount(&server)
        .await;
    let client = build(
        builder(&server)
            .max_input_tokens(2)
            .on_long_input(InputPolicy::TruncateEnd)
            .token_counter(by_words),
    );
    let mut stream = client.extract::<CalendarEvent>(words(40)).stream();
    while let Some(update) = stream.next().await {
        update.expect("no error");
    }
    assert_eq!(sent_user_text(&server).await, ["w0 w1"]);
}
