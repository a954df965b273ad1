//! The two scheduler flavors behind one [`Scheduler`] enum.
//!
//! - [`multi`]: N workers, each with a local queue, a LIFO slot and its own event loop, sharing
//!   an injector; idle workers steal.
//! - [`current`]: one thread (the one inside `block_on`) runs every task: asyncio's model.

pub(crate) mod current;
pub(crate) mod multi;
pub(crate) mod priority;
pub(crate) mod unhandled;

use crate::driver::DriverHandle;
use crate::task::{JoinHandle, Notified};
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
            crate::task::TaskMeta::at(std::panic::Location::caller()),
        )
    }

    /// Spawns `future` with `meta`'s spawn location (slow-poll reports) and name.
    pub(crate) fn spawn_at<F>(
        &self,
        future: F,
        meta: crate::task::TaskMeta<'_>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Scheduler::Multi(s) => multi::Shared::spawn(s, future, meta),
            Scheduler::Current(s) => current::Shared::spawn(s, future, meta),
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
    pub(crate) fn owned(&self) -> &crate::task::owned::OwnedTasks {
        match self {
            Scheduler::Multi(s) => &s.owned,
            Scheduler::Current(s) => &s.owned,
        }
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

    /// The driver a thread outside the workers (a `block_on` caller, a blocking-pool thread)
    /// registers timers and I/O with.
    pub(crate) fn outside_driver(&self) -> &Arc<DriverHandle> {
        match self {
            Scheduler::Multi(s) => &s.remotes[0].driver,
            Scheduler::Current(s) => &s.driver,
        }
    }

    /// The driver of the worker last seen running on `cpu`, if that is another worker of
    /// the runtime `from` belongs to (multi-thread flavor only).
    pub(crate) fn sibling_on_cpu(
        &self,
        from: &Arc<DriverHandle>,
        cpu: usize,
    ) -> Option<Arc<DriverHandle>> {
        match self {
            Scheduler::Multi(s) => s.sibling_on_cpu(from, cpu),
            Scheduler::Current(_) => None,
        }
    }

    /// The driver of the worker this thread runs, or the outside one.
    pub(crate) fn current_driver(&self) -> Arc<DriverHandle> {
        crate::context::with_scheduler(|cx| match (cx, self) {
            (Some(SchedulerContext::Multi(w)), Scheduler::Multi(s))
                if Arc::ptr_eq(&w.shared, s) =>
            {
                s.remotes[w.index].driver.clone()
            }
            _ => self.outside_driver().clone(),
        })
    }
}

/// Runs `f`, containing a panic that escapes it: user code a runtime thread runs outside a
/// task's poll (a waker fired by I/O readiness, a thread hook) must not unwind out of the
/// event loop. The panic hook has already reported the panic; its payload is dropped (and a
/// panic of the payload's own destructor contained too). Returns `None` if `f` panicked.
pub(crate) fn contain_panic<R>(f: impl FnOnce() -> R) -> Option<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
            None
        }
    }
}

/// Drops queued references without running them (shutdown).
pub(crate) fn drain(tasks: impl IntoIterator<Item = Notified>) {
    for task in tasks {
        drop(task);
    }
}
