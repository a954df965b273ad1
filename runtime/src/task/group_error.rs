//! [`GroupError`]: why a task group failed (see `super::group`).

use super::{Id, JoinError};
use std::fmt;

/// Why a [`TaskGroup`](super::TaskGroup) failed: the first child that returned `Err`, panicked, or was cancelled
/// by runtime shutdown.
///
/// ```
/// kiln::run(async {
///     let group = kiln::task::TaskGroup::<(), &str>::new();
///     group.spawn(async { Err("bad input") });
///     let err = group.join().await.unwrap_err();
///     assert!(err.is_failed());
///     assert_eq!(err.into_error(), "bad input");
/// });
/// ```
pub struct GroupError<E> {
    repr: Repr<E>,
    id: Id,
}

enum Repr<E> {
    /// The child returned `Err`.
    Failed(E),
    /// The child panicked or was cancelled (by runtime shutdown).
    Join(JoinError),
}

impl<E> GroupError<E> {
    /// The child `id` returned `Err(err)`.
    pub(super) fn failed(err: E, id: Id) -> GroupError<E> {
        GroupError {
            repr: Repr::Failed(err),
            id,
        }
    }

    /// The child `id` panicked or was cancelled, as `err` tells.
    pub(super) fn join(err: JoinError, id: Id) -> GroupError<E> {
        GroupError {
            repr: Repr::Join(err),
            id,
        }
    }
}

impl<E> GroupError<E> {
    /// A child returned `Err` (see [`GroupError::into_error`]).
    ///
    /// ```
    /// kiln::run(async {
    ///     let g = kiln::task::TaskGroup::<(), i32>::new();
    ///     g.spawn(async { Err(-1) });
    ///     assert!(g.join().await.unwrap_err().is_failed());
    /// });
    /// ```
    pub fn is_failed(&self) -> bool {
        matches!(self.repr, Repr::Failed(_))
    }

    /// A child panicked (see [`GroupError::into_panic`]).
    ///
    /// ```
    /// kiln::run(async {
    ///     let g = kiln::task::TaskGroup::<(), ()>::new();
    ///     g.spawn(async { panic!("boom") });
    ///     assert!(g.join().await.unwrap_err().is_panic());
    /// });
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(&self.repr, Repr::Join(e) if e.is_panic())
    }

    /// A child was cancelled by runtime shutdown before the group failed otherwise.
    ///
    /// ```
    /// let rt = kiln::Runtime::new().unwrap();
    /// let group = kiln::task::TaskGroup::<(), ()>::new();
    /// group.spawn_on(std::future::pending(), rt.handle());
    /// let join = std::thread::spawn(move || futures::executor::block_on(group.join()));
    /// drop(rt); // cancels the child
    /// assert!(join.join().unwrap().unwrap_err().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(&self.repr, Repr::Join(e) if e.is_cancelled())
    }

    /// The id of the child that failed.
    ///
    /// ```
    /// kiln::run(async {
    ///     let g = kiln::task::TaskGroup::<(), ()>::new();
    ///     let id = g.spawn(async { Err(()) }).unwrap();
    ///     assert_eq!(g.join().await.unwrap_err().id(), id);
    /// });
    /// ```
    pub fn id(&self) -> Id {
        self.id
    }

    /// The child's `Err` value, if that is what failed the group.
    ///
    /// ```
    /// kiln::run(async {
    ///     let g = kiln::task::TaskGroup::<(), u8>::new();
    ///     g.spawn(async { Err(4) });
    ///     assert_eq!(g.join().await.unwrap_err().error(), Some(&4));
    /// });
    /// ```
    pub fn error(&self) -> Option<&E> {
        match &self.repr {
            Repr::Failed(e) => Some(e),
            Repr::Join(_) => None,
        }
    }

    /// The child's `Err` value.
    ///
    /// # Panics
    /// If the group failed by a panic or a cancellation (see [`GroupError::is_failed`]).
    ///
    /// ```
    /// kiln::run(async {
    ///     let g = kiln::task::TaskGroup::<(), String>::new();
    ///     g.spawn(async { Err("nope".to_string()) });
    ///     assert_eq!(g.join().await.unwrap_err().into_error(), "nope");
    /// });
    /// ```
    pub fn into_error(self) -> E {
        match self.repr {
            Repr::Failed(e) => e,
            Repr::Join(e) => panic!(
                "kiln: GroupError::into_error called on a group that failed by {e}, \
                 not by a child's Err"
            ),
        }
    }

    /// The child's `Err` value, or the error back if the group failed otherwise.
    ///
    /// ```
    /// kiln::run(async {
    ///     let g = kiln::task::TaskGroup::<(), u8>::new();
    ///     g.spawn(async { panic!() });
    ///     assert!(g.join().await.unwrap_err().try_into_error().is_err());
    /// });
    /// ```
    pub fn try_into_error(self) -> Result<E, GroupError<E>> {
        match self.repr {
            Repr::Failed(e) => Ok(e),
            repr @ Repr::Join(_) => Err(GroupError { repr, id: self.id }),
        }
    }

    /// The panic payload, to resume with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If no child panicked (see [`GroupError::is_panic`]).
    ///
    /// ```
    /// kiln::run(async {
    ///     let g = kiln::task::TaskGroup::<(), ()>::new();
    ///     g.spawn(async { std::panic::panic_any(9u8) });
    ///     let payload = g.join().await.unwrap_err().into_panic();
    ///     assert_eq!(*payload.downcast::<u8>().unwrap(), 9);
    /// });
    /// ```
    pub fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        match self.repr {
            Repr::Join(e) if e.is_panic() => e.into_panic(),
            _ => panic!("kiln: GroupError::into_panic called on a group that did not panic"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Failed(e) => write!(
                f,
                "task group failed: task {} returned an error: {e}",
                self.id
            ),
            Repr::Join(e) => write!(f, "task group failed: {e}"),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Failed(e) => write!(f, "GroupError::Failed({:?}, {e:?})", self.id),
            Repr::Join(e) => write!(f, "GroupError::{e:?}"),
        }
    }
}

impl<E> std::error::Error for GroupError<E>
where
    E: std::error::Error + 'static,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.repr {
            Repr::Failed(e) => Some(e),
            Repr::Join(e) => Some(e),
        }
    }
}
