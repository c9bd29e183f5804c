//! Ollama's native chat API, `POST {base}/api/chat` with `"stream": false`. The schema goes in
//! `format` with every definition inlined, since Ollama does not resolve `$ref`; sampling settings go
//! in `options` (`max_tokens` is `num_predict`). The reply is one object: `message.content`,
//! `done_reason` (`"length"` when cut off), and the token counts `prompt_eval_count` and
//! `eval_count`. Errors are `{"error": "model 'x' not found"}` with an HTTP status.
//!
//! Ollama's `/v1` OpenAI-compatible API needs no dialect of its own: use
//! [`Dialect::OpenAiCompatible`](super::Dialect::OpenAiCompatible) for it.

use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde_json::{Map, Value};

use super::envelope::{self, bearer, not_json};
use super::{
    bad_delta, bad_shape, excerpt, without_tools, Body, ChatRequest, DialectImpl, EmbeddingBatch,
    ModelPage, ProviderError, Rejection,
};
use crate::error::Error;
use crate::vocab::Mode;
use crate::vocab::Usage;
use crate::vocab::{Delta, FinishReason, Framing, Reply};
use crate::vocab::{ModelInfo, ModelQuery};

pub(crate) struct Ollama;

pub(crate) static OLLAMA: Ollama = Ollama;

