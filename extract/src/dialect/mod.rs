//! Dialects: everything that differs between providers (URL, headers, body shape, reply envelope,
//! error envelope, default mode) lives in one module per provider. Adding a provider is adding one
//! file and one line in [`Dialect`].

mod anthropic;
mod body;
mod envelope;
mod gateway;
mod ollama;
mod openai;
mod workers_ai;

use std::fmt;

use reqwest::header::HeaderMap;
use serde_json::Value;

pub(crate) use crate::text::excerpt;
pub use anthropic::{
    ANTHROPIC_BASE_URL, ANTHROPIC_DEFAULT_MAX_TOKENS, ANTHROPIC_DEFAULT_MODEL, ANTHROPIC_VERSION,
};
pub(crate) use body::{Body, Part};
pub(crate) use envelope::{
    bad_delta, bad_shape, classify_status, header_text, ProviderError, Rejection,
};
pub use openai::{OPENAI_BASE_URL, OPENAI_DEFAULT_MODEL};

use crate::error::Error;
use crate::options::Options;
use crate::schema::Prepared;
use crate::vocab::Mode;
use crate::vocab::Target;
use crate::vocab::Usage;
use crate::vocab::{Delta, Framing, ModelInfo, ModelQuery, Reply, Turn};

/// The wire protocol spoken to a provider.
///
/// [`ClientBuilder::base_url`](crate::ClientBuilder::base_url) picks one from the URL; set it
/// explicitly with [`ClientBuilder::dialect`](crate::ClientBuilder::dialect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// OpenAI's own API: strict `json_schema`, `max_completion_tokens`, `message.refusal`.
    OpenAi,
    /// Any server that speaks OpenAI's `/v1/chat/completions` (llama.cpp, vLLM, Ollama's `/v1`,
    /// LM Studio, ...): the same envelope, `max_tokens`, no assumptions about extensions.
    OpenAiCompatible,
    /// Cloudflare Workers AI's OpenAI-compatible endpoint (`.../accounts/{id}/ai/v1`): OpenAI's body
    /// and reply, Cloudflare's error envelope and codes.
    WorkersAi,
    /// Cloudflare Workers AI's native run API (`.../accounts/{id}/ai/run/{model}`): the bare schema
    /// in `response_format`, the reply in the Cloudflare envelope (`result.response`).
    WorkersAiNative,
    /// Cloudflare AI Gateway (`https://gateway.ai.cloudflare.com/v1/{account}/{gateway}/{provider}`):
    /// the provider's own protocol, plus the `cf-aig-*` caching headers. Only an extraction's first
    /// request uses the gateway's cache; reasks send `cf-aig-skip-cache: true` and no cache key or
    /// TTL. The gateway stores a reply before it is judged and cannot delete one entry, so an invalid
    /// first reply stays cached under its key for the TTL; meeting it again costs a reask, not a
    /// wrong value.
    AiGateway(GatewayProvider),
    /// Ollama's native `/api/chat`: the schema in `format`, with every definition inlined.
    OllamaNative,
    /// Anthropic's Messages API (`https://api.anthropic.com/v1/messages`): `x-api-key`, the system
    /// prompt apart, `max_tokens` required, a forced tool by default (see `dialect/anthropic.rs`).
    Anthropic,
}

/// Which protocol an AI Gateway forwards, from the provider segment of its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GatewayProvider {
    /// `.../openai`: OpenAI's own API (`max_completion_tokens`).
    OpenAi,
    /// `.../compat`, the unified OpenAI-compatible endpoint (models named `openai/gpt-4o-mini`,
    /// `workers-ai/@cf/meta/llama-3.1-8b-instruct`), and any other provider segment that speaks
    /// OpenAI's chat completions (`groq`, `workers-ai/v1`, ...).
    Compat,
    /// `.../workers-ai`: the Workers AI native run API, the model in the path.
    WorkersAi,
    /// `.../anthropic`: Anthropic's Messages API (`.../anthropic/v1/messages`), with the
    /// Anthropic key.
    Anthropic,
}

