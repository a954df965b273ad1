//! [`CancellationToken`]: a cancellation signal shared by a tree of tokens.
//!
//! Each token is an `Arc<Node>`. A node's [`Event`] is its cancelled flag: it is set once and
//! never cleared, and `cancelled().await` is a wait on it. A node keeps weak references to its
//! children under `children`'s lock.
//!
//! Protocol (cancel vs. `child_token`):
//! 1. `cancel` sets the node's event first (Release), then takes `children` under the lock,
//!    leaving it empty, and cancels each child the same way (iteratively, so a deep chain
//!    cannot overflow the stack).
//! 2. `child_token` locks the parent's `children`, checks the parent's flag under that lock,
//!    and either cancels the new child at once (the flag was set) or pushes it.
//!
//! A child pushed before step 1 took the list is cancelled by it; a child created after the
//! list was taken sees the flag (set before the take) and is born cancelled. Dead children
//! (every token dropped) are pruned from the list whenever it doubles.
//!
//! Cancelling a child never cancels its parent.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use crate::event::{Event, EventWait};
use crate::loom::sync::Mutex;

/// A token that tasks watch to learn they should stop: [`cancel`](Self::cancel) it once, and
/// every [`cancelled`](Self::cancelled) wait on it (and on its
/// [child tokens](Self::child_token)) completes.
///
/// Clones share one cancellation state.
///
/// ```
/// use kiln_sync::CancellationToken;
///
/// let token = CancellationToken::new();
/// let child = token.child_token();
/// let worker = {
///     let child = child.clone();
///     std::thread::spawn(move || futures::executor::block_on(child.cancelled()))
/// };
/// token.cancel();
/// worker.join().unwrap();
/// assert!(child.is_cancelled());
/// ```
#[derive(Clone)]
pub struct CancellationToken {
    node: Arc<Node>,
}

struct Node {
    /// Set once by `cancel`, never cleared.
    cancelled: Event,
    /// Children still to cancel; emptied for good by `cancel` (see the module docs).
    children: Mutex<Children>,
}

struct Children {
    list: Vec<Weak<Node>>,
    /// Length at which dead entries are pruned next.
    prune_at: usize,
}

impl Node {
    fn new() -> Arc<Node> {
        Arc::new(Node {
            cancelled: Event::new(),
            children: Mutex::new(Children {
                list: Vec::new(),
                prune_at: 8,
            }),
        })
    }

    fn cancel(self: &Arc<Node>) {
        let mut stack = vec![self.clone()];
        while let Some(node) = stack.pop() {
            if node.cancelled.is_set() {
                continue;
            }
            // Step 1: the flag before the take (see the module docs).
            node.cancelled.set();
            let children = std::mem::take(&mut node.children.lock().list);
            stack.extend(children.iter().filter_map(Weak::upgrade));
        }
    }
}

impl Default for CancellationToken {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("is_cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancellationToken {
    /// A new token, not cancelled, with no parent.
    ///
    /// ```
    /// assert!(!kiln_sync::CancellationToken::new().is_cancelled());
    /// ```
    pub fn new() -> CancellationToken {
        CancellationToken { node: Node::new() }
    }

    /// Cancels this token and every child token (recursively); wakes every task waiting in
    /// [`cancelled`](Self::cancelled). Calling it again does nothing.
    ///
    /// ```
    /// let token = kiln_sync::CancellationToken::new();
    /// token.cancel();
    /// token.cancel();
    /// assert!(token.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.node.cancel();
    }

    /// Whether this token (or an ancestor) was cancelled.
    ///
    /// ```
    /// let parent = kiln_sync::CancellationToken::new();
    /// let child = parent.child_token();
    /// parent.cancel();
    /// assert!(child.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.node.cancelled.is_set()
    }

    /// Waits until the token is cancelled; completes at once if it already is. Cancel-safe.
    ///
    /// ```
    /// futures::executor::block_on(async {
    ///     let token = kiln_sync::CancellationToken::new();
    ///     token.cancel();
    ///     token.cancelled().await;
    /// });
    /// ```
    pub fn cancelled(&self) -> WaitForCancellation<'_> {
        WaitForCancellation {
            wait: self.node.cancelled.wait(),
        }
    }

    /// A new token that is cancelled when this one is (or at once, if this one already is).
    /// Cancelling the child does not cancel this token.
    ///
    /// ```
    /// let parent = kiln_sync::CancellationToken::new();
    /// let child = parent.child_token();
    /// child.cancel();
    /// assert!(!parent.is_cancelled());
    /// ```
    pub fn child_token(&self) -> CancellationToken {
        let child = Node::new();
        let mut children = self.node.children.lock();
        // Step 2 of the protocol: the flag is checked under the lock `cancel` takes.
        if self.is_cancelled() {
            drop(children);
            child.cancel();
        } else {
            if children.list.len() >= children.prune_at {
                children.list.retain(|w| w.strong_count() > 0);
                children.prune_at = (children.list.len() * 2).max(8);
            }
            children.list.push(Arc::downgrade(&child));
        }
        CancellationToken { node: child }
    }

    /// A guard that cancels this token when dropped, unless [disarmed](DropGuard::disarm).
    ///
    /// ```
    /// let token = kiln_sync::CancellationToken::new();
    /// {
    ///     let _guard = token.clone().drop_guard();
    /// }
    /// assert!(token.is_cancelled());
    /// ```
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { token: Some(self) }
    }
}

/// Future returned by [`CancellationToken::cancelled`].
///
/// ```
/// let token = kiln_sync::CancellationToken::new();
/// let wait: kiln_sync::WaitForCancellation<'_> = token.cancelled();
/// token.cancel();
/// futures::executor::block_on(wait);
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct WaitForCancellation<'a> {
    wait: EventWait<'a>,
}

impl fmt::Debug for WaitForCancellation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellation")
            .finish_non_exhaustive()
    }
}

impl Future for WaitForCancellation<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.wait).poll(cx)
    }
}

/// Cancels its token when dropped (see [`CancellationToken::drop_guard`]).
///
/// ```
/// let token = kiln_sync::CancellationToken::new();
/// let guard = token.clone().drop_guard();
/// let back = guard.disarm();
/// assert!(!back.is_cancelled());
/// ```
pub struct DropGuard {
    /// `None` once disarmed.
    token: Option<CancellationToken>,
}

impl DropGuard {
    /// Returns the token without cancelling it.
    ///
    /// ```
    /// let guard = kiln_sync::CancellationToken::new().drop_guard();
    /// assert!(!guard.disarm().is_cancelled());
    /// ```
    pub fn disarm(mut self) -> CancellationToken {
        self.token
            .take()
            .expect("a DropGuard holds its token until dropped")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            token.cancel();
        }
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard")
            .field("armed", &self.token.is_some())
            .finish()
    }
}
