//! The transport's own tests: retry headers, backoff, redirects, caps, against raw local servers.

use super::*;
use reqwest::header::HeaderValue;

#[test]
fn retry_after_forms() {
    let mut h = HeaderMap::new();
    assert_eq!(retry_after(&h), None);
    h.insert("retry-after", HeaderValue::from_static("3"));
    assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
    h.insert("retry-after-ms", HeaderValue::from_static("250"));
    assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
    let mut h = HeaderMap::new();
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    h.insert(
        "retry-after",
        HeaderValue::from_str(&date).unwrap_or_else(|_| unreachable!()),
    );
    let d = retry_after(&h).unwrap_or_default();
    assert!(
        d > Duration::from_secs(27) && d <= Duration::from_secs(30),
        "{d:?}"
    );
    h.insert("retry-after", HeaderValue::from_static("soon"));
    assert_eq!(retry_after(&h), None);
}

#[test]
fn absurd_retry_delays_are_capped_not_a_panic() {
    for (header, value, expected) in [
        ("retry-after-ms", "1e30", Some(LONGEST_RETRY_AFTER)),
        ("retry-after-ms", "1e308", Some(LONGEST_RETRY_AFTER)),
        (
            "retry-after-ms",
            "18446744073709551616000",
            Some(LONGEST_RETRY_AFTER),
        ),
        ("retry-after-ms", "inf", None),
        ("retry-after-ms", "NaN", None),
        ("retry-after-ms", "-5", None),
        ("retry-after", "1e30", Some(LONGEST_RETRY_AFTER)),
        (
            "retry-after",
            "99999999999999999999",
            Some(LONGEST_RETRY_AFTER),
        ),
        ("retry-after", "-1", None),
        (
            "retry-after",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            Some(LONGEST_RETRY_AFTER),
        ),
    ] {
        let mut h = HeaderMap::new();
        h.insert(header, HeaderValue::from_static(value));
        assert_eq!(retry_after(&h), expected, "{header}: {value}");
    }
}

/// Text shaped like the numbers and dates a server might write, and some it should not.
fn delay_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let digits = proptest::collection::vec(0u8..10, 0..40).prop_map(|d| {
        d.into_iter()
            .map(|d| char::from(b'0' + d))
            .collect::<String>()
    });
    let number = (
        prop_oneof![Just(""), Just("-"), Just("+")],
        digits.clone(),
        proptest::option::of(digits),
        proptest::option::of((prop_oneof![Just("e"), Just("E")], -400i32..400)),
    )
        .prop_map(|(sign, int, frac, exp)| {
            let mut s = format!("{sign}{int}");
            if let Some(frac) = frac {
                s = format!("{s}.{frac}");
            }
            if let Some((e, n)) = exp {
                s = format!("{s}{e}{n}");
            }
            s
        });
    let date = (0u64..253_402_300_000).prop_map(|secs| {
        httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    });
    let bytes = proptest::collection::vec(any::<u8>(), 0..48)
        .prop_map(|b| b.into_iter().map(char::from).collect::<String>());
    prop_oneof![
        number,
        date,
        bytes,
        prop_oneof![
            Just("inf"),
            Just("-inf"),
            Just("NaN"),
            Just("1e30"),
            Just("")
        ]
        .prop_map(str::to_owned),
    ]
}

proptest::proptest! {
    /// No value of either retry header panics, and none is read as more than the ceiling.
    #[test]
    fn no_retry_header_value_panics(ms in delay_text(), secs in delay_text()) {
        let mut h = HeaderMap::new();
        for (name, value) in [("retry-after-ms", &ms), ("retry-after", &secs)] {
            // Bytes a header cannot carry never reach the client, so they are not a case.
            if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
                h.insert(name, value);
            }
        }
        let delay = retry_after(&h);
        proptest::prop_assert!(delay.is_none_or(|d| d <= LONGEST_RETRY_AFTER));
    }
}

/// A server on 127.0.0.1 that answers the first `answered` requests (`{}`, keeping the
/// connection open) and then reads every later one without ever answering.
fn answers_then_stalls(answered: usize) -> Url {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}/", listener.local_addr().expect("an address"));
    let url = Url::parse(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let seen = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    head.extend_from_slice(&buf[..n]);
                    // A GET: the request ends with its head.
                    while let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                        head.drain(..end + 4);
                        if seen.fetch_add(1, Ordering::SeqCst) < answered {
                            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                            if stream.write_all(reply).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    url
}

fn policy(timeout: Duration) -> Policy {
    Policy {
        retries: 0,
        timeout,
        max_retry_delay: Duration::from_secs(1),
        initial_backoff: Duration::from_millis(10),
        max_response_bytes: 1024,
        secrets: Secrets::default(),
        stream_deadline: None,
    }
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a runtime: {e}"))
}

/// Runs `f` on a thread of its own and fails, rather than hangs, if it does not finish in time.
fn finishes_within(limit: Duration, f: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => {}
        Err(e) => panic!("did not finish within {limit:?}: {e}"),
    }
}

#[test]
fn a_reused_timer_still_times_out() {
    let url = answers_then_stalls(3);
    finishes_within(Duration::from_secs(20), move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a runtime: {e}"));
        let http = reqwest::Client::new();
        let policy = policy(Duration::from_millis(300));
        runtime.block_on(async {
            // Answered: each attempt's timer goes back to the spares, and the next borrows it.
            for _ in 0..3 {
                let reply = once(&http, &url, &HeaderMap::new(), None, &policy).await;
                assert!(reply.is_ok(), "{:?}", reply.err());
            }
            let started = Instant::now();
            let stalled = once(&http, &url, &HeaderMap::new(), None, &policy).await;
            assert!(
                matches!(stalled, Err(Error::Timeout { .. })),
                "{:?}",
                stalled.err()
            );
            assert!(started.elapsed() >= Duration::from_millis(300));
        });
    });
}

/// A thread that ran one runtime and then runs another must not lend the first one's timers to
/// the second: a current-thread runtime's timers move only while it runs, and a dropped
/// runtime's not at all.
#[test]
fn a_timer_is_lent_only_within_its_runtime() {
    let url = answers_then_stalls(1);
    finishes_within(Duration::from_secs(20), move || {
        let http = reqwest::Client::new();
        let policy = policy(Duration::from_millis(300));
        let attempt = |runtime: &tokio::runtime::Runtime| {
            runtime.block_on(once(&http, &url, &HeaderMap::new(), None, &policy))
        };
        let first = current_thread();
        assert!(attempt(&first).is_ok());
        // `first` is alive but idle: a timer borrowed from it would never fire.
        let second = current_thread();
        let stalled = attempt(&second);
        assert!(
            matches!(stalled, Err(Error::Timeout { .. })),
            "{:?}",
            stalled.err()
        );
        drop(first);
        drop(second);
        // Both are gone, their timers with them: a third runtime makes its own.
        let third = current_thread();
        let stalled = attempt(&third);
        assert!(
            matches!(stalled, Err(Error::Timeout { .. })),
            "{:?}",
            stalled.err()
        );
    });
}

#[test]
fn backoff_grows_and_is_capped() {
    let cap = Duration::from_secs(4);
    for attempt in 1..20 {
        let d = backoff(Duration::from_millis(100), attempt, cap);
        assert!(d <= cap);
        let ceiling = Duration::from_millis(100)
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(cap);
        assert!(d >= ceiling / 2);
    }
}
