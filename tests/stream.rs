//! Streaming against scripted servers: text deltas, partial values, completed elements, every
//! dialect's framing, and every way a stream can end badly.

use std::sync::atomic::Ordering;
use std::time::Duration;

use extract::stream::{Snapshot, Update};
use extract::{Client, Cut, Dialect, Error, Extract, FinishReason, Mode, StopReason};
use extract_workspace_tests::raw_server::{RawServer, Step};
use extract_workspace_tests::{
    bodies, chunk, completion, ok, ok_sse, sse, stream_end, CalendarEvent, Script, EVENT,
};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("test-model")
        .initial_backoff(Duration::from_millis(1))
        .build()
        .expect("valid configuration")
}

async fn serve(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

fn expected_event() -> CalendarEvent {
    serde_json::from_str(EVENT).expect("EVENT is a CalendarEvent")
}

// ---- text ----

#[tokio::test]
async fn text_stream_yields_deltas_and_reports_usage() {
    let server = serve(ok_sse(sse("Hello there, world.", 4, "stop"))).await;
    let client = client(&server);
    let mut stream = client.complete("Say hello").stream();
    let mut pieces = Vec::new();
    while let Some(piece) = stream.next().await {
        pieces.push(piece.unwrap());
    }
    assert!(pieces.len() >= 4, "{pieces:?}");
    assert_eq!(pieces.concat(), "Hello there, world.");
    let summary = stream.summary();
    assert_eq!(summary.usage.total_tokens, 15);
    assert_eq!(summary.finish, Some(FinishReason::Stop));
    assert_eq!(summary.model.as_deref(), Some("test-model-2024"));
    let body = &bodies(&server).await[0];
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn text_completion_returns_the_whole_reply() {
    let server = serve(ok(completion("Hi!"))).await;
    let done = client(&server)
        .complete("Say hi")
        .instructions("Be brief.")
        .await
        .unwrap();
    assert_eq!(done.text, "Hi!");
    assert_eq!(done.finish, FinishReason::Stop);
    assert_eq!(done.usage.total_tokens, 15);
    let body = &bodies(&server).await[0];
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "Say hi"})
    );
    assert!(body.get("stream").is_none());
}

#[tokio::test]
async fn text_stream_at_the_token_limit_ends_normally_with_length() {
    let server = serve(ok_sse(sse("Once upon a", 3, "length"))).await;
    let client = client(&server);
    let mut stream = client.complete("Tell a story").max_tokens(3).stream();
    let mut text = String::new();
    while let Some(piece) = stream.next().await {
        text.push_str(&piece.unwrap());
    }
    assert_eq!(text, "Once upon a");
    assert_eq!(stream.summary().finish, Some(FinishReason::Length));
}

#[tokio::test]
async fn comments_keep_alives_and_unknown_events_are_skipped() {
    let body = format!(
        ": keep-alive\n\n{}event: ping\ndata: \n\n: another comment\n{}{}",
        chunk("Hel"),
        chunk("lo"),
        stream_end("stop")
    );
    let server = serve(ok_sse(body)).await;
    let text = client(&server)
        .complete("hi")
        .stream()
        .collect_text()
        .await
        .unwrap();
    assert_eq!(text, "Hello");
}

