//! Streaming a structured reply in 8-byte chunks into a typed partial value: the incremental parser
//! feeding `Enforceable::feed` in place, beside the naive way (per chunk, close the accumulated
//! text the way partial-JSON fixers do, re-parse it with serde_json and rebuild the partial value).
//!
//! `cargo bench -p extract --bench stream` prints criterion's figures, then a summary of the medians
//! and the ratios the streaming issue sets as targets (1 MiB at most 20x the 64 KiB cost; at 1 MiB
//! the incremental path at least 50x faster than the naive one). On Linux criterion measures the
//! thread's CPU time (see `cpu_time`); the summary shows the wall clock beside it.
//!
//! The naive path is quadratic: at 1 MiB one run re-parses 64 GiB of prefixes, about twenty
//! minutes of CPU here, far too long to sample. Since the cost of a chunk depends only on the length
//! of the prefix it re-parses, it is measured on every 256th chunk (the middle of each run of 256)
//! and multiplied by 256: `naive_estimate`. That estimate is calibrated against a full naive run at
//! 64 KiB in the same benchmark, and `EXTRACT_BENCH_NAIVE_FULL=1` adds one full, timed naive run at
//! 1 MiB to the summary for whoever has the time.
//!
//! It also measures the rest of a stream's path that must stay linear: the SSE framing of a body
//! that arrives in one chunk (64 KiB and 1 MiB of small events, and of blank lines, which the
//! eventsource-stream crate used before took seconds over), and `PartialStream::into_stream` over
//! a local server for replies of 64 KiB and 1 MiB in 8-byte deltas (owned snapshots, which used to
//! be rebuilt from the whole text at every update). Each 1 MiB case should cost at most 20x its
//! 64 KiB case. `cargo bench -p extract --bench stream -- 'sse|into_stream'` runs these alone.
//!
//! A 1 MiB run allocates a few MiB (the text, the partial value), which glibc gives back to the OS
//! when the run drops them, so every such run faults its pages in again, while a 64 KiB run reuses
//! warm memory; the summary counts the page faults. With memory kept warm, as in a process that
//! keeps streaming, `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456`
//! before the command, what remains is the algorithm's own cost.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};
use extract::stream::json::{Event, Parser, Seg};
use extract::Enforceable;
use serde::Deserialize;
use serde_json::Value;

// ---- The reply's types. They become `#[derive(Extract)]` types once the derive generates partial
// ---- types; until then the impls below are written as the derive will generate them.

/// The reply as the caller wants it in the end.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct Reply {
    title: String,
    items: Vec<Item>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct Item {
    name: String,
    quantity: u32,
    price: f64,
    tags: Vec<String>,
    note: String,
}

/// `Reply` while it arrives. `Deserialize` is only for the naive path, which builds it with serde.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
struct ReplyPartial {
    title: Option<String>,
    items: Option<Vec<Option<ItemPartial>>>,
}

#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
struct ItemPartial {
    name: Option<String>,
    quantity: Option<u32>,
    price: Option<f64>,
    tags: Option<Vec<Option<String>>>,
    note: Option<String>,
}

impl Enforceable for Reply {
    type Partial = ReplyPartial;
    fn feed(slot: &mut Option<ReplyPartial>, at: &[Seg], event: &Event<'_>) {
        match at.split_first() {
            None => {
                if let Event::Open = event {
                    slot.get_or_insert_with(ReplyPartial::default);
                }
            }
            Some((Seg::Key(key), rest)) => {
                let partial = slot.get_or_insert_with(ReplyPartial::default);
                match &**key {
                    "title" => String::feed(&mut partial.title, rest, event),
                    "items" => Vec::<Item>::feed(&mut partial.items, rest, event),
                    _ => {}
                }
            }
            Some((Seg::Index(_), _)) => {}
        }
    }
}

