//! asyncio `Queue` semantics: bounded/unbounded, put/get, task_done/join, cancellation.

mod common;

use common::{counting_waker, poll};

use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::thread;

use futures::executor::{block_on, LocalPool};
use futures::task::LocalSpawnExt;
use futures::StreamExt;
use kiln_sync::Queue;

#[test]
fn fifo_and_sizes() {
    let q = Queue::new(3);
    assert_eq!(q.maxsize(), 3);
    assert!(q.is_empty());
    for i in 0..3 {
        q.try_put(i).unwrap();
    }
    assert!(q.is_full());
    assert_eq!(q.qsize(), 3);
    assert_eq!(q.try_put(9).unwrap_err().into_inner(), 9);
    assert_eq!(q.try_get().unwrap(), 0);
    assert_eq!(q.len(), 2);
    let unbounded = Queue::unbounded();
    for i in 0..10_000 {
        unbounded.try_put(i).unwrap();
    }
    assert!(!unbounded.is_full());
}

#[test]
fn put_waits_while_full_and_get_waits_while_empty() {
    let q = Queue::new(1);
    let (count, w) = counting_waker();
    q.try_put('a').unwrap();
    let mut put = pin!(q.put('b'));
    assert!(poll(put.as_mut(), &w).is_pending());
    assert_eq!(q.try_get().unwrap(), 'a');
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(poll(put.as_mut(), &w).is_ready());

    let q2 = Queue::<u8>::new(0);
    let mut get = pin!(q2.get());
    assert!(poll(get.as_mut(), &w).is_pending());
    q2.try_put(7).unwrap();
    assert_eq!(poll(get.as_mut(), &w), Poll::Ready(Ok(7)));
}

#[test]
fn getters_are_served_in_order_and_cancellation_passes_items_on() {
    let q = Queue::new(0);
    let (_c, w) = counting_waker();
    let mut first = Box::pin(q.get());
    let mut second = pin!(q.get());
    assert!(poll(first.as_mut(), &w).is_pending());
    assert!(poll(second.as_mut(), &w).is_pending());
    q.try_put(1).unwrap(); // assigned to `first` ...
    drop(first); // ... which is cancelled: the item stays for `second`
    assert_eq!(poll(second.as_mut(), &w), Poll::Ready(Ok(1)));
    assert!(q.is_empty());
}

#[test]
fn join_waits_for_every_task_done() {
    let q = Queue::new(0);
    let (count, w) = counting_waker();
    let mut join_now = pin!(q.join());
    assert!(poll(join_now.as_mut(), &w).is_ready(), "nothing put yet");
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let mut join = pin!(q.join());
    assert!(poll(join.as_mut(), &w).is_pending());
    q.try_get().unwrap();
    q.task_done();
    assert!(
        poll(join.as_mut(), &w).is_pending(),
        "one item still unfinished"
    );
    q.try_get().unwrap();
    q.task_done();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(poll(join.as_mut(), &w).is_ready());
}

#[test]
#[should_panic(expected = "task_done() called more times than there were items")]
fn extra_task_done_panics_clearly() {
    let q = Queue::new(0);
    q.try_put(()).unwrap();
    q.task_done();
    q.task_done();
}

#[test]
fn producer_consumer_workers_with_join_on_a_local_pool() {
    let q = Rc::new(Queue::new(4));
    let processed = Rc::new(std::cell::Cell::new(0u32));
    let mut pool = LocalPool::new();
    let spawner = pool.spawner();
    for _ in 0..3 {
        let q = q.clone();
        let processed = processed.clone();
        spawner
            .spawn_local(async move {
                loop {
                    let item: u32 = q.get().await.unwrap();
                    processed.set(processed.get() + item);
                    q.task_done();
                }
            })
            .unwrap();
    }
    let producer_q = q.clone();
    pool.run_until(async move {
        for i in 1..=100 {
            producer_q.put(i).await.unwrap();
        }
        producer_q.join().await;
    });
    assert_eq!(processed.get(), 5050);
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn threads_share_a_queue_through_an_arc() {
    let q = Arc::new(Queue::new(8));
    let consumers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            thread::spawn(move || {
                let mut sum = 0u64;
                block_on(async {
                    loop {
                        let v: u64 = q.get().await.unwrap();
                        q.task_done();
                        if v == 0 {
                            return;
                        }
                        sum += v;
                    }
                });
                sum
            })
        })
        .collect();
    block_on(async {
        for i in 1..=3000u64 {
            q.put(i).await.unwrap();
        }
        q.join().await;
        for _ in 0..3 {
            q.put(0).await.unwrap();
        }
    });
    let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(total, 3000 * 3001 / 2);
}

#[test]
fn stream_yields_items_in_order() {
    let q = Queue::new(0);
    for i in 0..5 {
        q.try_put(i).unwrap();
    }
    let got: Vec<i32> = block_on(q.stream().take(5).collect());
    assert_eq!(got, vec![0, 1, 2, 3, 4]);
}

/// asyncio's invariant: `get_nowait` succeeds exactly when `empty()` is false, and
/// `put_nowait` fails exactly when `full()` is true, also while a getter or a putter waits
/// for the item or place that was just handed to it.
#[test]
fn sizes_agree_with_try_get_and_try_put_while_waiters_hold_handoffs() {
    let (_, waker) = counting_waker();
    let q = Queue::new(1);
    let mut getter = pin!(q.get());
    assert!(poll(getter.as_mut(), &waker).is_pending());
    q.try_put(5).unwrap();
    // The item is the waiting getter's now.
    assert!(
        q.is_empty(),
        "an item handed to a waiting getter is not free"
    );
    assert_eq!(q.qsize(), 0);
    assert!(q.try_get().is_err());
    assert!(
        q.is_full(),
        "its place is not free until the getter takes it"
    );
    assert!(q.try_put(6).unwrap_err().is_full());
    assert_eq!(poll(getter.as_mut(), &waker), Poll::Ready(Ok(5)));
    assert!(!q.is_full());

    // A bounded queue's place handed to a waiting putter.
    q.try_put(1).unwrap();
    let mut putter = pin!(q.put(2));
    assert!(poll(putter.as_mut(), &waker).is_pending());
    assert_eq!(q.try_get().unwrap(), 1);
    assert!(q.is_full(), "the freed place is the waiting putter's");
    assert!(q.try_put(3).unwrap_err().is_full());
    assert!(q.is_empty() && q.try_get().is_err());
    assert_eq!(poll(putter.as_mut(), &waker), Poll::Ready(Ok(())));
    assert_eq!((q.qsize(), q.try_get().unwrap()), (1, 2));

    // After a shutdown the remaining items are anyone's.
    let q = Queue::new(0);
    let mut getter = pin!(q.get());
    assert!(poll(getter.as_mut(), &waker).is_pending());
    q.try_put(7).unwrap();
    q.shutdown(false);
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.try_get().unwrap(), 7);
    assert!(q.is_empty());
}
