//! Entry points of the fuzz targets (`extract/fuzz/`), also replayed over their seed corpus by
//! `tests/fuzz_corpus.rs`: each takes arbitrary bytes, runs one parser over them, and panics when
//! an invariant breaks (a panic inside the parser is a finding too). Not a public API: hidden from the
//! docs, with no stability promise.
//!
//! Chunked input is split in several ways derived from the bytes themselves (whole, one byte at a
//! time, short pseudo-random pieces), so a corpus file is just the document and a finding replays
//! the same way everywhere.

use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_util::Stream;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::dialect::Dialect;
use crate::error::Error;
use crate::judge::{locate::locate as locate_json, Doc, Tree};
use crate::stream::json::{Event, ParseError, Parser, Seg};
use crate::transport::framing;
use crate::vocab::Framing;
use crate::vocab::Mode;
use crate::vocab::ModelQuery;

const MODES: [Mode; 4] = [
    Mode::JsonSchema,
    Mode::JsonObject,
    Mode::Tools,
    Mode::Prompt,
];

/// Reply envelopes: every dialect reads any body (as a reply, an error, a stream event, embeddings,
/// a model listing) into a typed result without panicking, and accepts a reply only if it is JSON.
pub fn envelope(data: &[u8]) {
    let headers = HeaderMap::new();
    let text = String::from_utf8_lossy(data);
    let is_json = serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok();
    for dialect in Dialect::ALL.iter().copied() {
        let imp = dialect.imp();
        match imp.parse_reply(200, &headers, data) {
            Ok(reply) => {
                assert!(is_json, "{dialect}: a reply that is not JSON was accepted");
                for mode in MODES {
                    let _ = reply.clone().take_text(mode);
                }
            }
            Err(err) => {
                assert!(!err.to_string().is_empty());
            }
        }
        for status in [200, 400, 401, 404, 408, 422, 429, 500, 503] {
            let _ = imp.is_answer(status, data);
            let (err, _retry) = imp.classify_error(status, None, data);
            assert!(!err.to_string().is_empty());
        }
        if let Ok(delta) = imp.parse_delta(&text) {
            let _ = format!("{delta:?}");
        }
        if let Ok(batch) = imp.parse_embeddings(200, data) {
            assert!(
                is_json,
                "{dialect}: embeddings that are not JSON were accepted"
            );
            let _ = batch.vectors.len();
        }
        let _ = imp.parse_models(200, data, &ModelQuery::default());
    }
}

/// The `Prompt` mode's locator and repair, and the judge's fast reading: a reply that is JSON is
/// returned as it is; what the locator returns reads back as itself; the fast tree reads exactly
/// what a `Value` reads (repeated keys and huge objects aside, which it leaves to the slow path)
/// and validates alike.
pub fn locate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let located = locate_json(text);
    let trimmed = text.trim().trim_start_matches('\u{feff}');
    let direct = serde_json::from_str::<Value>(trimmed);
    if let Ok(direct) = &direct {
        match &located {
            Ok(value) => assert_eq!(value, direct, "valid JSON is returned as it is"),
            // `Value` keeps the last of a repeated key; the locator refuses to choose.
            Err(message) => assert!(message.contains("more than once"), "{message}"),
        }
    }
    match &located {
        Ok(value) => {
            let again = serde_json::to_string(value).expect("a Value serializes");
            assert_eq!(locate_json(&again).as_ref(), Ok(value), "{again}");
        }
        Err(message) => assert!(!message.is_empty()),
    }

    if let Ok(doc) = serde_json::from_str::<Doc<'_>>(trimmed) {
        let Ok(value) = &direct else {
            panic!("the fast tree read what a Value refuses: {direct:?}");
        };
        assert_eq!(&doc.to_value(), value);
        assert_eq!(Doc::of(value), doc);
        let (tree, values) = validators();
        assert_eq!(tree.is_valid(&doc), values.is_valid(value), "{value}");
    }
}

/// One schema compiled for both representations, to compare their verdicts.
fn validators() -> &'static (jsonschema::Validator<Tree>, jsonschema::Validator) {
    static VALIDATORS: std::sync::OnceLock<(jsonschema::Validator<Tree>, jsonschema::Validator)> =
        std::sync::OnceLock::new();
    VALIDATORS.get_or_init(|| {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 2},
                "kind": {"enum": ["a", "b", 3, null]},
                "n": {"type": "integer", "maximum": 5},
                "x": {"type": "number", "multipleOf": 0.5},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "point": {"const": {"x": 1}},
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}}
            },
            "required": ["name"],
            "additionalProperties": false,
            "$defs": {
                "item": {
                    "type": "object",
                    "properties": {"id": {"type": "integer"}, "ok": {"type": "boolean"}},
                    "required": ["id"]
                }
            }
        });
        let tree = jsonschema::options_for::<Tree>()
            .build(&schema)
            .expect("the schema compiles");
        let values = jsonschema::validator_for(&schema).expect("the schema compiles");
        (tree, values)
    })
}

