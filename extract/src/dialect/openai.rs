//! OpenAI's chat completions protocol, spoken by OpenAI itself and by every "OpenAI-compatible"
//! server. The two differ in small ways: OpenAI wants `max_completion_tokens` (the older `max_tokens`
//! is rejected by its reasoning models), while compatible servers mostly know only `max_tokens`.

use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde_json::{Map, Value};

use super::envelope::{
    bearer, error_from_value, not_json, parse_error_body, read_json, scalar_text, stream_error,
};
use super::{
    bad_delta, bad_shape, excerpt, header_text, Body, ChatRequest, DialectImpl, EmbeddingBatch,
    Part, ProviderError,
};
use crate::error::Error;
use crate::schema::Prepared;
use crate::vocab::Mode;
use crate::vocab::ModelInfo;
use crate::vocab::Target;
use crate::vocab::Usage;
use crate::vocab::{Delta, FinishReason, Reply};

pub(crate) struct OpenAi {
    name: &'static str,
    max_tokens_field: &'static str,
    /// Whether the schema keeps `minLength`/`maxLength`. OpenAI's strict mode rejects them; the
    /// grammar-constrained decoders behind most compatible servers (llama.cpp, Ollama, vLLM) enforce
    /// them, and the others ignore keywords they do not know.
    string_lengths: bool,
    /// Whose size limits the strict schema is held to: OpenAI's own, and nobody's for the
    /// compatible servers, whose limits are their own and undocumented.
    limits: Option<Target>,
    /// Its name for people, when it refuses requests without a key (OpenAI's own API does).
    needs_key: Option<&'static str>,
    /// The model a client uses when it sets none (OpenAI's own API has one; a compatible server
    /// serves what it was started with, which only the user knows).
    default_model: Option<&'static str>,
}

/// OpenAI's API, the default base URL of a client.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// The model a client for OpenAI uses when none is set.
pub const OPENAI_DEFAULT_MODEL: &str = "gpt-4o-mini";

pub(crate) static OPENAI: OpenAi = OpenAi {
    name: "openai",
    max_tokens_field: "max_completion_tokens",
    string_lengths: false,
    limits: Some(Target::OpenAi),
    needs_key: Some("OpenAI"),
    default_model: Some(OPENAI_DEFAULT_MODEL),
};
pub(crate) static COMPATIBLE: OpenAi = OpenAi {
    name: "openai-compatible",
    max_tokens_field: "max_tokens",
    string_lengths: true,
    limits: None,
    needs_key: None,
    default_model: None,
};
/// What AI Gateway's unified endpoint speaks: compatible, but it may forward to OpenAI itself.
pub(crate) static GATEWAY_COMPAT: OpenAi = OpenAi {
    name: "openai-compatible",
    max_tokens_field: "max_tokens",
    string_lengths: false,
    limits: None,
    needs_key: None,
    default_model: None,
};

