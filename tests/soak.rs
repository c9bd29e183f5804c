//! A short soak for CI: 1,000 extractions, at most 64 in flight, against the soak server, which
//! misbehaves in a fixed mix (500s, 429s, connections cut mid-body, stalls past the timeout, invalid
//! JSON, refusals, truncations). Every call must end once, in the value or typed error its fault
//! calls for, after exactly the requests its fault calls for, and no descriptor may outlive the
//! client. The harness is the soak benchmark's; the full run (10,000 at 256, with memory) is
//! `cargo bench -p extract --bench soak`.

#[path = "../extract/benches/common/soak.rs"]
mod soak;

use std::time::Duration;

use soak::{Fault, Outcome, Results, Server, Verdict};

const CALLS: usize = 1_000;
const CONCURRENCY: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_faulty_call_ends_as_its_fault_calls_for_and_no_descriptor_leaks() {
    let timeout = Duration::from_secs(1);
    let server = Server::new(CALLS, timeout * 2);
    let base_url = soak::start(server.clone()).await;
    let before = soak::open_fds();
    let client = soak::client(&base_url, timeout);

    let results = Results::new(CALLS);
    soak::run(
        &client,
        0..CALLS,
        CONCURRENCY,
        soak::watchdog(timeout),
        &results,
    )
    .await;
    let verdict = Verdict::of(&results, 0..CALLS, &server);
    assert!(verdict.passed(), "{}", verdict.failures());
    assert_eq!(server.strays(), 0, "requests without a call number");
    // Each kind of end happened, as often as the mix has it.
    let mut expected = std::collections::BTreeMap::new();
    for id in 0..CALLS {
        *expected
            .entry(soak::fault(id).expected().kind())
            .or_insert(0) += 1;
    }
    assert_eq!(verdict.by_kind, expected);
    assert_eq!(expected.len(), 8, "{expected:?}");

    drop(client);
    let after = soak::fds_settle(before, timeout * 3).await;
    assert!(
        after <= before,
        "{before} descriptors open before the calls, {after} after the client was dropped"
    );
}

/// The checks the soak relies on do catch a lost call, a wrong outcome, a call reported twice and
/// a request too many or too few.
#[test]
fn the_verdict_catches_lost_wrong_repeated_and_miscounted_calls() {
    let server = Server::new(4, Duration::from_secs(1));
    let expected = |id| soak::fault(id).expected();
    // Every call ended as expected, but no request reached the server: each is miscounted.
    let results = Results::new(4);
    for id in 0..4 {
        results.record(id, expected(id), Duration::ZERO);
    }
    let verdict = Verdict::of(&results, 0..4, &server);
    assert!(verdict.wrong.is_empty() && verdict.lost.is_empty() && verdict.repeated.is_empty());
    assert_eq!(verdict.reported(), 4);
    assert_eq!(verdict.miscounted.len(), 4);
    assert!(!verdict.passed());

    assert_eq!(soak::fault(1), Fault::ServerErrorOnce);
    let results = Results::new(4);
    results.record(0, expected(0), Duration::ZERO);
    results.record(1, Outcome::Api { status: 500 }, Duration::ZERO);
    results.record(0, expected(0), Duration::ZERO);
    let verdict = Verdict::of(&results, 0..4, &server);
    assert_eq!(verdict.lost, [2, 3]);
    assert_eq!(verdict.repeated, [0]);
    assert_eq!(verdict.wrong.len(), 1);
    assert_eq!(verdict.wrong[0].0, 1);
    assert!(!verdict.passed());
}
