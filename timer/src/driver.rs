//! The driver: one timing wheel behind one lock, shared by the worker that owns it and by every
//! thread that registers, resets or cancels a timer on it.
//!
//! # Ownership
//! - [`Driver`] is held by the worker (or current-thread runtime) whose event loop drives it;
//!   dropping it shuts the driver down.
//! - [`TimerHandle`] (cheap clone) is what sleeps capture; any thread may use it.
//! - `Synced` is everything behind the one lock: the wheel, the owner's park record and the
//!   shutdown flag. Every change to the wheel happens with that lock held.
//!
//! # Entries
//! Timers are intrusive: each `Sleep` carries its entry (see the `entry` module for the life
//! cycle), and the wheel links entries by raw pointer. Firing takes each due entry's waker under the lock and wakes the wakers after
//! releasing it, in batches of [`WAKE_BATCH`](crate::wake::WAKE_BATCH) (the lock is dropped and retaken between
//! batches), so firing never holds a pointer to an entry without the lock and a waker's code
//! never runs under it.
//!
//! # Parking protocol
//! 1. The owner calls [`Driver::before_park`], which returns the earliest expiration `X` and,
//!    under the lock, records `parked_until = X` (or "forever").
//! 2. The owner parks in its poller with timeout `X - now`.
//! 3. Any insert or reset (from any thread) whose tick is earlier than `parked_until` clears
//!    the record and, after unlocking, calls [`Unpark::unpark`]. Because the record is written
//!    and read under the same lock as the wheel, an insert either happens before step 1 (and
//!    `X` includes it) or sees the record. `unpark` must be sticky: one issued between steps
//!    1 and 2 must make the park in step 2 return at once (`polling::Poller::notify` is).
//!    On the system clock the driver first offers the new tick to [`Unpark::unpark_at`],
//!    under the lock; if that arranges for the park to end by then (a kernel timer), the
//!    record becomes `parked_until = when` and nobody is woken now. An arming by a thread
//!    that waits for its own timers on this driver ([`WaitHere`](crate::WaitHere)) changes
//!    nothing: that thread waits for the deadline itself (see `wait_here.rs`).
//! 4. The owner calls [`Driver::after_park`] and then [`Driver::process`].
//!
//! # The due hint
//! `Inner::hint` is a lower bound on every pending deadline, kept in an atomic so that
//! [`Driver::process`] returns without locking while nothing can be due (the owner calls it
//! after every park and periodically; idle siblings call it on busy workers' drivers). The
//! wheel's `elapsed` therefore only moves when something is due; a coarse slot of a wheel that
//! has fallen behind may start in the past, so the park deadline is the later of the wheel's
//! next expiration and the hint (both lower bounds on the earliest deadline), never a past
//! slot start that `process` would skip.

use crate::clock::{Clock, ManualClock, PausableClock};
use crate::coalesce::{FireCount, FloorWord};
use crate::entry::{fire_next, Shared};
use crate::handle::TimerHandle;
use crate::loom::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc, Mutex,
};
use crate::wake::{Unpark, WakeList};
use crate::wheel::{Wheel, TICK_NANOS};
use std::fmt;
use std::time::{Duration, Instant};

/// Whole seconds of `d` in microseconds plus `sub` (its rounded sub-second part), saturating.
fn micros(d: Duration, sub: u32) -> u64 {
    const _: () = assert!(TICK_NANOS == 1_000, "ticks are microseconds");
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(sub))
}

pub(crate) struct Synced {
    pub(crate) wheel: Wheel<Shared>,
    /// `Some(tick)` while the owner is parked until `tick` (`u64::MAX`: no deadline).
    parked_until: Option<u64>,
    pub(crate) shutdown: bool,
    /// Timers fired per window, for the busy floor (see the `coalesce` module).
    fires: FireCount,
}

pub(crate) struct Inner {
    origin: Instant,
    clock: Clock,
    unpark: std::sync::Arc<dyn Unpark>,
    /// Mirrors `Synced::shutdown` for lock-free checks; set once, under the lock.
    shutdown: AtomicBool,
    /// A lower bound on every pending entry's tick (`u64::MAX`: none pending), written only
    /// under the lock: lowered by each insert and reschedule, recomputed by `process_at`,
    /// left alone (so possibly stale-low) by cancel. `process_at` reads it without the lock
    /// and returns at once when nothing can be due, so the owner's frequent checks and idle
    /// siblings looking for overdue timers do not touch the lock or the wheel's memory.
    hint: AtomicU64,
    /// The busy floor of the coalescing grid (see the `coalesce` module), written by
    /// `process_at` under the lock, read without it when a timer is armed.
    floor: FloorWord,
    /// Precise mode's finer grid (see the `coalesce` module and [`Driver::set_precise`]);
    /// read without the lock when a timer is armed.
    precise: AtomicBool,
    pub(crate) synced: Mutex<Synced>,
}

