//! Waking from the timer driver: [`Unpark`], which wakes the worker that owns a driver out of
//! its park, and the wakers of fired timers, which the driver collects under its lock into a
//! [`WakeList`] and wakes after releasing it ([`wake_contained`] keeps a panicking waker from
//! unwinding out of the firing thread's event loop).

use std::task::Waker;
use std::time::Instant;

/// Wakes the worker that owns a [`Driver`](crate::Driver) out of its park.
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

    /// Makes the owner's current park end by `at` at the latest *without* waking it now (for
    /// example by arming a kernel timer its park also waits on); returns whether it did. The
    /// driver calls this, with its lock held, when a timer armed from another thread is due
    /// before the parked owner's deadline, and calls [`unpark`](Unpark::unpark) instead when
    /// it returns `false` (the default). It must not call into the driver. After `true`, a
    /// park the owner had not yet begun must still end by `at`.
    ///
    /// ```
    /// use kiln_timer::Unpark;
    /// use std::time::Instant;
    ///
    /// struct Nop;
    /// impl Unpark for Nop {
    ///     fn unpark(&self) {}
    /// }
    /// assert!(!Nop.unpark_at(Instant::now()));
    /// ```
    fn unpark_at(&self, at: Instant) -> bool {
        let _ = at;
        false
    }
}

/// Wakes `waker`, containing a panic of its `wake` (a user's waker is the only code a timer
/// runs): the panic hook has reported it, and the thread firing a batch of timers (often a
/// runtime's worker) goes on with the rest of the batch instead of unwinding out of its event
/// loop.
pub(crate) fn wake_contained(waker: Waker) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake())) {
        // The payload's own destructor may panic too.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
    }
}

/// Wakers collected under the lock and woken after it is released, at most this many at a
/// time (on the stack: firing allocates nothing). Two under loom (`MODEL_CHECKED`), so models
/// reach the lock being released between batches.
pub(crate) const WAKE_BATCH: usize = if crate::loom::MODEL_CHECKED { 2 } else { 32 };

/// Up to [`WAKE_BATCH`] wakers to wake once the lock is released.
pub(crate) struct WakeList {
    wakers: [Option<Waker>; WAKE_BATCH],
    len: usize,
}

impl WakeList {
    pub(crate) fn new() -> WakeList {
        WakeList {
            wakers: std::array::from_fn(|_| None),
            len: 0,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == WAKE_BATCH
    }

    pub(crate) fn push(&mut self, waker: Waker) {
        self.wakers[self.len] = Some(waker);
        self.len += 1;
    }

    /// Wakes (and empties) the list; call without the lock.
    pub(crate) fn wake_all(&mut self) {
        for waker in self.wakers[..self.len].iter_mut() {
            if let Some(waker) = waker.take() {
                wake_contained(waker);
            }
        }
        self.len = 0;
    }
}
