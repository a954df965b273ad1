//! Subprocesses, kiln and tokio side by side in one run.
//!
//! `process_spawn`: 1,000 `true` processes, each spawned and awaited by its own task, all
//! tasks at once, on a 2-worker runtime. This measures `fork`/`exec` through std's
//! `Command::spawn` (the same in both), registering the child's exit (kiln: a pidfd on the
//! event loop; tokio: its own pidfd reaper or SIGCHLD) and the wake-up when it exits.
//!
//! `process_spawn_cpu` (printed under `cargo bench`, not a criterion timing): the same
//! workload in interleaved rounds (kiln, tokio, kiln, tokio, ...), with the wall time and the
//! CPU time of this process (user + system, all threads, from `getrusage`) of each round;
//! prints the medians and the kiln/tokio ratios.

use criterion::{BenchmarkId, Criterion};
use std::time::{Duration, Instant};

mod common;

const CHILDREN: usize = 1000;
const ROUNDS: usize = 7;

fn kiln_spawn_all(rt: &kiln::Runtime) {
    rt.block_on(async {
        let tasks: Vec<_> = (0..CHILDREN)
            .map(|_| kiln::spawn(async { kiln::process::Command::new("true").status().await }))
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap().success());
        }
    })
}

fn tokio_spawn_all(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let tasks: Vec<_> = (0..CHILDREN)
            .map(|_| tokio::spawn(async { tokio::process::Command::new("true").status().await }))
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap().success());
        }
    })
}

fn process_spawn(c: &mut Criterion) {
    let kiln_rt = common::kiln_rt(2);
    let tokio_rt = common::tokio_rt(2);
    let mut group = c.benchmark_group("process_spawn");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(BenchmarkId::from_parameter("kiln"), |b| {
        b.iter(|| kiln_spawn_all(&kiln_rt))
    });
    group.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| tokio_spawn_all(&tokio_rt))
    });
    group.finish();
}

/// This process's CPU time so far (user + system, every thread).
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` fills the zeroed struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// `(wall, cpu)` of one run of `f`.
fn measure(f: impl FnOnce()) -> (Duration, Duration) {
    let (wall, cpu) = (Instant::now(), cpu_time());
    f();
    (wall.elapsed(), cpu_time() - cpu)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn process_spawn_cpu() {
    let kiln_rt = common::kiln_rt(2);
    let tokio_rt = common::tokio_rt(2);
    // Warm-up: page in both paths.
    kiln_spawn_all(&kiln_rt);
    tokio_spawn_all(&tokio_rt);
    let (mut kw, mut kc, mut tw, mut tc) = (vec![], vec![], vec![], vec![]);
    for _ in 0..ROUNDS {
        let (w, c) = measure(|| kiln_spawn_all(&kiln_rt));
        kw.push(w);
        kc.push(c);
        let (w, c) = measure(|| tokio_spawn_all(&tokio_rt));
        tw.push(w);
        tc.push(c);
    }
    let (kw, kc, tw, tc) = (median(kw), median(kc), median(tw), median(tc));
    println!(
        "process_spawn_cpu: {CHILDREN} `true` children, {ROUNDS} interleaved rounds, medians:\n  \
         kiln  wall {kw:?}  cpu {kc:?}\n  tokio wall {tw:?}  cpu {tc:?}\n  \
         kiln/tokio: wall {:.3}, cpu {:.3}",
        kw.as_secs_f64() / tw.as_secs_f64(),
        kc.as_secs_f64() / tc.as_secs_f64()
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    process_spawn(&mut c);
    c.final_summary();
    if common::runs_extra("process_spawn_cpu") {
        process_spawn_cpu();
    }
}
