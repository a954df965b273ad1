//! Every `kiln::sync` primitive works inside a user's `loom::model` under `--cfg kiln_loom`:
//! a waiter on one loom thread is released by the other in every interleaving.
#![cfg(kiln_loom)]

use kiln::sync::{
    broadcast, mpsc, oneshot, watch, Barrier, Event, Mutex, Notify, OnceCell, Queue, RwLock,
    Semaphore,
};
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;

#[test]
fn locks_and_semaphore() {
    loom::model(|| {
        let m = Arc::new(Mutex::new(0));
        let rw = Arc::new(RwLock::new(0));
        let sem = Arc::new(Semaphore::new(1));
        let (m2, rw2, sem2) = (m.clone(), rw.clone(), sem.clone());
        let t = thread::spawn(move || {
            block_on(async {
                let _p = sem2.acquire().await.unwrap();
                *m2.lock().await += 1;
                *rw2.write().await += 1;
            })
        });
        block_on(async {
            let _p = sem.acquire().await.unwrap();
            *m.lock().await += 1;
            *rw.write().await += 1;
        });
        t.join().unwrap();
        block_on(async {
            assert_eq!(*m.lock().await, 2);
            assert_eq!(*rw.read().await, 2);
        });
    });
}

#[test]
fn notify_event_barrier_once_cell() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let event = Arc::new(Event::new());
        let barrier = Arc::new(Barrier::new(2));
        let cell = Arc::new(OnceCell::new());
        let (n2, e2, b2, c2) = (notify.clone(), event.clone(), barrier.clone(), cell.clone());
        let t = thread::spawn(move || {
            n2.notify_one();
            e2.set();
            let _ = c2.set(7);
            block_on(b2.wait());
        });
        block_on(async {
            notify.notified().await;
            event.wait().await;
            barrier.wait().await;
            assert_eq!(*cell.get_or_init(|| async { 8 }).await, 7);
        });
        t.join().unwrap();
    });
}

#[test]
fn channels() {
    loom::model(|| {
        let (one_tx, one_rx) = oneshot::channel();
        let (mpsc_tx, mut mpsc_rx) = mpsc::channel(1);
        let (bc_tx, mut bc_rx) = broadcast::channel(1);
        let (w_tx, mut w_rx) = watch::channel(0);
        let t = thread::spawn(move || {
            one_tx.send(1).unwrap();
            block_on(mpsc_tx.send(2)).unwrap();
            bc_tx.send(3).unwrap();
            w_tx.send(4).unwrap();
        });
        block_on(async {
            assert_eq!(one_rx.await.unwrap(), 1);
            assert_eq!(mpsc_rx.recv().await, Some(2));
            assert_eq!(bc_rx.recv().await.unwrap(), 3);
            w_rx.changed().await.unwrap();
            assert_eq!(*w_rx.borrow(), 4);
        });
        t.join().unwrap();
    });
}

#[test]
fn queue() {
    loom::model(|| {
        let q = Arc::new(Queue::new(1));
        let q2 = q.clone();
        let t = thread::spawn(move || block_on(q2.put(5)).unwrap());
        block_on(async {
            assert_eq!(q.get().await.unwrap(), 5);
        });
        t.join().unwrap();
    });
}
