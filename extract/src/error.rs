//! The one error type of the crate. Every variant keeps the evidence a caller needs to act on it (the
//! raw model output, the provider's status and message, the attempts and tokens spent) and none keeps
//! the API key.

use std::fmt;
use std::time::Duration;

use crate::vocab::Usage;

/// Everything that can go wrong in an extraction.
///
/// Match on the variants you handle and keep a catch-all arm: the enum is `#[non_exhaustive]`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client or request is configured in a way that cannot work (no model, a bad URL, a missing
    /// environment variable). Nothing was sent.
    #[error("configuration: {message}")]
    Config {
        /// What is wrong and what to set instead.
        message: String,
    },

    /// The request never got a complete HTTP reply: connection refused or reset, DNS, TLS, a body cut
    /// short. Transport retries have been spent when this is returned.
    #[error("transport error after {attempts} attempt(s): {message}")]
    Transport {
        /// A short description of the failure.
        message: String,
        /// HTTP attempts made, transport retries included.
        attempts: u32,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },

    /// The request or the reading of its reply took longer than the configured timeout.
    #[error("timed out after {elapsed:?}")]
    Timeout {
        /// How long the attempt ran before it was abandoned.
        elapsed: Duration,
    },

    /// The server answered with an error status that retrying will not fix (400, 401, 403, 404, ...), or
    /// a retryable one (5xx) after the transport retries were spent.
    #[error("API error {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// HTTP status of the reply.
        status: u16,
        /// The provider's own error code, when it sent one (`invalid_api_key`, `3040`, ...).
        code: Option<String>,
        /// The provider's message, or the start of the body when it sent no structured error.
        message: String,
    },

    /// The provider is limiting the rate of requests and the retries (if any) did not get through.
    #[error("rate limited{}: {message}", retry_after.map(|d| format!(" (retry after {d:?})")).unwrap_or_default())]
    RateLimited {
        /// The delay the server asked for, when it said (`Retry-After`, `retry-after-ms`).
        retry_after: Option<Duration>,
        /// The provider's message.
        message: String,
    },

    /// The model declined to answer.
    #[error("the model refused: {refusal}")]
    Refusal {
        /// The model's own words.
        refusal: String,
        /// Tokens spent over every attempt.
        usage: Usage,
    },

    /// The reply stopped before the value was complete: at its token limit (`finish_reason:
    /// "length"`), or, in a stream, because the stream ended before the provider said it was done.
    #[error("the reply was cut off {cause} after {} bytes", partial.len())]
    Truncated {
        /// What the model produced before the cut, all of it.
        partial: String,
        /// Tokens spent over every attempt (as far as the provider reported them before the cut).
        usage: Usage,
        /// Where the cut came from.
        cause: Cut,
    },

    /// The provider's content filter stopped the reply.
    #[error("the provider's content filter stopped the reply")]
    ContentFilter {
        /// What the model produced before it was stopped, often empty.
        partial: String,
        /// Tokens spent over every attempt.
        usage: Usage,
    },

    /// The model's output was still invalid when the reasks were spent (or stopped early).
    ///
    /// Its `Display` shows the first five errors, each cut to 300 bytes with the number of bytes cut
    /// ("… [cut N bytes]"), so printing it stays short however large the reply; the fields keep the
    /// evidence (each error's message is itself cut to 1 KiB, since it quotes the offending value).
    #[error("{}", InvalidDisplay { errors, attempts: *attempts, stop: *stop })]
    Invalid {
        /// The last reply's text, exactly as received.
        raw: String,
        /// Every problem found in the last reply, each with its JSON path.
        errors: Vec<Violation>,
        /// Model calls made (the first and every reask).
        attempts: u32,
        /// Tokens spent over every attempt.
        usage: Usage,
        /// Why the reasks stopped.
        stop: StopReason,
    },

    /// The server answered, but not with anything the API promises: an HTML page from a proxy, a body
    /// that is not UTF-8 or not JSON, a reply with no choices, a body over the size cap.
    #[error("unexpected response (HTTP {status}): {message}")]
    UnexpectedResponse {
        /// HTTP status of the reply.
        status: u16,
        /// What was wrong with it.
        message: String,
        /// The start of the body (at most 2 KiB, lossily decoded), for diagnosis.
        body: String,
    },

    /// The server answered with a redirect (3xx), which is not followed: a redirect would carry the
    /// key and the prompt to wherever it points, and a `302` would turn the request into a `GET`
    /// without its body. Not retried. Point the base URL at where the redirect leads, or, for a
    /// redirect within the same server, opt in with
    /// [`ClientBuilder::follow_redirects`](crate::ClientBuilder::follow_redirects).
    #[error("the server redirected the request (HTTP {status}){}; redirects are not followed, since they would carry the key elsewhere", location.as_deref().map(|l| format!(" to {l}")).unwrap_or_default())]
    Redirect {
        /// HTTP status of the redirect (301, 302, 303, 307, 308, ...).
        status: u16,
        /// Where it pointed (the `Location` header, resolved against the request's URL, without any
        /// user name or password in it), when it said.
        location: Option<String>,
    },

    /// The type's schema is over a size limit of the provider's for the schemas it enforces
    /// (OpenAI's strict mode: 5,000 properties, 10 levels of nesting, 1,000 enum values, ...), which
    /// would reject the request. Found before the first request, once per type and provider;
    /// nothing was sent. [`schema::problems`](crate::schema::problems) lists every problem.
    #[error("the schema of `{schema}` is over {target}'s limit of {limit}, at {}: {message}; nothing was sent", if path.is_empty() { "(root)" } else { path })]
    SchemaLimit {
        /// The type's name (`Extract::NAME`).
        schema: &'static str,
        /// Whose rules the schema was checked against.
        target: crate::vocab::Target,
        /// The limit it is over.
        limit: crate::vocab::Limit,
        /// JSON Pointer into the schema sent (`/properties/tags`); empty for the whole schema, for
        /// the limits on totals.
        path: String,
        /// What is over, by how much, and what to do instead.
        message: String,
    },

    /// The input is over the token limit set with `max_input_tokens`, and the policy is to reject
    /// it (or truncating it would leave nothing to send). Nothing was sent.
    #[error("the input has {tokens} tokens (as counted before sending), over the limit of {limit}; nothing was sent")]
    InputTooLong {
        /// The input's tokens, as the client's token counter counted them.
        tokens: u64,
        /// The limit.
        limit: u64,
    },

    /// The server read the schema sent for the type and rejected it as invalid (OpenAI's "Invalid
    /// schema for response_format 'T': ..."; a grammar the server could not build from it). The
    /// type's schema has to change: the extraction is not reasked, and the mode does not fall back.
    #[error("the server rejected the schema of `{schema}` sent in the {mode} mode (HTTP {status}): {message}")]
    SchemaRejected {
        /// The type whose schema was rejected (its schema name).
        schema: &'static str,
        /// The mode the schema was sent in.
        mode: crate::vocab::Mode,
        /// HTTP status of the reply.
        status: u16,
        /// The provider's own error code, when it sent one.
        code: Option<String>,
        /// The provider's words, which name what is wrong in the schema.
        message: String,
    },

    /// An error that ended an extraction after earlier model calls of it (an invalid reply that was
    /// reasked, a mode the server rejected): the error of the last request, and what the whole
    /// extraction spent. An error of the extraction's first model call comes as it is, unwrapped;
    /// [`Error::last`] gives the error either way.
    #[error("{error} (after {attempts} model call(s), {requests} request(s), {} token(s))", usage.total_tokens)]
    AfterAttempts {
        /// The error the last request ended in.
        error: Box<Error>,
        /// Model calls made (each reask, and each request a server rejected for its mode).
        attempts: u32,
        /// HTTP requests sent, transport retries included.
        requests: u32,
        /// Tokens spent over every attempt.
        usage: Usage,
    },

    /// The extraction sent as many HTTP requests as it may
    /// ([`max_requests`](crate::ClientBuilder::max_requests)): transport retries, reasks and mode
    /// fallbacks all count. `last` is what the last request ended in.
    #[error("stopped at the limit of {limit} request(s) per extraction after {requests} request(s); the last ended in: {last}")]
    RequestLimit {
        /// The limit.
        limit: u32,
        /// HTTP requests sent.
        requests: u32,
        /// Model calls made.
        attempts: u32,
        /// Tokens spent over every attempt.
        usage: Usage,
        /// The error of the last request (an `Api` 500, a `Timeout`, an `Invalid` reply that a
        /// reask could have fixed, ...).
        last: Box<Error>,
    },

    /// Every client of a fallback chain ([`ClientBuilder::fallback`](crate::ClientBuilder::fallback))
    /// failed: each one's error, in order, and what they spent together.
    #[error("every provider failed: {}", failures.iter().map(|f| format!("{} ({}): {}", f.provider, f.model, f.error)).collect::<Vec<_>>().join("; "))]
    Fallback {
        /// Each client's failure, the first client's first.
        failures: Vec<Failure>,
        /// Tokens spent over every client.
        usage: Usage,
    },

    /// The next request was not sent: the tokens spent so far, plus the next prompt's estimated
    /// tokens, plus `max_tokens` (when set), would pass the extraction's
    /// [`token_budget`](crate::ClientBuilder::token_budget). An estimate is the client's
    /// [`token_counter`](crate::ClientBuilder::token_counter) over the messages and the schema sent,
    /// else [`tokens::estimate`](crate::tokens::estimate), which errs high. (After an invalid reply,
    /// the same stop is an [`Error::Invalid`] with [`StopReason::TokenBudget`], which keeps the reply.)
    #[error("the next request would need about {needed} token(s) (as estimated before sending), over the token budget of {budget} with {} spent; it was not sent", usage.total_tokens)]
    OverBudget {
        /// The budget.
        budget: u64,
        /// The estimated prompt tokens of the request not sent, plus its `max_tokens` when set.
        needed: u64,
        /// Tokens spent before (zero when nothing was sent).
        usage: Usage,
        /// Model calls made before.
        attempts: u32,
    },
}

