//! The provider dialects against scripted servers (wiremock): the exact request each one sends
//! (method, path, headers, body) and the reply shapes each provider documents, including their error
//! envelopes and the lenient reading of OpenAI-shaped replies.
//!
//! Workers AI (both endpoints), AI Gateway (`openai`, `compat`, `workers-ai`), Ollama's native API,
//! and the llama.cpp and vLLM presets.

use std::time::Duration;

use extract::dialect::GatewayProvider;
use extract::{Client, ClientBuilder, Dialect, Error, Extract, Extraction, Mode, StopReason};
use extract_workspace_tests::{bodies, completion, ok, CalendarEvent, Script, EVENT};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// A meeting at a place: a nested type, so the strict schema has a `$ref`.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
struct Meeting {
    title: String,
    place: Place,
}

#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
struct Place {
    city: String,
}

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";
const INSTRUCTIONS: &str = "Extract the event.";
const CF_MODEL: &str = "@cf/meta/llama-3.1-8b-instruct";
const ACCOUNT: &str = "acc-123";

fn event() -> CalendarEvent {
    CalendarEvent {
        name: "Science fair".into(),
        date: "Friday".into(),
        participants: vec!["Alice".into(), "Bob".into()],
    }
}

/// The schema of `CalendarEvent` as every dialect sends it (it has no definitions to inline).
fn event_schema() -> Value {
    json!({
        "description": "A calendar event mentioned in the text.",
        "type": "object",
        "properties": {
            "name": {"description": "Short name of the event", "type": "string"},
            "date": {"type": "string"},
            "participants": {"type": "array", "items": {"type": "string"}}
        },
        "required": ["name", "date", "participants"],
        "additionalProperties": false
    })
}

/// The first two messages every request here starts with.
fn opening() -> Vec<Value> {
    vec![
        json!({"role": "system", "content": INSTRUCTIONS}),
        json!({"role": "user", "content": TEXT}),
    ]
}

/// A mock server answering POSTs to `route` from a script; anything else gets wiremock's 404.
async fn serve(route: &str, replies: Vec<ResponseTemplate>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(Script::new(replies))
        .mount(&server)
        .await;
    server
}

/// The common settings: fast backoff, short timeout.
fn quick(builder: ClientBuilder) -> ClientBuilder {
    builder
        .initial_backoff(Duration::from_millis(1))
        .timeout(Duration::from_secs(5))
}

fn build(builder: ClientBuilder) -> Client {
    builder
        .build()
        .unwrap_or_else(|e| panic!("valid configuration: {e}"))
}

/// Runs the usual extraction: fixed instructions, temperature 0, 300 tokens at most.
async fn run(client: &Client) -> Result<Extraction<CalendarEvent>, Error> {
    client
        .extract::<CalendarEvent>(TEXT)
        .instructions(INSTRUCTIONS)
        .temperature(0.0)
        .max_tokens(300)
        .await
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body)
        .unwrap_or_else(|e| panic!("the request body is not JSON: {e}"))
}

/// The Workers AI envelope of a successful run.
fn cf_success(response: Value, usage: Option<Value>) -> Value {
    let mut result = json!({"response": response});
    if let Some(usage) = usage {
        result["usage"] = usage;
    }
    json!({"result": result, "success": true, "errors": [], "messages": []})
}

fn cf_usage() -> Value {
    json!({"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60})
}

/// The Cloudflare envelope of a failure.
fn cf_failure(code: u32, message: &str) -> Value {
    json!({"result": null, "success": false, "errors": [{"code": code, "message": message}], "messages": []})
}

fn reply(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

// ---------------------------------------------------------------------------------------------
// Workers AI, OpenAI-compatible endpoint
// ---------------------------------------------------------------------------------------------

const WAI_V1: &str = "/client/v4/accounts/acc-123/ai/v1";
const WAI_RUN: &str = "/client/v4/accounts/acc-123/ai/run";

fn workers_ai(server: &MockServer) -> Client {
    build(
        quick(Client::workers_ai(ACCOUNT, "cf-token"))
            .base_url(format!("{}{WAI_V1}", server.uri()))
            .model(CF_MODEL),
    )
}

#[tokio::test]
async fn workers_ai_sends_the_openai_compatible_body_to_the_v1_endpoint() {
    // The shape the endpoint documents: OpenAI's chat completion.
    let completion = json!({
        "id": "id-1741000000000",
        "object": "chat.completion",
        "created": 1_741_000_000,
        "model": CF_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": EVENT}, "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 51, "completion_tokens": 23, "total_tokens": 74}
    });
    let server = serve(&format!("{WAI_V1}/chat/completions"), vec![ok(completion)]).await;
    let client = workers_ai(&server);
    assert_eq!(client.dialect(), Dialect::WorkersAi);
    let extraction = run(&client).await.expect("a valid reply");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.model, CF_MODEL);
    assert_eq!(extraction.usage.total_tokens, 74);

    let requests = requests(&server).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method.as_str(), "POST");
    assert_eq!(
        requests[0].url.path(),
        "/client/v4/accounts/acc-123/ai/v1/chat/completions"
    );
    assert_eq!(
        header(&requests[0], "authorization"),
        Some("Bearer cf-token")
    );
    assert_eq!(
        header(&requests[0], "content-type"),
        Some("application/json")
    );
    assert_eq!(
        body(&requests[0]),
        json!({
            "model": CF_MODEL,
            "messages": opening(),
            "temperature": 0.0,
            "max_tokens": 300,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "CalendarEvent",
                    "schema": event_schema(),
                    "strict": true
                }
            }
        })
    );
}

