//! Anthropic's Messages API against a scripted server (wiremock), with request and reply shapes as
//! Anthropic's API reference shows them: the exact request (path, `x-api-key`, `anthropic-version`,
//! the system prompt apart, `max_tokens`, the forced tool or the JSON-schema output format), content
//! blocks, stop reasons, usage with the prompt cache, the error envelope and its retries, the typed
//! SSE events of a stream, the model listing, and embeddings refused.

use std::time::Duration;

use extract::stream::Update;
use extract::{Client, Dialect, Error, Mode};
use extract_workspace_tests::{bodies, CalendarEvent, Script, EVENT};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";

async fn serve(replies: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(Script::new(replies))
        .mount(&server)
        .await;
    server
}

fn client(server: &MockServer) -> Client {
    Client::anthropic("sk-ant-test-key")
        .base_url(format!("{}/v1", server.uri()))
        .model("claude-3-5-haiku-latest")
        .initial_backoff(Duration::from_millis(1))
        .build()
        .expect("valid configuration")
}

/// A message whose content is `blocks`, ended for `stop_reason`.
fn message(blocks: Value, stop_reason: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-haiku-20241022",
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 5,
            "cache_read_input_tokens": 100,
            "output_tokens": 12
        }
    }))
}

fn tool_use(input: Value) -> Value {
    json!([{"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "CalendarEvent", "input": input}])
}

fn error(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "type": "error",
        "error": {"type": kind, "message": message}
    }))
}

fn event() -> Value {
    serde_json::from_str(EVENT).expect("valid JSON")
}

#[tokio::test]
async fn a_forced_tool_by_default_with_the_system_prompt_apart() {
    let server = serve(vec![message(tool_use(event()), "tool_use")]).await;
    let client = client(&server);
    assert_eq!(client.dialect(), Dialect::Anthropic);
    let extraction = client
        .extract::<CalendarEvent>(TEXT)
        .await
        .expect("an event");
    assert_eq!(extraction.value.participants, ["Alice", "Bob"]);
    assert_eq!(extraction.mode, Mode::Tools);
    assert_eq!(extraction.model, "claude-3-5-haiku-20241022");
    // input + cache writes + cache reads, as OpenAI counts its prompt tokens.
    assert_eq!(extraction.usage.prompt_tokens, 125);
    assert_eq!(extraction.usage.cached_tokens, Some(100));
    assert_eq!(extraction.usage.completion_tokens, 12);

    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok()),
        Some("sk-ant-test-key")
    );
    assert_eq!(
        request
            .headers
            .get("anthropic-version")
            .and_then(|v| v.to_str().ok()),
        Some("2023-06-01")
    );
    assert!(request.headers.get("authorization").is_none());
    let body: Value = serde_json::from_slice(&request.body).expect("JSON");
    assert_eq!(body["model"], "claude-3-5-haiku-latest");
    assert_eq!(
        body["max_tokens"], 4096,
        "required by Anthropic: a default is sent"
    );
    assert_eq!(body["system"][0]["type"], "text");
    assert!(body["system"][0]["text"]
        .as_str()
        .is_some_and(|s| s.contains("CalendarEvent")));
    assert_eq!(body["messages"], json!([{"role": "user", "content": TEXT}]));
    assert_eq!(body["tools"][0]["name"], "CalendarEvent");
    assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "CalendarEvent"})
    );
    assert!(body.get("stream").is_none());
}

#[tokio::test]
async fn the_json_schema_mode_sends_the_output_format_and_reads_the_text() {
    let server = serve(vec![message(
        json!([{"type": "text", "text": EVENT}]),
        "end_turn",
    )])
    .await;
    let extraction = client(&server)
        .extract::<CalendarEvent>(TEXT)
        .mode(Mode::JsonSchema)
        .max_tokens(300)
        .temperature(0.0)
        .await
        .expect("an event");
    assert_eq!(extraction.value.name, "Science fair");
    let sent = bodies(&server).await;
    assert_eq!(sent[0]["output_config"]["format"]["type"], "json_schema");
    assert_eq!(
        sent[0]["output_config"]["format"]["schema"]["type"],
        "object"
    );
    assert_eq!(sent[0]["max_tokens"], 300);
    assert_eq!(sent[0]["temperature"], 0.0);
    assert!(sent[0].get("tools").is_none());
}

