//! [`Evented`]: a non-blocking OS socket registered with a worker's poller.
//!
//! The socket is registered at creation with the poller of the worker the creating thread runs
//! (or the runtime's outside driver), and keeps that registration for its whole life: wakes
//! reach the waiting task wherever it runs, so the task may migrate freely. Every operation
//! follows the readiness protocol of `crate::io`: wait for the direction's readiness, run the
//! syscall, and on `WouldBlock` clear the readiness it saw and wait again. An operation that
//! knows it exhausted its direction (a TCP read that drained the receive queue, see
//! `super::inq`; a write the kernel accepted only part of) clears the readiness it saw too.
//!
//! Drop: the fd is deleted from the poller, its key freed, pending wakers dropped, and only
//! then is the socket closed (so a reused fd number never inherits the registration).

use crate::coop;
use crate::driver::DriverHandle;
use crate::io::{ScheduledIo, READABLE, WRITABLE};
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// A registered non-blocking source.
pub(crate) struct Evented<S: AsFd> {
    /// `None` only after `into_inner`.
    io: Option<S>,
    driver: Arc<DriverHandle>,
    key: usize,
    sched: Arc<ScheduledIo>,
}

/// The driver a new source registers with: the current worker's, or the runtime's outside one.
#[track_caller]
pub(crate) fn current_driver(what: &str) -> Arc<DriverHandle> {
    match crate::Handle::try_current() {
        Some(h) => h.scheduler().current_driver(),
        None => crate::runtime::no_runtime(what),
    }
}

impl<S: AsFd> Evented<S> {
    /// Registers `io` (already non-blocking) with the current worker's poller.
    ///
    /// # Panics
    /// Outside a kiln runtime; `what` names the caller in the message.
    #[track_caller]
    pub(crate) fn new(io: S, what: &str) -> io::Result<Evented<S>> {
        let driver = current_driver(what);
        let (key, sched) = driver.register(io.as_fd())?;
        Ok(Evented {
            io: Some(io),
            driver,
            key,
            sched,
        })
    }

    pub(crate) fn get_ref(&self) -> &S {
        self.io
            .as_ref()
            .expect("kiln: source used after into_inner")
    }

    /// Runs `op` once `dir` is ready, retrying after `WouldBlock`; spends one unit of the
    /// task's cooperative budget per completed operation.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: usize,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_drain(cx, dir, |s| op(s).map(|r| (r, false)))
    }

    /// As [`Evented::poll_io`], for an `op` that also tells whether it exhausted the
    /// direction (`true`: a read drained the socket, a write filled its buffer). Then the
    /// readiness it ran on is cleared as after `WouldBlock`, saving the failing syscall the
    /// next operation would make; a newer event (a later tick) keeps its bit.
    pub(crate) fn poll_io_drain<R>(
        &self,
        cx: &mut Context<'_>,
        dir: usize,
        mut op: impl FnMut(&S) -> io::Result<(R, bool)>,
    ) -> Poll<io::Result<R>> {
        let budget = ready!(coop::poll_proceed(cx));
        loop {
            let ev = ready!(self.sched.poll_ready(cx, dir));
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.sched.clear_readiness(ev, dir);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok((r, exhausted)) => {
                    if exhausted {
                        self.sched.clear_readiness(ev, dir);
                    }
                    budget.made_progress();
                    return Poll::Ready(Ok(r));
                }
                Err(e) => {
                    budget.made_progress();
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// `Ready` once `dir` is (probably) ready; registers the waker otherwise. Does not spend
    /// budget: the operation that follows does.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: usize) -> Poll<()> {
        self.sched.poll_ready(cx, dir).map(|_| ())
    }

    pub(crate) fn poll_read_io<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io(cx, READABLE, op)
    }

    pub(crate) fn poll_write_io<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io(cx, WRITABLE, op)
    }

    /// Deregisters and returns the socket (still non-blocking).
    pub(crate) fn into_inner(mut self) -> S {
        let io = self.io.take().expect("kiln: source used after into_inner");
        self.driver.deregister(io.as_fd(), self.key);
        self.sched.clear_wakers();
        io
    }
}

impl<S: AsFd> Drop for Evented<S> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            self.driver.deregister(io.as_fd(), self.key);
            self.sched.clear_wakers();
            drop(io);
        }
    }
}

impl<S: AsFd + std::fmt::Debug> std::fmt::Debug for Evented<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.io.fmt(f)
    }
}
