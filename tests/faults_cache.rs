//! Issue 15's faults of caching, provider limits and Workers AI's tools, each provoked through a
//! local wiremock server: what the server received (headers, bodies, how many requests) and the
//! exact typed outcome.
//!
//! - AI Gateway: a reask never reuses the gateway's cache (`cf-aig-skip-cache: true`, no custom
//!   key), plain or streamed.
//! - The local response cache: clients with different keys or headers never share a reply.
//! - Workers AI's native API: `Mode::Tools` sends the tool and reads its call.
//! - OpenAI's size limits on strict schemas: refused before the first request, naming the limit
//!   and the path.

use std::time::Duration;

use extract::cache::{ResponseCache, LOCAL_HIT};
use extract::schema::{Limit, Target};
use extract::stream::Update;
use extract::{Client, ClientBuilder, Dialect, Error, Extract, Extraction};
use extract_workspace_tests::{completion, ok, ok_sse, sse, CalendarEvent, Script, EVENT};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";
/// A `CalendarEvent` missing two required fields: the judge rejects it.
const INCOMPLETE: &str = r#"{"name":"Science fair"}"#;

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

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

fn body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap_or(Value::Null)
}

// ---------------------------------------------------------------------------------------------
// AI Gateway: reasks skip the gateway's cache
// ---------------------------------------------------------------------------------------------

const GATEWAY_CHAT: &str = "/v1/acc-123/my-gateway/openai/chat/completions";

fn gateway(server: &MockServer) -> Client {
    build(
        quick(Client::ai_gateway("acc-123", "my-gateway", "openai"))
            .base_url(format!("{}/v1/acc-123/my-gateway/openai", server.uri()))
            .gateway_token("gw-token")
            .api_key("sk-key")
            .model("gpt-4o-mini"),
    )
}

/// The first request carries the caller's caching headers; the reask skips the cache and carries
/// neither the key nor the TTL.
fn assert_first_cached_then_skipped(requests: &[Request]) {
    assert_eq!(requests.len(), 2, "the first request and one reask");
    let (first, reask) = (&requests[0], &requests[1]);
    assert_eq!(header(first, "cf-aig-cache-key"), Some("k"));
    assert_eq!(header(first, "cf-aig-cache-ttl"), Some("3600"));
    assert_eq!(header(first, "cf-aig-skip-cache"), None);
    assert_eq!(header(reask, "cf-aig-skip-cache"), Some("true"));
    assert_eq!(header(reask, "cf-aig-cache-key"), None);
    assert_eq!(header(reask, "cf-aig-cache-ttl"), None);
    // The gateway's own token still goes with every request.
    assert_eq!(
        header(reask, "cf-aig-authorization"),
        Some("Bearer gw-token")
    );
    // The reask is a reask: it quotes the rejected reply.
    assert!(body(reask)["messages"].to_string().contains("Science fair"));
}

#[tokio::test]
async fn a_gateway_reask_skips_the_cache_and_drops_the_custom_key() {
    // A gateway answering from its cache under the key would send the invalid reply again.
    let server = serve(
        GATEWAY_CHAT,
        vec![
            ok(completion(INCOMPLETE)).insert_header("cf-aig-cache-status", "MISS"),
            ok(completion(EVENT)).insert_header("cf-aig-cache-status", "MISS"),
        ],
    )
    .await;
    let client = gateway(&server);
    let done = client
        .extract::<CalendarEvent>(TEXT)
        .gateway_cache_key("k")
        .gateway_cache_ttl(Duration::from_secs(3600))
        .await
        .unwrap_or_else(|e| panic!("the reask gets a valid reply: {e}"));
    assert_eq!(done.attempts, 2);
    assert_eq!(done.value.participants, ["Alice", "Bob"]);
    assert_eq!(done.cache_status.as_deref(), Some("MISS"));
    assert_first_cached_then_skipped(&requests(&server).await);

    // A second extraction is a first request again: the key goes with it.
    let again = client
        .extract::<CalendarEvent>(TEXT)
        .gateway_cache_key("k")
        .await;
    assert_eq!(again.map(|e| e.attempts).ok(), Some(1));
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 3);
    assert_eq!(header(&sent[2], "cf-aig-cache-key"), Some("k"));
    assert_eq!(header(&sent[2], "cf-aig-skip-cache"), None);
}

