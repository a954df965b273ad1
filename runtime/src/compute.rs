//! `spawn_compute`: CPU-heavy closures on the runtime's compute pool, a
//! [`ThreadPool`] sized to the workers
//! ([`Builder::compute_threads`](crate::Builder::compute_threads)) and separate from the
//! elastic blocking pool.
//!
//! Each job runs with its runtime entered, so `kiln::spawn` and `kiln::time` work inside it.
//! The handle is the pool's own [`JoinHandle`]: awaitable anywhere, abortable before the job
//! starts, and [`is_cancelled`](kiln_blocking::executor::is_cancelled) lets a running job stop
//! early.

use crate::runtime::no_runtime;
use crate::Handle;
use kiln_blocking::executor::{JoinHandle, ThreadPool};

impl Handle {
    /// Runs `f` on this runtime's compute pool (see [`spawn_compute`]).
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let h = rt.handle().spawn_compute(|| (1..=5u64).product::<u64>());
    /// assert_eq!(rt.block_on(h).unwrap(), 120);
    /// ```
    pub fn spawn_compute<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let handle = self.clone();
        // A paused clock does not jump while the job is queued or running (docs/testing.md).
        let in_flight = self.scheduler().jobs_in_flight().map(|j| j.start());
        self.compute.spawn_holding(
            move || {
                let _enter = handle.enter();
                f()
            },
            in_flight,
        )
    }

    /// This runtime's compute pool: for [`ThreadPool::map`], backpressure with
    /// [`ThreadPool::spawn_wait`], or its metrics. It shuts down with the runtime.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    /// let pool = rt.handle().compute_pool();
    /// assert_eq!(pool.threads(), 2); // one per worker by default
    /// let sum = rt.block_on(async {
    ///     let mut squares = pool.map(1..=4u64, |x| x * x);
    ///     let mut sum = 0;
    ///     while let Some(r) = squares.next().await {
    ///         sum += r.unwrap();
    ///     }
    ///     sum
    /// });
    /// assert_eq!(sum, 30);
    /// ```
    pub fn compute_pool(&self) -> &ThreadPool {
        &self.compute
    }
}

/// Runs the CPU-heavy closure `f` on the current runtime's compute pool: asyncio's
/// `loop.run_in_executor(ProcessPoolExecutor(), f)`, with threads instead of processes.
///
/// The pool has as many threads as the runtime has workers by default
/// ([`Builder::compute_threads`](crate::Builder::compute_threads)); jobs beyond them wait in
/// its queue, so a burst of jobs never starts a thread each and never crowds out blocking I/O
/// in [`spawn_blocking`](crate::spawn_blocking). The job runs with the runtime entered.
///
/// Cancellation: [`JoinHandle::abort`] before the job starts cancels it (the handle reports
/// [`JoinError::is_cancelled`](kiln_blocking::executor::JoinError::is_cancelled)); a running
/// job can poll [`is_cancelled`](kiln_blocking::executor::is_cancelled) to stop early. Runtime
/// shutdown cancels queued jobs.
///
/// # Panics
/// Outside a runtime, with a message that says so.
///
/// ```
/// kiln::run(async {
///     let primes = kiln::spawn_compute(|| (2..10_000u32).filter(|&n| is_prime(n)).count());
///     assert_eq!(primes.await.unwrap(), 1229);
/// });
/// fn is_prime(n: u32) -> bool {
///     (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
/// }
/// ```
#[track_caller]
pub fn spawn_compute<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    match Handle::try_current() {
        Some(h) => h.spawn_compute(f),
        None => no_runtime("kiln::spawn_compute"),
    }
}
