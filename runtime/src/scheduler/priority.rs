//! Scheduling hints for the runtime's own threads: a short time slice for workers
//! (`Builder::worker_time_slice`), and a long slice and a higher nice value for blocking-pool
//! threads (`Builder::blocking_time_slice`, `Builder::blocking_nice`); and [`current_cpu`],
//! which workers publish as a placement hint for sockets (see `crate::net::affinity`).
//!
//! # Why
//! A worker that sleeps until a timer or an I/O event must run soon after it wakes, even when
//! the blocking pool keeps every CPU busy (64 CPU-bound `spawn_blocking` jobs on 2 CPUs).
//! Linux's EEVDF scheduler (6.6 and later) runs, among the threads that are owed CPU time
//! ("eligible"), the one with the earliest virtual deadline: its virtual run time plus its
//! time slice scaled by the inverse of its weight. A woken thread preempts the running one
//! only if it is that thread; otherwise it waits for the next scheduler tick (4 ms at
//! `HZ=250`), and possibly several. Measured on Linux 6.18 with 64 such jobs, a worker with
//! default settings woke up to 7 ms late, several times a second.
//!
//! - **Short slice (workers).** `sched_setattr`'s `sched_runtime` sets a `SCHED_OTHER`
//!   thread's slice (0.1–100 ms), no privilege needed. A short slice gives the thread an early
//!   virtual deadline whenever it wakes, and since 6.12 lets it preempt a thread with a longer
//!   slice at once (`PREEMPT_SHORT`). It changes *latency*, not *share*: a worker still gets
//!   the CPU share of its nice level, in shorter pieces; workers run short polls and sleep.
//! - **Long slice and nice (blocking threads).** Pool threads that waited long for a CPU are
//!   owed time, and their deadlines can still come before a worker's. A long slice (deadline
//!   far ahead) and a lower weight (nice) push every pool thread's deadline far beyond a
//!   woken worker's, so the worker is picked first. Neither stops a pool thread from running:
//!   a nice 15 thread gets about 1/28 of the CPU a nice 0 thread gets when both want it,
//!   and all of an otherwise idle CPU; blocking I/O, which mostly sleeps, hardly notices.
//!   A thread cannot lower its nice value again without privilege, so pool threads keep the
//!   setting for life (they only run pool jobs).
//!
//! All of these are hints: on kernels or systems that do not support them (`ENOSYS`,
//! `EINVAL`, `EPERM`), and on other operating systems, they do nothing and nothing is
//! reported.

use std::time::Duration;

