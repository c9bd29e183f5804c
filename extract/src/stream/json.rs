//! An incremental JSON parser: it reads each byte once, keeps its state between chunks, and reports
//! what changed as events with their path, so a partial value can be updated in place.
//!
//! Written here rather than taken from a crate because it is the product: the streaming crates parse
//! whole documents (serde_json), or re-parse the accumulated text per chunk (partial-JSON fixers),
//! which makes a stream's cost grow with the square of its length.

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
