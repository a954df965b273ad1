//! The pool: its shared core, the submit path and the thread loop.
//!
//! # Ownership
//!
//! - `Shared` (behind an `Arc`, held by every [`Pool`] clone through `Owner` and by every pool
//!   thread): the job queue, the idle ledger ([`crate::idle`]), counters and the exit condvar.
//! - `Owner` (one per pool, behind the `Arc` that [`Pool`] clones share): dropping the last
//!   [`Pool`] handle begins shutdown without waiting, so threads never outlive a forgotten pool
//!   by more than the job they are running.
//!
//! # Counters
//!
//! - `threads`: threads alive *or reserved*. A submitter reserves a slot with a CAS bounded by
//!   `max_threads` before starting a thread, so the cap is never exceeded. A thread releases its
//!   slot when it exits.
//! - The idle ledger counts waiting threads and the claims on them.
//!
//! # Submitting a job (`Shared::submit`)
//!
//! 1. Shut down? Hand the job back.
//! 2. Claim an unclaimed waiting thread; on success queue the job. (Claim before queue: see the
//!    ledger's invariant 3.)
//! 3. Else reserve a thread slot and start a thread with the job handed to it directly.
//! 4. Else (at the cap) queue the job; a running thread takes it when it finishes its own.
//!    Then re-check the thread count: a thread may have retired meanwhile (see below).
//!
//! # Retiring (`Shared::retire`)
//!
//! A waiting thread whose keep-alive expires leaves the ledger only if it is unclaimed
//! (otherwise a job is on its way and it waits again). It then releases its slot and looks at
//! the queue once more; if a job is there it re-reserves a slot and keeps working. Step 4 above
//! does the mirror image (queue, then look at the slot count). Both sides put a `SeqCst` fence
//! between their write and their read, so at least one of them sees the other: a queued job is
//! never left with no thread to run it.
//!
//! # Shutdown protocol (`Shared::begin_shutdown`, [`Pool::shutdown`])
//!
//! 1. Set `shutdown` (`SeqCst`); from now on `submit` refuses jobs and no slot is reserved.
//! 2. Fence, then drain the queue, dropping every job not yet started. A submitter that queued
//!    concurrently fences and re-reads the flag after queueing and drains too, so no job
//!    queued around the flag survives.
//! 3. Send one wake-up (`None`) per live thread; each waiting thread takes at most one and
//!    exits. A thread that finishes a job sees the flag before waiting again; a thread that
//!    receives a job after the flag drops it unrun.
//! 4. [`Pool::shutdown`] then waits on the exit condvar until `threads` reaches zero or the
//!    timeout passes. Threads that outlive the timeout finish their job and exit on their own.

