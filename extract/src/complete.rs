//! Plain text generation and chat: the same client, providers, retries and errors as an extraction,
//! with no schema. The reply is text, whole or as a stream of deltas.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use crate::client::Client;
use crate::dialect::ChatRequest;
use crate::error::Error;
use crate::ledger::Ledger;
use crate::options::{chat_options, Options};
use crate::turns::push_input;
use crate::vocab::{FinishReason, Input, Mode, Turn, Usage};

/// A text completion: the reply and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Completion {
    /// The model's reply.
    pub text: String,
    /// Tokens the provider reported.
    pub usage: Usage,
    /// The model that answered, as the provider named it.
    pub model: String,
    /// Why the reply ended: [`FinishReason::Length`] when it reached `max_tokens`, in which case
    /// `text` is what came before the cut.
    pub finish: FinishReason,
}

impl Client {
    /// Starts a plain text completion of `input` (a text, or a chat history): `.await` it for the
    /// reply, or call `.stream()` for its text as it arrives.
    pub fn complete(&self, input: impl Into<Input>) -> CompleteRequest<'_> {
        CompleteRequest::new(self, input.into())
    }
}

/// A text completion being configured, from [`Client::complete`]; `.await` it for a
/// [`Completion`], or call [`stream`](Self::stream) for the text as it arrives.
#[must_use = "a completion does nothing until it is awaited or streamed"]
pub struct CompleteRequest<'c> {
    client: &'c Client,
    input: Input,
    options: Options,
}

/// A completion ready to send: the turns, and the call's settings and ledger.
pub(crate) struct Prepared<'c> {
    pub(crate) client: &'c Client,
    pub(crate) model: String,
    pub(crate) turns: Vec<Turn>,
    pub(crate) options: Options,
    pub(crate) ledger: Ledger,
}

impl Prepared<'_> {
    /// The chat request of a completion: plain text, no schema, one model call.
    pub(crate) fn chat_request(&self) -> ChatRequest<'_> {
        ChatRequest {
            model: &self.model,
            mode: Mode::Prompt,
            schema: None,
            turns: &self.turns,
            options: &self.options,
            stream: false,
            attempt: 1,
        }
    }
}

impl<'c> CompleteRequest<'c> {
    pub(crate) fn new(client: &'c Client, input: Input) -> Self {
        CompleteRequest {
            client,
            input,
            options: Options::with_sampling(client.sampling()),
        }
    }

    chat_options!();

    pub(crate) fn prepare(self) -> Prepared<'c> {
        // The input limit applies as it does to an extraction: truncated here, or refused by the
        // request before it is sent.
        let (ledger, input) = Ledger::start(self.client.input_limit(), &self.options, self.input);
        let mut turns = Vec::new();
        if let Some(instructions) = &self.options.instructions {
            turns.push(Turn::System(instructions.clone()));
        }
        push_input(&mut turns, &input);
        let model = self
            .options
            .model
            .clone()
            .unwrap_or_else(|| self.client.model().to_owned());
        Prepared {
            client: self.client,
            model,
            turns,
            options: self.options,
            ledger,
        }
    }

    /// Sends the request and returns the whole reply.
    pub async fn send(self) -> Result<Completion, Error> {
        let prepared = self.prepare();
        let (client, model) = (prepared.client, prepared.model.as_str());
        let span = tracing::info_span!(
            "complete",
            model = %model,
            dialect = client.dialect().name(),
            total_tokens = tracing::field::Empty,
        );
        let _guard = span.clone();
        let reply = tracing::Instrument::instrument(
            client.chat(&prepared.chat_request(), &prepared.ledger),
            span.clone(),
        )
        .await?;
        let usage = reply.usage.unwrap_or_default();
        span.record("total_tokens", usage.total_tokens);
        if let Some(refusal) = reply.refusal {
            return Err(Error::Refusal { refusal, usage });
        }
        let text = reply.content.unwrap_or_default();
        if reply.finish == FinishReason::ContentFilter {
            return Err(Error::ContentFilter {
                partial: text,
                usage,
            });
        }
        // A completion has no judge: a whole reply is one worth replaying, a cut one is not.
        if reply.finish != FinishReason::Length {
            prepared.ledger.commit();
        }
        Ok(Completion {
            text,
            usage,
            model: reply.model.unwrap_or_else(|| model.to_owned()),
            finish: reply.finish,
        })
    }
}

impl<'c> IntoFuture for CompleteRequest<'c> {
    type Output = Result<Completion, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
