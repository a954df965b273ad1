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
//! On Linux 5.11+ the wait is one `epoll_pwait2` with a nanosecond timeout, and a
//! notification one eventfd `write` (`wait.rs`), so sub-millisecond deadlines are honoured
//! without spinning; elsewhere `polling`'s wait (a timerfd on older Linux).
//!
//! A worker with no I/O sources and no timer deadline has nothing but a notification to wait
//! for; it sleeps on a condition variable instead (a futex; `polling`'s wait, where it is
//! used, costs two extra syscalls per park to arm and disarm its timerfd). `unpark` wakes
//! whichever of the two the owner sleeps on (`Notifier::sleeping`); a notification is sticky
//! on both, and an `unpark` that finds `unparked` already set does nothing more (the earlier
//! one notifies that same wait).
//!
//! A paused clock (`Builder::start_paused`, `kiln::time::pause`) never bounds a wait: the
//! current-thread scheduler advances it itself when every task is idle (`crate::testing`).
//!
//! # Sockets
//!
//! Sockets do not live in the main poller but in the driver's *source poller* (`sources.rs`),
//! whose descriptor the main poller watches (level-triggered): a parked owner wakes for a
//! socket event, and then harvests the source poller with one zero-timeout `epoll_wait`. A
//! maintenance tick (every `event_interval` polls), and a worker that runs out of tasks
//! ([`Driver::poll_own_io`]), harvest it the same way, without touching the main poller.
//! The main poller holds the source poller only while the owner may wait: a maintenance tick
//! of a driver with sockets whose owner has not waited since the previous tick takes it out
//! (the owner is busy and harvests directly, and while it is in, every socket event also runs
//! the kernel's nested wake-up through the main poller), and the next blocking wait puts it
//! back. An owner that waited since the previous tick keeps it in: it parks often, and taking
//! it out would only cost an `epoll_ctl` pair (the add of an epoll descriptor runs the
//! kernel's loop check) for the few events until its next wait. The registration is
//! level-triggered, so events that arrived meanwhile end that wait at once.
//!
//! Notifications: `unpark` sets `unparked` (SeqCst), then notifies the main poller; the owner,
//! after each wait, clears it with a SeqCst swap, then re-checks its queues.
//!
//! # Timer wake-ups
//! A timer armed from another thread (a blocking-pool thread re-arming an interval) earlier than
//! the parked owner's deadline need not wake the owner just to wait again with the new
//! deadline: the timer driver offers it to `unpark_at` first, which arms a timerfd in the main
//! poller (`wait::Notify::arm_timer`, Linux with the eventfd only) so that the wait ends at
//! that deadline, one `timerfd_settime` instead of a wake-up and a new wait. It declines (and
//! the owner is unparked as before) when the owner sleeps on its condition variable, which
//! no timerfd ends, and in precise mode, where the owner plans each timer-ended wait to spin.
//! Having declined for the condition variable once, the driver stops using it
//! (`timers_from_outside`): its owner then waits on the poller even without a deadline (one
//! `epoll_pwait2`, woken by an eventfd write instead of a futex wake), so the next such timer
//! takes the timerfd path.
//! `timer_armed` is set before the arming; the owner takes it after each blocking wait,
//! after `after_park` (so no arming for that wait can follow), and disarms the timerfd if the
//! wait ended otherwise, so a stale arming never ends a later wait.
//!
//! # Files
//! - `park.rs`: planning and running one wait of the owner ([`Driver::park`]).
//! - `spin.rs`: spinning up to a timer deadline instead of oversleeping it; `block_on.rs`:
//!   a `block_on` thread waiting for (and in precise mode spinning up to) its own timers.
//! - `steal.rs`: what siblings see of this driver and take of its sockets (I/O
//!   stealing); `peers.rs`: all drivers of a runtime together (placement, CPU hints,
//!   which sibling to steal from); `watch.rs`: a parked worker watching busy siblings;
//!   `follow.rs`: an idle worker parking quietly (on a futex) while a sibling takes its
//!   sockets' events; `links.rs`: the registrations both put in a sibling's poller, kept
//!   disabled between uses.
//! - `sources.rs`: the socket poller.
//!
//! One name per concept: *recheck* is a searching worker asking its next wait to end
//! early so it looks at its siblings again ([`Recheck`]); *watch* is adding a busy
//! sibling's socket poller to this driver's poller for one wait (`watch.rs`); *arming*
//! the own sources is putting this driver's socket poller into its main poller.

