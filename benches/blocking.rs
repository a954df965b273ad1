//! Blocking-pool throughput, kiln and tokio side by side in one run.
//!
//! `blocking_throughput`: 10 000 trivial `spawn_blocking` jobs, submitted 100 at a time and
//! each batch awaited before the next, from a task on a 2-worker runtime. This measures the
//! submit path, the hand-off to an idle pool thread and the completion wake-up back to the
//! awaiting task — the cost of offloading a small blocking call.
//!
//! `blocking_tick_lateness` (printed, not a criterion timing): while 64 CPU-bound jobs of about
//! 5 ms run on the pool, a task on the same 2-worker runtime sleeps 1 ms at a time and records
//! how late each wake-up is. Reports the median and p99 over several rounds for each runtime:
//! blocking work must not starve the event loop.

use criterion::{BenchmarkId, Criterion};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

const JOBS: u64 = 10_000;
const BATCH: u64 = 100;

fn kiln_batches(rt: &kiln::Runtime) -> u64 {
    rt.block_on(async {
        kiln::spawn(async {
            let mut sum = 0;
            for b in 0..JOBS / BATCH {
                let handles: Vec<_> = (0..BATCH)
                    .map(|i| kiln::spawn_blocking(move || b * BATCH + i))
                    .collect();
                for h in handles {
                    sum += h.await.unwrap();
                }
            }
            sum
        })
        .await
        .unwrap()
    })
}

fn tokio_batches(rt: &tokio::runtime::Runtime) -> u64 {
    rt.block_on(async {
        tokio::spawn(async {
            let mut sum = 0;
            for b in 0..JOBS / BATCH {
                let handles: Vec<_> = (0..BATCH)
                    .map(|i| tokio::task::spawn_blocking(move || b * BATCH + i))
                    .collect();
                for h in handles {
                    sum += h.await.unwrap();
                }
            }
            sum
        })
        .await
        .unwrap()
    })
}

fn blocking_throughput(c: &mut Criterion) {
    let expected = JOBS * (JOBS - 1) / 2;
    let kiln_rt = common::kiln_rt(2);
    let tokio_rt = common::tokio_rt(2);

    let mut group = c.benchmark_group("blocking_throughput");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function(BenchmarkId::from_parameter("kiln"), |b| {
        b.iter(|| assert_eq!(kiln_batches(&kiln_rt), expected))
    });
    group.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| assert_eq!(tokio_batches(&tokio_rt), expected))
    });
    group.finish();
}

const CPU_JOBS: usize = 64;
const CPU_JOB: Duration = Duration::from_millis(5);
const TICK: Duration = Duration::from_millis(1);
const ROUNDS: usize = 5;

/// Burns CPU for `d` without sleeping.
fn spin(d: Duration) -> u64 {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    x
}

fn kiln_lateness(rt: &kiln::Runtime) -> Vec<Duration> {
    rt.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let ticker = kiln::spawn(async move {
            let mut late = Vec::new();
            while !d.load(Ordering::Acquire) {
                let due = Instant::now() + TICK;
                kiln::time::sleep(TICK).await;
                late.push(Instant::now().saturating_duration_since(due));
            }
            late
        });
        let jobs: Vec<_> = (0..CPU_JOBS)
            .map(|_| kiln::spawn_blocking(|| spin(CPU_JOB)))
            .collect();
        for j in jobs {
            j.await.unwrap();
        }
        done.store(true, Ordering::Release);
        ticker.await.unwrap()
    })
}

fn tokio_lateness(rt: &tokio::runtime::Runtime) -> Vec<Duration> {
    rt.block_on(async {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let ticker = tokio::spawn(async move {
            let mut late = Vec::new();
            while !d.load(Ordering::Acquire) {
                let due = Instant::now() + TICK;
                tokio::time::sleep(TICK).await;
                late.push(Instant::now().saturating_duration_since(due));
            }
            late
        });
        let jobs: Vec<_> = (0..CPU_JOBS)
            .map(|_| tokio::task::spawn_blocking(|| spin(CPU_JOB)))
            .collect();
        for j in jobs {
            j.await.unwrap();
        }
        done.store(true, Ordering::Release);
        ticker.await.unwrap()
    })
}

fn report(id: &str, mut late: Vec<Duration>) {
    late.sort();
    let at = |q: usize| late[(late.len() * q / 100).min(late.len() - 1)];
    println!(
        "blocking_tick_lateness/{id}: ticks {} median {:?} p99 {:?} max {:?}",
        late.len(),
        at(50),
        at(99),
        late[late.len() - 1]
    );
}

fn tick_lateness() {
    let kiln_rt = common::kiln_rt(2);
    let tokio_rt = common::tokio_rt(2);
    let (mut kiln, mut tokio) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        kiln.extend(kiln_lateness(&kiln_rt));
        tokio.extend(tokio_lateness(&tokio_rt));
    }
    report("kiln", kiln);
    report("tokio", tokio);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    blocking_throughput(&mut c);
    c.final_summary();
    if common::runs_extra("blocking_tick_lateness") {
        tick_lateness();
    }
}
