//! What tracing shows of an extraction: spans with the model, dialect, mode, attempt, tokens, latency
//! and cache status; the texts of the conversation only when the client is asked to log them; the
//! key never. One test in its own binary, so no other test's subscriber shares tracing's callsite
//! cache with it.

use extract::{Client, Extract};
use extract_workspace_tests::{completion, ok, CalendarEvent, Captured, Script, EVENT};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

const KEY: &str = "sk-proj-TOPSECRET-tracing";
const SECRET_TEXT: &str = "Alice's private diary says the fair is on Friday.";

#[tokio::test]
async fn spans_carry_the_metadata_and_texts_only_when_asked() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Script::new(vec![
            ok(completion(r#"{"name": "Fair"}"#)),
            ok(completion(EVENT)),
        ]))
        .mount(&server)
        .await;
    let builder = || {
        Client::builder()
            .base_url(format!("{}/v1", server.uri()))
            .api_key(KEY)
            .model("test-model")
    };

    let quiet = builder().build().expect("config");
    CalendarEvent::extract(&quiet, SECRET_TEXT)
        .await
        .expect("a value after one reask");
    let log = captured.take();
    for field in [
        "extract{",
        "schema=\"CalendarEvent\"",
        "model=test-model",
        "dialect=\"openai-compatible\"",
        "mode=\"json_schema\"",
        "attempt{n=1",
        "attempt{n=2",
        "latency_ms=",
        "tokens=15",
        "total_tokens=30",
        "attempts=2",
    ] {
        assert!(log.contains(field), "`{field}` is missing from:\n{log}");
    }
    assert!(
        !log.contains("Alice's private diary"),
        "the text leaked:\n{log}"
    );
    assert!(!log.contains("TOPSECRET"), "the key leaked:\n{log}");

    let verbose = builder().trace_content(true).build().expect("config");
    CalendarEvent::extract(&verbose, SECRET_TEXT)
        .await
        .expect("a value");
    let log = captured.take();
    assert!(
        log.contains("Alice's private diary"),
        "asked for, the texts are logged:\n{log}"
    );
    assert!(log.contains("Science fair"), "the reply too:\n{log}");
    assert!(!log.contains("TOPSECRET"), "the key leaked:\n{log}");
}
