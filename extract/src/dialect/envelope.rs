//! What several dialects share to read a provider's words: error envelopes (JSON or an HTML page),
//! the classification of an error by status, the words a server uses to refuse a mode, JSON read
//! with the status kept, bearer headers. Neutral: no provider's shape lives here, so a dialect takes
//! these without importing another dialect.

use std::fmt;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;

use crate::error::Error;
use crate::text::excerpt;
use crate::vocab::Mode;

/// The error for a reply whose body does not have the shape the API documents.
pub(crate) fn bad_shape(status: u16, body: &[u8], what: impl fmt::Display) -> Error {
    Error::UnexpectedResponse {
        status,
        message: what.to_string(),
        body: excerpt(body),
    }
}

/// The error for a stream event that is not JSON: the stream is broken, so no later event can be
/// trusted either.
pub(crate) fn bad_delta(data: &str, err: &serde_json::Error) -> Error {
    Error::UnexpectedResponse {
        status: 200,
        message: format!("a stream event is not JSON: {err}"),
        body: excerpt(data.as_bytes()),
    }
}

/// The usual reading of an HTTP error status: 429 is a rate limit; 408, 409, 429 and 5xx are worth
/// resending; anything else is final.
pub(crate) fn classify_status(
    status: u16,
    retry_after: Option<std::time::Duration>,
    parsed: ProviderError,
) -> (Error, bool) {
    let retryable = matches!(status, 408 | 409 | 429) || (500..600).contains(&status);
    let error = if status == 429 {
        Error::RateLimited {
            retry_after,
            message: parsed.message,
        }
    } else {
        Error::Api {
            status,
            code: parsed.code,
            message: parsed.message,
        }
    };
    (error, retryable)
}

/// The value of a response header as text, if present and readable.
pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// What a provider's rejection of a request says about the way the schema was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The server does not support the mode itself (`response_format` of type `json_schema`,
    /// `tools`): the request may be sent again in a simpler mode.
    ModeUnsupported,
    /// The server read the schema and found it invalid: the type's schema must change.
    SchemaInvalid,
    /// Anything else: the error is returned as it is.
    Other,
}

/// Whether `text` (lowercase) names the part of a request that `mode` adds, in the words servers
/// use for it.
pub(crate) fn names_mode(mode: Mode, text: &str) -> bool {
    let words: &[&str] = match mode {
        Mode::JsonSchema => &[
            "json_schema",
            "response_format",
            "structured output",
            "json schema",
        ],
        Mode::JsonObject => &["json_object", "response_format", "json mode"],
        Mode::Tools => &[
            "tools",
            "tool_choice",
            "tool choice",
            "function calling",
            "tool calling",
            "tool use",
            "functions",
        ],
        Mode::Prompt => &[],
    };
    words.iter().any(|w| text.contains(w))
}

/// Whether `text` (lowercase) says something is not supported, in the words servers use.
pub(crate) fn says_unsupported(text: &str) -> bool {
    [
        "not supported",
        "unsupported",
        "does not support",
        "doesn't support",
        "do not support",
        "not available for",
        "not enabled",
        "unrecognized request argument",
        "unknown parameter",
        "extra inputs are not permitted",
        "must be one of",
        "requires --jinja",
    ]
    .iter()
    .any(|w| text.contains(w))
}

/// What a provider said about a failure.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProviderError {
    pub(crate) code: Option<String>,
    pub(crate) message: String,
}

/// How OpenAI and the servers that copy its protocol reject a mode or a schema (see
/// [`DialectImpl::rejection`](super::DialectImpl::rejection)), from their own words:
///
/// - OpenAI, a schema its strict mode cannot take: 400 `invalid_request_error`, param
///   `response_format`, "Invalid schema for response_format 'T': In context=(), ..." (for tools,
///   "Invalid schema for function 'T': ..."). The schema is wrong, not the mode.
/// - OpenAI, a model without the mode: "Invalid parameter: 'response_format' of type
///   'json_schema' is not supported with this model", "'tools' is not supported with this model"
///   (`unsupported_parameter`); Azure's older API versions: "Unrecognized request argument
///   supplied: tools".
/// - llama.cpp: "response_format type must be one of \"text\" or \"json_object\"" (before it
///   knew `json_schema`), "tools param requires --jinja flag"; a schema its grammar converter cannot
///   take: "JSON schema conversion failed", "Unrecognized schema", "failed to parse grammar".
/// - vLLM: "The provided JSON schema contains features not supported by ..." (a schema problem),
///   pydantic's "Extra inputs are not permitted" for a field it does not know.
/// - Ollama's `/v1`: "... does not support tools"; "invalid JSON schema in format".
///
/// Both parts must be there for a fallback: words naming the mode's part of the request *and*
/// words saying it is unsupported. A 400 that only mentions `response_format` (a proxy's page, a
/// transient failure) is [`Rejection::Other`].
pub(crate) fn rejection(mode: Mode, status: u16, code: Option<&str>, message: &str) -> Rejection {
    if !matches!(status, 400 | 422) || mode == Mode::Prompt {
        return Rejection::Other;
    }
    let text = format!("{} {}", message, code.unwrap_or("")).to_ascii_lowercase();
    let schema_invalid = [
        "invalid schema for response_format",
        "invalid schema for function",
        "invalid_json_schema",
        "json schema conversion failed",
        "unrecognized schema",
        "failed to parse grammar",
        "invalid json schema",
        "contains features not supported",
    ];
    if schema_invalid.iter().any(|w| text.contains(w)) {
        return Rejection::SchemaInvalid;
    }
    if names_mode(mode, &text) && says_unsupported(&text) {
        return Rejection::ModeUnsupported;
    }
    Rejection::Other
}

