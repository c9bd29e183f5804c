//! The core path against a scripted OpenAI-compatible server (wiremock): what is sent, how each kind
//! of reply is judged, reasks, transport retries and timeouts.

use std::time::Duration;

use extract::{Client, Error, Extract, Message, Mode, StopReason};
use extract_workspace_tests::{
    bodies, completion, completion_with, ok, server_with, CalendarEvent, EVENT,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
enum Sentiment {
    Positive,
    Negative,
    Neutral,
}

fn no_empty_participants(event: &Party) -> Result<(), String> {
    if event.guests.is_empty() {
        Err("a party needs at least one guest; list the people the text names".into())
    } else {
        Ok(())
    }
}

#[derive(Debug, Deserialize, JsonSchema, Extract)]
#[extract(validate = no_empty_participants)]
struct Party {
    guests: Vec<String>,
}

fn client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .api_key("sk-test-secret-key")
        .model("test-model")
        .initial_backoff(Duration::from_millis(5))
        .timeout(Duration::from_secs(5))
        .build()
        .expect("valid configuration")
}

#[tokio::test]
async fn sends_the_strict_envelope_and_returns_the_value() {
    let server = server_with(vec![ok(completion(EVENT))]).await;
    let event = CalendarEvent::extract(
        &client(&server),
        "Alice and Bob are going to a science fair on Friday.",
    )
    .await
    .expect("a valid reply");
    assert_eq!(
        event,
        CalendarEvent {
            name: "Science fair".into(),
            date: "Friday".into(),
            participants: vec!["Alice".into(), "Bob".into()]
        }
    );

    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0]
            .headers
            .get("authorization")
            .map(|v| v.as_bytes()),
        Some(&b"Bearer sk-test-secret-key"[..])
    );
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON body");
    assert_eq!(body["model"], "test-model");
    assert_eq!(
        body["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {
                "name": "CalendarEvent",
                "schema": {
                    "description": "A calendar event mentioned in the text.",
                    "type": "object",
                    "properties": {
                        "name": {"description": "Short name of the event", "type": "string"},
                        "date": {"type": "string"},
                        "participants": {"type": "array", "items": {"type": "string"}}
                    },
                    "required": ["name", "date", "participants"],
                    "additionalProperties": false
                },
                "strict": true
            }
        })
    );
    // Keys keep declaration order, so a reasoning field put first is generated first.
    let keys: Vec<&String> = body["response_format"]["json_schema"]["schema"]["properties"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["name", "date", "participants"]);
    // The user's text is its own user message, never part of the instructions.
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(!body["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .contains("science fair"));
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "Alice and Bob are going to a science fair on Friday."})
    );
}

#[tokio::test]
async fn the_builder_carries_options_and_metadata() {
    let server = server_with(vec![ok(completion(EVENT))]).await;
    let client = client(&server);
    let history = vec![
        Message::user("Are you free on Friday?"),
        Message::assistant("Yes, why?"),
        Message::user("Alice and Bob are going to a science fair then."),
    ];
    let extraction = client
        .extract::<CalendarEvent>("ignored")
        .messages(history)
        .instructions("Extract the event being planned.")
        .model("other-model")
        .temperature(0.0)
        .max_tokens(200)
        .await
        .expect("a valid reply");
    assert_eq!(extraction.attempts, 1);
    assert_eq!(extraction.model, "test-model-2024");
    assert_eq!(extraction.raw, EVENT);
    assert_eq!(extraction.mode, Mode::JsonSchema);
    assert_eq!(extraction.usage.total_tokens, 15);

    let body = &bodies(&server).await[0];
    assert_eq!(body["model"], "other-model");
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["max_tokens"], 200);
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Extract the event being planned."})
    );
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(4));
    assert_eq!(
        body["messages"][3]["content"],
        "Alice and Bob are going to a science fair then."
    );
}

