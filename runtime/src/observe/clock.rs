//! The fine clock of sampled polls: the stamps behind the poll-time and schedule-latency
//! histograms.
//!
//! A stamp is a [`Ticks`] value, never 0 (0 means "not recorded"), and only differences of two
//! stamps mean anything: [`FineClock::ns`] turns one into nanoseconds.
//! - With an invariant time-stamp counter (`sys::tsc`) a stamp is the counter, a read of a
//!   few nanoseconds where `clock_gettime` costs tens (each sampled poll takes three stamps:
//!   its wake, its start and its end). The counter's rate is measured once per process
//!   against the OS clock over about a millisecond ([`base`]), and each runtime's watchdog
//!   refines it on every tick over the time since the runtime started
//!   ([`FineClock::calibrate`]), so the error shrinks as the runtime runs.
//! - Without one, a stamp is [`now_ns`] and the rate is exactly 1.
//!
//! The rate is a 32.32 fixed-point count of nanoseconds per tick in a Relaxed atomic: a
//! reader may convert with the previous estimate, which differs from the next by a tiny
//! fraction and only scales one measured duration.

use super::now_ns;
use crate::loom::sync::atomic::{AtomicU64, Ordering::Relaxed};
use crate::sys::tsc;
use std::sync::OnceLock;
use std::time::Duration;

/// A fine-clock stamp (see the module docs).
pub(crate) type Ticks = u64;

/// One nanosecond per tick, in 32.32 fixed point.
const ONE: u64 = 1 << 32;

/// The process-wide choice of clock and the first estimate of its rate.
struct Base {
    tsc: bool,
    /// Nanoseconds per tick, 32.32 fixed point.
    rate: u64,
}

/// Reads the counter and the OS clock together: the counter value is the midpoint of the
/// tightest of a few bracketing pairs, so a preemption between the two reads is discarded.
fn pair() -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..5 {
        let a = tsc::read();
        let ns = now_ns();
        let b = tsc::read();
        let width = b.wrapping_sub(a);
        if width < best.0 {
            best = (width, a + width / 2, ns);
        }
    }
    (best.1, best.2)
}

/// `(ns1 - ns0) / (t1 - t0)` in 32.32 fixed point, if the counter advanced at a plausible
/// rate (between 0.01 and 100 ns per tick, i.e. 10 MHz to 100 GHz).
fn rate_between(t0: u64, ns0: u64, t1: u64, ns1: u64) -> Option<u64> {
    let (dt, dns) = (t1.checked_sub(t0)?, ns1.checked_sub(ns0)?);
    if dt == 0 {
        return None;
    }
    let rate = ((u128::from(dns) << 32) / u128::from(dt)) as u64;
    (ONE / 100..=ONE * 100).contains(&rate).then_some(rate)
}

static BASE: OnceLock<Base> = OnceLock::new();

#[cold]
fn base() -> &'static Base {
    BASE.get_or_init(|| {
        if tsc::invariant() {
            let (t0, ns0) = pair();
            std::thread::sleep(Duration::from_millis(1));
            let (t1, ns1) = pair();
            if let Some(rate) = rate_between(t0, ns0, t1, ns1) {
                return Base { tsc: true, rate };
            }
        }
        Base {
            tsc: false,
            rate: ONE,
        }
    })
}

/// A stamp from any thread, without a runtime's [`FineClock`] at hand (the same clock).
#[inline]
pub(crate) fn stamp() -> Ticks {
    let base = match BASE.get() {
        Some(base) => base,
        None => base(),
    };
    if base.tsc {
        tsc::read().max(1)
    } else {
        now_ns()
    }
}

/// One runtime's fine clock (see the module docs).
pub(crate) struct FineClock {
    tsc: bool,
    /// The counter and the OS clock when the runtime started (the refinement's baseline).
    origin: (u64, u64),
    /// Nanoseconds per tick, 32.32 fixed point.
    rate: AtomicU64,
}

impl FineClock {
    /// The clock of a runtime that times polls if `used` (otherwise an inert one that costs
    /// no calibration).
    pub(crate) fn new(used: bool) -> FineClock {
        if !used {
            return FineClock {
                tsc: false,
                origin: (0, 0),
                rate: AtomicU64::new(ONE),
            };
        }
        let base = base();
        let origin = if base.tsc { pair() } else { (0, 0) };
        FineClock {
            tsc: base.tsc,
            origin,
            rate: AtomicU64::new(base.rate),
        }
    }

    /// A stamp, never 0.
    #[inline]
    pub(crate) fn now(&self) -> Ticks {
        if self.tsc {
            tsc::read().max(1)
        } else {
            now_ns()
        }
    }

    /// The nanoseconds between two stamps `from` and `to` (0 if `to` is earlier).
    #[inline]
    pub(crate) fn ns(&self, from: Ticks, to: Ticks) -> u64 {
        let d = to.saturating_sub(from);
        ((u128::from(d) * u128::from(self.rate.load(Relaxed))) >> 32) as u64
    }

    /// Refines the counter's rate over the time since the runtime started (the watchdog
    /// calls this on every tick). Does nothing without a counter or before 10 ms have passed.
    pub(crate) fn calibrate(&self) {
        if !self.tsc {
            return;
        }
        let (t, ns) = pair();
        let (t0, ns0) = self.origin;
        if ns.saturating_sub(ns0) < 10_000_000 {
            return;
        }
        if let Some(rate) = rate_between(t0, ns0, t, ns) {
            self.rate.store(rate, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_measure_a_sleep() {
        let clock = FineClock::new(true);
        let a = clock.now();
        std::thread::sleep(Duration::from_millis(20));
        let b = clock.now();
        let ns = clock.ns(a, b);
        // The sleep lasts at least 20 ms; the bounds only guard against a rate that is off by
        // a large factor (a loaded machine may oversleep by a lot).
        assert!(ns >= 10_000_000, "measured {ns} ns for a 20 ms sleep");
        assert!(ns < 20_000_000_000, "measured {ns} ns for a 20 ms sleep");
        assert_eq!(clock.ns(b, a), 0, "a later `from` is clamped to zero");
        clock.calibrate();
        assert!(clock.ns(a, b) >= 10_000_000);
        let c = stamp();
        assert!(c >= b, "`stamp` reads the same clock as `FineClock::now`");
    }

    #[test]
    fn rate_between_rejects_implausible_counters() {
        assert_eq!(rate_between(0, 0, 1_000, 1_000), Some(ONE));
        assert_eq!(rate_between(0, 0, 0, 1_000), None);
        assert_eq!(rate_between(5, 0, 4, 1_000), None);
        assert_eq!(rate_between(0, 0, 1, 1_000_000), None);
    }
}
