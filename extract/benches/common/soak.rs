//! The soak harness, shared by `extract/benches/soak.rs` (10,000 calls, with memory figures) and
//! `tests/soak.rs` (a CI-sized run): an OpenAI-compatible server in this process that misbehaves in
//! a fixed mix chosen by each request's call number, and a driver that runs many extractions, at
//! most C at a time, and holds every outcome against the one its call's fault calls for.
//!
//! The call number travels in the input text, so the server needs no other state than a count of
//! the requests it saw for each call; that count is checked too (a retry or reask too many or too
//! few is as wrong as a wrong outcome). Each value names its call, so a reply handed to the wrong
//! caller is caught.
#![allow(dead_code)] // the test uses less of it than the bench

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use extract::{Cut, Error, StopReason};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Transport retries the soak client makes (so a call that always fails in transport is sent
/// `TRANSPORT_RETRIES + 1` times).
pub(crate) const TRANSPORT_RETRIES: u32 = 2;
/// Reasks the soak client allows.
pub(crate) const REASKS: u32 = 2;
/// What the server asks a rate-limited call to wait, once: short, and honoured.
const SHORT_RETRY_AFTER: u64 = 1;
/// What it asks for on the calls that stay limited: longer than the client's `max_retry_delay`, so
/// the client gives the delay back to the caller instead of sleeping.
const LONG_RETRY_AFTER: u64 = 60;
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);
/// Marks the call number in the input text.
const MARK: &[u8] = b"soak call ";
/// Not JSON at all; it has no quotes, so it appears verbatim in the reask's request body.
const INVALID: &str = "{name: Science fair, date: Friday";
const REFUSAL: &str = "I cannot help with that.";

/// What the server does with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Fault {
    /// A valid reply.
    Valid,
    /// 500, then a valid reply to the transport retry.
    ServerErrorOnce,
    /// 429 with a short `Retry-After`, then a valid reply.
    RateLimitedOnce,
    /// The connection closed in the middle of the body, then a valid reply on a new connection.
    CutOnce,
    /// Text that is not JSON, then a valid reply to the reask (if the reask quotes it).
    InvalidOnce,
    /// A refusal.
    Refusal,
    /// A reply cut at the token limit (`finish_reason: "length"`).
    Length,
    /// Headers and half the body, then nothing for twice the client's timeout.
    Stall,
    /// The connection closed mid-body on every attempt.
    CutAlways,
    /// 500 on every attempt.
    ServerErrorAlways,
    /// 429 asking for longer than the client will wait.
    RateLimitedLong,
    /// The same text that is not JSON, every time.
    InvalidAlways,
}

/// The mix, repeated over the call numbers: 13 valid calls in 24, each fault once.
const MIX: [Fault; 24] = {
    use Fault::*;
    [
        Valid,
        ServerErrorOnce,
        Valid,
        RateLimitedOnce,
        Valid,
        CutOnce,
        Valid,
        InvalidOnce,
        Valid,
        Refusal,
        Valid,
        Length,
        Valid,
        Stall,
        Valid,
        CutAlways,
        Valid,
        ServerErrorAlways,
        Valid,
        RateLimitedLong,
        Valid,
        InvalidAlways,
        Valid,
        Valid,
    ]
};

/// The fault of call `id`.
pub(crate) fn fault(id: usize) -> Fault {
    MIX[id % MIX.len()]
}

impl Fault {
    /// The one outcome this fault must end in.
    pub(crate) fn expected(self) -> Outcome {
        match self {
            Fault::Valid | Fault::ServerErrorOnce | Fault::RateLimitedOnce | Fault::CutOnce => {
                Outcome::Value { attempts: 1 }
            }
            Fault::InvalidOnce => Outcome::Value { attempts: 2 },
            Fault::Refusal => Outcome::Refusal,
            Fault::Length => Outcome::Truncated,
            Fault::Stall => Outcome::Timeout,
            Fault::CutAlways => Outcome::Transport {
                attempts: TRANSPORT_RETRIES + 1,
            },
            Fault::ServerErrorAlways => Outcome::Api { status: 500 },
            Fault::RateLimitedLong => Outcome::RateLimited {
                retry_after_secs: Some(LONG_RETRY_AFTER),
            },
            Fault::InvalidAlways => Outcome::Invalid {
                attempts: 2,
                stop: StopReason::RepeatedErrors,
            },
        }
    }

