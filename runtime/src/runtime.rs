//! [`Runtime`] and [`Handle`]: starting, entering, spawning onto and shutting down a runtime.

use crate::builder::{Builder, Kind};
use crate::cell::JoinHandle;
use crate::context;
use crate::driver::BlockOnWait;
use crate::loom::sync::atomic::{AtomicBool, Ordering::AcqRel};
use crate::scheduler::current::ThreadWaker;
use crate::scheduler::{current, multi, Scheduler};
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A kiln runtime: worker threads with their event loops, timers and a blocking pool.
///
/// Dropping it shuts it down: every task is cancelled and its future dropped on a runtime
/// thread; the drop waits for workers to finish their current poll and for running blocking
/// jobs. [`Runtime::shutdown_timeout`] bounds that wait. Afterwards, I/O on its sockets fails
/// with an error saying the runtime has shut down, and sleeps complete at once.
///
/// # Panics
///
/// A panic inside a task is caught and reported through its `JoinHandle`. A panic in user code
/// that a runtime thread runs outside a task (a waker fired by a timer or by I/O readiness, a
/// `JoinHandle`'s waker, an [`on_thread_start`](Builder::on_thread_start) hook) is reported by
/// the panic hook and contained: the thread runs on, the runtime keeps running tasks, and
/// dropping it never waits for a thread that died. A panic of the future given to
/// [`block_on`](Runtime::block_on) propagates to its caller; the runtime stays usable.
///
/// ```
/// let rt = kiln::Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let a = kiln::spawn(async { 20 });
///     let b = kiln::spawn(async { 22 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct Runtime {
    handle: Handle,
    threads: Vec<std::thread::JoinHandle<()>>,
    shut_down: bool,
}

/// A cheap, cloneable reference to a runtime, to spawn onto it from anywhere.
///
/// ```
/// let rt = kiln::Runtime::new().unwrap();
/// let handle = rt.handle().clone();
/// let out = std::thread::spawn(move || {
///     let h = handle.spawn(async { 7 });
///     handle.block_on(h).unwrap()
/// })
/// .join()
/// .unwrap();
/// assert_eq!(out, 7);
/// ```
#[derive(Clone)]
pub struct Handle {
    sched: Scheduler,
    /// The compute pool (`spawn_compute`), owned by the runtime like the blocking pool.
    pub(crate) compute: kiln_blocking::executor::ThreadPool,
}

/// Makes a runtime current on this thread until dropped (see [`Handle::enter`]).
pub struct EnterGuard<'a> {
    _handle: context::HandleGuard,
    _placement: context::PlacementGuard,
    _timer: kiln_timer::context::EnterGuard,
    _runtime: std::marker::PhantomData<&'a Handle>,
}

impl Runtime {
    /// A multi-thread runtime with default settings.
    ///
    /// # Errors
    /// If a poller or a thread cannot be created.
    ///
    /// ```
    /// let rt = kiln::Runtime::new()?;
    /// rt.block_on(async {});
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new() -> io::Result<Runtime> {
        Builder::new_multi_thread().build()
    }

    pub(crate) fn from_builder(b: &Builder) -> io::Result<Runtime> {
        let blocking = b.blocking_pool()?;
        let compute = b.compute_pool()?;
        match b.kind {
            Kind::CurrentThread => {
                let shared = current::Shared::new(b.config(), blocking, b.testing)?;
                let sched = Scheduler::Current(shared.clone());
                crate::observe::watchdog::start(&sched)?;
                Ok(Runtime {
                    handle: Handle {
                        sched: Scheduler::Current(shared),
                        compute,
                    },
                    threads: Vec::new(),
                    shut_down: false,
                })
            }
            Kind::MultiThread => Runtime::multi_thread(b, blocking, compute),
        }
    }

