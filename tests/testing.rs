//! `extract::testing::MockProvider` as a user's tests meet it: the README's `CalendarEvent`
//! extracted against scripted replies, failures and all, and the requests inspected afterwards.

use std::time::{Duration, Instant};

use extract::stream::Update;
use extract::testing::{MockProvider, RecordedRequest, MOCK_MODEL};
use extract::{Client, Error, Extract, Mode};
use extract_workspace_tests::{meeting, CalendarEvent, Meeting, EVENT};
use futures_util::StreamExt;
use serde_json::{json, Value};

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
        .max_resends(0)
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

// The tests below were the unit tests of `extract/src/testing.rs` (issue 13 moved them here), on
// the shared `Meeting`.

fn ok<T>(result: Result<T, Error>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn err<T: std::fmt::Debug>(result: Result<T, Error>) -> Error {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_value_then_a_reask_with_the_error() {
    let mock = MockProvider::start().await;
    mock.reply_value(&json!({"name": "Fair"}))
        .reply_value(&meeting());
    let extraction = ok(mock.client().extract::<Meeting>("A fair on Friday.").await);
    assert_eq!(extraction.value, meeting());
    assert_eq!(extraction.attempts, 2);
    assert_eq!(extraction.model, MOCK_MODEL);
    assert_eq!(mock.pending(), 0);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].model(), Some(MOCK_MODEL));
    assert_eq!(requests[0].last_user_message(), Some("A fair on Friday."));
    assert!(requests[0].system_message().is_some());
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-mock"));
    assert_eq!(
        requests[0].response_format().map(|f| &f["type"]),
        Some(&json!("json_schema"))
    );
    assert!(requests[0]
        .schema()
        .is_some_and(|s| s["properties"]["day"].is_object()));
    assert!(!requests[0].is_stream());
    let reask = requests[1].last_user_message().unwrap_or_default();
    assert!(reask.contains("day"), "{reask}");
    assert_eq!(
        requests[1].messages().len(),
        requests[0].messages().len() + 2
    );
}

#[tokio::test]
async fn usage_is_estimated_or_as_set() {
    let mock = MockProvider::start().await;
    mock.reply_value(&meeting())
        .set_usage(Some((100, 20)))
        .reply_value(&meeting());
    let client = mock.client();
    let estimated = ok(client.extract::<Meeting>("x").await).usage;
    let body = mock.requests()[0].body.clone();
    let sent = body["messages"].to_string().len() + body["response_format"].to_string().len();
    assert_eq!(estimated.prompt_tokens, (sent as u64).div_ceil(4));
    let text_len = serde_json::to_string(&meeting()).map_or(0, |t| t.len());
    assert_eq!(estimated.completion_tokens, (text_len as u64).div_ceil(4));
    let set = ok(client.extract::<Meeting>("x").await).usage;
    assert_eq!(
        (set.prompt_tokens, set.completion_tokens, set.total_tokens),
        (100, 20, 120)
    );
}

