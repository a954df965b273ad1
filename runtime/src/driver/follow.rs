//! Quiet parking: an idle worker hands its sockets to a sibling and sleeps on a futex.
//!
//! Each worker owns a source poller (`sources.rs`). If every idle worker waited on its own
//! poller, each would wake for its own sockets' events, a few at a time, while a sibling
//! could have taken them in its batch: more sleeps and wake-ups, smaller batches. Instead, a
//! worker about to park while a sibling is not quiet *follows* that sibling (its *leader*):
//! - it adds its own source poller to the leader's main poller (level-triggered, under the key
//!   the leader's sibling watch uses for it, `watch.rs`), so the leader's wait ends for its
//!   sockets, and the leader harvests them ([`super::DriverHandle::poll_io_nonblocking`]) and
//!   runs the woken tasks;
//! - it sleeps on its condition variable (a futex) until notified (a sibling with surplus
//!   work, a timer inserted by another thread, shutdown), its timer deadline, or its recheck
//!   bound; it does not wake for socket events;
//! - after the wait it disables that registration (it stays for the next follow,
//!   `links.rs`) and harvests its own sockets itself.
//!
//! A leader that runs tasks harvests its quiet followers' sockets whenever it runs out of tasks
//! and at each maintenance tick, as it does its own; a leader that parks waits on its main
//! poller, which holds its followers' source pollers (never on its condition variable while it
//! has followers). So with all workers idle, one waits on the poller and the others on futexes,
//! and events reach one thread in one batch, which wakes a sibling only for surplus work.
//!
//! A worker whose wait is to watch a sibling that runs tasks (`Recheck::Soon`, `watch.rs`)
//! does not park quietly: a quiet wait watches nothing, and a leader busy in a long task does
//! not wait on its poller, so that sibling's socket events, and the follower's own, would wait
//! for the follower's recheck bound and the periodic I/O stealing instead of waking it at once.
//!
//! Except while the CPUs are oversubscribed (`Recheck::Follow`: for a few readings in a row,
//! the other runnable threads filled every CPU; `scheduler::multi::contention`): then a worker
//! woken for a socket event waits for a CPU, or takes one from a thread the work depends on
//! (the busy sibling, a client on the same machine), and its events wait with it where the
//! busy sibling, already on a CPU, would have served them at its next harvest. So it follows
//! the busy sibling, as it would an idle one, for at most its recheck bound
//! ([`super::IO_STEAL_AFTER`]): a sibling that gets stuck in a long task meanwhile is found
//! stale at the next look, and watched from then on.
//!
//! # Staying
//! With `Builder::stay_behind_busy_siblings`, while the runtime's running workers take every CPU
//! that the other runnable threads leave (`Recheck::Stay`; `scheduler::multi::contention`,
//! "Staying"), a worker about to park beside a busy sibling *stays* behind it: it follows it as
//! above, and sleeps until notified (the leader keeps surplus work to itself in that state, so a
//! notification means a CPU came free, work came from outside, or the runtime shuts down), until
//! its own timer deadline, or until the leader, still running tasks, has not polled its poller
//! itself for [`super::steal::STAY_STALE`]. It looks at the leader every
//! [`super::steal::STAY_CHECK`]; a leader that waits on its poller sees the follower's events
//! itself. So on a machine where one worker's CPU is all the others leave (a client or a load
//! generator beside a server on two CPUs), one worker serves every socket, as a single-worker
//! runtime would, instead of two workers taking turns on one CPU and parking after every few
//! requests. A leader stuck in a long task is left at most `STAY_STALE` and a look later; a worker
//! parking beside a sibling that a stealer has just harvested while its owner has not polled itself
//! ([`super::DriverHandle::polls_late`]) watches it instead of staying.
//!
//! # Protocol
//! Each driver has one word, [`Lead`]: a `QUIET` bit (its owner sleeps as a follower) and a
//! count of the followers registered in its main poller. All changes are SeqCst RMWs on that
//! word, so they are totally ordered per driver:
//! - [`Lead::try_quiet`] sets `QUIET` unless the driver has followers (else it undoes it);
//! - [`Lead::try_follow`] (on the leader's word) adds a follower unless the leader is quiet
//!   (else it undoes it).
//!
//! A worker goes quiet only if its own `try_quiet` and then its leader's `try_follow` succeed.
//! Hence a driver with followers is never quiet (whichever of the two RMWs comes second sees the
//! other and backs off), and a quiet driver has no followers: no chain or cycle of followers,
//! so every quiet worker's sockets are in the main poller of a worker that is not quiet.
//!
//! A leader asleep on its condition variable (no sources of its own, no deadline) would not see
//! a new follower's events: it stores `sleeping` before it reads the follower count, and a new
//! follower adds itself to the count before it reads `sleeping` (and unparks a leader it finds
//! asleep there), the store-buffer handshake `register` uses for a new source.
//!
//! Proved in `loom_tests` (`loom_quiet_*`).

