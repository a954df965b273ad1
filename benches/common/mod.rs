//! The runtimes every side-by-side bench builds: kiln and tokio, multi-threaded, with the
//! same number of workers (tokio with its I/O and time drivers on, as kiln always has them).

/// A kiln multi-thread runtime with `workers` workers.
///
/// These variables set hints, to compare with builds that had other defaults (each default:
/// kiln's own):
/// - `KILN_BENCH_TIMER_SPIN_US=N`: `timer_spin_limit` of N µs (earlier builds spun 250 µs);
/// - `KILN_BENCH_BLOCKING_NICE=N`: `blocking_nice(N)` (earlier builds used 15);
/// - `KILN_BENCH_BLOCKING_SLICE_MS=N`: `blocking_time_slice` of N ms (earlier builds: 100);
/// - `KILN_BENCH_WORKER_SLICE_US=N`: `worker_time_slice` of N µs (0: the OS default), which a
///   `block_on` thread borrows too.
pub fn kiln_rt(workers: usize) -> kiln::Runtime {
    let mut b = kiln::Builder::new_multi_thread();
    b.worker_threads(workers);
    if let Some(us) = hint("KILN_BENCH_TIMER_SPIN_US") {
        b.timer_spin_limit(std::time::Duration::from_micros(us));
    }
    if let Some(nice) = hint("KILN_BENCH_BLOCKING_NICE") {
        let nice = u8::try_from(nice).expect("KILN_BENCH_BLOCKING_NICE takes 0 to 19");
        b.blocking_nice(nice);
    }
    if let Some(ms) = hint("KILN_BENCH_BLOCKING_SLICE_MS") {
        b.blocking_time_slice(std::time::Duration::from_millis(ms));
    }
    if let Some(us) = hint("KILN_BENCH_WORKER_SLICE_US") {
        b.worker_time_slice(std::time::Duration::from_micros(us));
    }
    b.build().expect("kiln runtime")
}

/// The whole number in environment variable `name`, if set.
///
/// # Panics
/// If it is set to anything else, naming the variable.
fn hint(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} takes a whole number, not {value:?}")),
    )
}

/// A tokio multi-thread runtime with `workers` workers and every driver enabled.
pub fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Whether a printed extra part of a bench (not a criterion group) named `name` should run:
/// only under `cargo bench` (not `cargo test --benches`), unfiltered or filtered to it.
#[allow(
    dead_code,
    reason = "used by the benches that print extra parts, not by every bench"
)]
pub fn runs_extra(name: &str) -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    args.iter().any(|a| a == "--bench") && filters(&args).all(|f| name.contains(f))
}

/// The positional (filter) arguments, skipping the values of criterion's options.
#[allow(dead_code, reason = "used through `runs_extra` only")]
fn filters(args: &[String]) -> impl Iterator<Item = &str> {
    const TAKES_VALUE: &[&str] = &[
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--load-baseline",
        "-c",
        "--color",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--output-format",
        "--plotting-backend",
    ];
    let mut skip = false;
    args.iter().filter_map(move |a| {
        if std::mem::take(&mut skip) {
            return None;
        }
        if a.starts_with('-') {
            skip = TAKES_VALUE.contains(&a.as_str());
            return None;
        }
        Some(a.as_str())
    })
}

/// The environment variable `name` parsed as a `T`, or `default` when it is unset or does not
/// parse (the benches' knobs, such as `BENCH_WORKERS`).
#[allow(dead_code, reason = "used by the benches that take such a knob")]
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The sizes of the scheduler workloads (`spawn_many`, `yield_many`, `ping_pong`,
/// `chained_spawn`), shared by `scheduler.rs` and `observe.rs` so that their figures describe
/// the same work.
#[allow(dead_code, reason = "used by the scheduler and observe benches only")]
pub mod workload {
    /// Tasks spawned by `spawn_many`.
    pub const NUM_SPAWN: usize = 10_000;
    /// Tasks in `yield_many`, each yielding [`NUM_YIELD`] times.
    pub const YIELD_TASKS: usize = 200;
    /// Yields per task in `yield_many`.
    pub const NUM_YIELD: usize = 1_000;
    /// Task pairs in `ping_pong`.
    pub const NUM_PINGS: usize = 1_000;
    /// Length of the `chained_spawn` chain.
    pub const CHAIN: usize = 1_000;
}

/// Process CPU time recorded next to criterion's wall time (see the module docs).
#[allow(
    dead_code,
    reason = "each bench uses the parts it needs: criterion groups or printed rounds"
)]
pub mod cpu;