impl DialectImpl for OpenAi {
    fn name(&self) -> &'static str {
        self.name
    }

    fn default_mode(&self) -> Mode {
        Mode::JsonSchema
    }

    fn needs_key(&self) -> Option<&'static str> {
        self.needs_key
    }

    fn default_model(&self) -> Option<&'static str> {
        self.default_model
    }

    fn chat_url(&self, base_url: &str, _model: &str) -> String {
        format!("{}/chat/completions", base_url.trim_end_matches('/'))
    }

    fn auth_headers(&self, key: &str, headers: &mut HeaderMap) -> Result<(), Error> {
        headers.insert(AUTHORIZATION, bearer(key)?);
        Ok(())
    }

    /// The strict schema travels in `json_schema` and in the tool's `parameters` alike.
    fn schema_limits(&self, mode: Mode) -> Option<Target> {
        self.limits
            .filter(|_| matches!(mode, Mode::JsonSchema | Mode::Tools))
    }

    fn chat_body<'a>(&self, request: &ChatRequest<'a>) -> Body<'a> {
        let mut body = Body::new()
            .with("model", request.model)
            .with("messages", request.turns);
        if let Some(t) = request.options.temperature {
            body.push("temperature", t);
        }
        if let Some(n) = request.options.max_tokens {
            body.push(self.max_tokens_field, n);
        }
        match request.schema_mode() {
            Some((Mode::JsonSchema, schema)) => {
                body.push(
                    "response_format",
                    Body::new()
                        .with("type", "json_schema")
                        .with("json_schema", named(schema, "schema", self.string_lengths)),
                );
            }
            Some((Mode::JsonObject, _)) => {
                body.push("response_format", Body::new().with("type", "json_object"));
            }
            Some((Mode::Tools, schema)) => {
                let tool = Body::new()
                    .with("type", "function")
                    .with("function", named(schema, "parameters", self.string_lengths));
                body.push("tools", Part::Array(vec![tool.into()]));
                body.push(
                    "tool_choice",
                    Body::new()
                        .with("type", "function")
                        .with("function", Body::new().with("name", schema.name)),
                );
            }
            Some((Mode::Prompt, _)) | None => {}
        }
        if request.stream {
            body.push("stream", true);
            // Usage arrives in a last chunk only when asked for; servers that do not know the
            // option ignore it.
            body.push("stream_options", Body::new().with("include_usage", true));
        }
        body
    }

    fn parse_reply(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> Result<Reply, Error> {
        let mut reply = parse_chat_completion(status, body)?;
        reply.cache_status = header_text(headers, "cf-aig-cache-status");
        Ok(reply)
    }

    fn parse_error(&self, body: &[u8]) -> ProviderError {
        parse_error_body(body)
    }

    fn parse_delta(&self, data: &str) -> Result<Delta, Error> {
        parse_chat_delta(data)
    }

    /// OpenAI's own API has a model to default to; a compatible server's models are its own.
    fn default_embedding_model(&self) -> Option<&'static str> {
        (self.name == OPENAI.name).then_some(OPENAI_EMBEDDING_MODEL)
    }

    /// OpenAI's documented limit; a compatible server (llama.cpp, Ollama's `/v1`, vLLM on a CPU)
    /// embeds on hardware that may need minutes for that many, so its requests are smaller.
    fn embed_batch_limit(&self) -> usize {
        if self.name == OPENAI.name {
            EMBED_BATCH_LIMIT
        } else {
            COMPATIBLE_EMBED_BATCH_LIMIT
        }
    }
}

/// Texts per embeddings request to an OpenAI-compatible server.
pub(crate) const COMPATIBLE_EMBED_BATCH_LIMIT: usize = 64;

/// The embedding model used against OpenAI when none is configured.
pub(crate) const OPENAI_EMBEDDING_MODEL: &str = "text-embedding-3-small";

