//! [`Evented`]: a non-blocking OS socket registered with a worker's poller.
//!
//! The socket is registered at creation with the poller of the worker the creating thread runs
//! (or the runtime's outside driver, `crate::driver::Peers::outside`; an accepted TCP stream,
//! with the worker on the CPU that receives its packets). The thread's placement
//! (`crate::context::placement`) says which: net asks the driver layer, never the scheduler. Wakes reach the waiting task wherever it runs, so the task may
//! migrate freely. A TCP stream's registration may later move to another worker of the same
//! runtime ([`Evented::follow_cpu`], see `super::affinity`): it is added to the new poller
//! under a new key with the same [`ScheduledIo`] (readiness word and wakers), then deleted from
//! the old one. Adding an edge-triggered registration reports the socket's current readiness,
//! and until the delete both pollers report new events, so no event is lost; a stale event of
//! the old key is ignored, or sets a reused key's readiness spuriously (see `crate::io`). Every operation
//! follows the readiness protocol of `crate::io`: wait for the direction's readiness, run the
//! syscall, and on `WouldBlock` clear the readiness it saw and wait again. An operation that
//! knows it exhausted its direction (a short TCP read, see `super::tcp`; a write the kernel
//! accepted only part of) clears the readiness it saw too (`ScheduledIo::clear_exhausted`).
//!
//! Drop: the fd is deleted from the poller, its key freed, pending wakers dropped, and only
//! then is the socket closed (so a reused fd number never inherits the registration).

use crate::coop;
use crate::driver::DriverHandle;
use crate::io::{ScheduledIo, READABLE, WRITABLE};
use crate::loom::sync::Mutex;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// A registered non-blocking source.
pub(crate) struct Evented<S: AsFd> {
    /// `None` only after `into_inner`.
    io: Option<S>,
    /// Where the source is registered; replaced only by [`Evented::follow_cpu`].
    reg: Mutex<Registration>,
    /// The readiness state, kept when the registration moves.
    sched: Arc<ScheduledIo>,
}

/// The driver a source is registered with, and its key there.
struct Registration {
    driver: Arc<DriverHandle>,
    key: usize,
}

impl<S: AsFd> Evented<S> {
    /// Registers `io` (already non-blocking) with the current worker's poller, or the
    /// runtime's outside driver on a thread that is not a worker.
    ///
    /// # Panics
    /// Outside a kiln runtime; `what` names the caller in the message.
    #[track_caller]
    pub(crate) fn new(io: S, what: &str) -> io::Result<Evented<S>> {
        Evented::new_on_cpu(io, None, what)
    }

    /// As [`Evented::new`], but with the poller of the worker running on `cpu` (the CPU that
    /// receives the socket's packets) if there is one that may take it (see
    /// `super::affinity`).
    ///
    /// # Panics
    /// Outside a kiln runtime; `what` names the caller in the message.
    #[track_caller]
    pub(crate) fn new_on_cpu(io: S, cpu: Option<usize>, what: &str) -> io::Result<Evented<S>> {
        let Some(place) = crate::context::placement() else {
            crate::context::no_runtime(what)
        };
        let current = place.driver();
        let driver = cpu
            .and_then(|cpu| place.peers().on_cpu(&current, cpu))
            .unwrap_or(current);
        Evented::register(io, driver)
    }

    fn register(io: S, driver: Arc<DriverHandle>) -> io::Result<Evented<S>> {
        let (key, sched) = driver.register(io.as_fd())?;
        Ok(Evented {
            io: Some(io),
            reg: Mutex::new(Registration { driver, key }),
            sched,
        })
    }

    /// Moves the registration to the poller of the worker of this runtime running on `cpu`,
    /// if there is one, it is not the current one, and it may take more sockets (see
    /// `super::affinity`). On failure the source stays where it was.
    pub(crate) fn follow_cpu(&self, cpu: usize) {
        let Some(place) = crate::context::placement() else {
            return;
        };
        let from = self.reg.lock().driver.clone();
        if let Some(target) = place.peers().on_cpu(&from, cpu) {
            // A failure leaves the source registered where it was.
            let _ = self.move_to(target);
        }
    }

