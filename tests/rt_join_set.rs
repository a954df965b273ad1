//! `kiln::task::JoinSet`: completion order, abort, detach, drop policy, shutdown, on both
//! flavors.

mod common;

use common::runtimes;
use kiln::sync::Event;
use kiln::task::JoinSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

/// Counts how many futures holding one were dropped.
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn results_come_in_completion_order() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let gates: Vec<Arc<Event>> = (0..5).map(|_| Arc::new(Event::new())).collect();
            let mut set = JoinSet::new();
            for (i, gate) in gates.iter().enumerate() {
                let gate = gate.clone();
                set.spawn(async move {
                    gate.wait().await;
                    i
                });
            }
            // Release them in reverse spawn order, one at a time.
            let mut order = Vec::new();
            for gate in gates.iter().rev() {
                gate.set();
                order.push(set.join_next().await.unwrap().unwrap());
            }
            assert_eq!(order, vec![4, 3, 2, 1, 0], "{flavor}");
            assert!(set.join_next().await.is_none(), "{flavor}");
        });
    }
}

#[test]
fn many_tasks_all_joined() {
    for (flavor, rt) in runtimes() {
        let sum = rt.block_on(async {
            let mut set = JoinSet::new();
            for i in 0..10_000u64 {
                set.spawn(async move {
                    if i % 7 == 0 {
                        kiln::task::yield_now().await;
                    }
                    i
                });
            }
            assert_eq!(set.len(), 10_000);
            let mut sum = 0;
            while let Some(r) = set.join_next().await {
                sum += r.unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..10_000u64).sum::<u64>(), "{flavor}");
    }
}

#[test]
fn ids_match_spawned_tasks() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let mut set = JoinSet::new();
            let mut ids: Vec<_> = (0..50u32)
                .map(|i| (set.spawn(async move { i }), i))
                .collect();
            let mut got = Vec::new();
            while let Some(r) = set.join_next_with_id().await {
                got.push(r.unwrap());
            }
            ids.sort();
            got.sort();
            assert_eq!(ids, got, "{flavor}");
        });
    }
}

#[test]
fn panic_is_reported_and_others_finish() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { 1 });
            let bad = set.spawn(async { panic!("one task fails") });
            set.spawn(async { 2 });
            let (mut ok, mut panics) = (0, 0);
            while let Some(r) = set.join_next().await {
                match r {
                    Ok(v) => ok += v,
                    Err(e) => {
                        assert!(e.is_panic(), "{flavor}");
                        assert_eq!(e.id(), bad, "{flavor}");
                        panics += 1;
                    }
                }
            }
            assert_eq!((ok, panics), (3, 1), "{flavor}");
        });
    }
}

#[test]
fn abort_all_cancels_every_task() {
    for (flavor, rt) in runtimes() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            for _ in 0..20 {
                let guard = Dropped(d.clone());
                set.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                });
            }
            set.abort_all();
            assert_eq!(set.len(), 20, "aborted tasks stay until joined ({flavor})");
            let mut cancelled = 0;
            while let Some(r) = set.join_next().await {
                assert!(r.unwrap_err().is_cancelled(), "{flavor}");
                cancelled += 1;
            }
            assert_eq!(cancelled, 20, "{flavor}");
        });
        assert_eq!(dropped.load(SeqCst), 20, "{flavor}");
    }
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let dropped = Arc::new(AtomicUsize::new(0));
            let all_dropped = Arc::new(Event::new());
            let started = Arc::new(kiln::sync::Barrier::new(4));
            let mut set = JoinSet::new();
            for _ in 0..3 {
                let (d, all, started) = (dropped.clone(), all_dropped.clone(), started.clone());
                set.spawn(async move {
                    struct SignalOnDrop(Arc<AtomicUsize>, Arc<Event>);
                    impl Drop for SignalOnDrop {
                        fn drop(&mut self) {
                            if self.0.fetch_add(1, SeqCst) + 1 == 3 {
                                self.1.set();
                            }
                        }
                    }
                    let _guard = SignalOnDrop(d, all);
                    started.wait().await;
                    std::future::pending::<()>().await
                });
            }
            started.wait().await; // every task is running
            drop(set);
            all_dropped.wait().await;
            assert_eq!(dropped.load(SeqCst), 3, "{flavor}");
        });
    }
}

