//! One worker thread: its run loop, stealing and parking.
//!
//! Loop, per tick: (every `global_queue_interval` ticks the injector first, for fairness) →
//! LIFO slot → local queue → a batch from the injector → a sibling's backlog (see below) →
//! the worker's own sockets → steal from a random sibling → park.
//! Every `event_interval` ticks the worker polls its poller without blocking and fires due
//! timers, so a busy worker still services its I/O and timers. The LIFO slot runs at most
//! [`MAX_LIFO_POLLS`] tasks in a row, so two tasks waking each other cannot starve the queue.
//!
//! **Backlogs of a stuck sibling before new events.** A worker out of local work first steals
//! from a sibling whose queue holds at least [`BACKLOG_STEAL_MIN`] tasks *and* that has not
//! started a single poll since this worker last ran dry and looked, and only then harvests its
//! own sockets. Otherwise a worker fed one socket event at a time (a client answering each
//! response at once) never runs dry, never steals, and leaves the tasks queued behind a
//! sibling stuck in a long poll (a loopback `writev` that runs the receive softirq, a
//! preemption) waiting milliseconds. A sibling that is working through its queue keeps it:
//! its tasks' sockets are its own, their data was just delivered on its CPU, and taking them
//! would only move them across CPUs (in an echo load where both workers are busy, taking every
//! backlog on sight moved about 30 % of all polls to the other worker and cost about 7 % of
//! the throughput). Progress is read from the sibling's probe (`observe::WorkerProbe`,
//! `polls_started`, one store per poll to a line only that worker writes) between two times
//! this worker ran dry, so a sibling stuck for one round of this worker's own work loses its
//! backlog at the end of that round. Stealing a visible backlog needs no searching token
//! (`idle.rs`): the victim's queue is known to hold work, so it is no search.
//!
//! **Surplus from the driver** (the tasks a harvest or park of the worker's own driver wakes)
//! is weighed in `surplus.rs`: hand it to a sleeping sibling at once, or run it here first.
//!
//! Stray panics: a task's poll is caught by the task cell, but a worker also runs user code
//! outside any poll: wakers fired by I/O readiness and timers (each contained where it is
//! called, so the rest of the batch still fires), a `JoinHandle`'s waker, destructors of
//! values it drops. Whatever escapes is contained around one pass of the loop
//! ([`WorkerContext::run`]): the worker keeps its queues and goes on. The park step contains
//! its wait separately, so the idle accounting (`idle.rs`) always sees the worker unpark.
//! Should the thread unwind anyway, its [`WorkerExit`] guard still counts it out, so shutdown
//! never waits for a worker that is gone.

use super::queue::Local;
use super::{SchedulerContext, Shared, WorkerExit};
use crate::cell::Notified;
use crate::coop;
use crate::driver::{Driver, ParkStats};
use crate::loom::sync::atomic::Ordering::Relaxed;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Consecutive LIFO-slot polls before the slot's task goes to the back of the queue.
pub(crate) const MAX_LIFO_POLLS: usize = 3;

/// Queued tasks at which a sibling's queue counts as a backlog to steal from before
/// harvesting the own sockets (module docs). One queued task is its owner's next poll; two
/// mean a task waits behind another.
pub(crate) const BACKLOG_STEAL_MIN: usize = 2;

/// The thread-owned half of a worker.
pub(crate) struct Core {
    index: usize,
    local: Local,
    lifo: Option<Notified>,
    tick: u32,
    is_searching: bool,
    /// Set while this worker waits in (or dispatches the events of) a blocking park: it is
    /// on the sleepers list then, and the tasks its park wakes notify nobody (see `park`).
    parked: bool,
    /// Set while this worker harvests its driver outside a blocking park (`harvest`): the
    /// tasks that wakes queue without notifying anyone.
    pub(super) harvesting: bool,
    rand: u32,
    /// Per sibling, the count of polls it had started (its probe's `polls_started`) when this
    /// worker last looked for a backlog there (module docs).
    backlog_seen: Box<[u64]>,
    stats: Stats,
    /// `Builder::metrics`: count and publish (see `metrics.rs`).
    metrics: bool,
}

