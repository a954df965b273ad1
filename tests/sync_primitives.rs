//! Behaviour of kiln's locks and signalling primitives under `futures::executor`.

mod common;

use common::{counting_waker, poll};

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread;

use futures::executor::block_on;
use kiln_sync::{Barrier, Event, Mutex, Notify, OnceCell, RwLock, Semaphore};

#[test]
fn mutex_counts_across_threads() {
    let m = Arc::new(Mutex::new(0u64));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..2000 {
                    block_on(async { *m.lock().await += 1 });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*block_on(m.lock()), 8000);
}

#[test]
fn mutex_is_fifo() {
    let m = Mutex::new(Vec::new());
    let (_c, w) = counting_waker();
    let guard = m.try_lock().unwrap();
    let mut a = pin!(async {
        m.lock().await.push('a');
    });
    let mut b = pin!(async {
        m.lock().await.push('b');
    });
    assert!(poll(a.as_mut(), &w).is_pending());
    assert!(poll(b.as_mut(), &w).is_pending());
    // A newcomer cannot barge past the queued waiters.
    assert!(m.try_lock().is_err());
    drop(guard);
    // Poll b first: it is still behind a.
    assert!(poll(b.as_mut(), &w).is_pending());
    assert!(poll(a.as_mut(), &w).is_ready());
    assert!(poll(b.as_mut(), &w).is_ready());
    assert_eq!(*m.try_lock().unwrap(), vec!['a', 'b']);
}

#[test]
fn mutex_cancelled_lock_passes_the_lock_on() {
    let m = Mutex::new(());
    let (count, w) = counting_waker();
    let guard = m.try_lock().unwrap();
    let mut first = Box::pin(m.lock());
    let mut second = pin!(m.lock());
    assert!(poll(first.as_mut(), &w).is_pending());
    assert!(poll(second.as_mut(), &w).is_pending());
    drop(guard); // hands the lock to `first`, which is then cancelled
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    drop(first);
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        2,
        "the hand-off wakes the next waiter"
    );
    assert!(poll(second.as_mut(), &w).is_ready());
}

#[test]
fn owned_guard_outlives_borrow() {
    let m = Arc::new(Mutex::new(String::from("a")));
    let mut g = block_on(m.clone().lock_owned());
    let t = thread::spawn(move || {
        g.push('b');
    });
    t.join().unwrap();
    assert_eq!(&*block_on(m.lock()), "ab");
    assert!(m.clone().try_lock_owned().is_ok());
}

#[test]
fn rwlock_readers_share_writer_excludes_and_is_not_starved() {
    let lock = RwLock::new(0);
    let (_c, w) = counting_waker();
    let r1 = lock.try_read().unwrap();
    let mut writer = pin!(lock.write());
    assert!(poll(writer.as_mut(), &w).is_pending());
    // A queued writer blocks readers that come after it.
    assert!(lock.try_read().is_err());
    let mut late_reader = pin!(lock.read());
    assert!(poll(late_reader.as_mut(), &w).is_pending());
    drop(r1);
    let mut wg = match poll(writer.as_mut(), &w) {
        Poll::Ready(g) => g,
        Poll::Pending => panic!("writer should hold the lock"),
    };
    *wg = 5;
    drop(wg);
    match poll(late_reader.as_mut(), &w) {
        Poll::Ready(g) => assert_eq!(*g, 5),
        Poll::Pending => panic!("reader should get the lock after the writer"),
    };
}

#[test]
fn semaphore_acquire_many_is_fair_and_close_fails_waiters() {
    let sem = Semaphore::new(1);
    let (_c, w) = counting_waker();
    let mut big = pin!(sem.acquire_many(3));
    assert!(poll(big.as_mut(), &w).is_pending());
    // The big request at the front holds its partial share; small ones queue behind it.
    assert!(sem.try_acquire().is_err());
    sem.add_permits(1);
    assert!(poll(big.as_mut(), &w).is_pending());
    sem.add_permits(1);
    match poll(big.as_mut(), &w) {
        Poll::Ready(Ok(p)) => assert_eq!(p.num_permits(), 3),
        other => panic!("expected 3 permits, got {other:?}"),
    }
    assert_eq!(sem.available_permits(), 3);

    let sem = Semaphore::new(0);
    let mut waiting = pin!(sem.acquire());
    assert!(poll(waiting.as_mut(), &w).is_pending());
    sem.close();
    assert!(matches!(poll(waiting.as_mut(), &w), Poll::Ready(Err(_))));
    assert!(sem.try_acquire().unwrap_err().is_closed());
}

