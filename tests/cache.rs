//! The response cache (feature `cache`) against a scripted server: what is answered from memory
//! (proved by wiremock's `expect`, checked when each server is dropped), what is asked again, what
//! is never stored, and many tasks sharing one cache.

use std::time::Duration;

use extract::cache::{ResponseCache, LOCAL_HIT};
use extract::{Client, Error, Extract, ExtractRequest, Extraction, FinishReason};
use extract_workspace_tests::{completion, ok, CalendarEvent, Meeting, EVENT, MEETING};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";

/// Answers the requests whose body contains `needle` with `reply`, and expects exactly `times`.
async fn answer(server: &MockServer, needle: &str, reply: ResponseTemplate, times: u64) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_string_contains(needle))
        .respond_with(reply)
        .expect(times)
        .mount(server)
        .await;
}

fn client(server: &MockServer, cache: &ResponseCache) -> Client {
    Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("test-model")
        .initial_backoff(Duration::from_millis(1))
        .cache(cache.clone())
        .build()
        .expect("valid configuration")
}

async fn extract(client: &Client, text: &str) -> Extraction<CalendarEvent> {
    client
        .extract::<CalendarEvent>(text)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn an_identical_request_is_answered_without_a_second_call() {
    let server = MockServer::start().await;
    answer(&server, TEXT, ok(completion(EVENT)), 1).await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);

    let first = extract(&client, TEXT).await;
    assert_eq!(first.cache_status, None);
    assert_eq!(first.usage.total_tokens, 15);
    let second = extract(&client, TEXT).await;
    assert_eq!(second.value, first.value);
    assert_eq!(second.raw, first.raw);
    assert_eq!(second.cache_status.as_deref(), Some(LOCAL_HIT));
    assert_eq!(second.usage.total_tokens, 0, "nothing was billed");
    // The one-liner goes through the same place.
    assert_eq!(
        CalendarEvent::extract(&client, TEXT).await.ok(),
        Some(first.value)
    );
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.insertions), (2, 1, 1));
    assert_eq!(
        client.response_cache().map(ResponseCache::len),
        Some(cache.len())
    );
}

#[tokio::test]
async fn a_different_model_text_or_parameter_is_asked_for() {
    let server = MockServer::start().await;
    answer(&server, r#""model":"test-model""#, ok(completion(EVENT)), 4).await;
    answer(
        &server,
        r#""model":"other-model""#,
        ok(completion(EVENT)),
        1,
    )
    .await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);

    let status = |e: Result<Extraction<CalendarEvent>, Error>| {
        e.unwrap_or_else(|e| panic!("{e}")).cache_status
    };
    assert_eq!(status(client.extract(TEXT).await), None);
    assert_eq!(
        status(client.extract(TEXT).model("other-model").await),
        None
    );
    assert_eq!(
        status(client.extract("Bob and Carol, on Monday.").await),
        None
    );
    assert_eq!(status(client.extract(TEXT).temperature(0.7).await), None);
    assert_eq!(
        status(client.extract(TEXT).instructions("Be brief.").await),
        None
    );
    // Each of them is now an entry of its own.
    assert_eq!(
        status(client.extract(TEXT).temperature(0.7).await).as_deref(),
        Some(LOCAL_HIT)
    );
    assert_eq!(
        status(client.extract(TEXT).model("other-model").await).as_deref(),
        Some(LOCAL_HIT)
    );
    assert_eq!(cache.len(), 5);
}

