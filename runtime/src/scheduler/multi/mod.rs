//! The multi-thread, work-stealing scheduler.
//!
//! State by owner:
//! - [`Shared`] (all workers, behind an `Arc`, also the task cells' scheduler): the injector,
//!   one [`Remote`] per worker, the idle/searching accounting, the owned-task list.
//! - [`Remote`] (what other threads may touch of one worker): its queue's `Steal` handle, its
//!   driver handle (poller notify, timers, I/O registrations), its published metrics.
//! - `Core` (one worker thread only, in `worker.rs`): the `Local` queue, the LIFO slot, tick
//!   counters and the event buffer.
//! - [`WorkerContext`] (thread-local, while the thread runs its loop): the `Core` behind a
//!   `RefCell`, borrowed only for queue operations, never across a task poll.
//!
//! Scheduling: a wake on one of this runtime's worker threads goes to that worker's LIFO slot
//! (the displaced task to the back of its local queue); a task that yielded goes to the back
//! of the local queue; any other thread pushes to the injector. After a push, a sleeping
//! worker is notified if nobody is searching (`idle.rs` proves no wake-up is lost).
//!
//! A worker whose queues run dry first harvests its own sockets (one non-blocking syscall):
//! the tasks they wake run here, on the CPU that just received their data, and do not wait
//! while this worker steals from a sibling. Only then does it steal, and then park.
//!
//! Shutdown protocol:
//! 1. `shutdown` is set (SeqCst) and every worker's poller is notified.
//! 2. Each worker leaves its loop after its current poll, drops the tasks in its LIFO slot and
//!    local queue (references only), and calls `owned.close_and_shutdown_all()`: every task
//!    not running elsewhere is cancelled and its future dropped on that worker thread; a task
//!    running elsewhere is cancelled by its runner when its poll returns.
//! 3. The last worker out drains the injector. A remote push that raced with it sees
//!    `shutdown` after its push and drains the injector itself.
//! 4. `Runtime` waits for the workers (bounded by `shutdown_timeout`), then shuts the timers
//!    and the blocking pool down.

mod handoff;
mod idle;
mod queue;
mod worker;

#[cfg(all(test, loom))]
mod loom_tests;

pub(crate) use handoff::block_in_place;
pub(crate) use worker::{run_worker, WorkerContext};

use crate::driver::DriverHandle;
use crate::loom::{AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering::*};
use crate::scheduler::SchedulerContext;
use crate::task::{owned::OwnedTasks, JoinHandle, Notified, RawTask, Schedule};
use idle::Idle;
use queue::{Inject, Steal};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Tunables the workers read.
pub(crate) struct Config {
    pub(crate) event_interval: u32,
    pub(crate) global_queue_interval: u32,
    pub(crate) lifo_slot: bool,
    pub(crate) slow_poll_threshold: Option<Duration>,
    pub(crate) metrics: bool,
    /// `Builder::stall_threshold` and `Builder::poll_histograms`.
    pub(crate) observe: crate::observe::Settings,
    /// `Builder::timer_spin_limit`: the most a parked worker spins before a timer deadline.
    pub(crate) timer_spin_limit: Duration,
    /// `Builder::unhandled_panic`.
    pub(crate) unhandled_panic: crate::UnhandledPanic,
    /// How to start a worker thread after the runtime is built (`block_in_place`'s successor).
    pub(crate) thread: WorkerThreadSpec,
}

/// The `Builder` settings of a worker thread.
pub(crate) struct WorkerThreadSpec {
    pub(crate) name: Arc<dyn Fn() -> String + Send + Sync + 'static>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_start: Option<crate::builder::Hook>,
    pub(crate) on_stop: Option<crate::builder::Hook>,
    /// `Builder::worker_time_slice`.
    pub(crate) time_slice: Duration,
}

/// One worker's published counters (written by its owner with Relaxed stores).
#[derive(Default)]
pub(crate) struct WorkerMetrics {
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) stolen_tasks: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) io_events: AtomicU64,
    pub(crate) timers_fired: AtomicU64,
    pub(crate) lifo_polls: AtomicU64,
}

