//! Anthropic's Messages API (`POST {base}/messages`, base `https://api.anthropic.com/v1`), written
//! from Anthropic's API reference: `x-api-key` and `anthropic-version: 2023-06-01` headers; the
//! system prompt in a top-level `system` field; `max_tokens` required; replies as a list of content
//! blocks (`text`, `tool_use`) with a `stop_reason`; errors as
//! `{"type": "error", "error": {"type": "overloaded_error", "message": "..."}}`; streams as typed
//! SSE events (`message_start`, `content_block_delta` with `text_delta` or `input_json_delta`,
//! `message_delta`, `message_stop`, `ping`, `error`).
//!
//! Modes. `Tools` is the default: one tool whose `input_schema` is the schema, forced with
//! `tool_choice: {"type": "tool", "name": ...}`, which every Claude model honours (the guide's
//! Claude 3 Haiku and 3.5 Sonnet included). `JsonSchema` sends the schema as
//! `output_config: {"format": {"type": "json_schema", "schema": ...}}`, Anthropic's constrained
//! decoding, which only its newer models (4.5 and later) accept; an older model's refusal of it reads
//! as the mode unsupported and an automatic mode falls back. `JsonObject` and `Prompt` carry the
//! schema in the system prompt. Embeddings are not offered by Anthropic: an [`Error::Config`]
//! says so before anything is sent.
//!
//! Assumed where the reference is silent: a `tool_use` block's `input` is the value (we keep its
//! JSON text as the tool arguments); a `refusal` stop reason may come with or without text (the text,
//! or a fixed sentence, becomes the refusal); usage counts in `message_delta` are cumulative and may
//! omit the input tokens that `message_start` gave, so a stream keeps the larger of each count.

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::value::RawValue;
use serde_json::Value;

use super::envelope::{self, not_json, read_json, stream_error};
use super::Body;
use super::{
    bad_delta, bad_shape, ChatRequest, DialectImpl, EmbeddingBatch, ModelPage, Part, ProviderError,
    Rejection,
};
use crate::error::Error;
use crate::vocab::{Delta, FinishReason, Mode, ModelInfo, ModelQuery, Reply, Turn, Usage};

/// Anthropic's API, the default base URL of `Client::anthropic`.
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com/v1";
/// The model a client for Anthropic uses when none is set.
pub const ANTHROPIC_DEFAULT_MODEL: &str = "claude-haiku-4-5";
/// The API version this dialect speaks (`anthropic-version`).
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The `max_tokens` sent when neither the request nor the client sets one: Anthropic requires the
/// field, and every current Claude model can produce this many.
pub const ANTHROPIC_DEFAULT_MAX_TOKENS: u32 = 4096;

pub(crate) struct Anthropic;

pub(crate) static ANTHROPIC: Anthropic = Anthropic;

