//! The driver: one timing wheel behind one lock, shared by the worker that owns it and by every
//! thread that registers, resets or cancels a timer on it.
//!
//! # Ownership
//! - [`Driver`] is held by the worker (or current-thread runtime) whose event loop drives it;
//!   dropping it shuts the driver down.
//! - [`TimerHandle`] (cheap clone) is what sleeps capture; any thread may use it.
//! - `Synced` is everything behind the one lock: the wheel, the owner's park record and the
//!   shutdown flag. Every state change of an [`Entry`] happens with that lock held.
//!
//! # Entry protocol
//! An [`Entry`] is shared between the wheel (while pending) and its `Sleep`. Its `state` is
//! a generation number and a `FIRED` bit:
//! - `fire` sets `FIRED` when the entry leaves the wheel to be woken (or is found due when
//!   registered or reset);
//! - `rearm` clears it and bumps the generation when a fired entry is registered again.
//!
//! Both happen under the wheel lock, so a `Sleep` that reads `FIRED` knows its node was
//! released and need not lock to cancel. Waking happens after the wheel lock is released,
//! in batches, and only if the state still equals the fired state recorded at firing: a
//! stale wake must not take the waker that a re-armed registration is relying on.
//!
//! No lost wake-up: the firing thread stores `FIRED` and then takes the waker under the
//! entry's waker lock; a polling thread stores its waker under that same lock and then reads
//! `state`. Whichever takes the waker lock second sees the other's write.
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
use crate::loom::{Arc, AtomicBool, AtomicU64, Mutex, Ordering};
use crate::wheel::{Key, Wheel, TICK_NANOS};
use std::fmt;
use std::task::Waker;
use std::time::{Duration, Instant};

/// Wakes the worker that owns a [`Driver`] out of its park.
///
/// Implemented by the runtime (for a worker with a `polling::Poller`, `unpark` calls
/// `Poller::notify`). It must be *sticky*: an `unpark` that arrives before the owner actually
/// blocks must make that block return immediately.
///
/// ```
/// use kiln_timer::{Driver, Unpark};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// struct Count(AtomicUsize);
/// impl Unpark for Count {
///     fn unpark(&self) {
///         self.0.fetch_add(1, Ordering::SeqCst);
///     }
/// }
/// let driver = Driver::new(Arc::new(Count(AtomicUsize::new(0))));
/// assert_eq!(driver.next_deadline(), None);
/// ```
pub trait Unpark: Send + Sync + 'static {
    /// Wakes the owner if it is parked (or makes its next park return at once).
    fn unpark(&self);
}

/// `state` bit 0: set while the current registration has fired.
const FIRED: u64 = 1;
/// `state` bits 1..: the registration's generation, bumped when a fired entry is re-armed.
const GEN_ONE: u64 = 2;

/// The part of one timer shared by its `Sleep` and, while pending, the wheel.
pub(crate) struct Entry {
    /// Generation and `FIRED` bit; written only with the wheel lock held (see module docs).
    state: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl Entry {
    pub(crate) fn new(waker: Option<Waker>) -> Entry {
        Entry {
            state: AtomicU64::new(0),
            waker: Mutex::new(waker),
        }
    }

    /// Acquire pairs with the Release store in `fire`.
    pub(crate) fn is_fired(&self) -> bool {
        self.state.load(Ordering::Acquire) & FIRED != 0
    }

    /// Marks the current registration fired and returns the state to hand to `wake`.
    /// Called with the wheel lock held.
    fn fire(&self) -> u64 {
        let fired = self.state.load(Ordering::Relaxed) | FIRED;
        // Release pairs with the Acquire load in `is_fired`.
        self.state.store(fired, Ordering::Release);
        fired
    }

    /// Starts a new registration of a fired entry. Called with the wheel lock held.
    fn rearm(&self) {
        let state = self.state.load(Ordering::Relaxed);
        if state & FIRED != 0 {
            self.state
                .store((state & !FIRED).wrapping_add(GEN_ONE), Ordering::Release);
        }
    }

    /// Stores `waker` unless the stored one would wake the same task.
    pub(crate) fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        match &*slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Wakes the stored waker for the registration that fired as `fired`. If the entry was
    /// re-armed since, the stored waker belongs to the new registration and is left alone.
    fn wake(&self, fired: u64) {
        let waker = {
            let mut slot = self.waker.lock();
            // Acquire pairs with the Release store in `rearm`.
            if self.state.load(Ordering::Acquire) == fired {
                slot.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            wake_contained(waker);
        }
    }
}

/// Wakes `waker`, containing a panic of its `wake` (a user's waker is the only code a timer
/// runs): the panic hook has reported it, and the thread firing a batch of timers (often a
/// runtime's worker) goes on with the rest of the batch instead of unwinding out of its event
/// loop.
fn wake_contained(waker: Waker) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake())) {
        // The payload's own destructor may panic too.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
    }
}

