//! The task cell: one allocation per task, its state machine, and the handles that share it.
//!
//! A task is one allocation (`raw`) shared by typed handles, each owning one reference:
//! - `Task`: the owned list's reference, held from spawn until completion or shutdown;
//! - `Notified`: a reference that sits in a run queue; popping it and calling `run` polls the task;
//! - [`JoinHandle`]: the awaiting side;
//! - `Waker`s handed to the future.
//!
//! The state machine they share is in `state`; `owned` keeps every live task of a runtime so
//! shutdown can cancel all of them. All of the crate's task `unsafe` code lives in this module
//! (`raw.rs`); everything above it (the schedulers, `crate::task`'s structured-concurrency
//! API) uses the safe handles.
//!
//! This is the bottom layer of the runtime: it knows a scheduler only through the
//! [`Schedule`] trait, and imports nothing of the crate but the `loom` shim, the
//! cooperative budget (`crate::coop`) and the per-poll probe of `crate::observe` (the poll
//! and schedule hooks, and the observer an owned list carries; see `diag.rs`).

pub(crate) mod diag;
pub(crate) mod join;
pub(crate) mod owned;
pub(crate) mod raw;
pub(crate) mod state;

#[cfg(all(test, loom))]
mod loom_tests;

pub use join::{JoinError, JoinHandle};
pub(crate) use raw::RawTask;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;

/// A task's id: unique among all tasks of the process for its lifetime.
///
/// ```
/// kiln::run(async {
///     let h = kiln::spawn(async { kiln::task::id() });
///     let id = h.id();
///     assert_eq!(h.await.unwrap(), id);
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(NonZeroU64);

impl Id {
    pub(crate) fn next() -> Id {
        // A plain counter, not part of any synchronization protocol, so std's atomic (a loom
        // atomic cannot live in a static).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Id(NonZeroU64::new(n).expect("kiln: task id counter overflowed"))
    }

    /// The id as a number.
    ///
    /// ```
    /// kiln::run(async {
    ///     assert!(kiln::spawn(async {}).id().as_u64() > 0);
    /// });
    /// ```
    #[inline]
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

thread_local! {
    static CURRENT_ID: Cell<Option<Id>> = const { Cell::new(None) };
}

/// Sets the current task id for the duration of a poll.
pub(crate) struct CurrentId(Option<Id>);

impl CurrentId {
    #[inline]
    pub(crate) fn enter(id: Id) -> CurrentId {
        CurrentId(CURRENT_ID.with(|c| c.replace(Some(id))))
    }
}

impl Drop for CurrentId {
    #[inline]
    fn drop(&mut self) {
        let prev = self.0;
        let _ = CURRENT_ID.try_with(|c| c.set(prev));
    }
}

/// The id of the task being polled on this thread.
///
/// # Panics
/// Outside a task (use [`try_id`] there).
///
/// ```
/// kiln::run(async {
///     let id = kiln::spawn(async { kiln::task::id() }).await.unwrap();
///     assert!(id.as_u64() > 0);
/// });
/// ```
pub fn id() -> Id {
    try_id().expect("kiln::task::id() called outside of a task")
}

/// The id of the task being polled on this thread, if any.
///
/// ```
/// assert!(kiln::task::try_id().is_none());
/// ```
pub fn try_id() -> Option<Id> {
    CURRENT_ID.try_with(Cell::get).ok().flatten()
}

/// What a scheduler does with the tasks bound to it.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Queues a task that was woken while idle.
    fn schedule(&self, task: Notified);
    /// Queues a task that woke itself while it ran (it yielded): behind the queued work.
    fn yield_now(&self, task: Notified) {
        self.schedule(task);
    }
    /// Removes a completed task from the owned list. `true` if it was there: the caller then
    /// drops the list's reference.
    fn release(&self, task: RawTask) -> bool;
    /// A task panicked and its output will never be read (see `scheduler/unhandled.rs`);
    /// `message` describes the panic.
    fn unhandled_panic(&self, message: String) {
        drop(message);
    }
}

/// A reference to a task that is queued to run (its `NOTIFIED` flag is set).
pub(crate) struct Notified(RawTask);

impl Notified {
    pub(crate) fn from_raw(raw: RawTask) -> Notified {
        Notified(raw)
    }

