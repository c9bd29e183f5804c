//! From an HTTP response to the dialect's deltas: SSE or NDJSON framing, the timeout between events,
//! the body cap, and the end of the stream told apart from a cut. Dropping a [`Deltas`] drops the
//! response, which closes the connection: that is how a dropped stream cancels its request.

use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};

use crate::dialect::{excerpt, header_text, Delta, DialectImpl, Framing};
use crate::error::Error;
use crate::transport::{transport_error, HttpReply, Opened};

type Frames = Pin<Box<dyn Stream<Item = Result<String, Error>> + Send>>;

/// The deltas of one streamed reply, in order.
pub(crate) struct Deltas {
    source: Source,
    dialect: &'static dyn DialectImpl,
    idle: Duration,
    /// A caching proxy's verdict on the request, from the response headers.
    pub(crate) cache_status: Option<String>,
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
        cap: usize,
    ) -> Deltas {
        match opened {
            Opened::Stream(response) => {
                let cache_status = header_text(response.headers(), "cf-aig-cache-status");
                let started = Instant::now();
                let status = response.status().as_u16();
                let bytes = capped(response.bytes_stream(), cap, status, started);
                let frames: Frames = match dialect.framing() {
                    Framing::Sse => Box::pin(bytes.eventsource().filter_map(|event| async move {
                        match event {
                            // `data: [DONE]` and the rest reach the dialect; comments, keep-alives
                            // and events without data never get here.
                            Ok(event) if event.data.trim().is_empty() => None,
                            Ok(event) => Some(Ok(event.data)),
                            Err(err) => Some(Err(sse_error(err))),
                        }
                    })),
                    Framing::Ndjson => Box::pin(ndjson(bytes)),
                };
                Deltas {
                    source: Source::Frames(frames),
                    dialect,
                    idle,
                    cache_status,
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
            cache_status: header_text(&reply.headers, "cf-aig-cache-status"),
        }
    }

    /// The next delta; `None` when the body ended (whether or not the provider said it was done:
    /// the caller tells a finished reply from a cut one by the `done` and `finish` it saw).
    pub(crate) async fn next(&mut self) -> Option<Result<Delta, Error>> {
        match &mut self.source {
            Source::Once(delta) => delta.take(),
            Source::Frames(frames) => {
                let started = Instant::now();
                let frame = match crate::transport::within(self.idle, std::pin::pin!(frames.next()))
                    .await
                {
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
}

/// The body's chunks, ending in an error once more than `cap` bytes arrived.
fn capped(
    body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    cap: usize,
    status: u16,
    started: Instant,
) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
    let mut seen = 0usize;
    let mut over = false;
    body.map(move |chunk| {
        let chunk = chunk.map_err(|e| transport_error(e, started))?;
        seen = seen.saturating_add(chunk.len());
        if seen > cap {
            over = true;
        }
        if over {
            return Err(Error::UnexpectedResponse {
                status,
                message: format!(
                    "the stream is larger than the {cap}-byte cap (ClientBuilder::max_response_bytes)"
                ),
                body: String::new(),
            });
        }
        Ok(chunk)
    })
}

fn sse_error(err: eventsource_stream::EventStreamError<Error>) -> Error {
    match err {
        eventsource_stream::EventStreamError::Transport(err) => err,
        eventsource_stream::EventStreamError::Utf8(err) => Error::UnexpectedResponse {
            status: 200,
            message: format!("the stream is not UTF-8: {err}"),
            body: String::new(),
        },
        eventsource_stream::EventStreamError::Parser(err) => Error::UnexpectedResponse {
            status: 200,
            message: format!("the stream is not valid server-sent events: {err}"),
            body: String::new(),
        },
    }
}

/// Splits a body into its non-empty lines (one JSON object each), keeping a partial line between
/// chunks.
fn ndjson(
    bytes: impl Stream<Item = Result<Bytes, Error>> + Send + 'static,
) -> impl Stream<Item = Result<String, Error>> + Send + 'static {
    let mut pending: Vec<u8> = Vec::new();
    let mut bytes = Box::pin(bytes);
    let mut ready: std::collections::VecDeque<Result<String, Error>> = Default::default();
    let mut ended = false;
    futures_util::stream::poll_fn(move |cx| loop {
        if let Some(line) = ready.pop_front() {
            return std::task::Poll::Ready(Some(line));
        }
        if ended {
            return std::task::Poll::Ready(None);
        }
        match bytes.as_mut().poll_next(cx) {
            std::task::Poll::Pending => return std::task::Poll::Pending,
            std::task::Poll::Ready(Some(Err(err))) => {
                ended = true;
                ready.push_back(Err(err));
            }
            std::task::Poll::Ready(Some(Ok(chunk))) => {
                // Only the new bytes are searched for line ends, so a long line costs its length once.
                let mut from = pending.len();
                pending.extend_from_slice(&chunk);
                while let Some(at) = pending[from..].iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..from + at + 1).collect();
                    from = 0;
                    push_line(&mut ready, &line);
                }
            }
            std::task::Poll::Ready(None) => {
                ended = true;
                let rest = std::mem::take(&mut pending);
                push_line(&mut ready, &rest);
            }
        }
    })
}

fn push_line(ready: &mut std::collections::VecDeque<Result<String, Error>>, line: &[u8]) {
    match std::str::from_utf8(line) {
        Ok(text) if text.trim().is_empty() => {}
        Ok(text) => ready.push_back(Ok(text.trim().to_owned())),
        Err(err) => ready.push_back(Err(Error::UnexpectedResponse {
            status: 200,
            message: format!("a stream line is not UTF-8: {err}"),
            body: excerpt(line),
        })),
    }
}
