//! The drivers of one runtime seen together: CPU hints, socket counts, placement, and I/O
//! stealing between them.
//!
//! Each runtime has one [`Peers`]: every worker's driver (one for the current-thread flavor),
//! with the CPU each worker last ran on. The scheduler asks it where a worker's idle time is
//! best spent ([`Peers::scan_io`], [`Peers::fire_due_timers`], [`Peers::timer_bound`]); the
//! net layer asks it where a socket should live ([`Peers::on_cpu`], [`Peers::outside`]).
//! Nobody else reaches into another worker's driver.
//!
//! # Placement
//! - A socket or timer created on a worker thread lives with that worker's driver.
//! - **The outside driver** ([`Peers::outside`]) serves threads that are not workers (a
//!   `block_on` caller, a blocking-pool thread): the driver with the fewest sockets, ties
//!   broken by a rotating start, so sockets and timers created outside the workers spread
//!   over them instead of all landing on worker 0.
//! - An accepted TCP stream goes to the worker running on the CPU that receives its packets,
//!   and a stream later follows that CPU (`crate::net::affinity`), while that worker holds at
//!   most a quarter more than an even share of the runtime's sockets ([`may_take_socket`]).
//!
//! # CPU hints
//! Each worker publishes the CPU it runs on ([`Peers::note_cpu`]) when it starts, after each
//! park and at each maintenance tick. Threads move between CPUs, so this is a hint: a stale
//! value only places a socket less well. Relaxed everywhere.
//!
//! # I/O stealing
//! A worker out of work looks at its siblings (`crate::driver`, "Sockets and I/O stealing"):
//! while a sibling runs tasks, its next park watches that sibling's sockets and is bounded so
//! it comes back to look; while parked siblings have sockets it is bounded with a back-off. A
//! searching worker harvests the sockets of a sibling stuck in a long poll
//! ([`IoState::Stale`]), fires its due timers, and bounds its own sleep by the timers of
//! siblings that run tasks. A busy worker's maintenance tick serves stale siblings too
//! ([`Peers::serve_stale`]: their sockets and due timers): a sibling that never runs out of
//! work never searches, and a stuck worker's events and timers would otherwise wait for it.
//! The same tick harvests the sockets of a sibling parked for longer than
//! [`super::steal::SERVE_PARKED_AFTER`], which may have been woken and still wait for a CPU
//! ([`IoState::ParkedLong`]).

use super::{DriverHandle, IoState, Recheck};
use crate::loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shortest sleep an idle worker takes to cover a running sibling's due timers: the sibling
/// fires them itself at its next maintenance tick unless stuck, so a due timer must not turn
/// this worker's park into a spin.
const SIBLING_TIMER_SLACK: Duration = Duration::from_micros(50);

/// One driver and the CPU its owner last ran on.
struct Peer {
    driver: Arc<DriverHandle>,
    /// `usize::MAX`: unknown.
    cpu: AtomicUsize,
}

/// Every driver of one runtime (see the module docs).
pub(crate) struct Peers {
    peers: Box<[Peer]>,
    /// Where the next [`Peers::outside`] starts looking, so ties rotate.
    next_outside: AtomicUsize,
}

impl Peers {
    /// The drivers of a runtime, in worker order.
    ///
    /// # Panics
    /// If `drivers` is empty.
    pub(crate) fn new(drivers: Vec<Arc<DriverHandle>>) -> Peers {
        assert!(
            !drivers.is_empty(),
            "kiln: a runtime has at least one driver"
        );
        let peers = drivers
            .into_iter()
            .map(|driver| Peer {
                driver,
                cpu: AtomicUsize::new(usize::MAX),
            })
            .collect();
        Peers {
            peers,
            next_outside: AtomicUsize::new(0),
        }
    }

    /// The driver of worker `index`.
    pub(crate) fn driver(&self, index: usize) -> &Arc<DriverHandle> {
        &self.peers[index].driver
    }

