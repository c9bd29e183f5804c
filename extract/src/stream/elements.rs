//! A list extracted as a stream of its elements: each one is yielded as soon as its JSON closes and
//! it is valid on its own (schema, serde, `validate`), before the next one starts.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::Stream;

use super::call::{open_attempt, with_earlier_usage, Call};
use super::json::{Event, Parser, Seg};
use super::text::StreamSummary;
use crate::error::{Error, StopReason, Violation};
use crate::judge;
use crate::run::{Attempts, Run, Verdict};
use crate::schema::{self, Prepared};
use crate::vocab::Input;
use crate::Extract;

/// The elements of a `Vec<T>` extraction as they complete, from
/// [`ExtractRequest::elements`](crate::ExtractRequest::elements).
///
/// Each element is judged alone when its JSON closes and yielded at once; at the end the whole list
/// is judged as a plain extraction would be. An invalid reply before any element was yielded is
/// reasked as usual; once elements have been yielded a reask cannot take them back, so an invalid
/// element ends the stream with [`Error::Invalid`] ([`StopReason::ElementsYielded`]). Dropping the
/// stream cancels the request; a cut stream ends with [`Error::Truncated`].
///
/// ```no_run
/// # use extract::{Client, Extract};
/// # #[derive(Debug, serde::Deserialize, schemars::JsonSchema, Extract)]
/// # struct CalendarEvent { name: String, date: String }
/// # async fn run(client: &Client) -> Result<(), extract::Error> {
/// use futures_util::StreamExt;
///
/// let mut events = client.extract::<Vec<CalendarEvent>>("Lunch Monday, gym Tuesday.").elements();
/// while let Some(event) = events.next().await {
///     println!("{:?}", event?);
/// }
/// println!("{} tokens", events.summary().usage.total_tokens);
/// # Ok(()) }
/// ```
#[must_use = "a stream does nothing until it is polled"]
pub struct ElementStream<'c, T> {
    inner: Pin<Box<dyn Stream<Item = Result<T, Error>> + Send + 'c>>,
    summary: Arc<Mutex<StreamSummary>>,
}

impl<'c, T: Extract> ElementStream<'c, T> {
    pub(crate) fn new(run: Run<'c>, input: Input) -> Self {
        let summary = Arc::new(Mutex::new(StreamSummary::default()));
        let driver = Driver::<T> {
            run,
            input,
            element: schema::prepared::<T>(),
            state: None,
            call: None,
            parser: Parser::lenient(),
            judging: true,
            ready: VecDeque::new(),
            yielded: 0,
            finished: false,
            summary: summary.clone(),
        };
        let inner = futures_util::stream::unfold(driver, |mut driver| async move {
            let item = driver.next().await?;
            Some((item, driver))
        });
        ElementStream {
            inner: Box::pin(inner),
            summary,
        }
    }

    /// Tokens, attempts and model so far; complete once the stream has ended.
    pub fn summary(&self) -> StreamSummary {
        self.summary
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl<T> Stream for ElementStream<'_, T> {
    type Item = Result<T, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T> fmt::Debug for ElementStream<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ElementStream").finish_non_exhaustive()
    }
}

struct Driver<'c, T> {
    /// The run of the whole `Vec<T>`.
    run: Run<'c>,
    input: Input,
    /// The element type's schemas, to judge each element alone.
    element: &'static Prepared,
    state: Option<Attempts>,
    call: Option<Call>,
    parser: Parser,
    /// Whether elements are still judged as they close (not after invalid JSON or an invalid
    /// element, where the whole reply's judgement decides).
    judging: bool,
    ready: VecDeque<Result<T, Error>>,
    /// Elements handed out in this attempt.
    yielded: usize,
    finished: bool,
    summary: Arc<Mutex<StreamSummary>>,
}

