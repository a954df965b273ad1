//! Coalescing: the grid a timer's fire tick is rounded up to, so that timers due near each
//! other share one wake-up of the driver's owner.
//!
//! # The grid
//! A timer on the system clock fires at its deadline tick rounded *up* (never early) to a
//! multiple of `g`, a power of two microseconds:
//! - at least the largest power of two at most `left / COALESCE_DIV` (a quarter of the time the
//!   timer has left when armed): a lone short timer stays precise, a long one may be late by a
//!   small fraction of its length;
//! - at least the driver's *busy floor* (below), which is 0 unless the driver fires timers at a
//!   high rate;
//! - at most [`COALESCE_MAX`].
//!
//! # The busy floor
//! A driver that fires many timers per millisecond pays one wake-up of its owner per grid
//! cell that holds a deadline; with thousands of short sleeps armed, a grid of a quarter of
//! each sleep's length (128 µs for a 1 ms sleep) wakes it several times per millisecond, each
//! wake-up costing more than the few timers it fires. So the driver counts the timers it fires
//! per window of `2^WINDOW_SHIFT` ticks (4,096 µs; under its lock, in `process`), and from
//! the count `n` of the last whole window derives a floor for the grid: the largest power of
//! two at most `n * FLOOR_PER_FIRE` µs, at most [`FLOOR_MAX`]. A 1 ms ticker (4 fires per
//! window: a 64 µs floor, below its own 128 µs grid) is not affected; 16 fires per millisecond
//! (64 per window) give a 1,024 µs floor, 32 or more the full 2,048 µs, so the owner wakes
//! about once per one or two milliseconds however many timers are due, and a sleep of a few
//! milliseconds is about as late as on tokio (whose 1 ms ticks add up to 1 ms, and whose
//! wake-ups then come late under that load).
//!
//! The floor is published in one atomic ([`FloorWord`]) with the tick until which it holds:
//! the end of the window after the one being counted. A driver that stops firing therefore
//! loses its floor within two windows, even if nothing takes the lock meanwhile, and a timer
//! armed later is precise again. Readers (arming a timer) load it without the lock; a stale
//! value only changes how a timer is rounded, never makes it early.

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// A timer may fire up to `1 / COALESCE_DIV` of its time left late, or by the busy floor.
pub(crate) const COALESCE_DIV: u64 = 4;

/// The coarsest coalescing grid, in ticks (µs): a timer fires at most this much late from
/// coalescing, however far away its deadline (about tokio's 1 ms timer resolution, which
/// rounds every deadline).
pub(crate) const COALESCE_MAX: u64 = 2_048;

/// The coarsest busy floor, in ticks (µs): the grid's own cap.
pub(crate) const FLOOR_MAX: u64 = COALESCE_MAX;

/// Fires are counted per window of `2^WINDOW_SHIFT` ticks (4,096 µs).
const WINDOW_SHIFT: u32 = 12;

/// The busy floor grows by this many ticks per timer fired in the last window.
const FLOOR_PER_FIRE: u64 = 16;

/// `when` rounded up to a multiple of the largest power of two at most the larger of
/// `left / COALESCE_DIV` and `floor`, and at most [`COALESCE_MAX`] (unchanged when that is
/// below 2). Timers whose deadlines fall in one grid cell fire together, in one wake-up of the
/// owner, and never early.
pub(crate) fn coalesce(when: u64, left: u64, floor: u64) -> u64 {
    let g = (left / COALESCE_DIV).max(floor).min(COALESCE_MAX);
    if g < 2 {
        return when;
    }
    let g = 1u64 << (63 - g.leading_zeros());
    when.div_ceil(g).saturating_mul(g)
}

/// The busy floor with the tick until which it holds, in one atomic: `until << 4 | log2`
/// (0: no floor). Written under the driver's lock (by [`FireCount::record`]'s caller), read
/// without it.
pub(crate) struct FloorWord(AtomicU64);

impl FloorWord {
    pub(crate) fn new() -> FloorWord {
        FloorWord(AtomicU64::new(0))
    }

    /// The floor in ticks at tick `now` (0 when none holds).
    pub(crate) fn at(&self, now: u64) -> u64 {
        // Relaxed: a heuristic; any value read only changes the rounding of a timer.
        let word = self.0.load(Ordering::Relaxed);
        let log2 = word & 15;
        if log2 == 0 || now >= word >> 4 {
            0
        } else {
            1 << log2
        }
    }

    fn publish(&self, floor: u64, until: u64) {
        let word = if floor < 2 {
            0
        } else {
            // `floor` is a power of two at most `FLOOR_MAX` (2^11): its log2 fits 4 bits;
            // `until` is a tick, far below 2^60 (36,000 years of microseconds).
            (until.min(u64::MAX >> 4) << 4) | u64::from(63 - floor.leading_zeros())
        };
        self.0.store(word, Ordering::Relaxed);
    }
}

