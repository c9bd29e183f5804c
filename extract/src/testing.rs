//! A scripted stand-in for an OpenAI-compatible provider, for your own tests: it listens on
//! 127.0.0.1, answers each chat request with the next reply you queued (a value, a refusal, a cut-off
//! reply, an error, a rate limit), and records every request so a test can inspect what was sent.
//!
//! ```
//! use std::time::Duration;
//! use extract::testing::MockProvider;
//! use extract::{Error, Extract};
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! /// A calendar event mentioned in the text.
//! #[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema, Extract)]
//! struct CalendarEvent {
//!     name: String,
//!     date: String,
//!     participants: Vec<String>,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mock = MockProvider::start().await;
//! let client = mock.client(); // an openai-compatible `Client` for model "mock-model"
//!
//! // The first reply misses a field: `extract` asks again, and the second reply is the value.
//! mock.reply_value(&serde_json::json!({"name": "Science fair", "date": "Friday"}));
//! mock.reply_value(&CalendarEvent {
//!     name: "Science fair".into(),
//!     date: "Friday".into(),
//!     participants: vec!["Alice".into(), "Bob".into()],
//! });
//! let extraction = client
//!     .extract::<CalendarEvent>("Alice and Bob are going to a science fair on Friday.")
//!     .await
//!     .unwrap();
//! assert_eq!(extraction.attempts, 2);
//! assert_eq!(extraction.value.participants, ["Alice", "Bob"]);
//!
//! // What was sent: the text as the user message, the schema, and the error in the reask.
//! let requests = mock.requests();
//! assert_eq!(requests[0].last_user_message(), Some("Alice and Bob are going to a science fair on Friday."));
//! assert_eq!(requests[0].response_format().unwrap()["type"], "json_schema");
//! assert!(requests[1].last_user_message().unwrap().contains("participants"));
//!
//! // Failures are scripted the same way.
//! mock.refuse("I can't help with that.");
//! let err = CalendarEvent::extract(&client, "...").await.unwrap_err();
//! assert!(matches!(err, Error::Refusal { .. }));
//!
//! // An empty queue answers 500 with a message saying so: a test fails, it never hangs.
//! let err = CalendarEvent::extract(&client, "...").await.unwrap_err();
//! assert!(err.to_string().contains("no reply was scripted"));
//! # }
//! ```
//!
//! A request with `"stream": true` gets the same scripted reply as OpenAI's server-sent events: the
//! text in `choices[0].delta` pieces of a few bytes each, a last chunk with the `finish_reason`, a
//! chunk with the usage, and `data: [DONE]`. A request that offers a function in `tools` gets a
//! value or a text as the arguments of a call to that function, as a provider would answer.
//!
//! Usage is on every reply: an estimate of about four bytes a token of the request's messages and
//! schema (prompt) and of the reply's text (completion), or the numbers set with
//! [`set_usage`](MockProvider::set_usage).
//!
//! The methods that script a reply panic on input that cannot be a reply (a value that does not
//! serialize); they are meant for tests, where a panic is a failure with a message.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::{Client, ClientBuilder, Dialect};

/// The model the stand-in's client asks for; replies name the model the request asked for.
pub const MOCK_MODEL: &str = "mock-model";

/// The only path the stand-in answers chat requests on, below its [`uri`](MockProvider::uri).
const CHAT_PATH: &str = "/v1/chat/completions";

/// The sizes, in bytes, of the content pieces of a streamed reply, used in turn: uneven, so a
/// streaming parser meets values, keys and escapes cut in every way.
const PIECES: [usize; 8] = [3, 1, 4, 1, 5, 9, 2, 6];

/// A scripted OpenAI-compatible provider on 127.0.0.1. See the [module docs](self).
///
/// Replies are used in the order they were queued, one per HTTP request (so a transport retry after
/// a scripted 429 or 500 takes the next reply). The methods take `&self`: script more replies while
/// a client is using the stand-in, from any thread.
pub struct MockProvider {
    /// `Some` until dropped (see `Drop`).
    server: Option<MockServer>,
    /// The server's address, `http://127.0.0.1:{port}`.
    address: String,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
}

#[derive(Default)]
struct Script {
    queue: VecDeque<Step>,
    /// Set by [`MockProvider::delay`], taken by the next reply queued.
    next_delay: Option<Duration>,
    /// Set by [`MockProvider::set_usage`], copied into every reply queued after it.
    usage: Option<(u64, u64)>,
}

