//! Coalescing: the grid a timer's fire tick is rounded up to, so that timers due near each
//! other share one wake-up of the driver's owner.
//!
//! # The grid
//! A timer on the system clock fires at its deadline tick rounded *up* (never early) to a
//! multiple of `g`, a power of two microseconds, the largest at most the coarser of:
//! - its *length grid*, from the time `left` it has when armed: a quarter of it
//!   ([`COALESCE_DIV`]) from [`SHORT`] (4,096 µs) up, and below that a quarter scaled down by
//!   `left / SHORT` (`left² / 16,384 µs`: a 1 ms timer at most 31 µs late, 2 ms 127 µs,
//!   continuous at 4,096 µs), so that a lone short timer stays close to precise while a long
//!   one may be late by a small fraction of its length. In *precise mode* (the runtime spins
//!   before deadlines, `Driver::set_precise`) it is `left / PRECISE_DIV` at every length (a
//!   1 ms timer 1 µs late at most, 0.5 s 1,023 µs);
//! - the driver's *busy floor* (below), which is 0 unless the driver fires timers at a
//!   high rate;
//!
//! and at most [`COALESCE_MAX`].
//!
//! A short timer firing alone costs one wake-up whatever its grid; the grid only saves
//! wake-ups where timers are many, and there the busy floor takes over. So the length grid of
//! short timers can be fine without costing CPU time.
//!
//! # The busy floor
//! A driver that fires many timers per millisecond pays one wake-up of its owner per grid
//! cell that holds a deadline; with thousands of short sleeps armed, a fine grid wakes it
//! several times per millisecond, each wake-up costing more than the few timers it fires. So
//! the driver counts the timers it fires per window of `2^WINDOW_SHIFT` ticks (4,096 µs;
//! under its lock, in `process`), and from the count `n` of the last whole window derives a
//! floor for the grid: the largest power of two at most `n²` µs, at most
//! [`FLOOR_MAX`], and none below [`FLOOR_MIN`] (so few fires save no wake-up worth delaying
//! a timer for): a 1 ms ticker (4 or 5 fires per window) has none, in precise mode too (its
//! 2 µs length grid holds); 6 fires per window give a 32 µs floor, 4 per millisecond (16 per
//! window) 256 µs, 8 per millisecond 1,024 µs, 12 or more the full 2,048 µs. A grid cell of
//! `f` µs holds the deadlines of about `n · f / 4,096` fires, so from about 6 fires per
//! millisecond (24 per window: 8 cells of 512 µs) the owner wakes for the timers about once
//! or twice per millisecond however many are due, and a sleep of a few milliseconds is about
//! as late as on tokio (whose 1 ms ticks add up to 1 ms, and whose wake-ups then come late
//! under that load). A 1 ms-sleep HTTP route serving 25,000 requests/s on two workers fires
//! about 50 timers per window on each: the floor there was 512 µs when it was `n² / 4`, and is
//! the full 2,048 µs with `n²`. Measured, its CPU per request went from 1.14–1.18× tokio's to
//! 0.94–1.03×, and its median latency from 0.57× tokio's to 0.73×.
//!
//! # The busy slack
//! The grid merges deadlines only where they fall in one cell. Timers due a few hundred
//! microseconds apart, such as several 1 ms tickers a fraction of a millisecond out of step,
//! fall in different cells of any grid finer than their spacing and cost one wake-up each,
//! where tokio's 1 ms tick fires them all at once. So a busy driver (one with a floor) also
//! has a *slack*: `16 · n²` µs, less the floor, the two together at most [`FLOOR_MAX`] (8
//! fires per window give 960 µs, 16 give 1,792). When its owner parks, it parks past the
//! earliest fire tick to the last fire tick within the slack at which another timer is due
//! (`Wheel::latest_due_by`), and fires them all in one wake-up; with nothing else due within
//! the slack it parks until the earliest fire tick, as without one. So the slack delays a
//! timer only to save a wake-up: two tickers in step are not delayed, a lone 1 ms ticker has
//! neither floor nor slack, and neither does precise mode. A timer then fires at most its
//! grid plus the slack late. Only the owner reads the slack (under the lock, when it parks);
//! a sibling or busy owner that calls `process` before then fires the earliest timers on
//! time. Measured: four 1 ms tickers a quarter of a millisecond apart on two workers cost
//! 1.1–1.5× tokio's CPU time with a lateness p99 of 0.7–1.05 ms (tokio's: 1.9 ms), against
//! 2.2–2.5× and 0.3 ms without the slack; each worker still wakes for its own tickers.
//!
//! The floor is published in one atomic ([`FloorWord`]) with the tick until which it holds:
//! the end of the window after the one being counted. A driver that stops firing therefore
//! loses its floor within two windows, even if nothing takes the lock meanwhile, and a timer
//! armed later is precise again. Readers (arming a timer) load it without the lock; a stale
//! value only changes how a timer is rounded, never makes it early.

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// A timer of [`SHORT`] or more may fire up to `1 / COALESCE_DIV` of its time left late, or
/// by the busy floor.
pub(crate) const COALESCE_DIV: u64 = 4;

