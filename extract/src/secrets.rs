//! The client's own secrets (the API key, every header marked sensitive, a password in the base URL),
//! and their removal from whatever a server says back: a 401 body that quotes the key, an error page
//! that echoes a header. What a server wrote is kept as evidence, with each secret replaced by
//! [`REDACTED`], before it reaches an error, a log line or a `Debug`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use reqwest::header::HeaderMap;

use crate::error::Error;

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not searched for: a two-letter "key" would blank every word that
/// contains it. Real keys and tokens are far longer.
const SHORTEST: usize = 6;

/// The secrets one client sends. Cheap to clone; prints only how many there are.
#[derive(Clone, Default)]
pub(crate) struct Secrets(Arc<[Box<str>]>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

impl Secrets {
    /// The values of the sensitive headers (and, for `Bearer <token>` and the like, the token
    /// alone, which is what a server quotes), plus `extra` (a base URL's password).
    pub(crate) fn new(headers: &HeaderMap, extra: impl IntoIterator<Item = String>) -> Secrets {
        let mut found: Vec<Box<str>> = Vec::new();
        let mut add = |secret: &str| {
            let secret = secret.trim();
            if secret.len() >= SHORTEST && !found.iter().any(|s| &**s == secret) {
                found.push(secret.into());
            }
        };
        for value in headers.values().filter(|v| v.is_sensitive()) {
            let Ok(value) = value.to_str() else { continue };
            add(value);
            if let Some((_scheme, token)) = value.split_once(' ') {
                add(token);
            }
        }
        for secret in extra {
            add(&secret);
        }
        // Longest first, so that a token inside a longer header value is replaced as part of it.
        found.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Secrets(found.into())
    }

    /// `text` with every secret replaced; borrowed (no copy) when there is none in it, which is
    /// the usual case.
    pub(crate) fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut text = Cow::Borrowed(text);
        for secret in self.0.iter() {
            if text.contains(&**secret) {
                text = Cow::Owned(text.replace(&**secret, REDACTED));
            }
        }
        text
    }

    /// `text` redacted in place.
    fn scrub(&self, text: &mut String) {
        if let Cow::Owned(clean) = self.redact(text) {
            *text = clean;
        }
    }

    /// `error` with every secret removed from the words a server or a model put in it.
    pub(crate) fn scrub_error(&self, mut error: Error) -> Error {
        if self.0.is_empty() {
            return error;
        }
        match &mut error {
            Error::Config { message } => self.scrub(message),
            Error::Transport { message, .. } => self.scrub(message),
            Error::Api { code, message, .. } | Error::SchemaRejected { code, message, .. } => {
                self.scrub(message);
                if let Some(code) = code {
                    self.scrub(code);
                }
            }
            Error::RateLimited { message, .. } => self.scrub(message),
            Error::Refusal { refusal, .. } => self.scrub(refusal),
            Error::Truncated { partial, .. } | Error::ContentFilter { partial, .. } => {
                self.scrub(partial)
            }
            Error::Invalid { raw, errors, .. } => {
                self.scrub(raw);
                for violation in errors {
                    self.scrub(&mut violation.message);
                }
            }
            Error::UnexpectedResponse { message, body, .. } => {
                self.scrub(message);
                self.scrub(body);
            }
            Error::Redirect {
                location: Some(location),
                ..
            } => self.scrub(location),
            Error::AfterAttempts { error: inner, .. } | Error::RequestLimit { last: inner, .. } => {
                let taken = std::mem::replace(&mut **inner, Error::config(""));
                **inner = self.scrub_error(taken);
            }
            _ => {}
        }
        error
    }
}

/// A base URL as it may be shown: any password in it replaced.
pub(crate) fn shown_url(url: &str) -> Cow<'_, str> {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some(REDACTED));
            Cow::Owned(parsed.to_string())
        }
        _ => Cow::Borrowed(url),
    }
}

/// The password of a base URL, which reqwest sends as basic authentication: a secret like the key.
pub(crate) fn url_password(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    parsed.password().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn secrets() -> Secrets {
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::from_static("Bearer sk-live-0123456789");
        auth.set_sensitive(true);
        headers.insert("authorization", auth);
        headers.insert("x-visible", HeaderValue::from_static("not-a-secret-value"));
        Secrets::new(&headers, ["hunter22".to_owned(), "ab".to_owned()])
    }

    #[test]
    fn every_secret_is_replaced_and_nothing_else() {
        let s = secrets();
        let text = "Incorrect API key provided: sk-live-0123456789 (Bearer sk-live-0123456789), \
                    password hunter22, header not-a-secret-value, ab";
        let clean = s.redact(text);
        assert!(!clean.contains("sk-live-0123456789"), "{clean}");
        assert!(!clean.contains("hunter22"), "{clean}");
        assert!(clean.contains("not-a-secret-value"), "{clean}");
        // Too short to be a secret worth searching for.
        assert!(clean.ends_with(", ab"), "{clean}");
        assert!(matches!(s.redact("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn errors_are_scrubbed_in_every_field_a_server_fills() {
        let s = secrets();
        let error = s.scrub_error(Error::Api {
            status: 401,
            code: Some("sk-live-0123456789".into()),
            message: "bad key sk-live-0123456789".into(),
        });
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("sk-live-0123456789"), "{shown}");
        assert!(shown.contains(REDACTED), "{shown}");
    }

    #[test]
    fn a_password_in_a_url_is_not_shown() {
        let shown = shown_url("https://user:pa55word@example.com/v1");
        assert!(!shown.contains("pa55word"), "{shown}");
        assert_eq!(
            url_password("https://user:pa55word@example.com/v1").as_deref(),
            Some("pa55word")
        );
        assert_eq!(
            shown_url("https://example.com/v1"),
            "https://example.com/v1"
        );
    }
}
