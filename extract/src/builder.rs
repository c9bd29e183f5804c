//! `ClientBuilder`: every setting of a client, each setter in this one file (feature-gated where
//! the feature adds the setting), checked once by [`build`](ClientBuilder::build).

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::client::{Client, Companion, Inner, DEFAULT_MAX_REQUESTS};
use crate::dialect::{Dialect, OPENAI_BASE_URL};
use crate::error::Error;
use crate::options::{InputPolicy, Sampling};
use crate::secrets::{self, Secrets};
use crate::tokens::InputLimit;
use crate::transport::{self, Policy};
use crate::vocab::Mode;

impl Client {
    /// A builder with the defaults: OpenAI's base URL, 2 reasks, 2 transport retries, a 60 s timeout.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }
}

/// Configures a [`Client`]; [`build`](Self::build) checks the configuration.
#[must_use]
pub struct ClientBuilder {
    base_url: String,
    api_key: Option<SecretString>,
    model: Option<String>,
    dialect: Option<Dialect>,
    mode: Option<Mode>,
    max_reasks: u32,
    max_requests: u32,
    token_budget: Option<u64>,
    trace_content: bool,
    sampling: Sampling,
    headers: Vec<(String, String, bool)>,
    http: Option<reqwest::Client>,
    connect_timeout: Duration,
    follow_redirects: bool,
    policy: Policy,
    embedding_model: Option<String>,
    embeddings_base_url: Option<String>,
    input_limit: InputLimit,
    fallback: Option<Client>,
    fallback_on_invalid: bool,
    /// What the client keeps alive while any clone of it lives (the embedded local model's server).
    companion: Option<Arc<dyn Companion>>,
    #[cfg(feature = "cache")]
    cache: Option<crate::cache::ResponseCache>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: OPENAI_BASE_URL.to_owned(),
            api_key: None,
            model: None,
            dialect: None,
            mode: None,
            max_reasks: 2,
            max_requests: DEFAULT_MAX_REQUESTS,
            token_budget: None,
            trace_content: false,
            sampling: Sampling::default(),
            headers: Vec::new(),
            http: None,
            connect_timeout: Duration::from_secs(10),
            follow_redirects: false,
            policy: Policy {
                retries: 2,
                timeout: Duration::from_secs(60),
                max_retry_delay: Duration::from_secs(30),
                initial_backoff: Duration::from_millis(500),
                max_response_bytes: 8 * 1024 * 1024,
                secrets: Secrets::default(),
                stream_deadline: None,
            },
            embedding_model: None,
            embeddings_base_url: None,
            input_limit: InputLimit::default(),
            fallback: None,
            fallback_on_invalid: false,
            companion: None,
            #[cfg(feature = "cache")]
            cache: None,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &secrets::shown_url(&self.base_url))
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The provider's base URL, up to and including `/v1` (`http://127.0.0.1:8080/v1`).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    /// The API key, sent as a bearer token (kept in a `SecretString`, never printed).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }
    /// The default model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
    /// The protocol, when detection from the base URL is not right.
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = Some(dialect);
        self
    }
    /// The default mode; otherwise the dialect's.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }
    /// The sampling temperature every request sends unless it sets its own (default: none sent,
    /// the server's). The local model's preset sets 0.
    pub fn temperature(mut self, temperature: f32) -> Self {
        self.sampling.temperature = Some(temperature);
        self
    }
    /// The most tokens one reply may have, for every request that does not set its own (default:
    /// none sent, the server's). A reply cut there ends in [`Error::Truncated`] with its text.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.sampling.max_tokens = Some(max_tokens);
        self
    }
    /// How many times to ask the model again after an invalid reply (default 2; 0 allowed).
    pub fn max_reasks(mut self, reasks: u32) -> Self {
        self.max_reasks = reasks;
        self
    }
    /// The old name of [`max_reasks`](Self::max_reasks): it counts reasks, not resends.
    #[deprecated(
        since = "0.2.0",
        note = "renamed `max_reasks`: it counts reasks, not resends"
    )]
    pub fn max_retries(self, reasks: u32) -> Self {
        self.max_reasks(reasks)
    }
    /// The most HTTP requests one extraction may send, whatever sends them: its first request,
    /// transport retries, reasks and mode fallbacks all count (default 4: the first request, two
    /// reasks, and one transport retry or mode fallback). Without it the loops multiply (3 transport
    /// attempts for each of 3 model calls in each of up to 3 modes). An extraction stopped by it
    /// ends in [`Error::RequestLimit`], which says how many requests were made and what the last one
    /// ended in. At least 1.
    pub fn max_requests(mut self, requests: u32) -> Self {
        self.max_requests = requests;
        self
    }
    /// Tokens one extraction may spend over all its attempts. It is checked before each request:
    /// when the tokens spent so far, plus the next prompt's estimated tokens, plus `max_tokens`
    /// (when set) would pass it, the request is not sent ([`Error::OverBudget`], or
    /// [`Error::Invalid`] with [`StopReason::TokenBudget`](crate::StopReason::TokenBudget) after an
    /// invalid reply). The estimate counts the messages and the schema sent with the client's
    /// [`token_counter`](Self::token_counter), else with [`tokens::estimate`](crate::tokens::estimate),
    /// which errs high: an extraction may stop a request early, but does not pass the budget by a
    /// prompt the server counts as larger than estimated unless the counter undercounts.
    pub fn token_budget(mut self, tokens: u64) -> Self {
        self.token_budget = Some(tokens);
        self
    }
    /// Whether request bodies and model replies are logged, as DEBUG events of the target
    /// `extract::content` (default: no). Spans always carry the model, dialect, mode, attempt,
    /// tokens, latency and cache status; the texts, which may be personal data, only when asked.
    /// The key is never logged either way.
    pub fn trace_content(mut self, yes: bool) -> Self {
        self.trace_content = yes;
        self
    }
    /// The most time one HTTP attempt may take (default 60 s).
    ///
    /// A plain request: from sending it to the last byte of the reply, headers and body alike (the
    /// connection is also bounded by [`connect_timeout`](Self::connect_timeout)). A stream: the
    /// wait for the reply's headers, then the longest wait between two events; each event starts
    /// the wait again, so a whole stream is bounded by [`stream_deadline`](Self::stream_deadline)
    /// instead. A reask or a transport retry is a new attempt with its own timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.policy.timeout = timeout;
        self
    }
    /// The most time a stream may last once its headers arrived, however steadily events come
    /// (default ten times the [`timeout`](Self::timeout)). A stream still going then ends as
    /// [`Error::Truncated`] with [`Cut::Deadline`](crate::Cut::Deadline) and the text so far, unless
    /// the provider already gave its finish reason, when the reply is whole.
    pub fn stream_deadline(mut self, deadline: Duration) -> Self {
        self.policy.stream_deadline = Some(deadline);
        self
    }
    /// The most time connecting may take (default 10 s); ignored with [`http_client`](Self::http_client).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
    /// How many times to resend a request after a connection error, 408, 409, 429 or 5xx
    /// (default 2). Resends are not reasks: the same request goes again, the model is not told
    /// anything.
    pub fn max_resends(mut self, resends: u32) -> Self {
        self.policy.retries = resends;
        self
    }
    /// The old name of [`max_resends`](Self::max_resends).
    #[deprecated(
        since = "0.2.0",
        note = "renamed `max_resends`: it counts resends, not reasks"
    )]
    pub fn transport_retries(self, resends: u32) -> Self {
        self.max_resends(resends)
    }
    /// The longest wait between transport retries, and the longest `Retry-After` honoured (default
    /// 30 s); a server asking for more gets [`Error::RateLimited`] back to the caller at once.
    pub fn max_retry_delay(mut self, delay: Duration) -> Self {
        self.policy.max_retry_delay = delay;
        self
    }
    /// The first backoff delay, doubled at each retry (default 500 ms).
    pub fn initial_backoff(mut self, delay: Duration) -> Self {
        self.policy.initial_backoff = delay;
        self
    }
    /// The largest reply body read (default 8 MiB); a larger one is an error, not an allocation.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.policy.max_response_bytes = bytes;
        self
    }
    /// An extra header on every request. Mark it `sensitive` when it carries a secret.
    pub fn header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
        sensitive: bool,
    ) -> Self {
        self.headers.push((name.into(), value.into(), sensitive));
        self
    }
    /// Whether to follow a redirect that stays on the same origin (scheme, host and port) and keeps
    /// the method and body (`307`, `308`), at most five in a row (default: no). Any other redirect
    /// ends the request as [`Error::Redirect`], naming where it pointed: following it would send the
    /// key and the prompt elsewhere. Ignored with [`http_client`](Self::http_client), whose own
    /// policy applies; a reply that such a client fetched from another origin is refused all the same.
    pub fn follow_redirects(mut self, same_origin: bool) -> Self {
        self.follow_redirects = same_origin;
        self
    }
    /// Your own `reqwest::Client` (proxies, TLS roots, pools); timeouts still apply per request.
    /// Build it with `.redirect(reqwest::redirect::Policy::none())`: reqwest's default policy
    /// follows redirects to other hosts with every header but `Authorization` and cookies. A reply
    /// that comes from another origin than the one asked is refused as [`Error::Redirect`].
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Keeps `companion` alive as long as the client (the local model's server, which the client
    /// talks to and the last clone stops).
    #[cfg(feature = "local")]
    pub(crate) fn companion(mut self, companion: Arc<dyn Companion>) -> Self {
        self.companion = Some(companion);
        self
    }

    // Embeddings.
    /// The model [`Client::embed`] uses by default, since embedding models are not chat models
    /// (`text-embedding-3-small`, `@cf/baai/bge-base-en-v1.5`, `nomic-embed-text`).
    pub fn embedding_model(mut self, model: impl Into<String>) -> Self {
        self.embedding_model = Some(model.into());
        self
    }

    /// Where [`Client::embed`] sends its requests, when not to the [`base_url`](Self::base_url):
    /// a second server of the same protocol that serves embeddings (llama.cpp's `llama-server
    /// --embeddings`, a text-embeddings-inference instance). Same key and headers.
    pub fn embeddings_base_url(mut self, url: impl Into<String>) -> Self {
        self.embeddings_base_url = Some(url.into());
        self
    }

    // Input limits.
    /// The most tokens the input of one extraction may have (the text, or the contents of every
    /// message of a history; the instructions and schema the request adds are not counted, so leave
    /// room for them and for the reply below the model's context window). Over it, the input is
    /// rejected before anything is sent, or truncated: see [`on_long_input`](Self::on_long_input).
    /// Counted with [`estimate`](crate::tokens::estimate) unless [`token_counter`](Self::token_counter) says otherwise.
    pub fn max_input_tokens(mut self, tokens: u64) -> Self {
        self.input_limit.max_tokens = Some(tokens);
        self
    }
    /// What to do with an input over [`max_input_tokens`](Self::max_input_tokens) (default:
    /// [`InputPolicy::Reject`]).
    pub fn on_long_input(mut self, policy: InputPolicy) -> Self {
        self.input_limit.policy = Some(policy);
        self
    }
    /// How input tokens are counted, in place of [`estimate`](crate::tokens::estimate): `extract::tokens::o200k` (feature
    /// `tiktoken`), or any function, say your model's tokenizer.
    pub fn token_counter(mut self, count: impl Fn(&str) -> usize + Send + Sync + 'static) -> Self {
        self.input_limit.counter = Some(Arc::new(count));
        self
    }

    // AI Gateway.
    /// The token of an authenticated AI Gateway, sent as `cf-aig-authorization: Bearer <token>`
    /// (marked sensitive) beside the provider's own `Authorization`.
    pub fn gateway_token(self, token: impl AsRef<str>) -> Self {
        self.header(
            "cf-aig-authorization",
            format!("Bearer {}", token.as_ref()),
            true,
        )
    }

    // Fallback between providers.
    /// The client an extraction goes to when this one fails in a way another provider may not: a
    /// rate limit, overload or another 5xx, a timeout or a connection error, a schema or mode the
    /// provider rejects, a reply that is not its protocol (after this client's own resends and
    /// reasks). `next` may be any dialect, and may have a fallback of its own: a chain. The
    /// extraction starts over there with the same input, options and checks, but with `next`'s own
    /// model (a request's `.model(..)` names the first client's). [`Extraction::dialect`] and
    /// `model` say who answered, `usage` sums every client's; when all fail, [`Error::Fallback`]
    /// keeps each one's error. Streams do not fall back yet: they use this client alone.
    ///
    /// [`Extraction::dialect`]: crate::Extraction::dialect
    pub fn fallback(mut self, next: Client) -> Self {
        self.fallback = Some(next);
        self
    }
    /// Also fall back when an extraction's reasks run out ([`Error::Invalid`]): another model may
    /// get right what this one could not (default: off).
    pub fn fallback_on_invalid(mut self, yes: bool) -> Self {
        self.fallback_on_invalid = yes;
        self
    }

    // The response cache.
    /// Answers identical requests from `cache` instead of the provider. See
    /// [`ResponseCache`](crate::cache::ResponseCache) for what is cached; clones of one cache may be
    /// given to several clients.
    #[cfg(feature = "cache")]
    #[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
    pub fn cache(mut self, cache: crate::cache::ResponseCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Checks the configuration and builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let base_url = self.base_url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url)
            .map_err(|e| Error::config(format!("base URL `{base_url}` is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::config(format!(
                "base URL `{base_url}` must start with http:// or https://"
            )));
        }
        let dialect = self.dialect.unwrap_or_else(|| Dialect::detect(&base_url));
        let facts = dialect.imp();
        let model = match (self.model, facts.default_model()) {
            (Some(m), _) if !m.trim().is_empty() => m,
            (_, Some(default)) => default.to_owned(),
            (_, None) => {
                return Err(Error::config(
                    "no model set; call `.model(\"...\")` with a model the server serves",
                ))
            }
        };
        if let (Some(provider), None) = (facts.needs_key(), &self.api_key) {
            return Err(Error::config(format!(
                "{provider} needs an API key; call `.api_key(...)` or use `Client::from_env()`"
            )));
        }
        if self.max_requests == 0 {
            return Err(Error::config(
                "max_requests must be at least 1: an extraction needs one request",
            ));
        }
        if self.policy.timeout.is_zero() {
            return Err(Error::config("the timeout must be longer than zero"));
        }
        if self.policy.stream_deadline.is_some_and(|d| d.is_zero()) {
            return Err(Error::config(
                "the stream deadline must be longer than zero",
            ));
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.api_key {
            dialect
                .imp()
                .auth_headers(key.expose_secret(), &mut headers)?;
        }
        for (name, value, sensitive) in self.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::config(format!("`{name}` is not a valid header name")))?;
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                Error::config(format!("the value of header `{name}` is not valid in HTTP"))
            })?;
            value.set_sensitive(sensitive);
            headers.insert(name, value);
        }
        let mut policy = self.policy;
        policy.secrets = Secrets::new(&headers, secrets::url_password(&base_url));
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout)
                .user_agent(concat!("extract/", env!("CARGO_PKG_VERSION")))
                .redirect(transport::redirect_policy(self.follow_redirects))
                .build()
                .map_err(|e| Error::config(format!("the HTTP client could not be built: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                api_key: self.api_key,
                headers,
                model,
                chat_url: OnceLock::new(),
                dialect,
                mode: self.mode,
                max_reasks: self.max_reasks,
                max_requests: self.max_requests,
                token_budget: self.token_budget,
                trace_content: self.trace_content,
                sampling: self.sampling,
                policy,
                fallbacks: Mutex::new(HashSet::new()),
                embedding_model: self.embedding_model.filter(|m| !m.trim().is_empty()),
                embeddings_base_url: self
                    .embeddings_base_url
                    .map(|u| u.trim().trim_end_matches('/').to_owned())
                    .filter(|u| !u.is_empty()),
                input_limit: self.input_limit,
                fallback: self.fallback,
                fallback_on_invalid: self.fallback_on_invalid,
                companion: self.companion,
                #[cfg(feature = "cache")]
                cache: self.cache,
            }),
        })
    }
}
