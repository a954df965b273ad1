//! I/O stealing: what siblings see of a driver's owner, and how they take its sockets.
//!
//! A worker stuck in a long task harvests its sockets only when the task returns. Meanwhile an
//! idle sibling may harvest them itself ([`DriverHandle::poll_io_nonblocking`]): it dispatches
//! into the owner's [`crate::io::Dispatch`], and the woken tasks are scheduled on the sibling.
//! Concurrent harvests split the ready events (each edge is delivered once); a try-lock on the
//! handle's `steal_events` buffer admits one stealer at a time. Stealers never wait on the
//! owner's main poller, so they cannot consume a notification meant for the owner. The owner
//! publishes when it last polled (`last_poll`, or [`PARKED`] while it waits).
//!
//! A sibling learns of such events in two ways:
//! - **Watching** (`watch.rs`): a worker about to park while a sibling runs tasks adds that
//!   sibling's source poller to its own main poller (one-shot) for the wait, so an event
//!   pending at that sibling wakes it at once; it deletes the registration after the wait.
//!   While the CPUs are oversubscribed it follows the busy sibling quietly instead
//!   ([`Recheck::Follow`], `follow.rs`), and while the running workers take every CPU the
//!   other threads leave it stays behind it ([`Recheck::Stay`]), unless a sibling is already
//!   stale.
//! - **Periodic checks**, below, which also cover platforms or failures where watching is
//!   unavailable: a searching worker, and a busy one at each maintenance tick
//!   (`Peers::serve_stale`), harvests a sibling that has not polled for [`IO_STEAL_AFTER`].
//!
//! A busy worker's maintenance tick also harvests a sibling that has been parked for
//! [`SERVE_PARKED_AFTER`] ([`IoState::ParkedLong`]). Such a sibling is either idle (the
//! harvest finds nothing: one zero-timeout `epoll_wait`) or was woken by a socket
//! event and is still waiting for a CPU: with every CPU busy, the OS scheduler may let the
//! running threads finish their slices first, and a woken worker has been seen to wait 2–4 ms
//! for one while its sockets' requests waited with it. To its siblings it still looks parked,
//! so nothing else would take those events. The owner publishes when its wait began
//! (`last_poll` holds [`PARKED`] and that time); a harvest that finds nothing moves that time
//! to now ([`DriverHandle::poll_io_nonblocking`]), so an idle sibling costs a busy one at most one harvest per [`SERVE_PARKED_AFTER`].
//!
//! Idle workers come back to look: when a searching worker finds a sibling that is not
//! parked ([`DriverHandle::io_state`]), it asks its own driver to bound its next wait by
//! [`IO_STEAL_AFTER`] ([`DriverHandle::request_recheck`]), so it looks again soon (a sibling
//! that just polled may start a long task right after). A sibling seen parked may wake and get
//! stuck in a long task right after the check; so while parked siblings have registered
//! sources, the watcher's wait is still bounded, by a timeout that doubles from
//! [`RECHECK_BACKOFF_MIN`] to [`RECHECK_BACKOFF_MAX`] while nothing happens (an idle runtime with open
//! sockets wakes each searching worker at most ~30 times a second; one without sockets never).

use super::DriverHandle;
use crate::loom::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// How long a worker may go without polling its poller before idle siblings poll it for it;
/// also how long an idle worker sleeps between such checks while a sibling is busy.
pub(crate) const IO_STEAL_AFTER: Duration = Duration::from_micros(500);

/// How long a leader may go without polling before a worker staying behind it
/// ([`Recheck::Stay`]) wakes to look again: longer than [`IO_STEAL_AFTER`], since a leader
/// that runs a batch of short tasks between two harvests can take that long, and a follower
/// that wakes for it only competes with the leader for a CPU.
pub(crate) const STAY_STALE: Duration = Duration::from_millis(2);

/// How often a worker staying behind a leader wakes to check that the leader still polls.
pub(crate) const STAY_CHECK: Duration = Duration::from_millis(1);

/// First bound of a watcher's wait while every sibling is parked (see the module docs).
pub(crate) const RECHECK_BACKOFF_MIN: Duration = Duration::from_millis(1);
/// Largest bound of a watcher's wait while every sibling is parked.
pub(crate) const RECHECK_BACKOFF_MAX: Duration = Duration::from_millis(32);

/// How long a sibling may stay parked before a busy worker harvests its sockets for it (see
/// the module docs): well past the tens of microseconds a woken thread takes to run when a CPU
/// is free.
pub(crate) const SERVE_PARKED_AFTER: Duration = Duration::from_micros(100);

/// Flag of `last_poll` while the owner waits on its poller; the other bits hold when the wait
/// began (nanoseconds since `epoch`, which needs 63 bits only after 292 years).
pub(super) const PARKED: u64 = 1 << 63;

/// What a searching worker asks of its own next blocking wait
/// ([`DriverHandle::request_recheck`]); the larger request wins until the wait takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Recheck {
    /// Nothing: the wait is bounded only by its own timeout and timers.
    No = 0,
    /// Parked siblings (or this worker) have sockets: come back after the backed-off bound.
    Backoff = 1,
    /// A sibling runs tasks and polls its sockets, and the CPUs the other threads leave
    /// free are all taken by the runtime's running workers: park quietly behind it
    /// (`follow.rs`) and stay there until notified, until the own timer deadline, or until
    /// that sibling stops polling for [`STAY_STALE`]. Where no sibling can lead, watch as for
    /// [`Recheck::Soon`].
    Stay = 2,
    /// A sibling runs tasks and polls its sockets, and every CPU already has a runnable
    /// thread: park quietly behind it (`follow.rs`), so that it harvests this worker's
    /// sockets with its own, and come back within [`IO_STEAL_AFTER`]. Where no sibling can
    /// lead, watch as for [`Recheck::Soon`].
    Follow = 3,
    /// A sibling runs tasks: watch its sockets and come back within [`IO_STEAL_AFTER`].
    Soon = 4,
}

