//! Fault-matrix rows for what a hostile server can do at the HTTP level: absurd retry headers,
//! redirects (to another host, from POST to GET, in a loop), and secrets echoed back in its words.
//! The README's "Fault matrix" lists these rows with the others.

use std::time::Duration;

use extract::{Client, ClientBuilder, Error};
use extract_workspace_tests::{
    bodies, completion, ok, ok_sse, server_with, sse, CalendarEvent, EVENT,
};
use serde_json::{json, Value};
use wiremock::matchers::{any, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-test-HOSTILE-0123456789";

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

fn shown(err: &Error) -> String {
    let mut text = format!("{err} {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    text
}

// ---- Retry headers no `Duration` can hold ----

/// Every kind of request against a server that answers `status` with `header: value`.
async fn every_request_kind(status: u16, header: &str, value: &str) -> Vec<(String, Error, usize)> {
    let mut outcomes = Vec::new();
    let reply = || {
        ResponseTemplate::new(status)
            .insert_header(header, value)
            .set_body_json(json!({"error": {"message": "slow down", "type": "requests"}}))
    };
    for kind in ["extract", "stream", "embed", "models"] {
        // Every path (chat, embeddings, model listing) gets the same reply.
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(reply())
            .mount(&server)
            .await;
        let client = build(builder(&server));
        let err = match kind {
            "extract" => client
                .extract::<CalendarEvent>("text")
                .await
                .map(|_| ())
                .expect_err("no value"),
            "stream" => {
                let mut stream = client.extract::<CalendarEvent>("text").stream();
                let mut last = None;
                while let Some(update) = stream.next().await {
                    if let Err(err) = update {
                        last = Some(err);
                    }
                }
                last.expect("the stream ends in an error")
            }
            "embed" => client
                .embed(["a"])
                .await
                .map(|_| ())
                .expect_err("no vectors"),
            _ => client
                .models()
                .send()
                .await
                .map(|_| ())
                .expect_err("no models"),
        };
        outcomes.push((kind.to_owned(), err, requests(&server).await));
    }
    outcomes
}

#[tokio::test]
async fn a_429_asking_for_1e30_milliseconds_is_rate_limited_not_a_panic() {
    for (kind, err, seen) in every_request_kind(429, "retry-after-ms", "1e30").await {
        match err {
            Error::RateLimited {
                retry_after: Some(delay),
                ..
            } => assert!(delay >= Duration::from_secs(1_000_000), "{kind}: {delay:?}"),
            other => panic!("{kind}: {other:?}"),
        }
        assert_eq!(
            seen, 1,
            "{kind}: asked to wait past max_retry_delay, so not resent"
        );
    }
}

#[tokio::test]
async fn a_503_with_a_retry_delay_too_large_for_a_duration_is_returned_at_once() {
    for value in ["1e30", "18446744073709551616000", "1e308"] {
        for (kind, err, seen) in every_request_kind(503, "retry-after-ms", value).await {
            assert!(
                matches!(err, Error::Api { status: 503, .. }),
                "{kind} {value}: {err:?}"
            );
            assert_eq!(seen, 1, "{kind} {value}");
        }
    }
    for (kind, err, seen) in every_request_kind(429, "retry-after", "1e30").await {
        assert!(
            matches!(err, Error::RateLimited { retry_after: Some(d), .. } if d >= Duration::from_secs(1_000_000)),
            "{kind}: {err:?}"
        );
        assert_eq!(seen, 1, "{kind}");
    }
}

#[tokio::test]
async fn retry_headers_that_are_not_delays_fall_back_to_the_backoff() {
    // NaN, infinity and negative delays are not delays: the request is retried after the client's
    // own backoff, and the second reply is the value.
    for value in ["NaN", "inf", "-3", "soon"] {
        let server = server_with(vec![
            ResponseTemplate::new(429).insert_header("retry-after-ms", value),
            ok(completion(EVENT)),
        ])
        .await;
        let extraction = build(builder(&server))
            .extract::<CalendarEvent>("text")
            .await
            .unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(extraction.value.name, "Science fair");
        assert_eq!(requests(&server).await, 2, "{value}");
    }
}

// ---- Redirects ----

/// A server that answers every request with `status` and `Location: location`.
async fn redirecting(status: u16, location: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(status).insert_header("location", location))
        .mount(&server)
        .await;
    server
}

/// A server that would happily answer, to see whether anything reached it.
async fn elsewhere() -> MockServer {
    server_with(vec![ok(completion(EVENT))]).await
}

#[tokio::test]
async fn a_redirect_to_another_host_is_an_error_naming_it_and_nothing_follows() {
    let other = elsewhere().await;
    for status in [301, 302, 303, 307, 308] {
        let target = format!("{}/v1/chat/completions", other.uri());
        let server = redirecting(status, &target).await;
        // A gateway token and a sensitive header of the caller's: neither may reach `other`.
        let client = build(
            builder(&server)
                .header("x-api-key", "sk-ant-SECRET-header-value", true)
                .header("cf-aig-authorization", "Bearer gateway-SECRET-token", true),
        );
        let err = client
            .extract::<CalendarEvent>("text")
            .await
            .map(|_| ())
            .expect_err("redirected");
        match &err {
            Error::Redirect {
                status: got,
                location,
            } => {
                assert_eq!(*got, status);
                assert_eq!(location.as_deref(), Some(target.as_str()));
            }
            other => panic!("{status}: {other:?}"),
        }
        assert!(shown(&err).contains(&target), "{err}");
        assert_eq!(requests(&server).await, 1, "{status}: not retried");
    }
    assert_eq!(requests(&other).await, 0, "nothing reached the other host");
}

#[tokio::test]
async fn a_redirect_loop_is_one_request_and_a_redirect_error() {
    let server = MockServer::start().await;
    let own = format!("{}/v1/chat/completions", server.uri());
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", own.as_str()))
        .mount(&server)
        .await;
    let err = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .await
        .map(|_| ())
        .expect_err("a loop");
    assert!(
        matches!(err, Error::Redirect { status: 307, .. }),
        "{err:?}"
    );
    assert_eq!(requests(&server).await, 1);

    // Asked to follow redirects on the same origin, the loop is cut at the policy's limit and is
    // still not retried as a transport error.
    let err = build(builder(&server).follow_redirects(true))
        .extract::<CalendarEvent>("text")
        .await
        .map(|_| ())
        .expect_err("a loop");
    assert!(matches!(err, Error::Redirect { .. }), "{err:?}");
    let seen = requests(&server).await - 1;
    assert!(
        (2..=7).contains(&seen),
        "{seen} requests for one extraction"
    );
}

#[tokio::test]
async fn following_is_opt_in_and_only_within_the_origin_keeping_the_body() {
    // The real endpoint moved within the same server (a 307 keeps the POST and its body).
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(307).insert_header("location", "/v2/chat/completions"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path("/v2/chat/completions"))
        .respond_with(ok(completion(EVENT)))
        .mount(&server)
        .await;
    let err = build(builder(&server))
        .extract::<CalendarEvent>("text")
        .await
        .map(|_| ())
        .expect_err("not followed by default");
    let expected = format!("{}/v2/chat/completions", server.uri());
    assert!(
        matches!(&err, Error::Redirect { status: 307, location: Some(l) } if *l == expected),
        "{err:?}"
    );
    let extraction = build(builder(&server).follow_redirects(true))
        .extract::<CalendarEvent>("text")
        .await
        .expect("followed on the same origin");
    assert_eq!(extraction.value.name, "Science fair");
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 3);
    assert_eq!(
        sent[2]["messages"], sent[1]["messages"],
        "the body followed"
    );

    // Opted in, a 302 (which would turn the POST into a GET) and another host are still refused.
    let other = elsewhere().await;
    for (status, location) in [
        (302, "/v2/chat/completions".to_owned()),
        (307, format!("{}/v1/chat/completions", other.uri())),
    ] {
        let server = redirecting(status, &location).await;
        let err = build(builder(&server).follow_redirects(true))
            .extract::<CalendarEvent>("text")
            .await
            .map(|_| ())
            .expect_err("refused");
        assert!(
            matches!(err, Error::Redirect { status: s, .. } if s == status),
            "{err:?}"
        );
    }
    assert_eq!(requests(&other).await, 0);
}