#[tokio::test]
async fn workers_ai_reads_the_cloudflare_error_envelope() {
    let message = "No such model @cf/meta/nope or task";
    let server = serve(
        &format!("{WAI_V1}/chat/completions"),
        vec![reply(400, cf_failure(5007, message))],
    )
    .await;
    let client = build(
        quick(Client::workers_ai(ACCOUNT, "cf-token"))
            .base_url(format!("{}{WAI_V1}", server.uri()))
            .model("@cf/meta/nope")
            .max_resends(2),
    );
    match run(&client).await {
        Err(Error::Api {
            status,
            code,
            message: got,
        }) => {
            assert_eq!(status, 400);
            assert_eq!(code.as_deref(), Some("5007"));
            assert_eq!(got, message);
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(
        requests(&server).await.len(),
        1,
        "a missing model is not retried"
    );
}

// ---------------------------------------------------------------------------------------------
// Workers AI, native run API
// ---------------------------------------------------------------------------------------------

const RUN_PATH: &str = "/client/v4/accounts/acc-123/ai/run/@cf/meta/llama-3.1-8b-instruct";

fn native(server: &MockServer) -> ClientBuilder {
    quick(Client::workers_ai_native(ACCOUNT, "cf-token"))
        .base_url(format!("{}{WAI_RUN}", server.uri()))
        .model(CF_MODEL)
}

#[tokio::test]
async fn workers_ai_native_puts_the_model_in_the_path_and_the_bare_schema_in_response_format() {
    let server = serve(
        RUN_PATH,
        vec![ok(cf_success(json!(EVENT), Some(cf_usage())))],
    )
    .await;
    let client = build(native(&server));
    assert_eq!(client.dialect(), Dialect::WorkersAiNative);
    let extraction = run(&client).await.expect("a valid reply");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.raw, EVENT);
    assert_eq!(
        extraction.model, CF_MODEL,
        "the envelope names no model: the requested one is reported"
    );
    assert_eq!(extraction.usage.prompt_tokens, 40);
    assert_eq!(extraction.usage.completion_tokens, 20);
    assert_eq!(extraction.usage.total_tokens, 60);
    assert_eq!(extraction.cache_status, None);

    let requests = requests(&server).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method.as_str(), "POST");
    // `@` and `/` of the model travel unescaped.
    assert_eq!(requests[0].url.path(), RUN_PATH);
    assert_eq!(
        header(&requests[0], "authorization"),
        Some("Bearer cf-token")
    );
    assert_eq!(
        body(&requests[0]),
        json!({
            "messages": opening(),
            "response_format": {"type": "json_schema", "json_schema": event_schema()},
            "max_tokens": 300,
            "temperature": 0.0
        })
    );
}

#[tokio::test]
async fn workers_ai_native_judges_a_response_already_parsed_into_an_object() {
    let parsed: Value = serde_json::from_str(EVENT).unwrap_or_default();
    let server = serve(RUN_PATH, vec![ok(cf_success(parsed, None))]).await;
    let extraction = run(&build(native(&server))).await.expect("a valid reply");
    assert_eq!(extraction.value, event());
    assert_eq!(
        extraction.raw, EVENT,
        "the text judged is the object's JSON serialization"
    );
    assert_eq!(extraction.usage.total_tokens, 0, "no usage was reported");
}

