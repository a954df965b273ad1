//! [`GroupSpawner`]: the one spawn path of a group ([`TaskGroup`](super::TaskGroup) spawns
//! through its own).

use super::{GroupSpawner, Id};
use crate::Handle;
use std::fmt;
use std::future::Future;

impl<T, E> GroupSpawner<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// Spawns on the current runtime; `what` names the public method in the panic message
    /// outside a runtime.
    #[track_caller]
    pub(super) fn spawn_here<F>(&self, what: &str, future: F) -> Option<Id>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.shared.spawn(&current_handle(what), future)
    }

    /// Spawns a child into the group on the current runtime (see [`TaskGroup::spawn`](super::TaskGroup::spawn)).
    /// `None`, with `future` dropped unpolled, if the group failed, was joined or dropped.
    /// Panics outside a kiln runtime, as [`TaskGroup::spawn`](super::TaskGroup::spawn) does.
    ///
    /// ```
    /// kiln::run(async {
    ///     let group = kiln::task::TaskGroup::<u8, ()>::new();
    ///     let spawner = group.spawner();
    ///     assert!(spawner.spawn(async { Ok(1) }).is_some());
    ///     assert_eq!(group.join().await.unwrap(), vec![1]);
    ///     assert!(spawner.spawn(async { Ok(2) }).is_none()); // joined: closed
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Option<Id>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.spawn_here("kiln::task::GroupSpawner::spawn", future)
    }

    /// Spawns a child into the group on the runtime of `handle`.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let group = kiln::task::TaskGroup::<u8, ()>::new();
    /// group.spawner().spawn_on(async { Ok(3) }, rt.handle());
    /// assert_eq!(rt.block_on(group.join()).unwrap(), vec![3]);
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&self, future: F, handle: &Handle) -> Option<Id>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        self.shared.spawn(handle, future)
    }
}

impl<T, E> Clone for GroupSpawner<T, E> {
    fn clone(&self) -> GroupSpawner<T, E> {
        GroupSpawner {
            shared: self.shared.clone(),
        }
    }
}

impl<T, E> fmt::Debug for GroupSpawner<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSpawner").finish_non_exhaustive()
    }
}

#[track_caller]
fn current_handle(what: &str) -> Handle {
    match Handle::try_current() {
        Some(handle) => handle,
        None => crate::runtime::no_runtime(what),
    }
}
