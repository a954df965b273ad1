//! Blocking-pool throughput, kiln and tokio side by side in one run.
//!
//! `blocking_throughput`: 10 000 trivial `spawn_blocking` jobs, submitted 100 at a time and
//! each batch awaited before the next, from a task on a 2-worker runtime. This measures the
//! submit path, the hand-off to an idle pool thread and the completion wake-up back to the
//! awaiting task — the cost of offloading a small blocking call.

use criterion::{BenchmarkId, Criterion};
use std::time::Duration;

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
    let kiln_rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("kiln runtime");
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");

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

fn main() {
    let mut c = Criterion::default().configure_from_args();
    blocking_throughput(&mut c);
    c.final_summary();
}