    /// The multi-thread flavor: its shared state, the watchdog, and one thread per worker.
    fn multi_thread(
        b: &Builder,
        blocking: kiln_blocking::Pool,
        compute: kiln_blocking::executor::ThreadPool,
    ) -> io::Result<Runtime> {
        let workers = b.num_workers();
        let (shared, parts) = multi::Shared::new(workers, b.config(), blocking)?;
        let handle = Handle {
            sched: Scheduler::Multi(shared.clone()),
            compute,
        };
        crate::observe::watchdog::start(&handle.sched)?;
        let mut rt = Runtime {
            handle: handle.clone(),
            threads: Vec::with_capacity(workers),
            shut_down: false,
        };
        // A parked worker does not spin for a timer while compute jobs occupy every
        // CPU: the spin would take its time from them.
        let cpus = shared.cpus();
        let busy: crate::driver::CpusBusy = {
            let pool = handle.compute.clone();
            Arc::new(move || pool.metrics().running >= cpus)
        };
        for (index, (local, mut driver)) in parts.locals.into_iter().enumerate() {
            driver.set_cpus_busy(busy.clone());
            let mut tb = std::thread::Builder::new().name((b.thread_name)());
            if let Some(size) = b.thread_stack_size {
                tb = tb.stack_size(size);
            }
            let shared = shared.clone();
            let handle = handle.clone();
            let start = b.on_thread_start.clone();
            let stop = b.on_thread_stop.clone();
            let slice = b.worker_time_slice;
            let spawned = tb.spawn(move || {
                // First: whatever happens below, shutdown learns that this thread left.
                let mut exit = shared.worker_exit_guard();
                // Until its loop starts, a worker thread places like any other.
                let _p = context::set_placement(handle.sched.placement());
                let _h = context::set_handle(handle);
                let _rt = context::enter_runtime_thread();
                // Before the user's hook, which may choose other settings.
                crate::sys::request_time_slice(slice);
                crate::sys::park::set_minimal_timer_slack();
                // A panicking hook is reported and the worker runs on (see `Builder`).
                if let Some(f) = start {
                    crate::cell::contain_panic(|| f());
                }
                multi::run_worker(&mut exit, index, local, driver);
                if let Some(f) = stop {
                    crate::cell::contain_panic(|| f());
                }
            });
            match spawned {
                Ok(t) => rt.threads.push(t),
                Err(e) => {
                    // Workers that never started must not be waited for.
                    drop(rt);
                    return Err(e);
                }
            }
        }
        Ok(rt)
    }

    /// Runs `future` to completion on the current thread, with this runtime's context entered:
    /// asyncio's `loop.run_until_complete`.
    ///
    /// # Panics
    /// If called from a thread that already runs kiln tasks (inside a task, or a nested
    /// `block_on`): blocking it would stall those tasks.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// assert_eq!(rt.block_on(async { 3 }), 3);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns a task onto the runtime (from any thread).
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let h = rt.spawn(async { "done" });
    /// assert_eq!(rt.block_on(h).unwrap(), "done");
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs `f` on the blocking pool (asyncio's `run_in_executor`).
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let h = rt.spawn_blocking(|| (1..=10u64).product::<u64>());
    /// assert_eq!(rt.block_on(h).unwrap(), 3_628_800);
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// This runtime's handle.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _h: kiln::Handle = rt.handle().clone();
    /// ```
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Makes this runtime current on this thread until the guard drops, so `kiln::spawn` and
    /// `kiln::time::sleep` work from plain (non-async) code.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _guard = rt.enter();
    /// let h = kiln::spawn(async { 1 });
    /// # drop(_guard);
    /// assert_eq!(rt.block_on(h).unwrap(), 1);
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// Shuts down, waiting at most `timeout` for workers to finish their current poll and for
    /// running blocking jobs. Every task is cancelled; threads still busy after the timeout are
    /// left to finish on their own. A timeout too large to add to the clock (such as
    /// `Duration::MAX`) waits without a bound, as dropping the runtime does.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// rt.spawn_blocking(|| std::thread::sleep(std::time::Duration::from_secs(2)));
    /// let start = std::time::Instant::now();
    /// rt.shutdown_timeout(std::time::Duration::from_millis(50));
    /// assert!(start.elapsed() < std::time::Duration::from_secs(2));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Some(timeout));
    }

