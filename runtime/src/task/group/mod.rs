//! [`TaskGroup`]: structured concurrency with asyncio's `TaskGroup` semantics.
//!
//! Every child is a `Future<Output = Result<T, E>>`. The group resolves when every child is
//! done; the first failure (an `Err`, a panic, or a cancellation by runtime shutdown) aborts
//! every sibling, and once they have all finished it is returned as a [`GroupError`].
//!
//! Representation: one `Shared` behind an `Arc` and a lock, referenced by the owner
//! ([`TaskGroup`]), every [`GroupSpawner`] and every child. Each child task runs a wrapper
//! that owns a `ChildGuard`; the guard's drop is the child's "done" event, whether the child
//! returned, failed, panicked (the wrapper catches it) or was cancelled (its future dropped).
//! So `running` counts exactly the children whose futures are still alive.
//!
//! Protocol, every step under the lock unless said otherwise:
//! 1. `spawn` checks `closed`, pushes a `Slot::Spawning` for the child and counts it in
//!    `running` and `spawning`. It spawns the task with the lock released (a spawn on a
//!    shut-down runtime drops the future, and so the guard, at once), then stores the handle
//!    (`Slot::Running`) and decrements `spawning`. If `cancel` was set meanwhile, it aborts the
//!    handle instead (outside the lock). If the child already finished without output and
//!    without a recorded failure, it was cancelled by the runtime: `spawn` records that.
//! 2. The first failure is recorded in `failure` and sets `closed` and `cancel`; every stored
//!    handle is taken and aborted outside the lock. Later failures are dropped.
//! 3. A guard's drop turns its slot into `Slot::Done(output)` and decrements `running`. A
//!    child that ends without output and without having recorded a failure, while the group
//!    did not ask for it (`cancel` unset), was cancelled by runtime shutdown: a failure,
//!    recorded in the same critical section (so `join` never sees a child that vanished).
//! 4. `join` resolves once `running == 0 && spawning == 0`, setting `closed` in the same
//!    critical section, so no child can be added after the result was taken. The joiner's
//!    waker is woken when both reach zero, and at a failure (the scoped form's body).
//! 5. Dropping the owner (or the join future) before that sets `closed` and `cancel` and
//!    aborts every stored handle, as in step 2.
//!
//! Wakers, handles being aborted or dropped, outputs and failure values are always released
//! outside the lock, so nothing that could re-enter the group runs while it is held.

mod scope;
mod spawner;

pub use super::group_error::GroupError;
use super::{Id, JoinError, JoinHandle};
use crate::loom::sync::Mutex;
use crate::Handle;
use futures_util::FutureExt;
pub use scope::group;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A group of child tasks that succeed together or fail together: asyncio's `TaskGroup`.
///
/// - Children are futures returning `Result<T, E>`, spawned on the current runtime with
///   [`TaskGroup::spawn`] (or through a [`GroupSpawner`], from any task, children included).
/// - [`TaskGroup::join`] resolves once **every** child is done, with their outputs in spawn
///   order, or with the first failure: an `Err`, a panic, or a cancellation by runtime
///   shutdown. The first failure aborts every sibling; `join` still waits until each aborted
///   child has finished (a child is only cancelled at an `.await` point).
/// - Once the group has failed or been joined, it accepts no new child: `spawn` returns `None`
///   and drops the future unpolled.
/// - Dropping the group, or the `join` future, aborts every child still running.
/// - Outputs are kept until `join` returns them (one slot per child), so for an unbounded
///   stream of children, such as a connection per task, prefer a [`JoinSet`](super::JoinSet)
///   drained as it goes.
///
/// ```
/// use kiln::task::TaskGroup;
///
/// kiln::run(async {
///     let group = TaskGroup::new();
///     for i in 1..=3u32 {
///         group.spawn(async move { Ok::<_, std::io::Error>(i * 2) });
///     }
///     assert_eq!(group.join().await.unwrap(), vec![2, 4, 6]);
/// });
/// ```
pub struct TaskGroup<T, E> {
    /// Every spawn goes through it: a group is its own first spawner plus `join`/cancel.
    spawner: GroupSpawner<T, E>,
}