#[path = "driver_grid.rs"]
mod grid;

impl Inner {
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        // Acquire pairs with the Release store in `Driver::shutdown`.
        self.shutdown.load(Ordering::Acquire)
    }

    /// The first tick at or after `t` (deadlines round up so they never fire early).
    pub(crate) fn deadline_tick(&self, t: Instant) -> u64 {
        match t.checked_duration_since(self.origin) {
            None => 0,
            Some(d) => micros(d, d.subsec_nanos().div_ceil(1_000)),
        }
    }

    /// The last tick at or before `t`.
    fn now_tick(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.origin);
        micros(d, d.subsec_micros())
    }

    fn tick_instant(&self, tick: u64) -> Option<Instant> {
        self.origin.checked_add(Duration::from_micros(tick))
    }

    /// See [`Driver::process_at`]; also used by `advance` on a paused clock.
    pub(crate) fn process_at(&self, now: Instant) -> usize {
        let now = self.now_tick(now);
        // Acquire pairs with the Release store in `Inner::lower_hint` and below.
        if self.hint.load(Ordering::Acquire) > now {
            return 0;
        }
        let mut fired = 0;
        let mut wakers = WakeList::new();
        let mut synced = self.synced.lock();
        loop {
            let mut done = synced.shutdown;
            while !done && !wakers.is_full() {
                match fire_next(&mut synced.wheel, now) {
                    Some(waker) => {
                        fired += 1;
                        if let Some(waker) = waker {
                            wakers.push(waker);
                        }
                    }
                    None => done = true,
                }
            }
            if done {
                break;
            }
            drop(synced);
            wakers.wake_all();
            synced = self.synced.lock();
        }
        if !synced.shutdown {
            synced.fires.record(now, fired, &self.floor);
            let hint = synced.wheel.next_expiration().unwrap_or(u64::MAX);
            // Release pairs with the Acquire load above.
            self.hint.store(hint, Ordering::Release);
        }
        drop(synced);
        wakers.wake_all();
        fired
    }

    /// An entry was linked at tick `when`: lowers the hint and reports whether the parked
    /// owner must be unparked (see the parking protocol). Called with the lock held.
    pub(crate) fn armed(&self, synced: &mut Synced, when: u64) -> bool {
        self.lower_hint(when);
        match synced.parked_until {
            // The arming thread waits for this driver's early timers itself (`wait_here`).
            Some(until)
                if when < until
                    && matches!(self.clock, Clock::System)
                    && crate::wait_here::is_waiter(self) =>
            {
                false
            }
            Some(until) if when < until => {
                // On the system clock a tick is an instant the owner's kernel timer can wait
                // for; then the owner need not wake just to park again with the new deadline.
                let moved = matches!(self.clock, Clock::System)
                    && self
                        .tick_instant(when)
                        .is_some_and(|at| self.unpark.unpark_at(at));
                synced.parked_until = if moved { Some(when) } else { None };
                !moved
            }
            _ => false,
        }
    }

    /// The earliest pending tick before the owner's park ends, if it is parked: a timer no
    /// wait of the owner covers, armed by a thread that waits for it itself (`wait_here`).
    pub(crate) fn uncovered_tick(&self) -> Option<u64> {
        let synced = self.synced.lock();
        let until = synced.parked_until?;
        self.park_tick(&synced).filter(|&t| t < until)
    }

    /// Hands the timers that [`uncovered_tick`](Inner::uncovered_tick) reports back to the
    /// owner: it is unparked and re-plans its wait with them.
    pub(crate) fn hand_back(&self) {
        let mut synced = self.synced.lock();
        let Some(until) = synced.parked_until else {
            return;
        };
        if self.park_tick(&synced).is_some_and(|t| t < until) {
            synced.parked_until = None;
            drop(synced);
            self.unpark();
        }
    }

    /// The instant of `tick` (for a waiter on the system clock).
    pub(crate) fn instant_of(&self, tick: u64) -> Option<Instant> {
        self.tick_instant(tick)
    }

    /// Wakes the owner out of its park; call without the lock.
    pub(crate) fn unpark(&self) {
        self.unpark.unpark();
    }

    /// Lowers `hint` to `when`. Called with the lock held (the only writers hold it).
    fn lower_hint(&self, when: u64) {
        if when < self.hint.load(Ordering::Relaxed) {
            // Release pairs with the Acquire load in `Driver::process_at`.
            self.hint.store(when, Ordering::Release);
        }
    }

    /// The tick to park until: the wheel's next expiration, raised to `hint` when that is
    /// later (both are lower bounds on the earliest pending deadline). Called with the lock.
    fn park_tick(&self, synced: &Synced) -> Option<u64> {
        let next = synced.wheel.next_expiration()?;
        Some(next.max(self.hint.load(Ordering::Relaxed)))
    }
}

