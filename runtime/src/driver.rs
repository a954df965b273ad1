//! A worker's event loop: its own `polling::Poller` and timer wheel.
//!
//! Each worker (and each current-thread runtime) owns one [`Driver`]. Other threads reach it
//! through its [`DriverHandle`]: `unpark` (a sticky `Poller::notify`, so a notification sent
//! before the owner waits is not lost), I/O registration with that worker's poller, the timer
//! wheel (any thread may insert, cancel, or process due timers of a busy worker), and
//! [`DriverHandle::poll_io_nonblocking`] (an idle sibling polls a busy worker's poller).
//!
//! [`Driver::park`] waits for the earliest of: a notification, an I/O event, the nearest timer
//! deadline, or the caller's timeout; then it dispatches I/O readiness and fires due timers.
//! `polling`'s epoll backend arms a timerfd for the wait, so sub-millisecond deadlines are
//! honoured (see the kiln-timer crate docs).
//!
//! A worker with no I/O sources and no timer deadline has nothing but a notification to wait
//! for; it sleeps on a condition variable instead (a futex: `polling`'s wait costs two extra
//! syscalls per park to arm and disarm its timerfd). `unpark` wakes whichever of the two the
//! owner sleeps on (`Notifier::sleeping`); a notification is sticky on both.
//!
//! # I/O stealing
//!
//! A worker stuck in a long task polls its poller only when the task returns. Meanwhile an idle
//! sibling may poll that poller itself: `Poller::wait` lets one thread wait at a time (others
//! return at once with no events), so a sibling's zero-timeout poll and the owner's wait
//! exclude each other; the sibling uses the handle's own event buffer (`steal_events`, behind a
//! try-lock) and dispatches into the owner's [`crate::io::Dispatch`]; the woken tasks are
//! scheduled on the sibling. The owner publishes when it last polled (`last_poll`, or
//! [`PARKED`] while it waits); siblings only poll a poller that has not been polled for
//! [`IO_STEAL_AFTER`] and whose owner is not waiting on it.
//!
//! A sibling's wait also consumes the poller's pending notification, which was meant for the
//! owner. So notifications are tracked in `unparked` too:
//! 1. `unpark` sets `unparked` (SeqCst), then notifies the poller.
//! 2. The owner, after each wait, clears it with a SeqCst swap, then re-checks its queues.
//! 3. A sibling, after its wait, loads `unparked`; if set, it notifies the poller again.
//!
//! If a sibling's wait consumed the notification of step 1, that wait came after the notify,
//! so the sibling's load of step 3 sees the flag (or the owner's swap of step 2 cleared it,
//! and then the owner was awake and re-checks its queues after the swap): the owner is never
//! left waiting on a lost notification.
//!
//! Idle workers come back to steal I/O: when a searching worker finds a sibling that is not
//! parked ([`DriverHandle::io_state`]), it asks its own driver to bound its next wait by
//! [`IO_STEAL_AFTER`] ([`DriverHandle::watch_siblings`]), so it looks again soon (a sibling
//! that just polled may start a long task right after). A sibling seen parked may wake and get
//! stuck in a long task right after the check; so while parked siblings have registered
//! sources, the watcher's wait is still bounded, by a timeout that doubles from
//! [`IDLE_WATCH_MIN`] to [`IDLE_WATCH_MAX`] while nothing happens (an idle runtime with open
//! sockets wakes each searching worker at most ~30 times a second; one without sockets never).

use crate::io::{Dispatch, ScheduledIo};
use crate::loom::{AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering::*};
use polling::{Event, Events, PollMode, Poller};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a worker may go without polling its poller before idle siblings poll it for it;
/// also how long an idle worker sleeps between such checks while a sibling is busy.
pub(crate) const IO_STEAL_AFTER: Duration = Duration::from_micros(500);

/// First bound of a watcher's wait while every sibling is parked (see the module docs).
pub(crate) const IDLE_WATCH_MIN: Duration = Duration::from_millis(1);
/// Largest bound of a watcher's wait while every sibling is parked.
pub(crate) const IDLE_WATCH_MAX: Duration = Duration::from_millis(32);