/// One client's failure in a fallback chain ([`Error::Fallback`]).
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure {
    /// The provider's dialect, by name (`anthropic`, `openai`, ...).
    pub provider: &'static str,
    /// The model asked.
    pub model: String,
    /// What the extraction ended in there.
    pub error: Error,
}

/// Why a reply ended before its value was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cut {
    /// The reply reached its token limit (`max_tokens`).
    TokenLimit,
    /// The stream ended (the connection closed or broke) before the provider said it was done.
    StreamEnded,
    /// The stream stalled: no event came within the client's timeout.
    Stalled,
    /// The stream was still going at its total deadline
    /// ([`ClientBuilder::stream_deadline`](crate::ClientBuilder::stream_deadline)): a server that
    /// trickles events keeps the idle timeout from firing, not this one.
    Deadline,
}

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cut::TokenLimit => "at the token limit",
            Cut::StreamEnded => "by the end of the stream",
            Cut::Stalled => "by a stalled stream",
            Cut::Deadline => "at the stream's deadline",
        })
    }
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }

    /// The raw model output this error carries, if any: the invalid, truncated or filtered text.
    pub fn raw_output(&self) -> Option<&str> {
        match self {
            Error::Invalid { raw, .. } => Some(raw),
            Error::Truncated { partial, .. } | Error::ContentFilter { partial, .. } => {
                Some(partial)
            }
            Error::Refusal { refusal, .. } => Some(refusal),
            _ => None,
        }
    }

    /// Tokens spent before the error, where the error happened after a model answered (or, for
    /// [`Error::OverBudget`], before the request that was not sent).
    pub fn usage(&self) -> Option<&Usage> {
        match self {
            Error::Invalid { usage, .. }
            | Error::Truncated { usage, .. }
            | Error::ContentFilter { usage, .. }
            | Error::Refusal { usage, .. }
            | Error::AfterAttempts { usage, .. }
            | Error::RequestLimit { usage, .. }
            | Error::Fallback { usage, .. }
            | Error::OverBudget { usage, .. } => Some(usage),
            _ => None,
        }
    }

    /// The error of the extraction's last request, unwrapped from [`Error::AfterAttempts`] and
    /// [`Error::RequestLimit`]: match on this to handle, say, a 401 whether or not earlier
    /// attempts preceded it.
    pub fn last(&self) -> &Error {
        match self {
            Error::AfterAttempts { error, .. } => error.last(),
            Error::RequestLimit { last, .. } => last.last(),
            Error::Fallback { failures, .. } => match failures.last() {
                Some(failure) => failure.error.last(),
                None => self,
            },
            other => other,
        }
    }
}

