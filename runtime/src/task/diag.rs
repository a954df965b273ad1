//! What a task records about itself for dumps, stall reports and `JoinError`s.
//!
//! [`TaskDiag`] lives in every task header. Field access:
//! - `name`: written once at creation, read-only afterwards.
//! - `polls`, `worker`, `last_poll`, `poll_ns`: written only by the thread holding the task's
//!   `RUNNING` flag (Relaxed load + store, no read-modify-write), read by dumps at any time.
//! - `spawned`, `sample`: written before the task is published to its owned list.
//! - `woke`: stamped by whoever queues the task for a sampled poll, cleared by that poll.
//!
//! All of these are diagnostics: they never order other memory, so every access is Relaxed.
//!
//! A name travels from [`Builder`](super::Builder) to the cell through a thread-local set
//! around the spawn call ([`with_pending_name`]), so the spawn paths need no extra parameter.

use super::Id;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

thread_local! {
    static PENDING_NAME: Cell<Option<Box<str>>> = const { Cell::new(None) };
}

/// Runs `spawn` with `name` waiting for the next task cell created on this thread.
pub(crate) fn with_pending_name<R>(name: Option<Box<str>>, spawn: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            let _ = PENDING_NAME.try_with(Cell::take);
        }
    }
    let _clear = Clear;
    PENDING_NAME.with(|n| n.set(name));
    spawn()
}

/// See the module documentation.
pub(crate) struct TaskDiag {
    pub(crate) name: Option<Box<str>>,
    polls: AtomicU64,
    /// Estimated total poll time in ns (sampled polls × the sampling interval).
    poll_ns: AtomicU64,
    /// Coarse clock at the start of the last poll; 0 = not recorded.
    last_poll: AtomicU64,
    /// Coarse clock at spawn; 0 = not recorded.
    spawned: AtomicU64,
    /// `now_ns()` when the task was queued for a sampled poll; 0 = none.
    woke: AtomicU64,
    /// Worker index + 1 of the last poll on a worker; 0 = never polled on one.
    worker: AtomicU32,
    /// The runtime's sampling interval (a power of two), 0 = histograms off.
    sample: AtomicU32,
}

impl TaskDiag {
    /// Takes the pending name set by [`with_pending_name`], if any.
    pub(crate) fn new() -> TaskDiag {
        TaskDiag {
            name: PENDING_NAME.try_with(Cell::take).ok().flatten(),
            polls: AtomicU64::new(0),
            poll_ns: AtomicU64::new(0),
            last_poll: AtomicU64::new(0),
            spawned: AtomicU64::new(0),
            woke: AtomicU64::new(0),
            worker: AtomicU32::new(0),
            sample: AtomicU32::new(0),
        }
    }

    /// Called once, before the task is published: records the spawn time and sampling.
    pub(crate) fn on_spawn(&self, observer: &crate::observe::Observer, id: Id) {
        if !observer.is_active() {
            return;
        }
        self.spawned.store(observer.coarse_now(), Relaxed);
        self.sample.store(observer.settings.sample_every, Relaxed);
        // The spawn queues the first poll.
        self.stamp_woke_if_sampled(id);
    }

    /// Starts a poll: bumps the count, returns the count before.
    pub(crate) fn begin_poll(&self) -> u64 {
        let n = self.polls.load(Relaxed);
        self.polls.store(n + 1, Relaxed);
        n
    }

    pub(crate) fn set_worker(&self, index: u32) {
        self.worker.store(index + 1, Relaxed);
    }

    pub(crate) fn set_last_poll(&self, coarse: u64) {
        self.last_poll.store(coarse, Relaxed);
    }

    pub(crate) fn add_poll_time(&self, ns: u64) {
        self.poll_ns
            .store(self.poll_ns.load(Relaxed).saturating_add(ns), Relaxed);
    }

    /// Whether the poll that follows `polls` earlier polls is timed (one in `every`, spread
    /// over tasks by id so that one-poll tasks are sampled too).
    pub(crate) fn is_sampled(&self, polls: u64, id: Id, every: u32) -> bool {
        polls.wrapping_add(id.as_u64()) & u64::from(every - 1) == 0
    }

    pub(crate) fn stamp_woke_if_sampled(&self, id: Id) {
        let every = self.sample.load(Relaxed);
        if every != 0 && self.is_sampled(self.polls.load(Relaxed), id, every) {
            self.woke.store(crate::observe::now_ns(), Relaxed);
        }
    }

    pub(crate) fn take_woke(&self) -> u64 {
        let w = self.woke.load(Relaxed);
        if w != 0 {
            self.woke.store(0, Relaxed);
        }
        w
    }

    /// A consistent-enough reading for a dump.
    pub(crate) fn read(&self) -> DiagReading {
        DiagReading {
            polls: self.polls.load(Relaxed),
            poll_ns: self.poll_ns.load(Relaxed),
            timed: self.sample.load(Relaxed) != 0,
            last_poll: self.last_poll.load(Relaxed),
            spawned: self.spawned.load(Relaxed),
            worker: self.worker.load(Relaxed).checked_sub(1),
        }
    }
}

/// See [`TaskDiag::read`].
pub(crate) struct DiagReading {
    pub(crate) polls: u64,
    pub(crate) poll_ns: u64,
    pub(crate) timed: bool,
    pub(crate) last_poll: u64,
    pub(crate) spawned: u64,
    pub(crate) worker: Option<u32>,
}