/// An error event inside a stream (`{"error": {"message", "type", "code"}}` or a bare string).
pub(crate) fn stream_error(error: &Value) -> Error {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .unwrap_or("the provider reported an error in the stream")
        .to_owned();
    let code = error
        .get("code")
        .or_else(|| error.get("type"))
        .and_then(|c| match c {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        });
    if code.as_deref().is_some_and(|c| c.contains("rate_limit")) {
        return Error::RateLimited {
            retry_after: None,
            message,
        };
    }
    Error::Api {
        status: 200,
        code,
        message,
    }
}

pub(crate) fn bearer(key: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
        Error::config("the API key contains characters that cannot go in an HTTP header")
    })?;
    value.set_sensitive(true);
    Ok(value)
}

pub(crate) fn parse_error_body(body: &[u8]) -> ProviderError {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => error_from_value(value.get("error").unwrap_or(&value)),
        // A proxy's error page says what happened in its title; the page itself is markup.
        Err(_) if looks_html(body) => ProviderError {
            code: None,
            message: format!(
                "the body is an HTML page, not JSON (a proxy or gateway error page?): {}",
                html_summary(body)
            ),
        },
        Err(_) => ProviderError {
            code: None,
            message: excerpt(body),
        },
    }
}

fn looks_html(body: &[u8]) -> bool {
    body.iter()
        .take(512)
        .copied()
        .skip_while(u8::is_ascii_whitespace)
        .take(1)
        .any(|b| b == b'<')
}

/// What an HTML page says, in a line: its `<title>`, or else the start of its text without tags.
fn html_summary(body: &[u8]) -> String {
    const MAX: usize = 200;
    let page = String::from_utf8_lossy(&body[..body.len().min(8192)]);
    let lower = page.to_ascii_lowercase();
    let title = lower.find("<title").and_then(|open| {
        let start = open + lower[open..].find('>')? + 1;
        let end = start + lower[start..].find("</title")?;
        Some(&page[start..end])
    });
    let mut text = String::new();
    let mut in_tag = false;
    for c in title.unwrap_or(&page).chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if in_tag => {}
            c => text.push(c),
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut line = words.join(" ");
    if line.chars().count() > MAX {
        line = line.chars().take(MAX).collect::<String>() + "…";
    }
    line
}

pub(crate) fn error_from_value(err: &Value) -> ProviderError {
    if let Value::String(message) = err {
        return ProviderError {
            code: None,
            message: message.clone(),
        };
    }
    let message = ["message", "detail", "error"]
        .iter()
        .find_map(|k| err.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| err.to_string());
    let code = ["code", "type"].iter().find_map(|k| match err.get(*k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    });
    ProviderError { code, message }
}

pub(crate) fn not_json(status: u16, body: &[u8], err: &serde_json::Error) -> Error {
    let message = if looks_html(body) {
        "the body is an HTML page, not JSON (a proxy or gateway error page?)".to_owned()
    } else if std::str::from_utf8(body).is_err() {
        "the body is not valid UTF-8".to_owned()
    } else {
        format!("the body is not JSON: {err}")
    };
    Error::UnexpectedResponse {
        status,
        message,
        body: excerpt(body),
    }
}

/// A string, number or boolean as text; `None` for null, arrays and objects.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Deserializes a reply body into `T`: a body that is not JSON is [`not_json`]; JSON of another
/// shape is an unexpected response naming the place, unless it is an `{"error": ...}` object (a
/// server reporting a failure with a 2xx status), which is the API error it reports.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &[u8],
    what: &str,
) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => {
            de.end().map_err(|e| not_json(status, body, &e))?;
            Ok(value)
        }
        Err(err) if err.inner().is_data() => {
            if let Ok(value) = serde_json::from_slice::<Value>(body) {
                if let Some(e) = value.get("error").filter(|e| !e.is_null()) {
                    let parsed = error_from_value(e);
                    return Err(Error::Api {
                        status,
                        code: parsed.code,
                        message: parsed.message,
                    });
                }
            }
            let path = err.path().to_string();
            let at = if path == "." {
                String::new()
            } else {
                format!(" at `{path}`")
            };
            Err(bad_shape(
                status,
                body,
                format!("{what} is not in the documented shape{at}: {}", err.inner()),
            ))
        }
        Err(err) => Err(not_json(status, body, err.inner())),
    }
}
