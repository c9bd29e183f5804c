//! Streaming faults of issue 15, each provoked by a local server that scripts raw bytes, chunks and
//! stalls: floods of line ends and a line larger than the body cap (SSE framing), a server that
//! trickles events to keep a stream alive (the total deadline), a whole reply whose end marker never
//! comes (judged at its finish reason), and a long reply followed through `into_stream` (linear).

use std::time::{Duration, Instant};

use extract::stream::{Snapshot, Update};
use extract::{Client, Cut, Error, Extract};
use extract_workspace_tests::raw_server::{RawServer, Step};
use extract_workspace_tests::{chunk, sse, stream_end, CalendarEvent, EVENT};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

fn event() -> CalendarEvent {
    serde_json::from_str(EVENT).unwrap_or_else(|e| panic!("EVENT is a CalendarEvent: {e}"))
}

/// Runs a streamed extraction to its end: the value or the error it ended with, and the partial
/// updates seen before.
async fn run_stream(client: &Client) -> (Result<CalendarEvent, Error>, usize) {
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut partials = 0;
    while let Some(update) = stream.next().await {
        match update {
            Ok(Update::Partial(_)) => partials += 1,
            Ok(Update::Done(done)) => return (Ok(done.value), partials),
            Ok(_) => {}
            Err(err) => return (Err(err), partials),
        }
    }
    panic!("the stream ended with neither a value nor an error");
}

/// The finish chunk of an OpenAI stream alone, without the usage chunk and `[DONE]` after it.
fn finish_only(reason: &str) -> String {
    let finish = json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "model": "test-model-2024",
        "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]
    });
    format!("data: {finish}\n\n")
}

// ---- item 3: SSE framing is linear, and the idle timer can fire ----

/// A megabyte of bare line ends of each kind (LF, CR, CRLF) before a valid stream: framed in
/// linear time, well within the 2 s timeout (eventsource-stream took minutes on this in a debug
/// build, seconds in release).
#[tokio::test]
async fn a_megabyte_of_blank_lines_then_a_valid_stream_finishes_within_the_timeout() {
    for flood in [&b"\n"[..], b"\r", b"\r\n"] {
        let blank = flood.repeat((1 << 20) / flood.len());
        let server = RawServer::start(
            "text/event-stream",
            vec![
                Step::Send(blank),
                Step::Send(sse(EVENT, 7, "stop").into_bytes()),
            ],
        )
        .await;
        let started = Instant::now();
        let (value, partials) = run_stream(&server.client()).await;
        let took = started.elapsed();
        assert_eq!(value.unwrap_or_else(|e| panic!("{flood:?}: {e}")), event());
        assert!(partials > 5, "{partials} partial updates");
        assert!(took < Duration::from_millis(1500), "{flood:?}: {took:?}");
        assert_eq!(server.seen.requests(), 1);
    }
}