use super::links::{Link, Reg};
use super::steal::{STAY_CHECK, STAY_STALE};
use super::DriverHandle;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::*};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// The `QUIET` bit of a [`Lead`] word.
const QUIET: usize = 1;
/// One follower in a [`Lead`] word's count.
const FOLLOWER: usize = 2;

/// A driver's quiet bit and follower count (see the module docs).
pub(super) struct Lead(AtomicUsize);

impl Lead {
    pub(super) fn new() -> Lead {
        Lead(AtomicUsize::new(0))
    }

    /// Marks the owner quiet; false (and unchanged) if siblings follow it.
    pub(super) fn try_quiet(&self) -> bool {
        if self.0.fetch_or(QUIET, SeqCst) >= FOLLOWER {
            self.0.fetch_and(!QUIET, SeqCst);
            return false;
        }
        true
    }

    /// Ends the owner's quiet park.
    pub(super) fn end_quiet(&self) {
        self.0.fetch_and(!QUIET, SeqCst);
    }

    /// Counts one more follower of this driver; false (and unchanged) if its owner is quiet.
    pub(super) fn try_follow(&self) -> bool {
        if self.0.fetch_add(FOLLOWER, SeqCst) & QUIET != 0 {
            self.0.fetch_sub(FOLLOWER, SeqCst);
            return false;
        }
        true
    }

    /// A follower of this driver left.
    pub(super) fn unfollow(&self) {
        self.0.fetch_sub(FOLLOWER, SeqCst);
    }

    /// Whether the owner sleeps as a follower (a hint, Relaxed).
    pub(super) fn is_quiet(&self) -> bool {
        self.0.load(Relaxed) & QUIET != 0
    }

    /// Whether siblings follow this driver (a hint, Relaxed).
    pub(super) fn has_followers(&self) -> bool {
        self.0.load(Relaxed) >= FOLLOWER
    }

    /// Whether siblings follow this driver, read with a SeqCst RMW: the leader's side of the
    /// condition-variable handshake (module docs).
    pub(super) fn sees_followers(&self) -> bool {
        self.0.fetch_add(0, SeqCst) >= FOLLOWER
    }
}

impl super::Driver {
    /// Parks quietly behind a sibling as `how` says (module docs); returns false, having
    /// changed nothing, if no sibling can lead (the caller then waits on its own poller).
    pub(super) fn wait_quiet(&mut self, how: QuietWait) -> bool {
        let h = &*self.handle;
        let Some(watch) = &self.watch else {
            return false;
        };
        if !h.lead.try_quiet() {
            return false;
        }
        let Some(i) = watch
            .siblings()
            .iter()
            .position(|s| !s.lead.is_quiet() && s.lead.try_follow())
        else {
            h.lead.end_quiet();
            return false;
        };
        let leader = &watch.siblings()[i];
        let reg = Reg {
            main: &leader.poller,
            pos: watch.pos_at_sibling(i),
            sources: h.sources.as_fd(),
            key: watch.key_at_sibling(i),
        };
        // SAFETY: this driver's source poller stays open while its handle lives, and its
        // registrations in siblings' pollers are deleted before that (`SiblingWatch`'s `Drop`,
        // which holds this handle).
        let added = unsafe { leader.links.enable(reg, Link::Follow) };
        if !added {
            // The leader's watch holds it, or out of memory: park as usual.
            leader.lead.unfollow();
            h.lead.end_quiet();
            return false;
        }
        // A leader asleep on its condition variable would not see our sockets (module docs).
        if leader.notifier.sleeping.fetch_add(0, SeqCst) == super::ON_CONDVAR {
            leader.notifier.unpark();
        }
        match how {
            QuietWait::For(timeout) => {
                h.notifier.wait_quiet(Some(timeout));
            }
            QuietWait::Stay(timeout) => stay_behind(h, leader, timeout),
        }
        leader.links.disable(reg, Link::Follow);
        leader.lead.unfollow();
        h.lead.end_quiet();
        true
    }
}

/// How long a quiet wait lasts.
#[derive(Clone, Copy, Debug)]
pub(super) enum QuietWait {
    /// Until notified or this passes.
    For(Duration),
    /// Until notified, until this passes (`None`: no bound), or until the leader runs tasks
    /// without polling for [`STAY_STALE`] (module docs, "Staying").
    Stay(Option<Duration>),
}

