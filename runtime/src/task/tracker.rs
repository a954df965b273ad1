//! [`TaskTracker`]: counts tasks and lets a caller wait until all of them ended, for graceful
//! shutdown.
//!
//! State under one lock: the number of tracked tasks alive, the `closed` flag and the waiters'
//! wakers. A task counts from the moment it is spawned through the tracker until its future is
//! dropped (after it completed, or was cancelled), through a [`Token`] the future owns. `wait`
//! completes once the tracker is closed and the count is zero; the token drop or `close` that
//! makes that true wakes every waiter (both change the state under the same lock a waiter
//! checks it under, so no wake-up is lost).

use crate::loom::sync::Mutex;
use crate::task::JoinHandle;
use slab::Slab;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Tracks spawned tasks so shutdown code can wait for them: spawn through it,
/// [`close`](Self::close) it when no more tasks will come, then [`wait`](Self::wait).
///
/// Unlike [`JoinSet`](crate::task::JoinSet) it keeps no outputs and does not abort tasks when
/// dropped, so it costs a counter per task however many run.
///
/// ```
/// kiln::run(async {
///     let tracker = kiln::task::TaskTracker::new();
///     for i in 0..10u64 {
///         tracker.spawn(async move { kiln::time::sleep(std::time::Duration::from_millis(i)).await });
///     }
///     tracker.close();
///     tracker.wait().await;
///     assert!(tracker.is_empty());
/// });
/// ```
#[derive(Clone)]
pub struct TaskTracker {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
}

struct State {
    tasks: usize,
    closed: bool,
    /// Each waiter's waker, tagged with its registration number (`next_waiter`), so a waiter
    /// whose slot was drained and reused by another never overwrites that one's waker.
    waiters: Slab<(u64, Waker)>,
    next_waiter: u64,
}

impl State {
    fn done(&self) -> bool {
        self.closed && self.tasks == 0
    }
}

impl Inner {
    /// Runs `f` on the state, then wakes every waiter if that made the tracker done.
    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.state.lock();
        f(&mut state);
        if state.done() && !state.waiters.is_empty() {
            let wakers: Vec<Waker> = state.waiters.drain().map(|(_, w)| w).collect();
            drop(state);
            wakers.into_iter().for_each(Waker::wake);
        }
    }
}

impl Default for TaskTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TaskTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("TaskTracker")
            .field("tasks", &state.tasks)
            .field("closed", &state.closed)
            .finish()
    }
}

impl TaskTracker {
    /// An open tracker with no tasks.
    ///
    /// ```
    /// let tracker = kiln::task::TaskTracker::new();
    /// assert!(tracker.is_empty() && !tracker.is_closed());
    /// ```
    pub fn new() -> TaskTracker {
        TaskTracker {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    tasks: 0,
                    closed: false,
                    waiters: Slab::new(),
                    next_waiter: 0,
                }),
            }),
        }
    }

    /// Spawns `future` on the current runtime (like [`crate::spawn`]) and tracks it until its
    /// future is dropped. Spawning on a closed tracker is allowed: the task is tracked, and
    /// `wait` then waits for it too.
    ///
    /// # Panics
    /// Outside a runtime, as [`crate::spawn`].
    ///
    /// ```
    /// kiln::run(async {
    ///     let tracker = kiln::task::TaskTracker::new();
    ///     let h = tracker.spawn(async { 7 });
    ///     assert_eq!(h.await.unwrap(), 7);
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        crate::spawn(self.track_future(future))
    }

    /// Spawns `future` on the runtime of `handle` and tracks it.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let tracker = kiln::task::TaskTracker::new();
    /// tracker.spawn_on(async {}, rt.handle());
    /// tracker.close();
    /// rt.block_on(tracker.wait());
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&self, future: F, handle: &crate::Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn(self.track_future(future))
    }

    /// Wraps `future` so it counts as a tracked task until it is dropped.
    ///
    /// ```
    /// kiln::run(async {
    ///     let tracker = kiln::task::TaskTracker::new();
    ///     let fut = tracker.track_future(async { 1 });
    ///     assert_eq!(tracker.len(), 1);
    ///     assert_eq!(fut.await, 1);
    ///     assert_eq!(tracker.len(), 0);
    /// });
    /// ```
    pub fn track_future<F: Future>(&self, future: F) -> TrackedFuture<F> {
        self.inner.state.lock().tasks += 1;
        TrackedFuture {
            future: Some(Box::pin(future)),
            _token: Token {
                inner: self.inner.clone(),
            },
        }
    }

    /// Closes the tracker: `wait` completes once no tracked task is left.
    ///
    /// ```
    /// let tracker = kiln::task::TaskTracker::new();
    /// tracker.close();
    /// assert!(tracker.is_closed());
    /// ```
    pub fn close(&self) {
        self.inner.update(|s| s.closed = true);
    }

    /// Reopens a closed tracker: `wait` blocks again until the next `close`.
    ///
    /// ```
    /// let tracker = kiln::task::TaskTracker::new();
    /// tracker.close();
    /// tracker.reopen();
    /// assert!(!tracker.is_closed());
    /// ```
    pub fn reopen(&self) {
        self.inner.state.lock().closed = false;
    }

    /// Whether [`close`](Self::close) was called (and not undone by `reopen`).
    ///
    /// ```
    /// assert!(!kiln::task::TaskTracker::new().is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner.state.lock().closed
    }

    /// How many tracked tasks are alive.
    ///
    /// ```
    /// assert_eq!(kiln::task::TaskTracker::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.state.lock().tasks
    }

    /// Whether no tracked task is alive.
    ///
    /// ```
    /// assert!(kiln::task::TaskTracker::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until the tracker is closed and every tracked task has ended. Cancel-safe.
    ///
    /// ```
    /// kiln::run(async {
    ///     let tracker = kiln::task::TaskTracker::new();
    ///     tracker.spawn(kiln::time::sleep(std::time::Duration::from_millis(5)));
    ///     tracker.close();
    ///     tracker.wait().await;
    ///     assert_eq!(tracker.len(), 0);
    /// });
    /// ```
    pub fn wait(&self) -> TrackerWait<'_> {
        TrackerWait {
            inner: &self.inner,
            key: None,
        }
    }
}