/// Whole seconds of `d` in microseconds plus `sub` (its rounded sub-second part), saturating.
fn micros(d: Duration, sub: u32) -> u64 {
    const _: () = assert!(TICK_NANOS == 1_000, "ticks are microseconds");
    d.as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from(sub))
}

/// Outcome of registering or resetting an entry.
pub(crate) enum Registered {
    /// In the wheel under this key.
    Pending(Key),
    /// Already due (or the driver is shut down): the entry has fired (with this state) and
    /// is not in the wheel.
    Due(u64),
}

struct Synced {
    wheel: Wheel<Arc<Entry>>,
    /// `Some(tick)` while the owner is parked until `tick` (`u64::MAX`: no deadline).
    parked_until: Option<u64>,
    shutdown: bool,
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
    synced: Mutex<Synced>,
}

impl Inner {
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        // Acquire pairs with the Release store in `Driver::shutdown`.
        self.shutdown.load(Ordering::Acquire)
    }

    /// The first tick at or after `t` (deadlines round up so they never fire early).
    fn deadline_tick(&self, t: Instant) -> u64 {
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
        let inner = self;
        let now = inner.now_tick(now);
        // Acquire pairs with the Release store in `Inner::lower_hint` and below.
        if inner.hint.load(Ordering::Acquire) > now {
            return 0;
        }
        let mut batch: Vec<(Arc<Entry>, u64)> = Vec::new();
        let mut synced = inner.synced.lock();
        if synced.shutdown {
            return 0;
        }
        let fired = synced.wheel.advance(now, |entry| {
            let fired = entry.fire();
            batch.push((entry, fired));
        });
        let hint = synced.wheel.next_expiration().unwrap_or(u64::MAX);
        // Release pairs with the Acquire load above.
        inner.hint.store(hint, Ordering::Release);
        drop(synced);
        for (entry, fired) in batch {
            entry.wake(fired);
        }
        fired
    }

    /// Registers a new `entry` (not fired, not in the wheel) to fire at `deadline`.
    pub(crate) fn insert(&self, deadline: Instant, entry: &Arc<Entry>) -> Registered {
        let when = self.deadline_tick(deadline);
        let mut synced = self.synced.lock();
        let (result, unpark) = self.link(&mut synced, when, entry);
        drop(synced);
        if unpark {
            self.unpark.unpark();
        }
        result
    }

    /// Moves `entry` (registered earlier under `key`, possibly fired since) to `deadline`.
    /// If the new deadline is already due the entry fires now and its waker is woken.
    pub(crate) fn reset(&self, key: Key, entry: &Arc<Entry>, deadline: Instant) -> Registered {
        let when = self.deadline_tick(deadline);
        let mut synced = self.synced.lock();
        let ours = synced.wheel.get(key).is_some_and(|e| Arc::ptr_eq(e, entry));
        let (result, unpark) = if ours {
            match synced.wheel.reschedule(key, when) {
                Ok(()) => {
                    self.lower_hint(when);
                    (
                        Registered::Pending(key),
                        Self::should_unpark(&mut synced, when),
                    )
                }
                // The wheel's `Arc` is dropped here, under the lock; `entry` still holds one.
                Err(_) => (Registered::Due(entry.fire()), false),
            }
        } else {
            // Fired earlier (or the driver shut down): register afresh.
            entry.rearm();
            self.link(&mut synced, when, entry)
        };
        drop(synced);
        if unpark {
            self.unpark.unpark();
        }
        if let Registered::Due(fired) = result {
            entry.wake(fired);
        }
        result
    }

    fn link(&self, synced: &mut Synced, when: u64, entry: &Arc<Entry>) -> (Registered, bool) {
        if synced.shutdown {
            return (Registered::Due(entry.fire()), false);
        }
        match synced.wheel.insert(when, entry.clone()) {
            Ok(key) => {
                self.lower_hint(when);
                (Registered::Pending(key), Self::should_unpark(synced, when))
            }
            Err(_) => (Registered::Due(entry.fire()), false),
        }
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

    fn should_unpark(synced: &mut Synced, when: u64) -> bool {
        match synced.parked_until {
            Some(until) if when < until => {
                synced.parked_until = None;
                true
            }
            _ => false,
        }
    }

    /// Removes `entry` from the wheel if `key` still names it. O(1).
    pub(crate) fn cancel(&self, key: Key, entry: &Arc<Entry>) {
        let mut synced = self.synced.lock();
        if synced.wheel.get(key).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            let e = synced.wheel.remove(key);
            drop(synced);
            drop(e);
        }
    }
}