#[tokio::test]
async fn a_stream_without_its_end_is_truncated_with_what_arrived() {
    // No finish reason and no [DONE]: the body just stops.
    let body = format!("{}{}", chunk("Hel"), chunk("lo"));
    let server = serve(ok_sse(body)).await;
    let client = client(&server);
    let mut stream = client.complete("hi").stream();
    let mut got = Vec::new();
    let mut last = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(piece) => got.push(piece),
            Err(err) => last = Some(err),
        }
    }
    assert_eq!(got.concat(), "Hello");
    match last {
        Some(Error::Truncated { partial, cause, .. }) => {
            assert_eq!(partial, "Hello");
            assert_eq!(cause, Cut::StreamEnded);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_error_event_in_the_stream_is_the_providers_error() {
    let body = format!(
        "{}data: {}\n\n",
        chunk("Hel"),
        json!({"error": {"message": "The server had an error", "type": "server_error"}})
    );
    let server = serve(ok_sse(body)).await;
    let client = client(&server);
    let mut stream = client.complete("hi").stream();
    assert_eq!(stream.next().await.unwrap().unwrap(), "Hel");
    match stream.next().await {
        Some(Err(Error::Api { message, code, .. })) => {
            assert_eq!(message, "The server had an error");
            assert_eq!(code.as_deref(), Some("server_error"));
        }
        other => panic!("{other:?}"),
    }
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn a_garbage_line_in_the_stream_is_an_unexpected_response() {
    let body = format!("{}data: {{not json\n\n{}", chunk("Hel"), stream_end("stop"));
    let server = serve(ok_sse(body)).await;
    let client = client(&server);
    let mut stream = client.complete("hi").stream();
    assert_eq!(stream.next().await.unwrap().unwrap(), "Hel");
    match stream.next().await {
        Some(Err(Error::UnexpectedResponse { message, body, .. })) => {
            assert!(message.contains("not JSON"), "{message}");
            assert!(body.contains("{not json"), "{body}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_still_works() {
    let server = serve(ok(completion("Hello"))).await;
    let text = client(&server)
        .complete("hi")
        .stream()
        .collect_text()
        .await
        .unwrap();
    assert_eq!(text, "Hello");
}

#[tokio::test]
async fn an_error_status_before_the_stream_is_classified_and_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ResponseTemplate::new(503).set_body_string("busy"),
            ok_sse(sse("fine", 2, "stop")),
        ]))
        .mount(&server)
        .await;
    let text = client(&server)
        .complete("hi")
        .stream()
        .collect_text()
        .await
        .unwrap();
    assert_eq!(text, "fine");
    assert_eq!(bodies(&server).await.len(), 2);
}

#[tokio::test]
async fn a_401_before_the_stream_is_final() {
    let server = serve(
        ResponseTemplate::new(401)
            .set_body_json(json!({"error": {"message": "bad key", "code": "invalid_api_key"}})),
    )
    .await;
    let err = client(&server)
        .complete("hi")
        .stream()
        .collect_text()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 401, .. }), "{err:?}");
    assert_eq!(bodies(&server).await.len(), 1);
}

// ---- partial values ----

#[tokio::test]
async fn partial_values_fill_in_and_end_with_the_judged_value() {
    let server = serve(ok_sse(sse(EVENT, 5, "stop"))).await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut names: Vec<Option<String>> = Vec::new();
    let mut participants_seen = 0;
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update.unwrap() {
            Update::Partial(p) => {
                names.push(p.name.clone());
                participants_seen =
                    participants_seen.max(p.participants.as_ref().map_or(0, Vec::len));
            }
            Update::Done(extraction) => done = Some(extraction),
            Update::Reask { .. } => panic!("no reask expected"),
        }
    }
    let done = done.expect("a Done update");
    assert_eq!(done.value, expected_event());
    assert_eq!(done.attempts, 1);
    assert_eq!(done.usage.total_tokens, 15);
    assert_eq!(done.raw, EVENT);
    // The name grew piece by piece, and every snapshot extends the one before.
    let grown: Vec<&str> = names.iter().flatten().map(String::as_str).collect();
    assert!(grown.len() >= 3, "{names:?}");
    assert!(
        grown.windows(2).all(|w| w[1].starts_with(w[0])),
        "{grown:?}"
    );
    assert_eq!(grown.last(), Some(&"Science fair"));
    assert_eq!(participants_seen, 2);
    let body = &bodies(&server).await[0];
    assert_eq!(body["stream"], true);
    assert_eq!(body["response_format"]["type"], "json_schema");
}