impl Enforceable for Item {
    type Partial = ItemPartial;
    fn feed(slot: &mut Option<ItemPartial>, at: &[Seg], event: &Event<'_>) {
        match at.split_first() {
            None => {
                if let Event::Open = event {
                    slot.get_or_insert_with(ItemPartial::default);
                }
            }
            Some((Seg::Key(key), rest)) => {
                let partial = slot.get_or_insert_with(ItemPartial::default);
                match &**key {
                    "name" => String::feed(&mut partial.name, rest, event),
                    "quantity" => u32::feed(&mut partial.quantity, rest, event),
                    "price" => f64::feed(&mut partial.price, rest, event),
                    "tags" => Vec::<String>::feed(&mut partial.tags, rest, event),
                    "note" => String::feed(&mut partial.note, rest, event),
                    _ => {}
                }
            }
            Some((Seg::Index(_), _)) => {}
        }
    }
}

// ---- SSE framing and `into_stream`.

/// About `size` bytes of small SSE events (an OpenAI delta each).
fn sse_events(size: usize) -> Vec<u8> {
    let event = "data: {\"choices\":[{\"delta\":{\"content\":\"abcdefgh\"}}]}\n\n";
    event.repeat(size / event.len()).into_bytes()
}

/// A reply whose value is one string field of `size` bytes, as an OpenAI stream of 8-byte deltas.
fn essay_stream(size: usize) -> Vec<u8> {
    let text = "abcdefgh".repeat(size / 8);
    let reply = serde_json::json!({ "text": text }).to_string();
    let mut body = String::new();
    for piece in reply.as_bytes().chunks(CHUNK) {
        let piece = String::from_utf8_lossy(piece);
        let event = serde_json::json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
        let _ = write!(body, "data: {event}\n\n");
    }
    let end = serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
    let _ = write!(body, "data: {end}\n\ndata: [DONE]\n\n");
    body.into_bytes()
}

/// A value of one long string, streamed through `into_stream`.
#[derive(Debug, Deserialize, schemars::JsonSchema, extract::Extract)]
struct Essay {
    #[allow(dead_code)]
    text: String,
}

/// A local server answering every request with `body` as an event stream, and a client for it.
struct Served {
    runtime: tokio::runtime::Runtime,
    client: extract::Client,
    _server: wiremock::MockServer,
}

fn serve(body: Vec<u8>) -> Served {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let server = runtime.block_on(async {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(
                wiremock::ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"),
            )
            .mount(&server)
            .await;
        server
    });
    let client = extract::Client::builder()
        .base_url(format!("{}/v1", server.uri()))
        .model("m")
        .max_response_bytes(256 << 20)
        .build()
        .expect("a client");
    Served {
        runtime,
        client,
        _server: server,
    }
}

/// One `into_stream` over the served reply; the number of items.
fn owned_snapshots(served: &Served) -> usize {
    use futures_util::StreamExt;
    served.runtime.block_on(async {
        let items = served
            .client
            .extract::<Essay>("text")
            .stream()
            .into_stream()
            .collect::<Vec<_>>()
            .await;
        assert!(matches!(
            items.last(),
            Some(Ok(extract::stream::Snapshot::Done(_)))
        ));
        items.len()
    })
}

// ---- The document and its chunks.

const CHUNK: usize = 8;

/// A reply of about `size` bytes: a title and items like the issue's, repeated.
fn document(size: usize) -> String {
    let mut doc = String::from(r#"{"title": "Order for \"Ada\" – café supplies", "items": ["#);
    let mut i = 0u32;
    while doc.len() + 2 < size {
        if i > 0 {
            doc.push_str(", ");
        }
        let _ = write!(
            doc,
            r#"{{"name": "item {i}", "quantity": {}, "price": 1.25, "tags": ["a","b"], "note": "text with \"escapes\" and unicode é"}}"#,
            i % 100
        );
        i += 1;
    }
    doc.push_str("]}");
    doc
}

/// `CHUNK`-byte pieces of `doc`, each extended to the end of its last character, as text deltas
/// arrive (one at a time: a list of them would weigh more than the document).
fn chunks(doc: &str) -> impl Iterator<Item = &str> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= doc.len() {
            return None;
        }
        let mut end = (start + CHUNK).min(doc.len());
        while !doc.is_char_boundary(end) {
            end += 1;
        }
        let chunk = doc.get(start..end);
        start = end;
        chunk
    })
}

