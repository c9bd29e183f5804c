//! One streamed model call: it hands out the pieces of the text the value is read from as they
//! arrive, keeps all of it, and ends as the same [`Reply`] a plain request gives, so the judge sees
//! no difference between a streamed reply and a whole one.

use crate::error::{Cut, Error};
use crate::run::{Attempts, Run};
use crate::vocab::Usage;
use crate::vocab::{FinishReason, Reply};
use crate::vocab::{Input, Mode};

use super::wire::Deltas;

/// Which part of the reply carries the value: the content, or a tool call's arguments. Decided by
/// the first piece that arrives, since a server asked for a tool call may answer in text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Content,
    ToolArguments,
}

/// How long a stream is waited for after the provider gave its finish reason: long enough for the
/// usage that OpenAI sends on a chunk of its own right after, short enough that a server that never
/// sends its end marker does not hold a whole reply back until the idle timeout.
const AFTER_FINISH: std::time::Duration = std::time::Duration::from_millis(250);

pub(crate) struct Call {
    deltas: Deltas,
    mode: Mode,
    channel: Option<Channel>,
    text: String,
    /// Text on the other channel, kept for the evidence (a tool call's arguments beside prose).
    other: String,
    refusal: Option<String>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    model: Option<String>,
    done: bool,
}

impl Call {
    pub(crate) fn new(deltas: Deltas, mode: Mode) -> Call {
        Call {
            deltas,
            mode,
            channel: None,
            text: String::new(),
            other: String::new(),
            refusal: None,
            finish: None,
            usage: None,
            model: None,
            done: false,
        }
    }

    /// Everything received so far on the value's channel.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The next piece of the value's text, as a range of [`text`](Self::text); `None` at the end
    /// of the stream. A failure in the middle of the stream is a [`Error::Truncated`] that keeps what
    /// arrived, except an error the provider reported in the stream, which is its own.
    ///
    /// Once the provider gave its finish reason the reply is whole: what may still come is the
    /// usage and the end marker, so the wait for them is short ([`AFTER_FINISH`]), and a stall, a
    /// cut or the deadline after it ends the stream as finished rather than as a cut.
    pub(crate) async fn next_piece(&mut self) -> Option<Result<std::ops::Range<usize>, Error>> {
        while !self.done {
            let wait = self.finish.is_some().then_some(AFTER_FINISH);
            let delta = match self.deltas.next(wait).await {
                None => return None,
                Some(Ok(delta)) => delta,
                Some(Err(err @ (Error::Transport { .. } | Error::Timeout { .. })))
                    if self.finish.is_some() =>
                {
                    tracing::debug!(error = %err, "the stream ended without its end marker, after its finish reason");
                    self.done = true;
                    return None;
                }
                Some(Err(err @ (Error::Transport { .. } | Error::Timeout { .. }))) => {
                    tracing::debug!(error = %err, "the stream broke");
                    self.done = true;
                    let cause = match err {
                        Error::Timeout { .. } if self.deltas.past_deadline() => Cut::Deadline,
                        Error::Timeout { .. } => Cut::Stalled,
                        _ => Cut::StreamEnded,
                    };
                    return Some(Err(self.cut(cause)));
                }
                Some(Err(err)) => {
                    self.done = true;
                    return Some(Err(err));
                }
            };
            self.done = delta.done;
            if let Some(u) = delta.usage {
                self.usage = Some(self.usage.map_or(u, |seen| seen.latest(u)));
            }
            if delta.finish.is_some() {
                self.finish = delta.finish;
            }
            if delta.model.is_some() {
                self.model = delta.model;
            }
            if let Some(refusal) = delta.refusal {
                self.refusal
                    .get_or_insert_with(String::new)
                    .push_str(&refusal);
            }
            let (content, arguments) = (delta.content, delta.tool_arguments);
            if self.channel.is_none() {
                self.channel = match (&arguments, &content) {
                    (Some(_), _) if self.mode == Mode::Tools => Some(Channel::ToolArguments),
                    (_, Some(c)) if !c.is_empty() => Some(Channel::Content),
                    (Some(_), _) => Some(Channel::ToolArguments),
                    _ => None,
                };
            }
            let (mine, theirs) = match self.channel {
                Some(Channel::ToolArguments) => (arguments, content),
                _ => (content, arguments),
            };
            if let Some(theirs) = theirs {
                self.other.push_str(&theirs);
            }
            if let Some(piece) = mine.filter(|p| !p.is_empty()) {
                let start = self.text.len();
                self.text.push_str(&piece);
                return Some(Ok(start..self.text.len()));
            }
        }
        None
    }

