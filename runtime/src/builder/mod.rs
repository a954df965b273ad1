//! [`Builder`]: every runtime tunable, named and documented, with its default.
//!
//! Its methods live in three more files: `hints.rs` (the OS scheduling hints of the runtime's
//! threads), `pools.rs` (assembling the blocking pool and the compute pool: thread names, stack
//! size, start and stop hooks) and `testing.rs` (paused time and a seeded task order).

mod hints;
mod pools;
mod testing;

use crate::scheduler::multi::Config;
use crate::Runtime;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// Default ticks between a worker's non-blocking polls of its poller and timers.
pub const DEFAULT_EVENT_INTERVAL: u32 = 61;
/// Default ticks between a worker's fairness checks of the shared injector.
pub const DEFAULT_GLOBAL_QUEUE_INTERVAL: u32 = 61;
/// Default cap on how long a parked worker spins before a timer deadline: zero, no spinning
/// (see [`Builder::timer_spin_limit`]).
pub(crate) const DEFAULT_TIMER_SPIN_LIMIT: Duration = Duration::ZERO;
/// Default time slice worker threads ask the OS scheduler for (see
/// [`Builder::worker_time_slice`]).
pub(crate) const DEFAULT_WORKER_TIME_SLICE: Duration = Duration::from_micros(100);
/// Default time slice blocking-pool threads ask the OS scheduler for: none, the OS default
/// (see [`Builder::blocking_time_slice`]).
pub(crate) const DEFAULT_BLOCKING_TIME_SLICE: Duration = Duration::ZERO;
/// Default time slice a blocking-pool thread asks the OS scheduler for while it runs CPU-bound
/// jobs (see [`Builder::blocking_cpu_slice`]): the longest Linux grants.
pub(crate) const DEFAULT_BLOCKING_CPU_SLICE: Duration = Duration::from_millis(100);
/// Default time slice compute-pool threads ask the OS scheduler for (see
/// [`Builder::compute_time_slice`]).
pub(crate) const DEFAULT_COMPUTE_TIME_SLICE: Duration = Duration::ZERO;
/// Default nice increment of blocking-pool threads: none (see [`Builder::blocking_nice`]).
pub(crate) const DEFAULT_BLOCKING_NICE: u8 = 0;
/// Default name of worker and blocking-pool threads (see [`Builder::thread_name`]).
pub(crate) const DEFAULT_THREAD_NAME: &str = "kiln-worker";
/// Default name of compute-pool threads (see [`Builder::compute_threads`]).
pub(crate) const DEFAULT_COMPUTE_THREAD_NAME: &str = "kiln-compute";

pub(crate) type Hook = Arc<dyn Fn() + Send + Sync + 'static>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    MultiThread,
    CurrentThread,
}

/// Configures and builds a [`Runtime`].
///
/// ```
/// let rt = kiln::Builder::new_multi_thread()
///     .worker_threads(2)
///     .thread_name("my-worker")
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// ```
pub struct Builder {
    pub(crate) kind: Kind,
    pub(crate) worker_threads: Option<usize>,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
    pub(crate) thread_name: Arc<dyn Fn() -> String + Send + Sync + 'static>,
    /// Whether `thread_name` is the user's (`thread_name`/`thread_name_fn`): it then names
    /// compute-pool threads too.
    pub(crate) thread_name_set: bool,
    pub(crate) thread_stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<Hook>,
    pub(crate) on_thread_stop: Option<Hook>,
    pub(crate) event_interval: u32,
    pub(crate) global_queue_interval: u32,
    pub(crate) lifo_slot: bool,
    pub(crate) slow_poll_threshold: Option<Duration>,
    pub(crate) observe: crate::observe::Settings,
    pub(crate) metrics: bool,
    pub(crate) timer_spin_limit: Duration,
    pub(crate) wake_patience: Duration,
    pub(crate) stay_behind: bool,
    pub(crate) worker_time_slice: Duration,
    pub(crate) blocking_nice: u8,
    pub(crate) blocking_time_slice: Duration,
    pub(crate) blocking_cpu_slice: Duration,
    /// `start_paused` and `rng_seed` (see `testing.rs`).
    pub(crate) testing: crate::testing::TestOptions,
    pub(crate) unhandled_panic: crate::UnhandledPanic,
    pub(crate) compute_threads: Option<usize>,
    pub(crate) compute_time_slice: Duration,
}