// ---- The incremental path.

/// Streams the chunks through the parser into the partial value; returns it with the number of
/// chunks after which it changed (when a stream would yield it).
fn incremental(doc: &str) -> (Option<ReplyPartial>, usize) {
    let mut parser = Parser::lenient();
    let mut partial: Option<ReplyPartial> = None;
    let mut updates = 0;
    for chunk in chunks(doc) {
        let mut changed = false;
        parser
            .feed(chunk.as_bytes(), |at, event| {
                Reply::feed(&mut partial, at, event);
                changed = true;
            })
            .expect("a valid document");
        if changed {
            updates += 1;
            black_box(&partial);
        }
    }
    parser
        .finish(|at, event| Reply::feed(&mut partial, at, event))
        .expect("a complete document");
    (partial, updates)
}

// ---- The naive path.

/// What partial-JSON fixers do to make a prefix parse: cut it after its last complete token (a
/// string value may be cut anywhere outside an escape), close an open string, close the open
/// brackets. `None` when nothing is complete yet.
fn close_partial_json(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut closers: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut in_key = false;
    let mut expect_key = false;
    let (mut cut, mut cut_in_string, mut cut_depth) = (0, false, 0);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if in_string {
            match b {
                b'\\' => {
                    // An escape is whole or cut off: `\uXXXX` takes 4 more bytes.
                    let len = if bytes.get(i + 1) == Some(&b'u') {
                        6
                    } else {
                        2
                    };
                    if i + len > bytes.len() {
                        break;
                    }
                    i += len - 1;
                }
                b'"' => {
                    in_string = false;
                    if !in_key {
                        (cut, cut_in_string, cut_depth) = (i + 1, false, closers.len());
                    }
                }
                _ => {}
            }
            if in_string && !in_key && text.is_char_boundary(i + 1) {
                (cut, cut_in_string, cut_depth) = (i + 1, true, closers.len());
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                in_key = expect_key;
                expect_key = false;
            }
            b'{' | b'[' => {
                closers.push(if b == b'{' { b'}' } else { b']' });
                expect_key = b == b'{';
                (cut, cut_in_string, cut_depth) = (i + 1, false, closers.len());
            }
            b'}' | b']' => {
                closers.pop();
                expect_key = false;
                (cut, cut_in_string, cut_depth) = (i + 1, false, closers.len());
            }
            b',' => expect_key = closers.last() == Some(&b'}'),
            b'0'..=b'9' => (cut, cut_in_string, cut_depth) = (i + 1, false, closers.len()),
            b't' | b'f' | b'n' => {
                let word: &[u8] = match b {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                if !bytes[i..].starts_with(word) {
                    break;
                }
                i += word.len() - 1;
                (cut, cut_in_string, cut_depth) = (i + 1, false, closers.len());
            }
            _ => {}
        }
        i += 1;
    }
    if cut == 0 {
        return None;
    }
    let mut fixed = String::with_capacity(cut + 1 + cut_depth);
    fixed.push_str(&text[..cut]);
    if cut_in_string {
        fixed.push('"');
    }
    fixed.extend(closers[..cut_depth].iter().rev().map(|&c| char::from(c)));
    Some(fixed)
}

/// The partial value from the whole accumulated text, as libraries without an incremental parser
/// do per chunk: fix, parse into a `Value`, build the partial type with serde.
fn reparse(text: &str) -> Option<ReplyPartial> {
    let fixed = close_partial_json(text)?;
    let value: Value = serde_json::from_str(&fixed).ok()?;
    serde_json::from_value(value).ok()
}

