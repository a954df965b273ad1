//! Seeing inside a running runtime: per-poll probes, the coarse clock, histograms and the
//! stall watchdog.
//!
//! Cost model (everything that reads a clock is opt-in):
//! - Always: each poll bumps its task's poll count (a Relaxed store to the task header the
//!   runner already owns), and publishes the running task's id and counts the poll in its
//!   worker's probe (stores to a line only that worker writes; siblings read the count to
//!   tell a stuck worker, see `scheduler::multi::worker`); a named spawn allocates its name
//!   record. No clock
//!   read, no read-modify-write, no lock. This is what makes
//!   [`Handle::dump`](crate::Handle::dump) work by default.
//! - When the observer is *active* (`Builder::stall_threshold` or `Builder::poll_histograms`):
//!   one light thread (`watchdog.rs`) ticks a coarse clock every [`Observer::period`]; each
//!   poll stores that clock (not `Instant::now()`) in its task's record as the last poll, and
//!   in its worker's probe one word naming the poll (a sequence number and that clock) next to
//!   the running task's id, so the watchdog can see a poll that does not return. Dumps then show
//!   times since spawn and since the last poll, at the resolution of the tick.
//! - With histograms on, one poll in `sample_every` (power of two) is timed precisely: the
//!   wake that queued it stamps the fine clock (`clock.rs`: the CPU's time-stamp counter
//!   where it is invariant, else the OS clock) in the task's record, and the poll reads it
//!   before and after. Those go to the worker's schedule-latency and poll-time histograms,
//!   and (scaled by `sample_every`) to the task's total poll time.
//!
//! Field access: a [`WorkerProbe`] is written only by its worker thread (the thread that
//! entered it with [`enter_worker`]), except `reported` and `turn_reported` (the watchdog's),
//! and read by the watchdog and metrics readers. Its fields are atomics used as diagnostics,
//! never to synchronize other memory, and all accesses are Relaxed but those of the poll
//! publication protocol below.
//!
//! Poll publication (what the watchdog reads of a poll in progress, modelled in
//! `loom_tests.rs`). An observed poll is named by one word, its *mark*: the coarse clock at
//! its start with a sequence number in the low bits (see [`PollMark`]), so the start can never
//! be paired with another poll's number. The worker writes, per poll:
//! 1. `mark` (Release), then `task` (Release): both plain stores on x86;
//! 2. at the poll's end, `task = 0` (Relaxed).
//!
//! The watchdog ([`WorkerProbe::current_poll`]) reads `mark` (Acquire), then `task`, then
//! an Acquire fence, then `mark` again, and keeps the reading only if both marks agree and the
//! task is not 0. The first Acquire load synchronizes with the mark's Release store, so the
//! `task = 0` that ended the previous poll is visible and `task` is this poll's id or a later
//! value; if it is a later poll's id, the fence synchronizes with that poll's Release store of
//! `task`, which follows its new mark, so the second load sees a different mark and the
//! reading is dropped. A kept reading is therefore one poll's task with that poll's start.
//! The sequence number wraps after [`COARSE_UNIT`] polls; two marks can only be equal if that
//! many polls began within one coarse tick, and then the task read still began at the same
//! coarse time, so the start reported for it is right.

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
    fence, AtomicU32, AtomicU64,
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

