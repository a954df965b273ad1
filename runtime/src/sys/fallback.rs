//! The portable side of `sys`, for every Unix other than Linux (and for Linux built with
//! `--cfg kiln_portable`, which is how CI keeps this file compiled and tested).
//!
//! Every function keeps the runtime correct without the Linux tuning: sockets stay on the
//! worker that created them, reads clear readiness through a failing `recv` as usual, a
//! source poller is harvested with a zero-timeout `Poller::wait`, the scheduling hints do
//! nothing, spinning never backs off for load it cannot see, and children are reaped on
//! `SIGCHLD`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

/// The portable side of `sys::park`: no eventfd and no `epoll_pwait2`, so [`park::Wake::new`]
/// and [`park::wait`] report `Unsupported` and the driver keeps `polling`'s own notification
/// and wait.
pub(crate) mod park {
    use std::io;
    use std::os::fd::BorrowedFd;
    use std::time::Duration;

    /// Stand-in for an epoll event: [`wait`] never fills one.
    #[derive(Clone, Copy)]
    pub(crate) struct RawEvent {
        _private: (),
    }

    /// An empty event, to size buffers for [`wait`].
    pub(crate) fn empty_event() -> RawEvent {
        RawEvent { _private: () }
    }

    /// Never called: [`wait`] reports no events here.
    pub(crate) fn event_key(_event: &RawEvent) -> usize {
        unreachable!("kiln: no epoll events exist on this platform")
    }

    /// A notification descriptor: none can be made here.
    pub(crate) struct Wake {
        _private: (),
    }

    impl Wake {
        /// # Errors
        /// Always `Unsupported`: the eventfd wake is Linux-only.
        pub(crate) fn new(_epoll: BorrowedFd<'_>, _key: usize) -> io::Result<Wake> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the eventfd wake is Linux-only",
            ))
        }

        /// Never called: no `Wake` exists here.
        pub(crate) fn notify(&self) {}
    }

    /// A wake-up timer descriptor: none can be made here.
    pub(crate) struct Timer {
        _private: (),
    }

    impl Timer {
        /// # Errors
        /// Always `Unsupported`: the timerfd wake-up is Linux-only.
        pub(crate) fn new(_epoll: BorrowedFd<'_>, _key: usize) -> io::Result<Timer> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the timerfd wake-up is Linux-only",
            ))
        }

        /// Never called: no `Timer` exists here.
        pub(crate) fn arm_after(&self, _after: Duration) -> bool {
            false
        }

        /// Never called: no `Timer` exists here.
        pub(crate) fn disarm(&self) -> bool {
            false
        }
    }

    /// Whether [`wait`] may work here: no.
    pub(crate) fn precise_wait_available() -> bool {
        false
    }

    /// # Errors
    /// Always `Unsupported`: `epoll_pwait2` is Linux-only.
    pub(crate) fn wait(
        _epoll: BorrowedFd<'_>,
        _events: &mut [RawEvent],
        _timeout: Option<Duration>,
    ) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "epoll_pwait2 is Linux-only",
        ))
    }

    /// The timer slack cannot be set here: nothing changes.
    pub(crate) fn set_minimal_timer_slack() {}

    /// The timer slack is not known here.
    pub(crate) fn timer_slack() -> Option<u64> {
        None
    }

    /// The timer slack cannot be set here: nothing changes.
    pub(crate) fn set_timer_slack(_ns: u64) {}
}

/// The CPU that processed packets for a socket: not reported here.
pub(crate) fn incoming_cpu(_fd: BorrowedFd<'_>) -> Option<usize> {
    None
}

/// Harvested events do not report when the peer closed its side: `polling` does not say.
pub(crate) const REPORTS_READ_CLOSED: bool = false;

/// A read cannot say here whether it emptied the receive queue: always `false`, so
/// [`recv_inq`] is never asked to.
pub(crate) fn enable_tcp_inq(_s: &std::net::TcpStream) -> bool {
    false
}

