//! Behaviour of kiln's channels under `futures::executor` and plain threads.

mod common;

use common::{counting_waker, poll};

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::thread;

use futures::executor::block_on;
use futures::StreamExt;
use kiln_sync::{broadcast, mpsc, oneshot, watch};

#[test]
fn oneshot_delivers_across_threads_and_reports_drops() {
    let (tx, rx) = oneshot::channel();
    let t = thread::spawn(move || tx.send(vec![1, 2]).unwrap());
    assert_eq!(block_on(rx).unwrap(), vec![1, 2]);
    t.join().unwrap();

    let (tx, rx) = oneshot::channel::<u8>();
    drop(tx);
    assert!(block_on(rx).is_err());

    let (mut tx, rx) = oneshot::channel::<u8>();
    let t = thread::spawn(move || drop(rx));
    block_on(tx.closed());
    t.join().unwrap();
    assert_eq!(tx.send(4), Err(4));
}

#[test]
fn oneshot_receiver_drop_drops_sent_value() {
    let marker = Arc::new(());
    let (tx, rx) = oneshot::channel();
    tx.send(marker.clone()).unwrap();
    drop(rx);
    assert_eq!(Arc::strong_count(&marker), 1);
}

#[test]
fn mpsc_preserves_per_producer_order() {
    let (tx, mut rx) = mpsc::channel(8);
    let producers: Vec<_> = (0..4u64)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                block_on(async {
                    for i in 0..2000u64 {
                        tx.send((p, i)).await.unwrap();
                    }
                })
            })
        })
        .collect();
    drop(tx);
    let mut next = [0u64; 4];
    let mut total = 0;
    block_on(async {
        while let Some((p, i)) = rx.recv().await {
            assert_eq!(next[p as usize], i, "producer {p} out of order");
            next[p as usize] += 1;
            total += 1;
        }
    });
    assert_eq!(total, 8000);
    for p in producers {
        p.join().unwrap();
    }
}

#[test]
fn mpsc_backpressure_and_try_send_errors() {
    let (tx, mut rx) = mpsc::channel(2);
    let (count, w) = counting_waker();
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let err = tx.try_send(3).unwrap_err();
    assert!(err.is_full() && !err.is_closed());
    assert_eq!(err.into_inner(), 3);
    {
        let mut blocked = pin!(tx.send(3));
        assert!(poll(blocked.as_mut(), &w).is_pending());
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "a freed slot wakes the sender"
        );
        assert!(poll(blocked.as_mut(), &w).is_ready());
    }
    assert_eq!(tx.capacity(), 0);
    drop(rx);
    let err = tx.try_send(9).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(block_on(tx.send(10)).unwrap_err().into_inner(), 10);
    assert!(tx.is_closed());
}

#[test]
fn mpsc_cancelled_send_frees_its_slot() {
    let (tx, mut rx) = mpsc::channel(1);
    let (_c, w) = counting_waker();
    tx.try_send(0).unwrap();
    let mut first = Box::pin(tx.send(1));
    let mut second = pin!(tx.send(2));
    assert!(poll(first.as_mut(), &w).is_pending());
    assert!(poll(second.as_mut(), &w).is_pending());
    assert_eq!(rx.try_recv().unwrap(), 0); // slot handed to `first` ...
    drop(first); // ... which is cancelled: the slot moves on
    assert!(poll(second.as_mut(), &w).is_ready());
    assert_eq!(rx.try_recv().unwrap(), 2);
    assert!(rx.try_recv().unwrap_err().is_empty());
}

