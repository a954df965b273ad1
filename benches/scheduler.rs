//! Scheduler workloads, each run on kiln and on tokio (2 workers each) in the same process.
//!
//! Run: `cargo bench --bench scheduler`. Group names are the workloads; the ids `kiln` and
//! `tokio` inside each group are the two runtimes. `BENCH_WORKERS=n` changes the number of
//! worker threads of both (default 2), for scaling runs on larger machines.

use criterion::{criterion_main, Criterion};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};

mod common;

use common::workload::{CHAIN, NUM_PINGS, NUM_SPAWN, NUM_YIELD, YIELD_TASKS};

/// Worker threads for both runtimes.
fn workers() -> usize {
    common::env_or("BENCH_WORKERS", 2)
}

fn kiln_rt() -> kiln::Runtime {
    common::kiln_rt(workers())
}

fn tokio_rt() -> tokio::runtime::Runtime {
    common::tokio_rt(workers())
}

/// One workload written once for both runtimes: `$spawn` is the runtime's spawn function.
macro_rules! workloads {
    ($modname:ident, $spawn:path, $yield_now:path, $oneshot:path) => {
        mod $modname {
            use super::*;
            use $oneshot as oneshot;

            pub fn spawn_many_local(
                rem: &Arc<AtomicUsize>,
                tx: &mpsc::SyncSender<()>,
            ) -> impl std::future::Future<Output = ()> + Send + 'static {
                let (rem, tx) = (rem.clone(), tx.clone());
                async move {
                    rem.store(NUM_SPAWN, Relaxed);
                    for _ in 0..NUM_SPAWN {
                        let (rem, tx) = (rem.clone(), tx.clone());
                        drop($spawn(async move {
                            if rem.fetch_sub(1, Relaxed) == 1 {
                                tx.send(()).unwrap();
                            }
                        }));
                    }
                }
            }

            pub fn yield_many(tx: &mpsc::SyncSender<()>) {
                for _ in 0..YIELD_TASKS {
                    let tx = tx.clone();
                    drop($spawn(async move {
                        for _ in 0..NUM_YIELD {
                            $yield_now().await;
                        }
                        tx.send(()).unwrap();
                    }));
                }
            }

            pub async fn ping_pong(tx: mpsc::SyncSender<()>) {
                let rem = Arc::new(AtomicUsize::new(NUM_PINGS));
                for _ in 0..NUM_PINGS {
                    let rem = rem.clone();
                    let tx = tx.clone();
                    drop($spawn(async move {
                        let (tx1, rx1) = oneshot::channel();
                        let (tx2, rx2) = oneshot::channel();
                        drop($spawn(async move {
                            rx1.await.unwrap();
                            tx2.send(()).unwrap();
                        }));
                        tx1.send(()).unwrap();
                        rx2.await.unwrap();
                        if rem.fetch_sub(1, Relaxed) == 1 {
                            tx.send(()).unwrap();
                        }
                    }));
                }
            }

            pub fn chain(n: usize, tx: mpsc::SyncSender<()>) {
                if n == 0 {
                    tx.send(()).unwrap();
                } else {
                    drop($spawn(async move { chain(n - 1, tx) }));
                }
            }
        }
    };
}

workloads!(
    on_kiln,
    kiln::spawn,
    kiln::task::yield_now,
    kiln::sync::oneshot
);
workloads!(
    on_tokio,
    tokio::spawn,
    tokio::task::yield_now,
    tokio::sync::oneshot
);

fn spawn_many_local(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "spawn_many_local");
    let (tx, rx) = mpsc::sync_channel(1);
    let rem = Arc::new(AtomicUsize::new(0));
    let rt = kiln_rt();
    g.bench("kiln", || {
        drop(rt.spawn(on_kiln::spawn_many_local(&rem, &tx)));
        rx.recv().unwrap();
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench("tokio", || {
        drop(rt.spawn(on_tokio::spawn_many_local(&rem, &tx)));
        rx.recv().unwrap();
    });
    g.finish();
}

fn spawn_many_remote(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "spawn_many_remote");
    let rt = kiln_rt();
    let mut handles = Vec::with_capacity(NUM_SPAWN);
    g.bench("kiln", || {
        handles.extend((0..NUM_SPAWN).map(|_| rt.spawn(async {})));
        rt.block_on(async {
            for h in handles.drain(..) {
                h.await.unwrap();
            }
        });
    });
    drop(rt);
    let rt = tokio_rt();
    let mut handles = Vec::with_capacity(NUM_SPAWN);
    g.bench("tokio", || {
        handles.extend((0..NUM_SPAWN).map(|_| rt.spawn(async {})));
        rt.block_on(async {
            for h in handles.drain(..) {
                h.await.unwrap();
            }
        });
    });
    g.finish();
}

