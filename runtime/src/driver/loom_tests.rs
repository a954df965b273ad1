//! Loom models of the I/O driver's protocols: readiness dispatch against a task's
//! poll/syscall/clear loop (`crate::io`, with short reads and the peer's close), the shutdown marking of sources, and the owner's
//! park on its condition variable against `unpark`, `unpark_at` and a source registering (the
//! `Notifier`). The poller itself is a real `polling::Poller` (its syscalls are not loom
//! operations); the atomics, locks and condition variable around it are loom's.

use super::*;
use crate::io::{Dispatch, ScheduledIo, READABLE, READ_CLOSED};
use loom::future::block_on;
use loom::thread;
use std::future::poll_fn;
use std::task::Poll;

/// A task reading a socket whose data is `data` (`swap(false)`: the read; `false`: the
/// syscall's `WouldBlock`), following the readiness protocol. Returns `Err` if the runtime
/// shut down.
fn read(io: &ScheduledIo, data: &AtomicBool) -> io::Result<()> {
    block_on(poll_fn(|cx| loop {
        let ev = match io.poll_ready(cx, READABLE) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(ev)) => ev,
        };
        if data.swap(false, SeqCst) {
            return Poll::Ready(Ok(()));
        }
        io.clear_readiness(ev, READABLE);
    }))
}

/// An event dispatched while the task runs its syscall, clears a stale readiness bit or
/// stores its waker is never lost: the task always gets the data.
#[test]
fn loom_readiness_event_races_with_wouldblock_and_clear() {
    loom::model(|| {
        let io = Arc::new(ScheduledIo::default());
        // A stale event (as the initial one after registering): the first read would block.
        io.set_ready(READABLE);
        let data = Arc::new(AtomicBool::new(false));
        let (i, d) = (io.clone(), data.clone());
        let driver = thread::spawn(move || {
            // Data arrives (an RMW, as the reader's `swap`: loom orders a plain store after
            // the reader's earlier RMW inconsistently with the reader's later one).
            d.swap(true, SeqCst);
            i.set_ready(READABLE);
        });
        read(&io, &data).unwrap();
        driver.join().unwrap();
    });
}

/// A task reading a TCP socket to end of stream as `TcpStream` does: a read that takes data
/// is short of its buffer, so it clears readability with `clear_exhausted`; a read of nothing
/// is end of stream once the peer closed (`fin`), else `WouldBlock`. Returns the bytes read.
fn read_to_end_short(io: &ScheduledIo, data: &AtomicUsize, fin: &AtomicBool) -> usize {
    let mut got = 0;
    block_on(poll_fn(|cx| loop {
        let ev = match io.poll_ready(cx, READABLE) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => panic!("no shutdown here: {e}"),
            Poll::Ready(Ok(ev)) => ev,
        };
        // The kernel queues the FIN behind the data: seen before the data is taken, it
        // means none is left after this read's bytes.
        let closed = fin.fetch_or(false, SeqCst);
        let n = data.swap(0, SeqCst);
        if n > 0 {
            got += n;
            io.clear_exhausted(ev, READABLE);
        } else if closed {
            return Poll::Ready(got);
        } else {
            io.clear_readiness(ev, READABLE);
        }
    }))
}

/// A short read that clears readability never hides the peer's close, whether the FIN comes
/// in the data's event (one harvest saw both) or in an event of its own.
#[test]
fn loom_short_read_never_hides_the_fin() {
    for coalesced in [true, false] {
        loom::model(move || {
            let io = Arc::new(ScheduledIo::default());
            let data = Arc::new(AtomicUsize::new(0));
            let fin = Arc::new(AtomicBool::new(false));
            let (i, d, f) = (io.clone(), data.clone(), fin.clone());
            let peer = thread::spawn(move || {
                d.fetch_add(5, SeqCst);
                if !coalesced {
                    i.set_ready(READABLE);
                }
                f.swap(true, SeqCst);
                // `Dispatch::dispatch` of an event that reports the close.
                i.set_ready(READABLE | READ_CLOSED);
            });
            assert_eq!(read_to_end_short(&io, &data, &fin), 5);
            peer.join().unwrap();
        });
    }
}

