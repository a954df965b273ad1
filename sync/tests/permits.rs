//! Reserving capacity in bounded mpsc channels: `reserve`, `try_reserve`, `reserve_owned`.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::thread;

use futures::executor::block_on;
use kiln_sync::mpsc;

mod common;
use common::{counting_waker, poll};

#[test]
fn permit_holds_a_slot_until_sent() {
    let (tx, mut rx) = mpsc::channel(2);
    let permit = block_on(tx.reserve()).unwrap();
    assert_eq!(tx.capacity(), 1);
    tx.try_send(1).unwrap();
    assert!(
        tx.try_send(9).unwrap_err().is_full(),
        "the permit holds the last slot"
    );
    assert!(tx.try_reserve().unwrap_err().is_full());
    permit.send(2);
    assert_eq!(rx.try_recv().unwrap(), 1);
    assert_eq!(rx.try_recv().unwrap(), 2);
}

#[test]
fn dropping_an_unused_permit_wakes_a_waiting_sender() {
    let (tx, mut rx) = mpsc::channel(1);
    let (count, w) = counting_waker();
    let permit = tx.try_reserve().unwrap();
    let mut send = pin!(tx.send(7));
    assert!(poll(send.as_mut(), &w).is_pending());
    drop(permit);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll(send.as_mut(), &w), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv().unwrap(), 7);
}

#[test]
fn reservations_queue_fairly_with_senders() {
    let (tx, mut rx) = mpsc::channel(1);
    let (_c, w) = counting_waker();
    tx.try_send(0).unwrap();
    let mut send = pin!(tx.send(1));
    let mut reserve = pin!(tx.reserve());
    assert!(poll(send.as_mut(), &w).is_pending());
    assert!(poll(reserve.as_mut(), &w).is_pending());
    // The slot freed by this receive goes to the sender that queued first ...
    assert_eq!(rx.try_recv().unwrap(), 0);
    assert!(poll(reserve.as_mut(), &w).is_pending());
    assert_eq!(poll(send.as_mut(), &w), Poll::Ready(Ok(())));
    // ... and the next one to the reservation.
    assert_eq!(rx.try_recv().unwrap(), 1);
    let Poll::Ready(Ok(permit)) = poll(reserve.as_mut(), &w) else {
        panic!("the reservation should hold the freed slot");
    };
    permit.send(2);
    assert_eq!(rx.try_recv().unwrap(), 2);
}

#[test]
fn a_cancelled_reservation_passes_its_slot_on() {
    let (tx, mut rx) = mpsc::channel(1);
    let (_c, w) = counting_waker();
    tx.try_send(0).unwrap();
    let mut first = Box::pin(tx.reserve());
    let mut second = pin!(tx.reserve());
    assert!(poll(first.as_mut(), &w).is_pending());
    assert!(poll(second.as_mut(), &w).is_pending());
    assert_eq!(rx.try_recv().unwrap(), 0); // the slot is handed to `first` ...
    drop(first); // ... which is cancelled before it sees it
    let Poll::Ready(Ok(permit)) = poll(second.as_mut(), &w) else {
        panic!("the slot should have passed to the second reservation");
    };
    drop(permit);
    assert_eq!(tx.capacity(), 1, "no capacity lost");
}

#[test]
fn reserve_fails_once_the_receiver_is_gone() {
    let (tx, rx) = mpsc::channel::<u8>(1);
    let (_c, w) = counting_waker();
    let held = tx.try_reserve().unwrap();
    let mut waiting = pin!(tx.reserve());
    assert!(poll(waiting.as_mut(), &w).is_pending());
    drop(rx);
    assert!(matches!(poll(waiting.as_mut(), &w), Poll::Ready(Err(_))));
    assert!(block_on(tx.reserve()).is_err());
    assert!(tx.try_reserve().unwrap_err().is_closed());
    // A permit taken before the receiver went away can still be used; the value is dropped
    // with the channel.
    let marker = Arc::new(());
    let (mtx, mrx) = mpsc::channel(1);
    let permit = mtx.try_reserve().unwrap();
    drop(mrx);
    permit.send(marker.clone());
    drop(mtx);
    assert_eq!(Arc::strong_count(&marker), 1);
    drop(held);
}

#[test]
fn owned_permits_move_between_threads_and_hand_the_sender_back() {
    let (tx, mut rx) = mpsc::channel(2);
    let permit = block_on(tx.clone().reserve_owned()).unwrap();
    let tx2 = thread::spawn(move || permit.send(1)).join().unwrap();
    assert!(tx2.same_channel(&tx));
    let unused = tx2.try_reserve_owned().unwrap();
    assert_eq!(tx.capacity(), 0);
    let tx2 = unused.release();
    assert_eq!(tx.capacity(), 1);
    drop(tx2.try_reserve_owned().unwrap()); // dropping releases too
    assert_eq!(tx.capacity(), 1);
    assert_eq!(rx.try_recv().unwrap(), 1);

    drop(rx);
    let err = block_on(tx.clone().reserve_owned()).unwrap_err();
    assert!(err.into_inner().same_channel(&tx));
    let err = tx.clone().try_reserve_owned().unwrap_err();
    assert!(err.is_closed());
}

#[test]
fn closed_receiver_still_gets_messages_from_earlier_reservations() {
    let (tx, mut rx) = mpsc::channel(4);
    let (count, w) = counting_waker();
    let a = tx.try_reserve().unwrap();
    let b = tx.try_reserve().unwrap();
    tx.try_send(1).unwrap();
    rx.close();
    assert!(tx.try_send(9).unwrap_err().is_closed());
    assert!(tx.try_reserve().unwrap_err().is_closed());
    assert_eq!(rx.try_recv().unwrap(), 1);
    assert!(
        rx.try_recv().unwrap_err().is_empty(),
        "two reservations outstanding"
    );
    {
        let mut recv = pin!(rx.recv());
        assert!(poll(recv.as_mut(), &w).is_pending());
        a.send(2);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(recv.as_mut(), &w), Poll::Ready(Some(2)));
    }
    {
        let mut recv = pin!(rx.recv());
        assert!(poll(recv.as_mut(), &w).is_pending());
        drop(b); // the last reservation goes unused: the channel is finished
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert_eq!(poll(recv.as_mut(), &w), Poll::Ready(None));
    }
    assert!(rx.try_recv().unwrap_err().is_disconnected());
}

#[test]
fn reserve_then_send_from_many_threads_delivers_everything() {
    let (tx, mut rx) = mpsc::channel(3);
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..300u64 {
                    if i % 2 == 0 {
                        block_on(tx.reserve()).unwrap().send(p * 1000 + i);
                    } else {
                        let tx2 = block_on(tx.clone().reserve_owned())
                            .unwrap()
                            .send(p * 1000 + i);
                        drop(tx2);
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut got: Vec<u64> = block_on(async {
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        got
    });
    for p in producers {
        p.join().unwrap();
    }
    got.sort_unstable();
    let want: Vec<u64> = (0..3u64)
        .flat_map(|p| (0..300).map(move |i| p * 1000 + i))
        .collect();
    assert_eq!(got, want);
}