#[tokio::test]
async fn workers_ai_native_json_object_and_tools_modes_carry_the_schema_in_the_instructions_and_tools_send_the_tool(
) {
    let server = serve(
        RUN_PATH,
        vec![ok(cf_success(json!(EVENT), Some(cf_usage())))],
    )
    .await;
    let client = build(native(&server));
    let object = client
        .extract::<CalendarEvent>(TEXT)
        .instructions(INSTRUCTIONS)
        .mode(Mode::JsonObject)
        .await;
    assert_eq!(object.expect("a valid reply").mode, Mode::JsonObject);
    let tools = client
        .extract::<CalendarEvent>(TEXT)
        .instructions(INSTRUCTIONS)
        .mode(Mode::Tools)
        .await;
    assert_eq!(tools.expect("a valid reply").value, event());

    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2);
    // The schema is spelled out as the text modes spell it (the strict schema, in its key order).
    let strict = extract::schema::strict_schema::<CalendarEvent>();
    assert_eq!(strict, event_schema());
    let schema_text = format!(
        "{INSTRUCTIONS}\n\nReply with one JSON value that matches this JSON Schema, and nothing else: no prose, no code fence.\n{strict}"
    );
    let expected_messages =
        json!([{"role": "system", "content": schema_text}, {"role": "user", "content": TEXT}]);
    assert_eq!(
        bodies[0],
        json!({"messages": expected_messages, "response_format": {"type": "json_object"}})
    );
    // The run API's function calling: one tool whose parameters are the schema; with no way to
    // force the call, the instructions keep the schema too.
    let tool = json!({
        "name": "CalendarEvent",
        "description": "A calendar event mentioned in the text.",
        "parameters": event_schema()
    });
    assert_eq!(
        bodies[1],
        json!({"messages": expected_messages, "tools": [tool]})
    );
}

#[tokio::test]
async fn out_of_capacity_3040_is_retried_then_succeeds() {
    let capacity = cf_failure(3040, "Capacity temporarily exceeded");
    let server = serve(
        RUN_PATH,
        vec![
            reply(429, capacity.clone()),
            // The same failure with HTTP 200 is read from the envelope, and retried too.
            reply(200, capacity),
            ok(cf_success(json!(EVENT), Some(cf_usage()))),
        ],
    )
    .await;
    let extraction = run(&build(native(&server).max_resends(2)))
        .await
        .expect("the third try succeeds");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 1, "transport retries are not reasks");
    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 3);
    assert_eq!(bodies[0], bodies[2], "a retry resends the same request");
}

