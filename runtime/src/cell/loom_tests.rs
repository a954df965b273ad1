//! Loom models of the task state machine: concurrent wake / poll / complete / abort /
//! JoinHandle drop / shutdown, on the real task cell with a test scheduler.

use super::owned::OwnedTasks;
use super::{spawn_task, JoinHandle, Notified, RawTask, Schedule};
use crate::loom::sync::{
    atomic::{AtomicUsize, Ordering::SeqCst},
    Arc, Mutex,
};
use loom::thread;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Queues tasks in a list the model drains by hand.
struct TestSchedule {
    queue: Mutex<VecDeque<Notified>>,
    owned: OwnedTasks,
}

#[derive(Clone)]
struct Sched(Arc<TestSchedule>);

impl Schedule for Sched {
    fn schedule(&self, task: Notified) {
        self.0.queue.lock().push_back(task);
    }
    fn release(&self, task: RawTask) -> bool {
        self.0.owned.remove(task)
    }
}

impl Sched {
    fn new() -> Sched {
        Sched(Arc::new(TestSchedule {
            queue: Mutex::new(VecDeque::new()),
            owned: OwnedTasks::new(1),
        }))
    }

    fn spawn<F>(&self, fut: F) -> (JoinHandle<F::Output>, Notified)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (join, notified) = spawn_task(
            fut,
            self.clone(),
            &self.0.owned,
            super::TaskMeta::at(std::panic::Location::caller()),
        );
        (join, notified.expect("list open"))
    }

    /// Runs queued tasks until the queue is empty; returns how many ran.
    fn drain(&self) -> usize {
        let mut n = 0;
        loop {
            let next = self.0.queue.lock().pop_front();
            match next {
                Some(t) => {
                    t.run();
                    n += 1;
                }
                None => return n,
            }
        }
    }
}

/// Pending on the first poll (publishing its waker), ready on the next.
struct Twice {
    polled: bool,
    slot: Arc<Mutex<Option<Waker>>>,
}

impl Future for Twice {
    type Output = usize;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if self.polled {
            return Poll::Ready(42);
        }
        self.polled = true;
        *self.slot.lock() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Counts drops of the output.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn loom_wake_races_with_poll() {
    loom::model(|| {
        let sched = Sched::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let (join, first) = sched.spawn(Twice {
            polled: false,
            slot: slot.clone(),
        });
        let waker_thread = {
            let slot = slot.clone();
            thread::spawn(move || loop {
                let w = slot.lock().take();
                if let Some(w) = w {
                    w.wake();
                    return;
                }
                thread::yield_now();
            })
        };
        first.run();
        waker_thread.join().unwrap();
        // Exactly one requeue, whether the wake landed during or after the poll.
        assert_eq!(sched.drain(), 1);
        let out = loom::future::block_on(join);
        assert_eq!(out.unwrap(), 42);
    });
}

#[test]
fn loom_abort_races_with_poll() {
    loom::model(|| {
        let sched = Sched::new();
        let (join, first) = sched.spawn(std::future::pending::<()>());
        let aborter = thread::spawn(move || {
            join.abort();
            join
        });
        first.run();
        let join = aborter.join().unwrap();
        sched.drain();
        let err = loom::future::block_on(join).unwrap_err();
        assert!(err.is_cancelled());
        assert_eq!(sched.0.owned.len(), 0);
    });
}

#[test]
fn loom_join_handle_drop_races_with_complete() {
    loom::model(|| {
        let sched = Sched::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let d = drops.clone();
        let (join, first) = sched.spawn(async move { Counted(d) });
        let dropper = thread::spawn(move || drop(join));
        first.run();
        dropper.join().unwrap();
        // The output was dropped exactly once, by whichever side saw the other's flag.
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn loom_join_waker_races_with_complete() {
    loom::model(|| {
        let sched = Sched::new();
        let (join, first) = sched.spawn(async { 7 });
        let joiner = thread::spawn(move || loom::future::block_on(join).unwrap());
        first.run();
        assert_eq!(joiner.join().unwrap(), 7);
    });
}

#[test]
fn loom_shutdown_races_with_wake() {
    loom::model(|| {
        let sched = Sched::new();
        let slot = Arc::new(Mutex::new(None::<Waker>));
        let (join, first) = sched.spawn(Twice {
            polled: false,
            slot: slot.clone(),
        });
        first.run();
        let waker = slot.lock().take().expect("first poll stored its waker");
        let w = thread::spawn(move || waker.wake());
        sched.0.owned.close_and_shutdown_all();
        w.join().unwrap();
        sched.drain();
        // Shutdown either cancelled it or the wake ran it to completion first.
        match loom::future::block_on(join) {
            Ok(v) => assert_eq!(v, 42),
            Err(e) => assert!(e.is_cancelled()),
        }
    });
}
