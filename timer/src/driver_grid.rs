//! The driver's side of coalescing (see the `coalesce` module): the tick a timer is armed
//! for, and where a busy owner parks. A child module of `driver`, so that it reads the
//! driver's fields directly.

use super::{Inner, Synced};
use crate::clock::Clock;
use crate::coalesce::coalesce;
use crate::loom::sync::atomic::Ordering;
use std::time::Instant;

impl Inner {
    /// The tick a timer for `deadline` fires at: [`deadline_tick`](Inner::deadline_tick),
    /// rounded up to the grid of its length (a quarter of the time left, less below 4,096 µs,
    /// finer in precise mode) or the driver's busy floor,
    /// whichever is coarser (a power of two microseconds, at most 2,048 µs; see the `coalesce`
    /// module), so that timers due near each other share one wake-up ("Coalescing" in the
    /// crate docs). A deadline on a manual or paused clock is not rounded.
    pub(crate) fn fire_tick(&self, deadline: Instant) -> u64 {
        let when = self.deadline_tick(deadline);
        if !self.coalesces() {
            return when;
        }
        let now = self.now_tick(Instant::now());
        coalesce(
            when,
            when.saturating_sub(now),
            self.floor.at(now),
            self.is_precise(),
        )
    }

    /// [`fire_tick`](Inner::fire_tick) for a timer that had `created_left` ticks to go when it
    /// was created (`sleep(d)`; 0: unknown, which is `fire_tick` itself): the grid is sized
    /// from that instead of a fresh clock read, so registering reads no clock. A timer first
    /// polled long after its creation may then fire up to a quarter of its whole length late
    /// (still at most 2,048 µs) rather than a quarter of what was left.
    pub(crate) fn fire_tick_after(&self, deadline: Instant, created_left: u64) -> u64 {
        if created_left == 0 {
            return self.fire_tick(deadline);
        }
        let when = self.deadline_tick(deadline);
        if !self.coalesces() {
            return when;
        }
        // The timer's creation: "now" for the busy floor, without reading the clock.
        let created = when.saturating_sub(created_left);
        coalesce(
            when,
            created_left,
            self.floor.at(created),
            self.is_precise(),
        )
    }

    /// Makes the driver busy as if it had fired `per_window` timers in the window before the
    /// current one (the busy floor and slack that gives hold for the next two windows).
    #[cfg(test)]
    pub(crate) fn seed_fire_rate(&self, per_window: u64) {
        let now = self.now_tick(Instant::now());
        self.synced.lock().fires.seed(now, per_window, &self.floor);
    }

    /// Whether timers are coalesced: on the system clock, or a pausable one that has never
    /// been shifted (tests on a controlled clock expect a timer due exactly at its deadline).
    pub(super) fn coalesces(&self) -> bool {
        match &self.clock {
            Clock::System => true,
            Clock::Pausable(c) => !c.is_shifted(),
            _ => false,
        }
    }

    pub(super) fn is_precise(&self) -> bool {
        // Relaxed: a setting; a stale read only changes how one timer is rounded.
        self.precise.load(Ordering::Relaxed)
    }

    /// Where the owner parks for the timers due at `tick` when the driver is busy: the last
    /// tick at most its busy slack later at which another timer is due, so that one wake-up
    /// fires them all (see "The busy slack" in the `coalesce` module). `tick` itself in
    /// precise mode, on a controlled clock, or with no slack. Called with the lock.
    pub(super) fn merge_tick(&self, synced: &Synced, tick: u64) -> u64 {
        let slack = synced.fires.slack(tick);
        if slack == 0 || self.is_precise() || !self.coalesces() {
            return tick;
        }
        synced.wheel.latest_due_by(tick, tick.saturating_add(slack))
    }
}
