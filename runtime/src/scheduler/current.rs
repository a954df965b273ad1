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
//! Shutdown: `shutdown` is set; the thread dropping the runtime takes the core, closes the
//! owned list (cancelling every task, dropping its future on that thread), and drains both
//! queues. A remote push that races with the drain sees `shutdown` and drains it again.

use super::multi::{Config as MultiConfig, WorkerMetrics};
use crate::coop;
use crate::driver::{Driver, DriverHandle};
use crate::loom::{AtomicBool, Mutex, Ordering::*};
use crate::scheduler::SchedulerContext;
use crate::task::{owned::OwnedTasks, JoinHandle, Notified, RawTask, Schedule};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::time::Duration;

/// State of the one event loop.
pub(crate) struct Shared {
    inject: Mutex<VecDeque<Notified>>,
    pub(crate) owned: OwnedTasks,
    pub(crate) driver: Arc<DriverHandle>,
    shutdown: AtomicBool,
    core: Mutex<Option<(Core, Driver)>>,
    core_waiters: Mutex<Vec<std::thread::Thread>>,
    pub(crate) blocking: kiln_blocking::Pool,
    config: MultiConfig,
    pub(crate) metrics: WorkerMetrics,
}

pub(crate) struct Core {
    local: VecDeque<Notified>,
    tick: u32,
    polls: u64,
    parks: u64,
    io_events: u64,
    timers_fired: u64,
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
    ) -> std::io::Result<Arc<Shared>> {
        let driver = DriverHandle::new()?;
        let core = Core {
            local: VecDeque::new(),
            tick: 0,
            polls: 0,
            parks: 0,
            io_events: 0,
            timers_fired: 0,
        };
        Ok(Arc::new(Shared {
            inject: Mutex::new(VecDeque::new()),
            owned: OwnedTasks::observed(1, crate::observe::Observer::new(1, config.observe)),
            driver: driver.clone(),
            shutdown: AtomicBool::new(false),
            core: Mutex::new(Some((core, Driver::new(driver, config.timer_spin_limit)))),
            core_waiters: Mutex::new(Vec::new()),
            blocking,
            config,
            metrics: WorkerMetrics::default(),
        }))
    }

    pub(crate) fn spawn<F>(
        this: &Arc<Shared>,
        future: F,
        at: &'static std::panic::Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, notified) = crate::task::spawn_task(future, this.clone(), &this.owned, at);
        if let Some(task) = notified {
            this.schedule(task);
        }
        join
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
            thread: std::thread::current(),
            woken: std::sync::atomic::AtomicBool::new(true),
        });
        let thread_waker = Waker::from(parker.clone());
        let mut waiting = false;
        loop {
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
                self.core_waiters.lock().push(std::thread::current());
                waiting = true;
            }
            if parker.woken.swap(false, AcqRel) {
                let mut cx = TaskContext::from_waker(&thread_waker);
                if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                    return out;
                }
            }
            if self.is_shutdown() || self.core.lock().is_none() {
                std::thread::park_timeout(Duration::from_millis(10));
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
        let _observe = crate::observe::enter_worker_of(&self.owned, 0);
        let main = Arc::new(MainWaker {
            woken: std::sync::atomic::AtomicBool::new(true),
            driver: self.driver.clone(),
            thread: std::thread::current().id(),
        });
        let waker = Waker::from(main.clone());
        let mut task_cx = TaskContext::from_waker(&waker);
        let event_interval = self.config.event_interval.max(1);
        let global_interval = self.config.global_queue_interval.max(1);
        let out = loop {
            if main.woken.swap(false, AcqRel) {
                if let Poll::Ready(out) = coop::with_budget(|| future.as_mut().poll(&mut task_cx)) {
                    break Some(out);
                }
            }
            if self.is_shutdown() {
                break None;
            }
            let mut ran = 0;
            while ran < event_interval {
                let task = {
                    let mut core = cx.core.borrow_mut();
                    let core = core.as_mut().expect("core present while driving");
                    core.tick = core.tick.wrapping_add(1);
                    if core.tick % global_interval == 0 {
                        self.inject
                            .lock()
                            .pop_front()
                            .or_else(|| core.local.pop_front())
                    } else {
                        core.local
                            .pop_front()
                            .or_else(|| self.inject.lock().pop_front())
                    }
                };
                let Some(task) = task else { break };
                ran += 1;
                coop::with_budget(|| task.run_checked(self.config.slow_poll_threshold));
                if main.woken.load(Acquire) {
                    break;
                }
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
            let timeout = if idle { None } else { Some(Duration::ZERO) };
            crate::observe::loop_turned(&self.owned, 0, idle);
            let stats = cx
                .driver
                .borrow_mut()
                .as_mut()
                .expect("driver present while driving")
                .park(timeout);
            crate::observe::loop_turned(&self.owned, 0, false);
            let mut core = cx.core.borrow_mut();
            let core = core.as_mut().expect("core present while driving");
            core.polls += ran as u64;
            core.parks += u64::from(idle);
            core.io_events += stats.io_events as u64;
            core.timers_fired += stats.timers_fired as u64;
            if self.config.metrics {
                core.publish(&self.metrics);
            }
        };
        let core = cx.core.borrow_mut().take().expect("core present");
        let driver = cx.driver.borrow_mut().take().expect("driver present");
        drop(guard);
        (core, driver, out)
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
    }
}

impl Core {
    fn publish(&self, m: &WorkerMetrics) {
        use crate::loom::Ordering::Relaxed;
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
}

/// Wakes the main future of a driving `block_on`.
struct MainWaker {
    woken: std::sync::atomic::AtomicBool,
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
    pub(crate) thread: std::thread::Thread,
    pub(crate) woken: std::sync::atomic::AtomicBool,
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