mod block_on;
mod follow;
mod links;
mod park;
mod peers;
mod sources;
mod spin;
mod steal;
mod wait;
mod watch;

#[cfg(all(test, loom))]
mod loom_tests;

pub(crate) use block_on::BlockOnWait;
pub(crate) use park::ParkStats;
pub(crate) use peers::{Peers, Placement};
use sources::{IoEvents, Sources};
pub(crate) use spin::CpusBusy;
use spin::Spin;
use steal::RECHECK_BACKOFF_MIN;
pub(crate) use steal::{IoState, Recheck, IO_STEAL_AFTER};

use crate::io::{Dispatch, ScheduledIo};
use crate::loom::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*},
    Condvar, Mutex,
};
use polling::{Event, PollMode, Poller};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The key of the owner's source poller in its main poller (`polling` keeps `usize::MAX`;
/// the sibling watch counts down from the key below this one).
const OWN_SOURCES_KEY: usize = usize::MAX - 1;

/// `Notifier::sleeping`: the owner is awake.
const AWAKE: usize = 0;
/// `Notifier::sleeping`: the owner waits on the condition variable (no sources, no deadline).
const ON_CONDVAR: usize = 1;

/// Wakes the owner's wait; shared with the timer wheel.
struct Notifier {
    poller: Arc<Poller>,
    /// How `unpark` ends a wait on the poller (`wait.rs`).
    notify: wait::Notify,
    /// Set by `unpark`, cleared by the owner after a wait (see the module docs).
    unparked: AtomicBool,
    /// What the owner sleeps on: [`AWAKE`] (or on its poller) or [`ON_CONDVAR`].
    sleeping: AtomicUsize,
    /// Set by `unpark_at` before it arms the wake-up timer for the owner's wait; taken by the
    /// owner after the wait (see "Timer wake-ups" in the module docs).
    timer_armed: AtomicBool,
    /// The owner plans every timer-ended wait itself (it spins before deadlines: precise
    /// mode), so `unpark_at` declines and a new earlier timer wakes it.
    plan_every_wait: AtomicBool,
    /// Set (for good) when `unpark_at` declined because the owner slept on its condition
    /// variable: timers come here from other threads, so the owner waits on its poller even
    /// without a deadline, where the wake-up timer can end the wait.
    timers_from_outside: AtomicBool,
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
        if self.unparked.swap(true, SeqCst) {
            // An earlier `unpark` set it and notifies (or notified) this same wait: the owner
            // clears the flag only after its wait, and then re-checks its queues, which this
            // swap orders after the caller's push.
            return;
        }
        if self.sleeping.fetch_add(0, SeqCst) == ON_CONDVAR {
            // Taking the lock orders this notify after the owner's check-then-wait.
            drop(self.lock.lock());
            self.condvar.notify_one();
        } else {
            self.notify.notify(&self.poller);
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
        while !self.unparked.fetch_or(false, SeqCst)
            && !self.timer_armed.fetch_or(false, SeqCst)
            && !has_sources()
        {
            self.condvar.wait(&mut guard);
        }
        self.sleeping.store(AWAKE, SeqCst);
        drop(guard);
    }

    /// A quiet follower's wait (`follow.rs`): on the condition variable until notified or
    /// `timeout` passes (`None`: no bound). Socket events do not end it, and neither can the
    /// wake-up timer (it sits in the owner's own poller): a timer armed by `unpark_at` before
    /// this wait stored `sleeping` ends the wait at once, so the owner re-plans with the new
    /// deadline; one armed after it is declined there, and its caller unparks the owner.
    /// Returns whether a notification or such a timer ended it (else `timeout` passed).
    fn wait_quiet(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut guard = self.lock.lock();
        // RMWs for the handshake with `unpark` and `unpark_at` (see there).
        self.sleeping.swap(ON_CONDVAR, SeqCst);
        let mut woken = false;
        loop {
            if self.unparked.fetch_or(false, SeqCst) || self.timer_armed.fetch_or(false, SeqCst) {
                woken = true;
                break;
            }
            match deadline {
                None => self.condvar.wait(&mut guard),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    self.condvar.wait_timeout(&mut guard, d - now);
                }
            }
        }
        self.sleeping.store(AWAKE, SeqCst);
        drop(guard);
        woken
    }
}

