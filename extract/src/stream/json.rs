//! An incremental JSON parser: it reads each byte once, keeps its state between chunks, and reports
//! what changed as events with their path, so a partial value can be updated in place.
//!
//! Written here rather than taken from a crate because it is the product: the streaming crates parse
//! whole documents (serde_json), or re-parse the accumulated text per chunk (partial-JSON fixers),
//! which makes a stream's cost grow with the square of its length.

use std::collections::HashSet;

/// One step of the path from the root to a value: an object's key or an array's index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A property of an object (its key, unescaped).
    Key(Box<str>),
    /// An element of an array.
    Index(usize),
}

/// What happened to the value at an event's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// An object or an array started.
    Open,
    /// More of a string value arrived, unescaped. Chunks follow the input's chunking (an escape or a
    /// character split across chunks is held back until it is whole).
    Text(&'a str),
    /// The value is complete; this is its JSON text, exactly as received (a string with its quotes
    /// and escapes, a number, `true`, an object with everything in it).
    Close(&'a str),
}

/// Invalid input: the byte offset (in the whole input, as fed) where the parser noticed, and what was
/// wrong. Once a [`Parser`] reported one, it reports the same error for any further input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    offset: usize,
    message: String,
}

impl ParseError {
    /// The byte offset in the input where the error was found (the input's length when it ended
    /// too early).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What was wrong, in words.
    pub fn message(&self) -> &str {
        &self.message
    }

    fn new(offset: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            offset,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid JSON at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for ParseError {}

/// An incremental JSON parser for one document, fed in chunks split anywhere.
///
/// It keeps everything it received (so [`Event::Close`] can hand out a value's exact text) and its
/// place in the grammar, so each byte is looked at a bounded number of times however the input is
/// split, and memory is the input plus the nesting depth. Nothing recurses: a nesting bomb is a
/// [`ParseError`] at [`Parser::max_depth`], not a stack overflow.
///
/// An object that repeats a key is a [`ParseError`] at the second one, before its value: which of
/// the two would count is not the parser's to choose (nor a partial value's, which would otherwise
/// show both, one after the other).
///
/// The input must be UTF-8 throughout (a model's reply is text): a byte sequence that is not is a
/// [`ParseError`] wherever it is, prose and trailing text included, since the events and
/// [`Parser::text`] are `&str`.
///
/// ```
/// use extract::stream::json::{Event, Parser, Seg};
///
/// let mut parser = Parser::lenient();
/// let mut seen = Vec::new();
/// // Split inside a key and inside an escape: the escape waits until it is whole.
/// for chunk in ["Sure:\n```json\n{\"na", "me\": \"Ada \\u00", "e9\"}\n```"] {
///     parser
///         .feed(chunk.as_bytes(), |path, event| seen.push(format!("{path:?} {event:?}")))
///         .unwrap();
/// }
/// assert!(parser.is_complete());
/// assert_eq!(
///     seen,
///     [
///         r#"[] Open"#,
///         r#"[Key("name")] Text("Ada ")"#,
///         r#"[Key("name")] Text("é")"#,
///         r#"[Key("name")] Close("\"Ada \\u00e9\"")"#,
///         r#"[] Close("{\"name\": \"Ada \\u00e9\"}")"#,
///     ]
/// );
/// ```
#[derive(Debug, Clone)]
pub struct Parser {
    /// The input so far, up to its last whole character.
    text: String,
    /// The start of a character whose remaining bytes have not arrived yet (at most 3 bytes).
    pending: Vec<u8>,
    machine: Machine,
    error: Option<ParseError>,
}

impl Default for Parser {
    fn default() -> Parser {
        Parser::new()
    }
}

impl Parser {
    /// The default limit of nested objects and arrays.
    pub const DEFAULT_MAX_DEPTH: usize = 128;

    /// A parser for one JSON document (any value at the root, scalars included), with only
    /// whitespace around it.
    pub fn new() -> Parser {
        Parser::with(State::Value, false)
    }

    /// A parser that skips everything before the first `{` or `[` (a model's prose, a ```` ```json ````
    /// fence) and ignores everything after that root value closes.
    ///
    /// The prose must not itself contain `{` or `[`: the first one starts the value.
    pub fn lenient() -> Parser {
        Parser::with(State::Prelude, true)
    }

    fn with(state: State, lenient: bool) -> Parser {
        Parser {
            text: String::new(),
            pending: Vec::new(),
            machine: Machine {
                state,
                lenient,
                max_depth: Parser::DEFAULT_MAX_DEPTH,
                frames: Vec::new(),
                seen: Seen::default(),
                path: Vec::new(),
                value_start: 0,
                run_start: 0,
                decoded: String::new(),
                key: String::new(),
            },
            error: None,
        }
    }

    /// Sets the limit of nested objects and arrays (default [`Parser::DEFAULT_MAX_DEPTH`]); opening
    /// one more is a [`ParseError`]. `0` accepts scalars only.
    pub fn max_depth(mut self, depth: usize) -> Parser {
        self.machine.max_depth = depth;
        self
    }

    /// Reads more input, split anywhere (inside a string, an escape, a `\uXXXX` or a surrogate pair,
    /// a multi-byte character, a number, a literal), calling `sink(path, &event)` for each event in
    /// document order.
    ///
    /// A string value's text arrives as [`Event::Text`] chunks, at most one per string per call
    /// (never empty; an escape or a character split across calls waits until it is whole). A number
    /// at the root closes only at [`Parser::finish`], since more digits could follow.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut sink: impl FnMut(&[Seg], &Event<'_>),
    ) -> Result<(), ParseError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let result = self.read(bytes, &mut sink);
        if let Err(error) = &result {
            self.error = Some(error.clone());
        }
        result
    }