#[tokio::test]
async fn out_of_capacity_3040_is_an_api_error_when_the_retries_are_spent() {
    let server = serve(
        RUN_PATH,
        vec![reply(
            429,
            cf_failure(3040, "Capacity temporarily exceeded"),
        )],
    )
    .await;
    match run(&build(native(&server).max_resends(1))).await {
        Err(Error::Api {
            status,
            code,
            message,
        }) => {
            assert_eq!(status, 429);
            assert_eq!(code.as_deref(), Some("3040"));
            assert_eq!(message, "Capacity temporarily exceeded");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(requests(&server).await.len(), 2, "one try and one retry");
}

#[tokio::test]
async fn daily_allocation_3036_is_rate_limited_and_not_retried() {
    let message = "You have used up your daily free allocation of 10,000 neurons. Please upgrade to Cloudflare's Workers Paid plan if you would like to continue usage.";
    let server = serve(RUN_PATH, vec![reply(429, cf_failure(3036, message))]).await;
    match run(&build(native(&server).max_resends(3))).await {
        Err(Error::RateLimited {
            retry_after,
            message: got,
        }) => {
            assert_eq!(retry_after, None);
            assert_eq!(got, message);
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    assert_eq!(
        requests(&server).await.len(),
        1,
        "a daily allocation does not come back in seconds"
    );
}

#[tokio::test]
async fn no_such_model_5007_is_a_final_api_error_with_either_status() {
    for status in [400, 200] {
        let message = "No such model @cf/meta/nope or task";
        let route = "/client/v4/accounts/acc-123/ai/run/@cf/meta/nope";
        let server = serve(route, vec![reply(status, cf_failure(5007, message))]).await;
        let client = build(native(&server).model("@cf/meta/nope").max_resends(2));
        match run(&client).await {
            Err(Error::Api {
                status: got_status,
                code,
                message: got,
            }) => {
                assert_eq!(got_status, status);
                assert_eq!(code.as_deref(), Some("5007"));
                assert_eq!(got, message);
            }
            other => panic!("expected an API error with HTTP {status}, got {other:?}"),
        }
        assert_eq!(
            requests(&server).await.len(),
            1,
            "HTTP {status}: not retried"
        );
    }
}

#[tokio::test]
async fn authentication_error_10000_is_final() {
    let server = serve(
        RUN_PATH,
        vec![reply(401, cf_failure(10000, "Authentication error"))],
    )
    .await;
    match run(&build(native(&server).max_resends(2))).await {
        Err(Error::Api {
            status,
            code,
            message,
        }) => {
            assert_eq!(status, 401);
            assert_eq!(code.as_deref(), Some("10000"));
            assert_eq!(message, "Authentication error");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(requests(&server).await.len(), 1);
}

/// The failure Workers AI documents when the model could not produce output matching the schema.
/// Its internal code is not documented, so the envelope here carries only the message.
fn unmet() -> Value {
    json!({"result": null, "success": false, "errors": [{"message": "AiError: JSON Mode couldn't be met"}], "messages": []})
}

#[tokio::test]
async fn unmet_json_mode_is_reasked_and_the_reask_can_succeed() {
    let server = serve(
        RUN_PATH,
        vec![
            reply(400, unmet()),
            ok(cf_success(json!(EVENT), Some(cf_usage()))),
        ],
    )
    .await;
    let extraction = run(&build(native(&server).max_resends(2)))
        .await
        .expect("the reask succeeds");
    assert_eq!(extraction.value, event());
    assert_eq!(
        extraction.attempts, 2,
        "the unmet schema was judged as invalid output and reasked"
    );
    assert_eq!(extraction.usage.total_tokens, 60);

    let bodies = bodies(&server).await;
    assert_eq!(bodies.len(), 2, "reasked, not retried by the transport");
    let messages = bodies[1]["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        messages.len(),
        4,
        "system, user, the provider's failure, the errors"
    );
    assert_eq!(
        messages[2],
        json!({"role": "assistant", "content": "AiError: JSON Mode couldn't be met"})
    );
    assert_eq!(messages[3]["role"], "user");
    let feedback = messages[3]["content"].as_str().unwrap_or("");
    assert!(
        feedback.contains("(root): the reply is not valid JSON"),
        "{feedback}"
    );
    assert_eq!(bodies[1]["response_format"], bodies[0]["response_format"]);
}

#[tokio::test]
async fn unmet_json_mode_ends_in_invalid_output_with_the_message_kept() {
    let server = serve(RUN_PATH, vec![reply(200, unmet())]).await;
    let client = build(native(&server).max_resends(2).max_reasks(2));
    match run(&client).await {
        Err(Error::Invalid {
            raw,
            errors,
            attempts,
            usage,
            stop,
        }) => {
            assert_eq!(raw, "AiError: JSON Mode couldn't be met");
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].path, "");
            assert!(
                errors[0].message.starts_with("the reply is not valid JSON"),
                "{errors:?}"
            );
            assert_eq!(attempts, 2);
            assert_eq!(stop, StopReason::RepeatedErrors);
            assert_eq!(usage.total_tokens, 0);
        }
        other => panic!("expected invalid output, got {other:?}"),
    }
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn workers_ai_native_envelopes_are_read_leniently() {
    let replies = vec![
        // No `messages`, `errors` or `success`; extra fields in `result`.
        ok(json!({"result": {"response": EVENT, "tool_calls": [], "usage": cf_usage()}})),
        // `usage` missing, unknown fields at the top.
        ok(
            json!({"result": {"response": EVENT}, "success": true, "errors": [], "messages": [], "x-trace": "abc"}),
        ),
        // The bare shape a Worker's binding returns.
        ok(json!({"response": EVENT})),
    ];
    let server = serve(RUN_PATH, replies).await;
    let client = build(native(&server));
    for i in 0..3 {
        let extraction = run(&client)
            .await
            .unwrap_or_else(|e| panic!("reply {i}: {e}"));
        assert_eq!(extraction.value, event(), "reply {i}");
        assert_eq!(
            extraction.usage.total_tokens,
            if i == 0 { 60 } else { 0 },
            "reply {i}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// AI Gateway
// ---------------------------------------------------------------------------------------------

const GATEWAY: &str = "/v1/acc-123/my-gateway";

fn gateway(server: &MockServer, provider: &str) -> ClientBuilder {
    quick(Client::ai_gateway(ACCOUNT, "my-gateway", provider))
        .base_url(format!("{}{GATEWAY}/{provider}", server.uri()))
        .gateway_token("gw-secret-token")
}

#[tokio::test]
async fn gateway_openai_sends_both_tokens_and_the_cache_headers() {
    let template = ok(completion(EVENT)).insert_header("cf-aig-cache-status", "HIT");
    let server = serve(
        &format!("{GATEWAY}/openai/chat/completions"),
        vec![template],
    )
    .await;
    let client = build(
        gateway(&server, "openai")
            .api_key("sk-openai-key")
            .model("gpt-4o-mini"),
    );
    assert_eq!(
        client.dialect(),
        Dialect::AiGateway(GatewayProvider::OpenAi)
    );
    let extraction = client
        .extract::<CalendarEvent>(TEXT)
        .instructions(INSTRUCTIONS)
        .max_tokens(300)
        .gateway_cache_ttl(Duration::from_secs(3600))
        .gateway_cache_key("event-42")
        .await
        .expect("a valid reply");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.cache_status.as_deref(), Some("HIT"));

    let requests = requests(&server).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(
        request.url.path(),
        "/v1/acc-123/my-gateway/openai/chat/completions"
    );
    assert_eq!(
        header(request, "authorization"),
        Some("Bearer sk-openai-key")
    );
    assert_eq!(
        header(request, "cf-aig-authorization"),
        Some("Bearer gw-secret-token")
    );
    assert_eq!(header(request, "cf-aig-cache-ttl"), Some("3600"));
    assert_eq!(header(request, "cf-aig-cache-key"), Some("event-42"));
    assert_eq!(header(request, "cf-aig-skip-cache"), None);
    assert_eq!(
        body(request),
        json!({
            "model": "gpt-4o-mini",
            "messages": opening(),
            "max_completion_tokens": 300,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "CalendarEvent", "schema": event_schema(), "strict": true}
            }
        })
    );
}

#[tokio::test]
async fn gateway_compat_uses_the_unified_endpoint_and_skips_the_cache() {
    let template = ok(completion(EVENT)).insert_header("cf-aig-cache-status", "MISS");
    let server = serve(
        &format!("{GATEWAY}/compat/chat/completions"),
        vec![template],
    )
    .await;
    let model = "workers-ai/@cf/meta/llama-3.1-8b-instruct";
    let client = build(gateway(&server, "compat").api_key("cf-token").model(model));
    assert_eq!(
        client.dialect(),
        Dialect::AiGateway(GatewayProvider::Compat)
    );
    let extraction = client
        .extract::<CalendarEvent>(TEXT)
        .instructions(INSTRUCTIONS)
        .max_tokens(300)
        .skip_gateway_cache()
        .await
        .expect("a valid reply");
    assert_eq!(extraction.cache_status.as_deref(), Some("MISS"));

    let requests = requests(&server).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.url.path(),
        "/v1/acc-123/my-gateway/compat/chat/completions"
    );
    assert_eq!(header(request, "authorization"), Some("Bearer cf-token"));
    assert_eq!(
        header(request, "cf-aig-authorization"),
        Some("Bearer gw-secret-token")
    );
    assert_eq!(header(request, "cf-aig-skip-cache"), Some("true"));
    assert_eq!(header(request, "cf-aig-cache-ttl"), None);
    assert_eq!(header(request, "cf-aig-cache-key"), None);
    assert_eq!(
        body(request),
        json!({
            "model": model,
            "messages": opening(),
            "max_tokens": 300,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "CalendarEvent", "schema": event_schema(), "strict": true}
            }
        })
    );
}

#[tokio::test]
async fn gateway_workers_ai_speaks_the_native_run_api() {
    let template =
        ok(cf_success(json!(EVENT), Some(cf_usage()))).insert_header("cf-aig-cache-status", "HIT");
    let route = "/v1/acc-123/my-gateway/workers-ai/@cf/meta/llama-3.1-8b-instruct";
    let server = serve(route, vec![template]).await;
    let client = build(
        gateway(&server, "workers-ai")
            .api_key("cf-token")
            .model(CF_MODEL),
    );
    assert_eq!(
        client.dialect(),
        Dialect::AiGateway(GatewayProvider::WorkersAi)
    );
    let extraction = client
        .extract::<CalendarEvent>(TEXT)
        .instructions(INSTRUCTIONS)
        .temperature(0.0)
        .gateway_cache_ttl(Duration::from_millis(1500))
        .await
        .expect("a valid reply");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.cache_status.as_deref(), Some("HIT"));
    assert_eq!(extraction.usage.total_tokens, 60);

    let requests = requests(&server).await;
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.url.path(), route);
    assert_eq!(header(request, "authorization"), Some("Bearer cf-token"));
    assert_eq!(
        header(request, "cf-aig-authorization"),
        Some("Bearer gw-secret-token")
    );
    assert_eq!(
        header(request, "cf-aig-cache-ttl"),
        Some("2"),
        "a fraction of a second rounds up"
    );
    assert_eq!(
        body(request),
        json!({
            "messages": opening(),
            "response_format": {"type": "json_schema", "json_schema": event_schema()},
            "temperature": 0.0
        })
    );
}

