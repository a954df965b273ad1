//! The multi-thread, work-stealing scheduler.
//!
//! State by owner:
//! - [`Shared`] (all workers, behind an `Arc`, also the task cells' scheduler): the injector,
//!   one [`Remote`] per worker, the idle/searching accounting, the owned-task list.
//! - [`Remote`] (what other threads may touch of one worker): its queue's `Steal` handle, its
//!   driver handle to unpark it, its published metrics.
//! - `peers` (`crate::driver::Peers`): every worker's driver, for placement, CPU hints and
//!   I/O stealing; the scheduler asks it and never reaches into a sibling's driver itself.
//! - `Core` (one worker thread only, in `worker.rs`): the `Local` queue, the LIFO slot, tick
//!   counters and the event buffer.
//! - [`WorkerContext`] (thread-local, while the thread runs its loop): the `Core` behind a
//!   `RefCell`, borrowed only for queue operations, never across a task poll.
//!
//! Scheduling: a wake on one of this runtime's worker threads goes to that worker's LIFO slot
//! (the displaced task to the back of its local queue); a task that yielded goes to the back
//! of the local queue; any other thread pushes to the injector. After a push, a sleeping
//! worker is notified if nobody is searching (`idle.rs` proves no wake-up is lost). The one
//! exception: the tasks a worker's own park wakes (I/O readiness, timers dispatched after its
//! wait) notify nobody while they are queued, since the worker is still on the sleepers list
//! then and could pick itself (an eventfd write to its own poller, and an extra wait that
//! returns at once); the worker notifies once for the whole batch after leaving the list, if
//! more than one task waits. Those tasks sit in the worker's own queues, which it runs next,
//! so no wake-up is lost.
//!
//! A worker whose queues run dry first takes half of a sibling's backlog (two or more queued
//! tasks, `worker.rs`), then harvests its own sockets (one non-blocking syscall): the tasks
//! they wake run here, on the CPU that just received their data, and do not wait while this
//! worker searches. Only then does it search (steal from any sibling, the injector, I/O of
//! stuck siblings), and then park.
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

mod contention;
mod handoff;
mod idle;
mod queue;
mod surplus;
mod worker;

#[cfg(all(test, loom))]
mod loom_tests;

pub(crate) use handoff::block_in_place;
pub(crate) use worker::{run_worker, WorkerContext};

use crate::cell::{owned::OwnedTasks, Notified, RawTask, Schedule};
use crate::driver::{DriverHandle, Peers, Recheck};
use crate::loom::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*},
    Condvar, Mutex,
};
use crate::scheduler::SchedulerContext;
use idle::Idle;
use queue::{Inject, Steal};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A thread start or stop hook (`Builder::on_thread_start`, `Builder::on_thread_stop`).
pub(crate) type ThreadHook = Arc<dyn Fn() + Send + Sync + 'static>;

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
    /// `Builder::sibling_wake_patience`: how long surplus from a worker's driver may wait
    /// before a sibling is woken for it while every CPU is taken; zero wakes at once.
    pub(crate) wake_patience: Duration,
    /// `Builder::stay_behind_busy_siblings`: workers keep surplus and stay behind a busy
    /// sibling while the running workers take every CPU other threads leave (`contention.rs`).
    pub(crate) stay_behind: bool,
    /// `Builder::unhandled_panic`.
    pub(crate) unhandled_panic: crate::UnhandledPanic,
    /// How to start a worker thread after the runtime is built (`block_in_place`'s successor).
    pub(crate) thread: WorkerThreadSpec,
}

