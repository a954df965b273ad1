//! Surplus from a worker's own driver: the tasks that a park, a harvest before parking
//! (`poll_own_io`) or the maintenance tick of its driver wakes, beyond the one the worker
//! runs next. While a CPU is free it wakes a sleeping sibling at once, as tokio does. While
//! every CPU is taken, two settings make the worker run it itself first
//! (`Shared::surplus_patience`):
//!
//! - **Staying** (`Builder::stay_behind_busy_siblings`, on by default): while the runtime's
//!   running workers take every CPU that other threads leave (`contention.rs`, "Staying"), a
//!   woken sibling would only take turns with a running worker, so the surplus waits for none,
//!   however long. A batch of timers is the exception: it all came due at once (the grid
//!   coalesces deadlines), and a second worker shortens it even on a CPU it shares.
//! - **Patience** (`Builder::sibling_wake_patience`, 200 µs by default): the rest of the time
//!   every CPU is taken (other threads alone fill them: busy neighbours, a load generator
//!   with a thread per CPU), a sibling is woken only if the surplus is still queued after the
//!   patience. A batch drained within it would only move to a sibling that must be woken (a
//!   futex wake, often an IPI, a context switch) and then competes for the CPUs with whatever
//!   produced the batch. Timers wait too.
//!
//! Protocol: while the worker harvests (`WorkerContext::harvest`) or dispatches a park's
//! events, the tasks its driver wakes queue without notifying anyone; the batch is weighed
//! once, afterwards (`WorkerContext::weigh_surplus`), and a surplus that may wait is stamped
//! in `surplus_since` and checked again after each poll (`WorkerContext::check_surplus`).
//! Tasks woken or spawned by a task's poll still wake a sibling at once, as a poll may run
//! long and a deferred surplus is seen only between polls. Bound: the patience, or the current
//! poll if it runs longer; a parked sibling also comes to steal on its own recheck bound (see
//! `crate::driver`). The CPUs' load is read only where a decision uses it: never for a batch
//! of timers with a zero patience, which wakes a sibling whatever the reading.

use super::contention::Patience;
use super::worker::{Core, WorkerContext};
use super::Shared;
use std::time::Instant;

impl Shared {
    /// How long surplus from a worker's driver waits before a sibling is woken for it.
    pub(super) fn surplus_patience(&self) -> Patience {
        if self.config.stay_behind && self.contention.no_cpu_left_by(self.idle.unparked_hint()) {
            Patience::Staying
        } else if !self.config.wake_patience.is_zero() && self.contention.contended() {
            Patience::For(self.config.wake_patience)
        } else {
            Patience::None
        }
    }

    /// Whether surplus from a driver wakes a sibling at once; `fired`: timers fired in that
    /// batch. Reads the CPUs' load first if it is due and the answer depends on it (module
    /// docs).
    fn wakes_sibling_now(&self, fired: bool) -> bool {
        let patient = !self.config.wake_patience.is_zero();
        if fired && !patient {
            return true;
        }
        if self.config.stay_behind || patient {
            self.read_contention();
        }
        match self.surplus_patience() {
            Patience::None => true,
            Patience::For(_) => false,
            Patience::Staying => fired,
        }
    }
}

impl WorkerContext {
    /// Runs `f`, which harvests this worker's driver (or a sibling's) while not parked: the
    /// tasks it wakes queue here without notifying anyone, then count as deferred surplus;
    /// `fired` tells from its result whether timers fired.
    pub(super) fn harvest<R>(&self, f: impl FnOnce() -> R, fired: impl FnOnce(&R) -> bool) -> R {
        self.core.borrow_mut().harvesting = true;
        let r = f();
        let notify = {
            let mut core = self.core.borrow_mut();
            core.harvesting = false;
            self.weigh_surplus(&core, fired(&r))
        };
        if notify {
            self.shared.notify_parked();
        }
        r
    }

    /// After a poll: wakes a sleeping sibling if surplus from the driver has waited longer
    /// than the patience, or the CPUs are no longer all taken; forgets it once the queue
    /// holds no surplus.
    #[inline]
    pub(super) fn check_surplus(&self) {
        let Some(since) = self.surplus_since.get() else {
            return;
        };
        let notify = self.core.borrow().should_notify_others();
        if notify {
            let wait = match self.shared.surplus_patience() {
                Patience::None => false,
                Patience::For(patience) => since.elapsed() < patience,
                Patience::Staying => true,
            };
            if wait {
                return;
            }
        }
        self.surplus_since.set(None);
        if notify {
            self.shared.notify_parked();
        }
    }

