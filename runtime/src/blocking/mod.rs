//! `spawn_blocking`: a closure run on the blocking pool, wrapped in a task cell so it has a
//! `JoinHandle` with the same `abort`, panic and cancellation semantics as any task.
//!
//! Protocol: the task is created `NOTIFIED` and submitted to the pool as a job. When a pool
//! thread runs the job it polls the task once: the closure runs unless the task was aborted
//! first (then it is cancelled without running). A job the pool drops unrun (shutdown, or a
//! refused submission) cancels its task on drop, so the `JoinHandle` never hangs. On the
//! current-thread flavor each job is counted until then, so a paused clock does not jump
//! while it may still wake a task (`crate::testing`).
//!
//! A pool thread enters its runtime on its first job and stays entered between jobs, and a
//! task dump sees the job it runs through the thread's own slot (`thread.rs`). A thread that
//! runs CPU-bound jobs asks the OS for a long time slice while it does (`slice.rs`).

mod slice;
mod thread;

pub(crate) use slice::adopt as adopt_job_slices;
#[cfg(all(test, not(loom)))]
pub(crate) use slice::holds_long;
pub(crate) use thread::PoolThread;

use crate::cell::{self, JoinHandle, Notified, RawTask, Schedule};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The closure as a future that completes on its first poll.
struct BlockingTask<F>(Option<F>);

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self
            .0
            .take()
            .expect("kiln: blocking task polled after completion");
        Poll::Ready(f())
    }
}

/// The scheduler of blocking tasks: the pool itself.
struct BlockingSchedule {
    handle: crate::Handle,
}

impl Schedule for BlockingSchedule {
    fn schedule(&self, task: Notified) {
        submit(self.handle.scheduler().blocking(), &self.handle, task);
    }

    fn release(&self, task: RawTask) -> bool {
        thread::release(task)
    }
}

/// A queued blocking job; cancels its task if dropped unrun.
struct Job {
    task: Option<Notified>,
    handle: crate::Handle,
    /// Counts the job for a paused clock (`crate::testing`) until it is dropped, which is
    /// after its task completed or was cancelled (fields drop after `Drop::drop`).
    _in_flight: Option<crate::testing::JobGuard>,
}

impl Job {
    fn run(mut self) {
        if let Some(task) = self.task.take() {
            thread::run(&self.handle, task);
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            cancel_unrun(task);
        }
    }
}

fn cancel_unrun(task: Notified) {
    task.raw().shutdown();
    drop(task);
}

fn submit(pool: &kiln_blocking::Pool, handle: &crate::Handle, task: Notified) {
    let job = Job {
        task: Some(task),
        handle: handle.clone(),
        _in_flight: handle.scheduler().jobs_in_flight().map(|j| j.start()),
    };
    // A refused job is handed back inside the error; dropping it cancels the task.
    let _ = pool.spawn(Box::new(move || job.run()));
}

/// Runs `f` on `handle`'s blocking pool.
#[track_caller]
pub(crate) fn spawn_blocking<F, R>(handle: &crate::Handle, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    spawn_blocking_at(
        handle,
        f,
        cell::TaskMeta::at(std::panic::Location::caller()),
    )
}

/// [`spawn_blocking`], with `meta`'s spawn location and name. Dumps list the task while a pool
/// thread runs it (`thread.rs`).
pub(crate) fn spawn_blocking_at<F, R>(
    handle: &crate::Handle,
    f: F,
    meta: cell::TaskMeta<'_>,
) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let schedule = BlockingSchedule {
        handle: handle.clone(),
    };
    let (join, notified) = cell::unowned(BlockingTask(Some(f)), schedule, meta);
    submit(handle.scheduler().blocking(), handle, notified);
    join
}

impl crate::Handle {
    /// Runs `f` on this runtime's blocking pool.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let h = rt.handle().spawn_blocking(|| 5);
    /// assert_eq!(rt.block_on(h).unwrap(), 5);
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        spawn_blocking(self, f)
    }
}