fn yield_many(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "yield_many");
    let (tx, rx) = mpsc::sync_channel(YIELD_TASKS);
    let rt = kiln_rt();
    g.bench("kiln", || {
        let _enter = rt.enter();
        on_kiln::yield_many(&tx);
        for _ in 0..YIELD_TASKS {
            rx.recv().unwrap();
        }
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench("tokio", || {
        let _enter = rt.enter();
        on_tokio::yield_many(&tx);
        for _ in 0..YIELD_TASKS {
            rx.recv().unwrap();
        }
    });
    g.finish();
}

fn ping_pong(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "ping_pong");
    let (tx, rx) = mpsc::sync_channel(1);
    let rt = kiln_rt();
    g.bench("kiln", || {
        drop(rt.spawn(on_kiln::ping_pong(tx.clone())));
        rx.recv().unwrap();
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench("tokio", || {
        drop(rt.spawn(on_tokio::ping_pong(tx.clone())));
        rx.recv().unwrap();
    });
    g.finish();
}

fn chained_spawn(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "chained_spawn");
    let (tx, rx) = mpsc::sync_channel(1);
    let rt = kiln_rt();
    g.bench("kiln", || {
        let tx = tx.clone();
        drop(rt.spawn(async move { on_kiln::chain(CHAIN, tx) }));
        rx.recv().unwrap();
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench("tokio", || {
        let tx = tx.clone();
        drop(rt.spawn(async move { on_tokio::chain(CHAIN, tx) }));
        rx.recv().unwrap();
    });
    g.finish();
}

/// Runtime instances used per measurement in `metrics_overhead`: two instances of the same
/// configuration can differ by more than the effect measured, so each sample averages several.
const ITERS_PER_RUNTIME: u64 = 5;

/// Runs `work` on fresh runtimes with metrics `on`, interleaving an untimed run of the other
/// setting after each timed one, so both settings see the same machine state (on 2 vCPUs the
/// order of two back-to-back benchmarks alone shifts them by 10-20 %).
fn interleaved(on: bool, iters: u64, work: &dyn Fn(&kiln::Runtime)) -> std::time::Duration {
    let build = |on: bool| {
        kiln::Builder::new_multi_thread()
            .worker_threads(workers())
            .metrics(on)
            .build()
            .unwrap()
    };
    let mut total = std::time::Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let (timed, other) = (build(on), build(!on));
        for _ in 0..ITERS_PER_RUNTIME.min(iters - done) {
            let start = std::time::Instant::now();
            work(&timed);
            total += start.elapsed();
            work(&other);
            done += 1;
        }
    }
    total
}

/// The cost of `Builder::metrics`: two workloads with counting on and off.
fn metrics_overhead(c: &mut Criterion) {
    let (tx, rx) = mpsc::sync_channel(YIELD_TASKS);
    let rem = Arc::new(AtomicUsize::new(0));
    let spawn_many = |rt: &kiln::Runtime| {
        drop(rt.spawn(on_kiln::spawn_many_local(&rem, &tx)));
        rx.recv().unwrap();
    };
    let yield_many = |rt: &kiln::Runtime| {
        let _enter = rt.enter();
        on_kiln::yield_many(&tx);
        for _ in 0..YIELD_TASKS {
            rx.recv().unwrap();
        }
    };
    for (group, work) in [
        (
            "metrics_overhead_spawn_many_local",
            &spawn_many as &dyn Fn(&kiln::Runtime),
        ),
        ("metrics_overhead_yield_many", &yield_many),
    ] {
        let mut g = c.benchmark_group(group);
        for (name, on) in [("on", true), ("off", false)] {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| interleaved(on, iters, work))
            });
        }
        g.finish();
    }
}

/// The benchmark group (in a private module so the generated function needs no docs).
mod group {
    criterion::criterion_group!(
        benches,
        super::spawn_many_local,
        super::spawn_many_remote,
        super::yield_many,
        super::ping_pong,
        super::chained_spawn,
        super::metrics_overhead
    );
}
criterion_main!(group::benches);