/// What a searching worker asks of its own next wait (`DriverHandle::watch`).
const WATCH_NONE: usize = 0;
const WATCH_IDLE: usize = 1;
const WATCH_BUSY: usize = 2;

/// `last_poll` value while the owner waits on its poller.
const PARKED: u64 = u64::MAX;

/// `Notifier::sleeping`: the owner is awake.
const AWAKE: usize = 0;
/// `Notifier::sleeping`: the owner waits on the condition variable (no sources, no deadline).
const ON_CONDVAR: usize = 1;

/// Wakes the owner's wait; shared with the timer wheel.
struct Notifier {
    poller: Arc<Poller>,
    /// Set by `unpark`, cleared by the owner after a wait (see the module docs).
    unparked: AtomicBool,
    /// What the owner sleeps on: [`AWAKE`] (or on its poller) or [`ON_CONDVAR`].
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

impl Notifier {
    fn unpark(&self) {
        // SeqCst: pairs with the owner's swap after its wait and a sibling's load after its own,
        // and with the owner's `sleeping` store before it checks `unparked` (condvar path).
        self.unparked.store(true, SeqCst);
        if self.sleeping.load(SeqCst) == ON_CONDVAR {
            // Taking the lock orders this notify after the owner's check-then-wait.
            drop(self.lock.lock());
            self.condvar.notify_one();
        } else {
            // A failed notify leaves the owner to wake at its previous deadline.
            let _ = self.poller.notify();
        }
    }

    /// The owner's wait when it has no I/O sources and no deadline: a futex, two syscalls
    /// cheaper per park/unpark than the poller's timerfd-armed wait. Returns at once if a
    /// source appeared: `register` inserts the source (under the sources lock) and then reads
    /// `sleeping`, while this stores `sleeping` and then reads the sources (under that lock), so
    /// either it sees the source or `register` sees it asleep and unparks it.
    fn wait_on_condvar(&self, has_sources: impl Fn() -> bool) {
        let mut guard = self.lock.lock();
        self.sleeping.store(ON_CONDVAR, SeqCst);
        while !self.unparked.load(SeqCst) && !has_sources() {
            #[cfg(not(loom))]
            self.condvar.wait(&mut guard);
            #[cfg(loom)]
            {
                guard = self.condvar.wait(guard).expect("kiln: lock poisoned");
            }
        }
        self.sleeping.store(AWAKE, SeqCst);
        drop(guard);
    }
}

impl kiln_timer::Unpark for Notifier {
    fn unpark(&self) {
        Notifier::unpark(self);
    }
}

/// What a sibling sees of a driver's owner (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoState {
    /// The owner waits on its poller: it sees its own events.
    Parked,
    /// The owner runs tasks and polled recently; it may get stuck in a long task.
    Busy,
    /// The owner has not polled for [`IO_STEAL_AFTER`]: siblings poll for it.
    Stale,
}

/// The shared, thread-safe part of a driver.
pub(crate) struct DriverHandle {
    pub(crate) poller: Arc<Poller>,
    pub(crate) timer: Arc<kiln_timer::Driver>,
    pub(crate) io: Dispatch,
    notifier: Arc<Notifier>,
    /// Edge-triggered registration is available (else level-triggered).
    edge: bool,
    /// Nanoseconds since `epoch` of the owner's last poll, or [`PARKED`].
    last_poll: AtomicU64,
    epoch: Instant,
    /// The event buffer siblings poll into; the try-lock admits one stealer at a time.
    steal_events: Mutex<Events>,
    /// Set by `watch_siblings` (a `WATCH_*` value), taken by the owner's next blocking wait.
    watch: AtomicUsize,
}

