//! What `extract` adds on top of the HTTP call, under load: extractions per second, p50/p99 latency
//! and CPU per call at several concurrencies, beside a baseline in the same run. The baseline is the
//! hand-written client: reqwest, the same request body (checked byte for byte), the reply read with
//! serde_json into the same type, and nothing else (no lowering, no validation, no reasks).
//!
//! Both talk to a minimal OpenAI-compatible responder (hyper, HTTP/1.1, keep-alive) on 127.0.0.1 in
//! this process, which answers every request with the same canned chat completion. The responder and
//! the clients have runtimes of their own, so CPU time is read per thread (`/proc/self/task/*`,
//! nanoseconds from `schedstat`): "client CPU" is the client runtime's threads (request building,
//! HTTP, judging), "process CPU" adds the responder's. Each round runs both sides back to back (in
//! alternating order); a figure is the median over the rounds, and a ratio the median of the rounds'
//! ratios, so that a shared machine's load, which changes from one second to the next, weighs on
//! both sides of each ratio alike.
//!
//! ```sh
//! cargo bench -p extract --bench load                         # 1, 64, 256; 10 rounds of 1 s a side
//! cargo bench -p extract --bench load -- --secs 5 --rounds 5 --concurrency 64
//! cargo bench -p extract --bench load -- --only extract --rounds 1 --secs 10   # under a profiler
//! ```

#![allow(missing_docs)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::net::TcpListener;

use common::{CalendarEvent, EVENT};

const CLIENT_THREADS: &str = "load-client";
const SERVER_THREADS: &str = "load-server";
const TEXT: &str = "Alice and Bob are going to a science fair on Friday.";
const TARGET_THROUGHPUT: f64 = 0.9;
const TARGET_CPU: f64 = 1.2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    Baseline,
    Extract,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Baseline => "baseline",
            Side::Extract => "extract",
        }
    }
}

struct Settings {
    secs: f64,
    rounds: usize,
    concurrency: Vec<usize>,
    /// Only this side (for a profiler); no ratios then.
    only: Option<Side>,
}