impl<T: Extract> Driver<'_, T> {
    async fn next(&mut self) -> Option<Result<T, Error>> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                if item.is_ok() {
                    self.yielded += 1;
                } else {
                    self.finished = true;
                    self.ready.clear();
                }
                return Some(item);
            }
            if self.finished {
                return None;
            }
            if self.call.is_none() {
                if let Err(err) = self.open().await {
                    self.finished = true;
                    return Some(Err(err));
                }
            }
            let Some(call) = self.call.as_mut() else {
                continue;
            };
            match call.next_piece().await {
                Some(Ok(range)) => self.feed(range),
                Some(Err(err)) => {
                    self.finished = true;
                    return Some(Err(with_earlier_usage(err, self.state.as_ref(), &self.run)));
                }
                None => self.conclude(),
            }
        }
    }

    async fn open(&mut self) -> Result<(), Error> {
        let call = open_attempt(&mut self.run, &mut self.state, &self.input).await?;
        self.call = Some(call);
        self.parser = Parser::lenient();
        self.judging = true;
        Ok(())
    }

    /// Feeds a piece of the reply to the parser; each element that closes is judged alone.
    fn feed(&mut self, range: std::ops::Range<usize>) {
        let Some(call) = self.call.as_ref() else {
            return;
        };
        if !self.judging {
            return;
        }
        let wrap = self.run.prepared.wrap_key.unwrap_or("items");
        let mut closed: Vec<(usize, String)> = Vec::new();
        let fed = self.parser.feed(
            &call.text().as_bytes()[range],
            |path: &[Seg], event: &Event<'_>| {
                let Event::Close(raw) = event else { return };
                // The list in its wrapper, or bare when a small model left the wrapper out.
                let index = match path {
                    [Seg::Key(key), Seg::Index(i)] if &**key == wrap => *i,
                    [Seg::Index(i)] => *i,
                    _ => return,
                };
                closed.push((index, (*raw).to_owned()));
            },
        );
        if fed.is_err() {
            self.judging = false;
        }
        for (index, raw) in closed {
            match judge::judge::<T>(self.element, &raw) {
                Ok(value) => self.ready.push_back(Ok(value)),
                Err(errors) => {
                    self.judging = false;
                    if self.yielded + self.ready.len() > 0 {
                        let errors = errors
                            .into_iter()
                            .map(|v| {
                                Violation::new(format!("/{wrap}/{index}{}", v.path), v.message)
                            })
                            .collect();
                        let state = self.state.as_ref();
                        let usage = state.map(|s| s.usage).unwrap_or_default()
                            + self.call.as_ref().and_then(Call::usage).unwrap_or_default();
                        self.ready.push_back(Err(Error::Invalid {
                            raw,
                            errors,
                            attempts: state.map_or(1, |s| s.made),
                            usage,
                            stop: StopReason::ElementsYielded,
                        }));
                    }
                    // Before any element was out, the whole reply's judgement reasks as usual.
                    return;
                }
            }
        }
    }

    /// The stream ended: the whole list is judged as a plain extraction would be.
    fn conclude(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        let raw = call.text().to_owned();
        let reply = match call.into_reply() {
            Ok(reply) => reply,
            Err(err) => {
                self.ready
                    .push_back(Err(with_earlier_usage(err, self.state.as_ref(), &self.run)));
                return;
            }
        };
        let state = self
            .state
            .get_or_insert_with(|| self.run.begin(&self.input));
        let verdict = self.run.judge_reply::<Vec<T>>(state, reply);
        {
            let mut summary = self.summary.lock().unwrap_or_else(|e| e.into_inner());
            summary.usage = state.usage;
            summary.attempts = state.made;
        }
        match verdict {
            Verdict::Done(done) => {
                self.summary.lock().unwrap_or_else(|e| e.into_inner()).model = Some(done.model);
                // Elements the incremental judging did not hand out (the reply needed the judge's
                // repair, say) come now, in order.
                let rest: Vec<T> = done.value.into_iter().skip(self.yielded).collect();
                self.ready.extend(rest.into_iter().map(Ok));
                self.finished = true;
            }
            Verdict::Failed(err) => self.ready.push_back(Err(err)),
            Verdict::Reask(errors) if self.yielded == 0 => {
                tracing::debug!(errors = errors.len(), "invalid list; asking again");
            }
            Verdict::Reask(errors) => self.ready.push_back(Err(Error::Invalid {
                raw,
                errors,
                attempts: state.made,
                usage: state.usage,
                stop: StopReason::ElementsYielded,
            })),
        }
    }
}

impl<'c, T: Extract> crate::ExtractRequest<'c, Vec<T>> {
    /// Streams the elements of the list as each one is complete and valid, before the next one
    /// starts. See [`ElementStream`](ElementStream).
    pub fn elements(self) -> ElementStream<'c, T> {
        let (run, input) = self.into_run();
        ElementStream::new(run, input)
    }
}
