//! Seeing inside a running runtime: per-poll probes, the coarse clock, histograms and the
//! stall watchdog.
//!
//! Cost model (everything that reads a clock is opt-in):
//! - Always: each poll bumps its task's poll count (a Relaxed store to the task header the
//!   runner already owns), and publishes the running task's id and counts the poll in its
//!   worker's probe (stores to a line only that worker writes; siblings read the count to
//!   tell a stuck worker, see `scheduler::multi::worker`); a named spawn allocates its name
//!   record. No clock read, no read-modify-write, no lock. This is what makes
//!   [`Handle::dump`](crate::Handle::dump) work by default.
//! - When the observer is *active* (`Builder::stall_threshold` or `Builder::poll_histograms`):
//!   one light thread (`watchdog.rs`) ticks a coarse clock every [`Observer::period`], and each
//!   poll stores that clock (not `Instant::now()`) in its task's record as the last poll.
//!   Dumps then show times since spawn and since the last poll, at the resolution of the tick,
//!   and the watchdog reads a stalled poll's start there.
//! - With histograms on, one poll in `sample_every` (power of two) is timed precisely: the
//!   wake that queued it stamps the fine clock (`clock.rs`: the CPU's time-stamp counter
//!   where it is invariant, else the OS clock) in the task's record, and the poll reads it
//!   before and after. Those go to the worker's schedule-latency and poll-time histograms,
//!   and (scaled by `sample_every`) to the task's total poll time. The poll before a timed
//!   one sets the task state's `SAMPLE_NEXT` bit (one read-modify-write per interval), so a
//!   wake learns whether to stamp from the state word it has just written.
//!
//! Field access: a [`WorkerProbe`] is written only by its worker thread (the thread that
//! entered it with [`enter_worker`]), except `turn_reported` (the watchdog's),
//! and read by the watchdog and metrics readers. Its fields are atomics used as diagnostics,
//! never to synchronize other memory, and all accesses are Relaxed but those of the poll
//! publication protocol below.
//!
//! Poll publication (what the watchdog reads of a poll in progress, modelled in
//! `loom_tests.rs`). A worker's polls are numbered by its `polls_started` count, which every
//! poll bumps anyway (siblings read it, see `scheduler::multi::worker`) and which never wraps
//! (64 bits). Per poll, the worker writes:
//! 1. `polls_started = n` (Release), then `task = id` (Release): both plain stores on x86;
//! 2. at the poll's end, `task = 0` (Relaxed).
//!
//! The watchdog ([`WorkerProbe::current_poll`]) reads `polls_started` (Acquire), then `task`,
//! then an Acquire fence, then `polls_started` again, and keeps the reading only if both
//! counts agree and the task is not 0. The first Acquire load synchronizes with the count's
//! Release store, so the `task = 0` that ended the previous poll is visible and `task` is
//! poll `n`'s id or a later value; if it is a later poll's id, the fence synchronizes with
//! that poll's Release store of `task`, which follows its new count, so the second load sees a
//! different count and the reading is dropped. A kept reading is therefore one poll's number
//! with that poll's task. A poll that the watchdog sees under the same number on two ticks
//! has run for at least the time between them; only then does it look the task up (under its
//! owned-list shard's lock) and read the poll's start from the task's record.

pub(crate) mod clock;
pub(crate) mod histogram;
#[cfg(all(test, loom))]
mod loom_tests;
mod metrics;
mod pool_threads;
pub(crate) mod watchdog;

pub use metrics::HistogramBucket;
pub(crate) use pool_threads::{PoolThreads, Slot};

use crate::cell::diag::TaskDiag;
use crate::cell::owned::OwnedTasks;
use crate::loom::sync::atomic::{
    fence, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use histogram::Histogram;
use std::cell::Cell;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// What the builder asked to observe.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Settings {
    /// `Builder::stall_threshold`.
    pub(crate) stall_threshold: Option<Duration>,
    /// `Builder::poll_histograms`: time one poll in this many (a power of two); 0 = off.
    pub(crate) sample_every: u32,
}

impl Settings {
    /// Whether anything is observed: the watchdog thread runs and polls record times.
    fn any(&self) -> bool {
        self.stall_threshold.is_some() || self.sample_every != 0
    }
}

/// Coarse-clock value meaning "this worker is parked" (its loop is not expected to turn).
pub(crate) const PARKED: u64 = u64::MAX;

/// Nanoseconds since a process-wide origin, never 0 (0 means "not recorded").
pub(crate) fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(|| Instant::now() - Duration::from_nanos(1));
    (origin.elapsed().as_nanos() as u64).max(1)
}

