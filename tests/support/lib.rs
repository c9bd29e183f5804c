//! Helpers shared by the integration tests and the examples: canned provider replies, scripted
//! responders for wiremock, and the live local model.

pub mod raw_server;
pub mod reference;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use extract::Extract;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

// The README's type, word for word: its doc comments are the schema's descriptions, which the
// tests assert exactly.
/// A calendar event mentioned in the text.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
pub struct CalendarEvent {
    /// Short name of the event
    pub name: String,
    #[allow(missing_docs)]
    pub date: String,
    #[allow(missing_docs)]
    pub participants: Vec<String>,
}

/// A valid `CalendarEvent` reply.
pub const EVENT: &str = r#"{"name":"Science fair","date":"Friday","participants":["Alice","Bob"]}"#;

// The small type the runtime crate's own tests used (moved here by issue 13), shared by
// `tests/cache.rs`, `tests/testing.rs` and `tests/blocking.rs`. Its `Extract` and `Enforceable` are
// written by hand, as for a type without the derive: its name is `meeting`, its schema has no
// description (hence no doc comment), and it streams whole.
#[allow(missing_docs)]
#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Meeting {
    pub name: String,
    pub day: String,
}

impl Extract for Meeting {
    const NAME: &'static str = "meeting";
}

impl extract::Enforceable for Meeting {
    type Partial = Meeting;
    fn feed(
        slot: &mut Option<Meeting>,
        at: &[extract::stream::Seg],
        event: &extract::stream::Event<'_>,
    ) {
        extract::stream::feed_atomic(slot, at, event);
    }
}

/// A valid `Meeting` reply.
pub const MEETING: &str = r#"{"name": "Fair", "day": "Friday"}"#;

/// The `Meeting` of [`MEETING`].
pub fn meeting() -> Meeting {
    Meeting {
        name: "Fair".into(),
        day: "Friday".into(),
    }
}

/// An OpenAI chat completion whose message content is `content`.
pub fn completion(content: &str) -> Value {
    completion_with(json!({"role": "assistant", "content": content}), "stop")
}

/// An OpenAI chat completion with the given message and finish reason.
pub fn completion_with(message: Value, finish_reason: &str) -> Value {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "test-model-2024",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

/// A `200 OK` with a JSON body.
pub fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// Answers each request with the next template of a script; the last one repeats.
pub struct Script {
    replies: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Script {
    /// A script of replies, in order.
    pub fn new(replies: Vec<ResponseTemplate>) -> Self {
        assert!(!replies.is_empty(), "a script needs at least one reply");
        Script {
            replies,
            next: AtomicUsize::new(0),
        }
    }
}

impl Respond for Script {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self
            .next
            .fetch_add(1, Ordering::SeqCst)
            .min(self.replies.len() - 1);
        self.replies[i].clone()
    }
}

/// A mock OpenAI-compatible server whose chat endpoint answers with `replies` in order (the last one
/// repeats).
pub async fn server_with(replies: Vec<ResponseTemplate>) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/v1/chat/completions"))
        .respond_with(Script::new(replies))
        .mount(&server)
        .await;
    server
}

/// The JSON bodies of the requests a mock server received, in order.
pub async fn bodies(server: &wiremock::MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        .collect()
}

/// The base URL of the live local model, started once per test binary (or the one
/// `EXTRACT_LOCAL_BASE_URL` names); `None` when the live tier is skipped.
pub fn live_base_url() -> Option<String> {
    static LOCAL: OnceLock<String> = OnceLock::new();
    if std::env::var("EXTRACT_SKIP_LIVE").is_ok_and(|v| v == "1") && std::env::var("CI").is_err() {
        eprintln!("EXTRACT_SKIP_LIVE=1: skipping a live test");
        return None;
    }
    let url = LOCAL.get_or_init(|| {
        let local = extract::local::LocalModel::start_blocking()
            .unwrap_or_else(|e| panic!("the local model did not start: {e}"));
        let url = local.base_url().to_owned();
        // The server lives as long as the test binary; its watchdog stops it when the binary exits.
        std::mem::forget(local);
        url
    });
    Some(url.clone())
}

/// A client for the live local model, which is started once per test binary and shared by its tests.
///
/// Each test gets its own `Client` (a reqwest pool belongs to the runtime that made it, and every
/// `#[tokio::test]` has its own runtime). In CI (`CI=true`) the live tier always runs; elsewhere
/// `EXTRACT_SKIP_LIVE=1` skips it, with a message.
pub fn live_client() -> Option<extract::Client> {
    let base_url = live_base_url()?;
    let client = extract::Client::builder()
        .base_url(base_url)
        .model(extract::local::MODEL)
        .max_reasks(2)
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    Some(client)
}

/// The base URL of the live local embeddings server (the same model, one slot, mean pooling),
/// started once per test binary that asks for it (or the one `EXTRACT_LOCAL_EMBED_URL` names).
pub fn live_embeddings_url() -> Option<String> {
    static EMBEDDINGS: OnceLock<String> = OnceLock::new();
    live_base_url()?;
    let url = EMBEDDINGS.get_or_init(|| {
        let local = extract::local::LocalModel::start_embeddings_blocking()
            .unwrap_or_else(|e| panic!("the local embeddings server did not start: {e}"));
        let url = local.base_url().to_owned();
        std::mem::forget(local);
        url
    });
    Some(url.clone())
}

/// [`live_client`] with its embeddings sent to the local embeddings server.
pub fn live_embedding_client() -> Option<extract::Client> {
    let base_url = live_base_url()?;
    let client = extract::Client::builder()
        .base_url(base_url)
        .embeddings_base_url(live_embeddings_url()?)
        .model(extract::local::MODEL)
        .max_reasks(2)
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    Some(client)
}

/// One OpenAI streaming chunk carrying `content`.
pub fn chunk(content: &str) -> String {
    let body = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "test-model-2024",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]
    });
    format!("data: {body}\n\n")
}

/// The end of an OpenAI stream: the finish reason, the usage chunk, `[DONE]`.
pub fn stream_end(finish_reason: &str) -> String {
    let finish = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "test-model-2024",
        "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]
    });
    let usage = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "test-model-2024",
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    });
    format!("data: {finish}\n\ndata: {usage}\n\ndata: [DONE]\n\n")
}

/// A whole OpenAI stream of `text` in pieces of `size` bytes (at character boundaries), ending
/// with `finish_reason`.
pub fn sse(text: &str, size: usize, finish_reason: &str) -> String {
    let mut out = String::new();
    let mut piece = String::new();
    for c in text.chars() {
        piece.push(c);
        if piece.len() >= size {
            out.push_str(&chunk(&piece));
            piece.clear();
        }
    }
    if !piece.is_empty() {
        out.push_str(&chunk(&piece));
    }
    out.push_str(&stream_end(finish_reason));
    out
}

/// A `200 OK` carrying a server-sent event stream.
pub fn ok_sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream")
}

/// A writer for a tracing subscriber that keeps everything written, for tests that read the log.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }
    /// Everything written so far, and forget it.
    pub fn take(&self) -> String {
        let mut buf = self.lock();
        let text = String::from_utf8_lossy(&buf).into_owned();
        buf.clear();
        text
    }
}