#[test]
fn mpsc_cancelled_recv_loses_nothing() {
    let (tx, mut rx) = mpsc::channel(4);
    let (count, w) = counting_waker();
    {
        let mut recv = pin!(rx.recv());
        assert!(poll(recv.as_mut(), &w).is_pending());
    }
    tx.try_send(5).unwrap();
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(block_on(rx.recv()), Some(5));
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn mpsc_zero_capacity_panics_clearly() {
    let _ = mpsc::channel::<u8>(0);
}

#[test]
fn mpsc_receiver_drop_drops_buffered_messages() {
    let marker = Arc::new(());
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(marker.clone()).unwrap();
    tx.send(marker.clone()).unwrap();
    drop(rx);
    assert_eq!(Arc::strong_count(&marker), 1);
    assert!(tx.send(marker.clone()).is_err());
}

#[test]
fn mpsc_unbounded_stream_ends_when_senders_drop() {
    let (tx, rx) = mpsc::unbounded_channel();
    let tx2 = tx.clone();
    let t = thread::spawn(move || {
        for i in 0..100 {
            tx2.send(i).unwrap();
        }
    });
    for i in 100..200 {
        tx.send(i).unwrap();
    }
    drop(tx);
    t.join().unwrap();
    let mut all: Vec<i32> = block_on(rx.collect());
    all.sort_unstable();
    assert_eq!(all, (0..200).collect::<Vec<_>>());
}

#[test]
fn broadcast_every_receiver_sees_every_message() {
    let (tx, rx1) = broadcast::channel(64);
    let rx2 = tx.subscribe();
    let readers: Vec<_> = [rx1, rx2]
        .into_iter()
        .map(|mut rx| {
            thread::spawn(move || {
                block_on(async {
                    let mut got = Vec::new();
                    loop {
                        match rx.recv().await {
                            Ok(v) => got.push(v),
                            Err(e) if e.is_closed() => return got,
                            Err(e) => panic!("unexpected {e}"),
                        }
                    }
                })
            })
        })
        .collect();
    for i in 0..50 {
        assert!(tx.send(i).is_ok());
    }
    drop(tx);
    for r in readers {
        assert_eq!(r.join().unwrap(), (0..50).collect::<Vec<_>>());
    }
}

#[test]
fn broadcast_lagging_receiver_learns_how_many_it_missed() {
    let (tx, mut rx) = broadcast::channel(3);
    for i in 0..10 {
        tx.send(i).unwrap();
    }
    let err = rx.try_recv().unwrap_err();
    assert_eq!(err.lagged(), Some(7));
    assert_eq!(rx.try_recv().unwrap(), 7);
    assert_eq!(rx.try_recv().unwrap(), 8);
    assert_eq!(rx.try_recv().unwrap(), 9);
    assert!(rx.try_recv().unwrap_err().is_empty());
    drop(rx);
    assert_eq!(tx.send(1).unwrap_err().into_inner(), 1);
}

#[test]
fn broadcast_cancelled_recv_keeps_the_message() {
    let (tx, mut rx) = broadcast::channel(2);
    let (count, w) = counting_waker();
    {
        let mut recv = pin!(rx.recv());
        assert!(poll(recv.as_mut(), &w).is_pending());
    }
    tx.send('m').unwrap();
    assert!(count.0.load(Ordering::SeqCst) <= 1);
    assert_eq!(block_on(rx.recv()).unwrap(), 'm');
}

#[test]
fn watch_sees_latest_value_and_close() {
    let (tx, mut rx) = watch::channel(0);
    let t = thread::spawn(move || {
        for i in 1..=100 {
            tx.send(i).unwrap();
        }
    });
    let mut last = 0;
    block_on(async {
        while rx.changed().await.is_ok() {
            let v = *rx.borrow_and_update();
            assert!(v > last, "values only move forward");
            last = v;
        }
    });
    t.join().unwrap();
    assert_eq!(*rx.borrow(), 100);
    assert!(rx.has_changed().is_err());
}

#[test]
fn watch_cancelled_changed_then_send_is_seen() {
    let (tx, mut rx) = watch::channel(1);
    let (_c, w) = counting_waker();
    {
        let mut changed = pin!(rx.changed());
        assert!(poll(changed.as_mut(), &w).is_pending());
    }
    tx.send(2).unwrap();
    block_on(rx.changed()).unwrap();
    assert_eq!(*rx.borrow(), 2);
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(3).unwrap_err().into_inner(), 3);
}

#[test]
fn mpsc_never_holds_more_than_capacity() {
    let (tx, mut rx) = mpsc::channel(64);
    let mut in_flight = 0usize;
    let mut next = 0u32;
    let mut expected = 0u32;
    for round in 0..50 {
        while tx.try_send(next).is_ok() {
            next += 1;
            in_flight += 1;
        }
        assert!(
            in_flight <= 64,
            "round {round}: {in_flight} messages in a 64-slot channel"
        );
        for _ in 0..(round % 7 + 1) {
            assert_eq!(rx.try_recv().unwrap(), expected);
            expected += 1;
            in_flight -= 1;
        }
    }
    // Draining returns every permit.
    while rx.try_recv().is_ok() {}
    assert_eq!(tx.capacity(), 64);
}
