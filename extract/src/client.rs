//! The client: a cheap `Clone` over an `Arc` holding the HTTP client, the provider settings and the
//! defaults of every extraction. Requests are built and sent from here; replies are judged elsewhere.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::dialect::{ChatRequest, Dialect, Reply, Turn};
use crate::error::Error;
use crate::request::{ExtractRequest, Input, Mode, Options};
use crate::schema::Prepared;
use crate::secrets::{self, Secrets};
use crate::stream::wire::Deltas;
use crate::tokens::InputLimit;
use crate::transport::{self, HttpReply, Policy};
use crate::Extract;

/// Requests one extraction may send unless configured otherwise
/// ([`ClientBuilder::max_requests`]).
pub const DEFAULT_MAX_REQUESTS: u32 = 4;

/// OpenAI's API, the default base URL.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// The model used against OpenAI when none is configured.
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini";

/// Client-wide sampling defaults ([`ClientBuilder::temperature`], [`ClientBuilder::max_tokens`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sampling {
    pub(crate) temperature: Option<f32>,
    pub(crate) max_tokens: Option<u32>,
}

/// A client for one provider. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<SecretString>,
    headers: HeaderMap,
    model: String,
    /// The chat URL for `model`, parsed on first use rather than on every request.
    chat_url: OnceLock<Url>,
    dialect: Dialect,
    mode: Option<Mode>,
    max_retries: u32,
    token_budget: Option<u64>,
    trace_content: bool,
    policy: Policy,
    /// The modes a server said it does not support, per model, so a rejection is paid once per
    /// client, model and mode (and a rejection of one mode says nothing of the others).
    fallbacks: Mutex<HashSet<(String, Mode)>>,
    max_requests: u32,
    /// The sampling requests use unless they set their own.
    sampling: Sampling,
    /// The model embeddings use when the request names none.
    embedding_model: Option<String>,
    /// Where embeddings are asked for, when not at `base_url`.
    embeddings_base_url: Option<String>,
    input_limit: InputLimit,
    /// Keeps a local model server alive as long as a client uses it.
    #[cfg(feature = "local")]
    _local: Option<Arc<crate::local::LocalModel>>,
    #[cfg(feature = "cache")]
    cache: Option<crate::cache::ResponseCache>,
}

