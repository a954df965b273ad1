//! Every FFI call and OS probe of the signal and process modules, behind a few safe
//! functions.
//!
//! - [`set_nonblocking`]: `fcntl(F_SETFL, O_NONBLOCK)` on a pipe end (child stdio).
//! - [`pidfd_open`]: a descriptor that becomes readable when a child exits (Linux 5.3+).
//!   Elsewhere, or on an older kernel, it fails with `Unsupported`, and callers fall back to
//!   watching `SIGCHLD` (see `crate::process`).
//! - [`install_signal_action`]: adds a handler action for a signal through
//!   `signal-hook-registry`, which chains with handlers others installed.
//!
//! Linux-only behaviour: only `pidfd_open`; the rest is POSIX.
//!
//! [`park`] holds the FFI of a worker's wait (an eventfd and `epoll_pwait2`, Linux-only, with
//! a fallback that reports `Unsupported`).

pub(crate) mod park;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Puts `fd` into non-blocking mode.
///
/// # Errors
/// If `fcntl` fails (a closed or invalid descriptor cannot be passed: `fd` is borrowed).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `raw` is a live descriptor for the duration of the borrow; F_GETFL takes no
    // pointer argument.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Ok(());
    }
    // SAFETY: as above; F_SETFL takes an integer argument.
    let r = unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pidfd for the child `pid` (close-on-exec): readable once the child exits. Only valid
/// while the child is not yet reaped (the caller holds its `std::process::Child`).
///
/// # Errors
/// `Unsupported` where pidfds do not exist (not Linux, or a kernel before 5.3).
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new descriptor or -1;
    // no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let err = io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::ENOSYS) => io::Error::new(io::ErrorKind::Unsupported, err),
            _ => err,
        });
    }
    let fd = i32::try_from(fd).expect("a descriptor fits in an int");
    // SAFETY: the kernel just returned this descriptor to us, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// See the Linux version: there are no pidfds here.
#[cfg(not(target_os = "linux"))]
pub(crate) fn pidfd_open(_pid: u32) -> io::Result<OwnedFd> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "pidfd_open is Linux-only",
    ))
}

/// Whether `signum` may not be handled: SIGKILL and SIGSTOP cannot be caught, and the
/// synchronous fault signals (SIGILL, SIGFPE, SIGSEGV) must not be caught by an async handler.
pub(crate) fn is_forbidden_signal(signum: i32) -> bool {
    signal_hook_registry::FORBIDDEN.contains(&signum)
}

/// Adds `action` to the handlers run when `signum` arrives (in the signal handler itself).
///
/// `action` must be async-signal-safe: kiln's only action stores to an atomic and writes one
/// byte to a non-blocking socket.
///
/// # Errors
/// If `signum` is not a valid signal number (`sigaction` fails with `EINVAL`).
///
/// # Panics
/// If `signum` is forbidden (see [`is_forbidden_signal`]); callers check first.
pub(crate) fn install_signal_action(
    signum: i32,
    action: impl Fn() + Send + Sync + 'static,
) -> io::Result<()> {
    // SAFETY: the contract of `register` is that `action` is async-signal-safe; the only
    // caller (`crate::signal::registry`) passes an action that performs an atomic store and
    // one `write(2)` and neither allocates nor locks.
    unsafe { signal_hook_registry::register(signum, action) }.map(drop)
}