/// The wait of a worker staying behind `leader` (module docs, "Staying"): on its condition
/// variable, looking at the leader every [`STAY_CHECK`].
fn stay_behind(h: &DriverHandle, leader: &DriverHandle, timeout: Option<Duration>) {
    let end = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let slice = match end {
            Some(end) => match end.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left.min(STAY_CHECK),
                _ => return,
            },
            None => STAY_CHECK,
        };
        if h.notifier.wait_quiet(Some(slice)) || leader.polls_late(STAY_STALE) {
            return;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::{pending_pair, Driver, DriverHandle, Recheck};
    use std::os::fd::AsFd;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::time::{Duration, Instant};

    /// A worker with sockets, asked to follow a busy sibling (`Recheck::Follow`, while the
    /// CPUs are oversubscribed), parks quietly behind it: it becomes the sibling's follower for
    /// its wait (its sockets in the sibling's poller), where `Recheck::Soon` would watch.
    #[test]
    fn a_worker_asked_to_follow_a_busy_sibling_parks_quietly_behind_it() {
        let leader = DriverHandle::new().unwrap();
        let mut follower = Driver::new(DriverHandle::new().unwrap(), Duration::ZERO);
        follower.set_siblings(vec![leader.clone()], 1);
        // Nothing pending on the follower's own socket, so the waits below are not cut short.
        let (_peer, own, key, _io) = pending_pair(&follower.handle);
        let handle = follower.handle.clone();
        let stop = AtomicBool::new(false);
        let quiet = std::thread::scope(|s| {
            let parks = s.spawn(|| {
                let mut quiet = 0;
                while !stop.load(SeqCst) {
                    follower.handle.request_recheck(Recheck::Follow);
                    follower.park(Some(Duration::from_secs(1)));
                    quiet += usize::from(follower.was_quiet);
                }
                quiet
            });
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut followed = false;
            while !followed && Instant::now() < deadline {
                followed = leader.lead.has_followers();
                std::thread::yield_now();
            }
            stop.store(true, SeqCst);
            handle.unpark();
            let quiet = parks.join().unwrap();
            assert!(followed, "the worker never followed its busy sibling");
            quiet
        });
        assert!(quiet > 0);
        assert!(
            !leader.lead.has_followers(),
            "a follower left its leader's count behind"
        );
        follower.handle.deregister(own.as_fd(), key);
    }

    /// A worker asked to stay behind a busy sibling (`Recheck::Stay`) sleeps past its recheck
    /// bound and many looks at the leader while the leader keeps polling, until it is notified;
    /// it leaves by itself once the leader stops polling.
    #[test]
    fn a_worker_staying_behind_a_busy_sibling_sleeps_until_notified_or_the_sibling_stalls() {
        use super::super::steal::{STAY_CHECK, STAY_STALE};
        let leader = DriverHandle::new().unwrap();
        let mut follower = Driver::new(DriverHandle::new().unwrap(), Duration::ZERO);
        follower.set_siblings(vec![leader.clone()], 1);
        let (_peer, own, key, _io) = pending_pair(&follower.handle);
        let handle = follower.handle.clone();
        // The leader runs tasks and "polled" an hour from now: it never looks late.
        let hour = Duration::from_secs(3600).as_nanos() as u64;
        leader.last_poll.store(leader.now_nanos() + hour, SeqCst);
        leader.owner_poll.store(leader.now_nanos() + hour, SeqCst);
        let long = STAY_CHECK * 10;
        let slept = std::thread::scope(|s| {
            // Notified after `long`: the wait lasted that long, quietly.
            s.spawn(|| {
                std::thread::sleep(long);
                handle.unpark();
            });
            let start = Instant::now();
            follower.handle.request_recheck(Recheck::Stay);
            follower.park(Some(Duration::from_secs(30)));
            start.elapsed()
        });
        assert!(follower.was_quiet, "the worker did not park quietly");
        assert!(
            slept >= long,
            "left after {slept:?}, before the notification ({long:?})"
        );
        // The leader last polled long ago: the follower leaves after a look or two, not at its
        // 30 s timeout.
        leader.last_poll.store(0, SeqCst);
        leader.owner_poll.store(0, SeqCst);
        let start = Instant::now();
        follower.handle.request_recheck(Recheck::Stay);
        follower.park(Some(Duration::from_secs(30)));
        let slept = start.elapsed();
        assert!(follower.was_quiet, "the worker did not park quietly");
        assert!(
            slept < Duration::from_secs(10),
            "stayed {slept:?} behind a leader that stopped polling ({STAY_STALE:?})"
        );
        assert!(!leader.lead.has_followers());
        follower.handle.deregister(own.as_fd(), key);
    }
}