#[derive(Default)]
struct Stats {
    polls: u64,
    steals: u64,
    stolen_tasks: u64,
    parks: u64,
    io_events: u64,
    timers_fired: u64,
    lifo_polls: u64,
}

/// What the thread-local scheduler slot holds on a worker thread.
pub(crate) struct WorkerContext {
    pub(crate) shared: Arc<Shared>,
    pub(crate) index: usize,
    pub(super) core: RefCell<Core>,
    pub(super) driver: RefCell<Driver>,
    /// Set while this thread has handed its `Core` and `Driver` to another thread
    /// (`block_in_place`, see `handoff.rs`); the fields then hold placeholders nothing reads.
    pub(super) handed_off: Cell<bool>,
    /// Since when the queue has held surplus from the driver that no sibling was told about
    /// (`surplus.rs`); `None` if it holds none.
    pub(super) surplus_since: Cell<Option<Instant>>,
}

impl WorkerContext {
    /// Queues a task woken on this worker's own thread.
    pub(crate) fn schedule_local(&self, task: Notified, is_yield: bool) {
        if self.handed_off.get() {
            // The queues live on another thread now.
            return self.shared.schedule_remote(task);
        }
        let Ok(mut core) = self.core.try_borrow_mut() else {
            // Only reachable if a destructor wakes a task while the core is borrowed.
            return self.shared.schedule_remote(task);
        };
        if !is_yield && self.shared.config.lifo_slot {
            match core.lifo.replace(task) {
                None => return,
                Some(prev) => core.local.push(prev),
            }
        } else {
            core.local.push(task);
        }
        // Not while parked: this worker is still on the sleepers list, so the notification
        // could pick itself. Neither for tasks its driver wakes: `park` and `harvest` weigh
        // the whole batch afterwards (`surplus.rs`).
        let should_notify = !core.parked && !core.harvesting && core.should_notify_others();
        drop(core);
        if should_notify {
            self.surplus_since.set(None);
            self.shared.notify_parked();
        }
    }
}

/// Runs worker `index` on the current thread until shutdown, then signals its exit through
/// `exit`.
pub(crate) fn run_worker(exit: &mut WorkerExit, index: usize, local: Local, driver: Driver) {
    let shared = exit.shared().clone();
    let core = Core::new(index, local, shared.remotes.len(), shared.config.metrics);
    run_core(exit, core, driver);
}

/// Runs the worker whose `core` and `driver` this thread now owns: from the start, or taken
/// over from a thread in `block_in_place`. Returns at shutdown, or once this thread has handed
/// the core on in its turn.
pub(super) fn run_core(exit: &mut WorkerExit, core: Core, driver: Driver) {
    let shared = exit.shared().clone();
    let index = core.index;
    let cx = Rc::new(SchedulerContext::Multi(WorkerContext {
        shared: shared.clone(),
        index,
        core: RefCell::new(core),
        driver: RefCell::new(driver),
        handed_off: Cell::new(false),
        surplus_since: Cell::new(None),
    }));
    let _sched = crate::context::set_scheduler(cx.clone());
    let SchedulerContext::Multi(cx) = &*cx else {
        unreachable!()
    };
    let timer_handle = shared.peers.driver(index).timer.handle();
    let _timer = kiln_timer::context::enter(timer_handle);
    let _placement = crate::context::set_placement(crate::driver::Placement::worker(
        shared.peers.clone(),
        index,
    ));
    let _observe = crate::observe::enter_worker_of(&shared.owned, index);
    cx.note_cpu();
    cx.run();
    if cx.handed_off.get() {
        // The core's new owner runs the shutdown steps and counts it out of `workers_running`.
        exit.handed_on();
    } else {
        cx.shutdown(exit);
    }
    exit.exited();
}

impl WorkerContext {
    /// The run loop until shutdown, resumed after a stray panic (see the module docs).
    fn run(&self) {
        while crate::cell::contain_panic(|| self.run_loop()).is_none() {}
    }

