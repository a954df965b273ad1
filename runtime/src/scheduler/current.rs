//! The current-thread scheduler: every task runs on the thread inside `block_on`.
//!
//! asyncio's model: one event loop (a `polling::Poller` and a timer wheel), one ready queue.
//! Wakes on the driving thread push to the local queue; wakes from any other thread push to
//! the injector and notify the poller. Tasks only run while some thread is inside `block_on`;
//! the `Core` (local queue and driver) is handed to whichever `block_on` takes it, and a
//! second concurrent `block_on` waits for it (or for its own future) on a thread parker.
//!
//! Loop: poll the main future when woken → run up to `event_interval` tasks (the injector
//! first every `global_queue_interval` ticks) → poll I/O and timers without blocking, or park
//! in the poller until a notification, an I/O event or the next timer deadline.
//!
//! Testing (`crate::testing`): the timer reads a pausable clock; while it is paused and the
//! loop runs out of work, `idle_paused` applies the auto-advance rule instead of a timed
//! park. With `Builder::rng_seed` each task taken is drawn at random among all ready tasks.
//!
//! Shutdown: `shutdown` is set; the thread dropping the runtime takes the core, closes the
//! owned list (cancelling every task, dropping its future on that thread), and drains both
//! queues. A remote push that races with the drain sees `shutdown` and drains it again.

use super::multi::{Config as MultiConfig, WorkerMetrics};
use crate::cell::{owned::OwnedTasks, Notified, RawTask, Schedule};
use crate::coop;
use crate::driver::{Driver, DriverHandle, ParkStats, Peers};
use crate::loom::sync::{
    atomic::{AtomicBool, Ordering::*},
    Mutex,
};
use crate::loom::thread::{self, Thread};
use crate::scheduler::SchedulerContext;
use crate::testing::{JobsInFlight, SeededRng, TestOptions, PAUSED_JOB_POLL};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::Duration;

/// State of the one event loop.
///
/// Aligned to a cache line pair so that, behind its `Arc`, the reference counts (touched by
/// every handle clone and drop) do not share a line with the loop's fields.
#[repr(align(128))]
pub(crate) struct Shared {
    inject: Mutex<VecDeque<Notified>>,
    pub(crate) owned: OwnedTasks,
    pub(crate) driver: Arc<DriverHandle>,
    /// Its one driver, as placement sees it (see `driver/peers.rs`).
    pub(crate) peers: Arc<Peers>,
    shutdown: AtomicBool,
    core: Mutex<Option<(Core, Driver)>>,
    core_waiters: Mutex<Vec<Thread>>,
    pub(crate) blocking: kiln_blocking::Pool,
    config: MultiConfig,
    pub(crate) metrics: WorkerMetrics,
    /// Blocking jobs queued or running: a paused clock does not jump while any are.
    pub(crate) jobs: JobsInFlight,
    /// Panics nobody will read (`Builder::unhandled_panic`).
    pub(crate) unhandled: crate::scheduler::unhandled::Unhandled,
}

pub(crate) struct Core {
    local: VecDeque<Notified>,
    tick: u32,
    polls: u64,
    parks: u64,
    io_events: u64,
    timers_fired: u64,
    /// `Builder::rng_seed`: draws which ready task runs next.
    rng: Option<SeededRng>,
}

/// The thread-local context while a thread drives the loop.
pub(crate) struct Context {
    shared: Arc<Shared>,
    core: RefCell<Option<Core>>,
    driver: RefCell<Option<Driver>>,
}

