//! Typed structured outputs from large language models.
//!
//! Describe the data you want as a Rust type; `extract` turns it into a JSON Schema a provider can
//! enforce, sends it to any OpenAI-compatible endpoint, and checks the reply (schema, serde, your own
//! `validate`) before it becomes your value. An invalid reply is sent back to the model with what was
//! wrong, within a budget; what cannot succeed comes back as a typed [`Error`] that keeps the evidence.
//!
//! ```no_run
//! use extract::{Client, Extract};
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// A calendar event mentioned in the text.
//! #[derive(Debug, Deserialize, JsonSchema, Extract)]
//! struct CalendarEvent {
//!     /// Short name of the event
//!     name: String,
//!     date: String,
//!     participants: Vec<String>,
//! }
//!
//! # async fn run() -> Result<(), extract::Error> {
//! let client = Client::builder()
//!     .base_url("http://127.0.0.1:8080/v1")
//!     .model("SmolLM2-135M-Instruct")
//!     .build()?;
//! let event = CalendarEvent::extract(&client, "Alice and Bob are going to a science fair on Friday.").await?;
//! println!("{event:?}");
//!
//! // Everything beyond the one-liner goes through the request builder:
//! let extraction = client
//!     .extract::<CalendarEvent>("Dinner with Carol on Saturday.")
//!     .instructions("Extract the event. Dates as the text gives them.")
//!     .temperature(0.0)
//!     .max_reasks(1)
//!     .await?;
//! println!("{:?} in {} attempt(s), {} tokens", extraction.value, extraction.attempts, extraction.usage.total_tokens);
//! # Ok(()) }
//! ```
//!
//! See the README for the tour: modes, errors, retries and reasks, compile-time checks, features.
//!
//! Inside, each layer imports only the layers below it (the README's Architecture section draws
//! it module by module). At the bottom, the shared vocabulary (messages, input, modes, turns,
//! replies, usage), the per-request options written once for every request kind, the [`Error`]
//! type and the [`Extract`] contract. Above them the transport (one send and retry loop, its
//! timers, the framing of streamed bodies), then schemas (lowered once per type), the judge and the
//! [`dialect`]s, one module per provider. Then the client, the one place a request is built and
//! sent; the run, the loop of attempts, reasks and mode fallbacks; and on top the request builders,
//! the [`stream`]s, the blocking mirror (feature `blocking`) and the test double (feature
//! `testing`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "__bench")]
#[doc(hidden)]
#[path = "bench.rs"]
pub mod __bench;
#[cfg(feature = "__fuzz")]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
mod builder;
#[cfg(feature = "cache")]
#[cfg_attr(docsrs, doc(cfg(feature = "cache")))]
pub mod cache;
mod client;
mod complete;
pub mod dialect;
mod embed;
mod error;
mod judge;
mod ledger;
#[cfg(feature = "local")]
pub mod local;
mod models;
mod options;
mod presets;
mod reask;
mod request;
mod run;
pub mod schema;
mod secrets;
pub mod stream;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod text;
pub mod tokens;
mod transport;
mod turns;
mod vocab;

use std::future::Future;

pub use builder::ClientBuilder;
pub use client::{Client, DEFAULT_MAX_REQUESTS};
pub use complete::{CompleteRequest, Completion};
pub use dialect::Dialect;
pub use dialect::{OPENAI_BASE_URL, OPENAI_DEFAULT_MODEL};
pub use embed::{cosine_similarity, EmbedRequest, Embeddings, Neighbor};
pub use error::{Cut, Error, Failure, StopReason, Violation};
/// Derives [`Extract`](trait@Extract) for a struct with named fields or an enum.
///
/// The type must also derive (or implement) `serde::Deserialize` and `schemars::JsonSchema`: their
/// attributes (`rename`, `skip`, `flatten`, doc comments, ...) decide the schema, and the derive
/// never second-guesses them. Container attributes:
///
/// | attribute | meaning |
/// |---|---|
/// | `#[extract(name = "calendar_event")]` | the schema's name as the provider sees it (default: the type's name) |
/// | `#[extract(description = "...")]` | sent beside the schema (`json_schema.description`, the tool's description) |
/// | `#[extract(instructions = "...")]` | the system instructions for extracting this type |
/// | `#[extract(validate = path::to::check)]` | `fn(&Self) -> Result<(), E>` with `E: Display`; a failure is sent back to the model |
/// | `#[extract(partial_derive(Clone, PartialEq, serde::Serialize))]` | traits the [`Partial`] struct implements beyond its `Debug` and `Default` (only `Clone` on a generic struct) |
///
/// Every field type is checked at compile time to be enforceable by a strict provider: maps,
/// `serde_json::Value` and types that do not derive `Extract` are rejected at the field.
pub use extract_derive::Extract;
pub use models::ModelsRequest;
pub use options::InputPolicy;
pub use request::ExtractRequest;
pub use run::Extraction;
pub use vocab::{FinishReason, Input, Message, Mode, ModelInfo, Role, Usage};

