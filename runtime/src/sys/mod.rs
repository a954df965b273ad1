//! Every FFI call and OS probe of the runtime, behind a few safe functions.
//!
//! kiln runs on Unix. Linux gets the tuned implementation (`linux.rs`); every other Unix, and
//! Linux built with `RUSTFLAGS="--cfg kiln_portable"`, gets the portable one (`fallback.rs`).
//! The choice is made once, below; nothing else in the crate branches on the OS. CI builds
//! and tests the portable side on Linux (`--cfg kiln_portable`), so it cannot rot.
//!
//! | function | Linux | portable fallback |
//! |---|---|---|
//! | [`incoming_cpu`] | `SO_INCOMING_CPU` | `None`: sockets stay where they were created |
//! | [`add_source`], [`REPORTS_READ_CLOSED`] | raw `epoll_ctl(2)` with `EPOLLRDHUP`: events say when the peer closed | `polling`'s registration: they do not |
//! | [`enable_tcp_inq`], [`recv_inq`] | `TCP_INQ` and `recvmsg(2)`: a read says whether it emptied the queue | refused; a plain read |
//! | [`IoEvents`] (harvest a source poller) | one raw `epoll_wait(2)` | a zero-timeout `Poller::wait` |
//! | [`request_time_slice`], [`borrow_time_slice`], [`switch_time_slice`] | `sched_setattr` (`sched_runtime`) | nothing |
//! | [`current_nice`], [`set_nice_above`] | `getpriority`/`setpriority` on the thread | `None` / nothing |
//! | [`runnable_threads`] | `/proc/loadavg` | `None` |
//! | [`current_cpu`] | `sched_getcpu` | `usize::MAX` (unknown) |
//! | [`pidfd_open`] | `pidfd_open(2)` (5.3+) | `Unsupported`: children are reaped on `SIGCHLD` |
//!
//! [`tsc`] (the CPU's invariant time-stamp counter) depends on the architecture, not the OS:
//! x86_64 has it, elsewhere it reports itself absent and callers use the OS clock.
//!
//! The rest is POSIX and lives here: [`set_nonblocking`], [`has_pending_events`] (`poll(2)`),
//! [`thread_cpu_time`] (`clock_gettime(CLOCK_THREAD_CPUTIME_ID)`),
//! `recv_uninit` (`recv(2)` into uninitialised memory), signal numbers ([`signum`]) and
//! handler installation ([`install_signal_action`]).
//!
//! Every function is a hint or has a working fallback: where the OS refuses (`ENOSYS`,
//! `EINVAL`, `EPERM`), callers behave as on the portable side, and nothing is reported.
//!
//! [`park`] is the FFI of a worker's wait, from the same selection: on Linux (`linux_park.rs`)
//! an eventfd notification, an `epoll_pwait2(2)` wait with a nanosecond timeout and a minimal
//! timer slack; on the portable side (in `fallback.rs`) the first two report `Unsupported`
//! and the driver keeps `polling`'s own notification and wait.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

#[cfg(all(target_os = "linux", not(kiln_portable)))]
#[path = "linux.rs"]
mod imp;
#[cfg(not(all(target_os = "linux", not(kiln_portable))))]
#[path = "fallback.rs"]
mod imp;

pub(crate) use imp::park;
pub(crate) mod tsc;
#[cfg(any(feature = "hyper", feature = "tokio-io", all(test, not(loom))))]
pub(crate) use imp::recv_inq_uninit;
pub(crate) use imp::{
    add_source, current_cpu, current_nice, enable_tcp_inq, incoming_cpu, pidfd_open, recv_inq,
    runnable_threads, IoEvents, PIDFDS, REPORTS_READ_CLOSED,
};

/// One harvested socket event (see [`IoEvents`]). Hang-ups and errors count as both
/// directions (the next operation reports them).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IoEvent {
    /// The key the socket was registered under.
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// The peer closed its side, or the connection hung up: reads return end of stream (or
    /// an error) from now on. Only reported where [`REPORTS_READ_CLOSED`] is true.
    pub(crate) read_closed: bool,
}