impl DialectImpl for Anthropic {
    fn name(&self) -> &'static str {
        "anthropic"
    }

    /// The forced tool: honoured by every Claude model, where the JSON-schema output format is not.
    fn default_mode(&self) -> Mode {
        Mode::Tools
    }

    fn needs_key(&self) -> Option<&'static str> {
        Some("Anthropic")
    }

    /// Claude Haiku 4.5's alias: the fast, inexpensive current model, as `gpt-4o-mini` is OpenAI's
    /// default here. (An alias moves to the model's newer snapshots; pin one with `.model(..)`.)
    fn default_model(&self) -> Option<&'static str> {
        Some(ANTHROPIC_DEFAULT_MODEL)
    }

    /// `{base}/messages` for a base that ends in `/v1` (`https://api.anthropic.com/v1`), and
    /// `{base}/v1/messages` for one that does not: Anthropic's SDKs take the base without the
    /// version, as AI Gateway's `.../anthropic` route documents it.
    fn chat_url(&self, base_url: &str, _model: &str) -> String {
        format!("{}/messages", versioned(base_url))
    }

    fn auth_headers(&self, key: &str, headers: &mut HeaderMap) -> Result<(), Error> {
        let mut value = HeaderValue::from_str(key)
            .map_err(|_| Error::config("the API key is not a valid HTTP header value"))?;
        value.set_sensitive(true);
        headers.insert("x-api-key", value);
        headers.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        Ok(())
    }

    fn chat_body<'a>(&self, request: &ChatRequest<'a>) -> Body<'a> {
        let (system, messages) = messages(request.turns);
        let mut body = Body::new().with("model", request.model);
        body.push(
            "max_tokens",
            request
                .options
                .max_tokens
                .unwrap_or(ANTHROPIC_DEFAULT_MAX_TOKENS),
        );
        if !system.is_empty() {
            body.push("system", Part::Array(system));
        }
        body.push("messages", Part::Array(messages));
        if let Some(t) = request.options.temperature {
            body.push("temperature", t);
        }
        match request.schema_mode() {
            Some((Mode::Tools, schema)) => {
                let mut tool = Body::new().with("name", schema.name);
                if let Some(d) = schema.description {
                    tool.push("description", d);
                }
                tool.push("input_schema", &*schema.strict_json);
                body.push("tools", Part::Array(vec![tool.into()]));
                body.push(
                    "tool_choice",
                    Body::new().with("type", "tool").with("name", schema.name),
                );
            }
            Some((Mode::JsonSchema, schema)) => {
                let format = Body::new()
                    .with("type", "json_schema")
                    .with("schema", &*schema.strict_json);
                body.push("output_config", Body::new().with("format", format));
            }
            // The schema is in the system prompt (`turns.rs`).
            Some((Mode::JsonObject | Mode::Prompt, _)) | None => {}
        }
        if request.stream {
            body.push("stream", true);
        }
        body
    }

    fn parse_reply(&self, status: u16, _headers: &HeaderMap, body: &[u8]) -> Result<Reply, Error> {
        let value: Value = serde_json::from_slice(body).map_err(|e| not_json(status, body, &e))?;
        if value.get("type").and_then(Value::as_str) == Some("error") {
            let parsed = parse_error_value(&value);
            return Err(Error::Api {
                status,
                code: parsed.code,
                message: parsed.message,
            });
        }
        let Some(blocks) = value.get("content").and_then(Value::as_array) else {
            return Err(bad_shape(status, body, "a message without `content`"));
        };
        let mut text: Option<String> = None;
        let mut tool_arguments = None;
        for block in blocks {
            match block.get("type").and_then(Value::as_str) {
                Some("text") => {
                    let piece = block.get("text").and_then(Value::as_str).unwrap_or("");
                    text.get_or_insert_with(String::new).push_str(piece);
                }
                Some("tool_use") if tool_arguments.is_none() => {
                    let input = block.get("input").cloned().unwrap_or(Value::Null);
                    tool_arguments = Some(input.to_string());
                }
                _ => {}
            }
        }
        let stop = value.get("stop_reason").and_then(Value::as_str);
        let refusal = (stop == Some("refusal")).then(|| {
            text.take()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| "the model declined to answer (stop_reason: refusal)".into())
        });
        Ok(Reply {
            content: text,
            tool_arguments,
            refusal,
            finish: finish(stop),
            usage: value.get("usage").and_then(usage),
            model: value
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned),
            cache_status: None,
        })
    }

    fn parse_error(&self, body: &[u8]) -> ProviderError {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) if value.get("error").is_some_and(Value::is_object) => {
                parse_error_value(&value)
            }
            _ => envelope::parse_error_body(body),
        }
    }

    /// Anthropic's words: a model without the JSON-schema output format names `output_config` (or
    /// the older `output_format`) in an `invalid_request_error`.
    fn rejection(&self, mode: Mode, status: u16, code: Option<&str>, message: &str) -> Rejection {
        let lower = message.to_ascii_lowercase();
        if mode == Mode::JsonSchema
            && status == 400
            && (lower.contains("output_config") || lower.contains("output_format"))
            && envelope::says_unsupported(&lower)
        {
            return Rejection::ModeUnsupported;
        }
        envelope::rejection(mode, status, code, message)
    }

    fn parse_delta(&self, data: &str) -> Result<Delta, Error> {
        let value: Value = serde_json::from_str(data).map_err(|e| bad_delta(data, &e))?;
        let mut delta = Delta::default();
        match value.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let message = value.get("message");
                delta.model = message
                    .and_then(|m| m.get("model"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                delta.usage = message.and_then(|m| m.get("usage")).and_then(usage);
            }
            Some("content_block_start") => {
                let block = value.get("content_block");
                if block.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("text") {
                    delta.content = block
                        .and_then(|b| b.get("text"))
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned);
                }
            }
            Some("content_block_delta") => {
                let inner = value.get("delta");
                let field = |name: &str| {
                    inner
                        .and_then(|d| d.get(name))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                match inner.and_then(|d| d.get("type")).and_then(Value::as_str) {
                    Some("text_delta") => delta.content = field("text"),
                    Some("input_json_delta") => delta.tool_arguments = field("partial_json"),
                    _ => {}
                }
            }
            Some("message_delta") => {
                let stop = value
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str);
                if stop == Some("refusal") {
                    delta.refusal =
                        Some("the model declined to answer (stop_reason: refusal)".into());
                }
                delta.finish = stop.map(|s| finish(Some(s)));
                delta.usage = value.get("usage").and_then(usage);
            }
            Some("message_stop") => delta.done = true,
            Some("error") => return Err(stream_error(value.get("error").unwrap_or(&Value::Null))),
            // `ping`, `content_block_stop`, and event types added later: nothing to read.
            _ => {}
        }
        Ok(delta)
    }

    fn embeddings_url(&self, _base_url: &str, _model: &str) -> Result<String, Error> {
        Err(Error::config(
            "Anthropic offers no embeddings API; use another provider's client for embeddings \
             (ClientBuilder::embeddings_base_url points one at another server)",
        ))
    }

    fn parse_embeddings(&self, status: u16, body: &[u8]) -> Result<EmbeddingBatch, Error> {
        Err(bad_shape(
            status,
            body,
            "an embeddings reply from Anthropic, which has none",
        ))
    }

    /// `GET {base}/models?limit=1000`, one page; Anthropic pages with `after_id`, and lists far
    /// fewer models than that.
    fn models_url(&self, base_url: &str, _query: &ModelQuery, _page: u32) -> Result<String, Error> {
        Ok(format!(
            "{}/models?limit=1000",
            base_url.trim_end_matches('/')
        ))
    }

    fn parse_models(
        &self,
        status: u16,
        body: &[u8],
        query: &ModelQuery,
    ) -> Result<ModelPage, Error> {
        #[derive(serde::Deserialize)]
        struct List {
            data: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            id: String,
            #[serde(default)]
            display_name: Option<String>,
        }
        let list: List = read_json(status, body, "the model listing")?;
        let models = list
            .data
            .into_iter()
            .map(|e| {
                let mut info = ModelInfo::new(e.id);
                info.owned_by = Some("anthropic".into());
                info.description = e.display_name;
                info
            })
            .collect();
        Ok(ModelPage {
            models: query.filter(models),
            more: false,
        })
    }
}

