//! Timer workloads, each run on kiln and on tokio (2 workers each) in the same process.
//!
//! Run: `cargo bench --bench timer`. Groups:
//! - `timer_churn`: register 100k timeouts (1–60 s, like request timeouts) by polling each
//!   once, then cancel them all: the insert and cancel paths alone, nothing fires.
//! - `sleeps_100k`: 100k tasks each sleep 1–50 ms; time until all are done. The p99 lateness
//!   (completion minus deadline) is printed in a table after the group.
//! - `tick_lateness_idle`: a 1 ms interval on an otherwise idle runtime. The measured "time"
//!   of one iteration is the lateness of one tick (completion minus its scheduled instant),
//!   so criterion's numbers are mean lateness; p50/p99/p99.9 and the process CPU time per
//!   tick over a separate run of `TABLE_TICKS` ticks per runtime are printed after the group.
//! - `tick_lateness_offload`: the same while two blocking-pool threads burn CPU
//!   (`spawn_blocking` offload load).

use criterion::{criterion_group, criterion_main, Criterion};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

const WORKERS: usize = 2;
const NUM_TIMERS: usize = 100_000;
const TICK: Duration = Duration::from_millis(1);
const OFFLOAD_THREADS: usize = 2;
/// Ticks per runtime behind each printed lateness table (criterion's own samples are fewer).
const TABLE_TICKS: u64 = 3_000;

fn kiln_rt() -> kiln::Runtime {
    common::kiln_rt(WORKERS)
}

fn tokio_rt() -> tokio::runtime::Runtime {
    common::tokio_rt(WORKERS)
}

/// The `i`-th duration of the 1–60 s spread (timeouts that get cancelled).
fn long_spread(i: usize) -> Duration {
    Duration::from_millis(1_000 + (i as u64 * 7_919) % 59_000)
}

/// The `i`-th duration of the 1–50 ms spread.
fn spread(i: usize) -> Duration {
    Duration::from_micros(1_000 + (i as u64 * 7_919) % 49_000)
}

/// Lateness samples in microseconds, per runtime, printed as a table, with the process CPU
/// time per sample where it was measured.
#[derive(Default)]
struct Table(Vec<Row>);

struct Row {
    name: &'static str,
    late: Vec<f64>,
    /// Process CPU time over the runs that produced `late`, if every one was measured.
    cpu: Option<Duration>,
}

impl Table {
    /// Adds `samples` of runtime `name`; `cpu` is the process CPU time they took, if measured.
    fn add(&mut self, name: &'static str, samples: &[f64], cpu: Option<Duration>) {
        match self.0.iter_mut().find(|r| r.name == name) {
            Some(r) => {
                r.late.extend_from_slice(samples);
                r.cpu = r.cpu.zip(cpu).map(|(a, b)| a + b);
            }
            None => self.0.push(Row {
                name,
                late: samples.to_vec(),
                cpu,
            }),
        }
    }

    fn print(&self, group: &str) {
        eprintln!(
            "\n{group}: lateness (µs)      p50       p99     p99.9       max   samples  cpu/sample"
        );
        for Row { name, late, cpu } in &self.0 {
            let mut v = late.clone();
            if v.is_empty() {
                continue;
            }
            v.sort_by(f64::total_cmp);
            let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
            let cpu = cpu.map_or("-".to_owned(), |c| {
                format!("{:.1} µs", micros(c) / v.len() as f64)
            });
            eprintln!(
                "{group}: {name:<14} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9} {cpu:>11}",
                q(0.5),
                q(0.99),
                q(0.999),
                q(1.0),
                v.len()
            );
        }
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Each workload written once for both runtimes.
macro_rules! workloads {
    ($modname:ident, $spawn:path, $spawn_blocking:path, $time:ident) => {
        mod $modname {
            use super::*;
            use std::future::{poll_fn, Future};
            use std::task::Poll;

            /// Registers `n` sleeps by polling each once, then drops (cancels) them all.
            pub async fn churn(n: usize) {
                let mut sleeps: Vec<_> = (0..n)
                    .map(|i| Box::pin($time::sleep(long_spread(i))))
                    .collect();
                poll_fn(|cx| {
                    for s in &mut sleeps {
                        assert!(s.as_mut().poll(cx).is_pending());
                    }
                    Poll::Ready(())
                })
                .await;
                drop(sleeps);
            }

            /// `n` tasks sleep 1–50 ms each; returns each one's lateness in µs.
            pub async fn sleeps(n: usize) -> Vec<f64> {
                let tasks: Vec<_> = (0..n)
                    .map(|i| {
                        $spawn(async move {
                            let s = $time::sleep(spread(i));
                            let deadline = Instant::from(s.deadline());
                            s.await;
                            micros(Instant::now() - deadline)
                        })
                    })
                    .collect();
                let mut late = Vec::with_capacity(n);
                for t in tasks {
                    late.push(t.await.unwrap());
                }
                late
            }

            /// `n` ticks of a 1 ms interval; returns each tick's lateness in µs.
            pub async fn ticks(n: u64) -> Vec<f64> {
                let start = $time::Instant::now() + TICK;
                let mut iv = $time::interval_at(start, TICK);
                iv.set_missed_tick_behavior($time::MissedTickBehavior::Skip);
                let mut late = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    let t = Instant::from(iv.tick().await);
                    late.push(micros(Instant::now() - t));
                }
                late
            }

            /// Starts `OFFLOAD_THREADS` blocking-pool closures that burn CPU until `stop`.
            pub fn offload(stop: &Arc<AtomicBool>) {
                for _ in 0..OFFLOAD_THREADS {
                    let stop = stop.clone();
                    drop($spawn_blocking(move || {
                        let mut x = 0u64;
                        while !stop.load(Relaxed) {
                            for i in 0..10_000u64 {
                                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                            }
                        }
                        x
                    }));
                }
            }
        }
    };
}

workloads!(on_kiln, kiln::spawn, kiln::spawn_blocking, ktime);
workloads!(on_tokio, tokio::spawn, tokio::task::spawn_blocking, ttime);

/// kiln's time module, with `Instant` as the std one.
mod ktime {
    pub use kiln::time::{interval_at, sleep, Instant, MissedTickBehavior};
}

/// tokio's time module, with `Instant` converted to and from std's at the edges.
mod ttime {
    pub use tokio::time::{interval_at, sleep, Instant, MissedTickBehavior};
}

fn timer_churn(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "timer_churn");
    g.sample_size(10);
    let rt = kiln_rt();
    g.bench("kiln", || {
        rt.block_on(rt.spawn(on_kiln::churn(NUM_TIMERS))).unwrap()
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench("tokio", || {
        rt.block_on(rt.spawn(on_tokio::churn(NUM_TIMERS))).unwrap()
    });
    g.finish();
}

fn sleeps_100k(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "sleeps_100k");
    g.sample_size(10);
    let table = Mutex::new(Table::default());
    let rt = kiln_rt();
    g.bench_custom("kiln", |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let late = rt.block_on(on_kiln::sleeps(NUM_TIMERS));
            table.lock().unwrap().add("kiln", &late, None);
        }
        start.elapsed()
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench_custom("tokio", |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let late = rt.block_on(on_tokio::sleeps(NUM_TIMERS));
            table.lock().unwrap().add("tokio", &late, None);
        }
        start.elapsed()
    });
    g.finish();
    table.lock().unwrap().print("sleeps_100k");
}

