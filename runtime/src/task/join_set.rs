//! [`JoinSet`]: a set of spawned tasks whose outputs are collected in completion order.
//!
//! Representation: a `futures_util::stream::FuturesUnordered` of [`JoinHandle`]s. Each handle
//! is polled with that set's per-entry waker, so a finishing task wakes exactly its own entry
//! and `join_next` touches only the entries that were woken (no scan of the whole set).
//!
//! Ownership and cancellation policy:
//! - The set owns its tasks: dropping a `JoinSet` aborts every task still in it (as
//!   [`JoinSet::abort_all`] does) and drops their handles. A task that is running at that
//!   moment is cancelled when its current poll returns.
//! - [`JoinSet::detach_all`] empties the set without aborting: the tasks run on, their
//!   outputs are dropped.
//! - A task leaves the set when `join_next`/`try_join_next` hands out its result, or when the
//!   set is emptied by `detach_all` or `shutdown`.

use super::{Id, JoinError, JoinHandle};
use crate::Handle;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A collection of tasks spawned on a kiln runtime, awaited in the order they finish.
///
/// Dropping a `JoinSet` **aborts** every task still in it; call [`JoinSet::detach_all`] first
/// to let them run on instead.
///
/// ```
/// use kiln::task::JoinSet;
///
/// kiln::run(async {
///     let mut set = JoinSet::new();
///     for i in 0..5u64 {
///         set.spawn(async move { i * 10 });
///     }
///     let mut total = 0;
///     while let Some(res) = set.join_next().await {
///         total += res.unwrap();
///     }
///     assert_eq!(total, 100);
///     assert!(set.is_empty());
/// });
/// ```
pub struct JoinSet<T> {
    tasks: FuturesUnordered<Entry<T>>,
}

/// One member: its handle, returning the id with the output.
struct Entry<T> {
    handle: JoinHandle<T>,
}

impl<T> Future for Entry<T> {
    type Output = (Id, Result<T, JoinError>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.handle.id();
        Pin::new(&mut self.handle).poll(cx).map(|res| (id, res))
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    ///
    /// ```
    /// let set: kiln::task::JoinSet<()> = kiln::task::JoinSet::new();
    /// assert!(set.is_empty());
    /// ```
    pub fn new() -> JoinSet<T> {
        JoinSet {
            tasks: FuturesUnordered::new(),
        }
    }

    /// Number of tasks in the set (running, or finished but not yet joined).
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     set.spawn(async {});
    ///     set.spawn(async {});
    ///     assert_eq!(set.len(), 2);
    ///     set.join_next().await;
    ///     assert_eq!(set.len(), 1);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the set holds no task.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     assert!(set.is_empty());
    ///     set.spawn(async {});
    ///     assert!(!set.is_empty());
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn insert(&mut self, handle: JoinHandle<T>) -> Id {
        let id = handle.id();
        self.tasks.push(Entry { handle });
        id
    }

    /// Waits for the next task to finish and returns its result, or `None` once the set is
    /// empty. Results come in completion order, not spawn order.
    ///
    /// Cancel safety: dropping the returned future loses no result; an output that was ready
    /// stays in the set for the next call.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     set.spawn(async { panic!("boom") });
    ///     let err = set.join_next().await.unwrap().unwrap_err();
    ///     assert!(err.is_panic());
    ///     assert!(set.join_next().await.is_none());
    /// });
    /// ```
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.join_next_with_id()
            .await
            .map(|res| res.map(|(_, out)| out))
    }

