//! The pool: its shared core, the submit path and the thread loop.
//!
//! # Ownership
//!
//! - `Shared` (behind an `Arc`, held by every [`Pool`] clone through `Owner` and by every pool
//!   thread): the job queue, the idle state ([`crate::idle`]), counters and the exit condvar.
//! - `Owner` (one per pool, behind the `Arc` that [`Pool`] clones share): dropping the last
//!   [`Pool`] handle begins shutdown without waiting, so threads never outlive a forgotten pool
//!   by more than the job they are running.
//!
//! # Counters
//!
//! - `threads`: threads alive *or reserved*. A waker reserves a slot with a CAS bounded by
//!   `max_threads` before starting a thread, so the cap is never exceeded. A thread releases its
//!   slot when it exits; a retiring one does so under the idle lock (see [`crate::idle`]).
//!
//! # Submitting a job (`Shared::submit`)
//!
//! 1. Shut down? Hand the job back.
//! 2. Push the job on the queue, fence, re-check the shutdown flag.
//! 3. If some thread is searching, stop: it will find the job. Otherwise wake one
//!    (`Shared::wake_one`): notify a sleeper, else start a thread if below the cap, else every
//!    thread is running a job and the first to finish will find it.
//!
//! A thread that takes a job while it was the last searcher and sees more jobs queued wakes the
//! next thread before running its own job. A burst of submissions therefore costs one wake-up
//! from the submitter, and the pool fans out one hand-off at a time, as far as the burst needs.
//! A thread that finishes a job first takes the next queued one without counting itself as
//! searching (to a submitter it looks busy, which only costs an extra wake-up); only when the
//! queue looks empty does it search again, so back-to-back jobs touch no shared counter.
//!
//! # Shutdown protocol (`Shared::begin_shutdown`, [`Pool::shutdown`])
//!
//! 1. Set `shutdown` (`SeqCst`); from now on `submit` refuses jobs and no slot is reserved.
//! 2. Fence, then drain the queue, dropping every job not yet started. A submitter that queued
//!    concurrently fences and re-reads the flag after queueing and drains too, so no job
//!    queued around the flag survives.
//! 3. Wake every sleeper; each sees the flag and exits. A thread that finishes a job sees the
//!    flag before it searches again; one that takes a job after the flag drops it unrun.
//! 4. [`Pool::shutdown`] then waits on the exit condvar until `threads` reaches zero or the
//!    timeout passes. Threads that outlive the timeout finish their job and exit on their own.

use crate::builder::{ThreadHook, ThreadNameFn};
use crate::idle::{Idle, Wake};
use crate::loom::sync::{
    atomic::{fence, AtomicBool, AtomicU64, AtomicUsize},
    Arc, Condvar, Mutex,
};
use crate::{Job, PoolMetrics, SpawnError};
use crossbeam_channel::{Receiver, Sender};
use std::cell::Cell;
use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::time::{Duration, Instant};

#[cfg(all(test, loom))]
mod loom_tests;
mod work;

pub(crate) use work::{Task, TaskRef, Work};

thread_local! {
    /// Identity of the pool the current thread belongs to (0: none), so that a shutdown
    /// requested from inside a job does not wait for its own thread.
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
}

pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) stack_size: Option<usize>,
    pub(crate) name: ThreadNameFn,
    pub(crate) on_start: Option<ThreadHook>,
    pub(crate) on_stop: Option<ThreadHook>,
}

struct Shared {
    tx: Sender<Work>,
    rx: Receiver<Work>,
    idle: Idle,
    /// Threads alive or reserved; never above `config.max_threads`.
    threads: AtomicUsize,
    shutdown: AtomicBool,
    spawned_total: AtomicU64,
    completed: AtomicU64,
    panicked: AtomicU64,
    /// Held while checking/notifying thread exits during shutdown; guards nothing else.
    exit_lock: Mutex<()>,
    exit_cv: Condvar,
    config: Config,
}

struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.begin_shutdown();
    }
}

