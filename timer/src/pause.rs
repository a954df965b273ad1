//! Paused time for tests: [`pause`], [`resume`], [`advance`] and [`now`] on the current
//! runtime's clock.
//!
//! Only a driver built with [`Driver::with_pausable_clock`](crate::Driver::with_pausable_clock)
//! (kiln's current-thread runtime) can pause; the others panic with a message that says so.
//! The runtime that owns the driver decides when a paused clock jumps forward on its own
//! (kiln's current-thread runtime: when every task is idle; see `kiln::Builder::start_paused`).

use crate::clock::PausableClock;
use crate::context;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The current runtime's pausable clock, or a panic naming `what` and the mistake.
#[track_caller]
fn clock(what: &str) -> (crate::TimerHandle, PausableClock) {
    let handle = context::current(what);
    let Some(clock) = handle.pausable_clock().cloned() else {
        panic!(
            "{what}: this runtime's clock cannot be paused; paused time is supported only on \
             the current-thread runtime (kiln::Builder::new_current_thread), because a \
             multi-thread runtime keeps one timer wheel per worker and cannot tell when every \
             worker is idle at the same instant"
        );
    };
    (handle, clock)
}

/// Stops the current runtime's clock: sleeps, timeouts and intervals then see time move only
/// by [`advance`], or by the runtime's auto-advance (when every task is idle the clock jumps
/// to the next timer deadline).
///
/// # Panics
/// Outside a kiln runtime, on a multi-thread runtime, or if the clock is already paused.
///
/// ```
/// use std::time::Duration;
///
/// let rt = kiln::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     kiln::time::pause();
///     let start = kiln::time::now();
///     kiln::time::sleep(Duration::from_secs(3600)).await; // returns at once
///     assert!(kiln::time::now() - start >= Duration::from_secs(3600));
///     kiln::time::resume();
/// });
/// ```
#[track_caller]
pub fn pause() {
    clock("kiln::time::pause").1.pause();
}

/// Lets the current runtime's paused clock run again, at the system clock's rate, from where
/// it stands.
///
/// # Panics
/// Outside a kiln runtime, on a multi-thread runtime, or if the clock is not paused.
///
/// ```
/// let rt = kiln::Builder::new_current_thread().start_paused(true).build().unwrap();
/// rt.block_on(async {
///     let t = kiln::time::now();
///     kiln::time::resume();
///     assert!(kiln::time::now() >= t);
/// });
/// ```
#[track_caller]
pub fn resume() {
    clock("kiln::time::resume").1.resume();
}

/// Moves the current runtime's paused clock forward by `d`, fires every timer that is then
/// due, and yields once, so the tasks those timers woke run before the caller goes on.
///
/// # Panics
/// Outside a kiln runtime, on a multi-thread runtime, or if the clock is not paused.
///
/// ```
/// use std::time::Duration;
///
/// let rt = kiln::Builder::new_current_thread().start_paused(true).build().unwrap();
/// rt.block_on(async {
///     let sleeper = kiln::spawn(kiln::time::sleep(Duration::from_secs(10)));
///     kiln::task::yield_now().await; // the sleeper registers its timer
///     kiln::time::advance(Duration::from_secs(10)).await;
///     assert!(sleeper.is_finished());
/// });
/// ```
pub fn advance(d: Duration) -> Advance {
    Advance {
        by: Some(d),
        yielded: false,
    }
}

/// The future returned by [`advance`]: on its first poll it moves the clock and fires the
/// timers then due; it is ready on its second poll (it yields once in between).
#[derive(Debug)]
#[must_use = "the clock moves only once `advance` is awaited"]
pub struct Advance {
    by: Option<Duration>,
    yielded: bool,
}

impl Future for Advance {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        if let Some(d) = self.by.take() {
            let (handle, clock) = clock("kiln::time::advance");
            clock.advance(d);
            handle.inner.process_at(clock.now());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The current runtime's clock: `Instant::now()` unless the clock was paused, then the
/// paused (or, after [`resume`], shifted) reading that sleeps and timeouts use.
///
/// # Panics
/// Outside a kiln runtime.
///
/// ```
/// let rt = kiln::Builder::new_current_thread().start_paused(true).build().unwrap();
/// let (a, b) = rt.block_on(async { (kiln::time::now(), kiln::time::now()) });
/// assert_eq!(a, b); // paused
/// ```
#[track_caller]
pub fn now() -> Instant {
    context::current("kiln::time::now").now()
}
