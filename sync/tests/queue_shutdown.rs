//! `Queue::shutdown` with Python 3.13 semantics, plus the errors it produces.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

use futures::executor::block_on;
use futures::StreamExt;
use kiln_sync::{Queue, QueueShutDown};

mod common;
use common::{counting_waker, poll};

#[test]
fn graceful_shutdown_refuses_puts_and_drains_gets() {
    let q = Queue::new(3);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    assert!(!q.is_shutdown());
    q.shutdown(false);
    assert!(q.is_shutdown());

    let err = block_on(q.put(3)).unwrap_err();
    assert_eq!(err.into_inner(), 3);
    let err = q.try_put(4).unwrap_err();
    assert!(err.is_shutdown() && !err.is_full());
    assert_eq!(err.to_string(), "queue is shut down");
    assert_eq!(err.into_inner(), 4);

    assert_eq!(block_on(q.get()), Ok(1));
    assert_eq!(q.try_get(), Ok(2));
    let err: QueueShutDown = block_on(q.get()).unwrap_err();
    assert_eq!(err.to_string(), "queue is shut down");
    let empty = q.try_get().unwrap_err();
    assert!(empty.is_shutdown());
    assert_eq!(empty.to_string(), "queue is empty and shut down");
    assert_eq!(
        q.unfinished_tasks(),
        2,
        "graceful shutdown marks nothing done"
    );
}

#[test]
fn graceful_shutdown_keeps_join_waiting_for_task_done() {
    let q = Queue::new(0);
    let (count, w) = counting_waker();
    q.try_put('a').unwrap();
    let mut join = pin!(q.join());
    assert!(poll(join.as_mut(), &w).is_pending());
    q.shutdown(false);
    assert!(
        poll(join.as_mut(), &w).is_pending(),
        "item 'a' is unfinished"
    );
    assert_eq!(q.try_get(), Ok('a'));
    q.task_done();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(poll(join.as_mut(), &w).is_ready());
}

#[test]
fn shutdown_wakes_blocked_getters_and_putters() {
    let empty = Queue::<u8>::new(1);
    let full = Queue::new(1);
    full.try_put(1).unwrap();
    let (count, w) = counting_waker();
    let mut get_a = pin!(empty.get());
    let mut get_b = pin!(empty.get());
    let mut put = pin!(full.put(2));
    assert!(poll(get_a.as_mut(), &w).is_pending());
    assert!(poll(get_b.as_mut(), &w).is_pending());
    assert!(poll(put.as_mut(), &w).is_pending());

    empty.shutdown(false);
    full.shutdown(false);
    assert_eq!(count.0.load(Ordering::SeqCst), 3);
    assert!(matches!(poll(get_a.as_mut(), &w), Poll::Ready(Err(_))));
    assert!(matches!(poll(get_b.as_mut(), &w), Poll::Ready(Err(_))));
    match poll(put.as_mut(), &w) {
        Poll::Ready(Err(e)) => assert_eq!(e.into_inner(), 2),
        other => panic!("put should fail after shutdown, got {other:?}"),
    }
    // The item put before the shutdown is still there.
    assert_eq!(full.try_get(), Ok(1));
}

#[test]
fn immediate_shutdown_drops_items_and_counts_them_done() {
    let marker = Arc::new(());
    let q = Queue::new(0);
    for _ in 0..3 {
        q.try_put(marker.clone()).unwrap();
    }
    let (count, w) = counting_waker();
    let held = q.try_get().unwrap(); // fetched, not yet done
    let mut join = pin!(q.join());
    assert!(poll(join.as_mut(), &w).is_pending());

    q.shutdown(true);
    assert_eq!(
        Arc::strong_count(&marker),
        2,
        "the two queued items were dropped"
    );
    assert!(q.is_empty());
    assert_eq!(
        q.unfinished_tasks(),
        1,
        "the fetched item still needs its task_done"
    );
    assert!(poll(join.as_mut(), &w).is_pending());
    assert!(block_on(q.get()).is_err());
    assert!(q.try_get().unwrap_err().is_shutdown());

    drop(held);
    q.task_done();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(poll(join.as_mut(), &w).is_ready());
}

#[test]
fn immediate_shutdown_fails_getters_that_were_handed_an_item() {
    let q = Queue::new(0);
    let (_c, w) = counting_waker();
    let mut get = pin!(q.get());
    assert!(poll(get.as_mut(), &w).is_pending());
    q.try_put(1).unwrap(); // handed to the waiting getter ...
    q.shutdown(true); // ... but drained before it looks
    assert!(matches!(poll(get.as_mut(), &w), Poll::Ready(Err(_))));
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn immediate_drain_never_underflows_unfinished() {
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    q.task_done(); // marked done before being fetched, as asyncio allows
    q.shutdown(true);
    assert_eq!(q.unfinished_tasks(), 0);
    block_on(q.join());
}

#[test]
fn immediate_after_graceful_drains_the_rest() {
    let q = Queue::new(2);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    q.shutdown(false);
    assert_eq!(q.try_get(), Ok(1));
    q.shutdown(true);
    assert!(q.is_empty());
    assert_eq!(
        q.unfinished_tasks(),
        1,
        "item 1 was fetched but not marked done"
    );
    assert!(block_on(q.get()).is_err());
}

#[test]
fn stream_ends_after_shutdown_and_drain() {
    let q = Queue::new(0);
    for i in 0..4 {
        q.try_put(i).unwrap();
    }
    q.shutdown(false);
    let got: Vec<i32> = block_on(q.stream().collect());
    assert_eq!(got, vec![0, 1, 2, 3]);
    assert_eq!(block_on(q.stream().next()), None);
}

#[test]
fn errors_are_descriptive() {
    let q = Queue::new(1);
    q.try_put(1).unwrap();
    let full = q.try_put(2).unwrap_err();
    assert!(full.is_full());
    assert_eq!(full.to_string(), "queue is full");
    assert!(format!("{full:?}").contains("QueueFull"));
    let empty = Queue::<u8>::new(1).try_get().unwrap_err();
    assert!(!empty.is_shutdown());
    assert_eq!(empty.to_string(), "queue is empty");
    q.shutdown(false);
    let err = block_on(q.put(3)).unwrap_err();
    assert!(format!("{err:?}").contains("QueueShutDown"));
}
