//! Ready-made builders for providers that need more than a base URL: the Cloudflare endpoints, which
//! put the account in the URL, and the local servers, whose dialect cannot be told from a URL. Each
//! returns a [`ClientBuilder`], so the model and everything else are chained as usual.

use crate::builder::ClientBuilder;
use crate::client::Client;
use crate::dialect::{Dialect, GatewayProvider};
use crate::error::Error;

/// Where the Cloudflare API lives.
const CLOUDFLARE_API: &str = "https://api.cloudflare.com/client/v4/accounts";
/// Where Cloudflare AI Gateway lives.
const AI_GATEWAY: &str = "https://gateway.ai.cloudflare.com/v1";

impl Client {
    /// A client configured from the environment:
    ///
    /// | variable | meaning | default |
    /// |---|---|---|
    /// | `OPENAI_API_KEY` | the API key | required for OpenAI, optional elsewhere |
    /// | `OPENAI_BASE_URL` | an OpenAI-compatible base URL | `https://api.openai.com/v1` |
    /// | `EXTRACT_MODEL` (or `OPENAI_MODEL`) | the model | `gpt-4o-mini` for OpenAI, required elsewhere |
    /// | `EXTRACT_EMBEDDING_MODEL` | the model [`embed`](Client::embed) uses | see [`embedding_model`](Client::embedding_model) |
    /// | `ANTHROPIC_API_KEY` | Anthropic's key, used when neither `OPENAI_API_KEY` nor `OPENAI_BASE_URL` is set | — |
    /// | `ANTHROPIC_MODEL` (or `EXTRACT_MODEL`) | the Claude model | `claude-haiku-4-5` |
    pub fn from_env() -> Result<Client, Error> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let base_url = var("OPENAI_BASE_URL");
        let key = var("OPENAI_API_KEY");
        // Anthropic when its key is set and nothing names an OpenAI-shaped provider.
        if let (None, None, Some(anthropic)) = (&base_url, &key, var("ANTHROPIC_API_KEY")) {
            let model = var("EXTRACT_MODEL").or_else(|| var("ANTHROPIC_MODEL"));
            let mut builder = Client::anthropic(anthropic);
            if let Some(model) = model {
                builder = builder.model(model);
            }
            return builder.build();
        }
        let model = var("EXTRACT_MODEL").or_else(|| var("OPENAI_MODEL"));
        let mut builder = Client::builder();
        if let Some(url) = &base_url {
            builder = builder.base_url(url);
        }
        if let Some(model) = var("EXTRACT_EMBEDDING_MODEL") {
            builder = builder.embedding_model(model);
        }
        // What the provider at the URL requires, and defaults, is its dialect's to say.
        let facts = base_url
            .as_deref()
            .map_or(Dialect::OpenAi, Dialect::detect)
            .imp();
        match (&key, facts.needs_key()) {
            (Some(key), _) => builder = builder.api_key(key),
            (None, Some(_)) => return Err(Error::config(
                "OPENAI_API_KEY is not set; set it, or set OPENAI_BASE_URL (and EXTRACT_MODEL) to \
                     an OpenAI-compatible server that needs no key",
            )),
            (None, None) => {}
        }
        match (model, facts.default_model()) {
            (Some(model), _) => builder = builder.model(model),
            (None, Some(default)) => builder = builder.model(default),
            (None, None) => return Err(Error::config(
                "EXTRACT_MODEL is not set; set it to a model the server at OPENAI_BASE_URL serves",
            )),
        }
        builder.build()
    }

    /// Cloudflare Workers AI through its OpenAI-compatible endpoint,
    /// `https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1`, with an API token that
    /// may use Workers AI. Models are named like `@cf/meta/llama-3.1-8b-instruct`.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), extract::Error> {
    /// let client = extract::Client::workers_ai("my-account-id", "my-api-token")
    ///     .model("@cf/meta/llama-3.1-8b-instruct")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn workers_ai(account_id: impl AsRef<str>, api_token: impl AsRef<str>) -> ClientBuilder {
        Client::builder()
            .base_url(format!("{CLOUDFLARE_API}/{}/ai/v1", account_id.as_ref()))
            .api_key(api_token.as_ref())
            .dialect(Dialect::WorkersAi)
    }

    /// Cloudflare Workers AI through its native run API,
    /// `https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/run/{model}`: the schema goes
    /// in Workers AI's own JSON mode, and its error codes are read (3040 is retried, 3036 is a rate
    /// limit).
    pub fn workers_ai_native(
        account_id: impl AsRef<str>,
        api_token: impl AsRef<str>,
    ) -> ClientBuilder {
        Client::builder()
            .base_url(format!("{CLOUDFLARE_API}/{}/ai/run", account_id.as_ref()))
            .api_key(api_token.as_ref())
            .dialect(Dialect::WorkersAiNative)
    }

    /// Cloudflare AI Gateway in front of `provider`:
    /// `https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/{provider}`.
    ///
    /// `provider` is the gateway's path segment: `openai` (OpenAI's API), `compat` (the unified
    /// OpenAI-compatible endpoint, models named `openai/gpt-4o-mini` or
    /// `workers-ai/@cf/meta/llama-3.1-8b-instruct`), `workers-ai` (the Workers AI run API), or any
    /// other provider that speaks OpenAI's chat completions there (`groq`, `workers-ai/v1`, ...).
    /// Set the provider's key with [`api_key`](ClientBuilder::api_key) and, for an authenticated
    /// gateway, its token with [`gateway_token`](ClientBuilder::gateway_token). Per-request caching
    /// is on the request builder (`gateway_cache_ttl`, `skip_gateway_cache`, `gateway_cache_key`).
    ///
    /// ```no_run
    /// # fn run() -> Result<(), extract::Error> {
    /// let client = extract::Client::ai_gateway("my-account-id", "my-gateway", "openai")
    ///     .api_key("sk-...")
    ///     .gateway_token("my-gateway-token")
    ///     .model("gpt-4o-mini")
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn ai_gateway(
        account_id: impl AsRef<str>,
        gateway_id: impl AsRef<str>,
        provider: impl AsRef<str>,
    ) -> ClientBuilder {
        let provider = provider.as_ref().trim_matches('/');
        Client::builder()
            .base_url(format!(
                "{AI_GATEWAY}/{}/{}/{provider}",
                account_id.as_ref(),
                gateway_id.as_ref()
            ))
            .dialect(Dialect::AiGateway(GatewayProvider::from_segment(provider)))
    }

    /// Anthropic's Messages API with `api_key` (sent as `x-api-key`, marked sensitive), at
    /// [`ANTHROPIC_BASE_URL`](crate::dialect::ANTHROPIC_BASE_URL); set the model
    /// (`claude-3-5-haiku-latest`, `claude-sonnet-4-5`, ...) with `.model(..)`. Extractions use a
    /// forced tool by default; `.mode(Mode::JsonSchema)` asks for Anthropic's JSON-schema output
    /// format, which its newer models support.
    pub fn anthropic(api_key: impl Into<String>) -> ClientBuilder {
        Client::builder()
            .base_url(crate::dialect::ANTHROPIC_BASE_URL)
            .dialect(Dialect::Anthropic)
            .api_key(api_key)
    }

    /// Ollama's native API at `base_url` (`http://localhost:11434`): `POST /api/chat` with the
    /// schema in `format`. For Ollama's OpenAI-compatible `/v1` API, use
    /// `Client::builder().base_url("http://localhost:11434/v1")` instead.
    pub fn ollama(base_url: impl Into<String>) -> ClientBuilder {
        Client::builder()
            .base_url(base_url)
            .dialect(Dialect::OllamaNative)
    }

    /// llama.cpp's `llama-server` at `base_url` (`http://127.0.0.1:8080`; `/v1` is added when
    /// missing), through its OpenAI-compatible API with `response_format` `json_schema`. A server
    /// that serves one model accepts any model name.
    pub fn llama_cpp(base_url: impl AsRef<str>) -> ClientBuilder {
        Client::builder()
            .base_url(with_v1(base_url.as_ref()))
            .dialect(Dialect::OpenAiCompatible)
    }

    /// vLLM's OpenAI-compatible server at `base_url` (`http://127.0.0.1:8000`; `/v1` is added when
    /// missing). The model is the name the server was started with.
    pub fn vllm(base_url: impl AsRef<str>) -> ClientBuilder {
        Client::builder()
            .base_url(with_v1(base_url.as_ref()))
            .dialect(Dialect::OpenAiCompatible)
    }
}

