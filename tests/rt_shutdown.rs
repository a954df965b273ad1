//! Shutdown, misuse panics and spawning after shutdown.

mod common;

use common::{runtimes, DropFlag};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn shutdown_drops_pending_tasks_on_a_runtime_thread() {
    for (flavor, rt) in runtimes() {
        let flags: Vec<_> = (0..50).map(|_| Arc::new(Mutex::new(None))).collect();
        for f in &flags {
            let guard = DropFlag { flag: f.clone() };
            rt.spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            });
        }
        // Let them start on the multi-thread flavor; current-thread tasks never ran.
        rt.block_on(async {
            for _ in 0..10 {
                kiln::task::yield_now().await;
            }
        });
        drop(rt);
        for f in &flags {
            let dropped_on = f.lock().unwrap().clone();
            let name = dropped_on.unwrap_or_else(|| panic!("{flavor}: future was not dropped"));
            if flavor == "multi" {
                assert_eq!(name, "kiln-test-worker", "{flavor}");
            }
        }
    }
}

#[test]
fn spawn_after_shutdown_is_cancelled() {
    for (flavor, rt) in runtimes() {
        let handle = rt.handle().clone();
        drop(rt);
        let flag = Arc::new(Mutex::new(None));
        let guard = DropFlag { flag: flag.clone() };
        let h = handle.spawn(async move {
            let _g = guard;
            1
        });
        let err = futures::executor::block_on(h).unwrap_err();
        assert!(err.is_cancelled(), "{flavor}");
        assert!(flag.lock().unwrap().is_some(), "{flavor}: future dropped");
    }
}

#[test]
fn shutdown_timeout_does_not_wait_for_long_blocking_jobs() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    rt.spawn_blocking(move || {
        // Blocks until the test ends (the sender is dropped at the end).
        let _ = rx.recv_timeout(Duration::from_secs(30));
    });
    let start = std::time::Instant::now();
    rt.shutdown_timeout(Duration::from_millis(100));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "shutdown_timeout waited past its limit"
    );
    drop(tx);
}

#[test]
fn shutdown_with_task_stuck_in_poll_respects_timeout() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    rt.spawn(async move {
        let _ = rx.recv_timeout(Duration::from_secs(30));
    });
    std::thread::sleep(Duration::from_millis(50));
    let start = std::time::Instant::now();
    rt.shutdown_timeout(Duration::from_millis(100));
    assert!(start.elapsed() < Duration::from_secs(20));
    drop(tx);
}

#[test]
fn spawn_outside_runtime_panics_with_clear_message() {
    let err = std::panic::catch_unwind(|| {
        drop(kiln::spawn(async {}));
    })
    .unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("must be called from inside a kiln runtime"),
        "{msg}"
    );
}

#[test]
fn nested_block_on_panics_with_clear_message() {
    for (flavor, rt) in runtimes() {
        let err = rt.block_on(async {
            kiln::spawn(async {
                let inner = kiln::Runtime::new().unwrap();
                inner.block_on(async {});
            })
            .await
            .unwrap_err()
        });
        assert!(err.is_panic(), "{flavor}");
        let msg = err
            .into_panic()
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_else(|p| p.downcast::<String>().map(|s| *s).unwrap_or_default());
        assert!(
            msg.contains("cannot block_on inside a runtime"),
            "{flavor}: {msg}"
        );

        // block_on directly inside block_on, too.
        let direct = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async { rt.block_on(async {}) })
        }));
        assert!(direct.is_err(), "{flavor}");
    }
}

#[test]
fn kiln_run_inside_runtime_panics() {
    let rt = kiln::Runtime::new().unwrap();
    let err = rt.block_on(async {
        kiln::spawn(async { kiln::run(async {}) })
            .await
            .unwrap_err()
    });
    assert!(err.is_panic());
}

#[test]
fn many_runtimes_can_coexist() {
    let rts: Vec<_> = (0..4)
        .map(|_| {
            kiln::Builder::new_multi_thread()
                .worker_threads(1)
                .build()
                .unwrap()
        })
        .collect();
    for (i, rt) in rts.iter().enumerate() {
        assert_eq!(
            rt.block_on(async move { kiln::spawn(async move { i }).await.unwrap() }),
            i
        );
    }
}

#[test]
fn handle_block_on_after_shutdown_does_not_hang() {
    for (flavor, rt) in runtimes() {
        let handle = rt.handle().clone();
        drop(rt);
        let out = handle.block_on(async {
            let h = kiln::spawn(async { 1 });
            kiln::time::sleep(Duration::from_millis(1)).await;
            h.await
        });
        assert!(out.unwrap_err().is_cancelled(), "{flavor}");
    }
}

#[test]
fn current_thread_block_on_from_two_threads() {
    let rt = Arc::new(kiln::Builder::new_current_thread().build().unwrap());
    let (tx, rx) = kiln::sync::oneshot::channel::<()>();
    let other = {
        let rt = rt.clone();
        std::thread::spawn(move || {
            rt.block_on(async move {
                // Waits for the main thread's block_on, whichever thread drives the loop.
                let h = kiln::spawn(async move {
                    rx.await.unwrap();
                    7
                });
                h.await.unwrap()
            })
        })
    };
    let mine = rt.block_on(async {
        let h = kiln::spawn(async { 5 });
        let v = h.await.unwrap();
        tx.send(()).unwrap();
        v
    });
    assert_eq!(mine, 5);
    assert_eq!(other.join().unwrap(), 7);
}

#[test]
fn shutdown_timeout_with_the_largest_duration_waits_without_a_bound() {
    for (flavor, rt) in runtimes() {
        let h = rt.spawn(async { 3 });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.shutdown_timeout(Duration::MAX)
            }));
            let _ = tx.send(out.is_ok());
        });
        let ok = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{flavor}: shutdown_timeout(Duration::MAX) hung"));
        assert!(ok, "{flavor}: shutdown_timeout(Duration::MAX) panicked");
        drop(h);
    }
}
