//! Who looks at the job queue, and how idle threads sleep and are woken.
//!
//! # State
//!
//! - `searching` (atomic): threads awake that will look at the queue before they sleep — a
//!   thread that just finished a job, one just woken, one just started. Submitters read it
//!   without a lock: while it is non-zero a pushed job will be found without waking anyone, so
//!   a burst of submissions costs one wake-up, not one per job.
//! - `Sleepers` (under the mutex): `sleeping` threads parked on the condvar and how many of them
//!   have been `notified` but not yet woken. `notified <= sleeping` always.
//! - `unnotified` (atomic): `sleeping - notified`, readable without the lock (metrics, and the
//!   bound on a submitter's retry loop).
//!
//! # Protocol
//!
//! 1. A waker first counts the thread it is about to wake as searching
//!    ([`Idle::start_search`]), then notifies a sleeper under the lock ([`Idle::try_notify`]).
//!    The woken thread inherits that count.
//! 2. A thread about to sleep registers as sleeping *under the lock*, then stops searching,
//!    then (after a `SeqCst` fence) looks at the queue once more ([`Idle::sleep`]). A submitter
//!    pushes, fences, then reads `searching`. So either the sleeper sees the job and goes back
//!    to work, or the submitter sees `searching == 0` and, taking the lock, finds the sleeper
//!    registered and notifies it. No job is left with every thread asleep.
//! 3. A sleeper whose keep-alive runs out with no notification pending leaves `sleeping` and
//!    gives up its thread slot under the same lock, so a waker that then finds no sleeper finds
//!    room below the cap to start a thread instead.
//! 4. Shutdown sets its flag and then notifies every sleeper under the lock; sleepers check the
//!    flag under the lock before each wait, so none misses it.

use crate::loom::sync::{
    atomic::{fence, AtomicUsize},
    Condvar, Mutex, MutexGuard,
};
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::time::{Duration, Instant};

/// How a call to [`Idle::sleep`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// There is work (a notification, or a job seen before sleeping): search the queue again.
    /// The thread counts as searching.
    Search,
    /// The pool is shutting down. The thread does not count as searching.
    Shutdown,
    /// The keep-alive ran out; the `retire` callback ran under the lock. The thread does not
    /// count as searching.
    Retired,
}

#[derive(Debug, Default)]
struct Sleepers {
    sleeping: usize,
    notified: usize,
}

#[derive(Debug)]
pub(crate) struct Idle {
    searching: AtomicUsize,
    unnotified: AtomicUsize,
    sleepers: Mutex<Sleepers>,
    cv: Condvar,
}

