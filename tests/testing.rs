//! `extract::testing::MockProvider` as a user's tests meet it: the README's `CalendarEvent`
//! extracted against scripted replies, failures and all, and the requests inspected afterwards.

use std::time::{Duration, Instant};

use extract::stream::Update;
use extract::testing::{MockProvider, MOCK_MODEL};
use extract::{Error, Extract, Mode};
use extract_workspace_tests::{CalendarEvent, EVENT};
use futures_util::StreamExt;
use serde_json::json;

fn science_fair() -> CalendarEvent {
    CalendarEvent {
        name: "Science fair".into(),
        date: "Friday".into(),
        participants: vec!["Alice".into(), "Bob".into()],
    }
}

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";

#[tokio::test]
async fn a_scripted_value_is_extracted() {
    let mock = MockProvider::start().await;
    mock.reply_value(
        &json!({"name": "Science fair", "date": "Friday", "participants": ["Alice", "Bob"]}),
    );
    let extraction = mock
        .client()
        .extract::<CalendarEvent>(TEXT)
        .await
        .expect("a valid scripted reply");
    assert_eq!(extraction.value, science_fair());
    assert_eq!(extraction.attempts, 1);
    assert_eq!(extraction.model, MOCK_MODEL);
    assert!(extraction.usage.prompt_tokens > 0 && extraction.usage.completion_tokens > 0);
    assert_eq!(mock.pending(), 0);
}

#[tokio::test]
async fn an_invalid_reply_is_reasked_with_its_error() {
    let mock = MockProvider::start().await;
    mock.reply_value(&json!({"name": "Science fair", "date": "Friday"}))
        .reply_text(EVENT);
    let extraction = mock
        .client()
        .extract::<CalendarEvent>(TEXT)
        .await
        .expect("the reask is answered validly");
    assert_eq!(extraction.attempts, 2);
    assert_eq!(extraction.value, science_fair());
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    // The reask quotes the failed reply and says what was wrong where.
    let reask = requests[1].last_user_message().expect("a user turn");
    assert!(reask.contains("participants"), "{reask}");
    assert!(reask.contains("required"), "{reask}");
    let assistant = requests[1]
        .last_message("assistant")
        .expect("the quoted reply");
    assert!(assistant.contains("Science fair"), "{assistant}");
    // The first request is left as it was: the original input, once.
    assert_eq!(requests[1].messages()[..2], requests[0].messages()[..2]);
}