struct Step {
    reply: Scripted,
    delay: Option<Duration>,
    usage: Option<(u64, u64)>,
}

enum Scripted {
    /// The message content (or the function call's arguments), with `finish_reason: "stop"`.
    Text(String),
    Refusal(String),
    /// The content so far, with `finish_reason: "length"`.
    Truncated(String),
    /// The content so far, with `finish_reason: "content_filter"`.
    Filtered(String),
    Error {
        status: u16,
        message: String,
    },
    RateLimit(Option<Duration>),
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
}

impl MockProvider {
    /// Starts a stand-in on a free port of 127.0.0.1, with nothing scripted yet.
    ///
    /// Call it inside a Tokio runtime (`#[tokio::test]`). The server runs on a thread of its own, so
    /// it keeps answering whatever the test's runtime is doing; it stops when the stand-in is dropped.
    pub async fn start() -> MockProvider {
        let state = Arc::new(State::default());
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder {
                state: state.clone(),
            })
            .mount(&server)
            .await;
        MockProvider {
            address: server.uri(),
            server: Some(server),
            state,
        }
    }

    /// [`start`](Self::start) for tests without an async runtime (of a
    /// [`blocking`](crate::blocking) client, say): starts the stand-in from a runtime of its own.
    ///
    /// # Panics
    ///
    /// When no Tokio runtime can be built, or when called from inside one (use `start` there).
    pub fn start_blocking() -> MockProvider {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("MockProvider: no Tokio runtime could be built: {e}"));
        runtime.block_on(Self::start())
    }

    /// The stand-in's OpenAI-compatible base URL, `http://127.0.0.1:{port}/v1`.
    pub fn uri(&self) -> String {
        format!("{}/v1", self.address)
    }

    /// A client builder pointed at the stand-in: dialect openai-compatible, model `mock-model`, a
    /// placeholder API key, a 1 ms first backoff (so scripted 429s and 500s retry at once) and a 10 s
    /// timeout. Chain your own settings before `build()`.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .base_url(self.uri())
            .dialect(Dialect::OpenAiCompatible)
            .model(MOCK_MODEL)
            .api_key("sk-mock")
            .initial_backoff(Duration::from_millis(1))
            .timeout(Duration::from_secs(10))
    }

    /// A client pointed at the stand-in, as [`client_builder`](Self::client_builder) sets it up.
    ///
    /// # Panics
    ///
    /// When the HTTP client cannot be built (no TLS backend could start).
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .unwrap_or_else(|e| panic!("MockProvider: the client could not be built: {e}"))
    }

    /// Queues a reply whose content is `value` serialized as JSON: a `serde_json::json!` literal,
    /// or any `Serialize` value (the type being extracted, to script a valid reply).
    ///
    /// # Panics
    ///
    /// When `value` cannot be serialized as JSON (a map with non-string keys, say).
    pub fn reply_value<V: Serialize + ?Sized>(&self, value: &V) -> &Self {
        let text = serde_json::to_string(value)
            .unwrap_or_else(|e| panic!("MockProvider::reply_value: the value is not JSON: {e}"));
        self.push(Scripted::Text(text))
    }

    /// Queues a reply whose content is `text`, exactly: invalid JSON, JSON in a code fence, prose.
    pub fn reply_text(&self, text: impl Into<String>) -> &Self {
        self.push(Scripted::Text(text.into()))
    }

    /// Queues a refusal: `message.refusal` set to `refusal`, no content.
    pub fn refuse(&self, refusal: impl Into<String>) -> &Self {
        self.push(Scripted::Refusal(refusal.into()))
    }

    /// Queues a reply cut off at the token limit: `partial` as the content, `finish_reason: "length"`.
    pub fn truncate(&self, partial: impl Into<String>) -> &Self {
        self.push(Scripted::Truncated(partial.into()))
    }

    /// Queues a reply stopped by the content filter: `partial` as the content,
    /// `finish_reason: "content_filter"`.
    pub fn filter(&self, partial: impl Into<String>) -> &Self {
        self.push(Scripted::Filtered(partial.into()))
    }

    /// Queues an error reply: `status` with OpenAI's error envelope
    /// (`{"error": {"message", "type", "param", "code"}}`), the type and code those of the status
    /// (`invalid_request_error`, `invalid_api_key`, `server_error`, ...).
    pub fn fail(&self, status: u16, message: impl Into<String>) -> &Self {
        self.push(Scripted::Error {
            status,
            message: message.into(),
        })
    }

    /// Queues a rate limit: 429 with OpenAI's `rate_limit_exceeded` envelope and, when `retry_after`
    /// is given, `retry-after-ms` (exact) and `Retry-After` (whole seconds, rounded up).
    pub fn rate_limit(&self, retry_after: Option<Duration>) -> &Self {
        self.push(Scripted::RateLimit(retry_after))
    }

    /// Queues a reply exactly as given: any status, content type and body (an HTML error page from
    /// a proxy, a body that is not JSON, an envelope without `choices`).
    pub fn reply_raw(
        &self,
        status: u16,
        content_type: impl Into<String>,
        body: impl Into<String>,
    ) -> &Self {
        self.push(Scripted::Raw {
            status,
            content_type: content_type.into(),
            body: body.into(),
        })
    }

    /// Delays the next reply queued after this call by `delay` (its headers and body alike), to
    /// provoke a client's timeout or to overlap concurrent requests.
    pub fn delay(&self, delay: Duration) -> &Self {
        self.script().next_delay = Some(delay);
        self
    }

    /// The usage reported by every reply queued after this call: `prompt` and `completion` tokens,
    /// their sum as the total. `None` goes back to the estimate from the lengths of the texts.
    pub fn set_usage(&self, tokens: Option<(u64, u64)>) -> &Self {
        self.script().usage = tokens;
        self
    }

    /// Replies queued and not yet used.
    pub fn pending(&self) -> usize {
        self.script().queue.len()
    }

    /// Every request received so far, in order, the unanswered ones included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    fn push(&self, reply: Scripted) -> &Self {
        let mut script = self.script();
        let step = Step {
            reply,
            delay: script.next_delay.take(),
            usage: script.usage,
        };
        script.queue.push_back(step);
        self
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        lock(&self.state.script)
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        // wiremock's server checks its expectations when dropped, with a Tokio lock awaited in a
        // nested executor; inside a Tokio task whose cooperative budget is spent, that lock never
        // becomes ready and the drop spins forever. A thread of its own has no budget to spend.
        if let Some(server) = self.server.take() {
            let dropping = std::thread::spawn(move || drop(server));
            let _ = dropping.join();
        }
    }
}