/// [`Observer::sample_mask`] with histograms off: no poll is sampled (see
/// [`TaskDiag::is_sampled`]).
pub(crate) const NEVER_SAMPLED: u64 = u64::MAX;

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
    /// `settings.sample_every - 1` (a power of two less one), or [`NEVER_SAMPLED`] with
    /// histograms off: a poll is sampled when `(polls + id) & sample_mask == 0`, one test
    /// whether histograms are on or off.
    pub(crate) sample_mask: u64,
    /// The coarse clock (`now_ns()` at the watchdog's last tick, rounded up to a multiple of
    /// [`COARSE_UNIT`]); 0 while inactive.
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
    /// The [`PollMark`] of the current or last observed poll (0 before the first).
    pub(crate) mark: AtomicU64,
    /// Id of the task being polled, 0 between polls (written on every runtime, observed or
    /// not; while active, stored with Release at the start of a poll, after `mark`).
    pub(crate) task: AtomicU64,
    /// Polls this worker has started (wrapping; written on every runtime, by the worker only).
    /// A sibling that reads the same count twice, some work of its own apart, knows this
    /// worker made no progress in between: stuck in one long poll, or off its CPU (see
    /// `scheduler::multi::worker`, "Backlogs of a stuck sibling").
    pub(crate) polls_started: AtomicU32,
    /// The mark of a poll the watchdog reported as stalled (written by the watchdog only).
    pub(crate) reported: AtomicU64,
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
            mark: AtomicU64::new(0),
            task: AtomicU64::new(0),
            polls_started: AtomicU32::new(0),
            reported: AtomicU64::new(0),
            turned: AtomicU64::new(PARKED),
            turn_reported: AtomicU64::new(0),
            poll_time: Histogram::default(),
            schedule_latency: Histogram::default(),
        }
    }

    /// The worker starts an observed poll of `task` at coarse time `now`; returns its mark.
    /// Only the worker's own thread calls this (see the module docs for the protocol).
    #[inline]
    pub(crate) fn begin_poll(&self, now: u64, task: u64) -> PollMark {
        let mark = PollMark::next(self.mark.load(Relaxed), now);
        // Release (both plain stores on x86): a reader that sees this mark with Acquire sees
        // the end of the previous poll; one that sees this task id, then fences, sees this
        // mark or a later one.
        self.mark.store(mark.0, Release);
        self.task.store(task, Release);
        mark
    }

    /// The poll in progress as another thread sees it: (`mark`, `task`), or `None` between
    /// polls or if a new poll began while reading. `task` is the task of the poll `mark`
    /// names (see the module docs).
    pub(crate) fn current_poll(&self) -> Option<(PollMark, u64)> {
        let mark = self.mark.load(Acquire);
        let task = self.task.load(Relaxed);
        // Pairs with the Release store of `task` in `begin_poll`: if `task` came from a later
        // poll, the load below sees that poll's mark.
        fence(Acquire);
        let again = self.mark.load(Relaxed);
        (task != 0 && again == mark).then_some((PollMark(mark), task))
    }
}

/// The coarse clock's unit: its values are multiples of this many nanoseconds (rounded up
/// from [`now_ns`], so never 0), which leaves the low bits of a [`PollMark`] for its sequence
/// number.
pub(crate) const COARSE_UNIT: u64 = 1 << 10;

/// The coarse clock reading for `ns` from [`now_ns`]: the next multiple of [`COARSE_UNIT`].
fn coarse(ns: u64) -> u64 {
    (ns | (COARSE_UNIT - 1)) + 1
}

/// The name of one observed poll on one worker: the coarse clock at its start (a multiple of
/// [`COARSE_UNIT`]) with a sequence number that wraps after [`COARSE_UNIT`] polls in its low
/// bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PollMark(pub(crate) u64);

impl PollMark {
    const SEQ_MASK: u64 = COARSE_UNIT - 1;

    /// The mark after `prev` for a poll starting at coarse time `now`.
    #[inline]
    fn next(prev: u64, now: u64) -> PollMark {
        PollMark(now | (prev.wrapping_add(1) & PollMark::SEQ_MASK))
    }

    /// The coarse clock at the poll's start.
    pub(crate) fn started(self) -> u64 {
        self.0 & !PollMark::SEQ_MASK
    }

    /// How long the poll has run at coarse time `now`.
    pub(crate) fn elapsed(self, now: u64) -> Duration {
        Duration::from_nanos(now.saturating_sub(self.started()))
    }
}

impl Observer {
    pub(crate) fn new(workers: usize, settings: Settings) -> Arc<Observer> {
        let mut settings = settings;
        if settings.sample_every != 0 {
            settings.sample_every = settings.sample_every.next_power_of_two();
        }
        let active = settings.stall_threshold.is_some() || settings.sample_every != 0;
        Arc::new(Observer {
            settings,
            sample_mask: match settings.sample_every {
                0 => NEVER_SAMPLED,
                n => u64::from(n) - 1,
            },
            // Running from the start, so a worker stuck before the first tick is seen.
            clock: AtomicU64::new(if active { coarse(now_ns()) } else { 0 }),
            workers: (0..workers).map(|i| WorkerProbe::new(i as u32)).collect(),
            blocking: PoolThreads::new(),
            fine: clock::FineClock::new(settings.sample_every != 0),
        })
    }