/// Asks the kernel to schedule the calling thread with a time slice of `slice` (keeping its
/// policy and nice value; the kernel clamps it to 0.1–100 ms). Does nothing if `slice` is
/// zero, the thread has a real-time policy, or the request is refused.
pub(crate) fn request_time_slice(slice: Duration) {
    if slice.is_zero() {
        return;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    linux::set_slice(slice);
}

/// The calling thread's nice value, where the OS tells (Unix); `None` elsewhere.
pub(crate) fn current_nice() -> Option<i32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        linux::current_nice()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

/// Sets the calling thread's nice value to `base + increment` (at most 19), where `base` is
/// the nice value the runtime's builder ran at: an absolute target, so a thread started by a
/// thread that already has it (threads inherit their creator's nice value) ends up at the
/// same value, not a compounded one. Does nothing if `increment` is zero or it is refused.
pub(crate) fn set_nice_above(base: i32, increment: u8) {
    if increment == 0 {
        return;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    linux::set_nice((base + i32::from(increment)).min(19));
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = base;
}

/// How many threads in the whole system are runnable (running or waiting for a CPU) right
/// now, the calling one included, where the OS tells (Linux: `/proc/loadavg`); `None`
/// elsewhere.
pub(crate) fn runnable_threads() -> Option<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        linux::runnable_threads()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use std::time::Duration;

    /// `SCHED_OTHER` (also called `SCHED_NORMAL`).
    const SCHED_OTHER: u32 = 0;
    /// Threads the caller starts get the default slice, not the requested one.
    const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

    /// The kernel's `struct sched_attr`, first version (48 bytes; `SCHED_ATTR_SIZE_VER0`).
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        sched_policy: u32,
        sched_flags: u64,
        sched_nice: i32,
        sched_priority: u32,
        sched_runtime: u64,
        sched_deadline: u64,
        sched_period: u64,
    }

    const ATTR_SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;
    const _: () = assert!(ATTR_SIZE == 48, "sched_attr version 0 is 48 bytes");

    /// The calling thread's policy and nice value.
    #[cfg(test)]
    pub(super) fn policy_and_nice() -> Option<(u32, i32)> {
        get().map(|a| (a.sched_policy, a.sched_nice))
    }

    /// The calling thread's attributes, or `None` if the kernel lacks `sched_getattr`.
    fn get() -> Option<SchedAttr> {
        let mut attr = SchedAttr::default();
        // SAFETY: `sched_getattr(pid 0 = the calling thread, attr, size, flags 0)` writes at
        // most `ATTR_SIZE` bytes into `attr`, a valid, exclusively borrowed `sched_attr` of
        // that size.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                0,
                &mut attr as *mut SchedAttr,
                ATTR_SIZE,
                0,
            )
        };
        (rc == 0).then_some(attr)
    }

    fn set(attr: &SchedAttr) -> bool {
        // SAFETY: `sched_setattr(pid 0 = the calling thread, attr, flags 0)` only reads
        // `attr.size` (48) bytes from `attr`, a valid `sched_attr` that outlives the call.
        let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) };
        rc == 0
    }

    pub(super) fn set_slice(slice: Duration) {
        let Some(mut attr) = get() else { return };
        // Only a normal thread: a real-time policy chosen by the program stays as it is.
        if attr.sched_policy != SCHED_OTHER {
            return;
        }
        attr.size = ATTR_SIZE;
        // Threads that tasks or blocking jobs start themselves get the OS default slice.
        attr.sched_flags = SCHED_FLAG_RESET_ON_FORK;
        attr.sched_runtime = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
        // The nice value and policy read above are written back unchanged. Refused (an older
        // kernel that rejects a non-zero runtime for SCHED_OTHER): the thread keeps its slice.
        let _ = set(&attr);
    }

    pub(super) fn runnable_threads() -> Option<usize> {
        use std::io::Read;
        // "0.52 0.58 0.59 <runnable>/<threads> <last pid>\n"
        let mut buf = [0u8; 128];
        let mut f = std::fs::File::open("/proc/loadavg").ok()?;
        let n = f.read(&mut buf).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        let field = text.split_ascii_whitespace().nth(3)?;
        field.split('/').next()?.parse().ok()
    }

    pub(super) fn current_nice() -> Option<i32> {
        // SAFETY: `gettid` has no preconditions.
        let id = unsafe { libc::gettid() } as libc::id_t;
        // `getpriority` returns -1 both as a value and as an error; errno tells them apart.
        // SAFETY: `__errno_location` returns the calling thread's errno slot.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `getpriority(PRIO_PROCESS, tid)` reads the nice value of the calling thread
        // (on Linux a tid addresses that thread alone).
        let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, id) };
        // SAFETY: as above.
        let failed = nice == -1 && unsafe { *libc::__errno_location() } != 0;
        (!failed).then_some(nice)
    }

    pub(super) fn set_nice(nice: i32) {
        let Some(current) = current_nice() else {
            return;
        };
        // Only ever raised: lowering needs privilege, and a thread the program made nicer
        // than asked stays so.
        if nice <= current {
            return;
        }
        // SAFETY: `gettid` has no preconditions.
        let id = unsafe { libc::gettid() } as libc::id_t;
        // SAFETY: `setpriority(PRIO_PROCESS, tid, n)` changes the nice value of the calling
        // thread only. Raising it needs no privilege; a refusal leaves it unchanged.
        let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, id, nice) };
    }
}