/// The `Builder` settings of a worker thread.
pub(crate) struct WorkerThreadSpec {
    pub(crate) name: Arc<dyn Fn() -> String + Send + Sync + 'static>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_start: Option<ThreadHook>,
    pub(crate) on_stop: Option<ThreadHook>,
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

/// What other threads may touch of one worker: its queue, to steal from, and its driver, to
/// unpark it (and the counters it publishes). Everything else about the workers' drivers
/// (placement, CPU hints, I/O stealing) goes through [`Shared::peers`].
pub(crate) struct Remote {
    pub(crate) steal: Steal,
    /// Only to unpark the worker.
    unpark: Arc<DriverHandle>,
    pub(crate) metrics: WorkerMetrics,
}

/// State shared by every worker of one runtime.
///
/// Aligned to a cache line pair so that, behind its `Arc`, the reference counts (touched by
/// every handle clone and drop, e.g. twice per blocking job) do not share a line with the
/// fields the workers read on every wake.
#[repr(align(128))]
pub(crate) struct Shared {
    pub(crate) remotes: Box<[Remote]>,
    /// Every worker's driver (see `driver/peers.rs`).
    pub(crate) peers: Arc<Peers>,
    inject: Inject,
    idle: Idle,
    /// Whether every CPU has a runnable thread (`contention.rs`): workers are then patient
    /// before waking a sibling for surplus from their driver (`worker.rs`), and follow a busy
    /// sibling quietly when they park (`crate::driver::Peers::scan_io`).
    contention: contention::Contention,
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

/// The per-worker halves `Runtime` hands to each worker thread.
pub(crate) struct Parts {
    pub(crate) locals: Vec<(queue::Local, crate::driver::Driver)>,
}

impl Shared {
    pub(crate) fn new(
        workers: usize,
        config: Config,
        blocking: kiln_blocking::Pool,
    ) -> std::io::Result<(Arc<Shared>, Parts)> {
        let mut steals = Vec::with_capacity(workers);
        let mut locals = Vec::with_capacity(workers);
        let mut drivers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (local, steal) = queue::local();
            let driver = DriverHandle::new()?;
            locals.push((
                local,
                crate::driver::Driver::new(driver.clone(), config.timer_spin_limit),
            ));
            steals.push(steal);
            drivers.push(driver);
        }
        let peers = Arc::new(Peers::new(drivers));
        let remotes: Vec<Remote> = steals
            .into_iter()
            .enumerate()
            .map(|(i, steal)| Remote {
                steal,
                unpark: peers.driver(i).clone(),
                metrics: WorkerMetrics::default(),
            })
            .collect();
        // Each worker watches its siblings' sockets (see `driver/watch.rs`).
        for (i, (_, driver)) in locals.iter_mut().enumerate() {
            driver.set_siblings(peers.siblings_of(i), i);
        }
        let shared = Arc::new(Shared {
            remotes: remotes.into_boxed_slice(),
            peers,
            inject: Inject::new(),
            idle: Idle::new(workers),
            contention: contention::Contention::new(),
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

    /// The CPUs this process may run on (counted once, when the runtime is built).
    pub(crate) fn cpus(&self) -> usize {
        self.contention.cpus()
    }

    /// Reads the CPUs' load again if it is due (`contention.rs`).
    fn read_contention(&self) {
        if self.remotes.len() > 1 {
            self.contention
                .refresh(Instant::now(), self.idle.unparked_hint());
        }
    }

    /// What a worker about to park asks of its wait beside a sibling that runs tasks
    /// (`crate::driver::Peers::scan_io`): stay behind it while the running siblings take
    /// every CPU that other threads leave (`Builder::stay_behind_busy_siblings`), follow it
    /// for a while if the CPUs are oversubscribed, else watch it.
    pub(crate) fn beside_busy_sibling(&self) -> Recheck {
        self.read_contention();
        // The caller is still counted unparked.
        let siblings = self.idle.unparked_hint().saturating_sub(1);
        if self.config.stay_behind && self.contention.no_cpu_left_by(siblings) {
            Recheck::Stay
        } else if self.contention.oversubscribed_now() {
            Recheck::Follow
        } else {
            Recheck::Soon
        }
    }

    /// Wakes a sleeping worker if work waits and nobody is searching.
    pub(crate) fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.remotes[index].unpark.unpark();
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
            remote.unpark.unpark();
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
                    self.workers_done.wait(&mut alive);
                }
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    self.workers_done.wait_timeout(&mut alive, deadline - now);
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

/// A task that does nothing and is scheduled nowhere, for tests of the queues and of the
/// stealing rules (`loom_tests.rs`, `worker_tests.rs`).
#[cfg(test)]
pub(crate) mod test_task {
    use crate::cell::{Notified, RawTask, Schedule};

    struct Noop;

    impl Schedule for Noop {
        fn schedule(&self, task: Notified) {
            drop(task);
        }
        fn release(&self, _task: RawTask) -> bool {
            false
        }
    }

    /// A queued reference to a new task (its `JoinHandle` already dropped).
    pub(crate) fn task() -> Notified {
        let (join, notified) = crate::cell::unowned(
            async {},
            Noop,
            crate::cell::TaskMeta::at(std::panic::Location::caller()),
        );
        drop(join);
        notified
    }
}

/// Runs `f` on the shared state of the multi-thread runtime whose task calls it (tests of the
/// contention hint: `surplus.rs`, `worker_tests.rs`).
#[cfg(all(test, not(loom)))]
pub(crate) fn with_current_shared<R>(f: impl FnOnce(&Shared) -> R) -> R {
    crate::context::with_scheduler(|cx| match cx {
        Some(SchedulerContext::Multi(cx)) => f(&cx.shared),
        _ => unreachable!("called from a task of a multi-thread runtime"),
    })
}

#[cfg(all(test, not(loom)))]
mod tests {

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
