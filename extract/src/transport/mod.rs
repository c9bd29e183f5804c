//! HTTP: one attempt with its timeout and body cap, and the transport retries around it (exponential
//! backoff with jitter, honouring `retry-after-ms` and `Retry-After` up to a cap). Separate from
//! reasks, which the request loop owns; this module knows nothing about schemas. The timers that
//! bound an attempt are in `timer.rs`; the framing of a streamed body (SSE, NDJSON) in `framing.rs`.

pub(crate) mod framing;
mod timer;

pub(crate) use timer::within;

use std::pin::pin;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode, Url};

use crate::dialect::DialectImpl;
use crate::error::Error;
use crate::secrets::Secrets;

/// Retry and size settings, from the client.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) retries: u32,
    pub(crate) timeout: Duration,
    pub(crate) max_retry_delay: Duration,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_response_bytes: usize,
    /// The client's secrets, removed from every error made of a server's words.
    pub(crate) secrets: Secrets,
    /// The longest a stream may last once its headers arrived; `None`: ten times `timeout`.
    pub(crate) stream_deadline: Option<Duration>,
}

/// The HTTP requests one call has sent, shared by its resends, reasks and mode fallbacks, so that
/// one limit bounds them all (see `ClientBuilder::max_requests`).
#[derive(Debug, Default)]
pub(crate) struct Requests {
    sent: std::sync::atomic::AtomicU32,
}

impl Requests {
    /// Requests sent so far.
    pub(crate) fn sent(&self) -> u32 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts one more request.
    fn count(&self) -> u32 {
        self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }
}

/// What one extraction may still send: its count, and its limit resolved against the client's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allowance<'a> {
    pub(crate) requests: &'a Requests,
    pub(crate) limit: u32,
}

impl Allowance<'_> {
    /// Whether another request may be sent.
    pub(crate) fn left(&self) -> bool {
        self.requests.sent() < self.limit
    }

    /// The error that ends the extraction at its limit, with what the last request ended in (the
    /// run loop adds the attempts and tokens, which this module does not know).
    pub(crate) fn reached(&self, last: Error) -> Error {
        Error::RequestLimit {
            limit: self.limit,
            requests: self.requests.sent(),
            attempts: 0,
            usage: crate::vocab::Usage::default(),
            last: Box::new(last),
        }
    }
}

/// A complete HTTP reply with a success status.
pub(crate) struct HttpReply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Sends `body` to `url`, retrying what is worth retrying. Returns the first reply the dialect reads
/// as an answer (a 2xx, unless it says otherwise), or the error that ended the attempts.
pub(crate) async fn post(
    http: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    body: Bytes,
    policy: &Policy,
    dialect: &dyn DialectImpl,
    allowance: Option<Allowance<'_>>,
) -> Result<HttpReply, Error> {
    with_retries(policy, dialect, allowance, || async {
        let reply = once(http, url, headers, Some(body.clone()), policy).await?;
        Ok(if dialect.is_answer(reply.status, &reply.body) {
            Outcome::Answer(reply)
        } else {
            Outcome::Rejected(reply)
        })
    })
    .await
}

/// [`post`] for a `GET` (a model listing): the same retries, timeout and body cap.
pub(crate) async fn get(
    http: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    policy: &Policy,
    dialect: &dyn DialectImpl,
) -> Result<HttpReply, Error> {
    with_retries(policy, dialect, None, || async {
        let reply = once(http, url, headers, None, policy).await?;
        Ok(if dialect.is_answer(reply.status, &reply.body) {
            Outcome::Answer(reply)
        } else {
            Outcome::Rejected(reply)
        })
    })
    .await
}

/// What opening a streamed request gave.
pub(crate) enum Opened {
    /// A 2xx whose body is a stream of events, still to be read.
    Stream(reqwest::Response),
    /// A complete answer: the server ignored `"stream": true` and replied in one piece.
    Whole(HttpReply),
}