impl fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockProvider")
            .field("uri", &self.uri())
            .field("pending", &self.pending())
            .field("requests", &lock(&self.state.requests).len())
            .finish()
    }
}

/// A test that panicked while holding a lock must not make every later call panic too.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One request the stand-in received.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// `POST`, normally.
    pub method: String,
    /// The path, `/v1/chat/completions` for a chat request.
    pub path: String,
    /// Every header, names in lower case, values that are not text left out.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
}

impl RecordedRequest {
    /// The chat messages (`body.messages`), empty when there are none.
    pub fn messages(&self) -> &[Value] {
        self.body
            .get("messages")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    /// The text of the last message of a role (`"system"`, `"user"`, `"assistant"`, `"tool"`).
    pub fn last_message(&self, role: &str) -> Option<&str> {
        self.messages()
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some(role))
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
    }

    /// The text of the last user message: the input, or in a reask the list of what was wrong.
    pub fn last_user_message(&self) -> Option<&str> {
        self.last_message("user")
    }

    /// The text of the first system message: the instructions.
    pub fn system_message(&self) -> Option<&str> {
        self.messages()
            .iter()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("system"))
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
    }

    /// `body.response_format`, when sent.
    pub fn response_format(&self) -> Option<&Value> {
        self.body.get("response_format")
    }

    /// The schema the request holds the model to: `response_format.json_schema.schema`, or the
    /// parameters of the first function in `tools`.
    pub fn schema(&self) -> Option<&Value> {
        self.response_format()
            .and_then(|f| f.get("json_schema"))
            .and_then(|s| s.get("schema"))
            .or_else(|| {
                self.body
                    .get("tools")
                    .and_then(|t| t.get(0))
                    .and_then(|t| t.get("function"))
                    .and_then(|f| f.get("parameters"))
            })
    }

    /// `body.model`.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// `body.temperature`.
    pub fn temperature(&self) -> Option<f64> {
        self.body.get("temperature").and_then(Value::as_f64)
    }

    /// Whether the request asked for a stream (`"stream": true`).
    pub fn is_stream(&self) -> bool {
        self.body.get("stream").and_then(Value::as_bool) == Some(true)
    }

    /// The value of a header (the name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The name of the function a request offers in `tools`, when it offers one: the stand-in then
    /// answers with a call to it.
    fn function_name(&self) -> Option<&str> {
        self.body
            .get("tools")
            .and_then(|t| t.get(0))
            .and_then(|t| t.get("function"))
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
    }
}