#[tokio::test]
async fn the_last_snapshot_equals_the_plain_extraction() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ok_sse(sse(EVENT, 7, "stop")),
            ok(completion(EVENT)),
        ]))
        .mount(&server)
        .await;
    let client = client(&server);
    let snapshots: Vec<Snapshot<CalendarEvent>> = client
        .extract::<CalendarEvent>("text")
        .stream()
        .into_stream()
        .map(Result::unwrap)
        .collect()
        .await;
    let plain = CalendarEvent::extract(&client, "text").await.unwrap();
    match snapshots.last() {
        Some(Snapshot::Done(done)) => assert_eq!(done.value, plain),
        other => panic!("{other:?}"),
    }
    assert!(snapshots.len() > 3);
}

/// What `next()` lends and what `into_stream()` yields for the same script, as printed: partials,
/// reasks and the end, in order.
async fn lent_and_owned(script: Vec<ResponseTemplate>, mode: Mode) -> (Vec<String>, Vec<String>) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(script))
        .mount(&server)
        .await;
    let client = client(&server);
    let mut lent = Vec::new();
    let mut stream = client.extract::<CalendarEvent>("text").mode(mode).stream();
    while let Some(update) = stream.next().await {
        lent.push(match update.expect("every update succeeds") {
            Update::Partial(p) => format!("{p:?}"),
            Update::Reask { attempt, .. } => format!("reask {attempt}"),
            Update::Done(done) => format!("{:?}", done.value),
        });
    }
    let owned = client
        .extract::<CalendarEvent>("text")
        .mode(mode)
        .stream()
        .into_stream()
        .map(
            |snapshot| match snapshot.expect("every snapshot succeeds") {
                Snapshot::Partial(p) => format!("{p:?}"),
                Snapshot::Reask { attempt, .. } => format!("reask {attempt}"),
                Snapshot::Done(done) => format!("{:?}", done.value),
            },
        )
        .collect()
        .await;
    (lent, owned)
}

#[tokio::test]
async fn owned_snapshots_are_the_lent_partials_rebuilt() {
    // Split every 5 bytes, inside strings and keys; the first reply is invalid and is reasked, so
    // the partials start over in the middle.
    let invalid = r#"{"name":"Science fair","date":"Friday"}"#;
    let reply = || ok_sse(sse(EVENT, 5, "stop"));
    let script = || {
        vec![
            ok_sse(sse(invalid, 5, "stop")),
            reply(),
            ok_sse(sse(invalid, 5, "stop")),
            reply(),
        ]
    };
    let (lent, owned) = lent_and_owned(script(), Mode::JsonSchema).await;
    assert!(lent.iter().any(|u| u == "reask 2"), "{lent:?}");
    assert!(lent.len() > 10, "{lent:?}");
    assert_eq!(owned, lent);

    // Prose and a fence around the value in the prompt mode: rebuilt past them too.
    let fenced = format!("Here you go:\n```json\n{EVENT}\n```\nAnything else?");
    let script = vec![
        ok_sse(sse(&fenced, 4, "stop")),
        ok_sse(sse(&fenced, 4, "stop")),
    ];
    let (lent, owned) = lent_and_owned(script, Mode::Prompt).await;
    assert!(lent.len() > 10, "{lent:?}");
    assert_eq!(owned, lent);
}

#[tokio::test]
async fn an_invalid_streamed_reply_is_reasked_and_the_partials_start_over() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ok_sse(sse(r#"{"name":"Science fair","date":"Friday"}"#, 6, "stop")),
            ok_sse(sse(EVENT, 6, "stop")),
        ]))
        .mount(&server)
        .await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut reasks = Vec::new();
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update.unwrap() {
            Update::Partial(_) => {}
            Update::Reask { attempt, errors } => reasks.push((attempt, errors)),
            Update::Done(d) => done = Some(d),
        }
    }
    assert_eq!(reasks.len(), 1);
    assert_eq!(reasks[0].0, 2);
    assert!(
        reasks[0]
            .1
            .iter()
            .any(|v| v.message.contains("participants")),
        "{:?}",
        reasks[0].1
    );
    let done = done.unwrap();
    assert_eq!(done.attempts, 2);
    assert_eq!(done.usage.total_tokens, 30);
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 2);
    let reask = sent[1]["messages"].to_string();
    assert!(reask.contains("participants"), "{reask}");
}

