//! A bounded worker pool built on `kiln::sync::Queue` and `kiln::sync::Semaphore`, in a
//! correct and a broken variant: the example of `docs/testing.md`. `tests/pool.rs` checks
//! both under loom (`RUSTFLAGS="--cfg kiln_loom"`).

use kiln::sync::{Mutex, Queue, Semaphore};

/// Jobs wait in a bounded queue; at most `limit` of them are processed at once; `join`
/// returns once every submitted job's result is recorded.
pub struct Pool {
    jobs: Queue<u64>,
    slots: Semaphore,
    results: Mutex<Vec<u64>>,
}

/// Which `task_done` placement a worker uses.
#[derive(Clone, Copy, Debug)]
pub enum Variant {
    /// `task_done` after the result is recorded.
    Fixed,
    /// `task_done` as soon as the job is taken: `join` may return before its result exists.
    Broken,
}

impl Pool {
    /// A pool whose queue holds `capacity` jobs, processing at most `limit` at once.
    pub fn new(capacity: usize, limit: usize) -> Pool {
        Pool {
            jobs: Queue::new(capacity),
            slots: Semaphore::new(limit),
            results: Mutex::new(Vec::new()),
        }
    }

    /// Queues a job, waiting while the queue is full.
    pub async fn submit(&self, job: u64) {
        self.jobs
            .put(job)
            .await
            .expect("the pool is never shut down");
    }

    /// One worker step: takes a job, processes it within the concurrency limit, records it.
    pub async fn work_one(&self, variant: Variant) {
        let job = self.jobs.get().await.expect("the pool is never shut down");
        if let Variant::Broken = variant {
            self.jobs.task_done(); // BUG: the job is not finished yet
        }
        let permit = self.slots.acquire().await.expect("never closed");
        let result = job * 2; // the work
        self.results.lock().await.push(result);
        drop(permit);
        if let Variant::Fixed = variant {
            self.jobs.task_done();
        }
    }

    /// Waits until every submitted job is finished, then returns the results.
    pub async fn join(&self) -> Vec<u64> {
        self.jobs.join().await;
        let mut results = self.results.lock().await.clone();
        results.sort_unstable();
        results
    }
}
