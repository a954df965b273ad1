//! kiln-timer: a hierarchical timing wheel per worker, and the [`Sleep`], [`Timeout`] and
//! [`Interval`] futures built on it (re-exported as `kiln::time`).
//!
//! # Shape
//! Each worker owns a [`Driver`]: one wheel behind one lock. The runtime makes the worker's
//! [`TimerHandle`] current with [`context::enter`]; [`sleep()`], [`timeout()`] and [`interval()`]
//! capture it when created. A sleep stays registered with that driver even when its task
//! moves to another worker, and may be polled, reset or dropped (cancelled) from any thread.
//! Timer entries are intrusive: a [`Sleep`] carries its own wheel node, linked by address
//! while it is pending, so sleeping allocates nothing beyond the future itself (which is
//! therefore `!Unpin`, like tokio's).
//!
//! The worker loop drives the wheel:
//!
//! ```text
//! loop {
//!     run tasks …; every so often driver.process();
//!     let deadline = driver.before_park();          // earliest timer, and "I'm parking"
//!     poller.wait(&mut events, deadline.map(|d| d.saturating_duration_since(Instant::now())));
//!     driver.after_park();
//!     driver.process();                             // wake every task whose timer is due
//! }
//! ```
//!
//! A timer registered from another thread earlier than the parked deadline calls the
//! driver's [`Unpark`] (the runtime's `Poller::notify`), so the owner never oversleeps.
//!
//! # Precision
//! - The wheel ticks in **1 µs** units with 8 levels of 256 slots: level 0 has 1 µs slots
//!   over 256 µs, level 1 has 256 µs slots over 65 ms, and the top level spans the whole `u64`
//!   microsecond range, so long deadlines are never clamped. Deadlines round *up* to the next
//!   microsecond and "now" rounds *down*, so a timer never fires early and at most 1 µs late
//!   from rounding. Nothing is rounded to 1 ms (timers on the system clock are coalesced
//!   instead, see below). Insert, reset and cancel are O(1); an entry
//!   cascades at most once per level it crosses (once for a sleep of a few milliseconds).
//! - **Sub-millisecond parking.** kiln's runtime waits with `epoll_pwait2`, whose timeout is a
//!   nanosecond `timespec` (Linux 5.11+); without it, `polling`. `polling` 3.x's epoll backend (Linux, Android) creates a
//!   `timerfd` (`CLOCK_MONOTONIC`) in `Poller::new`, registers it in the epoll set, and on
//!   every `wait(Some(timeout))` arms it with `timerfd_settime` at full nanosecond precision,
//!   calling `epoll_wait` with no timeout of its own (see `polling-3.11/src/epoll.rs`,
//!   `wait_deadline`). So `poller.wait(&mut events, Some(deadline - now))` honours
//!   sub-millisecond timeouts; no extra timerfd is needed in the runtime. (Only if
//!   `timerfd_create` fails does it fall back to an `epoll_pwait` timeout in whole
//!   milliseconds, rounded up.) Other backends (kqueue, IOCP, poll) have their own granularity.
//! - **Timer slack.** Linux pads the timeouts of `epoll_wait`, `poll`, `nanosleep` and futex
//!   (condition-variable) waits by the thread's "timer slack" (default 50 µs), but a `timerfd`
//!   is armed as an exact high-resolution timer without it. Measured on Linux 6.18 (16-vCPU
//!   VM, 1 ms waits, 1 000 per run, three alternating runs): `Poller::wait` p50 lateness
//!   20–26 µs with the default slack and with `PR_SET_TIMERSLACK = 1 ns` alike, while a plain
//!   `epoll_wait(1 ms)` went from 70–78 µs to 26–33 µs when the slack was lowered. So with
//!   `polling`'s timerfd path the runtime need not change the slack; any timed wait that does
//!   not go through the poller (a condvar or `thread::sleep` with a timeout) pays it unless
//!   the thread sets `prctl(PR_SET_TIMERSLACK, 1)`.
//! - **What remains** is the kernel's wake-up latency of a parked thread: on that VM the raw
//!   `Poller::wait` p99 lateness was 54–107 µs. Parking until the exact deadline cannot do
//!   better; on request (`kiln_runtime`'s `Builder::timer_spin_limit`, off by default) the
//!   runtime wakes its worker a learned `slack` early and spins the rest. That is the
//!   runtime's policy, not this crate's: the driver only reports the deadline ([`Driver::before_park`]).

