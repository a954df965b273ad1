//! The two scheduler flavors behind one [`Scheduler`] enum.
//!
//! - [`multi`]: N workers, each with a local queue, a LIFO slot and its own event loop, sharing
//!   an injector; idle workers steal.
//! - [`current`]: one thread (the one inside `block_on`) runs every task: asyncio's model.

pub(crate) mod current;
pub(crate) mod multi;
pub(crate) mod unhandled;

use crate::cell::{self, JoinHandle, Notified};
use crate::driver::{Peers, Placement};
use std::future::Future;
use std::sync::Arc;

/// What the thread-local `SCHEDULER` slot holds while a thread drives a scheduler.
pub(crate) enum SchedulerContext {
    Multi(multi::WorkerContext),
    Current(current::Context),
}

/// A handle to either flavor's shared state.
#[derive(Clone)]
pub(crate) enum Scheduler {
    Multi(Arc<multi::Shared>),
    Current(Arc<current::Shared>),
}

impl Scheduler {
    #[track_caller]
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_at(
            future,
            crate::cell::TaskMeta::at(std::panic::Location::caller()),
        )
    }

    /// Spawns `future` with `meta`'s spawn location (slow-poll reports) and name.
    pub(crate) fn spawn_at<F>(
        &self,
        future: F,
        meta: crate::cell::TaskMeta<'_>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Scheduler::Multi(s) => cell::spawn(future, s.clone(), &s.owned, meta),
            Scheduler::Current(s) => cell::spawn(future, s.clone(), &s.owned, meta),
        }
    }

    /// The runtime's observation state (histograms, watchdog probes, blocking registry).
    pub(crate) fn observer(&self) -> &Arc<crate::observe::Observer> {
        let owned = match self {
            Scheduler::Multi(s) => &s.owned,
            Scheduler::Current(s) => &s.owned,
        };
        owned
            .observer()
            .expect("kiln: a runtime's owned list always carries its observer")
    }

    /// The runtime's owned list (every live non-blocking task).
    pub(crate) fn owned(&self) -> &crate::cell::owned::OwnedTasks {
        match self {
            Scheduler::Multi(s) => &s.owned,
            Scheduler::Current(s) => &s.owned,
        }
    }

    /// The runtime's drivers (see `driver/peers.rs`).
    pub(crate) fn peers(&self) -> &Arc<Peers> {
        match self {
            Scheduler::Multi(s) => &s.peers,
            Scheduler::Current(s) => &s.peers,
        }
    }

    /// Where the calling thread registers sockets and timers for this runtime: its own
    /// worker's driver if it runs one of this runtime's workers, else the outside driver.
    pub(crate) fn placement(&self) -> Placement {
        crate::context::with_scheduler(|cx| match (cx, self) {
            (Some(SchedulerContext::Multi(w)), Scheduler::Multi(s))
                if Arc::ptr_eq(&w.shared, s) =>
            {
                Placement::worker(s.peers.clone(), w.index)
            }
            _ => Placement::outside(self.peers().clone()),
        })
    }

    pub(crate) fn blocking(&self) -> &kiln_blocking::Pool {
        match self {
            Scheduler::Multi(s) => &s.blocking,
            Scheduler::Current(s) => &s.blocking,
        }
    }

    /// The blocking-job count a paused clock waits for (current-thread flavor only).
    pub(crate) fn jobs_in_flight(&self) -> Option<&crate::testing::JobsInFlight> {
        match self {
            Scheduler::Multi(_) => None,
            Scheduler::Current(s) => Some(&s.jobs),
        }
    }
}

/// Drops queued references without running them (shutdown).
pub(crate) fn drain(tasks: impl IntoIterator<Item = Notified>) {
    for task in tasks {
        drop(task);
    }
}
