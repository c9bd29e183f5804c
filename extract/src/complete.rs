//! Plain text generation and chat: the same client, providers, retries and errors as an extraction,
//! with no schema. The reply is text, whole or as a stream of deltas.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use crate::client::Client;
use crate::dialect::{FinishReason, Turn};
use crate::error::Error;
use crate::reask::push_input;
use crate::request::{Input, Message, Mode, Options};
use crate::stream::TextStream;
use crate::usage::Usage;

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

/// A text completion being configured, from [`Client::complete`]; `.await` it for a
/// [`Completion`], or call [`stream`](Self::stream) for the text as it arrives.
#[must_use = "a completion does nothing until it is awaited or streamed"]
pub struct CompleteRequest<'c> {
    client: &'c Client,
    input: Input,
    instructions: Option<String>,
    options: Options,
}

impl<'c> CompleteRequest<'c> {
    pub(crate) fn new(client: &'c Client, input: Input) -> Self {
        CompleteRequest {
            client,
            input,
            instructions: None,
            options: Options::with_sampling(client.sampling()),
        }
    }

    /// A system message sent before the input.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }
    /// A chat history to answer, in place of the input text.
    pub fn messages(mut self, messages: impl Into<Vec<Message>>) -> Self {
        self.input = Input::Messages(messages.into());
        self
    }
    /// The model for this request.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.options.model = Some(model.into());
        self
    }
    /// Sampling temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.options.temperature = Some(temperature);
        self
    }
    /// The most tokens the reply may have.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.options.max_tokens = Some(max_tokens);
        self
    }

    fn parts(self) -> (&'c Client, String, Vec<Turn>, Options) {
        let mut turns = Vec::new();
        if let Some(instructions) = self.instructions {
            turns.push(Turn::System(instructions));
        }
        push_input(&mut turns, &self.input);
        let model = self
            .options
            .model
            .clone()
            .unwrap_or_else(|| self.client.model().to_owned());
        (self.client, model, turns, self.options)
    }

    /// Sends the request and returns the whole reply.
    pub async fn send(self) -> Result<Completion, Error> {
        let (client, model, turns, options) = self.parts();
        let span = tracing::info_span!(
            "complete",
            model = %model,
            dialect = client.dialect().name(),
            total_tokens = tracing::field::Empty,
        );
        let _guard = span.clone();
        let reply = tracing::Instrument::instrument(
            client.chat(&model, Mode::Prompt, None, &turns, &options, 1),
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
        #[cfg(feature = "cache")]
        if reply.finish != FinishReason::Length {
            options.cache.commit();
        }
        Ok(Completion {
            text,
            usage,
            model: reply.model.unwrap_or(model),
            finish: reply.finish,
        })
    }

    /// Streams the reply as text deltas.
    pub fn stream(self) -> TextStream<'c> {
        let (client, model, turns, options) = self.parts();
        TextStream::new(client, model, turns, options)
    }
}

impl<'c> IntoFuture for CompleteRequest<'c> {
    type Output = Result<Completion, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
