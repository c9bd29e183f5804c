//! The extraction request builder: what the caller asks for (input, and every option of
//! [`options`](crate::options)), and [`Extraction`], what it gets back. Running it is [`run`](crate::run)'s.

use std::borrow::Cow;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;

use tracing::Instrument;

use crate::client::Client;
use crate::error::{Error, Failure};
use crate::ledger::Ledger;
use crate::options::{chat_options, extraction_options, Options};
use crate::run::{Extraction, Run};
use crate::vocab::{Input, Usage};
use crate::{judge, schema, Extract};

impl Client {
    /// Starts an extraction of a `T` from `input`; configure it, then `.await` it for an
    /// [`Extraction`](crate::Extraction) with the value and its metadata.
    pub fn extract<T: Extract>(&self, input: impl Into<Input>) -> ExtractRequest<'_, T> {
        ExtractRequest::new(self, input.into())
    }
}

/// An extraction being configured; `.await` it (or call [`send`](Self::send)) to run it.
///
/// Every setting defaults to the client's.
#[must_use = "an extraction does nothing until it is awaited"]
pub struct ExtractRequest<'c, T> {
    client: &'c Client,
    pub(crate) input: Input,
    pub(crate) options: Options,
    /// The request's own checks (`validate_with`), run after the type's `validate`.
    pub(crate) checks: Vec<judge::Check<'c>>,
    _type: PhantomData<fn() -> T>,
}

impl<'c, T: Extract> ExtractRequest<'c, T> {
    pub(crate) fn new(client: &'c Client, input: Input) -> Self {
        ExtractRequest {
            client,
            input,
            options: Options::with_sampling(client.sampling()),
            checks: Vec::new(),
            _type: PhantomData,
        }
    }

    chat_options!();
    extraction_options!();

    /// Runs the extraction.
    pub async fn send(self) -> Result<Extraction<T>, Error> {
        // Every error made of a server's or the model's words is scrubbed of the client's secrets
        // where it is made: in the transport, where an envelope is read, where a reply is judged.
        if self.client.inner.fallback.is_none() {
            let (run, input) = self.into_run();
            let span = run.span::<T>();
            return run.go::<T>(&input).instrument(span).await;
        }
        self.send_with_fallback().await
    }

    /// The extraction on this client, then on each fallback the error allows, in order.
    async fn send_with_fallback(self) -> Result<Extraction<T>, Error> {
        let mut failures = Vec::new();
        let mut spent = Usage::default();
        let mut request = self;
        loop {
            let next = ExtractRequest {
                client: request.client,
                input: request.input.clone(),
                options: request.options.clone(),
                checks: request.checks.clone(),
                _type: PhantomData,
            };
            let client = request.client;
            let (run, input) = request.into_run();
            let model = run.model.to_string();
            let span = run.span::<T>();
            let error = match run.go::<T>(&input).instrument(span).await {
                Ok(mut done) => {
                    done.usage = spent + done.usage;
                    return Ok(done);
                }
                Err(error) => error,
            };
            let fallback = client.fallback_after(&error);
            if fallback.is_none() && failures.is_empty() {
                return Err(error);
            }
            spent += error.usage().copied().unwrap_or_default();
            let provider = client.dialect().name();
            if let Some(next) = fallback {
                tracing::info!(
                    from = provider,
                    to = next.dialect().name(),
                    error = %error,
                    "falling back to the next provider"
                );
            }
            failures.push(Failure {
                provider,
                model,
                error,
            });
            let Some(fallback) = fallback else {
                return Err(Error::Fallback {
                    failures,
                    usage: spent,
                });
            };
            // The request's own model names the first client's; the next uses its own.
            let mut options = next.options;
            options.model = None;
            request = ExtractRequest {
                client: fallback,
                options,
                ..next
            };
        }
    }

    pub(crate) fn into_run(self) -> (Run<'c>, Input) {
        // Counted before anything is sent: truncated here, or refused by every request of the run.
        let (ledger, input) = Ledger::start(self.client.input_limit(), &self.options, self.input);
        let prepared = schema::prepared::<T>();
        let client: &'c Client = self.client;
        let model = match &self.options.model {
            Some(model) => Cow::Owned(model.clone()),
            None => Cow::Borrowed(client.model()),
        };
        let chosen = self.options.mode.or(self.client.mode());
        let mode = chosen.unwrap_or_else(|| self.client.automatic_mode(&model));
        let run = Run {
            client: self.client,
            prepared,
            model,
            mode,
            fallback: chosen.is_none(),
            options: self.options,
            checks: self.checks,
            ledger,
        };
        (run, input)
    }
}

impl<'c, T: Extract> IntoFuture for ExtractRequest<'c, T> {
    type Output = Result<Extraction<T>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
