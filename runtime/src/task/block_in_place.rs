//! [`block_in_place`]: run blocking code on the current worker thread without stalling the
//! worker's other tasks, sockets and timers (see `scheduler/multi/handoff.rs`).

use crate::scheduler::SchedulerContext;

/// Runs the blocking closure `f` right here, on the current worker thread, after handing the
/// worker's queue, event loop (sockets) and timers to another thread, so the worker's other
/// tasks keep running while `f` blocks. Returns `f`'s result.
///
/// Use it when the blocking code needs the caller's borrowed data (which
/// [`spawn_blocking`](crate::spawn_blocking) cannot take) or is too short to be worth a
/// round trip to a pool. The cost is a thread start when the hand-off happens; if `f` returns
/// before the new thread has taken the worker over, the worker is taken back and nothing moves.
/// Other futures of the *same task* (e.g. in a `join!`) do not run while `f` blocks.
///
/// Multi-thread flavor only. On a thread of the runtime that is not a worker (a
/// `block_on` caller, a blocking- or compute-pool thread), `f` simply runs: there is no worker
/// to hand over.
///
/// # Panics
/// - On the current-thread flavor: its one thread runs every task, so there is no other
///   thread to hand the event loop to (use `spawn_blocking` or `spawn_compute` instead).
/// - Outside a runtime.
///
/// ```
/// let rt = kiln::Builder::new_multi_thread().worker_threads(1).build().unwrap();
/// rt.block_on(async {
///     let ticker = kiln::spawn(async {
///         kiln::time::sleep(std::time::Duration::from_millis(5)).await;
///         "ticked"
///     });
///     let data = vec![1u64, 2, 3];
///     // Borrows `data`; the worker's other tasks (the ticker) keep running meanwhile.
///     let sum = kiln::task::block_in_place(|| {
///         std::thread::sleep(std::time::Duration::from_millis(20));
///         data.iter().sum::<u64>()
///     });
///     assert_eq!(sum, 6);
///     assert_eq!(ticker.await.unwrap(), "ticked");
/// });
/// ```
#[track_caller]
pub fn block_in_place<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    match crate::context::scheduler_rc().as_deref() {
        Some(SchedulerContext::Multi(w)) => crate::scheduler::multi::block_in_place(w, f),
        Some(SchedulerContext::Current(_)) => panic!(
            "kiln::task::block_in_place cannot be used on a current-thread runtime: its one \
             thread runs every task, event loop and timer, so there is no other thread to hand \
             them to while the closure blocks. Use a multi-thread runtime, or move the work off \
             the runtime with kiln::spawn_blocking or kiln::spawn_compute."
        ),
        None if crate::Handle::try_current().is_some() => f(),
        None => crate::runtime::no_runtime("kiln::task::block_in_place"),
    }
}
