//! The client: a cheap `Clone` over an `Arc` holding the HTTP client, the provider settings and the
//! defaults of every extraction. Requests are built and sent from here; replies are judged elsewhere.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::header::HeaderMap;
use reqwest::Url;
use secrecy::SecretString;

use crate::dialect::{ChatRequest, Dialect};
use crate::error::Error;
use crate::ledger::Ledger;
use crate::options::{Options, Sampling};
use crate::secrets;
use crate::stream::wire::Deltas;
use crate::tokens::InputLimit;
use crate::transport::{self, HttpReply, Policy};
use crate::vocab::{Mode, Reply};

/// Requests one extraction may send unless configured otherwise
/// ([`ClientBuilder::max_requests`](crate::ClientBuilder::max_requests)).
pub const DEFAULT_MAX_REQUESTS: u32 = 4;

/// A client for one provider. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

/// Something a client keeps alive while any clone of it lives, which may serve its embeddings: the
/// embedded local model's servers (`local.rs`), started on first use.
pub(crate) trait Companion: Send + Sync {
    /// The base URL of the embeddings server, started if it is not running; `None` if there is none.
    fn embeddings_base_url(&self) -> Option<BoxFuture<'_, Result<String, Error>>>;
}

/// A boxed future that can be sent across threads.
pub(crate) type BoxFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    pub(crate) api_key: Option<SecretString>,
    pub(crate) headers: HeaderMap,
    pub(crate) model: String,
    /// The chat URL for `model`, parsed on first use rather than on every request.
    pub(crate) chat_url: OnceLock<Url>,
    pub(crate) dialect: Dialect,
    pub(crate) mode: Option<Mode>,
    pub(crate) max_reasks: u32,
    pub(crate) token_budget: Option<u64>,
    pub(crate) trace_content: bool,
    pub(crate) policy: Policy,
    /// The modes a server said it does not support, per model, so a rejection is paid once per
    /// client, model and mode (and a rejection of one mode says nothing of the others).
    pub(crate) fallbacks: Mutex<HashSet<(String, Mode)>>,
    pub(crate) max_requests: u32,
    /// The sampling requests use unless they set their own.
    pub(crate) sampling: Sampling,
    /// The model embeddings use when the request names none.
    pub(crate) embedding_model: Option<String>,
    /// Where embeddings are asked for, when not at `base_url`.
    pub(crate) embeddings_base_url: Option<String>,
    pub(crate) input_limit: InputLimit,
    /// The client a request goes to when this one fails in a way another provider may not
    /// ([`ClientBuilder::fallback`](crate::ClientBuilder::fallback)).
    pub(crate) fallback: Option<Client>,
    /// Whether an extraction whose reasks ran out also goes to the fallback.
    pub(crate) fallback_on_invalid: bool,
    /// Keeps a local model server alive as long as a client uses it.
    pub(crate) companion: Option<Arc<dyn Companion>>,
    #[cfg(feature = "cache")]
    pub(crate) cache: Option<crate::cache::ResponseCache>,
}

