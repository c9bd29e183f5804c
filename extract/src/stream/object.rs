//! A streamed extraction of one value: partial values as the fields arrive, then the value judged
//! exactly as a plain extraction's (schema, serde, `validate`), with reasks when it is invalid.

use std::fmt;

use futures_util::Stream;
use tracing::Instrument;

use super::call::{open_attempt, with_earlier_usage, Call};
use super::json::{Event, ParseError, Parser, Seg};
use crate::error::{Error, Violation};
use crate::run::Extraction;
use crate::run::{Attempts, Run, Verdict};
use crate::vocab::Input;
use crate::{Enforceable, Extract};

/// What a [`PartialStream`] has to say next.
pub enum Update<'a, T: Extract> {
    /// The value so far: every field that has started, strings as far as they arrived, lists with
    /// their elements so far. Borrowed, so following a stream costs nothing per update.
    Partial(&'a T::Partial),
    /// The reply was invalid and the model is being asked again; partial values start over.
    Reask {
        /// The attempt about to start (2 for the first reask).
        attempt: u32,
        /// What was wrong with the previous reply.
        errors: Vec<Violation>,
    },
    /// The validated value, with its metadata. The last update.
    Done(Extraction<T>),
}

impl<T: Extract> fmt::Debug for Update<'_, T>
where
    T: fmt::Debug,
    T::Partial: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Update::Partial(p) => f.debug_tuple("Partial").field(p).finish(),
            Update::Reask { attempt, errors } => f
                .debug_struct("Reask")
                .field("attempt", attempt)
                .field("errors", errors)
                .finish(),
            Update::Done(done) => f.debug_tuple("Done").field(done).finish(),
        }
    }
}

/// An owned [`Update`], for use as a [`Stream`] item ([`PartialStream::into_stream`]).
#[derive(Debug, Clone)]
pub enum Snapshot<T: Extract> {
    /// A copy of the value so far.
    Partial(T::Partial),
    /// The model is being asked again.
    Reask {
        /// The attempt about to start.
        attempt: u32,
        /// What was wrong with the previous reply.
        errors: Vec<Violation>,
    },
    /// The validated value. The last item.
    Done(Extraction<T>),
}

/// A streamed extraction, from [`ExtractRequest::stream`](crate::ExtractRequest::stream).
///
/// Call [`next`](Self::next) until it returns `None`: it yields [`Update::Partial`] each time the
/// value changed, [`Update::Reask`] when an invalid reply is being retried, and ends with
/// [`Update::Done`] or an error. The partial value is built in place by an incremental parser, so
/// a reply of `n` bytes costs `O(n)` however finely it is chunked; [`into_stream`](Self::into_stream)
/// gives a `Stream` of owned snapshots instead, as many as it can rebuild in `O(n)`.
///
/// Dropping it cancels the request. A stream cut before the provider said it was done ends with
/// [`Error::Truncated`] holding everything received. Where the provider cannot stream in the mode
/// (Workers AI's JSON mode), the request is sent plainly and its reply yields one partial value and
/// the result.
///
/// ```no_run
/// # use extract::{Client, Extract};
/// # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, Extract)]
/// # struct CalendarEvent { name: String, date: String, participants: Vec<String> }
/// # async fn run(client: &Client) -> Result<(), extract::Error> {
/// use extract::stream::Update;
///
/// let mut stream = client.extract::<CalendarEvent>("Alice and Bob meet on Friday.").stream();
/// while let Some(update) = stream.next().await {
///     match update? {
///         Update::Partial(event) => println!("so far: {:?}", event.name),
///         Update::Reask { errors, .. } => println!("asking again: {errors:?}"),
///         Update::Done(extraction) => println!("done: {:?}", extraction.value),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[must_use = "a stream does nothing until it is polled"]
pub struct PartialStream<'c, T: Extract> {
    run: Run<'c>,
    input: Input,
    state: Option<Attempts>,
    call: Option<Call>,
    parser: Parser,
    /// Whether the parser gave up on this reply (invalid JSON): the judge has the last word then.
    parser_failed: bool,
    partial: Option<T::Partial>,
    finished: bool,
    span: tracing::Span,
}

impl<'c, T: Extract> PartialStream<'c, T> {
    pub(crate) fn new(run: Run<'c>, input: Input) -> Self {
        let span = run.span::<T>();
        PartialStream {
            run,
            input,
            state: None,
            call: None,
            parser: Parser::lenient(),
            parser_failed: false,
            partial: None,
            finished: false,
            span,
        }
    }

