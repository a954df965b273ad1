//! What timers cost a mostly idle server: CPU time per second of wall, and lateness, kiln and
//! tokio (2 workers each) in the same process, rounds alternating kiln/tokio, medians printed.
//!
//! Run: `cargo bench --bench timers_idle [-- FILTER] [-- --rounds N]`. Cases:
//! - `idle_timeouts/N/RANGE`: N tasks (1,000 and 10,000) each re-arming a sleep of a
//!   pseudo-random length in RANGE (5–50 ms, like poll intervals; 0.5–1 s, like connection
//!   timeouts; 1–5 ms, short sleeps, which kiln coalesces on the finest grids) for a fixed
//!   wall time (1 s and 3 s). Every completed sleep's lateness
//!   (completion minus deadline) is recorded.
//! - `ticker_1ms`: one task, a 1 ms interval (missed ticks skipped), 1,000 ticks.
//! - `ticker_1ms_precise`: the same with kiln in precise mode (`timer_spin_limit(250 µs)`),
//!   against tokio's default: what precise mode's tail costs in CPU.
//! - `tickers_4x1ms`: four tasks on the runtime's workers, each a 1 ms interval, their ticks
//!   a quarter of a millisecond apart, 1,000 ticks each: timers too few for the busy floor to
//!   merge them and too many for each to be free (tokio fires all four on one 1 ms tick).
//! - `ticker_1ms_thread`: no runtime, the reference for the two above: one thread sleeping
//!   (`std::thread::sleep`, 1 ns timer slack like kiln's `block_on` thread) until each 1 ms
//!   deadline. Its lateness is how late this machine wakes a sleeping thread at all, the floor
//!   for any runtime that does not spin.
//!
//! CPU is the process's user + system time (`getrusage(RUSAGE_SELF)`, all threads) over the
//! measured wall time, taken after the tasks are spawned; only one runtime exists at a time.
//! Lateness goes into a 1 µs-resolution histogram of atomics (both runtimes pay the same).
//! Under `cargo test --benches` (no `--bench` argument) each case runs once, briefly, as a
//! smoke test.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::cpu::process_cpu;

const WORKERS: usize = 2;
const DEFAULT_ROUNDS: usize = 3;
const TICKS: u64 = 1_000;
const TICK: Duration = Duration::from_millis(1);
/// kiln's `timer_spin_limit` in the `ticker_1ms_precise` case (precise mode).
const PRECISE_SPIN_LIMIT: Duration = Duration::from_micros(250);
/// Lateness histogram range: 1 µs buckets up to this many µs (later ones land in the last).
const HIST_US: usize = 200_000;

/// One idle-timeout case.
struct Case {
    name: &'static str,
    tasks: usize,
    min: Duration,
    max: Duration,
    wall: Duration,
    /// The smoke run waits (up to a generous bound) past `wall` until this many sleeps have
    /// completed, so a loaded machine cannot fail it; the measured cases use 0.
    min_samples: u64,
}

const CASES: &[Case] = &[
    Case {
        name: "idle_timeouts/1000/1-5ms",
        tasks: 1_000,
        min: Duration::from_millis(1),
        max: Duration::from_millis(5),
        wall: Duration::from_secs(1),
        min_samples: 0,
    },
    Case {
        name: "idle_timeouts/1000/5-50ms",
        tasks: 1_000,
        min: Duration::from_millis(5),
        max: Duration::from_millis(50),
        wall: Duration::from_secs(1),
        min_samples: 0,
    },
    Case {
        name: "idle_timeouts/10000/5-50ms",
        tasks: 10_000,
        min: Duration::from_millis(5),
        max: Duration::from_millis(50),
        wall: Duration::from_secs(1),
        min_samples: 0,
    },
    Case {
        name: "idle_timeouts/1000/0.5-1s",
        tasks: 1_000,
        min: Duration::from_millis(500),
        max: Duration::from_millis(1_000),
        wall: Duration::from_secs(3),
        min_samples: 0,
    },
    Case {
        name: "idle_timeouts/10000/0.5-1s",
        tasks: 10_000,
        min: Duration::from_millis(500),
        max: Duration::from_millis(1_000),
        wall: Duration::from_secs(3),
        min_samples: 0,
    },
];

/// Lateness counts in 1 µs buckets, shared by every task of a round, and their total.
struct Hist(Vec<AtomicU64>, AtomicU64);

impl Hist {
    fn new() -> Arc<Hist> {
        Arc::new(Hist(
            (0..HIST_US).map(|_| AtomicU64::new(0)).collect(),
            AtomicU64::new(0),
        ))
    }

    fn record(&self, deadline: Instant) {
        let late = Instant::now()
            .saturating_duration_since(deadline)
            .as_micros();
        let i = (late as usize).min(HIST_US - 1);
        self.0[i].fetch_add(1, Relaxed);
        self.1.fetch_add(1, Relaxed);
    }

    fn total(&self) -> u64 {
        self.1.load(Relaxed)
    }

