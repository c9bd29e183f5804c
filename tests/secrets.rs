//! The API key never shows: not in `Debug` of the client or its builder, not in any error's `Display`
//! or `Debug`, not in tracing output at the most verbose level, even when requests fail.

use std::time::Duration;

use extract::{Client, Extract};
use extract_workspace_tests::{completion, ok, Captured, Script};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const KEY: &str = "sk-proj-TOPSECRET-0123456789abcdef";

#[derive(Debug, Deserialize, JsonSchema, Extract)]
struct Note {
    #[allow(dead_code)]
    text: String,
}

#[tokio::test]
async fn the_key_appears_nowhere() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ResponseTemplate::new(500).set_body_string("boom"),
            ok(completion("not json")),
            ok(completion(r#"{"text": 1}"#)),
            ok(completion(r#"{"text": 2}"#)),
            ResponseTemplate::new(401).set_body_json(
                json!({"error": {"message": "Incorrect API key provided: sk-proj-***cdef"}}),
            ),
        ]))
        .mount(&server)
        .await;
    let builder = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .api_key(KEY)
        .model("m")
        .initial_backoff(Duration::from_millis(1));
    let mut texts = vec![format!("{builder:?}")];
    let client = builder.build().expect("config");
    texts.push(format!("{client:?}"));

    let invalid = Note::extract(&client, "hello").await.expect_err("invalid");
    let unauthorized = Note::extract(&client, "hello").await.expect_err("401");
    for err in [&invalid, &unauthorized] {
        texts.push(format!("{err}"));
        texts.push(format!("{err:?}"));
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            texts.push(format!("{s} {s:?}"));
            source = s.source();
        }
    }
    let bad_header = Client::builder()
        .api_key(format!("{KEY}\n"))
        .build()
        .expect_err("bad key");
    texts.push(format!("{bad_header} {bad_header:?}"));

    texts.push(captured.text());
    assert!(
        texts
            .last()
            .is_some_and(|log| log.contains("retrying the HTTP request")),
        "tracing was captured"
    );
    for text in &texts {
        assert!(!text.contains("TOPSECRET"), "the key leaked: {text}");
    }
    // The key did go where it belongs.
    let requests = server.received_requests().await.unwrap_or_default();
    assert!(requests.iter().all(|r| r
        .headers
        .get("authorization")
        .is_some_and(|v| v.as_bytes() == format!("Bearer {KEY}").as_bytes())));
}

#[test]
fn errors_are_send_sync_static() {
    fn assert<T: Send + Sync + 'static + std::error::Error>() {}
    assert::<extract::Error>();
    fn assert_client<T: Send + Sync + Clone + 'static>() {}
    assert_client::<Client>();
}

#[test]
fn from_env_says_what_is_missing() {
    // One test touches the environment, so nothing races with it.
    for var in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "EXTRACT_MODEL",
        "OPENAI_MODEL",
    ] {
        std::env::remove_var(var);
    }
    let err = Client::from_env().expect_err("no key");
    assert!(
        err.to_string().contains("OPENAI_API_KEY is not set"),
        "{err}"
    );

    std::env::set_var("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1");
    let err = Client::from_env().expect_err("no model");
    assert!(
        err.to_string().contains("EXTRACT_MODEL is not set"),
        "{err}"
    );

    std::env::set_var("EXTRACT_MODEL", "smollm2");
    let client = Client::from_env().expect("local server, no key needed");
    assert_eq!(client.model(), "smollm2");
    assert_eq!(client.base_url(), "http://127.0.0.1:8080/v1");

    std::env::remove_var("OPENAI_BASE_URL");
    std::env::remove_var("EXTRACT_MODEL");
    std::env::set_var("OPENAI_API_KEY", KEY);
    let client = Client::from_env().expect("OpenAI with the default model");
    assert_eq!(client.model(), extract::OPENAI_DEFAULT_MODEL);
    assert_eq!(client.dialect(), extract::Dialect::OpenAi);
    assert!(!format!("{client:?}").contains("TOPSECRET"));
    std::env::remove_var("OPENAI_API_KEY");
}

#[test]
fn bad_configurations_fail_at_build() {
    let cases = [
        (
            Client::builder().base_url("not a url").model("m"),
            "is not a URL",
        ),
        (
            Client::builder()
                .base_url("ftp://example.com/v1")
                .model("m"),
            "must start with http",
        ),
        (
            Client::builder().base_url("http://127.0.0.1:1/v1"),
            "no model set",
        ),
        (Client::builder().model("gpt-4o"), "OpenAI needs an API key"),
        (
            Client::builder()
                .base_url("http://127.0.0.1:1/v1")
                .model("m")
                .timeout(Duration::ZERO),
            "timeout",
        ),
        (
            Client::builder()
                .base_url("http://127.0.0.1:1/v1")
                .model("m")
                .header("bad header", "v", false),
            "not a valid header name",
        ),
    ];
    for (builder, expected) in cases {
        match builder.build() {
            Err(extract::Error::Config { message }) => {
                assert!(message.contains(expected), "{message}")
            }
            other => panic!("{expected}: {other:?}"),
        }
    }
}
