//! Tasks: the cell and its handles.
//!
//! A task is one allocation (`raw`) shared by typed handles, each owning one reference:
//! - `Task`: the owned list's reference, held from spawn until completion or shutdown;
//! - `Notified`: a reference that sits in a run queue; popping it and calling `run` polls the task;
//! - [`JoinHandle`]: the awaiting side;
//! - `Waker`s handed to the future.
//!
//! The state machine they share is in `state`; `owned` keeps every live task of a runtime so
//! shutdown can cancel all of them.

mod block_in_place;
mod builder;
pub(crate) mod diag;
mod dump;
mod group;
mod group_error;
mod join;
mod join_set;
pub(crate) mod owned;
pub(crate) mod raw;
pub(crate) mod state;
mod tracker;

#[cfg(all(test, loom))]
mod loom_tests;

pub use block_in_place::block_in_place;
pub use builder::Builder;
pub use dump::{TaskDump, TaskInfo, TaskState};
pub use group::{group, GroupError, GroupSpawner, TaskGroup};
pub use join::{JoinError, JoinHandle};
pub use join_set::JoinSet;
pub(crate) use raw::RawTask;
pub use tracker::{TaskTracker, TrackedFuture, TrackerWait};

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::num::NonZeroU64;
use std::pin::Pin;
use std::task::{Context, Poll};

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
    pub(crate) fn enter(id: Id) -> CurrentId {
        CurrentId(CURRENT_ID.with(|c| c.replace(Some(id))))
    }
}

impl Drop for CurrentId {
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
    let diag = diag::TaskDiag::new(meta, owned.observer().map(|o| &**o));
    let id = Id::next();
    // The spawn queues the first poll.
    diag.stamp_woke_if_sampled(0, id);
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
    let raw = RawTask::new(
        future,
        scheduler,
        Id::next(),
        diag::TaskDiag::new(meta, None),
    );
    // Drop the owned-list reference the cell starts with: nobody holds it.
    raw.header().state.ref_dec();
    (JoinHandle::new(raw), Notified(raw))
}

pub(crate) fn abort(raw: RawTask) {
    if raw.header().state.transition_to_notified_and_cancel() == state::ToNotified::Submit {
        raw.schedule();
    }
}

/// Yields to the scheduler once: the task goes behind the work already queued on its worker.
///
/// asyncio's `await asyncio.sleep(0)`.
///
/// ```
/// kiln::run(async {
///     for _ in 0..3 {
///         kiln::task::yield_now().await;
///     }
/// });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Waking ourselves while running marks the task NOTIFIED; after this poll the runner
        // requeues it through `Schedule::yield_now`, behind the queued work.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
