//! Loom models of the broadcast and watch channels, `RwLock`, `Barrier`, `Event` and
//! `OnceCell`: each a no-lost-wake-up or exclusion check with two threads and a couple of
//! operations, small enough for `LOOM_MAX_PREEMPTIONS=2` (see `loom_tests`).

use std::sync::Arc;

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::thread;

use crate::{broadcast, watch, Barrier, Event, OnceCell, RwLock};

#[test]
fn loom_broadcast_receiver_sees_every_send_then_close() {
    loom::model(|| {
        let (tx, mut rx) = broadcast::channel(2);
        let sender = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Ok(1));
        assert_eq!(block_on(rx.recv()), Ok(2));
        assert!(block_on(rx.recv()).unwrap_err().is_closed());
        sender.join().unwrap();
    });
}

#[test]
fn loom_broadcast_two_receivers_each_get_the_message() {
    loom::model(|| {
        let (tx, mut rx1) = broadcast::channel(1);
        let mut rx2 = tx.subscribe();
        let other = thread::spawn(move || block_on(rx2.recv()));
        tx.send(7).unwrap();
        assert_eq!(block_on(rx1.recv()), Ok(7));
        assert_eq!(other.join().unwrap(), Ok(7));
    });
}

#[test]
fn loom_watch_changed_sees_the_latest_value() {
    loom::model(|| {
        let (tx, mut rx) = watch::channel(0);
        let sender = thread::spawn(move || {
            tx.send(1).unwrap();
            // Dropping the sender closes the channel after the value.
        });
        block_on(rx.changed()).unwrap();
        assert_eq!(*rx.borrow_and_update(), 1);
        assert!(
            block_on(rx.changed()).is_err(),
            "closed once the sender is gone"
        );
        sender.join().unwrap();
    });
}

#[test]
fn loom_watch_send_modify_races_with_borrow() {
    loom::model(|| {
        let (tx, rx) = watch::channel((0, 0));
        let writer = thread::spawn(move || {
            tx.send_modify(|v| *v = (1, 1));
            tx
        });
        // A reader never sees half of a modification.
        let (a, b) = *rx.borrow();
        assert_eq!(a, b);
        drop(writer.join().unwrap());
    });
}

#[test]
fn loom_rwlock_writer_excludes_readers() {
    loom::model(|| {
        let lock = Arc::new(RwLock::new((0, 0)));
        let l = lock.clone();
        let writer = thread::spawn(move || {
            let mut g = block_on(l.write());
            g.0 += 1;
            g.1 += 1;
        });
        {
            let g = block_on(lock.read());
            assert_eq!(g.0, g.1, "a reader saw a write in progress");
        }
        writer.join().unwrap();
        assert_eq!(*block_on(lock.read()), (1, 1));
    });
}

#[test]
fn loom_rwlock_two_writers_serialise() {
    loom::model(|| {
        let lock = Arc::new(RwLock::new(0));
        let l = lock.clone();
        let other = thread::spawn(move || *block_on(l.write()) += 1);
        *block_on(lock.write()) += 1;
        other.join().unwrap();
        assert_eq!(*block_on(lock.read()), 2);
    });
}

#[test]
fn loom_barrier_releases_both_with_one_leader() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let other = thread::spawn(move || block_on(b.wait()).is_leader());
        let mine = block_on(barrier.wait()).is_leader();
        let theirs = other.join().unwrap();
        assert!(mine != theirs, "exactly one leader");
    });
}

#[test]
fn loom_event_set_wakes_waiter() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let e = event.clone();
        let setter = thread::spawn(move || e.set());
        block_on(event.wait());
        assert!(event.is_set());
        setter.join().unwrap();
    });
}

#[test]
fn loom_event_set_then_clear_still_releases_a_waiter_that_saw_it() {
    loom::model(|| {
        let event = Arc::new(Event::new());
        let e = event.clone();
        let waiter = thread::spawn(move || block_on(e.wait()));
        event.set();
        event.clear();
        // A waiter registered before `set` was released by it; one arriving after `clear`
        // waits for the next `set`.
        event.set();
        waiter.join().unwrap();
    });
}

#[test]
fn loom_once_cell_initialises_once() {
    loom::model(|| {
        let cell = Arc::new(OnceCell::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let (c, r) = (cell.clone(), runs.clone());
        let other = thread::spawn(move || {
            *block_on(c.get_or_init(|| async {
                r.fetch_add(1, SeqCst);
                1
            }))
        });
        let mine = *block_on(cell.get_or_init(|| async {
            runs.fetch_add(1, SeqCst);
            2
        }));
        let theirs = other.join().unwrap();
        assert_eq!(mine, theirs, "both see the one value");
        assert_eq!(runs.load(SeqCst), 1, "the initialiser ran once");
    });
}

#[test]
fn loom_once_cell_set_races_with_get() {
    loom::model(|| {
        let cell = Arc::new(OnceCell::new());
        let c = cell.clone();
        let setter = thread::spawn(move || c.set(5).is_ok());
        if let Some(v) = cell.get() {
            assert_eq!(*v, 5, "a published value is complete");
        }
        assert!(setter.join().unwrap());
        assert_eq!(cell.get(), Some(&5));
    });
}
