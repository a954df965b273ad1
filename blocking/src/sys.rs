//! The crate's only OS calls: a thread's nice value, for the pool's scheduling hint.
//!
//! Linux: through `rustix` (safe wrappers; this crate has no `unsafe`). On Linux,
//! `setpriority(PRIO_PROCESS, tid)` changes one thread. Elsewhere both functions do nothing,
//! and the hint is documented as Linux-only.

/// The calling thread's nice value (0 where unknown).
#[cfg(target_os = "linux")]
pub(crate) fn current_nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap_or(0)
}

/// Sets the calling thread's nice value to `target` (capped at 19). Refusals are ignored: the
/// value is a hint.
#[cfg(target_os = "linux")]
pub(crate) fn set_nice(target: i32) {
    let tid = rustix::thread::gettid();
    let _ = rustix::process::setpriority_process(Some(tid), target.min(19));
}

/// The calling thread's nice value (0 where unknown).
#[cfg(not(target_os = "linux"))]
pub(crate) fn current_nice() -> i32 {
    0
}

/// Does nothing outside Linux (see the module docs).
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_nice(_target: i32) {}