    /// The whole reply, once the stream ended: what a plain request would have returned, or the cut
    /// when the provider never said it was done.
    pub(crate) fn into_reply(self) -> Result<Reply, Error> {
        if !self.done && self.finish.is_none() {
            return Err(self.cut(Cut::StreamEnded));
        }
        let text = Some(self.text).filter(|t| !t.is_empty());
        let other = Some(self.other).filter(|t| !t.is_empty());
        let (content, tool_arguments) = match self.channel {
            Some(Channel::ToolArguments) => (other, text),
            _ => (text, other),
        };
        Ok(Reply {
            content,
            tool_arguments,
            refusal: self.refusal,
            finish: self.finish.unwrap_or(FinishReason::Other),
            usage: self.usage,
            model: self.model,
            cache_status: self.deltas.cache_status,
        })
    }

    /// The usage the provider reported so far.
    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage
    }

    fn cut(&self, cause: Cut) -> Error {
        Error::Truncated {
            partial: self.text.clone(),
            usage: self.usage.unwrap_or_default(),
            cause,
        }
    }
}

/// Opens the next attempt of a typed stream: counts it, asks for a stream with the conversation so
/// far, and falls back to a simpler mode where the server rejects an automatically chosen one (a new
/// mode sends new instructions, so the conversation starts over, keeping what was spent), as a
/// plain extraction does; the budget and request limit are checked as a plain extraction checks them.
pub(crate) async fn open_attempt(
    run: &mut Run<'_>,
    state: &mut Option<Attempts>,
    input: &Input,
) -> Result<Call, Error> {
    loop {
        let attempts = state.get_or_insert_with(|| run.begin(input));
        if attempts.made == attempts.before {
            run.check_budget(attempts)?;
        }
        attempts.made += 1;
        let opened = run
            .client
            .open_stream(
                &run.chat_request(&attempts.turns, attempts.made),
                &run.ledger,
            )
            .await;
        match opened {
            Ok(deltas) => return Ok(Call::new(deltas, run.mode)),
            Err(err) => run.fall_back(err, attempts, input)?,
        }
    }
}

/// An error in the middle of this attempt's stream, with what the earlier attempts spent, as a
/// plain extraction reports it: a cut gets their tokens added; another error (a provider's error
/// event, say) after earlier attempts is wrapped in [`Error::AfterAttempts`].
pub(crate) fn with_earlier_usage(err: Error, state: Option<&Attempts>, run: &Run<'_>) -> Error {
    let earlier = state.map(|s| s.usage).unwrap_or_default();
    match err {
        Error::Truncated {
            partial,
            usage,
            cause,
        } => Error::Truncated {
            partial,
            usage: earlier + usage,
            cause,
        },
        error @ (Error::Api { .. }
        | Error::RateLimited { .. }
        | Error::Transport { .. }
        | Error::Timeout { .. }
        | Error::UnexpectedResponse { .. }) => match state {
            Some(state) if state.made > 1 => Error::AfterAttempts {
                error: Box::new(error),
                attempts: state.made,
                requests: run.ledger.requests.sent(),
                usage: earlier,
            },
            _ => error,
        },
        other => other,
    }
}
