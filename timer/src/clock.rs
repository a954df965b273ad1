//! The driver's time source: the system's monotonic clock, or a manually advanced one.
//!
//! The manual clock is the test seam for everything that reads "now" (a sleep's due check at
//! registration, an interval's missed-tick decision, [`Driver::process`](crate::Driver::process)).

use crate::loom::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A clock that only moves when told to; share it with a driver built by
/// [`Driver::with_manual_clock`](crate::Driver::with_manual_clock).
///
/// Cloning gives another handle to the same clock.
///
/// ```
/// use kiln_timer::ManualClock;
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let clock = ManualClock::new(start);
/// clock.advance(Duration::from_millis(5));
/// assert_eq!(clock.now(), start + Duration::from_millis(5));
/// ```
#[derive(Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Instant>>,
}

impl ManualClock {
    /// A clock that reads `start` until advanced.
    pub fn new(start: Instant) -> ManualClock {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// The clock's current reading.
    pub fn now(&self) -> Instant {
        *self.now.lock()
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut now = self.now.lock();
        *now += d;
    }

    /// Sets the clock to `t`.
    ///
    /// # Panics
    /// If `t` is earlier than the current reading: the clock is monotonic.
    pub fn set(&self, t: Instant) {
        let mut now = self.now.lock();
        assert!(t >= *now, "ManualClock::set: the clock cannot go backwards");
        *now = t;
    }
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualClock")
            .field("now", &self.now())
            .finish()
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Clock {
    System,
    Manual(ManualClock),
}

impl Clock {
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Manual(c) => c.now(),
        }
    }
}
