//! Cloudflare Workers AI, over its two endpoints: the OpenAI-compatible `.../ai/v1/chat/completions`
//! and the native run API `.../ai/run/{model}`. Both report failures in the Cloudflare envelope
//! (`{"success": false, "errors": [{"code": 3040, "message": "..."}]}`), sometimes with HTTP 200, and
//! the meaning is in the code: 3040 (out of capacity) is worth resending, 3036 (the daily free
//! allocation is spent) is a rate limit that resending today will not lift, anything else is final.
//!
//! A schema the model could not meet (`JSON Mode couldn't be met`) is not an API failure but invalid
//! output: the reply is read as an answer whose text is the provider's message, so the judge rejects
//! it and the extraction reasks, ending in [`Error::Invalid`] (with the message as `raw`) when the
//! reasks run out. The AI Gateway reuses this module's envelope reading for its `workers-ai` route and
//! for its own errors.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};

use super::envelope::{self, bearer, not_json};
use super::openai::{self, parse_usage};
use super::{
    bad_delta, bad_shape, classify_status, excerpt, without_tools, Body, ChatRequest, DialectImpl,
    EmbeddingBatch, ModelPage, Part, ProviderError,
};
use crate::error::Error;
use crate::vocab::Mode;
use crate::vocab::{Delta, FinishReason, Reply};
use crate::vocab::{ModelInfo, ModelQuery};

/// Out of capacity: no data center could take the request now.
const OUT_OF_CAPACITY: &str = "3040";
/// The account's daily free allocation is spent.
const ACCOUNT_LIMITED: &str = "3036";

/// Workers AI over one of its endpoints: the OpenAI-compatible one (OpenAI's body and reply,
/// Cloudflare's errors) or the native run API. What the two share (errors, capacity codes, the
/// embedding model, the model search) is written once; where they differ, `native` decides.
pub(crate) struct WorkersAi {
    native: bool,
}

pub(crate) static COMPATIBLE: WorkersAi = WorkersAi { native: false };
pub(crate) static NATIVE: WorkersAi = WorkersAi { native: true };

impl DialectImpl for WorkersAi {
    fn name(&self) -> &'static str {
        if self.native {
            "workers-ai-native"
        } else {
            "workers-ai"
        }
    }

    fn default_mode(&self) -> Mode {
        Mode::JsonSchema
    }

    /// Compatible: `{base}/chat/completions`. Native: `{base}/{model}`, the model unescaped
    /// (`.../ai/run/@cf/meta/llama-3.1-8b-instruct`); a base that stops at `.../ai` gets the `/run`.
    fn chat_url(&self, base_url: &str, model: &str) -> String {
        if !self.native {
            return openai::COMPATIBLE.chat_url(base_url, model);
        }
        let base = base_url.trim_end_matches('/');
        let run = if base.ends_with("/ai") { "/run" } else { "" };
        format!("{base}{run}/{}", model.trim_start_matches('/'))
    }

    fn auth_headers(&self, key: &str, headers: &mut HeaderMap) -> Result<(), Error> {
        headers.insert(reqwest::header::AUTHORIZATION, bearer(key)?);
        Ok(())
    }

    fn chat_body<'a>(&self, request: &ChatRequest<'a>) -> Body<'a> {
        if self.native {
            native_body(request)
        } else {
            openai::COMPATIBLE.chat_body(request)
        }
    }

    fn is_answer(&self, status: u16, body: &[u8]) -> bool {
        is_answer(status, body)
    }

    fn parse_reply(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Error> {
        if self.native {
            return parse_native(status, body);
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| not_json(status, body, &e))?;
        if let Some(failure) = envelope_failure(&value) {
            return failure_reply(status, failure);
        }
        openai::COMPATIBLE.parse_reply(status, headers, body)
    }

    fn parse_error(&self, body: &[u8]) -> ProviderError {
        parse_error(body)
    }

    fn classify(
        &self,
        status: u16,
        retry_after: Option<Duration>,
        parsed: ProviderError,
    ) -> (Error, bool) {
        classify(status, retry_after, parsed)
    }

    /// Not in the constrained modes (see [`can_stream`]); the native stream's events carry text
    /// (`response`) only, so there a tool call is asked for in one plain request too.
    fn can_stream(&self, mode: Mode, schema: bool) -> bool {
        can_stream(mode, schema) && !(self.native && schema && mode == Mode::Tools)
    }

    fn parse_delta(&self, data: &str) -> Result<Delta, Error> {
        if self.native {
            parse_native_delta(data)
        } else {
            openai::parse_chat_delta(data)
        }
    }

    /// Compatible: `{base}/embeddings`. Native: the model's run URL, as for a chat.
    fn embeddings_url(&self, base_url: &str, model: &str) -> Result<String, Error> {
        if self.native {
            Ok(self.chat_url(base_url, model))
        } else {
            Ok(openai::embeddings_url(base_url))
        }
    }

    fn embeddings_body(&self, model: &str, texts: &[String]) -> Value {
        if self.native {
            json!({ "text": texts })
        } else {
            openai::embeddings_body(model, texts)
        }
    }

    fn parse_embeddings(&self, status: u16, body: &[u8]) -> Result<EmbeddingBatch, Error> {
        if self.native {
            return parse_native_embeddings(status, body);
        }
        if let Some(error) = envelope_error(status, body) {
            return Err(error);
        }
        openai::parse_embeddings(status, body)
    }

    fn embed_batch_limit(&self) -> usize {
        EMBED_BATCH_LIMIT
    }

    fn default_embedding_model(&self) -> Option<&'static str> {
        Some(EMBEDDING_MODEL)
    }

    fn models_url(&self, base_url: &str, query: &ModelQuery, page: u32) -> Result<String, Error> {
        models_search_url(base_url, query, page)
    }

    fn parse_models(
        &self,
        status: u16,
        body: &[u8],
        query: &ModelQuery,
    ) -> Result<ModelPage, Error> {
        parse_models_search(status, body, query)
    }
}