/// One timing wheel and its driving interface; one per worker. `Send + Sync`.
///
/// The owner loops: [`before_park`](Driver::before_park) → park with that deadline →
/// [`after_park`](Driver::after_park) → [`process`](Driver::process). Other threads may
/// register, reset and cancel timers, and may also call `process`.
///
/// ```
/// use kiln_timer::{Driver, Unpark};
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
///
/// struct Nop;
/// impl Unpark for Nop {
///     fn unpark(&self) {}
/// }
/// let driver = Driver::new(Arc::new(Nop));
/// let handle = driver.handle();
/// let mut sleep = std::pin::pin!(handle.sleep(Duration::from_millis(1)));
/// let waker = futures::task::noop_waker();
/// let mut cx = std::task::Context::from_waker(&waker);
/// assert!(sleep.as_mut().poll(&mut cx).is_pending());
/// let deadline = driver.next_deadline().unwrap();
/// assert!(deadline >= sleep.deadline());
/// assert_eq!(driver.process_at(deadline), 1);
/// assert!(sleep.is_elapsed());
/// # use std::future::Future;
/// ```
pub struct Driver {
    handle: TimerHandle,
}

impl Driver {
    /// A driver on the system clock; `unpark` wakes its owner.
    pub fn new(unpark: std::sync::Arc<dyn Unpark>) -> Driver {
        Driver::build(unpark, Clock::System)
    }

    /// A driver whose "now" is `clock` (for deterministic tests).
    ///
    /// ```
    /// use kiln_timer::{Driver, ManualClock, Unpark};
    /// use std::sync::Arc;
    /// use std::time::{Duration, Instant};
    ///
    /// struct Nop;
    /// impl Unpark for Nop {
    ///     fn unpark(&self) {}
    /// }
    /// let clock = ManualClock::new(Instant::now());
    /// let driver = Driver::with_manual_clock(Arc::new(Nop), clock.clone());
    /// assert_eq!(driver.handle().now(), clock.now());
    /// ```
    pub fn with_manual_clock(unpark: std::sync::Arc<dyn Unpark>, clock: ManualClock) -> Driver {
        Driver::build(unpark, Clock::Manual(clock))
    }

    /// A driver on `clock`, which follows the system clock until paused: what a runtime
    /// that supports `kiln::time::pause` uses.
    ///
    /// ```
    /// use kiln_timer::{Driver, PausableClock, Unpark};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// struct Nop;
    /// impl Unpark for Nop {
    ///     fn unpark(&self) {}
    /// }
    /// let driver = Driver::with_pausable_clock(Arc::new(Nop), PausableClock::new(true));
    /// let handle = driver.handle();
    /// let mut sleep = std::pin::pin!(handle.sleep(Duration::from_secs(3600)));
    /// let waker = futures::task::noop_waker();
    /// let mut cx = std::task::Context::from_waker(&waker);
    /// assert!(sleep.as_mut().poll(&mut cx).is_pending()); // registers
    /// // An idle runtime jumps its paused clock to the next deadline and fires what is due.
    /// let clock = driver.pausable_clock().unwrap();
    /// while !sleep.is_elapsed() {
    ///     clock.advance_to(driver.next_deadline().unwrap());
    ///     driver.process();
    /// }
    /// # use std::future::Future;
    /// ```
    pub fn with_pausable_clock(unpark: std::sync::Arc<dyn Unpark>, clock: PausableClock) -> Driver {
        Driver::build(unpark, Clock::Pausable(clock))
    }

