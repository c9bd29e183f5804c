//! Per-request settings, defined once. [`Options`] holds every setting a request may override (`None`
//! means the client's); the setters are written once, in [`chat_options!`] (every request that sends
//! a chat: extractions, completions, their streams, the blocking mirror) and [`extraction_options!`]
//! (what only an extraction has: a mode, reasks, a token budget, its own checks). A request kind
//! invokes the macros that apply to it, so an option added here appears on every kind it applies to,
//! and a kind without it is a compile error where it is used, never a silent drift.
//!
//! Settings only: what a request learns while it runs (requests sent, an input refused, replies
//! staged for the cache) is the run's, in [`Ledger`](crate::run::Ledger).

use std::time::Duration;

use crate::vocab::Mode;

/// Per-request settings; `None` means "the client's".
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// The system instructions, in place of the type's and the default (an extraction), or the
    /// system turn (a completion).
    pub(crate) instructions: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) temperature: Option<f32>,
    pub(crate) max_tokens: Option<u32>,
    /// Reasks after an invalid reply.
    pub(crate) max_reasks: Option<u32>,
    /// HTTP requests, resends and reasks and mode fallbacks all counted.
    pub(crate) max_requests: Option<u32>,
    pub(crate) mode: Option<Mode>,
    pub(crate) token_budget: Option<u64>,
    pub(crate) gateway_cache: GatewayCache,
    /// Whether the client's response cache may answer (it still stores the reply).
    #[cfg(feature = "cache")]
    pub(crate) skip_cache: bool,
    pub(crate) max_input_tokens: Option<u64>,
    pub(crate) on_long_input: Option<InputPolicy>,
}

impl Options {
    /// No setting of its own but the client's sampling defaults, which the request's setters replace.
    pub(crate) fn with_sampling(sampling: Sampling) -> Self {
        Options {
            temperature: sampling.temperature,
            max_tokens: sampling.max_tokens,
            ..Options::default()
        }
    }
}

/// Client-wide sampling defaults ([`ClientBuilder::temperature`](crate::ClientBuilder::temperature),
/// [`ClientBuilder::max_tokens`](crate::ClientBuilder::max_tokens)), every request's starting point.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sampling {
    pub(crate) temperature: Option<f32>,
    pub(crate) max_tokens: Option<u32>,
}

/// Cloudflare AI Gateway caching options for one request. Which headers they become, and when, is
/// the gateway dialect's to say (`dialect/gateway.rs`); the other dialects ignore them.
#[derive(Debug, Clone, Default)]
pub(crate) struct GatewayCache {
    pub(crate) ttl: Option<Duration>,
    pub(crate) skip: bool,
    pub(crate) key: Option<String>,
}

/// What to do with an input over the token limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum InputPolicy {
    /// Fail with [`Error::InputTooLong`](crate::Error::InputTooLong) before sending anything.
    #[default]
    Reject,
    /// Keep the beginning and cut the end: the end of a text; in a chat history, the latest
    /// messages (the one that crosses the limit is shortened, later ones dropped).
    TruncateEnd,
    /// Keep the end and cut the beginning: the start of a text; in a chat history, the oldest
    /// messages, which suits a conversation whose latest turns matter most.
    TruncateStart,
}

