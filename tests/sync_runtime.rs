//! `kiln::sync` under the kiln runtime itself: many tasks on worker threads.

use std::sync::Arc;

use kiln::{Builder, Runtime};
use kiln_sync::{mpsc, oneshot, Barrier, Mutex, Notify, Queue, Semaphore};

fn runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("build runtime")
}

#[test]
fn mutex_contention_across_tasks() {
    let rt = runtime();
    let total = rt.block_on(async {
        let m = Arc::new(Mutex::new(0u64));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let m = m.clone();
                kiln::spawn(async move {
                    for _ in 0..200 {
                        *m.lock().await += 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let v = *m.lock().await;
        v
    });
    assert_eq!(total, 10_000);
}

#[test]
fn mpsc_and_oneshot_between_tasks() {
    let rt = runtime();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<(u32, oneshot::Sender<u32>)>(16);
        let server = kiln::spawn(async move {
            while let Some((v, reply)) = rx.recv().await {
                let _ = reply.send(v * 2);
            }
        });
        let clients: Vec<_> = (0..8u32)
            .map(|c| {
                let tx = tx.clone();
                kiln::spawn(async move {
                    for i in 0..100 {
                        let (otx, orx) = oneshot::channel();
                        tx.send((c * 1000 + i, otx)).await.unwrap();
                        assert_eq!(orx.await.unwrap(), (c * 1000 + i) * 2);
                    }
                })
            })
            .collect();
        drop(tx);
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    });
}

#[test]
fn semaphore_barrier_notify_and_queue_join() {
    let rt = runtime();
    rt.block_on(async {
        let sem = Arc::new(Semaphore::new(2));
        let barrier = Arc::new(Barrier::new(4));
        let notify = Arc::new(Notify::new());
        let q = Arc::new(Queue::new(3));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (sem, barrier, q) = (sem.clone(), barrier.clone(), q.clone());
            tasks.push(kiln::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                drop(_p);
                barrier.wait().await;
                loop {
                    let item: u32 = q.get().await.unwrap();
                    q.task_done();
                    if item == 0 {
                        break;
                    }
                }
            }));
        }
        let waiter = {
            let notify = notify.clone();
            kiln::spawn(async move { notify.notified().await })
        };
        for i in 1..=50 {
            q.put(i).await.unwrap();
        }
        q.join().await;
        for _ in 0..4 {
            q.put(0).await.unwrap();
        }
        for t in tasks {
            t.await.unwrap();
        }
        notify.notify_one();
        waiter.await.unwrap();
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn broadcast_watch_rwlock_event_across_tasks() {
    use kiln_sync::{broadcast, watch, Event, RwLock};

    let rt = runtime();
    rt.block_on(async {
        let (btx, _) = broadcast::channel::<u32>(256);
        let (wtx, wrx) = watch::channel(0u32);
        let lock = Arc::new(RwLock::new(0u32));
        let go = Arc::new(Event::new());
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let mut brx = btx.subscribe();
            let mut wrx = wrx.clone();
            let lock = lock.clone();
            let go = go.clone();
            tasks.push(kiln::spawn(async move {
                go.wait().await;
                let mut sum = 0;
                while let Ok(v) = brx.recv().await {
                    sum += v;
                }
                while wrx.changed().await.is_ok() {}
                *lock.write().await += 1;
                (sum, *wrx.borrow())
            }));
        }
        go.set();
        for i in 1..=100 {
            btx.send(i).unwrap();
        }
        drop(btx);
        wtx.send(9).unwrap();
        drop(wtx);
        for t in tasks {
            assert_eq!(t.await.unwrap(), (5050, 9));
        }
        assert_eq!(*lock.read().await, 4);
    });
}

#[test]
fn queue_shutdown_ends_worker_tasks_fed_from_the_blocking_pool() {
    let rt = runtime();
    let total = rt.block_on(async {
        let q = Arc::new(kiln::sync::Queue::new(2));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                kiln::spawn(async move {
                    let mut sum = 0u32;
                    // Ends once the queue is shut down and drained.
                    while let Ok(v) = q.get().await {
                        sum += v;
                        q.task_done();
                    }
                    sum
                })
            })
            .collect();
        let feeder_q = q.clone();
        kiln::spawn_blocking(move || {
            for i in 1..=100 {
                feeder_q.blocking_put(i).unwrap();
            }
            feeder_q.blocking_join();
            feeder_q.shutdown(false);
        })
        .await
        .unwrap();
        assert!(q.put(0).await.is_err());
        let mut total = 0;
        for w in workers {
            total += w.await.unwrap();
        }
        total
    });
    assert_eq!(total, 5050);
}

#[test]
fn permits_reserved_in_tasks_feed_a_blocking_receiver() {
    let rt = runtime();
    let (tx, mut rx) = kiln::sync::mpsc::channel(2);
    let consumer = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(v) = rx.blocking_recv() {
            got.push(v);
        }
        got
    });
    rt.block_on(async {
        let tasks: Vec<_> = (0..4u32)
            .map(|t| {
                let tx = tx.clone();
                kiln::spawn(async move {
                    for i in 0..50u32 {
                        tx.reserve().await.unwrap().send(t * 100 + i);
                    }
                })
            })
            .collect();
        drop(tx);
        for t in tasks {
            t.await.unwrap();
        }
    });
    let mut got = consumer.join().unwrap();
    got.sort_unstable();
    let want: Vec<u32> = (0..4u32)
        .flat_map(|t| (0..50).map(move |i| t * 100 + i))
        .collect();
    assert_eq!(got, want);
}