impl Recheck {
    fn from_usize(v: usize) -> Recheck {
        match v {
            0 => Recheck::No,
            1 => Recheck::Backoff,
            2 => Recheck::Stay,
            3 => Recheck::Follow,
            _ => Recheck::Soon,
        }
    }
}

/// What a sibling sees of a driver's owner (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoState {
    /// The owner waits on its poller, since less than [`SERVE_PARKED_AFTER`]: it sees its own
    /// events.
    Parked,
    /// The owner has waited on its poller for [`SERVE_PARKED_AFTER`]: idle, or woken and
    /// still waiting for a CPU; busy siblings harvest its sockets (module docs).
    ParkedLong,
    /// The owner runs tasks and polled recently; it may get stuck in a long task.
    Busy,
    /// The owner has not polled for [`IO_STEAL_AFTER`]: siblings poll for it.
    Stale,
}

impl DriverHandle {
    pub(super) fn now_nanos(&self) -> u64 {
        self.nanos_at(Instant::now())
    }

    fn nanos_at(&self, at: Instant) -> u64 {
        // Truncation is fine: the runtime would have to live for 584 years.
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    /// Publishes that the owner waits on its poller from `at` on, until its next poll (owner
    /// only).
    pub(super) fn publish_parked(&self, at: Instant) {
        // Relaxed: a hint for siblings (see `io_state`).
        self.last_poll.store(PARKED | self.nanos_at(at), Relaxed);
    }

    /// Whether the owner waits on its poller (either parked state of [`Self::io_state`],
    /// without reading the clock).
    pub(crate) fn is_parked(&self) -> bool {
        // Relaxed: a hint.
        self.last_poll.load(Relaxed) & PARKED != 0
    }

    /// Whether the owner runs tasks (not parked) and has not polled its poller itself for `d`
    /// (a sibling's harvest, which makes it look busy to `io_state`, does not count).
    pub(crate) fn polls_late(&self, d: Duration) -> bool {
        // Relaxed: a hint, as in `io_state`.
        let last = self.last_poll.load(Relaxed);
        let own = self.owner_poll.load(Relaxed);
        last & PARKED == 0 && self.now_nanos().saturating_sub(own) >= d.as_nanos() as u64
    }

    /// Whether the owner waits on its poller, polled it recently, or has not polled it for
    /// [`IO_STEAL_AFTER`] (then siblings should poll it for it).
    pub(crate) fn io_state(&self) -> IoState {
        // Relaxed: a hint; the poll itself is serialised by the poller's own lock.
        let last = self.last_poll.load(Relaxed);
        let since = self.now_nanos().saturating_sub(last & !PARKED);
        if last & PARKED != 0 {
            if since >= SERVE_PARKED_AFTER.as_nanos() as u64 {
                IoState::ParkedLong
            } else {
                IoState::Parked
            }
        } else if since >= IO_STEAL_AFTER.as_nanos() as u64 {
            IoState::Stale
        } else {
            IoState::Busy
        }
    }

    /// Bounds this driver's next blocking wait as `mode` says (see [`Recheck`]).
    pub(crate) fn request_recheck(&self, mode: Recheck) {
        // Relaxed: only the owner's own next park reads it.
        self.recheck.fetch_max(mode as usize, Relaxed);
    }

    /// Takes the recheck the owner's next blocking wait was asked for (owner only).
    pub(super) fn take_recheck(&self) -> Recheck {
        // Relaxed: only the owner's own park reads it.
        Recheck::from_usize(self.recheck.swap(Recheck::No as usize, Relaxed))
    }

    /// Harvests this driver's socket events without blocking from any thread and dispatches
    /// them into its sources (waking their tasks on the calling thread's scheduler). Returns
    /// how many events were dispatched; 0 if another thread is stealing from it right now.
    ///
    /// Other siblings' view of the owner moves with it (see `io_state`): a running owner
    /// whose events were taken counts as having polled now; a parked one with nothing pending
    /// (or being harvested by another thread) counts as parked from now, so an idle owner
    /// costs busy siblings at most one harvest per [`SERVE_PARKED_AFTER`]. A parked owner
    /// stays parked.
    pub(crate) fn poll_io_nonblocking(&self) -> usize {
        let Some(mut events) = self.steal_events.try_lock() else {
            self.restamp(true);
            return 0;
        };
        if self.sources.harvest(&mut events) == 0 {
            self.restamp(true);
            return 0;
        }
        self.restamp(false);
        self.io.dispatch(events.iter())
    }

    /// Moves `last_poll` to now, keeping its parked flag, if that flag is `parked` and the
    /// owner has not stored since.
    fn restamp(&self, parked: bool) {
        let flag = if parked { PARKED } else { 0 };
        // Relaxed: a hint; a failed exchange means the owner (or another sibling) stored since.
        let last = self.last_poll.load(Relaxed);
        if last & PARKED == flag {
            let now = flag | self.now_nanos();
            let _ = self.last_poll.compare_exchange(last, now, Relaxed, Relaxed);
        }
    }
}
