//! `kiln::sync` against `tokio::sync`, workload by workload, in one criterion run.
//!
//! Each group has three functions:
//! * `kiln` — kiln's primitive on a kiln multi-thread runtime,
//! * `tokio` — tokio's primitive on a tokio multi-thread runtime,
//! * `kiln_on_tokio` — kiln's primitive on the tokio runtime, isolating the primitive from
//!   the scheduler.
//!
//! Both runtimes use the same number of worker threads. Every benchmark also prints the CPU
//! time of the process per iteration and saves it (`common::cpu`). That figure covers every
//! thread of the process, so each group builds a runtime only for the benchmarks that use it
//! and drops it before building the other: a side's CPU time never includes the other
//! runtime's idle workers.

use std::future::Future;
use std::sync::Arc;

use criterion::{criterion_main, Criterion};

#[allow(
    dead_code,
    reason = "this bench builds its own runtimes and uses the CPU recorder only"
)]
mod common;

const WORKERS: usize = 4;

/// A kiln multi-thread runtime for one group's kiln benchmarks (dropped before the tokio ones;
/// `benches/common` reads the hint variables).
fn kiln_rt() -> kiln::Runtime {
    common::kiln_rt(WORKERS)
}

/// A tokio multi-thread runtime for one group's `tokio` and `kiln_on_tokio` benchmarks.
fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("tokio runtime")
}

/// Spawns `n` copies of `make(i)` on the current runtime flavour and awaits them all.
macro_rules! fan_out {
    ($spawn:path, $n:expr, $make:expr) => {{
        let make = $make;
        let handles: Vec<_> = (0..$n).map(|i| $spawn(make(i))).collect();
        for h in handles {
            h.await.unwrap();
        }
    }};
}

// ---- mutex_contention: 100 tasks x 1000 lock/increment ----------------------------------

const MUTEX_TASKS: usize = 100;
const MUTEX_OPS: usize = 1000;

fn kiln_mutex_work() -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    let m = Arc::new(kiln_sync::Mutex::new(0usize));
    move |_| {
        let m = m.clone();
        Box::pin(async move {
            for _ in 0..MUTEX_OPS {
                *m.lock().await += 1;
            }
        })
    }
}

fn tokio_mutex_work() -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    let m = Arc::new(tokio::sync::Mutex::new(0usize));
    move |_| {
        let m = m.clone();
        Box::pin(async move {
            for _ in 0..MUTEX_OPS {
                *m.lock().await += 1;
            }
        })
    }
}

fn mutex_contention(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "mutex_contention");
    let rt = kiln_rt();
    g.bench("kiln", || {
        rt.block_on(async { fan_out!(kiln::spawn, MUTEX_TASKS, kiln_mutex_work()) })
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench("tokio", || {
        rt.block_on(async { fan_out!(tokio::spawn, MUTEX_TASKS, tokio_mutex_work()) })
    });
    g.bench("kiln_on_tokio", || {
        rt.block_on(async { fan_out!(tokio::spawn, MUTEX_TASKS, kiln_mutex_work()) })
    });
    g.finish();
}

// ---- mpsc_throughput: 4 producers x 100k into bounded(1024), 1 consumer -----------------

const PRODUCERS: usize = 4;
const MESSAGES: usize = 100_000;
const CAPACITY: usize = 1024;

async fn kiln_mpsc<S>(spawn: S)
where
    S: Fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>),
{
    let (tx, mut rx) = kiln_sync::mpsc::channel::<usize>(CAPACITY);
    for _ in 0..PRODUCERS {
        let tx = tx.clone();
        spawn(Box::pin(async move {
            for i in 0..MESSAGES {
                tx.send(i).await.unwrap();
            }
        }));
    }
    drop(tx);
    let mut n = 0;
    while rx.recv().await.is_some() {
        n += 1;
    }
    assert_eq!(n, PRODUCERS * MESSAGES);
}

async fn tokio_mpsc() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(CAPACITY);
    for _ in 0..PRODUCERS {
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in 0..MESSAGES {
                tx.send(i).await.unwrap();
            }
        });
    }
    drop(tx);
    let mut n = 0;
    while rx.recv().await.is_some() {
        n += 1;
    }
    assert_eq!(n, PRODUCERS * MESSAGES);
}

fn mpsc_throughput(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "mpsc_throughput");
    g.sample_size(10);
    let rt = kiln_rt();
    g.bench("kiln", || {
        rt.block_on(kiln_mpsc(|f| {
            kiln::spawn(f);
        }))
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench("tokio", || rt.block_on(tokio_mpsc()));
    g.bench("kiln_on_tokio", || {
        rt.block_on(kiln_mpsc(|f| {
            tokio::spawn(f);
        }))
    });
    g.finish();
}

// ---- semaphore: 10 tasks x 1000 acquire/release on 5 permits, and uncontended ----------

const SEM_TASKS: usize = 10;
const SEM_OPS: usize = 1000;

fn kiln_sem_work() -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    let s = Arc::new(kiln_sync::Semaphore::new(SEM_TASKS / 2));
    move |_| {
        let s = s.clone();
        Box::pin(async move {
            for _ in 0..SEM_OPS {
                drop(s.acquire().await.unwrap());
            }
        })
    }
}