/// A type that can be extracted from text by a language model: it has a JSON Schema (schemars), can
/// be deserialized (serde), and knows its name, instructions and semantic checks.
///
/// Derive it with `#[derive(Extract)]`; implement it by hand only for types whose schema you write
/// yourself.
///
/// Every `Extract` type is [`Enforceable`], so it has a [`Partial`] form for streaming, which can be
/// sent across threads.
pub trait Extract:
    Enforceable<Partial: Send> + serde::de::DeserializeOwned + schemars::JsonSchema + Send + 'static
{
    /// The schema's name as providers see it (`json_schema.name`, the tool's name).
    const NAME: &'static str;
    /// A description sent beside the schema.
    const DESCRIPTION: Option<&'static str> = None;
    /// System instructions for extracting this type; the default instructions are used when `None`.
    const INSTRUCTIONS: Option<&'static str> = None;
    /// The property a non-object root (an enum) is wrapped in, since strict roots must be objects.
    const WRAP_KEY: &'static str = "value";

    /// A semantic check run after the value deserialized; an `Err` is sent back to the model as a
    /// validation error, like a schema violation.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }

    /// Extracts a `Self` from `input` (a text, or a chat history) with the client's defaults.
    ///
    /// For instructions, a model, reask limits or the metadata of the call, use
    /// [`Client::extract`], which returns a builder.
    fn extract(
        client: &Client,
        input: impl Into<Input>,
    ) -> impl Future<Output = Result<Self, Error>> + Send {
        let request = client.extract::<Self>(input);
        async move { request.send().await.map(|extraction| extraction.value) }
    }

    /// [`extract`](Self::extract) for programs without an async runtime, with a
    /// [`blocking::Client`].
    #[cfg(feature = "blocking")]
    #[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
    fn extract_blocking(client: &blocking::Client, input: impl Into<Input>) -> Result<Self, Error> {
        client
            .extract::<Self>(input)
            .send()
            .map(|extraction| extraction.value)
    }

    #[doc(hidden)]
    fn __assert_enforceable() {}
}

/// A list of values: the model answers `{"items": [...]}` (strict roots must be objects), each element
/// checked by the element type's schema and `validate`. Stream its elements as they complete with
/// [`ExtractRequest::elements`].
///
/// The element type's `description` and `instructions` are the list's: what describes one value, or
/// says how to extract it, holds for each of the list's.
impl<T: Extract> Extract for Vec<T> {
    const NAME: &'static str = "list";
    const DESCRIPTION: Option<&'static str> = T::DESCRIPTION;
    const INSTRUCTIONS: Option<&'static str> = T::INSTRUCTIONS;
    const WRAP_KEY: &'static str = "items";

    fn validate(&self) -> Result<(), String> {
        for (i, item) in self.iter().enumerate() {
            item.validate().map_err(|e| format!("item {i}: {e}"))?;
        }
        Ok(())
    }
}

