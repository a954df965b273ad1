//! `kiln::task::TaskGroup` and `kiln::task::group`: asyncio.TaskGroup semantics on both
//! flavors: all-succeed, first failure cancels the siblings and is returned, panics, drop
//! cancels, runtime shutdown.

mod common;

use common::runtimes;
use kiln::sync::Event;
use kiln::task::{GroupError, TaskGroup};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

/// Counts drops of the futures holding one.
#[derive(Clone)]
struct Drops(Arc<AtomicUsize>);

impl Drops {
    fn new() -> Drops {
        Drops(Arc::new(AtomicUsize::new(0)))
    }
    fn guard(&self) -> DropGuard {
        DropGuard(self.0.clone())
    }
    fn count(&self) -> usize {
        self.0.load(SeqCst)
    }
}

struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A child that never finishes on its own.
async fn forever(guard: DropGuard) -> Result<u32, String> {
    let _guard = guard;
    std::future::pending::<()>().await;
    Ok(0)
}

#[test]
fn all_succeed_in_spawn_order() {
    for (flavor, rt) in runtimes() {
        let out = rt.block_on(async {
            let group = TaskGroup::<usize, String>::new();
            let gates: Vec<Arc<Event>> = (0..6).map(|_| Arc::new(Event::new())).collect();
            for (i, gate) in gates.iter().enumerate() {
                let gate = gate.clone();
                group.spawn(async move {
                    gate.wait().await;
                    Ok(i * i)
                });
            }
            assert_eq!(group.len(), 6);
            // Finish them in reverse order: the output is still in spawn order.
            for gate in gates.iter().rev() {
                gate.set();
                kiln::task::yield_now().await;
            }
            group.join().await
        });
        assert_eq!(out.unwrap(), vec![0, 1, 4, 9, 16, 25], "{flavor}");
    }
}

#[test]
fn empty_group_joins_at_once() {
    for (flavor, rt) in runtimes() {
        let out = rt.block_on(TaskGroup::<(), ()>::new().join());
        assert_eq!(out.unwrap(), Vec::<()>::new(), "{flavor}");
    }
}

#[test]
fn first_error_cancels_siblings_and_is_returned() {
    for (flavor, rt) in runtimes() {
        let drops = Drops::new();
        let d = drops.clone();
        let err = rt.block_on(async move {
            let group = TaskGroup::<u32, String>::new();
            for _ in 0..10 {
                group.spawn(forever(d.guard()));
            }
            let bad = group.spawn(async { Err("bad".to_string()) }).unwrap();
            let err = group.join().await.unwrap_err();
            // join waited for every aborted sibling: each future is already dropped.
            assert_eq!(d.count(), 10, "{flavor}");
            assert_eq!(err.id(), bad, "{flavor}");
            err
        });
        assert!(
            err.is_failed() && !err.is_panic() && !err.is_cancelled(),
            "{flavor}"
        );
        assert_eq!(err.error().map(String::as_str), Some("bad"), "{flavor}");
        assert_eq!(err.into_error(), "bad", "{flavor}");
        assert_eq!(drops.count(), 10, "{flavor}");
    }
}

#[test]
fn the_first_failure_wins() {
    for (flavor, rt) in runtimes() {
        let err = rt.block_on(async {
            let group = TaskGroup::<(), &'static str>::new();
            let later = Arc::new(Event::new());
            let l = later.clone();
            group.spawn(async move {
                l.wait().await;
                Err("second")
            });
            group.spawn(async { Err("first") });
            while !group.is_failed() {
                kiln::task::yield_now().await;
            }
            // The second child is aborted already; releasing it changes nothing.
            later.set();
            group.join().await.unwrap_err()
        });
        assert_eq!(err.into_error(), "first", "{flavor}");
    }
}

#[test]
fn panic_cancels_siblings_and_is_returned() {
    for (flavor, rt) in runtimes() {
        let drops = Drops::new();
        let d = drops.clone();
        let err = rt.block_on(async move {
            let group = TaskGroup::<u32, String>::new();
            for _ in 0..5 {
                group.spawn(forever(d.guard()));
            }
            group.spawn(async { std::panic::panic_any(42u32) });
            group.join().await.unwrap_err()
        });
        assert!(err.is_panic() && !err.is_failed(), "{flavor}");
        assert!(err.to_string().contains("panicked"), "{err} ({flavor})");
        assert_eq!(*err.into_panic().downcast::<u32>().unwrap(), 42, "{flavor}");
        assert_eq!(drops.count(), 5, "{flavor}");
    }
}