/// Reads from the socket `fd` into `buf` with one `recv(2)` (no flags); returns how many
/// bytes it wrote at the start of `buf`, which are initialised from then on.
///
/// # Errors
/// The OS error (`WouldBlock` on an empty non-blocking socket).
// Only hyper's read buffer and tokio's `ReadBuf` are uninitialised memory (features `hyper`, `tokio-io`).
#[cfg(any(feature = "hyper", feature = "tokio-io", all(test, not(loom))))]
pub(crate) fn recv_uninit(
    fd: BorrowedFd<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call
    // (`MaybeUninit<u8>` has the layout of `u8`), the kernel writes only initialised bytes and
    // at most `buf.len()` of them, and `fd` is open for the borrow.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    // A negative count is the error; any other fits in `usize`.
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Asks the kernel to schedule the calling thread with a time slice of `slice` (keeping its
/// policy and nice value; Linux clamps it to 0.1–100 ms). Does nothing if `slice` is zero, the
/// thread has a real-time policy, the request is refused, or the OS has no such setting.
pub(crate) fn request_time_slice(slice: Duration) {
    if slice.is_zero() {
        return;
    }
    imp::set_time_slice(slice);
}

/// Sets the calling thread's time slice to `slice`, or back to the OS default if `slice` is
/// zero (keeping its policy and nice value). Does nothing where [`request_time_slice`] does
/// nothing. A blocking-pool thread switches between its base slice and its CPU-bound one
/// (`crate::blocking`'s `slice.rs`).
pub(crate) fn switch_time_slice(slice: Duration) {
    imp::set_time_slice(slice);
}

pub(crate) use imp::SavedSched;

/// [`request_time_slice`] for a while: returns the calling thread's scheduling settings as
/// they were, for [`restore_sched`] (`None` if nothing changed: `slice` is zero, or as for
/// [`request_time_slice`]). A `block_on` thread takes the workers' slice while it waits for
/// its own timers as they do.
pub(crate) fn borrow_time_slice(slice: Duration) -> Option<SavedSched> {
    if slice.is_zero() {
        return None;
    }
    imp::borrow_time_slice(slice)
}

/// Puts back the scheduling settings [`borrow_time_slice`] saved.
pub(crate) fn restore_sched(saved: SavedSched) {
    imp::restore_sched(saved);
}

/// The CPU time the calling thread has used so far (`None` if the OS does not say).
pub(crate) fn thread_cpu_time() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` into `ts`, a live local of that type.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u32::try_from(ts.tv_nsec).ok()?;
    (rc == 0).then(|| Duration::new(secs, nanos))
}

/// Sets the calling thread's nice value to `base + increment` (at most 19), where `base` is
/// the nice value the runtime's builder ran at: an absolute target, so a thread started by a
/// thread that already has it (threads inherit their creator's nice value) ends up at the
/// same value, not a compounded one. Does nothing if `increment` is zero, it is refused, or
/// the OS has no per-thread nice value.
pub(crate) fn set_nice_above(base: i32, increment: u8) {
    if increment == 0 {
        return;
    }
    imp::raise_nice((base + i32::from(increment)).min(19));
}

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

/// Whether `fd` (a poller's descriptor) is readable right now: one zero-timeout `poll(2)`,
/// cheaper than a zero-timeout `Poller::wait`. An error answers `true`, so the caller takes
/// its slow path, which reports nothing worse than a spurious wake.
pub(crate) fn has_pending_events(fd: BorrowedFd<'_>) -> bool {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is a valid pollfd array of length 1 that outlives the call, and the
    // descriptor stays open for the borrow.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    n != 0
}

/// Whether `err` says a non-blocking `connect` is under way (`EINPROGRESS`).
pub(crate) fn is_connect_in_progress(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINPROGRESS)
}

/// Whether `err` is `EINVAL`.
pub(crate) fn is_invalid_argument(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINVAL)
}

/// The signal numbers `kiln::signal::SignalKind` names.
pub(crate) mod signum {
    pub(crate) const SIGINT: i32 = libc::SIGINT;
    pub(crate) const SIGTERM: i32 = libc::SIGTERM;
    pub(crate) const SIGHUP: i32 = libc::SIGHUP;
    pub(crate) const SIGQUIT: i32 = libc::SIGQUIT;
    pub(crate) const SIGUSR1: i32 = libc::SIGUSR1;
    pub(crate) const SIGUSR2: i32 = libc::SIGUSR2;
    pub(crate) const SIGCHLD: i32 = libc::SIGCHLD;
    pub(crate) const SIGALRM: i32 = libc::SIGALRM;
    pub(crate) const SIGPIPE: i32 = libc::SIGPIPE;
    pub(crate) const SIGWINCH: i32 = libc::SIGWINCH;
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn recv_uninit_reads_what_was_sent() {
        use std::io::Write;
        use std::mem::MaybeUninit;
        use std::os::fd::AsFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        let mut buf = [MaybeUninit::<u8>::uninit(); 8];
        let err = recv_uninit(s.as_fd(), &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        c.write_all(b"abc").unwrap();
        s.set_nonblocking(false).unwrap();
        let n = recv_uninit(s.as_fd(), &mut buf).unwrap();
        // SAFETY: `recv_uninit` initialised the first `n` bytes.
        let got: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        assert_eq!(got, b"abc"[..n]);
        drop(c);
        let mut rest = Vec::from(&got[..]);
        loop {
            let n = recv_uninit(s.as_fd(), &mut buf).unwrap();
            if n == 0 {
                break;
            }
            // SAFETY: as above.
            rest.extend(buf[..n].iter().map(|b| unsafe { b.assume_init() }));
        }
        assert_eq!(rest, b"abc", "then end of stream");
    }

    #[test]
    fn recv_inq_tells_when_the_queue_is_empty() {
        use std::io::Write;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        let on = enable_tcp_inq(&s);
        assert_eq!(on, cfg!(all(target_os = "linux", not(kiln_portable))));
        c.write_all(b"abcdefghij").unwrap();
        // Blocking reads: the ten bytes may arrive in more than one piece.
        let mut got = Vec::new();
        let mut four = [0u8; 4];
        let (n, drained) = recv_inq(&s, &mut [io::IoSliceMut::new(&mut four)]).unwrap();
        got.extend_from_slice(&four[..n]);
        let mut last = drained;
        while got.len() < 10 {
            let mut rest = [0u8; 16];
            let (n, drained) = recv_inq(&s, &mut [io::IoSliceMut::new(&mut rest)]).unwrap();
            got.extend_from_slice(&rest[..n]);
            last = drained;
        }
        assert_eq!(got, b"abcdefghij");
        assert_eq!(
            last, on,
            "the read that took the last byte says so where TCP_INQ is on"
        );
        // A queued FIN counts: a read that takes the last byte before it is not the end.
        c.write_all(b"xyz").unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut three = [std::mem::MaybeUninit::<u8>::uninit(); 3];
        let mut read = 0;
        while read < 3 {
            let (n, drained) = recv_inq_uninit(&s, &mut three[read..]).unwrap();
            read += n;
            if read == 3 {
                assert!(!drained, "the FIN is still queued");
            }
        }
        let mut one = [0u8; 1];
        assert_eq!(
            recv_inq(&s, &mut [io::IoSliceMut::new(&mut one)])
                .unwrap()
                .0,
            0
        );
    }

    #[test]
    fn thread_hints_never_fail() {
        std::thread::spawn(|| {
            request_time_slice(Duration::from_micros(300));
            let base = current_nice().unwrap_or(0);
            set_nice_above(base, 1);
            if let Some(n) = runnable_threads() {
                assert!(n >= 1, "the calling thread is runnable");
            }
            let _ = current_cpu();
        })
        .join()
        .unwrap();
    }
}
