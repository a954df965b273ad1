//! `kiln::task::block_in_place`: the worker's other tasks, sockets and timers keep running
//! while a closure blocks its thread; the current-thread flavor and code outside a runtime get
//! a clear panic.

use futures::{AsyncReadExt, AsyncWriteExt};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(20);

fn one_worker() -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap()
}

/// With one worker, nothing but that worker runs its tasks, polls its sockets or fires its
/// timers: without the hand-off the closure below would wait for them in vain.
#[test]
fn the_same_workers_tasks_sockets_and_timers_keep_running() {
    let rt = one_worker();
    let seen = rt.block_on(async {
        kiln::spawn(async {
            let (tx, rx) = mpsc::channel::<&'static str>();
            // A timer on this worker.
            let t = tx.clone();
            kiln::spawn(async move {
                kiln::time::sleep(Duration::from_millis(5)).await;
                t.send("timer").unwrap();
            });
            // A TCP echo, both ends on this worker's event loop.
            let listener = kiln::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            kiln::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4];
                s.read_exact(&mut buf).await.unwrap();
                s.write_all(&buf).await.unwrap();
            });
            let t = tx.clone();
            kiln::spawn(async move {
                let mut c = kiln::net::TcpStream::connect(addr).await.unwrap();
                c.write_all(b"ping").await.unwrap();
                let mut buf = [0u8; 4];
                c.read_exact(&mut buf).await.unwrap();
                assert_eq!(&buf, b"ping");
                t.send("socket").unwrap();
            });
            // Plain tasks that yield to each other.
            let t = tx.clone();
            kiln::spawn(async move {
                for _ in 0..10 {
                    kiln::task::yield_now().await;
                }
                t.send("task").unwrap();
            });
            drop(tx);
            // Blocks this worker thread until the three reports arrive.
            kiln::task::block_in_place(move || {
                let mut seen = HashSet::new();
                while seen.len() < 3 {
                    match rx.recv_timeout(PATIENCE) {
                        Ok(what) => seen.insert(what),
                        Err(_) => break,
                    };
                }
                seen
            })
        })
        .await
        .unwrap()
    });
    assert_eq!(seen, HashSet::from(["timer", "socket", "task"]));
    // The runtime goes on normally afterwards.
    let v = rt.block_on(async {
        kiln::time::sleep(Duration::from_millis(1)).await;
        kiln::spawn(async { 7 }).await.unwrap()
    });
    assert_eq!(v, 7);
}

#[test]
fn repeated_calls_short_and_long_return_their_results() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let total = rt.block_on(async {
        let tasks: Vec<_> = (0..8u64)
            .map(|i| {
                kiln::spawn(async move {
                    let mut sum = 0;
                    for j in 0..5u64 {
                        // Short closures may take the core back before anyone else starts.
                        sum += kiln::task::block_in_place(|| i * j);
                        kiln::task::yield_now().await;
                    }
                    sum += kiln::task::block_in_place(|| {
                        std::thread::sleep(Duration::from_millis(5));
                        // Nested: nothing left to hand over, runs in place.
                        kiln::task::block_in_place(|| i)
                    });
                    kiln::time::sleep(Duration::from_millis(1)).await;
                    sum
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    // sum over i of (i * (0+1+2+3+4) + i) = 11 * 28
    assert_eq!(total, 11 * 28);
}

#[test]
fn a_panic_in_the_closure_fails_only_that_task() {
    let rt = one_worker();
    rt.block_on(async {
        let h = kiln::spawn(async {
            kiln::task::block_in_place(|| panic!("blocking section failed"));
        });
        assert!(h.await.unwrap_err().is_panic());
        assert_eq!(kiln::spawn(async { 1 }).await.unwrap(), 1);
    });
}

#[test]
fn shutdown_timeout_does_not_wait_for_a_blocked_closure() {
    let rt = one_worker();
    let (release, gate) = mpsc::channel::<()>();
    let (entered_tx, entered) = mpsc::channel();
    rt.spawn(async move {
        kiln::task::block_in_place(move || {
            entered_tx.send(()).unwrap();
            let _ = gate.recv_timeout(PATIENCE);
        });
    });
    entered.recv_timeout(PATIENCE).unwrap();
    let returned = Arc::new(AtomicBool::new(false));
    let r = returned.clone();
    // Safety valve: releases the closure if shutdown is still waiting for it after PATIENCE.
    let valve = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + PATIENCE;
        while std::time::Instant::now() < deadline {
            if r.load(SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        drop(release);
        true
    });
    rt.shutdown_timeout(Duration::from_millis(100));
    returned.store(true, SeqCst);
    let shutdown_waited_for_the_closure = valve.join().unwrap();
    assert!(!shutdown_waited_for_the_closure);
}

#[test]
fn off_the_workers_the_closure_just_runs() {
    let rt = one_worker();
    let v = rt.block_on(async {
        // On the `block_on` thread and on a blocking-pool thread there is no worker to hand
        // over.
        let a = kiln::task::block_in_place(|| 1);
        let b = kiln::spawn_blocking(|| kiln::task::block_in_place(|| 2))
            .await
            .unwrap();
        a + b
    });
    assert_eq!(v, 3);
}

#[test]
#[should_panic(expected = "cannot be used on a current-thread runtime")]
fn current_thread_flavor_panics_saying_why() {
    let rt = kiln::Builder::new_current_thread().build().unwrap();
    rt.block_on(async { kiln::task::block_in_place(|| ()) });
}

#[test]
#[should_panic(expected = "kiln::task::block_in_place must be called from inside a kiln runtime")]
fn outside_a_runtime_panics_saying_why() {
    kiln::task::block_in_place(|| ());
}