    /// Ends the input: closes a number at the root, or reports a document that is not complete
    /// (including one that ends inside a UTF-8 character, or, when lenient, has no value at all).
    pub fn finish(&mut self, mut sink: impl FnMut(&[Seg], &Event<'_>)) -> Result<(), ParseError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let result = if self.pending.is_empty() {
            self.machine.finish(&self.text, &mut sink)
        } else {
            Err(ParseError::new(
                self.text.len(),
                "invalid UTF-8: the input ends inside a character",
            ))
        };
        if let Err(error) = &result {
            self.error = Some(error.clone());
        }
        result
    }

    /// Whether the root value is complete (a number at the root only after [`Parser::finish`]).
    pub fn is_complete(&self) -> bool {
        matches!(self.machine.state, State::Done)
    }

    /// Everything received so far, as fed, up to its last whole character: a character split
    /// across calls joins the text when its last byte arrives.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The first error, if the input was invalid; every later call returns it again.
    pub fn error(&self) -> Option<&ParseError> {
        self.error.as_ref()
    }

    fn read<S: FnMut(&[Seg], &Event<'_>)>(
        &mut self,
        mut bytes: &[u8],
        sink: &mut S,
    ) -> Result<(), ParseError> {
        if let Some(&lead) = self.pending.first() {
            // Complete the character the previous call ended inside: it needs at most 3 more bytes.
            let need = utf8_width(lead).saturating_sub(self.pending.len());
            let (head, rest) = bytes.split_at(need.min(bytes.len()));
            self.pending.extend_from_slice(head);
            bytes = rest;
            match std::str::from_utf8(&self.pending) {
                Ok(whole) => {
                    let from = self.text.len();
                    self.text.push_str(whole);
                    self.pending.clear();
                    self.machine.run(&self.text, from, sink)?;
                }
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(invalid_utf8(self.text.len())),
            }
        }
        // One pass validates the chunk (the common case: all of it is whole UTF-8); the parser then
        // walks the valid text once more.
        if let Ok(valid) = std::str::from_utf8(bytes) {
            if !valid.is_empty() {
                let from = self.text.len();
                self.text.push_str(valid);
                self.machine.run(&self.text, from, sink)?;
            }
            self.machine.flush_text(&self.text, sink);
            return Ok(());
        }
        for piece in bytes.utf8_chunks() {
            let valid = piece.valid();
            if !valid.is_empty() {
                let from = self.text.len();
                self.text.push_str(valid);
                self.machine.run(&self.text, from, sink)?;
            }
            let invalid = piece.invalid();
            if invalid.is_empty() {
                continue;
            }
            // Only the chunk's last piece can be a character cut short by the chunking.
            let at_end = std::ptr::eq(invalid.as_ptr_range().end, bytes.as_ptr_range().end);
            let incomplete =
                matches!(std::str::from_utf8(invalid), Err(e) if e.error_len().is_none());
            if at_end && incomplete {
                self.pending.extend_from_slice(invalid);
            } else {
                return Err(invalid_utf8(self.text.len()));
            }
        }
        self.machine.flush_text(&self.text, sink);
        Ok(())
    }
}