/// An elastic pool of threads for blocking work.
///
/// Threads start on demand up to the cap, idle ones exit after the keep-alive, and jobs beyond
/// the cap wait in a FIFO queue. Cloning is cheap and every clone drives the same pool; dropping
/// the last clone shuts the pool down without waiting (queued jobs are dropped unrun, running
/// ones finish).
///
/// # Examples
///
/// ```
/// let pool = kiln_blocking::Builder::new().max_threads(4).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel();
/// for i in 0..8 {
///     let tx = tx.clone();
///     pool.spawn(Box::new(move || tx.send(i * i).unwrap())).unwrap();
/// }
/// drop(tx);
/// let mut squares: Vec<i32> = rx.iter().collect();
/// squares.sort();
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
/// assert!(pool.shutdown(None));
/// ```
#[derive(Clone)]
pub struct Pool {
    owner: Arc<Owner>,
}

impl Pool {
    pub(crate) fn from_config(config: Config) -> Pool {
        let (tx, rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            tx,
            rx,
            idle: Idle::new(),
            threads: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            spawned_total: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            exit_lock: Mutex::new(()),
            exit_cv: Condvar::new(),
            config,
        });
        Pool {
            owner: Arc::new(Owner { shared }),
        }
    }

    /// Runs `job` on a pool thread: an idle one, a new one if below the cap, or the next one to
    /// free up.
    ///
    /// A job that panics is caught; the thread lives on and the panic is counted in
    /// [`PoolMetrics::jobs_panicked`].
    ///
    /// # Errors
    ///
    /// Hands the job back in a [`SpawnError`] if the pool is shut down, or if no thread is
    /// alive and the OS refuses to start one.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.spawn(Box::new(move || tx.send(6 * 7).unwrap())).unwrap();
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// ```
    pub fn spawn(&self, job: Job) -> Result<(), SpawnError> {
        match Shared::submit(&self.owner.shared, Work::Job(job)) {
            Ok(()) => Ok(()),
            Err((Work::Job(job), None)) => Err(SpawnError::shutdown(job)),
            Err((Work::Job(job), Some(err))) => Err(SpawnError::thread_spawn(job, err)),
            // Another caller's task came back instead (no thread could start): dropping it
            // cancels it.
            Err((Work::Task(_), _)) => Ok(()),
        }
    }

    /// Queues an executor task; a refused one is dropped, which cancels it.
    pub(crate) fn spawn_task(&self, task: TaskRef) {
        let _ = Shared::submit(&self.owner.shared, Work::Task(task));
    }

    /// Stops the pool: refuses new jobs, drops every queued job that has not started, and waits
    /// up to `timeout` (`None`: without limit) for running jobs to finish and threads to exit.
    ///
    /// Returns `true` if every pool thread has exited (when called from a job on this pool's
    /// own thread, every *other* thread). Returns `false` once the timeout passes with jobs
    /// still running; those threads exit on their own when their job returns. Calling it again
    /// is harmless and waits again.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = kiln_blocking::Builder::new().build().unwrap();
    /// pool.spawn(Box::new(|| std::thread::sleep(Duration::from_millis(10)))).unwrap();
    /// assert!(pool.shutdown(None)); // waits for the sleeping job
    /// assert!(pool.spawn(Box::new(|| {})).is_err());
    /// ```
    pub fn shutdown(&self, timeout: Option<Duration>) -> bool {
        let shared = &self.owner.shared;
        shared.begin_shutdown();
        let own = usize::from(CURRENT_POOL.with(Cell::get) == shared.id());
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut guard = shared.exit_lock.lock();
        loop {
            // SeqCst: pairs with the decrement and flag read in `release_thread`.
            if shared.threads.load(SeqCst) <= own {
                return true;
            }
            match deadline {
                None => shared.exit_cv.wait(&mut guard),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    shared.exit_cv.wait_timeout(&mut guard, deadline - now);
                }
            }
        }
    }

    /// `true` once [`shutdown`](Self::shutdown) has been called.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().build().unwrap();
    /// assert!(!pool.is_shutdown());
    /// pool.shutdown(None);
    /// assert!(pool.is_shutdown());
    /// ```
    pub fn is_shutdown(&self) -> bool {
        self.owner.shared.shutdown.load(Acquire)
    }

    /// The thread cap this pool was built with.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().max_threads(3).build().unwrap();
    /// assert_eq!(pool.max_threads(), 3);
    /// ```
    pub fn max_threads(&self) -> usize {
        self.owner.shared.config.max_threads
    }

    /// A snapshot of the pool's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = kiln_blocking::Builder::new().build().unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.spawn(Box::new(move || tx.send(()).unwrap())).unwrap();
    /// rx.recv().unwrap();
    /// assert!(pool.shutdown(None));
    /// let m = pool.metrics();
    /// assert_eq!(m.spawned_threads_total, 1);
    /// assert_eq!(m.jobs_completed, 1);
    /// assert_eq!(m.threads, 0);
    /// ```
    pub fn metrics(&self) -> PoolMetrics {
        let s = &self.owner.shared;
        let shut = s.shutdown.load(Acquire);
        PoolMetrics {
            threads: s.threads.load(Relaxed),
            idle_threads: s.idle.unnotified(),
            // After shutdown every queued job is dropped; one racing the flag is dropped soon.
            queue_depth: if shut { 0 } else { s.rx.len() },
            spawned_threads_total: s.spawned_total.load(Relaxed),
            jobs_completed: s.completed.load(Relaxed),
            jobs_panicked: s.panicked.load(Relaxed),
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("max_threads", &self.max_threads())
            .field("keep_alive", &self.owner.shared.config.keep_alive)
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn id(&self) -> usize {
        self as *const Shared as usize
    }

    /// Queues `job`. Refused, it comes back with the reason: shutdown (`None`), or no thread
    /// could start (the OS error; the job handed back may be another queued one).
    fn submit(this: &Arc<Shared>, job: Work) -> Result<(), (Work, Option<io::Error>)> {
        if this.shutdown.load(Acquire) {
            return Err((job, None));
        }
        // `rx` lives in `self`, so the channel cannot be disconnected.
        let _ = this.tx.send(job);
        // Pairs with the fence in `begin_shutdown` (either we see the flag or its drain sees
        // our job) and with the fence in `Idle::stop_search` (either we see a searcher or it
        // sees our job).
        fence(SeqCst);
        if this.shutdown.load(Relaxed) {
            this.drain();
            return Ok(());
        }
        if this.idle.searching() > 0 {
            return Ok(());
        }
        match Shared::wake_one(this) {
            Ok(()) => Ok(()),
            // No thread at all and none could start: give a queued job back rather than
            // leave it waiting forever.
            Err(err) if this.threads.load(SeqCst) == 0 => match this.rx.try_recv() {
                Ok(job) => Err((job, Some(err))),
                Err(_) => Ok(()),
            },
            Err(_) => Ok(()),
        }
    }

    /// Gets one more thread searching the queue: a sleeper, else a new thread below the cap.
    /// At the cap every thread is running a job and will search when it finishes.
    fn wake_one(this: &Arc<Shared>) -> io::Result<()> {
        loop {
            this.idle.start_search();
            if this.idle.try_notify() {
                return Ok(());
            }
            if this.try_reserve_thread() {
                return Shared::start_thread(this).inspect_err(|_| {
                    this.idle.stop_search();
                });
            }
            // Our provisional search count may have hidden the queue from a submitter while a
            // thread went to sleep. If we were the last searcher, jobs are queued and a sleeper
            // has appeared, go round again; the loop ends once no sleeper is left unnotified.
            if !this.idle.stop_search() || this.rx.is_empty() || this.idle.unnotified() == 0 {
                return Ok(());
            }
        }
    }

    /// Reserves a thread slot if below the cap and not shut down.
    fn try_reserve_thread(&self) -> bool {
        let mut n = self.threads.load(SeqCst);
        loop {
            if n >= self.config.max_threads || self.shutdown.load(SeqCst) {
                return false;
            }
            // SeqCst: pairs with the decrement in `release_thread` (a retiring thread frees
            // its slot under the idle lock before a waker that found no sleeper gets here).
            match self.threads.compare_exchange_weak(n, n + 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
    }

    /// Gives a slot back; wakes a shutdown waiter if one may be waiting.
    fn release_thread(&self) {
        // SeqCst: pairs with the flag store in `begin_shutdown` and the count read in
        // `Pool::shutdown`: either the waiter sees the new count or we see the flag and notify.
        self.threads.fetch_sub(1, SeqCst);
        if self.shutdown.load(SeqCst) {
            let _guard = self.exit_lock.lock();
            self.exit_cv.notify_all();
        }
    }

    /// Starts a searching thread in an already reserved slot; on failure releases the slot.
    fn start_thread(this: &Arc<Shared>) -> io::Result<()> {
        let shared = this.clone();
        let mut builder = std::thread::Builder::new().name((this.config.name)());
        if let Some(size) = this.config.stack_size {
            builder = builder.stack_size(size);
        }
        match builder.spawn(move || thread_main(shared)) {
            Ok(_detached) => {
                this.spawned_total.fetch_add(1, Relaxed);
                Ok(())
            }
            Err(err) => {
                this.release_thread();
                Err(err)
            }
        }
    }

    /// Steps 1–3 of the shutdown protocol (module docs). Does not wait.
    fn begin_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        // Pairs with the fence in `submit`.
        fence(SeqCst);
        self.drain();
        self.idle.notify_all();
    }

    /// Drops every queued job.
    fn drain(&self) {
        while let Ok(job) = self.rx.try_recv() {
            drop(job);
        }
    }

    fn run_job(&self, job: Work) {
        let job = match job {
            Work::Job(job) => job,
            // Catches its closure's panics and counts itself in the executor's counters; the
            // guard here only keeps the thread alive if an aborted closure's destructor panics.
            Work::Task(task) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task.run())) {
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                }
                return;
            }
        };
        if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
            self.panicked.fetch_add(1, Relaxed);
            // A payload whose destructor panics must not take the thread down either.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        }
        self.completed.fetch_add(1, Relaxed);
    }

    /// The thread loop. The thread enters it counted as searching. Returns when the thread
    /// must exit; `counted` is cleared if the thread already released its slot (retirement).
    fn work(this: &Arc<Shared>, counted: &mut bool) {
        loop {
            if let Ok(job) = this.rx.try_recv() {
                // Hand the rest of a burst on before running our own job.
                if this.idle.stop_search() && !this.rx.is_empty() {
                    let _ = Shared::wake_one(this);
                }
                if this.shutdown.load(Acquire) {
                    drop(job);
                    return;
                }
                this.run_job(job);
                // Jobs already queued run next without announcing a search: a thread that
                // finds one costs nothing on the shared `searching` counter, and a submitter
                // that meanwhile sees nobody searching wakes a sleeper as it would for a busy
                // thread.
                while let Ok(job) = this.rx.try_recv() {
                    if this.shutdown.load(Acquire) {
                        drop(job);
                        return;
                    }
                    this.run_job(job);
                }
                this.idle.start_search();
                continue;
            }
            if this.shutdown.load(SeqCst) {
                this.idle.stop_search();
                return;
            }
            match this.idle.sleep(
                this.config.keep_alive,
                || !this.rx.is_empty(),
                || this.shutdown.load(SeqCst),
                || this.release_thread(),
            ) {
                Wake::Search => continue,
                Wake::Shutdown => return,
                Wake::Retired => {
                    *counted = false;
                    return;
                }
            }
        }
    }
}

/// Releases the thread's slot however the thread ends, a panicking hook included.
struct SlotGuard<'a> {
    shared: &'a Shared,
    counted: bool,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.shared.release_thread();
        }
    }
}

fn thread_main(shared: Arc<Shared>) {
    CURRENT_POOL.with(|c| c.set(shared.id()));
    let mut slot = SlotGuard {
        shared: &shared,
        counted: true,
    };
    if let Some(hook) = &shared.config.on_start {
        // A panicking hook must not take the thread's search duty down with it.
        let _ = catch_unwind(AssertUnwindSafe(|| hook()));
    }
    Shared::work(&shared, &mut slot.counted);
    if let Some(hook) = &shared.config.on_stop {
        let _ = catch_unwind(AssertUnwindSafe(|| hook()));
    }
    drop(slot);
}
