//! The run: one extraction from its first request to its value or its error. Attempts and verdicts,
//! reasks within the budgets, mode fallback, and the ledger of what the run has sent.

use std::borrow::Cow;
use std::time::Instant;

use tracing::Instrument;

use crate::client::Client;
use crate::dialect::{ChatRequest, Rejection};
use crate::error::{Cut, Error, StopReason, Violation};
use crate::ledger::Ledger;
use crate::options::Options;
use crate::schema::Prepared;
use crate::vocab::{FinishReason, Input, Mode, Reply, Turn, Usage};
use crate::{judge, reask, Extract};

/// The result of an extraction: the value and what it cost.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Extraction<T> {
    /// The validated value.
    pub value: T,
    /// Tokens summed over every attempt, reasks included.
    pub usage: Usage,
    /// Model calls made: 1 when the first reply was valid. A request the server rejected for its
    /// mode counts; transport retries do not.
    pub attempts: u32,
    /// The model that answered, as the provider named it.
    pub model: String,
    /// The raw text of the last reply (the one `value` came from).
    pub raw: String,
    /// The mode the value was obtained in: the one chosen, or, when the mode was chosen
    /// automatically and the server said it does not support it, the simpler one fallen back to
    /// (remembered by the client, see [`Client::mode_fallbacks`]).
    pub mode: Mode,
    /// A caching gateway's verdict on the last request (`HIT`, `MISS`), when one answered.
    pub cache_status: Option<String>,
    /// The provider that answered: the client's dialect, or, after a fallback
    /// ([`ClientBuilder::fallback`](crate::ClientBuilder::fallback)), the one that took over.
    pub dialect: crate::Dialect,
}

impl<T> Extraction<T> {
    /// The value, without the metadata.
    pub fn into_inner(self) -> T {
        self.value
    }
}

/// One extraction's settings, resolved against the client's.
pub(crate) struct Run<'c> {
    pub(crate) client: &'c Client,
    pub(crate) prepared: &'static Prepared,
    pub(crate) model: Cow<'c, str>,
    pub(crate) mode: Mode,
    /// Whether the mode was chosen automatically, and so may fall back when the server says it does
    /// not support it.
    pub(crate) fallback: bool,
    pub(crate) options: Options,
    /// The request's own checks, run on a reply after the type's `validate`.
    pub(crate) checks: Vec<judge::Check<'c>>,
    /// What the run has sent, and an input its policy refused.
    pub(crate) ledger: Ledger,
}

/// Where an extraction's attempts stand: the conversation so far and what it cost.
pub(crate) struct Attempts {
    /// How many of `turns` are the original request's: a reask replaces only what follows them.
    base: usize,
    /// The turns of the next request: the original ones, plus the latest failure once there is one.
    pub(crate) turns: Vec<Turn>,
    /// Tokens spent over every attempt, in every mode tried.
    pub(crate) usage: Usage,
    previous: Option<Vec<Violation>>,
    /// Model calls made so far, in every mode tried.
    pub(crate) made: u32,
    /// Model calls made before the current mode (after a fallback): reasks count from here.
    pub(crate) before: u32,
    max_reasks: u32,
    budget: Option<u64>,
}

/// What one reply decides.
pub(crate) enum Verdict<T> {
    /// A valid value: the extraction is over.
    Done(Extraction<T>),
    /// An error that ends the extraction.
    Failed(Error),
    /// Invalid, within the budget: ask again (the next turns are set).
    Reask(Vec<Violation>),
}