/// A cloneable handle that spawns children into a [`TaskGroup`], from any task.
///
/// It does not keep the group alive: once the group was dropped, joined or has failed,
/// [`GroupSpawner::spawn`] returns `None`.
///
/// ```
/// use kiln::task::TaskGroup;
///
/// kiln::run(async {
///     let group = TaskGroup::<u32, String>::new();
///     let spawner = group.spawner();
///     group.spawn(async move {
///         // A child adds a sibling.
///         spawner.spawn(async { Ok(2) });
///         Ok(1)
///     });
///     assert_eq!(group.join().await.unwrap(), vec![1, 2]);
/// });
/// ```
pub struct GroupSpawner<T, E> {
    shared: Arc<Shared<T, E>>,
}

struct Shared<T, E> {
    state: Mutex<State<T, E>>,
}

struct State<T, E> {
    /// One slot per child, in spawn order.
    slots: Vec<Slot<T>>,
    /// Children whose futures are still alive.
    running: usize,
    /// `spawn` calls between pushing their slot and storing the handle.
    spawning: usize,
    /// No new children (failed, joined or dropped).
    closed: bool,
    /// Children must be aborted (failed or dropped); implies `closed`.
    cancel: bool,
    failure: Option<GroupError<E>>,
    /// The task awaiting the group (`join`, or the scoped form's body).
    joiner: Option<Waker>,
}

enum Slot<T> {
    /// `spawn` has not stored the handle yet.
    Spawning,
    /// Running; the handle is `None` once taken to be aborted.
    Running(Option<JoinHandle<()>>),
    /// Finished: its output if it succeeded (until `join` takes it).
    Done(Option<T>),
}

/// What to do once the lock is released.
struct Deferred<T, E> {
    abort: Vec<JoinHandle<()>>,
    wake: Option<Waker>,
    drop_slot: Option<Slot<T>>,
    drop_error: Option<GroupError<E>>,
}

impl<T, E> Deferred<T, E> {
    fn new() -> Deferred<T, E> {
        Deferred {
            abort: Vec::new(),
            wake: None,
            drop_slot: None,
            drop_error: None,
        }
    }

    fn run(self) {
        for handle in &self.abort {
            handle.abort();
        }
        drop(self.abort);
        drop(self.drop_slot);
        drop(self.drop_error);
        if let Some(w) = self.wake {
            w.wake();
        }
    }
}

impl<T, E> State<T, E> {
    /// Steps 2 and 5: closes the group and takes every stored handle to abort.
    fn cancel_all(&mut self, deferred: &mut Deferred<T, E>) {
        self.closed = true;
        self.cancel = true;
        for slot in self.slots.iter_mut() {
            if let Slot::Running(handle) = slot {
                deferred.abort.extend(handle.take());
            }
        }
    }

    /// Step 2: records `err` if it is the first failure (and the group is not being dropped).
    fn record_failure(&mut self, err: GroupError<E>, deferred: &mut Deferred<T, E>) {
        if self.cancel {
            deferred.drop_error = Some(err);
            return;
        }
        self.failure = Some(err);
        self.cancel_all(deferred);
        deferred.wake = self.joiner.take();
    }

    fn is_done(&self) -> bool {
        self.running == 0 && self.spawning == 0
    }
}

impl<T, E> Shared<T, E> {
    fn new() -> Arc<Shared<T, E>> {
        Arc::new(Shared {
            state: Mutex::new(State {
                slots: Vec::new(),
                running: 0,
                spawning: 0,
                closed: false,
                cancel: false,
                failure: None,
                joiner: None,
            }),
        })
    }

    /// Step 2, from a child that returned `Err` or panicked.
    fn fail(&self, err: GroupError<E>) {
        let mut deferred = Deferred::new();
        self.state.lock().record_failure(err, &mut deferred);
        deferred.run();
    }

    /// Step 5.
    fn cancel(&self) {
        let mut deferred = Deferred::new();
        self.state.lock().cancel_all(&mut deferred);
        deferred.run();
    }

    fn is_failed(&self) -> bool {
        self.state.lock().failure.is_some()
    }
}