/// Shutting the dispatch down wakes a task waiting for readiness, which then fails; a source
/// inserted concurrently is either refused or marked, never left waiting.
#[test]
fn loom_shutdown_fails_waiting_and_racing_sources() {
    loom::model(|| {
        let dispatch = Arc::new(Dispatch::new());
        let waiting = Arc::new(ScheduledIo::default());
        dispatch.insert(waiting.clone()).unwrap();
        let d = dispatch.clone();
        let racer = thread::spawn(move || {
            let late = Arc::new(ScheduledIo::default());
            match d.insert(late.clone()) {
                Err(_) => true,
                Ok(_) => read(&late, &AtomicBool::new(false)).is_err(),
            }
        });
        let d = dispatch.clone();
        let shutter = thread::spawn(move || d.shutdown());
        assert!(read(&waiting, &AtomicBool::new(false)).is_err());
        assert!(racer.join().unwrap(), "a racing source was left waiting");
        shutter.join().unwrap();
    });
}

fn notifier() -> Arc<Notifier> {
    let poller = Arc::new(Poller::new().unwrap());
    Arc::new(Notifier {
        notify: super::wait::Notify::new(&poller),
        poller,
        unparked: AtomicBool::new(false),
        sleeping: AtomicUsize::new(AWAKE),
        timer_armed: AtomicBool::new(false),
        plan_every_wait: AtomicBool::new(false),
        timers_from_outside: AtomicBool::new(false),
        lock: Mutex::new(()),
        condvar: Condvar::new(),
    })
}

/// The owner going to sleep on its condition variable never sleeps through an `unpark`
/// (the sticky flag plus `sleeping` handshake, see `Notifier::unpark`).
#[test]
fn loom_condvar_park_races_with_unpark() {
    loom::model(|| {
        let n = notifier();
        let n2 = n.clone();
        let unparker = thread::spawn(move || n2.unpark());
        n.wait_on_condvar(|| false);
        // The owner's side after a wait (`Driver::park`): the flag is consumed.
        assert!(n.unparked.swap(false, SeqCst));
        unparker.join().unwrap();
    });
}

/// A timer armed from another thread (`unpark_at`, as the timer driver calls it, with the
/// caller's `unpark` when it declines) while the owner sleeps by `park`; then the owner's side
/// after a blocking wait (`after_wait`): take the arming, disarm.
fn unpark_at_races_with(park: impl FnOnce(&Notifier)) {
    let n = notifier();
    let n2 = n.clone();
    let armer = thread::spawn(move || {
        let at = Instant::now() + Duration::from_secs(3_600);
        if !kiln_timer::Unpark::unpark_at(&*n2, at) {
            n2.unpark();
        }
    });
    park(&n);
    armer.join().unwrap();
    if n.timer_armed.swap(false, SeqCst) {
        n.notify.disarm_timer();
    }
}

/// The owner going to sleep on its condition variable: either its check sees `timer_armed` and
/// returns (to wait on its poller, where the wake-up timer ends the wait), or `unpark_at` sees
/// it asleep and declines, and the caller's `unpark` wakes it. Loom reports a deadlock if the
/// owner sleeps through it.
#[test]
fn loom_unpark_at_races_with_condvar_park() {
    loom::model(|| unpark_at_races_with(|n| n.wait_on_condvar(|| false)));
}

/// The same race for a quiet follower's wait (`follow.rs`), which the wake-up timer cannot
/// end: an arming that came first ends the wait at once (the owner re-plans), a later one is
/// declined and its caller unparks the owner. Loom reports a deadlock if the owner sleeps
/// through it (the wait has no bound here).
#[test]
fn loom_unpark_at_races_with_quiet_park() {
    loom::model(|| {
        unpark_at_races_with(|n| {
            n.wait_quiet(None);
        })
    });
}

