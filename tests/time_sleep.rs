//! `kiln::time::sleep` through the facade, on both runtime flavors: never early, many at once,
//! sleeps that move between threads, cancellation from other threads, use outside a runtime.

mod common;

use kiln::time::{sleep, sleep_until, Duration, Instant};
use std::future::Future;
use std::task::Poll;

#[test]
fn sleep_never_completes_early() {
    for (name, rt) in common::runtimes() {
        rt.block_on(async {
            for us in [0u64, 1, 50, 300, 1_000, 2_500] {
                let d = Duration::from_micros(us);
                let start = Instant::now();
                sleep(d).await;
                assert!(start.elapsed() >= d, "{name}: sleep({d:?}) returned early");
            }
            let at = Instant::now() + Duration::from_millis(3);
            sleep_until(at).await;
            assert!(Instant::now() >= at, "{name}: sleep_until returned early");
        });
    }
}

#[test]
fn due_sleeps_complete_immediately() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            sleep(Duration::ZERO).await;
            sleep_until(Instant::now() - Duration::from_secs(1)).await;
            let mut s = std::pin::pin!(sleep(Duration::ZERO));
            std::future::poll_fn(|cx| {
                assert_eq!(s.as_mut().poll(cx), Poll::Ready(()));
                Poll::Ready(())
            })
            .await;
            assert!(s.is_elapsed());
        });
    }
}

#[test]
fn many_concurrent_sleeps_all_complete() {
    for (name, rt) in common::runtimes() {
        let late = rt.block_on(async {
            let tasks: Vec<_> = (0..2_000u64)
                .map(|i| {
                    kiln::spawn(async move {
                        let d = Duration::from_micros(100 + (i * 7_919) % 20_000);
                        let s = sleep(d);
                        let deadline = s.deadline();
                        s.await;
                        let now = Instant::now();
                        assert!(now >= deadline, "completed before its deadline");
                        now - deadline
                    })
                })
                .collect();
            let mut worst = Duration::ZERO;
            for t in tasks {
                worst = worst.max(t.await.unwrap());
            }
            worst
        });
        // Generous: only catches timers that were lost and fired by some unrelated wake-up.
        assert!(
            late < Duration::from_secs(5),
            "{name}: a sleep was {late:?} late"
        );
    }
}

#[test]
fn sleep_polled_on_runtime_completes_on_a_plain_thread() {
    for (_, rt) in common::runtimes() {
        let s = rt.block_on(async {
            // Boxed: a registered sleep is pinned (its timer entry is linked by address).
            let mut s = Box::pin(sleep(Duration::from_millis(5)));
            // Register it with this runtime's timer by polling once.
            std::future::poll_fn(|cx| {
                assert!(s.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            // Wrapped so the block's output is not itself a future.
            Some(s)
        });
        let s = s.unwrap();
        // The runtime keeps running its timers in the background (multi) or is idle
        // (current-thread: then the wait is driven by `block_on` below).
        let waiter = std::thread::spawn(move || {
            let deadline = s.deadline();
            futures::executor::block_on(s);
            assert!(Instant::now() >= deadline);
        });
        rt.block_on(async { sleep(Duration::from_millis(30)).await });
        waiter.join().unwrap();
    }
}

#[test]
fn sleep_moves_between_tasks_and_is_cancelled_from_another_thread() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let (tx, rx) = kiln::sync::oneshot::channel();
            let first = kiln::spawn(async move {
                let mut s = Box::pin(sleep(Duration::from_millis(3)));
                std::future::poll_fn(|cx| {
                    assert!(s.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                tx.send(s).unwrap();
            });
            let second = kiln::spawn(async move {
                let s = rx.await.unwrap();
                s.await;
            });
            first.await.unwrap();
            second.await.unwrap();

            // Registered here, dropped (cancelled) on a blocking-pool thread.
            let mut long = Box::pin(sleep(Duration::from_secs(3600)));
            std::future::poll_fn(|cx| {
                assert!(long.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            kiln::spawn_blocking(move || drop(long)).await.unwrap();
        });
    }
}

#[test]
fn reset_moves_the_deadline() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let mut s = Box::pin(sleep(Duration::from_secs(3600)));
            std::future::poll_fn(|cx| {
                assert!(s.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            let at = Instant::now() + Duration::from_millis(2);
            s.as_mut().reset(at);
            s.await;
            assert!(Instant::now() >= at);
        });
    }
}

#[test]
fn aborting_a_sleeping_task_cancels_its_timer() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let flag = std::sync::Arc::new(std::sync::Mutex::new(None));
            let guard = common::DropFlag { flag: flag.clone() };
            let h = kiln::spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
            });
            sleep(Duration::from_millis(1)).await;
            h.abort();
            assert!(h.await.unwrap_err().is_cancelled());
            assert!(flag.lock().unwrap().is_some());
        });
    }
}

#[test]
#[should_panic(expected = "must be called from inside a kiln runtime")]
fn sleep_outside_a_runtime_panics() {
    drop(sleep(Duration::from_millis(1)));
}

#[test]
fn a_stuck_workers_sleep_fires_when_its_sibling_is_idle() {
    sleep_of_a_stuck_worker_fires(false);
}

#[test]
fn a_stuck_workers_sleep_fires_when_its_sibling_never_runs_out_of_tasks() {
    sleep_of_a_stuck_worker_fires(true);
}

/// Worker A registers a sleep in its timer wheel, then spins in one poll (bounded to 10 s)
/// until the sleep has fired. The sleep is awaited by a task on worker B, which is idle or
/// (with `busy_sibling`) also runs a task that yields until then: B must fire A's timer.
fn sleep_of_a_stuck_worker_fires(busy_sibling: bool) {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    type Slot = Arc<Mutex<Option<std::pin::Pin<Box<kiln::time::Sleep>>>>>;
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let slot: Slot = Arc::default();
        let (spinning, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let (slot2, spinning2, done2) = (slot.clone(), spinning.clone(), done.clone());
        let busy = kiln::spawn(async move {
            let mut s = Box::pin(sleep(Duration::from_millis(200)));
            // The first poll registers it with this worker's timer wheel.
            assert!(futures::poll!(s.as_mut()).is_pending());
            *slot2.lock().unwrap() = Some(s);
            spinning2.store(true, SeqCst);
            let start = Instant::now();
            while !done2.load(SeqCst) && start.elapsed() < Duration::from_secs(10) {
                std::hint::spin_loop();
            }
            start.elapsed()
        });
        while !spinning.load(SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        // A spins: both tasks below run on B.
        let yielder = busy_sibling.then(|| common::spawn_yielder(done.clone()));
        let waiter = kiln::spawn(async move {
            let s = slot
                .lock()
                .unwrap()
                .take()
                .expect("the sleep is in the slot");
            s.await;
            done.store(true, SeqCst);
        });
        waiter.await.unwrap();
        if let Some((yielder, yields)) = yielder {
            yielder.await.unwrap();
            assert!(yields.load(SeqCst) > 0, "the sibling ran its yielding task");
        }
        let spin = busy.await.unwrap();
        // Generous: the spin would last 10 s if nobody fired the stuck worker's timer.
        assert!(spin < Duration::from_secs(5), "spin lasted {spin:?}");
    });
}
