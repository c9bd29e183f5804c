//! The run loop's faults (issue 15, items 5, 11, 14, 15): how a rejected mode or schema is read,
//! the one limit on requests per extraction, the token budget checked before sending, and the
//! tokens of earlier attempts kept by the error that ends an extraction. Each test provokes the
//! fault through a local server and asserts the typed outcome and the requests the server saw.

use std::time::Duration;

use extract::stream::Update;
use extract::{Client, ClientBuilder, Error, Extract, Mode, StopReason, DEFAULT_MAX_REQUESTS};
use extract_workspace_tests::{
    bodies, completion, ok, ok_sse, server_with, sse, CalendarEvent, EVENT,
};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use wiremock::{MockServer, ResponseTemplate};

/// A second type, to show what one type's rejection does to another's extraction.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
struct Note {
    text: String,
}

fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("test-model")
        .initial_backoff(Duration::from_millis(1))
        .timeout(Duration::from_secs(5))
}

fn client(server: &MockServer) -> Client {
    builder(server).build().unwrap_or_else(|e| panic!("{e}"))
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

/// The `response_format.type` (or `tools`) each request carried, in order.
async fn modes_sent(server: &MockServer) -> Vec<String> {
    bodies(server)
        .await
        .iter()
        .map(|b| {
            if b.get("tools").is_some() {
                "tools".to_owned()
            } else {
                b["response_format"]["type"]
                    .as_str()
                    .unwrap_or("prompt")
                    .to_owned()
            }
        })
        .collect()
}

/// OpenAI's 400 shape: `invalid_request_error` with the parameter it is about.
fn openai_400(message: &str, param: Option<&str>, code: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({"error": {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }}))
}

fn json_schema_unsupported() -> ResponseTemplate {
    openai_400(
        "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this \
         model. Learn more about supported models at the Structured Outputs guide: \
         https://platform.openai.com/docs/guides/structured-outputs",
        Some("response_format"),
        None,
    )
}

fn unauthorized() -> ResponseTemplate {
    ResponseTemplate::new(401).set_body_json(json!({"error": {
        "message": "Incorrect API key provided",
        "type": "invalid_request_error",
        "code": "invalid_api_key",
    }}))
}

fn event() -> CalendarEvent {
    serde_json::from_str(EVENT).unwrap_or_else(|e| panic!("EVENT is a CalendarEvent: {e}"))
}

// ---- item 5: what a rejection of a mode is ----

