//! The one error type of the crate. Every variant keeps the evidence a caller needs to act on it (the
//! raw model output, the provider's status and message, the attempts and tokens spent) and none keeps
//! the API key.

use std::fmt;
use std::time::Duration;

use crate::usage::Usage;

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

    /// The input is over the token limit set with `max_input_tokens`, and the policy is to reject
    /// it (or truncating it would leave nothing to send). Nothing was sent.
    #[error("the input has {tokens} tokens (as counted before sending), over the limit of {limit}; nothing was sent")]
    InputTooLong {
        /// The input's tokens, as the client's token counter counted them.
        tokens: u64,
        /// The limit.
        limit: u64,
    },
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

    /// Tokens spent before the error, where the error happened after a model answered.
    pub fn usage(&self) -> Option<&Usage> {
        match self {
            Error::Invalid { usage, .. }
            | Error::Truncated { usage, .. }
            | Error::ContentFilter { usage, .. }
            | Error::Refusal { usage, .. } => Some(usage),
            _ => None,
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
}

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
        };
        write!(
            f,
            "invalid output after {} attempt(s) ({why})",
            self.attempts
        )?;
        for (i, err) in self.errors.iter().take(5).enumerate() {
            write!(f, "{} {err}", if i == 0 { ":" } else { ";" })?;
        }
        if self.errors.len() > 5 {
            write!(f, "; and {} more", self.errors.len() - 5)?;
        }
        Ok(())
    }
}
