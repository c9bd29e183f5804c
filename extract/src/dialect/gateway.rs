//! Cloudflare AI Gateway: `https://gateway.ai.cloudflare.com/v1/{account}/{gateway}/{provider}`. The
//! gateway forwards the provider's own protocol (OpenAI's for `openai`, OpenAI-compatible for the
//! unified `compat` endpoint, the Workers AI run API for `workers-ai`, Anthropic's Messages API for
//! `anthropic`), so this dialect wraps the
//! provider's and adds what the gateway itself understands: the per-request caching headers
//! (`cf-aig-cache-ttl`, `cf-aig-skip-cache`, `cf-aig-cache-key`), its verdict `cf-aig-cache-status`
//! on the reply, and its error envelope (`{"success": false, "error": [{"code": 2009, ...}]}`).
//!
//! Only the first request of an extraction uses the gateway's cache. Every later one (a reask, or
//! a start over in a simpler mode) sends `cf-aig-skip-cache: true` and neither the caller's
//! `cf-aig-cache-key` nor `cf-aig-cache-ttl`: under a custom key the gateway answers whatever it
//! holds for the key, whatever the body, so a reask sent with the key would get back the very reply
//! the judge just rejected, and a reask through a cache with a TTL would be stored for everyone.
//!
//! What the gateway does not allow: it stores a reply when it forwards the request (a `MISS`), before
//! anyone can judge it, and it has no request header to store a reply only on a condition, to delete
//! one entry, or to cache for less than 60 s. So an invalid *first* reply sent with a cache key or a
//! TTL stays cached under that key (or that body) for the TTL; an extraction that meets it again
//! gets it back (`HIT`), rejects it, and reasks past the cache, paying one extra round trip but no
//! wrong value. The one way to avoid that entry would be never to send the key, which would make
//! `gateway_cache_key` do nothing; the key is sent on the first request, and a key that names a
//! version (`invoice-v2:{id}`) moves past an entry that went bad. Streams follow the same rule: each
//! streamed attempt is one request, and the first alone carries the caching headers.
//!
//! An authenticated gateway takes `cf-aig-authorization: Bearer <token>` beside the provider's own
//! `Authorization`; it is a client-wide header, set with `ClientBuilder::gateway_token`.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::{
    anthropic, header_text, openai, workers_ai, Body, ChatRequest, DialectImpl, EmbeddingBatch,
    GatewayProvider, ModelPage, ProviderError, Rejection,
};
use crate::error::Error;
use crate::vocab::Mode;
use crate::vocab::ModelQuery;
use crate::vocab::Target;
use crate::vocab::{Delta, Framing, Reply};

/// The gateway in front of one provider protocol.
pub(crate) struct Gateway {
    name: &'static str,
    provider: &'static dyn DialectImpl,
}

static OPENAI: Gateway = Gateway {
    name: "ai-gateway/openai",
    provider: &openai::OPENAI,
};
static COMPAT: Gateway = Gateway {
    name: "ai-gateway/compat",
    provider: &openai::GATEWAY_COMPAT,
};
static WORKERS_AI: Gateway = Gateway {
    name: "ai-gateway/workers-ai",
    provider: &workers_ai::NATIVE,
};
static ANTHROPIC: Gateway = Gateway {
    name: "ai-gateway/anthropic",
    provider: &anthropic::ANTHROPIC,
};

pub(crate) fn for_provider(provider: GatewayProvider) -> &'static Gateway {
    match provider {
        GatewayProvider::OpenAi => &OPENAI,
        GatewayProvider::Compat => &COMPAT,
        GatewayProvider::WorkersAi => &WORKERS_AI,
        GatewayProvider::Anthropic => &ANTHROPIC,
    }
}

