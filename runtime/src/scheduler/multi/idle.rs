//! Which workers sleep, and how many search for work: the no-lost-wake-up protocol.
//!
//! `state` packs two counters: `searching` (low 16 bits) and `unparked` (the rest). `sleepers`
//! lists parked workers; it and the `unparked` count change together under its lock.
//!
//! Protocol (proved in `loom_tests::loom_park_unpark`):
//! 1. A producer pushes a task (to a local queue or the injector), then calls
//!    [`Idle::worker_to_notify`], whose `fetch_add(0, SeqCst)` reads the counters *after* the push.
//!    If nobody searches and someone sleeps, it pops a sleeper, counts it as unparked *and
//!    searching*, and the caller notifies that worker's poller (a sticky notification).
//! 2. A worker that finds no work calls [`Idle::transition_worker_to_parked`] (a SeqCst RMW under
//!    the lock), then re-checks every queue. If it finds work it calls [`Idle::unpark_self`] and
//!    goes back to work; otherwise it waits on its poller.
//!
//! Either the producer's read sees the worker registered (and notifies it: the notification is
//! sticky, so it survives until the wait), or the worker's re-check sees the task. Both RMWs are
//! SeqCst on the same word, so one of them is ordered first.
//!
//! 3. At most half the workers search at once (`transition_worker_to_searching`); a searcher that
//!    finds work and was the last searcher wakes another sleeper, spreading work step by step.

use crate::loom::sync::{
    atomic::{
        AtomicUsize,
        Ordering::{Relaxed, SeqCst},
    },
    Mutex,
};

const SEARCH_MASK: usize = 0xFFFF;
const UNPARK_ONE: usize = 1 << 16;

pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    num_workers: usize,
}

fn searching(state: usize) -> usize {
    state & SEARCH_MASK
}

fn unparked(state: usize) -> usize {
    state >> 16
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        assert!(num_workers < SEARCH_MASK, "kiln: too many worker threads");
        Idle {
            state: AtomicUsize::new(num_workers * UNPARK_ONE),
            sleepers: Mutex::new(Vec::with_capacity(num_workers)),
            num_workers,
        }
    }

    fn should_notify(&self) -> bool {
        // An RMW rather than a load: it must be ordered after the caller's push (see step 1).
        let state = self.state.fetch_add(0, SeqCst);
        searching(state) == 0 && unparked(state) < self.num_workers
    }

    /// Step 1: after pushing work, which sleeping worker (if any) to notify.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_notify() {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        if !self.should_notify() {
            return None;
        }
        let index = sleepers.pop()?;
        // The woken worker starts out searching.
        self.state.fetch_add(UNPARK_ONE + 1, SeqCst);
        Some(index)
    }

    /// How many workers are not parked (a hint: Relaxed, and stale at once).
    pub(crate) fn unparked_hint(&self) -> usize {
        unparked(self.state.load(Relaxed))
    }

    /// Tries to become a searcher; `false` if enough workers already search.
    pub(crate) fn transition_worker_to_searching(&self) -> bool {
        let state = self.state.load(SeqCst);
        if 2 * searching(state) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// A searcher found work. `true` if it was the last searcher (then it should wake another).
    pub(crate) fn transition_worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// Step 2: registers the worker as parked.
    pub(crate) fn transition_worker_to_parked(&self, index: usize, is_searching: bool) {
        let mut sleepers = self.sleepers.lock();
        let dec = UNPARK_ONE + usize::from(is_searching);
        let prev = self.state.fetch_sub(dec, SeqCst);
        debug_assert!(unparked(prev) > 0);
        sleepers.push(index);
    }

    /// After a wait (or a successful re-check): takes the worker off the sleepers list. Returns
    /// `true` if a producer already did (it was notified, and now counts as searching).
    pub(crate) fn unpark_self(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(UNPARK_ONE, SeqCst);
                false
            }
            None => true,
        }
    }
}
