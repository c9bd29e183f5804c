//! HTTP: one attempt with its timeout and body cap, and the transport retries around it (exponential
//! backoff with jitter, honouring `retry-after-ms` and `Retry-After` up to a cap). Separate from
//! reasks, which the request loop owns; this module knows nothing about schemas.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::dialect::DialectImpl;
use crate::error::Error;

/// Retry and size settings, from the client.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    pub(crate) retries: u32,
    pub(crate) timeout: Duration,
    pub(crate) max_retry_delay: Duration,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_response_bytes: usize,
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
    url: &str,
    headers: &HeaderMap,
    body: Bytes,
    policy: &Policy,
    dialect: &dyn DialectImpl,
) -> Result<HttpReply, Error> {
    with_retries(policy, dialect, || async {
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
    url: &str,
    headers: &HeaderMap,
    policy: &Policy,
    dialect: &dyn DialectImpl,
) -> Result<HttpReply, Error> {
    with_retries(policy, dialect, || async {
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
    url: &str,
    headers: &HeaderMap,
    body: Bytes,
    policy: &Policy,
    dialect: &dyn DialectImpl,
) -> Result<Opened, Error> {
    with_retries(policy, dialect, || async {
        let started = Instant::now();
        let request = http
            .post(url)
            .headers(headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                ACCEPT,
                "text/event-stream, application/x-ndjson, application/json",
            )
            .body(body.clone());
        let mut response = match tokio::time::timeout(policy.timeout, request.send()).await {
            Ok(sent) => sent.map_err(|e| transport_error(e, started))?,
            Err(_) => {
                return Err(Error::Timeout {
                    elapsed: started.elapsed(),
                })
            }
        };
        let status = response.status();
        if status.is_success() && is_event_stream(response.headers()) {
            return Ok(Outcome::Answer(Opened::Stream(response)));
        }
        let headers = std::mem::take(response.headers_mut());
        let read = read_capped(response, status, policy.max_response_bytes, started);
        let body = match tokio::time::timeout(policy.timeout, read).await {
            Ok(body) => body?,
            Err(_) => {
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
/// server asked or back off, give up when the error is final or the retries are spent.
async fn with_retries<R, F, Fut>(
    policy: &Policy,
    dialect: &dyn DialectImpl,
    mut attempt_once: F,
) -> Result<R, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Outcome<R>, Error>>,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
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
    url: &str,
    headers: &HeaderMap,
    body: Option<Bytes>,
    policy: &Policy,
) -> Result<HttpReply, Error> {
    let started = Instant::now();
    let request = match body {
        Some(body) => http
            .post(url)
            .headers(headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(body),
        None => http.get(url).headers(headers.clone()),
    };
    // One deadline over headers and body alike: a server that sends headers and then stalls is as
    // stuck as one that never answers.
    let attempt = async {
        let mut response = request
            .send()
            .await
            .map_err(|e| transport_error(e, started))?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let body = read_capped(response, status, policy.max_response_bytes, started).await?;
        Ok(HttpReply {
            status: status.as_u16(),
            headers,
            body,
        })
    };
    match tokio::time::timeout(policy.timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(Error::Timeout {
            elapsed: started.elapsed(),
        }),
    }
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

pub(crate) fn transport_error(err: reqwest::Error, started: Instant) -> Error {
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
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers.get("retry-after-ms").and_then(|v| v.to_str().ok()) {
        if let Ok(ms) = ms.trim().parse::<f64>() {
            if ms.is_finite() && ms >= 0.0 {
                return Some(Duration::from_secs_f64(ms / 1000.0));
            }
        }
    }
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
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
mod tests {
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
}