use crate::builder::{ThreadHook, ThreadNameFn};
use crate::idle::{Idle, Retire};
use crate::loom::{fence, Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex};
use crate::{Job, PoolMetrics, SpawnError};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::cell::Cell;
use std::fmt;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Acquire, Relaxed, SeqCst};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// A queue entry: a job, or a shutdown wake-up.
type Msg = Option<Job>;

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
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
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
        Shared::submit(&self.owner.shared, job)
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
        let mut guard = shared
            .exit_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            // SeqCst: pairs with the decrement and flag read in `release_thread`.
            if shared.threads.load(SeqCst) <= own {
                return true;
            }
            guard = match deadline {
                None => shared
                    .exit_cv
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    shared
                        .exit_cv
                        .wait_timeout(guard, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
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
            idle_threads: s.idle.waiting(),
            // After shutdown the queue holds only wake-ups: every job in it was dropped.
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

    fn submit(this: &Arc<Shared>, job: Job) -> Result<(), SpawnError> {
        if this.shutdown.load(Acquire) {
            return Err(SpawnError::shutdown(job));
        }
        if this.idle.try_claim() {
            this.enqueue(job);
            return Ok(());
        }
        let job = if this.try_reserve_thread() {
            match Shared::start_thread(this, Some(job)) {
                Ok(()) => return Ok(()),
                Err((job, err)) => {
                    let job = job.expect("a thread that failed to start hands its job back");
                    // SeqCst: pairs with `release_thread`; with no thread left the job would
                    // wait forever, so hand it back instead.
                    if this.threads.load(SeqCst) == 0 {
                        return Err(SpawnError::thread_spawn(job, err));
                    }
                    job
                }
            }
        } else {
            job
        };
        this.enqueue(job);
        // The fence in `enqueue` orders the push before this read; it pairs with the fence in
        // `retire`, so a thread retiring right now either sees the job or is seen gone here.
        if this.try_reserve_thread() {
            // On failure the job stays queued for the threads that remain (the failed start
            // already released its slot).
            let _ = Shared::start_thread(this, None);
        }
        Ok(())
    }

    /// Queues a job, then makes sure a concurrent shutdown cannot leave it behind.
    fn enqueue(&self, job: Job) {
        // `rx` lives in `self`, so the channel cannot be disconnected.
        let _ = self.tx.send(Some(job));
        // Pairs with the fence in `begin_shutdown`: either we see the flag, or its drain sees
        // our job. Also pairs with the fence in `retire` (see `submit`).
        fence(SeqCst);
        if self.shutdown.load(Relaxed) {
            self.drain();
        }
    }

    /// Reserves a thread slot if below the cap and not shut down.
    fn try_reserve_thread(&self) -> bool {
        // SeqCst throughout: the slot count takes part in the retire/submit fence pairing.
        let mut n = self.threads.load(SeqCst);
        loop {
            if n >= self.config.max_threads || self.shutdown.load(SeqCst) {
                return false;
            }
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
            let _guard = self
                .exit_lock
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.exit_cv.notify_all();
        }
    }

    /// Starts a thread in an already reserved slot. On failure releases the slot and returns
    /// the job it was to run.
    fn start_thread(
        this: &Arc<Shared>,
        first: Option<Job>,
    ) -> Result<(), (Option<Job>, io::Error)> {
        let slot = Arc::new(Mutex::new(first));
        let thread_slot = slot.clone();
        let shared = this.clone();
        let mut builder = std::thread::Builder::new().name((this.config.name)());
        if let Some(size) = this.config.stack_size {
            builder = builder.stack_size(size);
        }
        let spawned = builder.spawn(move || {
            let first = thread_slot
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            drop(thread_slot);
            thread_main(shared, first);
        });
        match spawned {
            Ok(_detached) => {
                this.spawned_total.fetch_add(1, Relaxed);
                Ok(())
            }
            Err(err) => {
                this.release_thread();
                let job = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
                Err((job, err))
            }
        }
    }

    /// Steps 1–3 of the shutdown protocol (module docs). Does not wait.
    fn begin_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        // Pairs with the fence in `enqueue`.
        fence(SeqCst);
        self.drain();
        // SeqCst: pairs with `try_reserve_thread`; a slot reserved after this read belongs to
        // a thread that will see the flag before it waits.
        let live = self.threads.load(SeqCst);
        for _ in 0..live {
            let _ = self.tx.send(None);
        }
    }

    /// Drops every queued job; wake-ups found on the way are put back for the threads.
    fn drain(&self) {
        let mut wakeups = 0usize;
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Some(job) => drop(job),
                None => wakeups += 1,
            }
        }
        for _ in 0..wakeups {
            let _ = self.tx.send(None);
        }
    }

    fn run_job(&self, job: Job) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(job)) {
            self.panicked.fetch_add(1, Relaxed);
            // A payload whose destructor panics must not take the thread down either.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
        }
        self.completed.fetch_add(1, Relaxed);
    }

    /// The thread loop. Returns when the thread must exit; `counted` is cleared if the thread
    /// already released its slot (retirement).
    fn work(&self, mut job: Option<Job>, counted: &mut bool) {
        loop {
            if let Some(j) = job.take() {
                if self.shutdown.load(Acquire) {
                    drop(j);
                    return;
                }
                self.run_job(j);
            }
            // SeqCst: pairs with the flag store in `begin_shutdown`, which counts this thread
            // among those to wake only if we have not seen the flag here.
            if self.shutdown.load(SeqCst) {
                return;
            }
            self.idle.enter_wait();
            job = loop {
                match self.rx.recv_timeout(self.config.keep_alive) {
                    Ok(Some(j)) => {
                        self.idle.leave_with_job();
                        break Some(j);
                    }
                    Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                        self.idle.leave_on_shutdown();
                        return;
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        if self.shutdown.load(SeqCst) {
                            self.idle.leave_on_shutdown();
                            return;
                        }
                        match self.idle.leave_on_timeout() {
                            Retire::Stay => continue,
                            Retire::Exit => {
                                if self.retire() {
                                    *counted = false;
                                    return;
                                }
                                // Revived for a job that was queued as we retired.
                                break None;
                            }
                        }
                    }
                }
            };
        }
    }

    /// Releases this thread's slot; returns `false` if it took a slot back to run a job that
    /// arrived meanwhile (module docs, "Retiring").
    fn retire(&self) -> bool {
        self.release_thread();
        // Pairs with the fence in `enqueue` (reached from `submit`'s at-cap path).
        fence(SeqCst);
        if self.rx.is_empty() || self.shutdown.load(SeqCst) {
            return true;
        }
        !self.try_reserve_thread()
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

fn thread_main(shared: Arc<Shared>, first: Option<Job>) {
    CURRENT_POOL.with(|c| c.set(shared.id()));
    let mut slot = SlotGuard {
        shared: &shared,
        counted: true,
    };
    if let Some(hook) = &shared.config.on_start {
        hook();
    }
    shared.work(first, &mut slot.counted);
    if let Some(hook) = &shared.config.on_stop {
        hook();
    }
    drop(slot);
}