impl DriverHandle {
    pub(crate) fn new() -> io::Result<Arc<DriverHandle>> {
        let poller = Arc::new(Poller::new()?);
        let notifier = Arc::new(Notifier {
            poller: poller.clone(),
            unparked: AtomicBool::new(false),
            sleeping: AtomicUsize::new(AWAKE),
            lock: Mutex::new(()),
            condvar: Condvar::new(),
        });
        let timer = Arc::new(kiln_timer::Driver::new(notifier.clone()));
        let edge = poller.supports_edge();
        Ok(Arc::new(DriverHandle {
            poller,
            timer,
            io: Dispatch::new(),
            notifier,
            edge,
            last_poll: AtomicU64::new(0),
            epoch: Instant::now(),
            steal_events: Mutex::new(Events::new()),
            watch: AtomicUsize::new(WATCH_NONE),
        }))
    }

    /// Wakes the owner if it waits (or makes its next wait return at once).
    pub(crate) fn unpark(&self) {
        self.notifier.unpark();
    }

    /// Fires this driver's due timers from any thread; returns how many fired. Used by idle
    /// siblings so a worker stuck in a long poll does not make its timers late.
    pub(crate) fn process_due_timers(&self, now: Instant) -> usize {
        // `process_at` takes no lock when nothing can be due.
        self.timer.process_at(now)
    }

    /// Registers `fd` (non-blocking, open until [`DriverHandle::deregister`]) for both
    /// directions, edge-triggered where the poller supports it.
    pub(crate) fn register(&self, fd: BorrowedFd<'_>) -> io::Result<(usize, Arc<ScheduledIo>)> {
        let (key, io) = self.io.allocate();
        let mode = if self.edge {
            PollMode::Edge
        } else {
            PollMode::Level
        };
        // SAFETY: `fd` is open now, and the caller deletes it from the poller (`deregister`)
        // before closing it, as `Poller::add_with_mode` requires.
        let added = unsafe {
            self.poller
                .add_with_mode(fd.as_raw_fd(), Event::all(key), mode)
        };
        match added {
            Ok(()) => {
                // An owner asleep on its condition variable would not see this source's
                // events: wake it so it parks on the poller instead.
                if self.notifier.sleeping.load(SeqCst) == ON_CONDVAR {
                    self.notifier.unpark();
                }
                Ok((key, io))
            }
            Err(e) => {
                self.io.release(key);
                Err(e)
            }
        }
    }

    /// Removes `fd` from the poller and frees its key; the caller closes `fd` afterwards.
    pub(crate) fn deregister(&self, fd: BorrowedFd<'_>, key: usize) {
        // An error means the fd was already gone from the poller; the key is freed regardless.
        let _ = self.poller.delete(fd);
        self.io.release(key);
    }

