//! The fault matrix: each test starts a local server that misbehaves in one way and asserts the exact
//! outcome, a typed error with its evidence or a successful retry and what it cost (requests the
//! server saw, attempts, time waited). The README's "Fault matrix" lists these rows together with
//! the ones tested elsewhere (`core.rs`, `stream.rs`, `dialects.rs`).

use std::time::{Duration, Instant, SystemTime};

use extract::stream::Update;
use extract::{Client, ClientBuilder, Cut, Error, Extract, Mode, StopReason};
use extract_workspace_tests::raw_server::{Head, RawReply, RawServer, Step};
use extract_workspace_tests::{
    bodies, chunk, completion, completion_with, ok, ok_sse, server_with, sse, CalendarEvent, EVENT,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use wiremock::{MockServer, ResponseTemplate};

const KEY: &str = "sk-test-FAULTS-secret";

fn event() -> CalendarEvent {
    serde_json::from_str(EVENT).unwrap_or_else(|e| panic!("EVENT is a CalendarEvent: {e}"))
}

/// A client for `server` with a key to look for in errors, and short waits.
fn builder(server: &MockServer) -> ClientBuilder {
    Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .api_key(KEY)
        .model("test-model")
        .initial_backoff(Duration::from_millis(5))
        .timeout(Duration::from_secs(5))
}

fn build(builder: ClientBuilder) -> Client {
    builder.build().unwrap_or_else(|e| panic!("{e}"))
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

/// An OpenAI error body.
fn error_body(message: &str, code: &str) -> Value {
    json!({"error": {"message": message, "type": "server_error", "code": code}})
}

fn assert_no_key(err: &Error) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(KEY), "the key leaked: {shown}");
}

