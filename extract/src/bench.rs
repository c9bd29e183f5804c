//! Hooks for the crate's own benchmarks (`extract/benches/`) into work that is otherwise done once
//! per type or inside a request: lowering, validator compilation, request bodies, judging. Not a
//! public API: hidden from the docs, with no stability promise.

use serde_json::Value;

use crate::dialect::{ChatRequest, Dialect};
use crate::options::Options;
use crate::schema::{self, lower, Refs};
use crate::vocab::{Input, Mode};
use crate::{judge, Extract, Violation};

/// A type's prepared schemas: built for the benchmark, or the process's cached ones.
pub struct Prepared(Held);

enum Held {
    Built(Box<schema::Prepared>),
    Cached(&'static schema::Prepared),
}

impl Prepared {
    fn get(&self) -> &schema::Prepared {
        match &self.0 {
            Held::Built(built) => built,
            Held::Cached(cached) => cached,
        }
    }
}

/// Everything done once per type, without the cache: the schemars schema, both lowered forms and
/// their serializations, and the compiled validator.
pub fn prepare<T: Extract>() -> Prepared {
    Prepared(Held::Built(Box::new(schema::build::<T>())))
}

/// The cached prepared schemas of `T`, as requests use them.
pub fn prepared<T: Extract>() -> Prepared {
    Prepared(Held::Cached(schema::prepared::<T>()))
}

/// Lowering alone: the strict and the inlined forms of a schemars schema.
pub fn lower_both<T: Extract>(original: &Value) -> (Value, Value) {
    let (strict, _) = lower(original, T::WRAP_KEY, Refs::Keep);
    let (inlined, _) = lower(original, T::WRAP_KEY, Refs::Inline);
    (strict, inlined)
}

/// Compiling the validator of a schemars schema alone; whether it compiled.
pub fn compile_validator(original: &Value) -> bool {
    jsonschema::options_for::<crate::judge::Tree>()
        .build(original)
        .is_ok()
}

/// The body of the first request for `text`, as `Client::chat` writes it: the default
/// instructions and the text as turns, the dialect's body around them, serialized.
pub fn request_body(
    prepared: &Prepared,
    dialect: Dialect,
    mode: Mode,
    model: &str,
    text: &str,
) -> Result<Vec<u8>, serde_json::Error> {
    let turns =
        crate::turns::initial_turns(prepared.get(), mode, None, &Input::Text(text.to_owned()));
    let options = Options::default();
    let request = ChatRequest {
        model,
        mode,
        schema: Some(prepared.get()),
        turns: &turns,
        options: &options,
        stream: false,
        attempt: 1,
    };
    dialect.imp().chat_body(&request).to_bytes()
}

/// The strict schema, as a `Value` (what the bodies used to clone per call).
pub fn strict(prepared: &Prepared) -> &Value {
    &prepared.get().strict
}

/// The strict schema's one serialization.
pub fn strict_json(prepared: &Prepared) -> &str {
    prepared.get().strict_json.get()
}

/// Judges a reply's text as the request loop does: locate, validate, deserialize, `validate`.
pub fn judge<T: Extract>(prepared: &Prepared, text: &str) -> Result<T, Vec<Violation>> {
    judge::judge::<T>(prepared.get(), text)
}

/// Reads a provider's reply envelope (status 200) as a request does; whether it was read.
pub fn parse_reply(dialect: Dialect, body: &[u8]) -> bool {
    dialect
        .imp()
        .parse_reply(200, &reqwest::header::HeaderMap::new(), body)
        .is_ok()
}

/// The SSE framing of a body that arrived in one chunk, as a stream reads it: the number of
/// payloads (events with data).
pub fn sse_payloads(body: &[u8]) -> usize {
    let chunks = vec![Ok(bytes::Bytes::copy_from_slice(body))];
    let mut frames = crate::transport::framing::frames(
        futures_util::stream::iter(chunks),
        crate::vocab::Framing::Sse,
    );
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut payloads = 0;
    // The body is all there, so a pending poll is the framing yielding after a slice of work; the
    // bound only keeps a mistake from spinning forever.
    for _ in 0..body.len().saturating_add(2) {
        match frames.as_mut().poll_next(&mut cx) {
            std::task::Poll::Ready(Some(_)) => payloads += 1,
            std::task::Poll::Ready(None) => break,
            std::task::Poll::Pending => {}
        }
    }
    payloads
}
