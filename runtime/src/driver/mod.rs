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
//! A paused clock (`Builder::start_paused`, `kiln::time::pause`) never bounds a wait: the
//! current-thread scheduler advances it itself when every task is idle (`crate::testing`).
//!
//! # Spinning up to a timer deadline
//!
//! A parked thread wakes some time after its timer expires: the kernel's wake-up latency (on a
//! virtual machine also the host's), tens to a hundred microseconds. When a timer deadline is
//! what ends a wait, the owner therefore waits on its poller until `deadline - slack` and then
//! spins (`std::hint::spin_loop`, reading the clock) until the deadline itself, so the timer
//! fires on time. While spinning it still notices everything a wait would: a notification
//! (`unparked`, set before the poller is notified) ends the spin at once, and the poller is
//! checked for I/O readiness every [`SPIN_IO_CHECK`] iterations. The spin never yields the
//! CPU (`thread::yield_now` would hand it to any runnable thread and make the wake-up as late
//! as the wait it replaces).
//!
//! `slack` is learned per driver (`Spin`): after each timed wait that ended by its timeout,
//! the oversleep (actual wake minus requested wake) feeds a decaying maximum (each sample
//! lowers the previous estimate by 1/[`SLACK_DECAY`] and raises it to the sample), a cheap
//! estimate of a high quantile of the wake-up latency. It is capped by the runtime's
//! `timer_spin_limit` (`Builder::timer_spin_limit`; zero turns spinning off). Where
//! wake-ups are precise the slack, and so the spin, shrinks to almost nothing; where they are
//! not, each timer-ended park costs up to `slack` of CPU time. Waits with no timer deadline,
//! or bounded by something else (a sibling's timer, the I/O watch), never spin.
//!
//! Nor does the owner spin while the machine is oversubscribed: every [`CONTENTION_CHECK`]
//! it reads how many threads are runnable (Linux: `/proc/loadavg`), and while that exceeds
//! twice the CPU count it stops spinning for [`SPIN_BACKOFF`]. Spinning would take CPU time
//! from waiting threads, and on Linux's EEVDF scheduler the time spent makes the owner owe
//! CPU time to its competitors ("negative lag"): its next wake-up then waits behind them,
//! often for a whole scheduler tick, far longer than the spin saves.
//!
//! Nor while the runtime's own CPU-bound jobs keep every CPU busy (`Driver::set_cpus_busy`;
//! the multi-thread runtime asks whether its compute pool runs at least as many jobs as there
//! are CPUs): each microsecond spun is then a microsecond taken from those jobs, with no idle
//! CPU to spare; the waiting worker still wakes at the deadline, its slack late at worst.
//!
//! # Sockets and I/O stealing
//!
//! Sockets do not live in the main poller but in the driver's *source poller* (`sources.rs`),
//! whose descriptor the main poller watches (level-triggered): a parked owner wakes for a
//! socket event, and then harvests the source poller with one zero-timeout `epoll_wait`. A
//! maintenance tick (every `event_interval` polls), and a worker that runs out of tasks
//! ([`Driver::poll_own_io`]), harvest it the same way, without touching the main poller.
//! The main poller holds the source poller only while the owner may wait: a maintenance tick
//! of a driver with sockets takes it out (the owner is busy and harvests directly, and while
//! it is in, every socket event also runs the kernel's nested wake-up through the main
//! poller), and the next blocking wait puts it back. The registration is level-triggered, so
//! events that arrived meanwhile end that wait at once.
//!
//! A worker stuck in a long task harvests its sockets only when the task returns. Meanwhile an
//! idle sibling may harvest them itself ([`DriverHandle::poll_io_nonblocking`]): it dispatches
//! into the owner's [`crate::io::Dispatch`], and the woken tasks are scheduled on the sibling.
//! Concurrent harvests split the ready events (each edge is delivered once); a try-lock on the
//! handle's `steal_events` buffer admits one stealer at a time. Stealers never wait on the
//! owner's main poller, so they cannot consume a notification meant for the owner. The owner
//! publishes when it last polled (`last_poll`, or [`PARKED`] while it waits).
//!
//! A sibling learns of such events in two ways:
//! - **Watching** (`watch.rs`): a worker about to park while a sibling runs tasks adds that
//!   sibling's source poller to its own main poller (one-shot) for the wait, so an event
//!   pending at that sibling wakes it at once; it deletes the registration after the wait.
//! - **Periodic checks**, below, which also cover platforms or failures where watching is
//!   unavailable: a searching worker harvests a sibling that has not polled for
//!   [`IO_STEAL_AFTER`].
//!
//! Notifications: `unpark` sets `unparked` (SeqCst), then notifies the main poller; the owner,
//! after each wait, clears it with a SeqCst swap, then re-checks its queues.
//!
//! Idle workers come back to look: when a searching worker finds a sibling that is not
//! parked ([`DriverHandle::io_state`]), it asks its own driver to bound its next wait by
//! [`IO_STEAL_AFTER`] ([`DriverHandle::watch_siblings`]), so it looks again soon (a sibling
//! that just polled may start a long task right after). A sibling seen parked may wake and get
//! stuck in a long task right after the check; so while parked siblings have registered
//! sources, the watcher's wait is still bounded, by a timeout that doubles from
//! [`IDLE_WATCH_MIN`] to [`IDLE_WATCH_MAX`] while nothing happens (an idle runtime with open
//! sockets wakes each searching worker at most ~30 times a second; one without sockets never).