/// Reads one chunk of a streamed chat completion: `choices[0].delta` carries `content`, `refusal`
/// or the forced tool call's `function.arguments` piece; the finish reason comes on its own chunk,
/// and the usage (with `stream_options.include_usage`) on a last chunk whose `choices` is empty. An
/// `{"error": ...}` chunk is the provider giving up mid-stream.
pub(crate) fn parse_chat_delta(data: &str) -> Result<Delta, Error> {
    if data.trim() == "[DONE]" {
        return Ok(Delta {
            done: true,
            ..Delta::default()
        });
    }
    let value: Value = serde_json::from_str(data).map_err(|e| bad_delta(data, &e))?;
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        return Err(stream_error(error));
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let choice = value.pointer("/choices/0");
    let delta = choice.and_then(|c| c.get("delta"));
    let tool_arguments = delta
        .and_then(|d| d.pointer("/tool_calls/0/function/arguments"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Delta {
        content: text(delta.and_then(|d| d.get("content"))),
        tool_arguments,
        refusal: text(delta.and_then(|d| d.get("refusal"))),
        finish: choice
            .and_then(|c| c.get("finish_reason"))
            .and_then(Value::as_str)
            .map(|r| FinishReason::parse(Some(r))),
        usage: value.get("usage").and_then(parse_usage),
        model: text(value.get("model")),
        done: false,
    })
}

/// The schema with its name, description and `strict`, as both `json_schema` and a tool's
/// `function` carry it; `key` is where the schema goes (`schema`, `parameters`).
fn named<'a>(schema: &'a Prepared, key: &'static str, string_lengths: bool) -> Body<'a> {
    let mut out = Body::new().with("name", schema.name);
    if let Some(d) = schema.description {
        out.push("description", d);
    }
    let json = match &schema.lengths_json {
        Some(lengths) if string_lengths => lengths,
        _ => &schema.strict_json,
    };
    out.with(key, &**json).with("strict", true)
}

/// Reads a chat completion leniently: only `choices[0].message` matters, and every other field may be
/// missing, `null` or of an unexpected type without failing a reply whose content is fine.
pub(crate) fn parse_chat_completion(status: u16, body: &[u8]) -> Result<Reply, Error> {
    match usual_completion(body) {
        Some(reply) => Ok(reply),
        None => lenient_completion(status, body),
    }
}

fn lenient_completion(status: u16, body: &[u8]) -> Result<Reply, Error> {
    let value: Value = serde_json::from_slice(body).map_err(|e| not_json(status, body, &e))?;
    let choice = value.get("choices").and_then(|c| c.get(0));
    let Some(choice) = choice else {
        if let Some(err) = value.get("error").filter(|e| !e.is_null()) {
            let parsed = error_from_value(err);
            return Err(Error::Api {
                status,
                code: parsed.code,
                message: parsed.message,
            });
        }
        return Err(Error::UnexpectedResponse {
            status,
            message: "the reply has no `choices`".into(),
            body: excerpt(body),
        });
    };
    let message = choice.get("message").or_else(|| choice.get("delta"));
    let content = message
        .and_then(|m| m.get("content"))
        .and_then(content_text);
    let refusal = message
        .and_then(|m| m.get("refusal"))
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let tool_arguments = message
        .and_then(|m| m.get("tool_calls"))
        .and_then(|calls| calls.get(0))
        .and_then(|call| call.get("function"))
        .and_then(|f| f.get("arguments"))
        .and_then(|args| match args {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            // Some servers send the arguments as an object rather than a JSON string.
            other => Some(other.to_string()),
        });
    let finish = FinishReason::parse(choice.get("finish_reason").and_then(Value::as_str));
    Ok(Reply {
        content,
        tool_arguments,
        refusal,
        finish,
        usage: value.get("usage").and_then(parse_usage),
        model: value
            .get("model")
            .and_then(Value::as_str)
            .map(str::to_owned),
        cache_status: None,
    })
}

/// A chat completion of the usual shape, read without building a `Value`: the reply of every call
/// goes through here, and a `Value` costs an allocation per member. Anything unusual (no `choices`,
/// content as parts, arguments as an object, a field of an unexpected type) is `None`, for the
/// lenient reading above, which gives the same `Reply` wherever both apply.
fn usual_completion(body: &[u8]) -> Option<Reply> {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde_json::value::RawValue;

    #[derive(Deserialize)]
    struct Completion<'a> {
        #[serde(borrow)]
        choices: Vec<Choice<'a>>,
        #[serde(borrow, default)]
        usage: Option<&'a RawValue>,
        #[serde(borrow, default)]
        model: Option<Cow<'a, str>>,
    }
    #[derive(Deserialize)]
    struct Choice<'a> {
        #[serde(borrow)]
        message: Message<'a>,
        #[serde(borrow, default)]
        finish_reason: Option<Cow<'a, str>>,
    }
    #[derive(Deserialize)]
    struct Message<'a> {
        #[serde(borrow, default)]
        content: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        refusal: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        tool_calls: Option<Vec<Call<'a>>>,
    }
    #[derive(Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        function: Function<'a>,
    }
    #[derive(Deserialize)]
    struct Function<'a> {
        #[serde(borrow, default)]
        arguments: Option<Cow<'a, str>>,
    }

    let completion: Completion<'_> = serde_json::from_slice(body).ok()?;
    let choice = completion.choices.into_iter().next()?;
    let usage = match completion.usage {
        Some(raw) => usual_usage(raw)?,
        None => None,
    };
    let message = choice.message;
    Some(Reply {
        content: message.content.map(Cow::into_owned),
        tool_arguments: message
            .tool_calls
            .and_then(|calls| calls.into_iter().next())
            .and_then(|call| call.function.arguments)
            .map(Cow::into_owned),
        refusal: message
            .refusal
            .filter(|r| !r.is_empty())
            .map(Cow::into_owned),
        finish: FinishReason::parse(choice.finish_reason.as_deref()),
        usage,
        model: completion.model.map(Cow::into_owned),
        cache_status: None,
    })
}