/// What other threads may touch of one worker.
pub(crate) struct Remote {
    pub(crate) steal: Steal,
    pub(crate) driver: Arc<DriverHandle>,
    pub(crate) metrics: WorkerMetrics,
    /// The CPU the worker last ran on (`usize::MAX`: unknown), see `crate::net::affinity`.
    pub(crate) cpu: AtomicUsize,
}

/// State shared by every worker of one runtime.
pub(crate) struct Shared {
    pub(crate) remotes: Box<[Remote]>,
    inject: Inject,
    idle: Idle,
    pub(crate) owned: OwnedTasks,
    shutdown: AtomicBool,
    pub(crate) config: Config,
    pub(crate) blocking: kiln_blocking::Pool,
    /// Panics nobody will read (`Builder::unhandled_panic`).
    pub(crate) unhandled: crate::scheduler::unhandled::Unhandled,
    /// Workers still in their loop, and a condvar signalled as each leaves (shutdown waits).
    workers_alive: Mutex<usize>,
    workers_done: Condvar,
    /// Workers that have not yet finished their part of shutdown (the last drains the injector).
    workers_running: AtomicUsize,
}

/// Whether a worker holding `load` of the `total` sockets of a runtime with `workers` workers
/// may take one more from a sibling: while it holds at most a quarter more than an even share,
/// plus one (`load <= 1.25 * total / workers + 1`).
fn may_take_socket(load: usize, total: usize, workers: usize) -> bool {
    4 * workers * load <= 5 * total + 4 * workers
}

/// The per-worker halves `Runtime` hands to each worker thread.
pub(crate) struct Parts {
    pub(crate) locals: Vec<(queue::Local, crate::driver::Driver)>,
}

impl Shared {
    /// The driver of the worker last seen running on `cpu`, if `from` is the driver of
    /// another worker of this runtime and that worker holds at most a quarter more than an
    /// even share of the runtime's sockets (see `crate::net::affinity`).
    pub(crate) fn sibling_on_cpu(
        &self,
        from: &Arc<DriverHandle>,
        cpu: usize,
    ) -> Option<Arc<DriverHandle>> {
        if !self.remotes.iter().any(|r| Arc::ptr_eq(&r.driver, from)) {
            return None;
        }
        // Relaxed: a placement hint; a stale value only places a socket less well.
        let target = self.remotes.iter().find(|r| r.cpu.load(Relaxed) == cpu)?;
        if Arc::ptr_eq(&target.driver, from) {
            return None;
        }
        let total: usize = self.remotes.iter().map(|r| r.driver.io_sources()).sum();
        may_take_socket(target.driver.io_sources(), total, self.remotes.len())
            .then(|| target.driver.clone())
    }