#[tokio::test]
async fn gateway_errors_keep_their_code_and_message() {
    let unauthorized =
        json!({"success": false, "error": [{"code": 2009, "message": "Unauthorized"}]});
    let server = serve(
        &format!("{GATEWAY}/openai/chat/completions"),
        vec![reply(401, unauthorized)],
    )
    .await;
    let client = build(
        gateway(&server, "openai")
            .api_key("sk-openai-key")
            .model("gpt-4o-mini")
            .max_resends(2),
    );
    match run(&client).await {
        Err(Error::Api {
            status,
            code,
            message,
        }) => {
            assert_eq!(status, 401);
            assert_eq!(code.as_deref(), Some("2009"));
            assert_eq!(message, "Unauthorized");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn gateway_workers_ai_retries_out_of_capacity() {
    let route = "/v1/acc-123/my-gateway/workers-ai/@cf/meta/llama-3.1-8b-instruct";
    let replies = vec![
        reply(429, cf_failure(3040, "Capacity temporarily exceeded")),
        ok(cf_success(json!(EVENT), None)).insert_header("cf-aig-cache-status", "MISS"),
    ];
    let server = serve(route, replies).await;
    let client = build(
        gateway(&server, "workers-ai")
            .api_key("cf-token")
            .model(CF_MODEL)
            .max_resends(1),
    );
    let extraction = run(&client).await.expect("the retry succeeds");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.cache_status.as_deref(), Some("MISS"));
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn gateway_passes_the_providers_own_errors_through() {
    let error = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}});
    let server = serve(
        &format!("{GATEWAY}/openai/chat/completions"),
        vec![reply(401, error)],
    )
    .await;
    let client = build(
        gateway(&server, "openai")
            .api_key("sk-wrong")
            .model("gpt-4o-mini"),
    );
    match run(&client).await {
        Err(Error::Api {
            status,
            code,
            message,
        }) => {
            assert_eq!(status, 401);
            assert_eq!(code.as_deref(), Some("invalid_api_key"));
            assert_eq!(message, "Incorrect API key provided");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Ollama, native API
// ---------------------------------------------------------------------------------------------

/// Ollama's documented non-streaming chat reply.
fn ollama_reply(content: &str, done_reason: &str) -> Value {
    json!({
        "model": "llama3.2",
        "created_at": "2023-12-12T14:13:43.416799Z",
        "message": {"role": "assistant", "content": content},
        "done": true,
        "done_reason": done_reason,
        "total_duration": 5_191_566_416u64,
        "load_duration": 2_154_458,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 383_809_000,
        "eval_count": 298,
        "eval_duration": 4_799_921_000u64
    })
}

fn ollama(server: &MockServer) -> Client {
    build(
        quick(Client::ollama(server.uri()))
            .model("llama3.2")
            .max_resends(2),
    )
}

#[tokio::test]
async fn ollama_native_sends_format_and_options_and_reads_the_counts() {
    let server = serve("/api/chat", vec![ok(ollama_reply(EVENT, "stop"))]).await;
    let client = ollama(&server);
    assert_eq!(client.dialect(), Dialect::OllamaNative);
    let extraction = run(&client).await.expect("a valid reply");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.model, "llama3.2");
    assert_eq!(extraction.usage.prompt_tokens, 26);
    assert_eq!(extraction.usage.completion_tokens, 298);
    assert_eq!(extraction.usage.total_tokens, 324);

    let requests = requests(&server).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method.as_str(), "POST");
    assert_eq!(requests[0].url.path(), "/api/chat");
    assert_eq!(
        header(&requests[0], "authorization"),
        None,
        "no key, no Authorization"
    );
    assert_eq!(
        body(&requests[0]),
        json!({
            "model": "llama3.2",
            "messages": opening(),
            "stream": false,
            "format": event_schema(),
            "options": {"temperature": 0.0, "num_predict": 300}
        })
    );
}

#[tokio::test]
async fn ollama_native_gets_the_schema_with_its_definitions_inlined() {
    let meeting = r#"{"title":"Standup","place":{"city":"Lisbon"}}"#;
    let server = serve("/api/chat", vec![ok(ollama_reply(meeting, "stop"))]).await;
    let client = ollama(&server);
    let value = client
        .extract::<Meeting>("Standup in Lisbon.")
        .instructions(INSTRUCTIONS)
        .await
        .expect("a valid reply");
    assert_eq!(
        value.value,
        Meeting {
            title: "Standup".into(),
            place: Place {
                city: "Lisbon".into()
            }
        }
    );

    // The strict schema refers to `Place`; Ollama gets it in place.
    assert!(extract::schema::strict_schema::<Meeting>()
        .to_string()
        .contains("$ref"));
    let body = &bodies(&server).await[0];
    assert_eq!(
        body["format"],
        json!({
            "description": "A meeting at a place: a nested type, so the strict schema has a `$ref`.",
            "type": "object",
            "properties": {
                "title": {"type": "string"},
                "place": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                    "additionalProperties": false
                }
            },
            "required": ["title", "place"],
            "additionalProperties": false
        })
    );
    assert_eq!(body.get("options"), None, "no sampling options were set");
}