/// A megabyte of small events in one chunk (comments and blank-data keep-alives among them) is
/// framed in linear time too, and the value after them is read.
#[tokio::test]
async fn a_megabyte_of_events_in_one_chunk_is_framed_in_linear_time() {
    let filler = ": keep-alive\n\ndata: \n\nevent: ping\n\n".repeat((1 << 20) / 36);
    let mut body = filler.into_bytes();
    body.extend_from_slice(sse(EVENT, 3, "stop").as_bytes());
    let server = RawServer::start("text/event-stream", vec![Step::Send(body)]).await;
    let started = Instant::now();
    let (value, _) = run_stream(&server.client()).await;
    assert_eq!(value.unwrap_or_else(|e| panic!("{e}")), event());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

/// One 20 MB line, sent as fast as the connection takes it: it ends as the body-cap error as soon
/// as the cap (8 MiB by default) is passed, not after the whole line was scanned again and again.
#[tokio::test]
async fn a_twenty_megabyte_line_ends_promptly_as_the_body_cap_error() {
    let mut steps = vec![Step::Send(chunk(r#"{"name":"Sci"#).into_bytes())];
    steps.push(Step::Send(b"data: ".to_vec()));
    for _ in 0..20 {
        steps.push(Step::Send(vec![b'x'; 1_000_000]));
    }
    let server = RawServer::start("text/event-stream", steps).await;
    let started = Instant::now();
    let (outcome, partials) = run_stream(&server.client()).await;
    let took = started.elapsed();
    match outcome {
        Err(Error::UnexpectedResponse {
            status,
            message,
            body,
        }) => {
            assert_eq!(status, 200);
            assert!(message.contains("8388608-byte cap"), "{message}");
            assert!(message.contains("max_response_bytes"), "{message}");
            assert!(body.is_empty(), "{body}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(partials, 1);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(server.seen.requests(), 1);
}

/// A server flooding line ends that never make an event does not keep a stream alive: the idle
/// timeout fires while the flood is being framed, and the stream is cut as stalled.
#[tokio::test]
async fn a_flood_of_line_ends_without_events_ends_at_the_idle_timeout() {
    let mut steps = vec![Step::Send(chunk(r#"{"name":"Sci"#).into_bytes())];
    for _ in 0..400 {
        steps.push(Step::Send(vec![b'\n'; 64 * 1024]));
        steps.push(Step::Sleep(Duration::from_millis(10)));
    }
    let server = RawServer::start("text/event-stream", steps).await;
    let client = server
        .builder()
        .timeout(Duration::from_secs(1))
        .max_response_bytes(usize::MAX)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let (outcome, _) = run_stream(&client).await;
    let took = started.elapsed();
    match outcome {
        Err(Error::Truncated { partial, cause, .. }) => {
            assert_eq!(partial, r#"{"name":"Sci"#);
            assert_eq!(cause, Cut::Stalled);
        }
        other => panic!("{other:?}"),
    }
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

// ---- item 8: a total deadline for a stream ----

/// A server trickling one character every 300 ms never lets the 1 s idle timeout fire; the stream's
/// deadline (2 s here) ends it as `Truncated { cause: Deadline }`, with the text that arrived.
#[tokio::test]
async fn a_trickling_stream_ends_at_its_deadline_with_the_text_so_far() {
    let mut steps = vec![Step::Send(chunk(r#"{"name":"S"#).into_bytes())];
    for _ in 0..40 {
        steps.push(Step::Sleep(Duration::from_millis(300)));
        steps.push(Step::Send(chunk("c").into_bytes()));
    }
    let server = RawServer::start("text/event-stream", steps).await;
    let client = server
        .builder()
        .timeout(Duration::from_secs(1))
        .stream_deadline(Duration::from_secs(2))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let (outcome, _) = run_stream(&client).await;
    let took = started.elapsed();
    match outcome {
        Err(Error::Truncated { partial, cause, .. }) => {
            assert_eq!(cause, Cut::Deadline);
            assert!(partial.starts_with(r#"{"name":"Sc"#), "{partial}");
            let trickled = partial.len() - r#"{"name":"S"#.len();
            assert!((4..=8).contains(&trickled), "{partial}");
            assert!(partial[r#"{"name":"S"#.len()..].chars().all(|c| c == 'c'));
        }
        other => panic!("{other:?}"),
    }
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(server.seen.requests(), 1);
}

/// Without a deadline set, a stream's deadline is ten times the timeout: a 200 ms timeout and a
/// character every 100 ms end at about 2 s.
#[tokio::test]
async fn the_default_deadline_is_ten_timeouts() {
    let mut steps = vec![Step::Send(chunk(r#"{"name":"S"#).into_bytes())];
    for _ in 0..60 {
        steps.push(Step::Sleep(Duration::from_millis(100)));
        steps.push(Step::Send(chunk("c").into_bytes()));
    }
    let server = RawServer::start("text/event-stream", steps).await;
    let client = server
        .builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let (outcome, _) = run_stream(&client).await;
    let took = started.elapsed();
    assert!(
        matches!(
            outcome,
            Err(Error::Truncated {
                cause: Cut::Deadline,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_zero_stream_deadline_is_a_configuration_error() {
    let err = Client::builder()
        .base_url("http://127.0.0.1:9/v1")
        .model("m")
        .stream_deadline(Duration::ZERO)
        .build()
        .err();
    match err {
        Some(Error::Config { message }) => assert!(message.contains("deadline"), "{message}"),
        other => panic!("{other:?}"),
    }
}

// ---- item 9: a whole reply is judged at its finish reason ----

/// The whole value, `finish_reason: stop`, then nothing (no usage, no `[DONE]`, the connection
/// held open): the value is judged at once, not thrown away as stalled after the 5 s timeout.
#[tokio::test]
async fn a_finished_reply_whose_end_marker_never_comes_is_judged_at_once() {
    let mut body = sse(EVENT, 9, "stop");
    let end = stream_end("stop");
    body.truncate(body.len() - end.len());
    body.push_str(&finish_only("stop"));
    let server = RawServer::start(
        "text/event-stream",
        vec![Step::Send(body.into_bytes()), Step::Hold],
    )
    .await;
    let client = server
        .builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut done = None;
    while let Some(update) = stream.next().await {
        if let Update::Done(extraction) = update.unwrap_or_else(|e| panic!("{e}")) {
            done = Some(extraction);
        }
    }
    let took = started.elapsed();
    let done = done.unwrap_or_else(|| panic!("no value"));
    assert_eq!(done.value, event());
    assert_eq!(done.attempts, 1);
    assert!(took < Duration::from_secs(1), "{took:?}");
    drop(stream);
    assert!(server.seen.client_gone_within(Duration::from_secs(2)).await);
}

/// The finish reason and the usage chunk, then a stall without `[DONE]`: the value, with its usage.
#[tokio::test]
async fn a_finished_reply_keeps_the_usage_sent_after_its_finish_reason() {
    let body = sse(EVENT, 9, "stop");
    let body = body.trim_end_matches("data: [DONE]\n\n").to_owned();
    let server = RawServer::start(
        "text/event-stream",
        vec![
            Step::Send(body.into_bytes()),
            Step::Sleep(Duration::from_secs(30)),
        ],
    )
    .await;
    let started = Instant::now();
    let extraction = client_extract(&server.client()).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.usage.total_tokens, 15);
}

async fn client_extract(client: &Client) -> extract::Extraction<CalendarEvent> {
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    while let Some(update) = stream.next().await {
        if let Update::Done(done) = update.unwrap_or_else(|e| panic!("{e}")) {
            return done;
        }
    }
    panic!("no value")
}

/// `finish_reason: length` then a stall: still judged at once, as the token-limit cut it is.
#[tokio::test]
async fn a_reply_cut_at_the_token_limit_then_stalled_is_truncated_at_once() {
    let mut body = chunk(r#"{"name":"Science fair","da"#);
    body.push_str(&finish_only("length"));
    let server = RawServer::start(
        "text/event-stream",
        vec![
            Step::Send(body.into_bytes()),
            Step::Sleep(Duration::from_secs(30)),
        ],
    )
    .await;
    let client = server
        .builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let (outcome, _) = run_stream(&client).await;
    match outcome {
        Err(Error::Truncated { partial, cause, .. }) => {
            assert_eq!(cause, Cut::TokenLimit);
            assert_eq!(partial, r#"{"name":"Science fair","da"#);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

// ---- item 16: `into_stream` is linear ----

/// A reply with one long string field.
#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Essay {
    text: String,
}

/// A 96 KiB value in 4-byte pieces (25,000 updates): rebuilding every snapshot from the whole text
/// would re-parse about 1.2 GB; `into_stream` keeps within a linear budget, its snapshots grow in
/// order, and the last item is the value.
#[tokio::test]
async fn into_stream_on_a_long_reply_is_linear() {
    let text: String = "abcdefghij".repeat(96 * 1024 / 10);
    let reply = serde_json::to_string(&json!({ "text": text })).unwrap_or_default();
    let server = RawServer::start(
        "text/event-stream",
        vec![Step::Send(sse(&reply, 4, "stop").into_bytes())],
    )
    .await;
    let client = server
        .builder()
        .timeout(Duration::from_secs(20))
        .max_response_bytes(64 << 20)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let items: Vec<Snapshot<Essay>> = client
        .extract::<Essay>("text")
        .stream()
        .into_stream()
        .map(|item| item.unwrap_or_else(|e| panic!("{e}")))
        .collect()
        .await;
    let took = started.elapsed();
    let mut last_len = 0;
    let mut partials = 0;
    for item in &items[..items.len() - 1] {
        match item {
            Snapshot::Partial(p) => {
                let len = p.text.as_ref().map_or(0, String::len);
                assert!(len >= last_len, "{len} after {last_len}");
                last_len = len;
                partials += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    match items.last() {
        Some(Snapshot::Done(done)) => assert_eq!(done.value.text, text),
        other => panic!("{other:?}"),
    }
    // Every update of the first few KiB, then one per sixteenth of growth (a rebuild per update
    // would be 25,000 snapshots).
    assert!(partials > 500, "{partials} snapshots");
    assert!(partials < 5_000, "{partials} snapshots");
    assert!(took < Duration::from_secs(15), "{took:?}");
}