fn tokio_sem_work() -> impl Fn(usize) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    let s = Arc::new(tokio::sync::Semaphore::new(SEM_TASKS / 2));
    move |_| {
        let s = s.clone();
        Box::pin(async move {
            for _ in 0..SEM_OPS {
                drop(s.acquire().await.unwrap());
            }
        })
    }
}

fn semaphore(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "semaphore_acquire_release");
    let rt = kiln_rt();
    g.bench("kiln", || {
        rt.block_on(async { fan_out!(kiln::spawn, SEM_TASKS, kiln_sem_work()) })
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench("tokio", || {
        rt.block_on(async { fan_out!(tokio::spawn, SEM_TASKS, tokio_sem_work()) })
    });
    g.bench("kiln_on_tokio", || {
        rt.block_on(async { fan_out!(tokio::spawn, SEM_TASKS, kiln_sem_work()) })
    });
    g.finish();
    drop(rt);

    let mut g = common::cpu::group(c, "semaphore_uncontended");
    let ks = kiln_sync::Semaphore::new(1);
    let rt = kiln_rt();
    g.bench("kiln", || {
        rt.block_on(async {
            for _ in 0..SEM_OPS {
                drop(ks.acquire().await.unwrap());
            }
        })
    });
    drop(rt);
    let ts = tokio::sync::Semaphore::new(1);
    let rt = tokio_rt();
    g.bench("tokio", || {
        rt.block_on(async {
            for _ in 0..SEM_OPS {
                drop(ts.acquire().await.unwrap());
            }
        })
    });
    g.finish();
}

// ---- oneshot_round_trip: 1000 ping-pongs between two tasks over oneshots only ----------

const ROUND_TRIPS: usize = 1000;

type KilnPing = (
    kiln_sync::oneshot::Receiver<KilnPingBox>,
    kiln_sync::oneshot::Sender<()>,
);
struct KilnPingBox(KilnPing);

async fn kiln_pong(mut rx: kiln_sync::oneshot::Receiver<KilnPingBox>) {
    while let Ok(KilnPingBox((next, reply))) = rx.await {
        reply.send(()).unwrap();
        rx = next;
    }
}

async fn kiln_ping<S: Fn(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>)>(spawn: S) {
    let (mut tx, rx) = kiln_sync::oneshot::channel();
    spawn(Box::pin(kiln_pong(rx)));
    for _ in 0..ROUND_TRIPS {
        let (next_tx, next_rx) = kiln_sync::oneshot::channel();
        let (reply_tx, reply_rx) = kiln_sync::oneshot::channel();
        tx.send(KilnPingBox((next_rx, reply_tx)))
            .unwrap_or_else(|_| panic!("pong task gone"));
        reply_rx.await.unwrap();
        tx = next_tx;
    }
}

type TokioPing = (
    tokio::sync::oneshot::Receiver<TokioPingBox>,
    tokio::sync::oneshot::Sender<()>,
);
struct TokioPingBox(TokioPing);

async fn tokio_pong(mut rx: tokio::sync::oneshot::Receiver<TokioPingBox>) {
    while let Ok(TokioPingBox((next, reply))) = rx.await {
        reply.send(()).unwrap();
        rx = next;
    }
}

async fn tokio_ping() {
    let (mut tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(tokio_pong(rx));
    for _ in 0..ROUND_TRIPS {
        let (next_tx, next_rx) = tokio::sync::oneshot::channel();
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        tx.send(TokioPingBox((next_rx, reply_tx)))
            .unwrap_or_else(|_| panic!("pong task gone"));
        reply_rx.await.unwrap();
        tx = next_tx;
    }
}

fn oneshot_round_trip(c: &mut Criterion) {
    let mut g = common::cpu::group(c, "oneshot_round_trip");
    let rt = kiln_rt();
    g.bench("kiln", || {
        rt.block_on(kiln_ping(|f| {
            kiln::spawn(f);
        }))
    });
    drop(rt);
    let rt = tokio_rt();
    g.bench("tokio", || rt.block_on(tokio_ping()));
    g.bench("kiln_on_tokio", || {
        rt.block_on(kiln_ping(|f| {
            tokio::spawn(f);
        }))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    mutex_contention(c);
    mpsc_throughput(c);
    semaphore(c);
    oneshot_round_trip(c);
}

/// The benchmark group (in a private module so the generated function needs no docs).
mod group {
    criterion::criterion_group!(sync_benches, super::benches);
}
criterion_main!(group::sync_benches);
