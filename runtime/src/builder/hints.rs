//! The builder's OS scheduling hints for the runtime's threads: time slices and the blocking
//! pool's nice value (applied through `crate::sys`; Linux only, hints elsewhere ignored).

use super::Builder;
use std::time::Duration;

/// The largest [`Builder::sibling_wake_patience`] `build` accepts.
pub(super) const MAX_WAKE_PATIENCE: Duration = Duration::from_millis(10);

/// [`Builder::sibling_wake_patience`] by default.
pub(super) const DEFAULT_WAKE_PATIENCE: Duration = Duration::from_micros(200);

impl Builder {
    /// How long tasks that a worker's own I/O events and timers woke may wait in its queue,
    /// beyond the one it runs next, before it wakes a sleeping sibling for them, while every
    /// CPU already has a runnable thread (default 200 µs). `Duration::ZERO` wakes a sibling
    /// at once, as tokio does. Multi-thread flavor only; at most 10 ms, or `build` fails.
    /// Where [`Builder::stay_behind_busy_siblings`] applies (the runtime's running workers
    /// take every CPU that other threads leave), it decides instead; the patience covers the
    /// rest of the time every CPU is taken, when other threads alone fill them (busy
    /// neighbours, a load generator with a thread per CPU).
    ///
    /// When all CPUs are taken, a woken sibling has to wait for a CPU or take one from a thread
    /// the work depends on (a client on the same machine, the worker that would have run the
    /// tasks anyway), so a batch the worker drains within the patience only moves, at the
    /// price of a wake-up and a cache transfer. Tasks woken or spawned by a task's poll still
    /// wake a sibling at once. The cost is latency: a request at the end of a batch can wait up
    /// to the patience longer (or the current poll, if it runs longer). While a CPU is free
    /// (Linux: `/proc/loadavg` counts fewer runnable threads than CPUs, read at most every
    /// 2 ms by a busy worker) a sibling is woken at once; where the count is unknown it always
    /// is.
    ///
    /// Beside one busy loop per CPU on 2 CPUs, a hyper server whose route sleeps 1 ms spent
    /// 0.82× and 0.89× the CPU time per request of a zero patience in two runs (1.04× and
    /// 1.13× tokio's, against 1.27× and 1.28×; two shorter runs gave 0.78× and 1.01×), at
    /// 0.96–0.98× its requests per second (still 1.38–1.40× tokio's) and a p99 within 4 % of
    /// its own (0.75–0.80× tokio's); hello-world and `spawn_blocking` routes moved within the
    /// noise (`docs/tuning.md`). A request at the end of a batch can wait up to the patience
    /// longer (or the current poll, if it runs longer): set `Duration::ZERO` where the last
    /// percent of latency on a saturated machine matters more than CPU time.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .sibling_wake_patience(std::time::Duration::ZERO) // wake a sibling at once
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn sibling_wake_patience(&mut self, patience: Duration) -> &mut Builder {
        self.wake_patience = patience;
        self
    }

    /// Whether a worker may stay asleep behind a busy sibling while the runtime's running
    /// workers take every CPU that other threads leave (default on). Multi-thread flavor
    /// only.
    ///
    /// Each reading of the system's runnable threads (`/proc/loadavg` on Linux, at most one
    /// per 2 ms) also counts the workers not parked; while the other threads, steady over
    /// three readings, leave at least one CPU and the running workers take every CPU they
    /// leave, a running worker keeps the tasks its sockets wake instead of waking a sibling,
    /// and a worker that parks beside a busy sibling stays asleep behind it (its sockets
    /// served by the sibling) until notified, until its own timer, or until the sibling has
    /// not polled its sockets for 2 ms. Tasks that timers wake together still wake a sibling
    /// at once; when other threads alone fill every CPU, or while a CPU is free, nothing
    /// changes. Where the count cannot be read, workers wake siblings as if it were off.
    ///
    /// It pays where a server shares its CPUs with a client, a load generator or a sidecar
    /// that keeps about one CPU busy: on 2 CPUs with `wrk -t1` beside it, a hyper hello-world
    /// server served 1.15–1.27× tokio's requests per second at a p99 0.68–0.90× tokio's and
    /// 4–14 % less CPU per request (with it off: 0.93×, 1.20× and 14 % more). Turning it off
    /// (and [`Builder::sibling_wake_patience`] to zero) makes every batch of socket events
    /// wake a sibling at once, as tokio does; try that if the runnable count
    /// does not describe the CPUs this process runs on (a container whose `/proc/loadavg`
    /// counts a host's threads it shares no CPU with). See `docs/tuning.md`.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .stay_behind_busy_siblings(false)
    ///     .sibling_wake_patience(std::time::Duration::ZERO) // wake at once, as tokio does
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn stay_behind_busy_siblings(&mut self, on: bool) -> &mut Builder {
        self.stay_behind = on;
        self
    }

    /// The time slice each worker thread asks the OS scheduler for (default 100 µs);
    /// `Duration::ZERO` leaves the OS default. Multi-thread flavor only: a current-thread
    /// runtime runs on the caller's thread, whose settings are the caller's.
    ///
    /// On Linux 6.6 and later (the EEVDF scheduler) a thread may request a slice of 0.1–100 ms
    /// with `sched_setattr`, unprivileged. A short slice does not give a worker more CPU
    /// time; it makes the worker run soon after it wakes (since Linux 6.12 it preempts a
    /// running thread with a longer slice) instead of waiting behind CPU-bound threads. With
    /// [`Builder::blocking_cpu_slice`] it keeps timers and I/O on time while the blocking pool
    /// saturates every CPU. Elsewhere (older kernels, other systems, a worker given a
    /// real-time policy) the request does nothing.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .worker_time_slice(std::time::Duration::ZERO) // keep the OS default
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn worker_time_slice(&mut self, slice: Duration) -> &mut Builder {
        self.worker_time_slice = slice;
        self
    }

