//! Every option the extraction request accepts reaches every request kind it applies to: the
//! completion and its stream, the extraction's streams, and the blocking mirror. The first tests are
//! compile-time (a kind without a setter fails to build); the others check that the options a kind
//! gained when they were written once (issue 13) do what they say there.

use std::time::Duration;

use extract::cache::ResponseCache;
use extract::{Client, Error, InputPolicy, Message, Mode};
use extract_workspace_tests::{bodies, completion, ok, server_with, Meeting, MEETING};
use serde_json::json;

/// Every option that applies to any chat request, applied to `$request`.
macro_rules! every_chat_option {
    ($request:expr) => {
        $request
            .instructions("Be brief.")
            .messages(vec![Message::user("Lunch with Ann on Monday.")])
            .model("m")
            .temperature(0.0)
            .max_tokens(64)
            .max_requests(2)
            .max_input_tokens(1_000)
            .on_long_input(InputPolicy::TruncateEnd)
            .gateway_cache_ttl(Duration::from_secs(60))
            .skip_gateway_cache()
            .gateway_cache_key("k")
            .skip_cache()
    };
}

/// Every option an extraction has, applied to `$request` (of a `Meeting` or a `Vec<Meeting>`).
macro_rules! every_extraction_option {
    ($request:expr, $ty:ty) => {
        every_chat_option!($request)
            .max_reasks(1)
            .mode(Mode::JsonSchema)
            .token_budget(10_000)
            .validate_with(|_: &$ty| Ok::<(), String>(()))
    };
}

fn client(url: &str) -> Client {
    Client::builder()
        .base_url(url)
        .model("test-model")
        .max_resends(0)
        .build()
        .expect("valid configuration")
}

#[test]
fn every_request_kind_accepts_every_option_that_applies_to_it() {
    let client = client("http://127.0.0.1:9/v1");
    // Built, never sent: the point is that each chain compiles.
    let _extraction = every_extraction_option!(client.extract::<Meeting>("t"), Meeting);
    let _partials = every_extraction_option!(client.extract::<Meeting>("t"), Meeting).stream();
    let _elements =
        every_extraction_option!(client.extract::<Vec<Meeting>>("t"), Vec<Meeting>).elements();
    let _completion = every_chat_option!(client.complete("t"));
    let _text = every_chat_option!(client.complete("t")).stream();

    let blocking = extract::blocking::Client::builder()
        .base_url("http://127.0.0.1:9/v1")
        .model("test-model")
        .build_blocking()
        .expect("valid configuration");
    let _blocking = every_extraction_option!(blocking.extract::<Meeting>("t"), Meeting);
}

#[test]
#[allow(deprecated)]
fn the_old_names_still_work() {
    let client = Client::builder()
        .base_url("http://127.0.0.1:9/v1")
        .model("test-model")
        .max_retries(1)
        .transport_retries(0)
        .build()
        .expect("valid configuration");
    let _request = client.extract::<Meeting>("t").max_retries(0);
}

#[tokio::test]
async fn a_completion_sends_its_options() {
    let server = server_with(vec![ok(completion("Hello."))]).await;
    let client = client(&format!("{}/v1", server.uri()));
    let done = client
        .complete("Say hello.")
        .instructions("Be brief.")
        .model("other-model")
        .temperature(0.5)
        .max_tokens(7)
        .await
        .expect("a completion");
    assert_eq!(done.text, "Hello.");
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["model"], "other-model");
    assert_eq!(sent[0]["temperature"], 0.5);
    assert_eq!(sent[0]["max_tokens"], 7);
    assert_eq!(
        sent[0]["messages"],
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}])
    );
}

#[tokio::test]
async fn a_completion_holds_to_its_input_limit_and_its_request_limit() {
    let server = server_with(vec![ok(completion("Hello."))]).await;
    let client = client(&format!("{}/v1", server.uri()));
    let long = "word ".repeat(200);

    let refused = client.complete(long.as_str()).max_input_tokens(10).await;
    assert!(
        matches!(refused, Err(Error::InputTooLong { .. })),
        "{refused:?}"
    );

    let truncated = client
        .complete(long.as_str())
        .max_input_tokens(10)
        .on_long_input(InputPolicy::TruncateEnd)
        .await;
    assert!(truncated.is_ok(), "{truncated:?}");
    let sent = bodies(&server).await;
    assert_eq!(sent.len(), 1, "the refused input was never sent");
    let content = sent[0]["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(content.len() < long.len(), "the input was cut: {content:?}");

    let none = client.complete("Hi.").max_requests(0).await;
    assert!(matches!(none, Err(Error::RequestLimit { .. })), "{none:?}");
    assert_eq!(
        bodies(&server).await.len(),
        1,
        "nothing sent at a limit of 0"
    );
}

#[tokio::test]
async fn a_completion_may_skip_the_response_cache() {
    let server = server_with(vec![ok(completion("One.")), ok(completion("Two."))]).await;
    let cache = ResponseCache::new();
    let client = Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("test-model")
        .cache(cache.clone())
        .build()
        .expect("valid configuration");
    let first = client.complete("Count.").await.expect("a completion");
    let cached = client.complete("Count.").await.expect("a completion");
    assert_eq!(
        (first.text.as_str(), cached.text.as_str()),
        ("One.", "One.")
    );
    let fresh = client
        .complete("Count.")
        .skip_cache()
        .await
        .expect("a completion");
    assert_eq!(fresh.text, "Two.");
    assert_eq!(bodies(&server).await.len(), 2);
}

#[test]
fn the_blocking_request_runs_its_own_checks_and_input_limit() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let server = runtime.block_on(server_with(vec![
        ok(completion(MEETING)),
        ok(completion(r#"{"name": "Fair", "day": "Saturday"}"#)),
    ]));
    let client = extract::blocking::Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("test-model")
        .build_blocking()
        .expect("valid configuration");
    let long = "word ".repeat(200);
    let refused = client
        .extract::<Meeting>(long.as_str())
        .max_input_tokens(10)
        .send();
    assert!(
        matches!(refused, Err(Error::InputTooLong { .. })),
        "{refused:?}"
    );

    let meeting = client
        .extract::<Meeting>("The fair, on Saturday.")
        .validate_with(|m: &Meeting| match m.day.as_str() {
            "Saturday" => Ok(()),
            other => Err(format!("the text says Saturday, not {other}")),
        })
        .send()
        .expect("valid on the reask");
    assert_eq!(meeting.value.day, "Saturday");
    assert_eq!(meeting.attempts, 2);
    let sent = runtime.block_on(bodies(&server));
    assert_eq!(sent.len(), 2, "the refused input was never sent");
    assert!(sent[1]
        .to_string()
        .contains("the text says Saturday, not Friday"));
}