#[tokio::test]
async fn refusal_truncation_and_filter() {
    let mock = MockProvider::start().await;
    let client = mock.client();
    mock.refuse("I can't help with that.");
    match err(client.extract::<Meeting>("x").await) {
        Error::Refusal { refusal, usage } => {
            assert_eq!(refusal, "I can't help with that.");
            assert!(usage.total_tokens > 0);
        }
        other => panic!("{other:?}"),
    }
    mock.truncate(r#"{"name": "Fa"#);
    match err(client.extract::<Meeting>("x").await) {
        Error::Truncated { partial, .. } => assert_eq!(partial, r#"{"name": "Fa"#),
        other => panic!("{other:?}"),
    }
    mock.filter("");
    assert!(matches!(
        err(client.extract::<Meeting>("x").await),
        Error::ContentFilter { .. }
    ));
}

#[tokio::test]
async fn errors_in_openai_envelopes() {
    let mock = MockProvider::start().await;
    let client = mock.client();
    mock.fail(401, "Incorrect API key provided.");
    match err(client.extract::<Meeting>("x").await) {
        Error::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(status, 401);
            assert_eq!(code.as_deref(), Some("invalid_api_key"));
            assert_eq!(message, "Incorrect API key provided.");
        }
        other => panic!("{other:?}"),
    }
    // A 503 is retried: the transport retry takes the next reply.
    mock.fail(503, "overloaded").reply_value(&meeting());
    assert_eq!(ok(client.extract::<Meeting>("x").await).value, meeting());
    mock.reply_raw(502, "text/html", "<html><body>Bad gateway</body></html>");
    let client = mock.client_builder().max_resends(0).build();
    match err(ok(client).extract::<Meeting>("x").await) {
        Error::Api {
            status, message, ..
        } => {
            assert_eq!(status, 502);
            assert!(message.contains("Bad gateway"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.requests().len(), 4);
}

#[tokio::test]
async fn rate_limits_with_retry_after() {
    let mock = MockProvider::start().await;
    let client = mock.client();
    mock.rate_limit(Some(Duration::from_millis(30)))
        .reply_value(&meeting());
    let started = Instant::now();
    assert_eq!(ok(client.extract::<Meeting>("x").await).value, meeting());
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(mock.requests().len(), 2);
    // Longer than the client waits: the delay comes back at once.
    mock.rate_limit(Some(Duration::from_millis(120_500)));
    match err(client.extract::<Meeting>("x").await) {
        Error::RateLimited {
            retry_after,
            message,
        } => {
            assert_eq!(retry_after, Some(Duration::from_millis(120_500)));
            assert!(
                message.contains("Rate limit reached for mock-model"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn a_delay_meets_the_client_timeout() {
    let mock = MockProvider::start().await;
    mock.delay(Duration::from_secs(3)).reply_value(&meeting());
    mock.reply_value(&meeting());
    let client = ok(mock
        .client_builder()
        .timeout(Duration::from_millis(200))
        .max_resends(0)
        .build());
    let started = Instant::now();
    assert!(matches!(
        err(client.extract::<Meeting>("x").await),
        Error::Timeout { .. }
    ));
    assert!(started.elapsed() < Duration::from_secs(2));
    // The delay went with the first reply only.
    assert_eq!(ok(client.extract::<Meeting>("x").await).value, meeting());
}

#[tokio::test]
async fn an_empty_queue_says_so() {
    let mock = MockProvider::start().await;
    let client = ok(mock.client_builder().max_resends(0).build());
    match err(client.extract::<Meeting>("x").await) {
        Error::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(status, 500);
            assert_eq!(code.as_deref(), Some("no_reply_scripted"));
            assert!(
                message.contains("no reply was scripted for request 1"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn other_paths_are_refused_without_using_the_queue() {
    let mock = MockProvider::start().await;
    mock.reply_value(&meeting());
    let address = mock.uri().trim_end_matches("/v1").to_owned();
    let client = ok(Client::builder()
        .base_url(format!("{address}/v2"))
        .model("m")
        .max_resends(0)
        .build());
    match err(client.extract::<Meeting>("x").await) {
        Error::Api {
            status, message, ..
        } => {
            assert_eq!(status, 404);
            assert!(message.contains("/v2/chat/completions"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(mock.pending(), 1);
}

#[tokio::test]
async fn tools_mode_gets_a_function_call() {
    let mock = MockProvider::start().await;
    mock.reply_value(&meeting());
    let extraction = ok(mock
        .client()
        .extract::<Meeting>("x")
        .mode(Mode::Tools)
        .await);
    assert_eq!(extraction.value, meeting());
    let request = &mock.requests()[0];
    assert!(request.response_format().is_none());
    assert!(request
        .schema()
        .is_some_and(|s| s["properties"]["name"].is_object()));
}

/// The `data:` payloads of an SSE body.
fn events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap_or(Value::Null))
        .collect()
}

async fn stream(mock: &MockProvider, extra: Value) -> (String, String) {
    let mut body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let response = reqwest::Client::new()
        .post(format!("{}/chat/completions", mock.uri()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    let response = response.unwrap_or_else(|e| panic!("{e}"));
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (kind, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn streams_are_server_sent_events_in_small_pieces() {
    let mock = MockProvider::start().await;
    let text = serde_json::to_string(&meeting()).unwrap_or_default();
    mock.reply_value(&meeting());
    let (kind, body) = stream(&mock, json!({})).await;
    assert_eq!(kind, "text/event-stream");
    assert!(body.ends_with("data: [DONE]\n\n"));
    let chunks = events(&body);
    let content: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content.concat(), text);
    assert!(content.len() > 5 && content.iter().all(|p| p.len() <= 9));
    let finishes: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, [&json!("stop")]);
    let usage = chunks.last().map(|c| c["usage"]["total_tokens"].clone());
    assert!(usage.is_some_and(|t| t.as_u64() > Some(0)));
    assert_eq!(chunks.last().map(|c| c["choices"].clone()), Some(json!([])));
    assert!(mock.requests()[0].is_stream());

    mock.truncate(r#"{"name": "Fa"#);
    let chunks = events(&stream(&mock, json!({})).await.1);
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "length"));

    mock.refuse("No.");
    let chunks = events(&stream(&mock, json!({})).await.1);
    let refusal: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["refusal"].as_str())
        .collect();
    assert_eq!(refusal, "No.");

    mock.reply_value(&meeting());
    let tools =
        json!({"tools": [{"type": "function", "function": {"name": "meeting", "parameters": {}}}]});
    let chunks = events(&stream(&mock, tools).await.1);
    let arguments: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, text);
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "meeting"
    );
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
}

#[test]
fn dropping_in_a_task_whose_budget_is_spent_does_not_hang() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        runtime.block_on(async {
            let mock = MockProvider::start().await;
            // Each ready receive spends a unit of the task's budget without yielding.
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            while tokio::task::coop::has_budget_remaining() {
                let _ = tx.send(());
                let _ = rx.recv().await;
            }
            drop(mock);
        });
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(20)).is_ok(),
        "dropping the stand-in hung"
    );
}

#[test]
fn can_be_scripted_from_other_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<MockProvider>();
    shareable::<RecordedRequest>();
}

#[test]
fn starts_without_a_runtime() {
    let mock = MockProvider::start_blocking();
    mock.reply_text("hello");
    assert!(mock.uri().starts_with("http://127.0.0.1:"));
    assert_eq!(mock.pending(), 1);
    assert!(format!("{mock:?}").contains("pending: 1"));
}