impl GatewayProvider {
    /// The protocol behind a provider segment (`openai`, `compat`, `workers-ai`, `workers-ai/v1`,
    /// `anthropic`, `anthropic/v1`): `anthropic` anywhere in it, else its last part decides, and
    /// anything unknown is taken to be OpenAI-compatible.
    pub fn from_segment(segment: &str) -> GatewayProvider {
        let mut parts = segment.trim_matches('/').split('/');
        if parts.any(|part| part == "anthropic") {
            return GatewayProvider::Anthropic;
        }
        match segment.trim_matches('/').rsplit('/').next().unwrap_or("") {
            "openai" => GatewayProvider::OpenAi,
            "workers-ai" => GatewayProvider::WorkersAi,
            _ => GatewayProvider::Compat,
        }
    }
}

impl Dialect {
    /// Every dialect this crate speaks, each gateway provider included: what the fuzz targets and
    /// the conformance tests run over. A new dialect is listed here, in [`Dialect`] and in `imp()`.
    pub const ALL: &'static [Dialect] = &[
        Dialect::OpenAi,
        Dialect::OpenAiCompatible,
        Dialect::WorkersAi,
        Dialect::WorkersAiNative,
        Dialect::AiGateway(GatewayProvider::OpenAi),
        Dialect::AiGateway(GatewayProvider::Compat),
        Dialect::AiGateway(GatewayProvider::WorkersAi),
        Dialect::AiGateway(GatewayProvider::Anthropic),
        Dialect::OllamaNative,
        Dialect::Anthropic,
    ];

    /// The dialect a base URL most likely speaks.
    pub fn detect(base_url: &str) -> Dialect {
        let rest = base_url.split("://").nth(1).unwrap_or(base_url);
        let host = rest.split(['/', ':']).next().unwrap_or("");
        let path = rest
            .find('/')
            .map_or("", |i| rest[i..].split(['?', '#']).next().unwrap_or(""));
        let path = path.trim_end_matches('/');
        match host {
            "api.openai.com" => Dialect::OpenAi,
            "api.anthropic.com" => Dialect::Anthropic,
            "api.cloudflare.com" if path.contains("/ai/v1") => Dialect::WorkersAi,
            "api.cloudflare.com" if path.contains("/ai/") || path.ends_with("/ai") => {
                Dialect::WorkersAiNative
            }
            "gateway.ai.cloudflare.com" => Dialect::AiGateway(GatewayProvider::from_segment(path)),
            _ => Dialect::OpenAiCompatible,
        }
    }

    /// Its name in logs and metadata.
    pub fn name(self) -> &'static str {
        self.imp().name()
    }

    pub(crate) fn imp(self) -> &'static dyn DialectImpl {
        match self {
            Dialect::OpenAi => &openai::OPENAI,
            Dialect::OpenAiCompatible => &openai::COMPATIBLE,
            Dialect::WorkersAi => &workers_ai::COMPATIBLE,
            Dialect::WorkersAiNative => &workers_ai::NATIVE,
            Dialect::AiGateway(provider) => gateway::for_provider(provider),
            Dialect::OllamaNative => &ollama::OLLAMA,
            Dialect::Anthropic => &anthropic::ANTHROPIC,
        }
    }

    pub(crate) fn default_mode(self) -> Mode {
        self.imp().default_mode()
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The turns for a server without tool calls: in the `Tools` mode the schema joins the first system
/// turn (as in the `Prompt` mode) and a reask's tool call and result become assistant and user turns.
pub(crate) fn without_tools(turns: &[Turn], mode: Mode, schema: Option<&Prepared>) -> Vec<Turn> {
    let mut out: Vec<Turn> = turns
        .iter()
        .map(|turn| match turn {
            Turn::ToolCall { arguments, .. } => Turn::Assistant(arguments.clone()),
            Turn::ToolResult { content, .. } => Turn::User(content.clone()),
            other => other.clone(),
        })
        .collect();
    if let (Mode::Tools, Some(schema)) = (mode, schema) {
        let instructions = crate::schema::schema_instructions(&schema.strict);
        match out.iter_mut().find_map(|t| {
            if let Turn::System(text) = t {
                Some(text)
            } else {
                None
            }
        }) {
            Some(text) => {
                text.push_str("\n\n");
                text.push_str(&instructions);
            }
            None => out.insert(0, Turn::System(instructions)),
        }
    }
    out
}

/// Everything a dialect needs to shape one chat request.
#[derive(Clone, Copy)]
pub(crate) struct ChatRequest<'a> {
    pub(crate) model: &'a str,
    pub(crate) mode: Mode,
    /// The type's schemas; `None` for a plain text completion, which sends no schema in any mode.
    pub(crate) schema: Option<&'a Prepared>,
    pub(crate) turns: &'a [Turn],
    pub(crate) options: &'a Options,
    /// Whether the reply is asked for as a stream of deltas.
    pub(crate) stream: bool,
    /// Which model call of its extraction this request is, from 1 (a completion's is 1): a caching
    /// gateway's cache may answer only the first, since a later one follows a rejected reply.
    pub(crate) attempt: u32,
}