impl Idle {
    pub(crate) fn new() -> Self {
        Idle {
            searching: AtomicUsize::new(0),
            unnotified: AtomicUsize::new(0),
            sleepers: Mutex::new(Sleepers::default()),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Sleepers> {
        self.sleepers.lock()
    }

    /// Threads that will look at the queue before sleeping.
    pub(crate) fn searching(&self) -> usize {
        // SeqCst: read after the submitter's push-and-fence (protocol step 2).
        self.searching.load(SeqCst)
    }

    /// Sleeping threads no wake-up is on its way to.
    pub(crate) fn unnotified(&self) -> usize {
        self.unnotified.load(Relaxed)
    }

    /// Counts one more searching thread (one finishing a job, or one about to be woken or
    /// started on the caller's behalf).
    pub(crate) fn start_search(&self) {
        self.searching.fetch_add(1, SeqCst);
    }

    /// Counts one fewer searching thread; `true` if it was the last one. The caller then looks
    /// at the queue (the fence orders that read after this decrement; it pairs with the fence
    /// after a submitter's push).
    pub(crate) fn stop_search(&self) -> bool {
        let last = self.searching.fetch_sub(1, SeqCst) == 1;
        fence(SeqCst);
        last
    }

    /// Wakes one sleeper that no wake-up is on its way to. The caller has already counted it
    /// as searching (protocol step 1).
    pub(crate) fn try_notify(&self) -> bool {
        let mut s = self.lock();
        if s.notified < s.sleeping {
            s.notified += 1;
            self.unnotified.store(s.sleeping - s.notified, Relaxed);
            drop(s);
            self.cv.notify_one();
            true
        } else {
            false
        }
    }

    /// Wakes every sleeper (shutdown). The caller set the shutdown flag first.
    pub(crate) fn notify_all(&self) {
        let _s = self.lock();
        self.cv.notify_all();
    }

    /// Parks the calling (searching) thread until notified, shut down or retired.
    ///
    /// `has_work` looks at the queue; `shutdown` reads the pool's flag; `retire` gives the
    /// thread's slot back and runs under the lock (protocol step 3).
    pub(crate) fn sleep(
        &self,
        keep_alive: Duration,
        has_work: impl Fn() -> bool,
        shutdown: impl Fn() -> bool,
        retire: impl FnOnce(),
    ) -> Wake {
        let mut s = self.lock();
        s.sleeping += 1;
        self.unnotified.store(s.sleeping - s.notified, Relaxed);
        // Registered before we stop searching (protocol step 2).
        self.stop_search();
        if has_work() || shutdown() {
            s.sleeping -= 1;
            self.unnotified.store(s.sleeping - s.notified, Relaxed);
            if shutdown() {
                return Wake::Shutdown;
            }
            self.start_search();
            return Wake::Search;
        }
        let deadline = Instant::now().checked_add(keep_alive);
        loop {
            if s.notified > 0 {
                s.notified -= 1;
                s.sleeping -= 1;
                self.unnotified.store(s.sleeping - s.notified, Relaxed);
                return Wake::Search;
            }
            if shutdown() {
                s.sleeping -= 1;
                self.unnotified.store(s.sleeping - s.notified, Relaxed);
                return Wake::Shutdown;
            }
            let now = Instant::now();
            match deadline {
                Some(deadline) if now >= deadline => {
                    s.sleeping -= 1;
                    self.unnotified.store(s.sleeping - s.notified, Relaxed);
                    retire();
                    return Wake::Retired;
                }
                Some(deadline) => {
                    self.cv.wait_timeout(&mut s, deadline - now);
                }
                None => self.cv.wait(&mut s),
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn notify_needs_a_sleeper() {
        let idle = Idle::new();
        idle.start_search();
        assert!(!idle.try_notify());
        assert!(idle.stop_search());
        assert_eq!(idle.searching(), 0);
    }

    #[test]
    fn sleeper_sees_pending_work_and_keeps_searching() {
        let idle = Idle::new();
        idle.start_search();
        let wake = idle.sleep(
            Duration::from_secs(60),
            || true,
            || false,
            || panic!("must not retire"),
        );
        assert_eq!(wake, Wake::Search);
        assert_eq!(idle.searching(), 1);
        assert_eq!(idle.unnotified(), 0);
    }

    #[test]
    fn sleeper_retires_after_keep_alive() {
        let idle = Idle::new();
        idle.start_search();
        let retired = AtomicBool::new(false);
        let wake = idle.sleep(
            Duration::from_millis(1),
            || false,
            || false,
            || retired.store(true, SeqCst),
        );
        assert_eq!(wake, Wake::Retired);
        assert!(retired.load(SeqCst));
        assert_eq!(idle.searching(), 0);
    }

    #[test]
    fn notified_sleeper_wakes_as_a_searcher() {
        let idle = std::sync::Arc::new(Idle::new());
        let i2 = idle.clone();
        let t = std::thread::spawn(move || {
            i2.start_search();
            i2.sleep(
                Duration::from_secs(60),
                || false,
                || false,
                || panic!("must not retire"),
            )
        });
        while idle.unnotified() == 0 {
            std::thread::yield_now();
        }
        idle.start_search();
        assert!(idle.try_notify());
        assert_eq!(t.join().unwrap(), Wake::Search);
        assert_eq!(idle.searching(), 1);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::{atomic::AtomicBool, Arc};
    use loom::thread;

    /// Protocol step 2: a submitter pushing a job (the flag stands in for the queue) races the
    /// last searching thread going to sleep. Either the sleeper sees the job, or the submitter
    /// sees nobody searching and its notification reaches the sleeper: the job is never left
    /// with the only thread asleep.
    #[test]
    fn loom_push_races_sleep() {
        loom::model(|| {
            let idle = Arc::new(Idle::new());
            let queued = Arc::new(AtomicBool::new(false));
            idle.start_search(); // the pool's one thread, searching
            let (i2, q2) = (idle.clone(), queued.clone());
            let submitter = thread::spawn(move || {
                q2.store(true, SeqCst);
                fence(SeqCst);
                if i2.searching() == 0 {
                    i2.start_search();
                    if !i2.try_notify() {
                        // No sleeper yet: it is still searching and will see the job.
                        i2.stop_search();
                    }
                }
            });
            // Keep-alive is irrelevant here: `Duration::MAX` means wait without a deadline.
            let wake = idle.sleep(Duration::MAX, || queued.load(SeqCst), || false, || {});
            submitter.join().unwrap();
            assert_eq!(wake, Wake::Search);
        });
    }
}
