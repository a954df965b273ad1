//! `block_in_place` on a worker: the worker hands its core — local queue, LIFO slot, event
//! loop (poller, sockets) and timers — to a new thread, runs the blocking closure in place,
//! and then either takes the core back or lets the new thread keep it.
//!
//! # Protocol
//!
//! 1. The worker thread swaps its `Core` and `Driver` out of its `WorkerContext` for
//!    placeholders, sets `handed_off` (from now on a wake on this thread goes to the injector)
//!    and parks the pair in a shared `Baton` slot.
//! 2. It counts one more live worker thread (`workers_alive`, which shutdown waits for) and
//!    starts a thread configured like the workers (name, stack size, time slice, hooks). That
//!    thread takes the pair from the baton, if still there, and runs the worker loop with it;
//!    it counts itself out when it leaves, with or without a core.
//! 3. The old thread runs the closure. Afterwards it takes the pair back from the baton if the
//!    new thread has not taken it yet (a short closure costs no hand-off), clearing
//!    `handed_off`. Otherwise it finishes the current task's poll without a core, leaves its
//!    worker loop without the shutdown steps (the core's new owner runs them) and counts itself
//!    out.
//! 4. If the OS refuses the new thread, the old thread takes the pair back and runs the
//!    closure in place: blocking, as if there were no hand-off, rather than failing.
//!
//! A nested `block_in_place`, one on a thread that already handed its core on, and one during
//! shutdown (a future's destructor) run the closure in place: there is nothing to hand over,
//! or the worker's shutdown steps must stay on this thread.

use super::worker::{run_core, Core, WorkerContext};
use super::Shared;
use crate::driver::Driver;
use crate::loom::sync::Mutex;
use std::sync::Arc;

/// The core and event loop in transit between the two threads.
type Baton = Arc<Mutex<Option<(Core, Driver)>>>;

fn take(baton: &Baton) -> Option<(Core, Driver)> {
    baton.lock().take()
}

/// Runs `f` on this worker thread after handing the worker's core to a new thread.
pub(crate) fn block_in_place<F: FnOnce() -> R, R>(cx: &WorkerContext, f: F) -> R {
    // Nothing to hand over (nested, or the core is in use), or shutting down (the worker's
    // shutdown steps must run once, on this thread): run in place.
    if cx.handed_off.get()
        || cx.shared.is_shutdown()
        || cx.core.try_borrow_mut().is_err()
        || cx.driver.try_borrow_mut().is_err()
    {
        return f();
    }
    let shared = cx.shared.clone();
    let index = cx.index;
    // Step 1.
    let core = std::mem::replace(&mut *cx.core.borrow_mut(), Core::placeholder(index));
    // With the runtime's spin limit: a driver's settings live partly in its shared handle.
    let placeholder = Driver::new(
        shared.peers.driver(index).clone(),
        shared.config.timer_spin_limit,
    );
    let driver = std::mem::replace(&mut *cx.driver.borrow_mut(), placeholder);
    cx.handed_off.set(true);
    let baton: Baton = Arc::new(Mutex::new(Some((core, driver))));
    // Step 2.
    shared.worker_started();
    if let Err(err) = spawn_successor(&shared, baton.clone()) {
        // Step 4.
        shared.worker_exited();
        log::warn!("kiln: block_in_place could not start a thread ({err}); blocking the worker");
        reclaim(cx, &baton);
        return f();
    }
    // Step 3. The guard reclaims the core even if `f` panics.
    let _reclaim = Reclaim { cx, baton: &baton };
    f()
}

/// Takes the core back if the successor has not started with it.
fn reclaim(cx: &WorkerContext, baton: &Baton) {
    if let Some((core, driver)) = take(baton) {
        *cx.core.borrow_mut() = core;
        *cx.driver.borrow_mut() = driver;
        cx.handed_off.set(false);
    }
}

struct Reclaim<'a> {
    cx: &'a WorkerContext,
    baton: &'a Baton,
}

impl Drop for Reclaim<'_> {
    fn drop(&mut self) {
        reclaim(self.cx, self.baton);
    }
}

/// Starts the thread that takes the core over (step 2).
fn spawn_successor(shared: &Arc<Shared>, baton: Baton) -> std::io::Result<()> {
    let spec = &shared.config.thread;
    let mut tb = std::thread::Builder::new().name((spec.name)());
    if let Some(size) = spec.stack_size {
        tb = tb.stack_size(size);
    }
    // The successor runs with the runtime this thread runs (a worker always has one).
    let handle = crate::context::current_handle().expect("a worker thread has its runtime");
    let shared2 = shared.clone();
    tb.spawn(move || {
        // Counts this thread out however it leaves (see `WorkerExit`).
        let mut exit = shared2.successor_exit_guard();
        let spec = &shared2.config.thread;
        // Until it takes the core, it places like any other thread.
        let _p =
            crate::context::set_placement(crate::driver::Placement::outside(shared2.peers.clone()));
        let _h = crate::context::set_handle(handle);
        let _rt = crate::context::enter_runtime_thread();
        crate::sys::request_time_slice(spec.time_slice);
        crate::sys::park::set_minimal_timer_slack();
        if let Some(f) = &spec.on_start {
            f();
        }
        match take(&baton) {
            Some((core, driver)) => {
                exit.took_core();
                run_core(&mut exit, core, driver);
            }
            // The old thread took its core back first.
            None => exit.exited(),
        }
        if let Some(f) = &spec.on_stop {
            f();
        }
    })
    .map(drop)
}