impl<T, E> Shared<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Step 1. `None` (and `future` dropped unpolled) if the group is closed.
    #[track_caller]
    fn spawn<F>(self: &Arc<Self>, handle: &Handle, future: F) -> Option<Id>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let index = {
            let mut state = self.state.lock();
            if state.closed {
                return None;
            }
            state.slots.push(Slot::Spawning);
            state.running += 1;
            state.spawning += 1;
            state.slots.len() - 1
        };
        let mut guard = ChildGuard {
            shared: self.clone(),
            index,
            output: None,
        };
        let child = async move {
            match AssertUnwindSafe(future).catch_unwind().await {
                Ok(Ok(value)) => guard.output = Some(value),
                Ok(Err(err)) => guard.shared.fail(GroupError::failed(err, super::id())),
                Err(payload) => {
                    let id = super::id();
                    guard
                        .shared
                        .fail(GroupError::join(JoinError::panic(id, payload), id))
                }
            }
            // The guard's drop is the child's "done" event (step 3).
            drop(guard);
        };
        let join = handle.spawn(child);
        let id = join.id();
        let mut deferred = Deferred::new();
        let mut state = self.shared_state_register(index, join, &mut deferred);
        state.spawning -= 1;
        if state.is_done() {
            deferred.wake = deferred.wake.take().or_else(|| state.joiner.take());
        }
        drop(state);
        deferred.run();
        Some(id)
    }

    /// The second half of step 1: stores (or aborts, or drops) the new child's handle.
    fn shared_state_register(
        &self,
        index: usize,
        join: JoinHandle<()>,
        deferred: &mut Deferred<T, E>,
    ) -> crate::loom::sync::MutexGuard<'_, State<T, E>> {
        let mut state = self.state.lock();
        match (&state.slots[index], state.cancel) {
            (Slot::Spawning, false) => state.slots[index] = Slot::Running(Some(join)),
            (Slot::Done(None), false) => {
                // Finished before we stored the handle, with no output and no failure of its
                // own (that would have set `cancel`): the runtime cancelled it at shutdown.
                let id = join.id();
                deferred.abort.push(join);
                state.record_failure(GroupError::join(JoinError::cancelled(id), id), deferred);
            }
            // Cancelled meanwhile (abort it), or already done (aborting is then a no-op).
            _ => deferred.abort.push(join),
        }
        state
    }
}

/// Owned by a child's future: its drop is the child's "done" event (step 3).
struct ChildGuard<T, E> {
    shared: Arc<Shared<T, E>>,
    index: usize,
    output: Option<T>,
}

impl<T, E> Drop for ChildGuard<T, E> {
    fn drop(&mut self) {
        let succeeded = self.output.is_some();
        let mut deferred = Deferred::new();
        let mut state = self.shared.state.lock();
        let prev = std::mem::replace(&mut state.slots[self.index], Slot::Done(self.output.take()));
        state.running -= 1;
        if !succeeded && !state.cancel {
            if let Slot::Running(Some(handle)) = &prev {
                // Ended without output, without recording a failure (that sets `cancel`), and
                // the group did not ask for it: the runtime cancelled it.
                let id = handle.id();
                state.record_failure(
                    GroupError::join(JoinError::cancelled(id), id),
                    &mut deferred,
                );
            }
            // `Slot::Spawning`: `spawn` records it when it comes to store the handle.
        }
        if state.is_done() && deferred.wake.is_none() {
            deferred.wake = state.joiner.take();
        }
        drop(state);
        deferred.drop_slot = Some(prev);
        deferred.run();
    }
}

impl<T, E> TaskGroup<T, E> {
    /// An empty group. Needs no runtime until a child is spawned.
    ///
    /// ```
    /// let group = kiln::task::TaskGroup::<(), ()>::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn new() -> TaskGroup<T, E> {
        TaskGroup {
            spawner: GroupSpawner {
                shared: Shared::new(),
            },
        }
    }

    /// A spawner for this group, to add children from other tasks (children included).
    ///
    /// ```
    /// kiln::run(async {
    ///     let group = kiln::task::TaskGroup::<u8, ()>::new();
    ///     let spawner = group.spawner();
    ///     kiln::spawn(async move { spawner.spawn(async { Ok(7) }) }).await.unwrap();
    ///     assert_eq!(group.join().await.unwrap(), vec![7]);
    /// });
    /// ```
    pub fn spawner(&self) -> GroupSpawner<T, E> {
        self.spawner.clone()
    }

    /// Number of children whose futures are still alive (running, or being cancelled).
    ///
    /// ```
    /// kiln::run(async {
    ///     let group = kiln::task::TaskGroup::<(), ()>::new();
    ///     group.spawn(std::future::pending());
    ///     assert_eq!(group.len(), 1);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.spawner.shared.state.lock().running
    }

    /// Whether no child is alive.
    ///
    /// ```
    /// let group = kiln::task::TaskGroup::<(), ()>::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a child has failed (the siblings are then being aborted).
    ///
    /// ```
    /// kiln::run(async {
    ///     let group = kiln::task::TaskGroup::<(), &str>::new();
    ///     group.spawn(async { Err("no") });
    ///     while !group.is_failed() {
    ///         kiln::task::yield_now().await;
    ///     }
    ///     assert!(group.join().await.is_err());
    /// });
    /// ```
    pub fn is_failed(&self) -> bool {
        self.spawner.shared.is_failed()
    }
}

