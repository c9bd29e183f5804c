//! What the caller asks for (input, instructions, model, mode, budgets) and the one loop that turns it
//! into a value: build the request, send it, judge the reply, reask within the budget.

use std::borrow::Cow;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::client::Client;
use crate::dialect::{FinishReason, Rejection, Reply, Turn};
use crate::error::{Cut, Error, StopReason, Violation};
use crate::schema::{self, Prepared};
use crate::usage::Usage;
use crate::{judge, reask, Extract};

/// Who said a message in a chat history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The person (or program) talking to the model.
    User,
    /// The model.
    Assistant,
}

/// One message of a chat history.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// What to extract from: one text (sent as the user message) or a whole chat history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A text, sent as a user message.
    Text(String),
    /// A chat history, sent as it is after the extraction's instructions.
    Messages(Vec<Message>),
}

impl From<&str> for Input {
    fn from(text: &str) -> Self {
        Input::Text(text.to_owned())
    }
}
impl From<String> for Input {
    fn from(text: String) -> Self {
        Input::Text(text)
    }
}
impl From<&String> for Input {
    fn from(text: &String) -> Self {
        Input::Text(text.clone())
    }
}
impl From<Vec<Message>> for Input {
    fn from(messages: Vec<Message>) -> Self {
        Input::Messages(messages)
    }
}
impl From<&[Message]> for Input {
    fn from(messages: &[Message]) -> Self {
        Input::Messages(messages.to_vec())
    }
}

/// How the schema reaches the model and how the value comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mode {
    /// Native constrained decoding: `response_format: {"type": "json_schema", ...}` with `strict`.
    JsonSchema,
    /// `response_format: {"type": "json_object"}`: valid JSON guaranteed, the schema in the instructions.
    JsonObject,
    /// One function whose parameters are the schema, forced with `tool_choice`; the value is read from
    /// the call's arguments.
    Tools,
    /// No API support at all: the schema in the instructions, the JSON found in the reply (in a code
    /// fence or in prose) and repaired where the repair is unambiguous.
    Prompt,
}

impl Mode {
    /// The name used in logs and metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::JsonSchema => "json_schema",
            Mode::JsonObject => "json_object",
            Mode::Tools => "tools",
            Mode::Prompt => "prompt",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
}

impl<T> Extraction<T> {
    /// The value, without the metadata.
    pub fn into_inner(self) -> T {
        self.value
    }
}

/// An extraction being configured; `.await` it (or call [`send`](Self::send)) to run it.
///
/// Every setting defaults to the client's.
#[must_use = "an extraction does nothing until it is awaited"]
pub struct ExtractRequest<'c, T> {
    client: &'c Client,
    input: Input,
    pub(crate) options: Options,
    /// The request's own checks (`validate_with`), run after the type's `validate`.
    checks: Vec<judge::Check<'c>>,
    _type: PhantomData<fn() -> T>,
}

/// Per-request settings; `None` means "the client's".
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    pub(crate) instructions: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) temperature: Option<f32>,
    pub(crate) max_tokens: Option<u32>,
    pub(crate) max_retries: Option<u32>,
    /// The requests sent so far, and this request's limit on them.
    pub(crate) requests: crate::transport::Requests,
    pub(crate) mode: Option<Mode>,
    pub(crate) token_budget: Option<u64>,
    pub(crate) gateway_cache: GatewayCache,
    #[cfg(feature = "cache")]
    pub(crate) cache: crate::cache::PerRequest,
    pub(crate) max_input_tokens: Option<u64>,
    pub(crate) on_long_input: Option<crate::InputPolicy>,
    /// Set when the input is over the limit and the policy rejects it: every request built from
    /// these options fails with it before sending (plain extractions and streams alike).
    pub(crate) input_refused: Option<crate::tokens::TooLong>,
}

impl Options {
    /// No setting of its own but the client's sampling defaults.
    pub(crate) fn with_sampling(sampling: crate::client::Sampling) -> Self {
        Options {
            temperature: sampling.temperature,
            max_tokens: sampling.max_tokens,
            ..Options::default()
        }
    }
}

/// Cloudflare AI Gateway caching options for one request (sent as `cf-aig-*` headers by the
/// dialects that go through a gateway; ignored by the others).
#[derive(Debug, Clone, Default)]
pub(crate) struct GatewayCache {
    pub(crate) ttl: Option<std::time::Duration>,
    pub(crate) skip: bool,
    pub(crate) key: Option<String>,
}

impl<'c, T: Extract> ExtractRequest<'c, T> {
    pub(crate) fn new(client: &'c Client, input: Input) -> Self {
        ExtractRequest {
            client,
            input,
            options: Options::with_sampling(client.sampling()),
            checks: Vec::new(),
            _type: PhantomData,
        }
    }