/// The incremental parser: fed in any chunking, the strict parser accepts exactly what serde_json
/// accepts (less objects that repeat a key, which both refuse, as the judge does) and its events
/// build the same value; the lenient one finds a root value that serde_json
/// reads as the same; both report the same events and the same error for every chunking.
///
/// Two differences are the parser's design (see `extract/tests/stream_parser.rs`): JSON's grammar
/// has no range, so a number beyond `f64` is a value whose text the consumer reads (or not); and
/// the parser nests 128 levels where serde_json stops at 127. Where serde_json refuses a document
/// for one of these only, the parser may accept it.
pub fn stream_json(data: &[u8]) {
    let expected = crate::judge::locate::read_bytes(data);
    let whole = parse(Parser::new(), &[data]);
    match (&expected, &whole) {
        (Ok(value), Ok(parsed)) => assert_eq!(parsed.value.as_ref(), Some(value)),
        (Err(_), Err(_)) => {}
        (Ok(_), Err(err)) => panic!("serde_json accepts what the parser refuses: {err}"),
        (Err(err), Ok(_)) => assert!(
            beyond_serde_json(err),
            "the parser accepts what serde_json refuses: {err}"
        ),
    }
    for chunks in chunkings(data) {
        assert_eq!(
            parse(Parser::new(), &chunks),
            whole,
            "chunked as {chunks:?}"
        );
    }

    let whole = parse(Parser::lenient(), &[data]);
    if let Ok(parsed) = &whole {
        let root = parsed.root.as_deref().unwrap_or_default();
        match serde_json::from_str::<Value>(root) {
            Ok(reread) => assert_eq!(parsed.value.as_ref(), Some(&reread), "root {root:?}"),
            Err(err) => assert!(beyond_serde_json(&err), "root {root:?}: {err}"),
        }
    }
    for chunks in chunkings(data) {
        assert_eq!(
            parse(Parser::lenient(), &chunks),
            whole,
            "chunked as {chunks:?}"
        );
    }
}

/// Whether serde_json refused a document only for a number beyond `f64` or for its nesting.
fn beyond_serde_json(err: &serde_json::Error) -> bool {
    let message = err.to_string();
    message.starts_with("number out of range") || message.starts_with("recursion limit exceeded")
}

/// What a parser made of one document: the value its events built (`None` when serde_json cannot
/// hold one of its numbers), the events, and the root's text.
#[derive(Debug, PartialEq)]
struct Parsed {
    value: Option<Value>,
    events: Vec<(Vec<Seg>, String)>,
    root: Option<String>,
}

fn parse(mut parser: Parser, chunks: &[&[u8]]) -> Result<Parsed, ParseError> {
    let mut builder = Builder::default();
    for chunk in chunks {
        parser.feed(chunk, |path, event| builder.event(path, event))?;
    }
    parser.finish(|path, event| builder.event(path, event))?;
    assert!(parser.is_complete());
    assert!(builder.stack.is_empty(), "containers left open");
    let value = builder.root.take().expect("a complete document has a root");
    Ok(Parsed {
        value: (!builder.beyond).then_some(value),
        events: builder.events,
        root: builder.root_text,
    })
}

/// Builds a value from the parser's events alone, checking that they nest and that every value's
/// text reads (with serde_json) as what the events built.
#[derive(Default)]
struct Builder {
    /// Open containers, innermost last: their members so far.
    stack: Vec<Vec<(Seg, Value)>>,
    /// The text of the string being read.
    text: Option<(Vec<Seg>, String)>,
    root: Option<Value>,
    root_text: Option<String>,
    events: Vec<(Vec<Seg>, String)>,
    /// A number serde_json cannot hold was seen, so the value built is not the document's.
    beyond: bool,
}

impl Builder {
    fn event(&mut self, path: &[Seg], event: &Event<'_>) {
        assert!(
            path.len() == self.stack.len()
                || (matches!(event, Event::Close(_)) && path.len() + 1 == self.stack.len()),
            "event {event:?} at {path:?} with {} containers open",
            self.stack.len()
        );
        match event {
            Event::Open => {
                assert!(self.text.is_none(), "a container opened inside a string");
                self.events.push((path.to_vec(), "open".into()));
                self.stack.push(Vec::new());
            }
            Event::Text(text) => {
                assert!(!text.is_empty(), "an empty text event");
                match &mut self.text {
                    Some((at, so_far)) => {
                        assert_eq!(at.as_slice(), path);
                        so_far.push_str(text);
                    }
                    None => self.text = Some((path.to_vec(), (*text).to_owned())),
                }
            }
            Event::Close(raw) => {
                let value = if path.len() < self.stack.len() {
                    let members = self.stack.pop().unwrap_or_default();
                    container(raw, members)
                } else {
                    let value = match serde_json::from_str::<Value>(raw) {
                        Ok(value) => value,
                        Err(err) if beyond_serde_json(&err) => {
                            self.beyond = true;
                            Value::Null
                        }
                        Err(err) => panic!("a closed scalar {raw:?} does not read: {err}"),
                    };
                    let text = self.text.take().map(|(_, text)| text);
                    match &value {
                        Value::String(s) => assert_eq!(text.as_deref().unwrap_or(""), s),
                        _ => assert!(text.is_none(), "text events for a {raw:?}"),
                    }
                    value
                };
                self.events.push((path.to_vec(), format!("close {raw}")));
                match (self.stack.last_mut(), path.last()) {
                    (Some(members), Some(seg)) => members.push((seg.clone(), value)),
                    (None, None) => {
                        assert!(self.root.is_none(), "two roots");
                        self.root = Some(value);
                        self.root_text = Some((*raw).to_owned());
                    }
                    _ => panic!("event {event:?} at {path:?} does not nest"),
                }
            }
        }
    }
}

