//! The tests of what only the cache module can reach: the keys, the store and the staging of
//! replies. Those of the public API are in `tests/cache.rs`.

use super::*;
use crate::vocab::FinishReason;

fn reply(text: &str) -> Reply {
    Reply {
        content: Some(text.to_owned()),
        tool_arguments: None,
        refusal: None,
        finish: FinishReason::Stop,
        usage: None,
        model: None,
        cache_status: None,
    }
}

fn put(cache: &ResponseCache, body: &str, text: &str) {
    let key = cache.key(
        "http://x/v1/chat/completions",
        "openai",
        &HeaderMap::new(),
        &Bytes::from(body.to_owned()),
    );
    cache.insert(Arc::new(key), reply(text));
}

fn get(cache: &ResponseCache, body: &str) -> Option<String> {
    let key = cache.key(
        "http://x/v1/chat/completions",
        "openai",
        &HeaderMap::new(),
        &Bytes::from(body.to_owned()),
    );
    cache.get(&key).and_then(|r| r.content)
}

#[test]
fn least_recently_used_goes_first() {
    let cache = ResponseCache::new().max_entries(2);
    put(&cache, "a", "A");
    put(&cache, "b", "B");
    assert_eq!(get(&cache, "a").as_deref(), Some("A")); // `b` is now the least recently used
    put(&cache, "c", "C");
    assert_eq!(get(&cache, "b"), None);
    assert_eq!(get(&cache, "a").as_deref(), Some("A"));
    assert_eq!(get(&cache, "c").as_deref(), Some("C"));
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.stats().evictions, 1);
}

#[test]
fn bytes_are_bounded_and_accounted() {
    let one = "http://x/v1/chat/completions".len() + "openai".len() + 16 + 100 + 1 + ENTRY_OVERHEAD;
    let cache = ResponseCache::new().max_bytes(2 * one);
    put(&cache, &"a".repeat(100), "A");
    put(&cache, &"b".repeat(100), "B");
    assert_eq!(cache.bytes(), 2 * one);
    put(&cache, &"c".repeat(100), "C");
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.bytes(), 2 * one);
    assert_eq!(get(&cache, &"a".repeat(100)), None);
    // Larger than the whole bound on its own: not stored, and nothing evicted for it.
    put(&cache, &"d".repeat(10_000), "D");
    assert_eq!(cache.len(), 2);
    assert_eq!(get(&cache, &"d".repeat(10_000)), None);
    cache.clear();
    assert_eq!((cache.len(), cache.bytes()), (0, 0));
}

#[test]
fn replacing_an_entry_keeps_the_accounting_right() {
    let cache = ResponseCache::new();
    put(&cache, "a", "first");
    let before = cache.bytes();
    put(&cache, "a", "second!");
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.bytes(), before + "second!".len() - "first".len());
    assert_eq!(get(&cache, "a").as_deref(), Some("second!"));
}

#[test]
fn expired_entries_are_never_served() {
    let cache = ResponseCache::new().ttl(Duration::from_millis(40));
    put(&cache, "a", "A");
    assert_eq!(get(&cache, "a").as_deref(), Some("A"));
    std::thread::sleep(Duration::from_millis(60));
    put(&cache, "b", "B");
    assert_eq!(get(&cache, "a"), None);
    assert_eq!(get(&cache, "b").as_deref(), Some("B"));
    assert_eq!(cache.stats().expirations, 1);
    assert_eq!(cache.len(), 1);
}

#[test]
fn colliding_hashes_do_not_share_a_reply() {
    let cache = ResponseCache::new();
    let forged = |body: &str| Key {
        hash: 42,
        url: "u".into(),
        dialect: "openai",
        headers: [0, 0],
        body: Bytes::from(body.to_owned()),
    };
    cache.insert(Arc::new(forged("one")), reply("1"));
    cache.insert(Arc::new(forged("two")), reply("2"));
    let got = |body: &str| cache.get(&forged(body)).and_then(|r| r.content);
    assert_eq!(got("one").as_deref(), Some("1"));
    assert_eq!(got("two").as_deref(), Some("2"));
    assert_eq!(got("three"), None);
}