/// Timers fired per window, kept under the driver's lock.
pub(crate) struct FireCount {
    /// The window being counted (tick >> `WINDOW_SHIFT`).
    window: u64,
    /// Timers fired in it so far.
    count: u64,
}

impl FireCount {
    pub(crate) fn new() -> FireCount {
        FireCount {
            window: 0,
            count: 0,
        }
    }

    /// Counts `fired` timers at tick `now`; when that starts a new window, publishes the
    /// floor the window just closed gives (0 if it was not the one right before: the windows
    /// in between saw no fires, or `process` would have taken the lock in them). Call with
    /// the lock held.
    pub(crate) fn record(&mut self, now: u64, fired: usize, floor: &FloorWord) {
        let window = now >> WINDOW_SHIFT;
        if window > self.window {
            let closed = if window == self.window + 1 {
                self.count
            } else {
                0
            };
            self.window = window;
            self.count = 0;
            let f = closed.saturating_mul(FLOOR_PER_FIRE).min(FLOOR_MAX);
            let f = if f < 2 {
                0
            } else {
                1 << (63 - f.leading_zeros())
            };
            floor.publish(f, (window + 2) << WINDOW_SHIFT);
        }
        self.count += fired as u64;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{coalesce, FireCount, FloorWord, COALESCE_MAX, FLOOR_MAX};

    #[test]
    fn rounds_up_to_a_quarter_of_the_time_left_at_most_2048_us() {
        // Under 8 µs left: exact.
        assert_eq!(coalesce(1_000_007, 7, 0), 1_000_007);
        // 1 ms left: a 128 µs grid (the largest power of two at most 250).
        assert_eq!(coalesce(1_000_001, 1_000, 0), 1_000_064);
        assert_eq!(coalesce(1_000_064, 1_000, 0), 1_000_064);
        // 5 ms left: 1,024 µs.
        assert_eq!(coalesce(5_000_001, 5_000, 0), 5_000_192);
        // Far away: the 2,048 µs cap.
        let when = 123_456_789;
        let fired = coalesce(when, 10_000_000, 0);
        assert!(fired >= when && fired - when < COALESCE_MAX);
        assert_eq!(fired % COALESCE_MAX, 0);
        // Never overflows.
        assert!(coalesce(u64::MAX - 3, u64::MAX, 0) >= u64::MAX - 3);
    }

    #[test]
    fn nearby_deadlines_share_a_grid_point() {
        let a = coalesce(10_000_100, 8_000, 0);
        let b = coalesce(10_000_380, 8_000, 0);
        assert_eq!(a, b);
    }

    #[test]
    fn the_floor_coarsens_short_timers_only_up_to_the_cap() {
        // A 1 ms sleep on a busy driver: a 1,024 µs floor instead of 128 µs, or the cap.
        assert_eq!(coalesce(1_000_001, 1_000, 1_024), 1_000_448);
        assert_eq!(coalesce(1_000_001, 1_000, FLOOR_MAX), 1_001_472);
        // A floor below the quarter rule changes nothing.
        assert_eq!(coalesce(5_000_001, 5_000, 64), 5_000_192);
        // Never past the cap.
        assert_eq!(coalesce(1_000_001, 1_000, 1 << 20) % COALESCE_MAX, 0);
    }

    #[test]
    fn the_floor_follows_the_last_whole_window_and_expires() {
        let floor = FloorWord::new();
        let mut count = FireCount::new();
        let w = 4_096;
        // Window 10: 4 fires (a 1 ms ticker): a 64 µs floor in window 11.
        count.record(10 * w, 4, &floor);
        count.record(11 * w, 0, &floor);
        assert_eq!(floor.at(11 * w + 5), 64);
        // Window 11: 100 fires: 1,024 µs (the largest power of two at most 1,600) in window 12.
        count.record(11 * w + 1, 100, &floor);
        count.record(12 * w, 1, &floor);
        assert_eq!(floor.at(12 * w + 1), 1_024);
        // Held until the end of window 13, then gone even with no further record.
        assert_eq!(floor.at(13 * w + 7), 1_024);
        assert_eq!(floor.at(14 * w), 0);
        // A gap of whole windows without fires: no floor.
        count.record(20 * w, 1, &floor);
        assert_eq!(floor.at(20 * w + 1), 0);
        // An earlier `now` (a sibling's older reading) counts in the current window.
        count.record(19 * w, 200, &floor);
        count.record(21 * w, 0, &floor);
        assert_eq!(floor.at(21 * w), FLOOR_MAX);
    }
}