    /// How many HTTP requests the server must see for a call with this fault.
    pub(crate) fn requests(self) -> u32 {
        match self {
            Fault::Valid
            | Fault::Refusal
            | Fault::Length
            | Fault::Stall
            | Fault::RateLimitedLong => 1,
            Fault::ServerErrorOnce
            | Fault::RateLimitedOnce
            | Fault::CutOnce
            | Fault::InvalidOnce
            | Fault::InvalidAlways => 2,
            Fault::CutAlways | Fault::ServerErrorAlways => TRANSPORT_RETRIES + 1,
        }
    }
}

/// How one call ended, reduced to what the checks compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The value, naming its own call, after this many model calls.
    Value {
        attempts: u32,
    },
    /// A value, but not the one this call was sent.
    WrongValue(String),
    Refusal,
    Truncated,
    Timeout,
    Transport {
        attempts: u32,
    },
    Api {
        status: u16,
    },
    RateLimited {
        retry_after_secs: Option<u64>,
    },
    Invalid {
        attempts: u32,
        stop: StopReason,
    },
    /// Any other error, or a known kind with unexpected details (shown whole).
    OtherError(String),
    /// The extraction's task panicked.
    Panicked,
    /// The extraction did not end within the watchdog's time.
    Hung,
}

impl Outcome {
    /// The row of the table this outcome is counted in.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Outcome::Value { .. } => "value",
            Outcome::WrongValue(_) => "WRONG value",
            Outcome::Refusal => "Error::Refusal",
            Outcome::Truncated => "Error::Truncated",
            Outcome::Timeout => "Error::Timeout",
            Outcome::Transport { .. } => "Error::Transport",
            Outcome::Api { .. } => "Error::Api",
            Outcome::RateLimited { .. } => "Error::RateLimited",
            Outcome::Invalid { .. } => "Error::Invalid",
            Outcome::OtherError(_) => "other error",
            Outcome::Panicked => "PANICKED",
            Outcome::Hung => "HUNG",
        }
    }

    fn of(id: usize, result: Result<extract::Extraction<Event>, Error>) -> Outcome {
        match result {
            Ok(done) => {
                let event = &done.value;
                if event.name == format!("call {id}")
                    && event.date == "Friday"
                    && event.participants == ["Alice", "Bob"]
                {
                    Outcome::Value {
                        attempts: done.attempts,
                    }
                } else {
                    Outcome::WrongValue(format!("{event:?}"))
                }
            }
            Err(Error::Refusal { refusal, .. }) if refusal == REFUSAL => Outcome::Refusal,
            Err(Error::Truncated {
                cause: Cut::TokenLimit,
                ..
            }) => Outcome::Truncated,
            Err(Error::Timeout { .. }) => Outcome::Timeout,
            Err(Error::Transport { attempts, .. }) => Outcome::Transport { attempts },
            Err(Error::Api { status, .. }) => Outcome::Api { status },
            Err(Error::RateLimited { retry_after, .. }) => Outcome::RateLimited {
                retry_after_secs: retry_after.map(|d| d.as_secs()),
            },
            Err(Error::Invalid { attempts, stop, .. }) => Outcome::Invalid { attempts, stop },
            Err(other) => Outcome::OtherError(format!("{other:?}")),
        }
    }
}

/// What the soak extracts; the server's valid replies name the call in `name`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema, extract::Extract)]
pub(crate) struct Event {
    pub(crate) name: String,
    pub(crate) date: String,
    pub(crate) participants: Vec<String>,
}

/// The input text of call `id`.
pub(crate) fn input(id: usize) -> String {
    format!("soak call {id}: Alice and Bob are going to a science fair on Friday.")
}