/// The feedback the n-th request (0-based) carried back to the model.
async fn feedback(server: &MockServer, n: usize) -> String {
    bodies(server).await[n]["messages"][3]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ---- 429 and `Retry-After` ----

fn rate_limited() -> ResponseTemplate {
    ResponseTemplate::new(429).set_body_json(json!({"error": {"message": "Rate limit reached"}}))
}

#[tokio::test]
async fn a_429_with_retry_after_as_an_http_date_waits_until_that_moment() {
    // HTTP dates have whole seconds: two seconds ahead is a wait of more than one.
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let server = server_with(vec![
        rate_limited().insert_header("retry-after", when.as_str()),
        ok(completion(EVENT)),
    ])
    .await;
    let started = Instant::now();
    let extraction = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .await
        .expect("retried after the date");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 1, "a transport retry is not a reask");
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_429_with_an_http_date_past_the_cap_is_rate_limited_with_the_delay() {
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    let server = server_with(vec![
        rate_limited().insert_header("retry-after", when.as_str())
    ])
    .await;
    let err = CalendarEvent::extract(&build(builder(&server)), "text")
        .await
        .expect_err("over the 30 s cap");
    match &err {
        Error::RateLimited {
            retry_after: Some(delay),
            message,
        } => {
            assert!(
                *delay > Duration::from_secs(3590) && *delay <= Duration::from_secs(3600),
                "{delay:?}"
            );
            assert_eq!(message, "Rate limit reached");
        }
        other => panic!("{other:?}"),
    }
    assert_no_key(&err);
    assert_eq!(requests(&server).await, 1, "not retried");
}

#[tokio::test]
async fn a_429_with_retry_after_ms_waits_that_many_milliseconds() {
    // OpenAI sends both; the precise one wins.
    let server = server_with(vec![
        rate_limited()
            .insert_header("retry-after-ms", "400")
            .insert_header("retry-after", "3600"),
        ok(completion(EVENT)),
    ])
    .await;
    let started = Instant::now();
    let extraction = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .await
        .expect("retried after 400 ms");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(extraction.attempts, 1);
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_then_succeeds() {
    let server = server_with(vec![rate_limited(), ok(completion(EVENT))]).await;
    let client = build(builder(&server).initial_backoff(Duration::from_millis(200)));
    let started = Instant::now();
    let extraction = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("retried");
    // The first backoff is between half and all of the initial one.
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(extraction.value, event());
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_429_without_retry_after_is_rate_limited_when_the_retries_are_spent() {
    let server = server_with(vec![rate_limited()]).await;
    let err = CalendarEvent::extract(&build(builder(&server).max_resends(2)), "text")
        .await
        .expect_err("still limited");
    match &err {
        Error::RateLimited {
            retry_after,
            message,
        } => {
            assert_eq!(*retry_after, None);
            assert_eq!(message, "Rate limit reached");
        }
        other => panic!("{other:?}"),
    }
    assert_no_key(&err);
    assert_eq!(requests(&server).await, 3, "one try and two retries");
}

// ---- statuses worth resending ----

/// One failure with `status`, then a valid reply: retried after a backoff, and the retry is not
/// counted as a reask.
async fn retried_then_succeeds(status: u16) {
    let server = server_with(vec![
        ResponseTemplate::new(status).set_body_json(error_body("try again", "busy")),
        ok(completion(EVENT)),
    ])
    .await;
    let client = build(builder(&server).initial_backoff(Duration::from_millis(200)));
    let started = Instant::now();
    let extraction = client
        .extract::<CalendarEvent>("text")
        .await
        .unwrap_or_else(|e| panic!("HTTP {status} was not retried: {e:?}"));
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "HTTP {status}: no backoff ({:?})",
        started.elapsed()
    );
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 1);
    assert_eq!(
        extraction.usage.total_tokens, 15,
        "a failed request costs no tokens"
    );
    assert_eq!(requests(&server).await, 2, "HTTP {status}");
}

#[tokio::test]
async fn a_408_is_retried_then_succeeds() {
    retried_then_succeeds(408).await;
}

#[tokio::test]
async fn a_409_is_retried_then_succeeds() {
    retried_then_succeeds(409).await;
}

#[tokio::test]
async fn a_500_is_retried_then_succeeds() {
    retried_then_succeeds(500).await;
}

#[tokio::test]
async fn a_502_is_retried_then_succeeds() {
    retried_then_succeeds(502).await;
}

#[tokio::test]
async fn a_503_is_retried_then_succeeds() {
    retried_then_succeeds(503).await;
}

#[tokio::test]
async fn a_504_is_retried_then_succeeds() {
    retried_then_succeeds(504).await;
}

#[tokio::test]
async fn retryable_statuses_are_api_errors_with_the_message_once_the_retries_are_spent() {
    for status in [408, 409, 500, 502, 503, 504] {
        let server = server_with(vec![ResponseTemplate::new(status)
            .set_body_json(error_body("The server is overloaded", "overloaded"))])
        .await;
        let err = CalendarEvent::extract(&build(builder(&server).max_resends(1)), "text")
            .await
            .expect_err("still failing");
        match &err {
            Error::Api {
                status: got,
                code,
                message,
            } => {
                assert_eq!(*got, status);
                assert_eq!(code.as_deref(), Some("overloaded"));
                assert_eq!(message, "The server is overloaded");
            }
            other => panic!("HTTP {status}: {other:?}"),
        }
        assert_no_key(&err);
        assert_eq!(
            requests(&server).await,
            2,
            "HTTP {status}: one try, one retry"
        );
    }
}

// ---- statuses that are final ----

/// `status` with an OpenAI error body: returned at once, with the provider's code and message and
/// without the key.
async fn final_with_the_message(status: u16, message: &str, code: &str, mode: Option<Mode>) {
    let server = server_with(vec![ResponseTemplate::new(status).set_body_json(
        json!({"error": {"message": message, "type": "invalid_request_error", "code": code}}),
    )])
    .await;
    let client = build(builder(&server).max_resends(3));
    let mut request = client.extract::<CalendarEvent>("text");
    if let Some(mode) = mode {
        request = request.mode(mode);
    }
    let err = request.await.expect_err("final");
    match &err {
        Error::Api {
            status: got,
            code: got_code,
            message: got_message,
        } => {
            assert_eq!(*got, status);
            assert_eq!(got_code.as_deref(), Some(code));
            assert_eq!(got_message, message);
        }
        other => panic!("HTTP {status}: {other:?}"),
    }
    assert_no_key(&err);
    assert_eq!(requests(&server).await, 1, "HTTP {status} is not retried");
}

#[tokio::test]
async fn a_400_about_the_schema_in_a_chosen_mode_is_final_with_the_message() {
    // The schema is wrong, not the mode: a typed error naming the problem, in a chosen mode or an
    // automatic one (faults_run.rs), never a fallback.
    let message = "Invalid schema for response_format 'CalendarEvent': 'additionalProperties' is required to be supplied and to be false";
    let server = server_with(vec![ResponseTemplate::new(400).set_body_json(
        json!({"error": {"message": message, "type": "invalid_request_error", "code": "invalid_json_schema"}}),
    )])
    .await;
    let client = build(builder(&server).max_resends(3));
    let err = client
        .extract::<CalendarEvent>("text")
        .mode(Mode::JsonSchema)
        .await
        .expect_err("final");
    match &err {
        Error::SchemaRejected {
            status: 400,
            code,
            message: got,
            mode: Mode::JsonSchema,
            ..
        } => {
            assert_eq!(code.as_deref(), Some("invalid_json_schema"));
            assert_eq!(got, message);
        }
        other => panic!("{other:?}"),
    }
    assert_no_key(&err);
    assert_eq!(requests(&server).await, 1, "not retried");
}

#[tokio::test]
async fn a_401_is_final_with_the_message_and_no_key() {
    final_with_the_message(
        401,
        "Incorrect API key provided: sk-test-****cret",
        "invalid_api_key",
        None,
    )
    .await;
}

#[tokio::test]
async fn a_403_is_final_with_the_message_and_no_key() {
    final_with_the_message(
        403,
        "Project does not have access to model `test-model`",
        "model_not_found",
        None,
    )
    .await;
}

#[tokio::test]
async fn a_404_is_final_with_the_message_and_no_key() {
    final_with_the_message(
        404,
        "The model `test-model` does not exist or you do not have access to it.",
        "model_not_found",
        None,
    )
    .await;
}

// ---- the connection ----

/// A whole chat completion of `EVENT`, as bytes.
fn event_body() -> Vec<u8> {
    completion(EVENT).to_string().into_bytes()
}

#[tokio::test]
async fn a_reset_mid_body_is_a_transport_error_after_the_retries() {
    let body = event_body();
    let half = body[..body.len() / 2].to_vec();
    let server = RawServer::script(vec![RawReply {
        status: 200,
        content_type: "application/json",
        head: Head::Length(body.len()),
        // The pause lets the head and half the body reach the client before the reset.
        steps: vec![
            Step::Send(half),
            Step::Sleep(Duration::from_millis(100)),
            Step::Reset,
        ],
    }])
    .await;
    let client = build(
        server
            .builder()
            .max_resends(1)
            .initial_backoff(Duration::from_millis(5)),
    );
    expect_broken_reply_after_one_retry(&client).await;
    assert_eq!(server.seen.requests(), 2, "a broken reply is sent again");
}

/// A reply broken while it was read is a transport error, once the one retry has broken too.
async fn expect_broken_reply_after_one_retry(client: &Client) {
    match CalendarEvent::extract(client, "text").await {
        Err(Error::Transport {
            message, attempts, ..
        }) => {
            assert_eq!(message, "the connection failed while reading the reply");
            assert_eq!(attempts, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_chunked_body_cut_short_is_a_transport_error_after_the_retries() {
    let body = event_body();
    let half = body[..body.len() / 2].to_vec();
    let server = RawServer::script(vec![RawReply::chunked(
        "application/json",
        vec![Step::Send(half), Step::Cut],
    )])
    .await;
    let client = build(
        server
            .builder()
            .max_resends(1)
            .initial_backoff(Duration::from_millis(5)),
    );
    expect_broken_reply_after_one_retry(&client).await;
    assert_eq!(server.seen.requests(), 2);
}

/// The extraction (timeout 300 ms) ends in `Timeout` after at least 300 ms and well within 2 s, the
/// server saw one request (a timeout is not retried), and the abandoned connection is closed.
async fn times_out_once_and_hangs_up(server: &RawServer, client: &Client) {
    let started = Instant::now();
    match CalendarEvent::extract(client, "text").await {
        Err(Error::Timeout { elapsed }) => {
            assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.seen.requests(), 1);
    assert!(
        server.seen.client_gone_within(Duration::from_secs(2)).await,
        "the abandoned connection was closed"
    );
}

#[tokio::test]
async fn headers_that_never_come_time_out_once_and_hang_up() {
    let server = RawServer::script(vec![RawReply {
        status: 200,
        content_type: "application/json",
        head: Head::Never,
        steps: vec![],
    }])
    .await;
    // Retries are allowed, but a timeout is not retried: the timeout bounds the caller's wait.
    let client = build(
        server
            .builder()
            .timeout(Duration::from_millis(300))
            .max_resends(2),
    );
    times_out_once_and_hangs_up(&server, &client).await;
}

#[tokio::test]
async fn a_body_that_stalls_times_out_and_hangs_up() {
    let body = event_body();
    let half = body[..body.len() / 2].to_vec();
    let server = RawServer::script(vec![RawReply {
        status: 200,
        content_type: "application/json",
        head: Head::Length(body.len()),
        steps: vec![Step::Send(half), Step::Hold],
    }])
    .await;
    let client = build(server.builder().timeout(Duration::from_millis(300)));
    times_out_once_and_hangs_up(&server, &client).await;
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_stopped_and_not_retried() {
    // No content-length to refuse up front: the cap is enforced while reading.
    let piece = vec![b' '; 512];
    let steps = (0..64).map(|_| Step::Send(piece.clone())).collect();
    let server = RawServer::script(vec![RawReply::chunked("application/json", steps)]).await;
    let client = build(server.builder().max_response_bytes(4096).max_resends(2));
    match CalendarEvent::extract(&client, "text").await {
        Err(Error::UnexpectedResponse {
            status, message, ..
        }) => {
            assert_eq!(status, 200);
            assert_eq!(
                message,
                "the body is larger than the 4096-byte cap (ClientBuilder::max_response_bytes)"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(server.seen.requests(), 1);
}

// ---- envelopes ----

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

#[tokio::test]
async fn an_html_error_page_from_a_proxy_is_retried_then_an_api_error_with_its_title() {
    let server = server_with(vec![
        ResponseTemplate::new(502).set_body_raw(NGINX_502.as_bytes().to_vec(), "text/html")
    ])
    .await;
    let err = CalendarEvent::extract(&build(builder(&server).max_resends(1)), "text")
        .await
        .expect_err("the proxy keeps failing");
    match &err {
        Error::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(*status, 502);
            assert_eq!(*code, None);
            assert_eq!(
                message,
                "the body is an HTML page, not JSON (a proxy or gateway error page?): 502 Bad Gateway"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn an_envelope_with_no_choices_is_an_unexpected_response_and_not_retried() {
    let server = server_with(vec![ok(
        json!({"id": "x", "object": "chat.completion", "choices": [], "usage": {"total_tokens": 3}}),
    )])
    .await;
    match CalendarEvent::extract(&build(builder(&server).max_resends(2)), "text").await {
        Err(Error::UnexpectedResponse {
            status,
            message,
            body,
        }) => {
            assert_eq!(status, 200);
            assert_eq!(message, "the reply has no `choices`");
            assert!(body.contains("\"choices\":[]"), "{body}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn content_null_is_reasked_as_an_empty_reply() {
    let server = server_with(vec![
        ok(completion_with(
            json!({"role": "assistant", "content": null}),
            "stop",
        )),
        ok(completion(EVENT)),
    ])
    .await;
    let extraction = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .await
        .expect("fixed on the reask");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 2);
    assert_eq!(extraction.usage.total_tokens, 30);
    let feedback = feedback(&server, 1).await;
    assert!(
        feedback.contains("(root): the reply is empty; answer with the JSON value"),
        "{feedback}"
    );
}

#[tokio::test]
async fn an_unknown_finish_reason_with_valid_json_is_accepted() {
    let server = server_with(vec![ok(completion_with(
        json!({"role": "assistant", "content": EVENT}),
        "end_of_generation_v2",
    ))])
    .await;
    let extraction = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .await
        .expect("the content decides");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 1);
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn a_nesting_bomb_in_an_envelope_field_that_is_not_read_is_skipped_not_a_stack_overflow() {
    let bomb = format!(
        "{{\"choices\":[{{\"message\":{{\"content\":{}}}}}],\"x\":{}{}}}",
        serde_json::to_string(EVENT).unwrap_or_default(),
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let server = server_with(vec![
        ResponseTemplate::new(200).set_body_raw(bomb.into_bytes(), "application/json")
    ])
    .await;
    let extraction = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .await
        .expect("the fields that matter are fine");
    assert_eq!(extraction.value, event());
    assert_eq!(requests(&server).await, 1);
}

// ---- verdicts ----

#[tokio::test]
async fn length_is_truncated_with_the_partial_text_and_not_reasked() {
    let message = json!({"role": "assistant", "content": "{\"name\":\"Science f"});
    let server = server_with(vec![
        ok(completion_with(message, "length")),
        ok(completion(EVENT)),
    ])
    .await;
    match CalendarEvent::extract(&build(builder(&server)), "text").await {
        Err(Error::Truncated {
            partial,
            usage,
            cause,
        }) => {
            assert_eq!(partial, "{\"name\":\"Science f");
            assert_eq!(usage.total_tokens, 15);
            assert_eq!(cause, Cut::TokenLimit);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        requests(&server).await,
        1,
        "the same limit would cut a reask too"
    );
}

#[tokio::test]
async fn content_filter_is_final_with_what_was_produced() {
    let message = json!({"role": "assistant", "content": "{\"name\":\""});
    let server = server_with(vec![
        ok(completion_with(message, "content_filter")),
        ok(completion(EVENT)),
    ])
    .await;
    match CalendarEvent::extract(&build(builder(&server)), "text").await {
        Err(Error::ContentFilter { partial, usage }) => {
            assert_eq!(partial, "{\"name\":\"");
            assert_eq!(usage.total_tokens, 15);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn json_in_a_code_fence_is_accepted_in_the_json_schema_mode() {
    let fenced = format!("```json\n{EVENT}\n```");
    let server = server_with(vec![ok(completion(&fenced))]).await;
    let extraction = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .mode(Mode::JsonSchema)
        .await
        .expect("located in the fence");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 1);
    assert_eq!(extraction.raw, fenced, "the raw text is kept as received");
}

#[tokio::test]
async fn json_in_a_code_fence_is_accepted_in_the_tools_mode() {
    let fenced = format!("```json\n{EVENT}\n```");
    let message = json!({
        "role": "assistant",
        "content": null,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "CalendarEvent", "arguments": fenced}}]
    });
    let server = server_with(vec![ok(completion_with(message, "tool_calls"))]).await;
    let extraction = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .mode(Mode::Tools)
        .await
        .expect("located in the fence");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 1);
}

/// A type that says unknown fields are an error.
#[derive(Debug, PartialEq, Deserialize, JsonSchema, Extract)]
#[serde(deny_unknown_fields)]
struct Closed {
    name: String,
}

#[tokio::test]
async fn extra_fields_are_dropped_when_the_type_allows_them() {
    // Strict mode never produces them; a looser server may. serde ignores them, and so does the
    // judge, which validates against the type's own schema (open, like the type).
    let extra = r#"{"name":"Science fair","date":"Friday","participants":["Alice","Bob"],"location":"Hall 3"}"#;
    let server = server_with(vec![ok(completion(extra))]).await;
    let extraction = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .await
        .expect("accepted");
    assert_eq!(extraction.value, event());
    assert_eq!(extraction.attempts, 1);
    assert_eq!(extraction.raw, extra);
}

#[tokio::test]
async fn extra_fields_are_reasked_when_the_type_denies_unknown_fields() {
    let server = server_with(vec![
        ok(completion(r#"{"name":"Fair","location":"Hall 3"}"#)),
        ok(completion(r#"{"name":"Fair"}"#)),
    ])
    .await;
    let extraction = build(builder(&server))
        .extract::<Closed>("text")
        .await
        .expect("fixed on the reask");
    assert_eq!(
        extraction.value,
        Closed {
            name: "Fair".into()
        }
    );
    assert_eq!(extraction.attempts, 2);
    let feedback = feedback(&server, 1).await;
    assert!(
        feedback
            .contains("(root): Additional properties are not allowed ('location' was unexpected)"),
        "{feedback}"
    );
}

#[tokio::test]
async fn a_nesting_bomb_is_invalid_output_not_a_stack_overflow() {
    let bomb = "[".repeat(100_000);
    let server = server_with(vec![ok(completion(&bomb))]).await;
    match CalendarEvent::extract(&build(builder(&server)), "text").await {
        Err(Error::Invalid {
            raw,
            errors,
            attempts,
            stop,
            ..
        }) => {
            assert_eq!(raw.len(), 100_000);
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].path, "");
            assert!(
                errors[0]
                    .message
                    .starts_with("the reply is nested too deeply"),
                "{}",
                errors[0].message
            );
            // The same bomb twice: the reasks stop early.
            assert_eq!(attempts, 2);
            assert_eq!(stop, StopReason::RepeatedErrors);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn a_streamed_nesting_bomb_is_invalid_output_not_a_stack_overflow() {
    let bomb = "[".repeat(100_000);
    let server = server_with(vec![ok_sse(sse(&bomb, 4096, "stop"))]).await;
    let client = build(builder(&server));
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut reasks = Vec::new();
    let mut last = None;
    while let Some(update) = stream.next().await {
        match update {
            Ok(Update::Reask { attempt, errors }) => reasks.push((attempt, errors)),
            Ok(Update::Partial(_)) => {}
            Ok(Update::Done(done)) => panic!("accepted a bomb: {:?}", done.value),
            Err(err) => last = Some(err),
        }
    }
    assert_eq!(reasks.len(), 1, "{reasks:?}");
    match last {
        Some(Error::Invalid {
            errors,
            attempts,
            stop,
            ..
        }) => {
            assert_eq!(attempts, 2);
            assert_eq!(stop, StopReason::RepeatedErrors);
            assert_eq!(errors, reasks[0].1);
            assert!(errors[0].message.contains("nest"), "{}", errors[0].message);
        }
        other => panic!("{other:?}"),
    }
}

// ---- cancellation: dropping an extraction at an await point ----

#[tokio::test]
async fn dropping_an_extraction_mid_body_closes_the_connection_and_the_client_extracts_again() {
    let body = event_body();
    let half = body[..body.len() / 2].to_vec();
    let server = RawServer::script(vec![
        RawReply {
            status: 200,
            content_type: "application/json",
            head: Head::Length(body.len()),
            steps: vec![Step::Send(half), Step::Hold],
        },
        RawReply::whole(200, "application/json", body),
    ])
    .await;
    let client = build(server.builder().timeout(Duration::from_secs(30)));
    // The server sends the head and half the body at once, then holds: after 500 ms the
    // extraction is waiting for the rest of the body, and is dropped there.
    let dropped = tokio::time::timeout(
        Duration::from_millis(500),
        CalendarEvent::extract(&client, "text"),
    )
    .await;
    assert!(dropped.is_err(), "still reading the body: {dropped:?}");
    assert_eq!(server.seen.requests(), 1);
    assert!(
        server.seen.client_gone_within(Duration::from_secs(3)).await,
        "the server never saw the connection close"
    );
    // The same client, at once.
    let again = CalendarEvent::extract(&client, "text")
        .await
        .expect("the client is still usable");
    assert_eq!(again, event());
    assert_eq!(server.seen.requests(), 2);
}

#[tokio::test]
async fn dropping_an_extraction_during_the_retry_backoff_sends_nothing_more() {
    let server = server_with(vec![
        ResponseTemplate::new(503).set_body_json(error_body("busy", "overloaded")),
        ok(completion(EVENT)),
    ])
    .await;
    // The first backoff is 0.5 to 1 s; the extraction is dropped 200 ms into it.
    let client = build(builder(&server).initial_backoff(Duration::from_secs(1)));
    let dropped = tokio::time::timeout(
        Duration::from_millis(200),
        CalendarEvent::extract(&client, "text"),
    )
    .await;
    assert!(dropped.is_err(), "still backing off: {dropped:?}");
    assert_eq!(requests(&server).await, 1);
    // Past the end of the backoff: the dropped retry never fires.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        requests(&server).await,
        1,
        "a dropped extraction sent a retry"
    );
    let same = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("the same client is still usable");
    assert_eq!(same.value, event());
    assert_eq!(same.attempts, 1);
    assert_eq!(requests(&server).await, 2);
}

#[tokio::test]
async fn dropping_a_stream_mid_body_leaves_the_same_client_usable() {
    let server = RawServer::script(vec![
        RawReply::chunked(
            "text/event-stream",
            vec![
                Step::Send(chunk(r#"{"name":"Sci"#).into_bytes()),
                Step::Hold,
            ],
        ),
        RawReply::chunked(
            "text/event-stream",
            vec![Step::Send(sse(EVENT, 9, "stop").into_bytes())],
        ),
    ])
    .await;
    let client = build(server.builder().timeout(Duration::from_secs(30)));
    {
        let mut stream = client.extract::<CalendarEvent>("text").stream();
        match stream.next().await {
            Some(Ok(Update::Partial(p))) => assert_eq!(p.name.as_deref(), Some("Sci")),
            other => panic!("{:?}", other.map(|u| u.map(|_| ()))),
        }
    } // dropped while the server holds the rest of the stream
    assert!(
        server.seen.client_gone_within(Duration::from_secs(3)).await,
        "the server never saw the stream close"
    );
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut done = None;
    while let Some(update) = stream.next().await {
        if let Update::Done(extraction) = update.expect("a clean stream") {
            done = Some(extraction);
        }
    }
    let done = done.expect("a Done update");
    assert_eq!(done.value, event());
    assert_eq!(done.attempts, 1);
    assert_eq!(server.seen.requests(), 2);
}