#[tokio::test]
async fn a_streamed_reply_cut_at_the_token_limit_is_truncated() {
    let server = serve(ok_sse(sse(r#"{"name":"Science f"#, 4, "length"))).await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut last = None;
    while let Some(update) = stream.next().await {
        if let Err(err) = update {
            last = Some(err);
        }
    }
    match last {
        Some(Error::Truncated {
            partial,
            cause,
            usage,
        }) => {
            assert_eq!(partial, r#"{"name":"Science f"#);
            assert_eq!(cause, Cut::TokenLimit);
            assert_eq!(usage.total_tokens, 15);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_refusal_in_the_stream_is_a_refusal() {
    let refusal = json!({
        "choices": [{"index": 0, "delta": {"refusal": "I can't help with that."}, "finish_reason": null}]
    });
    let body = format!("data: {refusal}\n\n{}", stream_end("stop"));
    let server = serve(ok_sse(body)).await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    match stream.next().await {
        Some(Err(Error::Refusal { refusal, .. })) => assert_eq!(refusal, "I can't help with that."),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_fenced_reply_in_the_prompt_mode_streams_partials_too() {
    let text = format!("Here you go:\n```json\n{EVENT}\n```\nAnything else?");
    let server = serve(ok_sse(sse(&text, 8, "stop"))).await;
    let client = client(&server);
    let mut stream = client
        .extract::<CalendarEvent>("text")
        .mode(Mode::Prompt)
        .stream();
    let mut partials = 0;
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update.unwrap() {
            Update::Partial(_) => partials += 1,
            Update::Done(d) => done = Some(d),
            Update::Reask { .. } => panic!("no reask expected"),
        }
    }
    assert!(partials > 3);
    assert_eq!(done.unwrap().value, expected_event());
}

#[tokio::test]
async fn tool_call_argument_deltas_stream_in_the_tools_mode() {
    let mut body = String::new();
    for piece in EVENT.as_bytes().chunks(9) {
        let piece = std::str::from_utf8(piece).unwrap();
        let event = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}, "finish_reason": null}]});
        body.push_str(&format!("data: {event}\n\n"));
    }
    body.push_str(&stream_end("tool_calls"));
    let server = serve(ok_sse(body)).await;
    let client = client(&server);
    let mut stream = client
        .extract::<CalendarEvent>("text")
        .mode(Mode::Tools)
        .stream();
    let mut partials = 0;
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update.unwrap() {
            Update::Partial(_) => partials += 1,
            Update::Done(d) => done = Some(d),
            Update::Reask { .. } => panic!("no reask expected"),
        }
    }
    assert!(partials > 2);
    let done = done.unwrap();
    assert_eq!(done.value, expected_event());
    assert_eq!(done.mode, Mode::Tools);
}

/// An enum root travels wrapped; its partial value appears when it is complete.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
enum Sentiment {
    Positive,
    Negative,
}

#[tokio::test]
async fn a_wrapped_root_streams_through_its_wrapper() {
    let server = serve(ok_sse(sse(r#"{"sentiment":"Negative"}"#, 3, "stop"))).await;
    let client = client(&server);
    let mut stream = client.extract::<Sentiment>("I hated it").stream();
    let mut partial = None;
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update.unwrap() {
            Update::Partial(p) => partial = Some(*p == Sentiment::Negative),
            Update::Done(d) => done = Some(d.value),
            Update::Reask { .. } => panic!(),
        }
    }
    assert_eq!(partial, Some(true));
    assert_eq!(done, Some(Sentiment::Negative));
}

// ---- elements ----

fn list_reply() -> String {
    json!({"items": [
        {"name": "Lunch", "date": "Monday", "participants": ["Ann"]},
        {"name": "Gym", "date": "Tuesday", "participants": []},
        {"name": "Film", "date": "Friday", "participants": ["Bo", "Cy"]}
    ]})
    .to_string()
}

#[tokio::test]
async fn elements_arrive_one_by_one_and_in_order() {
    let server = serve(ok_sse(sse(&list_reply(), 5, "stop"))).await;
    let client = client(&server);
    let mut events = client.extract::<Vec<CalendarEvent>>("my week").elements();
    let mut names = Vec::new();
    while let Some(event) = events.next().await {
        names.push(event.unwrap().name);
    }
    assert_eq!(names, ["Lunch", "Gym", "Film"]);
    let summary = events.summary();
    assert_eq!(summary.usage.total_tokens, 15);
    assert_eq!(summary.attempts, 1);
    let body = &bodies(&server).await[0];
    assert_eq!(body["response_format"]["json_schema"]["name"], "list");
    assert_eq!(
        body["response_format"]["json_schema"]["schema"]["required"],
        json!(["items"])
    );
}

#[tokio::test]
async fn an_element_is_yielded_before_the_next_one_is_sent() {
    let reply = list_reply();
    let split = reply.find(r#"{"name":"Gym""#).unwrap();
    let first = chunk(&reply[..split]);
    let server = RawServer::start(
        "text/event-stream",
        vec![
            Step::Send(first.into_bytes()),
            Step::Sleep(Duration::from_millis(800)),
            Step::Send(chunk(&reply[split..]).into_bytes()),
            Step::Send(stream_end("stop").into_bytes()),
        ],
    )
    .await;
    let client = server.client();
    let started = std::time::Instant::now();
    let mut events = client.extract::<Vec<CalendarEvent>>("my week").elements();
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.name, "Lunch");
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    let rest: Vec<_> = events.map(Result::unwrap).collect().await;
    assert_eq!(rest.len(), 2);
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test]
async fn an_invalid_element_after_others_ends_the_stream_with_the_evidence() {
    let reply = json!({"items": [
        {"name": "Lunch", "date": "Monday", "participants": []},
        {"name": "Gym", "date": 7, "participants": []}
    ]})
    .to_string();
    let server = serve(ok_sse(sse(&reply, 6, "stop"))).await;
    let client = client(&server);
    let items: Vec<Result<CalendarEvent, Error>> = client
        .extract::<Vec<CalendarEvent>>("my week")
        .elements()
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().name, "Lunch");
    match &items[1] {
        Err(Error::Invalid {
            raw, errors, stop, ..
        }) => {
            assert_eq!(*stop, StopReason::ElementsYielded);
            assert!(raw.contains("Gym"), "{raw}");
            assert_eq!(errors[0].path, "/items/1/date");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_invalid_list_before_any_element_is_reasked() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ok_sse(sse(r#"{"items": [{"name": 3}]}"#, 5, "stop")),
            ok_sse(sse(&list_reply(), 5, "stop")),
        ]))
        .mount(&server)
        .await;
    let client = client(&server);
    let mut events = client.extract::<Vec<CalendarEvent>>("my week").elements();
    let mut names = Vec::new();
    while let Some(event) = events.next().await {
        names.push(event.unwrap().name);
    }
    assert_eq!(names, ["Lunch", "Gym", "Film"]);
    assert_eq!(events.summary().attempts, 2);
}

// ---- framing ----

/// A body may start with a byte order mark, which SSE skips; eventsource-stream 0.2 panicked on it.
/// Here the mark is split across two chunks of the body.
#[tokio::test]
async fn a_stream_starting_with_a_byte_order_mark_reads_as_without_it() {
    let first = b"\xEF\xBB".to_vec();
    let mut rest = b"\xBF".to_vec();
    rest.extend_from_slice(chunk("Hello").as_bytes());
    rest.extend_from_slice(stream_end("stop").as_bytes());
    let server = RawServer::start(
        "text/event-stream",
        vec![Step::Send(first), Step::Send(rest)],
    )
    .await;
    let client = server.client();
    let mut stream = client.complete("hi").stream();
    let mut pieces = Vec::new();
    while let Some(piece) = stream.next().await {
        pieces.push(piece.unwrap());
    }
    assert_eq!(pieces.concat(), "Hello");
    assert_eq!(stream.summary().finish, Some(FinishReason::Stop));
}

// ---- cuts, stalls, cancellation ----

#[tokio::test]
async fn a_connection_lost_mid_stream_is_truncated_with_what_arrived() {
    let server = RawServer::start(
        "text/event-stream",
        vec![Step::Send(chunk(r#"{"name":"Sci"#).into_bytes()), Step::Cut],
    )
    .await;
    let client = server.client();
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut last = None;
    while let Some(update) = stream.next().await {
        if let Err(err) = update {
            last = Some(err);
        }
    }
    match last {
        Some(Error::Truncated { partial, cause, .. }) => {
            assert_eq!(partial, r#"{"name":"Sci"#);
            assert_eq!(cause, Cut::StreamEnded);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_stalled_stream_ends_at_the_timeout_not_never() {
    let server = RawServer::start(
        "text/event-stream",
        vec![
            Step::Send(chunk(r#"{"name":"Sci"#).into_bytes()),
            Step::Sleep(Duration::from_secs(30)),
        ],
    )
    .await;
    let client = server.client(); // 2 s timeout
    let started = std::time::Instant::now();
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut last = None;
    while let Some(update) = stream.next().await {
        if let Err(err) = update {
            last = Some(err);
        }
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    match last {
        Some(Error::Truncated { partial, cause, .. }) => {
            assert_eq!(partial, r#"{"name":"Sci"#);
            assert_eq!(cause, Cut::Stalled);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dropping_a_stream_cancels_the_request_and_the_client_stays_usable() {
    let mut steps = vec![Step::Send(chunk(r#"{"name":"Sci"#).into_bytes())];
    for _ in 0..50 {
        steps.push(Step::Sleep(Duration::from_millis(50)));
        steps.push(Step::Send(b": keep-alive\n\n".to_vec()));
    }
    let server = RawServer::start("text/event-stream", steps).await;
    let client = server.client();
    {
        let mut stream = client.extract::<CalendarEvent>("text").stream();
        let first = stream.next().await.unwrap().unwrap();
        assert!(matches!(first, Update::Partial(_)));
    } // dropped mid-stream
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !server.seen.client_gone.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never saw the client go"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The same client goes on working.
    let other = serve(ok(completion(EVENT))).await;
    let again = Client::builder()
        .base_url(format!("{}/v1", other.uri()))
        .model("m")
        .build()
        .unwrap();
    assert_eq!(
        CalendarEvent::extract(&again, "t").await.unwrap(),
        expected_event()
    );
    drop(client);
}

#[tokio::test]
async fn a_stream_over_the_size_cap_is_stopped() {
    let server = serve(ok_sse(sse(&"x".repeat(20_000), 100, "stop"))).await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .max_response_bytes(4096)
        .build()
        .unwrap();
    let err = client
        .complete("hi")
        .stream()
        .collect_text()
        .await
        .unwrap_err();
    match err {
        Error::UnexpectedResponse { message, .. } => assert!(message.contains("cap"), "{message}"),
        other => panic!("{other:?}"),
    }
}

// ---- dialects ----

#[tokio::test]
async fn workers_ai_native_streams_response_chunks() {
    let server = MockServer::start().await;
    let mut body = String::new();
    for piece in ["Hel", "lo", " there"] {
        body.push_str(&format!(
            "data: {}\n\n",
            json!({"response": piece, "p": "abc"})
        ));
    }
    body.push_str(&format!(
        "data: {}\n\ndata: [DONE]\n\n",
        json!({"response": "", "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}})
    ));
    Mock::given(method("POST"))
        .and(path(
            "/client/v4/accounts/acc/ai/run/@cf/meta/llama-3.1-8b-instruct",
        ))
        .respond_with(ok_sse(body))
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(format!("{}/client/v4/accounts/acc/ai/run", server.uri()))
        .dialect(Dialect::WorkersAiNative)
        .model("@cf/meta/llama-3.1-8b-instruct")
        .api_key("cf-token")
        .build()
        .unwrap();
    let mut stream = client.complete("hi").stream();
    let mut text = String::new();
    while let Some(piece) = stream.next().await {
        text.push_str(&piece.unwrap());
    }
    assert_eq!(text, "Hello there");
    assert_eq!(stream.summary().usage.total_tokens, 7);
    assert_eq!(bodies(&server).await[0]["stream"], true);
}

#[tokio::test]
async fn workers_ai_json_mode_falls_back_to_one_plain_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok(json!({
            "result": {"response": serde_json::from_str::<Value>(EVENT).unwrap(),
                       "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18}},
            "success": true, "errors": [], "messages": []
        })))
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(format!("{}/client/v4/accounts/acc/ai/run", server.uri()))
        .dialect(Dialect::WorkersAiNative)
        .model("@cf/meta/llama-3.1-8b-instruct")
        .api_key("cf-token")
        .build()
        .unwrap();
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut partials = 0;
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update.unwrap() {
            Update::Partial(_) => partials += 1,
            Update::Done(d) => done = Some(d),
            Update::Reask { .. } => panic!(),
        }
    }
    assert_eq!(partials, 1, "the whole reply is one update");
    assert_eq!(done.unwrap().value, expected_event());
    let body = &bodies(&server).await[0];
    assert!(body.get("stream").is_none(), "{body}");
}

#[tokio::test]
async fn ollama_native_streams_ndjson_lines() {
    let server = MockServer::start().await;
    let mut body = String::new();
    for piece in EVENT.as_bytes().chunks(10) {
        let piece = std::str::from_utf8(piece).unwrap();
        body.push_str(&json!({"model": "llama3.2", "message": {"role": "assistant", "content": piece}, "done": false}).to_string());
        body.push('\n');
    }
    body.push_str(&json!({"model": "llama3.2", "message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "prompt_eval_count": 20, "eval_count": 12}).to_string());
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "application/x-ndjson"),
        )
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(server.uri())
        .dialect(Dialect::OllamaNative)
        .model("llama3.2")
        .build()
        .unwrap();
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut partials = 0;
    let mut done = None;
    while let Some(update) = stream.next().await {
        match update.unwrap() {
            Update::Partial(_) => partials += 1,
            Update::Done(d) => done = Some(d),
            Update::Reask { .. } => panic!(),
        }
    }
    assert!(partials > 3);
    let done = done.unwrap();
    assert_eq!(done.value, expected_event());
    assert_eq!(done.usage.total_tokens, 32);
    assert_eq!(done.model, "llama3.2");
    assert_eq!(bodies(&server).await[0]["stream"], true);
}

#[tokio::test]
async fn a_rejected_mode_falls_back_in_a_stream_too() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ResponseTemplate::new(400).set_body_json(
                json!({"error": {"message": "response_format json_schema is not supported"}}),
            ),
            ok_sse(sse(EVENT, 8, "stop")),
        ]))
        .mount(&server)
        .await;
    let client = client(&server);
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut done = None;
    while let Some(update) = stream.next().await {
        if let Update::Done(d) = update.unwrap() {
            done = Some(d);
        }
    }
    let done = done.unwrap();
    assert_eq!(done.mode, Mode::JsonObject);
    assert_eq!(done.value, expected_event());
}