    /// (p50, p99) in µs, and the number of samples.
    fn quantiles(&self) -> (f64, f64, u64) {
        let counts: Vec<u64> = self.0.iter().map(|c| c.load(Relaxed)).collect();
        let n: u64 = counts.iter().sum();
        let q = |p: f64| {
            let rank = ((n.saturating_sub(1)) as f64 * p).round() as u64;
            let mut seen = 0;
            for (us, c) in counts.iter().enumerate() {
                seen += c;
                if seen > rank {
                    return us as f64;
                }
            }
            f64::NAN
        };
        (q(0.5), q(0.99), n)
    }
}

/// One round's figures.
#[derive(Clone, Copy)]
struct Round {
    cpu_ms_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    samples: u64,
}

impl Round {
    /// A round's figures from its lateness histogram, and the CPU and wall time it took.
    fn new(hist: &Hist, cpu: Duration, wall: Duration) -> Round {
        let (p50_us, p99_us, samples) = hist.quantiles();
        Round {
            cpu_ms_per_s: cpu.as_secs_f64() * 1e3 / wall.as_secs_f64(),
            p50_us,
            p99_us,
            samples,
        }
    }
}

/// A small xorshift generator, one per task.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

fn pick(rnd: &mut impl FnMut() -> u64, min: Duration, max: Duration) -> Duration {
    let span = (max - min).as_micros() as u64;
    min + Duration::from_micros(rnd() % (span + 1))
}