/// A cheap, cloneable reference to one [`Driver`]; what sleeps capture. `Send + Sync`.
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
/// let handle = driver.handle();
/// let sleep = handle.sleep(Duration::from_millis(10));
/// assert!(!sleep.is_elapsed());
/// ```
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) inner: Arc<Inner>,
}

impl TimerHandle {
    /// The driver's clock: `Instant::now()`, or the manual clock's reading.
    pub fn now(&self) -> Instant {
        self.inner.now()
    }

    /// Whether the driver has been shut down (sleeps on it then complete at once).
    pub fn is_shutdown(&self) -> bool {
        self.inner.is_shutdown()
    }

    /// The driver's clock if it can be paused (see [`Driver::with_pausable_clock`]).
    pub fn pausable_clock(&self) -> Option<&PausableClock> {
        match &self.inner.clock {
            Clock::Pausable(c) => Some(c),
            _ => None,
        }
    }

    /// Whether both handles refer to the same driver.
    pub fn same_driver(&self, other: &TimerHandle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("shutdown", &self.is_shutdown())
            .finish_non_exhaustive()
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
/// let mut sleep = handle.sleep(Duration::from_millis(1));
/// let waker = futures::task::noop_waker();
/// let mut cx = std::task::Context::from_waker(&waker);
/// assert!(std::pin::Pin::new(&mut sleep).poll(&mut cx).is_pending());
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
    /// let mut sleep = handle.sleep(Duration::from_secs(3600));
    /// let waker = futures::task::noop_waker();
    /// let mut cx = std::task::Context::from_waker(&waker);
    /// assert!(std::pin::Pin::new(&mut sleep).poll(&mut cx).is_pending()); // registers
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
                    synced: Mutex::new(Synced {
                        wheel: Wheel::new(),
                        parked_until: None,
                        shutdown: false,
                    }),
                }),
            },
        }
    }

    /// A handle for registering timers on this driver.
    pub fn handle(&self) -> TimerHandle {
        self.handle.clone()
    }

    /// The instant at which the owner should next call [`process`](Driver::process), or
    /// `None` when no timer is pending. It is never later than the earliest deadline by more
    /// than the wheel's 1 µs tick (deadlines are rounded up to whole microseconds after the
    /// driver's creation). When many timers share a coarse slot far ahead it may be earlier:
    /// the start of that slot, where `process` cascades them to finer slots.
    pub fn next_deadline(&self) -> Option<Instant> {
        let inner = &self.handle.inner;
        let synced = inner.synced.lock();
        let tick = inner.park_tick(&synced)?;
        drop(synced);
        inner.tick_instant(tick)
    }

    /// Like [`next_deadline`](Driver::next_deadline), and records that the owner parks until
    /// then: a timer registered or reset earlier than that from any thread calls
    /// [`Unpark::unpark`] until [`after_park`](Driver::after_park).
    pub fn before_park(&self) -> Option<Instant> {
        let inner = &self.handle.inner;
        let mut synced = inner.synced.lock();
        let tick = inner.park_tick(&synced);
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
        let mut batch: Vec<(Arc<Entry>, u64)> = Vec::new();
        let mut synced = inner.synced.lock();
        if synced.shutdown {
            return;
        }
        synced.shutdown = true;
        // Release pairs with the Acquire load in `Inner::is_shutdown`.
        inner.shutdown.store(true, Ordering::Release);
        inner.hint.store(u64::MAX, Ordering::Release);
        synced.wheel.drain(|entry| {
            let fired = entry.fire();
            batch.push((entry, fired));
        });
        drop(synced);
        for (entry, fired) in batch {
            entry.wake(fired);
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