/// Workers AI's JSON mode does not stream ("JSON Mode currently doesn't support streaming" in
/// Cloudflare's docs): an extraction in the constrained modes is sent as one plain request.
pub(crate) fn can_stream(mode: Mode, schema: bool) -> bool {
    !(schema && matches!(mode, Mode::JsonSchema | Mode::JsonObject))
}

/// One event of the native stream: `{"response": "chunk"}`, the usage on a last event, and
/// `[DONE]`. A failure comes in the Cloudflare envelope.
pub(crate) fn parse_native_delta(data: &str) -> Result<Delta, Error> {
    if data.trim() == "[DONE]" {
        return Ok(Delta {
            done: true,
            ..Delta::default()
        });
    }
    let value: Value = serde_json::from_str(data).map_err(|e| bad_delta(data, &e))?;
    if let Some(failure) = envelope_failure(&value) {
        let (error, _) = classify(200, None, failure);
        return Err(error);
    }
    let result = value
        .get("result")
        .filter(|r| r.is_object())
        .unwrap_or(&value);
    Ok(Delta {
        content: result
            .get("response")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        finish: result
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(|r| FinishReason::parse(Some(r))),
        usage: result.get("usage").and_then(parse_usage),
        ..Delta::default()
    })
}

/// The native body: `messages`, the bare schema in `response_format.json_schema` (no name or
/// `strict` envelope), `max_tokens`, `temperature`.
///
/// The `Tools` mode sends the run API's function calling, one tool `{name, description,
/// parameters}` whose parameters are the schema, and the value is read from the reply's
/// `tool_calls[0].arguments`. The run API has no `tool_choice` to force the call, so the schema
/// also goes in the instructions, as in the `Prompt` mode: a model that answers in text instead is
/// still judged on that text. A reask replays the call and its rejection as plain turns.
pub(crate) fn native_body<'a>(request: &ChatRequest<'a>) -> Body<'a> {
    let turns = without_tools(request.turns, request.mode, request.schema);
    let mut body = Body::new().with("messages", turns);
    match request.schema_mode() {
        // Inlined: nothing says the JSON mode resolves `$ref`.
        Some((Mode::JsonSchema, schema)) => {
            body.push(
                "response_format",
                Body::new()
                    .with("type", "json_schema")
                    .with("json_schema", &*schema.inlined_json),
            );
        }
        Some((Mode::JsonObject, _)) => {
            body.push("response_format", Body::new().with("type", "json_object"));
        }
        Some((Mode::Tools, schema)) => {
            let mut tool = Body::new().with("name", schema.name);
            // The type's own description, or its doc comment as the schema carries it.
            let described = schema.strict.get("description").and_then(Value::as_str);
            if let Some(description) = schema.description.or(described) {
                tool.push("description", description);
            }
            let tool = tool.with("parameters", &*schema.inlined_json);
            body.push("tools", Part::Array(vec![tool.into()]));
        }
        Some((Mode::Prompt, _)) | None => {}
    }
    if request.stream {
        body.push("stream", true);
    }
    if let Some(n) = request.options.max_tokens {
        body.push("max_tokens", n);
    }
    if let Some(t) = request.options.temperature {
        body.push("temperature", t);
    }
    body
}