/// llama.cpp (and others) read a trailing assistant message as a prefill to continue, which a
/// grammar cannot match ("Failed to initialize samplers"); the request is asked in a user turn.
#[tokio::test]
async fn a_history_ending_with_the_assistant_gets_a_user_turn_asking_for_the_value() {
    let server = server_with(vec![ok(completion(EVENT))]).await;
    let history = vec![
        Message::user("Alice and Bob are going to a science fair on Friday."),
        Message::assistant("Sounds fun!"),
    ];
    CalendarEvent::extract(&client(&server), history)
        .await
        .expect("a valid reply");
    let body = &bodies(&server).await[0];
    let messages = body["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(
        messages[3],
        json!({"role": "user", "content": "Extract the `CalendarEvent` from the conversation above."})
    );
}

#[tokio::test]
async fn refusal_is_a_typed_error() {
    let message =
        json!({"role": "assistant", "content": null, "refusal": "I can't help with that."});
    let server = server_with(vec![ok(completion_with(message, "stop"))]).await;
    match CalendarEvent::extract(&client(&server), "text").await {
        Err(Error::Refusal { refusal, usage }) => {
            assert_eq!(refusal, "I can't help with that.");
            assert_eq!(usage.total_tokens, 15);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(
        server.received_requests().await.map(|r| r.len()),
        Some(1),
        "a refusal is not reasked"
    );
}

#[tokio::test]
async fn length_is_truncated_with_the_partial_text() {
    let message = json!({"role": "assistant", "content": "{\"name\":\"Science f"});
    let server = server_with(vec![ok(completion_with(message, "length"))]).await;
    match CalendarEvent::extract(&client(&server), "text").await {
        Err(Error::Truncated { partial, .. }) => assert_eq!(partial, "{\"name\":\"Science f"),
        other => panic!("expected truncation, got {other:?}"),
    }
}

#[tokio::test]
async fn content_filter_is_a_typed_error() {
    let message = json!({"role": "assistant", "content": ""});
    let server = server_with(vec![ok(completion_with(message, "content_filter"))]).await;
    let err = CalendarEvent::extract(&client(&server), "text")
        .await
        .expect_err("filtered");
    assert!(matches!(err, Error::ContentFilter { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_then_valid_sends_the_errors_back() {
    let wrong = r#"{"name":"Science fair","date":5,"participants":"Alice"}"#;
    let server = server_with(vec![ok(completion(wrong)), ok(completion(EVENT))]).await;
    let extraction = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect("fixed on the reask");
    assert_eq!(extraction.attempts, 2);
    assert_eq!(
        extraction.usage.total_tokens, 30,
        "usage is summed over attempts"
    );
    assert_eq!(extraction.raw, EVENT);

    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2);
    let messages = bodies[1]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        messages.len(),
        4,
        "system, user, the failed reply, the errors"
    );
    assert_eq!(messages[2], json!({"role": "assistant", "content": wrong}));
    let feedback = messages[3]["content"].as_str().unwrap_or_default();
    assert!(
        feedback.contains("/date: 5 is not of type \"string\""),
        "{feedback}"
    );
    assert!(
        feedback.contains("/participants: \"Alice\" is not of type \"array\""),
        "{feedback}"
    );
}

#[tokio::test]
async fn exhaustion_keeps_the_evidence() {
    let server = server_with(vec![
        ok(completion(r#"{"name":1}"#)),
        ok(completion(r#"{"name":2}"#)),
        ok(completion(r#"{"name":3}"#)),
    ])
    .await;
    match CalendarEvent::extract(&client(&server), "text").await {
        Err(Error::Invalid {
            raw,
            errors,
            attempts,
            usage,
            stop,
        }) => {
            assert_eq!(raw, r#"{"name":3}"#);
            assert_eq!(attempts, 3, "the first try and two reasks");
            assert_eq!(usage.total_tokens, 45);
            assert_eq!(stop, StopReason::RetriesExhausted);
            let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
            assert!(paths.contains(&"/name"), "{errors:?}");
            assert!(
                errors
                    .iter()
                    .any(|e| e.message.contains("\"date\" is a required property")),
                "{errors:?}"
            );
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    // Each reask carries only the latest failure: the context does not grow.
    let bodies = bodies(&server).await;
    assert_eq!(bodies[1]["messages"].as_array().map(Vec::len), Some(4));
    assert_eq!(bodies[2]["messages"].as_array().map(Vec::len), Some(4));
    assert_eq!(bodies[2]["messages"][2]["content"], r#"{"name":2}"#);
}

#[tokio::test]
async fn zero_retries_means_one_attempt() {
    let server = server_with(vec![ok(completion("not json")), ok(completion(EVENT))]).await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .max_reasks(0)
        .await
        .expect_err("no reask");
    assert!(matches!(err, Error::Invalid { attempts: 1, .. }), "{err:?}");
}

#[tokio::test]
async fn repeated_errors_stop_early() {
    let server = server_with(vec![ok(completion(r#"{"name":1}"#))]).await;
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .max_reasks(5)
        .await
        .expect_err("gives up");
    match err {
        Error::Invalid { attempts, stop, .. } => {
            assert_eq!(stop, StopReason::RepeatedErrors);
            assert_eq!(attempts, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_token_budget_stops_reasks() {
    let server = server_with(vec![
        ok(completion(r#"{"name":1}"#)),
        ok(completion(r#"{"name":2}"#)),
    ])
    .await;
    // The budget is checked before sending (issue 15, item 14): a prompt estimated over 20 tokens
    // is not sent at all, where it used to be sent twice (30 tokens) before the check.
    let err = client(&server)
        .extract::<CalendarEvent>("text")
        .max_reasks(10)
        .token_budget(20)
        .await
        .expect_err("budget");
    match err {
        Error::OverBudget {
            attempts, usage, ..
        } => {
            assert_eq!(attempts, 0);
            assert_eq!(usage.total_tokens, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
}

#[tokio::test]
async fn an_enum_root_is_wrapped_and_unwrapped() {
    let server = server_with(vec![ok(completion(r#"{"sentiment":"Negative"}"#))]).await;
    let sentiment = Sentiment::extract(&client(&server), "I hated it.")
        .await
        .expect("an enum");
    assert_eq!(sentiment, Sentiment::Negative);
    let body = &bodies(&server).await[0];
    assert_eq!(
        body["response_format"]["json_schema"]["schema"],
        json!({
            "type": "object",
            "properties": {"sentiment": {"type": "string", "enum": ["Positive", "Negative", "Neutral"]}},
            "required": ["sentiment"],
            "additionalProperties": false
        })
    );
}

#[tokio::test]
async fn a_wrong_enum_value_is_reported_at_its_wrapped_path() {
    let server = server_with(vec![
        ok(completion(r#"{"sentiment":"Angry"}"#)),
        ok(completion(r#"{"sentiment":"Neutral"}"#)),
    ])
    .await;
    let sentiment = Sentiment::extract(&client(&server), "Meh.")
        .await
        .expect("fixed");
    assert_eq!(sentiment, Sentiment::Neutral);
    let feedback = bodies(&server).await[1]["messages"][3]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        feedback.contains("/sentiment: \"Angry\" is not one of"),
        "{feedback}"
    );
}

#[tokio::test]
async fn a_validate_failure_is_reasked_and_fixed() {
    let server = server_with(vec![
        ok(completion(r#"{"guests":[]}"#)),
        ok(completion(r#"{"guests":["Ann"]}"#)),
    ])
    .await;
    let party = client(&server)
        .extract::<Party>("Ann is coming.")
        .await
        .expect("fixed");
    assert_eq!(party.value.guests, ["Ann"]);
    assert_eq!(party.attempts, 2);
    let feedback = bodies(&server).await[1]["messages"][3]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        feedback.contains("(root): a party needs at least one guest"),
        "{feedback}"
    );
}

#[tokio::test]
async fn retries_429_after_the_delay_it_asks_for() {
    let server = server_with(vec![
        ResponseTemplate::new(429)
            .insert_header("retry-after", "1")
            .set_body_json(json!({"error": {"message": "Rate limit reached", "type": "requests"}})),
        ok(completion(EVENT)),
    ])
    .await;
    let started = std::time::Instant::now();
    let extraction = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect("retried");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(extraction.attempts, 1, "a transport retry is not a reask");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(2));
}

#[tokio::test]
async fn a_429_asking_for_too_long_is_returned_with_the_delay() {
    let server = server_with(vec![ResponseTemplate::new(429)
        .insert_header("retry-after", "3600")
        .set_body_json(json!({"error": {"message": "Try again in an hour"}}))])
    .await;
    match CalendarEvent::extract(&client(&server), "text").await {
        Err(Error::RateLimited {
            retry_after,
            message,
        }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3600)));
            assert_eq!(message, "Try again in an hour");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    let server = server_with(vec![
        ResponseTemplate::new(503).set_body_string("upstream unavailable")
    ])
    .await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .max_resends(2)
        .initial_backoff(Duration::from_millis(1))
        .build()
        .expect("config");
    match CalendarEvent::extract(&client, "text").await {
        Err(Error::Api {
            status: 503,
            message,
            ..
        }) => assert_eq!(message, "upstream unavailable"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(3));
}

#[tokio::test]
async fn client_errors_are_not_retried_and_keep_the_message() {
    let server = server_with(vec![ResponseTemplate::new(401).set_body_json(
        json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}),
    )])
    .await;
    let err = CalendarEvent::extract(&client(&server), "text")
        .await
        .expect_err("401");
    match &err {
        Error::Api {
            status: 401,
            code,
            message,
        } => {
            assert_eq!(code.as_deref(), Some("invalid_api_key"));
            assert_eq!(message, "Incorrect API key provided");
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{err} {err:?}").contains("sk-test-secret-key"));
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
}

#[tokio::test]
async fn a_stalled_server_times_out() {
    let server = server_with(vec![
        ok(completion(EVENT)).set_delay(Duration::from_secs(10))
    ])
    .await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .timeout(Duration::from_millis(300))
        .build()
        .expect("config");
    let started = std::time::Instant::now();
    let err = CalendarEvent::extract(&client, "text")
        .await
        .expect_err("timeout");
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn tools_mode_reads_the_call_arguments() {
    let message = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "CalendarEvent", "arguments": EVENT}}]
    });
    let server = server_with(vec![ok(completion_with(message, "tool_calls"))]).await;
    let extraction = client(&server)
        .extract::<CalendarEvent>("text")
        .mode(Mode::Tools)
        .await
        .expect("tool call");
    assert_eq!(extraction.value.participants, ["Alice", "Bob"]);
    let body = &bodies(&server).await[0];
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "CalendarEvent"}})
    );
    assert_eq!(body["tools"][0]["function"]["name"], "CalendarEvent");
    assert_eq!(body["tools"][0]["function"]["strict"], true);
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn prompt_mode_finds_json_in_prose_and_sends_the_schema_in_instructions() {
    let reply = format!("Here is the event:\n```json\n{EVENT}\n```\nAnything else?");
    let server = server_with(vec![ok(completion(&reply))]).await;
    let extraction = client(&server)
        .extract::<CalendarEvent>("text")
        .mode(Mode::Prompt)
        .await
        .expect("located");
    assert_eq!(extraction.value.name, "Science fair");
    let body = &bodies(&server).await[0];
    assert!(body.get("response_format").is_none());
    let system = body["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(
        system.contains("\"participants\":{\"type\":\"array\""),
        "{system}"
    );
}

#[tokio::test]
async fn json_object_mode_sends_json_object() {
    let server = server_with(vec![ok(completion(EVENT))]).await;
    client(&server)
        .extract::<CalendarEvent>("text")
        .mode(Mode::JsonObject)
        .await
        .expect("valid");
    let body = &bodies(&server).await[0];
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
}

#[tokio::test]
async fn a_rejected_mode_falls_back_once_per_client_and_model() {
    let server = server_with(vec![
        ResponseTemplate::new(400).set_body_json(
            json!({"error": {"message": "response_format json_schema is not supported"}}),
        ),
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
    let second = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("remembered");
    assert_eq!(second.mode, Mode::JsonObject);
    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 3, "the rejection is paid once");
    assert_eq!(bodies[2]["response_format"], json!({"type": "json_object"}));
}

#[tokio::test]
async fn a_bad_request_that_is_not_about_the_mode_is_returned() {
    let server = server_with(vec![ResponseTemplate::new(400).set_body_json(
        json!({"error": {"message": "The model `nope` does not exist", "code": "model_not_found"}}),
    )])
    .await;
    let err = CalendarEvent::extract(&client(&server), "text")
        .await
        .expect_err("400");
    assert!(matches!(err, Error::Api { status: 400, .. }), "{err:?}");
    assert_eq!(server.received_requests().await.map(|r| r.len()), Some(1));
}

#[tokio::test]
async fn replies_that_break_the_protocol_are_typed_errors() {
    let cases = [
        (
            ResponseTemplate::new(200).set_body_string("<html><body>502 Bad Gateway</body></html>"),
            "HTML page",
        ),
        (
            ok(json!({"id": "x", "object": "chat.completion", "choices": []})),
            "no `choices`",
        ),
        (
            ResponseTemplate::new(200).set_body_bytes(
                b"{\"choices\":[{\"message\":{\"content\":\"\xff\xfe\"}}]}".to_vec(),
            ),
            "not valid UTF-8",
        ),
    ];
    for (reply, expected) in cases {
        let server = server_with(vec![reply]).await;
        match CalendarEvent::extract(&client(&server), "text").await {
            Err(Error::UnexpectedResponse {
                status: 200,
                message,
                ..
            }) => assert!(message.contains(expected), "{message}"),
            other => panic!("{expected}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn lenient_envelopes_still_succeed() {
    for reply in [
        json!({"choices": [{"message": {"content": EVENT}}]}),
        json!({"choices": [{"message": {"content": EVENT}, "finish_reason": ""}], "usage": null}),
        json!({"choices": [{"message": {"content": EVENT, "extra": 1}, "finish_reason": "eos_token"}], "object": 7, "x": {}}),
        json!({"choices": [{"message": {"content": [{"type": "text", "text": EVENT}]}, "finish_reason": "stop"}]}),
    ] {
        let server = server_with(vec![ok(reply.clone())]).await;
        let event = CalendarEvent::extract(&client(&server), "text").await;
        assert!(event.is_ok(), "{reply}: {event:?}");
    }
}

#[tokio::test]
async fn empty_content_is_reasked() {
    let server = server_with(vec![
        ok(completion_with(
            json!({"role": "assistant", "content": null}),
            "stop",
        )),
        ok(completion(EVENT)),
    ])
    .await;
    let extraction = client(&server)
        .extract::<CalendarEvent>("text")
        .await
        .expect("reasked");
    assert_eq!(extraction.attempts, 2);
}

#[tokio::test]
async fn an_oversized_body_is_an_error_not_an_allocation() {
    let huge = "x".repeat(2 * 1024 * 1024);
    let server = server_with(vec![ok(completion(&huge))]).await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .max_response_bytes(1024 * 1024)
        .build()
        .expect("config");
    match CalendarEvent::extract(&client, "text").await {
        Err(Error::UnexpectedResponse { message, .. }) => assert!(
            message.contains("larger than the 1048576-byte cap"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_after_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9);
    let client = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .model("m")
        .max_resends(1)
        .initial_backoff(Duration::from_millis(1))
        .build()
        .expect("config");
    match CalendarEvent::extract(&client, "text").await {
        Err(Error::Transport {
            attempts, message, ..
        }) => {
            assert_eq!(attempts, 2);
            assert_eq!(message, "could not connect");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn only_the_configured_auth_is_sent() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer sk-test-secret-key"))
        .and(header("x-team", "search"))
        .respond_with(ok(completion(EVENT)))
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(format!("{}/v1/", server.uri()))
        .api_key("sk-test-secret-key")
        .header("x-team", "search", false)
        .model("m")
        .build()
        .expect("config");
    CalendarEvent::extract(&client, "text")
        .await
        .expect("headers matched");
}
