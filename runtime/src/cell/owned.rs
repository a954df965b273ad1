//! The owned list: every live task of one runtime, so shutdown can cancel them all.
//!
//! Sharded by task id; each shard is a slab under its own lock. A task's slab key lives in its
//! header (`owned_slot`) and is read or written only under its shard's lock. `close_and_shutdown_all`
//! marks every shard closed under its lock before draining it, so a `bind` that loses the race
//! sees `closed` and fails: no task can slip in after shutdown and never be cancelled.

use super::RawTask;
use crate::loom::sync::Mutex;
use slab::Slab;

pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
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
                    Mutex::new(Shard {
                        tasks: Slab::new(),
                        closed: false,
                    })
                })
                .collect(),
            mask: n - 1,
        }
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
        let key = task.header().owned_slot.with(|slot| unsafe { *slot });
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
