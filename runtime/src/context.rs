//! Thread-local runtime context.
//!
//! - `HANDLE`: the runtime `kiln::spawn` and friends use on this thread. Set for the life of
//!   every worker thread, during `block_on`, and by [`crate::Handle::enter`] (nestable guards).
//! - `SCHEDULER`: set only while a thread *drives* a scheduler (a multi-thread worker, or the
//!   thread inside a current-thread `block_on`); lets a wake on that thread push to the local
//!   queue instead of the shared injector.
//! - `PLACEMENT`: where sockets and timers created on this thread are registered (the
//!   worker's own driver, or the runtime's outside driver; see `driver/peers.rs`). Set with
//!   `HANDLE`, and to the worker's own driver for the life of its loop.
//! - `BLOCKING_FORBIDDEN`: set on threads that run tasks; `block_on` there would deadlock the
//!   worker, so it panics with a message that says so.
//! - `POOL_THREAD`: on a blocking-pool thread, the runtime it entered for its jobs and its
//!   slot for task dumps, kept from its first job until it leaves the pool (`crate::blocking`).

use crate::blocking::PoolThread;
use crate::driver::Placement;
use crate::scheduler::SchedulerContext;
use crate::Handle;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

thread_local! {
    static HANDLE: RefCell<Option<Handle>> = const { RefCell::new(None) };
    static SCHEDULER: RefCell<Option<Rc<SchedulerContext>>> = const { RefCell::new(None) };
    static BLOCKING_FORBIDDEN: Cell<bool> = const { Cell::new(false) };
    static PLACEMENT: RefCell<Option<Placement>> = const { RefCell::new(None) };
    static POOL_THREAD: RefCell<Option<PoolThread>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's blocking-pool membership slot.
pub(crate) fn with_pool_thread<R>(f: impl FnOnce(&RefCell<Option<PoolThread>>) -> R) -> R {
    POOL_THREAD.with(f)
}

/// [`with_pool_thread`], or `None` while the thread is being torn down.
pub(crate) fn try_with_pool_thread<R>(
    f: impl FnOnce(&RefCell<Option<PoolThread>>) -> R,
) -> Option<R> {
    POOL_THREAD.try_with(f).ok()
}

/// This thread leaves the runtime it entered for its blocking-pool jobs, if any (the pool's
/// stop hook).
pub(crate) fn leave_pool_thread() {
    // Taken out before it drops: dropping the handle may end the runtime, whose pool then
    // cancels queued jobs, and their completions look at this thread's slot.
    let left = POOL_THREAD
        .try_with(|p| p.try_borrow_mut().ok().and_then(|mut p| p.take()))
        .ok()
        .flatten();
    drop(left);
}

/// Where this thread registers new sockets and timers, or `None` outside any runtime.
pub(crate) fn placement() -> Option<Placement> {
    PLACEMENT.try_with(|p| p.borrow().clone()).ok().flatten()
}

/// Restores the previous placement on drop.
pub(crate) struct PlacementGuard(Option<Placement>);

/// Sets this thread's placement until the guard drops (with the handle: `Handle::enter`, a
/// worker's loop).
pub(crate) fn set_placement(placement: Placement) -> PlacementGuard {
    PlacementGuard(PLACEMENT.with(|p| p.borrow_mut().replace(placement)))
}

impl Drop for PlacementGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        let old = PLACEMENT.try_with(|p| std::mem::replace(&mut *p.borrow_mut(), prev));
        drop(old);
    }
}

/// Panics saying that `what` needs a runtime.
#[track_caller]
pub(crate) fn no_runtime(what: &str) -> ! {
    panic!(
        "{what} must be called from inside a kiln runtime (within `kiln::run`, \
         `Runtime::block_on`, a spawned task, or after `Runtime::enter`)"
    )
}

/// Runs `f` with the current handle, or `None` outside any runtime.
pub(crate) fn with_handle<R>(f: impl FnOnce(Option<&Handle>) -> R) -> R {
    let mut f = Some(f);
    HANDLE
        .try_with(|h| (f.take().expect("called once"))(h.borrow().as_ref()))
        .unwrap_or_else(|_| (f.take().expect("called once"))(None))
}

/// A clone of the current handle, or `None` outside any runtime (a thread that carries its
/// runtime over to a thread it starts).
pub(crate) fn current_handle() -> Option<Handle> {
    with_handle(|h| h.cloned())
}

/// Restores the previous handle on drop.
pub(crate) struct HandleGuard(Option<Handle>);

pub(crate) fn set_handle(handle: Handle) -> HandleGuard {
    HandleGuard(HANDLE.with(|h| h.borrow_mut().replace(handle)))
}

impl Drop for HandleGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        let _ = HANDLE.try_with(|h| *h.borrow_mut() = prev);
    }
}

/// Runs `f` with the scheduler this thread drives, if any.
#[inline]
pub(crate) fn with_scheduler<R>(f: impl FnOnce(Option<&SchedulerContext>) -> R) -> R {
    let mut f = Some(f);
    SCHEDULER
        .try_with(|s| (f.take().expect("called once"))(s.borrow().as_deref()))
        .unwrap_or_else(|_| (f.take().expect("called once"))(None))
}

/// The scheduler context this thread drives, if any, held without borrowing the slot (for
/// code that runs user closures while it holds the context: `block_in_place`).
pub(crate) fn scheduler_rc() -> Option<Rc<SchedulerContext>> {
    SCHEDULER.try_with(|s| s.borrow().clone()).ok().flatten()
}

/// Restores the previous scheduler context on drop.
pub(crate) struct SchedulerGuard(Option<Rc<SchedulerContext>>);

pub(crate) fn set_scheduler(cx: Rc<SchedulerContext>) -> SchedulerGuard {
    SchedulerGuard(SCHEDULER.with(|s| s.borrow_mut().replace(cx)))
}

impl Drop for SchedulerGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        // Take the old value out before dropping it: its destructor may touch the context.
        let old = SCHEDULER.try_with(|s| std::mem::replace(&mut *s.borrow_mut(), prev));
        drop(old);
    }
}

/// Marks this thread as one that runs tasks until the guard drops.
pub(crate) struct RuntimeThreadGuard(bool);

/// Enters "runtime thread" mode.
///
/// # Panics
/// If the thread already drives a kiln runtime (a nested `block_on`).
#[track_caller]
pub(crate) fn enter_runtime_thread() -> RuntimeThreadGuard {
    let was = BLOCKING_FORBIDDEN.with(|b| b.replace(true));
    if was {
        panic!(
            "kiln: cannot block_on inside a runtime: this thread is already driving asynchronous \
             tasks, so blocking it would stall them. Use `.await` inside async code, or run the \
             blocking section with `kiln::spawn_blocking`."
        );
    }
    RuntimeThreadGuard(was)
}

impl Drop for RuntimeThreadGuard {
    fn drop(&mut self) {
        let was = self.0;
        let _ = BLOCKING_FORBIDDEN.try_with(|b| b.set(was));
    }
}

/// Whether this thread currently runs kiln tasks.
pub(crate) fn is_runtime_thread() -> bool {
    BLOCKING_FORBIDDEN.try_with(Cell::get).unwrap_or(false)
}