/// Streams the chunks the naive way, re-parsing after every `every`-th chunk only (1: all of them;
/// the middle chunk of each run of `every`), so that a sampled run costs about `1/every` of a full
/// one.
fn naive(doc: &str, every: usize) -> (Option<ReplyPartial>, usize) {
    let mut text = String::with_capacity(doc.len());
    let mut partial: Option<ReplyPartial> = None;
    let mut updates = 0;
    for (n, chunk) in chunks(doc).enumerate() {
        text.push_str(chunk);
        if n % every != every / 2 {
            continue;
        }
        let Some(next) = reparse(&text) else {
            continue;
        };
        // A changed value must be told apart from the previous one by comparing them.
        if partial.as_ref() != Some(&next) {
            partial = Some(next);
            updates += 1;
            black_box(&partial);
        }
    }
    (partial, updates)
}

// ---- Measurement.

/// The time this thread spent on a CPU (Linux; elsewhere, the wall clock). On a machine shared with
/// other work, wall-clock medians grow with the neighbours' load, and more for long runs than for
/// short ones, which would skew the ratios; CPU time counts only this work (page faults included).
#[cfg(target_os = "linux")]
fn cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or_default(),
        u32::try_from(now.tv_nsec).unwrap_or_default(),
    )
}

#[cfg(not(target_os = "linux"))]
fn cpu_time() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// The per-iteration CPU and wall-clock times of each benchmark's samples (criterion computes its
/// median from the same per-iteration times), kept so the summary can put them side by side.
#[derive(Default)]
struct Samples(RefCell<BTreeMap<String, Vec<(f64, f64)>>>);

impl Samples {
    fn record(&self, id: &str, iters: u64, cpu: Duration, wall: Duration) {
        let iters = iters.max(1) as f64;
        self.0
            .borrow_mut()
            .entry(id.to_owned())
            .or_default()
            .push((cpu.as_secs_f64() / iters, wall.as_secs_f64() / iters));
    }

    /// The medians (CPU, wall) over the last `n` samples: criterion warms up with the same
    /// routine first.
    fn medians(&self, id: &str, n: usize) -> Option<(f64, f64)> {
        let samples = self.0.borrow();
        let all = samples.get(id)?;
        let last = all.get(all.len().checked_sub(n)?..)?;
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            let mid = values.len() / 2;
            if values.len().is_multiple_of(2) {
                (values[mid - 1] + values[mid]) / 2.0
            } else {
                values[mid]
            }
        };
        Some((
            median(last.iter().map(|s| s.0).collect()),
            median(last.iter().map(|s| s.1).collect()),
        ))
    }
}

/// A benchmark: its group and id, sample count, measurement seconds, and routine.
type Bench<'a> = (&'a str, &'a str, usize, u64, &'a dyn Fn() -> usize);