/// [`parse_usage`] without a `Value`: `Some(usage)` where it reads the same, `None` (fall back to the
/// lenient reading) for anything else. Counts may be integers or floats; a count that is `null` or
/// not a number counts as absent, as there.
fn usual_usage(raw: &serde_json::value::RawValue) -> Option<Option<Usage>> {
    use serde::{Deserialize, Deserializer};
    use serde_json::value::RawValue;

    /// A member that is present, even as `null` (which `Option` alone would not tell from absent).
    fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
        <&'de RawValue>::deserialize(d).map(Some)
    }
    #[derive(Deserialize)]
    struct Counts<'a> {
        #[serde(borrow, default, deserialize_with = "present")]
        prompt_tokens: Option<&'a RawValue>,
        #[serde(borrow, default, deserialize_with = "present")]
        input_tokens: Option<&'a RawValue>,
        #[serde(borrow, default, deserialize_with = "present")]
        completion_tokens: Option<&'a RawValue>,
        #[serde(borrow, default, deserialize_with = "present")]
        output_tokens: Option<&'a RawValue>,
        #[serde(borrow, default, deserialize_with = "present")]
        total_tokens: Option<&'a RawValue>,
        #[serde(borrow, default, deserialize_with = "present")]
        prompt_tokens_details: Option<&'a RawValue>,
        #[serde(borrow, default, deserialize_with = "present")]
        completion_tokens_details: Option<&'a RawValue>,
        #[serde(borrow, default, deserialize_with = "present")]
        cached_tokens: Option<&'a RawValue>,
        #[serde(borrow, default, deserialize_with = "present")]
        reasoning_tokens: Option<&'a RawValue>,
    }
    let count = |raw: Option<&RawValue>| {
        let n: serde_json::Number = serde_json::from_str(raw?.get()).ok()?;
        n.as_u64().or_else(|| n.as_f64().map(|f| f as u64))
    };
    // A details member that is not an object holds no count; one that is, is read like the usage.
    fn detail(raw: Option<&RawValue>) -> Option<Option<Counts<'_>>> {
        match raw {
            Some(raw) if raw.get().starts_with('{') => {
                serde_json::from_str(raw.get()).ok().map(Some)
            }
            _ => Some(None),
        }
    }
    if !raw.get().starts_with('{') {
        return (raw.get() == "null").then_some(None);
    }
    let counts: Counts<'_> = serde_json::from_str(raw.get()).ok()?;
    let prompt = count(counts.prompt_tokens.or(counts.input_tokens));
    let completion = count(counts.completion_tokens.or(counts.output_tokens));
    let cached = detail(counts.prompt_tokens_details)?;
    let reasoning = detail(counts.completion_tokens_details)?;
    if prompt.is_none() && completion.is_none() {
        return Some(None);
    }
    let mut out = Usage::new(
        prompt.unwrap_or(0),
        completion.unwrap_or(0),
        count(counts.total_tokens),
    );
    out.cached_tokens = cached.and_then(|d| count(d.cached_tokens));
    out.reasoning_tokens = reasoning.and_then(|d| count(d.reasoning_tokens));
    Some(Some(out))
}

/// `content` as a string, or the concatenated text parts of an array of parts.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let text: String = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            Some(text)
        }
        _ => None,
    }
}

pub(crate) fn parse_usage(usage: &Value) -> Option<Usage> {
    let n = |v: Option<&Value>| v.and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)));
    let prompt = n(usage
        .get("prompt_tokens")
        .or_else(|| usage.get("input_tokens")));
    let completion = n(usage
        .get("completion_tokens")
        .or_else(|| usage.get("output_tokens")));
    if prompt.is_none() && completion.is_none() {
        return None;
    }
    let mut out = Usage::new(
        prompt.unwrap_or(0),
        completion.unwrap_or(0),
        n(usage.get("total_tokens")),
    );
    out.cached_tokens = n(usage
        .get("prompt_tokens_details")
        .and_then(|d| d.get("cached_tokens")));
    out.reasoning_tokens = n(usage
        .get("completion_tokens_details")
        .and_then(|d| d.get("reasoning_tokens")));
    Some(out)
}

/// OpenAI's documented maximum of inputs in one embeddings request.
pub(crate) const EMBED_BATCH_LIMIT: usize = 2048;

/// OpenAI's embeddings endpoint under `base_url`, which every compatible server copies.
pub(crate) fn embeddings_url(base_url: &str) -> String {
    format!("{}/embeddings", base_url.trim_end_matches('/'))
}

/// OpenAI's embeddings body: the model and the batch of texts.
pub(crate) fn embeddings_body(model: &str, texts: &[String]) -> Value {
    serde_json::json!({"model": model, "input": texts})
}