/// Below this many ticks left (4,096 µs) the length grid shrinks with the square of the time
/// left (see the module docs).
pub(crate) const SHORT: u64 = 4_096;

/// In precise mode a timer may fire up to `1 / PRECISE_DIV` of its time left late (or by the
/// busy floor).
pub(crate) const PRECISE_DIV: u64 = 256;

/// The coarsest coalescing grid, in ticks (µs): a timer fires at most this much late from
/// coalescing, however far away its deadline (about tokio's 1 ms timer resolution, which
/// rounds every deadline).
pub(crate) const COALESCE_MAX: u64 = 2_048;

/// The coarsest busy floor, in ticks (µs): the grid's own cap.
pub(crate) const FLOOR_MAX: u64 = COALESCE_MAX;

/// Fires are counted per window of `2^WINDOW_SHIFT` ticks (4,096 µs).
const WINDOW_SHIFT: u32 = 12;

/// The finest busy floor, in ticks (µs): a smaller one is none (6 fires per window or more
/// give one; a 1 ms ticker's 4 or 5 do not).
const FLOOR_MIN: u64 = 32;

/// The length grid of a timer with `left` ticks to go (before rounding to a power of two; see
/// the module docs).
fn length_grid(left: u64, precise: bool) -> u64 {
    if precise {
        left / PRECISE_DIV
    } else if left >= SHORT {
        left / COALESCE_DIV
    } else {
        // `left < 2^12`: no overflow.
        left * left / (COALESCE_DIV * SHORT)
    }
}