    pub(crate) fn new(
        workers: usize,
        config: Config,
        blocking: kiln_blocking::Pool,
    ) -> std::io::Result<(Arc<Shared>, Parts)> {
        let mut remotes = Vec::with_capacity(workers);
        let mut locals = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (local, steal) = queue::local();
            let driver = DriverHandle::new()?;
            locals.push((
                local,
                crate::driver::Driver::new(driver.clone(), config.timer_spin_limit),
            ));
            remotes.push(Remote {
                steal,
                driver,
                metrics: WorkerMetrics::default(),
                cpu: AtomicUsize::new(usize::MAX),
            });
        }
        // Each worker watches its siblings' sockets (see `driver/watch.rs`).
        for (i, (_, driver)) in locals.iter_mut().enumerate() {
            let siblings = remotes
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, r)| r.driver.clone())
                .collect();
            driver.set_siblings(siblings);
        }
        let shared = Arc::new(Shared {
            remotes: remotes.into_boxed_slice(),
            inject: Inject::new(),
            idle: Idle::new(workers),
            owned: OwnedTasks::observed(
                workers * 4,
                crate::observe::Observer::new(workers, config.observe),
            ),
            shutdown: AtomicBool::new(false),
            unhandled: crate::scheduler::unhandled::Unhandled::new(config.unhandled_panic),
            config,
            blocking,
            workers_alive: Mutex::new(workers),
            workers_done: Condvar::new(),
            workers_running: AtomicUsize::new(workers),
        });
        Ok((shared, Parts { locals }))
    }

    pub(crate) fn spawn<F>(
        this: &Arc<Shared>,
        future: F,
        meta: crate::task::TaskMeta<'_>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, notified) = crate::task::spawn_task(future, this.clone(), &this.owned, meta);
        if let Some(task) = notified {
            this.schedule_task(task, false);
        }
        join
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Acquire)
    }

    fn schedule_task(self: &Arc<Self>, task: Notified, is_yield: bool) {
        let task = crate::context::with_scheduler(|cx| match cx {
            Some(SchedulerContext::Multi(cx)) if std::ptr::eq(&*cx.shared, &**self) => {
                cx.schedule_local(task, is_yield);
                None
            }
            _ => Some(task),
        });
        if let Some(task) = task {
            self.schedule_remote(task);
        }
    }

    fn schedule_remote(&self, task: Notified) {
        self.inject.push(task);
        self.notify_parked();
        if self.shutdown.load(SeqCst) {
            // Step 3 of the shutdown protocol: the workers may have drained the injector
            // before our push landed.
            crate::scheduler::drain(std::iter::from_fn(|| self.inject.pop()));
        }
    }

    /// Wakes a sleeping worker if work waits and nobody is searching.
    pub(crate) fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].driver.unpark();
        }
    }

    /// Whether any queue other than `except`'s holds work (the re-check before parking).
    fn has_queued_work(&self, except: usize) -> bool {
        !self.inject.is_empty()
            || self
                .remotes
                .iter()
                .enumerate()
                .any(|(i, r)| i != except && !r.steal.is_empty())
    }

    /// Step 1 of the shutdown protocol.
    pub(crate) fn begin_shutdown(&self) {
        if self.shutdown.swap(true, SeqCst) {
            return;
        }
        for remote in self.remotes.iter() {
            remote.driver.unpark();
        }
    }

    /// One more thread runs (or is about to run) a worker loop: `block_in_place`'s successor.
    fn worker_started(&self) {
        *self.workers_alive.lock() += 1;
    }

    fn worker_exited(&self) {
        let mut alive = self.workers_alive.lock();
        *alive -= 1;
        self.workers_done.notify_all();
    }

    /// The guard a worker thread holds from its first line (see [`WorkerExit`]).
    pub(crate) fn worker_exit_guard(self: &Arc<Self>) -> WorkerExit {
        WorkerExit {
            shared: self.clone(),
            counted_out: false,
            signalled: false,
        }
    }

    /// The guard of a `block_in_place` successor thread, counted in `workers_alive` by
    /// `worker_started`: it holds no core until [`WorkerExit::took_core`].
    pub(crate) fn successor_exit_guard(self: &Arc<Self>) -> WorkerExit {
        WorkerExit {
            shared: self.clone(),
            counted_out: true,
            signalled: false,
        }
    }

    /// Step 4: waits until every worker left, or `timeout` passed. `true` if all left. A
    /// timeout too large to add to the clock waits without a bound.
    pub(crate) fn wait_workers(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        let mut alive = self.workers_alive.lock();
        while *alive > 0 {
            match deadline {
                None => {
                    #[cfg(not(all(test, loom)))]
                    self.workers_done.wait(&mut alive);
                    #[cfg(all(test, loom))]
                    {
                        alive = self.workers_done.wait(alive).expect("kiln: lock poisoned");
                    }
                }
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    #[cfg(not(all(test, loom)))]
                    self.workers_done.wait_for(&mut alive, deadline - now);
                    #[cfg(all(test, loom))]
                    {
                        alive = self.workers_done.wait(alive).expect("kiln: lock poisoned");
                    }
                }
            }
        }
        true
    }

    pub(crate) fn injector_depth(&self) -> usize {
        self.inject.len()
    }

    pub(crate) fn local_queue_depth(&self, worker: usize) -> usize {
        self.remotes[worker].steal.len()
    }
}