    /// System instructions, in place of the type's `#[extract(instructions)]` and the default.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.options.instructions = Some(instructions.into());
        self
    }
    /// A chat history to extract from, in place of the input text.
    pub fn messages(mut self, messages: impl Into<Vec<Message>>) -> Self {
        self.input = Input::Messages(messages.into());
        self
    }
    /// The model for this request.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.options.model = Some(model.into());
        self
    }
    /// Sampling temperature.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.options.temperature = Some(temperature);
        self
    }
    /// The most tokens one reply may have.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.options.max_tokens = Some(max_tokens);
        self
    }
    /// How many times to ask again after an invalid reply (0 allowed).
    pub fn max_retries(mut self, reasks: u32) -> Self {
        self.options.max_retries = Some(reasks);
        self
    }
    /// How the schema is sent; the dialect's default otherwise.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.options.mode = Some(mode);
        self
    }
    /// The most HTTP requests this extraction may send (transport retries, reasks and mode
    /// fallbacks all count), in place of the client's
    /// [`max_requests`](crate::ClientBuilder::max_requests). 0 sends nothing and fails with
    /// [`Error::RequestLimit`].
    pub fn max_requests(mut self, requests: u32) -> Self {
        self.options.requests.limit = Some(requests);
        self
    }
    /// The most tokens (prompt and completion, over all attempts) this extraction may spend, checked
    /// before each request against an estimate of it; see
    /// [`ClientBuilder::token_budget`](crate::ClientBuilder::token_budget).
    pub fn token_budget(mut self, tokens: u64) -> Self {
        self.options.token_budget = Some(tokens);
        self
    }

    /// AI Gateway: cache this reply for `ttl` (`cf-aig-cache-ttl`). Like every gateway caching
    /// option, it is sent with the extraction's first request only: a reask skips the gateway's
    /// cache (`cf-aig-skip-cache: true`). The gateway stores a first reply before it is judged, so
    /// an invalid one stays cached for the TTL (see `Dialect::AiGateway`).
    pub fn gateway_cache_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.options.gateway_cache.ttl = Some(ttl);
        self
    }
    /// AI Gateway: do not answer this request from the cache (`cf-aig-skip-cache`).
    pub fn skip_gateway_cache(mut self) -> Self {
        self.options.gateway_cache.skip = true;
        self
    }
    /// AI Gateway: the cache key for this request (`cf-aig-cache-key`), sent with the first request
    /// only; a reask goes without it and skips the cache, since the gateway would answer it with the
    /// reply stored under the key, the one just rejected. An invalid first reply stays under the key
    /// for its TTL (the gateway cannot store on a condition nor delete one entry); a key naming a
    /// version moves past it.
    pub fn gateway_cache_key(mut self, key: impl Into<String>) -> Self {
        self.options.gateway_cache.key = Some(key.into());
        self
    }

    /// The most tokens the input may have, in place of the client's
    /// [`max_input_tokens`](crate::ClientBuilder::max_input_tokens).
    pub fn max_input_tokens(mut self, tokens: u64) -> Self {
        self.options.max_input_tokens = Some(tokens);
        self
    }
    /// What to do with an input over the limit, in place of the client's
    /// [`on_long_input`](crate::ClientBuilder::on_long_input).
    pub fn on_long_input(mut self, policy: crate::InputPolicy) -> Self {
        self.options.on_long_input = Some(policy);
        self
    }

    /// A check of this request's own, run on every reply after the type's `validate`: an `Err` is
    /// sent back to the model like a schema violation, and ends in [`Error::Invalid`] when the
    /// reasks run out. For rules that depend on this call rather than on the type (the ids a RAG
    /// answer may cite, a date range from the caller, values already taken). May be called more
    /// than once; every check must pass. Streams run it on the complete value.
    ///
    /// ```no_run
    /// # use extract::Extract;
    /// # #[derive(serde::Deserialize, schemars::JsonSchema, Extract)]
    /// # struct Answer { sources: Vec<u32> }
    /// # async fn run(client: extract::Client, retrieved: Vec<u32>) -> Result<(), extract::Error> {
    /// let answer = client
    ///     .extract::<Answer>("...")
    ///     .validate_with(|a: &Answer| match a.sources.iter().find(|s| !retrieved.contains(s)) {
    ///         Some(s) => Err(format!("source {s} is not one of the documents given: {retrieved:?}")),
    ///         None => Ok(()),
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn validate_with<F, E>(mut self, check: F) -> Self
    where
        F: Fn(&T) -> Result<(), E> + Send + Sync + 'c,
        E: fmt::Display,
    {
        // Typed here, erased for the run (which is not generic); the judge hands it the `T` back.
        self.checks.push(Box::new(move |value: &dyn std::any::Any| {
            match value.downcast_ref::<T>() {
                Some(value) => check(value).map_err(|e| e.to_string()),
                None => Ok(()),
            }
        }));
        self
    }

    /// Runs the extraction.
    pub async fn send(self) -> Result<Extraction<T>, Error> {
        let (run, input) = self.into_run();
        let span = run.span::<T>();
        // Every error made of a server's or the model's words is scrubbed of the client's secrets
        // where it is made: in the transport, where an envelope is read, where a reply is judged.
        run.go::<T>(&input).instrument(span).await
    }

    /// Streams the extraction: partial values as the fields arrive, then the validated value. See
    /// [`PartialStream`](crate::stream::PartialStream).
    pub fn stream(self) -> crate::stream::PartialStream<'c, T> {
        let (run, input) = self.into_run();
        crate::stream::PartialStream::new(run, input)
    }

    pub(crate) fn into_run(mut self) -> (Run<'c>, Input) {
        // Counted before anything is sent: truncated here, or refused by every request of the run.
        let input = match crate::tokens::apply_limit(self.client, &self.options, &self.input) {
            Ok(Some(limited)) => limited,
            Ok(None) => self.input,
            Err(refused) => {
                self.options.input_refused = Some(refused);
                self.input
            }
        };
        let prepared = schema::prepared::<T>();
        let client: &'c Client = self.client;
        let model = match &self.options.model {
            Some(model) => Cow::Owned(model.clone()),
            None => Cow::Borrowed(client.model()),
        };
        let chosen = self.options.mode.or(self.client.mode());
        let mode = chosen.unwrap_or_else(|| self.client.automatic_mode(&model));
        let run = Run {
            client: self.client,
            prepared,
            model,
            mode,
            fallback: chosen.is_none(),
            options: self.options,
            checks: self.checks,
        };
        (run, input)
    }
}