    /// The base time slice every blocking-pool thread asks the OS scheduler for;
    /// `Duration::ZERO` (the default) leaves the OS default. Linux 6.6 and later only, like
    /// [`Builder::worker_time_slice`]. A thread whose last job was CPU-bound holds
    /// [`Builder::blocking_cpu_slice`] instead.
    ///
    /// A long slice puts a pool thread's scheduling deadline far ahead, so a worker that wakes
    /// while pool threads keep every CPU busy runs first. It does not change the pool
    /// threads' CPU share. The cost, which `blocking_cpu_slice` avoids by giving the long
    /// slice to CPU-bound jobs only: a pool thread that wakes (a blocking read completed, a
    /// short job queued) while the CPUs are busy waits for its turn instead of preempting;
    /// with idle CPUs it runs at once as before.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .blocking_time_slice(std::time::Duration::from_millis(100)) // the longest Linux grants
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn blocking_time_slice(&mut self, slice: Duration) -> &mut Builder {
        self.blocking_time_slice = slice;
        self
    }

    /// The time slice a blocking-pool thread asks the OS scheduler for while it runs
    /// CPU-bound jobs (default 100 ms, the longest Linux grants); `Duration::ZERO` turns this
    /// off. Linux 6.6 and later only, like [`Builder::worker_time_slice`].
    ///
    /// A job is CPU-bound when it ran for at least 1 ms and the thread's CPU clock advanced by
    /// as much (the clock is read only around jobs that follow one that ran 1 ms, and a thread
    /// on its base slice times one job in eight, so a thread turning to CPU-bound work gets
    /// the slice after two to nine such jobs). After one, its thread asks for this slice;
    /// after a job that is not, for its base slice again ([`Builder::blocking_time_slice`]). A
    /// long slice puts the thread's scheduling deadline far ahead without changing its CPU
    /// share, so a worker that wakes while CPU-bound jobs keep every CPU busy runs first;
    /// threads that run short jobs or wait on blocking calls keep the base slice and run as
    /// soon as they wake.
    /// Beside one busy loop per CPU, two 1 ms tickers kept their p99 lateness at 1.04–1.66 ms
    /// instead of 3.7 ms while 64 CPU-bound 5 ms jobs were in flight (`docs/tuning.md`). A
    /// slice that an [`on_thread_start`](Builder::on_thread_start) hook gives a pool thread
    /// is replaced once the thread runs a CPU-bound job; set this to zero to keep it.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .blocking_cpu_slice(std::time::Duration::ZERO) // every job on the base slice
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn blocking_cpu_slice(&mut self, slice: Duration) -> &mut Builder {
        self.blocking_cpu_slice = slice;
        self
    }

    /// Raises the nice value of every blocking-pool thread by `nice` (default `0`, which leaves
    /// it; the result is capped at 19). Linux only; elsewhere, or if refused, nothing changes.
    ///
    /// A higher nice value gives pool threads a smaller CPU share than the workers when both
    /// want the CPU (at +15 about 1/28, at +10 about 1/9), so CPU-bound `spawn_blocking` jobs
    /// cannot crowd out the event loop; with [`Builder::blocking_cpu_slice`] it also makes a
    /// waking worker's scheduling deadline come first. (With 64 CPU-bound jobs on 2 CPUs, +10
    /// still let a 1 ms timer be late by milliseconds in about a third of the runs; +15 did
    /// not.) It never stops a pool thread from running: pool threads still get
    /// every CPU the workers leave idle, and blocking I/O, which mostly sleeps, hardly
    /// notices. But a lower weight also loses to every *other* process that wants the CPU: beside
    /// a busy neighbour process at normal priority, +15 pool threads get almost nothing, so the
    /// default is `0` (pool threads compete like any thread; the workers' short
    /// [`Builder::worker_time_slice`] still lets a waking worker run first). A thread cannot
    /// lower its nice value again without privilege, so the setting lasts for the pool
    /// thread's life (it only runs pool jobs).
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread().blocking_nice(10).build().unwrap();
    /// let n = rt.block_on(async { kiln::spawn_blocking(|| 6 * 7).await.unwrap() });
    /// assert_eq!(n, 42);
    /// ```
    pub fn blocking_nice(&mut self, nice: u8) -> &mut Builder {
        self.blocking_nice = nice;
        self
    }

    /// The time slice each compute-pool thread asks the OS scheduler for; `Duration::ZERO`
    /// (the default) leaves the OS default. Linux 6.6 and later only, like
    /// [`Builder::worker_time_slice`].
    ///
    /// A long slice (up to 100 ms) puts a compute thread's scheduling deadline far ahead, so a
    /// worker that wakes while compute jobs keep every CPU busy runs first. It does not change
    /// the compute threads' CPU share (unlike a nice value, it cannot let a busy neighbour
    /// process starve them). The cost: a compute thread that wakes while the CPUs are busy
    /// waits for its turn instead of preempting.
    ///
    /// ```
    /// let rt = kiln::Builder::new_multi_thread()
    ///     .compute_time_slice(std::time::Duration::from_millis(100))
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn compute_time_slice(&mut self, slice: Duration) -> &mut Builder {
        self.compute_time_slice = slice;
        self
    }
}
