//! The client for programs without an async runtime (feature `blocking`): the async
//! [`Client`](crate::Client) driven by a private current-thread Tokio runtime, as `reqwest::blocking`
//! does, with the same request options and the same [`Extraction`] and [`Error`].
//!
//! ```no_run
//! use extract::Extract;
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// A calendar event mentioned in the text.
//! #[derive(Debug, Deserialize, JsonSchema, Extract)]
//! struct CalendarEvent {
//!     name: String,
//!     date: String,
//!     participants: Vec<String>,
//! }
//!
//! fn main() -> Result<(), extract::Error> {
//!     let client = extract::Client::builder()
//!         .base_url("http://127.0.0.1:8080/v1")
//!         .model("SmolLM2-135M-Instruct")
//!         .build_blocking()?;
//!     let event = CalendarEvent::extract_blocking(&client, "Alice and Bob are going to a science fair on Friday.")?;
//!     let extraction = client
//!         .extract::<CalendarEvent>("Dinner with Carol on Saturday.")
//!         .temperature(0.0)
//!         .max_retries(1)
//!         .send()?;
//!     println!("{event:?}, then {:?} in {} attempt(s)", extraction.value, extraction.attempts);
//!     Ok(())
//! }
//! ```
//!
//! Calling it on a thread that belongs to a Tokio runtime returns [`Error::Config`] instead of
//! blocking (or deadlocking) that runtime: use the async client there. Tokio gives no way to tell
//! its `spawn_blocking` threads from its workers without panicking, so they are refused too; from
//! one of them, run the async request with
//! `tokio::runtime::Handle::current().block_on(client.async_client().extract::<T>(input).send())`.

use std::fmt;
use std::sync::Arc;

use tokio::runtime::Runtime;

use crate::{ClientBuilder, Error, Extract, Extraction, Input, Message, Mode};

/// A blocking client: cheap to clone, clones share the runtime and the connection pool, and it may
/// be used from several threads at once.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    client: crate::Client,
    /// Always `Some` until dropped; an `Option` so that `Drop` can take it.
    runtime: Option<Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which Tokio forbids (with a panic) inside another
        // runtime; the last clone may well be dropped there. Nothing of ours needs waiting for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Client {
    /// The builder of the async client; finish it with
    /// [`build_blocking`](ClientBuilder::build_blocking).
    pub fn builder() -> ClientBuilder {
        crate::Client::builder()
    }

    /// Wraps an async client (built outside any runtime, or in this one's) in a runtime of its own.
    pub fn from_async(client: crate::Client) -> Result<Client, Error> {
        Ok(Client {
            inner: Arc::new(Inner {
                client,
                runtime: Some(runtime()?),
            }),
        })
    }

    /// [`Client::from_env`](crate::Client::from_env), blocking.
    pub fn from_env() -> Result<Client, Error> {
        Client::from_async(crate::Client::from_env()?)
    }

    /// [`Client::from_env_or_local`](crate::Client::from_env_or_local), blocking: the configured
    /// provider, or the local model started on demand (its first start builds it and takes minutes).
    #[cfg(feature = "local")]
    pub fn from_env_or_local() -> Result<Client, Error> {
        outside_runtime("from_env_or_local")?;
        let runtime = runtime()?;
        let client = runtime.block_on(crate::Client::from_env_or_local());
        let inner = Inner {
            client: client?,
            runtime: Some(runtime),
        };
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// Starts an extraction of a `T` from `input`; configure it, then [`send`](ExtractRequest::send)
    /// it for an [`Extraction`] with the value and its metadata.
    pub fn extract<T: Extract>(&self, input: impl Into<Input>) -> ExtractRequest<'_, T> {
        ExtractRequest {
            runtime: self.runtime(),
            request: self.inner.client.extract::<T>(input),
        }
    }

    /// The async client inside, for code that has a runtime.
    pub fn async_client(&self) -> &crate::Client {
        &self.inner.client
    }

    fn runtime(&self) -> &Runtime {
        match &self.inner.runtime {
            Some(runtime) => runtime,
            None => unreachable!("the runtime is taken only when the client is dropped"),
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Client")
            .field("client", &self.inner.client)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Checks the configuration and builds a [blocking client](Client).
    pub fn build_blocking(self) -> Result<Client, Error> {
        // reqwest's client is built inside the runtime that will drive its connections.
        let runtime = runtime()?;
        let client = {
            let _entered = runtime.enter();
            self.build()?
        };
        Ok(Client {
            inner: Arc::new(Inner {
                client,
                runtime: Some(runtime),
            }),
        })
    }
}

fn runtime() -> Result<Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("extract-blocking")
        .build()
        .map_err(|e| {
            Error::config(format!(
                "the blocking client's runtime could not start: {e}"
            ))
        })
}

