//! From an HTTP response to the dialect's deltas: SSE or NDJSON framing, the timeout between events,
//! the body cap, and the end of the stream told apart from a cut. Dropping a [`Deltas`] drops the
//! response, which closes the connection: that is how a dropped stream cancels its request.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::dialect::{header_text, DialectImpl};
use crate::error::Error;
use crate::secrets::Secrets;
use crate::transport::framing::{capped, frames, Frames};
use crate::transport::{HttpReply, Opened};
use crate::vocab::Delta;

/// The deltas of one streamed reply, in order.
pub(crate) struct Deltas {
    source: Source,
    dialect: &'static dyn DialectImpl,
    idle: Duration,
    /// When the whole stream must have ended ([`ClientBuilder::stream_deadline`]); `None` when no
    /// instant is that far away.
    ///
    /// [`ClientBuilder::stream_deadline`]: crate::ClientBuilder::stream_deadline
    deadline: Option<Instant>,
    /// A caching proxy's verdict on the request, from the response headers.
    pub(crate) cache_status: Option<String>,
    /// The client's secrets, removed from every error an event or the body gives.
    secrets: Secrets,
}

enum Source {
    Frames(Frames),
    /// A reply that came in one piece (a provider that cannot stream in this mode, or a server that
    /// ignored `"stream": true`): one delta with everything, then the end.
    Once(Option<Result<Delta, Error>>),
}

impl Deltas {
    /// The deltas of what [`post_stream`](crate::transport::post_stream) opened.
    pub(crate) fn new(
        opened: Opened,
        dialect: &'static dyn DialectImpl,
        idle: Duration,
        total: Duration,
        cap: usize,
    ) -> Deltas {
        match opened {
            Opened::Stream(response) => {
                let cache_status = header_text(response.headers(), "cf-aig-cache-status");
                let started = Instant::now();
                let status = response.status().as_u16();
                let bytes = capped(response.bytes_stream(), cap, status, started);
                Deltas {
                    source: Source::Frames(frames(bytes, dialect.framing())),
                    dialect,
                    idle,
                    deadline: started.checked_add(total),
                    cache_status,
                    secrets: Secrets::default(),
                }
            }
            Opened::Whole(reply) => Deltas::whole(reply, dialect),
        }
    }

    /// A whole reply read as one delta.
    pub(crate) fn whole(reply: HttpReply, dialect: &'static dyn DialectImpl) -> Deltas {
        let parsed = dialect
            .parse_reply(reply.status, &reply.headers, &reply.body)
            .map(|reply| Delta {
                content: reply.content,
                tool_arguments: reply.tool_arguments,
                refusal: reply.refusal,
                finish: Some(reply.finish),
                usage: reply.usage,
                model: reply.model,
                done: true,
            });
        Deltas {
            source: Source::Once(Some(parsed)),
            dialect,
            idle: Duration::MAX,
            deadline: None,
            cache_status: header_text(&reply.headers, "cf-aig-cache-status"),
            secrets: Secrets::default(),
        }
    }

    /// The deltas with `secrets` removed from every error they end in: a provider's error event or
    /// an unreadable line may quote the key back.
    pub(crate) fn redacting(mut self, secrets: &Secrets) -> Deltas {
        self.secrets = secrets.clone();
        self
    }

    /// The next delta; `None` when the body ended (whether or not the provider said it was done:
    /// the caller tells a finished reply from a cut one by the `done` and `finish` it saw). Waits
    /// at most the idle timeout, or `wait` when shorter, and never past the stream's deadline: a
    /// [`Error::Timeout`] then ([`past_deadline`](Self::past_deadline) tells which ran out).
    pub(crate) async fn next(&mut self, wait: Option<Duration>) -> Option<Result<Delta, Error>> {
        let next = self.next_unredacted(wait).await;
        match next {
            Some(Err(error)) => Some(Err(self.secrets.scrub_error(error))),
            other => other,
        }
    }

    async fn next_unredacted(&mut self, wait: Option<Duration>) -> Option<Result<Delta, Error>> {
        match &mut self.source {
            Source::Once(delta) => delta.take(),
            Source::Frames(frames) => {
                let started = Instant::now();
                let mut limit = wait.map_or(self.idle, |wait| wait.min(self.idle));
                if let Some(deadline) = self.deadline {
                    limit = limit.min(deadline.saturating_duration_since(started));
                }
                let frame =
                    match crate::transport::within(limit, std::pin::pin!(frames.next())).await {
                        Some(frame) => frame?,
                        None => {
                            return Some(Err(Error::Timeout {
                                elapsed: started.elapsed(),
                            }))
                        }
                    };
                Some(frame.and_then(|data| self.dialect.parse_delta(&data)))
            }
        }
    }

    /// Whether the stream's total deadline has passed.
    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }
}