    /// Weighs the surplus the driver just queued in `core`: true if a sleeping sibling
    /// should be woken for it now; else starts the wait, unless it runs already (module
    /// docs). `fired`: timers fired in that batch.
    pub(super) fn weigh_surplus(&self, core: &Core, fired: bool) -> bool {
        if !core.should_notify_others() {
            return false;
        }
        if self.shared.wakes_sibling_now(fired) {
            self.surplus_since.set(None);
            return true;
        }
        if self.surplus_since.get().is_none() {
            self.surplus_since.set(Some(Instant::now()));
        }
        false
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Patience;

    /// While the running workers take every CPU that other threads leave, surplus from a
    /// driver waits for no sibling; while other threads alone fill every CPU, it waits for the
    /// patience (200 µs by default), and with a zero patience it is handed on at once.
    #[test]
    fn surplus_waits_while_running_workers_take_every_cpu_other_threads_leave() {
        use std::time::Duration;
        for (patience, when_others_fill_every_cpu) in [
            (None, Patience::For(Duration::from_micros(200))),
            (Some(Duration::ZERO), Patience::None),
        ] {
            let mut builder = crate::Builder::new_multi_thread();
            builder.worker_threads(2).stay_behind_busy_siblings(true);
            if let Some(patience) = patience {
                builder.sibling_wake_patience(patience);
            }
            let rt = builder.build().unwrap();
            let spawned = async move {
                crate::spawn(async move {
                    crate::scheduler::multi::with_current_shared(|shared| {
                        let cpus = shared.cpus();
                        shared.contention.force(true);
                        // This worker runs: with the others taking all CPUs but one, none is
                        // left.
                        shared.contention.force_others(cpus - 1);
                        assert_eq!(shared.surplus_patience(), Patience::Staying);
                        // Other threads that fill every CPU: the patience.
                        shared.contention.force_others(cpus);
                        assert_eq!(shared.surplus_patience(), when_others_fill_every_cpu);
                    })
                })
                .await
            };
            rt.block_on(spawned).unwrap();
        }
    }

    /// With a patience set and every CPU taken, tasks that one worker's timers wake together
    /// are first run by that worker, and a sleeping sibling is woken for what is still queued
    /// once the patience has passed (or comes to steal on its own recheck bound): every task
    /// runs, and both workers run some. This exercises the deferred path end to end (the
    /// harvest's queueing without a notification, the check after each poll).

    #[test]
    fn surplus_from_timers_is_handed_to_a_sibling_after_the_patience() {
        use std::sync::{Arc, Mutex};
        use std::time::{Duration, Instant};
        const TASKS: usize = 24;
        const SPIN: Duration = Duration::from_millis(2);
        let rt = crate::Builder::new_multi_thread()
            .worker_threads(2)
            .sibling_wake_patience(Duration::from_millis(1))
            .build()
            .unwrap();
        let ran: Arc<Mutex<Vec<std::thread::ThreadId>>> = Arc::default();
        let ran2 = ran.clone();
        rt.block_on(async move {
            let ran = ran2;
            crate::spawn(async move {
                crate::scheduler::multi::with_current_shared(|shared| {
                    shared.contention.force(true);
                    assert_eq!(
                        shared.surplus_patience(),
                        Patience::For(Duration::from_millis(1))
                    );
                });
                // Spawned here, the tasks first run (and arm their sleeps) here, mostly: their
                // sleeps end together and wake them as one batch of this worker's timers.
                let deadline = Instant::now() + Duration::from_millis(50);
                let handles: Vec<_> = (0..TASKS)
                    .map(|_| {
                        let ran = ran.clone();
                        crate::spawn(async move {
                            kiln_timer::sleep_until(deadline).await;
                            let start = Instant::now();
                            while start.elapsed() < SPIN {
                                std::hint::spin_loop();
                            }
                            ran.lock().unwrap().push(std::thread::current().id());
                        })
                    })
                    .collect();
                for h in handles {
                    h.await.unwrap();
                }
            })
            .await
            .unwrap();
        });
        let ran = ran.lock().unwrap();
        assert_eq!(ran.len(), TASKS, "every task ran");
        let first = ran[0];
        assert!(
            ran.iter().any(|t| *t != first),
            "one worker ran all {TASKS} tasks ({:?} of work): the surplus never reached a sibling",
            SPIN * TASKS as u32
        );
    }
}