    fn run_loop(&self) {
        let shared = &*self.shared;
        let event_interval = shared.config.event_interval.max(1);
        // A stray panic out of a harvest (`run` resumes here) must not leave local wakes
        // silenced for good.
        self.core.borrow_mut().harvesting = false;
        loop {
            if shared.is_shutdown() || self.handed_off.get() {
                return;
            }
            let maintenance = {
                let mut core = self.core.borrow_mut();
                core.tick = core.tick.wrapping_add(1);
                core.tick % event_interval == 0
            };
            if maintenance {
                self.maintenance();
            }
            let task = self.core.borrow_mut().next_task(shared);
            if let Some(task) = task {
                self.run_task(task);
                self.check_surplus();
                continue;
            }
            if let Some(task) = self.steal_backlog() {
                self.run_task(task);
                self.check_surplus();
                continue;
            }
            if self.poll_own_io() {
                continue;
            }
            if let Some(task) = self.steal_work() {
                self.run_task(task);
                continue;
            }
            self.park();
        }
    }

    /// Polls the poller without blocking, fires due timers, publishes metrics.
    fn maintenance(&self) {
        let (stats, (io_events, fired)) = self.harvest(
            || {
                let stats = self.driver.borrow_mut().park(Some(Duration::ZERO));
                // Siblings stuck in a long poll (see `crate::driver::Peers`).
                (stats, self.shared.peers.serve_stale(self.index))
            },
            |(stats, (_, fired))| stats.timers_fired + fired > 0,
        );
        self.note_cpu();
        crate::observe::loop_turned(&self.shared.owned, self.index, false);
        let mut core = self.core.borrow_mut();
        core.record_park(stats, false);
        core.stats.io_events += io_events as u64;
        core.stats.timers_fired += fired as u64;
        core.publish(&self.shared);
    }

    /// Publishes the CPU this worker runs on (see `crate::net::affinity`).
    fn note_cpu(&self) {
        let index = self.core.borrow().index;
        self.shared.peers.note_cpu(index);
    }

    /// Out of tasks: harvests this worker's own sockets first, so tasks woken by them run
    /// here (where the kernel just delivered their data) rather than being left for a sibling
    /// while this worker steals. Returns whether any event was dispatched.
    fn poll_own_io(&self) -> bool {
        let n = self.harvest(|| self.driver.borrow_mut().poll_own_io(), |_| false);
        if n > 0 {
            self.core.borrow_mut().stats.io_events += n as u64;
        }
        n > 0
    }

    fn run_task(&self, task: Notified) {
        {
            let mut core = self.core.borrow_mut();
            if core.metrics {
                core.stats.polls += 1;
            }
            if core.is_searching {
                core.is_searching = false;
                drop(core);
                if self.shared.idle.transition_worker_from_searching() {
                    self.shared.notify_parked();
                }
            }
        }
        let slow = self.shared.config.slow_poll_threshold;
        coop::with_budget(|| {
            task.run_checked(slow);
            for _ in 0..MAX_LIFO_POLLS {
                let next = self.core.borrow_mut().lifo.take();
                let Some(next) = next else { return };
                if !coop::has_budget_remaining() {
                    self.core.borrow_mut().local.push(next);
                    return;
                }
                {
                    let mut core = self.core.borrow_mut();
                    if core.metrics {
                        core.stats.polls += 1;
                        core.stats.lifo_polls += 1;
                    }
                }
                next.run_checked(slow);
            }
            let mut core = self.core.borrow_mut();
            if let Some(next) = core.lifo.take() {
                core.local.push(next);
            }
        });
    }

    /// Steals half of the first sibling queue (from a random start) holding at least
    /// [`BACKLOG_STEAL_MIN`] tasks (module docs); `None`, having stolen nothing, if none does.
    fn steal_backlog(&self) -> Option<Notified> {
        self.core
            .borrow_mut()
            .steal_from_siblings(&self.shared, BACKLOG_STEAL_MIN)
    }