mod sources;
mod watch;

#[cfg(all(test, loom))]
mod loom_tests;

use sources::{IoEvents, Sources};

use crate::io::{Dispatch, ScheduledIo};
use crate::loom::{AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering::*};
use polling::{Event, Events, PollMode, Poller};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
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

/// The key of the owner's source poller in its main poller (`polling` keeps `usize::MAX`;
/// the sibling watch counts down from the key below this one).
const OWN_SOURCES_KEY: usize = usize::MAX - 1;

/// Spin iterations between checks of the poller for I/O readiness while spinning up to a timer
/// deadline (one `poll(2)` per check; an iteration is a clock read, tens of nanoseconds).
const SPIN_IO_CHECK: u32 = 256;

/// Each oversleep sample lowers the slack estimate by `1 / SLACK_DECAY` of itself before
/// raising it to the sample (see "Spinning up to a timer deadline").
const SLACK_DECAY: u64 = 128;

/// The slack a new driver starts with, before it has seen a timed wait.
const INITIAL_SLACK: Duration = Duration::from_micros(50);

/// How often the owner checks whether the CPUs are contended (one read of the system's count
/// of runnable threads; see `Spin::uncontended`).
const CONTENTION_CHECK: Duration = Duration::from_millis(4);

/// How long the owner does not spin after it finds its CPU contended, re-armed by every check
/// that finds it so again.
const SPIN_BACKOFF: Duration = Duration::from_millis(20);

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
        // SeqCst: pairs with the owner's swap after its wait, and with the owner's `sleeping`
        // write before it checks `unparked` (condvar path): a store-buffer handshake, so
        // each side writes its flag and then reads the other's. Both accesses are RMWs, which
        // are totally ordered on one location even where a SeqCst load could be served early
        // (loom models SeqCst loads and stores as Acquire/Release); on x86 a SeqCst store is
        // an `xchg` anyway.
        self.unparked.swap(true, SeqCst);
        if self.sleeping.fetch_add(0, SeqCst) == ON_CONDVAR {
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
        // RMWs for the handshake with `unpark` (see there).
        self.sleeping.swap(ON_CONDVAR, SeqCst);
        while !self.unparked.fetch_or(false, SeqCst) && !has_sources() {
            #[cfg(not(all(test, loom)))]
            self.condvar.wait(&mut guard);
            #[cfg(all(test, loom))]
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
    /// The sockets' own poller, registered with `poller` (see `sources.rs`).
    sources: Sources,
    /// Nanoseconds since `epoch` of the owner's last poll, or [`PARKED`].
    last_poll: AtomicU64,
    epoch: Instant,
    /// The event buffer siblings harvest into; the try-lock admits one stealer at a time.
    steal_events: Mutex<IoEvents>,
    /// Set by `watch_siblings` (a `WATCH_*` value), taken by the owner's next blocking wait.
    watch: AtomicUsize,
}

impl DriverHandle {
    pub(crate) fn new() -> io::Result<Arc<DriverHandle>> {
        DriverHandle::with_clock(None)
    }

    /// A handle whose timer reads `clock` (the current-thread flavor's pausable clock), or
    /// the system clock.
    pub(crate) fn with_clock(
        clock: Option<kiln_timer::PausableClock>,
    ) -> io::Result<Arc<DriverHandle>> {
        let poller = Arc::new(Poller::new()?);
        let notifier = Arc::new(Notifier {
            poller: poller.clone(),
            unparked: AtomicBool::new(false),
            sleeping: AtomicUsize::new(AWAKE),
            lock: Mutex::new(()),
            condvar: Condvar::new(),
        });
        let timer = Arc::new(match clock {
            Some(clock) => kiln_timer::Driver::with_pausable_clock(notifier.clone(), clock),
            None => kiln_timer::Driver::new(notifier.clone()),
        });
        let sources = Sources::new()?;
        // SAFETY: the source poller's descriptor stays open while this handle lives; `Drop`
        // deletes it from `poller` first.
        unsafe {
            poller.add_with_mode(
                sources.as_raw_fd(),
                Event::readable(OWN_SOURCES_KEY),
                PollMode::Level,
            )?;
        }
        Ok(Arc::new(DriverHandle {
            poller,
            timer,
            io: Dispatch::new(),
            notifier,
            sources,
            last_poll: AtomicU64::new(0),
            epoch: Instant::now(),
            steal_events: Mutex::new(IoEvents::new()),
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
        let io = Arc::new(ScheduledIo::default());
        let key = self.adopt(fd, io.clone())?;
        Ok((key, io))
    }

    /// Registers `fd` with the readiness state `io` it already has (a source moving here
    /// from another driver, see `crate::net::evented`); returns its new key. Registering
    /// reports the socket's current readiness, so nothing that happened before is lost.
    pub(crate) fn adopt(&self, fd: BorrowedFd<'_>, io: Arc<ScheduledIo>) -> io::Result<usize> {
        let key = self.io.insert(io)?;
        // SAFETY: `fd` is open now, and the caller deletes it from the poller (`deregister`)
        // before closing it, as `Sources::add` requires.
        let added = unsafe { self.sources.add(fd.as_raw_fd(), key) };
        match added {
            Ok(()) => {
                // An owner asleep on its condition variable would not see this source's
                // events: wake it so it parks on the poller instead.
                if self.notifier.sleeping.load(SeqCst) == ON_CONDVAR {
                    self.notifier.unpark();
                }
                Ok(key)
            }
            Err(e) => {
                self.io.release(key);
                Err(e)
            }
        }
    }

    /// The runtime shut down: every source's operations fail from now on, waiting ones
    /// included, and registering fails (see `crate::io`, "After shutdown").
    pub(crate) fn shutdown_io(&self) {
        self.io.shutdown();
    }

    /// Removes `fd` from the poller and frees its key; the caller closes `fd` afterwards.
    pub(crate) fn deregister(&self, fd: BorrowedFd<'_>, key: usize) {
        // An error means the fd was already gone from the poller; the key is freed regardless.
        let _ = self.sources.delete(fd);
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

    /// Whether a zero-timeout wait of the main poller could return I/O (the source poller or
    /// a watched sibling): no sources means none, and otherwise one `poll(2)` on the epoll
    /// descriptor tells, for one syscall instead of the five of `polling`'s wait. Used while
    /// spinning up to a deadline.
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
        self.io_sources() > 0
    }

    /// How many sources are registered with this driver.
    pub(crate) fn io_sources(&self) -> usize {
        self.io.len()
    }

    /// Harvests this driver's socket events without blocking from any thread and dispatches
    /// them into its sources (waking their tasks on the calling thread's scheduler). Returns
    /// how many events were dispatched; 0 if another thread is stealing from it right now.
    pub(crate) fn poll_io_nonblocking(&self) -> usize {
        let Some(mut events) = self.steal_events.try_lock() else {
            return 0;
        };
        if self.sources.harvest(&mut events) == 0 {
            return 0;
        }
        // Relaxed: a hint for other stealers (see `io_state`); a parked owner stays parked.
        let last = self.last_poll.load(Relaxed);
        if last != PARKED {
            let _ = self
                .last_poll
                .compare_exchange(last, self.now_nanos(), Relaxed, Relaxed);
        }
        self.io.dispatch(events.iter())
    }
}

impl Drop for DriverHandle {
    fn drop(&mut self) {
        // Before `sources` closes its descriptor (see `new`).
        let _ = self.poller.delete(self.sources.as_fd());
    }
}

/// Says whether the runtime's own CPU-bound jobs keep every CPU busy (no spinning then).
pub(crate) type CpusBusy = Arc<dyn Fn() -> bool + Send + Sync>;

/// How early the owner stops waiting before a timer deadline (see "Spinning up to a timer
/// deadline"). Owner-only.
struct Spin {
    /// The most the owner may spin; zero turns spinning off.
    limit_ns: u64,
    /// Decaying maximum of recent oversleeps, at most `limit_ns`.
    slack_ns: u64,
    /// When contention was last checked.
    checked: Option<Instant>,
    /// CPUs the system has (threads that may run at once).
    cpus: usize,
    /// No spinning before this instant (the CPUs were oversubscribed).
    quiet_until: Option<Instant>,
    /// No spinning while this says the runtime's own jobs keep every CPU busy.
    cpus_busy: Option<CpusBusy>,
}

impl Spin {
    fn new(limit: Duration) -> Spin {
        // Spinning is a wall-clock technique; loom models explore interleavings, not time.
        let limit_ns = if cfg!(all(test, loom)) {
            0
        } else {
            u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX)
        };
        Spin {
            limit_ns,
            slack_ns: (INITIAL_SLACK.as_nanos() as u64).min(limit_ns),
            checked: None,
            cpus: num_cpus::get().max(1),
            quiet_until: None,
            cpus_busy: None,
        }
    }

    fn enabled(&self) -> bool {
        self.limit_ns > 0
    }

    /// Whether spinning may help now: not while more than twice as many threads are runnable
    /// as there are CPUs (a lower bar would stop the spin at every passing kernel thread).
    /// Spinning would then take a CPU from a thread waiting for one; and on Linux's
    /// EEVDF scheduler the CPU time spent puts the owner behind the threads it competes
    /// with ("negative lag"), so its next wake-up would wait for them, often a whole
    /// scheduler tick (milliseconds), far longer than the spin saves.
    /// Nor while the runtime's own jobs keep every CPU busy (`cpus_busy`).
    fn uncontended(&mut self, now: Instant) -> bool {
        if self.cpus_busy.as_ref().is_some_and(|busy| busy()) {
            return false;
        }
        let due = match self.checked {
            None => true,
            Some(at) => now.saturating_duration_since(at) >= CONTENTION_CHECK,
        };
        if due {
            self.checked = Some(now);
            if crate::scheduler::priority::runnable_threads().is_some_and(|n| n > 2 * self.cpus) {
                self.quiet_until = Some(now + SPIN_BACKOFF);
            }
        }
        self.quiet_until.map_or(true, |q| now >= q)
    }

    fn slack(&self) -> Duration {
        Duration::from_nanos(self.slack_ns)
    }

    /// Feeds one oversleep of a wait that ended by its timeout.
    fn observe(&mut self, oversleep: Duration) {
        let sample = u64::try_from(oversleep.as_nanos()).unwrap_or(u64::MAX);
        let decayed = self.slack_ns - self.slack_ns / SLACK_DECAY;
        self.slack_ns = sample.max(decayed).min(self.limit_ns);
    }
}

/// The owner's side: the event buffers.
pub(crate) struct Driver {
    pub(crate) handle: Arc<DriverHandle>,
    /// The main poller's events: notifications, the source poller, watched siblings.
    events: Events,
    /// The owner's harvested socket events.
    io_events: IoEvents,
    /// The current idle-watch bound (doubles up to [`IDLE_WATCH_MAX`]).
    idle_watch: Duration,
    spin: Spin,
    /// Siblings' pollers registered with this one (multi-thread flavor, see `watch`).
    sibling_watch: Option<watch::SiblingWatch>,
    /// Whether the source poller is in the main poller now (see "Sockets and I/O stealing").
    own_armed: bool,
}

/// What one `park` saw, for metrics.
#[derive(Default, Clone, Copy)]
pub(crate) struct ParkStats {
    pub(crate) io_events: usize,
    pub(crate) timers_fired: usize,
}

impl Driver {
    /// The owner's side of `handle`; it spins at most `spin_limit` before a timer deadline.
    pub(crate) fn new(handle: Arc<DriverHandle>, spin_limit: Duration) -> Driver {
        Driver {
            handle,
            events: Events::new(),
            io_events: IoEvents::new(),
            idle_watch: IDLE_WATCH_MIN,
            spin: Spin::new(spin_limit),
            sibling_watch: None,
            // `DriverHandle::new` registers it.
            own_armed: true,
        }
    }

    /// Stops the spin before timer deadlines while `busy` returns true (see "Spinning up to a
    /// timer deadline").
    pub(crate) fn set_cpus_busy(&mut self, busy: CpusBusy) {
        self.spin.cpus_busy = Some(busy);
    }

    /// Registers the siblings' pollers with this driver's poller, so a parked wait can be
    /// woken by I/O pending at a sibling that runs tasks (see `watch`).
    pub(crate) fn set_siblings(&mut self, siblings: Vec<Arc<DriverHandle>>) {
        let own = self.handle.poller.clone();
        self.sibling_watch = Some(watch::SiblingWatch::new(own, siblings, OWN_SOURCES_KEY - 1));
    }

    /// Harvests the owner's own sockets without blocking (one syscall; none without sockets)
    /// and dispatches their events; returns how many were dispatched. The owner calls this
    /// when it runs out of tasks, before it steals from siblings.
    pub(crate) fn poll_own_io(&mut self) -> usize {
        let h = &*self.handle;
        if !h.has_io_sources() || h.sources.harvest(&mut self.io_events) == 0 {
            return 0;
        }
        h.io.dispatch(self.io_events.iter())
    }

    /// Puts the source poller into the main poller before a blocking wait, and takes it out
    /// on a maintenance tick (the owner is busy running tasks): while it is in, every socket
    /// event also runs the kernel's nested wake-up through the main poller, which a busy owner
    /// does not need (it harvests the source poller directly). The registration is
    /// level-triggered, so events that arrived while it was out wake the next wait at once.
    fn watch_own_sources(&mut self, blocking: bool) {
        let h = &*self.handle;
        // Without sockets there is no nested wake-up to save: stay in.
        if blocking == self.own_armed || (!blocking && !h.has_io_sources()) {
            return;
        }
        let changed = if blocking {
            // SAFETY: the source poller's descriptor stays open while the handle lives;
            // `DriverHandle::drop` deletes it from the main poller first.
            unsafe {
                h.poller.add_with_mode(
                    h.sources.as_raw_fd(),
                    Event::readable(OWN_SOURCES_KEY),
                    PollMode::Level,
                )
            }
        } else {
            h.poller.delete(h.sources.as_fd())
        };
        // On failure the state stays as it was: still in (a busy owner pays the nested
        // wake-up), or still out (`park` then bounds its wait by `IO_STEAL_AFTER`, and the
        // next wait retries).
        if changed.is_ok() {
            self.own_armed = blocking;
        }
    }

    /// Waits up to `timeout` (`None`: until notified, an I/O event, or the next timer), then
    /// dispatches I/O events and fires due timers. `Some(ZERO)` only polls.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> ParkStats {
        let blocking = timeout != Some(Duration::ZERO);
        self.watch_own_sources(blocking);
        let h = &*self.handle;
        // The timer deadline to spin up to, when it is what ends this wait.
        let mut spin_until = None;
        let timeout = if blocking {
            let raw_deadline = h.timer.before_park();
            let now = Instant::now();
            let deadline = match h.timer.pausable_clock() {
                // A paused clock never ends a wait: the scheduler moves it (`crate::testing`).
                Some(c) if c.is_paused() => None,
                // A clock shifted by an earlier pause: its deadline on the system clock.
                Some(c) if c.is_shifted() => {
                    raw_deadline.map(|d| now + d.saturating_duration_since(c.now()))
                }
                _ => raw_deadline,
            };
            let until_timer = deadline.map(|d| d.saturating_duration_since(now));
            let mut t = match (timeout, until_timer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let bound = match h.watch.swap(WATCH_NONE, Relaxed) {
                WATCH_BUSY => {
                    self.idle_watch = IDLE_WATCH_MIN;
                    if let Some(w) = &mut self.sibling_watch {
                        w.arm();
                    }
                    Some(IO_STEAL_AFTER)
                }
                WATCH_IDLE => {
                    let b = self.idle_watch;
                    self.idle_watch = (b * 2).min(IDLE_WATCH_MAX);
                    Some(b)
                }
                _ => None,
            };
            // Sockets the wait cannot see (`watch_own_sources` failed): look again soon.
            let bound = if self.own_armed {
                bound
            } else {
                Some(bound.map_or(IO_STEAL_AFTER, |b| b.min(IO_STEAL_AFTER)))
            };
            if let Some(b) = bound {
                t = Some(t.map_or(b, |t| t.min(b)));
            }
            if let (true, Some(d), Some(u)) = (self.spin.enabled(), deadline, until_timer) {
                if t == Some(u) && self.spin.uncontended(now) {
                    // The timer ends this wait: wake `slack` early and spin the rest.
                    spin_until = Some(d);
                    t = Some(u.saturating_sub(self.spin.slack()));
                }
            }
            // Relaxed: a hint for siblings (see `io_state`).
            h.last_poll.store(PARKED, Relaxed);
            t.map(|t| (t, now.checked_add(t)))
        } else {
            timeout.map(|t| (t, Some(Instant::now())))
        };
        self.events.clear();
        if blocking && timeout.is_none() && !h.has_io_sources() {
            // Nothing but a notification can end this wait: sleep on the futex. A source
            // registered meanwhile notifies us (see `register`).
            h.notifier.wait_on_condvar(|| h.has_io_sources());
        } else if !blocking {
            // Maintenance tick: the sockets are harvested below; a pending notification stays
            // for the next blocking wait (the owner is awake and re-checks its queues anyway).
        } else if spin_until.is_some() && timeout.is_some_and(|(t, _)| t.is_zero()) {
            // The deadline is within the slack: straight to the spin.
        } else {
            // An error (EINTR) is a spurious wake-up: the caller loops.
            let _ = h.poller.wait(&mut self.events, timeout.map(|(t, _)| t));
            if let (true, Some((t, Some(wake_at)))) = (blocking, timeout) {
                // A wait that ended by its timeout tells how late this thread wakes.
                // Relaxed: a hint; a missed notification only skips one sample.
                let now = Instant::now();
                if !t.is_zero()
                    && now >= wake_at
                    && self.events.is_empty()
                    && !h.notifier.unparked.load(Relaxed)
                {
                    self.spin.observe(now - wake_at);
                }
            }
        }
        if let Some(deadline) = spin_until {
            if self.events.is_empty() {
                spin_to_deadline(h, &mut self.events, deadline);
            }
        }
        if let Some(w) = &mut self.sibling_watch {
            w.disarm();
        }
        h.last_poll.store(h.now_nanos(), Relaxed);
        // Notifications (module docs): clear the flag; the caller then re-checks its queues.
        h.notifier.unparked.swap(false, SeqCst);
        if blocking {
            h.timer.after_park();
        }
        // Harvest the sockets on a maintenance tick, or when the wait saw them ready.
        let own_ready = if blocking {
            self.events.iter().any(|ev| ev.key == OWN_SOURCES_KEY)
        } else {
            h.has_io_sources()
        };
        let mut io_events = 0;
        if own_ready && h.sources.harvest(&mut self.io_events) > 0 {
            io_events += h.io.dispatch(self.io_events.iter());
        }
        if let Some(w) = &self.sibling_watch {
            io_events += w.poll_fired(&self.events);
        }
        let timers_fired = h.timer.process();
        ParkStats {
            io_events,
            timers_fired,
        }
    }
}

/// Spins until `deadline`, a notification, or I/O readiness (whose events it collects).
fn spin_to_deadline(h: &DriverHandle, events: &mut Events, deadline: Instant) {
    let mut n: u32 = 0;
    loop {
        // Relaxed: only ends the spin early; the owner's SeqCst swap of `unparked` after this
        // returns is what orders its re-check of its queues.
        if h.notifier.unparked.load(Relaxed) || Instant::now() >= deadline {
            return;
        }
        n = n.wrapping_add(1);
        if n % SPIN_IO_CHECK == 0 && h.poller_has_events() {
            let _ = h.poller.wait(events, Some(Duration::ZERO));
            return;
        }
        std::hint::spin_loop();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Context;

    #[test]
    fn no_spin_while_the_runtimes_own_jobs_fill_the_cpus() {
        let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut spin = Spin::new(Duration::from_micros(250));
        let b = busy.clone();
        spin.cpus_busy = Some(Arc::new(move || b.load(SeqCst)));
        // The load check is not due, and found no contention last time.
        let now = Instant::now();
        spin.checked = Some(now);
        assert!(spin.uncontended(now));
        busy.store(true, SeqCst);
        assert!(!spin.uncontended(now));
        busy.store(false, SeqCst);
        assert!(
            spin.uncontended(now),
            "the pause lasts only while the CPUs are busy"
        );
    }

    #[test]
    fn slack_is_a_decaying_maximum_under_the_limit() {
        let mut spin = Spin::new(Duration::from_micros(250));
        assert!(spin.enabled());
        spin.observe(Duration::from_micros(100));
        assert_eq!(spin.slack(), Duration::from_micros(100));
        spin.observe(Duration::ZERO);
        let once = spin.slack();
        assert!(once < Duration::from_micros(100) && once > Duration::from_micros(90));
        for _ in 0..10_000 {
            spin.observe(Duration::ZERO);
        }
        assert!(spin.slack() < Duration::from_micros(1));
        spin.observe(Duration::from_secs(1));
        assert_eq!(
            spin.slack(),
            Duration::from_micros(250),
            "capped by the limit"
        );

        let mut off = Spin::new(Duration::ZERO);
        off.observe(Duration::from_micros(100));
        assert!(!off.enabled());
        assert_eq!(off.slack(), Duration::ZERO);
    }

    fn driver(spin_limit: Duration) -> Driver {
        Driver::new(DriverHandle::new().unwrap(), spin_limit)
    }

    /// Parks until `sleep` fires; returns when it fired.
    fn park_until_fired(driver: &mut Driver, sleep: &mut kiln_timer::Sleep) -> Instant {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if Pin::new(&mut *sleep).poll(&mut cx).is_ready() {
                return Instant::now();
            }
            driver.park(None);
        }
    }

    #[test]
    fn timers_fire_never_early_with_and_without_spinning() {
        for limit in [
            Duration::ZERO,
            Duration::from_micros(250),
            Duration::from_secs(1),
        ] {
            let mut driver = driver(limit);
            // A slack as large as the limit: the whole wait may be a spin.
            driver.spin.slack_ns = driver.spin.limit_ns;
            let handle = driver.handle.timer.handle();
            for _ in 0..5 {
                let mut sleep = handle.sleep(Duration::from_millis(2));
                let deadline = sleep.deadline();
                let fired = park_until_fired(&mut driver, &mut sleep);
                assert!(fired >= deadline, "limit {limit:?}: fired early");
            }
        }
    }

    #[test]
    fn a_notification_ends_a_spin() {
        let mut driver = driver(Duration::from_secs(60));
        // Spin for the whole wait (unless the machine is busy: then it waits on the poller,
        // which the notification ends as well).
        driver.spin.slack_ns = driver.spin.limit_ns;
        let handle = driver.handle.timer.handle();
        let sleep = handle.sleep(Duration::from_secs(30));
        let waker = futures::task::noop_waker();
        let mut sleep = Box::pin(sleep);
        assert!(sleep
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let remote = driver.handle.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            remote.unpark();
        });
        let stats = driver.park(None);
        let took = start.elapsed();
        t.join().unwrap();
        assert_eq!(stats.timers_fired, 0);
        assert!(
            took < Duration::from_secs(20),
            "park ran on to the deadline: {took:?}"
        );
    }

    #[test]
    fn io_readiness_ends_a_spin() {
        use std::io::Write;
        use std::os::fd::AsFd;
        use std::os::unix::net::UnixStream;
        let mut driver = driver(Duration::from_secs(60));
        driver.spin.slack_ns = driver.spin.limit_ns;
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let (key, _io) = driver.handle.register(a.as_fd()).unwrap();
        // Consume the initial writability event.
        while driver.park(Some(Duration::ZERO)).io_events > 0 {}
        let handle = driver.handle.timer.handle();
        let mut sleep = Box::pin(handle.sleep(Duration::from_secs(30)));
        let waker = futures::task::noop_waker();
        assert!(sleep
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"x").unwrap();
            b
        });
        let mut events = 0;
        while events == 0 && start.elapsed() < Duration::from_secs(20) {
            events = driver.park(None).io_events;
        }
        let _b = t.join().unwrap();
        assert!(
            events > 0,
            "the readable event was seen before the deadline"
        );
        driver.handle.deregister(a.as_fd(), key);
    }
}