#[tokio::test]
async fn a_gateway_reask_that_stays_invalid_still_never_sends_the_key() {
    let server = serve(GATEWAY_CHAT, vec![ok(completion(INCOMPLETE))]).await;
    let client = gateway(&server);
    let result = client
        .extract::<CalendarEvent>(TEXT)
        .gateway_cache_key("k")
        .max_reasks(2)
        .await;
    match result {
        Err(Error::Invalid { attempts, raw, .. }) => {
            assert_eq!(attempts, 2, "the same errors twice stop the reasks");
            assert_eq!(raw, INCOMPLETE);
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(header(&sent[0], "cf-aig-cache-key"), Some("k"));
    for reask in &sent[1..] {
        assert_eq!(header(reask, "cf-aig-skip-cache"), Some("true"));
        assert_eq!(header(reask, "cf-aig-cache-key"), None);
    }
}

#[tokio::test]
async fn a_streamed_gateway_reask_skips_the_cache_and_drops_the_custom_key() {
    let server = serve(
        GATEWAY_CHAT,
        vec![
            ok_sse(sse(INCOMPLETE, 8, "stop")),
            ok_sse(sse(EVENT, 8, "stop")),
        ],
    )
    .await;
    let client = gateway(&server);
    let mut stream = client
        .extract::<CalendarEvent>(TEXT)
        .gateway_cache_key("k")
        .gateway_cache_ttl(Duration::from_secs(3600))
        .stream();
    let (mut reasks, mut done) = (0, None);
    while let Some(update) = stream.next().await {
        match update {
            Ok(Update::Partial(_)) => {}
            Ok(Update::Reask { .. }) => reasks += 1,
            Ok(Update::Done(d)) => done = Some(d),
            Err(e) => panic!("the streamed reask gets a valid reply: {e}"),
        }
    }
    assert_eq!(reasks, 1);
    let done: Extraction<CalendarEvent> = done.unwrap_or_else(|| panic!("no value"));
    assert_eq!(done.attempts, 2);
    assert_first_cached_then_skipped(&requests(&server).await);
}

// ---------------------------------------------------------------------------------------------
// The local response cache: credentials and headers are part of the key
// ---------------------------------------------------------------------------------------------

fn cached(server: &MockServer, cache: &ResponseCache, key: &str, tenant: &str) -> Client {
    build(
        quick(Client::builder())
            .base_url(format!("{}/v1", server.uri()))
            .model("test-model")
            .api_key(key)
            .header("x-tenant", tenant, false)
            .cache(cache.clone()),
    )
}

#[tokio::test]
async fn clients_with_different_keys_sharing_a_cache_each_ask_the_provider() {
    let server = serve("/v1/chat/completions", vec![ok(completion(EVENT))]).await;
    let cache = ResponseCache::new();
    let alice = cached(&server, &cache, "sk-alice", "t1");
    let revoked = cached(&server, &cache, "sk-revoked", "t1");
    let first = alice.extract::<CalendarEvent>(TEXT).await;
    assert_eq!(first.map(|e| e.cache_status).ok(), Some(None));
    // Another key: its own request, never the first key's answer.
    let second = revoked.extract::<CalendarEvent>(TEXT).await;
    assert_eq!(second.map(|e| e.cache_status).ok(), Some(None));
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(header(&sent[1], "authorization"), Some("Bearer sk-revoked"));
    // The same key and headers are still answered from memory.
    let again = cached(&server, &cache, "sk-alice", "t1")
        .extract::<CalendarEvent>(TEXT)
        .await;
    assert_eq!(
        again.ok().and_then(|e| e.cache_status).as_deref(),
        Some(LOCAL_HIT)
    );
    assert_eq!(requests(&server).await.len(), 2);
    assert_eq!(cache.len(), 2);
    // The cache holds no key.
    assert!(!format!("{cache:?}").contains("sk-"));
}

#[tokio::test]
async fn clients_with_different_headers_sharing_a_cache_each_ask_the_provider() {
    let server = serve("/v1/chat/completions", vec![ok(completion(EVENT))]).await;
    let cache = ResponseCache::new();
    let one = cached(&server, &cache, "sk-shared", "t1");
    let two = cached(&server, &cache, "sk-shared", "t2");
    assert!(one.extract::<CalendarEvent>(TEXT).await.is_ok());
    let second = two.extract::<CalendarEvent>(TEXT).await;
    assert_eq!(second.map(|e| e.cache_status).ok(), Some(None));
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2);
    assert_eq!(header(&sent[1], "x-tenant"), Some("t2"));
    assert_eq!(cache.stats().hits, 0);
}

// ---------------------------------------------------------------------------------------------
// Workers AI's native run API: `Mode::Tools` sends the tool and reads its call
// ---------------------------------------------------------------------------------------------

const RUN: &str = "/client/v4/accounts/acc-123/ai/run";
const CF_MODEL: &str = "@hf/nousresearch/hermes-2-pro-mistral-7b";

fn native(server: &MockServer) -> Client {
    build(
        quick(Client::workers_ai_native("acc-123", "cf-token"))
            .base_url(format!("{}{RUN}", server.uri()))
            .model(CF_MODEL),
    )
}

/// A native reply whose model called the tool, with the arguments as an object (as the run API
/// documents them) and no text.
fn tool_call_reply() -> ResponseTemplate {
    let arguments: Value = serde_json::from_str(EVENT).unwrap_or(Value::Null);
    ok(serde_json::json!({
        "result": {
            "response": null,
            "tool_calls": [{"name": "CalendarEvent", "arguments": arguments}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60}
        },
        "success": true, "errors": [], "messages": []
    }))
}

fn assert_sends_the_tool(sent: &Value) {
    let tools = &sent["tools"];
    assert_eq!(tools.as_array().map(Vec::len), Some(1), "{sent}");
    assert_eq!(tools[0]["name"], "CalendarEvent");
    assert_eq!(
        tools[0]["description"],
        "A calendar event mentioned in the text."
    );
    assert_eq!(
        tools[0]["parameters"],
        extract::schema::strict_schema::<CalendarEvent>()
    );
    assert_eq!(sent.get("response_format"), None);
    assert_eq!(sent.get("stream"), None);
}

#[tokio::test]
async fn workers_ai_native_tools_mode_sends_the_tool_and_reads_the_call() {
    let route = format!("{RUN}/{CF_MODEL}");
    let server = serve(&route, vec![tool_call_reply()]).await;
    let client = native(&server);
    let done = client
        .extract::<CalendarEvent>(TEXT)
        .mode(extract::Mode::Tools)
        .await
        .unwrap_or_else(|e| panic!("the tool call's arguments are the value: {e}"));
    assert_eq!(done.mode, extract::Mode::Tools);
    assert_eq!(done.attempts, 1);
    assert_eq!(done.value.participants, ["Alice", "Bob"]);
    assert_eq!(done.usage.total_tokens, 60);
    let raw: Value = serde_json::from_str(&done.raw).unwrap_or(Value::Null);
    assert_eq!(
        raw,
        serde_json::from_str::<Value>(EVENT).unwrap_or_default()
    );
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_sends_the_tool(&body(&sent[0]));
}

#[tokio::test]
async fn workers_ai_native_tools_mode_streams_as_one_request_with_the_tool() {
    let route = format!("{RUN}/{CF_MODEL}");
    let server = serve(&route, vec![tool_call_reply()]).await;
    let client = native(&server);
    let mut stream = client
        .extract::<CalendarEvent>(TEXT)
        .mode(extract::Mode::Tools)
        .stream();
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update {
            Ok(Update::Done(d)) => done = Some(d),
            Ok(_) => {}
            Err(e) => panic!("the tool call's arguments are the value: {e}"),
        }
    }
    let done: Extraction<CalendarEvent> = done.unwrap_or_else(|| panic!("no value"));
    assert_eq!(done.mode, extract::Mode::Tools);
    assert_eq!(done.value.date, "Friday");
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_sends_the_tool(&body(&sent[0]));
}