/// One runtime's observation state, shared by its workers and its watchdog.
pub(crate) struct Observer {
    pub(crate) settings: Settings,
    /// `settings.sample_every - 1` (a power of two less one), or all ones with histograms
    /// off: a poll is sampled when `(polls + id) & sample_mask == 0`, one test
    /// whether histograms are on or off.
    pub(crate) sample_mask: u64,
    /// The coarse clock (`now_ns()` at the watchdog's last tick); 0 while inactive.
    clock: AtomicU64,
    pub(crate) workers: Box<[WorkerProbe]>,
    /// The blocking-pool threads' slots, so dumps can list the `spawn_blocking` tasks they run
    /// (`crate::blocking`).
    pub(crate) blocking: PoolThreads,
    /// The clock of sampled polls (see `clock.rs`).
    pub(crate) fine: clock::FineClock,
}

/// What other threads see of one worker's current poll and loop, and its histograms.
#[repr(align(128))]
pub(crate) struct WorkerProbe {
    pub(crate) index: u32,
    /// Id of the task being polled, 0 between polls (written on every runtime, observed or
    /// not; while active, stored with Release at the start of a poll, after `polls_started`).
    pub(crate) task: AtomicU64,
    /// Polls this worker has started, which numbers them (written on every runtime, by the
    /// worker only; 64 bits, so it never wraps). A sibling that reads the same count twice,
    /// some work of its own apart, knows this worker made no progress in between: stuck in one
    /// long poll, or off its CPU (see `scheduler::multi::worker`, "Backlogs of a stuck
    /// sibling").
    pub(crate) polls_started: AtomicU64,
    /// Coarse clock at the last turn of the event loop, or [`PARKED`].
    pub(crate) turned: AtomicU64,
    /// The `turned` value the watchdog reported as stuck (reported once per value).
    pub(crate) turn_reported: AtomicU64,
    pub(crate) poll_time: Histogram,
    pub(crate) schedule_latency: Histogram,
}

impl WorkerProbe {
    /// The probe of worker `index`, between polls and parked.
    pub(crate) fn new(index: u32) -> WorkerProbe {
        WorkerProbe {
            index,
            task: AtomicU64::new(0),
            polls_started: AtomicU64::new(0),
            turned: AtomicU64::new(PARKED),
            turn_reported: AtomicU64::new(0),
            poll_time: Histogram::default(),
            schedule_latency: Histogram::default(),
        }
    }

    /// The worker starts poll number `n` (its `polls_started` count plus one) of `task`, on an
    /// observed runtime. Only the worker's own thread calls this (see the module docs for the
    /// protocol).
    #[inline]
    pub(crate) fn publish_poll(&self, n: u64, task: u64) {
        // Release (both plain stores on x86): a reader that sees this count with Acquire sees
        // the end of the previous poll; one that sees this task id, then fences, sees this
        // count or a later one.
        self.polls_started.store(n, Release);
        self.task.store(task, Release);
    }

    /// The poll in progress as another thread sees it: (its number, its task), or `None`
    /// between polls or if a new poll began while reading (see the module docs).
    pub(crate) fn current_poll(&self) -> Option<(u64, u64)> {
        let n = self.polls_started.load(Acquire);
        let task = self.task.load(Relaxed);
        // Pairs with the Release store of `task` in `publish_poll`: if `task` came from a
        // later poll, the load below sees that poll's count.
        fence(Acquire);
        let again = self.polls_started.load(Relaxed);
        (task != 0 && again == n).then_some((n, task))
    }
}

impl Observer {
    pub(crate) fn new(workers: usize, settings: Settings) -> Arc<Observer> {
        let mut settings = settings;
        if settings.sample_every != 0 {
            // The largest power of two a `u32` holds at most.
            settings.sample_every = settings.sample_every.min(1 << 31).next_power_of_two();
        }
        let active = settings.any();
        Arc::new(Observer {
            settings,
            sample_mask: match settings.sample_every {
                0 => u64::MAX,
                n => u64::from(n) - 1,
            },
            // Running from the start, so a worker stuck before the first tick is seen.
            clock: AtomicU64::new(if active { now_ns() } else { 0 }),
            workers: (0..workers).map(|i| WorkerProbe::new(i as u32)).collect(),
            blocking: PoolThreads::new(),
            fine: clock::FineClock::new(settings.sample_every != 0),
        })
    }

    /// Whether the watchdog thread runs and polls record times.
    pub(crate) fn is_active(&self) -> bool {
        self.settings.any()
    }

