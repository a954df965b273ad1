//! What a blocking-pool thread keeps from one job to the next: the runtime's context, and the
//! slot through which task dumps see the job it runs.
//!
//! A runtime's pool threads run only that runtime's jobs. On its first job a thread enters the
//! runtime (what [`Handle::enter`](crate::Handle::enter) sets: the handle, the placement of new
//! sockets and timers, the timer handle) and registers a [`Slot`] in the runtime's
//! `Observer::blocking`. Both stay ([`PoolThread`], in `context.rs`'s `POOL_THREAD`) until the
//! thread leaves the pool (`context::leave_pool_thread`, from the pool's stop hook, which runs
//! before the thread gives its place in the pool back, so a pool shutdown's wait covers it)
//! or, failing that, until the thread ends. Back-to-back jobs therefore enter nothing and
//! touch no line another thread writes: a job only marks its task in the thread's own slot
//! while it runs.
//!
//! # Slot protocol
//!
//! - The slot holds the task its thread is running, with a reference of its own: set (under
//!   the slot's lock) before the task runs, taken out (under the lock) by the task's
//!   completion ([`release`], from `Schedule::release`, which hands the slot's reference to
//!   the completion to drop with its own), or after the run if the run did not complete the
//!   task. Only the slot's thread writes it.
//! - A dump reads every slot under the list's lock and the slot's lock, so a task it reads
//!   there is alive (the slot's reference) and has not finished releasing itself.
//! - Which task the slot holds is mirrored in a plain `Cell`, so the thread can tell without
//!   taking the lock whether a run left the task in the slot.
//!
//! A blocking task still queued for a thread is in no slot, so dumps do not list it.

use crate::cell::{Notified, RawTask};
use crate::context;
use crate::observe::{Observer, Slot};
use std::cell::Cell;
use std::sync::Arc;

/// A pool thread's membership of the runtime whose jobs it runs.
pub(crate) struct PoolThread {
    observer: Arc<Observer>,
    key: usize,
    slot: Arc<Slot>,
    /// The task the slot holds (only this thread writes the slot, so this is exact).
    held: Cell<Option<RawTask>>,
    /// Dropped after `Drop::drop` deregistered the slot.
    _enter: crate::EnterGuard<'static>,
}

impl Drop for PoolThread {
    fn drop(&mut self) {
        self.observer.blocking.deregister(self.key);
    }
}

/// Runs `task`, a job of `handle`'s runtime, on this pool thread (see the module docs).
pub(super) fn run(handle: &crate::Handle, task: Notified) {
    context::with_pool_thread(|current| {
        let observer = handle.scheduler().observer();
        let serves = current
            .borrow()
            .as_ref()
            .is_some_and(|t| Arc::ptr_eq(&t.observer, observer));
        if !serves {
            // Leave another runtime first (a pool serves one runtime, so in practice this is
            // the thread's first job).
            let previous = current.borrow_mut().take();
            drop(previous);
            let (key, slot) = observer.blocking.register();
            *current.borrow_mut() = Some(PoolThread {
                observer: observer.clone(),
                key,
                slot,
                held: Cell::new(None),
                _enter: handle.enter_owned(),
            });
        }
        // A shared borrow while the job runs: `release` borrows too, and nothing a job can
        // reach borrows mutably (leaving runs from the pool's stop hook, between jobs).
        let current = current.borrow();
        let thread = current.as_ref().expect("entered above");
        let raw = task.raw();
        // The slot's own reference (see "Slot protocol"), made from the job's.
        raw.header().state.ref_inc();
        thread.slot.set(Some(raw));
        thread.held.set(Some(raw));
        super::slice::run(|| task.run());
        if thread.held.get() == Some(raw) {
            // The run did not complete the task (something else was completing it).
            thread.held.set(None);
            thread.slot.set(None);
            raw.drop_reference();
        }
    });
}

/// `task` completes: takes it out of this thread's slot if it is there. `true` hands the
/// slot's reference to the caller (`Schedule::release`).
pub(super) fn release(task: RawTask) -> bool {
    context::try_with_pool_thread(|current| {
        let Ok(current) = current.try_borrow() else {
            return false;
        };
        match current.as_ref() {
            Some(t) if t.held.get() == Some(task) => {
                t.held.set(None);
                t.slot.set(None);
                true
            }
            _ => false,
        }
    })
    .unwrap_or(false)
}
