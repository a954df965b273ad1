//! The cost of observability: `spawn_many`, `yield_many`, `ping_pong` and `chained_spawn`
//! (the workloads of `benches/scheduler.rs`) on a runtime with task names, poll histograms and
//! the stall watchdog on, against the same runtime with all of them off, in one process.
//!
//! Run: `cargo bench --bench observe`. Rounds alternate off/on in the order A/B/B/A, so both
//! see the same machine state and each follows the other as often as itself (always running
//! "on" right after "off" made "on" 3 % slower on `yield_many` with two identical runtimes),
//! and each half of them runs on a fresh pair of runtimes built in the other order (see
//! `main`); each run records wall time and the process's CPU time (`getrusage`), and the
//! medians are printed. `OBSERVE_ROUNDS=n` sets the rounds (default 31);
//! `OBSERVE_ONLY_OFF=1` measures the off runtime alone (to compare builds of the code);
//! `OBSERVE_ONLY_ON=1` runs the on runtime alone (to profile it: `perf record` of this
//! process then shows only the observed paths);
//! `OBSERVE_ONLY=a,b` runs only the named workloads; `OBSERVE_PARTS=names,histograms,watchdog`
//! (any subset) turns on only those parts on the "on" runtime; `OBSERVE_SAMPLE=n` sets the "on"
//! runtime's `poll_histograms(n)` (default 64, the setting `Builder::poll_histograms`
//! documents for histograms left on in production; `8` measures a denser sampling).

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

#[allow(
    dead_code,
    reason = "this bench builds its own runtimes and times its own rounds; it uses the workload sizes"
)]
mod common;

use common::workload::{CHAIN, NUM_PINGS, NUM_SPAWN, NUM_YIELD, YIELD_TASKS};

const WORKERS: usize = 2;

fn build_off() -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .unwrap()
}

/// `OBSERVE_SAMPLE=n`: time one poll in `n` on the "on" runtime (default 64, see the module
/// docs).
fn sample_every() -> u32 {
    common::env_or("OBSERVE_SAMPLE", 64)
}

/// Whether `OBSERVE_PARTS` (a comma-separated subset of `names,histograms,watchdog`; all
/// three by default) turns `part` on for the "on" runtime, to attribute the cost to each.
/// Read once: `spawn` asks for every task.
fn part(part: &str) -> bool {
    static PARTS: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PARTS
        .get_or_init(|| std::env::var("OBSERVE_PARTS").ok())
        .as_deref()
        .map_or(true, |p| p.split(',').any(|p| p == part))
}

fn build_on() -> kiln::Runtime {
    let mut b = kiln::Builder::new_multi_thread();
    b.worker_threads(WORKERS);
    if part("watchdog") {
        b.stall_threshold(Duration::from_millis(100));
    }
    if part("histograms") {
        b.poll_histograms(sample_every());
    }
    b.build().unwrap()
}

static NAMED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Spawns with a name when `named` (the "on" runtime), plainly otherwise.
fn spawn<F>(named: bool, fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    if named && *NAMED.get_or_init(|| part("names")) {
        drop(spawn_named(fut));
    } else {
        drop(kiln::spawn(fut));
    }
}

fn spawn_named<F>(fut: F) -> kiln::JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    kiln::task::Builder::new()
        .name("bench task")
        .spawn(fut)
        .unwrap()
}

fn spawn_many(rt: &kiln::Runtime, named: bool) {
    let (tx, rx) = mpsc::sync_channel(1);
    let rem = Arc::new(AtomicUsize::new(NUM_SPAWN));
    drop(rt.spawn(async move {
        for _ in 0..NUM_SPAWN {
            let (rem, tx) = (rem.clone(), tx.clone());
            spawn(named, async move {
                if rem.fetch_sub(1, Relaxed) == 1 {
                    tx.send(()).unwrap();
                }
            });
        }
    }));
    rx.recv().unwrap();
}

fn yield_many(rt: &kiln::Runtime, named: bool) {
    let (tx, rx) = mpsc::sync_channel(YIELD_TASKS);
    let _enter = rt.enter();
    for _ in 0..YIELD_TASKS {
        let tx = tx.clone();
        spawn(named, async move {
            for _ in 0..NUM_YIELD {
                kiln::task::yield_now().await;
            }
            tx.send(()).unwrap();
        });
    }
    for _ in 0..YIELD_TASKS {
        rx.recv().unwrap();
    }
}

