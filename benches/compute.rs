//! CPU-heavy work from async code: kiln's compute pool and `ThreadPool` against tokio's
//! `spawn_blocking` (and rayon), in one process run. Printed reports, no criterion timings.
//!
//! `compute_hybrid`: on a 2-worker runtime, two tasks tick every 1 ms and record how late each
//! wake-up is, while batches of 64 CPU-bound jobs of 5 ms of CPU each are in flight
//! (`kiln::spawn_compute` against `tokio::task::spawn_blocking`). Reports tick lateness
//! (median, p99), jobs/s, the peak OS thread count of the process (read from
//! `/proc/self/task` every 0.5 ms; no other runtime exists during a round) and CPU time
//! (getrusage) next to wall time. Every round builds a fresh runtime and warms its pool with one
//! untimed batch. For reference, the same rounds also run the jobs through kiln's
//! `spawn_blocking` (its elastic pool, with the builder's default scheduling hints: none for
//! pool threads), and through a compute pool whose threads ask for a 100 ms time slice
//! (`Builder::compute_time_slice`). Rounds alternate, first on a quiet machine, then with a
//! busy neighbour: one busy-looping child process per CPU at normal priority, started and
//! stopped by the bench.
//!
//! `compute_tiny_jobs`: 100 000 trivial jobs submitted from a plain thread and then awaited:
//! kiln's `ThreadPool::spawn` (2 threads), tokio's `spawn_blocking` (2 workers, its default
//! blocking pool), and rayon's `spawn` (2 threads) with a oneshot channel per job. Reports
//! jobs/s and CPU time; rounds alternate.
//!
//! A job is a fixed amount of work (calibrated once to 5 ms of thread CPU time), not "spin until
//! 5 ms of wall time passed": with more threads than CPUs the latter would finish early.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[allow(
    dead_code,
    reason = "this bench builds its own runtimes; it uses the CPU recorder and filter helper"
)]
mod common;

use common::cpu::{process_cpu, rusage_cpu};

const WORKERS: usize = 2;
const JOBS_IN_FLIGHT: usize = 64;
const BATCHES: usize = 3;
const ROUNDS: usize = 5;
const TICK: Duration = Duration::from_millis(1);
const TINY_JOBS: u64 = 100_000;
const TINY_ROUNDS: usize = 7;
/// Set in the environment of the busy neighbour processes (they re-run this binary).
const BUSY_ENV: &str = "KILN_BENCH_BUSY_NEIGHBOUR";