    /// Shuts down without waiting for blocking jobs or busy workers.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// rt.spawn(std::future::pending::<()>());
    /// rt.shutdown_background();
    /// ```
    pub fn shutdown_background(self) {
        self.shutdown_timeout(Duration::ZERO);
    }

    fn shutdown(&mut self, timeout: Option<Duration>) {
        if std::mem::replace(&mut self.shut_down, true) {
            return;
        }
        // A timeout too large to add to the clock (`Duration::MAX`) waits without a bound.
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        let remaining = || deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        match &self.handle.sched {
            Scheduler::Current(shared) => shared.shutdown(),
            Scheduler::Multi(shared) => {
                shared.begin_shutdown();
                // Dropped on one of our own workers: it cannot wait for itself.
                let on_worker = context::with_scheduler(
                    |cx| matches!(cx, Some(crate::scheduler::SchedulerContext::Multi(w)) if Arc::ptr_eq(&w.shared, shared)),
                );
                let all_left = !on_worker && shared.wait_workers(remaining());
                if all_left {
                    for t in self.threads.drain(..) {
                        let _ = t.join();
                    }
                } else {
                    self.threads.clear();
                }
                for driver in shared.peers.drivers() {
                    driver.timer.shutdown();
                    driver.shutdown_io();
                }
            }
        }
        self.handle.sched.blocking().shutdown(remaining());
        // Queued compute jobs are cancelled; running ones get what is left of the timeout.
        let compute_wait = remaining().unwrap_or(Duration::MAX);
        self.handle.compute.shutdown_timeout(compute_wait);
    }

    /// Live counters of this runtime (see [`crate::RuntimeMetrics`]).
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    /// assert_eq!(rt.metrics().num_workers(), 2);
    /// ```
    pub fn metrics(&self) -> crate::RuntimeMetrics {
        self.handle.metrics()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("handle", &self.handle)
            .finish()
    }
}

impl Handle {
    /// The handle of the runtime this thread is in.
    ///
    /// # Panics
    /// Outside a runtime (use [`Handle::try_current`]).
    ///
    /// ```
    /// kiln::run(async {
    ///     let h = kiln::Handle::current();
    ///     assert_eq!(h.spawn(async { 2 }).await.unwrap(), 2);
    /// });
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current().unwrap_or_else(|| no_runtime("kiln::Handle::current()"))
    }

    /// The current runtime's handle, or `None` outside a runtime.
    ///
    /// ```
    /// assert!(kiln::Handle::try_current().is_none());
    /// ```
    pub fn try_current() -> Option<Handle> {
        context::with_handle(|h| h.cloned())
    }

    pub(crate) fn scheduler(&self) -> &Scheduler {
        &self.sched
    }

    /// Spawns a task onto this runtime.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let h = rt.handle().spawn(async { 1 });
    /// assert_eq!(rt.block_on(h).unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.sched.spawn(future)
    }

    /// Makes this runtime current on this thread until the guard drops.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _g = rt.handle().enter();
    /// assert!(kiln::Handle::try_current().is_some());
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        self.enter_owned()
    }

    /// [`enter`](Self::enter), for a guard kept beyond this borrow (a blocking-pool thread
    /// stays entered between jobs). The guard holds its own clone of the handle.
    pub(crate) fn enter_owned(&self) -> EnterGuard<'static> {
        let placement = self.sched.placement();
        let timer = placement.driver_ref().timer.handle();
        self.enter_on(placement, timer)
    }

    /// [`enter`](Self::enter) with the placement and timer already chosen.
    fn enter_on(
        &self,
        placement: crate::driver::Placement,
        timer: kiln_timer::TimerHandle,
    ) -> EnterGuard<'static> {
        EnterGuard {
            _handle: context::set_handle(self.clone()),
            _placement: context::set_placement(placement),
            _timer: kiln_timer::context::enter(timer),
            _runtime: std::marker::PhantomData,
        }
    }

    /// Runs `future` to completion on this thread with this runtime entered.
    ///
    /// # Panics
    /// On a thread that already runs kiln tasks (see [`Runtime::block_on`]).
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// assert_eq!(rt.handle().block_on(async { 9 }), 9);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _rt = context::enter_runtime_thread();
        match &self.sched {
            Scheduler::Current(shared) => {
                let _enter = self.enter();
                shared.block_on(future)
            }
            Scheduler::Multi(s) => {
                // The future's timers go to this driver, and this thread waits for them
                // itself (`driver/block_on.rs`).
                let placement = self.sched.placement();
                let driver = placement.driver();
                let _enter = self.enter_on(placement, driver.timer.handle());
                let wait = BlockOnWait::new(
                    &driver,
                    s.config.timer_spin_limit,
                    s.config.thread.time_slice,
                );
                park_on(future, &s.unhandled, wait)
            }
        }
    }

    /// Live counters of this runtime.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// assert!(rt.handle().metrics().num_workers() >= 1);
    /// ```
    pub fn metrics(&self) -> crate::RuntimeMetrics {
        crate::RuntimeMetrics::new(self.clone())
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flavor = match self.sched {
            Scheduler::Multi(_) => "multi_thread",
            Scheduler::Current(_) => "current_thread",
        };
        f.debug_struct("Handle").field("flavor", &flavor).finish()
    }
}