/// A type whose schema a strict structured-output provider can enforce: a closed object, a list, a
/// scalar, an enum, or an `Option` of one.
///
/// `#[derive(Extract)]` implements it; implement it by hand for a type with a hand-written
/// `JsonSchema` that you know to be strict (and assert it in a test with [`schema::problems`]). A
/// value that appears only once complete (a scalar, a code, a date) is its own partial form:
///
/// ```
/// use extract::stream::{feed_atomic, Event, Seg};
/// use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
///
/// /// An IATA airport code, with a schema written by hand.
/// #[derive(Debug, serde::Deserialize)]
/// struct Airport(String);
///
/// impl JsonSchema for Airport {
///     fn schema_name() -> std::borrow::Cow<'static, str> {
///         "Airport".into()
///     }
///     fn json_schema(_: &mut SchemaGenerator) -> Schema {
///         json_schema!({"type": "string", "pattern": "^[A-Z]{3}$"})
///     }
/// }
///
/// impl extract::Enforceable for Airport {
///     type Partial = Self;
///     fn feed(slot: &mut Option<Self>, at: &[Seg], event: &Event<'_>) {
///         feed_atomic(slot, at, event)
///     }
/// }
///
/// // Now a field of a derived type.
/// #[derive(Debug, serde::Deserialize, JsonSchema, extract::Extract)]
/// struct Flight {
///     from: Airport,
///     to: Airport,
/// }
/// # assert_eq!(extract::schema::problems::<Flight>(extract::schema::Target::OpenAi), vec![]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be enforced by a strict structured-output provider",
    label = "this field's schema cannot be enforced",
    note = "maps (`HashMap`, `BTreeMap`) have open keys, which `additionalProperties: false` forbids: use a `Vec` of key/value structs",
    note = "`serde_json::Value` accepts anything, so no schema constrains it: use a typed struct or enum",
    note = "a struct or enum of your own must `#[derive(Extract)]` too, so its fields are checked"
)]
pub trait Enforceable {
    /// What a value of this type is while its JSON is still arriving: a struct's partial companion
    /// (every field optional, nested types partial too), a `String` so far, a list of partial
    /// elements; the type itself for values that appear only once complete (numbers, enums).
    ///
    /// [`Extract`] adds `Send`. It is not required here so that a field whose type is not
    /// enforceable is reported once, at the field, and not again by every struct around it.
    type Partial: 'static;

    /// Applies one event of the incremental JSON parser to the partial value in `slot` (`None` until
    /// the value starts). `at` is the event's path below this value: empty for an event about the
    /// value itself. Implementations update in place, so a stream costs time linear in its length.
    ///
    /// A hand-written impl for a type that appears only once complete calls
    /// [`stream::feed_atomic`] with `type Partial = Self`.
    fn feed(slot: &mut Option<Self::Partial>, at: &[stream::Seg], event: &stream::Event<'_>);

    /// Writes a partial value as `Debug` would: the derive's partial structs print their fields
    /// through this, so they are `Debug` whatever their fields are. The default writes `..`; the
    /// derive and extract's own impls write the value (an enum its variant, when it is `Debug`).
    fn fmt_partial(partial: &Self::Partial, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let _ = partial;
        f.write_str("..")
    }
}

/// The partial form of `T` while its JSON streams in: for a struct deriving [`Extract`], a struct with
/// the same field names, each an `Option` of the field's own partial form, `None` until the field's
/// value starts (a `String` grows as its text arrives, a list grows one element at a time, a nested
/// struct is partial too, a number or an enum appears once its JSON is complete).
///
/// The derive generates that struct beside the type and names it only through this alias; it
/// implements `Default` (every field `None`) and `Debug` (a field whose type is not `Debug`, such as
/// an enum without it, prints as `..`).
/// More traits are asked for with `#[extract(partial_derive(Clone, PartialEq, serde::Serialize))]`,
/// and each nested struct asks for them too: `Clone` to keep a copy, `Serialize` to forward
/// partials to a browser, `PartialEq` to compare them. `Clone` is available on a generic struct as
/// well (it holds when every field's partial form is `Clone`); the others only on a non-generic one.
/// They are not there by default because each costs compile time for every type, whether or not it
/// is ever streamed; nothing in `extract` needs them ([`into_stream`](stream::PartialStream::into_stream)
/// rebuilds its owned snapshots). An enum is its own partial form: it appears once complete.
///
/// ```
/// use extract::{Enforceable, Extract, Partial};
/// use extract::stream::{Event, Seg};
/// # use schemars::JsonSchema;
/// # use serde::Deserialize;
///
/// #[derive(Debug, Deserialize, JsonSchema, Extract)]
/// struct CalendarEvent {
///     name: String,
///     participants: Vec<String>,
/// }
///
/// // `{"name": "Scie` so far, as the incremental parser reports it:
/// let mut partial: Option<Partial<CalendarEvent>> = None;
/// let name = [Seg::Key("name".into())];
/// CalendarEvent::feed(&mut partial, &[], &Event::Open);
/// CalendarEvent::feed(&mut partial, &name, &Event::Text("Scie"));
/// let partial = partial.unwrap();
/// assert_eq!(partial.name.as_deref(), Some("Scie"));
/// assert_eq!(partial.participants, None);
/// ```
pub type Partial<T> = <T as Enforceable>::Partial;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
