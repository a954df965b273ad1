//! The driver's time source: the system's monotonic clock, or a manually advanced one.
//!
//! The manual clock is the test seam for everything that reads "now" (a sleep's due check at
//! registration, an interval's missed-tick decision, [`Driver::process`](crate::Driver::process)).

use crate::loom::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};
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

/// The system's monotonic clock until paused: the clock of a runtime that supports
/// `kiln::time::pause`. Cloning gives another handle to the same clock.
///
/// Readings never go backwards. While paused the clock reads a fixed instant that moves only
/// by [`advance`](PausableClock::advance) (or [`advance_to`](PausableClock::advance_to), what
/// a runtime's auto-advance uses); once resumed it runs on at the system clock's rate from
/// where it stood. Until it is first paused a reading is exactly `Instant::now()`, one atomic
/// load dearer.
///
/// A paused reading is always a whole number of microseconds (the timer's tick) after the
/// clock's creation: pausing and advancing round up to that grid, by less than 1 µs, so a
/// sleep of whole microseconds is due exactly when the clock reaches its deadline.
///
/// ```
/// use kiln_timer::PausableClock;
/// use std::time::Duration;
///
/// let clock = PausableClock::new(false);
/// clock.pause();
/// let t = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(clock.now(), t + Duration::from_secs(3600));
/// clock.resume();
/// assert!(clock.now() >= t + Duration::from_secs(3600));
/// ```
#[derive(Clone)]
pub struct PausableClock {
    inner: Arc<PausableInner>,
}

struct PausableInner {
    /// The creation instant: the origin of the microsecond grid, and of the timer's ticks.
    epoch: Instant,
    /// Set (once, under `state`'s lock) by the first `pause`; until then `now` is the system
    /// clock. Acquire/Release pair the flag with the `state` written before it.
    virtualized: AtomicBool,
    state: Mutex<PausableState>,
}

struct PausableState {
    paused: bool,
    /// The reading at the last pause, resume or advance.
    base: Instant,
    /// The system clock when `base` was taken (used only while running).
    base_real: Instant,
}

impl PausableClock {
    /// A clock that reads the system clock, paused from the start if `paused`.
    pub fn new(paused: bool) -> PausableClock {
        let now = Instant::now();
        PausableClock {
            inner: Arc::new(PausableInner {
                epoch: now,
                virtualized: AtomicBool::new(paused),
                state: Mutex::new(PausableState {
                    paused,
                    base: now,
                    base_real: now,
                }),
            }),
        }
    }

    /// The clock's current reading.
    pub fn now(&self) -> Instant {
        if !self.inner.virtualized.load(Ordering::Acquire) {
            return Instant::now();
        }
        let state = self.inner.state.lock();
        state.reading()
    }

    /// Whether the clock was ever paused, so that its readings may differ from the system
    /// clock's (by the time it was paused or advanced).
    pub fn is_shifted(&self) -> bool {
        self.inner.virtualized.load(Ordering::Acquire)
    }

    /// Whether the clock is paused.
    pub fn is_paused(&self) -> bool {
        // Never paused: no lock (the runtime asks on every idle park).
        self.inner.virtualized.load(Ordering::Acquire) && self.inner.state.lock().paused
    }

    /// Stops the clock at its current reading.
    ///
    /// # Panics
    /// If the clock is already paused.
    pub fn pause(&self) {
        let mut state = self.inner.state.lock();
        assert!(
            !state.paused,
            "kiln::time::pause: the clock is already paused"
        );
        state.base = self.align_up(state.reading());
        state.paused = true;
        self.inner.virtualized.store(true, Ordering::Release);
    }

    /// Lets the clock run again from its current reading.
    ///
    /// # Panics
    /// If the clock is not paused.
    pub fn resume(&self) {
        let mut state = self.inner.state.lock();
        assert!(state.paused, "kiln::time::resume: the clock is not paused");
        state.base_real = Instant::now();
        state.paused = false;
    }