    /// As [`JoinSet::join_next`], with the finished task's id next to its output (a
    /// [`JoinError`] carries the id already).
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     let id = set.spawn(async { "x" });
    ///     let (got, out) = set.join_next_with_id().await.unwrap().unwrap();
    ///     assert_eq!((got, out), (id, "x"));
    /// });
    /// ```
    pub async fn join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next_with_id(cx)).await
    }

    /// Polls for the next finished task: `Ready(None)` when the set is empty; `Pending` (with
    /// `cx`'s waker registered) while tasks run.
    ///
    /// ```
    /// use std::task::Poll;
    ///
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::<u8>::new();
    ///     let empty = std::future::poll_fn(|cx| Poll::Ready(set.poll_join_next(cx))).await;
    ///     assert!(matches!(empty, Poll::Ready(None)));
    /// });
    /// ```
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_with_id(cx)
            .map(|opt| opt.map(|res| res.map(|(_, out)| out)))
    }

    /// As [`JoinSet::poll_join_next`], with the task's id.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     let id = set.spawn(async { 1 });
    ///     let next = std::future::poll_fn(|cx| set.poll_join_next_with_id(cx)).await;
    ///     assert_eq!(next.unwrap().unwrap(), (id, 1));
    /// });
    /// ```
    pub fn poll_join_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<(Id, T), JoinError>>> {
        self.tasks
            .poll_next_unpin(cx)
            .map(|opt| opt.map(|(id, res)| res.map(|out| (id, out))))
    }

    /// Returns the result of a task that has already finished, without waiting; `None` if no
    /// finished task is found (the set is empty, every task still runs, or the calling task's
    /// cooperative budget is spent).
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     assert!(set.try_join_next().is_none());
    ///     set.spawn(async { 3 });
    ///     let out = loop {
    ///         match set.try_join_next() {
    ///             Some(res) => break res.unwrap(),
    ///             None => kiln::task::yield_now().await,
    ///         }
    ///     };
    ///     assert_eq!(out, 3);
    /// });
    /// ```
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.try_join_next_with_id()
            .map(|res| res.map(|(_, out)| out))
    }

    /// As [`JoinSet::try_join_next`], with the task's id.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     let id = set.spawn(async { 3 });
    ///     let out = loop {
    ///         match set.try_join_next_with_id() {
    ///             Some(res) => break res.unwrap(),
    ///             None => kiln::task::yield_now().await,
    ///         }
    ///     };
    ///     assert_eq!(out, (id, 3));
    /// });
    /// ```
    pub fn try_join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        /// Records whether the stream asked to be polled again (it yields after a full round).
        /// A hint local to this call, not shared protocol state: std's atomic, not the shim's.
        struct Flag(AtomicBool);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Relaxed);
            }
            fn wake_by_ref(self: &Arc<Self>) {
                self.0.store(true, Relaxed);
            }
        }
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        // A bounded number of rounds: the stream yields after polling every queued entry once,
        // and a spent budget makes each handle re-wake itself.
        for _ in 0..3 {
            flag.0.store(false, Relaxed);
            match self.poll_join_next_with_id(&mut cx) {
                Poll::Ready(Some(res)) => return Some(res),
                Poll::Ready(None) => return None,
                Poll::Pending if flag.0.load(Relaxed) => continue,
                Poll::Pending => return None,
            }
        }
        None
    }

    /// Aborts every task in the set. They stay in the set: `join_next` then yields each one's
    /// result (a cancelled [`JoinError`], or the output of a task that finished first).
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     for _ in 0..3 {
    ///         set.spawn(std::future::pending::<()>());
    ///     }
    ///     set.abort_all();
    ///     while let Some(res) = set.join_next().await {
    ///         assert!(res.unwrap_err().is_cancelled());
    ///     }
    /// });
    /// ```
    pub fn abort_all(&mut self) {
        for entry in self.tasks.iter() {
            entry.handle.abort();
        }
    }

    /// Removes every task from the set without aborting it: the tasks run on detached and
    /// their outputs are dropped.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// kiln::run(async {
    ///     let done = Arc::new(kiln::sync::Event::new());
    ///     let mut set = kiln::task::JoinSet::new();
    ///     let d = done.clone();
    ///     set.spawn(async move { d.set() });
    ///     set.detach_all();
    ///     assert!(set.is_empty());
    ///     drop(set);
    ///     done.wait().await; // the detached task still ran
    /// });
    /// ```
    pub fn detach_all(&mut self) {
        // Dropping a JoinHandle detaches its task.
        self.tasks.clear();
    }

    /// Aborts every task, then waits until each has finished (cancelled, or completed before
    /// the abort took effect) and drops their results. The set is empty afterwards.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     set.spawn(std::future::pending::<()>());
    ///     set.shutdown().await;
    ///     assert!(set.is_empty());
    /// });
    /// ```
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Spawns `future` on the current runtime and adds it to the set; returns its id.
    ///
    /// # Panics
    /// Outside a kiln runtime, with a message that says so.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     let id = set.spawn(async { 2 });
    ///     assert_eq!(set.join_next_with_id().await.unwrap().unwrap(), (id, 2));
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> Id
    where
        F: Future<Output = T> + Send + 'static,
    {
        let handle = crate::runtime::spawn(future);
        self.insert(handle)
    }

    /// Spawns `future` on the runtime of `handle` and adds it to the set; returns its id.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let mut set = kiln::task::JoinSet::new();
    /// set.spawn_on(async { 5 }, rt.handle());
    /// let out = rt.block_on(async { set.join_next().await.unwrap().unwrap() });
    /// assert_eq!(out, 5);
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&mut self, future: F, handle: &Handle) -> Id
    where
        F: Future<Output = T> + Send + 'static,
    {
        let handle = handle.spawn(future);
        self.insert(handle)
    }

    /// Runs `f` on the current runtime's blocking pool and adds it to the set; returns its id.
    /// Aborting a blocking task only prevents it from starting: once `f` runs it runs to the
    /// end (its result is then dropped if the task was aborted).
    ///
    /// # Panics
    /// Outside a kiln runtime, with a message that says so.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set = kiln::task::JoinSet::new();
    ///     set.spawn_blocking(|| (1..=5u64).product::<u64>());
    ///     assert_eq!(set.join_next().await.unwrap().unwrap(), 120);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> Id
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let handle = crate::runtime::spawn_blocking(f);
        self.insert(handle)
    }

    /// Runs `f` on the blocking pool of `handle`'s runtime and adds it to the set.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let mut set = kiln::task::JoinSet::new();
    /// set.spawn_blocking_on(|| 6, rt.handle());
    /// assert_eq!(rt.block_on(set.join_next()).unwrap().unwrap(), 6);
    /// ```
    #[track_caller]
    pub fn spawn_blocking_on<F>(&mut self, f: F, handle: &Handle) -> Id
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let handle = handle.spawn_blocking(f);
        self.insert(handle)
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    /// Aborts every task still in the set (see the type's docs).
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}

impl<T, F> Extend<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    /// Spawns every future of `iter` on the current runtime.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        for future in iter {
            self.spawn(future);
        }
    }
}

impl<T, F> FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    /// Spawns every future on the current runtime.
    ///
    /// ```
    /// kiln::run(async {
    ///     let mut set: kiln::task::JoinSet<u32> = (1..=3u32).map(|i| async move { i }).collect();
    ///     let mut sum = 0;
    ///     while let Some(r) = set.join_next().await {
    ///         sum += r.unwrap();
    ///     }
    ///     assert_eq!(sum, 6);
    /// });
    /// ```
    ///
    /// # Panics
    /// Outside a kiln runtime.
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> JoinSet<T> {
        let mut set = JoinSet::new();
        set.extend(iter);
        set
    }
}