#[test]
fn spawn_after_failure_is_refused() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let group = TaskGroup::<(), ()>::new();
            group.spawn(async { Err(()) });
            while !group.is_failed() {
                kiln::task::yield_now().await;
            }
            let drops = Drops::new();
            let guard = drops.guard();
            let refused = group.spawn(async move {
                let _g = guard;
                Ok(())
            });
            assert!(refused.is_none(), "{flavor}");
            assert_eq!(
                drops.count(),
                1,
                "refused future dropped unpolled ({flavor})"
            );
            assert!(group.join().await.unwrap_err().is_failed(), "{flavor}");
        });
    }
}

#[test]
fn dropping_the_group_cancels_children() {
    for (flavor, rt) in runtimes() {
        let drops = Drops::new();
        let d = drops.clone();
        rt.block_on(async move {
            let group = TaskGroup::<u32, String>::new();
            for _ in 0..8 {
                group.spawn(forever(d.guard()));
            }
            kiln::task::yield_now().await;
            drop(group);
            while d.count() < 8 {
                kiln::task::yield_now().await;
            }
        });
        assert_eq!(drops.count(), 8, "{flavor}");
    }
}

#[test]
fn dropping_the_join_future_cancels_children() {
    for (flavor, rt) in runtimes() {
        let drops = Drops::new();
        let d = drops.clone();
        rt.block_on(async move {
            let group = TaskGroup::<u32, String>::new();
            for _ in 0..4 {
                group.spawn(forever(d.guard()));
            }
            // wait_for(group, 10 ms): the timeout drops the join future.
            let res = kiln::time::timeout(Duration::from_millis(10), group.join()).await;
            assert!(res.is_err(), "{flavor}");
            while d.count() < 4 {
                kiln::task::yield_now().await;
            }
        });
        assert_eq!(drops.count(), 4, "{flavor}");
    }
}

#[test]
fn children_can_spawn_siblings() {
    fn fan_out(
        g: kiln::task::GroupSpawner<u64, String>,
        depth: u32,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, String>> + Send>> {
        Box::pin(async move {
            if depth > 0 {
                g.spawn(fan_out(g.clone(), depth - 1));
                g.spawn(fan_out(g.clone(), depth - 1));
            }
            Ok(1)
        })
    }
    for (flavor, rt) in runtimes() {
        let out = rt.block_on(async {
            let group = TaskGroup::new();
            group.spawn(fan_out(group.spawner(), 8));
            group.join().await.unwrap()
        });
        // A full binary tree of depth 8.
        assert_eq!(out.len(), 511, "{flavor}");
        assert_eq!(out.iter().sum::<u64>(), 511, "{flavor}");
    }
}

#[test]
fn spawner_is_closed_after_join() {
    for (flavor, rt) in runtimes() {
        rt.block_on(async {
            let group = TaskGroup::<u8, ()>::new();
            let spawner = group.spawner();
            assert!(spawner.spawn(async { Ok(1) }).is_some(), "{flavor}");
            assert_eq!(group.join().await.unwrap(), vec![1], "{flavor}");
            assert!(spawner.spawn(async { Ok(2) }).is_none(), "{flavor}");
        });
    }
}

#[test]
fn scoped_group_collects_outputs() {
    for (flavor, rt) in runtimes() {
        let out = rt.block_on(kiln::task::group(|g| async move {
            for i in 0..5u32 {
                g.spawn(async move {
                    kiln::task::yield_now().await;
                    Ok::<_, std::io::Error>(i)
                });
            }
        }));
        assert_eq!(out.unwrap(), vec![0, 1, 2, 3, 4], "{flavor}");
    }
}

#[test]
fn scoped_group_failure_cancels_the_body() {
    for (flavor, rt) in runtimes() {
        let body_dropped = Drops::new();
        let children = Drops::new();
        let (b, c) = (body_dropped.clone(), children.clone());
        let err: GroupError<&str> = rt
            .block_on(kiln::task::group(|g| async move {
                let _body = b.guard();
                let child = c.guard();
                g.spawn(async move { forever(child).await.map(|_| ()).map_err(|_| "unreachable") });
                g.spawn(async { Err("child failed") });
                // The body would wait forever: the failure cancels it.
                std::future::pending::<()>().await;
            }))
            .unwrap_err();
        assert_eq!(err.into_error(), "child failed", "{flavor}");
        assert_eq!(body_dropped.count(), 1, "{flavor}");
        assert_eq!(children.count(), 1, "{flavor}");
    }
}

#[test]
fn scoped_group_body_panic_propagates_and_cancels_children() {
    for (flavor, rt) in runtimes() {
        let drops = Drops::new();
        let d = drops.clone();
        let res = rt.block_on(async move {
            kiln::spawn(kiln::task::group(move |g| async move {
                g.spawn(forever(d.guard()));
                kiln::task::yield_now().await;
                panic!("body failed");
            }))
            .await
        });
        assert!(res.unwrap_err().is_panic(), "{flavor}");
        rt.block_on(async {
            while drops.count() < 1 {
                kiln::task::yield_now().await;
            }
        });
    }
}

#[test]
fn runtime_shutdown_cancels_children_and_fails_the_group() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let group = TaskGroup::<u32, String>::new();
    let drops = Drops::new();
    for _ in 0..3 {
        group.spawn_on(forever(drops.guard()), rt.handle());
    }
    // Awaited from a plain thread, outside the runtime being shut down.
    let joiner = std::thread::spawn(move || futures::executor::block_on(group.join()));
    drop(rt);
    let err = joiner.join().unwrap().unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert_eq!(drops.count(), 3);
}