fn invalid_utf8(offset: usize) -> ParseError {
    ParseError::new(offset, "invalid UTF-8")
}

/// The length of the UTF-8 sequence a lead byte starts (1 for anything that is not a lead byte of
/// a longer sequence: validation rejects it later).
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Where the parser is in the grammar; the state between two chunks.
#[derive(Debug, Clone)]
enum State {
    /// Lenient: before the root value.
    Prelude,
    /// A value is expected (at the root, after `:`, after `,` in an array).
    Value,
    /// Just after `[`: a value or `]`.
    FirstElement,
    /// Just after `{`: a key or `}`.
    FirstKey,
    /// After `,` in an object: a key.
    Key,
    /// After a key: `:`.
    Colon,
    /// After a value inside a container: `,` or the container's end.
    AfterValue,
    /// Inside a string: an object's key or a string value.
    Str {
        key: bool,
        escape: Escape,
    },
    Number(Number),
    /// Inside `true`, `false` or `null`: `matched` bytes of `word` were read.
    Literal {
        word: &'static [u8],
        matched: usize,
    },
    /// The root value is complete.
    Done,
}

/// Where a string is in an escape.
#[derive(Debug, Clone, Copy)]
enum Escape {
    None,
    /// After `\`.
    Backslash,
    /// Reading the 4 hex digits of `\u`; `high` is the high surrogate this one must complete.
    Hex {
        code: u32,
        digits: u8,
        high: Option<u32>,
    },
    /// After a high surrogate: `\` must follow.
    LowBackslash {
        high: u32,
    },
    /// After a high surrogate and `\`: `u` must follow.
    LowU {
        high: u32,
    },
}

/// Where a number is in the grammar `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
#[derive(Debug, Clone, Copy)]
enum Number {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpInt,
}

impl Number {
    /// Whether the number may end here.
    fn complete(self) -> bool {
        matches!(
            self,
            Number::Zero | Number::Int | Number::Frac | Number::ExpInt
        )
    }
}

/// An open object or array.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// The offset of its `{` or `[`.
    start: usize,
    object: bool,
}

/// The parser's grammar state, apart from the text it reads (so events can borrow the text while
/// the state changes).
#[derive(Debug, Clone)]
struct Machine {
    state: State,
    lenient: bool,
    max_depth: usize,
    /// The open containers, innermost last.
    frames: Vec<Frame>,
    /// The keys already read in each open object: a key is moved here from the path when its value
    /// ends.
    seen: Seen,
    /// The path of the value being read (one segment per open container once its first key or
    /// element started).
    path: Vec<Seg>,
    /// The offset where the string, number or literal being read starts.
    value_start: usize,
    /// In a string: where the raw text not yet decoded into `decoded`/`key` (nor emitted) starts.
    run_start: usize,
    /// A string value's unescaped text not yet emitted, when it needed unescaping (otherwise its
    /// text is emitted straight from the input).
    decoded: String,
    /// The object key being read, unescaped.
    key: String,
}

/// The keys read so far in each open object, to refuse a repeated one. Small objects (most of
/// them) cost no allocation of their own: their keys sit in one shared list and are compared in
/// turn; an object with more than [`Seen::SCAN`] keys moves its keys to a hashed set, so a huge
/// object is not quadratic.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// The keys of the open objects that have few, innermost last.
    keys: Vec<Box<str>>,
    /// Per open object, innermost last: where its keys start in `keys`, or its set.
    objects: Vec<(usize, Option<HashSet<Box<str>>>)>,
}

impl Seen {
    const SCAN: usize = 16;

    fn open(&mut self) {
        self.objects.push((self.keys.len(), None));
    }

    fn close(&mut self) {
        if let Some((from, _)) = self.objects.pop() {
            self.keys.truncate(from);
        }
    }

    fn contains(&self, key: &str) -> bool {
        match self.objects.last() {
            Some((_, Some(set))) => set.contains(key),
            Some((from, None)) => self
                .keys
                .get(*from..)
                .is_some_and(|keys| keys.iter().any(|k| **k == *key)),
            None => false,
        }
    }