/// Refuses to block a thread of a Tokio runtime: that would stall every task on it, or deadlock it.
fn outside_runtime(call: &str) -> Result<(), Error> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(());
    }
    Err(Error::config(format!(
        "extract::blocking::Client::{call} was called on a thread of a Tokio runtime, which it \
         would block; use the async extract::Client there (`client.extract::<T>(input).await`; \
         `blocking::Client::async_client()` returns the one inside)"
    )))
}

/// An extraction being configured; [`send`](Self::send) runs it and blocks until it ends.
///
/// Every setting defaults to the client's; they are those of the async
/// [`ExtractRequest`](crate::ExtractRequest).
#[must_use = "an extraction does nothing until it is sent"]
pub struct ExtractRequest<'c, T> {
    runtime: &'c Runtime,
    request: crate::ExtractRequest<'c, T>,
}

impl<'c, T: Extract> ExtractRequest<'c, T> {
    /// System instructions, in place of the type's `#[extract(instructions)]` and the default.
    pub fn instructions(self, instructions: impl Into<String>) -> Self {
        self.map(|r| r.instructions(instructions))
    }
    /// A chat history to extract from, in place of the input text.
    pub fn messages(self, messages: impl Into<Vec<Message>>) -> Self {
        self.map(|r| r.messages(messages))
    }
    /// The model for this request.
    pub fn model(self, model: impl Into<String>) -> Self {
        self.map(|r| r.model(model))
    }
    /// Sampling temperature.
    pub fn temperature(self, temperature: f32) -> Self {
        self.map(|r| r.temperature(temperature))
    }
    /// The most tokens one reply may have.
    pub fn max_tokens(self, max_tokens: u32) -> Self {
        self.map(|r| r.max_tokens(max_tokens))
    }
    /// How many times to ask again after an invalid reply (0 allowed).
    pub fn max_retries(self, reasks: u32) -> Self {
        self.map(|r| r.max_retries(reasks))
    }
    /// How the schema is sent; the dialect's default otherwise.
    pub fn mode(self, mode: Mode) -> Self {
        self.map(|r| r.mode(mode))
    }
    /// The most tokens (prompt and completion, over all attempts) this extraction may spend before it
    /// stops asking again.
    pub fn token_budget(self, tokens: u64) -> Self {
        self.map(|r| r.token_budget(tokens))
    }
    /// The most HTTP requests this extraction may send (transport retries, reasks and mode
    /// fallbacks all count), in place of the client's
    /// [`max_requests`](crate::ClientBuilder::max_requests).
    pub fn max_requests(self, requests: u32) -> Self {
        self.map(|r| r.max_requests(requests))
    }
    /// AI Gateway: cache this reply for `ttl` (`cf-aig-cache-ttl`).
    pub fn gateway_cache_ttl(self, ttl: std::time::Duration) -> Self {
        self.map(|r| r.gateway_cache_ttl(ttl))
    }
    /// AI Gateway: do not answer this request from the cache (`cf-aig-skip-cache`).
    pub fn skip_gateway_cache(self) -> Self {
        self.map(|r| r.skip_gateway_cache())
    }
    /// AI Gateway: the cache key for this request (`cf-aig-cache-key`).
    pub fn gateway_cache_key(self, key: impl Into<String>) -> Self {
        self.map(|r| r.gateway_cache_key(key))
    }
    /// Asks the provider even when the client's response cache holds an answer.
    #[cfg(feature = "cache")]
    pub fn skip_cache(self) -> Self {
        self.map(|r| r.skip_cache())
    }

    /// Runs the extraction, blocking the thread until it ends.
    ///
    /// On a thread of a Tokio runtime it returns [`Error::Config`] at once (see the
    /// [module docs](self)).
    pub fn send(self) -> Result<Extraction<T>, Error> {
        outside_runtime("send")?;
        self.runtime.block_on(self.request.send())
    }

