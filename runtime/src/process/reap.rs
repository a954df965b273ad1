//! Waiting for a child to exit and reaping it, with no thread per child.
//!
//! Each child gets an [`ExitWatch`] when it is spawned:
//! - **pidfd** (Linux 5.3+): a descriptor that becomes readable when the child exits,
//!   registered with the spawning worker's event loop like a socket. Once it is readable,
//!   `waitpid(pid, WNOHANG)` (std's `try_wait`) reaps the child; until the child is reaped its
//!   pid cannot be reused, so the pidfd and the pid always name the same process.
//! - **SIGCHLD** (elsewhere, or where `pidfd_open` is refused): a `SIGCHLD` listener created
//!   before the child is spawned (so its exit cannot be missed); each delivery makes the waiter
//!   try `try_wait` again.
//!
//! Children whose `Child` was dropped before they were reaped (protocol):
//! 1. On a runtime, the [`Reaper`] moves into a task that waits for the exit as above.
//! 2. A `Reaper` dropped unreaped (no runtime at the drop, or the task was cancelled by
//!    runtime shutdown) puts its `std::process::Child` on the global orphan list.
//! 3. Every spawn and every `Child` drop first tries to reap each orphan (non-blocking), so
//!    the list stays as long as the number of orphans still running.

use crate::net::evented::Evented;
use crate::signal::unix::{signal, Signal, SignalKind};
use std::io;
use std::os::fd::OwnedFd;
use std::process::ExitStatus;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};

/// How a child's exit is noticed (see the module docs).
pub(crate) enum ExitWatch {
    Pidfd(Evented<OwnedFd>),
    Sigchld(Signal),
}

impl ExitWatch {
    /// A SIGCHLD listener, created before the child is spawned when pidfds are unavailable
    /// (`prefer_pidfd == false` or a previous `pidfd_open` was refused).
    pub(crate) fn before_spawn(prefer_pidfd: bool) -> io::Result<Option<ExitWatch>> {
        if prefer_pidfd && pidfd_usable() {
            return Ok(None);
        }
        Ok(Some(ExitWatch::Sigchld(signal(SignalKind::child())?)))
    }

    /// The watch for the spawned child `pid`: `early` if one was made before the spawn,
    /// else a pidfd, else (refused) a SIGCHLD listener, which then sees no exit that happened
    /// before it existed; the waiter's first `try_wait` covers that.
    pub(crate) fn after_spawn(early: Option<ExitWatch>, pid: u32) -> io::Result<ExitWatch> {
        if let Some(w) = early {
            return Ok(w);
        }
        match crate::sys::pidfd_open(pid) {
            Ok(fd) => Ok(ExitWatch::Pidfd(Evented::new(
                fd,
                "kiln::process::Command::spawn",
            )?)),
            Err(e) => {
                // Missing (old kernel) or forbidden (a seccomp filter): for good. Any other
                // failure (out of descriptors) only for this child.
                if matches!(
                    e.kind(),
                    io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
                ) {
                    PIDFD_REFUSED.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                Ok(ExitWatch::Sigchld(signal(SignalKind::child())?))
            }
        }
    }
}

/// Set once `pidfd_open` failed: later children use SIGCHLD from the start.
static PIDFD_REFUSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn pidfd_usable() -> bool {
    crate::sys::PIDFDS && !PIDFD_REFUSED.load(std::sync::atomic::Ordering::Relaxed)
}

/// A spawned child not yet known to be reaped, with its exit watch.
pub(crate) struct Reaper {
    /// `None` once reaped or handed to the orphan list.
    child: Option<std::process::Child>,
    watch: ExitWatch,
}

impl Reaper {
    pub(crate) fn new(child: std::process::Child, watch: ExitWatch) -> Reaper {
        Reaper {
            child: Some(child),
            watch,
        }
    }

    pub(crate) fn std(&mut self) -> &mut std::process::Child {
        self.child
            .as_mut()
            .expect("kiln: a Reaper holds its child until reaped")
    }

    /// The child's pid while it is not reaped.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// Reaps the child if it exited, without waiting.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let status = self.std().try_wait()?;
        if status.is_some() {
            self.child = None;
        }
        Ok(status)
    }

    /// `Ready` once the child exited and was reaped.
    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        let child = self
            .child
            .as_mut()
            .expect("kiln: a Reaper holds its child until reaped");
        let status = match &mut self.watch {
            ExitWatch::Pidfd(fd) => ready!(fd.poll_read_io(cx, |_| match child.try_wait() {
                Ok(Some(status)) => Ok(status),
                Ok(None) => Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => Err(e),
            })),
            ExitWatch::Sigchld(sig) => loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Ok(status),
                    Ok(None) => {}
                    Err(e) => break Err(e),
                }
                ready!(sig.poll_recv(cx));
            },
        };
        if status.is_ok() {
            self.child = None;
        }
        Poll::Ready(status)
    }

    /// Hands an unreaped child to a task on the current runtime, or to the orphan list
    /// (protocol steps 1 and 2).
    pub(crate) fn reap_in_background(mut self) {
        match self.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => {}
        }
        if let Some(handle) = crate::Handle::try_current() {
            drop(handle.spawn(async move {
                let _ = std::future::poll_fn(|cx| self.poll_wait(cx)).await;
            }));
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                lock_orphans().push(child);
            }
        }
    }
}

static ORPHANS: Mutex<Vec<std::process::Child>> = Mutex::new(Vec::new());

fn lock_orphans() -> std::sync::MutexGuard<'static, Vec<std::process::Child>> {
    ORPHANS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Protocol step 3: reaps every orphan that exited.
pub(crate) fn reap_orphans() {
    let mut orphans = lock_orphans();
    if !orphans.is_empty() {
        orphans.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
    }
}