/// Counts a worker thread out of the runtime when it leaves, however it leaves: normally
/// [`run_worker`] finishes steps 2–3 and then calls [`WorkerExit::exited`]; if the thread
/// unwinds instead (a panic no containment caught), the drop counts it out of step 3 and
/// signals step 4, so `wait_workers` never waits for a thread that is gone. (The injector's
/// references are then left undrained if it was the last: dropping tasks while unwinding
/// could abort the process.)
pub(crate) struct WorkerExit {
    shared: Arc<Shared>,
    /// Steps 2–3 done: the worker is no longer counted in `workers_running`.
    counted_out: bool,
    /// Step 4 signalled: the worker is no longer counted in `workers_alive`.
    signalled: bool,
}

impl WorkerExit {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Steps 2 and 3, run by each worker as it leaves its loop.
    pub(crate) fn worker_shutdown(&mut self) {
        let shared = &self.shared;
        shared.owned.close_and_shutdown_all();
        self.counted_out = true;
        if shared.workers_running.fetch_sub(1, AcqRel) == 1 {
            crate::scheduler::drain(std::iter::from_fn(|| shared.inject.pop()));
        }
    }

    /// The thread gave its core to a `block_in_place` successor, which now owns steps 2–3.
    pub(crate) fn handed_on(&mut self) {
        self.counted_out = true;
    }

    /// The thread took over a core handed on by `block_in_place` (see
    /// [`Shared::successor_exit_guard`]): steps 2–3 are now its own.
    pub(crate) fn took_core(&mut self) {
        self.counted_out = false;
    }

    /// Step 4 for a worker that finished steps 2–3.
    pub(crate) fn exited(&mut self) {
        if !std::mem::replace(&mut self.signalled, true) {
            self.shared.worker_exited();
        }
    }
}

impl Drop for WorkerExit {
    fn drop(&mut self) {
        if !self.counted_out {
            self.counted_out = true;
            self.shared.workers_running.fetch_sub(1, AcqRel);
        }
        self.exited();
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified) {
        self.schedule_task(task, false);
    }

    fn yield_now(&self, task: Notified) {
        self.schedule_task(task, true);
    }

    fn release(&self, task: RawTask) -> bool {
        self.owned.remove(task)
    }

    fn unhandled_panic(&self, message: String) {
        if self.unhandled.on_panic(message) {
            self.begin_shutdown();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::may_take_socket;

    #[test]
    fn a_worker_takes_sockets_up_to_a_quarter_above_its_share() {
        // 100 sockets on 2 workers: an even share is 50, the bound 63.5.
        assert!(may_take_socket(50, 100, 2));
        assert!(may_take_socket(63, 100, 2));
        assert!(!may_take_socket(64, 100, 2));
        // One CPU receiving every packet cannot pull all sockets to one worker.
        assert!(!may_take_socket(100, 100, 2));
        // Small runtimes still move their few sockets.
        assert!(may_take_socket(1, 2, 2));
        assert!(may_take_socket(2, 2, 2));
        assert!(!may_take_socket(3, 2, 2));
        assert!(may_take_socket(0, 0, 4));
    }

    /// A worker thread that unwinds before it finished its shutdown steps is still counted
    /// out, so waiting for the workers cannot hang.
    #[test]
    fn a_worker_thread_that_unwinds_is_counted_out() {
        let b = crate::Builder::new_multi_thread();
        let (shared, _parts) =
            super::Shared::new(2, b.config(), b.blocking_pool().unwrap()).unwrap();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _exit = shared.worker_exit_guard();
                    panic!("a worker dies on purpose");
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_err());
        }
        shared.begin_shutdown();
        assert!(
            shared.wait_workers(Some(std::time::Duration::from_secs(20))),
            "a dead worker was waited for"
        );
        assert_eq!(shared.workers_running.load(super::SeqCst), 0);
    }
}
