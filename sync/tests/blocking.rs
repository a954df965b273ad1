//! The `blocking_*` forms, driven from plain threads against async and blocking peers.

use std::sync::Arc;
use std::thread;

use futures::executor::block_on;
use kiln_sync::{mpsc, oneshot, Mutex, Queue, RwLock};

#[test]
fn blocking_lock_waits_for_the_holder_and_sees_its_writes() {
    let m = Arc::new(Mutex::new(0));
    let mut guard = m.try_lock().unwrap();
    let m2 = m.clone();
    let t = thread::spawn(move || {
        let mut g = m2.blocking_lock();
        let seen = *g;
        *g = 10;
        seen
    });
    // Whatever the thread has reached, it cannot hold the lock before this guard is dropped.
    *guard = 5;
    drop(guard);
    assert_eq!(t.join().unwrap(), 5);
    assert_eq!(*block_on(m.lock()), 10);
}

#[test]
fn blocking_locks_from_many_threads_are_exclusive() {
    let m = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..500 {
                    *m.blocking_lock() += 1;
                }
            })
        })
        .collect();
    block_on(async {
        for _ in 0..500 {
            *m.lock().await += 1;
        }
    });
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*m.blocking_lock(), 2500);
}

#[test]
fn blocking_read_and_write_respect_the_writer() {
    let lock = Arc::new(RwLock::new(1));
    let mut w = lock.try_write().unwrap();
    let (l1, l2) = (lock.clone(), lock.clone());
    let reader = thread::spawn(move || *l1.blocking_read());
    let writer = thread::spawn(move || {
        let mut g = l2.blocking_write();
        *g += 100;
    });
    *w = 2;
    drop(w);
    let seen = reader.join().unwrap();
    writer.join().unwrap();
    // The reader ran either before or after the second writer, never before the first.
    assert!(seen == 2 || seen == 102, "reader saw {seen}");
    assert_eq!(*lock.blocking_read(), 102);
}

#[test]
fn bounded_blocking_send_and_recv_keep_order_under_backpressure() {
    let (tx, mut rx) = mpsc::channel(1);
    let producers: Vec<_> = (0..3u32)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..300u32 {
                    tx.blocking_send((p, i)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut next = [0u32; 3];
    while let Some((p, i)) = rx.blocking_recv() {
        assert_eq!(next[p as usize], i, "per-producer order");
        next[p as usize] += 1;
    }
    assert_eq!(next, [300; 3]);
    for p in producers {
        p.join().unwrap();
    }
}

#[test]
fn blocking_send_hands_the_value_back_when_the_receiver_goes() {
    let (tx, rx) = mpsc::channel(1);
    tx.try_send(1).unwrap();
    let t = thread::spawn(move || tx.blocking_send(2));
    // The channel is full, so the send can only end by failing once the receiver is gone.
    drop(rx);
    assert_eq!(t.join().unwrap().unwrap_err().into_inner(), 2);
}

#[test]
fn unbounded_blocking_recv_drains_then_ends() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let consumer = thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(v) = rx.blocking_recv() {
            got.push(v);
        }
        got
    });
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    drop(tx);
    assert_eq!(consumer.join().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn oneshot_blocking_recv_gets_the_value_or_the_error() {
    let (tx, rx) = oneshot::channel();
    let t = thread::spawn(move || rx.blocking_recv());
    tx.send(vec![1]).unwrap();
    assert_eq!(t.join().unwrap(), Ok(vec![1]));

    let (tx, rx) = oneshot::channel::<u8>();
    let t = thread::spawn(move || rx.blocking_recv());
    drop(tx);
    assert!(t.join().unwrap().is_err());
}

#[test]
fn queue_blocking_put_get_and_join_across_threads() {
    let q = Arc::new(Queue::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                let mut sum = 0u64;
                while let Ok(v) = q.blocking_get() {
                    sum += v;
                    q.task_done();
                }
                sum
            })
        })
        .collect();
    for i in 1..=200u64 {
        q.blocking_put(i).unwrap();
    }
    q.blocking_join();
    assert_eq!(q.unfinished_tasks(), 0);
    q.shutdown(false);
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(total, 200 * 201 / 2);
}

#[test]
fn queue_shutdown_releases_blocked_threads() {
    let empty = Arc::new(Queue::<u8>::new(1));
    let full = Arc::new(Queue::new(1));
    full.try_put(1).unwrap();
    let (e, f) = (empty.clone(), full.clone());
    let getter = thread::spawn(move || e.blocking_get());
    let putter = thread::spawn(move || f.blocking_put(2));
    // Nothing else touches the queues, so both calls can only end through the shutdowns.
    empty.shutdown(false);
    full.shutdown(false);
    assert!(getter.join().unwrap().is_err());
    assert_eq!(putter.join().unwrap().unwrap_err().into_inner(), 2);
    assert_eq!(full.blocking_get(), Ok(1));
    assert!(full.blocking_get().is_err());
}