/// The setters of every option a chat request has, for a builder whose fields `input: Input` and
/// `options: Options` are reached through `self` followed by the given fields (`chat_options!()`
/// for the async builders, `chat_options!(.request)` for the blocking one, which wraps one).
macro_rules! chat_options {
    ($(.$inner:ident)*) => {
        /// System instructions: for an extraction, in place of the type's
        /// `#[extract(instructions)]` and the default; for a completion, its system turn.
        pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
            self$(.$inner)*.options.instructions = Some(instructions.into());
            self
        }
        /// A chat history to read, in place of the input text.
        pub fn messages(mut self, messages: impl Into<Vec<$crate::Message>>) -> Self {
            self$(.$inner)*.input = $crate::Input::Messages(messages.into());
            self
        }
        /// The model for this request, in place of the client's.
        pub fn model(mut self, model: impl Into<String>) -> Self {
            self$(.$inner)*.options.model = Some(model.into());
            self
        }
        /// Sampling temperature.
        pub fn temperature(mut self, temperature: f32) -> Self {
            self$(.$inner)*.options.temperature = Some(temperature);
            self
        }
        /// The most tokens one reply may have.
        pub fn max_tokens(mut self, max_tokens: u32) -> Self {
            self$(.$inner)*.options.max_tokens = Some(max_tokens);
            self
        }
        /// The most HTTP requests this call may send (resends, reasks and mode fallbacks all
        /// count), in place of the client's
        /// [`max_requests`](crate::ClientBuilder::max_requests). 0 sends nothing and fails with
        /// [`Error::RequestLimit`](crate::Error::RequestLimit).
        pub fn max_requests(mut self, requests: u32) -> Self {
            self$(.$inner)*.options.max_requests = Some(requests);
            self
        }
        /// The most tokens the input may have, in place of the client's
        /// [`max_input_tokens`](crate::ClientBuilder::max_input_tokens).
        pub fn max_input_tokens(mut self, tokens: u64) -> Self {
            self$(.$inner)*.options.max_input_tokens = Some(tokens);
            self
        }
        /// What to do with an input over the limit, in place of the client's
        /// [`on_long_input`](crate::ClientBuilder::on_long_input).
        pub fn on_long_input(mut self, policy: $crate::InputPolicy) -> Self {
            self$(.$inner)*.options.on_long_input = Some(policy);
            self
        }
        /// AI Gateway: cache this reply for `ttl` (`cf-aig-cache-ttl`). Like every gateway caching
        /// option, it is sent with an extraction's first request only: a reask skips the gateway's
        /// cache (`cf-aig-skip-cache: true`). The gateway stores a first reply before it is judged,
        /// so an invalid one stays cached for the TTL (see `Dialect::AiGateway`).
        pub fn gateway_cache_ttl(mut self, ttl: std::time::Duration) -> Self {
            self$(.$inner)*.options.gateway_cache.ttl = Some(ttl);
            self
        }
        /// AI Gateway: do not answer this request from the cache (`cf-aig-skip-cache`).
        pub fn skip_gateway_cache(mut self) -> Self {
            self$(.$inner)*.options.gateway_cache.skip = true;
            self
        }
        /// AI Gateway: the cache key for this request (`cf-aig-cache-key`), sent with the first
        /// request only; a reask goes without it and skips the cache, since the gateway would answer
        /// it with the reply stored under the key, the one just rejected. An invalid first reply
        /// stays under the key for its TTL (the gateway cannot store on a condition nor delete one
        /// entry); a key naming a version moves past it.
        pub fn gateway_cache_key(mut self, key: impl Into<String>) -> Self {
            self$(.$inner)*.options.gateway_cache.key = Some(key.into());
            self
        }
        /// Asks the provider even when the client's response cache holds an answer; the fresh
        /// answer replaces the stored one.
        #[cfg(feature = "cache")]
        #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
        pub fn skip_cache(mut self) -> Self {
            self$(.$inner)*.options.skip_cache = true;
            self
        }
    };
}

/// The setters only an extraction has, for a builder reached as in [`chat_options!`] that also has a
/// `checks` field and a type parameter `T` (the type extracted) and a lifetime `'c`.
macro_rules! extraction_options {
    ($(.$inner:ident)*) => {
        /// How many times to ask again after an invalid reply (0 allowed), in place of the client's
        /// [`max_reasks`](crate::ClientBuilder::max_reasks).
        pub fn max_reasks(mut self, reasks: u32) -> Self {
            self$(.$inner)*.options.max_reasks = Some(reasks);
            self
        }
        /// The old name of [`max_reasks`](Self::max_reasks): it counts reasks, not resends.
        #[deprecated(since = "0.2.0", note = "renamed `max_reasks`: it counts reasks, not resends")]
        pub fn max_retries(self, reasks: u32) -> Self {
            self.max_reasks(reasks)
        }
        /// How the schema is sent; the dialect's default otherwise.
        pub fn mode(mut self, mode: $crate::Mode) -> Self {
            self$(.$inner)*.options.mode = Some(mode);
            self
        }
        /// The most tokens (prompt and completion, over all attempts) this extraction may spend,
        /// checked before each request against an estimate of it; see
        /// [`ClientBuilder::token_budget`](crate::ClientBuilder::token_budget).
        pub fn token_budget(mut self, tokens: u64) -> Self {
            self$(.$inner)*.options.token_budget = Some(tokens);
            self
        }
        /// A check of this request's own, run on every reply after the type's `validate`: an `Err`
        /// is sent back to the model like a schema violation, and ends in
        /// [`Error::Invalid`](crate::Error::Invalid) when the reasks run out. For rules that depend
        /// on this call rather than on the type (the ids a RAG answer may cite, a date range from
        /// the caller, values already taken). May be called more than once; every check must pass.
        /// Streams run it on the complete value.
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
            E: std::fmt::Display,
        {
            self$(.$inner)*.checks.push($crate::judge::check_of(check));
            self
        }
    };
}

pub(crate) use {chat_options, extraction_options};