/// A closed container from its members, checked against its text.
fn container(raw: &str, members: Vec<(Seg, Value)>) -> Value {
    let value = if raw.starts_with('{') {
        let mut map = serde_json::Map::new();
        for (seg, value) in members {
            let Seg::Key(key) = seg else {
                panic!("an index in an object");
            };
            map.insert(key.into(), value);
        }
        Value::Object(map)
    } else {
        assert!(raw.starts_with('['), "a container {raw:?}");
        let mut items = Vec::new();
        for (i, (seg, value)) in members.into_iter().enumerate() {
            assert_eq!(seg, Seg::Index(i));
            items.push(value);
        }
        Value::Array(items)
    };
    match serde_json::from_str::<Value>(raw) {
        Ok(reread) => assert_eq!(reread, value, "the text of a container: {raw:?}"),
        Err(err) => assert!(beyond_serde_json(&err), "a container {raw:?}: {err}"),
    }
    value
}

/// The stream decoder: SSE and NDJSON framing give the same payloads (and the same first error)
/// whatever the chunking, never wait on a body whose chunks are all there, and every payload reads
/// into a dialect's delta or a typed error.
pub fn sse(data: &[u8]) {
    for framing in [Framing::Sse, Framing::Ndjson] {
        let whole = frames(&[data], framing);
        for chunks in chunkings(data) {
            assert_eq!(frames(&chunks, framing), whole, "chunked as {chunks:?}");
        }
        for payload in whole.iter().flatten() {
            for dialect in Dialect::ALL.iter().copied() {
                if dialect.imp().framing() == framing {
                    let _ = dialect.imp().parse_delta(payload);
                }
            }
        }
    }
}

/// The payloads of a body, up to the first error (which ends a stream), the error by its kind.
fn frames(chunks: &[&[u8]], framing: Framing) -> Vec<Result<String, String>> {
    let chunks: Vec<Result<Bytes, Error>> = chunks
        .iter()
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect();
    let total: usize = chunks.iter().flatten().map(Bytes::len).sum();
    let mut frames = pin!(framing::frames(futures_util::stream::iter(chunks), framing));
    let mut out = Vec::new();
    let woken = std::sync::Arc::new(Woken::default());
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        woken.0.store(false, std::sync::atomic::Ordering::SeqCst);
        match frames.as_mut().poll_next(&mut cx) {
            Poll::Ready(Some(Ok(payload))) => {
                assert!(out.len() <= total, "more payloads than bytes");
                out.push(Ok(payload));
            }
            Poll::Ready(Some(Err(err))) => {
                out.push(Err(kind(&err)));
                return out;
            }
            Poll::Ready(None) => return out,
            // The framing yields after a bounded amount of work, waking itself to go on.
            Poll::Pending if woken.0.load(std::sync::atomic::Ordering::SeqCst) => {}
            Poll::Pending => panic!("the decoder waits on a body that has fully arrived"),
        }
    }
}

/// A waker that remembers being woken: a decoder that yields wakes itself, one that waits does not.
#[derive(Default)]
struct Woken(std::sync::atomic::AtomicBool);

impl std::task::Wake for Woken {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// An error's kind, without the details that depend on the chunking (a byte offset in a chunk).
fn kind(err: &Error) -> String {
    let text = err.to_string();
    text.split(':').next().unwrap_or_default().to_owned()
}

/// Ways to split `data`: in two, one byte at a time (for short inputs), and pseudo-random pieces
/// of 1 to 16 bytes seeded by the data.
fn chunkings(data: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut out = Vec::new();
    let half = data.len() / 2;
    out.push(vec![&data[..half], &data[half..]]);
    if data.len() <= 512 {
        out.push(data.chunks(1).collect());
    }
    let seed = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut pieces = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = rng.usize(1..=16).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        pieces.push(piece);
        rest = tail;
    }
    out.push(pieces);
    out
}