impl<'a> ChatRequest<'a> {
    /// The mode and the schema, for an extraction; `None` for a text completion.
    pub(crate) fn schema_mode(&self) -> Option<(Mode, &'a Prepared)> {
        self.schema.map(|schema| (self.mode, schema))
    }
}

/// One provider's protocol.
pub(crate) trait DialectImpl: Send + Sync {
    fn name(&self) -> &'static str;
    fn default_mode(&self) -> Mode;
    /// The provider's name for people when it refuses every request without a key: a client for it
    /// is refused at build, and `Client::from_env` asks for the key. `None`: a key is optional.
    fn needs_key(&self) -> Option<&'static str> {
        None
    }
    /// The model a client uses when it sets none; `None`: the user must name one.
    fn default_model(&self) -> Option<&'static str> {
        None
    }
    /// The chat endpoint under `base_url`.
    fn chat_url(&self, base_url: &str, model: &str) -> String;
    /// Authentication headers; the key is marked sensitive.
    fn auth_headers(&self, key: &str, headers: &mut HeaderMap) -> Result<(), Error>;
    /// Headers that depend on the request (caching options of a gateway, say).
    fn request_headers(
        &self,
        _request: &ChatRequest<'_>,
        _headers: &mut HeaderMap,
    ) -> Result<(), Error> {
        Ok(())
    }
    /// Whose size limits a schema sent in `mode` is held to, where the provider documents some and
    /// rejects a schema over them (OpenAI's strict mode); `None` where nothing is known to reject.
    fn schema_limits(&self, _mode: Mode) -> Option<Target> {
        None
    }
    /// The request body; it borrows the schema's serialization rather than copying it.
    fn chat_body<'a>(&self, request: &ChatRequest<'a>) -> Body<'a>;
    /// Whether a reply is an answer to read with [`parse_reply`](Self::parse_reply) rather than an
    /// error for [`classify_error`](Self::classify_error): a 2xx status, unless the provider says
    /// otherwise (an error envelope sent with 200, or a schema the model could not meet, which is
    /// judged as invalid output and reasked rather than failed).
    fn is_answer(&self, status: u16, _body: &[u8]) -> bool {
        (200..300).contains(&status)
    }
    /// Reads a successful (2xx) reply.
    fn parse_reply(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Error>;
    /// Reads an error reply (status 4xx/5xx) into the provider's code and message.
    fn parse_error(&self, body: &[u8]) -> ProviderError;
    /// The error for a reply that is not an answer, and whether resending may help. `retry_after`
    /// is the delay the server asked for. Dialects change [`classify`](Self::classify), not this.
    fn classify_error(
        &self,
        status: u16,
        retry_after: Option<std::time::Duration>,
        body: &[u8],
    ) -> (Error, bool) {
        self.classify(status, retry_after, self.parse_error(body))
    }
    /// Turns what the provider said into an error: by HTTP status, unless the provider puts the real
    /// cause in a code of its own (Cloudflare).
    fn classify(
        &self,
        status: u16,
        retry_after: Option<std::time::Duration>,
        parsed: ProviderError,
    ) -> (Error, bool) {
        classify_status(status, retry_after, parsed)
    }

    /// What a 4xx reply to a request in `mode` says about the mode: that the server does not
    /// support it (a simpler mode may work), that the schema sent is invalid (no mode will help), or
    /// neither. Judged from the provider's own words, which each dialect knows; a reply that says
    /// neither (a proxy's error page, a bad model name, a transient failure) is
    /// [`Rejection::Other`] and changes nothing.
    fn rejection(&self, mode: Mode, status: u16, code: Option<&str>, message: &str) -> Rejection {
        envelope::rejection(mode, status, code, message)
    }

    /// Whether the provider streams a reply in this mode (`schema` is false for a text completion).
    /// Where it cannot, a stream falls back to one plain request and yields its result.
    fn can_stream(&self, _mode: Mode, _schema: bool) -> bool {
        true
    }
    /// How a streamed reply is framed.
    fn framing(&self) -> Framing {
        Framing::Sse
    }
    /// Reads one event of a streamed reply (an SSE `data:` payload, or an NDJSON line). An error
    /// reported inside the stream is an `Err`; a payload with nothing of interest is an empty delta.
    fn parse_delta(&self, data: &str) -> Result<Delta, Error>;

    // Embeddings and model listings. The defaults speak OpenAI's `/embeddings` and `/models`, which
    // every OpenAI-compatible server copies; the other dialects override them.

    /// The embeddings endpoint for `model` under `base_url`.
    fn embeddings_url(&self, base_url: &str, _model: &str) -> Result<String, Error> {
        Ok(openai::embeddings_url(base_url))
    }
    /// The body embedding one batch of `texts` with `model`.
    fn embeddings_body(&self, model: &str, texts: &[String]) -> Value {
        openai::embeddings_body(model, texts)
    }
    /// Reads a successful embeddings reply into vectors in input order (not yet checked against
    /// the batch: the caller does that, the same way for every dialect).
    fn parse_embeddings(&self, status: u16, body: &[u8]) -> Result<EmbeddingBatch, Error> {
        openai::parse_embeddings(status, body)
    }
    /// The most texts one embeddings request may carry.
    fn embed_batch_limit(&self) -> usize {
        openai::EMBED_BATCH_LIMIT
    }
    /// The embedding model used when neither the request nor the client names one; `None` means
    /// the client's model.
    fn default_embedding_model(&self) -> Option<&'static str> {
        None
    }
    /// The URL listing the models for `query`, at page `page` (1-based) where the provider pages.
    fn models_url(&self, base_url: &str, _query: &ModelQuery, _page: u32) -> Result<String, Error> {
        Ok(format!("{}/models", base_url.trim_end_matches('/')))
    }
    /// Reads a successful model listing. Filters the provider does not apply itself are applied here.
    fn parse_models(
        &self,
        status: u16,
        body: &[u8],
        query: &ModelQuery,
    ) -> Result<ModelPage, Error> {
        let models = openai::parse_models(status, body)?;
        Ok(ModelPage {
            models: query.filter(models),
            more: false,
        })
    }
}

/// One batch of embeddings as a provider returned it.
#[derive(Debug, Clone, Default)]
pub(crate) struct EmbeddingBatch {
    pub(crate) vectors: Vec<Vec<f32>>,
    pub(crate) usage: Option<Usage>,
    pub(crate) model: Option<String>,
}

/// One page of a model listing.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModelPage {
    pub(crate) models: Vec<ModelInfo>,
    /// Whether a next page may have more (a provider that pages, and a full page).
    pub(crate) more: bool,
}