#[tokio::test]
async fn ollama_done_reason_length_is_truncated() {
    let partial = r#"{"name":"Science fair","date":"Fri"#;
    let server = serve("/api/chat", vec![ok(ollama_reply(partial, "length"))]).await;
    match run(&ollama(&server)).await {
        Err(Error::Truncated {
            partial: got,
            usage,
            ..
        }) => {
            assert_eq!(got, partial);
            assert_eq!(usage.total_tokens, 324);
        }
        other => panic!("expected a truncation, got {other:?}"),
    }
    assert_eq!(
        requests(&server).await.len(),
        1,
        "a truncation is not reasked"
    );
}

#[tokio::test]
async fn ollama_missing_model_is_a_404_api_error() {
    let server = serve(
        "/api/chat",
        vec![reply(404, json!({"error": "model 'nope' not found"}))],
    )
    .await;
    let client = build(
        quick(Client::ollama(server.uri()))
            .model("nope")
            .max_resends(2),
    );
    match run(&client).await {
        Err(Error::Api {
            status,
            code,
            message,
        }) => {
            assert_eq!(status, 404);
            assert_eq!(code, None);
            assert_eq!(message, "model 'nope' not found");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(requests(&server).await.len(), 1, "a 404 is not retried");
}

// ---------------------------------------------------------------------------------------------
// llama.cpp and vLLM presets, lenient OpenAI envelopes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn llama_cpp_and_vllm_presets_send_the_nested_json_schema() {
    for (name, preset) in [
        (
            "llama.cpp",
            Client::llama_cpp as fn(String) -> ClientBuilder,
        ),
        ("vllm", Client::vllm),
    ] {
        let server = serve("/v1/chat/completions", vec![ok(completion(EVENT))]).await;
        let client = build(quick(preset(server.uri())).model("qwen2.5-1.5b-instruct"));
        assert_eq!(client.dialect(), Dialect::OpenAiCompatible, "{name}");
        assert_eq!(client.base_url(), format!("{}/v1", server.uri()), "{name}");
        run(&client).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let requests = requests(&server).await;
        assert_eq!(requests.len(), 1, "{name}");
        assert_eq!(header(&requests[0], "authorization"), None, "{name}");
        let body = body(&requests[0]);
        // `json_schema.schema`, never the flat form llama-server ignores.
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "CalendarEvent", "schema": event_schema(), "strict": true}}),
            "{name}"
        );
        assert_eq!(body["max_tokens"], 300, "{name}");
        assert_eq!(body.get("max_completion_tokens"), None, "{name}");
    }
}