/// Reads the native envelope: `result.response` is the text, or a value the JSON mode already parsed
/// (judged as its JSON serialization); `result.usage` has OpenAI's field names. A bare
/// `{"response": ...}` (the shape a Worker's binding returns) is read too.
pub(crate) fn parse_native(status: u16, body: &[u8]) -> Result<Reply, Error> {
    let value: Value = serde_json::from_slice(body).map_err(|e| not_json(status, body, &e))?;
    if let Some(failure) = envelope_failure(&value) {
        return failure_reply(status, failure);
    }
    let result = match value.get("result") {
        Some(result) if result.is_object() => result,
        _ if value.get("response").is_some() => &value,
        _ => {
            return Err(Error::UnexpectedResponse {
                status,
                message: "the reply has no `result`".into(),
                body: excerpt(body),
            })
        }
    };
    let content = match result.get("response") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => Some(other.to_string()),
    };
    let tool_arguments = result
        .get("tool_calls")
        .and_then(|calls| calls.get(0))
        .and_then(|call| {
            call.get("arguments")
                .or_else(|| call.get("function").and_then(|f| f.get("arguments")))
        })
        .and_then(|args| match args {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        });
    Ok(Reply {
        content,
        tool_arguments,
        refusal: None,
        finish: FinishReason::parse(result.get("finish_reason").and_then(Value::as_str)),
        usage: result.get("usage").and_then(parse_usage),
        model: None,
        cache_status: None,
    })
}

/// Whether a reply is to be read as an answer: a 2xx that is not a failed envelope, or a failure that
/// only says the model's output could not meet the schema.
pub(crate) fn is_answer(status: u16, body: &[u8]) -> bool {
    let two_hundred = (200..300).contains(&status);
    // Only bodies that may be a failure are parsed twice.
    if two_hundred && !contains(body, b"\"success\"") {
        return true;
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return two_hundred;
    };
    match envelope_failure(&value) {
        Some(failure) => is_unmet_schema(&failure.message),
        None => two_hundred,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The provider's words when the JSON mode could not produce output matching the schema.
fn is_unmet_schema(message: &str) -> bool {
    let message = message.to_ascii_lowercase().replace('\u{2019}', "'");
    message.contains("json mode couldn't be met") || message.contains("json mode could not be met")
}

/// The failure a Cloudflare envelope reports (`success: false` with `errors`, or the gateway's
/// `error` array), if it reports one.
pub(crate) fn envelope_failure(value: &Value) -> Option<ProviderError> {
    let items = ["errors", "error"].iter().find_map(|k| {
        value
            .get(*k)
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
    });
    match (value.get("success").and_then(Value::as_bool), items) {
        (Some(true), _) => None,
        (_, Some(items)) => Some(from_items(items)),
        (Some(false), None) => Some(ProviderError {
            code: None,
            message: "the request failed (`success: false`)".into(),
        }),
        (None, None) => None,
    }
}

/// The first error's code; every error's message.
fn from_items(items: &[Value]) -> ProviderError {
    let code = items.iter().find_map(|item| match item.get("code") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    });
    let messages: Vec<String> = items
        .iter()
        .map(|item| match item {
            Value::String(s) => s.clone(),
            other => other
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| other.to_string(), str::to_owned),
        })
        .collect();
    ProviderError {
        code,
        message: messages.join("; "),
    }
}

/// A failure found in a reply that was read as an answer: the unmet schema becomes output to judge,
/// anything else an error (past the transport's retries, which only see non-answers).
fn failure_reply(status: u16, failure: ProviderError) -> Result<Reply, Error> {
    if is_unmet_schema(&failure.message) {
        return Ok(Reply {
            content: Some(failure.message),
            tool_arguments: None,
            refusal: None,
            finish: FinishReason::Other,
            usage: None,
            model: None,
            cache_status: None,
        });
    }
    Err(classify(status, None, failure).0)
}