#[tokio::test]
async fn a_reply_that_the_callers_own_client_fetched_from_another_host_is_refused() {
    let other = elsewhere().await;
    let target = format!("{}/v1/chat/completions", other.uri());
    let server = redirecting(307, &target).await;
    // reqwest's default policy follows redirects anywhere; the caller brought such a client.
    let client = build(builder(&server).http_client(reqwest_default()));
    let err = client
        .extract::<CalendarEvent>("text")
        .await
        .map(|_| ())
        .expect_err("another host's reply is not the provider's");
    assert!(
        matches!(&err, Error::Redirect { location: Some(l), .. } if *l == target),
        "{err:?}"
    );
}

/// A `reqwest::Client` as a caller would build one, with reqwest's default redirect policy.
fn reqwest_default() -> reqwest::Client {
    reqwest::Client::new()
}

#[tokio::test]
async fn a_streamed_request_that_is_redirected_is_the_same_error() {
    let other = server_with(vec![ok_sse(sse(EVENT, 8, "stop"))]).await;
    let server = redirecting(307, &format!("{}/v1/chat/completions", other.uri())).await;
    let client = build(builder(&server));
    let mut stream = client.extract::<CalendarEvent>("text").stream();
    let mut last = None;
    while let Some(update) = stream.next().await {
        if let Err(err) = update {
            last = Some(err);
        }
    }
    assert!(
        matches!(last, Some(Error::Redirect { status: 307, .. })),
        "{last:?}"
    );
    assert_eq!(requests(&other).await, 0);
}