    /// Steals from siblings and the injector; also fires overdue timers of busy siblings.
    fn steal_work(&self) -> Option<Notified> {
        let shared = &*self.shared;
        let mut core = self.core.borrow_mut();
        let index = core.index;
        if !core.is_searching {
            core.is_searching = shared.idle.transition_worker_to_searching();
            if !core.is_searching {
                drop(core);
                shared
                    .peers
                    .scan_io(index, false, || shared.beside_busy_sibling());
                return None;
            }
        }
        if let Some(task) = core.steal_from_siblings(shared, 1) {
            return Some(task);
        }
        if let Some(task) = shared.inject.pop_batch_into(&core.local) {
            return Some(task);
        }
        drop(core);
        // I/O of siblings (see `crate::driver::Peers`): harvests a sibling stuck in a long poll,
        // and bounds our next park so we come back to look.
        let io_events = shared
            .peers
            .scan_io(index, true, || shared.beside_busy_sibling());
        // Timers of a sibling stuck in a long poll: fire the due ones from here.
        let fired = shared.peers.fire_due_timers(std::time::Instant::now());
        if fired > 0 || io_events > 0 {
            let mut core = self.core.borrow_mut();
            core.stats.timers_fired += fired as u64;
            core.stats.io_events += io_events as u64;
            if let Some(task) = core.lifo.take() {
                return Some(task);
            }
            return core.local.pop();
        }
        None
    }

    fn park(&self) {
        let shared = &*self.shared;
        let (index, was_searching) = {
            let mut core = self.core.borrow_mut();
            if core.lifo.is_some() || !core.local.is_empty() {
                return;
            }
            core.publish(shared);
            let s = core.is_searching;
            core.is_searching = false;
            (core.index, s)
        };
        shared
            .idle
            .transition_worker_to_parked(index, was_searching);
        let parked = !(shared.has_queued_work(index) || shared.is_shutdown());
        let mut fired = false;
        if parked {
            let timeout = shared.peers.timer_bound(index);
            self.core.borrow_mut().parked = true;
            crate::observe::loop_turned(&shared.owned, index, true);
            // Contained here so that `unpark_self` below always runs.
            let stats = crate::cell::contain_panic(|| self.driver.borrow_mut().park(timeout))
                .unwrap_or_default();
            crate::observe::loop_turned(&shared.owned, index, false);
            self.note_cpu();
            self.core.borrow_mut().record_park(stats, true);
            fired = stats.timers_fired > 0;
        }
        let notified = shared.idle.unpark_self(index);
        let notify = {
            let mut core = self.core.borrow_mut();
            core.parked = false;
            core.is_searching = notified;
            // The tasks the park woke queued here without notifying anyone (`schedule_local`):
            // if there is more than this worker runs next, a sleeping sibling is woken for
            // it, at once or after the patience (module docs).
            self.weigh_surplus(&core, fired)
        };
        if notify {
            shared.notify_parked();
        }
    }

    /// Steps 2–3 of the shutdown protocol for this worker.
    fn shutdown(&self, exit: &mut WorkerExit) {
        let drained: Vec<Notified> = {
            let mut core = self.core.borrow_mut();
            let mut v: Vec<Notified> = core.lifo.take().into_iter().collect();
            while let Some(t) = core.local.pop() {
                v.push(t);
            }
            v
        };
        crate::scheduler::drain(drained);
        exit.worker_shutdown();
        // Wakes from futures dropped during shutdown may have queued more references.
        let mut core = self.core.borrow_mut();
        let late: Vec<Notified> = core
            .lifo
            .take()
            .into_iter()
            .chain(std::iter::from_fn(|| core.local.pop()))
            .collect();
        drop(core);
        crate::scheduler::drain(late);
        self.core.borrow_mut().publish(&self.shared);
    }
}

