//! The Linux side of `sys::park`, the FFI of a worker's wait (`crate::driver`): a notification
//! eventfd and an epoll wait with a nanosecond timeout.
//!
//! - [`Wake`]: an eventfd registered edge-triggered with an epoll instance. [`Wake::notify`]
//!   is one `write(2)`; the wait that it ends needs no further syscall (an edge-triggered
//!   eventfd reports every write, so it is never read except to reset a saturated counter).
//! - [`wait`]: one `epoll_pwait2(2)` (Linux 5.11+) with a `timespec` timeout, so a wait for
//!   300 µs sleeps 300 µs (plus the kernel's timer slack) instead of the whole millisecond
//!   that `epoll_wait(2)`'s timeout would round it up to.
//! - [`Timer`]: a timerfd registered edge-triggered with an epoll instance, never read (like
//!   [`Wake`]). Another thread arms it ([`Timer::arm_after`], one `timerfd_settime(2)`) to make
//!   the owner's wait end at a new timer deadline without waking it now.
//! - [`set_minimal_timer_slack`]: `prctl(PR_SET_TIMERSLACK, 1)` on a worker thread, so the
//!   kernel does not pad those timeouts by its default 50 µs of slack; [`timer_slack`] and
//!   [`set_timer_slack`] for a `block_on` thread in precise mode, which restores its own.
//!
//! On kernels without `epoll_pwait2`, [`wait`] reports `Unsupported` and the driver keeps
//! `polling`'s own notification and wait (which arms a timerfd for sub-millisecond timeouts,
//! at two extra syscalls per wait), as it does on the portable side (`fallback.rs`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// One ready event of [`wait`]: the key it was registered under.
pub(crate) type RawEvent = libc::epoll_event;

/// An empty event, to size buffers for [`wait`].
pub(crate) fn empty_event() -> RawEvent {
    libc::epoll_event { events: 0, u64: 0 }
}

/// The key `event` was registered under.
pub(crate) fn event_key(event: &RawEvent) -> usize {
    // Keys are registered from `usize` values: the conversion cannot truncate.
    event.u64 as usize
}

/// Registers `fd` edge-triggered for reading with `epoll` under `key`. The registration goes
/// when `fd` closes (it is only in this epoll).
fn register_edge(epoll: BorrowedFd<'_>, fd: &OwnedFd, key: usize) -> io::Result<()> {
    super::epoll_add(epoll, fd.as_fd(), libc::EPOLLIN | libc::EPOLLET, key)
}

/// A notification descriptor (see the module docs).
pub(crate) struct Wake {
    fd: OwnedFd,
}

impl Wake {
    /// A new eventfd, registered edge-triggered with `epoll` under `key`.
    ///
    /// # Errors
    /// The OS error if the eventfd cannot be created or registered.
    pub(crate) fn new(epoll: BorrowedFd<'_>, key: usize) -> io::Result<Wake> {
        // SAFETY: eventfd takes two integers and returns a new descriptor or -1.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        register_edge(epoll, &fd, key)?;
        Ok(Wake { fd })
    }

    /// Makes the registered epoll instance report this descriptor ready (once per call).
    pub(crate) fn notify(&self) {
        loop {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to an open eventfd.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
            if n == 8 {
                return;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => {
                    // The counter is saturated (2^64 - 2 writes never read): reset it, retry.
                    let mut buf: u64 = 0;
                    // SAFETY: reads 8 bytes into a live u64 from an open eventfd.
                    unsafe { libc::read(self.fd.as_raw_fd(), (&mut buf as *mut u64).cast(), 8) };
                }
                // Nothing else can fail on a valid eventfd.
                _ => return,
            }
        }
    }
}

/// A wake-up timer descriptor (see the module docs).
pub(crate) struct Timer {
    fd: OwnedFd,
}

impl Timer {
    /// A new disarmed timerfd on `CLOCK_MONOTONIC` (`Instant`'s clock), registered
    /// edge-triggered with `epoll` under `key`.
    ///
    /// # Errors
    /// The OS error if the timerfd cannot be created or registered.
    pub(crate) fn new(epoll: BorrowedFd<'_>, key: usize) -> io::Result<Timer> {
        // SAFETY: timerfd_create takes two integers and returns a new descriptor or -1.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        register_edge(epoll, &fd, key)?;
        Ok(Timer { fd })
    }

    /// Makes the registered epoll instance report this descriptor ready `after` from now (at
    /// once for zero), replacing any earlier arming; `Duration::MAX`-like values saturate.
    /// Returns whether the kernel accepted it.
    pub(crate) fn arm_after(&self, after: Duration) -> bool {
        // A zero `it_value` would disarm: the earliest expiry is 1 ns.
        let after = after.max(Duration::from_nanos(1));
        self.set(libc::timespec {
            tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: after.subsec_nanos().into(),
        })
    }

    /// Disarms the timer; returns whether the kernel accepted it.
    pub(crate) fn disarm(&self) -> bool {
        self.set(libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        })
    }

    fn set(&self, value: libc::timespec) -> bool {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: `spec` is a live itimerspec for the call, the old value is not asked for
        // (null), and the descriptor is an open timerfd.
        unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) == 0 }
    }
}

/// Whether [`wait`] may work here: yes (it may still report `Unsupported` once, on a kernel
/// before 5.11).
pub(crate) fn precise_wait_available() -> bool {
    true
}

/// Waits on `epoll` for up to `timeout` (`None`: without a bound) with nanosecond resolution;
/// returns how many events it put at the start of `events`.
///
/// # Errors
/// `Unsupported` where `epoll_pwait2` does not exist (Linux before 5.11); `Interrupted` on a
/// signal; other OS errors as reported.
pub(crate) fn wait(
    epoll: BorrowedFd<'_>,
    events: &mut [RawEvent],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: t.subsec_nanos().into(),
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    let max = libc::c_int::try_from(events.len()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `events` has room for `max` events and outlives the call; `ts_ptr` is null or
    // points to a live timespec; a null signal mask leaves the mask alone; the epoll
    // descriptor is open for the borrow.
    let n = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            epoll.as_raw_fd(),
            events.as_mut_ptr(),
            max,
            ts_ptr,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    };
    if n < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ENOSYS) => io::Error::new(io::ErrorKind::Unsupported, err),
            _ => err,
        });
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Asks the kernel not to pad the calling thread's timed waits: its timer slack (default
/// 50 µs, added to every `epoll_pwait2`, `poll` or futex timeout so that wake-ups can be
/// coalesced) becomes 1 ns. If refused, nothing changes. A worker thread calls this once: its
/// waits end at timer deadlines, which should not be late by the slack.
pub(crate) fn set_minimal_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and touches no memory of ours;
    // failure (which it cannot for this value) leaves the slack as it was.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

/// The calling thread's timer slack in nanoseconds, if the kernel reports it.
pub(crate) fn timer_slack() -> Option<u64> {
    // SAFETY: PR_GET_TIMERSLACK takes no argument and touches no memory of ours.
    let r = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    u64::try_from(r).ok()
}

/// Sets the calling thread's timer slack to `ns` nanoseconds (at least 1; 0 would mean the
/// thread's default). If refused, nothing changes.
pub(crate) fn set_timer_slack(ns: u64) {
    let ns = libc::c_ulong::try_from(ns.max(1)).unwrap_or(libc::c_ulong::MAX);
    // SAFETY: PR_SET_TIMERSLACK takes an integer argument and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns, 0, 0, 0);
    }
}