/// `when` rounded up to a multiple of the largest power of two at most the larger of the
/// length grid of `left` (`precise`: precise mode's) and `floor`, and at most
/// [`COALESCE_MAX`] (unchanged when that is below 2). Timers whose deadlines fall in one grid
/// cell fire together, in one wake-up of the owner, and never early.
pub(crate) fn coalesce(when: u64, left: u64, floor: u64, precise: bool) -> u64 {
    let g = length_grid(left, precise).max(floor).min(COALESCE_MAX);
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

/// The busy slack grows as `SLACK_MUL · n²` µs for `n` fires per window (less the floor, at
/// most [`FLOOR_MAX`] with it): 8 fires per window (two 1 ms tickers) give 960 µs.
const SLACK_MUL: u64 = 16;

/// Timers fired per window, kept under the driver's lock, and the busy slack they give.
pub(crate) struct FireCount {
    /// The window being counted (tick >> `WINDOW_SHIFT`).
    window: u64,
    /// Timers fired in it so far.
    count: u64,
    /// The busy slack in ticks (0: none), valid before tick `slack_until`.
    slack: u64,
    slack_until: u64,
}

impl FireCount {
    pub(crate) fn new() -> FireCount {
        FireCount {
            window: 0,
            count: 0,
            slack: 0,
            slack_until: 0,
        }
    }

    /// The busy slack at tick `now` (see "The busy slack" in the module docs): how far past
    /// its earliest fire tick the owner may park to fire the timers due in between together.
    pub(crate) fn slack(&self, now: u64) -> u64 {
        if now < self.slack_until {
            self.slack
        } else {
            0
        }
    }

    /// As if `per_window` timers had fired in the window before the one holding `now`.
    #[cfg(test)]
    pub(crate) fn seed(&mut self, now: u64, per_window: u64, floor: &FloorWord) {
        let window = now >> WINDOW_SHIFT;
        self.window = window;
        self.count = 0;
        self.close(per_window, window, floor);
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
            self.close(closed, window, floor);
        }
        self.count += fired as u64;
    }

    /// A window closed with `closed` fires as `window` began: publishes the floor and sets
    /// the slack that count gives, both until the end of the window after `window`.
    fn close(&mut self, closed: u64, window: u64, floor: &FloorWord) {
        let f = closed.saturating_mul(closed).min(FLOOR_MAX);
        let f = if f < FLOOR_MIN {
            0
        } else {
            1 << (63 - f.leading_zeros())
        };
        let until = (window + 2) << WINDOW_SHIFT;
        floor.publish(f, until);
        // Busy only where there is a floor; floor and slack together at most `FLOOR_MAX`.
        self.slack = if f == 0 {
            0
        } else {
            closed
                .saturating_mul(closed)
                .saturating_mul(SLACK_MUL)
                .min(FLOOR_MAX)
                .saturating_sub(f)
        };
        self.slack_until = until;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{coalesce, FireCount, FloorWord, COALESCE_MAX, FLOOR_MAX};

    #[test]
    fn rounds_up_to_a_quarter_of_the_time_left_at_most_2048_us() {
        // Under 8 µs left: exact.
        assert_eq!(coalesce(1_000_007, 7, 0, false), 1_000_007);
        // 5 ms left: 1,024 µs (the largest power of two at most 1,250).
        assert_eq!(coalesce(5_000_001, 5_000, 0, false), 5_000_192);
        assert_eq!(coalesce(5_000_192, 5_000, 0, false), 5_000_192);
        // Far away: the 2,048 µs cap.
        let when = 123_456_789;
        let fired = coalesce(when, 10_000_000, 0, false);
        assert!(fired >= when && fired - when < COALESCE_MAX);
        assert_eq!(fired % COALESCE_MAX, 0);
        // Never overflows.
        assert!(coalesce(u64::MAX - 3, u64::MAX, 0, false) >= u64::MAX - 3);
        assert!(coalesce(u64::MAX - 3, u64::MAX, 0, true) >= u64::MAX - 3);
    }

    #[test]
    fn short_timers_get_a_grid_that_shrinks_with_the_square_of_their_length() {
        // 1 ms left: 32 µs (the largest power of two at most 1,000² / 16,384 = 61).
        assert_eq!(coalesce(1_000_001, 1_000, 0, false), 1_000_032);
        assert_eq!(coalesce(1_000_032, 1_000, 0, false), 1_000_032);
        // 2 ms left: 128 µs (at most 244).
        assert_eq!(coalesce(2_000_001, 2_000, 0, false), 2_000_128);
        // Continuous at 4,096 µs: a quarter (1,024 µs) from there, 512 µs just below.
        assert_eq!(coalesce(4_000_001, 4_096, 0, false), 4_000_768);
        assert_eq!(coalesce(4_000_001, 4_095, 0, false), 4_000_256);
    }

    #[test]
    fn precise_mode_rounds_by_a_256th_of_the_time_left() {
        // 1 ms left: 2 µs (the largest power of two at most 3).
        assert_eq!(coalesce(1_000_001, 1_000, 0, true), 1_000_002);
        // 100 ms: 256 µs; 1 s and more: the cap.
        assert_eq!(coalesce(100_000_001, 100_000, 0, true), 100_000_256);
        assert_eq!(coalesce(1_000_001, 1_000_000, 0, true), 1_001_472);
        // The busy floor still applies.
        assert_eq!(coalesce(1_000_001, 1_000, 1_024, true), 1_000_448);
    }

    #[test]
    fn nearby_deadlines_share_a_grid_point() {
        let a = coalesce(10_000_100, 8_000, 0, false);
        let b = coalesce(10_000_380, 8_000, 0, false);
        assert_eq!(a, b);
    }

    #[test]
    fn the_floor_coarsens_short_timers_only_up_to_the_cap() {
        // A 1 ms sleep on a busy driver: a 1,024 µs floor instead of 32 µs, or the cap.
        assert_eq!(coalesce(1_000_001, 1_000, 1_024, false), 1_000_448);
        assert_eq!(coalesce(1_000_001, 1_000, FLOOR_MAX, false), 1_001_472);
        // A floor below the length grid changes nothing.
        assert_eq!(coalesce(5_000_001, 5_000, 64, false), 5_000_192);
        // Never past the cap.
        assert_eq!(coalesce(1_000_001, 1_000, 1 << 20, false) % COALESCE_MAX, 0);
    }

    #[test]
    fn the_floor_follows_the_last_whole_window_and_expires() {
        let floor = FloorWord::new();
        let mut count = FireCount::new();
        let w = 4_096;
        // Window 9: 5 fires (a 1 ms ticker): 25 µs is below the finest floor, so none in
        // window 10; window 10: 6 fires: a 32 µs floor in window 11.
        count.record(9 * w, 5, &floor);
        count.record(10 * w, 6, &floor);
        assert_eq!(floor.at(10 * w + 5), 0);
        count.record(11 * w, 0, &floor);
        assert_eq!(floor.at(11 * w + 5), 32);
        // Window 11: 40 fires: 1,024 µs (the largest power of two at most 40²) in window 12.
        count.record(11 * w + 1, 40, &floor);
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