/// Counts one task while alive (see the module docs).
struct Token {
    inner: Arc<Inner>,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.inner.update(|s| s.tasks -= 1);
    }
}

/// A future counted by a [`TaskTracker`] until it is dropped (see
/// [`TaskTracker::track_future`]).
///
/// ```
/// let tracker = kiln::task::TaskTracker::new();
/// let fut: kiln::task::TrackedFuture<_> = tracker.track_future(async {});
/// drop(fut);
/// assert!(tracker.is_empty());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct TrackedFuture<F> {
    /// Dropped as soon as it completes, so the task stops counting then; `None` afterwards.
    future: Option<Pin<Box<F>>>,
    _token: Token,
}

impl<F: Future> Future for TrackedFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let fut = self
            .future
            .as_mut()
            .expect("kiln: TrackedFuture polled after it completed");
        let out = std::task::ready!(fut.as_mut().poll(cx));
        self.future = None;
        Poll::Ready(out)
    }
}

impl<F> fmt::Debug for TrackedFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackedFuture").finish_non_exhaustive()
    }
}

/// Future returned by [`TaskTracker::wait`].
///
/// ```
/// let tracker = kiln::task::TaskTracker::new();
/// tracker.close();
/// let wait: kiln::task::TrackerWait<'_> = tracker.wait();
/// kiln::run(wait);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct TrackerWait<'a> {
    inner: &'a Inner,
    /// The waiter's slot and registration number while registered.
    key: Option<(usize, u64)>,
}

impl Future for TrackerWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.inner;
        let mut state = inner.state.lock();
        if state.done() {
            if let Some(key) = self.key.take() {
                remove(&mut state, key);
            }
            return Poll::Ready(());
        }
        match self.key {
            Some((slot, seq)) if state.waiters.get(slot).is_some_and(|w| w.0 == seq) => {
                state.waiters[slot].1.clone_from(cx.waker());
            }
            _ => {
                let seq = state.next_waiter;
                state.next_waiter += 1;
                let slot = state.waiters.insert((seq, cx.waker().clone()));
                drop(state);
                self.key = Some((slot, seq));
            }
        }
        Poll::Pending
    }
}

impl Drop for TrackerWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            remove(&mut self.inner.state.lock(), key);
        }
    }
}

/// Removes a waiter's waker if its slot still holds it.
fn remove(state: &mut State, (slot, seq): (usize, u64)) {
    if state.waiters.get(slot).is_some_and(|w| w.0 == seq) {
        state.waiters.remove(slot);
    }
}

impl fmt::Debug for TrackerWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackerWait").finish_non_exhaustive()
    }
}
