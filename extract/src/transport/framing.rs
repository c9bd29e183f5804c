//! The framing of a streamed reply: the payloads of its events, SSE `data:` fields or NDJSON lines,
//! read from the body's chunks under a byte cap. Transport, not streaming: it knows nothing of what
//! the payloads say, which is the dialect's to read (`stream/wire.rs` hands them over).

use std::pin::Pin;
use std::task::Poll;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use std::time::Instant;

use super::transport_error;
use crate::error::Error;
use crate::text::excerpt;
use crate::vocab::Framing;

/// The payloads of one streamed body, in order.
pub(crate) type Frames = Pin<Box<dyn Stream<Item = Result<String, Error>> + Send>>;

/// The payloads of a body's events: SSE `data:` fields, or NDJSON lines.
pub(crate) fn frames(
    bytes: impl Stream<Item = Result<Bytes, Error>> + Send + 'static,
    framing: Framing,
) -> Frames {
    let bytes = without_bom(bytes);
    match framing {
        Framing::Sse => Box::pin(sse(bytes)),
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
pub(crate) fn capped(
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

/// The most bytes framed in one poll before the framing lets the runtime run other work (the idle
/// timer among it): a chunk of megabytes without an event in it must not hold the task that long.
const FRAMED_PER_POLL: usize = 64 * 1024;

/// Splits a body into its SSE events and yields the `data` of each, as the WHATWG HTML standard's
/// "event stream interpretation" reads it: lines end in CRLF, LF or CR; `data:` lines join with
/// `\n`; an empty line dispatches; a line starting with `:` is a comment; a field without a colon is
/// a field with an empty value; one space after the colon is dropped; `event`, `id` and `retry`
/// mean nothing to a model's reply and are skipped, as is any other field. An event left
/// unfinished when the body ends is dropped, as the standard says. Events whose data is blank
/// (keep-alives) are not yielded.
///
/// Hand-written rather than eventsource-stream, which copied the rest of its buffer for each line
/// and rescanned runs of line ends: quadratic in a chunk's size (64 KiB of blank lines cost 2 s of
/// CPU, 256 KiB 21 s), and all of it inside one poll, so the idle timer could not fire. Here each
/// byte is looked at once, a line begun in one chunk and ended in another is copied once, and a
/// poll frames at most [`FRAMED_PER_POLL`] bytes before it yields.
fn sse(
    bytes: impl Stream<Item = Result<Bytes, Error>> + Send + 'static,
) -> impl Stream<Item = Result<String, Error>> + Send + 'static {
    let mut bytes = Box::pin(bytes);
    // The unread part of the last chunk: `chunk[at..]`.
    let mut chunk = Bytes::new();
    let mut at = 0usize;
    // A line begun in an earlier chunk.
    let mut line: Vec<u8> = Vec::new();
    // The last line ended in CR: an LF right after it belongs to that line end.
    let mut after_cr = false;
    let mut event = SseEvent::default();
    let mut ended = false;
    futures_util::stream::poll_fn(move |cx| {
        let mut budget = FRAMED_PER_POLL;
        loop {
            if let Some(rest) = chunk.get(at..).filter(|rest| !rest.is_empty()) {
                if after_cr {
                    after_cr = false;
                    if rest.first() == Some(&b'\n') {
                        at += 1;
                        continue;
                    }
                }
                // At the start of a line with no data read, blank lines dispatch nothing: a run of
                // line ends, of whatever kind, is skipped in one pass.
                if line.is_empty() && event.data.is_empty() {
                    let run = rest
                        .iter()
                        .take(budget)
                        .take_while(|&&b| b == b'\n' || b == b'\r')
                        .count();
                    if run > 0 {
                        at += run;
                        budget = budget.saturating_sub(run);
                        if budget == 0 {
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        continue;
                    }
                }
                let (used, payload) = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                    Some(end) => {
                        after_cr = rest.get(end) == Some(&b'\r');
                        let payload = match (line.is_empty(), rest.get(..end)) {
                            (true, Some(whole)) => event.line(whole),
                            (_, head) => {
                                line.extend_from_slice(head.unwrap_or_default());
                                let joined = std::mem::take(&mut line);
                                event.line(&joined)
                            }
                        };
                        (end + 1, payload)
                    }
                    None => {
                        line.extend_from_slice(rest);
                        (rest.len(), None)
                    }
                };
                at += used;
                match payload {
                    Some(Err(err)) => {
                        // A stream that is not UTF-8 ends here, as the first error ends a stream.
                        ended = true;
                        (chunk, at) = (Bytes::new(), 0);
                        return Poll::Ready(Some(Err(err)));
                    }
                    Some(Ok(data)) => return Poll::Ready(Some(Ok(data))),
                    None => {}
                }
                budget = budget.saturating_sub(used);
                if budget == 0 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                continue;
            }
            if ended {
                return Poll::Ready(None);
            }
            match bytes.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(next))) => (chunk, at) = (next, 0),
                Poll::Ready(Some(Err(err))) => {
                    ended = true;
                    return Poll::Ready(Some(Err(err)));
                }
                // A line or an event left unfinished is dropped, as the standard says.
                Poll::Ready(None) => {
                    ended = true;
                    return Poll::Ready(None);
                }
            }
        }
    })
}