impl Builder {
    /// A work-stealing runtime with one worker per CPU (see [`Builder::worker_threads`]).
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn new_multi_thread() -> Builder {
        Builder::new(Kind::MultiThread)
    }

    /// A runtime that runs every task on the thread calling `block_on`.
    ///
    /// ```
    /// let rt = kiln::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(async { kiln::spawn(async { 5 }).await.unwrap() }), 5);
    /// ```
    pub fn new_current_thread() -> Builder {
        Builder::new(Kind::CurrentThread)
    }

    fn new(kind: Kind) -> Builder {
        Builder {
            kind,
            worker_threads: None,
            max_blocking_threads: kiln_blocking::DEFAULT_MAX_THREADS,
            blocking_keep_alive: kiln_blocking::DEFAULT_KEEP_ALIVE,
            thread_name: Arc::new(|| DEFAULT_THREAD_NAME.to_string()),
            thread_name_set: false,
            thread_stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            event_interval: DEFAULT_EVENT_INTERVAL,
            global_queue_interval: DEFAULT_GLOBAL_QUEUE_INTERVAL,
            lifo_slot: true,
            slow_poll_threshold: None,
            observe: crate::observe::Settings::default(),
            metrics: true,
            timer_spin_limit: DEFAULT_TIMER_SPIN_LIMIT,
            wake_patience: hints::DEFAULT_WAKE_PATIENCE,
            stay_behind: true,
            worker_time_slice: DEFAULT_WORKER_TIME_SLICE,
            blocking_nice: DEFAULT_BLOCKING_NICE,
            blocking_time_slice: DEFAULT_BLOCKING_TIME_SLICE,
            blocking_cpu_slice: DEFAULT_BLOCKING_CPU_SLICE,
            testing: Default::default(),
            unhandled_panic: crate::UnhandledPanic::Ignore,
            compute_threads: None,
            compute_time_slice: DEFAULT_COMPUTE_TIME_SLICE,
        }
    }