#[test]
fn semaphore_cancelled_partial_acquire_returns_permits() {
    let sem = Semaphore::new(2);
    let (_c, w) = counting_waker();
    {
        let mut big = pin!(sem.acquire_many(5));
        assert!(poll(big.as_mut(), &w).is_pending());
        assert_eq!(sem.available_permits(), 0);
    }
    assert_eq!(sem.available_permits(), 2);
    // A cancelled waiter that was fully served also gives everything back.
    let held = sem.try_acquire_many(2).unwrap();
    {
        let mut one = pin!(sem.acquire());
        assert!(poll(one.as_mut(), &w).is_pending());
        drop(held);
    }
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn semaphore_many_threads_never_exceed_limit() {
    let sem = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let sem = sem.clone();
            let inside = inside.clone();
            thread::spawn(move || {
                for _ in 0..500 {
                    block_on(async {
                        let _p = sem.acquire().await.unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(now <= 3, "{now} holders of 3 permits");
                        inside.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sem.available_permits(), 3);
}

#[test]
#[should_panic(expected = "would exceed the semaphore maximum")]
fn semaphore_overflow_panics_clearly() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    sem.add_permits(1);
}

#[test]
fn notify_one_stores_a_single_permit() {
    let n = Notify::new();
    let (_c, w) = counting_waker();
    n.notify_one();
    n.notify_one();
    let mut a = pin!(n.notified());
    assert!(poll(a.as_mut(), &w).is_ready());
    let mut b = pin!(n.notified());
    assert!(poll(b.as_mut(), &w).is_pending());
}

#[test]
fn notify_cancelled_waiter_forwards_notification() {
    let n = Notify::new();
    let (_c, w) = counting_waker();
    let mut first = Box::pin(n.notified());
    let mut second = pin!(n.notified());
    assert!(poll(first.as_mut(), &w).is_pending());
    assert!(poll(second.as_mut(), &w).is_pending());
    n.notify_one(); // picks `first`
    drop(first); // ... which passes it on
    assert!(poll(second.as_mut(), &w).is_ready());
}

#[test]
fn notify_waiters_releases_everyone_created_before() {
    let n = Notify::new();
    let (count, w) = counting_waker();
    let mut a = pin!(n.notified());
    let mut b = pin!(n.notified());
    let not_yet_polled = n.notified();
    assert!(poll(a.as_mut(), &w).is_pending());
    assert!(poll(b.as_mut(), &w).is_pending());
    n.notify_waiters();
    assert_eq!(count.0.load(Ordering::SeqCst), 2);
    assert!(poll(a.as_mut(), &w).is_ready());
    assert!(poll(b.as_mut(), &w).is_ready());
    block_on(not_yet_polled);
    // No permit was stored.
    let mut c = pin!(n.notified());
    assert!(poll(c.as_mut(), &w).is_pending());
}

#[test]
fn event_set_clear_wait_like_asyncio() {
    let ev = Arc::new(Event::new());
    let (count, w) = counting_waker();
    let mut waiting = pin!(ev.wait());
    assert!(poll(waiting.as_mut(), &w).is_pending());
    ev.set();
    ev.clear();
    // Released by `set` even though the flag is down again.
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(poll(waiting.as_mut(), &w).is_ready());
    assert!(!ev.is_set());
    let mut again = pin!(ev.wait());
    assert!(poll(again.as_mut(), &w).is_pending());

    let ev2 = ev.clone();
    let t = thread::spawn(move || block_on(ev2.wait()));
    ev.set();
    t.join().unwrap();
    block_on(ev.wait());
}

#[test]
fn barrier_trips_with_one_leader_and_is_reusable() {
    let b = Arc::new(Barrier::new(3));
    for _round in 0..3 {
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || block_on(b.wait()).is_leader())
            })
            .collect();
        let leaders = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|l| *l)
            .count();
        assert_eq!(leaders, 1);
    }
}

#[test]
fn barrier_cancelled_wait_withdraws_arrival() {
    let b = Barrier::new(2);
    let (_c, w) = counting_waker();
    {
        let mut gone = pin!(b.wait());
        assert!(poll(gone.as_mut(), &w).is_pending());
    }
    let mut a = pin!(b.wait());
    assert!(
        poll(a.as_mut(), &w).is_pending(),
        "one arrival is not enough"
    );
    let mut c = pin!(b.wait());
    assert!(poll(c.as_mut(), &w).is_ready());
    assert!(poll(a.as_mut(), &w).is_ready());
}

#[test]
fn once_cell_runs_one_initializer_and_survives_cancellation() {
    let cell = OnceCell::new();
    let (_c, w) = counting_waker();
    let runs = AtomicUsize::new(0);
    {
        // Start an initializer that never finishes, then cancel it.
        let mut stuck = pin!(cell.get_or_init(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<u32>().await
        }));
        assert!(poll(stuck.as_mut(), &w).is_pending());
        assert!(cell.set(0).unwrap_err().is_initializing());
    }
    let v = block_on(cell.get_or_init(|| async {
        runs.fetch_add(1, Ordering::SeqCst);
        7
    }));
    assert_eq!(*v, 7);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(cell.set(1).unwrap_err().is_already_init());

    let shared = Arc::new(OnceCell::new());
    let inits = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let shared = shared.clone();
            let inits = inits.clone();
            thread::spawn(move || {
                *block_on(shared.get_or_init(|| async move {
                    inits.fetch_add(1, Ordering::SeqCst);
                    i
                }))
            })
        })
        .collect();
    let values: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(inits.load(Ordering::SeqCst), 1);
    assert!(values.windows(2).all(|p| p[0] == p[1]));
}

#[test]
fn once_cell_drops_its_value() {
    let marker = Arc::new(());
    let cell = OnceCell::new_with(Some(marker.clone()));
    assert_eq!(Arc::strong_count(&marker), 2);
    drop(cell);
    assert_eq!(Arc::strong_count(&marker), 1);
}