struct Responder {
    state: Arc<State>,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let recorded = RecordedRequest {
            method: request.method.as_str().to_owned(),
            path: request.url.path().to_owned(),
            headers: request
                .headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                })
                .collect(),
            body: serde_json::from_slice(&request.body).unwrap_or(Value::Null),
        };
        let number = {
            let mut requests = lock(&self.state.requests);
            requests.push(recorded.clone());
            requests.len()
        };
        if recorded.method != "POST" || recorded.path != CHAT_PATH {
            return error(
                404,
                &format!(
                    "MockProvider serves POST {CHAT_PATH} only; request {number} was {} {}",
                    recorded.method, recorded.path
                ),
                "invalid_request_error",
                Some("unknown_url"),
            );
        }
        let Some(step) = lock(&self.state.script).queue.pop_front() else {
            return error(
                500,
                &format!(
                    "MockProvider: no reply was scripted for request {number}; queue one with \
                     reply_value, reply_text, refuse, truncate, fail or rate_limit before the \
                     request is sent"
                ),
                "server_error",
                Some("no_reply_scripted"),
            );
        };
        let template = answer(&recorded, number, &step);
        match step.delay {
            Some(delay) => template.set_delay(delay),
            None => template,
        }
    }
}

/// The HTTP reply for one scripted step, shaped by the request (a stream, a function call).
fn answer(request: &RecordedRequest, number: usize, step: &Step) -> ResponseTemplate {
    let (text, finish, refusal) = match &step.reply {
        Scripted::Text(text) => (text.as_str(), "stop", false),
        Scripted::Refusal(text) => (text.as_str(), "stop", true),
        Scripted::Truncated(text) => (text.as_str(), "length", false),
        Scripted::Filtered(text) => (text.as_str(), "content_filter", false),
        Scripted::Error { status, message } => {
            let (kind, code) = error_kind(*status);
            return error(*status, message, kind, code);
        }
        Scripted::RateLimit(after) => {
            let model = request.model().unwrap_or(MOCK_MODEL);
            let mut template = error(
                429,
                &format!(
                    "Rate limit reached for {model} (scripted by MockProvider). Please try again later."
                ),
                "requests",
                Some("rate_limit_exceeded"),
            );
            if let Some(after) = after {
                let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
                template = template
                    .insert_header("retry-after-ms", after.as_millis().to_string().as_str())
                    .insert_header("retry-after", secs.to_string().as_str());
            }
            return template;
        }
        Scripted::Raw {
            status,
            content_type,
            body,
        } => {
            return ResponseTemplate::new(*status)
                .set_body_raw(body.clone().into_bytes(), content_type)
        }
    };
    let reply = Reply {
        id: format!("chatcmpl-mock-{number}"),
        model: request.model().unwrap_or(MOCK_MODEL).to_owned(),
        // A function call only when the model is asked for one; a refusal is never a call.
        function: request.function_name().filter(|_| !refusal),
        text,
        refusal,
        finish: if request.function_name().is_some() && finish == "stop" && !refusal {
            "tool_calls"
        } else {
            finish
        },
        usage: usage(request, text, step.usage),
    };
    if request.is_stream() {
        ResponseTemplate::new(200)
            .insert_header("cache-control", "no-cache")
            .set_body_raw(reply.stream().into_bytes(), "text/event-stream")
    } else {
        ResponseTemplate::new(200).set_body_json(reply.completion())
    }
}

/// A successful reply, in either shape.
struct Reply<'a> {
    id: String,
    model: String,
    function: Option<&'a str>,
    text: &'a str,
    refusal: bool,
    finish: &'static str,
    usage: Value,
}