/// Sends a streaming request, with the same retries as [`post`] up to the moment a stream starts:
/// once events flow, a failure is the stream's to report, since what arrived cannot be unsent.
/// The timeout covers the wait for the headers here; the stream applies it between events.
pub(crate) async fn post_stream(
    http: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    body: Bytes,
    policy: &Policy,
    dialect: &dyn DialectImpl,
    allowance: Option<Allowance<'_>>,
) -> Result<Opened, Error> {
    with_retries(policy, dialect, allowance, || async {
        let started = Instant::now();
        let request = with_headers(http.post(url.clone()), headers)
            .header(CONTENT_TYPE, "application/json")
            .header(
                ACCEPT,
                "text/event-stream, application/x-ndjson, application/json",
            )
            .body(body.clone());
        let mut response = match within(policy.timeout, pin!(request.send())).await {
            Some(sent) => sent.map_err(|e| transport_error(e, started))?,
            None => {
                return Err(Error::Timeout {
                    elapsed: started.elapsed(),
                })
            }
        };
        if let Some(redirect) = redirected(url, &response) {
            return Err(redirect);
        }
        let status = response.status();
        if status.is_success() && is_event_stream(response.headers()) {
            return Ok(Outcome::Answer(Opened::Stream(response)));
        }
        let headers = std::mem::take(response.headers_mut());
        let read = read_capped(response, status, policy.max_response_bytes, started);
        let body = match within(policy.timeout, pin!(read)).await {
            Some(body) => body?,
            None => {
                return Err(Error::Timeout {
                    elapsed: started.elapsed(),
                })
            }
        };
        let reply = HttpReply {
            status: status.as_u16(),
            headers,
            body,
        };
        Ok(if dialect.is_answer(reply.status, &reply.body) {
            Outcome::Answer(Opened::Whole(reply))
        } else {
            Outcome::Rejected(reply)
        })
    })
    .await
}

/// Whether a reply's body is a stream of events (SSE or NDJSON) rather than one JSON document.
fn is_event_stream(headers: &HeaderMap) -> bool {
    let kind = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    kind.starts_with("text/event-stream") || kind.contains("ndjson")
}

/// One attempt's result: an answer to return, or a reply the dialect reads as an error.
enum Outcome<R> {
    Answer(R),
    Rejected(HttpReply),
}

/// The retry loop shared by plain and streamed requests: classify what was rejected, wait as the
/// server asked or back off, give up when the error is final or the retries are spent, or when the
/// extraction's `allowance` of requests is (a retry the allowance forbids ends in
/// [`Error::RequestLimit`], even when the retries were spent at the same moment).
async fn with_retries<R, F, Fut>(
    policy: &Policy,
    dialect: &dyn DialectImpl,
    allowance: Option<Allowance<'_>>,
    mut attempt_once: F,
) -> Result<R, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome<R>, Error>>,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        if let Some(allowance) = allowance {
            // The run loop asks before each model call; this guards a limit of zero.
            if !allowance.left() {
                return Err(allowance.reached(Error::config(
                    "no request may be sent: the request limit (max_requests) is spent",
                )));
            }
            allowance.requests.count();
        }
        let (error, retryable, server_delay) = match attempt_once().await {
            Ok(Outcome::Answer(answer)) => return Ok(answer),
            Ok(Outcome::Rejected(reply)) => {
                let delay = retry_after(&reply.headers);
                let (error, retryable) = dialect.classify_error(reply.status, delay, &reply.body);
                (error, retryable, delay)
            }
            Err(err @ Error::Transport { .. }) => (err, true, None),
            Err(err) => (err, false, None),
        };
        let error = policy.secrets.scrub_error(error);
        if let Some(allowance) = allowance.filter(|a| retryable && !a.left()) {
            return Err(allowance.reached(with_attempts(error, attempt)));
        }
        if !retryable || attempt > policy.retries {
            return Err(with_attempts(error, attempt));
        }
        let delay = match server_delay {
            // Asked to wait longer than we are willing to: give the caller the delay instead.
            Some(asked) if asked > policy.max_retry_delay => {
                return Err(with_attempts(error, attempt))
            }
            Some(asked) => asked,
            None => backoff(policy.initial_backoff, attempt, policy.max_retry_delay),
        };
        tracing::debug!(attempt, ?delay, error = %error, "retrying the HTTP request");
        tokio::time::sleep(delay).await;
    }
}

