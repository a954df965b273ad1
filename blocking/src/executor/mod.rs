//! [`ThreadPool`]: a fixed-size pool of threads for CPU-heavy or blocking work, with a bounded
//! queue, awaitable [`JoinHandle`]s and cooperative cancellation — asyncio's
//! `loop.run_in_executor(executor, f)` with an executor of your own.
//!
//! It needs no runtime: a handle can be awaited under kiln, tokio, `futures::executor`, or
//! waited for from plain code with [`JoinHandle::join`]. The `kiln` facade re-exports this
//! module as `kiln::executor`, and each kiln runtime keeps one `ThreadPool` as its compute
//! pool (`kiln::spawn_compute`).
//!
//! # Design
//!
//! - Threads: the crate's elastic engine ([`crate::Pool`]) capped at
//!   [`Builder::threads`]. Threads start on demand up to the cap (never one per job) and
//!   retire after [`Builder::keep_alive`] without work; a burst wakes them one hand-off at a
//!   time.
//! - The queue's capacity and the backpressure waiters: `gate.rs` (its protocol is
//!   loom-tested). [`ThreadPool::spawn`] never waits or refuses (a caller with its own bound
//!   uses it); [`ThreadPool::try_spawn`] and [`ThreadPool::spawn_wait`] respect the capacity.
//! - A job's result and its cancellation state: `handle.rs` (one slot per job, awaited by its
//!   [`JoinHandle`]). The slot, the closure and the job's bookkeeping share one allocation
//!   (`JobCell`), which the queue holds through a `TaskRef` (see `pool/work.rs`) and the
//!   handle through the slot: a submission allocates once.
//!
//! # Cancellation
//!
//! - [`JoinHandle::abort`] before the job starts: the job never runs; its handle reports
//!   [`JoinError::is_cancelled`] at once.
//! - After it starts: the closure keeps running (a thread cannot be interrupted safely), but
//!   [`is_cancelled`] turns `true` inside it, so a long job can check it between steps and
//!   return early.
//! - [`ThreadPool::shutdown_timeout`]: jobs still queued are dropped unrun and their handles
//!   report cancelled; running jobs finish.
//!
//! # Lifetime
//!
//! Cloning a `ThreadPool` is cheap; every clone drives the same threads. When the last clone
//! and the last queued job are gone, the threads exit: dropping every handle lets queued jobs
//! still run, while [`ThreadPool::shutdown_timeout`] cancels them.

mod builder;
mod gate;
mod handle;
mod map;

#[cfg(all(test, loom))]
mod loom_tests;

pub use builder::Builder;
pub use handle::{is_cancelled, JoinError, JoinHandle};
pub use map::{Map, Next};

use crate::loom::sync::{atomic::AtomicU64, Mutex};
use gate::{Gate, WaitSlot};
use handle::{CancelFlag, CurrentJob, JobSlot, Slot, TransitionToRunning};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// State every clone of a pool and every queued job shares.
struct Core {
    pool: crate::Pool,
    gate: Gate,
    threads: usize,
    /// Jobs whose closure started; `started - completed` are running now. (Two counters
    /// rather than a running count: one shared write per job fewer.)
    started: AtomicU64,
    completed: AtomicU64,
}

/// A pool of at most [`threads`](Builder::threads) threads running closures, with a bounded
/// queue. See the [module documentation](self) for the design, cancellation and lifetime.
///
/// # Examples
///
/// ```
/// use kiln_blocking::executor::ThreadPool;
///
/// let pool = ThreadPool::builder()
///     .threads(2)
///     .queue_capacity(64)
///     .thread_name("crunch")
///     .build()?;
/// let handle = pool.spawn(|| (1..=20u64).product::<u64>());
/// assert_eq!(handle.join().unwrap(), 2_432_902_008_176_640_000);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct ThreadPool {
    core: Arc<Core>,
}

/// A snapshot of a [`ThreadPool`]'s counters (see [`ThreadPool::metrics`]). Fields are read
/// one by one, so under load the snapshot is approximate.
///
/// # Examples
///
/// ```
/// let pool = kiln_blocking::executor::ThreadPool::builder().threads(3).build()?;
/// pool.spawn(|| ()).join().unwrap();
/// let m = pool.metrics();
/// assert!(m.threads <= 3);
/// assert_eq!((m.queued, m.running, m.completed), (0, 0, 1));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ThreadPoolMetrics {
    /// Threads alive now (running a job or idle); never above the pool's `threads`.
    pub threads: usize,
    /// Jobs accepted and not yet started.
    pub queued: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs that ran to the end, panicking ones included.
    pub completed: u64,
}