/// A fixed amount of integer work.
fn work(iters: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..iters {
        x = std::hint::black_box(x.rotate_left(5) ^ i).wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
}

/// Iterations of [`work`] that take about 5 ms of this thread's CPU time.
fn calibrate() -> u64 {
    let mut iters = 100_000u64;
    loop {
        let before = rusage_cpu(libc::RUSAGE_THREAD);
        std::hint::black_box(work(iters));
        let spent = rusage_cpu(libc::RUSAGE_THREAD) - before;
        if spent >= Duration::from_millis(50) {
            return (iters as f64 * 5.0 / spent.as_secs_f64() / 1000.0) as u64;
        }
        iters *= 2;
    }
}

fn threads_now() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

/// Waits (at most 5 s) until the threads of earlier rounds' runtimes have exited: a pool
/// counts a thread out before the OS thread is gone.
fn settle_threads() {
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads_now() > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Samples the process's thread count until dropped; `peak()` is the highest seen.
struct ThreadSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ThreadSampler {
    fn start() -> ThreadSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(threads_now(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(500));
            }
        });
        ThreadSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// What one hybrid round measured.
#[derive(Default)]
struct Hybrid {
    late: Vec<Duration>,
    jobs_per_s: Vec<f64>,
    peak_threads: Vec<usize>,
    wall: Vec<Duration>,
    cpu: Vec<Duration>,
}

impl Hybrid {
    /// Prints the figures; saves the rounds' wall and CPU time as group `group`, id `id`.
    fn report(&mut self, group: &str, id: &str) {
        let rounds: Vec<_> = self
            .wall
            .iter()
            .copied()
            .zip(self.cpu.iter().copied())
            .collect();
        common::cpu::save_rounds(group, id, &rounds);
        let id = &format!("{}/{id}", group.trim_start_matches("compute_hybrid_"));
        self.late.sort();
        let at = |q: usize| self.late[(self.late.len() * q / 100).min(self.late.len() - 1)];
        println!(
            "compute_hybrid/{id}: ticks {} median {:?} p99 {:?} max {:?} | jobs/s median {:.0} \
             | peak threads max {} | wall median {:?} cpu median {:?}",
            self.late.len(),
            at(50),
            at(99),
            self.late[self.late.len() - 1],
            median_f(&mut self.jobs_per_s),
            self.peak_threads.iter().max().unwrap(),
            median(&mut self.wall),
            median(&mut self.cpu),
        );
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_f(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the tickers while `batches` run; returns the lateness of every tick.
macro_rules! hybrid_round {
    ($out:expr, $rt:expr, $spawn:path, $sleep:path, $job:expr, $iters:expr) => {{
        let iters = $iters;
        settle_threads();
        let rt = $rt;
        let sampler = ThreadSampler::start();
        rt.block_on(async {
            // Warm-up: start the pool's threads.
            let warm: Vec<_> = (0..JOBS_IN_FLIGHT)
                .map(|_| $job(move || work(iters)))
                .collect();
            for j in warm {
                j.await.unwrap();
            }
            let done = Arc::new(AtomicBool::new(false));
            let tickers: Vec<_> = (0..2)
                .map(|_| {
                    let d = done.clone();
                    $spawn(async move {
                        let mut late = Vec::new();
                        while !d.load(Ordering::Acquire) {
                            let due = Instant::now() + TICK;
                            $sleep(TICK).await;
                            late.push(Instant::now().saturating_duration_since(due));
                        }
                        late
                    })
                })
                .collect();
            let (start, cpu) = (Instant::now(), process_cpu());
            for _ in 0..BATCHES {
                let jobs: Vec<_> = (0..JOBS_IN_FLIGHT)
                    .map(|_| $job(move || work(iters)))
                    .collect();
                for j in jobs {
                    j.await.unwrap();
                }
            }
            let (wall, cpu) = (start.elapsed(), process_cpu() - cpu);
            done.store(true, Ordering::Release);
            for t in tickers {
                $out.late.extend(t.await.unwrap());
            }
            $out.jobs_per_s
                .push((BATCHES * JOBS_IN_FLIGHT) as f64 / wall.as_secs_f64());
            $out.wall.push(wall);
            $out.cpu.push(cpu);
        });
        drop(rt);
        $out.peak_threads.push(sampler.finish());
    }};
}

fn kiln_runtime() -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .unwrap()
}

/// The compute pool with the long-slice hint (`Builder::compute_time_slice`), to compare.
fn kiln_runtime_long_slice() -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .compute_time_slice(Duration::from_millis(100))
        .build()
        .unwrap()
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .unwrap()
}

fn hybrid(label: &str, iters: u64) {
    let (mut kiln, mut tokio) = (Hybrid::default(), Hybrid::default());
    let mut kiln_elastic = Hybrid::default();
    let mut kiln_long_slice = Hybrid::default();
    for _ in 0..ROUNDS {
        hybrid_round!(
            kiln_long_slice,
            kiln_runtime_long_slice(),
            kiln::spawn,
            kiln::time::sleep,
            kiln::spawn_compute,
            iters
        );
        hybrid_round!(
            kiln,
            kiln_runtime(),
            kiln::spawn,
            kiln::time::sleep,
            kiln::spawn_compute,
            iters
        );
        hybrid_round!(
            tokio,
            tokio_runtime(),
            tokio::spawn,
            tokio::time::sleep,
            tokio::task::spawn_blocking,
            iters
        );
        hybrid_round!(
            kiln_elastic,
            kiln_runtime(),
            kiln::spawn,
            kiln::time::sleep,
            kiln::spawn_blocking,
            iters
        );
    }
    let compute_threads = WORKERS;
    println!(
        "compute_hybrid/{label}: bound on kiln's peak thread count: workers {WORKERS} + compute \
         threads {compute_threads} + 4 = {} (the process also has the main and sampler threads)",
        WORKERS + compute_threads + 4
    );
    let group = format!("compute_hybrid_{label}");
    kiln.report(&group, "kiln");
    tokio.report(&group, "tokio");
    kiln_long_slice.report(&group, "kiln_compute_time_slice_100ms");
    kiln_elastic.report(&group, "kiln_spawn_blocking_reference");
}

/// One busy-looping child process per CPU, killed on drop.
struct Neighbours(Vec<std::process::Child>);

impl Neighbours {
    fn start() -> Neighbours {
        let exe = std::env::current_exe().unwrap();
        let n = std::thread::available_parallelism().map_or(1, usize::from);
        Neighbours(
            (0..n)
                .map(|_| {
                    std::process::Command::new(&exe)
                        .env(BUSY_ENV, "1")
                        .spawn()
                        .expect("start a busy neighbour")
                })
                .collect(),
        )
    }
}

impl Drop for Neighbours {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Result of one tiny-jobs round: jobs/s and CPU time.
fn tiny_round(f: impl FnOnce()) -> (f64, Duration) {
    let (start, cpu) = (Instant::now(), process_cpu());
    f();
    let wall = start.elapsed();
    (TINY_JOBS as f64 / wall.as_secs_f64(), process_cpu() - cpu)
}

fn tiny_jobs() {
    let pool = kiln::executor::ThreadPool::builder()
        .threads(WORKERS)
        .build()
        .unwrap();
    let tokio_rt = tokio_runtime();
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .unwrap();
    let expected = TINY_JOBS * (TINY_JOBS - 1) / 2;
    let mut results: [(Vec<f64>, Vec<Duration>); 3] = Default::default();
    for _ in 0..TINY_ROUNDS {
        let kiln = tiny_round(|| {
            let handles: Vec<_> = (0..TINY_JOBS).map(|i| pool.spawn(move || i)).collect();
            let sum: u64 = kiln::executor::block_on(async {
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            });
            assert_eq!(sum, expected);
        });
        let tokio = tiny_round(|| {
            let handles: Vec<_> = (0..TINY_JOBS)
                .map(|i| tokio_rt.spawn_blocking(move || i))
                .collect();
            let sum: u64 = tokio_rt.block_on(async {
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            });
            assert_eq!(sum, expected);
        });
        let rayon = tiny_round(|| {
            let rxs: Vec<_> = (0..TINY_JOBS)
                .map(|i| {
                    let (tx, rx) = futures::channel::oneshot::channel();
                    rayon.spawn(move || {
                        let _ = tx.send(i);
                    });
                    rx
                })
                .collect();
            let sum: u64 = futures::executor::block_on(async {
                let mut sum = 0;
                for rx in rxs {
                    sum += rx.await.unwrap();
                }
                sum
            });
            assert_eq!(sum, expected);
        });
        for (slot, (rate, cpu)) in results.iter_mut().zip([kiln, tokio, rayon]) {
            slot.0.push(rate);
            slot.1.push(cpu);
        }
    }
    for (id, (rates, cpus)) in [
        "kiln_pool_spawn",
        "tokio_spawn_blocking",
        "rayon_spawn_oneshot",
    ]
    .iter()
    .zip(results.iter_mut())
    {
        let walls = rates
            .iter()
            .map(|r| Duration::from_secs_f64(TINY_JOBS as f64 / r));
        let rounds: Vec<_> = walls.zip(cpus.iter().copied()).collect();
        let saved_id = id.split('_').next().unwrap_or(id);
        common::cpu::save_rounds("compute_tiny_jobs", saved_id, &rounds);
        let wall_per_round = Duration::from_secs_f64(TINY_JOBS as f64 / median_f(rates));
        println!(
            "compute_tiny_jobs/{id}: jobs/s median {:.0} (wall {:?}) cpu median {:?}",
            median_f(rates),
            wall_per_round,
            median(cpus)
        );
    }
}

fn main() {
    if std::env::var_os(BUSY_ENV).is_some() {
        let mut x = 0u64;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }
    // Only under `cargo bench` (not `cargo test --benches`); a filter argument picks a part
    // (criterion's options and their values are not filters).
    // (`compute_hybrid_quiet` and `compute_hybrid_busy_neighbour` can be picked alone.)
    let wants = common::runs_extra;
    let (quiet, busy) = (
        wants("compute_hybrid_quiet"),
        wants("compute_hybrid_busy_neighbour"),
    );
    if !quiet && !busy && !wants("compute_tiny_jobs") {
        return;
    }
    let iters = calibrate();
    println!("compute: a job is {iters} iterations (about 5 ms of CPU on this machine)");
    if quiet {
        hybrid("quiet", iters);
    }
    if busy {
        let neighbours = Neighbours::start();
        hybrid("busy_neighbour", iters);
        drop(neighbours);
    }
    if wants("compute_tiny_jobs") {
        tiny_jobs();
    }
}
