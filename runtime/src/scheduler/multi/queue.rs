//! Run queues: each worker's `Local` queue (one pusher, the owner) with its `Steal` handle for
//! siblings, and the shared `Inject` queue.
//!
//! Outside loom these wrap `crossbeam-deque` (a Chase-Lev deque and a lock-free injector).
//! crossbeam is invisible to loom, so under `cfg(all(test, loom))` the same API is backed by a
//! `Mutex<VecDeque>`: the models then check our protocol around the queues (who pushes, who
//! re-checks before parking), trusting crossbeam's own verification for the queue itself.

use crate::cell::Notified;

#[cfg(not(all(test, loom)))]
mod imp {
    use super::Notified;
    use crossbeam_deque::{Injector, Steal as CbSteal, Stealer, Worker};

    pub(crate) struct Local(Worker<Notified>);
    pub(crate) struct Steal(Stealer<Notified>);
    pub(crate) struct Inject(Injector<Notified>);

    pub(crate) fn local() -> (Local, Steal) {
        let w = Worker::new_fifo();
        let s = w.stealer();
        (Local(w), Steal(s))
    }

    fn retry<T>(mut f: impl FnMut() -> CbSteal<T>) -> Option<T> {
        loop {
            match f() {
                CbSteal::Success(t) => return Some(t),
                CbSteal::Empty => return None,
                CbSteal::Retry => std::hint::spin_loop(),
            }
        }
    }

    impl Local {
        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.pop()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl Steal {
        /// Moves about half of the sibling's tasks into `dest` and returns one of them.
        pub(crate) fn steal_into(&self, dest: &Local) -> Option<Notified> {
            retry(|| self.0.steal_batch_and_pop(&dest.0))
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl Inject {
        pub(crate) fn new() -> Inject {
            Inject(Injector::new())
        }
        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            retry(|| self.0.steal())
        }
        /// Moves a batch into `dest` and returns one task.
        pub(crate) fn pop_batch_into(&self, dest: &Local) -> Option<Notified> {
            retry(|| self.0.steal_batch_and_pop(&dest.0))
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

#[cfg(all(test, loom))]
mod imp {
    use super::Notified;
    use crate::loom::sync::{Arc, Mutex};
    use std::collections::VecDeque;

    pub(crate) struct Local(Arc<Mutex<VecDeque<Notified>>>);
    pub(crate) struct Steal(Arc<Mutex<VecDeque<Notified>>>);
    pub(crate) struct Inject(Mutex<VecDeque<Notified>>);

    pub(crate) fn local() -> (Local, Steal) {
        let q = Arc::new(Mutex::new(VecDeque::new()));
        (Local(q.clone()), Steal(q))
    }

    impl Local {
        pub(crate) fn push(&self, task: Notified) {
            self.0.lock().push_back(task);
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.lock().pop_front()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    impl Steal {
        pub(crate) fn steal_into(&self, _dest: &Local) -> Option<Notified> {
            self.0.lock().pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }

    impl Inject {
        pub(crate) fn new() -> Inject {
            Inject(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, task: Notified) {
            self.0.lock().push_back(task);
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.lock().pop_front()
        }
        pub(crate) fn pop_batch_into(&self, _dest: &Local) -> Option<Notified> {
            self.pop()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }
}

pub(crate) use imp::{local, Inject, Local, Steal};