impl ThreadPool {
    /// A [`Builder`] with the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// # drop(pool);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    fn from_parts(pool: crate::Pool, capacity: usize, threads: usize) -> ThreadPool {
        ThreadPool {
            core: Arc::new(Core {
                pool,
                gate: Gate::new(capacity),
                threads,
                started: AtomicU64::new(0),
                completed: AtomicU64::new(0),
            }),
        }
    }

    /// Queues `f` and returns a handle to its result. Never waits and never refuses: a full
    /// queue takes the job anyway (use [`try_spawn`](Self::try_spawn) or
    /// [`spawn_wait`](Self::spawn_wait) for backpressure). On a pool that has been shut down
    /// the job is dropped and the handle reports cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// let handles: Vec<_> = (0..4u64).map(|i| pool.spawn(move || i * 10)).collect();
    /// let out: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    /// assert_eq!(out, [0, 10, 20, 30]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.core.gate.force_acquire();
        self.submit(f)
    }

    /// Queues `f` if the queue is below its capacity; otherwise hands `f` back. (On a pool
    /// that has been shut down it behaves like [`spawn`](Self::spawn): the handle reports
    /// cancelled.)
    ///
    /// # Errors
    ///
    /// `Err(f)` when the queue is full.
    ///
    /// # Examples
    ///
    /// ```
    /// use kiln_blocking::executor::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().threads(1).queue_capacity(1).build()?;
    /// let (release, gate) = std::sync::mpsc::channel::<()>();
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let busy = pool.spawn(move || {
    ///     started_tx.send(()).unwrap();
    ///     gate.recv().unwrap()
    /// });
    /// started.recv().unwrap(); // the only thread is busy
    /// let Ok(queued) = pool.try_spawn(|| 1) else { panic!("room for one") }; // fills the queue
    /// let Err(refused) = pool.try_spawn(|| 2) else { panic!("the queue is full") };
    /// assert_eq!(refused(), 2); // the closure came back
    /// release.send(()).unwrap();
    /// busy.join().unwrap();
    /// assert_eq!(queued.join().unwrap(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_spawn<F, R>(&self, f: F) -> Result<JoinHandle<R>, F>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        if self.core.gate.try_acquire() {
            Ok(self.submit(f))
        } else {
            Err(f)
        }
    }

    /// Waits for room in the queue, then queues `f`: backpressure for a producer that must
    /// not outrun the pool. The returned future resolves to the job's [`JoinHandle`] (await
    /// that for the result). If the pool shuts down while waiting, the handle reports
    /// cancelled. Dropping the future before it resolves drops `f` unrun.
    ///
    /// # Examples
    ///
    /// ```
    /// use kiln_blocking::executor::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().threads(2).queue_capacity(4).build()?;
    /// let results = kiln_blocking::executor::block_on(async {
    ///     let mut handles = Vec::new();
    ///     for i in 0..32u64 {
    ///         // At most 4 jobs wait in the queue at any time.
    ///         handles.push(pool.spawn_wait(move || i * i).await);
    ///     }
    ///     let mut out = Vec::new();
    ///     for h in handles {
    ///         out.push(h.await.unwrap());
    ///     }
    ///     out
    /// });
    /// assert_eq!(results[31], 961);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn spawn_wait<F, R>(&self, f: F) -> SpawnWait<F, R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        SpawnWait {
            pool: self.clone(),
            f: Some(f),
            slot: WaitSlot::default(),
            _result: std::marker::PhantomData,
        }
    }

    /// Runs `f` on every item in parallel and yields the results in input order, as a
    /// [`Map`] stream (`Stream<Item = Result<R, JoinError>>`). Every item is queued at once
    /// (like asyncio's `executor.map`), beyond the queue's capacity if need be. Dropping the
    /// [`Map`] aborts the jobs that have not started.
    ///
    /// # Examples
    ///
    /// ```
    /// use kiln_blocking::executor::ThreadPool;
    ///
    /// let pool = ThreadPool::builder().threads(4).build()?;
    /// let squares = kiln_blocking::executor::block_on(async {
    ///     let mut map = pool.map(1..=5u64, |x| x * x);
    ///     let mut out = Vec::new();
    ///     while let Some(r) = map.next().await {
    ///         out.push(r.unwrap());
    ///     }
    ///     out
    /// });
    /// assert_eq!(squares, [1, 4, 9, 16, 25]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn map<I, F, R>(&self, items: I, f: F) -> Map<R>
    where
        I: IntoIterator,
        I::Item: Send + 'static,
        F: Fn(I::Item) -> R + Send + Sync + 'static,
        R: Send + 'static,
    {
        let f = Arc::new(f);
        Map::new(
            items
                .into_iter()
                .map(|item| {
                    let f = f.clone();
                    self.spawn(move || f(item))
                })
                .collect(),
        )
    }

    /// Shuts the pool down: refuses new jobs, drops every queued job unrun (its handle reports
    /// cancelled), releases every [`spawn_wait`](Self::spawn_wait) waiter, and waits up to
    /// `timeout` for running jobs to finish. Returns `true` if every pool thread has exited,
    /// `false` if jobs were still running at the timeout (they finish on their own).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// pool.spawn(|| std::thread::sleep(Duration::from_millis(10)));
    /// assert!(pool.shutdown_timeout(Duration::from_secs(10)));
    /// assert!(pool.spawn(|| ()).join().unwrap_err().is_cancelled());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        self.core.gate.close();
        self.core.pool.shutdown(Some(timeout))
    }

    /// `true` once [`shutdown_timeout`](Self::shutdown_timeout) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// assert!(!pool.is_shutdown());
    /// pool.shutdown_timeout(std::time::Duration::ZERO);
    /// assert!(pool.is_shutdown());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.core.pool.is_shutdown()
    }

    /// The most threads this pool runs.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().threads(3).build()?;
    /// assert_eq!(pool.threads(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.core.threads
    }

    /// A snapshot of the pool's counters: threads, queued, running, completed.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
    /// assert_eq!(pool.metrics().completed, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> ThreadPoolMetrics {
        let c = &self.core;
        let pool = c.pool.metrics();
        // Completed first: a job counted there was counted as started before.
        let completed = c.completed.load(Relaxed);
        let started = c.started.load(Relaxed);
        ThreadPoolMetrics {
            threads: pool.threads,
            queued: if c.gate.is_bounded() {
                c.gate.queued()
            } else {
                pool.queue_depth
            },
            running: usize::try_from(started.saturating_sub(completed)).unwrap_or(usize::MAX),
            completed,
        }
    }

    /// Queues `f` in a queue slot the caller already holds.
    /// [`spawn`](Self::spawn) that keeps `hold` alive until the job's handle is complete and
    /// woken (or the job is dropped unrun): the runtime's paused clock counts compute jobs in
    /// flight with it. Not part of the public API.
    #[doc(hidden)]
    pub fn spawn_holding<F, R, H>(&self, f: F, hold: H) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
        H: Send + 'static,
    {
        self.core.gate.force_acquire();
        self.submit_holding(f, hold)
    }

    fn submit<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.submit_holding(f, ())
    }

    fn submit_holding<F, R, H>(&self, f: F, hold: H) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
        H: Send + 'static,
    {
        let cell = Arc::new(JobCell {
            slot: Slot::queued(),
            job: Mutex::new(Some((f, hold, self.core.clone()))),
        });
        let handle = JoinHandle::new(cell.clone());
        let task = crate::pool::TaskRef::new(cell);
        // A refused job is dropped, which cancels the handle and releases `hold`.
        self.core.pool.spawn_task(task);
        handle
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.threads())
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