impl DialectImpl for Gateway {
    fn name(&self) -> &'static str {
        self.name
    }

    fn default_mode(&self) -> Mode {
        self.provider.default_mode()
    }

    /// `{base}/chat/completions` for the OpenAI-shaped providers, `{base}/{model}` for `workers-ai`.
    fn chat_url(&self, base_url: &str, model: &str) -> String {
        self.provider.chat_url(base_url, model)
    }

    fn auth_headers(&self, key: &str, headers: &mut HeaderMap) -> Result<(), Error> {
        self.provider.auth_headers(key, headers)
    }

    fn request_headers(
        &self,
        request: &ChatRequest<'_>,
        headers: &mut HeaderMap,
    ) -> Result<(), Error> {
        self.provider.request_headers(request, headers)?;
        let cache = &request.options.gateway_cache;
        if request.attempt > 1 {
            // A reask: the gateway would answer it from its cache — under a custom key, with the
            // very reply just rejected. Nothing of the caller's caching is sent.
            headers.insert(
                HeaderName::from_static("cf-aig-skip-cache"),
                HeaderValue::from_static("true"),
            );
            return Ok(());
        }
        if let Some(ttl) = cache.ttl {
            headers.insert(
                HeaderName::from_static("cf-aig-cache-ttl"),
                HeaderValue::from(whole_seconds(ttl)),
            );
        }
        if cache.skip {
            headers.insert(
                HeaderName::from_static("cf-aig-skip-cache"),
                HeaderValue::from_static("true"),
            );
        }
        if let Some(key) = &cache.key {
            let value = HeaderValue::from_str(key).map_err(|_| {
                Error::config(
                    "the gateway cache key contains characters that cannot go in an HTTP header",
                )
            })?;
            headers.insert(HeaderName::from_static("cf-aig-cache-key"), value);
        }
        Ok(())
    }

    fn schema_limits(&self, mode: Mode) -> Option<Target> {
        self.provider.schema_limits(mode)
    }

    fn chat_body<'a>(&self, request: &ChatRequest<'a>) -> Body<'a> {
        self.provider.chat_body(request)
    }

    fn is_answer(&self, status: u16, body: &[u8]) -> bool {
        // The gateway's own failures come in its envelope whatever the provider.
        self.provider.is_answer(status, body) && workers_ai::is_answer(status, body)
    }

    fn parse_reply(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Error> {
        let mut reply = self.provider.parse_reply(status, headers, body)?;
        reply.cache_status = header_text(headers, "cf-aig-cache-status");
        Ok(reply)
    }

    fn parse_error(&self, body: &[u8]) -> ProviderError {
        workers_ai::parse_error(body)
    }

    fn classify(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        parsed: ProviderError,
    ) -> (Error, bool) {
        workers_ai::classify(status, retry_after, parsed)
    }

    /// The provider behind the gateway says what it supports.
    fn rejection(&self, mode: Mode, status: u16, code: Option<&str>, message: &str) -> Rejection {
        self.provider.rejection(mode, status, code, message)
    }

    fn can_stream(&self, mode: Mode, schema: bool) -> bool {
        self.provider.can_stream(mode, schema)
    }

    fn framing(&self) -> Framing {
        self.provider.framing()
    }

    /// The provider's events, or the gateway's own failure in its envelope.
    fn parse_delta(&self, data: &str) -> Result<Delta, Error> {
        if let Ok(value) = serde_json::from_str::<Value>(data) {
            if let Some(failure) = workers_ai::envelope_failure(&value) {
                return Err(workers_ai::classify(200, None, failure).0);
            }
        }
        self.provider.parse_delta(data)
    }

    // Embeddings travel the provider's protocol: `{base}/embeddings` for the OpenAI-shaped routes,
    // `{base}/{model}` with `{"text": [...]}` for `workers-ai`.

    fn embeddings_url(&self, base_url: &str, model: &str) -> Result<String, Error> {
        self.provider.embeddings_url(base_url, model)
    }

    fn embeddings_body(&self, model: &str, texts: &[String]) -> Value {
        self.provider.embeddings_body(model, texts)
    }

    fn parse_embeddings(&self, status: u16, body: &[u8]) -> Result<EmbeddingBatch, Error> {
        self.provider.parse_embeddings(status, body)
    }

    fn embed_batch_limit(&self) -> usize {
        self.provider.embed_batch_limit()
    }

    fn default_embedding_model(&self) -> Option<&'static str> {
        self.provider.default_embedding_model()
    }

    /// The provider's listing through the gateway; the gateway's `workers-ai` route only runs
    /// models, so the Workers AI model search is asked of the Cloudflare API itself.
    fn models_url(&self, base_url: &str, query: &ModelQuery, page: u32) -> Result<String, Error> {
        if std::ptr::eq(self, &WORKERS_AI) {
            return Err(Error::config(
                "AI Gateway's `workers-ai` route has no model listing; list the models with \
                 `Client::workers_ai_native(account_id, api_token)`",
            ));
        }
        self.provider.models_url(base_url, query, page)
    }

    fn parse_models(
        &self,
        status: u16,
        body: &[u8],
        query: &ModelQuery,
    ) -> Result<ModelPage, Error> {
        self.provider.parse_models(status, body, query)
    }
}

/// The TTL in whole seconds, a fraction rounded up so a short TTL still caches.
fn whole_seconds(ttl: Duration) -> u64 {
    ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)
}