    /// Whether the watchdog thread runs and polls record times.
    pub(crate) fn is_active(&self) -> bool {
        self.settings.stall_threshold.is_some() || self.settings.sample_every != 0
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
        self.clock.store(coarse(now_ns()), Relaxed);
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
    /// The runtime's observer, if it is active (then `probe` is set too).
    observer: Option<&'a Observer>,
    /// The mark of an observed poll (unused otherwise).
    mark: PollMark,
    /// The fine clock's stamp at the start of a sampled poll, else 0.
    timed_from: clock::Ticks,
}

impl<'a> PollGuard<'a> {
    /// The unobserved path is a poll-count bump, two thread-local reads and two stores,
    /// inlined into the task harness; an active observer adds a few inlined stores, and only
    /// the timing of a sampled poll is out of line.
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
        let started = probe.polls_started.load(Relaxed);
        probe.polls_started.store(started.wrapping_add(1), Relaxed);
        let observer = OBSERVER.with(Cell::get);
        if observer.is_null() {
            // Which task runs where: dumps read it to show "running on worker N".
            probe.task.store(header.id.as_u64(), Relaxed);
            return PollGuard::plain(header, Some(probe));
        }
        // SAFETY: as above.
        PollGuard::observed(header, probe, unsafe { &*observer }, polls)
    }

    #[inline]
    fn plain(header: &'a crate::cell::raw::Header, probe: Option<&'a WorkerProbe>) -> Self {
        PollGuard {
            header,
            probe,
            observer: None,
            mark: PollMark(0),
            timed_from: 0,
        }
    }

    /// The marks every observed poll makes are inlined (a few Relaxed stores to lines this
    /// thread already owns); only a sampled poll's timing goes out of line.
    #[inline]
    fn observed(
        header: &'a crate::cell::raw::Header,
        probe: &'a WorkerProbe,
        observer: &'a Observer,
        polls: u32,
    ) -> Self {
        let now = observer.coarse_now();
        header.diag.set_last_poll(now);
        let mark = probe.begin_poll(now, header.id.as_u64());
        let timed_from = if TaskDiag::is_sampled(polls, header.id, observer.sample_mask) {
            Self::start_timing(header, probe, observer)
        } else {
            0
        };
        PollGuard {
            header,
            probe: Some(probe),
            observer: Some(observer),
            mark,
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

    #[inline]
    fn leave_observed(&self, probe: &WorkerProbe, observer: &Observer) {
        if self.timed_from != 0 {
            self.stop_timing(probe, observer);
        }
        probe.task.store(0, Relaxed);
        if probe.reported.load(Relaxed) == self.mark.0 {
            watchdog::report_returned(probe, self.header, self.mark);
        }
    }

    /// A sampled poll ends: records its poll time.
    #[inline(never)]
    fn stop_timing(&self, probe: &WorkerProbe, observer: &Observer) {
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
        match self.observer {
            None => probe.task.store(0, Relaxed),
            Some(observer) => self.leave_observed(probe, observer),
        }
    }
}

/// Stamps the wake time of a task whose next poll is sampled (see the module docs).
#[inline]
pub(crate) fn on_schedule(header: &crate::cell::raw::Header) {
    if !header.diag.is_plain() {
        header.diag.stamp_woke_if_sampled(header.polls(), header.id);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{PollMark, WorkerProbe};
    use std::time::Duration;

    #[test]
    fn a_mark_carries_its_start_and_a_new_number_per_poll() {
        let probe = WorkerProbe::new(0);
        let start = super::coarse(5_000_000_000);
        let a = probe.begin_poll(start, 7);
        let b = probe.begin_poll(start, 7);
        assert_ne!(a, b, "two polls at one coarse time have different marks");
        assert_eq!(a.started(), b.started());
        assert!(
            start - a.started() < 1024,
            "the start is kept to the mark's unit"
        );
        assert_eq!(a.elapsed(start), Duration::ZERO);
        assert_eq!(a.elapsed(start + 3_000_000).as_millis(), 3);
        assert_eq!(probe.current_poll(), Some((b, 7)));
        probe.task.store(0, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(probe.current_poll(), None, "no poll between polls");
    }

    #[test]
    fn the_number_wraps_without_touching_the_start() {
        let (a, b) = (super::coarse(1), super::coarse(5_000));
        assert!(a != 0 && a % super::COARSE_UNIT == 0 && b % super::COARSE_UNIT == 0);
        let last = PollMark(a | PollMark::SEQ_MASK);
        let next = PollMark::next(last.0, b);
        assert_eq!(next.started(), b);
        assert_eq!(next.0 & PollMark::SEQ_MASK, 0);
    }
}