impl Run<'_> {
    pub(crate) fn span<T: Extract>(&self) -> tracing::Span {
        tracing::info_span!(
            "extract",
            schema = T::NAME,
            model = %self.model,
            dialect = self.client.dialect().name(),
            mode = self.mode.as_str(),
            attempts = tracing::field::Empty,
            total_tokens = tracing::field::Empty,
            cache = tracing::field::Empty,
        )
    }

    pub(crate) async fn go<T: Extract>(mut self, input: &Input) -> Result<Extraction<T>, Error> {
        let mut state = self.begin(input);
        loop {
            if state.made == state.before {
                // A reask's prompt is checked when the reask is decided; a mode's first here.
                self.check_budget(&state)?;
            }
            state.made += 1;
            let started = Instant::now();
            let span = tracing::debug_span!(
                "attempt",
                n = state.made,
                tokens = tracing::field::Empty,
                latency_ms = tracing::field::Empty,
            );
            let sent = self
                .client
                .chat(&self.chat_request(&state.turns, state.made), &self.ledger)
                .instrument(span.clone())
                .await;
            let reply = match sent {
                Ok(reply) => reply,
                Err(error) => {
                    self.fall_back(error, &mut state, input)?;
                    continue;
                }
            };
            if let Some(u) = reply.usage {
                span.record("tokens", u.total_tokens);
            }
            span.record("latency_ms", started.elapsed().as_millis() as u64);
            match self.judge_reply::<T>(&mut state, reply) {
                Verdict::Done(done) => return Ok(done),
                Verdict::Failed(error) => return Err(error),
                Verdict::Reask(_) => {}
            }
        }
    }

    /// After a model call failed: `Ok` when the server said it does not support the mode this
    /// extraction chose automatically and a simpler mode is left to try (now set, and `state`
    /// restarted in it with what was spent kept); otherwise the error the extraction ends in.
    ///
    /// The dialect reads the rejection ([`Rejection`]): a schema the server found invalid is
    /// [`Error::SchemaRejected`] and never a fallback; a mode the server does not support is
    /// remembered for this client, model and mode (whoever chose the mode) and falls back only when
    /// the mode was chosen automatically; anything else is returned as it is.
    pub(crate) fn fall_back(
        &mut self,
        error: Error,
        state: &mut Attempts,
        input: &Input,
    ) -> Result<(), Error> {
        let error = match error {
            Error::Api {
                status,
                code,
                message,
            } => {
                let dialect = self.client.dialect().imp();
                match dialect.rejection(self.mode, status, code.as_deref(), &message) {
                    Rejection::SchemaInvalid => Error::SchemaRejected {
                        schema: self.prepared.name,
                        mode: self.mode,
                        status,
                        code,
                        message,
                    },
                    Rejection::ModeUnsupported => {
                        self.client.remember_fallback(&self.model, self.mode);
                        let rejected = Error::Api {
                            status,
                            code,
                            message,
                        };
                        match self.mode.simpler().filter(|_| self.fallback) {
                            Some(_) if !self.requests_left() => self.allowance().reached(rejected),
                            Some(next) => {
                                tracing::info!(
                                    from = self.mode.as_str(),
                                    to = next.as_str(),
                                    "falling back to a simpler mode"
                                );
                                self.mode = next;
                                self.restart(state, input);
                                return Ok(());
                            }
                            None => rejected,
                        }
                    }
                    Rejection::Other => Error::Api {
                        status,
                        code,
                        message,
                    },
                }
            }
            other => other,
        };
        Err(self.finish(state, error))
    }

    /// The error an extraction ends in, with what all of it spent: a stop at the request limit gets
    /// the attempts and tokens; an error of a later model call (after a reask or a fallback) that
    /// does not carry them itself is wrapped in [`Error::AfterAttempts`]; the others are as they are.
    pub(crate) fn finish(&self, state: &Attempts, error: Error) -> Error {
        match error {
            Error::RequestLimit {
                limit,
                requests,
                last,
                ..
            } => Error::RequestLimit {
                limit,
                requests,
                attempts: state.made,
                usage: state.usage,
                last,
            },
            error @ (Error::Api { .. }
            | Error::RateLimited { .. }
            | Error::Transport { .. }
            | Error::Timeout { .. }
            | Error::UnexpectedResponse { .. }
            | Error::SchemaRejected { .. })
                if state.made > 1 =>
            {
                Error::AfterAttempts {
                    error: Box::new(error),
                    attempts: state.made,
                    requests: self.ledger.requests.sent(),
                    usage: state.usage,
                }
            }
            other => other,
        }
    }

    /// The requests this extraction may still send.
    fn allowance(&self) -> crate::transport::Allowance<'_> {
        self.client.allowance(&self.options, &self.ledger)
    }

    /// The chat request of the `attempt`th model call, with `turns`.
    pub(crate) fn chat_request<'a>(&'a self, turns: &'a [Turn], attempt: u32) -> ChatRequest<'a> {
        ChatRequest {
            model: &self.model,
            mode: self.mode,
            schema: Some(self.prepared),
            turns,
            options: &self.options,
            stream: false,
            attempt,
        }
    }

    /// Whether another request may be sent.
    pub(crate) fn requests_left(&self) -> bool {
        self.allowance().left()
    }

    /// Tokens the next request is estimated to need: its prompt, plus `max_tokens` when set.
    fn next_request_tokens(&self, turns: &[Turn]) -> u64 {
        crate::tokens::prompt_estimate(
            self.client.input_limit(),
            turns,
            Some(self.prepared),
            self.mode,
        ) + u64::from(self.options.max_tokens.unwrap_or(0))
    }

    /// Before the first request of a mode: [`Error::OverBudget`] when the tokens spent, plus what
    /// the request is estimated to need, would pass the token budget.
    pub(crate) fn check_budget(&self, state: &Attempts) -> Result<(), Error> {
        let Some(budget) = state.budget else {
            return Ok(());
        };
        let needed = self.next_request_tokens(&state.turns);
        if state.usage.total_tokens.saturating_add(needed) > budget {
            return Err(Error::OverBudget {
                budget,
                needed,
                usage: state.usage,
                attempts: state.made,
            });
        }
        Ok(())
    }

    /// Starts the conversation over in the current mode (after a fallback: a new mode sends new
    /// instructions), keeping the calls made and the tokens spent.
    fn restart(&self, state: &mut Attempts, input: &Input) {
        let fresh = self.begin(input);
        state.base = fresh.base;
        state.turns = fresh.turns;
        state.previous = None;
        state.before = state.made;
    }

    pub(crate) fn begin(&self, input: &Input) -> Attempts {
        let turns = crate::turns::initial_turns(
            self.prepared,
            self.mode,
            self.options.instructions.as_deref(),
            input,
        );
        Attempts {
            base: turns.len(),
            turns,
            usage: Usage::default(),
            previous: None,
            made: 0,
            before: 0,
            max_reasks: self.options.max_reasks.unwrap_or(self.client.max_reasks()),
            budget: self.options.token_budget.or(self.client.token_budget()),
        }
    }

    /// The one place a reply is judged, streamed or not: refusal, cut, filter, then the value
    /// (schema, serde, `validate`); an invalid reply is reasked while the budget allows.
    pub(crate) fn judge_reply<T: Extract>(&self, state: &mut Attempts, reply: Reply) -> Verdict<T> {
        match self.judge_unredacted(state, reply) {
            // A model can repeat what it was told, a key among it: never kept in the error.
            Verdict::Failed(error) => Verdict::Failed(self.client.scrub(error)),
            other => other,
        }
    }

    fn judge_unredacted<T: Extract>(&self, state: &mut Attempts, mut reply: Reply) -> Verdict<T> {
        if let Some(u) = reply.usage {
            state.usage += u;
        }
        let current = tracing::Span::current();
        current.record("attempts", state.made);
        current.record("total_tokens", state.usage.total_tokens);
        if let Some(status) = &reply.cache_status {
            current.record("cache", status.as_str());
        }
        let usage = state.usage;
        if let Some(refusal) = reply.refusal {
            return Verdict::Failed(Error::Refusal { refusal, usage });
        }
        let raw = reply.take_text(self.mode).unwrap_or_default();
        self.client.trace_text("reply", raw.as_bytes());
        match reply.finish {
            FinishReason::Length => {
                return Verdict::Failed(Error::Truncated {
                    partial: raw,
                    usage,
                    cause: Cut::TokenLimit,
                })
            }
            FinishReason::ContentFilter => {
                return Verdict::Failed(Error::ContentFilter {
                    partial: raw,
                    usage,
                })
            }
            _ => {}
        }
        let verdict =
            judge::judge::<T>(self.prepared, &raw).and_then(|v| judge::check(v, &self.checks));
        let errors = match verdict {
            Ok(value) => {
                // Only now are this extraction's replies known to be worth replaying.
                self.ledger.commit();
                return Verdict::Done(Extraction {
                    value,
                    usage,
                    attempts: state.made,
                    model: reply.model.unwrap_or_else(|| self.model.to_string()),
                    raw,
                    mode: self.mode,
                    cache_status: reply.cache_status,
                    dialect: self.client.dialect(),
                });
            }
            Err(errors) => errors,
        };
        tracing::debug!(errors = errors.len(), "invalid reply");
        let stop = if state.made - state.before > state.max_reasks {
            Some(StopReason::RetriesExhausted)
        } else if state.previous.as_ref() == Some(&errors) {
            Some(StopReason::RepeatedErrors)
        } else {
            None
        };
        let invalid = |raw: String, errors: Vec<Violation>, stop: StopReason| Error::Invalid {
            raw,
            errors,
            attempts: state.made,
            usage,
            stop,
        };
        if let Some(stop) = stop {
            return Verdict::Failed(invalid(raw, errors, stop));
        }
        // The context stays bounded: the original turns plus the latest failure only.
        state.turns.truncate(state.base);
        state.turns.extend(reask::turns(
            self.prepared,
            self.mode,
            &raw,
            &errors,
            state.made,
        ));
        // Checked before the reask is sent, not after it overshot: what was spent, plus the reask's
        // estimated prompt, plus the most it may generate.
        if let Some(budget) = state.budget {
            if usage
                .total_tokens
                .saturating_add(self.next_request_tokens(&state.turns))
                > budget
            {
                return Verdict::Failed(invalid(raw, errors, StopReason::TokenBudget));
            }
        }
        if !self.requests_left() {
            let last = invalid(raw, errors, StopReason::RequestLimit);
            return Verdict::Failed(self.finish(state, self.allowance().reached(last)));
        }
        state.previous = Some(errors.clone());
        Verdict::Reask(errors)
    }
}