/// The event being read: its data lines so far.
#[derive(Default)]
struct SseEvent {
    /// The data lines, each followed by `\n` (the standard's "data buffer").
    data: String,
}

impl SseEvent {
    /// Reads one line (without its line end); the data of the event it dispatches, if any.
    fn line(&mut self, line: &[u8]) -> Option<Result<String, Error>> {
        if line.is_empty() {
            // The standard's dispatch: no data, no event; the last `\n` is not part of the data.
            let mut data = std::mem::take(&mut self.data);
            data.pop();
            return (!data.trim().is_empty()).then_some(Ok(data));
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return None,
            Some(colon) => {
                let value = line.get(colon + 1..).unwrap_or_default();
                let value = value.strip_prefix(b" ").unwrap_or(value);
                (line.get(..colon).unwrap_or_default(), value)
            }
            None => (line, &b""[..]),
        };
        if field != b"data" {
            return None;
        }
        let value = match std::str::from_utf8(value) {
            Ok(value) => value,
            Err(err) => {
                return Some(Err(Error::UnexpectedResponse {
                    status: 200,
                    message: format!("the stream is not UTF-8: {err}"),
                    body: excerpt(line),
                }))
            }
        };
        self.data.push_str(value);
        self.data.push('\n');
        None
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

    /// The standard's rules, each whatever the chunking: line ends, joined data lines, comments,
    /// fields without a colon or without the space, other fields, unfinished events.
    #[tokio::test]
    async fn sse_follows_the_standard_however_it_is_chunked() {
        let cases: &[(&[u8], &[&str])] = &[
            (b"data: a\r\n\r\ndata: b\r\rdata: c\n\n", &["a", "b", "c"]),
            (
                b"data: one\ndata:two\ndata:  three\n\n",
                &["one\ntwo\n three"],
            ),
            (
                b": comment\nevent: delta\nid: 7\nretry: 10\ndata: x\n\n",
                &["x"],
            ),
            (b"data\ndata: y\n\n", &["\ny"]),
            (b"data: \n\n\n\n\r\r\r\ndata: z\n\n", &["z"]),
            (b"datum: no\nDATA: no\n data: no\n\ndata: yes\n\n", &["yes"]),
            (b"data: kept\n\ndata: unfinished\n", &["kept"]),
            (b"data: kept\n\ndata: unfinished", &["kept"]),
            (b"data: a:b: c\n\n", &["a:b: c"]),
        ];
        for (body, expected) in cases {
            for cut in 0..=body.len() {
                let (head, tail) = body.split_at(cut);
                assert_eq!(
                    payloads(&[head, tail], Framing::Sse).await,
                    *expected,
                    "{:?} cut at {cut}",
                    String::from_utf8_lossy(body)
                );
            }
            let bytes: Vec<&[u8]> = body.chunks(1).collect();
            assert_eq!(payloads(&bytes, Framing::Sse).await, *expected);
        }
    }

    #[tokio::test]
    async fn data_that_is_not_utf8_ends_the_stream_with_an_error() {
        let got = payloads(&[b"data: a\n\ndata: \xff\n\ndata: b\n\n"], Framing::Sse).await;
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0], "a");
        assert!(got[1].contains("not UTF-8"), "{got:?}");
        // A comment is not read, so its bytes do not matter.
        assert_eq!(
            payloads(&[b": \xff\ndata: a\n\n"], Framing::Sse).await,
            ["a"]
        );
    }

    /// A chunk of megabytes without an event in it is framed a slice at a time: the task yields
    /// (and wakes itself) in between, so the idle timer gets its turn.
    #[tokio::test]
    async fn a_big_chunk_is_framed_in_bounded_slices() {
        let mut body = vec![b'\n'; 4 * FRAMED_PER_POLL];
        body.extend_from_slice(b"data: last\n\n");
        let chunks = vec![Ok::<_, Error>(Bytes::from(body))];
        let mut frames = frames(futures_util::stream::iter(chunks), Framing::Sse);
        let mut yields = 0;
        let got = std::future::poll_fn(|cx| {
            let polled = frames.as_mut().poll_next(cx);
            yields += usize::from(polled.is_pending());
            polled
        });
        let first = got.await;
        assert!(
            matches!(first, Some(Ok(ref data)) if data == "last"),
            "{first:?}"
        );
        assert!(yields >= 3, "{yields} yields");
    }

    /// Linear: a megabyte of blank lines, or of events, costs about sixteen times 64 KiB of them,
    /// where eventsource-stream took seconds for 64 KiB of blank lines alone.
    #[tokio::test]
    async fn sse_framing_is_linear_in_a_chunk() {
        for unit in [&b"\n"[..], b"\r", b"\r\n", b"data: {\"a\":1}\n\n"] {
            let body = unit.repeat((1 << 20) / unit.len());
            let started = std::time::Instant::now();
            let _ = payloads(&[&body], Framing::Sse).await;
            let took = started.elapsed();
            assert!(
                took < std::time::Duration::from_secs(2),
                "{unit:?}: {took:?}"
            );
        }
    }
}