    fn now_nanos(&self) -> u64 {
        // Truncation is fine: the runtime would have to live for 584 years.
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Whether the owner waits on its poller, polled it recently, or has not polled it for
    /// [`IO_STEAL_AFTER`] (then siblings should poll it for it).
    pub(crate) fn io_state(&self) -> IoState {
        // Relaxed: a hint; the poll itself is serialised by the poller's own lock.
        let last = self.last_poll.load(Relaxed);
        if last == PARKED {
            IoState::Parked
        } else if self.now_nanos().saturating_sub(last) >= IO_STEAL_AFTER.as_nanos() as u64 {
            IoState::Stale
        } else {
            IoState::Busy
        }
    }

    /// Bounds this driver's next blocking wait: by [`IO_STEAL_AFTER`] if a sibling runs tasks
    /// (`busy`), else by the backed-off idle watch (parked siblings have sources).
    pub(crate) fn watch_siblings(&self, busy: bool) {
        let mode = if busy { WATCH_BUSY } else { WATCH_IDLE };
        // Relaxed: only the owner's own next park reads it.
        self.watch.fetch_max(mode, Relaxed);
    }

    /// Whether a zero-timeout wait could return anything: no sources means no I/O events (a
    /// pending notification needs no consuming while the owner is awake), and otherwise one
    /// `poll(2)` on the epoll descriptor tells whether it is ready, for one syscall instead of
    /// the three of `polling`'s timerfd-armed wait.
    fn poller_has_events(&self) -> bool {
        if !self.has_io_sources() {
            return false;
        }
        let mut fd = libc::pollfd {
            fd: self.poller.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `fd` is a valid pollfd array of length 1 that outlives the call, and the
        // epoll descriptor stays open while `self.poller` lives.
        let n = unsafe { libc::poll(&mut fd, 1, 0) };
        // On error, take the slow path, which reports nothing worse than a spurious wake.
        n != 0
    }

    /// Whether any source is registered with this driver.
    pub(crate) fn has_io_sources(&self) -> bool {
        self.io.len() > 0
    }

    /// Polls this driver's poller without blocking from any thread and dispatches the events
    /// into its sources (waking their tasks on the calling thread's scheduler). Returns how many
    /// events were dispatched; 0 if another thread is polling or waiting on it.
    pub(crate) fn poll_io_nonblocking(&self) -> usize {
        let Some(mut events) = self.steal_events.try_lock() else {
            return 0;
        };
        events.clear();
        let polled = self.poller.wait(&mut events, Some(Duration::ZERO));
        // Step 3 of the notification protocol: give back a notification meant for the owner.
        if self.notifier.unparked.load(SeqCst) {
            let _ = self.poller.notify();
        }
        match polled {
            Ok(n) if n > 0 => {
                // Relaxed: a hint for other stealers (see `io_state`).
                let _ = self.last_poll.compare_exchange(
                    self.last_poll.load(Relaxed),
                    self.now_nanos(),
                    Relaxed,
                    Relaxed,
                );
                self.io.dispatch(&events)
            }
            _ => 0,
        }
    }
}

/// The owner's side: the event buffer.
pub(crate) struct Driver {
    pub(crate) handle: Arc<DriverHandle>,
    events: Events,
    /// The current idle-watch bound (doubles up to [`IDLE_WATCH_MAX`]).
    idle_watch: Duration,
}

/// What one `park` saw, for metrics.
#[derive(Default, Clone, Copy)]
pub(crate) struct ParkStats {
    pub(crate) io_events: usize,
    pub(crate) timers_fired: usize,
}

impl Driver {
    pub(crate) fn new(handle: Arc<DriverHandle>) -> Driver {
        Driver {
            handle,
            events: Events::new(),
            idle_watch: IDLE_WATCH_MIN,
        }
    }

    /// Waits up to `timeout` (`None`: until notified, an I/O event, or the next timer), then
    /// dispatches I/O events and fires due timers. `Some(ZERO)` only polls.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> ParkStats {
        let h = &*self.handle;
        let blocking = timeout != Some(Duration::ZERO);
        let timeout = if blocking {
            let deadline = h.timer.before_park();
            let until_timer = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut t = match (timeout, until_timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let bound = match h.watch.swap(WATCH_NONE, Relaxed) {
                WATCH_BUSY => {
                    self.idle_watch = IDLE_WATCH_MIN;
                    Some(IO_STEAL_AFTER)
                }
                WATCH_IDLE => {
                    let b = self.idle_watch;
                    self.idle_watch = (b * 2).min(IDLE_WATCH_MAX);
                    Some(b)
                }
                _ => None,
            };
            if let Some(b) = bound {
                t = Some(t.map_or(b, |t| t.min(b)));
            }
            // Relaxed: a hint for siblings (see `io_state`).
            h.last_poll.store(PARKED, Relaxed);
            t
        } else {
            timeout
        };
        self.events.clear();
        if blocking && timeout.is_none() && !h.has_io_sources() {
            // Nothing but a notification can end this wait: sleep on the futex. A source
            // registered meanwhile notifies us (see `register`).
            h.notifier.wait_on_condvar(|| h.has_io_sources());
        } else if !blocking && !h.poller_has_events() {
            // Maintenance tick with nothing ready: skip the wait (and its timerfd syscalls).
        } else {
            // An error (EINTR) is a spurious wake-up: the caller loops.
            let _ = h.poller.wait(&mut self.events, timeout);
        }
        h.last_poll.store(h.now_nanos(), Relaxed);
        // Step 2 of the notification protocol.
        h.notifier.unparked.swap(false, SeqCst);
        if blocking {
            h.timer.after_park();
        }
        let io_events = h.io.dispatch(&self.events);
        let timers_fired = h.timer.process();
        ParkStats {
            io_events,
            timers_fired,
        }
    }
}