    /// Every driver, in worker order.
    pub(crate) fn drivers(&self) -> impl Iterator<Item = &Arc<DriverHandle>> + '_ {
        self.peers.iter().map(|p| &p.driver)
    }

    /// Every driver but worker `index`'s (the siblings its driver watches).
    pub(crate) fn siblings_of(&self, index: usize) -> Vec<Arc<DriverHandle>> {
        self.peers
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != index)
            .map(|(_, p)| p.driver.clone())
            .collect()
    }

    /// Publishes the CPU the calling thread, worker `index`, runs on.
    pub(crate) fn note_cpu(&self, index: usize) {
        // Relaxed: a placement hint.
        self.peers[index]
            .cpu
            .store(crate::sys::current_cpu(), Relaxed);
    }

    /// The outside driver: where a thread that is not a worker registers sockets and timers
    /// (see "Placement").
    pub(crate) fn outside(&self) -> &Arc<DriverHandle> {
        let n = self.peers.len();
        // Relaxed: only spreads ties.
        let start = self.next_outside.fetch_add(1, Relaxed) % n;
        let (_, peer) = (0..n)
            .map(|i| (start + i) % n)
            .map(|i| (self.peers[i].driver.io_sources(), &self.peers[i]))
            .min_by_key(|&(load, _)| load)
            .expect("at least one driver");
        &peer.driver
    }

    /// The driver of the worker last seen running on `cpu`, if `from` is the driver of
    /// another worker of this runtime and that worker may take one more socket
    /// ([`may_take_socket`]).
    pub(crate) fn on_cpu(&self, from: &Arc<DriverHandle>, cpu: usize) -> Option<Arc<DriverHandle>> {
        if !self.peers.iter().any(|p| Arc::ptr_eq(&p.driver, from)) {
            return None;
        }
        // Relaxed: a placement hint; a stale value only places a socket less well.
        let target = self.peers.iter().find(|p| p.cpu.load(Relaxed) == cpu)?;
        if Arc::ptr_eq(&target.driver, from) {
            return None;
        }
        let total: usize = self.peers.iter().map(|p| p.driver.io_sources()).sum();
        may_take_socket(target.driver.io_sources(), total, self.peers.len())
            .then(|| target.driver.clone())
    }

    /// Worker `index`, out of work, looks at its siblings' I/O (see "I/O stealing"): asks its
    /// own next park to come back soon (a sibling runs tasks) or after a back-off (parked
    /// siblings, or itself, have sockets); with `poll`, also harvests the sockets of siblings
    /// stuck in a long poll (their tasks land in the caller's queues). Returns how many events
    /// it dispatched.
    ///
    /// While siblings run tasks and none is stuck, `busy()` (asked only then) says what the
    /// next park does: stay behind one of them ([`Recheck::Stay`]), follow one of them for a
    /// while ([`Recheck::Follow`]), or watch them ([`Recheck::Soon`]).
    pub(crate) fn scan_io(
        &self,
        index: usize,
        poll: bool,
        busy: impl FnOnce() -> Recheck,
    ) -> usize {
        let mut io_events = 0;
        let mut sibling_busy = false;
        let mut sibling_stale = false;
        let mut idle_sources = false;
        for (i, peer) in self.peers.iter().enumerate() {
            if i == index {
                // Our sockets count too: a parked sibling may wake to handle one of them
                // and get stuck in a long task after registering new ones.
                idle_sources |= peer.driver.has_io_sources();
                continue;
            }
            // A sibling without sockets has no I/O to steal: watching it would only wake
            // this worker for nothing (its timers are covered by `timer_bound`).
            if !peer.driver.has_io_sources() {
                continue;
            }
            match peer.driver.io_state() {
                IoState::Parked | IoState::ParkedLong => idle_sources = true,
                // Harvested by a sibling just now, while its owner has not polled: stuck, as
                // below, but served already.
                IoState::Busy if peer.driver.polls_late(super::IO_STEAL_AFTER) => {
                    sibling_stale = true;
                }
                IoState::Busy => sibling_busy = true,
                IoState::Stale => {
                    sibling_stale = true;
                    if poll {
                        io_events += peer.driver.poll_io_nonblocking();
                    }
                }
            }
        }
        let mode = if sibling_stale {
            Recheck::Soon
        } else if sibling_busy {
            busy()
        } else if idle_sources {
            Recheck::Backoff
        } else {
            Recheck::No
        };
        if mode != Recheck::No {
            self.peers[index].driver.request_recheck(mode);
        }
        io_events
    }

    /// Worker `index`, busy with its own tasks, serves the siblings that have not polled for
    /// [`super::IO_STEAL_AFTER`] ([`IoState::Stale`]: stuck in a long poll, or their threads
    /// wait for a CPU): harvests their sockets and fires their due timers. It also harvests
    /// the sockets of siblings parked for [`super::steal::SERVE_PARKED_AFTER`]
    /// ([`IoState::ParkedLong`]: idle, or woken and still waiting for a CPU; their timers end
    /// their own waits). Called at each maintenance tick; returns how many events it
    /// dispatched and how many timers it fired (the woken tasks land in the caller's queues).
    pub(crate) fn serve_stale(&self, index: usize) -> (usize, usize) {
        let (mut io_events, mut fired) = (0, 0);
        for (i, peer) in self.peers.iter().enumerate() {
            if i == index {
                continue;
            }
            match peer.driver.io_state() {
                IoState::Stale => {
                    if peer.driver.has_io_sources() {
                        io_events += peer.driver.poll_io_nonblocking();
                    }
                    fired += peer.driver.process_due_timers(Instant::now());
                }
                IoState::ParkedLong if peer.driver.has_io_sources() => {
                    // Idle, it counts as parked from now (`poll_io_nonblocking`).
                    io_events += peer.driver.poll_io_nonblocking();
                }
                _ => {}
            }
        }
        (io_events, fired)
    }

    /// Fires every driver's due timers from the calling thread (a sibling stuck in a long
    /// poll leaves its timers to the idle workers); returns how many fired.
    pub(crate) fn fire_due_timers(&self, now: Instant) -> usize {
        self.peers
            .iter()
            .map(|p| p.driver.process_due_timers(now))
            .sum()
    }

    /// How long worker `index` may sleep without leaving a timer of a sibling that is running
    /// (and may be stuck in a long poll) late: until the earliest such deadline. `None` if no
    /// running sibling has a timer; parked siblings wake for their own timers.
    pub(crate) fn timer_bound(&self, index: usize) -> Option<Duration> {
        let now = Instant::now();
        self.peers
            .iter()
            .enumerate()
            .filter(|&(i, p)| i != index && !p.driver.is_parked())
            // The due hint, not `next_deadline`: no lock on a running sibling's wheel at each
            // park (see `kiln_timer::Driver::deadline_hint`).
            .filter_map(|(_, p)| p.driver.timer.deadline_hint())
            .min()
            .map(|at| at.saturating_duration_since(now).max(SIBLING_TIMER_SLACK))
    }
}