impl DialectImpl for Ollama {
    fn name(&self) -> &'static str {
        "ollama"
    }

    fn default_mode(&self) -> Mode {
        Mode::JsonSchema
    }

    /// `{base}/api/chat`; a base that already ends in `/api` is not doubled.
    fn chat_url(&self, base_url: &str, _model: &str) -> String {
        let base = base_url.trim_end_matches('/');
        let base = base.strip_suffix("/api").unwrap_or(base);
        format!("{base}/api/chat")
    }

    /// Ollama itself takes no key; one set anyway (for a proxy in front of it) goes as a bearer token.
    fn auth_headers(&self, key: &str, headers: &mut HeaderMap) -> Result<(), Error> {
        headers.insert(AUTHORIZATION, bearer(key)?);
        Ok(())
    }

    fn chat_body<'a>(&self, request: &ChatRequest<'a>) -> Body<'a> {
        let turns = without_tools(request.turns, request.mode, request.schema);
        let mut body = Body::new()
            .with("model", request.model)
            .with("messages", turns)
            .with("stream", request.stream);
        match request.schema_mode() {
            Some((Mode::JsonSchema, schema)) => {
                body.push("format", &*schema.inlined_json);
            }
            Some((Mode::JsonObject, _)) => {
                body.push("format", "json");
            }
            // No forced tool call here: the schema is in the instructions, as in the Prompt mode.
            Some((Mode::Tools | Mode::Prompt, _)) | None => {}
        }
        let mut options = Body::new();
        if let Some(t) = request.options.temperature {
            options.push("temperature", t);
        }
        if let Some(n) = request.options.max_tokens {
            options.push("num_predict", n);
        }
        if !options.is_empty() {
            body.push("options", options);
        }
        body
    }

    fn parse_reply(&self, status: u16, _headers: &HeaderMap, body: &[u8]) -> Result<Reply, Error> {
        let value: Value = serde_json::from_slice(body).map_err(|e| not_json(status, body, &e))?;
        let Some(message) = value.get("message").filter(|m| m.is_object()) else {
            if value.get("error").is_some_and(|e| !e.is_null()) {
                let parsed = envelope::parse_error_body(body);
                return Err(Error::Api {
                    status,
                    code: parsed.code,
                    message: parsed.message,
                });
            }
            return Err(Error::UnexpectedResponse {
                status,
                message: "the reply has no `message`".into(),
                body: excerpt(body),
            });
        };
        let content = message
            .get("content")
            .and_then(Value::as_str)
            .map(str::to_owned);
        // Ollama sends a tool call's arguments as an object.
        let tool_arguments = message
            .get("tool_calls")
            .and_then(|calls| calls.get(0))
            .and_then(|call| call.get("function"))
            .and_then(|f| f.get("arguments"))
            .and_then(|args| match args {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            });
        let count = |key: &str| value.get(key).and_then(Value::as_u64);
        let usage = match (count("prompt_eval_count"), count("eval_count")) {
            (None, None) => None,
            (prompt, completion) => Some(Usage::new(
                prompt.unwrap_or(0),
                completion.unwrap_or(0),
                None,
            )),
        };
        Ok(Reply {
            content,
            tool_arguments,
            refusal: None,
            finish: FinishReason::parse(value.get("done_reason").and_then(Value::as_str)),
            usage,
            model: value
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned),
            cache_status: None,
        })
    }

    fn parse_error(&self, body: &[u8]) -> ProviderError {
        envelope::parse_error_body(body)
    }

    /// Ollama's words: a schema it cannot read is "invalid format: expected \"json\" or a valid
    /// JSON schema" (or "invalid JSON schema in format"); a server older than structured outputs
    /// (0.5) takes only `"json"` in `format`, and says so as a Go decoding error ("cannot unmarshal
    /// object into Go struct field ChatRequest.format of type string"); a model without tools says
    /// "... does not support tools". Otherwise the OpenAI family's words.
    fn rejection(&self, mode: Mode, status: u16, code: Option<&str>, message: &str) -> Rejection {
        let text = message.to_ascii_lowercase();
        if !matches!(status, 400 | 422) || mode == Mode::Prompt {
            return Rejection::Other;
        }
        if mode == Mode::JsonSchema
            && text.contains("cannot unmarshal object")
            && text.contains("format")
        {
            return Rejection::ModeUnsupported;
        }
        if text.contains("invalid format") || text.contains("invalid json schema") {
            return Rejection::SchemaInvalid;
        }
        envelope::rejection(mode, status, code, message)
    }

    fn framing(&self) -> Framing {
        Framing::Ndjson
    }

    /// One line of the stream: `{"message": {"content": "..."}, "done": false}`, then a last line
    /// with `"done": true`, `done_reason` and the token counts.
    fn parse_delta(&self, data: &str) -> Result<Delta, Error> {
        let value: Value = serde_json::from_str(data).map_err(|e| bad_delta(data, &e))?;
        if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
            return Err(envelope::stream_error(error));
        }
        let done = value.get("done").and_then(Value::as_bool).unwrap_or(false);
        let count = |key: &str| value.get(key).and_then(Value::as_u64);
        let usage = match (count("prompt_eval_count"), count("eval_count")) {
            (None, None) => None,
            (prompt, completion) => Some(Usage::new(
                prompt.unwrap_or(0),
                completion.unwrap_or(0),
                None,
            )),
        };
        Ok(Delta {
            content: value
                .pointer("/message/content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            finish: done
                .then(|| FinishReason::parse(value.get("done_reason").and_then(Value::as_str))),
            usage,
            model: value
                .get("model")
                .and_then(Value::as_str)
                .map(str::to_owned),
            done,
            ..Delta::default()
        })
    }

    /// `{base}/api/embed`, which takes a list of inputs (the older `/api/embeddings` takes one).
    fn embeddings_url(&self, base_url: &str, _model: &str) -> Result<String, Error> {
        Ok(format!("{}/api/embed", api_root(base_url)))
    }

    /// `{"embeddings": [[...], ...], "model", "prompt_eval_count"}`.
    fn parse_embeddings(&self, status: u16, body: &[u8]) -> Result<EmbeddingBatch, Error> {
        #[derive(serde::Deserialize)]
        struct Embed {
            embeddings: Vec<Vec<f32>>,
            #[serde(default)]
            model: Option<String>,
            #[serde(default)]
            prompt_eval_count: Option<u64>,
        }
        let reply: Embed = envelope::read_json(status, body, "the embeddings reply")?;
        Ok(EmbeddingBatch {
            vectors: reply.embeddings,
            usage: reply.prompt_eval_count.map(|n| Usage::new(n, 0, None)),
            model: reply.model,
        })
    }

    fn embed_batch_limit(&self) -> usize {
        EMBED_BATCH_LIMIT
    }

    /// `{base}/api/tags`: every model pulled, whatever it does.
    fn models_url(&self, base_url: &str, _query: &ModelQuery, _page: u32) -> Result<String, Error> {
        Ok(format!("{}/api/tags", api_root(base_url)))
    }

    /// `{"models": [{"name", "size", "modified_at", "details": {"family", "parameter_size",
    /// "quantization_level", ...}}]}`; the details become properties.
    fn parse_models(
        &self,
        status: u16,
        body: &[u8],
        query: &ModelQuery,
    ) -> Result<ModelPage, Error> {
        #[derive(serde::Deserialize)]
        struct Tags {
            models: Vec<Map<String, Value>>,
        }
        let tags: Tags = envelope::read_json(status, body, "the model listing")?;
        let models = tags
            .models
            .into_iter()
            .map(|mut entry| {
                let name = entry
                    .remove("name")
                    .or_else(|| entry.remove("model"))
                    .and_then(|n| n.as_str().map(str::to_owned))
                    .filter(|n| !n.is_empty());
                let Some(name) = name else {
                    return Err(bad_shape(
                        status,
                        body,
                        "a model in the listing has no `name`",
                    ));
                };
                let mut info = ModelInfo::new(name);
                let details = match entry.remove("details") {
                    Some(Value::Object(details)) => details,
                    _ => Map::new(),
                };
                for (key, value) in entry.into_iter().chain(details) {
                    if key == "model" {
                        continue;
                    }
                    if let Some(value) = envelope::scalar_text(&value).filter(|v| !v.is_empty()) {
                        info.properties.push((key, value));
                    }
                }
                Ok(info)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(ModelPage {
            models: query.filter(models),
            more: false,
        })
    }
}

/// How many texts one `/api/embed` request carries by default. Ollama sets no limit, but it embeds
/// on whatever hardware it runs on: smaller requests stay within the timeout on a CPU.
const EMBED_BATCH_LIMIT: usize = 64;

/// The base URL without a trailing `/api`, so the API paths are not doubled.
fn api_root(base_url: &str) -> &str {
    let base = base_url.trim_end_matches('/');
    base.strip_suffix("/api").unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_rejections() {
        let read = |mode, message| OLLAMA.rejection(mode, 400, None, message);
        assert_eq!(
            read(
                Mode::JsonSchema,
                "invalid format: expected \"json\" or a valid JSON schema"
            ),
            Rejection::SchemaInvalid
        );
        assert_eq!(
            read(
                Mode::JsonSchema,
                "json: cannot unmarshal object into Go struct field ChatRequest.format of type string"
            ),
            Rejection::ModeUnsupported
        );
        assert_eq!(
            read(Mode::JsonObject, "model 'llama9' not found"),
            Rejection::Other
        );
    }
}