// ---------------------------------------------------------------------------------------------
// Provider limits: a schema OpenAI would reject for its size fails before any request
// ---------------------------------------------------------------------------------------------

/// Objects nested 11 deep (`D0` is the root, `D11` the eleventh level): OpenAI allows 10.
mod nested {
    // Only their schemas are read: no reply fills them.
    #![allow(dead_code)]
    use super::*;

    #[derive(Deserialize, JsonSchema, Extract)]
    pub(super) struct D0 {
        next: D1,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D1 {
        next: D2,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D2 {
        next: D3,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D3 {
        next: D4,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D4 {
        next: D5,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D5 {
        next: D6,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D6 {
        next: D7,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D7 {
        next: D8,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D8 {
        next: D9,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D9 {
        next: D10,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D10 {
        next: D11,
    }
    #[derive(Deserialize, JsonSchema, Extract)]
    struct D11 {
        leaf: String,
    }
}
use nested::D0;

/// A choice among 1,001 values, with a hand-written schema: OpenAI allows 1,000 enum values.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Pick {
    #[schemars(with = "Choices")]
    choice: String,
}

struct Choices;
impl JsonSchema for Choices {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Choices".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let values: Vec<String> = (0..1_001).map(|i| format!("v{i}")).collect();
        schemars::json_schema!({"type": "string", "enum": values})
    }
}
// Only its schema matters: the field is a `String` to serde.
impl extract::Enforceable for Choices {
    type Partial = ();
    fn feed(_: &mut Option<()>, _: &[extract::stream::Seg], _: &extract::stream::Event<'_>) {}
}

fn openai(server: &MockServer) -> Client {
    build(
        quick(Client::builder())
            .base_url(format!("{}/v1", server.uri()))
            .dialect(Dialect::OpenAi)
            .api_key("sk-key")
            .model("gpt-4o-mini"),
    )
}

fn assert_over(result: Result<(), Error>, want: Limit, at: &str, name: &str) {
    match result {
        Err(Error::SchemaLimit {
            schema,
            target,
            limit,
            path,
            message,
        }) => {
            assert_eq!(schema, name);
            assert_eq!(target, Target::OpenAi);
            assert_eq!(limit, want);
            assert_eq!(path, at);
            assert!(message.contains("strict mode allows"), "{message}");
        }
        other => panic!("expected SchemaLimit, got {other:?}"),
    }
}

#[tokio::test]
async fn a_schema_over_openais_limits_fails_before_any_request() {
    let server = serve("/v1/chat/completions", vec![ok(completion(EVENT))]).await;
    let client = openai(&server);
    let deep = "/properties/next".repeat(11);
    for _ in 0..2 {
        assert_over(
            client.extract::<D0>(TEXT).await.map(|_| ()),
            Limit::Depth,
            &deep,
            "D0",
        );
        assert_over(
            client.extract::<Pick>(TEXT).await.map(|_| ()),
            Limit::EnumValues,
            "/properties/choice",
            "Pick",
        );
    }
    // In the tools mode too (a strict tool), and from a stream.
    assert_over(
        client
            .extract::<Pick>(TEXT)
            .mode(extract::Mode::Tools)
            .await
            .map(|_| ()),
        Limit::EnumValues,
        "/properties/choice",
        "Pick",
    );
    let mut stream = client.extract::<D0>(TEXT).stream();
    let first = stream.next().await.map(|r| r.map(|_| ()));
    assert_over(first.unwrap_or(Ok(())), Limit::Depth, &deep, "D0");
    // The error names the limit and the place.
    let text = client
        .extract::<Pick>(TEXT)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        text.contains("1,000 enum values in all") && text.contains("/properties/choice"),
        "{text}"
    );
    assert!(text.contains("nothing was sent"), "{text}");
    assert_eq!(requests(&server).await.len(), 0, "nothing was sent");
}

#[tokio::test]
async fn the_limits_are_the_dialects_and_the_modes() {
    let pick = r#"{"choice":"v1000"}"#;
    let server = serve("/v1/chat/completions", vec![ok(completion(pick))]).await;
    // OpenAI's prompt mode sends no schema to enforce: nothing to reject.
    let prompt = openai(&server)
        .extract::<Pick>(TEXT)
        .mode(extract::Mode::Prompt)
        .await;
    assert_eq!(
        prompt.map(|e| e.value.choice).ok().as_deref(),
        Some("v1000")
    );
    // A compatible server has no such documented limits: the schema is sent.
    let compatible = build(
        quick(Client::builder())
            .base_url(format!("{}/v1", server.uri()))
            .model("local"),
    );
    let sent = compatible.extract::<Pick>(TEXT).await;
    assert_eq!(sent.map(|e| e.value.choice).ok().as_deref(), Some("v1000"));
    assert_eq!(requests(&server).await.len(), 2);
    // And the schema problems say the same.
    assert!(extract::schema::problems::<Pick>(Target::OpenAi)
        .iter()
        .any(|p| p.path == "/properties/choice" && p.message.contains("1001 enum values")));
}
