//! What the pool's queue holds: an opaque [`Job`] (`Pool::spawn`), or a [`TaskRef`], the queue's
//! reference to a job that lives in one shared allocation with its result slot (the executor's
//! `ThreadPool` jobs: one allocation per job instead of a boxed closure plus a slot).
//!
//! # Ownership
//!
//! The queue holds one [`TaskRef`] per task: the thread that pops it runs it ([`Task::run`],
//! once); a queue drained at shutdown drops it, and dropping a `TaskRef` that was not run
//! calls [`Task::drop_unrun`], which drops the job unrun (its handle then reports cancelled).

use crate::Job;
use std::sync::Arc;

/// A job sharing its allocation with its result slot. See the module documentation.
pub(crate) trait Task: Send + Sync {
    /// Runs the job (or, if it was aborted while queued, drops it unrun).
    fn run(self: Arc<Self>);

    /// Drops the job unrun if [`Task::run`] never took it; otherwise does nothing.
    fn drop_unrun(&self);
}

/// The queue's reference to a [`Task`] (`None` only once run).
pub(crate) struct TaskRef(Option<Arc<dyn Task>>);

impl TaskRef {
    pub(crate) fn new(task: Arc<dyn Task>) -> TaskRef {
        TaskRef(Some(task))
    }

    /// Runs the task; dropping the reference afterwards does nothing more.
    pub(crate) fn run(mut self) {
        if let Some(task) = self.0.take() {
            task.run();
        }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.drop_unrun();
        }
    }
}

/// One entry of the pool's queue.
pub(crate) enum Work {
    /// A boxed closure from [`Pool::spawn`](crate::Pool::spawn).
    Job(Job),
    /// An executor job (it catches its own panics and keeps its own counters).
    Task(TaskRef),
}