    fn map(
        self,
        f: impl FnOnce(crate::ExtractRequest<'c, T>) -> crate::ExtractRequest<'c, T>,
    ) -> Self {
        ExtractRequest {
            runtime: self.runtime,
            request: f(self.request),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use serde::Deserialize;
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[derive(Debug, PartialEq, Deserialize, schemars::JsonSchema)]
    struct Meeting {
        name: String,
        day: String,
    }
    impl Extract for Meeting {
        const NAME: &'static str = "meeting";
    }
    impl crate::Enforceable for Meeting {
        type Partial = Meeting;
        fn feed(
            slot: &mut Option<Meeting>,
            at: &[crate::stream::Seg],
            event: &crate::stream::Event<'_>,
        ) {
            crate::stream::feed_atomic(slot, at, event);
        }
    }

    fn completion(content: &str) -> serde_json::Value {
        json!({
            "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        })
    }

    /// A server (on wiremock's own thread) answering `replies` in order, the last one repeated.
    fn server(replies: Vec<serde_json::Value>) -> MockServer {
        let runtime = runtime().unwrap_or_else(|e| panic!("{e}"));
        runtime.block_on(async {
            let server = MockServer::start().await;
            let count = replies.len();
            for (i, reply) in replies.into_iter().enumerate() {
                let mock = Mock::given(method("POST"))
                    .and(path("/v1/chat/completions"))
                    .respond_with(ResponseTemplate::new(200).set_body_json(reply))
                    .with_priority(u8::try_from(i + 1).unwrap_or(u8::MAX));
                let mock = if i + 1 < count {
                    mock.up_to_n_times(1)
                } else {
                    mock
                };
                mock.mount(&server).await;
            }
            server
        })
    }

    fn client(server: &MockServer) -> Client {
        crate::Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .model("m")
            .timeout(Duration::from_secs(5))
            .build_blocking()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn bodies(server: &MockServer) -> Vec<serde_json::Value> {
        block_on(server.received_requests())
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or_default())
            .collect()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        runtime().unwrap_or_else(|e| panic!("{e}")).block_on(f)
    }

    #[test]
    fn is_shared_between_threads() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Client>();
    }

    #[test]
    fn extracts_without_a_runtime_with_the_request_options() {
        let server = server(vec![
            completion(r#"{"name": "Fair"}"#),
            completion(r#"{"name": "Fair", "day": "Friday"}"#),
        ]);
        let client = client(&server);
        let extraction = client
            .extract::<Meeting>("A fair on Friday.")
            .instructions("Find the event.")
            .model("other-model")
            .temperature(0.25)
            .max_tokens(64)
            .max_retries(1)
            .mode(Mode::JsonObject)
            .send()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            extraction.value,
            Meeting {
                name: "Fair".into(),
                day: "Friday".into()
            }
        );
        assert_eq!(extraction.attempts, 2);
        assert_eq!(extraction.mode, Mode::JsonObject);
        assert_eq!(extraction.usage.total_tokens, 30);
        let sent = bodies(&server);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0]["model"], "other-model");
        assert_eq!(sent[0]["temperature"], 0.25);
        assert_eq!(sent[0]["max_tokens"], 64);
        assert_eq!(sent[0]["response_format"]["type"], "json_object");
        assert!(sent[0]["messages"][0]["content"]
            .as_str()
            .is_some_and(|s| s.starts_with("Find the event.")));
        assert!(sent[1].to_string().contains("day"));
    }

    #[test]
    fn errors_are_the_async_errors() {
        let server = server(vec![completion("not json at all")]);
        let client = client(&server);
        let err = client
            .extract::<Meeting>("x")
            .max_retries(0)
            .send()
            .err()
            .unwrap_or_else(|| panic!("an invalid reply must fail"));
        assert!(matches!(err, Error::Invalid { attempts: 1, .. }), "{err:?}");
    }

    #[test]
    fn clones_work_from_many_threads_at_once() {
        let server = server(vec![completion(r#"{"name": "Fair", "day": "Friday"}"#)]);
        let client = client(&server);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let client = client.clone();
                    scope.spawn(move || client.extract::<Meeting>("x").send().map(|e| e.value.day))
                })
                .collect();
            for handle in handles {
                let day = handle
                    .join()
                    .unwrap_or_else(|_| panic!("a thread panicked"));
                assert_eq!(day.ok().as_deref(), Some("Friday"));
            }
        });
        assert_eq!(bodies(&server).len(), 8);
    }

    #[tokio::test]
    async fn refuses_to_block_an_async_runtime_and_drops_cleanly_there() {
        let server = MockServer::start().await;
        let client = crate::Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .model("m")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let blocking = Client::from_async(client).unwrap_or_else(|e| panic!("{e}"));
        let err = blocking
            .extract::<Meeting>("x")
            .send()
            .err()
            .unwrap_or_else(|| panic!("blocking inside a runtime must be refused"));
        match err {
            Error::Config { message } => {
                assert!(message.contains("thread of a Tokio runtime"), "{message}");
                assert!(message.contains("async"), "{message}");
            }
            other => panic!("expected Config, got {other:?}"),
        }
        // In spawn_blocking too, which Tokio cannot tell apart without a panic.
        let clone = blocking.clone();
        let err = tokio::task::spawn_blocking(move || clone.extract::<Meeting>("x").send())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(err, Err(Error::Config { .. })));
        // Nothing was sent, and dropping the last clone here does not panic.
        assert_eq!(server.received_requests().await.map(|r| r.len()), Some(0));
        drop(blocking);
    }
}