/// One tick-lateness group; with `load`, each runtime carries the offload load
/// (`OFFLOAD_THREADS` burning blocking-pool closures) while it ticks.
///
/// The lateness table's run of `TABLE_TICKS` ticks follows criterion's samples. Inside the
/// first (warm-up) call, its seconds of wall time would count as that call's elapsed time,
/// criterion would then size every sample at one iteration, and the CPU figure per iteration
/// would be one spawn, one tick and one join instead of a tick. Its CPU time per tick is
/// printed with the table (`cpu/sample`), a figure over thousands of ticks.
fn tick_group(c: &mut Criterion, group: &str, load: bool) {
    let mut g = common::cpu::group(c, group);
    // Each iteration reports one tick's lateness, not its wall time: keep the budgets small
    // so criterion's iteration counts stay near a few thousand 1 ms ticks.
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(50))
        .measurement_time(Duration::from_millis(100))
        .sampling_mode(criterion::SamplingMode::Flat);
    let mut table = Table::default();
    let stop = Arc::new(AtomicBool::new(false));
    let rt = kiln_rt();
    let mut ran = false;
    g.bench_custom("kiln", |iters| {
        // The load starts only when this benchmark is selected (criterion discards this
        // first, warm-up call; so does the CPU recorder).
        if !std::mem::replace(&mut ran, true) && load {
            let _enter = rt.enter();
            on_kiln::offload(&stop);
        }
        let late = rt.block_on(rt.spawn(on_kiln::ticks(iters))).unwrap();
        Duration::from_secs_f64(late.iter().sum::<f64>() / 1e6)
    });
    if ran {
        let (late, _, cpu) =
            common::cpu::measure(|| rt.block_on(rt.spawn(on_kiln::ticks(TABLE_TICKS))).unwrap());
        table.add("kiln", &late, Some(cpu));
    }
    stop.store(true, Relaxed);
    drop(rt);
    let stop = Arc::new(AtomicBool::new(false));
    let rt = tokio_rt();
    let mut ran = false;
    g.bench_custom("tokio", |iters| {
        if !std::mem::replace(&mut ran, true) && load {
            let _enter = rt.enter();
            on_tokio::offload(&stop);
        }
        let late = rt.block_on(rt.spawn(on_tokio::ticks(iters))).unwrap();
        Duration::from_secs_f64(late.iter().sum::<f64>() / 1e6)
    });
    if ran {
        let (late, _, cpu) =
            common::cpu::measure(|| rt.block_on(rt.spawn(on_tokio::ticks(TABLE_TICKS))).unwrap());
        table.add("tokio", &late, Some(cpu));
    }
    stop.store(true, Relaxed);
    drop(rt);
    g.finish();
    table.print(group);
}

fn tick_lateness_idle(c: &mut Criterion) {
    tick_group(c, "tick_lateness_idle", false);
}

fn tick_lateness_offload(c: &mut Criterion) {
    tick_group(c, "tick_lateness_offload", true);
}

/// The benchmark groups (in a private module so the generated function needs no docs).
mod groups {
    use super::*;
    criterion_group!(
        benches,
        timer_churn,
        sleeps_100k,
        tick_lateness_idle,
        tick_lateness_offload
    );
}
criterion_main!(groups::benches);