    /// The next update; `None` after [`Update::Done`] or an error.
    pub async fn next(&mut self) -> Option<Result<Update<'_, T>, Error>> {
        let span = self.span.clone();
        self.step().instrument(span).await
    }

    async fn step(&mut self) -> Option<Result<Update<'_, T>, Error>> {
        // Decided first and borrowed after: a borrow of the partial value returned from inside the
        // loop would hold `self` for every iteration.
        let next = self.advance().await?;
        Some(match next {
            Next::Changed => Ok(Update::Partial(self.partial.as_ref()?)),
            Next::Reask { attempt, errors } => Ok(Update::Reask { attempt, errors }),
            Next::Done(done) => Ok(Update::Done(*done)),
            Next::Failed(err) => Err(err),
        })
    }

    async fn advance(&mut self) -> Option<Next<T>> {
        loop {
            if self.finished {
                return None;
            }
            if self.call.is_none() {
                if let Err(err) = self.open().await {
                    self.finished = true;
                    return Some(Next::Failed(err));
                }
            }
            let Some(call) = self.call.as_mut() else {
                continue;
            };
            match call.next_piece().await {
                Some(Ok(range)) => {
                    if self.feed(range) && self.partial.is_some() {
                        return Some(Next::Changed);
                    }
                }
                Some(Err(err)) => {
                    self.finished = true;
                    return Some(Next::Failed(with_earlier_usage(
                        err,
                        self.state.as_ref(),
                        &self.run,
                    )));
                }
                None => {
                    let call = self.call.take()?;
                    let reply = match call.into_reply() {
                        Ok(reply) => reply,
                        Err(err) => {
                            self.finished = true;
                            return Some(Next::Failed(with_earlier_usage(
                                err,
                                self.state.as_ref(),
                                &self.run,
                            )));
                        }
                    };
                    let state = self
                        .state
                        .get_or_insert_with(|| self.run.begin(&self.input));
                    return Some(match self.run.judge_reply::<T>(state, reply) {
                        Verdict::Done(done) => {
                            self.finished = true;
                            Next::Done(Box::new(done))
                        }
                        Verdict::Failed(err) => {
                            self.finished = true;
                            Next::Failed(err)
                        }
                        Verdict::Reask(errors) => Next::Reask {
                            attempt: state.made + 1,
                            errors,
                        },
                    });
                }
            }
        }
    }

    /// The stream as a [`Stream`] of owned snapshots, for `Stream` combinators.
    ///
    /// An owned snapshot is the partial value rebuilt from the reply's text so far, since the
    /// partial form need not be `Clone` (the derive does not generate it unless asked,
    /// `#[extract(partial_derive(Clone))]`), and a copy would cost as much anyway. A rebuild per
    /// update would cost `O(n²)` over a reply of `n` bytes, so snapshots are rebuilt only while
    /// their total cost stays within sixteen times the bytes received (plus 1 MiB): every update of
    /// a short reply, then one each time the text grew by about a sixteenth. The whole stream costs
    /// `O(n)`; the snapshots skipped are folded into the next one, and the last item is still the
    /// validated value ([`Snapshot::Done`]). [`next`](Self::next) lends every update at no cost.
    pub fn into_stream(self) -> impl Stream<Item = Result<Snapshot<T>, Error>> + Send + 'c {
        let budget = RebuildBudget::default();
        futures_util::stream::unfold((self, budget), |(mut stream, mut budget)| async move {
            loop {
                // Decided first, so that the update's borrow of the stream ends before the rebuild.
                let owned = match stream.next().await? {
                    Ok(Update::Partial(_)) => None,
                    Ok(Update::Reask { attempt, errors }) => {
                        budget.earlier = budget.received;
                        Some(Ok(Snapshot::Reask { attempt, errors }))
                    }
                    Ok(Update::Done(done)) => Some(Ok(Snapshot::Done(done))),
                    Err(err) => Some(Err(err)),
                };
                let item = match owned {
                    Some(item) => item,
                    None => {
                        let len = stream.call.as_ref().map_or(0, |call| call.text().len());
                        if !budget.allows(len) {
                            continue;
                        }
                        match stream.rebuild() {
                            Some(partial) => Ok(Snapshot::Partial(partial)),
                            // Not reached: an update is only yielded once the value exists.
                            None => continue,
                        }
                    }
                };
                return Some((item, (stream, budget)));
            }
        })
    }

    /// The partial value as [`partial`](Self::partial) holds it after an update, built anew from
    /// the reply's text: an update comes right after its piece was fed, so the parser has read all
    /// of that text, and the same events in the same order give the same value however the text
    /// was chunked when it arrived.
    fn rebuild(&self) -> Option<T::Partial> {
        let text = self.call.as_ref()?.text().as_bytes();
        let mut partial = None;
        let wrap = self.run.prepared.wrap_key;
        // A parse error stops the rebuild where it stopped the original, after the same events.
        let _ = fill::<T>(&mut Parser::lenient(), &mut partial, text, wrap);
        partial
    }

    /// The value as far as it arrived, if anything did.
    pub fn partial(&self) -> Option<&T::Partial> {
        self.partial.as_ref()
    }

    async fn open(&mut self) -> Result<(), Error> {
        let call = open_attempt(&mut self.run, &mut self.state, &self.input).await?;
        self.call = Some(call);
        self.parser = Parser::lenient();
        self.parser_failed = false;
        self.partial = None;
        Ok(())
    }

    /// Feeds a new piece of the reply to the parser and the partial value; whether anything changed.
    fn feed(&mut self, range: std::ops::Range<usize>) -> bool {
        let (Some(call), false) = (self.call.as_ref(), self.parser_failed) else {
            return false;
        };
        let Some(piece) = call.text().as_bytes().get(range) else {
            return false;
        };
        let wrap = self.run.prepared.wrap_key;
        let (changed, read) = fill::<T>(&mut self.parser, &mut self.partial, piece, wrap);
        if let Err(err) = read {
            tracing::debug!(error = %err, "the streamed reply is not valid JSON so far; the judge will decide");
            self.parser_failed = true;
        }
        changed
    }
}

