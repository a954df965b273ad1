//! What a runtime does when a task panics and nobody will read its output
//! ([`UnhandledPanic`], set with `Builder::unhandled_panic`).
//!
//! A panic is *unhandled* when the task's output is dropped unread: the task completed with a
//! panic after its `JoinHandle` was dropped, or its `JoinHandle` is dropped after the task
//! completed with a panic (both are detected in `cell/raw.rs` and reported through
//! `Schedule::unhandled_panic`). Tasks of the blocking pool are not covered.
//!
//! With [`UnhandledPanic::ShutdownRuntime`], protocol:
//! 1. The first unhandled panic stores its message and sets `triggered` (Release); later ones
//!    are ignored.
//! 2. The scheduler begins its shutdown (multi-thread: every worker leaves its loop after its
//!    current poll and cancels its tasks, while `block_on` already panics;
//!    current-thread: the driving `block_on` leaves its loop at the next task boundary and
//!    shuts the runtime down on its own thread).
//! 3. Every `block_on` registered in `waiters` is woken; each checks `triggered` before it
//!    polls its future and panics with the stored message. A `block_on` that starts later
//!    panics at once.

use crate::loom::sync::{
    atomic::{AtomicBool, Ordering::*},
    Mutex,
};
use slab::Slab;
use std::task::Waker;

/// What to do when a task panics and its output will never be read (see
/// `Builder::unhandled_panic`).
///
/// ```
/// let rt = kiln::Builder::new_current_thread()
///     .unhandled_panic(kiln::UnhandledPanic::ShutdownRuntime)
///     .build()
///     .unwrap();
/// rt.spawn(async { panic!("nobody reads this") });
/// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     rt.block_on(std::future::pending::<()>())
/// }));
/// assert!(caught.is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UnhandledPanic {
    /// The panic is caught and dropped with the task's output; the runtime carries on (the
    /// default). The panic message is still printed by the panic hook.
    #[default]
    Ignore,
    /// The runtime shuts down: every task is cancelled, and `block_on` (current or later)
    /// panics with the task's panic message.
    ShutdownRuntime,
}

/// A runtime's record of unhandled panics (see the module docs).
pub(crate) struct Unhandled {
    policy: UnhandledPanic,
    triggered: AtomicBool,
    message: Mutex<Option<String>>,
    waiters: Mutex<Slab<Waker>>,
}

impl Unhandled {
    pub(crate) fn new(policy: UnhandledPanic) -> Unhandled {
        Unhandled {
            policy,
            triggered: AtomicBool::new(false),
            message: Mutex::new(None),
            waiters: Mutex::new(Slab::new()),
        }
    }

    /// Protocol steps 1 and 3: `true` if the runtime must now shut down (step 2, the
    /// caller's).
    #[must_use]
    pub(crate) fn on_panic(&self, message: String) -> bool {
        if self.policy != UnhandledPanic::ShutdownRuntime {
            return false;
        }
        {
            let mut stored = self.message.lock();
            if stored.is_some() {
                return false;
            }
            *stored = Some(message);
        }
        // Release: pairs with the Acquire load in `is_triggered`; the message is stored first.
        self.triggered.store(true, Release);
        let wakers: Vec<Waker> = self.waiters.lock().drain().collect();
        wakers.into_iter().for_each(Waker::wake);
        true
    }

    pub(crate) fn is_triggered(&self) -> bool {
        self.triggered.load(Acquire)
    }

    /// Panics with the stored message if the runtime was shut down by an unhandled panic.
    #[track_caller]
    pub(crate) fn check(&self) {
        if self.is_triggered() {
            let msg = self.message.lock().clone().unwrap_or_default();
            panic!(
                "kiln: the runtime was shut down by a panic nobody handled \
                 (UnhandledPanic::ShutdownRuntime): {msg}"
            );
        }
    }

    /// Registers a `block_on` caller's waker until the returned guard drops.
    pub(crate) fn register(&self, waker: &Waker) -> WaiterGuard<'_> {
        let key = self.waiters.lock().insert(waker.clone());
        WaiterGuard { owner: self, key }
    }
}

/// Unregisters a `block_on` waker (see [`Unhandled::register`]).
pub(crate) struct WaiterGuard<'a> {
    owner: &'a Unhandled,
    key: usize,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        // The slot may have been drained by a panic and reused by another waiter only after
        // that panic, when every `block_on` panics anyway; removing it then is harmless.
        self.owner.waiters.lock().try_remove(self.key);
    }
}
