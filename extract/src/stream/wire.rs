//! From an HTTP response to the dialect's deltas: SSE or NDJSON framing, the timeout between events,
//! the body cap, and the end of the stream told apart from a cut. Dropping a [`Deltas`] drops the
//! response, which closes the connection: that is how a dropped stream cancels its request.

use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt};

use crate::dialect::{excerpt, header_text, Delta, DialectImpl, Framing};
use crate::error::Error;
use crate::transport::{transport_error, HttpReply, Opened};

pub(crate) type Frames = Pin<Box<dyn Stream<Item = Result<String, Error>> + Send>>;

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
                Deltas {
                    source: Source::Frames(frames(bytes, dialect.framing())),
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

/// The payloads of a body's events: SSE `data:` fields, or NDJSON lines.
pub(crate) fn frames(
    bytes: impl Stream<Item = Result<Bytes, Error>> + Send + 'static,
    framing: Framing,
) -> Frames {
    let bytes = without_bom(bytes);
    match framing {
        // The empty line first dispatches nothing (an event without data), and keeps
        // eventsource-stream from ever seeing a mark at the start: it would strip one by cutting the
        // three-byte character after its first byte, which panics. `without_bom` skipped the one
        // mark the standard skips; a second one stays part of the first line, as the standard says.
        Framing::Sse => Box::pin(
            futures_util::stream::once(async { Ok(Bytes::from_static(b"\n")) })
                .chain(bytes)
                .eventsource()
                .filter_map(|event| async move {
                    match event {
                        // `data: [DONE]` and the rest reach the dialect; comments, keep-alives
                        // and events without data never get here.
                        Ok(event) if event.data.trim().is_empty() => None,
                        Ok(event) => Some(Ok(event.data)),
                        Err(err) => Some(Err(sse_error(err))),
                    }
                }),
        ),
        Framing::Ndjson => Box::pin(ndjson(bytes)),
    }
}

/// The body without the byte order mark it may start with, which the SSE standard says to skip and
/// serde_json, reading NDJSON lines, would refuse.
fn without_bom(
    bytes: impl Stream<Item = Result<Bytes, Error>> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut bytes = Box::pin(bytes.fuse());
    // The body's first bytes while they may still be a mark split across chunks; `None` once known.
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    futures_util::stream::poll_fn(move |cx| loop {
        let Some(start) = head.as_mut() else {
            return bytes.as_mut().poll_next(cx);
        };
        let chunk = match bytes.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => chunk,
            Poll::Ready(Some(Err(err))) => {
                head = None;
                return Poll::Ready(Some(Err(err)));
            }
            Poll::Ready(None) => {
                let start = head.take().unwrap_or_default();
                return Poll::Ready((!start.is_empty()).then(|| Ok(Bytes::from(start))));
            }
        };
        let start = if start.is_empty() && chunk.len() >= BOM.len() {
            chunk
        } else {
            start.extend_from_slice(&chunk);
            if start.len() < BOM.len() && BOM.starts_with(start) {
                continue;
            }
            Bytes::from(std::mem::take(start))
        };
        head = None;
        let rest = if start.starts_with(BOM) {
            start.slice(BOM.len()..)
        } else {
            start
        };
        return Poll::Ready(Some(Ok(rest)));
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The payloads of a body sent in `chunks`.
    async fn payloads(chunks: &[&[u8]], framing: Framing) -> Vec<String> {
        let chunks: Vec<Result<Bytes, Error>> = chunks
            .iter()
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        frames(futures_util::stream::iter(chunks), framing)
            .map(|frame| frame.unwrap_or_else(|e| format!("error: {e}")))
            .collect()
            .await
    }

    #[tokio::test]
    async fn a_byte_order_mark_is_skipped_however_it_arrives() {
        let sse: &[u8] = b"\xEF\xBB\xBFdata: {\"a\":1}\n\ndata: [DONE]\n\n";
        let ndjson: &[u8] = b"\xEF\xBB\xBF{\"a\":1}\n{\"done\":true}\n";
        for (body, framing, expected) in [
            (sse, Framing::Sse, ["{\"a\":1}", "[DONE]"]),
            (ndjson, Framing::Ndjson, ["{\"a\":1}", "{\"done\":true}"]),
        ] {
            for cut in 0..body.len() {
                let (head, tail) = body.split_at(cut);
                assert_eq!(
                    payloads(&[head, tail], framing).await,
                    expected,
                    "cut at {cut}"
                );
            }
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(payloads(&bytes, framing).await, expected);
        }
    }

    /// Found by the `sse` fuzz target: the body `\xEF\xBB\xBF\xEF\xBB\xBF` panicked once the first
    /// mark was skipped, since eventsource-stream saw the second at the start.
    #[tokio::test]
    async fn a_second_mark_is_part_of_the_first_line() {
        assert!(payloads(&[b"\xEF\xBB\xBF\xEF\xBB\xBF"], Framing::Sse)
            .await
            .is_empty());
        // The first line's field is `\u{feff}data`, which SSE ignores like any unknown field.
        let body: &[u8] = b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n";
        for cut in 0..body.len() {
            let (head, tail) = body.split_at(cut);
            assert_eq!(
                payloads(&[head, tail], Framing::Sse).await,
                ["y"],
                "cut at {cut}"
            );
        }
    }

    #[tokio::test]
    async fn only_a_leading_mark_is_skipped() {
        // Not a mark: the start of another character, or a mark later in the body.
        let body: &[u8] = "data: \u{feff}é\n\n".as_bytes();
        assert_eq!(payloads(&[body], Framing::Sse).await, ["\u{feff}é"]);
        assert_eq!(payloads(&[b"\xEF\xBB"], Framing::Ndjson).await.len(), 1);
        assert!(payloads(&[b"\xEF\xBB"], Framing::Ndjson).await[0].starts_with("error"));
        assert!(payloads(&[b"\xEF\xBB\xBF"], Framing::Sse).await.is_empty());
        assert!(payloads(&[], Framing::Sse).await.is_empty());
    }
}