const FAST_SAMPLES: usize = 30;
const SLOW_SAMPLES: usize = 10;
const SAMPLED_EVERY: usize = 256;

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .configure_from_args();
    let samples = Samples::default();
    let small = document(64 * 1024);
    let large = document(1024 * 1024);
    // Before anything else has shaped the allocator's state: see `summary`.
    let faults = (faults_per_run(&small), faults_per_run(&large));

    // Both paths build the same value, and it is the whole reply.
    let (from_events, _) = incremental(&small);
    assert_eq!(from_events, naive(&small, 1).0);
    assert_eq!(from_events, reparse(&small));
    let reply: Reply = serde_json::from_str(&small).expect("a valid document");
    let items = from_events
        .as_ref()
        .and_then(|partial| partial.items.as_ref())
        .map_or(0, Vec::len);
    assert_eq!(items, reply.items.len());

    let mut run = |name: &str,
                   id: &str,
                   sample_size: usize,
                   measurement: Duration,
                   routine: &dyn Fn() -> usize| {
        let full_id = format!("{name}/{id}");
        let mut group = criterion.benchmark_group(name);
        group.sample_size(sample_size).measurement_time(measurement);
        if sample_size == SLOW_SAMPLES {
            group.sampling_mode(SamplingMode::Flat);
        }
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let (cpu, wall) = (cpu_time(), Instant::now());
                for _ in 0..iters {
                    black_box(routine());
                }
                let (cpu, wall) = (cpu_time().saturating_sub(cpu), wall.elapsed());
                samples.record(&full_id, iters, cpu, wall);
                cpu
            })
        });
        group.finish();
    };
    let (events_small, events_large) = (sse_events(64 * 1024), sse_events(1024 * 1024));
    let (blank_small, blank_large) = (vec![b'\n'; 64 * 1024], vec![b'\n'; 1024 * 1024]);
    assert_eq!(
        extract::__bench::sse_payloads(&events_small),
        events_small.len() / 54
    );
    let (essay_small, essay_large) = (
        serve(essay_stream(64 * 1024)),
        serve(essay_stream(1024 * 1024)),
    );
    let benches: [Bench<'_>; 11] = [
        ("sse", "events 64KiB", FAST_SAMPLES, 3, &|| {
            extract::__bench::sse_payloads(&events_small)
        }),
        ("sse", "events 1MiB", FAST_SAMPLES, 5, &|| {
            extract::__bench::sse_payloads(&events_large)
        }),
        ("sse", "blank 64KiB", FAST_SAMPLES, 3, &|| {
            extract::__bench::sse_payloads(&blank_small)
        }),
        ("sse", "blank 1MiB", FAST_SAMPLES, 5, &|| {
            extract::__bench::sse_payloads(&blank_large)
        }),
        ("into_stream", "64KiB", SLOW_SAMPLES, 5, &|| {
            owned_snapshots(&essay_small)
        }),
        ("into_stream", "1MiB", SLOW_SAMPLES, 30, &|| {
            owned_snapshots(&essay_large)
        }),
        ("incremental", "64KiB", FAST_SAMPLES, 3, &|| {
            incremental(&small).1
        }),
        ("incremental", "1MiB", FAST_SAMPLES, 10, &|| {
            incremental(&large).1
        }),
        ("naive", "64KiB", SLOW_SAMPLES, 40, &|| naive(&small, 1).1),
        // The estimates' routines take a sampled run's time; it is scaled to a full run in the
        // summary, where only the median is needed.
        ("naive_estimate", "64KiB", SLOW_SAMPLES, 1, &|| {
            naive(&small, SAMPLED_EVERY).1
        }),
        ("naive_estimate", "1MiB", SLOW_SAMPLES, 80, &|| {
            naive(&large, SAMPLED_EVERY).1
        }),
    ];
    for (name, id, sample_size, seconds, routine) in benches {
        run(name, id, sample_size, Duration::from_secs(seconds), routine);
    }

    criterion.final_summary();
    if std::env::args().any(|arg| arg == "--bench") {
        summary(&samples, &large, faults);
        linear_summary(&samples);
    }
}

/// The SSE framing's and `into_stream`'s figures: each 1 MiB case against its 64 KiB case.
fn linear_summary(samples: &Samples) {
    let pairs = [
        (
            "sse events",
            "sse/events 64KiB",
            "sse/events 1MiB",
            FAST_SAMPLES,
        ),
        (
            "sse blank lines",
            "sse/blank 64KiB",
            "sse/blank 1MiB",
            FAST_SAMPLES,
        ),
        (
            "into_stream",
            "into_stream/64KiB",
            "into_stream/1MiB",
            SLOW_SAMPLES,
        ),
    ];
    for (label, small, large, n) in pairs {
        let (Some((s_cpu, s_wall)), Some((l_cpu, l_wall))) =
            (samples.medians(small, n), samples.medians(large, n))
        else {
            println!("  {label}: not run");
            continue;
        };
        let ratio = l_cpu / s_cpu;
        let verdict = if ratio <= 20.0 { "met" } else { "NOT met" };
        println!(
            "  {label}: 64 KiB {s_cpu:.6} s CPU ({s_wall:.6} wall), 1 MiB {l_cpu:.6} s CPU ({l_wall:.6} wall): {ratio:.1}x CPU, {:.1}x wall (target <= 20x: {verdict})",
            l_wall / s_wall
        );
    }
    if let (Some((events, _)), Some((blank, _))) = (
        samples.medians("sse/events 64KiB", FAST_SAMPLES),
        samples.medians("sse/blank 1MiB", FAST_SAMPLES),
    ) {
        println!(
            "  sse blank lines 1 MiB / events 64 KiB: {:.1}x CPU",
            blank / events
        );
    }
}