    /// Number of worker threads (multi-thread flavor; default `num_cpus::get()`). Zero is an
    /// error from [`Builder::build`]. Ignored by the current-thread flavor.
    ///
    /// ```
    /// let err = kiln::Builder::new_multi_thread().worker_threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn worker_threads(&mut self, n: usize) -> &mut Builder {
        self.worker_threads = Some(n);
        self
    }

    /// Cap on blocking-pool threads (default 512). Zero is an error from `build`.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().max_blocking_threads(4).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn max_blocking_threads(&mut self, n: usize) -> &mut Builder {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking thread waits for work before it exits (default 10 s).
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .blocking_keep_alive(std::time::Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn blocking_keep_alive(&mut self, d: Duration) -> &mut Builder {
        self.blocking_keep_alive = d;
        self
    }

    /// Name of every thread the runtime starts. By default workers and blocking-pool threads
    /// are named `kiln-worker` and compute-pool threads `kiln-compute` (see
    /// [`Builder::compute_threads`]); once set, this name is every thread's, compute-pool
    /// threads' included.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().thread_name("svc").build().unwrap();
    /// let name = rt.block_on(async {
    ///     kiln::spawn(async { std::thread::current().name().map(String::from) }).await.unwrap()
    /// });
    /// assert_eq!(name.as_deref(), Some("svc"));
    /// ```
    pub fn thread_name(&mut self, name: impl Into<String>) -> &mut Builder {
        let name: String = name.into();
        self.thread_name = Arc::new(move || name.clone());
        self.thread_name_set = true;
        self
    }

    /// A function naming each thread the runtime starts, compute-pool threads included (in
    /// place of the default names, see [`Builder::thread_name`]).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// static N: AtomicUsize = AtomicUsize::new(0);
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .thread_name_fn(|| format!("w-{}", N.fetch_add(1, Ordering::Relaxed)))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn thread_name_fn(
        &mut self,
        f: impl Fn() -> String + Send + Sync + 'static,
    ) -> &mut Builder {
        self.thread_name = Arc::new(f);
        self.thread_name_set = true;
        self
    }

    /// Stack size of every thread the runtime starts.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().thread_stack_size(4 << 20).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn thread_stack_size(&mut self, bytes: usize) -> &mut Builder {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// Runs on every runtime thread (workers and blocking threads) as it starts.
    ///
    /// A panic in the hook is reported by the panic hook and otherwise ignored: the thread
    /// runs on as if the hook had returned (see [`Runtime`], "Panics").
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let s = started.clone();
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .on_thread_start(move || { s.fetch_add(1, Ordering::SeqCst); })
    ///     .build()
    ///     .unwrap();
    /// drop(rt);
    /// assert!(started.load(Ordering::SeqCst) >= 2);
    /// ```
    pub fn on_thread_start(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Builder {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Runs on every runtime thread just before it exits. A panic in it is reported and
    /// ignored, as for [`on_thread_start`](Builder::on_thread_start).
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .on_thread_stop(|| println!("bye"))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn on_thread_stop(&mut self, f: impl Fn() + Send + Sync + 'static) -> &mut Builder {
        self.on_thread_stop = Some(Arc::new(f));
        self
    }

    /// Ticks between non-blocking polls of a busy worker's poller and timers (default 61).
    /// Lower favours I/O latency, higher favours throughput. Zero is an error from `build`.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().event_interval(31).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn event_interval(&mut self, ticks: u32) -> &mut Builder {
        self.event_interval = ticks;
        self
    }

    /// Ticks between a worker's fairness checks of the shared injector (default 61). Zero is
    /// an error from `build`.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().global_queue_interval(31).build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn global_queue_interval(&mut self, ticks: u32) -> &mut Builder {
        self.global_queue_interval = ticks;
        self
    }

    /// Turns the LIFO slot off (it is on by default): a woken task then always goes to the back
    /// of its worker's queue.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().disable_lifo_slot().build().unwrap();
    /// # drop(rt);
    /// ```
    pub fn disable_lifo_slot(&mut self) -> &mut Builder {
        self.lifo_slot = false;
        self
    }

    /// asyncio's debug mode: report (through the `log` facade, at `warn` level) every task
    /// whose single poll ran longer than `threshold`, naming where it was spawned. This is how
    /// to find blocking code on the event loop. Off by default; costs two clock reads per poll.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .slow_poll_threshold(std::time::Duration::from_millis(10))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {
    ///     // Reported: this poll blocks its worker for 20 ms.
    ///     kiln::spawn(async { std::thread::sleep(std::time::Duration::from_millis(20)) })
    ///         .await
    ///         .unwrap();
    /// });
    /// ```
    pub fn slow_poll_threshold(&mut self, threshold: Duration) -> &mut Builder {
        self.slow_poll_threshold = Some(threshold);
        self
    }

    /// Starts a watchdog thread that reports (through `log::warn!`) a poll still running after
    /// `threshold`, *while it runs*: task id, name, spawn location, worker and elapsed time;
    /// then again with the total at its first tick after the poll returned. It also reports a
    /// worker whose event loop has not turned for `threshold`. The watchdog ticks every
    /// quarter threshold (1 to 50 ms), so a stall is seen within about 1.25 × `threshold`.
    /// Dumps then also show times since spawn and since the last poll. Costs a small record
    /// per spawn (the task's times, recycled) and one relaxed store per poll; no clock read
    /// per poll.
    /// See `docs/observability.md`.
    ///
    /// # Panics
    /// If `threshold` is zero.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .stall_threshold(std::time::Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn stall_threshold(&mut self, threshold: Duration) -> &mut Builder {
        assert!(
            !threshold.is_zero(),
            "kiln: Builder::stall_threshold must be greater than zero"
        );
        self.observe.stall_threshold = Some(threshold);
        self
    }

    /// Records per-worker histograms of poll time and of schedule latency (wake to poll) in
    /// [`RuntimeMetrics`](crate::RuntimeMetrics), timing one poll in `sample_every` (rounded
    /// up to a power of two, at most 2^31; `1` times every poll, `0` turns histograms off, the
    /// default).
    /// A timed poll reads the clock three times (about 45–60 ns with its histogram updates):
    /// for histograms left on in production, `64` keeps the average under about 1 % of a
    /// minimal poll (`8` costs several percent on a yield-heavy workload). Dumps then also
    /// show poll time per task (from the sampled polls) and times since spawn and last poll.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().poll_histograms(1).build().unwrap();
    /// rt.block_on(async { kiln::spawn(async {}).await.unwrap() });
    /// let m = rt.metrics();
    /// let polls: u64 = (0..m.num_workers())
    ///     .map(|w| m.worker_poll_time_histogram(w).iter().map(|b| b.count).sum::<u64>())
    ///     .sum();
    /// assert!(polls >= 1);
    /// ```
    pub fn poll_histograms(&mut self, sample_every: u32) -> &mut Builder {
        self.observe.sample_every = sample_every;
        self
    }

    /// Whether workers count polls, steals, parks, I/O events and timers for
    /// [`Runtime::metrics`](crate::Runtime::metrics) (default `true`). Counting is per worker,
    /// in plain fields published with relaxed stores at park and maintenance ticks; turning it
    /// off makes those counters read zero. Queue depths and blocking-pool figures are always
    /// live.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().metrics(false).build().unwrap();
    /// rt.block_on(async { kiln::spawn(async {}).await.unwrap() });
    /// assert_eq!(rt.metrics().worker_poll_count(0), 0);
    /// ```
    pub fn metrics(&mut self, enabled: bool) -> &mut Builder {
        self.metrics = enabled;
        self
    }

    /// The most a parked worker (or a current-thread runtime's loop) spins before a timer
    /// deadline, to fire the timer on time: the opt-in *precise mode*. Default
    /// `Duration::ZERO`, no spinning.
    ///
    /// Without spinning a worker sleeps in the kernel until the deadline itself (on Linux
    /// 5.11+ with a nanosecond timeout and no timer slack), and a timer fires as late as the
    /// kernel wakes the thread: tens of microseconds on an idle machine, more on a virtual
    /// machine or a busy one. With a limit, when a timer is what ends a park, the worker waits
    /// until `deadline - slack` and spins, reading the clock, for the rest; a notification or
    /// I/O readiness still ends the spin at once. `slack` is learned from how late this
    /// worker's own timed waits have woken (a decaying maximum), capped by this limit. The
    /// cost is CPU time, up to `slack` per timer-ended park (with a 1 ms periodic timer and
    /// 100 µs of slack, about 10% of one CPU); while more threads are runnable than twice the
    /// CPUs it does not spin. Precise mode also rounds timers to a finer coalescing grid (at
    /// most 1/256 of a timer's length instead of up to a quarter, still at most 2,048 µs), so
    /// that a short sleep is not late by the grid either: more wake-ups where many timers
    /// are armed. `docs/tuning.md` has measured figures for both modes.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .timer_spin_limit(std::time::Duration::from_micros(250)) // precise mode
    ///     .build()
    ///     .unwrap();
    /// rt.block_on(async { kiln::time::sleep(std::time::Duration::from_millis(1)).await });
    /// ```
    pub fn timer_spin_limit(&mut self, limit: Duration) -> &mut Builder {
        self.timer_spin_limit = limit;
        self
    }

    /// What to do when a task panics and nobody will read its output: its `JoinHandle` was
    /// dropped before, or is dropped after, the task panicked. Default
    /// [`UnhandledPanic::Ignore`](crate::UnhandledPanic::Ignore); with
    /// [`UnhandledPanic::ShutdownRuntime`](crate::UnhandledPanic::ShutdownRuntime) the runtime
    /// shuts down and `block_on` panics with the task's panic message. Panics of
    /// `spawn_blocking` jobs are not covered.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .unhandled_panic(kiln::UnhandledPanic::ShutdownRuntime)
    ///     .build()
    ///     .unwrap();
    /// let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     rt.block_on(async {
    ///         drop(kiln::spawn(async { panic!("lost") }));
    ///         std::future::pending::<()>().await
    ///     })
    /// }));
    /// let msg = result.unwrap_err().downcast::<String>().unwrap();
    /// assert!(msg.contains("lost"));
    /// ```
    pub fn unhandled_panic(&mut self, behavior: crate::UnhandledPanic) -> &mut Builder {
        self.unhandled_panic = behavior;
        self
    }

    /// Threads of the compute pool, which runs [`kiln::spawn_compute`](crate::spawn_compute)
    /// jobs (default: the number of workers; for the current-thread flavor, the number of
    /// CPUs). Zero is an error from `build`.
    ///
    /// The compute pool is separate from the blocking pool: CPU-bound jobs beyond its threads
    /// wait in its queue instead of starting a thread each, so 64 jobs on 2 CPUs run on 2
    /// threads, while blocking I/O in `spawn_blocking` is never stuck behind them. Its threads
    /// start on demand and carry no scheduling hint (they compete for the CPU like the
    /// workers, so a busy neighbour process cannot starve them). They are named
    /// `kiln-compute`, unless [`thread_name`](Builder::thread_name) or
    /// [`thread_name_fn`](Builder::thread_name_fn) is set: that names them as it names the
    /// workers.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().compute_threads(2).build().unwrap();
    /// let n = rt.block_on(async { kiln::spawn_compute(|| (1..=10u64).sum::<u64>()).await });
    /// assert_eq!(n.unwrap(), 55);
    /// assert_eq!(rt.handle().compute_pool().threads(), 2);
    /// let name = rt.block_on(async {
    ///     kiln::spawn_compute(|| std::thread::current().name().map(String::from)).await
    /// });
    /// assert_eq!(name.unwrap().as_deref(), Some("kiln-compute"));
    /// ```
    pub fn compute_threads(&mut self, n: usize) -> &mut Builder {
        self.compute_threads = Some(n);
        self
    }

    /// Builds the runtime, starting its worker threads.
    ///
    /// # Errors
    /// `InvalidInput` for `worker_threads(0)`, `max_blocking_threads(0)`, `compute_threads(0)`,
    /// a zero interval;
    /// the OS error if a poller or a thread cannot be created.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().worker_threads(2).build()?;
    /// # drop(rt);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn build(&mut self) -> io::Result<Runtime> {
        if self.worker_threads == Some(0) {
            return Err(invalid(
                "worker_threads(0): a multi-thread runtime needs at least one worker thread",
            ));
        }
        if self.max_blocking_threads == 0 {
            return Err(invalid(
                "max_blocking_threads(0): the blocking pool needs at least one thread",
            ));
        }
        if self.compute_threads == Some(0) {
            return Err(invalid(
                "compute_threads(0): the compute pool needs at least one thread",
            ));
        }
        if self.event_interval == 0 {
            return Err(invalid(
                "event_interval(0): the interval must be at least one tick",
            ));
        }
        if self.global_queue_interval == 0 {
            return Err(invalid(
                "global_queue_interval(0): the interval must be at least one tick",
            ));
        }
        if self.wake_patience > hints::MAX_WAKE_PATIENCE {
            return Err(invalid(&format!(
                "sibling_wake_patience({:?}): at most {:?}, or queued tasks wait that long \
                 for an idle worker",
                self.wake_patience,
                hints::MAX_WAKE_PATIENCE
            )));
        }
        Runtime::from_builder(self)
    }

    pub(crate) fn config(&self) -> Config {
        Config {
            event_interval: self.event_interval,
            global_queue_interval: self.global_queue_interval,
            lifo_slot: self.lifo_slot,
            slow_poll_threshold: self.slow_poll_threshold,
            metrics: self.metrics,
            observe: self.observe,
            timer_spin_limit: self.timer_spin_limit,
            wake_patience: self.wake_patience,
            stay_behind: self.stay_behind,
            unhandled_panic: self.unhandled_panic,
            thread: crate::scheduler::multi::WorkerThreadSpec {
                name: self.thread_name.clone(),
                stack_size: self.thread_stack_size,
                on_start: self.on_thread_start.clone(),
                on_stop: self.on_thread_stop.clone(),
                time_slice: self.worker_time_slice,
            },
        }
    }

    pub(crate) fn num_workers(&self) -> usize {
        self.worker_threads.unwrap_or_else(num_cpus::get).max(1)
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("kiln::Builder: {msg}"))
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("kind", &self.kind)
            .field("worker_threads", &self.worker_threads)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("blocking_keep_alive", &self.blocking_keep_alive)
            .field("event_interval", &self.event_interval)
            .field("global_queue_interval", &self.global_queue_interval)
            .field("lifo_slot", &self.lifo_slot)
            .field("slow_poll_threshold", &self.slow_poll_threshold)
            .field("observe", &self.observe)
            .field("metrics", &self.metrics)
            .field("timer_spin_limit", &self.timer_spin_limit)
            .field("wake_patience", &self.wake_patience)
            .field("stay_behind", &self.stay_behind)
            .field("worker_time_slice", &self.worker_time_slice)
            .field("blocking_nice", &self.blocking_nice)
            .field("blocking_time_slice", &self.blocking_time_slice)
            .field("blocking_cpu_slice", &self.blocking_cpu_slice)
            .field("testing", &self.testing)
            .field("compute_threads", &self.compute_threads)
            .field("compute_time_slice", &self.compute_time_slice)
            .finish_non_exhaustive()
    }
}