impl kiln_timer::Unpark for Notifier {
    fn unpark(&self) {
        Notifier::unpark(self);
    }

    /// Arms the wake-up timer for `at` unless the owner sleeps on its condition variable
    /// (which the timer cannot end) or plans every wait itself. Called under the timer
    /// driver's lock, so two threads' armings cannot cross: the last one is the earliest.
    fn unpark_at(&self, at: Instant) -> bool {
        if !self.notify.has_timer() || self.plan_every_wait.load(Relaxed) {
            return false;
        }
        // RMWs for the handshake with `wait_on_condvar`, as in `unpark`: either the owner's
        // condition check sees `timer_armed` and waits on the poller instead, or this sees it
        // on the condition variable and declines (the caller then unparks it).
        self.timer_armed.swap(true, SeqCst);
        if self.sleeping.fetch_add(0, SeqCst) == ON_CONDVAR {
            self.timers_from_outside.store(true, Relaxed);
            return false;
        }
        self.notify
            .arm_timer(at.saturating_duration_since(Instant::now()))
    }
}

/// The shared, thread-safe part of a driver.
pub(crate) struct DriverHandle {
    pub(crate) poller: Arc<Poller>,
    pub(crate) timer: Arc<kiln_timer::Driver>,
    pub(crate) io: Dispatch,
    notifier: Arc<Notifier>,
    /// The sockets' own poller, registered with `poller` (see `sources.rs`).
    sources: Sources,
    /// Nanoseconds since `epoch` of the owner's last poll, or [`PARKED`](steal::PARKED).
    last_poll: AtomicU64,
    /// Nanoseconds since `epoch` of the owner's last poll of its own: unlike `last_poll`, a
    /// sibling's harvest does not move it (`steal.rs`).
    owner_poll: AtomicU64,
    epoch: Instant,
    /// The event buffer siblings harvest into; the try-lock admits one stealer at a time.
    steal_events: Mutex<IoEvents>,
    /// Set by `request_recheck` (a [`Recheck`] as an integer), taken by the owner's next
    /// blocking wait.
    recheck: AtomicUsize,
    /// Quiet bit and follower count (`follow.rs`).
    lead: follow::Lead,
    /// The siblings' source pollers' registrations in `poller` (`links.rs`).
    links: links::Links,
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
            notify: wait::Notify::new(&poller),
            poller: poller.clone(),
            unparked: AtomicBool::new(false),
            sleeping: AtomicUsize::new(AWAKE),
            timer_armed: AtomicBool::new(false),
            plan_every_wait: AtomicBool::new(false),
            timers_from_outside: AtomicBool::new(false),
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
            owner_poll: AtomicU64::new(0),
            epoch: Instant::now(),
            steal_events: Mutex::new(sources::io_events()),
            recheck: AtomicUsize::new(Recheck::No as usize),
            lead: follow::Lead::new(),
            links: links::Links::new(),
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
        let added = unsafe { self.sources.add(fd, key) };
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

    /// Whether a zero-timeout wait of the main poller could return I/O (the source poller or
    /// a watched sibling): no sources means none, and otherwise one `poll(2)` on the epoll
    /// descriptor tells, for one syscall instead of the five of `polling`'s wait. Used while
    /// spinning up to a deadline.
    fn poller_has_events(&self) -> bool {
        if !self.has_io_sources() && !self.lead.has_followers() {
            return false;
        }
        crate::sys::has_pending_events(self.poller.as_fd())
    }

    /// Whether any source is registered with this driver.
    pub(crate) fn has_io_sources(&self) -> bool {
        self.io_sources() > 0
    }

    /// How many sources are registered with this driver.
    pub(crate) fn io_sources(&self) -> usize {
        self.io.len()
    }
}

impl Drop for DriverHandle {
    fn drop(&mut self) {
        // Before `sources` closes its descriptor (see `new`).
        let _ = self.poller.delete(self.sources.as_fd());
    }
}