#[test]
fn url_and_dialect_are_part_of_the_key() {
    let cache = ResponseCache::new();
    let body = Bytes::from_static(b"{}");
    let none = HeaderMap::new();
    let key = |url, dialect| cache.key(url, dialect, &none, &body);
    cache.insert(Arc::new(key("http://a", "openai")), reply("A"));
    assert!(cache.get(&key("http://b", "openai")).is_none());
    assert!(cache.get(&key("http://a", "openai-compatible")).is_none());
    assert!(cache.get(&key("http://a", "openai")).is_some());
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, reqwest::header::HeaderValue::from_static(value));
    }
    map
}

#[test]
fn every_header_but_the_gateway_cache_directives_is_part_of_the_key() {
    let cache = ResponseCache::new();
    let body = Bytes::from_static(b"{}");
    let key = |pairs: &[(&'static str, &'static str)]| {
        cache.key("http://a", "openai", &headers(pairs), &body)
    };
    let alice = [("authorization", "Bearer alice"), ("x-tenant", "1")];
    cache.insert(Arc::new(key(&alice)), reply("A"));
    assert!(cache.get(&key(&alice)).is_some());
    // The order headers were set in does not matter.
    assert!(cache
        .get(&key(&[
            ("x-tenant", "1"),
            ("authorization", "Bearer alice")
        ]))
        .is_some());
    for other in [
        &[("authorization", "Bearer bob"), ("x-tenant", "1")][..],
        &[("authorization", "Bearer alice"), ("x-tenant", "2")],
        &[("authorization", "Bearer alice")],
        &[
            ("authorization", "Bearer alice"),
            ("x-tenant", "1"),
            ("cf-aig-authorization", "Bearer gw"),
        ],
    ] {
        assert!(cache.get(&key(other)).is_none(), "{other:?}");
    }
    // The gateway's cache directives steer its cache, not the answer.
    let directed = [
        ("authorization", "Bearer alice"),
        ("x-tenant", "1"),
        ("cf-aig-skip-cache", "true"),
        ("cf-aig-cache-key", "k"),
        ("cf-aig-cache-ttl", "60"),
    ];
    assert!(cache.get(&key(&directed)).is_some());
    // The cache keeps no header text, only its hash.
    assert!(!format!("{cache:?}").contains("alice"));
}

#[test]
fn zero_entries_stores_nothing() {
    let cache = ResponseCache::new().max_entries(0);
    put(&cache, "a", "A");
    assert!(cache.is_empty());
    assert_eq!(cache.stats().insertions, 0);
}

#[test]
fn staged_replies_are_stored_only_on_commit() {
    let cache = ResponseCache::new();
    let staged = Staged::default();
    let body = Bytes::from_static(b"{\"model\":\"m\"}");
    let none = HeaderMap::new();
    let Lookup::Miss(miss) = lookup(Some(&cache), false, "http://a", "openai", &none, &body) else {
        panic!("an empty cache cannot hit");
    };
    miss.stage(&staged, &reply("A"));
    assert!(cache.is_empty());
    // Another call's commit does not store what this one staged.
    Staged::default().commit();
    assert!(cache.is_empty());
    staged.commit();
    assert_eq!(cache.len(), 1);
    match lookup(Some(&cache), false, "http://a", "openai", &none, &body) {
        Lookup::Hit(hit) => {
            assert_eq!(hit.content.as_deref(), Some("A"));
            assert_eq!(hit.cache_status.as_deref(), Some(LOCAL_HIT));
        }
        Lookup::Miss(_) => panic!("a committed reply is served"),
    }
    assert!(matches!(
        lookup(Some(&cache), true, "http://a", "openai", &none, &body),
        Lookup::Miss(Miss(Some(_)))
    ));
}