#[tokio::test]
async fn a_refusal_is_a_typed_error() {
    let mock = MockProvider::start().await;
    mock.refuse("I can't help with that.");
    match CalendarEvent::extract(&mock.client(), TEXT).await {
        Err(Error::Refusal { refusal, usage }) => {
            assert_eq!(refusal, "I can't help with that.");
            assert!(usage.total_tokens > 0);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(mock.requests().len(), 1, "a refusal is not reasked");
}

#[tokio::test]
async fn a_truncated_reply_keeps_what_arrived() {
    let mock = MockProvider::start().await;
    mock.truncate(r#"{"name": "Al"#);
    match CalendarEvent::extract(&mock.client(), TEXT).await {
        Err(err @ Error::Truncated { .. }) => {
            assert_eq!(err.raw_output(), Some(r#"{"name": "Al"#));
        }
        other => panic!("expected a truncation, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let mock = MockProvider::start().await;
    mock.rate_limit(Some(Duration::from_millis(50)))
        .reply_text(EVENT);
    let started = Instant::now();
    let event = CalendarEvent::extract(&mock.client(), TEXT)
        .await
        .expect("the retry after the 429 succeeds");
    assert_eq!(event, science_fair());
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(mock.requests().len(), 2);

    // A server error with the provider's envelope, past the transport retries.
    mock.fail(401, "Incorrect API key provided: sk-mock.");
    match CalendarEvent::extract(&mock.client(), TEXT).await {
        Err(Error::Api {
            status: 401,
            code,
            message,
        }) => {
            assert_eq!(code.as_deref(), Some("invalid_api_key"));
            assert!(message.starts_with("Incorrect API key"), "{message}");
        }
        other => panic!("expected a 401, got {other:?}"),
    }
}

#[tokio::test]
async fn a_slow_reply_meets_the_client_timeout() {
    let mock = MockProvider::start().await;
    mock.delay(Duration::from_secs(5)).reply_text(EVENT);
    let client = mock
        .client_builder()
        .timeout(Duration::from_millis(250))
        .transport_retries(0)
        .build()
        .expect("valid configuration");
    let started = Instant::now();
    match CalendarEvent::extract(&client, TEXT).await {
        Err(Error::Timeout { elapsed }) => assert!(elapsed >= Duration::from_millis(250)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_empty_queue_fails_with_a_message() {
    let mock = MockProvider::start().await;
    let started = Instant::now();
    match CalendarEvent::extract(&mock.client(), TEXT).await {
        Err(Error::Api {
            status: 500,
            message,
            ..
        }) => {
            assert!(message.contains("no reply was scripted"), "{message}");
        }
        other => panic!("expected the stand-in's 500, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_requests_can_be_inspected() {
    let mock = MockProvider::start().await;
    mock.reply_text(EVENT).reply_text(EVENT);
    let client = mock.client();
    client
        .extract::<CalendarEvent>(TEXT)
        .instructions("Extract the event. Dates as the text gives them.")
        .temperature(0.0)
        .max_tokens(200)
        .await
        .expect("a valid reply");
    client
        .extract::<CalendarEvent>(TEXT)
        .mode(Mode::Tools)
        .await
        .expect("a valid reply, as a function call");
    let requests = mock.requests();
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/chat/completions");
    assert_eq!(first.model(), Some(MOCK_MODEL));
    assert_eq!(first.temperature(), Some(0.0));
    assert_eq!(first.body["max_tokens"], 200);
    assert_eq!(
        first.system_message(),
        Some("Extract the event. Dates as the text gives them.")
    );
    assert_eq!(first.last_user_message(), Some(TEXT));
    assert_eq!(first.header("authorization"), Some("Bearer sk-mock"));
    let format = first.response_format().expect("the strict envelope");
    assert_eq!(format["json_schema"]["name"], "CalendarEvent");
    assert_eq!(format["json_schema"]["strict"], true);
    let schema = first.schema().expect("a schema");
    assert_eq!(schema["required"], json!(["name", "date", "participants"]));
    let tools = &requests[1];
    assert!(tools.response_format().is_none());
    assert_eq!(tools.body["tools"][0]["function"]["name"], "CalendarEvent");
    assert_eq!(tools.schema(), Some(schema));
}

#[tokio::test]
async fn streams_are_served_as_server_sent_events() {
    let mock = MockProvider::start().await;
    mock.reply_value(&json!({"name": "Science fair", "date": "Friday"}))
        .reply_text(EVENT);
    let client = mock.client();
    let mut stream = client.extract::<CalendarEvent>(TEXT).stream();
    let (mut partials, mut reasks) = (0, 0);
    let done = loop {
        match stream.next().await {
            Some(Ok(Update::Partial(_))) => partials += 1,
            Some(Ok(Update::Reask { attempt, errors })) => {
                assert_eq!(attempt, 2);
                assert!(errors.iter().any(|e| e.message.contains("participants")));
                reasks += 1;
            }
            Some(Ok(Update::Done(extraction))) => break extraction,
            // `Update` may gain variants; none matters here.
            #[allow(unreachable_patterns)]
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
            None => panic!("the stream ended without a value"),
        }
    };
    drop(stream);
    assert_eq!(done.value, science_fair());
    assert_eq!(done.attempts, 2);
    assert_eq!(reasks, 1);
    assert!(partials >= 1, "the value was announced before it was done");
    assert!(done.usage.total_tokens > 0, "the usage chunk is read");
    assert!(mock.requests().iter().all(|r| r.is_stream()));

    // Text arrives in the stand-in's small pieces, one delta each.
    mock.reply_text("Hello from the stand-in.");
    let mut stream = client.complete("Say hello.").stream();
    let mut pieces = Vec::new();
    while let Some(piece) = stream.next().await {
        pieces.push(piece.expect("a delta"));
    }
    assert_eq!(pieces.concat(), "Hello from the stand-in.");
    assert!(pieces.len() > 5, "{pieces:?}");
    assert!(pieces.iter().all(|p| p.len() <= 9), "{pieces:?}");
}
