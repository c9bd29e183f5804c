//! The response cache's hit in tracing output, in a test binary of its own: tracing caches whether
//! a callsite is enabled process-wide, and tests on other threads without a subscriber race with
//! the thread-local one set here.

use std::time::Duration;

use extract::cache::ResponseCache;
use extract::Client;
use extract_workspace_tests::{completion, ok, CalendarEvent, Captured, EVENT};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";

#[tokio::test]
async fn a_hit_is_reported_in_tracing() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ok(completion(EVENT)))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("test-model")
        .timeout(Duration::from_secs(5))
        .cache(ResponseCache::new())
        .build()
        .expect("valid configuration");
    let text = || captured.text();

    let first = client
        .extract::<CalendarEvent>(TEXT)
        .await
        .expect("a valid reply");
    assert_eq!(first.cache_status, None);
    let sent = text();
    assert!(sent.contains("DEBUG"), "tracing is captured: {sent}");
    assert!(!sent.contains("local_cache"), "{sent}");

    let second = client
        .extract::<CalendarEvent>(TEXT)
        .await
        .expect("a valid reply");
    assert!(second.cache_status.is_some());
    let log = text();
    assert!(log[sent.len()..].contains("local_cache=\"hit\""), "{log}");
}