/// The client every soak run uses: a short timeout, a small backoff, a short `max_retry_delay`.
pub(crate) fn client(base_url: &str, timeout: Duration) -> extract::Client {
    extract::Client::builder()
        .base_url(base_url)
        .model("soak-model")
        .timeout(timeout)
        .max_resends(TRANSPORT_RETRIES)
        .initial_backoff(Duration::from_millis(10))
        .max_retry_delay(MAX_RETRY_DELAY)
        .max_reasks(REASKS)
        .build()
        .unwrap_or_else(|e| panic!("the soak client: {e}"))
}

/// The longest one call can take when nothing hangs: every model call, every transport attempt
/// at the full timeout, every wait at its cap; the watchdog allows twice that.
pub(crate) fn watchdog(timeout: Duration) -> Duration {
    let attempts = (REASKS + 1) * (TRANSPORT_RETRIES + 1);
    (timeout + MAX_RETRY_DELAY) * attempts * 2
}

// ---------------------------------------------------------------------------------------------
// The server.

/// What the server knows: how many requests each call has sent, and how many requests it could
/// not place.
pub(crate) struct Server {
    hits: Vec<AtomicU32>,
    strays: AtomicUsize,
    connections: AtomicUsize,
    stall: Duration,
}

impl Server {
    /// A server for call numbers `0..calls`, stalling `stall` on [`Fault::Stall`].
    pub(crate) fn new(calls: usize, stall: Duration) -> Arc<Server> {
        Arc::new(Server {
            hits: (0..calls).map(|_| AtomicU32::new(0)).collect(),
            strays: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            stall,
        })
    }

    /// Requests that carried no call number it knows.
    pub(crate) fn strays(&self) -> usize {
        self.strays.load(Ordering::Relaxed)
    }

    /// Connections accepted.
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Requests seen for call `id`.
    pub(crate) fn hits(&self, id: usize) -> u32 {
        self.hits.get(id).map_or(0, |h| h.load(Ordering::Relaxed))
    }
}

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Binds 127.0.0.1 on a free port and serves `server` on the current runtime; returns the base URL.
pub(crate) async fn start(server: Arc<Server>) -> String {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap_or_else(|e| panic!("a port on 127.0.0.1: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the server's address: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            server.connections.fetch_add(1, Ordering::Relaxed);
            let server = server.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| respond(request, server.clone()));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{addr}/v1")
}

async fn respond(
    request: Request<Incoming>,
    server: Arc<Server>,
) -> Result<Response<Body>, Infallible> {
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let Some((id, hits)) = call_id(&body).and_then(|id| Some((id, server.hits.get(id)?))) else {
        server.strays.fetch_add(1, Ordering::Relaxed);
        return Ok(error(StatusCode::BAD_REQUEST, "no soak call number"));
    };
    let n = hits.fetch_add(1, Ordering::Relaxed) + 1;
    let valid = || completion(Some(&valid_content(id)), None, "stop");
    Ok(match (fault(id), n) {
        (Fault::Valid, _) => json(valid()),
        (Fault::ServerErrorOnce, 1) | (Fault::ServerErrorAlways, _) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server is having a moment",
        ),
        (Fault::RateLimitedOnce, 1) => rate_limited(SHORT_RETRY_AFTER),
        (Fault::RateLimitedLong, _) => rate_limited(LONG_RETRY_AFTER),
        (Fault::CutOnce, 1) | (Fault::CutAlways, _) => broken(valid(), None),
        (Fault::Stall, _) => broken(valid(), Some(server.stall)),
        (Fault::InvalidOnce, 1) | (Fault::InvalidAlways, _) => {
            json(completion(Some(INVALID), None, "stop"))
        }
        // The reask must quote the invalid reply back to the model.
        (Fault::InvalidOnce, _) if !contains(&body, INVALID.as_bytes()) => error(
            StatusCode::BAD_REQUEST,
            "the reask does not carry the previous reply",
        ),
        (
            Fault::ServerErrorOnce | Fault::RateLimitedOnce | Fault::CutOnce | Fault::InvalidOnce,
            _,
        ) => json(valid()),
        (Fault::Refusal, _) => json(completion(None, Some(REFUSAL), "stop")),
        (Fault::Length, _) => {
            let content = valid_content(id);
            json(completion(
                Some(&content[..content.len() / 2]),
                None,
                "length",
            ))
        }
    })
}

