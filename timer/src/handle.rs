//! [`TimerHandle`]: what sleeps capture of their driver, and what other threads use to reach it.

use crate::clock::PausableClock;
use crate::driver::Inner;
use crate::loom::sync::Arc;
use std::fmt;
use std::time::Instant;

/// A cheap, cloneable reference to one [`Driver`](crate::Driver); what sleeps capture. `Send + Sync`.
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

    /// The driver's clock if it can be paused (see [`Driver::with_pausable_clock`](crate::Driver::with_pausable_clock)).
    pub fn pausable_clock(&self) -> Option<&PausableClock> {
        self.inner.clock().pausable()
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