/// OpenAI's embeddings reply: `data[]` of `{embedding, index}`, `model`, `usage.prompt_tokens`.
#[derive(serde::Deserialize)]
struct EmbeddingList {
    data: Vec<EmbeddingItem>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: Option<Value>,
}

#[derive(serde::Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
}

/// Reads an embeddings reply, putting each vector at its `index` (the order the inputs had; a
/// server that sends none is taken to keep the order).
pub(crate) fn parse_embeddings(status: u16, body: &[u8]) -> Result<EmbeddingBatch, Error> {
    let list: EmbeddingList = read_json(status, body, "the embeddings reply")?;
    let n = list.data.len();
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; n];
    for (position, item) in list.data.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        match vectors.get_mut(index) {
            Some(slot @ None) => *slot = Some(item.embedding),
            Some(Some(_)) => {
                return Err(bad_shape(
                    status,
                    body,
                    format!("two embeddings have the index {index}"),
                ))
            }
            None => {
                return Err(bad_shape(
                    status,
                    body,
                    format!("an embedding has the index {index}, but the reply has {n}"),
                ))
            }
        }
    }
    Ok(EmbeddingBatch {
        // Every slot is filled: n items went into n distinct slots.
        vectors: vectors.into_iter().flatten().collect(),
        usage: list.usage.as_ref().and_then(parse_usage),
        model: list.model,
    })
}