#[tokio::test]
async fn a_reasked_extraction_replays_whole_and_a_failed_one_is_not_kept() {
    let server = MockServer::start().await;
    // The reask names the missing field; the first request does not.
    Mock::given(method("POST"))
        .and(body_string_contains("is a required property"))
        .respond_with(ok(completion(EVENT)))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    answer(
        &server,
        TEXT,
        ok(completion(r#"{"name":"Science fair","date":"Friday"}"#)),
        1,
    )
    .await;
    answer(
        &server,
        "Nothing to see.",
        ok(completion("no JSON here")),
        2,
    )
    .await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);

    let first = extract(&client, TEXT).await;
    assert_eq!(first.attempts, 2);
    let replay = extract(&client, TEXT).await;
    assert_eq!(replay.attempts, 2);
    assert_eq!(replay.value, first.value);
    assert_eq!(replay.cache_status.as_deref(), Some(LOCAL_HIT));
    assert_eq!(cache.len(), 2, "both replies of the conversation are kept");

    // Still invalid when the reasks ran out: nothing is kept, and asking again asks the server.
    for _ in 0..2 {
        let result = client
            .extract::<CalendarEvent>("Nothing to see.")
            .max_reasks(0)
            .await;
        assert!(matches!(result, Err(Error::Invalid { .. })), "{result:?}");
    }
    assert_eq!(cache.len(), 2);
}

#[tokio::test]
async fn refusals_and_errors_are_never_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            serde_json::json!({"error": {"message": "model overloaded", "code": "bad"}}),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ok(extract_workspace_tests::completion_with(
            serde_json::json!({"role": "assistant", "content": null, "refusal": "No."}),
            "stop",
        )))
        .up_to_n_times(1)
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    answer(&server, TEXT, ok(completion(EVENT)), 1).await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);

    let bad = client.extract::<CalendarEvent>(TEXT).await;
    assert!(
        matches!(bad, Err(Error::Api { status: 400, .. })),
        "{bad:?}"
    );
    let refused = client.extract::<CalendarEvent>(TEXT).await;
    assert!(matches!(refused, Err(Error::Refusal { .. })), "{refused:?}");
    assert!(cache.is_empty());
    assert_eq!(extract(&client, TEXT).await.cache_status, None);
    assert_eq!(
        extract(&client, TEXT).await.cache_status.as_deref(),
        Some(LOCAL_HIT)
    );
}

#[tokio::test]
async fn skip_cache_asks_again_and_refreshes_the_entry() {
    let server = MockServer::start().await;
    answer(&server, TEXT, ok(completion(EVENT)), 2).await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);
    extract(&client, TEXT).await;
    let fresh = client
        .extract::<CalendarEvent>(TEXT)
        .skip_cache()
        .await
        .expect("a valid reply");
    assert_eq!(fresh.cache_status, None);
    assert_eq!(cache.stats().insertions, 2);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn an_expired_entry_is_asked_for_again() {
    let server = MockServer::start().await;
    answer(&server, TEXT, ok(completion(EVENT)), 2).await;
    let cache = ResponseCache::new().ttl(Duration::from_millis(200));
    let client = client(&server, &cache);
    extract(&client, TEXT).await;
    assert_eq!(
        extract(&client, TEXT).await.cache_status.as_deref(),
        Some(LOCAL_HIT)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(extract(&client, TEXT).await.cache_status, None);
    assert_eq!(cache.stats().expirations, 1);
}

#[tokio::test]
async fn the_least_recently_used_entry_makes_room() {
    let server = MockServer::start().await;
    answer(&server, "first text", ok(completion(EVENT)), 1).await;
    answer(&server, "second text", ok(completion(EVENT)), 2).await;
    answer(&server, "third text", ok(completion(EVENT)), 2).await;
    let cache = ResponseCache::new().max_entries(2);
    let client = client(&server, &cache);
    let status = |e: Extraction<CalendarEvent>| e.cache_status;
    assert_eq!(status(extract(&client, "first text").await), None);
    assert_eq!(status(extract(&client, "second text").await), None);
    // Reading `first` again leaves `second` the least recently used: `third` pushes it out.
    assert!(status(extract(&client, "first text").await).is_some());
    assert_eq!(status(extract(&client, "third text").await), None);
    assert_eq!(cache.len(), 2);
    assert!(status(extract(&client, "first text").await).is_some());
    assert_eq!(status(extract(&client, "second text").await), None);
    assert_eq!(cache.stats().evictions, 2);

    // A byte bound too small for any entry keeps nothing.
    let tiny = ResponseCache::new().max_bytes(64);
    let client = self::client(&server, &tiny);
    extract(&client, "third text").await;
    assert!(tiny.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_and_clients_share_one_cache() {
    let server = MockServer::start().await;
    for i in 0..8 {
        let reply = format!(r#"{{"name":"event {i}","date":"day {i}","participants":[]}}"#);
        answer(
            &server,
            &format!("text number {i}."),
            ok(completion(&reply)),
            1,
        )
        .await;
    }
    let cache = ResponseCache::new();
    let clients = [client(&server, &cache), client(&server, &cache)];
    for i in 0..8 {
        extract(&clients[i % 2], &format!("text number {i}.")).await;
    }
    let tasks: Vec<_> = (0..96)
        .map(|n| {
            let client = clients[n % 2].clone();
            tokio::spawn(async move {
                let i = n % 8;
                let got = extract(&client, &format!("text number {i}.")).await;
                (i, got)
            })
        })
        .collect();
    for task in tasks {
        let (i, got) = task.await.expect("the task finished");
        assert_eq!(got.value.name, format!("event {i}"), "no reply went astray");
        assert_eq!(got.cache_status.as_deref(), Some(LOCAL_HIT));
    }
    assert_eq!(cache.stats().hits, 96);
    assert_eq!(cache.len(), 8);
    // wiremock checks `expect` when the server drops, with a Tokio lock awaited in a nested
    // executor that spins once this task's cooperative budget is spent (96 joins spend it).
    tokio::task::unconstrained(async move { drop(server) }).await;
}

// The tests below were the unit tests of `extract/src/cache.rs` (issue 13 moved them here), on the
// shared `Meeting`.

async fn day(client: &Client, text: &str) -> Result<Extraction<Meeting>, Error> {
    client.extract::<Meeting>(text).await
}

#[tokio::test]
async fn an_identical_extraction_is_answered_from_memory() {
    let server = MockServer::start().await;
    answer(&server, "A fair", ok(completion(MEETING)), 1).await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);
    let first = day(&client, "A fair")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.cache_status, None);
    assert_eq!(first.usage.total_tokens, 15);
    let second = day(&client, "A fair")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.value, first.value);
    assert_eq!(second.cache_status.as_deref(), Some(LOCAL_HIT));
    assert_eq!(second.usage.total_tokens, 0);
    // Another client given the same cache shares it.
    let other = self::client(&server, &cache);
    assert!(day(&other, "A fair").await.is_ok());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.insertions), (2, 1, 1));
    assert_eq!(client.response_cache().map(ResponseCache::len), Some(1));
}