    /// How often the watchdog ticks: a quarter of the stall threshold (so a stall is seen
    /// within 1.25× the threshold), between 1 ms and 50 ms; 10 ms without a threshold.
    pub(crate) fn period(&self) -> Duration {
        match self.settings.stall_threshold {
            Some(t) => (t / 4).clamp(Duration::from_millis(1), Duration::from_millis(50)),
            None => Duration::from_millis(10),
        }
    }

    /// The coarse clock (0 while the observer is inactive).
    #[inline]
    pub(crate) fn coarse_now(&self) -> u64 {
        self.clock.load(Relaxed)
    }

    pub(crate) fn tick(&self) {
        self.clock.store(now_ns(), Relaxed);
        self.fine.calibrate();
    }

    /// The worker's event loop turned (it polled its poller or is about to park).
    pub(crate) fn loop_turned(&self, worker: usize, parking: bool) {
        if !self.is_active() {
            return;
        }
        let v = if parking { PARKED } else { self.coarse_now() };
        self.workers[worker].turned.store(v, Relaxed);
    }
}

thread_local! {
    /// The probe of the worker this thread runs (null elsewhere).
    static PROBE: Cell<*const WorkerProbe> = const { Cell::new(std::ptr::null()) };
    /// The worker's observer if it is active (null otherwise, so an unobserved poll needs no
    /// dereference to learn that).
    static OBSERVER: Cell<*const Observer> = const { Cell::new(std::ptr::null()) };
}

/// Makes `worker`'s probe current on this thread until dropped (polls record into it).
pub(crate) struct WorkerGuard {
    observer: Arc<Observer>,
    worker: usize,
    prev: (*const WorkerProbe, *const Observer),
}

pub(crate) fn enter_worker(observer: &Arc<Observer>, worker: usize) -> WorkerGuard {
    let probe: *const WorkerProbe = &observer.workers[worker];
    let obs: *const Observer = if observer.is_active() {
        Arc::as_ptr(observer)
    } else {
        std::ptr::null()
    };
    let prev = (
        PROBE.with(|p| p.replace(probe)),
        OBSERVER.with(|o| o.replace(obs)),
    );
    observer.loop_turned(worker, false);
    WorkerGuard {
        observer: observer.clone(),
        worker,
        prev,
    }
}

/// [`enter_worker`] with the observer of a runtime's owned list (every runtime has one).
pub(crate) fn enter_worker_of(owned: &OwnedTasks, worker: usize) -> Option<WorkerGuard> {
    owned.observer().map(|o| enter_worker(o, worker))
}

/// [`Observer::loop_turned`] for the runtime of `owned`.
pub(crate) fn loop_turned(owned: &OwnedTasks, worker: usize, parking: bool) {
    if let Some(o) = owned.observer() {
        o.loop_turned(worker, parking);
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let (p, o) = self.prev;
        let _ = PROBE.try_with(|c| c.set(p));
        let _ = OBSERVER.try_with(|c| c.set(o));
        // A worker that left its loop is not stuck.
        self.observer.workers[self.worker]
            .turned
            .store(PARKED, Relaxed);
    }
}

/// Per-poll bookkeeping, entered by the task harness around the future's `poll` (the runner
/// holds `RUNNING`, so the task header stays valid until this guard drops).
pub(crate) struct PollGuard<'a> {
    header: &'a crate::cell::raw::Header,
    /// The worker's probe, if this thread is a worker.
    probe: Option<&'a WorkerProbe>,
    /// The fine clock's stamp at the start of a sampled poll, else 0.
    timed_from: clock::Ticks,
}

