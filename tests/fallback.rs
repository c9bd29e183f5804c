//! Fallback between providers (`ClientBuilder::fallback`): an extraction that fails on one client in
//! a way another provider may not share starts over on the next, across dialects; the extraction says
//! who answered and sums what every client spent; when all fail, the error keeps each one's.

use std::time::Duration;

use extract::{Client, Dialect, Error};
use extract_workspace_tests::{bodies, completion, ok, server_with, CalendarEvent, EVENT};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";

/// An Anthropic server answering every request with `reply`.
async fn anthropic(reply: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(reply)
        .mount(&server)
        .await;
    server
}

fn claude(server: &MockServer) -> Client {
    Client::anthropic("sk-ant-test")
        .base_url(format!("{}/v1", server.uri()))
        .model("claude-haiku-4-5")
        .max_resends(0)
        .build()
        .expect("valid configuration")
}

fn tool_answer(input: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "type": "message", "role": "assistant", "model": "claude-haiku-4-5-20251001",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "CalendarEvent", "input": input}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 30, "output_tokens": 10}
    }))
}

fn openai_like(server: &MockServer, fallback: Option<Client>) -> Client {
    let mut builder = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("primary-model")
        .max_resends(0)
        .initial_backoff(Duration::from_millis(1));
    if let Some(next) = fallback {
        builder = builder.fallback(next);
    }
    builder.build().expect("valid configuration")
}

#[tokio::test]
async fn a_rate_limited_provider_hands_over_to_the_next_which_is_reported() {
    let second = anthropic(tool_answer(serde_json::from_str(EVENT).expect("JSON"))).await;
    let first = server_with(vec![ResponseTemplate::new(429)
        .insert_header("retry-after", "0")
        .set_body_json(
            json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
        )])
    .await;
    let client = openai_like(&first, Some(claude(&second)));
    let extraction = client
        .extract::<CalendarEvent>(TEXT)
        .model("primary-model-large")
        .await
        .expect("the second provider answers");
    assert_eq!(extraction.dialect, Dialect::Anthropic);
    assert_eq!(extraction.model, "claude-haiku-4-5-20251001");
    assert_eq!(extraction.value.participants, ["Alice", "Bob"]);
    assert_eq!(bodies(&first).await.len(), 1);
    let sent = bodies(&second).await;
    assert_eq!(sent.len(), 1);
    // The request's model named the first client's; the second uses its own.
    assert_eq!(bodies(&first).await[0]["model"], "primary-model-large");
    assert_eq!(sent[0]["model"], "claude-haiku-4-5");
}

#[tokio::test]
async fn when_every_provider_fails_each_ones_error_is_kept_and_usage_summed() {
    // The first runs out of reasks (and falls back on that, as asked), the second is overloaded.
    let invalid = json!({"name": "Science fair"}).to_string();
    let first = server_with(vec![ok(completion(&invalid))]).await;
    let second = anthropic(ResponseTemplate::new(529).set_body_json(json!({
        "type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}
    })))
    .await;
    let client = Client::builder()
        .base_url(format!("{}/v1", first.uri()))
        .model("primary-model")
        .max_reasks(1)
        .fallback(claude(&second))
        .fallback_on_invalid(true)
        .build()
        .expect("valid configuration");
    let failed = client.extract::<CalendarEvent>(TEXT).await;
    let Err(Error::Fallback { failures, usage }) = failed else {
        panic!("expected Fallback, got {failed:?}");
    };
    assert_eq!(failures.len(), 2);
    assert_eq!(failures[0].provider, "openai-compatible");
    assert_eq!(failures[0].model, "primary-model");
    assert!(
        matches!(failures[0].error, Error::Invalid { .. }),
        "{:?}",
        failures[0].error
    );
    assert_eq!(failures[1].provider, "anthropic");
    assert!(
        matches!(&failures[1].error, Error::Api { status: 529, code: Some(code), .. } if code == "overloaded_error"),
        "{:?}",
        failures[1].error
    );
    // Two invalid replies of 15 tokens each on the first; nothing billed by the second.
    assert_eq!(usage.total_tokens, 30);
    let failed = Error::Fallback { failures, usage };
    assert!(
        failed.to_string().contains("anthropic (claude-haiku-4-5)"),
        "{failed}"
    );
}

#[tokio::test]
async fn usage_is_summed_over_the_providers_that_spent_it() {
    let invalid = json!({"name": "Science fair"}).to_string();
    let first = server_with(vec![ok(completion(&invalid))]).await;
    let second = anthropic(tool_answer(serde_json::from_str(EVENT).expect("JSON"))).await;
    let client = Client::builder()
        .base_url(format!("{}/v1", first.uri()))
        .model("primary-model")
        .max_reasks(0)
        .fallback(claude(&second))
        .fallback_on_invalid(true)
        .build()
        .expect("valid configuration");
    let extraction = client
        .extract::<CalendarEvent>(TEXT)
        .await
        .expect("the second provider answers");
    // 15 on the first (one invalid reply), 40 on the second.
    assert_eq!(extraction.usage.total_tokens, 55);
    assert_eq!(extraction.dialect, Dialect::Anthropic);
}

#[tokio::test]
async fn an_error_another_provider_would_share_does_not_fall_back() {
    let first = server_with(vec![ResponseTemplate::new(401)
        .set_body_json(json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}))])
    .await;
    let second = anthropic(tool_answer(serde_json::from_str(EVENT).expect("JSON"))).await;
    let client = openai_like(&first, Some(claude(&second)));
    let failed = client.extract::<CalendarEvent>(TEXT).await;
    assert!(
        matches!(failed, Err(Error::Api { status: 401, .. })),
        "{failed:?}"
    );
    assert!(bodies(&second).await.is_empty());

    // Without fallback_on_invalid, reasks running out stay on the first provider too.
    let invalid = json!({"name": "Science fair"}).to_string();
    let first = server_with(vec![ok(completion(&invalid))]).await;
    let client = openai_like(&first, Some(claude(&second)));
    let failed = client.extract::<CalendarEvent>(TEXT).max_reasks(0).await;
    assert!(matches!(failed, Err(Error::Invalid { .. })), "{failed:?}");
    assert!(bodies(&second).await.is_empty());
}

#[tokio::test]
async fn a_chain_goes_on_to_the_third() {
    let unavailable = || {
        ResponseTemplate::new(503)
            .set_body_json(json!({"error": {"message": "Service Unavailable"}}))
    };
    let first = server_with(vec![unavailable()]).await;
    let second = server_with(vec![unavailable()]).await;
    let third = server_with(vec![ok(completion(EVENT))]).await;
    let client = openai_like(
        &first,
        Some(openai_like(&second, Some(openai_like(&third, None)))),
    );
    let extraction = client
        .extract::<CalendarEvent>(TEXT)
        .await
        .expect("the third answers");
    assert_eq!(extraction.value.name, "Science fair");
    assert_eq!(
        (
            bodies(&first).await.len(),
            bodies(&second).await.len(),
            bodies(&third).await.len()
        ),
        (1, 1, 1)
    );
}