    /// The driver's clock if it can be paused.
    pub fn pausable_clock(&self) -> Option<&PausableClock> {
        self.handle.pausable_clock()
    }

    fn build(unpark: std::sync::Arc<dyn Unpark>, clock: Clock) -> Driver {
        let origin = clock.origin();
        Driver {
            handle: TimerHandle {
                inner: Arc::new(Inner {
                    origin,
                    clock,
                    unpark,
                    shutdown: AtomicBool::new(false),
                    hint: AtomicU64::new(u64::MAX),
                    floor: FloorWord::new(),
                    precise: AtomicBool::new(false),
                    synced: Mutex::new(Synced {
                        wheel: Wheel::new(),
                        parked_until: None,
                        shutdown: false,
                        fires: FireCount::new(),
                    }),
                }),
            },
        }
    }

    /// Rounds the timers armed from now on to precise mode's finer grid (`true`: at most
    /// 1/256 of the time a timer has left, so a 1 ms sleep fires at most 1 µs late from
    /// coalescing) or to the default one (`false`: at most a quarter of the time left, less
    /// for timers under 4,096 µs); see "Coalescing" in the crate docs. For an owner that spins
    /// up to its deadlines, where a coarse grid would be lateness the spin cannot remove. The
    /// busy floor applies either way.
    ///
    /// ```
    /// use kiln_timer::{Driver, Unpark};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// struct Nop;
    /// impl Unpark for Nop {
    ///     fn unpark(&self) {}
    /// }
    /// let driver = Driver::new(Arc::new(Nop));
    /// driver.set_precise(true);
    /// let handle = driver.handle();
    /// let mut sleep = std::pin::pin!(handle.sleep(Duration::from_millis(1)));
    /// let waker = futures::task::noop_waker();
    /// let mut cx = std::task::Context::from_waker(&waker);
    /// assert!(sleep.as_mut().poll(&mut cx).is_pending());
    /// let fires = driver.next_deadline().unwrap();
    /// assert!(fires >= sleep.deadline());
    /// assert!(fires - sleep.deadline() < Duration::from_micros(3));
    /// # use std::future::Future;
    /// ```
    pub fn set_precise(&self, precise: bool) {
        self.handle.inner.precise.store(precise, Ordering::Relaxed);
    }

    /// A handle for registering timers on this driver.
    pub fn handle(&self) -> TimerHandle {
        self.handle.clone()
    }

    /// The instant at which the owner should next call [`process`](Driver::process), or
    /// `None` when no timer is pending. It is never later than the earliest deadline by more
    /// than the wheel's 1 µs tick (deadlines are rounded up to whole microseconds after the
    /// tick origin) plus its coalescing grid (at most a quarter of the time the timer
    /// had left when it was armed or the driver's busy floor, and at most
    /// 2,048 µs; see "Coalescing" in the crate docs). When many timers share a coarse slot far
    /// ahead it may be earlier:
    /// the start of that slot, where `process` cascades them to finer slots.
    pub fn next_deadline(&self) -> Option<Instant> {
        let inner = &self.handle.inner;
        let synced = inner.synced.lock();
        let tick = inner.park_tick(&synced)?;
        drop(synced);
        inner.tick_instant(tick)
    }

    /// A lower bound on every pending deadline, read without the wheel's lock (`None`: no
    /// timer pending): the due hint (see "The due hint" in the module docs). It can be earlier
    /// than [`next_deadline`](Driver::next_deadline), since a cancelled timer leaves the hint
    /// until the next [`process`](Driver::process), but never later. For a thread that must
    /// not sleep past this driver's timers and must not take the lock to find out: a sibling
    /// worker that takes it contends with the owner, and if the holder is preempted the other
    /// waits for it.
    ///
    /// ```
    /// use kiln_timer::{Driver, Unpark};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// struct Nop;
    /// impl Unpark for Nop {
    ///     fn unpark(&self) {}
    /// }
    /// let driver = Driver::new(Arc::new(Nop));
    /// assert_eq!(driver.deadline_hint(), None);
    /// // A sleep joins the wheel at its first poll.
    /// let mut sleep = std::pin::pin!(driver.handle().sleep(Duration::from_millis(10)));
    /// let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// assert!(std::future::Future::poll(sleep.as_mut(), &mut cx).is_pending());
    /// assert!(driver.deadline_hint().unwrap() <= driver.next_deadline().unwrap());
    /// ```
    pub fn deadline_hint(&self) -> Option<Instant> {
        let inner = &self.handle.inner;
        // Acquire pairs with the Release stores that lower or recompute the hint.
        match inner.hint.load(Ordering::Acquire) {
            u64::MAX => None,
            tick => inner.tick_instant(tick),
        }
    }