/// Reads `piece` of a reply with `parser` and feeds its events to `partial`, below the wrap key
/// when the value is wrapped. Whether any event reached the value, and the parser's verdict (events
/// before an error still count).
fn fill<T: Enforceable>(
    parser: &mut Parser,
    partial: &mut Option<T::Partial>,
    piece: &[u8],
    wrap: Option<&str>,
) -> (bool, Result<(), ParseError>) {
    let mut changed = false;
    let read = parser.feed(piece, |path: &[Seg], event: &Event<'_>| {
        let at = match (wrap, path.split_first()) {
            (None, _) => path,
            (Some(key), Some((Seg::Key(k), rest))) if &**k == key => rest,
            (Some(_), _) => return,
        };
        T::feed(partial, at, event);
        changed = true;
    });
    (changed, read)
}

/// How many bytes [`PartialStream::into_stream`] may re-parse for its snapshots: sixteen per byte
/// received, and 1 MiB to start with (about a millisecond of parsing), so a short reply gets every
/// snapshot and a long one costs `O(n)` all the same.
#[derive(Default)]
struct RebuildBudget {
    /// Bytes re-parsed so far.
    spent: usize,
    /// Bytes received by the attempts before this one.
    earlier: usize,
    /// Bytes received so far, this attempt's included.
    received: usize,
}

impl RebuildBudget {
    const PER_BYTE: usize = 16;
    const ALLOWANCE: usize = 1 << 20;

    /// Whether a rebuild of this attempt's `len` bytes of text fits, counting it as spent if so.
    fn allows(&mut self, len: usize) -> bool {
        self.received = self.earlier.saturating_add(len);
        let cost = self.spent.saturating_add(len);
        let limit = self
            .received
            .saturating_mul(Self::PER_BYTE)
            .saturating_add(Self::ALLOWANCE);
        if cost > limit {
            return false;
        }
        self.spent = cost;
        true
    }
}

/// What [`PartialStream::advance`] found, before anything is borrowed for the caller.
enum Next<T> {
    Changed,
    Reask {
        attempt: u32,
        errors: Vec<Violation>,
    },
    Done(Box<Extraction<T>>),
    Failed(Error),
}

impl<T: Extract> fmt::Debug for PartialStream<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PartialStream")
            .field("schema", &T::NAME)
            .field("model", &self.run.model)
            .field("mode", &self.run.mode)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<'c, T: Extract> crate::ExtractRequest<'c, T> {
    /// Streams the extraction: partial values as the fields arrive, then the validated value. See
    /// [`PartialStream`](PartialStream).
    pub fn stream(self) -> PartialStream<'c, T> {
        let (run, input) = self.into_run();
        PartialStream::new(run, input)
    }
}
