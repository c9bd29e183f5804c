//! Streaming: the reply as it arrives. Three kinds of stream share one path (SSE or NDJSON framing,
//! the dialect's delta reading, cancellation on drop): text deltas, partial typed objects, and the
//! completed elements of a list.
//!
//! The partial objects are built by an incremental JSON parser ([`json::Parser`]) that reads each
//! byte once and keeps its state between chunks, and by [`Enforceable::feed`](crate::Enforceable)
//! implementations that update the partial value in place, so a reply of `n` bytes costs `O(n)`
//! however it is chunked. Re-parsing the accumulated text per chunk, as most libraries do, costs
//! `O(n²)`.

mod call;
mod elements;
pub mod json;
pub(crate) mod keys;
mod object;
mod partial;
mod text;
pub(crate) mod wire;

pub use elements::ElementStream;
pub use object::{PartialStream, Snapshot, Update};
pub use text::{StreamSummary, TextStream};

pub use json::{Event, ParseError, Parser, Seg};
pub use partial::feed_atomic;
#[doc(hidden)]
pub use partial::{feed_parsed, DebugWith};
