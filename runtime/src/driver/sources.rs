//! A worker's I/O sources: a second `polling::Poller` that holds only sockets.
//!
//! The worker parks on its main poller (notifications, timer deadlines). Its sockets live in
//! this one, the *source poller*, whose descriptor is registered with the main poller
//! (level-triggered), so a socket event wakes a parked owner. Keeping sockets apart serves two
//! ends:
//! - **Harvesting costs one syscall.** On Linux, [`Sources::harvest`] is a single
//!   zero-timeout `epoll_wait(2)` on the source poller's descriptor (`crate::sys::IoEvents`),
//!   where a `Poller::wait` would also re-arm its timerfd and notification descriptor (five
//!   syscalls). No one ever notifies a source poller or waits on it through `polling`, so its
//!   descriptor reports socket events only. Elsewhere it is a zero-timeout `Poller::wait`.
//! - **Siblings can watch it.** A source poller contains sockets only, so another worker's
//!   main poller may contain it too (see `watch.rs`) without forming a loop of epoll
//!   descriptors, which the kernel refuses (`ELOOP`).
//!
//! Any thread may harvest (the owner, or a sibling stealing I/O): concurrent `epoll_wait`s
//! split the ready events between them, and with edge-triggered sockets each event is
//! delivered once.

pub(crate) use crate::sys::IoEvents;
use polling::Poller;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

/// The most events one harvest takes; the rest wait for the next one (the owner's main
/// poller still reports the source poller readable, so a park does not sleep on them).
const HARVEST_MAX: usize = 256;

/// The source poller of one worker.
pub(crate) struct Sources {
    poller: Poller,
}

impl Sources {
    pub(crate) fn new() -> io::Result<Sources> {
        Ok(Sources {
            poller: Poller::new()?,
        })
    }

    /// Registers `fd` for both directions under `key`, edge-triggered where the poller
    /// supports it (and on Linux reporting when the peer closes, see `crate::sys::add_source`).
    ///
    /// # Safety
    /// `fd` must stay open until it is removed with [`Sources::delete`].
    pub(crate) unsafe fn add(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        // SAFETY: the caller keeps `fd` open until `delete`.
        unsafe { crate::sys::add_source(&self.poller, fd, key) }
    }

    /// Removes `fd` (an error means it was not registered).
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.poller.delete(fd)
    }

    /// Takes the ready events without blocking into `out` (replacing its contents); returns
    /// how many there are.
    pub(crate) fn harvest(&self, out: &mut IoEvents) -> usize {
        out.fill(&self.poller)
    }
}

/// An empty buffer for [`Sources::harvest`].
pub(crate) fn io_events() -> IoEvents {
    IoEvents::with_capacity(HARVEST_MAX)
}

impl AsFd for Sources {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.poller.as_fd()
    }
}

impl AsRawFd for Sources {
    fn as_raw_fd(&self) -> RawFd {
        self.poller.as_raw_fd()
    }
}