/// Where a thread registers the sockets and timers it creates: its own worker's driver, or
/// the runtime's outside driver (see "Placement"). Kept in the thread's context
/// (`crate::context::placement`).
#[derive(Clone)]
pub(crate) struct Placement {
    peers: Arc<Peers>,
    /// The worker this thread runs, or `None` (the outside driver).
    worker: Option<usize>,
}

impl Placement {
    /// The thread runs worker `index` of `peers`.
    pub(crate) fn worker(peers: Arc<Peers>, index: usize) -> Placement {
        Placement {
            peers,
            worker: Some(index),
        }
    }

    /// The thread is not one of `peers`' workers.
    pub(crate) fn outside(peers: Arc<Peers>) -> Placement {
        Placement {
            peers,
            worker: None,
        }
    }

    /// The driver a new socket or timer of this thread goes to.
    pub(crate) fn driver(&self) -> Arc<DriverHandle> {
        self.driver_ref().clone()
    }

    /// [`driver`](Self::driver), borrowed: for a caller that only reads it (entering a
    /// runtime takes its timer), so the driver's shared count is not touched.
    pub(crate) fn driver_ref(&self) -> &Arc<DriverHandle> {
        match self.worker {
            Some(i) => self.peers.driver(i),
            None => self.peers.outside(),
        }
    }

    /// The runtime's drivers.
    pub(crate) fn peers(&self) -> &Peers {
        &self.peers
    }
}