// ---- Secrets a server echoes ----

#[tokio::test]
async fn secrets_a_server_quotes_back_are_redacted_in_errors_and_logs() {
    const TOKEN: &str = "gateway-TOKEN-0123456789";
    const PASSWORD: &str = "pa55-SECRET-word";
    let echo = format!("key {KEY}, token {TOKEN}, password {PASSWORD}");
    let server = server_with(vec![
        // A 500 quoting the secrets: logged when retried, then a 401 that quotes them too.
        ResponseTemplate::new(500).set_body_string(format!("<html><title>{echo}</title></html>")),
        ResponseTemplate::new(401).set_body_json(json!({"error": {"message": echo, "code": KEY}})),
        // A model that repeats the key: in the reply logged with `trace_content` and in `Invalid`.
        ok(completion(&format!("{{\"name\": 1, \"note\": \"{KEY}\"}}"))),
        // An unexpected envelope that quotes it.
        ok(json!({"unexpected": echo})),
    ])
    .await;
    let with_password = server
        .uri()
        .replacen("http://", &format!("http://user:{PASSWORD}@"), 1);
    let client = build(
        builder(&server)
            .base_url(format!("{with_password}/v1"))
            .header("cf-aig-authorization", format!("Bearer {TOKEN}"), true)
            .trace_content(true)
            .max_reasks(0),
    );
    let mut texts = vec![format!("{client:?}")];
    for _ in 0..3 {
        let err = client
            .extract::<CalendarEvent>("text")
            .await
            .map(|_| ())
            .expect_err("an error");
        texts.push(shown(&err));
    }
    // What tracing logs of the same faults is asserted in `tracing_faults.rs`, a binary of its own
    // (tracing's callsite cache is shared by every test of a binary).
    assert!(texts.iter().any(|t| t.contains("[redacted]")), "{texts:?}");
    for text in &texts {
        for secret in [KEY, TOKEN, PASSWORD] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
    // The server's other words are kept as evidence.
    assert!(texts[1].contains("401"), "{}", texts[1]);
    let sent: Vec<Value> = bodies(&server).await;
    assert_eq!(sent.len(), 4);
}

#[tokio::test]
async fn secrets_quoted_in_a_stream_are_redacted_too() {
    // A provider's error event that quotes the key, a line that is not JSON and does, and a model
    // that repeats it in an invalid streamed reply.
    let error_event = format!(
        "{}data: {}\n\n",
        extract_workspace_tests::chunk("Hel"),
        json!({"error": {"message": format!("bad key {KEY}"), "type": "invalid_request_error"}})
    );
    let garbage = format!(
        "{}data: {{not json {KEY}\n\n",
        extract_workspace_tests::chunk("Hel")
    );
    let repeated = sse(&format!("{{\"name\": 1, \"note\": \"{KEY}\"}}"), 8, "stop");
    let server = server_with(vec![ok_sse(error_event), ok_sse(garbage), ok_sse(repeated)]).await;
    let client = build(builder(&server).max_reasks(0));
    let mut shown_errors = Vec::new();
    for _ in 0..3 {
        let mut stream = client.extract::<CalendarEvent>("text").stream();
        while let Some(update) = stream.next().await {
            if let Err(err) = update {
                shown_errors.push(shown(&err));
            }
        }
    }
    assert_eq!(shown_errors.len(), 3, "{shown_errors:?}");
    for text in &shown_errors {
        assert!(!text.contains(KEY), "the key leaked: {text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
}