impl<'c, T: Extract> ExtractRequest<'c, Vec<T>> {
    /// Streams the elements of the list as each one is complete and valid, before the next one
    /// starts. See [`ElementStream`](crate::stream::ElementStream).
    pub fn elements(self) -> crate::stream::ElementStream<'c, T> {
        let (run, input) = self.into_run();
        crate::stream::ElementStream::new(run, input)
    }
}

impl<'c, T: Extract> IntoFuture for ExtractRequest<'c, T> {
    type Output = Result<Extraction<T>, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
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
    /// The HTTP requests the extraction sent (shared with its options).
    pub(crate) requests: crate::transport::Requests,
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

    async fn go<T: Extract>(mut self, input: &Input) -> Result<Extraction<T>, Error> {
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
                .chat(
                    &self.model,
                    self.mode,
                    Some(self.prepared),
                    &state.turns,
                    &self.options,
                    state.made,
                )
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
                        match next_mode(self.mode).filter(|_| self.fallback) {
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
                    requests: state.requests.sent(),
                    usage: state.usage,
                }
            }
            other => other,
        }
    }

    /// The requests this extraction may still send.
    fn allowance(&self) -> crate::transport::Allowance<'_> {
        crate::transport::Allowance {
            requests: &self.options.requests,
            limit: self
                .options
                .requests
                .limit
                .unwrap_or(self.client.max_requests()),
        }
    }

    /// Whether another request may be sent.
    pub(crate) fn requests_left(&self) -> bool {
        self.allowance().left()
    }

    /// Tokens the next request is estimated to need: its prompt, plus `max_tokens` when set.
    fn next_request_tokens(&self, turns: &[Turn]) -> u64 {
        crate::tokens::prompt_estimate(self.client, turns, Some(self.prepared), self.mode)
            + u64::from(self.options.max_tokens.unwrap_or(0))
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
        let turns = reask::initial_turns(
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
            requests: self.options.requests.clone(),
            max_reasks: self
                .options
                .max_retries
                .unwrap_or(self.client.max_retries()),
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
                #[cfg(feature = "cache")]
                self.options.cache.commit();
                return Verdict::Done(Extraction {
                    value,
                    usage,
                    attempts: state.made,
                    model: reply.model.unwrap_or_else(|| self.model.to_string()),
                    raw,
                    mode: self.mode,
                    cache_status: reply.cache_status,
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

/// The next mode to try after a rejection: each step asks less of the server.
pub(crate) fn next_mode(mode: Mode) -> Option<Mode> {
    match mode {
        Mode::JsonSchema => Some(Mode::JsonObject),
        Mode::Tools | Mode::JsonObject => Some(Mode::Prompt),
        Mode::Prompt => None,
    }
}