/// Reads OpenAI's model listing, `{"data": [{"id", "owned_by", "created", ...}]}`. Other scalar
/// fields (vLLM's `max_model_len`) and those of llama.cpp's `meta` (`n_ctx_train`) become properties.
pub(crate) fn parse_models(status: u16, body: &[u8]) -> Result<Vec<ModelInfo>, Error> {
    #[derive(serde::Deserialize)]
    struct List {
        data: Vec<Map<String, Value>>,
    }
    let list: List = read_json(status, body, "the model listing")?;
    list.data
        .into_iter()
        .map(|mut entry| {
            let id = match entry.remove("id") {
                Some(Value::String(id)) if !id.is_empty() => id,
                _ => {
                    return Err(bad_shape(
                        status,
                        body,
                        "a model in the listing has no `id`",
                    ))
                }
            };
            let text = |v: Option<Value>| match v {
                Some(Value::String(s)) => Some(s),
                _ => None,
            };
            let mut info = ModelInfo::new(id);
            info.owned_by = text(entry.remove("owned_by"));
            info.description = text(entry.remove("description"));
            info.created = entry.remove("created").and_then(|c| c.as_u64());
            entry.remove("object");
            let meta = entry.remove("meta");
            let scalars = entry.into_iter().chain(
                meta.and_then(|m| match m {
                    Value::Object(map) => Some(map),
                    _ => None,
                })
                .into_iter()
                .flatten(),
            );
            for (key, value) in scalars {
                if let Some(value) = scalar_text(&value) {
                    info.properties.push((key, value));
                }
            }
            Ok(info)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::envelope::rejection;
    use crate::dialect::Rejection;

    /// Each provider's words for a rejection, read for the mode the request was sent in.
    #[test]
    fn rejections_read_as_the_providers_word_them() {
        use Mode::{JsonObject, JsonSchema, Prompt, Tools};
        use Rejection::{ModeUnsupported, Other, SchemaInvalid};
        let cases: &[(Mode, u16, Option<&str>, &str, Rejection)] = &[
            // OpenAI
            (JsonSchema, 400, None, "Invalid schema for response_format 'Event': In context=(), 'additionalProperties' is required to be supplied and to be false.", SchemaInvalid),
            (Tools, 400, Some("invalid_function_parameters"), "Invalid schema for function 'Event': In context=('properties', 'when'), 'format' is not permitted.", SchemaInvalid),
            (JsonSchema, 400, None, "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", ModeUnsupported),
            (JsonObject, 400, None, "Invalid parameter: 'response_format' of type 'json_object' is not supported with this model.", ModeUnsupported),
            (Tools, 400, Some("unsupported_parameter"), "Unsupported parameter: 'tools' is not supported with this model.", ModeUnsupported),
            (Tools, 400, None, "Unrecognized request argument supplied: tools", ModeUnsupported),
            // The rejection is about another mode than the one sent: not this mode's.
            (JsonSchema, 400, None, "'tools' is not supported with this model.", Other),
            (Tools, 400, None, "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.", Other),
            // Words of the mode, but nothing unsupported: a transient or unrelated failure.
            (JsonSchema, 400, None, "upstream reset while forwarding response_format", Other),
            (JsonSchema, 400, Some("model_not_found"), "The model `nope` does not exist", Other),
            (JsonSchema, 500, None, "response_format json_schema is not supported", Other),
            (Prompt, 400, None, "response_format is not supported", Other),
            // llama.cpp
            (JsonSchema, 400, None, "response_format type must be one of \"text\" or \"json_object\", but got: json_schema", ModeUnsupported),
            (Tools, 500, None, "tools param requires --jinja flag", Other),
            (Tools, 400, None, "tools param requires --jinja flag", ModeUnsupported),
            (JsonSchema, 400, None, "JSON schema conversion failed:\nUnrecognized schema: {}", SchemaInvalid),
            // vLLM
            (JsonSchema, 400, None, "The provided JSON schema contains features not supported by xgrammar.", SchemaInvalid),
            (Tools, 400, None, "tool_choice: Extra inputs are not permitted", ModeUnsupported),
            // Ollama's /v1
            (Tools, 400, None, "registry.ollama.ai/library/gemma2:2b does not support tools", ModeUnsupported),
        ];
        for (mode, status, code, message, expected) in cases {
            assert_eq!(
                rejection(*mode, *status, *code, message),
                *expected,
                "{mode} {status} {message}"
            );
        }
    }

    #[test]
    fn an_html_error_page_is_summed_up_in_a_line() {
        let nginx = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>";
        assert_eq!(
            parse_error_body(nginx).message,
            "the body is an HTML page, not JSON (a proxy or gateway error page?): 502 Bad Gateway"
        );
        let untitled = b"  <html><body><p>Bad\n  gateway</p></body></html>";
        assert!(parse_error_body(untitled)
            .message
            .ends_with(": Bad gateway"));
        let long = format!("<p>{}</p>", "x".repeat(5000));
        let message = parse_error_body(long.as_bytes()).message;
        assert!(message.ends_with('…') && message.len() < 400, "{message}");
        // Not HTML: the start of the body, as before.
        assert_eq!(
            parse_error_body(b"upstream unavailable").message,
            "upstream unavailable"
        );
    }

    #[test]
    fn the_usual_shape_reads_as_the_lenient_reading_does() {
        let usual = [
            r#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"{\"a\":\"\\u00e9\"}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":2}}}"#,
            r#"{"choices":[{"message":{"content":null,"refusal":"I can't","tool_calls":null},"finish_reason":null}],"usage":null,"model":null}"#,
            r#"{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"E","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[{"message":{"content":"x","refusal":""},"finish_reason":"length"},{"message":{"content":"y"}}],"usage":{"input_tokens":3.0,"output_tokens":"n"}}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":null,"input_tokens":4,"completion_tokens":-1,"total_tokens":1e2}}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":1,"prompt_tokens_details":null,"completion_tokens_details":{"reasoning_tokens":7,"other":[1]}}}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":1,"prompt_tokens_details":3,"completion_tokens_details":"x"}}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":{"total_tokens":9}}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":null}"#,
        ];
        for body in usual {
            let fast = usual_completion(body.as_bytes());
            assert!(fast.is_some(), "{body}");
            let lenient = lenient_completion(200, body.as_bytes()).ok();
            assert_eq!(format!("{fast:?}"), format!("{lenient:?}"), "{body}");
        }
        // Shapes only the lenient reading takes; the fast one declines rather than misreads them.
        let unusual = [
            r#"{"choices":[{"delta":{"content":"x"}}]}"#,
            r#"{"choices":[{"message":{"content":[{"type":"text","text":"x"}]}}]}"#,
            r#"{"choices":[{"message":{"content":null,"tool_calls":[{"function":{"arguments":{"a":1}}}]}}]}"#,
            r#"{"choices":[{"message":{"content":"x"},"finish_reason":1}],"model":2}"#,
            r#"{"choices":[]}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":1,"prompt_tokens":2}}"#,
            r#"{"choices":[{"message":{"content":"x"}}],"usage":[1]}"#,
            r#"{"error":{"message":"no"}}"#,
            r#"[1]"#,
            "not json",
        ];
        for body in unusual {
            assert!(usual_completion(body.as_bytes()).is_none(), "{body}");
        }
    }
}
