//! The soak: 10,000 extractions, at most 256 in flight, against a local server that misbehaves in a
//! fixed mix (500s, 429s, cut connections, stalls past the timeout, invalid JSON, refusals,
//! truncations; see `common/soak.rs`). It checks that every call ends once, in the value or the typed
//! error its fault calls for (none lost, none wrong, none hung, none panicked), that the server saw
//! exactly the retries and reasks each fault calls for, that memory after the run is within 10% of
//! memory after a warm-up, and that no file descriptor outlives the client. It prints a table and
//! exits non-zero when a check fails.
//!
//! Server and client share this process, on runtimes (and threads) of their own, so the
//! descriptor counts cover both ends of every connection.
//!
//! ```sh
//! cargo bench -p extract --bench soak                                    # 10,000 at 256
//! cargo bench -p extract --bench soak -- --calls 2000 --concurrency 64   # a quick run
//! ```

#![allow(missing_docs)]

#[path = "common/soak.rs"]
mod soak;

use std::process::ExitCode;
use std::time::{Duration, Instant};

const MEMORY_TOLERANCE: f64 = 0.10;

struct Settings {
    calls: usize,
    concurrency: usize,
    warmup: usize,
    timeout: Duration,
}

fn settings() -> Settings {
    let mut out = Settings {
        calls: 10_000,
        concurrency: 256,
        warmup: 1_000,
        timeout: Duration::from_secs(2),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        match (args[i].as_str(), value) {
            ("--calls", Some(v)) => out.calls = v.parse().unwrap_or(out.calls),
            ("--concurrency", Some(v)) => {
                out.concurrency = v.parse().unwrap_or(out.concurrency).max(1)
            }
            ("--warmup", Some(v)) => out.warmup = v.parse().unwrap_or(out.warmup),
            ("--timeout-ms", Some(v)) => {
                out.timeout = v
                    .parse()
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map_or(out.timeout, Duration::from_millis)
            }
            // `cargo bench` passes `--bench`; anything else unknown is ignored too.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    out
}

/// Every allocation of the process goes through this counter, so the bytes held on the heap can be
/// read exactly: what a leak would grow. The resident set is read beside it, but it also holds what
/// glibc keeps in its arenas after a peak (freed, not returned), which depends on the most
/// connections open at once more than on anything kept.
#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// This process's memory, in KiB: the heap in use (counted by [`HEAP`]), and from
/// `/proc/self/status` all resident pages (`VmRSS`) and the anonymous ones alone (`RssAnon`: the heap
/// and stacks, without mapped files).
#[derive(Clone, Copy)]
struct Memory {
    heap: u64,
    rss: u64,
    anon: u64,
}

fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        heap: (HEAP.allocated() / 1024) as u64,
        rss: field("VmRSS:"),
        anon: field("RssAnon:"),
    }
}

fn growth(before: u64, after: u64) -> f64 {
    after as f64 / before.max(1) as f64 - 1.0
}