#[tokio::test]
async fn max_tokens_is_truncated_with_the_partial_text_and_refusal_is_a_refusal() {
    let server = serve(vec![message(
        json!([{"type": "text", "text": "{\"name\": \"Science f"}]),
        "max_tokens",
    )])
    .await;
    let cut = client(&server)
        .extract::<CalendarEvent>(TEXT)
        .mode(Mode::JsonSchema)
        .await;
    match cut {
        Err(Error::Truncated { partial, .. }) => assert!(partial.contains("Science f")),
        other => panic!("expected Truncated, got {other:?}"),
    }

    let server = serve(vec![message(
        json!([{"type": "text", "text": "I can't help with that."}]),
        "refusal",
    )])
    .await;
    let refused = client(&server).extract::<CalendarEvent>(TEXT).await;
    match refused {
        Err(Error::Refusal { refusal, .. }) => assert_eq!(refusal, "I can't help with that."),
        other => panic!("expected Refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_tool_call_is_answered_with_a_tool_result_and_asked_again() {
    let server = serve(vec![
        message(tool_use(json!({"name": "Science fair"})), "tool_use"),
        message(tool_use(event()), "tool_use"),
    ])
    .await;
    let extraction = client(&server)
        .extract::<CalendarEvent>(TEXT)
        .await
        .expect("valid on the reask");
    assert_eq!(extraction.attempts, 2);
    let sent = bodies(&server).await;
    let messages = sent[1]["messages"].as_array().cloned().unwrap_or_default();
    let call = &messages[1];
    assert_eq!(call["role"], "assistant");
    assert_eq!(call["content"][0]["type"], "tool_use");
    assert_eq!(call["content"][0]["input"], json!({"name": "Science fair"}));
    let answer = &messages[2];
    assert_eq!(answer["role"], "user");
    assert_eq!(answer["content"][0]["type"], "tool_result");
    assert_eq!(
        answer["content"][0]["tool_use_id"],
        call["content"][0]["id"]
    );
    assert!(answer["content"][0]["content"]
        .as_str()
        .is_some_and(|t| t.contains("date")));
}

#[tokio::test]
async fn overloaded_and_rate_limited_are_retried_and_auth_is_not() {
    let server = serve(vec![
        error(529, "overloaded_error", "Overloaded"),
        error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        )
        .insert_header("retry-after", "0"),
        message(tool_use(event()), "tool_use"),
    ])
    .await;
    let extraction = client(&server)
        .extract::<CalendarEvent>(TEXT)
        .max_requests(4)
        .await
        .expect("an event after two resends");
    assert_eq!(extraction.attempts, 1);
    assert_eq!(bodies(&server).await.len(), 3);

    let server = serve(vec![error(
        401,
        "authentication_error",
        "invalid x-api-key",
    )])
    .await;
    let denied = client(&server).extract::<CalendarEvent>(TEXT).await;
    match denied {
        Err(Error::Api {
            status,
            code,
            message,
        }) => {
            assert_eq!(status, 401);
            assert_eq!(code.as_deref(), Some("authentication_error"));
            assert_eq!(message, "invalid x-api-key");
        }
        other => panic!("expected Api 401, got {other:?}"),
    }
    assert_eq!(
        bodies(&server).await.len(),
        1,
        "an auth error is not resent"
    );
}

/// The events of a streamed tool call, as Anthropic's streaming reference shows them.
fn tool_stream(input: &str) -> String {
    let mut events = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022", "content": [], "stop_reason": null, "usage": {"input_tokens": 472, "output_tokens": 2}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "CalendarEvent", "input": {}}}),
        ),
        ("ping", json!({"type": "ping"})),
    ];
    for piece in input.as_bytes().chunks(7) {
        let piece = std::str::from_utf8(piece).expect("ASCII");
        events.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": piece}}),
        ));
    }
    events.push((
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push((
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 89}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    events
        .into_iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

#[tokio::test]
async fn a_stream_feeds_partial_values_from_the_tool_input_deltas() {
    let server = serve(vec![ResponseTemplate::new(200)
        .set_body_raw(tool_stream(EVENT).into_bytes(), "text/event-stream")])
    .await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>(TEXT).stream();
    let mut partials = 0;
    let done = loop {
        match stream.next().await {
            Some(Ok(Update::Partial(_))) => partials += 1,
            Some(Ok(Update::Done(done))) => break done,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
            None => panic!("the stream ended without a value"),
        }
    };
    assert!(partials > 3, "{partials} partial updates");
    assert_eq!(done.value.participants, ["Alice", "Bob"]);
    // The input tokens of message_start and the output tokens of message_delta, together.
    assert_eq!(done.usage.prompt_tokens, 472);
    assert_eq!(done.usage.completion_tokens, 89);
    let sent = bodies(&server).await;
    assert_eq!(sent[0]["stream"], true);
}

#[tokio::test]
async fn an_error_event_in_a_stream_is_the_providers_error() {
    let body = format!(
        "event: message_start\ndata: {}\n\nevent: error\ndata: {}\n\n",
        json!({"type": "message_start", "message": {"model": "claude-3-5-haiku-20241022", "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    let server = serve(vec![
        ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream")
    ])
    .await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>(TEXT).stream();
    let failed = loop {
        match stream.next().await {
            Some(Ok(Update::Done(_))) => panic!("no value was sent"),
            Some(Ok(_)) => {}
            Some(Err(e)) => break e,
            None => panic!("the stream ended without its error"),
        }
    };
    assert!(failed.to_string().contains("Overloaded"), "{failed}");
}

#[tokio::test]
async fn embeddings_are_refused_before_sending_and_models_are_listed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("anthropic-version", "2023-06-01"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                {"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"},
                {"type": "model", "id": "claude-3-5-haiku-20241022", "display_name": "Claude Haiku 3.5", "created_at": "2024-10-22T00:00:00Z"}
            ],
            "has_more": false,
            "first_id": "claude-sonnet-4-5",
            "last_id": "claude-3-5-haiku-20241022"
        })))
        .mount(&server)
        .await;
    let client = client(&server);
    let refused = client.embed(["a text"]).await;
    assert!(
        matches!(&refused, Err(Error::Config { .. }))
            && refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("Anthropic")),
        "{refused:?}"
    );
    let models = client.models().await.expect("a listing");
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["claude-sonnet-4-5", "claude-3-5-haiku-20241022"]);
    assert_eq!(models[0].description.as_deref(), Some("Claude Sonnet 4.5"));
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1, "nothing was sent for the embeddings");
}

