//! Text as it arrives: the deltas of a plain completion, for chat.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::Stream;

use super::call::Call;
use crate::error::Error;
use crate::vocab::FinishReason;
use crate::vocab::Mode;
use crate::vocab::Usage;

/// What a finished stream cost and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSummary {
    /// Tokens over every attempt, as far as the provider reported them.
    pub usage: Usage,
    /// Model calls made.
    pub attempts: u32,
    /// The model that answered, as the provider named it.
    pub model: Option<String>,
    /// Why the (last) reply ended.
    pub finish: Option<FinishReason>,
}

/// The text of a completion as it arrives, one delta per item, from
/// [`CompleteRequest::stream`](crate::CompleteRequest::stream).
///
/// A reply that reached its token limit ends normally, with [`FinishReason::Length`] in the
/// [`summary`](Self::summary); a stream that breaks off before the provider said it was done ends
/// with [`Error::Truncated`] holding all the text received. Dropping the stream cancels the request.
#[must_use = "a stream does nothing until it is polled"]
pub struct TextStream<'c> {
    inner: Pin<Box<dyn Stream<Item = Result<String, Error>> + Send + 'c>>,
    summary: Arc<Mutex<StreamSummary>>,
}

impl<'c> TextStream<'c> {
    pub(crate) fn new(prepared: crate::complete::Prepared<'c>) -> Self {
        let summary = Arc::new(Mutex::new(StreamSummary::default()));
        let shared = summary.clone();
        let inner = futures_util::stream::unfold(State::Start(prepared), move |state| {
            let summary = shared.clone();
            async move { state.next(&summary).await }
        });
        TextStream {
            inner: Box::pin(inner),
            summary,
        }
    }

    /// Tokens, model and finish reason; complete once the stream has ended.
    pub fn summary(&self) -> StreamSummary {
        self.summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the whole stream into one string.
    pub async fn collect_text(mut self) -> Result<String, Error> {
        use futures_util::StreamExt;
        let mut text = String::new();
        while let Some(piece) = self.next().await {
            text.push_str(&piece?);
        }
        Ok(text)
    }
}

impl Stream for TextStream<'_> {
    type Item = Result<String, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for TextStream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextStream")
            .field("summary", &self.summary())
            .finish_non_exhaustive()
    }
}

enum State<'c> {
    Start(crate::complete::Prepared<'c>),
    Streaming(Call),
    Over,
}

impl State<'_> {
    async fn next(self, summary: &Mutex<StreamSummary>) -> Option<(Result<String, Error>, Self)> {
        let mut call = match self {
            State::Over => return None,
            State::Streaming(call) => call,
            State::Start(prepared) => {
                summary.lock().unwrap_or_else(|e| e.into_inner()).attempts = 1;
                let opened = prepared
                    .client
                    .open_stream(&prepared.chat_request(), &prepared.ledger)
                    .await;
                match opened {
                    Ok(deltas) => Call::new(deltas, Mode::Prompt),
                    Err(err) => return Some((Err(err), State::Over)),
                }
            }
        };
        match call.next_piece().await {
            Some(Ok(range)) => {
                let piece = call.text()[range].to_owned();
                Some((Ok(piece), State::Streaming(call)))
            }
            Some(Err(err)) => Some((Err(err), State::Over)),
            None => {
                let reply = match call.into_reply() {
                    Ok(reply) => reply,
                    Err(err) => return Some((Err(err), State::Over)),
                };
                {
                    let mut summary = summary.lock().unwrap_or_else(|e| e.into_inner());
                    summary.usage = reply.usage.unwrap_or_default();
                    summary.model.clone_from(&reply.model);
                    summary.finish = Some(reply.finish);
                }
                let usage = reply.usage.unwrap_or_default();
                if let Some(refusal) = reply.refusal {
                    return Some((Err(Error::Refusal { refusal, usage }), State::Over));
                }
                if reply.finish == FinishReason::ContentFilter {
                    let partial = reply.content.unwrap_or_default();
                    return Some((Err(Error::ContentFilter { partial, usage }), State::Over));
                }
                None
            }
        }
    }
}

impl<'c> crate::CompleteRequest<'c> {
    /// Streams the reply as text deltas.
    pub fn stream(self) -> TextStream<'c> {
        TextStream::new(self.prepare())
    }
}