impl Reply<'_> {
    /// `POST /chat/completions` without `stream`: one `chat.completion` object.
    fn completion(&self) -> Value {
        let message = if self.refusal {
            json!({"role": "assistant", "content": null, "refusal": self.text})
        } else if let Some(name) = self.function {
            json!({
                "role": "assistant",
                "content": null,
                "refusal": null,
                "tool_calls": [{
                    "id": format!("call_{}", self.id),
                    "type": "function",
                    "function": {"name": name, "arguments": self.text}
                }]
            })
        } else {
            json!({"role": "assistant", "content": self.text, "refusal": null})
        };
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": now(),
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": self.finish}],
            "usage": self.usage,
            "system_fingerprint": "fp_mock"
        })
    }

    /// With `stream: true`: server-sent events, the text in small pieces.
    fn stream(&self) -> String {
        let mut events = String::new();
        let first = match self.function {
            Some(name) if !self.refusal => json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "index": 0,
                    "id": format!("call_{}", self.id),
                    "type": "function",
                    "function": {"name": name, "arguments": ""}
                }]
            }),
            _ => json!({"role": "assistant", "content": "", "refusal": null}),
        };
        self.event(&mut events, first, None);
        for piece in pieces(self.text) {
            let delta = if self.refusal {
                json!({"refusal": piece})
            } else if self.function.is_some() {
                json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            } else {
                json!({"content": piece})
            };
            self.event(&mut events, delta, None);
        }
        self.event(&mut events, json!({}), Some(self.finish));
        let usage = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": now(),
            "model": self.model,
            "choices": [],
            "usage": self.usage,
        });
        events.push_str(&format!("data: {usage}\n\n"));
        events.push_str("data: [DONE]\n\n");
        events
    }

    fn event(&self, events: &mut String, delta: Value, finish: Option<&str>) {
        let chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": now(),
            "model": self.model,
            "system_fingerprint": "fp_mock",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        events.push_str(&format!("data: {chunk}\n\n"));
    }
}

/// `text` cut into pieces of a few bytes (the sizes of [`PIECES`] in turn), each ending on a
/// character boundary.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for size in PIECES.iter().cycle() {
        if start >= text.len() {
            break;
        }
        let mut end = (start + size).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

/// The usage of a reply: the scripted numbers, or about four bytes a token of what the request
/// carried (messages and schema) and of the reply's text.
fn usage(request: &RecordedRequest, text: &str, scripted: Option<(u64, u64)>) -> Value {
    let tokens = |bytes: usize| (bytes as u64).div_ceil(4).max(1);
    let (prompt, completion) = scripted.unwrap_or_else(|| {
        let sent = ["messages", "response_format", "tools"]
            .iter()
            .filter_map(|key| request.body.get(*key))
            .map(|v| v.to_string().len())
            .sum();
        (tokens(sent), tokens(text.len()))
    });
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0}
    })
}

/// OpenAI's error type and code for a status.
fn error_kind(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        400 | 422 => ("invalid_request_error", None),
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => (
            "invalid_request_error",
            Some("unsupported_country_region_territory"),
        ),
        404 => ("invalid_request_error", Some("model_not_found")),
        429 => ("requests", Some("rate_limit_exceeded")),
        500..=599 => ("server_error", None),
        _ => ("invalid_request_error", None),
    }
}

fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"message": message, "type": kind, "param": null, "code": code}
    }))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    // The tests of what only this file can reach: how a reply is cut into pieces and its usage
    // estimated. Those of the public API are in `tests/testing.rs`.
    use super::*;

    #[test]
    fn pieces_cover_the_text_on_character_boundaries() {
        let text = r#"{"name":"Café ☕ résumé","n":[1,2,3]}"#;
        let parts = pieces(text);
        assert_eq!(parts.concat(), text);
        assert!(parts.len() > 5);
        assert!(parts.iter().all(|p| !p.is_empty() && p.len() <= 9 + 3));
        assert_eq!(pieces(""), Vec::<&str>::new());
    }

    #[test]
    fn usage_is_estimated_or_scripted() {
        let request = RecordedRequest {
            method: "POST".into(),
            path: CHAT_PATH.into(),
            headers: vec![],
            body: json!({"messages": [{"role": "user", "content": "x".repeat(400)}]}),
        };
        let estimated = usage(&request, "abcdefgh", None);
        assert!(estimated["prompt_tokens"].as_u64().unwrap_or(0) > 100);
        assert_eq!(estimated["completion_tokens"], 2);
        let scripted = usage(&request, "abcdefgh", Some((7, 3)));
        assert_eq!(scripted["total_tokens"], 10);
    }
}