    /// Polls (or cancels) the task, consuming this reference.
    pub(crate) fn run(self) {
        let raw = self.0;
        std::mem::forget(self);
        raw.poll();
    }

    pub(crate) fn id(&self) -> Id {
        self.0.header().id
    }

    pub(crate) fn raw(&self) -> RawTask {
        self.0
    }

    /// Polls the task like [`Notified::run`]; if the poll took longer than `threshold`, reports
    /// it through `log::warn!` with the task's id and spawn location.
    pub(crate) fn run_checked(self, threshold: Option<std::time::Duration>) {
        let Some(threshold) = threshold else {
            return self.run();
        };
        let (id, at) = (self.id(), self.0.header().spawned_at());
        let start = std::time::Instant::now();
        self.run();
        let took = start.elapsed();
        if took > threshold {
            log::warn!(
                "kiln: slow poll: task {id} (spawned at {at}) ran {took:?} in a single poll, \
                 over the {threshold:?} threshold; blocking code on the event loop stalls every \
                 task on this worker (move it to kiln::spawn_blocking)"
            );
        }
    }
}

impl Drop for Notified {
    /// Dropping a queued reference without running it (queues drained at shutdown).
    fn drop(&mut self) {
        self.0.drop_reference();
    }
}

impl fmt::Debug for Notified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Notified({})", self.id())
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

/// How a task is spawned: where, and under which name (see `diag.rs`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskMeta<'a> {
    pub(crate) at: &'static std::panic::Location<'static>,
    pub(crate) name: Option<&'a str>,
}

impl TaskMeta<'static> {
    /// An unnamed task spawned at `at`.
    pub(crate) fn at(at: &'static std::panic::Location<'static>) -> TaskMeta<'static> {
        TaskMeta { at, name: None }
    }
}

/// Creates a task bound to `owned` and hands it to `scheduler`: the one spawn path of every
/// scheduler flavor. If the owned list is closed (the runtime shut down) the task is already
/// cancelled and the handle resolves to a cancelled `JoinError`.
pub(crate) fn spawn<F, S>(
    future: F,
    scheduler: S,
    owned: &owned::OwnedTasks,
    meta: TaskMeta<'_>,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule + Clone,
{
    let (join, notified) = spawn_task(future, scheduler.clone(), owned, meta);
    if let Some(task) = notified {
        scheduler.schedule(task);
    }
    join
}

/// Creates a task bound to `owned`. Returns its `JoinHandle` and the first `Notified` to queue,
/// or `None` if the owned list is closed (the runtime shut down): then the task is already
/// cancelled and the handle resolves to a cancelled `JoinError`.
pub(crate) fn spawn_task<F, S>(
    future: F,
    scheduler: S,
    owned: &owned::OwnedTasks,
    meta: TaskMeta<'_>,
) -> (JoinHandle<F::Output>, Option<Notified>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let id = Id::next();
    let diag = diag::TaskDiag::new(meta, owned.observer().map(|o| &**o), id);
    let raw = RawTask::new(future, scheduler, id, diag);
    let join = JoinHandle::new(raw);
    if owned.bind(raw) {
        (join, Some(Notified(raw)))
    } else {
        // Never queued: cancel it here (it never ran, so no future runs off-runtime), then drop
        // the owned list's and the first Notified's references.
        raw.shutdown();
        raw.drop_reference();
        raw.drop_reference();
        (join, None)
    }
}

/// Creates a task that belongs to no owned list (blocking-pool jobs): two references, the
/// returned `Notified` and the `JoinHandle`.
pub(crate) fn unowned<F, S>(
    future: F,
    scheduler: S,
    meta: TaskMeta<'_>,
) -> (JoinHandle<F::Output>, Notified)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let id = Id::next();
    let raw = RawTask::new(future, scheduler, id, diag::TaskDiag::new(meta, None, id));
    // Drop the owned-list reference the cell starts with: nobody holds it.
    raw.header().state.ref_dec();
    (JoinHandle::new(raw), Notified(raw))
}

pub(crate) fn abort(raw: RawTask) {
    if raw.header().state.transition_to_notified_and_cancel() == state::ToNotified::Submit {
        raw.schedule();
    }
}