/// The Cloudflare envelope (`errors` or the gateway's `error` array), or else OpenAI's error shape.
pub(crate) fn parse_error(body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => envelope_failure(&value).unwrap_or_else(|| envelope::parse_error_body(body)),
        Err(_) => ProviderError {
            code: None,
            message: excerpt(body),
        },
    }
}

/// Classifies by the Cloudflare code first, the HTTP status after.
pub(crate) fn classify(
    status: u16,
    retry_after: Option<Duration>,
    parsed: ProviderError,
) -> (Error, bool) {
    match parsed.code.as_deref() {
        // Like a 503, whatever status carried it.
        Some(OUT_OF_CAPACITY) => (
            Error::Api {
                status,
                code: parsed.code,
                message: parsed.message,
            },
            true,
        ),
        // A daily allocation: resending within seconds cannot help.
        Some(ACCOUNT_LIMITED) => (
            Error::RateLimited {
                retry_after,
                message: parsed.message,
            },
            false,
        ),
        _ => classify_status(status, retry_after, parsed),
    }
}

/// The most texts Workers AI's embedding models (`@cf/baai/bge-*`) take in one request.
pub(crate) const EMBED_BATCH_LIMIT: usize = 100;
/// The embedding model used on Workers AI when none is configured.
pub(crate) const EMBEDDING_MODEL: &str = "@cf/baai/bge-base-en-v1.5";
/// Models per page of the model search, when the caller sets none (as Wrangler asks for).
const MODELS_PER_PAGE: u32 = 50;

/// The error a Cloudflare envelope in a successful reply reports, if it reports one.
fn envelope_error(status: u16, body: &[u8]) -> Option<Error> {
    let value: Value = serde_json::from_slice(body).ok()?;
    envelope_failure(&value).map(|failure| classify(status, None, failure).0)
}

