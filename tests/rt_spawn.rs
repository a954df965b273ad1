//! Spawning, joining, yielding, aborting and panics, on both flavors.

mod common;

use common::runtimes;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

#[test]
fn spawn_100k_tasks() {
    for (flavor, rt) in runtimes() {
        let counter = Arc::new(AtomicUsize::new(0));
        let c = counter.clone();
        rt.block_on(async move {
            let handles: Vec<_> = (0..100_000)
                .map(|i| {
                    let c = c.clone();
                    kiln::spawn(async move {
                        c.fetch_add(1, SeqCst);
                        i
                    })
                })
                .collect();
            let mut sum = 0u64;
            for h in handles {
                sum += h.await.unwrap() as u64;
            }
            assert_eq!(sum, (0..100_000u64).sum::<u64>(), "{flavor}");
        });
        assert_eq!(counter.load(SeqCst), 100_000, "{flavor}");
    }
}

fn tree(depth: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            return 1;
        }
        let a = kiln::spawn(tree(depth - 1));
        let b = kiln::spawn(tree(depth - 1));
        a.await.unwrap() + b.await.unwrap()
    })
}

#[test]
fn tasks_spawning_tasks() {
    for (flavor, rt) in runtimes() {
        assert_eq!(rt.block_on(tree(12)), 4096, "{flavor}");
    }
}

#[test]
fn chained_spawn_depth_1000() {
    fn chain(n: u32, tx: std::sync::mpsc::Sender<u32>) {
        if n == 0 {
            tx.send(0).unwrap();
        } else {
            drop(kiln::spawn(async move { chain(n - 1, tx) }));
        }
    }
    for (flavor, rt) in runtimes() {
        let (tx, rx) = std::sync::mpsc::channel();
        rt.block_on(async move {
            chain(1000, tx);
            // Give the chain a chance to run on the current-thread flavor.
            for _ in 0..5000 {
                kiln::task::yield_now().await;
            }
        });
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(30)),
            Ok(0),
            "{flavor}"
        );
    }
}

#[test]
fn yield_now_lets_others_run() {
    for (flavor, rt) in runtimes() {
        let steps = Arc::new(AtomicUsize::new(0));
        let s = steps.clone();
        rt.block_on(async move {
            let spinner = kiln::spawn({
                let s = s.clone();
                async move {
                    while s.load(SeqCst) == 0 {
                        kiln::task::yield_now().await;
                    }
                }
            });
            let setter = kiln::spawn(async move {
                s.store(1, SeqCst);
            });
            setter.await.unwrap();
            spinner.await.unwrap();
        });
        assert_eq!(steps.load(SeqCst), 1, "{flavor}");
    }
}

#[test]
fn abort_before_first_poll() {
    for (flavor, rt) in runtimes() {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let err = rt.block_on(async move {
            let h = kiln::spawn(async move {
                r.fetch_add(1, SeqCst);
            });
            h.abort();
            h.await
        });
        // On the multi-thread flavor a worker may win the race and run it first.
        match err {
            Err(e) => {
                assert!(e.is_cancelled(), "{flavor}: {e}");
                assert_eq!(ran.load(SeqCst), 0, "{flavor}");
            }
            Ok(()) => assert_eq!(flavor, "multi"),
        }
    }
}

#[test]
fn abort_idle_and_running_tasks() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            // Idle: parked on a future that never completes.
            let idle = kiln::spawn(std::future::pending::<()>());
            kiln::task::yield_now().await;
            idle.abort();
            assert!(idle.await.unwrap_err().is_cancelled(), "{flavor}");

            // Running elsewhere (multi-thread only): abort lands while the poll is in progress.
            if flavor == "multi" {
                let started = Arc::new(AtomicUsize::new(0));
                let release = Arc::new(AtomicUsize::new(0));
                let (st, rel) = (started.clone(), release.clone());
                let h = kiln::spawn(async move {
                    st.store(1, SeqCst);
                    while rel.load(SeqCst) == 0 {
                        std::hint::spin_loop();
                    }
                    kiln::task::yield_now().await;
                    unreachable!("a cancelled task is not polled again");
                });
                while started.load(SeqCst) == 0 {
                    std::thread::yield_now();
                }
                h.abort();
                release.store(1, SeqCst);
                assert!(h.await.unwrap_err().is_cancelled(), "{flavor}");
            }
        });
    }
}

#[test]
fn abort_after_completion_keeps_output() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let h = kiln::spawn(async { 5 });
            while !h.is_finished() {
                kiln::task::yield_now().await;
            }
            h.abort();
            assert_eq!(h.await.unwrap(), 5, "{flavor}");
        });
    }
}

#[test]
fn panic_is_caught_and_worker_lives_on() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            for _ in 0..10 {
                let err = kiln::spawn(async { panic!("task exploded") })
                    .await
                    .unwrap_err();
                assert!(err.is_panic(), "{flavor}");
                assert!(err.to_string().contains("task exploded"), "{flavor}: {err}");
                let payload = err.into_panic();
                assert_eq!(*payload.downcast::<&str>().unwrap(), "task exploded");
            }
            // Workers still run tasks afterwards.
            assert_eq!(kiln::spawn(async { 1 }).await.unwrap(), 1, "{flavor}");
        });
    }
}

#[test]
fn dropped_join_handle_detaches() {
    for (flavor, rt) in runtimes() {
        let (tx, rx) = std::sync::mpsc::channel();
        rt.block_on(async move {
            drop(kiln::spawn(async move {
                kiln::task::yield_now().await;
                tx.send(1).unwrap();
            }));
            for _ in 0..100 {
                kiln::task::yield_now().await;
            }
        });
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(30)),
            Ok(1),
            "{flavor}"
        );
    }
}

#[test]
fn spawn_from_foreign_thread() {
    for (flavor, rt) in runtimes() {
        let handle = rt.handle().clone();
        let joins: Vec<_> = (0..4)
            .map(|t| {
                let handle = handle.clone();
                std::thread::spawn(move || {
                    let hs: Vec<_> = (0..1000)
                        .map(|i| handle.spawn(async move { t * 1000 + i }))
                        .collect();
                    hs
                })
            })
            .collect();
        let handles: Vec<_> = joins.into_iter().flat_map(|j| j.join().unwrap()).collect();
        let sum: u64 = rt.block_on(async move {
            let mut sum = 0u64;
            for h in handles {
                sum += h.await.unwrap() as u64;
            }
            sum
        });
        assert_eq!(sum, (0..4000u64).sum::<u64>(), "{flavor}");
    }
}

#[test]
fn task_ids_are_unique_and_visible_inside() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let h = kiln::spawn(async { kiln::task::id() });
            let id = h.id();
            assert_eq!(h.await.unwrap(), id, "{flavor}");
            assert!(
                kiln::task::try_id().is_none(),
                "block_on's future is not a task"
            );
        });
    }
}

#[test]
fn worker_threads_zero_is_an_error() {
    let err = kiln::Builder::new_multi_thread()
        .worker_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads(0)"), "{err}");
}
