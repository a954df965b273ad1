//! Loom model of parking: a worker going to sleep while a producer pushes work must never
//! sleep through that work (no lost wake-up). Uses the real `Idle` protocol and the loom
//! stand-in of the injector; the sticky `Parker` models `Poller::notify`/`wait`.

use super::idle::Idle;
use super::queue::Inject;
use super::test_task::task;
use crate::cell::Notified;
use crate::loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// A sticky notification, as `Poller::notify` is: a notify before `park` is not lost.
struct Parker {
    notified: Mutex<bool>,
    cv: Condvar,
}

impl Parker {
    fn park(&self) {
        let mut n = self.notified.lock();
        while !*n {
            self.cv.wait(&mut n);
        }
        *n = false;
    }
    fn unpark(&self) {
        *self.notified.lock() = true;
        self.cv.notify_one();
    }
}

/// The worker side, in the order `WorkerContext::{run_task, park}` run it.
fn worker_until_work(idle: &Idle, inject: &Inject, parkers: &[Parker], index: usize) -> Notified {
    let mut searching = false;
    loop {
        if let Some(t) = inject.pop() {
            // The last searcher to find work wakes another sleeper (`run_task`).
            if searching && idle.transition_worker_from_searching() {
                if let Some(i) = idle.worker_to_notify() {
                    parkers[i].unpark();
                }
            }
            return t;
        }
        idle.transition_worker_to_parked(index, searching);
        if !inject.is_empty() {
            searching = idle.unpark_self(index);
            continue;
        }
        parkers[index].park();
        searching = idle.unpark_self(index);
    }
}

#[test]
fn loom_park_unpark_no_lost_wakeup() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(1));
        let inject = Arc::new(Inject::new());
        let parkers = Arc::new(vec![Parker {
            notified: Mutex::new(false),
            cv: Condvar::new(),
        }]);
        let worker = {
            let (idle, inject, parkers) = (idle.clone(), inject.clone(), parkers.clone());
            thread::spawn(move || drop(worker_until_work(&idle, &inject, &parkers, 0)))
        };
        // Producer: push, then notify a sleeper if nobody searches.
        inject.push(task());
        if let Some(i) = idle.worker_to_notify() {
            assert_eq!(i, 0);
            parkers[0].unpark();
        }
        worker.join().unwrap();
    });
}

#[test]
fn loom_two_workers_one_task_each() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(2));
        let inject = Arc::new(Inject::new());
        let parkers: Arc<Vec<Parker>> = Arc::new(
            (0..2)
                .map(|_| Parker {
                    notified: Mutex::new(false),
                    cv: Condvar::new(),
                })
                .collect(),
        );
        let workers: Vec<_> = (0..2)
            .map(|i| {
                let (idle, inject, parkers) = (idle.clone(), inject.clone(), parkers.clone());
                thread::spawn(move || drop(worker_until_work(&idle, &inject, &parkers, i)))
            })
            .collect();
        for _ in 0..2 {
            inject.push(task());
            if let Some(i) = idle.worker_to_notify() {
                parkers[i].unpark();
            }
        }
        for w in workers {
            w.join().unwrap();
        }
    });
}