/// Two `unpark`s race with the owner's sleep, and the later one may send nothing (the flag was
/// already set): the owner still wakes and finds the flag set.
#[test]
fn loom_second_unpark_sends_nothing_but_no_wake_is_lost() {
    loom::model(|| {
        let n = notifier();
        let (n1, n2) = (n.clone(), n.clone());
        let first = thread::spawn(move || n1.unpark());
        let second = thread::spawn(move || n2.unpark());
        n.wait_on_condvar(|| false);
        assert!(n.unparked.swap(false, SeqCst));
        first.join().unwrap();
        second.join().unwrap();
    });
}

/// A source registered while the owner goes to sleep on its condition variable (it had no
/// sources) wakes it, so it moves to its poller: either the owner's re-check sees the
/// source, or `register` sees the owner asleep and unparks it.
#[test]
fn loom_source_registered_while_owner_sleeps_on_condvar() {
    loom::model(|| {
        let h = DriverHandle::new().unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let h2 = h.clone();
        let registrar = thread::spawn(move || {
            let (key, _io) = h2.register(a.as_fd()).unwrap();
            (a, key)
        });
        h.notifier.wait_on_condvar(|| h.has_io_sources());
        let (a, key) = registrar.join().unwrap();
        h.deregister(a.as_fd(), key);
        drop((a, b));
    });
}

/// The whole notify/park protocol as a worker runs it: a producer publishes work and then
/// unparks; the owner checks for work, parks (on its condition variable, as a driver with no
/// sources and no deadline does), consumes the sticky flag after the wait, and checks again.
/// Two producers race with the owner; loom reports a deadlock if the owner ever sleeps
/// through a wake-up that follows published work.
#[test]
fn loom_published_work_is_never_slept_through() {
    loom::model(|| {
        let n = notifier();
        let work = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let (n, work) = (n.clone(), work.clone());
                thread::spawn(move || {
                    work.fetch_add(1, SeqCst);
                    n.unpark();
                })
            })
            .collect();
        let mut seen = 0;
        while seen < 2 {
            seen = work.load(SeqCst);
            if seen < 2 {
                n.wait_on_condvar(|| false);
                // As `Driver::park` does after every wait.
                n.unparked.swap(false, SeqCst);
            }
        }
        for p in producers {
            p.join().unwrap();
        }
    });
}

/// Two workers park quietly at once, each trying to follow the other (`follow.rs`): at most
/// one succeeds, and a driver left with a follower is not quiet, so every quiet worker's
/// sockets stay with a worker that waits on its poller or runs tasks.
#[test]
fn loom_quiet_workers_never_follow_each_other() {
    loom::model(|| {
        let a = Arc::new(follow::Lead::new());
        let b = Arc::new(follow::Lead::new());
        let park = |own: Arc<follow::Lead>, leader: Arc<follow::Lead>| {
            thread::spawn(move || {
                if !own.try_quiet() {
                    return false;
                }
                if leader.try_follow() {
                    return true;
                }
                own.end_quiet();
                false
            })
        };
        let ta = park(a.clone(), b.clone());
        let tb = park(b.clone(), a.clone());
        let (fa, fb) = (ta.join().unwrap(), tb.join().unwrap());
        assert!(!(fa && fb), "two quiet workers follow each other");
        for (lead, followed) in [(&a, fb), (&b, fa)] {
            assert_eq!(lead.sees_followers(), followed);
            if followed {
                assert!(!lead.is_quiet(), "a leader with a follower is quiet");
            }
        }
    });
}

/// A worker follows a leader that goes to sleep on its condition variable (no sources, no
/// deadline) at the same time: either the leader's re-check sees the follower, or the
/// follower sees the leader asleep and unparks it; loom reports a deadlock otherwise.
#[test]
fn loom_new_follower_wakes_a_leader_on_its_condvar() {
    loom::model(|| {
        let leader = DriverHandle::new().unwrap();
        let l2 = leader.clone();
        let follower = thread::spawn(move || {
            assert!(l2.lead.try_follow());
            // As `Driver::wait_quiet` does after registering with the leader's poller.
            if l2.notifier.sleeping.fetch_add(0, SeqCst) == ON_CONDVAR {
                l2.notifier.unpark();
            }
        });
        leader
            .notifier
            .wait_on_condvar(|| leader.has_io_sources() || leader.lead.sees_followers());
        follower.join().unwrap();
        leader.lead.unfollow();
    });
}