#[tokio::test]
async fn an_invalid_schema_is_a_typed_error_not_a_fallback() {
    let server = server_with(vec![
        openai_400(
            "Invalid schema for response_format 'CalendarEvent': In context=(), \
             'additionalProperties' is required to be supplied and to be false.",
            Some("response_format"),
            None,
        ),
        ok(completion(r#"{"text": "hello"}"#)),
    ])
    .await;
    let client = client(&server);
    let err = client
        .extract::<CalendarEvent>("text")
        .await
        .expect_err("the schema is rejected");
    match &err {
        Error::SchemaRejected {
            schema,
            mode,
            status,
            message,
            ..
        } => {
            assert_eq!(*schema, "CalendarEvent");
            assert_eq!(*mode, Mode::JsonSchema);
            assert_eq!(*status, 400);
            assert!(
                message.contains("'additionalProperties' is required"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        requests(&server).await,
        1,
        "neither reasked nor fallen back"
    );
    assert!(client.mode_fallbacks().is_empty());
    // Another type on the same model still gets the native mode.
    let note = client.extract::<Note>("text").await.expect("valid");
    assert_eq!(note.mode, Mode::JsonSchema);
    assert_eq!(modes_sent(&server).await, ["json_schema", "json_schema"]);
}

#[tokio::test]
async fn an_unsupported_mode_falls_back_visibly_and_the_reset_restores_it() {
    let server = server_with(vec![
        json_schema_unsupported(),
        ok(completion(EVENT)),
        ok(completion(EVENT)),
        ok(completion(EVENT)),
        ok(completion(EVENT)),
    ])
    .await;
    let client = client(&server);
    let first = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("fell back");
    assert_eq!(first.mode, Mode::JsonObject);
    assert_eq!(first.value, event());
    assert_eq!(first.attempts, 2, "the rejected request is a model call");
    assert_eq!(
        client.mode_fallbacks(),
        [("test-model".to_owned(), Mode::JsonSchema)]
    );
    // The WARN event that says so is asserted in `tracing_faults.rs`, a binary of its own.

    // Remembered: the next extraction goes straight to the fallback.
    let second = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("valid");
    assert_eq!(second.mode, Mode::JsonObject);
    assert_eq!(second.attempts, 1);
    // Scoped to the model: another model is not affected.
    let other = client
        .extract::<CalendarEvent>("text")
        .model("other-model")
        .await
        .expect("valid");
    assert_eq!(other.mode, Mode::JsonSchema);

    assert_eq!(client.reset_mode_fallbacks(), 1);
    assert!(client.mode_fallbacks().is_empty());
    let third = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("valid");
    assert_eq!(third.mode, Mode::JsonSchema);
    assert_eq!(
        modes_sent(&server).await,
        [
            "json_schema",
            "json_object",
            "json_object",
            "json_schema",
            "json_schema"
        ]
    );
}

#[tokio::test]
async fn a_rejection_of_one_mode_says_nothing_of_the_others() {
    let server = server_with(vec![
        // An explicit tools request on a model without tools: returned as it is, and remembered.
        openai_400(
            "'tools' is not supported with this model.",
            Some("tools"),
            Some("unsupported_parameter"),
        ),
        ok(completion(EVENT)),
        json_schema_unsupported(),
        ok(completion(EVENT)),
        ok(completion_with_tool_call()),
    ])
    .await;
    let client = client(&server);
    let err = client
        .extract::<CalendarEvent>("text")
        .mode(Mode::Tools)
        .await
        .expect_err("tools are not supported, and the mode was chosen");
    assert!(
        matches!(err, Error::Api { status: 400, .. }),
        "an explicit mode does not fall back: {err:?}"
    );
    assert_eq!(
        client.mode_fallbacks(),
        [("test-model".to_owned(), Mode::Tools)]
    );
    // The rejection of tools does not touch json_schema.
    let schema = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("valid");
    assert_eq!(schema.mode, Mode::JsonSchema);
    // A rejection of json_schema falls back to json_object, and does not forbid tools.
    let object = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("valid");
    assert_eq!(object.mode, Mode::JsonObject);
    let tools = client
        .extract::<CalendarEvent>("text")
        .mode(Mode::Tools)
        .await
        .expect("valid");
    assert_eq!(tools.mode, Mode::Tools);
    assert_eq!(
        modes_sent(&server).await,
        [
            "tools",
            "json_schema",
            "json_schema",
            "json_object",
            "tools"
        ]
    );
}

fn completion_with_tool_call() -> Value {
    extract_workspace_tests::completion_with(
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "call_1",
            "type": "function",
            "function": {"name": "CalendarEvent", "arguments": EVENT},
        }]}),
        "tool_calls",
    )
}

#[tokio::test]
async fn a_transient_400_that_mentions_the_mode_causes_no_fallback() {
    let cases = [
        // A proxy's page: markup, no provider words.
        ResponseTemplate::new(400).set_body_raw(
            b"<html><head><title>400 Bad Request</title></head><body>response_format json_schema \
              tools</body></html>"
                .to_vec(),
            "text/html",
        ),
        // A proxy's JSON naming the field in passing: the words of the mode, none saying it is
        // unsupported.
        ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "upstream connection reset while forwarding response_format (json_schema); retry",
        }})),
        ResponseTemplate::new(400)
            .set_body_json(json!({"error": "gateway: bad function route for structured output"})),
    ];
    for case in cases {
        let server = server_with(vec![case, ok(completion(EVENT))]).await;
        let client = client(&server);
        let err = client
            .extract::<CalendarEvent>("text")
            .await
            .expect_err("the 400 is returned");
        assert!(matches!(err, Error::Api { status: 400, .. }), "{err:?}");
        assert_eq!(requests(&server).await, 1);
        assert!(client.mode_fallbacks().is_empty());
        let next = client
            .extract::<CalendarEvent>("text")
            .await
            .expect("valid");
        assert_eq!(next.mode, Mode::JsonSchema);
        assert_eq!(modes_sent(&server).await, ["json_schema", "json_schema"]);
    }
}

