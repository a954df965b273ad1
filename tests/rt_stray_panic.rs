//! A panic that escapes user code a runtime thread runs outside a task's poll (a waker fired
//! by a timer or by I/O readiness, a thread hook) is contained: the runtime keeps running its
//! tasks and shuts down without hanging.

mod common;

use common::{panicking_waker, runtimes, watchdog};
use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

/// The runtime still runs new tasks and timers.
fn still_works(rt: &kiln::Runtime) {
    let out = rt.block_on(async {
        kiln::time::sleep(Duration::from_millis(1)).await;
        kiln::spawn(async { 5 }).await.unwrap()
    });
    assert_eq!(out, 5);
}

#[test]
fn a_waker_panicking_when_its_timer_fires() {
    for (flavor, rt) in runtimes() {
        watchdog(flavor, move || {
            rt.block_on(async {
                kiln::spawn(async {
                    let mut s = Box::pin(kiln::time::sleep(Duration::from_millis(10)));
                    let waker = panicking_waker();
                    let _ = s.as_mut().poll(&mut Context::from_waker(&waker));
                    // Keep it registered: the timer fires the panicking waker.
                    std::mem::forget(s);
                })
                .await
                .unwrap();
                // The current-thread flavor fires timers only while driven.
                kiln::time::sleep(Duration::from_millis(50)).await;
            });
            std::thread::sleep(Duration::from_millis(50));
            still_works(&rt);
            drop(rt);
        });
    }
}

#[test]
fn a_waker_panicking_when_its_socket_becomes_ready() {
    for (flavor, rt) in runtimes() {
        watchdog(flavor, move || {
            let (a, b) = rt.block_on(async {
                kiln::spawn(async {
                    let (a, b) = kiln::net::UnixStream::pair().unwrap();
                    let waker = panicking_waker();
                    let mut readable = Box::pin(a.readable());
                    let pending = readable
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending();
                    assert!(pending, "nothing to read yet");
                    drop(readable);
                    (a, b)
                })
                .await
                .unwrap()
            });
            // Readiness of `a` fires the stored panicking waker on a runtime thread.
            let (b, _) = rt.block_on(async move {
                use futures::AsyncWriteExt;
                let mut b = b;
                b.write_all(b"x").await.unwrap();
                kiln::time::sleep(Duration::from_millis(50)).await;
                (b, ())
            });
            std::thread::sleep(Duration::from_millis(50));
            still_works(&rt);
            drop((a, b));
            drop(rt);
        });
    }
}

#[test]
fn a_join_handle_waker_panicking_when_its_task_completes() {
    for (flavor, rt) in runtimes() {
        watchdog(flavor, move || {
            let (tx, rx) = kiln::sync::oneshot::channel::<()>();
            let mut h = rt.spawn(async move {
                let _ = rx.await;
            });
            let waker = panicking_waker();
            assert!(Pin::new(&mut h)
                .poll(&mut Context::from_waker(&waker))
                .is_pending());
            tx.send(()).unwrap();
            rt.block_on(async { kiln::time::sleep(Duration::from_millis(50)).await });
            still_works(&rt);
            drop(h);
            drop(rt);
        });
    }
}

#[test]
fn a_panicking_on_thread_start_hook() {
    watchdog("on_thread_start", || {
        let rt = kiln::Builder::new_multi_thread()
            .worker_threads(2)
            .on_thread_start(|| panic!("hook panicked on purpose"))
            .build()
            .unwrap();
        still_works(&rt);
        // Tasks run on the workers too (not only inline in block_on).
        let on_workers = rt.block_on(async {
            let hs: Vec<_> = (0..8).map(|i| kiln::spawn(async move { i })).collect();
            let mut sum = 0;
            for h in hs {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(on_workers, 28);
        drop(rt);
    });
}

#[test]
fn current_thread_runtime_survives_a_panicking_main_future() {
    watchdog("current", || {
        let rt = kiln::Builder::new_current_thread().build().unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async { panic!("main future panicked on purpose") })
        }));
        assert!(
            panicked.is_err(),
            "the panic reaches the caller of block_on"
        );
        still_works(&rt);
        drop(rt);
    });
}