/// The owner's side: the event buffers.
pub(crate) struct Driver {
    pub(crate) handle: Arc<DriverHandle>,
    /// The main poller's wait and its events: the source poller, watched siblings.
    waiter: wait::Waiter,
    /// The owner's harvested socket events.
    io_events: IoEvents,
    /// The current idle-watch bound (doubles up to
    /// [`RECHECK_BACKOFF_MAX`](steal::RECHECK_BACKOFF_MAX)).
    recheck_backoff: Duration,
    spin: Spin,
    /// Siblings' pollers registered with this one (multi-thread flavor, see `watch`).
    watch: Option<watch::SiblingWatch>,
    /// Whether the source poller is in the main poller now (see "Sockets" in the module docs).
    own_armed: bool,
    /// The owner made a blocking wait since the last maintenance tick (see `arm_own_sources`).
    waited_since_tick: bool,
    /// The next poller wait should arm the sibling watch (a [`Recheck::Soon`] or
    /// [`Recheck::Follow`] was taken).
    watch_wanted: bool,
    /// The next wait should rather follow a busy sibling quietly (a [`Recheck::Follow`] or
    /// [`Recheck::Stay`] was taken); it watches only where no sibling can lead.
    follow_busy: bool,
    /// The next quiet wait stays behind its leader (a [`Recheck::Stay`] was taken) for
    /// `stay_wait`, the wait's length before the recheck bound (`follow.rs`).
    stay: bool,
    /// See `stay`.
    stay_wait: Option<Duration>,
    /// The last wait was a quiet one (`follow.rs`): harvest the own sockets after it.
    was_quiet: bool,
}

impl Driver {
    /// The owner's side of `handle`; it spins at most `spin_limit` before a timer deadline.
    pub(crate) fn new(handle: Arc<DriverHandle>, spin_limit: Duration) -> Driver {
        let spin = Spin::new(spin_limit);
        handle
            .notifier
            .plan_every_wait
            .store(spin.enabled(), Relaxed);
        // A spin removes the wake-up's lateness, not the coalescing grid's: precise mode
        // rounds timers to a finer grid.
        handle.timer.set_precise(spin.enabled());
        Driver {
            waiter: wait::Waiter::new(&handle.notifier.notify),
            handle,
            io_events: sources::io_events(),
            recheck_backoff: RECHECK_BACKOFF_MIN,
            spin,
            watch: None,
            // `DriverHandle::new` registers it.
            own_armed: true,
            waited_since_tick: false,
            watch_wanted: false,
            follow_busy: false,
            stay: false,
            stay_wait: None,
            was_quiet: false,
        }
    }

    /// Stops the spin before timer deadlines while `busy` returns true (see `spin.rs`).
    pub(crate) fn set_cpus_busy(&mut self, busy: CpusBusy) {
        self.spin.cpus_busy = Some(busy);
    }

    /// Registers the siblings' pollers with this driver's poller, so a parked wait can be
    /// woken by I/O pending at a sibling that runs tasks (see `watch`), and lets this driver
    /// park quietly behind a sibling (see `follow`). `siblings` are the runtime's drivers in
    /// worker order without this one, worker `index`'s.
    pub(crate) fn set_siblings(&mut self, siblings: Vec<Arc<DriverHandle>>, index: usize) {
        let own = self.handle.clone();
        self.watch = Some(watch::SiblingWatch::new(
            own,
            siblings,
            index,
            OWN_SOURCES_KEY - 1,
        ));
    }
}

/// For the tests of the driver's files: a socket pair whose second end is registered with
/// `busy`, with the registration's first (writable) event already harvested, so only a coming
/// read is pending: the writing end, the registered end, its key and its readiness.
#[cfg(all(test, not(loom)))]
fn pending_pair(
    busy: &DriverHandle,
) -> (
    std::os::unix::net::UnixStream,
    std::os::unix::net::UnixStream,
    usize,
    Arc<crate::io::ScheduledIo>,
) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let (key, io) = busy.register(std::os::fd::AsFd::as_fd(&b)).unwrap();
    assert!(busy.poll_io_nonblocking() >= 1);
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    assert!(io.poll_ready(&mut cx, crate::io::READABLE).is_pending());
    (a, b, key, io)
}