impl Shared {
    pub(crate) fn new(
        config: MultiConfig,
        blocking: kiln_blocking::Pool,
        testing: TestOptions,
    ) -> std::io::Result<Arc<Shared>> {
        let clock = kiln_timer::PausableClock::new(testing.start_paused);
        let driver = DriverHandle::with_clock(Some(clock))?;
        let core = Core {
            local: VecDeque::new(),
            tick: 0,
            polls: 0,
            parks: 0,
            io_events: 0,
            timers_fired: 0,
            rng: testing.rng_seed.map(SeededRng::new),
        };
        Ok(Arc::new(Shared {
            inject: Mutex::new(VecDeque::new()),
            owned: OwnedTasks::observed(1, crate::observe::Observer::new(1, config.observe)),
            driver: driver.clone(),
            peers: Arc::new(Peers::new(vec![driver.clone()])),
            shutdown: AtomicBool::new(false),
            core: Mutex::new(Some((core, Driver::new(driver, config.timer_spin_limit)))),
            core_waiters: Mutex::new(Vec::new()),
            blocking,
            unhandled: crate::scheduler::unhandled::Unhandled::new(config.unhandled_panic),
            config,
            metrics: WorkerMetrics::default(),
            jobs: JobsInFlight::default(),
        }))
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Acquire)
    }

    pub(crate) fn injector_depth(&self) -> usize {
        self.inject.lock().len()
    }

    fn schedule_remote(&self, task: Notified) {
        self.inject.lock().push_back(task);
        self.driver.unpark();
        if self.shutdown.load(SeqCst) {
            let drained: Vec<Notified> = self.inject.lock().drain(..).collect();
            drop(drained);
        }
    }

    /// Runs `future` to completion, driving every task meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Arc<Self>, future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let parker = Arc::new(ThreadWaker {
            thread: thread::current(),
            woken: AtomicBool::new(true),
        });
        let thread_waker = Waker::from(parker.clone());
        let mut waiting = false;
        loop {
            if self.unhandled.is_triggered() {
                // Step 2 of the unhandled-panic protocol, on this thread (the core is back).
                self.shutdown();
                self.unhandled.check();
            }
            // After shutdown the loop is never driven again: the tasks are cancelled and the
            // timers completed, so the future is only polled (below) until it finishes.
            let taken = if self.is_shutdown() {
                None
            } else {
                self.core.lock().take()
            };
            if let Some((core, driver)) = taken {
                let (core, driver, out) = self.drive(core, driver, future.as_mut());
                *self.core.lock() = Some((core, driver));
                for t in self.core_waiters.lock().drain(..) {
                    t.unpark();
                }
                if let Some(out) = out {
                    return out;
                }
                waiting = false;
                parker.woken.store(true, Release);
                continue;
            }
            // Another thread drives the loop (or it was shut down): wait for our future or for
            // the core, registering once per wait to be woken when the core is released.
            if !waiting {
                self.core_waiters.lock().push(thread::current());
                waiting = true;
            }
            if parker.woken.swap(false, AcqRel) {
                let mut cx = TaskContext::from_waker(&thread_waker);
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return out;
                }
            }
            if self.is_shutdown() || self.core.lock().is_none() {
                thread::park_timeout(Duration::from_millis(10));
            } else {
                waiting = false;
            }
        }
    }

    fn drive<F: Future>(
        self: &Arc<Self>,
        core: Core,
        driver: Driver,
        mut future: Pin<&mut F>,
    ) -> (Core, Driver, Option<F::Output>) {
        let cx = Rc::new(SchedulerContext::Current(Context {
            shared: self.clone(),
            core: RefCell::new(Some(core)),
            driver: RefCell::new(Some(driver)),
        }));
        let guard = crate::context::set_scheduler(cx.clone());
        let SchedulerContext::Current(cx) = &*cx else {
            unreachable!()
        };
        // If the main future panics, the core goes back for the next `block_on`.
        let _restore = RestoreCore { shared: self, cx };
        let _observe = crate::observe::enter_worker_of(&self.owned, 0);
        let main = Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            driver: self.driver.clone(),
            thread: std::thread::current().id(),
        });
        let waker = Waker::from(main.clone());
        let mut task_cx = TaskContext::from_waker(&waker);
        let event_interval = self.config.event_interval.max(1);
        let out = loop {
            if main.woken.swap(false, AcqRel) {
                if let Poll::Ready(out) = coop::with_budget(|| future.as_mut().poll(&mut task_cx)) {
                    break Some(out);
                }
            }
            if self.is_shutdown() {
                break None;
            }
            let ran = self.run_tasks(cx, &main, event_interval);
            if self.unhandled.is_triggered() {
                break None;
            }
            if main.woken.load(Acquire) {
                continue;
            }
            let idle = ran < event_interval
                && cx
                    .core
                    .borrow()
                    .as_ref()
                    .is_some_and(|c| c.local.is_empty());
            if idle && self.clock_paused() {
                self.idle_paused(cx, &main);
                continue;
            }
            let timeout = if idle { None } else { Some(Duration::ZERO) };
            crate::observe::loop_turned(&self.owned, 0, idle);
            let stats = cx
                .driver
                .borrow_mut()
                .as_mut()
                .expect("driver present while driving")
                .park(timeout);
            crate::observe::loop_turned(&self.owned, 0, false);
            self.count_turn(cx, ran, idle, &stats);
        };
        let core = cx.core.borrow_mut().take().expect("core present");
        let driver = cx.driver.borrow_mut().take().expect("driver present");
        drop(guard);
        (core, driver, out)
    }

    /// Runs up to `limit` ready tasks; stops early once the main future is woken or an
    /// unhandled panic shuts the runtime down. Returns how many ran.
    fn run_tasks(&self, cx: &Context, main: &MainWaker, limit: u32) -> u32 {
        let mut ran = 0;
        while ran < limit {
            let Some(task) = self.next_task(cx) else {
                break;
            };
            ran += 1;
            coop::with_budget(|| task.run_checked(self.config.slow_poll_threshold));
            if main.woken.load(Acquire) || self.unhandled.is_triggered() {
                break;
            }
        }
        ran
    }

    /// The next ready task: drawn at random under a seed, else the local queue first with
    /// the injector checked every `global_queue_interval` ticks.
    fn next_task(&self, cx: &Context) -> Option<Notified> {
        let global_interval = self.config.global_queue_interval.max(1);
        let mut core = cx.core.borrow_mut();
        let core = core.as_mut().expect("core present while driving");
        core.tick = core.tick.wrapping_add(1);
        if let Some(rng) = core.rng.as_mut() {
            // Seeded: draw among every ready task, remote wake-ups included.
            core.local.extend(self.inject.lock().drain(..));
            let n = core.local.len();
            (n > 0)
                .then(|| rng.below(n))
                .and_then(|i| core.local.swap_remove_back(i))
        } else if core.tick % global_interval == 0 {
            self.inject
                .lock()
                .pop_front()
                .or_else(|| core.local.pop_front())
        } else {
            core.local
                .pop_front()
                .or_else(|| self.inject.lock().pop_front())
        }
    }

    /// Counts one turn of the loop (tasks run, a park, what the park dispatched) and
    /// publishes the counters if metrics are on.
    fn count_turn(&self, cx: &Context, ran: u32, idle: bool, stats: &ParkStats) {
        let mut core = cx.core.borrow_mut();
        let core = core.as_mut().expect("core present while driving");
        core.polls += u64::from(ran);
        core.parks += u64::from(idle);
        core.io_events += stats.io_events as u64;
        core.timers_fired += stats.timers_fired as u64;
        if self.config.metrics {
            core.publish(&self.metrics);
        }
    }

    fn clock_paused(&self) -> bool {
        self.driver
            .timer
            .pausable_clock()
            .is_some_and(|c| c.is_paused())
    }

    /// Out of work with the clock paused: the auto-advance rule of `crate::testing`.
    fn idle_paused(&self, cx: &Context, main: &MainWaker) {
        let mut driver = cx.driver.borrow_mut();
        let driver = driver.as_mut().expect("driver present while driving");
        // 1. Read before the queues: a job wakes its task before it stops counting.
        if self.jobs.any() {
            let stats = driver.park(Some(PAUSED_JOB_POLL));
            self.record_park(cx, stats, true);
            return;
        }
        // 2. I/O without waiting, and timers already due.
        let stats = driver.park(Some(Duration::ZERO));
        self.record_park(cx, stats, false);
        let ready = stats.io_events > 0
            || stats.timers_fired > 0
            || main.woken.load(Acquire)
            || !self.inject.lock().is_empty()
            || cx
                .core
                .borrow()
                .as_ref()
                .is_some_and(|c| !c.local.is_empty());
        if ready {
            return;
        }
        // 3. Every task is idle: jump to the next deadline (the next pass fires it). At
        // least one tick (1 µs), so a deadline the wheel reports at "now" cannot stall us.
        if let (Some(next), Some(clock)) = (
            self.driver.timer.next_deadline(),
            self.driver.timer.pausable_clock(),
        ) {
            clock.advance_to(next.max(clock.now() + Duration::from_micros(1)));
            return;
        }
        // 4. Nothing can move the clock: wait for I/O or a wake-up.
        let stats = driver.park(None);
        self.record_park(cx, stats, true);
    }

    fn record_park(&self, cx: &Context, stats: ParkStats, parked: bool) {
        let mut core = cx.core.borrow_mut();
        let core = core.as_mut().expect("core present while driving");
        core.parks += u64::from(parked);
        core.io_events += stats.io_events as u64;
        core.timers_fired += stats.timers_fired as u64;
        if self.config.metrics {
            core.publish(&self.metrics);
        }
    }

    /// Shutdown: cancels every task on the calling thread and drains the queues.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        if self.shutdown.swap(true, SeqCst) {
            return;
        }
        self.driver.unpark();
        let taken = self.core.lock().take();
        self.owned.close_and_shutdown_all();
        if let Some((mut core, _driver)) = taken {
            crate::scheduler::drain(core.local.drain(..));
        }
        let drained: Vec<Notified> = self.inject.lock().drain(..).collect();
        drop(drained);
        self.driver.timer.shutdown();
        self.driver.shutdown_io();
    }
}

