//! The slots through which task dumps see the `spawn_blocking` tasks that blocking-pool
//! threads run (the protocol is in `crate::blocking`'s `thread.rs`).
//!
//! Field access: a [`Slot`] is written only by its pool thread, under its lock; dumps read it
//! under the same lock while holding the list's lock. The list changes only when a thread
//! joins (its first job) or leaves the pool.

use crate::cell::RawTask;
use crate::loom::sync::Mutex;
use crossbeam_utils::CachePadded;
use slab::Slab;
use std::sync::Arc;

/// The slots of a runtime's pool threads (those that have run one of its jobs and not left).
pub(crate) struct PoolThreads {
    slots: Mutex<Slab<Arc<Slot>>>,
}

/// The task one pool thread is running (with a reference of the slot's own), on a cache line
/// of its own.
pub(crate) struct Slot(CachePadded<Mutex<Option<RawTask>>>);

impl Slot {
    /// Publishes `task` (or `None`) as the thread's running task.
    pub(crate) fn set(&self, task: Option<RawTask>) {
        *self.0.lock() = task;
    }
}

impl PoolThreads {
    pub(crate) fn new() -> PoolThreads {
        PoolThreads {
            slots: Mutex::new(Slab::new()),
        }
    }

    /// A new, empty slot for a thread joining the pool, and its key.
    pub(crate) fn register(&self) -> (usize, Arc<Slot>) {
        let slot = Arc::new(Slot(CachePadded::new(Mutex::new(None))));
        (self.slots.lock().insert(slot.clone()), slot)
    }

    /// The thread of slot `key` left the pool.
    pub(crate) fn deregister(&self, key: usize) {
        drop(self.slots.lock().remove(key));
    }

    /// Calls `f` on the task each pool thread is running, holding that thread's slot: `f`
    /// must be brief and must not spawn, complete or wake tasks.
    pub(crate) fn for_each(&self, mut f: impl FnMut(RawTask)) {
        for (_, slot) in self.slots.lock().iter() {
            if let Some(task) = *slot.0.lock() {
                f(task);
            }
        }
    }
}