/// Polls `future` on this thread, parking it between wake-ups through `wait` (which also
/// waits for the future's own timers); panics if an unhandled task panic shuts the runtime
/// down meanwhile (see `scheduler/unhandled.rs`). `wait` drops after the future, so timers
/// the future left pending go back to their worker.
#[track_caller]
fn park_on<F: Future>(
    future: F,
    unhandled: &crate::scheduler::unhandled::Unhandled,
    mut wait: BlockOnWait,
) -> F::Output {
    let mut future = std::pin::pin!(future);
    let parker = std::sync::Arc::new(ThreadWaker {
        thread: crate::loom::thread::current(),
        woken: AtomicBool::new(true),
    });
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    let _registered = unhandled.register(&waker);
    loop {
        if parker.woken.swap(false, AcqRel) {
            unhandled.check();
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            continue;
        }
        wait.park(&parker.woken);
    }
}

pub(crate) use crate::context::no_runtime;

/// Spawns a task onto the current runtime: asyncio's `create_task`.
///
/// # Panics
/// Outside a runtime, with a message that says so.
///
/// ```
/// kiln::run(async {
///     let h = kiln::spawn(async { 1 + 1 });
///     assert_eq!(h.await.unwrap(), 2);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let at = std::panic::Location::caller();
    context::with_handle(move |h| match h {
        Some(h) => h.sched.spawn_at(future, crate::cell::TaskMeta::at(at)),
        None => no_runtime_at("kiln::spawn", at),
    })
}

fn no_runtime_at(what: &str, at: &std::panic::Location<'_>) -> ! {
    panic!(
        "{what} must be called from inside a kiln runtime (within `kiln::run`, \
         `Runtime::block_on`, a spawned task, or after `Runtime::enter`); called at {at}"
    )
}

/// Runs `f` on the current runtime's blocking pool: asyncio's `loop.run_in_executor(None, f)`.
///
/// # Panics
/// Outside a runtime, with a message that says so.
///
/// ```
/// kiln::run(async {
///     let sum = kiln::spawn_blocking(|| (0..1000u64).sum::<u64>()).await.unwrap();
///     assert_eq!(sum, 499_500);
/// });
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match Handle::try_current() {
        Some(h) => h.spawn_blocking(f),
        None => no_runtime("kiln::spawn_blocking"),
    }
}

/// Runs `future` on a new default runtime and shuts it down: asyncio's `asyncio.run`.
///
/// # Panics
/// If the runtime cannot be created, or when called inside a runtime.
///
/// ```
/// let out = kiln::run(async { "hello" });
/// assert_eq!(out, "hello");
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    if context::is_runtime_thread() {
        panic!(
            "kiln::run cannot be called inside a runtime: this thread already drives \
             asynchronous tasks. Await the future instead."
        );
    }
    let rt = Runtime::new().expect("kiln::run: failed to build the runtime");
    rt.block_on(future)
}
