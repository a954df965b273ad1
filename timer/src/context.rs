//! The thread-local "current timer": set by the runtime on each worker thread (and inside
//! `block_on`), read by [`sleep`](crate::sleep()) and friends when they are created.
//!
//! Entering is nestable: each [`EnterGuard`] restores the handle that was current before it
//! when dropped, so guards must be dropped in reverse order of creation (they are `!Send`,
//! which keeps them on their thread).

use crate::TimerHandle;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

thread_local! {
    static CURRENT: RefCell<Option<TimerHandle>> = const { RefCell::new(None) };
}

/// Makes `h` this thread's current timer until the returned guard is dropped.
///
/// ```
/// # use kiln_timer::{Driver, Unpark};
/// # use std::sync::Arc;
/// # struct Nop;
/// # impl Unpark for Nop { fn unpark(&self) {} }
/// use kiln_timer::context;
///
/// let driver = Driver::new(Arc::new(Nop));
/// assert!(context::try_current().is_none());
/// {
///     let _guard = context::enter(driver.handle());
///     assert!(context::try_current().unwrap().same_driver(&driver.handle()));
/// }
/// assert!(context::try_current().is_none());
/// ```
pub fn enter(h: TimerHandle) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(Some(h)));
    EnterGuard {
        prev,
        _not_send: PhantomData,
    }
}

/// This thread's current timer handle, if a runtime (or [`enter`]) set one.
///
/// ```
/// assert!(kiln_timer::context::try_current().is_none());
/// ```
pub fn try_current() -> Option<TimerHandle> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The current handle, or a panic naming `what` and the mistake.
#[track_caller]
pub(crate) fn current(what: &str) -> TimerHandle {
    match try_current() {
        Some(h) => h,
        None => panic!(
            "{what} must be called from inside a kiln runtime \
             (no kiln timer driver is entered on this thread)"
        ),
    }
}

/// Restores the previously current timer when dropped. Returned by [`enter`].
#[must_use = "the timer is current only while the guard lives"]
pub struct EnterGuard {
    prev: Option<TimerHandle>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        // `try_with`: the thread-local may already be gone if the guard is dropped during
        // thread teardown; then there is nothing to restore.
        let _ = CURRENT.try_with(|c| c.replace(prev));
    }
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}