/// Each workload written once for both runtimes.
macro_rules! workloads {
    ($modname:ident, $rt:path, $rtty:ty, $spawn:path, $time:ident) => {
        mod $modname {
            use super::*;

            /// Runs `case` on a fresh runtime: spawns the tasks, measures CPU over its wall time.
            pub fn idle(case: &Case) -> Round {
                let rt = $rt(WORKERS);
                let hist = Hist::new();
                let stop = Arc::new(AtomicBool::new(false));
                let (min, max) = (case.min, case.max);
                {
                    let _enter = rt.enter();
                    for i in 0..case.tasks {
                        let (hist, stop) = (hist.clone(), stop.clone());
                        drop($spawn(async move {
                            let mut rnd = rng(i as u64 + 1);
                            while !stop.load(Relaxed) {
                                let deadline = Instant::now() + pick(&mut rnd, min, max);
                                $time::sleep_until(deadline.into()).await;
                                hist.record(deadline);
                            }
                        }));
                    }
                }
                let cpu = process_cpu();
                let start = Instant::now();
                std::thread::sleep(case.wall);
                while hist.total() < case.min_samples && start.elapsed() < Duration::from_secs(60) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let (cpu, wall) = (process_cpu() - cpu, start.elapsed());
                stop.store(true, Relaxed);
                drop(rt);
                Round::new(&hist, cpu, wall)
            }

            /// `ticks` ticks of a 1 ms interval on a fresh runtime.
            pub fn ticker(ticks: u64) -> Round {
                ticker_on($rt(WORKERS), ticks)
            }

            /// `ticks` ticks of a 1 ms interval whose first tick is at `first` (missed ticks
            /// skipped), each one's lateness recorded in `hist`.
            async fn tick(hist: Arc<Hist>, first: $time::Instant, ticks: u64) {
                let mut iv = $time::interval_at(first, TICK);
                iv.set_missed_tick_behavior($time::MissedTickBehavior::Skip);
                for _ in 0..ticks {
                    let at = iv.tick().await;
                    hist.record(at.into());
                }
            }

            /// `ticks` ticks of a 1 ms interval on `rt`.
            pub fn ticker_on(rt: $rtty, ticks: u64) -> Round {
                let hist = Hist::new();
                let cpu = process_cpu();
                let start = Instant::now();
                rt.block_on(tick(hist.clone(), $time::Instant::now() + TICK, ticks));
                let (cpu, wall) = (process_cpu() - cpu, start.elapsed());
                drop(rt);
                Round::new(&hist, cpu, wall)
            }

            /// `k` spawned tasks, each `ticks` ticks of a 1 ms interval, their ticks `1/k` ms
            /// apart, on a fresh runtime.
            pub fn tickers(k: u32, ticks: u64) -> Round {
                let rt = $rt(WORKERS);
                let hist = Hist::new();
                let cpu = process_cpu();
                let start = Instant::now();
                let first = $time::Instant::now() + TICK;
                let tasks: Vec<_> = {
                    let _enter = rt.enter();
                    (0..k)
                        .map(|i| $spawn(tick(hist.clone(), first + TICK * i / k, ticks)))
                        .collect()
                };
                rt.block_on(async move {
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                let (cpu, wall) = (process_cpu() - cpu, start.elapsed());
                drop(rt);
                Round::new(&hist, cpu, wall)
            }
        }
    };
}

workloads!(on_kiln, common::kiln_rt, kiln::Runtime, kiln::spawn, ktime);
workloads!(
    on_tokio,
    common::tokio_rt,
    tokio::runtime::Runtime,
    tokio::spawn,
    ttime
);

mod ktime {
    pub use kiln::time::{interval_at, sleep_until, Instant, MissedTickBehavior};
}

mod ttime {
    pub use tokio::time::{interval_at, sleep_until, Instant, MissedTickBehavior};
}

/// `ticks` ticks of 1 ms on the calling thread with no runtime: sleep until each deadline,
/// skipping missed ones, as `MissedTickBehavior::Skip` does.
fn thread_ticker(ticks: u64) -> Round {
    common::cpu::set_thread_timer_slack(1);
    let hist = Hist::new();
    let cpu = process_cpu();
    let start = Instant::now();
    let mut deadline = start + TICK;
    for _ in 0..ticks {
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        hist.record(deadline);
        let now = Instant::now();
        deadline += TICK;
        while deadline <= now {
            deadline += TICK;
        }
    }
    let (cpu, wall) = (process_cpu() - cpu, start.elapsed());
    common::cpu::set_thread_timer_slack(50_000);
    Round::new(&hist, cpu, wall)
}

/// A kiln runtime in precise mode (`timer_spin_limit`), for `ticker_1ms_precise`.
fn precise_rt() -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .timer_spin_limit(PRECISE_SPIN_LIMIT)
        .build()
        .expect("kiln runtime")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Prints one table row: the medians of `v`'s rounds, and each round's CPU.
fn row(name: &str, rt: &str, v: &[Round]) {
    let m = |f: fn(&Round) -> f64| median(v.iter().map(f).collect());
    let cpu: Vec<String> = v.iter().map(|r| format!("{:.0}", r.cpu_ms_per_s)).collect();
    println!(
        "{name:<28} {rt:<6} {:>9.1} {:>9.0} {:>9.0} {:>9.0}   [{}]",
        m(|r| r.cpu_ms_per_s),
        m(|r| r.p50_us),
        m(|r| r.p99_us),
        m(|r| r.samples as f64),
        cpu.join(" ")
    );
}

/// Runs `kiln` and `tokio` alternately `rounds` times and prints one table row per runtime.
fn compare(name: &str, rounds: usize, kiln: impl Fn() -> Round, tokio: impl Fn() -> Round) {
    let (mut k, mut t) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        k.push(kiln());
        t.push(tokio());
    }
    row(name, "kiln", &k);
    row(name, "tokio", &t);
    let ratio = median(k.iter().map(|r| r.cpu_ms_per_s).collect())
        / median(t.iter().map(|r| r.cpu_ms_per_s).collect());
    println!("{name:<28} CPU kiln/tokio {ratio:.2}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let mut rounds = DEFAULT_ROUNDS;
    let mut filters = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => {
                rounds = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .expect("--rounds takes a positive number")
            }
            a if a.starts_with('-') => {}
            a => filters.push(a.to_owned()),
        }
    }
    let selected = |name: &str| filters.iter().all(|f| name.contains(f.as_str()));
    if !bench {
        // Smoke run under `cargo test --benches`: every workload once, briefly.
        let case = Case {
            name: "smoke",
            tasks: 100,
            min: Duration::from_millis(1),
            max: Duration::from_millis(5),
            wall: Duration::from_millis(50),
            min_samples: 100,
        };
        for r in [on_kiln::idle(&case), on_tokio::idle(&case)] {
            assert!(r.samples >= 100, "sleeps did not complete within a minute");
        }
        let precise = on_kiln::ticker_on(precise_rt(), 20);
        let thread = thread_ticker(20);
        for r in [on_kiln::ticker(20), on_tokio::ticker(20), precise, thread] {
            assert_eq!(r.samples, 20);
        }
        for r in [on_kiln::tickers(4, 20), on_tokio::tickers(4, 20)] {
            assert_eq!(r.samples, 80);
        }
        return;
    }
    println!(
        "{:<28} {:<6} {:>9} {:>9} {:>9} {:>9}   [CPU ms/s of each round]",
        "case (medians of rounds)", "rt", "CPU ms/s", "p50 µs", "p99 µs", "samples"
    );
    for case in CASES.iter().filter(|c| selected(c.name)) {
        compare(
            case.name,
            rounds,
            || on_kiln::idle(case),
            || on_tokio::idle(case),
        );
    }
    if selected("ticker_1ms") {
        compare(
            "ticker_1ms",
            rounds,
            || on_kiln::ticker(TICKS),
            || on_tokio::ticker(TICKS),
        );
    }
    if selected("ticker_1ms_precise") {
        compare(
            "ticker_1ms_precise",
            rounds,
            || on_kiln::ticker_on(precise_rt(), TICKS),
            || on_tokio::ticker(TICKS),
        );
    }
    if selected("tickers_4x1ms") {
        compare(
            "tickers_4x1ms",
            rounds,
            || on_kiln::tickers(4, TICKS),
            || on_tokio::tickers(4, TICKS),
        );
    }
    if selected("ticker_1ms_thread") {
        let v: Vec<Round> = (0..rounds).map(|_| thread_ticker(TICKS)).collect();
        row("ticker_1ms_thread", "thread", &v);
    }
}