/// A job's one allocation: its result slot (reached by the [`JoinHandle`]), and until the job
/// has run or been dropped, the closure, what it keeps alive (`hold`) and the pool's shared
/// core (a queued job keeps the pool alive; a finished job's handle does not). The queue's
/// `TaskRef` runs the closure, or, dropped unrun (shutdown, or a refused submission), releases
/// its queue slot and cancels the handle. (The lock around the closure is only ever taken by
/// the queue's one `TaskRef`, uncontended.)
struct JobCell<F, R, H> {
    slot: Slot<R>,
    /// `None` once run or dropped unrun.
    job: Mutex<Option<(F, H, Arc<Core>)>>,
}

impl<F: Send, R: Send, H: Send> JobSlot<R> for JobCell<F, R, H> {
    fn slot(&self) -> &Slot<R> {
        &self.slot
    }
}

impl<F: Send, R: Send, H: Send> CancelFlag for JobCell<F, R, H> {
    fn is_set(&self) -> bool {
        self.slot.is_set()
    }
}

impl<F, R, H> crate::pool::Task for JobCell<F, R, H>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
    H: Send + 'static,
{
    fn run(self: Arc<Self>) {
        let Some((f, hold, core)) = self.job.lock().take() else {
            return;
        };
        core.gate.release();
        if self.slot.transition_to_running() == TransitionToRunning::Cancelled {
            // Aborted while queued; the abort already completed the handle.
            drop(f);
            drop(hold);
            return;
        }
        core.started.fetch_add(1, Relaxed);
        let job = CurrentJob::enter(self.clone());
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(JoinError::panic);
        drop(job);
        core.completed.fetch_add(1, Relaxed);
        self.slot.finish(result);
        drop(hold);
    }

    fn drop_unrun(&self) {
        let job = self.job.lock().take();
        if let Some((f, hold, core)) = job {
            core.gate.release();
            self.slot.cancel_unrun();
            drop(f);
            drop(hold);
        }
    }
}