impl Core {
    /// The core of worker `index` of `workers`, with an empty LIFO slot and `local` as its
    /// queue.
    fn new(index: usize, local: Local, workers: usize, metrics: bool) -> Core {
        Core {
            index,
            local,
            lifo: None,
            tick: 0,
            is_searching: false,
            parked: false,
            harvesting: false,
            rand: (index as u32).wrapping_mul(0x9E37_79B9) | 1,
            backlog_seen: vec![u64::MAX; workers].into(),
            stats: Stats::default(),
            metrics,
        }
    }

    /// What a thread keeps in place of a core it handed on (`handoff.rs`): never read, since
    /// the thread leaves its loop after its current poll and queues nothing locally.
    pub(super) fn placeholder(index: usize) -> Core {
        Core::new(index, super::queue::local().0, 0, false)
    }

    fn next_task(&mut self, shared: &Shared) -> Option<Notified> {
        if self.tick % shared.config.global_queue_interval.max(1) == 0 {
            if let Some(task) = shared.inject.pop() {
                return Some(task);
            }
        }
        if let Some(task) = self.lifo.take() {
            return Some(task);
        }
        if let Some(task) = self.local.pop() {
            return Some(task);
        }
        if shared.inject.is_empty() {
            return None;
        }
        shared.inject.pop_batch_into(&self.local)
    }

    /// Whether this worker's queued work should wake a sleeping sibling: more than the one
    /// task it runs next, and no search under way by this worker (a searcher that finds work
    /// wakes the next one itself, see `run_task`).
    pub(super) fn should_notify_others(&self) -> bool {
        !self.is_searching && self.local.len() + usize::from(self.lifo.is_some()) > 1
    }

    /// Steals about half of the first sibling queue, from a random start, holding at least
    /// `min` tasks (at least one), and returns one of them.
    fn steal_from_siblings(&mut self, shared: &Shared, min: usize) -> Option<Notified> {
        let n = shared.remotes.len();
        let start = self.next_rand() as usize % n;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index || (min > 1 && !self.is_stuck_backlog(shared, victim, min)) {
                continue;
            }
            let steal = &shared.remotes[victim].steal;
            let before = self.local.len();
            if let Some(task) = steal.steal_into(&self.local) {
                self.stats.steals += 1;
                self.stats.stolen_tasks += (self.local.len() - before + 1) as u64;
                return Some(task);
            }
        }
        None
    }

    /// Whether sibling `victim` holds a backlog to take before this worker's own sockets: at
    /// least `min` queued tasks, and not one poll started there since this worker last looked
    /// (module docs). Notes how many polls it has started, for the next look.
    fn is_stuck_backlog(&mut self, shared: &Shared, victim: usize, min: usize) -> bool {
        let Some(observer) = shared.owned.observer() else {
            return shared.remotes[victim].steal.len() >= min;
        };
        let started = observer.workers[victim].polls_started.load(Relaxed);
        let stuck = match self.backlog_seen.get_mut(victim) {
            Some(seen) => std::mem::replace(seen, started) == started,
            None => true,
        };
        stuck && shared.remotes[victim].steal.len() >= min
    }

    fn next_rand(&mut self) -> u32 {
        // xorshift32
        let mut x = self.rand;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rand = x;
        x
    }

    fn record_park(&mut self, stats: ParkStats, parked: bool) {
        if parked {
            self.stats.parks += 1;
        }
        self.stats.io_events += stats.io_events as u64;
        self.stats.timers_fired += stats.timers_fired as u64;
    }

    fn publish(&self, shared: &Shared) {
        if !self.metrics {
            return;
        }
        let m = &shared.remotes[self.index].metrics;
        m.polls.store(self.stats.polls, Relaxed);
        m.steals.store(self.stats.steals, Relaxed);
        m.stolen_tasks.store(self.stats.stolen_tasks, Relaxed);
        m.parks.store(self.stats.parks, Relaxed);
        m.io_events.store(self.stats.io_events, Relaxed);
        m.timers_fired.store(self.stats.timers_fired, Relaxed);
        m.lifo_polls.store(self.stats.lifo_polls, Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
#[path = "worker_tests.rs"]
mod tests;