impl<'a> PollGuard<'a> {
    /// The unobserved path is a poll-count bump, two thread-local reads and three stores
    /// (and a fourth when the poll ends), inlined into the task harness; an active observer
    /// adds a store of the coarse clock to the task's record and the sampling test, and only
    /// the timing of a sampled poll is out of line. The end of a poll that the watchdog
    /// reported is noticed by the watchdog (the worker's poll number moved on), not here.
    #[inline]
    pub(crate) fn enter(header: &'a crate::cell::raw::Header) -> PollGuard<'a> {
        let polls = header.begin_poll();
        let probe = PROBE.with(Cell::get);
        if probe.is_null() {
            // A blocking-pool thread or a thread outside the runtime.
            return PollGuard::plain(header, None);
        }
        // SAFETY: a non-null PROBE (and OBSERVER) was set by `enter_worker`, whose guard keeps
        // the observer alive (an `Arc`) until it resets both slots; polls on this thread
        // happen inside that guard's lifetime.
        let probe = unsafe { &*probe };
        // Only this thread writes it: a load and a store, no read-modify-write.
        let n = probe.polls_started.load(Relaxed).wrapping_add(1);
        let observer = OBSERVER.with(Cell::get);
        if observer.is_null() {
            probe.polls_started.store(n, Relaxed);
            // Which task runs where: dumps read it to show "running on worker N".
            probe.task.store(header.id.as_u64(), Relaxed);
            return PollGuard::plain(header, Some(probe));
        }
        // SAFETY: as above.
        PollGuard::observed(header, probe, unsafe { &*observer }, polls, n)
    }

    #[inline]
    fn plain(header: &'a crate::cell::raw::Header, probe: Option<&'a WorkerProbe>) -> Self {
        PollGuard {
            header,
            probe,
            timed_from: 0,
        }
    }

    /// Poll number `n` of an observed worker: publishes it, records its start in the task's
    /// record, and times it if it is sampled (out of line).
    #[inline]
    fn observed(
        header: &'a crate::cell::raw::Header,
        probe: &'a WorkerProbe,
        observer: &'a Observer,
        polls: u32,
        n: u64,
    ) -> Self {
        // Before the Release of `publish_poll`, so a watchdog that reads this poll's number
        // finds its start in the record.
        header.diag.set_last_poll(observer.coarse_now());
        probe.publish_poll(n, header.id.as_u64());
        // The poll before a timed one marks the state, so that the wake queueing the next
        // poll stamps its time (both at once when every poll is timed).
        let rest = TaskDiag::sample_rest(polls, header.id, observer.sample_mask);
        if rest == observer.sample_mask {
            header.state.mark_sample_next();
        }
        let timed_from = if rest == 0 {
            Self::start_timing(header, probe, observer)
        } else {
            0
        };
        PollGuard {
            header,
            probe: Some(probe),
            timed_from,
        }
    }

    /// A sampled poll starts: records its schedule latency, returns its start stamp.
    #[inline(never)]
    fn start_timing(
        header: &crate::cell::raw::Header,
        probe: &WorkerProbe,
        observer: &Observer,
    ) -> clock::Ticks {
        let now = observer.fine.now();
        let woke = header.diag.take_woke();
        if woke != 0 {
            probe.schedule_latency.record(observer.fine.ns(woke, now));
        }
        now
    }

    /// A sampled poll ends: records its poll time.
    #[inline(never)]
    fn stop_timing(&self, probe: &WorkerProbe) {
        // SAFETY: an observed poll runs on a worker whose `enter_worker` set OBSERVER to its
        // active observer and keeps it alive (see `enter`).
        let observer = unsafe { &*OBSERVER.with(Cell::get) };
        let took = observer.fine.ns(self.timed_from, observer.fine.now());
        probe.poll_time.record(took);
        self.header
            .diag
            .add_poll_time(took.saturating_mul(u64::from(observer.settings.sample_every)));
    }
}

impl Drop for PollGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let Some(probe) = self.probe else { return };
        if self.timed_from != 0 {
            self.stop_timing(probe);
        }
        probe.task.store(0, Relaxed);
    }
}

/// Stamps the wake time of a task whose next poll is timed (its last poll marked the state's
/// `SAMPLE_NEXT`, see `PollGuard::observed`): one load of the state word the wake's
/// transition just wrote, and one test.
#[inline]
pub(crate) fn on_schedule(header: &crate::cell::raw::Header) {
    if header.state.is_sample_next() {
        header.diag.stamp_woke();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::WorkerProbe;
    use std::sync::atomic::Ordering::Relaxed;

    #[test]
    fn the_sampling_interval_is_a_power_of_two_a_u32_holds() {
        for (asked, every, mask) in [
            (0, 0, u64::MAX),
            (1, 1, 0),
            (48, 64, 63),
            (u32::MAX, 1 << 31, (1 << 31) - 1),
        ] {
            let settings = super::Settings {
                stall_threshold: None,
                sample_every: asked,
            };
            let o = super::Observer::new(1, settings);
            assert_eq!(o.settings.sample_every, every, "poll_histograms({asked})");
            assert_eq!(o.sample_mask, mask, "poll_histograms({asked})");
        }
    }

    #[test]
    fn a_reading_names_the_poll_in_progress_by_its_number() {
        let probe = WorkerProbe::new(0);
        assert_eq!(probe.current_poll(), None, "no poll before the first");
        probe.publish_poll(1, 7);
        assert_eq!(probe.current_poll(), Some((1, 7)));
        probe.task.store(0, Relaxed);
        assert_eq!(probe.current_poll(), None, "no poll between polls");
        probe.publish_poll(2, 7);
        assert_eq!(
            probe.current_poll(),
            Some((2, 7)),
            "the same task's next poll has a new number"
        );
    }
}