/// Reads the native embeddings reply: `{"result": {"shape": [n, d], "data": [[...], ...],
/// "pooling": "mean"}, "success": true, ...}`, or the bare `{"shape", "data"}` of a Worker's
/// binding. A `shape` that disagrees with `data` is an unexpected response.
pub(crate) fn parse_native_embeddings(status: u16, body: &[u8]) -> Result<EmbeddingBatch, Error> {
    #[derive(serde::Deserialize)]
    struct Output {
        data: Vec<Vec<f32>>,
        #[serde(default)]
        shape: Option<Vec<u64>>,
        #[serde(default)]
        usage: Option<Value>,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Envelope {
        Wrapped { result: Output },
        Bare(Output),
    }
    if let Some(error) = envelope_error(status, body) {
        return Err(error);
    }
    let output = match envelope::read_json::<Envelope>(status, body, "the embeddings reply")? {
        Envelope::Wrapped { result } | Envelope::Bare(result) => result,
    };
    if let Some(shape) = &output.shape {
        let rows = output.data.len() as u64;
        let columns = output.data.first().map_or(0, |v| v.len() as u64);
        if shape.as_slice() != [rows, columns] && !(rows == 0 && shape.first() == Some(&0)) {
            return Err(bad_shape(
                status,
                body,
                format!("the reply's shape {shape:?} does not match its data ({rows} × {columns})"),
            ));
        }
    }
    Ok(EmbeddingBatch {
        vectors: output.data,
        usage: output.usage.as_ref().and_then(parse_usage),
        model: None,
    })
}

/// The account's model search, `.../accounts/{id}/ai/models/search`, from a base URL under the
/// account's `/ai` (`.../ai/v1`, `.../ai/run`, `.../ai`), with the query's filters and the page.
pub(crate) fn models_search_url(
    base_url: &str,
    query: &ModelQuery,
    page: u32,
) -> Result<String, Error> {
    let base = base_url.trim_end_matches('/');
    let ai = match base.rfind("/ai/") {
        Some(i) => &base[..i + 3],
        None if base.ends_with("/ai") => base,
        None => {
            return Err(Error::config(format!(
            "the base URL `{base}` is not under an account's `/ai` path, so the Workers AI model \
                 search cannot be found from it"
        )))
        }
    };
    let mut url = reqwest::Url::parse(&format!("{ai}/models/search"))
        .map_err(|e| Error::config(format!("the model search URL is not a URL: {e}")))?;
    {
        let mut pairs = url.query_pairs_mut();
        if let Some(task) = &query.task {
            pairs.append_pair("task", task);
        }
        if let Some(search) = &query.search {
            pairs.append_pair("search", search);
        }
        pairs.append_pair("page", &page.to_string());
        pairs.append_pair(
            "per_page",
            &query.per_page.unwrap_or(MODELS_PER_PAGE).to_string(),
        );
    }
    Ok(url.into())
}

/// Reads a page of the model search: `result[]` of `{name, description, task: {name},
/// properties: [{property_id, value}]}`, and `result_info` with the totals. Whether a next page
/// may have more comes from `result_info.total_count`, or else from a full page.
pub(crate) fn parse_models_search(
    status: u16,
    body: &[u8],
    query: &ModelQuery,
) -> Result<ModelPage, Error> {
    #[derive(serde::Deserialize)]
    struct Search {
        result: Vec<Map<String, Value>>,
        #[serde(default)]
        result_info: Option<Value>,
    }
    if let Some(error) = envelope_error(status, body) {
        return Err(error);
    }
    let search: Search = envelope::read_json(status, body, "the model search reply")?;
    let returned = search.result.len() as u64;
    let models = search
        .result
        .into_iter()
        .map(|entry| {
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
            let Some(name) = text(entry.get("name")).filter(|n| !n.is_empty()) else {
                return Err(bad_shape(
                    status,
                    body,
                    "a model in the search has no `name`",
                ));
            };
            let mut info = ModelInfo::new(name);
            info.description = text(entry.get("description")).filter(|d| !d.is_empty());
            info.task = text(entry.get("task").and_then(|t| t.get("name")));
            let properties = entry.get("properties").and_then(Value::as_array);
            for property in properties.into_iter().flatten() {
                let Some(id) = text(property.get("property_id")) else {
                    continue;
                };
                let value = match property.get("value") {
                    None | Some(Value::Null) => continue,
                    Some(v) => envelope::scalar_text(v).unwrap_or_else(|| v.to_string()),
                };
                info.properties.push((id, value));
            }
            if let Some(created) = text(entry.get("created_at")) {
                info.properties.push(("created_at".into(), created));
            }
            Ok(info)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let number = |key: &str| {
        search
            .result_info
            .as_ref()
            .and_then(|i| i.get(key))
            .and_then(Value::as_u64)
    };
    let per_page = u64::from(query.per_page.unwrap_or(MODELS_PER_PAGE));
    let more = match (number("total_count"), number("page"), number("per_page")) {
        (Some(total), Some(page), Some(size)) => page.saturating_mul(size) < total,
        _ => returned >= per_page,
    };
    Ok(ModelPage { models, more })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_codes_and_messages() {
        let body = br#"{"success":false,"errors":[{"code":3040,"message":"Capacity temporarily exceeded"}],"result":null}"#;
        let parsed = parse_error(body);
        assert_eq!(parsed.code.as_deref(), Some("3040"));
        assert_eq!(parsed.message, "Capacity temporarily exceeded");
        let gateway = br#"{"success":false,"error":[{"code":2009,"message":"Unauthorized"}]}"#;
        let parsed = parse_error(gateway);
        assert_eq!(parsed.code.as_deref(), Some("2009"));
        assert_eq!(parsed.message, "Unauthorized");
        let openai = br#"{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}"#;
        assert_eq!(parse_error(openai).code.as_deref(), Some("invalid_api_key"));
    }

    #[test]
    fn answers_and_failures() {
        assert!(is_answer(
            200,
            br#"{"result":{"response":"{}"},"success":true,"errors":[]}"#
        ));
        assert!(!is_answer(
            200,
            br#"{"result":null,"success":false,"errors":[{"code":3040,"message":"x"}]}"#
        ));
        assert!(is_answer(400, br#"{"success":false,"errors":[{"code":5006,"message":"AiError: JSON Mode couldn't be met"}]}"#));
        assert!(!is_answer(
            429,
            br#"{"success":false,"errors":[{"code":3036,"message":"daily"}]}"#
        ));
        assert!(is_answer(200, b"not json at all"));
        assert!(!is_answer(502, b"<html>bad gateway</html>"));
    }
}