/// The base URL with `/v1` at its end.
fn with_v1(base_url: &str) -> String {
    let base = base_url.trim().trim_end_matches('/');
    if base.ends_with("/v1") {
        base.to_owned()
    } else {
        format!("{base}/v1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_dialects() {
        let build = |b: ClientBuilder| b.model("m").build().unwrap_or_else(|e| panic!("{e}"));
        let c = build(Client::workers_ai("acc", "tok"));
        assert_eq!(
            c.base_url(),
            "https://api.cloudflare.com/client/v4/accounts/acc/ai/v1"
        );
        assert_eq!(c.dialect(), Dialect::WorkersAi);
        let c = build(Client::workers_ai_native("acc", "tok"));
        assert_eq!(
            c.base_url(),
            "https://api.cloudflare.com/client/v4/accounts/acc/ai/run"
        );
        assert_eq!(c.dialect(), Dialect::WorkersAiNative);
        let c = build(Client::ai_gateway("acc", "gw", "workers-ai"));
        assert_eq!(
            c.base_url(),
            "https://gateway.ai.cloudflare.com/v1/acc/gw/workers-ai"
        );
        assert_eq!(c.dialect(), Dialect::AiGateway(GatewayProvider::WorkersAi));
        let c = build(Client::ai_gateway("acc", "gw", "openai"));
        assert_eq!(c.dialect(), Dialect::AiGateway(GatewayProvider::OpenAi));
        let c = build(Client::ai_gateway("acc", "gw", "compat"));
        assert_eq!(c.dialect(), Dialect::AiGateway(GatewayProvider::Compat));
        let c = build(Client::ollama("http://localhost:11434/"));
        assert_eq!(c.base_url(), "http://localhost:11434");
        assert_eq!(c.dialect(), Dialect::OllamaNative);
        let c = build(Client::llama_cpp("http://127.0.0.1:8080"));
        assert_eq!(c.base_url(), "http://127.0.0.1:8080/v1");
        assert_eq!(c.dialect(), Dialect::OpenAiCompatible);
        let c = build(Client::vllm("http://127.0.0.1:8000/v1/"));
        assert_eq!(c.base_url(), "http://127.0.0.1:8000/v1");
    }

    #[test]
    fn detection_agrees_with_the_presets() {
        let base = "https://api.cloudflare.com/client/v4/accounts/acc";
        assert_eq!(
            Dialect::detect(&format!("{base}/ai/v1")),
            Dialect::WorkersAi
        );
        assert_eq!(
            Dialect::detect(&format!("{base}/ai/run")),
            Dialect::WorkersAiNative
        );
        assert_eq!(
            Dialect::detect(&format!("{base}/ai")),
            Dialect::WorkersAiNative
        );
        assert_eq!(Dialect::detect(base), Dialect::OpenAiCompatible);
        let gw = "https://gateway.ai.cloudflare.com/v1/acc/gw";
        assert_eq!(
            Dialect::detect(&format!("{gw}/openai")),
            Dialect::AiGateway(GatewayProvider::OpenAi)
        );
        assert_eq!(
            Dialect::detect(&format!("{gw}/compat/")),
            Dialect::AiGateway(GatewayProvider::Compat)
        );
        assert_eq!(
            Dialect::detect(&format!("{gw}/workers-ai")),
            Dialect::AiGateway(GatewayProvider::WorkersAi)
        );
        assert_eq!(
            Dialect::detect(&format!("{gw}/workers-ai/v1")),
            Dialect::AiGateway(GatewayProvider::Compat)
        );
        assert_eq!(
            Dialect::detect("http://localhost:11434/v1"),
            Dialect::OpenAiCompatible
        );
        assert_eq!(
            Dialect::detect("http://localhost:11434/api"),
            Dialect::OpenAiCompatible
        );
    }
}