#[cfg(all(test, not(loom), any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    #[test]
    fn slice_request_keeps_policy_and_nice() {
        std::thread::spawn(|| {
            let before = linux_attr();
            request_time_slice(Duration::from_micros(100));
            let after = linux_attr();
            if let (Some(before), Some(after)) = (before, after) {
                assert_eq!(before.0, after.0, "policy unchanged");
                assert_eq!(before.1, after.1, "nice unchanged");
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn nice_is_raised_once_for_this_thread_only() {
        let outside = current_nice();
        std::thread::spawn(move || {
            let base = current_nice().unwrap();
            set_nice_above(base, 3);
            assert_eq!(current_nice(), Some((base + 3).min(19)));
            // A thread started from this one inherits the value; the target is absolute.
            std::thread::spawn(move || {
                set_nice_above(base, 3);
                assert_eq!(current_nice(), Some((base + 3).min(19)));
            })
            .join()
            .unwrap();
        })
        .join()
        .unwrap();
        assert_eq!(
            current_nice(),
            outside,
            "other threads keep their nice value"
        );
    }

    #[test]
    fn runnable_threads_counts_the_caller() {
        if let Some(n) = runnable_threads() {
            assert!(n >= 1, "the calling thread is runnable");
        }
    }

    /// The calling thread's time slice as the kernel reports it.
    fn time_slice() -> Option<Duration> {
        let sched = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        let line = sched.lines().find(|l| l.starts_with("se.slice"))?;
        let ns = line.rsplit(':').next()?.trim().parse().ok()?;
        Some(Duration::from_nanos(ns))
    }

    /// Whether this kernel honours slice requests (a plain thread tries one).
    fn slices_supported() -> bool {
        std::thread::spawn(|| {
            request_time_slice(Duration::from_micros(300));
            time_slice() == Some(Duration::from_micros(300))
        })
        .join()
        .unwrap()
    }

    /// A thread's `(nice, time slice)`.
    type Settings = (Option<i32>, Option<Duration>);

    /// The settings seen on a worker and on a blocking-pool thread of `rt`.
    fn worker_and_pool_settings(rt: &crate::Runtime) -> (Settings, Settings) {
        rt.block_on(async {
            let worker = crate::spawn(async { (current_nice(), time_slice()) })
                .await
                .unwrap();
            let pool = crate::spawn_blocking(|| (current_nice(), time_slice()))
                .await
                .unwrap();
            (worker, pool)
        })
    }

    #[test]
    fn runtime_threads_get_their_scheduling_settings() {
        let base = current_nice().unwrap();
        let rt = crate::Builder::new_multi_thread()
            .worker_threads(1)
            .worker_time_slice(Duration::from_micros(200))
            .blocking_time_slice(Duration::from_millis(50))
            .blocking_nice(4)
            .build()
            .unwrap();
        let default_slice = std::thread::spawn(time_slice).join().unwrap();
        let (worker, pool) = worker_and_pool_settings(&rt);
        // A thread a task starts does not inherit the worker's slice.
        let child = rt
            .block_on(rt.spawn(async { std::thread::spawn(time_slice).join().unwrap() }))
            .unwrap();
        assert_eq!(worker.0, Some(base), "workers keep their nice value");
        assert_eq!(child, default_slice);
        assert_eq!(pool.0, Some((base + 4).min(19)), "pool threads are nicer");
        if slices_supported() {
            assert_eq!(worker.1, Some(Duration::from_micros(200)));
            assert_eq!(pool.1, Some(Duration::from_millis(50)));
        }
        assert_eq!(
            current_nice(),
            Some(base),
            "the caller's thread is left alone"
        );
    }

    #[test]
    fn zero_settings_leave_threads_alone() {
        let base = current_nice().unwrap();
        let default_slice = std::thread::spawn(time_slice).join().unwrap();
        let rt = crate::Builder::new_multi_thread()
            .worker_threads(1)
            .worker_time_slice(Duration::ZERO)
            .blocking_time_slice(Duration::ZERO)
            .blocking_nice(0)
            .build()
            .unwrap();
        let (worker, pool) = worker_and_pool_settings(&rt);
        assert_eq!(worker, (Some(base), default_slice));
        assert_eq!(pool, (Some(base), default_slice));
    }

    fn linux_attr() -> Option<(u32, i32)> {
        linux::policy_and_nice()
    }
}

/// The CPU this thread runs on now (`usize::MAX` where the system does not say).
pub(crate) fn current_cpu() -> usize {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: takes no arguments and touches no memory of ours; -1 on failure.
        let cpu = unsafe { libc::sched_getcpu() };
        if let Ok(cpu) = usize::try_from(cpu) {
            return cpu;
        }
    }
    usize::MAX
}