#[test]
fn detach_all_lets_tasks_run_on() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let gate = Arc::new(Event::new());
            let done = Arc::new(AtomicUsize::new(0));
            let finished = Arc::new(Event::new());
            let mut set = JoinSet::new();
            for _ in 0..4 {
                let (gate, done, finished) = (gate.clone(), done.clone(), finished.clone());
                set.spawn(async move {
                    gate.wait().await;
                    if done.fetch_add(1, SeqCst) + 1 == 4 {
                        finished.set();
                    }
                });
            }
            set.detach_all();
            assert!(set.is_empty(), "{flavor}");
            drop(set);
            gate.set();
            finished.wait().await;
            assert_eq!(done.load(SeqCst), 4, "{flavor}");
        });
    }
}

#[test]
fn shutdown_aborts_and_waits() {
    for (flavor, rt) in runtimes() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        rt.block_on(async move {
            let mut set = JoinSet::new();
            for _ in 0..10 {
                let guard = Dropped(d.clone());
                set.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                });
            }
            set.shutdown().await;
            assert!(set.is_empty(), "{flavor}");
            // `shutdown` returned only after every task finished: every future is gone.
            assert_eq!(d.load(SeqCst), 10, "{flavor}");
        });
        assert_eq!(dropped.load(SeqCst), 10, "{flavor}");
    }
}

#[test]
fn try_join_next_does_not_wait() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let mut set = JoinSet::new();
            assert!(set.try_join_next().is_none(), "{flavor}");
            let gate = Arc::new(Event::new());
            let g = gate.clone();
            set.spawn(async move {
                g.wait().await;
                7
            });
            assert!(set.try_join_next().is_none(), "still running ({flavor})");
            gate.set();
            let out = loop {
                if let Some(r) = set.try_join_next() {
                    break r.unwrap();
                }
                kiln::task::yield_now().await;
            };
            assert_eq!(out, 7, "{flavor}");
            assert!(set.is_empty(), "{flavor}");
        });
    }
}

#[test]
fn join_next_is_cancel_safe() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let mut set = JoinSet::new();
            for i in 0..100u32 {
                set.spawn(async move { i });
            }
            let mut sum = 0;
            let mut received = 0;
            while received < 100 {
                // Race join_next against an immediately ready future: whichever loses is
                // dropped, and no output may be lost.
                let next = std::pin::pin!(set.join_next());
                match futures::future::select(next, std::future::ready(())).await {
                    futures::future::Either::Left((Some(r), _)) => {
                        sum += r.unwrap();
                        received += 1;
                    }
                    futures::future::Either::Left((None, _)) => unreachable!("set emptied early"),
                    futures::future::Either::Right(_) => kiln::task::yield_now().await,
                }
            }
            assert_eq!(sum, (0..100u32).sum::<u32>(), "{flavor}");
            assert!(set.join_next().await.is_none(), "{flavor}");
        });
    }
}

#[test]
fn spawn_blocking_and_spawn_on() {
    for (flavor, rt) in runtimes() {
        let mut set = JoinSet::new();
        set.spawn_on(async { 1u64 }, rt.handle());
        set.spawn_blocking_on(|| 2u64, rt.handle());
        let total = rt.block_on(async move {
            set.spawn_blocking(|| {
                std::thread::sleep(std::time::Duration::from_millis(5));
                3u64
            });
            let mut total = 0;
            while let Some(r) = set.join_next().await {
                total += r.unwrap();
            }
            total
        });
        assert_eq!(total, 6, "{flavor}");
    }
}

#[test]
fn collect_and_extend_spawn_on_the_current_runtime() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let mut set: JoinSet<u32> = (0..3u32).map(|i| async move { i }).collect();
            set.extend((3..6u32).map(|i| async move { i }));
            let mut all = Vec::new();
            while let Some(r) = set.join_next().await {
                all.push(r.unwrap());
            }
            all.sort();
            assert_eq!(all, vec![0, 1, 2, 3, 4, 5], "{flavor}");
        });
    }
}

#[test]
#[should_panic(expected = "must be called from inside a kiln runtime")]
fn spawn_outside_a_runtime_panics_clearly() {
    let mut set = JoinSet::new();
    set.spawn(async {});
}

#[test]
fn join_set_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JoinSet<u32>>();
    assert_send_sync::<JoinSet<String>>();
}