impl<T, E> TaskGroup<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Spawns a child on the current runtime: asyncio's `TaskGroup.create_task`. Returns its
    /// id, or `None` if the group accepts no more children (a child failed), in which case
    /// `future` is dropped without being polled.
    ///
    /// # Panics
    /// Outside a kiln runtime, with a message that says so.
    ///
    /// ```
    /// kiln::run(async {
    ///     let group = kiln::task::TaskGroup::<&str, ()>::new();
    ///     assert!(group.spawn(async { Ok("hi") }).is_some());
    ///     assert_eq!(group.join().await.unwrap(), vec!["hi"]);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Option<Id>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.spawner
            .spawn_here("kiln::task::TaskGroup::spawn", future)
    }

    /// Spawns a child on the runtime of `handle` (see [`TaskGroup::spawn`]).
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let group = kiln::task::TaskGroup::<u8, ()>::new();
    /// group.spawn_on(async { Ok(1) }, rt.handle());
    /// assert_eq!(rt.block_on(group.join()).unwrap(), vec![1]);
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&self, future: F, handle: &Handle) -> Option<Id>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.spawner.spawn_on(future, handle)
    }

    /// Waits until every child is done. `Ok` with their outputs in spawn order, or the first
    /// failure (after every aborted sibling has finished).
    ///
    /// Children spawned before the result is ready are included, whoever spawns them.
    /// Dropping the returned future aborts every child still running.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// kiln::run(async {
    ///     let group = kiln::task::TaskGroup::<(), String>::new();
    ///     group.spawn(async {
    ///         kiln::time::sleep(Duration::from_secs(3600)).await;
    ///         Ok(())
    ///     });
    ///     group.spawn(async { Err("failed".to_string()) });
    ///     // The failure aborts the sleeping sibling, so this does not wait an hour.
    ///     let err = group.join().await.unwrap_err();
    ///     assert_eq!(err.into_error(), "failed");
    /// });
    /// ```
    pub async fn join(self) -> Result<Vec<T>, GroupError<E>> {
        std::future::poll_fn(|cx| self.poll_join(cx)).await
    }

    fn poll_join(&self, cx: &mut Context<'_>) -> Poll<Result<Vec<T>, GroupError<E>>> {
        let mut state = self.spawner.shared.state.lock();
        if !state.is_done() {
            let old = state.joiner.replace(cx.waker().clone());
            drop(state);
            drop(old);
            return Poll::Pending;
        }
        // Step 4.
        state.closed = true;
        if let Some(err) = state.failure.take() {
            let slots = std::mem::take(&mut state.slots);
            drop(state);
            drop(slots);
            return Poll::Ready(Err(err));
        }
        let slots = std::mem::take(&mut state.slots);
        drop(state);
        let out = slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Done(Some(v)) => v,
                // Every child is done (`running == 0`), and one without output is a failure
                // or a cancellation, both recorded in `failure`.
                Slot::Done(None) | Slot::Spawning | Slot::Running(_) => {
                    unreachable!("kiln: TaskGroup child finished without output or failure")
                }
            })
            .collect();
        Poll::Ready(Ok(out))
    }
}

impl<T, E> Default for TaskGroup<T, E> {
    fn default() -> TaskGroup<T, E> {
        TaskGroup::new()
    }
}

impl<T, E> Drop for TaskGroup<T, E> {
    /// Aborts every child still running (step 5).
    fn drop(&mut self) {
        self.spawner.shared.cancel();
    }
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.spawner.shared.state.lock();
        f.debug_struct("TaskGroup")
            .field("running", &state.running)
            .field("failed", &state.failure.is_some())
            .finish()
    }
}
