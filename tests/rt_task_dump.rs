//! `Handle::dump`: every live task with the right state, and dumping under churn.

use kiln::task::TaskState;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const N: usize = 10_000;

#[test]
fn dump_of_ten_thousand_tasks_lists_each_scheduled_then_idle() {
    let rt = kiln::Builder::new_current_thread()
        .poll_histograms(1)
        .build()
        .unwrap();
    let (tx, rx) = kiln::sync::watch::channel(false);
    let started = Arc::new(AtomicUsize::new(0));
    // Spawned from outside with nobody driving the loop: every task is queued, not run.
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let mut rx = rx.clone();
            let started = started.clone();
            let name = format!("waiter {i}");
            kiln::task::Builder::new()
                .name(&name)
                .spawn_on(
                    async move {
                        started.fetch_add(1, Ordering::Relaxed);
                        while !*rx.borrow_and_update() {
                            if rx.changed().await.is_err() {
                                break;
                            }
                        }
                    },
                    rt.handle(),
                )
                .unwrap()
        })
        .collect();
    let dump = rt.handle().dump();
    assert_eq!(dump.tasks().len(), N);
    let by_id: HashMap<_, _> = dump.tasks().iter().map(|t| (t.id, t)).collect();
    for (i, h) in handles.iter().enumerate() {
        let t = by_id[&h.id()];
        assert_eq!(t.state, TaskState::Scheduled, "task {i}");
        assert_eq!(t.polls, 0);
        assert_eq!(t.name.as_deref(), Some(format!("waiter {i}").as_str()));
    }
    // Let every task run once and park on the channel.
    rt.block_on(async {
        while started.load(Ordering::Relaxed) < N {
            kiln::task::yield_now().await;
        }
        // The last task to start has also parked: this future runs between task polls.
    });
    let dump = rt.handle().dump();
    assert_eq!(dump.tasks().len(), N);
    let by_id: HashMap<_, _> = dump.tasks().iter().map(|t| (t.id, t)).collect();
    for h in &handles {
        let t = by_id[&h.id()];
        assert_eq!(t.state, TaskState::Idle);
        assert_eq!(t.polls, 1);
        assert!(t.since_spawn.is_some() && t.since_last_poll.is_some());
    }
    let table = dump.to_string();
    assert_eq!(
        table.lines().count(),
        N + 2,
        "a header, a column line, a row per task"
    );
    assert!(table.starts_with(&format!(
        "{N} tasks: {N} idle, 0 scheduled, 0 running, 0 blocking"
    )));
    tx.send(true).unwrap();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert!(rt.handle().dump().tasks().is_empty());
}