impl Client {
    /// A builder with the defaults: OpenAI's base URL, 2 reasks, 2 transport retries, a 60 s timeout.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `OPENAI_API_KEY` | the API key | required for OpenAI, optional elsewhere |
    /// | `OPENAI_BASE_URL` | an OpenAI-compatible base URL | `https://api.openai.com/v1` |
    /// | `EXTRACT_MODEL` (or `OPENAI_MODEL`) | the model | `gpt-4o-mini` for OpenAI, required elsewhere |
    /// | `EXTRACT_EMBEDDING_MODEL` | the model [`embed`](Client::embed) uses | see [`embedding_model`](Client::embedding_model) |
    pub fn from_env() -> Result<Client, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let base_url = var("OPENAI_BASE_URL");
        let key = var("OPENAI_API_KEY");
        let model = var("EXTRACT_MODEL").or_else(|| var("OPENAI_MODEL"));
        let mut builder = Client::builder();
        if let Some(url) = &base_url {
            builder = builder.base_url(url);
        }
        if let Some(model) = var("EXTRACT_EMBEDDING_MODEL") {
            builder = builder.embedding_model(model);
        }
        let is_openai = base_url
            .as_deref()
            .is_none_or(|u| Dialect::detect(u) == Dialect::OpenAi);
        match (&key, is_openai) {
            (Some(key), _) => builder = builder.api_key(key),
            (None, true) => return Err(Error::config(
                "OPENAI_API_KEY is not set; set it, or set OPENAI_BASE_URL (and EXTRACT_MODEL) to \
                     an OpenAI-compatible server that needs no key",
            )),
            (None, false) => {}
        }
        match (model, is_openai) {
            (Some(model), _) => builder = builder.model(model),
            (None, true) => builder = builder.model(OPENAI_DEFAULT_MODEL),
            (None, false) => return Err(Error::config(
                "EXTRACT_MODEL is not set; set it to a model the server at OPENAI_BASE_URL serves",
            )),
        }
        builder.build()
    }

    /// Starts an extraction of a `T` from `input`; configure it, then `.await` it for an
    /// [`Extraction`](crate::Extraction) with the value and its metadata.
    pub fn extract<T: Extract>(&self, input: impl Into<Input>) -> ExtractRequest<'_, T> {
        ExtractRequest::new(self, input.into())
    }

    /// Starts a plain text completion of `input` (a text, or a chat history): `.await` it for the
    /// reply, or call `.stream()` for its text as it arrives.
    pub fn complete(&self, input: impl Into<Input>) -> crate::CompleteRequest<'_> {
        crate::CompleteRequest::new(self, input.into())
    }

    /// The model requests use unless they set their own.
    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The protocol spoken to the provider.
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect
    }

    pub(crate) fn mode(&self) -> Option<Mode> {
        self.inner.mode
    }

    /// The mode to use for `model` when the caller chose none: the dialect's default, or, where
    /// the server said it does not support that, the next simpler mode it did not reject.
    pub(crate) fn automatic_mode(&self, model: &str) -> Mode {
        let rejected = self
            .inner
            .fallbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut mode = self.inner.dialect.default_mode();
        while rejected.contains(&(model.to_owned(), mode)) {
            match crate::request::next_mode(mode) {
                Some(next) => mode = next,
                None => break,
            }
        }
        mode
    }

    /// Remembers that the server does not support `mode` for `model`: automatic extractions with
    /// that model skip it until [`reset_mode_fallbacks`](Self::reset_mode_fallbacks).
    pub(crate) fn remember_fallback(&self, model: &str, mode: Mode) {
        let new = self
            .inner
            .fallbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((model.to_owned(), mode));
        if new {
            tracing::warn!(
                model,
                rejected = mode.as_str(),
                next = self.automatic_mode(model).as_str(),
                "the server does not support this mode for this model; this client's automatic \
                 extractions with the model use the next one (Client::reset_mode_fallbacks undoes it)"
            );
        }
    }

    /// The modes this client stopped choosing automatically because a server said it does not
    /// support them, as `(model, mode)` pairs. Each was paid for with one rejected request; an
    /// extraction whose mode is set explicitly is not affected.
    pub fn mode_fallbacks(&self) -> Vec<(String, Mode)> {
        let rejected = self
            .inner
            .fallbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<(String, Mode)> = rejected.iter().cloned().collect();
        list.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
        list
    }

    /// Forgets every mode rejection: the next automatic extraction tries the dialect's default
    /// mode again (after a server upgrade, say). Returns how many were forgotten.
    pub fn reset_mode_fallbacks(&self) -> usize {
        let mut rejected = self
            .inner
            .fallbacks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let forgotten = rejected.len();
        rejected.clear();
        if forgotten > 0 {
            tracing::info!(forgotten, "mode fallbacks forgotten");
        }
        forgotten
    }

    pub(crate) fn max_requests(&self) -> u32 {
        self.inner.max_requests
    }

    /// The temperature and `max_tokens` requests start from.
    pub(crate) fn sampling(&self) -> Sampling {
        self.inner.sampling
    }

    pub(crate) fn max_retries(&self) -> u32 {
        self.inner.max_retries
    }

    pub(crate) fn token_budget(&self) -> Option<u64> {
        self.inner.token_budget
    }

    /// Logs a text of the conversation, when the client was asked to. Takes bytes so a request body
    /// is decoded only when it is logged, not on every request.
    pub(crate) fn trace_text(&self, what: &'static str, text: &[u8]) {
        if self.inner.trace_content {
            let text = String::from_utf8_lossy(text);
            let text = self.inner.policy.secrets.redact(&text);
            tracing::debug!(target: "extract::content", what, text = %text, "content");
        }
    }

    /// `error` without this client's secrets in the words a server put in it.
    pub(crate) fn scrub(&self, error: Error) -> Error {
        self.inner.policy.secrets.scrub_error(error)
    }

    /// The response cache this client consults, if it was given one.
    #[cfg(feature = "cache")]
    pub fn response_cache(&self) -> Option<&crate::cache::ResponseCache> {
        self.inner.cache.as_ref()
    }

    /// Builds one chat request, sends it with transport retries, and reads the reply envelope.
    pub(crate) async fn chat(
        &self,
        model: &str,
        mode: Mode,
        schema: Option<&Prepared>,
        turns: &[Turn],
        options: &Options,
        attempt: u32,
    ) -> Result<Reply, Error> {
        let dialect = self.inner.dialect.imp();
        let request = ChatRequest {
            model,
            mode,
            schema,
            turns,
            options,
            stream: false,
            attempt,
        };
        let (url, headers, body) = self.build(&request)?;
        #[cfg(feature = "cache")]
        let miss = match crate::cache::lookup(
            self.inner.cache.as_ref(),
            options,
            url.as_str(),
            dialect.name(),
            &headers,
            &body,
        ) {
            crate::cache::Lookup::Hit(reply) => return Ok(reply),
            crate::cache::Lookup::Miss(miss) => miss,
        };
        let allowance = self.allowance(options);
        let reply = transport::post(
            &self.inner.http,
            &url,
            &headers,
            body,
            &self.inner.policy,
            dialect,
            Some(allowance),
        )
        .await?;
        let reply = dialect
            .parse_reply(reply.status, &reply.headers, &reply.body)
            .map_err(|e| self.scrub(e))?;
        #[cfg(feature = "cache")]
        miss.stage(options, &reply);
        Ok(reply)
    }

    /// Builds one chat request asking for a stream and opens it. Where the provider cannot stream in
    /// this mode, the request is sent plainly and its reply becomes a stream of one delta.
    pub(crate) async fn open_stream(
        &self,
        model: &str,
        mode: Mode,
        schema: Option<&Prepared>,
        turns: &[Turn],
        options: &Options,
        attempt: u32,
    ) -> Result<Deltas, Error> {
        let dialect = self.inner.dialect.imp();
        let request = ChatRequest {
            model,
            mode,
            schema,
            turns,
            options,
            stream: dialect.can_stream(mode, schema.is_some()),
            attempt,
        };
        let (url, headers, body) = self.build(&request)?;
        let policy = &self.inner.policy;
        if !request.stream {
            tracing::debug!("the provider cannot stream in this mode; sending one request");
            let allowance = Some(self.allowance(options));
            let reply = transport::post(
                &self.inner.http,
                &url,
                &headers,
                body,
                policy,
                dialect,
                allowance,
            )
            .await?;
            return Ok(Deltas::whole(reply, dialect).redacting(&policy.secrets));
        }
        let opened =
            transport::post_stream(&self.inner.http, &url, &headers, body, policy, dialect, {
                Some(self.allowance(options))
            })
            .await?;
        Ok(Deltas::new(
            opened,
            dialect,
            policy.timeout,
            policy
                .stream_deadline
                .unwrap_or_else(|| policy.timeout.saturating_mul(10)),
            policy.max_response_bytes,
        )
        .redacting(&policy.secrets))
    }

    /// The requests this extraction may still send, under its limit or else the client's.
    fn allowance<'o>(&self, options: &'o Options) -> transport::Allowance<'o> {
        transport::Allowance {
            requests: &options.requests,
            limit: options.requests.limit.unwrap_or(self.inner.max_requests),
        }
    }

    /// The one place a request is built: URL, headers (client-wide and per request), body.
    fn build(
        &self,
        request: &ChatRequest<'_>,
    ) -> Result<(Url, Cow<'_, HeaderMap>, bytes::Bytes), Error> {
        // An input over its limit, which the policy rejects, is never sent (nor looked up).
        if let Some(refused) = request.options.input_refused {
            return Err(refused.into());
        }
        let dialect = self.inner.dialect.imp();
        // A schema the provider would reject for its size is refused before the first request.
        if let Some((mode, schema)) = request.schema_mode() {
            if let Some(target) = dialect.schema_limits(mode) {
                schema.check_limits(target)?;
            }
        }
        let body = dialect
            .chat_body(request)
            .to_bytes()
            .map(bytes::Bytes::from)
            .map_err(|e| Error::config(format!("the request body could not be serialized: {e}")))?;
        let url = self.chat_url(request.model)?;
        // The client's headers as they are, unless the dialect adds some for this request.
        let mut added = HeaderMap::new();
        dialect.request_headers(request, &mut added)?;
        let headers = if added.is_empty() {
            Cow::Borrowed(&self.inner.headers)
        } else {
            let mut headers = self.inner.headers.clone();
            dialect.request_headers(request, &mut headers)?;
            Cow::Owned(headers)
        };
        self.trace_text("request", &body);
        Ok((url, headers, body))
    }

    /// Where chats with `model` go; the client's own model's URL is parsed once.
    fn chat_url(&self, model: &str) -> Result<Url, Error> {
        let parse = || {
            let text = self
                .inner
                .dialect
                .imp()
                .chat_url(&self.inner.base_url, model);
            Url::parse(&text)
                .map_err(|e| Error::config(format!("the chat URL `{text}` is not a URL: {e}")))
        };
        if model != self.inner.model {
            return parse();
        }
        if let Some(url) = self.inner.chat_url.get() {
            return Ok(url.clone());
        }
        let url = parse()?;
        Ok(self.inner.chat_url.get_or_init(|| url).clone())
    }
}