fn main() -> ExitCode {
    let settings = settings();
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("soak-server")
        .enable_all()
        .build()
        .expect("the server's runtime");
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("soak-client")
        .enable_all()
        .build()
        .expect("the clients' runtime");

    // Calls 0..warmup warm up; warmup..warmup+calls are the run. Everything the harness keeps per
    // call is allocated here, before the warm-up, and the verdicts are drawn after the memory is
    // read, so the figures are the client's and the server's.
    let total = settings.warmup + settings.calls;
    let server = soak::Server::new(total, settings.timeout * 2);
    let results = soak::Results::new(total);
    let base_url = server_runtime.block_on(soak::start(server.clone()));
    let watchdog = soak::watchdog(settings.timeout);

    let fds_before = soak::open_fds();
    let client = soak::client(&base_url, settings.timeout);

    let warmup = 0..settings.warmup;
    clients.block_on(soak::run(
        &client,
        warmup.clone(),
        settings.concurrency,
        watchdog,
        &results,
    ));
    // Both readings are taken at rest: every stalled reply's server end closed, the client's pool
    // idle.
    let rest = settings.timeout * 2 + Duration::from_millis(500);
    std::thread::sleep(rest);
    let memory_warm = memory();
    let fds_warm = soak::open_fds();
    let connections_warm = server.connections();

    let ids = settings.warmup..total;
    let started = Instant::now();
    clients.block_on(soak::run(
        &client,
        ids.clone(),
        settings.concurrency,
        watchdog,
        &results,
    ));
    let wall = started.elapsed();
    std::thread::sleep(rest);
    let memory_after = memory();
    let fds_after = soak::open_fds();
    let connections = server.connections() - connections_warm;
    let warm = soak::Verdict::of(&results, warmup, &server);
    let verdict = soak::Verdict::of(&results, ids, &server);

    // Dropping the client closes its pooled connections; the server's ends close when it reads the
    // end of them, and a stalled reply's end when its stall is over.
    drop(client);
    let fds_dropped = clients.block_on(soak::fds_settle(fds_before, settings.timeout * 3));

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "soak: {} calls at concurrency {} after a warm-up of {}; timeout {:?}, server and client 2 threads each, {} cores, load average {}",
        settings.calls,
        settings.concurrency,
        settings.warmup,
        settings.timeout,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!();
    println!("{:<20} {:>7}", "outcome", "calls");
    for (kind, count) in &verdict.by_kind {
        println!("{kind:<20} {count:>7}");
    }
    println!("{:<20} {:>7}", "total", verdict.reported());
    println!();
    println!(
        "wall {:.1} s, {:.0} calls/s, latency p50 {:.1} ms, p99 {:.0} ms",
        wall.as_secs_f64(),
        settings.calls as f64 / wall.as_secs_f64(),
        verdict.latency(0.50).as_secs_f64() * 1e3,
        verdict.latency(0.99).as_secs_f64() * 1e3,
    );
    println!(
        "connections opened: {connections_warm} in the warm-up, {connections} in the run ({} HTTP requests)",
        verdict.requests
    );
    println!(
        "memory (KiB)  after warm-up: heap {} VmRSS {} RssAnon {}   after the run: heap {} ({:+.1}%) VmRSS {} ({:+.1}%) RssAnon {} ({:+.1}%)",
        memory_warm.heap,
        memory_warm.rss,
        memory_warm.anon,
        memory_after.heap,
        growth(memory_warm.heap, memory_after.heap) * 100.0,
        memory_after.rss,
        growth(memory_warm.rss, memory_after.rss) * 100.0,
        memory_after.anon,
        growth(memory_warm.anon, memory_after.anon) * 100.0,
    );
    println!(
        "open fds  before: {fds_before}  after warm-up: {fds_warm}  after the run: {fds_after}  client dropped: {fds_dropped}"
    );
    println!();

    // The pool holds at most one connection per call in flight, and each has two ends here; a
    // stalled reply's server end outlives its client end by the stall.
    let fd_bound = fds_before + 3 * settings.concurrency;
    let checks = [
        (
            format!(
                "every call ended once, as its fault calls for ({} of {})",
                verdict.reported(),
                verdict.calls
            ),
            verdict.passed(),
        ),
        (
            "the warm-up passed the same checks".to_owned(),
            warm.passed(),
        ),
        (
            format!(
                "the server saw no request it could not place ({})",
                server.strays()
            ),
            server.strays() == 0,
        ),
        (
            format!(
                "heap in use after the run within {:.0}% of after the warm-up ({:+.1}%)",
                MEMORY_TOLERANCE * 100.0,
                growth(memory_warm.heap, memory_after.heap) * 100.0
            ),
            growth(memory_warm.heap, memory_after.heap) <= MEMORY_TOLERANCE,
        ),
        (
            format!(
                "open fds after the run at most {fd_bound} (before + 3 x concurrency): {fds_after}"
            ),
            fds_after <= fd_bound,
        ),
        (
            format!("open fds back to {fds_before} once the client is dropped: {fds_dropped}"),
            fds_dropped <= fds_before,
        ),
    ];
    let mut ok = true;
    for (check, passed) in &checks {
        println!("{} {check}", if *passed { "ok    " } else { "FAILED" });
        ok &= passed;
    }
    // Not a check: glibc keeps freed pages after the run's peak of open connections, so the
    // resident set moves by a few percent either way from one run to the next (see the README).
    println!(
        "note   VmRSS after the run {:+.1}% of after the warm-up ({})",
        growth(memory_warm.rss, memory_after.rss) * 100.0,
        if growth(memory_warm.rss, memory_after.rss) <= MEMORY_TOLERANCE {
            "within 10%"
        } else {
            "over 10%"
        }
    );
    for failures in [warm.failures(), verdict.failures()] {
        if !failures.is_empty() {
            print!("\n{failures}");
        }
    }
    server_runtime.shutdown_background();
    clients.shutdown_background();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