    /// Moves the registration to `target`'s poller, keeping the readiness state and wakers
    /// (see the module docs).
    ///
    /// # Errors
    /// If `target` cannot register the socket; it then stays where it was.
    fn move_to(&self, target: Arc<DriverHandle>) -> io::Result<()> {
        let mut reg = self.reg.lock();
        if Arc::ptr_eq(&reg.driver, &target) {
            return Ok(());
        }
        let fd = self.get_ref().as_fd();
        let key = target.adopt(fd, self.sched.clone())?;
        let old = std::mem::replace(
            &mut *reg,
            Registration {
                driver: target,
                key,
            },
        );
        old.driver.deregister(fd, old.key);
        Ok(())
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
            let ev = match ready!(self.sched.poll_ready(cx, dir)) {
                Ok(ev) => ev,
                // The runtime shut down (see `crate::io`, "After shutdown").
                Err(e) => return Poll::Ready(Err(e)),
            };
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.sched.clear_readiness(ev, dir);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok((r, exhausted)) => {
                    if exhausted {
                        self.sched.clear_exhausted(ev, dir);
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

    /// `Ready` once `dir` is (probably) ready, or the runtime has shut down (then the
    /// operation that follows reports it); registers the waker otherwise. Does not spend
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
        let reg = self.reg.lock();
        reg.driver.deregister(io.as_fd(), reg.key);
        self.sched.clear_wakers();
        io
    }
}

impl<S: AsFd> Drop for Evented<S> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            let reg = self.reg.lock();
            reg.driver.deregister(io.as_fd(), reg.key);
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::scheduler::Scheduler;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    fn worker_driver(index: usize) -> Arc<DriverHandle> {
        match crate::Handle::current().scheduler() {
            Scheduler::Multi(s) => s.peers.driver(index).clone(),
            Scheduler::Current(_) => unreachable!("a multi-thread runtime"),
        }
    }

    fn read_some(io: &Evented<UnixStream>, cx: &mut Context<'_>) -> Poll<io::Result<Vec<u8>>> {
        io.poll_read_io(cx, |mut s| {
            let mut buf = [0u8; 16];
            let n = s.read(&mut buf)?;
            Ok(buf[..n].to_vec())
        })
    }

    /// A source moved between workers' pollers while a task waits on it still wakes that
    /// task, keeps no registration behind, and sees data written after each move.
    #[test]
    fn a_moved_source_wakes_its_waiting_reader() {
        let rt = crate::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let a = Arc::new(Evented::new(a, "test").unwrap());
            // `block_on` registers with the outside driver: one of the workers' drivers.
            let (w0, w1) = if Arc::ptr_eq(&a.reg.lock().driver, &worker_driver(0)) {
                (worker_driver(0), worker_driver(1))
            } else {
                (worker_driver(1), worker_driver(0))
            };
            assert!(
                Arc::ptr_eq(&a.reg.lock().driver, &w0),
                "block_on registers with a worker's driver"
            );
            let before = (w0.io_sources(), w1.io_sources());

            let reader = {
                let a = a.clone();
                crate::spawn(async move { std::future::poll_fn(|cx| read_some(&a, cx)).await })
            };
            // Let the reader store its waker before the move.
            kiln_timer::sleep(Duration::from_millis(20)).await;
            a.move_to(w1.clone()).unwrap();
            assert!(Arc::ptr_eq(&a.reg.lock().driver, &w1));
            assert_eq!(
                (w0.io_sources(), w1.io_sources()),
                (before.0 - 1, before.1 + 1)
            );
            b.write_all(b"x").unwrap();
            let got = kiln_timer::timeout(Duration::from_secs(10), reader)
                .await
                .expect("the moved source never woke its reader")
                .unwrap()
                .unwrap();
            assert_eq!(got, b"x");

            // And back, with data written after the move.
            a.move_to(w0.clone()).unwrap();
            b.write_all(b"yz").unwrap();
            let got = kiln_timer::timeout(
                Duration::from_secs(10),
                std::future::poll_fn(|cx| read_some(&a, cx)),
            )
            .await
            .expect("no readiness after moving back")
            .unwrap();
            assert_eq!(got, b"yz");
            assert_eq!((w0.io_sources(), w1.io_sources()), before);
        });
    }
}