fn summary(samples: &Samples, large: &str, faults: (Option<u64>, Option<u64>)) {
    let fast = |id: &str| samples.medians(id, FAST_SAMPLES);
    let slow = |id: &str| samples.medians(id, SLOW_SAMPLES);
    let scale = SAMPLED_EVERY as f64;
    let scaled = |id: &str| slow(id).map(|(cpu, wall)| (cpu * scale, wall * scale));
    let rows = [
        ("incremental 64 KiB", fast("incremental/64KiB")),
        ("incremental 1 MiB", fast("incremental/1MiB")),
        ("naive 64 KiB", slow("naive/64KiB")),
        ("naive 64 KiB, estimated", scaled("naive_estimate/64KiB")),
        ("naive 1 MiB, estimated", scaled("naive_estimate/1MiB")),
    ];
    println!("\nsummary: medians of the measured samples, per run (CPU time, as criterion measured; wall clock)");
    for (label, medians) in &rows {
        match medians {
            Some((cpu, wall)) => println!("  {label:<26} {cpu:>12.6} s  {wall:>12.6} s"),
            None => println!("  {label:<26} not run"),
        }
    }
    println!("  (estimated: every {SAMPLED_EVERY}th chunk re-parsed, times {SAMPLED_EVERY})");
    let ratio = |a: Option<(f64, f64)>, b: Option<(f64, f64)>| {
        let ((a_cpu, a_wall), (b_cpu, b_wall)) = (a?, b?);
        Some((a_cpu / b_cpu, a_wall / b_wall))
    };
    let [(_, inc_small), (_, inc_large), (_, naive_small), (_, est_small), (_, est_large)] = rows;
    if let Some((cpu, wall)) = ratio(inc_large, inc_small) {
        let verdict = if cpu <= 20.0 { "met" } else { "NOT met" };
        println!("  incremental 1 MiB / 64 KiB: {cpu:.1}x CPU, {wall:.1}x wall (target <= 20x: {verdict})");
    }
    if let Some((cpu, wall)) = ratio(est_small, naive_small) {
        println!("  naive 64 KiB estimate / full run: {cpu:.3} CPU, {wall:.3} wall (the estimate's calibration)");
    }
    if let Some((cpu, wall)) = ratio(est_large, inc_large) {
        let verdict = if cpu >= 50.0 { "met" } else { "NOT met" };
        println!("  naive / incremental at 1 MiB: {cpu:.0}x CPU, {wall:.0}x wall (target >= 50x: {verdict})");
    }
    // The part of the large run's cost that is the memory system's, not the parser's: see the
    // module docs.
    if let (Some(small), Some(large)) = faults {
        println!("  page faults per incremental run: 64 KiB {small}, 1 MiB {large}");
    }
    if std::env::var_os("EXTRACT_BENCH_NAIVE_FULL").is_some() {
        let (cpu, wall) = (cpu_time(), Instant::now());
        black_box(naive(large, 1));
        let (cpu, wall) = (cpu_time().saturating_sub(cpu), wall.elapsed());
        println!(
            "  naive 1 MiB, one full run: {:.1} s CPU, {:.1} s wall",
            cpu.as_secs_f64(),
            wall.as_secs_f64()
        );
        if let Some((inc_cpu, inc_wall)) = inc_large {
            println!(
                "  naive (full run) / incremental at 1 MiB: {:.0}x CPU, {:.0}x wall",
                cpu.as_secs_f64() / inc_cpu,
                wall.as_secs_f64() / inc_wall
            );
        }
    }
}

/// The minor page faults of one incremental run (Linux only).
fn faults_per_run(doc: &str) -> Option<u64> {
    black_box(incremental(doc));
    let before = minor_faults()?;
    black_box(incremental(doc));
    Some(minor_faults()?.saturating_sub(before))
}

/// The minor page faults of this process so far, from `/proc/self/stat`.
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may contain spaces; `minflt` is the 8th field after it.
    let fields = stat.rsplit_once(')')?.1;
    fields.split_whitespace().nth(7)?.parse().ok()
}