/// Puts the core and driver back and wakes waiting `block_on`s if `drive` unwinds (the main
/// future panicked: the panic goes to the caller of `block_on`, and the runtime stays usable).
/// On a normal return `drive` has taken both out already, and this does nothing.
struct RestoreCore<'a> {
    shared: &'a Arc<Shared>,
    cx: &'a Context,
}

impl Drop for RestoreCore<'_> {
    fn drop(&mut self) {
        let core = self.cx.core.borrow_mut().take();
        let driver = self.cx.driver.borrow_mut().take();
        if let (Some(core), Some(driver)) = (core, driver) {
            *self.shared.core.lock() = Some((core, driver));
            for t in self.shared.core_waiters.lock().drain(..) {
                t.unpark();
            }
        }
    }
}

impl Core {
    fn publish(&self, m: &WorkerMetrics) {
        use crate::loom::sync::atomic::Ordering::Relaxed;
        m.polls.store(self.polls, Relaxed);
        m.parks.store(self.parks, Relaxed);
        m.io_events.store(self.io_events, Relaxed);
        m.timers_fired.store(self.timers_fired, Relaxed);
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified) {
        let task = crate::context::with_scheduler(|cx| match cx {
            Some(SchedulerContext::Current(cx)) if std::ptr::eq(&*cx.shared, &**self) => {
                match cx.core.try_borrow_mut() {
                    Ok(mut core) => match core.as_mut() {
                        Some(core) => {
                            core.local.push_back(task);
                            None
                        }
                        None => Some(task),
                    },
                    Err(_) => Some(task),
                }
            }
            _ => Some(task),
        });
        if let Some(task) = task {
            self.schedule_remote(task);
        }
    }

    fn release(&self, task: RawTask) -> bool {
        self.owned.remove(task)
    }

    fn unhandled_panic(&self, message: String) {
        if self.unhandled.on_panic(message) {
            // The driving `block_on` shuts the runtime down (see `unhandled.rs`).
            self.driver.unpark();
        }
    }
}

/// Wakes the main future of a driving `block_on`.
struct MainWaker {
    woken: AtomicBool,
    driver: Arc<DriverHandle>,
    thread: std::thread::ThreadId,
}

impl Wake for MainWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        // Release: pairs with the driving loop's AcqRel swap before it polls the future.
        if !self.woken.swap(true, AcqRel) && std::thread::current().id() != self.thread {
            self.driver.unpark();
        }
    }
}

/// Wakes a thread blocked in `block_on` (multi-thread flavor, or a waiting current-thread one).
pub(crate) struct ThreadWaker {
    pub(crate) thread: Thread,
    pub(crate) woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        // Release: pairs with the AcqRel swap in the blocked thread's loop.
        if !self.woken.swap(true, AcqRel) {
            self.thread.unpark();
        }
    }
}