fn with_attempts(error: Error, attempts: u32) -> Error {
    match error {
        Error::Transport {
            message, source, ..
        } => Error::Transport {
            message,
            source,
            attempts,
        },
        other => other,
    }
}

async fn once(
    http: &reqwest::Client,
    url: &Url,
    headers: &HeaderMap,
    body: Option<Bytes>,
    policy: &Policy,
) -> Result<HttpReply, Error> {
    let started = Instant::now();
    // One deadline over headers and body alike: a server that sends headers and then stalls is as
    // stuck as one that never answers.
    let attempt = pin!(async {
        let request = match body {
            Some(body) => with_headers(http.post(url.clone()), headers)
                .header(CONTENT_TYPE, "application/json")
                .body(body),
            None => with_headers(http.get(url.clone()), headers),
        };
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(e, started))?;
        if let Some(redirect) = redirected(url, &response) {
            return Err(redirect);
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let body = read_capped(response, status, policy.max_response_bytes, started).await?;
        Ok(HttpReply {
            status: status.as_u16(),
            headers,
            body,
        })
    });
    let outcome = within(policy.timeout, attempt).await;
    outcome.unwrap_or_else(|| {
        Err(Error::Timeout {
            elapsed: started.elapsed(),
        })
    })
}

/// The client's headers on one request, each copied alone (a shared buffer's count, for most), rather
/// than through a copy of the whole map, which allocates.
fn with_headers(mut request: RequestBuilder, headers: &HeaderMap) -> RequestBuilder {
    for (name, value) in headers {
        request = request.header(name.clone(), value.clone());
    }
    request
}