    /// Moves the paused clock forward by `d`.
    ///
    /// # Panics
    /// If the clock is not paused (pause it first, or build the runtime with
    /// `Builder::start_paused(true)`).
    pub fn advance(&self, d: Duration) {
        let mut state = self.inner.state.lock();
        assert!(
            state.paused,
            "kiln::time::advance: the clock is not paused; call kiln::time::pause() first \
             or build the runtime with Builder::start_paused(true)"
        );
        let t = state.base.checked_add(d).unwrap_or(state.base);
        state.base = self.align_up(t);
    }

    /// Moves the paused clock forward to `t`; does nothing if it already reads `t` or later,
    /// or if it is not paused. Returns whether it moved.
    pub fn advance_to(&self, t: Instant) -> bool {
        let mut state = self.inner.state.lock();
        if !state.paused || t <= state.base {
            return false;
        }
        state.base = self.align_up(t);
        true
    }

    /// The instant the clock was created: the origin of its microsecond grid.
    pub(crate) fn epoch(&self) -> Instant {
        self.inner.epoch
    }

    /// `t` rounded up to a whole number of microseconds after the epoch.
    fn align_up(&self, t: Instant) -> Instant {
        let since = t.saturating_duration_since(self.inner.epoch);
        let sub = since.subsec_nanos() % 1_000;
        if sub == 0 {
            return t;
        }
        t.checked_add(Duration::from_nanos(u64::from(1_000 - sub)))
            .unwrap_or(t)
    }
}

impl PausableState {
    fn reading(&self) -> Instant {
        if self.paused {
            self.base
        } else {
            self.base + self.base_real.elapsed()
        }
    }
}

impl std::fmt::Debug for PausableClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PausableClock")
            .field("now", &self.now())
            .field("paused", &self.is_paused())
            .finish()
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Clock {
    System,
    Manual(ManualClock),
    Pausable(PausableClock),
}

impl Clock {
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::System => Instant::now(),
            Clock::Manual(c) => c.now(),
            Clock::Pausable(c) => c.now(),
        }
    }

    /// The pausable clock, if this is one.
    pub(crate) fn pausable(&self) -> Option<&PausableClock> {
        match self {
            Clock::Pausable(c) => Some(c),
            _ => None,
        }
    }

    /// The instant the timer's ticks count from. On the system clock it is one instant for
    /// the whole process (the first driver's creation), so every driver's coalescing grid
    /// (multiples of a power of two ticks) has the same points: the workers of a runtime
    /// that fire many timers wake at the same instants, and a worker's wake-up that hands
    /// tasks to a sibling finds it awake for its own timers instead of waking it between
    /// them.
    pub(crate) fn origin(&self) -> Instant {
        static SYSTEM_ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        match self {
            Clock::Pausable(c) => c.epoch(),
            Clock::System => *SYSTEM_ORIGIN.get_or_init(Instant::now),
            Clock::Manual(c) => c.now(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::PausableClock;
    use std::time::Duration;

    #[test]
    fn paused_readings_stay_on_the_microsecond_grid_and_never_go_back() {
        let clock = PausableClock::new(false);
        assert!(!clock.is_paused() && !clock.is_shifted());
        std::thread::sleep(Duration::from_micros(50));
        clock.pause();
        let t = clock.now();
        assert_eq!(clock.now(), t, "paused");
        assert_eq!(t.duration_since(clock.epoch()).subsec_nanos() % 1_000, 0);
        clock.advance(Duration::from_nanos(1_500));
        assert_eq!(
            clock.now(),
            t + Duration::from_micros(2),
            "rounded up to the grid"
        );
        assert!(!clock.advance_to(t), "never backwards");
        assert!(clock.advance_to(t + Duration::from_secs(5)));
        assert_eq!(clock.now(), t + Duration::from_secs(5));
        clock.resume();
        assert!(clock.is_shifted() && !clock.is_paused());
        assert!(clock.now() >= t + Duration::from_secs(5));
        assert!(
            !clock.advance_to(t + Duration::from_secs(9)),
            "running: no jump"
        );
    }

    #[test]
    #[should_panic(expected = "already paused")]
    fn pausing_twice_panics() {
        let clock = PausableClock::new(true);
        clock.pause();
    }

    #[test]
    #[should_panic(expected = "not paused")]
    fn resuming_a_running_clock_panics() {
        PausableClock::new(false).resume();
    }
}