#[tokio::test]
async fn a_reasked_extraction_is_replayed_whole_and_a_failed_one_not_at_all() {
    let server = MockServer::start().await;
    // The first request gets an incomplete reply; its reask, which names the error, the value.
    Mock::given(method("POST"))
        .and(body_string_contains("is a required property"))
        .respond_with(ok(completion(MEETING)))
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    answer(&server, "Fixed", ok(completion(r#"{"name": "Fair"}"#)), 1).await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);
    let first = day(&client, "Fixed")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(first.attempts, 2);
    assert_eq!(cache.len(), 2);
    let replay = day(&client, "Fixed")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((replay.attempts, replay.value), (2, first.value));
    assert_eq!(replay.cache_status.as_deref(), Some(LOCAL_HIT));

    // An extraction that fails stores nothing: asking again asks the provider again.
    answer(&server, "Hopeless", ok(completion("not JSON")), 2).await;
    for _ in 0..2 {
        let result = client.extract::<Meeting>("Hopeless").max_reasks(0).await;
        assert!(matches!(result, Err(Error::Invalid { .. })));
    }
    assert_eq!(cache.len(), 2);
}

async fn run(request: ExtractRequest<'_, Meeting>) -> Option<String> {
    request.await.unwrap_or_else(|e| panic!("{e}")).cache_status
}

#[tokio::test]
async fn any_difference_in_the_request_is_a_miss() {
    let server = MockServer::start().await;
    answer(
        &server,
        r#""model":"test-model""#,
        ok(completion(MEETING)),
        4,
    )
    .await;
    answer(&server, r#""model":"other""#, ok(completion(MEETING)), 1).await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);
    assert_eq!(run(client.extract("A fair")).await, None);
    assert_eq!(run(client.extract("A fair.")).await, None);
    assert_eq!(run(client.extract("A fair").model("other")).await, None);
    assert_eq!(run(client.extract("A fair").temperature(0.5)).await, None);
    assert_eq!(run(client.extract("A fair").max_tokens(99)).await, None);
    assert_eq!(
        run(client.extract("A fair").temperature(0.5))
            .await
            .as_deref(),
        Some(LOCAL_HIT)
    );
    assert_eq!(cache.len(), 5);
}

#[tokio::test]
async fn errors_are_never_stored_and_skip_cache_refreshes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "bad model"}})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    answer(&server, "A fair", ok(completion(MEETING)), 2).await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);
    assert!(matches!(
        day(&client, "A fair").await,
        Err(Error::Api { status: 400, .. })
    ));
    assert!(cache.is_empty());
    assert_eq!(
        day(&client, "A fair").await.map(|e| e.cache_status).ok(),
        Some(None)
    );
    let skipped = client.extract::<Meeting>("A fair").skip_cache().await;
    assert_eq!(skipped.map(|e| e.cache_status).ok(), Some(None));
    assert_eq!(cache.stats().insertions, 2);
}