//! # Coalescing
//! An idle server holds many timeouts, and waking its worker once per deadline, each at its
//! own microsecond, costs a wake-up and a context switch per timer. So a timer on the system
//! clock fires on a grid: its deadline is rounded *up* to a multiple of the largest power of
//! two microseconds that is at most a quarter of the time it has left when armed (for a
//! [`sleep()`] that is its length: it counts from its creation, which saves a clock read when
//! it is first polled), and at most 2,048 µs; below 4,096 µs left, that quarter is scaled
//! down by `left / 4,096 µs`, since a short timer that fires alone gains nothing from a grid
//! and many short timers get the busy floor (below). Timers whose deadlines fall in one grid
//! cell fire in one wake-up. A 1 ms sleep may be up to 31 µs late from this, a 2 ms sleep
//! 127 µs, a 5 ms sleep 1,023 µs, anything of 8 ms or more 2,047 µs (tokio rounds every
//! deadline up to its 1 ms tick); under 182 µs left nothing is rounded. A driver that fires
//! many timers per millisecond (8 or more: a busy server's short sleeps) raises the grid of the
//! timers armed on it to a *busy floor* of 1,024 µs (2,048 µs from 12 per millisecond), so
//! its worker wakes about once per one or two milliseconds however many are due; the floor
//! follows the driver's fire rate over the last few milliseconds (none below 32 µs, so a lone
//! 1 ms ticker, 4 or 5 fires per 4,096 µs window, has none). A driver with a floor also
//! parks past its earliest timer, by up to a *busy slack* (`16 · n²` µs for `n` fires per
//! window, floor and slack together at most 2,048 µs), to the last timer due within it, and
//! fires them together: timers a few hundred microseconds apart, which no grid cell holds
//! together, then share a wake-up, and a timer with nothing due soon after it is not delayed
//! ([`Driver::before_park`]). In precise mode
//! ([`Driver::set_precise`], set by a runtime that spins before deadlines) the grid is 1/256
//! of the time left (a 1 ms sleep at most 1 µs late), the busy floor unchanged. Never early:
//! [`Sleep::deadline`] keeps the requested instant. A manual or paused clock is never rounded
//! (tests see exact deadlines). Measured figures: `docs/tuning.md`.

//! # Shutdown
//! [`Driver::shutdown`] (also run when the `Driver` is dropped) completes every pending
//! sleep, and every sleep polled on that driver afterwards completes on its first poll;
//! a [`Timeout`] then reports [`Elapsed`] unless its future is ready first. Nothing panics.
//!
//! # Example
//! ```
//! use kiln_timer::{Driver, Unpark};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! struct Nop;
//! impl Unpark for Nop {
//!     fn unpark(&self) {}
//! }
//! let driver = Driver::new(Arc::new(Nop));
//! let _enter = kiln_timer::context::enter(driver.handle());
//! let mut sleep = std::pin::pin!(kiln_timer::sleep(Duration::from_micros(200)));
//! let waker = futures::task::noop_waker();
//! let mut cx = std::task::Context::from_waker(&waker);
//! use std::future::Future;
//! while sleep.as_mut().poll(&mut cx).is_pending() {
//!     // A worker would park in its poller until `driver.before_park()`.
//!     if let Some(at) = driver.next_deadline() {
//!         std::thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
//!     }
//!     driver.process();
//! }
//! ```

#![deny(unsafe_code)]

mod clock;
mod coalesce;
pub mod context;
mod driver;
// The intrusive timer entry and the wheel that links entries by raw pointer: the crate's only
// unsafe code, with the invariants in each module's docs.
#[allow(unsafe_code)]
mod entry;
mod handle;
mod interval;
// The concurrency primitives, under std's paths: loom's in this crate's own loom models,
// std's and parking_lot's everywhere else, a downstream crate's `--cfg loom` build included
// (see kiln-shim's docs for the rule). Code imports them from `crate::loom` only.
#[cfg(all(test, loom))]
use kiln_shim::model as loom;
#[cfg(not(all(test, loom)))]
use kiln_shim::real as loom;
mod pause;
mod sleep;
mod timeout;
mod wait_here;
mod wake;
#[allow(unsafe_code)]
mod wheel;