// Embeddings, model listings and input limits: the same headers, policy and transport as a chat.
impl Client {
    /// The model [`embed`](Client::embed) uses unless a request names one: the one set with
    /// [`ClientBuilder::embedding_model`], else the provider's usual one (OpenAI's
    /// `text-embedding-3-small`, Workers AI's `@cf/baai/bge-base-en-v1.5`), else the client's model.
    pub fn embedding_model(&self) -> &str {
        self.inner
            .embedding_model
            .as_deref()
            .or_else(|| self.inner.dialect.imp().default_embedding_model())
            .unwrap_or(&self.inner.model)
    }

    /// The base URL embeddings are asked for at: the one set with
    /// [`ClientBuilder::embeddings_base_url`], else a local model's embeddings server (started on
    /// first use), else the client's base URL.
    pub(crate) async fn embeddings_base(&self) -> Result<String, Error> {
        if let Some(url) = &self.inner.embeddings_base_url {
            return Ok(url.clone());
        }
        #[cfg(feature = "local")]
        if let Some(local) = &self.inner._local {
            return local.embeddings_base_url().await;
        }
        Ok(self.inner.base_url.clone())
    }

    pub(crate) fn input_limit(&self) -> &InputLimit {
        &self.inner.input_limit
    }

    /// Sends a JSON body to `url` with the client's headers, retries and caps.
    pub(crate) async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<HttpReply, Error> {
        let body = serde_json::to_vec(body)
            .map(bytes::Bytes::from)
            .map_err(|e| Error::config(format!("the request body could not be serialized: {e}")))?;
        let url = parse_url(url)?;
        let dialect = self.inner.dialect.imp();
        let (http, headers, policy) = (&self.inner.http, &self.inner.headers, &self.inner.policy);
        transport::post(http, &url, headers, body, policy, dialect, None).await
    }