#[tokio::test]
async fn expired_and_evicted_entries_are_asked_again() {
    let server = MockServer::start().await;
    answer(&server, "first", ok(completion(MEETING)), 2).await;
    answer(&server, "second", ok(completion(MEETING)), 1).await;
    let cache = ResponseCache::new().ttl(Duration::from_millis(150));
    let client = client(&server, &cache);
    assert!(day(&client, "first").await.is_ok());
    assert_eq!(
        day(&client, "first")
            .await
            .ok()
            .and_then(|e| e.cache_status)
            .as_deref(),
        Some(LOCAL_HIT)
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        day(&client, "first").await.ok().map(|e| e.cache_status),
        Some(None)
    );
    // One entry at most: the second extraction evicts the first.
    let small = ResponseCache::new().max_entries(1);
    let client = self::client(&server, &small);
    assert!(day(&client, "second").await.is_ok());
    assert_eq!(small.len(), 1);
    assert_eq!(small.stats().evictions, 0);
}

#[tokio::test]
async fn whole_completions_are_kept_and_cut_ones_not() {
    let server = MockServer::start().await;
    answer(&server, "Say hello.", ok(completion("Hello!")), 1).await;
    Mock::given(method("POST"))
        .and(body_string_contains("Count to a million."))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "1, 2, 3"}, "finish_reason": "length"}]
        })))
        .expect(2)
        .mount(&server)
        .await;
    let cache = ResponseCache::new();
    let client = client(&server, &cache);
    for _ in 0..2 {
        let hello = client.complete("Say hello.").await;
        assert_eq!(hello.map(|c| c.text).ok().as_deref(), Some("Hello!"));
        let cut = client.complete("Count to a million.").await;
        assert_eq!(cut.map(|c| c.finish).ok(), Some(FinishReason::Length));
    }
    assert_eq!(cache.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_share_one_cache() {
    let server = MockServer::start().await;
    for i in 0..16 {
        let reply = format!(r#"{{"name": "n{i}", "day": "d{i}"}}"#);
        answer(
            &server,
            &format!("text number {i}."),
            ok(completion(&reply)),
            1,
        )
        .await;
    }
    let cache = ResponseCache::new();
    let client = client(&server, &cache);
    // Warm every entry once, then read them all from many tasks at once.
    for i in 0..16 {
        assert!(day(&client, &format!("text number {i}.")).await.is_ok());
    }
    let tasks: Vec<_> = (0..128)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                let i = n % 16;
                let got = day(&client, &format!("text number {i}.")).await;
                (i, got.map(|e| (e.value.name, e.cache_status)))
            })
        })
        .collect();
    for task in tasks {
        let (i, got) = task.await.unwrap_or_else(|e| panic!("{e}"));
        let (name, status) = got.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(name, format!("n{i}"));
        assert_eq!(status.as_deref(), Some(LOCAL_HIT));
    }
    assert_eq!(cache.stats().hits, 128);
    assert_eq!(cache.len(), 16);
    // wiremock checks `expect` on drop with a Tokio lock in a nested executor, which spins once
    // this task's cooperative budget is spent (as 128 joins spend it): drop it unconstrained.
    tokio::task::unconstrained(async move { drop(server) }).await;
}

#[test]
fn is_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone + 'static>() {}
    shareable::<ResponseCache>();
}
