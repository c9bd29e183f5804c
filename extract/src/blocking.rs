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
//!         .max_reasks(1)
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

use crate::options::{chat_options, extraction_options};
use crate::{ClientBuilder, Error, Extract, Extraction, Input};

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
    chat_options!(.request);
    extraction_options!(.request);

    /// Runs the extraction, blocking the thread until it ends.
    ///
    /// On a thread of a Tokio runtime it returns [`Error::Config`] at once (see the
    /// [module docs](self)).
    pub fn send(self) -> Result<Extraction<T>, Error> {
        outside_runtime("send")?;
        self.runtime.block_on(self.request.send())
    }
}
