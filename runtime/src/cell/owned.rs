//! The owned list: every live task of one runtime, so shutdown can cancel them all.
//!
//! Sharded by task id; each shard is a slab under its own lock, on a cache line of its own (the
//! ids of tasks spawned one after another land in neighbouring shards, so a thread binding one
//! and another removing its predecessor must not share a line). A task's slab key lives in its
//! header (`owned_slot`) and is read or written only under its shard's lock. `close_and_shutdown_all`
//! marks every shard closed under its lock before draining it, so a `bind` that loses the race
//! sees `closed` and fails: no task can slip in after shutdown and never be cancelled.
//!
//! The list also carries the runtime's [`Observer`], so a task can record its spawn time
//! before it is published, and [`OwnedTasks::for_each`] lets a dump read every live task,
//! one shard lock at a time (the list's reference keeps each task alive while it is read).

use super::RawTask;
use crate::loom::sync::Mutex;
use crate::observe::Observer;
use crossbeam_utils::CachePadded;
use slab::Slab;
use std::sync::Arc;

pub(crate) struct OwnedTasks {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    mask: usize,
    observer: Option<Arc<Observer>>,
}

struct Shard {
    tasks: Slab<RawTask>,
    closed: bool,
}

impl OwnedTasks {
    /// `shards` is rounded up to a power of two.
    pub(crate) fn new(shards: usize) -> OwnedTasks {
        let n = shards.max(1).next_power_of_two();
        OwnedTasks {
            shards: (0..n)
                .map(|_| {
                    CachePadded::new(Mutex::new(Shard {
                        tasks: Slab::new(),
                        closed: false,
                    }))
                })
                .collect(),
            mask: n - 1,
            observer: None,
        }
    }

    /// A list whose tasks report to `observer` (a runtime's main list).
    pub(crate) fn observed(shards: usize, observer: Arc<Observer>) -> OwnedTasks {
        OwnedTasks {
            observer: Some(observer),
            ..OwnedTasks::new(shards)
        }
    }

    pub(crate) fn observer(&self) -> Option<&Arc<Observer>> {
        self.observer.as_ref()
    }

    /// Calls `f` on every task in the list, holding one shard's lock at a time: `f` must be
    /// brief and must not spawn, complete or wake tasks.
    pub(crate) fn for_each(&self, mut f: impl FnMut(RawTask)) {
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for (_, &task) in shard.tasks.iter() {
                f(task);
            }
        }
    }

    /// Calls `f` on the task with id `id`, if it is in the list, under its shard's lock.
    pub(crate) fn with_task<R>(&self, id: u64, f: impl FnOnce(RawTask) -> R) -> Option<R> {
        let shard = self.shards[id as usize & self.mask].lock();
        let task = shard
            .tasks
            .iter()
            .map(|(_, &t)| t)
            .find(|t| t.header().id.as_u64() == id)?;
        Some(f(task))
    }

    fn shard(&self, task: RawTask) -> &Mutex<Shard> {
        &self.shards[task.header().id.as_u64() as usize & self.mask]
    }

    /// Adds a task (taking over its owned-list reference). `false` once closed.
    pub(crate) fn bind(&self, task: RawTask) -> bool {
        let mut shard = self.shard(task).lock();
        if shard.closed {
            return false;
        }
        let key = shard.tasks.insert(task);
        let key = u32::try_from(key).expect("kiln: more than 2^32 live tasks in one owned shard");
        // SAFETY: `owned_slot` is only accessed under this shard's lock, which we hold.
        task.header()
            .owned_slot
            .with_mut(|slot| unsafe { *slot = key });
        true
    }

    /// Removes a task; `true` if it was here (the caller inherits the list's reference).
    pub(crate) fn remove(&self, task: RawTask) -> bool {
        let mut shard = self.shard(task).lock();
        // SAFETY: `owned_slot` is only accessed under this shard's lock, which we hold.
        let key = task.header().owned_slot.with(|slot| unsafe { *slot }) as usize;
        if shard.tasks.get(key) == Some(&task) {
            shard.tasks.remove(key);
            true
        } else {
            false
        }
    }

    /// Closes the list and cancels every task in it. Safe to call more than once and from
    /// several threads at once.
    pub(crate) fn close_and_shutdown_all(&self) {
        for shard in self.shards.iter() {
            let drained: Vec<RawTask> = {
                let mut shard = shard.lock();
                shard.closed = true;
                shard.tasks.drain().collect()
            };
            for task in drained {
                // A panicking `JoinHandle` waker must not leave the rest uncancelled.
                crate::cell::contain_panic(|| task.shutdown());
                task.drop_reference();
            }
        }
    }

    /// Number of live tasks.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().tasks.len()).sum()
    }
}