/// Whether a worker holding `load` of the `total` sockets of a runtime with `workers` workers
/// may take one more from a sibling: while it holds at most a quarter more than an even share,
/// plus one (`load <= 1.25 * total / workers + 1`).
fn may_take_socket(load: usize, total: usize, workers: usize) -> bool {
    4 * workers * load <= 5 * total + 4 * workers
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_worker_takes_sockets_up_to_a_quarter_over_an_even_share() {
        // 100 sockets on 2 workers: an even share is 50, the bound 63.5.
        assert!(may_take_socket(50, 100, 2));
        assert!(may_take_socket(63, 100, 2));
        assert!(!may_take_socket(64, 100, 2));
        // One CPU receiving every packet cannot pull all sockets to one worker.
        assert!(!may_take_socket(100, 100, 2));
        // Small runtimes still move their few sockets.
        assert!(may_take_socket(1, 2, 2));
        assert!(may_take_socket(2, 2, 2));
        assert!(!may_take_socket(3, 2, 2));
        assert!(may_take_socket(0, 0, 4));
    }

    #[test]
    fn the_outside_driver_spreads_over_the_drivers() {
        let peers = Peers::new((0..3).map(|_| DriverHandle::new().unwrap()).collect());
        let mut seen = [0usize; 3];
        for _ in 0..30 {
            let d = peers.outside();
            let i = (0..3).find(|&i| Arc::ptr_eq(peers.driver(i), d)).unwrap();
            seen[i] += 1;
        }
        assert!(
            seen.iter().all(|&n| n == 10),
            "no socket load: ties rotate ({seen:?})"
        );
    }

    /// A sibling parked for a while may have been woken by a socket event and still wait for
    /// a CPU: to its siblings it looks parked, and a busy worker's maintenance tick harvests its
    /// sockets. The sibling here never runs at all, so only that harvest can see the event.
    #[test]
    fn a_busy_worker_harvests_a_sibling_parked_for_a_while() {
        use crate::io::READABLE;
        use std::io::Write;
        use std::os::fd::AsFd;
        use std::task::{Context, Poll};
        let peers = Peers::new((0..2).map(|_| DriverHandle::new().unwrap()).collect());
        let parked = peers.driver(1);
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let (key, io) = parked.register(b.as_fd()).unwrap();
        // The registration's first event (writable).
        assert!(parked.poll_io_nonblocking() >= 1);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        assert!(io.poll_ready(&mut cx, READABLE).is_pending());
        parked.publish_parked(Instant::now());
        a.write_all(b"x").unwrap();
        std::thread::sleep(super::super::steal::SERVE_PARKED_AFTER * 2);
        assert_eq!(parked.io_state(), IoState::ParkedLong);
        let (events, _) = peers.serve_stale(0);
        assert_eq!(events, 1, "the parked sibling's event was not harvested");
        assert!(matches!(io.poll_ready(&mut cx, READABLE), Poll::Ready(_)));
        // Harvesting for it does not make the sibling look awake.
        assert!(parked.is_parked());
        // A harvest that finds nothing restarts the interval before the next one: the park's
        // start moves forward, and the sibling still looks parked.
        let before = parked.last_poll.load(Relaxed);
        assert_eq!(peers.serve_stale(0).0, 0);
        let after = parked.last_poll.load(Relaxed);
        let flag = super::super::steal::PARKED;
        assert!(
            after & flag != 0 && after > before,
            "{before:#x} -> {after:#x}"
        );
        parked.deregister(b.as_fd(), key);
    }

    /// What a worker out of work asks of its next park, by what its sibling is doing: what the
    /// CPUs allow for a busy sibling, watch a stuck one whatever they are, and back off from a
    /// parked one; the CPUs are asked about only for a busy sibling.
    #[test]
    fn a_parking_worker_asks_about_the_cpus_only_beside_a_busy_sibling() {
        use std::os::fd::AsFd;
        let peers = Peers::new((0..2).map(|_| DriverHandle::new().unwrap()).collect());
        let (sibling, own) = (peers.driver(1), peers.driver(0));
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let (key, _io) = sibling.register(a.as_fd()).unwrap();
        let scan = |busy: Option<Recheck>| {
            peers.scan_io(0, false, || busy.expect("asked about the CPUs"));
            own.take_recheck()
        };
        // Busy: it polled just now.
        let now = sibling.now_nanos();
        sibling.last_poll.store(now, Relaxed);
        sibling.owner_poll.store(now, Relaxed);
        assert_eq!(sibling.io_state(), IoState::Busy);
        for busy in [Recheck::Stay, Recheck::Follow, Recheck::Soon] {
            assert_eq!(scan(Some(busy)), busy);
        }
        // Harvested by another sibling just now, its owner still not polling: watched.
        std::thread::sleep(super::super::IO_STEAL_AFTER * 2);
        sibling.last_poll.store(sibling.now_nanos(), Relaxed);
        assert_eq!(sibling.io_state(), IoState::Busy);
        assert_eq!(scan(None), Recheck::Soon);
        // Stuck in a long poll: watched (and harvested) whatever the CPUs do.
        std::thread::sleep(super::super::IO_STEAL_AFTER * 2);
        assert_eq!(sibling.io_state(), IoState::Stale);
        assert_eq!(scan(None), Recheck::Soon);
        // Parked: a backed-off look later.
        sibling.publish_parked(Instant::now());
        assert_eq!(scan(None), Recheck::Backoff);
        sibling.deregister(a.as_fd(), key);
    }

    #[test]
    fn the_outside_driver_is_the_one_with_the_fewest_sockets() {
        use std::os::fd::AsFd;
        let peers = Peers::new((0..2).map(|_| DriverHandle::new().unwrap()).collect());
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let (key, _io) = peers.driver(0).register(a.as_fd()).unwrap();
        for _ in 0..4 {
            assert!(Arc::ptr_eq(peers.outside(), peers.driver(1)));
        }
        peers.driver(0).deregister(a.as_fd(), key);
    }
}