/// The future [`ThreadPool::spawn_wait`] returns: resolves to the job's [`JoinHandle`] once
/// the queue had room.
///
/// # Examples
///
/// ```
/// let pool = kiln_blocking::executor::ThreadPool::builder().queue_capacity(1).build()?;
/// let h = kiln_blocking::executor::block_on(pool.spawn_wait(|| 5));
/// assert_eq!(h.join().unwrap(), 5);
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the job is queued only when the future is awaited"]
pub struct SpawnWait<F, R> {
    pool: ThreadPool,
    f: Option<F>,
    slot: WaitSlot,
    _result: std::marker::PhantomData<fn() -> R>,
}

// The closure is never pinned: it is moved out by value when the job is queued.
impl<F, R> Unpin for SpawnWait<F, R> {}

impl<F, R> Future for SpawnWait<F, R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    type Output = JoinHandle<R>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<JoinHandle<R>> {
        let this = &mut *self;
        let acquired = match this.pool.core.gate.poll_acquire(&mut this.slot, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        let f = this.f.take().expect("SpawnWait polled after it resolved");
        Poll::Ready(match acquired {
            Ok(()) => this.pool.submit(f),
            Err(gate::Closed) => {
                drop(f);
                let slot: Arc<Slot<R>> = Slot::new();
                slot.cancel_unrun();
                JoinHandle::new(slot)
            }
        })
    }
}

impl<F, R> Drop for SpawnWait<F, R> {
    fn drop(&mut self) {
        self.pool.core.gate.cancel(&mut self.slot);
    }
}

impl<F, R> fmt::Debug for SpawnWait<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnWait")
            .field("queued", &self.f.is_none())
            .finish_non_exhaustive()
    }
}

/// Runs `future` to completion on this thread, parking it between wake-ups: a minimal
/// executor for code outside any runtime (tests, `main` of a program without one, or
/// [`JoinHandle::join`]). Do not call it on a thread that drives async tasks: it blocks.
///
/// # Examples
///
/// ```
/// let pool = kiln_blocking::executor::ThreadPool::builder().build()?;
/// let h = pool.spawn(|| 2 + 2);
/// assert_eq!(kiln_blocking::executor::block_on(h).unwrap(), 4);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    use std::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering::AcqRel;
    use std::task::{Wake, Waker};

    struct Unparker {
        thread: std::thread::Thread,
        woken: AtomicBool,
    }
    impl Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            // AcqRel: pairs with the swap in the polling loop.
            if !self.woken.swap(true, AcqRel) {
                self.thread.unpark();
            }
        }
    }

    let mut future = std::pin::pin!(future);
    let unparker = Arc::new(Unparker {
        thread: std::thread::current(),
        woken: AtomicBool::new(true),
    });
    let waker = Waker::from(unparker.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if unparker.woken.swap(false, AcqRel) {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            continue;
        }
        std::thread::park();
    }
}