/// The turns as Anthropic wants them: the system turns joined into `system` blocks, the others as
/// `messages`, a reask's tool call and its answer as `tool_use` and `tool_result` blocks.
fn messages(turns: &[Turn]) -> (Vec<Part<'_>>, Vec<Part<'_>>) {
    let text = |t: &'static str, s| Body::new().with("type", t).with("text", s);
    let mut system = Vec::new();
    let mut out = Vec::new();
    for turn in turns {
        match turn {
            Turn::System(s) => system.push(text("text", s.as_str()).into()),
            Turn::User(s) => out.push(
                Body::new()
                    .with("role", "user")
                    .with("content", s.as_str())
                    .into(),
            ),
            Turn::Assistant(s) => out.push(
                Body::new()
                    .with("role", "assistant")
                    .with("content", s.as_str())
                    .into(),
            ),
            Turn::ToolCall {
                id,
                name,
                arguments,
            } => {
                // The arguments as the model sent them, when they are JSON; an empty input otherwise
                // (the reask that follows quotes them as text anyway).
                let input: Part<'_> = match serde_json::from_str::<&RawValue>(arguments) {
                    Ok(raw) if raw.get().trim_start().starts_with('{') => raw.into(),
                    _ => Body::new().into(),
                };
                let block = Body::new()
                    .with("type", "tool_use")
                    .with("id", id.as_str())
                    .with("name", name.as_str())
                    .with("input", input);
                out.push(
                    Body::new()
                        .with("role", "assistant")
                        .with("content", Part::Array(vec![block.into()]))
                        .into(),
                );
            }
            Turn::ToolResult { id, content } => {
                let block = Body::new()
                    .with("type", "tool_result")
                    .with("tool_use_id", id.as_str())
                    .with("content", content.as_str())
                    .with("is_error", true);
                out.push(
                    Body::new()
                        .with("role", "user")
                        .with("content", Part::Array(vec![block.into()]))
                        .into(),
                );
            }
        }
    }
    (system, out)
}

/// The base URL with the API version at its end.
fn versioned(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1") {
        base.to_owned()
    } else {
        format!("{base}/v1")
    }
}

/// `stop_reason` as our finish reasons.
fn finish(stop: Option<&str>) -> FinishReason {
    match stop {
        Some("end_turn" | "stop_sequence") => FinishReason::Stop,
        Some("max_tokens" | "model_context_window_exceeded") => FinishReason::Length,
        Some("tool_use") => FinishReason::ToolCalls,
        Some("refusal") => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// Anthropic's usage: `input_tokens` excludes what was read from or written to the prompt cache,
/// which are counted apart; the prompt tokens here are all three, as OpenAI counts them, and the
/// cache reads are also `cached_tokens`. (Cache writes have no field of their own in [`Usage`]: a
/// field more would make every `Error` that carries a usage larger than clippy's limit for an
/// error type, in users' code too.)
fn usage(value: &Value) -> Option<Usage> {
    let n = |key: &str| value.get(key).and_then(Value::as_u64);
    let input = n("input_tokens");
    let output = n("output_tokens");
    if input.is_none() && output.is_none() {
        return None;
    }
    let read = n("cache_read_input_tokens");
    let written = n("cache_creation_input_tokens");
    let prompt = input.unwrap_or(0) + read.unwrap_or(0) + written.unwrap_or(0);
    let mut out = Usage::new(prompt, output.unwrap_or(0), None);
    out.cached_tokens = read;
    Some(out)
}

/// `{"type": "error", "error": {"type": "...", "message": "..."}}`.
fn parse_error_value(value: &Value) -> ProviderError {
    let error = value.get("error");
    ProviderError {
        code: error
            .and_then(|e| e.get("type"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        message: error
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("the provider reported an error without a message")
            .to_owned(),
    }
}
