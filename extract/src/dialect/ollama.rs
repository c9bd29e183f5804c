//! Ollama's native chat API, `POST {base}/api/chat` with `"stream": false`. The schema goes in
//! `format` with every definition inlined, since Ollama does not resolve `$ref`; sampling settings go
//! in `options` (`max_tokens` is `num_predict`). The reply is one object: `message.content`,
//! `done_reason` (`"length"` when cut off), and the token counts `prompt_eval_count` and
//! `eval_count`. Errors are `{"error": "model 'x' not found"}` with an HTTP status.
//!
//! Ollama's `/v1` OpenAI-compatible API needs no dialect of its own: use
//! [`Dialect::OpenAiCompatible`](super::Dialect::OpenAiCompatible) for it.

use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde_json::Value;

use super::openai::{self, bearer, not_json};
use super::{
    bad_delta, excerpt, without_tools, Body, ChatRequest, Delta, DialectImpl, FinishReason,
    Framing, ProviderError, Reply,
};
use crate::error::Error;
use crate::request::Mode;
use crate::usage::Usage;

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
                let parsed = openai::parse_error_body(body);
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
        openai::parse_error_body(body)
    }

    fn framing(&self) -> Framing {
        Framing::Ndjson
    }

    /// One line of the stream: `{"message": {"content": "..."}, "done": false}`, then a last line
    /// with `"done": true`, `done_reason` and the token counts.
    fn parse_delta(&self, data: &str) -> Result<Delta, Error> {
        let value: Value = serde_json::from_str(data).map_err(|e| bad_delta(data, &e))?;
        if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
            return Err(openai::stream_error(error));
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
}