#[test]
fn the_url_picks_the_dialect_and_a_key_is_required() {
    assert_eq!(
        Dialect::detect("https://api.anthropic.com/v1"),
        Dialect::Anthropic
    );
    let missing = Client::builder()
        .base_url("https://api.anthropic.com/v1")
        .model("claude-3-5-haiku-latest")
        .build();
    assert!(
        matches!(&missing, Err(Error::Config { .. }))
            && missing
                .as_ref()
                .is_err_and(|e| e.to_string().contains("Anthropic needs an API key")),
        "{missing:?}"
    );
}

#[tokio::test]
async fn ai_gateways_anthropic_route_speaks_messages_with_the_gateways_headers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/account/gateway/anthropic/v1/messages"))
        .and(header("x-api-key", "sk-ant-test-key"))
        .and(header("cf-aig-cache-ttl", "3600"))
        .respond_with(
            message(tool_use(event()), "tool_use").insert_header("cf-aig-cache-status", "MISS"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let base = format!("{}/v1/account/gateway/anthropic", server.uri());
    assert_eq!(
        Dialect::detect("https://gateway.ai.cloudflare.com/v1/account/gateway/anthropic"),
        Dialect::AiGateway(extract::dialect::GatewayProvider::Anthropic)
    );
    let client = Client::builder()
        .base_url(base)
        .dialect(Dialect::AiGateway(
            extract::dialect::GatewayProvider::Anthropic,
        ))
        .api_key("sk-ant-test-key")
        .model("claude-3-5-haiku-latest")
        .build()
        .expect("valid configuration");
    let extraction = client
        .extract::<CalendarEvent>(TEXT)
        .gateway_cache_ttl(Duration::from_secs(3600))
        .await
        .expect("an event");
    assert_eq!(extraction.mode, Mode::Tools);
    assert_eq!(extraction.cache_status.as_deref(), Some("MISS"));
}

#[tokio::test]
async fn a_base_without_the_version_gets_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(message(tool_use(event()), "tool_use"))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::anthropic("sk-ant-test-key")
        .base_url(server.uri())
        .model("claude-3-5-haiku-latest")
        .build()
        .expect("valid configuration");
    assert!(client.extract::<CalendarEvent>(TEXT).await.is_ok());
}

#[test]
fn from_env_picks_anthropic_when_only_its_key_is_set() {
    // This binary's only test that reads the environment.
    for var in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "EXTRACT_MODEL",
        "OPENAI_MODEL",
        "ANTHROPIC_MODEL",
    ] {
        std::env::remove_var(var);
    }
    std::env::set_var("ANTHROPIC_API_KEY", "sk-ant-from-env");
    let client = Client::from_env().expect("a client");
    assert_eq!(client.dialect(), Dialect::Anthropic);
    assert_eq!(client.model(), extract::dialect::ANTHROPIC_DEFAULT_MODEL);
    assert_eq!(client.base_url(), extract::dialect::ANTHROPIC_BASE_URL);
    std::env::set_var("ANTHROPIC_MODEL", "claude-sonnet-4-5");
    assert_eq!(
        Client::from_env().expect("a client").model(),
        "claude-sonnet-4-5"
    );
    // An OpenAI key wins, as before.
    std::env::set_var("OPENAI_API_KEY", "sk-openai");
    assert_eq!(
        Client::from_env().expect("a client").dialect(),
        Dialect::OpenAi
    );
    for var in ["OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_MODEL"] {
        std::env::remove_var(var);
    }
}