    fn insert(&mut self, key: Box<str>) {
        let Some((from, set)) = self.objects.last_mut() else {
            return;
        };
        match set {
            Some(set) => {
                set.insert(key);
            }
            None if self.keys.len().saturating_sub(*from) >= Seen::SCAN => {
                let mut many: HashSet<Box<str>> = self.keys.drain(*from..).collect();
                many.insert(key);
                *set = Some(many);
            }
            None => self.keys.push(key),
        }
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn hex_value(b: u8) -> Option<u32> {
    char::from(b).to_digit(16)
}

/// How a byte is named in an error: the character that starts there.
fn found(text: &str, at: usize) -> String {
    match text.get(at..).and_then(|rest| rest.chars().next()) {
        Some(c) if c.is_control() => format!("found {:?}", c),
        Some(c) => format!("found '{c}'"),
        None => "found the end of the input".to_owned(),
    }
}

impl Machine {
    /// Parses `text[from..]`, the text that just arrived, starting in the current state.
    fn run<S: FnMut(&[Seg], &Event<'_>)>(
        &mut self,
        text: &str,
        from: usize,
        sink: &mut S,
    ) -> Result<(), ParseError> {
        let bytes = text.as_bytes();
        let mut i = from;
        while let Some(&b) = bytes.get(i) {
            match self.state {
                State::Str {
                    key,
                    escape: Escape::None,
                } => {
                    // The common case: skip plain text in one scan, decoding nothing.
                    let rest = bytes.get(i..).unwrap_or_default();
                    let Some(n) = rest
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                    else {
                        return Ok(());
                    };
                    i += n;
                    match rest.get(n) {
                        Some(b'"') => self.end_string(text, i, key, sink)?,
                        Some(b'\\') => {
                            self.take_run(text, i, key);
                            self.state = State::Str {
                                key,
                                escape: Escape::Backslash,
                            };
                        }
                        _ => {
                            return Err(ParseError::new(
                                i,
                                "a control character must be escaped in a string",
                            ))
                        }
                    }
                }
                State::Str { key, escape } => self.escape(text, i, b, key, escape)?,
                State::Number(number) => {
                    if !self.number(text, i, b, number, sink)? {
                        // The byte after a number belongs to what follows it.
                        continue;
                    }
                }
                State::Literal { word, matched } => {
                    if word.get(matched) != Some(&b) {
                        return Err(ParseError::new(
                            i,
                            format!(
                                "expected `{}`, {}",
                                String::from_utf8_lossy(word),
                                found(text, i)
                            ),
                        ));
                    }
                    if matched + 1 == word.len() {
                        self.close_scalar(text, i + 1, sink);
                    } else {
                        self.state = State::Literal {
                            word,
                            matched: matched + 1,
                        };
                    }
                }
                _ if is_whitespace(b) => {}
                State::Prelude => {
                    let rest = bytes.get(i..).unwrap_or_default();
                    match rest.iter().position(|&c| c == b'{' || c == b'[') {
                        Some(n) => {
                            i += n;
                            self.begin_value(text, i, sink)?;
                        }
                        None => return Ok(()),
                    }
                }
                State::Value => self.begin_value(text, i, sink)?,
                State::FirstElement => {
                    if b == b']' {
                        self.close_container(text, i, sink);
                    } else {
                        self.path.push(Seg::Index(0));
                        self.begin_value(text, i, sink)?;
                    }
                }
                State::FirstKey | State::Key => {
                    let first = matches!(self.state, State::FirstKey);
                    if b == b'"' {
                        self.key.clear();
                        self.run_start = i + 1;
                        self.state = State::Str {
                            key: true,
                            escape: Escape::None,
                        };
                    } else if b == b'}' && first {
                        self.close_container(text, i, sink);
                    } else {
                        let expected = if first { "a key or '}'" } else { "a key" };
                        return Err(ParseError::new(
                            i,
                            format!("expected {expected}, {}", found(text, i)),
                        ));
                    }
                }
                State::Colon => {
                    if b != b':' {
                        return Err(ParseError::new(
                            i,
                            format!("expected ':' after a key, {}", found(text, i)),
                        ));
                    }
                    self.state = State::Value;
                }
                State::AfterValue => {
                    let object = self.frames.last().is_some_and(|frame| frame.object);
                    match (object, b) {
                        (true, b',') => {
                            if let Some(Seg::Key(key)) = self.path.pop() {
                                self.seen.insert(key);
                            }
                            self.state = State::Key;
                        }
                        (false, b',') => {
                            if let Some(Seg::Index(index)) = self.path.last_mut() {
                                *index += 1;
                            }
                            self.state = State::Value;
                        }
                        (true, b'}') | (false, b']') => {
                            self.path.pop();
                            self.close_container(text, i, sink);
                        }
                        _ => {
                            let expected = if object { "',' or '}'" } else { "',' or ']'" };
                            return Err(ParseError::new(
                                i,
                                format!("expected {expected}, {}", found(text, i)),
                            ));
                        }
                    }
                }
                State::Done => {
                    if self.lenient {
                        return Ok(());
                    }
                    return Err(ParseError::new(
                        i,
                        format!("expected the end of the input, {}", found(text, i)),
                    ));
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// Starts the value whose first byte is at `i` (not whitespace).
    fn begin_value<S: FnMut(&[Seg], &Event<'_>)>(
        &mut self,
        text: &str,
        i: usize,
        sink: &mut S,
    ) -> Result<(), ParseError> {
        let b = text.as_bytes().get(i).copied().unwrap_or_default();
        self.value_start = i;
        self.state = match b {
            b'{' | b'[' => {
                if self.frames.len() >= self.max_depth {
                    return Err(ParseError::new(
                        i,
                        format!(
                            "objects and arrays nest deeper than {} levels",
                            self.max_depth
                        ),
                    ));
                }
                sink(&self.path, &Event::Open);
                let object = b == b'{';
                self.frames.push(Frame { start: i, object });
                if object {
                    self.seen.open();
                }
                if object {
                    State::FirstKey
                } else {
                    State::FirstElement
                }
            }
            b'"' => {
                self.run_start = i + 1;
                self.decoded.clear();
                State::Str {
                    key: false,
                    escape: Escape::None,
                }
            }
            b'-' => State::Number(Number::Minus),
            b'0' => State::Number(Number::Zero),
            b'1'..=b'9' => State::Number(Number::Int),
            b't' => State::Literal {
                word: b"true",
                matched: 1,
            },
            b'f' => State::Literal {
                word: b"false",
                matched: 1,
            },
            b'n' => State::Literal {
                word: b"null",
                matched: 1,
            },
            _ => {
                return Err(ParseError::new(
                    i,
                    format!("expected a value, {}", found(text, i)),
                ))
            }
        };
        Ok(())
    }

    /// Reads one byte of a number; `false` when the number ended before it (the byte is not used).
    fn number<S: FnMut(&[Seg], &Event<'_>)>(
        &mut self,
        text: &str,
        i: usize,
        b: u8,
        number: Number,
        sink: &mut S,
    ) -> Result<bool, ParseError> {
        let next = match (number, b) {
            (Number::Minus, b'0') => Number::Zero,
            (Number::Minus, b'1'..=b'9') => Number::Int,
            (Number::Zero, b'0'..=b'9') => {
                return Err(ParseError::new(i, "a number cannot have a leading zero"))
            }
            (Number::Int, b'0'..=b'9') => Number::Int,
            (Number::Zero | Number::Int, b'.') => Number::Dot,
            (Number::Dot | Number::Frac, b'0'..=b'9') => Number::Frac,
            (Number::Zero | Number::Int | Number::Frac, b'e' | b'E') => Number::Exp,
            (Number::Exp, b'+' | b'-') => Number::ExpSign,
            (Number::Exp | Number::ExpSign | Number::ExpInt, b'0'..=b'9') => Number::ExpInt,
            (number, _) if number.complete() => {
                self.close_scalar(text, i, sink);
                return Ok(false);
            }
            _ => {
                return Err(ParseError::new(
                    i,
                    format!("expected a digit in a number, {}", found(text, i)),
                ))
            }
        };
        self.state = State::Number(next);
        Ok(true)
    }

    /// Reads one byte of an escape in a string.
    fn escape(
        &mut self,
        text: &str,
        i: usize,
        b: u8,
        key: bool,
        escape: Escape,
    ) -> Result<(), ParseError> {
        let mut decoded = None;
        let next = match escape {
            Escape::None => Escape::None,
            Escape::Backslash => match b {
                b'"' => {
                    decoded = Some('"');
                    Escape::None
                }
                b'\\' => {
                    decoded = Some('\\');
                    Escape::None
                }
                b'/' => {
                    decoded = Some('/');
                    Escape::None
                }
                b'b' => {
                    decoded = Some('\u{8}');
                    Escape::None
                }
                b'f' => {
                    decoded = Some('\u{c}');
                    Escape::None
                }
                b'n' => {
                    decoded = Some('\n');
                    Escape::None
                }
                b'r' => {
                    decoded = Some('\r');
                    Escape::None
                }
                b't' => {
                    decoded = Some('\t');
                    Escape::None
                }
                b'u' => Escape::Hex {
                    code: 0,
                    digits: 0,
                    high: None,
                },
                _ => {
                    return Err(ParseError::new(
                        i,
                        format!("invalid escape in a string, {}", found(text, i)),
                    ))
                }
            },
            Escape::Hex { code, digits, high } => {
                let Some(digit) = hex_value(b) else {
                    return Err(ParseError::new(
                        i,
                        format!("expected a hex digit in \\u, {}", found(text, i)),
                    ));
                };
                let code = code * 16 + digit;
                if digits < 3 {
                    Escape::Hex {
                        code,
                        digits: digits + 1,
                        high,
                    }
                } else {
                    match (high, code) {
                        (Some(high), 0xDC00..=0xDFFF) => {
                            let scalar = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00);
                            decoded = char::from_u32(scalar);
                            Escape::None
                        }
                        (Some(_), _) => {
                            return Err(ParseError::new(
                                i,
                                "a high surrogate must be followed by a low surrogate",
                            ))
                        }
                        (None, 0xD800..=0xDBFF) => Escape::LowBackslash { high: code },
                        (None, 0xDC00..=0xDFFF) => {
                            return Err(ParseError::new(
                                i,
                                "a low surrogate without a high surrogate before it",
                            ))
                        }
                        (None, _) => {
                            decoded = char::from_u32(code);
                            Escape::None
                        }
                    }
                }
            }
            Escape::LowBackslash { high } if b == b'\\' => Escape::LowU { high },
            Escape::LowU { high } if b == b'u' => Escape::Hex {
                code: 0,
                digits: 0,
                high: Some(high),
            },
            Escape::LowBackslash { .. } | Escape::LowU { .. } => {
                return Err(ParseError::new(
                    i,
                    "a high surrogate must be followed by a low surrogate",
                ))
            }
        };
        if let Some(c) = decoded {
            if key {
                self.key.push(c);
            } else {
                self.decoded.push(c);
            }
        }
        if matches!(next, Escape::None) {
            self.run_start = i + 1;
        }
        self.state = State::Str { key, escape: next };
        Ok(())
    }

    /// Moves the raw text of the string being read, up to `end`, into its decoded text.
    fn take_run(&mut self, text: &str, end: usize, key: bool) {
        let run = text.get(self.run_start..end).unwrap_or_default();
        if key {
            self.key.push_str(run);
        } else {
            self.decoded.push_str(run);
        }
        self.run_start = end;
    }

    /// Emits the part of a string value that arrived and was not emitted yet.
    fn flush_text<S: FnMut(&[Seg], &Event<'_>)>(&mut self, text: &str, sink: &mut S) {
        if let State::Str { key: false, escape } = self.state {
            // Inside an escape, the raw text up to the backslash is already in `decoded`.
            let end = match escape {
                Escape::None => text.len(),
                _ => self.run_start,
            };
            self.emit_text(text, end, sink);
        }
    }

    fn emit_text<S: FnMut(&[Seg], &Event<'_>)>(&mut self, text: &str, end: usize, sink: &mut S) {
        let run = text.get(self.run_start..end).unwrap_or_default();
        self.run_start = end;
        if self.decoded.is_empty() {
            if !run.is_empty() {
                sink(&self.path, &Event::Text(run));
            }
        } else {
            self.decoded.push_str(run);
            sink(&self.path, &Event::Text(&self.decoded));
            self.decoded.clear();
        }
    }

    /// Ends the string whose closing quote is at `i`.
    fn end_string<S: FnMut(&[Seg], &Event<'_>)>(
        &mut self,
        text: &str,
        i: usize,
        key: bool,
        sink: &mut S,
    ) -> Result<(), ParseError> {
        if key {
            self.take_run(text, i, true);
            if self.seen.contains(&self.key) {
                return Err(ParseError::new(
                    i,
                    format!(
                        "the key `{}` appears more than once in one object",
                        crate::text::clip(&self.key, 100)
                    ),
                ));
            }
            // An exact copy: the key's buffer stays for the next key.
            self.path.push(Seg::Key(Box::from(self.key.as_str())));
            self.state = State::Colon;
        } else {
            self.emit_text(text, i, sink);
            self.close_scalar(text, i + 1, sink);
        }
        Ok(())
    }

    /// Closes the string, number or literal that started at `value_start` and ends before `end`.
    fn close_scalar<S: FnMut(&[Seg], &Event<'_>)>(&mut self, text: &str, end: usize, sink: &mut S) {
        let raw = text.get(self.value_start..end).unwrap_or_default();
        sink(&self.path, &Event::Close(raw));
        self.end_value();
    }

    /// Closes the innermost container, whose last byte is at `i`.
    fn close_container<S: FnMut(&[Seg], &Event<'_>)>(
        &mut self,
        text: &str,
        i: usize,
        sink: &mut S,
    ) {
        if let Some(frame) = self.frames.pop() {
            if frame.object {
                self.seen.close();
            }
            let raw = text.get(frame.start..=i).unwrap_or_default();
            sink(&self.path, &Event::Close(raw));
        }
        self.end_value();
    }

    fn end_value(&mut self) {
        self.state = if self.frames.is_empty() {
            State::Done
        } else {
            State::AfterValue
        };
    }

    fn finish<S: FnMut(&[Seg], &Event<'_>)>(
        &mut self,
        text: &str,
        sink: &mut S,
    ) -> Result<(), ParseError> {
        match self.state {
            State::Done => Ok(()),
            State::Number(number) if number.complete() && self.frames.is_empty() => {
                self.close_scalar(text, text.len(), sink);
                Ok(())
            }
            State::Prelude => Err(ParseError::new(
                text.len(),
                "no JSON object or array in the input",
            )),
            _ => Err(ParseError::new(
                text.len(),
                "the input ended before the JSON value was complete",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&str]) -> (Vec<String>, Result<(), ParseError>) {
        let mut parser = Parser::lenient();
        let mut seen = Vec::new();
        for chunk in chunks {
            let fed = parser.feed(chunk.as_bytes(), |path, event| {
                seen.push(format!("{path:?} {event:?}"))
            });
            if fed.is_err() {
                return (seen, fed);
            }
        }
        let end = parser.finish(|_, _| {});
        (seen, end)
    }

    #[test]
    fn a_repeated_key_stops_the_parser_before_its_value() {
        let (seen, end) = events(&[r#"{"name":"fir"#, r#"st","n"#, r#"ame":"second"}"#]);
        let err = end.expect_err("a repeated key");
        assert!(
            err.message().contains("`name` appears more than once"),
            "{err}"
        );
        assert!(!seen.iter().any(|e| e.contains("second")), "{seen:?}");
        // The same keys in sibling and nested objects are fine.
        let (_, end) = events(&[r#"{"a":{"a":1,"b":[{"a":2},{"a":3}]},"b":{"a":4}}"#]);
        assert_eq!(end, Ok(()));
        // Past the keys compared in turn, a set: a repeat found there, and siblings left alone.
        let keys = |n: usize| (0..n).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>();
        let big = format!("{{{}}}", keys(1_000).join(","));
        let doc = format!(r#"{{"x":{{"k1":1}},"y":{big},"k1":[{big}],"z":{{"k1":{big}}}}}"#);
        assert_eq!(events(&[&doc]).1, Ok(()));
        for n in [3, 16, 17, 40] {
            let doc = format!("{{{},\"k{}\":0}}", keys(n).join(","), n - 1);
            let err = events(&[&doc]).1.expect_err("a repeated key");
            assert!(err.message().contains(&format!("`k{}`", n - 1)), "{err}");
        }
    }
}
