//! The builder's thread pools besides the workers: how the blocking pool and the compute pool
//! are assembled from the builder's settings (thread names, stack size, the start and stop
//! hooks, and the scheduling hints of `hints.rs`, applied on each pool thread before the
//! user's start hook).

use super::{Builder, Hook, Kind};
use std::io;
use std::sync::Arc;

impl Builder {
    /// The compute pool (see [`Builder::compute_threads`]): no scheduling hint by default, and
    /// its own thread name unless the user set one.
    pub(crate) fn compute_pool(&self) -> io::Result<kiln_blocking::executor::ThreadPool> {
        let threads = self.compute_threads.unwrap_or_else(|| match self.kind {
            Kind::MultiThread => self.num_workers(),
            Kind::CurrentThread => num_cpus::get().max(1),
        });
        let mut b = kiln_blocking::executor::ThreadPool::builder();
        let name = if self.thread_name_set {
            self.thread_name.clone()
        } else {
            Arc::new(|| super::DEFAULT_COMPUTE_THREAD_NAME.to_string())
        };
        b.threads(threads).thread_name_fn(name);
        if let Some(size) = self.thread_stack_size {
            b.stack_size(size);
        }
        let slice = self.compute_time_slice;
        let hints = move || crate::sys::request_time_slice(slice);
        if let Some(f) = self.start_hook(!slice.is_zero(), hints) {
            b.on_thread_start(f);
        }
        if let Some(f) = &self.on_thread_stop {
            b.on_thread_stop(f.clone());
        }
        b.build()
    }

    pub(crate) fn blocking_pool(&self) -> io::Result<kiln_blocking::Pool> {
        let mut b = kiln_blocking::Builder::new();
        b.max_threads(self.max_blocking_threads)
            .keep_alive(self.blocking_keep_alive)
            .thread_name_fn(self.thread_name.clone());
        if let Some(size) = self.thread_stack_size {
            b.stack_size(size);
        }
        let (nice, slice) = (self.blocking_nice, self.blocking_time_slice);
        let cpu_slice = self.blocking_cpu_slice;
        // Pool threads may be started by other pool threads (inheriting their nice value):
        // their target is relative to this thread's value, not to their creator's.
        let base = crate::sys::current_nice().unwrap_or(0);
        let hints = move || {
            crate::sys::request_time_slice(slice);
            crate::sys::set_nice_above(base, nice);
            crate::blocking::adopt_job_slices(slice, cpu_slice);
        };
        let any = nice > 0 || !slice.is_zero() || cpu_slice > slice;
        if let Some(f) = self.start_hook(any, hints) {
            b.on_thread_start(f);
        }
        let stop = self.on_thread_stop.clone();
        b.on_thread_stop(Arc::new(move || {
            // A pool thread stays in the runtime between jobs (`crate::blocking`) until now.
            crate::context::leave_pool_thread();
            if let Some(f) = stop.as_deref() {
                f()
            }
        }));
        b.build()
    }

    /// A pool thread's start hook: `hints` (its scheduling hints) if `any` says there are
    /// some, before the user's hook, which may choose other settings; the user's hook alone
    /// otherwise.
    fn start_hook(&self, any: bool, hints: impl Fn() + Send + Sync + 'static) -> Option<Hook> {
        let user = self.on_thread_start.clone();
        if !any {
            return user;
        }
        Some(Arc::new(move || {
            hints();
            if let Some(f) = &user {
                f();
            }
        }))
    }
}