    /// `GET`s `url` with the client's headers, retries and caps.
    pub(crate) async fn get(&self, url: &str) -> Result<HttpReply, Error> {
        let url = parse_url(url)?;
        let dialect = self.inner.dialect.imp();
        let (http, headers, policy) = (&self.inner.http, &self.inner.headers, &self.inner.policy);
        transport::get(http, &url, headers, policy, dialect).await
    }
}

/// A URL built from the client's base URL (checked when the client was built) and a path.
fn parse_url(url: &str) -> Result<Url, Error> {
    Url::parse(url).map_err(|e| Error::config(format!("`{url}` is not a URL: {e}")))
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &secrets::shown_url(&self.inner.base_url))
            .field(
                "api_key",
                &self.inner.api_key.as_ref().map(|_| "[redacted]"),
            )
            .field("model", &self.inner.model)
            .field("dialect", &self.inner.dialect)
            .field("mode", &self.inner.mode)
            .field("max_retries", &self.inner.max_retries)
            .field("max_requests", &self.inner.max_requests)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
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
    max_retries: u32,
    max_requests: u32,
    token_budget: Option<u64>,
    trace_content: bool,
    sampling: Sampling,
    headers: Vec<(String, String, bool)>,
    http: Option<reqwest::Client>,
    connect_timeout: Duration,
    follow_redirects: bool,
    policy: Policy,
    pub(crate) embedding_model: Option<String>,
    pub(crate) embeddings_base_url: Option<String>,
    pub(crate) input_limit: InputLimit,
    #[cfg(feature = "local")]
    local: Option<Arc<crate::local::LocalModel>>,
    #[cfg(feature = "cache")]
    pub(crate) cache: Option<crate::cache::ResponseCache>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            base_url: OPENAI_BASE_URL.to_owned(),
            api_key: None,
            model: None,
            dialect: None,
            mode: None,
            max_retries: 2,
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
            #[cfg(feature = "local")]
            local: None,
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
    pub fn max_retries(mut self, reasks: u32) -> Self {
        self.max_retries = reasks;
        self
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
    /// How many times to resend after a connection error, 408, 409, 429 or 5xx (default 2).
    pub fn transport_retries(mut self, retries: u32) -> Self {
        self.policy.retries = retries;
        self
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

    #[cfg(feature = "local")]
    pub(crate) fn keep_alive(mut self, local: Arc<crate::local::LocalModel>) -> Self {
        self.local = Some(local);
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
        let model = match self.model {
            Some(m) if !m.trim().is_empty() => m,
            _ if dialect == Dialect::OpenAi => OPENAI_DEFAULT_MODEL.to_owned(),
            _ => {
                return Err(Error::config(
                    "no model set; call `.model(\"...\")` with a model the server serves",
                ))
            }
        };
        if dialect == Dialect::OpenAi && self.api_key.is_none() {
            return Err(Error::config(
                "OpenAI needs an API key; call `.api_key(...)` or use `Client::from_env()`",
            ));
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
                max_retries: self.max_retries,
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
                #[cfg(feature = "local")]
                _local: self.local,
                #[cfg(feature = "cache")]
                cache: self.cache,
            }),
        })
    }
}