#[tokio::test]
async fn llama_cpp_and_ollama_wording_is_read_too() {
    // llama.cpp before it knew json_schema; Ollama's /v1 for a model without tools.
    let server = server_with(vec![
        ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": 400,
            "message": "response_format type must be one of \"text\" or \"json_object\", but got: json_schema",
            "type": "invalid_request_error",
        }})),
        ok(completion(EVENT)),
    ])
    .await;
    let client = client(&server);
    let done = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("valid");
    assert_eq!(done.mode, Mode::JsonObject);

    let server = server_with(vec![ResponseTemplate::new(400).set_body_json(
        json!({"error": {
            "message": "JSON schema conversion failed:\nUnrecognized schema: {\"not\":{}}",
            "type": "invalid_request_error",
        }}),
    )])
    .await;
    let err = client_for(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect_err("schema");
    assert!(matches!(err, Error::SchemaRejected { .. }), "{err:?}");
    assert_eq!(requests(&server).await, 1);
}

fn client_for(server: &MockServer) -> Client {
    client(server)
}

// ---- item 11: one limit on requests per extraction ----

#[tokio::test]
async fn transport_retries_stop_at_the_request_limit() {
    let server = server_with(vec![ResponseTemplate::new(500).set_body_string("boom")]).await;
    // The limit left at its default; the transport retries raised past it.
    let client = builder(&server)
        .max_resends(10)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = client
        .extract::<CalendarEvent>("text")
        .await
        .expect_err("500s");
    assert_eq!(requests(&server).await, DEFAULT_MAX_REQUESTS as usize);
    match &err {
        Error::RequestLimit {
            limit,
            requests,
            attempts,
            last,
            ..
        } => {
            assert_eq!(*limit, DEFAULT_MAX_REQUESTS);
            assert_eq!(*requests, DEFAULT_MAX_REQUESTS);
            assert_eq!(*attempts, 1);
            assert!(matches!(**last, Error::Api { status: 500, .. }), "{last:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("after 4 request(s)"), "{err}");
    assert!(matches!(err.last(), Error::Api { status: 500, .. }));
}

#[tokio::test]
async fn with_defaults_an_always_failing_server_sees_the_transport_retries_only() {
    let server = server_with(vec![ResponseTemplate::new(500).set_body_string("boom")]).await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect_err("500s");
    // 1 + 2 transport retries, under the default limit of 4: the retries ended it.
    assert!(matches!(err, Error::Api { status: 500, .. }), "{err:?}");
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn transport_retries_and_reasks_share_the_request_limit() {
    let server = server_with(vec![
        ResponseTemplate::new(503).set_body_string("busy"),
        ResponseTemplate::new(503).set_body_string("busy"),
        ok(completion("not json")),
        ok(completion(r#"{"name": 1}"#)),
        ok(completion(EVENT)),
    ])
    .await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect_err("the limit comes before the second reask");
    assert_eq!(requests(&server).await, 4);
    match &err {
        Error::RequestLimit {
            limit: 4,
            requests: 4,
            attempts: 2,
            usage,
            last,
        } => {
            assert_eq!(usage.total_tokens, 30);
            assert!(
                matches!(
                    **last,
                    Error::Invalid {
                        stop: StopReason::RequestLimit,
                        attempts: 2,
                        ..
                    }
                ),
                "{last:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_request_sets_its_own_limit_and_a_fallback_counts() {
    let server = server_with(vec![ResponseTemplate::new(500).set_body_string("boom")]).await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .max_requests(2)
        .await
        .expect_err("500s");
    assert!(
        matches!(
            err,
            Error::RequestLimit {
                limit: 2,
                requests: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(requests(&server).await, 2);

    let server = server_with(vec![json_schema_unsupported(), ok(completion(EVENT))]).await;
    let client = client(&server);
    let err = client
        .extract::<CalendarEvent>("text")
        .max_requests(1)
        .await
        .expect_err("no request left for the fallback");
    match &err {
        Error::RequestLimit {
            requests: 1, last, ..
        } => {
            assert!(matches!(**last, Error::Api { status: 400, .. }), "{last:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests(&server).await, 1);
    // The rejection is still remembered: the next extraction goes straight to json_object.
    let done = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("valid");
    assert_eq!(done.mode, Mode::JsonObject);

    // A limit of zero sends nothing.
    let server = server_with(vec![ok(completion(EVENT))]).await;
    let err = client_for(&server)
        .extract::<CalendarEvent>("text")
        .max_requests(0)
        .await
        .expect_err("nothing may be sent");
    assert!(
        matches!(
            err,
            Error::RequestLimit {
                limit: 0,
                requests: 0,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(requests(&server).await, 0);

    let none = Client::builder()
        .base_url("http://127.0.0.1:9/v1")
        .model("m")
        .max_requests(0)
        .build();
    assert!(matches!(none, Err(Error::Config { .. })), "{none:?}");
}

// ---- item 14: the token budget, checked before sending ----

/// A client whose token counter counts 1 per text, so the estimates are known: a turn is 1 + 4,
/// the schema 1.
fn counted(server: &MockServer) -> ClientBuilder {
    builder(server).token_counter(|_| 1)
}

#[tokio::test]
async fn a_first_request_over_the_budget_is_not_sent() {
    let server = server_with(vec![ok(completion(EVENT))]).await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .token_budget(20)
        .await
        .expect_err("the prompt alone is over 20 tokens");
    match &err {
        Error::OverBudget {
            budget: 20,
            needed,
            usage,
            attempts: 0,
        } => {
            assert!(*needed > 20, "{needed}");
            assert_eq!(usage.total_tokens, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests(&server).await, 0);

    // max_tokens counts: 2 turns and the schema are 11, plus 100 to generate.
    let server = server_with(vec![ok(completion(EVENT))]).await;
    let client = counted(&server).build().unwrap_or_else(|e| panic!("{e}"));
    let err = client
        .extract::<CalendarEvent>("text")
        .max_tokens(100)
        .token_budget(100)
        .await
        .expect_err("over");
    assert!(
        matches!(err, Error::OverBudget { needed: 111, .. }),
        "{err:?}"
    );
    assert_eq!(requests(&server).await, 0);
}

#[tokio::test]
async fn a_stream_over_the_budget_is_not_opened() {
    let server = server_with(vec![ok_sse(sse(EVENT, 8, "stop"))]).await;
    let client = client(&server);
    let mut stream = client
        .extract::<CalendarEvent>("text")
        .token_budget(20)
        .stream();
    match stream.next().await {
        Some(Err(Error::OverBudget {
            budget: 20,
            attempts: 0,
            ..
        })) => {}
        other => panic!("{:?}", other.map(|u| u.map(|_| "an update"))),
    }
    assert_eq!(requests(&server).await, 0);
}

#[tokio::test]
async fn a_reask_that_would_pass_the_budget_is_not_sent() {
    let server = server_with(vec![ok(completion("not json")), ok(completion(EVENT))]).await;
    let client = counted(&server).build().unwrap_or_else(|e| panic!("{e}"));
    // First request: 11 + 10 = 21, sent. The reask: 15 spent + 4 turns and the schema (21) + 10 =
    // 46, over 40: not sent. (Checked after the reply, as before, it would have been: 15 < 40.)
    let err = client
        .extract::<CalendarEvent>("text")
        .max_tokens(10)
        .token_budget(40)
        .await
        .expect_err("no reask");
    match &err {
        Error::Invalid {
            stop: StopReason::TokenBudget,
            attempts: 1,
            usage,
            raw,
            ..
        } => {
            assert_eq!(usage.total_tokens, 15);
            assert_eq!(raw, "not json");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests(&server).await, 1);

    // With room for it, the reask is sent.
    let server = server_with(vec![ok(completion("not json")), ok(completion(EVENT))]).await;
    let client = counted(&server).build().unwrap_or_else(|e| panic!("{e}"));
    let done = client
        .extract::<CalendarEvent>("text")
        .max_tokens(10)
        .token_budget(46)
        .await
        .expect("the reask fits");
    assert_eq!(done.attempts, 2);
    assert_eq!(requests(&server).await, 2);
}

// ---- item 15: the tokens of earlier attempts survive the error that ends the extraction ----

#[tokio::test]
async fn an_api_error_after_an_invalid_reply_carries_its_tokens() {
    let server = server_with(vec![ok(completion("not json")), unauthorized()]).await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect_err("401");
    match &err {
        Error::AfterAttempts {
            error,
            attempts: 2,
            requests: 2,
            usage,
        } => {
            assert_eq!(usage.total_tokens, 15);
            assert!(
                matches!(**error, Error::Api { status: 401, .. }),
                "{error:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.usage().map(|u| u.total_tokens), Some(15));
    assert!(matches!(err.last(), Error::Api { status: 401, .. }));
    assert!(err.to_string().contains("15 token(s)"), "{err}");

    // A 401 on the first request is returned as it is.
    let server = server_with(vec![unauthorized()]).await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect_err("401");
    assert!(matches!(err, Error::Api { status: 401, .. }), "{err:?}");
}

#[tokio::test]
async fn tokens_survive_a_fallback() {
    let server = server_with(vec![
        ok(completion("not json")),
        json_schema_unsupported(),
        unauthorized(),
    ])
    .await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect_err("401 after the fallback");
    match &err {
        Error::AfterAttempts {
            error,
            attempts: 3,
            usage,
            ..
        } => {
            assert_eq!(usage.total_tokens, 15);
            assert!(
                matches!(**error, Error::Api { status: 401, .. }),
                "{error:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        modes_sent(&server).await,
        ["json_schema", "json_schema", "json_object"]
    );

    // And a value obtained after the fallback counts them too.
    let server = server_with(vec![
        ok(completion("not json")),
        json_schema_unsupported(),
        ok(completion(EVENT)),
    ])
    .await;
    let done = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect("valid after the fallback");
    assert_eq!(done.usage.total_tokens, 30);
    assert_eq!(done.attempts, 3);
    assert_eq!(done.mode, Mode::JsonObject);
}

#[tokio::test]
async fn tokens_survive_a_timeout() {
    let server = server_with(vec![
        ok(completion("not json")),
        ok(completion(EVENT)).set_delay(Duration::from_secs(3)),
    ])
    .await;
    let client = builder(&server)
        .timeout(Duration::from_millis(300))
        .max_resends(0)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = client
        .extract::<CalendarEvent>("text")
        .await
        .expect_err("the reask times out");
    match &err {
        Error::AfterAttempts {
            error,
            attempts: 2,
            usage,
            ..
        } => {
            assert_eq!(usage.total_tokens, 15);
            assert!(matches!(**error, Error::Timeout { .. }), "{error:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_stream_keeps_the_tokens_of_earlier_attempts_too() {
    let server = server_with(vec![ok_sse(sse("not json", 4, "stop")), unauthorized()]).await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut failed = None;
    while let Some(update) = stream.next().await {
        match update {
            Ok(Update::Done(done)) => panic!("{:?}", done.value),
            Ok(_) => {}
            Err(err) => failed = Some(err),
        }
    }
    match failed {
        Some(Error::AfterAttempts {
            error,
            attempts: 2,
            usage,
            ..
        }) => {
            assert_eq!(usage.total_tokens, 15);
            assert!(
                matches!(*error, Error::Api { status: 401, .. }),
                "{error:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn an_error_event_mid_stream_after_an_invalid_attempt_keeps_its_tokens() {
    let error_event = || {
        let body = format!(
            "{}data: {}\n\n",
            extract_workspace_tests::chunk("{\"na"),
            json!({"error": {"message": "The server had an error", "type": "server_error"}})
        );
        ok_sse(body)
    };
    let server = server_with(vec![ok_sse(sse("not json", 4, "stop")), error_event()]).await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut failed = None;
    while let Some(update) = stream.next().await {
        if let Err(err) = update {
            failed = Some(err);
        }
    }
    match failed {
        Some(Error::AfterAttempts {
            error,
            attempts: 2,
            requests: 2,
            usage,
        }) => {
            assert_eq!(usage.total_tokens, 15);
            assert!(matches!(*error, Error::Api { .. }), "{error:?}");
        }
        other => panic!("{other:?}"),
    }

    // The element stream, the same way.
    let server = server_with(vec![ok_sse(sse("not json", 4, "stop")), error_event()]).await;
    let client = builder(&server).build().unwrap_or_else(|e| panic!("{e}"));
    let mut elements = client.extract::<Vec<Note>>("text").elements();
    let mut failed = None;
    while let Some(element) = elements.next().await {
        if let Err(err) = element {
            failed = Some(err);
        }
    }
    match failed {
        Some(Error::AfterAttempts {
            attempts: 2, usage, ..
        }) => assert_eq!(usage.total_tokens, 15),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_error_is_still_send_sync_static() {
    fn assert_bounds<T: Send + Sync + 'static>() {}
    assert_bounds::<Error>();
}