impl Client {
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
            match mode.simpler() {
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

    /// The client that takes over after `error`, if this one has a fallback and the error is one
    /// another provider may not share: rate limits, overload and other 5xx, timeouts and
    /// connection errors, a schema or mode the provider rejects, a reply that is not its protocol,
    /// and, when asked for, reasks run out.
    pub(crate) fn fallback_after(&self, error: &Error) -> Option<&Client> {
        let next = self.inner.fallback.as_ref()?;
        let moves = match error.last() {
            Error::RateLimited { .. }
            | Error::Timeout { .. }
            | Error::Transport { .. }
            | Error::SchemaRejected { .. }
            | Error::UnexpectedResponse { .. } => true,
            Error::Api { status, .. } => matches!(status, 408 | 409 | 429) || *status >= 500,
            Error::Invalid { .. } => self.inner.fallback_on_invalid,
            _ => false,
        };
        moves.then_some(next)
    }

    /// The temperature and `max_tokens` requests start from.
    pub(crate) fn sampling(&self) -> Sampling {
        self.inner.sampling
    }

    pub(crate) fn max_reasks(&self) -> u32 {
        self.inner.max_reasks
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

    /// Builds one chat request, sends it with resends, and reads the reply envelope. `request.stream`
    /// is ignored: the reply comes whole.
    pub(crate) async fn chat(
        &self,
        request: &ChatRequest<'_>,
        ledger: &Ledger,
    ) -> Result<Reply, Error> {
        let dialect = self.inner.dialect.imp();
        let request = ChatRequest {
            stream: false,
            ..*request
        };
        let (url, headers, body) = self.build(&request, ledger)?;
        #[cfg(feature = "cache")]
        let miss = match crate::cache::lookup(
            self.inner.cache.as_ref(),
            request.options.skip_cache,
            url.as_str(),
            dialect.name(),
            &headers,
            &body,
        ) {
            crate::cache::Lookup::Hit(reply) => return Ok(reply),
            crate::cache::Lookup::Miss(miss) => miss,
        };
        let reply = self
            .post(&url, &headers, body, request.options, ledger)
            .await?;
        let reply = dialect
            .parse_reply(reply.status, &reply.headers, &reply.body)
            .map_err(|e| self.scrub(e))?;
        #[cfg(feature = "cache")]
        miss.stage(&ledger.staged, &reply);
        Ok(reply)
    }

    /// Builds one chat request asking for a stream and opens it. Where the provider cannot stream in
    /// this mode, the request is sent plainly and its reply becomes a stream of one delta.
    pub(crate) async fn open_stream(
        &self,
        request: &ChatRequest<'_>,
        ledger: &Ledger,
    ) -> Result<Deltas, Error> {
        let dialect = self.inner.dialect.imp();
        let request = ChatRequest {
            stream: dialect.can_stream(request.mode, request.schema.is_some()),
            ..*request
        };
        let (url, headers, body) = self.build(&request, ledger)?;
        let policy = &self.inner.policy;
        if !request.stream {
            tracing::debug!("the provider cannot stream in this mode; sending one request");
            let reply = self
                .post(&url, &headers, body, request.options, ledger)
                .await?;
            return Ok(Deltas::whole(reply, dialect).redacting(&policy.secrets));
        }
        let allowance = Some(self.allowance(request.options, ledger));
        let opened = transport::post_stream(
            &self.inner.http,
            &url,
            &headers,
            body,
            policy,
            dialect,
            allowance,
        )
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

    /// Sends a built chat request with resends, within the call's allowance of requests.
    async fn post(
        &self,
        url: &Url,
        headers: &HeaderMap,
        body: bytes::Bytes,
        options: &Options,
        ledger: &Ledger,
    ) -> Result<HttpReply, Error> {
        let (http, policy, dialect) = (
            &self.inner.http,
            &self.inner.policy,
            self.inner.dialect.imp(),
        );
        let allowance = Some(self.allowance(options, ledger));
        transport::post(http, url, headers, body, policy, dialect, allowance).await
    }

    /// The requests this call may still send, under its limit or else the client's.
    pub(crate) fn allowance<'l>(
        &self,
        options: &Options,
        ledger: &'l Ledger,
    ) -> transport::Allowance<'l> {
        transport::Allowance {
            requests: &ledger.requests,
            limit: options.max_requests.unwrap_or(self.inner.max_requests),
        }
    }

    /// The one place a request is built: URL, headers (client-wide and per request), body.
    fn build(
        &self,
        request: &ChatRequest<'_>,
        ledger: &Ledger,
    ) -> Result<(Url, Cow<'_, HeaderMap>, bytes::Bytes), Error> {
        // An input over its limit, which the policy rejects, is never sent (nor looked up).
        if let Some(refused) = ledger.refused {
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
    /// [`ClientBuilder::embedding_model`](crate::ClientBuilder::embedding_model), else the provider's usual one (OpenAI's
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
        if let Some(companion) = &self.inner.companion {
            if let Some(url) = companion.embeddings_base_url() {
                return url.await;
            }
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
            .field("max_reasks", &self.inner.max_reasks)
            .field("max_requests", &self.inner.max_requests)
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}