async fn read_capped(
    mut response: reqwest::Response,
    status: StatusCode,
    cap: usize,
    started: Instant,
) -> Result<Vec<u8>, Error> {
    match response.content_length() {
        Some(len) if len > cap as u64 => return Err(too_large(status, cap)),
        // A declared length bounds the body (the HTTP layer reads no further), so it is read whole
        // without checking each chunk against the cap.
        Some(_) => {
            return response
                .bytes()
                .await
                .map(Vec::from)
                .map_err(|e| transport_error(e, started))
        }
        None => {}
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(e, started))?
    {
        if body.len() + chunk.len() > cap {
            return Err(too_large(status, cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(status: StatusCode, cap: usize) -> Error {
    Error::UnexpectedResponse {
        status: status.as_u16(),
        message: format!(
            "the body is larger than the {cap}-byte cap (ClientBuilder::max_response_bytes)"
        ),
        body: String::new(),
    }
}

/// The redirect policy of the HTTP client this crate builds: none, unless the caller opted in to
/// redirects within the same origin, and then only those that keep the method and the body (307,
/// 308). Anything else stops, and [`redirected`] turns the 3xx into [`Error::Redirect`].
///
/// reqwest's default policy follows up to ten redirects anywhere and strips only `Authorization`,
/// `Cookie` and `Proxy-Authorization` on the way: an `x-api-key`, an AI Gateway token or any
/// sensitive header of the caller's would follow the request to another host, and a `302` would
/// turn the POST into a GET without the prompt.
pub(crate) fn redirect_policy(follow_same_origin: bool) -> reqwest::redirect::Policy {
    if !follow_same_origin {
        return reqwest::redirect::Policy::none();
    }
    reqwest::redirect::Policy::custom(|attempt| {
        let keeps_request = matches!(
            attempt.status(),
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
        );
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| same_origin(first, attempt.url()));
        if keeps_request && same_origin && attempt.previous().len() <= 5 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// The error for a reply that is a redirect, or that came from another origin than the one asked
/// (a caller's own `reqwest::Client` may follow redirects by itself): such a reply is never read
/// as the provider's. `None` for a reply from where the request was sent.
fn redirected(requested: &Url, response: &reqwest::Response) -> Option<Error> {
    let status = response.status();
    if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| shown_location(response.url(), l));
        return Some(Error::Redirect {
            status: status.as_u16(),
            location,
        });
    }
    (!same_origin(response.url(), requested)).then(|| Error::Redirect {
        status: status.as_u16(),
        location: Some(shown_location(requested, response.url().as_str())),
    })
}

/// Whether two URLs share scheme, host and port: [`Url::origin`] without its allocations, since
/// this is asked of every reply.
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// A `Location` as it may be shown: resolved against the URL it came from, with any user name and
/// password removed (a redirect may carry credentials, which an error must not print).
fn shown_location(base: &Url, location: &str) -> String {
    match base.join(location) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        // Not a URL: shown as the server wrote it, but never longer than a line.
        Err(_) => location.chars().take(200).collect(),
    }
}

pub(crate) fn transport_error(err: reqwest::Error, started: Instant) -> Error {
    if err.is_redirect() {
        // A redirect loop, or more redirects than the policy follows: not a transport fault to
        // retry, since the next attempt would loop the same way.
        return Error::Redirect {
            status: err.status().map_or(0, |s| s.as_u16()),
            location: err.url().map(|u| shown_location(u, u.as_str())),
        };
    }
    if err.is_timeout() {
        return Error::Timeout {
            elapsed: started.elapsed(),
        };
    }
    let message = if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "the connection failed while reading the reply"
    } else if err.is_request() {
        "the request could not be sent"
    } else {
        "HTTP error"
    };
    // reqwest's Display includes the URL, never headers, so the key cannot leak through it.
    Error::Transport {
        message: message.to_owned(),
        attempts: 1,
        source: Some(Box::new(err.without_url())),
    }
}

/// `retry-after-ms` (OpenAI), then `Retry-After` in seconds or as an HTTP date.
///
/// Whatever a server writes here, this never panics: a value that is not a number, negative, not
/// finite, or too large for a [`Duration`] is either ignored (not a delay at all) or read as
/// [`LONGEST_RETRY_AFTER`], which is past any `max_retry_delay` and so ends as
/// [`Error::RateLimited`] with that delay rather than a wait.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers.get("retry-after-ms").and_then(|v| v.to_str().ok()) {
        if let Some(delay) = ms
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|ms| seconds(ms / 1000.0))
        {
            return Some(delay);
        }
    }
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(LONGEST_RETRY_AFTER),
    )
}

/// The longest delay a retry header is read as: about 31 years, longer than anyone waits, and far
/// inside what a [`Duration`] and the runtime's clock can hold.
pub(crate) const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(1_000_000_000);

/// A delay in seconds as a server wrote it: `None` unless it is a finite number ≥ 0; capped at
/// [`LONGEST_RETRY_AFTER`] (`Duration::from_secs_f64` panics past `u64::MAX` seconds).
fn seconds(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(
        Duration::try_from_secs_f64(secs)
            .map_or(LONGEST_RETRY_AFTER, |d| d.min(LONGEST_RETRY_AFTER)),
    )
}

/// Exponential backoff with full jitter over the upper half: `initial * 2^(attempt-1)`, capped.
fn backoff(initial: Duration, attempt: u32, cap: Duration) -> Duration {
    let exp = initial.saturating_mul(1u32 << (attempt - 1).min(16));
    let ceiling = exp.min(cap);
    let half = ceiling / 2;
    half + ceiling.saturating_sub(half).mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests;