/// Reads into `bufs` with one `readv(2)`; never knows whether the queue is empty.
///
/// # Errors
/// The OS error (`WouldBlock` on an empty non-blocking socket).
pub(crate) fn recv_inq(
    mut s: &std::net::TcpStream,
    bufs: &mut [std::io::IoSliceMut<'_>],
) -> io::Result<(usize, bool)> {
    std::io::Read::read_vectored(&mut s, bufs).map(|n| (n, false))
}

/// As [`recv_inq`], into uninitialised memory (one `recv(2)`).
///
/// # Errors
/// As [`recv_inq`].
#[cfg(any(feature = "hyper", feature = "tokio-io", all(test, not(loom))))]
pub(crate) fn recv_inq_uninit(
    s: &std::net::TcpStream,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<(usize, bool)> {
    super::recv_uninit(std::os::fd::AsFd::as_fd(s), buf).map(|n| (n, false))
}

/// Registers socket `fd` with the source poller `poller` under `key`: both directions,
/// edge-triggered where `polling` supports it, else level-triggered.
///
/// # Safety
/// `fd` must stay open until it is deleted from `poller`.
pub(crate) unsafe fn add_source(
    poller: &polling::Poller,
    fd: BorrowedFd<'_>,
    key: usize,
) -> io::Result<()> {
    let mode = if poller.supports_edge() {
        polling::PollMode::Edge
    } else {
        polling::PollMode::Level
    };
    // SAFETY: the caller keeps `fd` open until it is deleted.
    unsafe { poller.add_with_mode(fd.as_raw_fd(), polling::Event::all(key), mode) }
}

/// Harvested socket events of a source poller, read as [`IoEvent`](super::IoEvent)s.
pub(crate) struct IoEvents {
    events: polling::Events,
}

impl IoEvents {
    /// A buffer that takes at most `capacity` events per harvest.
    pub(crate) fn with_capacity(capacity: usize) -> IoEvents {
        let capacity = std::num::NonZeroUsize::new(capacity).expect("a non-zero capacity");
        IoEvents {
            events: polling::Events::with_capacity(capacity),
        }
    }

    /// Takes the ready events of `poller` without blocking (replacing the buffer's contents);
    /// returns how many there are.
    pub(crate) fn fill(&mut self, poller: &polling::Poller) -> usize {
        self.events.clear();
        poller
            .wait(&mut self.events, Some(Duration::ZERO))
            .unwrap_or(0)
    }

    /// The events (never read-closed: see [`REPORTS_READ_CLOSED`]).
    pub(crate) fn iter(&self) -> impl Iterator<Item = super::IoEvent> + '_ {
        self.events.iter().map(|ev| super::IoEvent {
            key: ev.key,
            readable: ev.readable,
            writable: ev.writable,
            read_closed: false,
        })
    }
}

/// Whether this system has pidfds: not here.
pub(crate) const PIDFDS: bool = false;

/// There are no pidfds here.
///
/// # Errors
/// Always `Unsupported`: callers watch `SIGCHLD` instead.
pub(crate) fn pidfd_open(_pid: u32) -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "pidfds are Linux-only",
    ))
}

/// No per-thread time slice to set here.
pub(super) fn set_time_slice(_slice: Duration) {}

/// Nothing to save here: the time slice cannot be set, so none is ever borrowed.
pub(crate) enum SavedSched {}

/// The time slice cannot be set here: nothing changes, nothing to restore.
pub(super) fn borrow_time_slice(_slice: Duration) -> Option<SavedSched> {
    None
}

pub(super) fn restore_sched(saved: SavedSched) {
    match saved {}
}

/// The number of runnable threads is not known here.
pub(crate) fn runnable_threads() -> Option<usize> {
    None
}

/// A per-thread nice value is not portable (POSIX `getpriority` addresses the process).
pub(crate) fn current_nice() -> Option<i32> {
    None
}

/// No per-thread nice value to raise here.
pub(super) fn raise_nice(_nice: i32) {}

/// The CPU this thread runs on is not known here.
pub(crate) fn current_cpu() -> usize {
    usize::MAX
}