/// One thing wrong with a reply, at a place in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Violation {
    /// JSON Pointer into the value (`/participants/0`); empty for the whole value.
    pub path: String,
    /// What is wrong there, in words meant for the model as much as for a person.
    pub message: String,
}

impl Violation {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "(root)"
        } else {
            &self.path
        };
        write!(f, "{path}: {}", self.message)
    }
}

/// Why an extraction stopped asking the model again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// Every allowed reask was used.
    RetriesExhausted,
    /// The model answered with the same errors twice in a row; a third try is unlikely to differ.
    RepeatedErrors,
    /// The extraction's token budget was spent.
    TokenBudget,
    /// An element stream had already yielded earlier elements of the list, which a reask cannot
    /// take back, so an invalid element ends it.
    ElementsYielded,
    /// The extraction sent as many requests as [`max_requests`](crate::ClientBuilder::max_requests)
    /// allows; the error is then wrapped in [`Error::RequestLimit`].
    RequestLimit,
}

/// The most bytes of one violation that [`Error::Invalid`]'s `Display` shows; the rest is counted
/// ("… [cut N bytes]").
const MAX_SHOWN_BYTES: usize = 300;

struct InvalidDisplay<'a> {
    errors: &'a [Violation],
    attempts: u32,
    stop: StopReason,
}

impl fmt::Display for InvalidDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.stop {
            StopReason::RetriesExhausted => "no reasks left",
            StopReason::RepeatedErrors => "the model repeated the same errors",
            StopReason::TokenBudget => "the token budget is spent",
            StopReason::ElementsYielded => "elements were already yielded, so no reask",
            StopReason::RequestLimit => "no requests left",
        };
        write!(
            f,
            "invalid output after {} attempt(s) ({why})",
            self.attempts
        )?;
        // Bounded: a message quotes the offending value and a path its keys, which a reply can make
        // megabytes long; `raw` and `errors` keep all of it.
        for (i, err) in self.errors.iter().take(5).enumerate() {
            let shown = crate::text::bounded(err, MAX_SHOWN_BYTES);
            write!(f, "{} {shown}", if i == 0 { ":" } else { ";" })?;
        }
        if self.errors.len() > 5 {
            write!(f, "; and {} more", self.errors.len() - 5)?;
        }
        Ok(())
    }
}
