//! Loom models of the pool beyond its idle list: the submit path against shutdown (the fence
//! pairing of protocol step 2), and a pool thread's loop against a submission and a waiting
//! `Pool::shutdown` (steps 3–4: the job runs or is dropped unrun, the thread exits, and the
//! waiter learns of it). The job queue (crossbeam) is not a loom type: its operations count as
//! atomic steps between the modelled ones. No OS thread is started: the one thread slot is
//! reserved by the model, so `submit` never spawns.

use super::*;
use crate::loom::sync::{atomic::AtomicBool, Arc};
use loom::thread;

fn config() -> Config {
    Config {
        max_threads: 1,
        // `Duration::MAX`: an idle thread waits without a deadline (no retirement).
        keep_alive: Duration::MAX,
        stack_size: None,
        name: std::sync::Arc::new(|| "kiln-loom".to_string()),
        on_start: None,
        on_stop: None,
    }
}

/// Sets its flag when dropped: the job is gone, whether it ran or not.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// A job submitted while the pool shuts down is refused, or dropped by one of the two
/// drains: never left in the queue after the shutdown.
#[test]
fn loom_submit_races_with_shutdown() {
    loom::model(|| {
        let pool = Pool::from_config(config());
        let shared = pool.owner.shared.clone();
        // The one slot: a thread busy with a long job.
        assert!(shared.try_reserve_thread());
        let gone = Arc::new(AtomicBool::new(false));
        let (s, g) = (shared.clone(), SetOnDrop(gone.clone()));
        let submitter = thread::spawn(move || {
            // A refused job comes back inside the error and is dropped with it.
            let _ = Shared::submit(&s, Work::Job(Box::new(move || drop(g))));
        });
        shared.begin_shutdown();
        submitter.join().unwrap();
        assert!(
            shared.rx.is_empty(),
            "a job survived the shutdown in the queue"
        );
        assert!(gone.load(SeqCst));
        shared.release_thread();
    });
}

/// A pool thread searching or asleep, a job submitted, then `shutdown(None)`: the job runs
/// or is dropped unrun, the thread exits, and `shutdown` returns once it has.
#[test]
fn loom_thread_loop_with_submit_and_shutdown() {
    loom::model(|| {
        let pool = Pool::from_config(config());
        let shared = pool.owner.shared.clone();
        assert!(shared.try_reserve_thread());
        // A new thread enters its loop counted as searching (`wake_one`).
        shared.idle.start_search();
        let s = shared.clone();
        let worker = thread::spawn(move || {
            let mut counted = true;
            Shared::work(&s, &mut counted);
            if counted {
                s.release_thread();
            }
        });
        let gone = Arc::new(AtomicBool::new(false));
        let g = SetOnDrop(gone.clone());
        assert!(Shared::submit(&shared, Work::Job(Box::new(move || drop(g)))).is_ok());
        assert!(
            pool.shutdown(None),
            "shutdown returned before the thread exited"
        );
        worker.join().unwrap();
        assert!(gone.load(SeqCst), "the job was neither run nor dropped");
        assert_eq!(shared.threads.load(SeqCst), 0);
    });
}