#[cfg(all(test, not(loom)))]
mod harness_tests;
#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests;

pub use clock::{ManualClock, PausableClock};
pub use driver::Driver;
pub use handle::TimerHandle;
pub use interval::{Interval, MissedTickBehavior};
pub use pause::{advance, now, pause, resume, Advance};
pub use sleep::Sleep;
pub use std::time::{Duration, Instant};
pub use timeout::{Elapsed, Timeout};
pub use wait_here::WaitHere;
pub use wake::Unpark;

use std::future::IntoFuture;

/// Completes `d` from now.
///
/// # Panics
/// If called outside a kiln runtime (no timer driver is entered on this thread).
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// let driver = Driver::new(Arc::new(Nop));
/// let _enter = kiln_timer::context::enter(driver.handle());
/// let sleep = kiln_timer::sleep(std::time::Duration::from_millis(10));
/// assert_eq!(driver.pending(), 0); // registers at its first poll
/// # drop(sleep);
/// ```
#[track_caller]
pub fn sleep(d: Duration) -> Sleep {
    context::current("kiln::time::sleep").sleep(d)
}

/// Completes at `deadline` (at once if it has passed).
///
/// # Panics
/// If called outside a kiln runtime.
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// use std::time::Instant;
///
/// let driver = Driver::new(Arc::new(Nop));
/// let _enter = kiln_timer::context::enter(driver.handle());
/// futures::executor::block_on(kiln_timer::sleep_until(Instant::now())); // already due
/// ```
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    context::current("kiln::time::sleep_until").sleep_until(deadline)
}

/// Runs `f` for at most `d`: `Ok(output)`, or `Err(Elapsed)` with `f` dropped.
///
/// # Panics
/// If called outside a kiln runtime.
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// let driver = Driver::new(Arc::new(Nop));
/// let _enter = kiln_timer::context::enter(driver.handle());
/// let t = kiln_timer::timeout(std::time::Duration::ZERO, std::future::pending::<()>());
/// assert!(futures::executor::block_on(t).is_err());
/// ```
#[track_caller]
pub fn timeout<F: IntoFuture>(d: Duration, f: F) -> Timeout<F::IntoFuture> {
    context::current("kiln::time::timeout").timeout(d, f)
}

/// Runs `f` until `deadline`: `Ok(output)`, or `Err(Elapsed)` with `f` dropped.
///
/// # Panics
/// If called outside a kiln runtime.
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// use std::time::{Duration, Instant};
///
/// let driver = Driver::new(Arc::new(Nop));
/// let _enter = kiln_timer::context::enter(driver.handle());
/// let t = kiln_timer::timeout_at(Instant::now() + Duration::from_secs(1), async { "done" });
/// assert_eq!(futures::executor::block_on(t), Ok("done"));
/// ```
#[track_caller]
pub fn timeout_at<F: IntoFuture>(deadline: Instant, f: F) -> Timeout<F::IntoFuture> {
    context::current("kiln::time::timeout_at").timeout_at(deadline, f)
}

/// Ticks every `period`, the first tick at once.
///
/// # Panics
/// If called outside a kiln runtime, or if `period` is zero.
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// use kiln_timer::MissedTickBehavior;
///
/// let driver = Driver::new(Arc::new(Nop));
/// let _enter = kiln_timer::context::enter(driver.handle());
/// let mut ticks = kiln_timer::interval(std::time::Duration::from_millis(1));
/// ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    let handle = context::current("kiln::time::interval");
    let now = handle.now();
    handle.interval_at(now, period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// If called outside a kiln runtime, or if `period` is zero.
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// use std::time::{Duration, Instant};
///
/// let driver = Driver::new(Arc::new(Nop));
/// let _enter = kiln_timer::context::enter(driver.handle());
/// let start = Instant::now() + Duration::from_millis(5);
/// let ticks = kiln_timer::interval_at(start, Duration::from_millis(1));
/// # drop(ticks);
/// ```
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    context::current("kiln::time::interval_at").interval_at(start, period)
}