fn settings() -> Settings {
    let mut out = Settings {
        secs: 1.0,
        rounds: 10,
        concurrency: vec![1, 64, 256],
        only: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        match (args[i].as_str(), value) {
            ("--secs", Some(v)) => out.secs = v.parse().unwrap_or(out.secs),
            ("--rounds", Some(v)) => out.rounds = v.parse().unwrap_or(out.rounds).max(1),
            ("--only", Some(v)) => {
                out.only = match v.as_str() {
                    "extract" => Some(Side::Extract),
                    "baseline" => Some(Side::Baseline),
                    _ => None,
                }
            }
            ("--concurrency", Some(v)) => {
                out.concurrency = v.split(',').filter_map(|c| c.trim().parse().ok()).collect()
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

// ---------------------------------------------------------------------------------------------
// The responder.

struct Responder {
    reply: Bytes,
    /// The first request body each side sent, to check that they send the same.
    first: [OnceLock<Bytes>; 2],
}

async fn respond(
    request: Request<Incoming>,
    state: Arc<Responder>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let side = usize::from(request.uri().path().starts_with("/extract/"));
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    state.first[side].get_or_init(|| body);
    let mut response = Response::new(Full::new(state.reply.clone()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

async fn serve(listener: TcpListener, state: Arc<Responder>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(request, state.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

// ---------------------------------------------------------------------------------------------
// The baseline: what one writes by hand with reqwest and serde_json.

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: [Message<'a>; 2],
    response_format: &'a RawValue,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ReplyMessage,
}

#[derive(Deserialize)]
struct ReplyMessage {
    content: String,
}

struct Baseline {
    http: reqwest::Client,
    url: String,
    system: String,
    response_format: Box<RawValue>,
}

impl Baseline {
    async fn call(&self) -> Result<CalendarEvent, String> {
        let body = Body {
            model: "bench-model",
            messages: [
                Message {
                    role: "system",
                    content: &self.system,
                },
                Message {
                    role: "user",
                    content: TEXT,
                },
            ],
            response_format: &self.response_format,
        };
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let reply = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .bytes()
            .await
            .map_err(|e| e.to_string())?;
        let completion: Completion = serde_json::from_slice(&reply).map_err(|e| e.to_string())?;
        let content = &completion
            .choices
            .first()
            .ok_or("no choice")?
            .message
            .content;
        serde_json::from_str(content).map_err(|e| e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// CPU time of this process's threads, all of them or those whose name starts with `prefix`.
fn cpu_time(prefix: Option<&str>) -> Duration {
    let mut total = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let path = task.path();
        if let Some(prefix) = prefix {
            let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if !name.starts_with(prefix) {
                continue;
            }
        }
        let stat = std::fs::read_to_string(path.join("schedstat")).unwrap_or_default();
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(total)
}

struct Sample {
    calls: usize,
    errors: usize,
    wall: Duration,
    latencies: Vec<Duration>,
    client_cpu: Duration,
    process_cpu: Duration,
}

impl Sample {
    fn per_sec(&self) -> f64 {
        self.calls as f64 / self.wall.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i]
    }
    fn cpu_per_call(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1e6 / self.calls.max(1) as f64
    }
}

async fn run(
    side: Side,
    concurrency: usize,
    duration: Duration,
    extract: &extract::Client,
    baseline: &Arc<Baseline>,
) -> Sample {
    let client_cpu = cpu_time(Some(CLIENT_THREADS));
    let process_cpu = cpu_time(None);
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let extract = extract.clone();
        let baseline = baseline.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                let ok = match side {
                    Side::Extract => extract
                        .extract::<CalendarEvent>(TEXT)
                        .await
                        .map(|e| e.value)
                        .map_err(|e| e.to_string()),
                    Side::Baseline => baseline.call().await,
                };
                match ok {
                    Ok(event) => {
                        std::hint::black_box(event);
                        latencies.push(t.elapsed());
                    }
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        if let Ok((mut l, e)) = worker.await {
            latencies.append(&mut l);
            errors += e;
        }
    }
    let wall = started.elapsed();
    latencies.sort_unstable();
    Sample {
        calls: latencies.len(),
        errors,
        wall,
        latencies,
        client_cpu: cpu_time(Some(CLIENT_THREADS)).saturating_sub(client_cpu),
        process_cpu: cpu_time(None).saturating_sub(process_cpu),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The medians over the rounds of one side at one concurrency.
struct Figures {
    per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    client_cpu_us: f64,
    process_cpu_us: f64,
    calls: usize,
    errors: usize,
}

fn figures(samples: &[Sample]) -> Figures {
    let of = |f: &dyn Fn(&Sample) -> f64| median(samples.iter().map(f).collect());
    Figures {
        per_sec: of(&|s| s.per_sec()),
        p50_us: of(&|s| s.percentile(0.50).as_secs_f64() * 1e6),
        p99_us: of(&|s| s.percentile(0.99).as_secs_f64() * 1e6),
        client_cpu_us: of(&|s| s.cpu_per_call(s.client_cpu)),
        process_cpu_us: of(&|s| s.cpu_per_call(s.process_cpu)),
        calls: samples.iter().map(|s| s.calls).sum(),
        errors: samples.iter().map(|s| s.errors).sum(),
    }
}

fn main() {
    let settings = settings();
    let duration = Duration::from_secs_f64(settings.secs);

    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()
        .expect("the responder's runtime");
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(CLIENT_THREADS)
        .enable_all()
        .build()
        .expect("the clients' runtime");

    let reply = serde_json::json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "bench-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": EVENT}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140}
    });
    let state = Arc::new(Responder {
        reply: Bytes::from(serde_json::to_vec(&reply).expect("the canned reply")),
        first: [OnceLock::new(), OnceLock::new()],
    });
    let listener = server
        .block_on(TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))))
        .expect("a port on 127.0.0.1");
    let addr = listener.local_addr().expect("the responder's address");
    server.spawn(serve(listener, state.clone()));

    let extract = extract::Client::builder()
        .base_url(format!("http://{addr}/extract/v1"))
        .model("bench-model")
        .build()
        .expect("the extract client");

    // One extraction first: the baseline sends exactly the body it saw (instructions and schema
    // included), and the two first bodies are compared byte for byte below.
    clients
        .block_on(extract.extract::<CalendarEvent>(TEXT).send())
        .expect("a first extraction");
    let sent: serde_json::Value =
        serde_json::from_slice(state.first[1].get().expect("the first body")).expect("JSON");
    let baseline = Arc::new(Baseline {
        http: reqwest::Client::new(),
        url: format!("http://{addr}/baseline/v1/chat/completions"),
        system: sent["messages"][0]["content"]
            .as_str()
            .expect("a system message")
            .to_owned(),
        response_format: serde_json::value::to_raw_value(&sent["response_format"])
            .expect("the response format"),
    });
    clients
        .block_on(baseline.call())
        .expect("a first baseline call");
    assert_eq!(
        state.first[0].get(),
        state.first[1].get(),
        "both sides must send the same body"
    );

    // The machine's load tells how much the figures can be trusted: other processes take CPU from
    // both sides, and time-share the caches.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load: {} rounds of {:.1} s per side and concurrency; 2 client threads, 2 responder threads, {} cores; load average {}",
        settings.rounds,
        settings.secs,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
    );
    println!(
        "request body {} bytes, reply {} bytes\n",
        state.first[1].get().map_or(0, Bytes::len),
        state.reply.len()
    );
    println!(
        "{:<9} {:>5} {:>11} {:>9} {:>9} {:>12} {:>13} {:>8}",
        "side", "conc", "calls/s", "p50 µs", "p99 µs", "client CPU", "process CPU", "errors"
    );
    println!(
        "{:<9} {:>5} {:>11} {:>9} {:>9} {:>12} {:>13} {:>8}",
        "", "", "", "", "", "µs/call", "µs/call", ""
    );
    let mut verdicts = Vec::new();
    for &concurrency in &settings.concurrency {
        let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
        // Warm-up: connections, caches, the allocator.
        for side in [Side::Baseline, Side::Extract] {
            if settings.only.is_some_and(|only| only != side) {
                continue;
            }
            let warm = clients.block_on(run(side, concurrency, duration / 4, &extract, &baseline));
            if settings.only.is_some() {
                // A profile covers the warm-up too: its calls, to count the work per call.
                println!(
                    "warm-up {} {concurrency}: {} calls",
                    side.name(),
                    warm.calls
                );
            }
        }
        for round in 0..settings.rounds {
            let order = if round % 2 == 0 {
                [Side::Baseline, Side::Extract]
            } else {
                [Side::Extract, Side::Baseline]
            };
            for side in order {
                if settings.only.is_some_and(|only| only != side) {
                    continue;
                }
                let sample =
                    clients.block_on(run(side, concurrency, duration, &extract, &baseline));
                samples[side as usize].push(sample);
            }
        }
        if let Some(only) = settings.only {
            let f = figures(&samples[only as usize]);
            println!(
                "{:<9} {:>5} {:>11.0} {:>9.0} {:>9.0} {:>12.1} {:>13.1} {:>8}",
                only.name(),
                concurrency,
                f.per_sec,
                f.p50_us,
                f.p99_us,
                f.client_cpu_us,
                f.process_cpu_us,
                f.errors
            );
            println!("{} calls in the rounds", f.calls);
            continue;
        }
        let base = figures(&samples[Side::Baseline as usize]);
        let ours = figures(&samples[Side::Extract as usize]);
        for (side, f) in [(Side::Baseline, &base), (Side::Extract, &ours)] {
            println!(
                "{:<9} {:>5} {:>11.0} {:>9.0} {:>9.0} {:>12.1} {:>13.1} {:>8}",
                side.name(),
                concurrency,
                f.per_sec,
                f.p50_us,
                f.p99_us,
                f.client_cpu_us,
                f.process_cpu_us,
                f.errors
            );
        }
        // Ratios of the two runs of each round (run back to back, so under the same conditions on a
        // shared machine), then their median.
        let pairs: Vec<(&Sample, &Sample)> = samples[Side::Extract as usize]
            .iter()
            .zip(&samples[Side::Baseline as usize])
            .collect();
        let ratio =
            |f: &dyn Fn(&Sample) -> f64| median(pairs.iter().map(|(o, b)| f(o) / f(b)).collect());
        let throughput = ratio(&|s| s.per_sec());
        let client_cpu = ratio(&|s| s.cpu_per_call(s.client_cpu));
        let process_cpu = ratio(&|s| s.cpu_per_call(s.process_cpu));
        println!(
            "{:<9} {:>5} {:>10.2}x {:>8.2}x {:>8.2}x {:>11.2}x {:>12.2}x   ({} + {} calls)",
            "ratio",
            concurrency,
            throughput,
            ratio(&|s| s.percentile(0.50).as_secs_f64()),
            ratio(&|s| s.percentile(0.99).as_secs_f64()),
            client_cpu,
            process_cpu,
            base.calls,
            ours.calls
        );
        if concurrency == 64 {
            verdicts.push(format!(
                "at concurrency 64: throughput {throughput:.2}x the baseline (target >= {TARGET_THROUGHPUT}): {}; client CPU per call {client_cpu:.2}x (target <= {TARGET_CPU}): {}",
                if throughput >= TARGET_THROUGHPUT { "met" } else { "MISSED" },
                if client_cpu <= TARGET_CPU { "met" } else { "MISSED" },
            ));
        }
    }
    println!();
    for verdict in verdicts {
        println!("{verdict}");
    }
    server.shutdown_background();
    clients.shutdown_background();
}
