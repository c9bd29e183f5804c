//! The timers that bound each attempt: borrowed from a per-thread list of spares rather than
//! registered anew in the runtime's timer wheel for every attempt (see [`within`]).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::runtime::Id as RuntimeId;
use tokio::time::Sleep;

/// Runs `work` for at most `timeout`; `None` when the time ran out first. The caller pins the work
/// where it is (`pin!`), so that the work is not copied into this future too.
///
/// Not `tokio::time::timeout`, which registers a new timer in the runtime's timer wheel for every
/// attempt and removes it when the attempt ends, each time under the time driver's lock (which the
/// runtime's workers also take whenever they park): under load that was about half of what this
/// crate added to an HTTP call. Here an attempt borrows a timer already in the wheel from a list of
/// spares kept per thread, and moves its deadline later, which `Sleep::reset` does with one atomic
/// write and no lock; the timer goes back to the list when the attempt ends, however it ends.
pub(crate) async fn within<F: Future>(
    timeout: Duration,
    mut work: Pin<&mut F>,
) -> Option<F::Output> {
    let Some(deadline) = tokio::time::Instant::now().checked_add(timeout) else {
        // No instant is that far away: the work has all the time there is.
        return Some(work.await);
    };
    let mut timer = Timer::start(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match &mut timer.sleep {
            Some(sleep) => sleep.as_mut().poll(cx).map(|()| None),
            None => Poll::Pending,
        }
    })
    .await
}

/// A timer borrowed for one attempt; see [`within`].
struct Timer {
    /// Always `Some` until dropped.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The runtime whose timer wheel holds `sleep`: a spare is lent only within that runtime, since
    /// another one's driver may be stopped (a current-thread runtime not running now), or gone.
    runtime: Option<RuntimeId>,
}

/// The most spare timers a thread keeps: enough for the attempts one thread has in flight at once.
const SPARE_TIMERS: usize = 1024;

/// A thread's spare timers, and the runtime whose wheel holds them.
type Spares = (Option<RuntimeId>, Vec<Pin<Box<Sleep>>>);

thread_local! {
    static SPARE: RefCell<Spares> = const { RefCell::new((None, Vec::new())) };
}

impl Timer {
    fn start(deadline: tokio::time::Instant) -> Timer {
        let runtime = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
        let spare = runtime.and_then(|id| {
            SPARE
                .try_with(|spare| {
                    let mut spare = spare.borrow_mut();
                    if spare.0 != Some(id) {
                        return None;
                    }
                    // A timer that fired while it waited (its deadline, or its runtime's shutdown)
                    // has left the wheel: putting it back would take the lock after all.
                    let mut sleeps = std::mem::take(&mut spare.1);
                    let found = std::iter::from_fn(|| sleeps.pop()).find(|s| !s.is_elapsed());
                    spare.1 = sleeps;
                    found
                })
                .ok()
                .flatten()
        });
        let sleep = match spare {
            Some(mut sleep) => {
                sleep.as_mut().reset(deadline);
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        };
        Timer {
            sleep: Some(sleep),
            runtime,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        let (Some(id), Some(mut sleep)) = (self.runtime, self.sleep.take()) else {
            return;
        };
        if sleep.is_elapsed() {
            return;
        }
        // The timer holds the waker of the task that last polled it, which would keep that task's
        // memory alive while the timer waits: it is replaced by one that does nothing.
        let _ = sleep.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.0 != Some(id) {
                // This thread now runs another runtime: the old one's timers are of no more use.
                *spare = (Some(id), Vec::new());
            }
            if spare.1.len() < SPARE_TIMERS {
                spare.1.push(sleep);
            }
        });
    }
}