#[tokio::test]
async fn lenient_openai_envelopes_still_succeed() {
    let message = json!({"role": "assistant", "content": EVENT});
    let replies = vec![
        // No `id`, `object`, `created` or `usage`.
        json!({"model": "local", "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}),
        // An empty finish reason.
        json!({"choices": [{"message": message, "finish_reason": ""}]}),
        // A finish reason nobody documents, and `null` usage.
        json!({"choices": [{"message": message, "finish_reason": "end_of_turn_token"}], "usage": null}),
        // No finish reason at all; extra fields llama-server and others add.
        json!({
            "object": "chat.completion",
            "choices": [{"message": message, "logprobs": null}],
            "timings": {"prompt_n": 12, "predicted_n": 20},
            "system_fingerprint": "b1-abc",
            "usage": {"prompt_tokens": 12, "completion_tokens": 20}
        }),
    ];
    let replies: Vec<ResponseTemplate> = replies.into_iter().map(ok).collect();
    let count = replies.len();
    let server = serve("/v1/chat/completions", replies).await;
    let client = build(quick(Client::llama_cpp(server.uri())).model("local"));
    for i in 0..count {
        let extraction = run(&client)
            .await
            .unwrap_or_else(|e| panic!("reply {i}: {e}"));
        assert_eq!(extraction.value, event(), "reply {i}");
        assert_eq!(extraction.attempts, 1, "reply {i}");
    }
    let last = run(&client).await.expect("the last reply repeats");
    assert_eq!(last.usage.total_tokens, 32, "a missing total is the sum");
}

#[tokio::test]
async fn lenient_envelopes_succeed_on_the_workers_ai_v1_endpoint_too() {
    let message = json!({"role": "assistant", "content": EVENT});
    let replies = vec![
        ok(
            json!({"choices": [{"message": message, "finish_reason": null}], "extra": {"anything": true}}),
        ),
        ok(json!({"id": "x", "choices": [{"index": 0, "message": message}]})),
    ];
    let server = serve(&format!("{WAI_V1}/chat/completions"), replies).await;
    let client = workers_ai(&server);
    for i in 0..2 {
        let extraction = run(&client)
            .await
            .unwrap_or_else(|e| panic!("reply {i}: {e}"));
        assert_eq!(extraction.value, event(), "reply {i}");
        assert_eq!(extraction.model, CF_MODEL, "reply {i}");
    }
}

/// A note with bounded strings: `minLength`/`maxLength` in the schemars schema.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
struct Note {
    #[schemars(length(min = 1, max = 80))]
    topic: String,
    #[schemars(length(max = 5))]
    tags: Vec<String>,
}

const NOTE: &str = r#"{"topic":"Lisbon","tags":["travel"]}"#;

/// The `topic` property of the schema a request carried in `response_format`.
fn topic_schema(request: &Request) -> Value {
    body(request)["response_format"]["json_schema"]["schema"]["properties"]["topic"].clone()
}

#[tokio::test]
async fn compatible_servers_get_string_lengths_and_openai_does_not() {
    // llama.cpp, Ollama and vLLM compile `maxLength` into their grammar, so a 135M model cannot run
    // a bounded field on; OpenAI's strict mode rejects the keyword, and AI Gateway's unified
    // endpoint may forward there. Array bounds are strict-mode keywords and travel everywhere.
    let bounded = json!({"type": "string", "minLength": 1, "maxLength": 80});
    let bare = json!({"type": "string"});
    let cases = [
        ("/v1/chat/completions", Dialect::OpenAiCompatible, &bounded),
        ("/v1/chat/completions", Dialect::OpenAi, &bare),
        (
            "/v1/acc-123/my-gateway/compat/chat/completions",
            Dialect::AiGateway(GatewayProvider::Compat),
            &bare,
        ),
    ];
    for (route, dialect, expected) in cases {
        let server = serve(route, vec![ok(completion(NOTE))]).await;
        let base = route.trim_end_matches("/chat/completions");
        let client = build(
            quick(Client::builder())
                .base_url(format!("{}{base}", server.uri()))
                .dialect(dialect)
                .api_key("key")
                .model("m"),
        );
        let note = client.extract::<Note>(TEXT).await.expect("a valid reply");
        assert_eq!(note.value.topic, "Lisbon");
        let requests = requests(&server).await;
        assert_eq!(&topic_schema(&requests[0]), expected, "{dialect:?}");
        let schema = &body(&requests[0])["response_format"]["json_schema"]["schema"];
        assert_eq!(schema["properties"]["tags"]["maxItems"], 5, "{dialect:?}");
    }
}

#[tokio::test]
async fn a_string_over_its_max_length_is_still_sent_back_where_the_server_did_not_enforce_it() {
    // The judge holds every server to the original schema, whatever the grammar did.
    let long = format!(r#"{{"topic":"{}","tags":[]}}"#, "x".repeat(81));
    let server = serve(
        "/v1/chat/completions",
        vec![ok(completion(&long)), ok(completion(NOTE))],
    )
    .await;
    let client = build(quick(Client::llama_cpp(server.uri())).model("local"));
    let note = client
        .extract::<Note>(TEXT)
        .await
        .expect("the second reply");
    assert_eq!(note.attempts, 2);
    let requests = requests(&server).await;
    let reask = body(&requests[1]).to_string();
    assert!(reask.contains("longer than 80 characters"), "{reask}");
}
