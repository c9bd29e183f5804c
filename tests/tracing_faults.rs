//! What tracing shows of two faults: a mode the server does not support (a WARN event naming the
//! model, the rejected mode and the next one), and secrets a server or a model quotes back (never in
//! a log line, even at TRACE with the conversation logged). One test in its own binary, so no other
//! test's subscriber shares tracing's callsite cache with it.

use std::time::Duration;

use extract::{Client, Mode};
use extract_workspace_tests::{completion, ok, server_with, CalendarEvent, Captured, EVENT};
use serde_json::json;
use wiremock::ResponseTemplate;

const KEY: &str = "sk-test-TRACED-0123456789";
const TOKEN: &str = "gateway-TOKEN-0123456789";

#[tokio::test]
async fn faults_are_logged_visibly_and_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // A model without the native mode: the fallback is remembered and said so.
    let server = server_with(vec![
        ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
            "type": "invalid_request_error",
            "param": "response_format",
            "code": null
        }})),
        ok(completion(EVENT)),
    ])
    .await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .api_key(KEY)
        .model("test-model")
        .build()
        .expect("config");
    let fell_back = client
        .extract::<CalendarEvent>("text")
        .await
        .expect("fell back");
    assert_eq!(fell_back.mode, Mode::JsonObject);
    let log = captured.take();
    let warning = log
        .lines()
        .find(|line| line.contains("WARN"))
        .unwrap_or_else(|| panic!("no WARN event in:\n{log}"));
    for word in [
        "does not support this mode",
        "test-model",
        "json_schema",
        "json_object",
    ] {
        assert!(
            warning.contains(word),
            "`{word}` is missing from: {warning}"
        );
    }

    // A server and a model that quote the secrets back, logged at TRACE with the conversation.
    let echo = format!("key {KEY}, token {TOKEN}");
    let server = server_with(vec![
        ResponseTemplate::new(500).set_body_string(format!("<html><title>{echo}</title></html>")),
        ok(completion(&format!(
            "{{\"name\": 1, \"note\": \"{echo}\"}}"
        ))),
    ])
    .await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .api_key(KEY)
        .header("cf-aig-authorization", format!("Bearer {TOKEN}"), true)
        .model("test-model")
        .initial_backoff(Duration::from_millis(1))
        .max_reasks(0)
        .trace_content(true)
        .build()
        .expect("config");
    let invalid = client
        .extract::<CalendarEvent>("text")
        .await
        .map(|_| ())
        .expect_err("invalid");
    let log = captured.take();
    assert!(
        log.contains("retrying the HTTP request") && log.contains("extract::content"),
        "the retry and the reply were logged:\n{log}"
    );
    assert!(log.contains("[redacted]"), "{log}");
    for text in [log, format!("{invalid} {invalid:?}")] {
        for secret in [KEY, TOKEN] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
}
