//! Networking throughput, kiln and tokio side by side in one run.
//!
//! `tcp_echo`: an echo server and 50 client connections on the same 2-worker runtime, over
//! loopback. Each iteration, every client does `ROUNDS` request/response round trips of 64
//! bytes (write 64, read 64 back), all 50 at once; throughput is round trips per second.
//! Connections are set up once, outside the measurement, each client connecting from its own
//! task.
//!
//! Also printed after criterion's groups: `busy_worker_echo`, the latency of one echo round
//! trip while the worker whose poller holds the server socket runs a CPU-bound task that never
//! yields (bounded at 200 ms per trial; see `busy` below).

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use criterion::{Criterion, Throughput};
use std::time::Duration;

mod common;

const CONNS: usize = 50;
const ROUNDS: usize = 20;
const MSG: usize = 64;

mod kiln_side {
    use super::*;
    use futures::{AsyncReadExt, AsyncWriteExt};
    use kiln::net::{TcpListener, TcpStream};

    pub fn setup(rt: &kiln::Runtime) -> Vec<TcpStream> {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            kiln::spawn(async move {
                loop {
                    let (mut conn, _) = listener.accept().await.unwrap();
                    conn.set_nodelay(true).unwrap();
                    kiln::spawn(async move {
                        let mut buf = [0u8; MSG];
                        loop {
                            if conn.read_exact(&mut buf).await.is_err() {
                                return;
                            }
                            if conn.write_all(&buf).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            // Each client connects from its own task, as a client task would.
            let handles: Vec<_> = (0..CONNS)
                .map(|_| {
                    kiln::spawn(async move {
                        let c = TcpStream::connect(addr).await.unwrap();
                        c.set_nodelay(true).unwrap();
                        c
                    })
                })
                .collect();
            let mut clients = Vec::with_capacity(CONNS);
            for h in handles {
                clients.push(h.await.unwrap());
            }
            clients
        })
    }

    pub fn round(rt: &kiln::Runtime, clients: &mut Vec<TcpStream>) {
        let taken = std::mem::take(clients);
        *clients = rt.block_on(async move {
            let handles: Vec<_> = taken
                .into_iter()
                .map(|mut c| {
                    kiln::spawn(async move {
                        let mut buf = [7u8; MSG];
                        for _ in 0..ROUNDS {
                            c.write_all(&buf).await.unwrap();
                            c.read_exact(&mut buf).await.unwrap();
                        }
                        c
                    })
                })
                .collect();
            let mut back = Vec::with_capacity(CONNS);
            for h in handles {
                back.push(h.await.unwrap());
            }
            back
        });
    }
}

mod tokio_side {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    pub fn setup(rt: &tokio::runtime::Runtime) -> Vec<TcpStream> {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let (mut conn, _) = listener.accept().await.unwrap();
                    conn.set_nodelay(true).unwrap();
                    tokio::spawn(async move {
                        let mut buf = [0u8; MSG];
                        loop {
                            if conn.read_exact(&mut buf).await.is_err() {
                                return;
                            }
                            if conn.write_all(&buf).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            // Each client connects from its own task, as a client task would.
            let handles: Vec<_> = (0..CONNS)
                .map(|_| {
                    tokio::spawn(async move {
                        let c = TcpStream::connect(addr).await.unwrap();
                        c.set_nodelay(true).unwrap();
                        c
                    })
                })
                .collect();
            let mut clients = Vec::with_capacity(CONNS);
            for h in handles {
                clients.push(h.await.unwrap());
            }
            clients
        })
    }

    pub fn round(rt: &tokio::runtime::Runtime, clients: &mut Vec<TcpStream>) {
        let taken = std::mem::take(clients);
        *clients = rt.block_on(async move {
            let handles: Vec<_> = taken
                .into_iter()
                .map(|mut c| {
                    tokio::spawn(async move {
                        let mut buf = [7u8; MSG];
                        for _ in 0..ROUNDS {
                            c.write_all(&buf).await.unwrap();
                            c.read_exact(&mut buf).await.unwrap();
                        }
                        c
                    })
                })
                .collect();
            let mut back = Vec::with_capacity(CONNS);
            for h in handles {
                back.push(h.await.unwrap());
            }
            back
        });
    }
}

/// `busy_worker_echo`: the latency of 64-byte echo round trips whose server socket is
/// registered with a worker stuck in a CPU-bound task (the echo task itself runs on the other
/// worker). Per trial: accept on the busy task, hand the stream to the echo task, wait until
/// the echo task waits on it, then spin until the round trips are done (or `SPIN_LIMIT`).
mod busy {
    use super::MSG;
    /// Longest CPU-bound section per trial.
    pub const SPIN_LIMIT: Duration = Duration::from_millis(200);
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    pub fn kiln_rtt(rt: &kiln::Runtime, iters: u64) -> Duration {
        use futures::{AsyncReadExt, AsyncWriteExt};
        use kiln::net::{TcpListener, TcpStream};
        rt.block_on(async move {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let slot: Arc<Mutex<Option<TcpStream>>> = Arc::new(Mutex::new(None));
            let (stop, taken) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            );
            let (slot2, stop2, taken2) = (slot.clone(), stop.clone(), taken.clone());
            let busy = kiln::spawn(async move {
                let (s, _) = l.accept().await.unwrap();
                // `accept` registers a stream with the worker on the CPU that received it:
                // re-register it with this (soon busy) worker.
                let s = TcpStream::from_std(s.into_std().unwrap()).unwrap();
                *slot2.lock().unwrap() = Some(s);
                while !taken2.load(SeqCst) {
                    kiln::time::sleep(Duration::from_micros(200)).await;
                }
                // Bounded, so a runtime that cannot service this worker's sockets meanwhile
                // still finishes (after the spin).
                let spin = Instant::now();
                while !stop2.load(SeqCst) && spin.elapsed() < SPIN_LIMIT {
                    std::hint::spin_loop();
                }
            });
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.set_nodelay(true).unwrap();
            let (slot3, taken3) = (slot.clone(), taken.clone());
            let echo = kiln::spawn(async move {
                let mut s = loop {
                    if let Some(s) = slot3.lock().unwrap().take() {
                        break s;
                    }
                    kiln::time::sleep(Duration::from_micros(200)).await;
                };
                s.set_nodelay(true).unwrap();
                taken3.store(true, SeqCst);
                let mut buf = [0u8; MSG];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
            while !taken.load(SeqCst) {
                kiln::time::sleep(Duration::from_millis(1)).await;
            }
            kiln::time::sleep(Duration::from_millis(2)).await;
            let mut buf = [1u8; MSG];
            let start = Instant::now();
            for _ in 0..iters {
                client.write_all(&buf).await.unwrap();
                client.read_exact(&mut buf).await.unwrap();
            }
            let elapsed = start.elapsed();
            stop.store(true, SeqCst);
            drop(client);
            busy.await.unwrap();
            echo.await.unwrap();
            elapsed
        })
    }

    pub fn tokio_rtt(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::{TcpListener, TcpStream};
        rt.block_on(async move {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let slot: Arc<Mutex<Option<TcpStream>>> = Arc::new(Mutex::new(None));
            let (stop, taken) = (
                Arc::new(AtomicBool::new(false)),
                Arc::new(AtomicBool::new(false)),
            );
            let (slot2, stop2, taken2) = (slot.clone(), stop.clone(), taken.clone());
            let busy = tokio::spawn(async move {
                let (s, _) = l.accept().await.unwrap();
                *slot2.lock().unwrap() = Some(s);
                while !taken2.load(SeqCst) {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                // Bounded, so a runtime that cannot service this worker's sockets meanwhile
                // still finishes (after the spin).
                let spin = Instant::now();
                while !stop2.load(SeqCst) && spin.elapsed() < SPIN_LIMIT {
                    std::hint::spin_loop();
                }
            });
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.set_nodelay(true).unwrap();
            let (slot3, taken3) = (slot.clone(), taken.clone());
            let echo = tokio::spawn(async move {
                let mut s = loop {
                    if let Some(s) = slot3.lock().unwrap().take() {
                        break s;
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                };
                s.set_nodelay(true).unwrap();
                taken3.store(true, SeqCst);
                let mut buf = [0u8; MSG];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
            while !taken.load(SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
            let mut buf = [1u8; MSG];
            let start = Instant::now();
            for _ in 0..iters {
                client.write_all(&buf).await.unwrap();
                client.read_exact(&mut buf).await.unwrap();
            }
            let elapsed = start.elapsed();
            stop.store(true, SeqCst);
            drop(client);
            busy.await.unwrap();
            echo.await.unwrap();
            elapsed
        })
    }
}

/// Trials of the busy-worker latency measurement.
const BUSY_TRIALS: usize = 15;

/// Prints the median latency of one echo round trip whose server socket belongs to a worker
/// stuck in a CPU-bound task (bounded at [`busy::SPIN_LIMIT`]), for kiln and tokio.
fn busy_worker_latency() {
    let kiln_rt = common::kiln_rt(2);
    let tokio_rt = common::tokio_rt(2);
    let (mut k, mut t) = (Vec::new(), Vec::new());
    for _ in 0..BUSY_TRIALS {
        k.push(busy::kiln_rtt(&kiln_rt, 1));
        t.push(busy::tokio_rtt(&tokio_rt, 1));
    }
    k.sort();
    t.sort();
    println!(
        "busy_worker_echo ({BUSY_TRIALS} trials, CPU task bounded at {:?}): median round trip \
         kiln {:?} (max {:?}), tokio {:?} (max {:?})",
        busy::SPIN_LIMIT,
        k[k.len() / 2],
        k[k.len() - 1],
        t[t.len() / 2],
        t[t.len() - 1]
    );
}

fn tcp_echo(c: &mut Criterion) {
    let kiln_rt = common::kiln_rt(2);
    let tokio_rt = common::tokio_rt(2);
    let mut kiln_clients = kiln_side::setup(&kiln_rt);
    let mut tokio_clients = tokio_side::setup(&tokio_rt);

    let mut group = common::cpu::group(c, "tcp_echo");
    group.throughput(Throughput::Elements((CONNS * ROUNDS) as u64));
    group.measurement_time(Duration::from_secs(5));
    group.bench_param("kiln", CONNS, || {
        kiln_side::round(&kiln_rt, &mut kiln_clients)
    });
    group.bench_param("tokio", CONNS, || {
        tokio_side::round(&tokio_rt, &mut tokio_clients)
    });
    group.finish();
}

/// Rounds of the interleaved comparison (each: `BATCH` iterations of each runtime).
const AB_ROUNDS: usize = 40;
const BATCH: usize = 10;

/// An A/B run printed after criterion's: kiln and tokio alternate in short batches, so a
/// change in background load during the run hits both alike. Prints the median round trips
/// per second of each and their ratio.
fn tcp_echo_interleaved() {
    let kiln_rt = common::kiln_rt(2);
    let tokio_rt = common::tokio_rt(2);
    let mut kiln_clients = kiln_side::setup(&kiln_rt);
    let mut tokio_clients = tokio_side::setup(&tokio_rt);
    let per_batch = (BATCH * CONNS * ROUNDS) as f64;
    let (mut k, mut t) = (Vec::new(), Vec::new());
    let (mut k_rounds, mut t_rounds) = (Vec::new(), Vec::new());
    for _ in 0..AB_ROUNDS {
        let ((), wall, cpu) = common::cpu::measure(|| {
            for _ in 0..BATCH {
                kiln_side::round(&kiln_rt, &mut kiln_clients);
            }
        });
        k.push(per_batch / wall.as_secs_f64());
        k_rounds.push((wall, cpu));
        let ((), wall, cpu) = common::cpu::measure(|| {
            for _ in 0..BATCH {
                tokio_side::round(&tokio_rt, &mut tokio_clients);
            }
        });
        t.push(per_batch / wall.as_secs_f64());
        t_rounds.push((wall, cpu));
    }
    let kc = common::cpu::save_rounds("tcp_echo_interleaved", "kiln", &k_rounds).cpu_ns;
    let tc = common::cpu::save_rounds("tcp_echo_interleaved", "tokio", &t_rounds).cpu_ns;
    println!(
        "tcp_echo interleaved: cpu per batch of {BATCH} rounds (medians): kiln {:.2} ms, tokio \
         {:.2} ms, kiln/tokio = {:.3}",
        kc / 1e6,
        tc / 1e6,
        kc / tc
    );
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (km, tm) = (median(&mut k), median(&mut t));
    println!(
        "tcp_echo interleaved ({AB_ROUNDS} rounds): kiln {:.1} K round trips/s, tokio {:.1} K/s, \
         kiln/tokio = {:.3}",
        km / 1e3,
        tm / 1e3,
        km / tm
    );
}

criterion::criterion_group!(benches, tcp_echo);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    // Only when benchmarking (not under `cargo test --benches`), unfiltered or filtered to
    // the part.
    if common::runs_extra("tcp_echo_interleaved") {
        tcp_echo_interleaved();
    }
    if common::runs_extra("busy_worker_echo") {
        busy_worker_latency();
    }
}