fn valid_content(id: usize) -> String {
    format!(r#"{{"name":"call {id}","date":"Friday","participants":["Alice","Bob"]}}"#)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The call number in a request body: the digits after [`MARK`].
fn call_id(body: &[u8]) -> Option<usize> {
    let at = body.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&body[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

fn completion(content: Option<&str>, refusal: Option<&str>, finish_reason: &str) -> Bytes {
    let reply = serde_json::json!({
        "id": "chatcmpl-soak",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "soak-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "finish_reason": finish_reason,
        }],
        "usage": {"prompt_tokens": 120, "completion_tokens": 20, "total_tokens": 140},
    });
    Bytes::from(serde_json::to_vec(&reply).unwrap_or_default())
}

fn json(body: Bytes) -> Response<Body> {
    let mut response = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": {"message": message, "type": "soak", "code": null}});
    let mut response = json(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()));
    *response.status_mut() = status;
    response
}

fn rate_limited(secs: u64) -> Response<Body> {
    let mut response = error(StatusCode::TOO_MANY_REQUESTS, "slow down");
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Declares the whole body's length, sends its first half, waits `stall` if given, and closes the
/// connection (the body's error makes hyper drop it).
fn broken(body: Bytes, stall: Option<Duration>) -> Response<Body> {
    let length = body.len();
    let half = body.slice(..length / 2);
    let steps = futures_util::stream::unfold(Some(half), move |half| async move {
        match half {
            Some(half) => Some((Ok(Frame::data(half)), None)),
            None => {
                if let Some(stall) = stall {
                    tokio::time::sleep(stall).await;
                }
                Some((Err(std::io::Error::other("cut by the soak server")), None))
            }
        }
    });
    let mut response = Response::new(StreamBody::new(steps).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}

// ---------------------------------------------------------------------------------------------
// The driver.

/// One call's end.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) outcome: Outcome,
    pub(crate) latency: Duration,
}

/// Where every call reports its end: one slot per call number, all allocated before the first
/// call, so that the harness's own memory does not grow with the run the bench measures.
pub(crate) struct Results {
    slots: Vec<OnceLock<Ended>>,
    /// Call numbers that reported a second time (empty unless something is badly wrong).
    repeated: Mutex<Vec<usize>>,
}

impl Results {
    /// Slots for call numbers `0..calls`.
    pub(crate) fn new(calls: usize) -> Arc<Results> {
        Arc::new(Results {
            slots: (0..calls).map(|_| OnceLock::new()).collect(),
            repeated: Mutex::new(Vec::new()),
        })
    }

    /// Records the end of call `id`.
    pub(crate) fn record(&self, id: usize, outcome: Outcome, latency: Duration) {
        let ended = Ended { outcome, latency };
        if self
            .slots
            .get(id)
            .is_none_or(|slot| slot.set(ended).is_err())
        {
            if let Ok(mut repeated) = self.repeated.lock() {
                repeated.push(id);
            }
        }
    }
}

/// Runs calls `ids`, each an extraction in a task of its own, at most `concurrency` at a time,
/// each reporting its end to `results`.
pub(crate) async fn run(
    client: &extract::Client,
    ids: std::ops::Range<usize>,
    concurrency: usize,
    watchdog: Duration,
    results: &Arc<Results>,
) {
    let next = Arc::new(AtomicUsize::new(ids.start));
    let end = ids.end;
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let next = next.clone();
        let results = results.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let id = next.fetch_add(1, Ordering::Relaxed);
                if id >= end {
                    return;
                }
                let started = Instant::now();
                let client = client.clone();
                let mut task = tokio::spawn(async move {
                    let result = client.extract::<Event>(input(id)).send().await;
                    Outcome::of(id, result)
                });
                let outcome = match tokio::time::timeout(watchdog, &mut task).await {
                    Ok(Ok(outcome)) => outcome,
                    Ok(Err(_)) => Outcome::Panicked,
                    Err(_) => {
                        task.abort();
                        Outcome::Hung
                    }
                };
                results.record(id, outcome, started.elapsed());
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
}

/// What the checks found over one run.
#[derive(Debug)]
pub(crate) struct Verdict {
    /// Calls asked for.
    pub(crate) calls: usize,
    /// Calls by the kind of their outcome.
    pub(crate) by_kind: BTreeMap<&'static str, usize>,
    /// Call numbers with no outcome.
    pub(crate) lost: Vec<usize>,
    /// Call numbers that reported more than once.
    pub(crate) repeated: Vec<usize>,
    /// Calls whose outcome is not the one their fault calls for: (id, fault, expected, got).
    pub(crate) wrong: Vec<(usize, Fault, Outcome, Outcome)>,
    /// Calls for which the server saw another number of requests: (id, fault, expected, seen).
    pub(crate) miscounted: Vec<(usize, Fault, u32, u32)>,
    /// Every call's latency, sorted.
    pub(crate) latencies: Vec<Duration>,
    /// HTTP requests the server saw for these calls.
    pub(crate) requests: u64,
}

impl Verdict {
    /// Holds the ends of calls `ids` against their faults and against what `server` saw.
    pub(crate) fn of(results: &Results, ids: std::ops::Range<usize>, server: &Server) -> Verdict {
        let mut verdict = Verdict {
            calls: ids.len(),
            by_kind: BTreeMap::new(),
            lost: Vec::new(),
            repeated: results
                .repeated
                .lock()
                .map(|r| r.iter().copied().filter(|id| ids.contains(id)).collect())
                .unwrap_or_default(),
            wrong: Vec::new(),
            miscounted: Vec::new(),
            latencies: Vec::with_capacity(ids.len()),
            requests: 0,
        };
        for id in ids {
            let fault = fault(id);
            match results.slots.get(id).and_then(OnceLock::get) {
                None => verdict.lost.push(id),
                Some(ended) => {
                    *verdict.by_kind.entry(ended.outcome.kind()).or_default() += 1;
                    verdict.latencies.push(ended.latency);
                    if ended.outcome != fault.expected() {
                        verdict
                            .wrong
                            .push((id, fault, fault.expected(), ended.outcome.clone()));
                    }
                }
            }
            let (want, got) = (fault.requests(), server.hits(id));
            verdict.requests += u64::from(got);
            if want != got {
                verdict.miscounted.push((id, fault, want, got));
            }
        }
        verdict.latencies.sort_unstable();
        verdict
    }

    /// Calls that reported.
    pub(crate) fn reported(&self) -> usize {
        self.by_kind.values().sum()
    }

    /// Whether every call reported once, with its expected outcome, after the expected requests.
    pub(crate) fn passed(&self) -> bool {
        self.reported() == self.calls
            && self.lost.is_empty()
            && self.repeated.is_empty()
            && self.wrong.is_empty()
            && self.miscounted.is_empty()
    }

    /// The latency at quantile `q` (0..=1).
    pub(crate) fn latency(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[i]
    }

    /// The first few failures, for a message.
    pub(crate) fn failures(&self) -> String {
        let mut out = String::new();
        if !self.lost.is_empty() {
            let first = &self.lost[..self.lost.len().min(5)];
            out += &format!("lost {} call(s), first {first:?}\n", self.lost.len());
        }
        if !self.repeated.is_empty() {
            let first = &self.repeated[..self.repeated.len().min(5)];
            out += &format!("calls reported twice: {first:?}\n");
        }
        for (id, fault, expected, got) in self.wrong.iter().take(10) {
            out += &format!("call {id} ({fault:?}): expected {expected:?}, got {got:?}\n");
        }
        if self.wrong.len() > 10 {
            out += &format!("... and {} more wrong outcomes\n", self.wrong.len() - 10);
        }
        for (id, fault, want, got) in self.miscounted.iter().take(10) {
            out += &format!(
                "call {id} ({fault:?}): the server saw {got} request(s), expected {want}\n"
            );
        }
        if self.miscounted.len() > 10 {
            out += &format!(
                "... and {} more miscounted calls\n",
                self.miscounted.len() - 10
            );
        }
        out
    }
}

/// The file descriptors this process has open.
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

/// Waits up to `within` for the open descriptors to fall to `target` or below (closed connections
/// end their tasks a moment after the last handle goes); returns the last count.
pub(crate) async fn fds_settle(target: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let now = open_fds();
        if now <= target || Instant::now() >= deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
