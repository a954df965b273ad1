//! [`RuntimeMetrics`]: live counters read from a runtime.
//!
//! Workers count in plain fields of their own `Core` and publish them with Relaxed stores to
//! their `Remote` at every park and every maintenance tick, so counting costs no shared atomic
//! on the hot path; readings lag by at most one `event_interval`.
//!
//! Histograms and the Prometheus exposition are in `observe/metrics.rs`.

use crate::loom::sync::atomic::Ordering::Relaxed;
use crate::scheduler::multi::WorkerMetrics;
use crate::scheduler::Scheduler;
use crate::Handle;

/// A view of a runtime's counters.
///
/// ```
/// let rt = kiln::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// rt.block_on(async {
///     for _ in 0..10 {
///         kiln::spawn(async {}).await.unwrap();
///     }
/// });
/// let m = rt.metrics();
/// assert_eq!(m.num_workers(), 2);
/// let _polls: u64 = (0..m.num_workers()).map(|w| m.worker_poll_count(w)).sum();
/// ```
#[derive(Clone, Debug)]
pub struct RuntimeMetrics {
    handle: Handle,
}

impl RuntimeMetrics {
    pub(crate) fn new(handle: Handle) -> RuntimeMetrics {
        RuntimeMetrics { handle }
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    fn worker(&self, worker: usize) -> &WorkerMetrics {
        match self.handle.scheduler() {
            Scheduler::Multi(s) => &s.remotes[worker].metrics,
            Scheduler::Current(s) => {
                assert_eq!(
                    worker, 0,
                    "kiln: a current-thread runtime has one worker (index 0)"
                );
                &s.metrics
            }
        }
    }

    /// Number of worker threads (1 for a current-thread runtime).
    ///
    /// ```
    /// let rt = kiln::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.metrics().num_workers(), 1);
    /// ```
    pub fn num_workers(&self) -> usize {
        match self.handle.scheduler() {
            Scheduler::Multi(s) => s.remotes.len(),
            Scheduler::Current(_) => 1,
        }
    }

    /// Tasks currently alive (spawned, not yet complete).
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// assert_eq!(rt.metrics().num_alive_tasks(), 0);
    /// ```
    pub fn num_alive_tasks(&self) -> usize {
        match self.handle.scheduler() {
            Scheduler::Multi(s) => s.owned.len(),
            Scheduler::Current(s) => s.owned.len(),
        }
    }

    /// Task polls by `worker`.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _ = rt.metrics().worker_poll_count(0);
    /// ```
    pub fn worker_poll_count(&self, worker: usize) -> u64 {
        self.worker(worker).polls.load(Relaxed)
    }

    /// Successful steal operations by `worker`.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _ = rt.metrics().worker_steal_count(0);
    /// ```
    pub fn worker_steal_count(&self, worker: usize) -> u64 {
        self.worker(worker).steals.load(Relaxed)
    }

    /// Tasks moved by `worker`'s steals.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _ = rt.metrics().worker_stolen_tasks(0);
    /// ```
    pub fn worker_stolen_tasks(&self, worker: usize) -> u64 {
        self.worker(worker).stolen_tasks.load(Relaxed)
    }

    /// Times `worker` parked (went to sleep in its poller).
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _ = rt.metrics().worker_park_count(0);
    /// ```
    pub fn worker_park_count(&self, worker: usize) -> u64 {
        self.worker(worker).parks.load(Relaxed)
    }

    /// I/O events `worker`'s poller delivered.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _ = rt.metrics().worker_io_event_count(0);
    /// ```
    pub fn worker_io_event_count(&self, worker: usize) -> u64 {
        self.worker(worker).io_events.load(Relaxed)
    }

    /// Timers `worker` fired.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _ = rt.metrics().worker_timers_fired(0);
    /// ```
    pub fn worker_timers_fired(&self, worker: usize) -> u64 {
        self.worker(worker).timers_fired.load(Relaxed)
    }

    /// Tasks `worker` ran straight from its LIFO slot.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _ = rt.metrics().worker_lifo_count(0);
    /// ```
    pub fn worker_lifo_count(&self, worker: usize) -> u64 {
        self.worker(worker).lifo_polls.load(Relaxed)
    }

    /// Tasks waiting in `worker`'s local queue now.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// assert_eq!(rt.metrics().worker_local_queue_depth(0), 0);
    /// ```
    pub fn worker_local_queue_depth(&self, worker: usize) -> usize {
        match self.handle.scheduler() {
            Scheduler::Multi(s) => s.local_queue_depth(worker),
            Scheduler::Current(_) => 0,
        }
    }

    /// Tasks waiting in the shared injector now.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// assert_eq!(rt.metrics().injector_depth(), 0);
    /// ```
    pub fn injector_depth(&self) -> usize {
        match self.handle.scheduler() {
            Scheduler::Multi(s) => s.injector_depth(),
            Scheduler::Current(s) => s.injector_depth(),
        }
    }

    /// Blocking-pool threads alive now.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _ = rt.metrics().blocking_threads();
    /// ```
    pub fn blocking_threads(&self) -> usize {
        self.handle.scheduler().blocking().metrics().threads
    }

    /// Blocking-pool threads idle now.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let _ = rt.metrics().blocking_idle_threads();
    /// ```
    pub fn blocking_idle_threads(&self) -> usize {
        self.handle.scheduler().blocking().metrics().idle_threads
    }

    /// Blocking jobs queued, not yet started.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// assert_eq!(rt.metrics().blocking_queue_depth(), 0);
    /// ```
    pub fn blocking_queue_depth(&self) -> usize {
        self.handle.scheduler().blocking().metrics().queue_depth
    }
}