fn ping_pong(rt: &kiln::Runtime, named: bool) {
    let (tx, rx) = mpsc::sync_channel(1);
    drop(rt.spawn(async move {
        let rem = Arc::new(AtomicUsize::new(NUM_PINGS));
        for _ in 0..NUM_PINGS {
            let (rem, tx) = (rem.clone(), tx.clone());
            spawn(named, async move {
                let (tx1, rx1) = kiln::sync::oneshot::channel();
                let (tx2, rx2) = kiln::sync::oneshot::channel();
                spawn(named, async move {
                    rx1.await.unwrap();
                    tx2.send(()).unwrap();
                });
                tx1.send(()).unwrap();
                rx2.await.unwrap();
                if rem.fetch_sub(1, Relaxed) == 1 {
                    tx.send(()).unwrap();
                }
            });
        }
    }));
    rx.recv().unwrap();
}

fn chained_spawn(rt: &kiln::Runtime, named: bool) {
    fn chain(n: usize, named: bool, tx: mpsc::SyncSender<()>) {
        if n == 0 {
            tx.send(()).unwrap();
        } else {
            spawn(named, async move { chain(n - 1, named, tx) });
        }
    }
    let (tx, rx) = mpsc::sync_channel(1);
    drop(rt.spawn(async move { chain(CHAIN, named, tx) }));
    rx.recv().unwrap();
}

/// User + system CPU time of the whole process.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` writes into the zeroed struct we own; RUSAGE_SELF is valid.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn measure(rt: &kiln::Runtime, named: bool, work: fn(&kiln::Runtime, bool)) -> (f64, f64) {
    let (w0, c0) = (Instant::now(), cpu_time());
    work(rt, named);
    let (w, c) = (w0.elapsed(), cpu_time() - c0);
    (w.as_secs_f64() * 1e3, c.as_secs_f64() * 1e3)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("OBSERVE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(31);
    let only_off = std::env::var_os("OBSERVE_ONLY_OFF").is_some();
    let only_on = std::env::var_os("OBSERVE_ONLY_ON").is_some();
    type Workload = fn(&kiln::Runtime, bool);
    let only: Option<String> = std::env::var("OBSERVE_ONLY").ok();
    let workloads: [(&str, Workload); 4] = [
        ("spawn_many", spawn_many),
        ("yield_many", yield_many),
        ("ping_pong", ping_pong),
        ("chained_spawn", chained_spawn),
    ];
    println!(
        "workload      off wall ms  off cpu ms   on wall ms   on cpu ms  wall on/off  cpu on/off"
    );
    for (name, work) in workloads {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|o| o == name))
        {
            continue;
        }
        if only_on {
            let on = build_on();
            // Warm-up: thread start, allocator pools.
            let mut v: Vec<_> = (0..rounds + 3).map(|_| measure(&on, true, work)).collect();
            v.drain(..3);
            let (mut w, mut c): (Vec<f64>, Vec<f64>) = v.into_iter().unzip();
            let (w, c) = (median(&mut w), median(&mut c));
            println!("{name:<13} {:>12} {:>11} {w:>12.3} {c:>11.3}", "-", "-");
            continue;
        }
        let (mut ow, mut oc, mut nw, mut nc) = (vec![], vec![], vec![], vec![]);
        // Two halves, each on a fresh pair of runtimes built in the opposite order: of two
        // identical runtimes, the one built first ran `spawn_many` about 1.5 % faster here,
        // whichever it was (`OBSERVE_PARTS=none`), so the halves' biases cancel.
        for half in 0..2 {
            let (off, on) = if half == 0 {
                let off = build_off();
                (off, (!only_off).then(build_on))
            } else {
                let on = (!only_off).then(build_on);
                (build_off(), on)
            };
            // Warm-up: thread start, allocator pools.
            for _ in 0..3 {
                work(&off, false);
                if let Some(on) = &on {
                    work(on, true);
                }
            }
            let n = if half == 0 {
                rounds / 2
            } else {
                rounds - rounds / 2
            };
            // Rounds run off, on, on, off, off, on, ...: each runtime follows the other as
            // often as itself, so neither always starts while the other winds down.
            for i in 0..n {
                let mut off_round = || {
                    let (w, c) = measure(&off, false, work);
                    ow.push(w);
                    oc.push(c);
                };
                let Some(on) = &on else {
                    off_round();
                    continue;
                };
                let mut on_round = || {
                    let (w, c) = measure(on, true, work);
                    nw.push(w);
                    nc.push(c);
                };
                if i % 2 == 0 {
                    off_round();
                    on_round();
                } else {
                    on_round();
                    off_round();
                }
            }
        }
        let (ow, oc) = (median(&mut ow), median(&mut oc));
        if only_off {
            println!("{name:<13} {ow:>12.3} {oc:>11.3}");
            continue;
        }
        let (nw, nc) = (median(&mut nw), median(&mut nc));
        println!(
            "{name:<13} {ow:>12.3} {oc:>11.3} {nw:>12.3} {nc:>11.3} {:>12.3} {:>11.3}",
            nw / ow,
            nc / oc
        );
    }
}