    /// Like [`next_deadline`](Driver::next_deadline), and records that the owner parks until
    /// then: a timer registered or reset earlier than that from any thread calls
    /// [`Unpark::unpark`] until [`after_park`](Driver::after_park).
    ///
    /// A busy driver (one that has fired timers at a high rate over the last few
    /// milliseconds, outside precise mode, on the system clock) may return a later instant
    /// than `next_deadline`: the last deadline within its busy slack after the earliest, so
    /// that one wake-up fires both ("The busy slack" in the `coalesce` module; floor and
    /// slack together at most 2,048 µs).
    ///
    /// ```
    /// use kiln_timer::{Driver, Unpark};
    /// use std::future::Future;
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// struct Nop;
    /// impl Unpark for Nop {
    ///     fn unpark(&self) {}
    /// }
    /// let driver = Driver::new(Arc::new(Nop));
    /// let mut sleep = std::pin::pin!(driver.handle().sleep(Duration::from_millis(1)));
    /// let waker = futures::task::noop_waker();
    /// assert!(sleep.as_mut().poll(&mut std::task::Context::from_waker(&waker)).is_pending());
    /// // An idle driver parks until its one timer is due.
    /// let until = driver.before_park().unwrap();
    /// assert_eq!(Some(until), driver.next_deadline());
    /// driver.after_park();
    /// assert_eq!(driver.process_at(until), 1);
    /// ```
    pub fn before_park(&self) -> Option<Instant> {
        let inner = &self.handle.inner;
        let mut synced = inner.synced.lock();
        let tick = inner
            .park_tick(&synced)
            .map(|t| inner.merge_tick(&synced, t));
        synced.parked_until = Some(tick.unwrap_or(u64::MAX));
        drop(synced);
        tick.and_then(|t| inner.tick_instant(t))
    }

    /// The owner is running again: stop unparking it.
    pub fn after_park(&self) {
        self.handle.inner.synced.lock().parked_until = None;
    }

    /// Fires every timer due at the driver's clock now; returns how many fired.
    pub fn process(&self) -> usize {
        self.process_at(self.handle.inner.now())
    }

    /// Fires every timer whose deadline is at or before `now`; returns how many fired.
    ///
    /// Wakers are called after the wheel lock is released. A `now` earlier than one passed
    /// before does nothing. When no timer can be due yet this returns without taking the
    /// wheel's lock, so it is cheap to call often and from idle sibling workers.
    pub fn process_at(&self, now: Instant) -> usize {
        self.handle.inner.process_at(now)
    }

    /// Number of timers pending in the wheel.
    pub fn pending(&self) -> usize {
        self.handle.inner.synced.lock().wheel.len()
    }

    /// Shuts the driver down: every pending timer completes (its task is woken), and every
    /// later sleep on this driver completes on its first poll; a `Timeout` then reports
    /// `Elapsed` unless its future is ready first. Idempotent; also done on drop.
    pub fn shutdown(&self) {
        let inner = &self.handle.inner;
        let mut synced = inner.synced.lock();
        if synced.shutdown {
            return;
        }
        synced.shutdown = true;
        // Release pairs with the Acquire load in `Inner::is_shutdown`.
        inner.shutdown.store(true, Ordering::Release);
        inner.hint.store(u64::MAX, Ordering::Release);
        let mut wakers = WakeList::new();
        loop {
            let mut done = false;
            while !done && !wakers.is_full() {
                match fire_next(&mut synced.wheel, u64::MAX) {
                    Some(Some(waker)) => wakers.push(waker),
                    Some(None) => {}
                    None => done = true,
                }
            }
            drop(synced);
            wakers.wake_all();
            if done {
                return;
            }
            synced = inner.synced.lock();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("pending", &self.pending())
            .field("shutdown", &self.handle.is_shutdown())
            .finish_non_exhaustive()
    }
}