#[test]
fn many_children_one_failure_repeatedly() {
    for (flavor, rt) in runtimes() {
        for round in 0..20u32 {
            let err = rt.block_on(async {
                let group = TaskGroup::<u32, u32>::new();
                for i in 0..200u32 {
                    group.spawn(async move {
                        kiln::task::yield_now().await;
                        if i == 100 {
                            Err(i)
                        } else {
                            std::future::pending::<()>().await;
                            Ok(i)
                        }
                    });
                }
                group.join().await.unwrap_err()
            });
            assert_eq!(err.into_error(), 100, "{flavor} round {round}");
        }
    }
}

#[test]
fn concurrent_spawns_racing_a_failure_leave_no_child_behind() {
    for (flavor, rt) in runtimes() {
        for round in 0..10u32 {
            let created = Drops::new();
            let dropped = Drops::new();
            let (c, d) = (created.clone(), dropped.clone());
            let err = rt.block_on(async move {
                let group = TaskGroup::<(), u32>::new();
                let spawners: Vec<_> = (0..4u32)
                    .map(|s| {
                        let (g, c, d) = (group.spawner(), c.clone(), d.clone());
                        kiln::spawn(async move {
                            for i in 0..100u32 {
                                c.0.fetch_add(1, SeqCst);
                                let guard = d.guard();
                                let fail = s == 2 && i == 50;
                                // Refused once the group failed: the future (and guard) is
                                // dropped by `spawn` itself.
                                g.spawn(async move {
                                    let _guard = guard;
                                    kiln::task::yield_now().await;
                                    if fail {
                                        return Err(i);
                                    }
                                    std::future::pending::<()>().await;
                                    Ok(())
                                });
                                if i % 10 == 0 {
                                    kiln::task::yield_now().await;
                                }
                            }
                        })
                    })
                    .collect();
                for s in spawners {
                    s.await.unwrap();
                }
                group.join().await.unwrap_err()
            });
            assert_eq!(err.into_error(), 50, "{flavor} round {round}");
            // Every child future that was created is gone: none runs on after the group.
            assert_eq!(created.count(), 400, "{flavor} round {round}");
            assert_eq!(dropped.count(), 400, "{flavor} round {round}");
        }
    }
}

#[test]
fn group_error_formats_and_has_a_source() {
    let rt = kiln::Runtime::new().unwrap();
    let err = rt.block_on(async {
        let group = TaskGroup::<(), std::io::Error>::new();
        group.spawn(async { Err(std::io::Error::other("disk on fire")) });
        group.join().await.unwrap_err()
    });
    let text = err.to_string();
    assert!(text.contains("disk on fire"), "{text}");
    assert!(format!("{err:?}").contains("Failed"), "{err:?}");
    let source = std::error::Error::source(&err).unwrap();
    assert_eq!(source.to_string(), "disk on fire");
    assert!(err.try_into_error().is_ok());
}

#[test]
#[should_panic(expected = "must be called from inside a kiln runtime")]
fn spawn_outside_a_runtime_panics_clearly() {
    let group = TaskGroup::<(), ()>::new();
    group.spawn(async { Ok(()) });
}

#[test]
fn group_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TaskGroup<u32, String>>();
    assert_send_sync::<kiln::task::GroupSpawner<u32, String>>();
    assert_send_sync::<GroupError<std::io::Error>>();
}