#[test]
fn running_and_blocking_tasks_are_reported_as_such() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .poll_histograms(1)
        .build()
        .unwrap();
    let in_poll = Arc::new(Barrier::new(2));
    let release = Arc::new(AtomicBool::new(false));
    // Dropped before the runtime, also when an assertion fails: the tasks stop spinning, so a
    // failure ends the test instead of hanging its runtime's drop.
    let _release_on_exit = ReleaseOnDrop(release.clone());
    let running = {
        let (in_poll, release) = (in_poll.clone(), release.clone());
        rt.spawn(async move {
            in_poll.wait();
            while !release.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    in_poll.wait();
    let in_job = Arc::new(Barrier::new(2));
    let blocking = {
        let (in_job, release) = (in_job.clone(), release.clone());
        kiln::task::Builder::new()
            .name("slow job")
            .spawn_blocking_on(
                move || {
                    in_job.wait();
                    while !release.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                },
                rt.handle(),
            )
            .unwrap()
    };
    in_job.wait();
    let dump = rt.handle().dump();
    let state = |id| dump.tasks().iter().find(|t| t.id == id).unwrap().state;
    assert!(
        matches!(state(running.id()), TaskState::Running { worker: Some(w) } if w < 2),
        "{dump}"
    );
    assert_eq!(state(blocking.id()), TaskState::Blocking, "{dump}");
    let poll_time = |id| dump.tasks().iter().find(|t| t.id == id).unwrap().poll_time;
    assert!(
        poll_time(running.id()).is_some(),
        "a task's polls are timed"
    );
    assert_eq!(
        poll_time(blocking.id()),
        None,
        "a named blocking job is never polled, so it has no poll time: {dump}"
    );
    let text = dump.to_string();
    assert!(text.contains("running on "), "{text}");
    assert!(text.contains("slow job"), "{text}");
    release.store(true, Ordering::Release);
    rt.block_on(async {
        running.await.unwrap();
        blocking.await.unwrap();
    });
    assert!(rt.handle().dump().tasks().is_empty());
}

/// Sets its flag when dropped.
struct ReleaseOnDrop(Arc<AtomicBool>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Tasks spawn, run and finish on every worker while another thread dumps in a loop.
#[test]
fn dumping_while_tasks_churn_neither_deadlocks_nor_crashes() {
    for observed in [false, true] {
        let mut b = kiln::Builder::new_multi_thread();
        b.worker_threads(2);
        if observed {
            b.stall_threshold(Duration::from_secs(5)).poll_histograms(1);
        }
        let rt = b.build().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let dumps = Arc::new(AtomicUsize::new(0));
        let dumper = {
            let (handle, stop, dumps) = (rt.handle().clone(), stop.clone(), dumps.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let d = handle.dump();
                    // Rendering reads every row too.
                    assert!(d.to_string().lines().count() >= 2);
                    dumps.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let deadline = Instant::now() + Duration::from_millis(700);
        let spawned = rt.block_on(async move {
            let mut spawned = 0usize;
            while Instant::now() < deadline {
                let mut set = kiln::task::JoinSet::new();
                for i in 0..200 {
                    set.spawn(async move {
                        for _ in 0..(i % 3) {
                            kiln::task::yield_now().await;
                        }
                        if i % 50 == 0 {
                            kiln::spawn_blocking(|| ()).await.unwrap();
                        }
                    });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap();
                }
                spawned += 200;
            }
            spawned
        });
        stop.store(true, Ordering::Relaxed);
        dumper.join().expect("the dumping thread panicked");
        assert!(spawned >= 200);
        assert!(dumps.load(Ordering::Relaxed) >= 1);
        drop(rt);
    }
}

/// A blocking task is listed while a pool thread runs it, not while it waits in the pool's
/// queue and not once it finished; a thread that retired takes its entry with it.
#[test]
fn blocking_tasks_are_listed_while_they_run() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(1)
        .blocking_keep_alive(Duration::from_millis(20))
        .build()
        .unwrap();
    let gated = |name: &str| {
        let (started, release) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
        let h = {
            let (started, release) = (started.clone(), release.clone());
            kiln::task::Builder::new()
                .name(name)
                .spawn_blocking_on(
                    move || {
                        started.wait();
                        release.wait();
                    },
                    rt.handle(),
                )
                .unwrap()
        };
        (h, started, release)
    };
    let states = || {
        let dump = rt.handle().dump();
        let mut v: Vec<_> = dump
            .tasks()
            .iter()
            .map(|t| (t.name.clone().unwrap_or_default(), t.state))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let (first, first_started, first_release) = gated("first");
    first_started.wait();
    // The pool's one thread runs `first`, so `second` waits in the queue.
    let (second, second_started, second_release) = gated("second");
    assert_eq!(states(), [("first".to_string(), TaskState::Blocking)]);
    first_release.wait();
    second_started.wait();
    assert_eq!(states(), [("second".to_string(), TaskState::Blocking)]);
    second_release.wait();
    rt.block_on(async {
        first.await.unwrap();
        second.await.unwrap();
    });
    assert!(states().is_empty());

    // Once the thread retired, a new one lists its own job.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rt.handle().metrics().blocking_threads() != 0 {
        assert!(
            Instant::now() < deadline,
            "the idle pool thread never retired"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let (third, third_started, third_release) = gated("third");
    third_started.wait();
    assert_eq!(states(), [("third".to_string(), TaskState::Blocking)]);
    third_release.wait();
    rt.block_on(third).unwrap();
    assert!(states().is_empty());
}
