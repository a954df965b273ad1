//! The Linux side of `sys`: the tuned implementation of every OS probe (see `sys/mod.rs` for
//! the list, and `fallback.rs` for what other systems get instead).
//!
//! # Scheduling hints
//! A worker that sleeps until a timer or an I/O event must run soon after it wakes, even when
//! the blocking pool keeps every CPU busy (64 CPU-bound `spawn_blocking` jobs on 2 CPUs).
//! Linux's EEVDF scheduler (6.6 and later) runs, among the threads that are owed CPU time
//! ("eligible"), the one with the earliest virtual deadline: its virtual run time plus its
//! time slice scaled by the inverse of its weight. A woken thread preempts the running one
//! only if it is that thread; otherwise it waits for the next scheduler tick (4 ms at
//! `HZ=250`), and possibly several. Measured on Linux 6.18 with 64 such jobs, a worker with
//! default settings woke up to 7 ms late, several times a second.
//!
//! - **Short slice (workers, `Builder::worker_time_slice`).** `sched_setattr`'s
//!   `sched_runtime` sets a `SCHED_OTHER` thread's slice (0.1–100 ms), no privilege needed. A
//!   short slice gives the thread an early virtual deadline whenever it wakes, and since 6.12
//!   lets it preempt a thread with a longer slice at once (`PREEMPT_SHORT`). It changes
//!   *latency*, not *share*: a worker still gets the CPU share of its nice level, in shorter
//!   pieces; workers run short polls and sleep.
//! - **Long slice and nice (blocking threads, `Builder::blocking_cpu_slice`,
//!   `Builder::blocking_time_slice`, `Builder::blocking_nice`).** Pool threads that waited
//!   long for a CPU are owed time, and their deadlines can still come before a worker's. A
//!   long slice (deadline far ahead) and a lower weight (nice) push a pool thread's deadline
//!   far beyond a woken worker's, so the worker is picked first. By default only a thread
//!   whose last job was CPU-bound holds a long slice (`crate::blocking`'s `slice.rs`): one
//!   that runs short jobs or waits on blocking calls should run as soon as it wakes. Neither
//!   stops a pool thread from running: a nice 15 thread gets about 1/28 of the CPU a nice 0
//!   thread gets when both want it, and all of an otherwise idle CPU. A thread cannot lower
//!   its nice value again without privilege, so pool threads keep the setting for life (they
//!   only run pool jobs).
//!
//! # Socket probes
//! - `SO_INCOMING_CPU`: the CPU that processed a socket's incoming packets (see
//!   `crate::net::affinity`).
//! - Sockets are registered with their source poller by a raw `epoll_ctl(2)`
//!   ([`add_source`]), edge-triggered for both directions and with `EPOLLRDHUP`, which
//!   `polling` does not ask for: an event then says when the peer closed its side
//!   ([`REPORTS_READ_CLOSED`]), so a short TCP read may clear the readable bit without hiding
//!   the end of the stream (see `crate::io`, "Read closed"). Reads are plain `recv(2)`s
//!   until a stream's reads keep filling their buffers; then `TCP_INQ` ([`enable_tcp_inq`],
//!   [`recv_inq`]) tells each read whether it emptied the queue (see `crate::net`'s
//!   `drain.rs`).
//! - Harvesting a source poller (`crate::driver`'s `sources.rs`) is one raw zero-timeout
//!   `epoll_wait(2)`, where a `Poller::wait` would also re-arm its timerfd and notification
//!   descriptor (five syscalls). It reads `polling`'s key encoding (the `u64` of each event is
//!   the registration key; `polling`'s own descriptors use `usize::MAX`), which the tests of
//!   this module check.

#[path = "linux_park.rs"]
pub(crate) mod park;

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The CPU that last processed packets for `fd` (`SO_INCOMING_CPU`), if the kernel says.
pub(crate) fn incoming_cpu(fd: BorrowedFd<'_>) -> Option<usize> {
    let mut cpu: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is an open socket for the duration of the call; both out-pointers point
    // at live locals, and `len` holds the size of `cpu`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_INCOMING_CPU,
            (&mut cpu as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        usize::try_from(cpu).ok()
    } else {
        None
    }
}

/// Harvested events report when the peer closed its side ([`add_source`]).
pub(crate) const REPORTS_READ_CLOSED: bool = true;

/// Turns on `TCP_INQ` for the TCP socket `s`: each `recvmsg(2)` then carries a control
/// message with the bytes still queued (counting a queued FIN as one). `false` if the kernel
/// refuses (before 4.18).
pub(crate) fn enable_tcp_inq(s: &std::net::TcpStream) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: `s` is an open socket for the duration of the call; the option value points to
    // a live `c_int` whose size is passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INQ,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// Reads into `bufs` with one `recvmsg(2)`; returns the byte count and whether the receive
/// queue was empty afterwards (no byte and no FIN left). The second value can be `true` only
/// once [`enable_tcp_inq`] succeeded on `s`.
///
/// # Errors
/// The OS error (`WouldBlock` on an empty non-blocking socket).
pub(crate) fn recv_inq(
    s: &std::net::TcpStream,
    bufs: &mut [std::io::IoSliceMut<'_>],
) -> io::Result<(usize, bool)> {
    // SAFETY: `IoSliceMut` is ABI-compatible with `iovec` on Unix, and each one is valid for
    // writes of its length while `bufs` is borrowed.
    unsafe { recvmsg_inq(s, bufs.as_mut_ptr().cast(), bufs.len()) }
}

/// As [`recv_inq`], into uninitialised memory: the count says how many bytes at the start of
/// `buf` are initialised from then on.
///
/// # Errors
/// As [`recv_inq`].
#[cfg(any(feature = "hyper", feature = "tokio-io", all(test, not(loom))))]
pub(crate) fn recv_inq_uninit(
    s: &std::net::TcpStream,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<(usize, bool)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, valid for writes of its length for the call
    // (`MaybeUninit<u8>` has the layout of `u8`); the kernel writes only initialised bytes.
    unsafe { recvmsg_inq(s, &mut iov, 1) }
}

/// One `recvmsg(2)` into `count` iovecs at `iov`, reading the `TCP_CM_INQ` control message.
///
/// # Safety
/// `iov` must point at `count` iovecs, each valid for writes of its length for the call.
unsafe fn recvmsg_inq(
    s: &std::net::TcpStream,
    iov: *mut libc::iovec,
    count: usize,
) -> io::Result<(usize, bool)> {
    // Room for one control message carrying a `c_int`, aligned for `cmsghdr`.
    let mut control = [0u64; 4];
    // SAFETY: an all-zero `msghdr` is a valid empty header; the fields used are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = count as _;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at the caller's iovecs (valid for writes, by this function's
    // contract) and at `control`, which outlives the call; `s` is an open socket.
    let n = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
    // A negative count is the error; any other fits in `usize`.
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    let mut drained = false;
    // SAFETY: `msg` was filled in by a successful `recvmsg`, so its control fields describe
    // complete control messages inside `control`, which is alive.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and came from `CMSG_FIRSTHDR`/`CMSG_NXTHDR` over `msg`,
        // so it points at a complete header inside `control`.
        let hdr = unsafe { &*cmsg };
        if hdr.cmsg_level == libc::SOL_TCP && hdr.cmsg_type == libc::TCP_CM_INQ {
            // SAFETY: a `TCP_CM_INQ` message carries one `c_int`, possibly unaligned.
            let inq =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>()) };
            drained = inq == 0;
        }
        // SAFETY: as above; `CMSG_NXTHDR` returns null past the last message.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok((n, drained))
}

/// Registers socket `fd` with the source poller `poller` under `key`: both directions,
/// edge-triggered, with `EPOLLRDHUP` (see the module docs). `polling`'s `delete` removes it.
///
/// # Safety
/// `fd` must stay open until it is deleted from `poller` (the contract of `polling`'s own
/// registrations, whose `delete` the caller uses).
pub(crate) unsafe fn add_source(
    poller: &polling::Poller,
    fd: BorrowedFd<'_>,
    key: usize,
) -> io::Result<()> {
    epoll_add(
        poller.as_fd(),
        fd,
        libc::EPOLLIN
            | libc::EPOLLPRI
            | libc::EPOLLOUT
            | libc::EPOLLHUP
            | libc::EPOLLERR
            | libc::EPOLLRDHUP
            | libc::EPOLLET,
        key,
    )
}

/// Adds `fd` to the epoll instance `epoll` for `events` under `key` (`EPOLL_CTL_ADD`).
fn epoll_add(
    epoll: BorrowedFd<'_>,
    fd: BorrowedFd<'_>,
    events: libc::c_int,
    key: usize,
) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events: events as u32,
        u64: key as u64,
    };
    // SAFETY: both descriptors are open for the call (each for its borrow), and `ev` is a
    // valid event that outlives it.
    let r = unsafe {
        libc::epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            &mut ev,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Harvested socket events of a source poller, read as [`IoEvent`](super::IoEvent)s.
pub(crate) struct IoEvents {
    buf: Vec<libc::epoll_event>,
    len: usize,
}

impl IoEvents {
    /// A buffer that takes at most `capacity` events per harvest.
    pub(crate) fn with_capacity(capacity: usize) -> IoEvents {
        IoEvents {
            buf: vec![libc::epoll_event { events: 0, u64: 0 }; capacity],
            len: 0,
        }
    }

    /// Takes the ready events of `poller` without blocking (replacing the buffer's contents);
    /// returns how many there are. Only for a poller that holds sockets alone: no one notifies
    /// it or waits on it through `polling`.
    pub(crate) fn fill(&mut self, poller: &polling::Poller) -> usize {
        // SAFETY: `buf` has room for `buf.len()` events and outlives the call; the descriptor
        // is the live epoll instance of `poller`.
        let n = unsafe {
            libc::epoll_wait(
                poller.as_raw_fd(),
                self.buf.as_mut_ptr(),
                self.buf.len() as libc::c_int,
                0,
            )
        };
        // An error (EINTR) reports nothing; the events stay for the next harvest.
        self.len = usize::try_from(n).unwrap_or(0);
        self.len
    }

    /// The events; hang-ups and errors count as both directions (the next operation reports
    /// them).
    pub(crate) fn iter(&self) -> impl Iterator<Item = super::IoEvent> + '_ {
        const READ: u32 = (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        const WRITE: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
        const CLOSED: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP) as u32;
        self.buf[..self.len].iter().filter_map(|ev| {
            let (flags, key) = (ev.events, ev.u64);
            // `polling`'s own descriptors (never triggered here) use `usize::MAX`.
            let key = usize::try_from(key).ok().filter(|&k| k != usize::MAX)?;
            Some(super::IoEvent {
                key,
                readable: flags & READ != 0,
                writable: flags & WRITE != 0,
                read_closed: flags & CLOSED != 0,
            })
        })
    }
}

/// Whether this system has pidfds (Linux 5.3+; [`pidfd_open`] tells for this kernel).
pub(crate) const PIDFDS: bool = true;

/// A pidfd for the child `pid` (close-on-exec): readable once the child exits. Only valid
/// while the child is not yet reaped (the caller holds its `std::process::Child`).
///
/// # Errors
/// `Unsupported` on a kernel before 5.3.
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

/// `SCHED_OTHER` (also called `SCHED_NORMAL`).
const SCHED_OTHER: u32 = 0;
/// Threads the caller starts get the default slice, not the requested one.
const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

/// The kernel's `struct sched_attr`, first version (48 bytes; `SCHED_ATTR_SIZE_VER0`).
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

const ATTR_SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;
const _: () = assert!(ATTR_SIZE == 48, "sched_attr version 0 is 48 bytes");

/// The calling thread's policy and nice value.
#[cfg(all(test, not(loom)))]
fn policy_and_nice() -> Option<(u32, i32)> {
    get_sched_attr().map(|a| (a.sched_policy, a.sched_nice))
}

/// The calling thread's attributes, or `None` if the kernel lacks `sched_getattr`.
fn get_sched_attr() -> Option<SchedAttr> {
    let mut attr = SchedAttr::default();
    // SAFETY: `sched_getattr(pid 0 = the calling thread, attr, size, flags 0)` writes at
    // most `ATTR_SIZE` bytes into `attr`, a valid, exclusively borrowed `sched_attr` of
    // that size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut attr as *mut SchedAttr,
            ATTR_SIZE,
            0,
        )
    };
    (rc == 0).then_some(attr)
}

fn set_sched_attr(attr: &SchedAttr) -> bool {
    // SAFETY: `sched_setattr(pid 0 = the calling thread, attr, flags 0)` only reads
    // `attr.size` (48) bytes from `attr`, a valid `sched_attr` that outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, attr as *const SchedAttr, 0) };
    rc == 0
}

/// The calling thread's scheduling attributes as they were (see `sys::borrow_time_slice`).
pub(crate) struct SavedSched(SchedAttr);

/// Gives the calling thread the time slice `slice` (see `sys::borrow_time_slice`) with one
/// read of its attributes, and returns them as they were; `None` if nothing changed (no
/// `sched_getattr`, a real-time policy, or the request refused).
pub(super) fn borrow_time_slice(slice: Duration) -> Option<SavedSched> {
    let saved = get_sched_attr()?;
    let attr = with_time_slice(&saved, slice)?;
    set_sched_attr(&attr).then_some(SavedSched(saved))
}

/// Writes back what [`borrow_time_slice`] read.
pub(super) fn restore_sched(saved: SavedSched) {
    let mut attr = saved.0;
    attr.size = ATTR_SIZE;
    // Refused: the thread keeps the borrowed slice, a hint.
    let _ = set_sched_attr(&attr);
}

/// `attr` with the time slice `slice`, or `None` for a real-time policy, which the program
/// chose and which stays as it is.
fn with_time_slice(attr: &SchedAttr, slice: Duration) -> Option<SchedAttr> {
    if attr.sched_policy != SCHED_OTHER {
        return None;
    }
    Some(SchedAttr {
        size: ATTR_SIZE,
        // Threads that tasks or blocking jobs start themselves get the OS default slice.
        sched_flags: SCHED_FLAG_RESET_ON_FORK,
        sched_runtime: u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX),
        // The nice value and policy read are written back unchanged.
        ..*attr
    })
}

/// Gives the calling thread the time slice `slice` (see `sys::request_time_slice`).
pub(super) fn set_time_slice(slice: Duration) {
    let Some(attr) = get_sched_attr().and_then(|a| with_time_slice(&a, slice)) else {
        return;
    };
    // Refused (an older kernel that rejects a non-zero runtime for SCHED_OTHER): the thread
    // keeps its slice.
    let _ = set_sched_attr(&attr);
}

/// How many threads in the whole system are runnable (running or waiting for a CPU) right
/// now, the calling one included (`/proc/loadavg`).
///
/// The file is kept open and read from offset 0 each time: the kernel writes the text afresh
/// for every read that starts there, and one `pread` costs about a quarter of an open, a read
/// and a close (see [`read_kept`] for a descriptor the program closed behind our back).
pub(crate) fn runnable_threads() -> Option<usize> {
    static LOADAVG: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);
    read_kept(&LOADAVG, std::path::Path::new("/proc/loadavg"))
}

/// The runnable count of a `/proc/loadavg` text, checked field by field (`0.52 0.58 0.59
/// <runnable>/<threads> <last pid>`); `None` for any other text.
pub(super) fn parse_loadavg(text: &str) -> Option<usize> {
    let mut fields = text.split_ascii_whitespace();
    for _ in 0..3 {
        fields.next()?.parse::<f64>().ok()?;
    }
    let (runnable, threads) = fields.next()?.split_once('/')?;
    threads.parse::<usize>().ok()?;
    let runnable = runnable.parse().ok()?;
    fields.next()?.parse::<u32>().ok()?;
    fields.next().is_none().then_some(runnable)
}

/// Reads the load-average file at `path` through the descriptor kept in `slot` (opened on
/// first use) and parses it ([`parse_loadavg`]).
///
/// A program may close descriptors it did not open (a daemon closing everything above
/// stderr); the kept number then reads as nothing, or as whatever file took the number. A
/// kept file whose text no longer parses is therefore dropped from `slot` *without closing
/// it* (it may be someone else's now), and the path is opened again, once per call. A freshly
/// opened file whose text does not parse is closed and not kept, so an unexpected format
/// costs an open per call, never a descriptor.
pub(super) fn read_kept(
    slot: &std::sync::Mutex<Option<std::fs::File>>,
    path: &std::path::Path,
) -> Option<usize> {
    use std::os::unix::fs::FileExt;
    let read = |file: &std::fs::File| {
        let mut buf = [0u8; 128];
        let n = file.read_at(&mut buf, 0).ok()?;
        parse_loadavg(std::str::from_utf8(&buf[..n]).ok()?)
    };
    // A panic while the lock is held leaves nothing half-written: the slot is still valid.
    let mut kept = slot.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(file) = kept.as_ref() {
        if let Some(n) = read(file) {
            return Some(n);
        }
        std::mem::forget(kept.take());
    }
    let file = std::fs::File::open(path).ok()?;
    let n = read(&file)?;
    *kept = Some(file);
    Some(n)
}

/// The calling thread's nice value.
pub(crate) fn current_nice() -> Option<i32> {
    // SAFETY: `gettid` has no preconditions.
    let id = unsafe { libc::gettid() } as libc::id_t;
    // `getpriority` returns -1 both as a value and as an error; errno tells them apart.
    // SAFETY: `__errno_location` returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: `getpriority(PRIO_PROCESS, tid)` reads the nice value of the calling thread
    // (on Linux a tid addresses that thread alone).
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, id) };
    // SAFETY: as above.
    let failed = nice == -1 && unsafe { *libc::__errno_location() } != 0;
    (!failed).then_some(nice)
}

/// Raises the calling thread's nice value to `nice` (never lowers it).
pub(super) fn raise_nice(nice: i32) {
    let Some(current) = current_nice() else {
        return;
    };
    // Only ever raised: lowering needs privilege, and a thread the program made nicer
    // than asked stays so.
    if nice <= current {
        return;
    }
    // SAFETY: `gettid` has no preconditions.
    let id = unsafe { libc::gettid() } as libc::id_t;
    // SAFETY: `setpriority(PRIO_PROCESS, tid, n)` changes the nice value of the calling
    // thread only. Raising it needs no privilege; a refusal leaves it unchanged.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, id, nice) };
}

/// The CPU this thread runs on now (`usize::MAX` where the kernel does not say).
pub(crate) fn current_cpu() -> usize {
    // SAFETY: takes no arguments and touches no memory of ours; -1 on failure.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).unwrap_or(usize::MAX)
}

#[cfg(all(test, not(loom)))]
#[path = "linux_tests.rs"]
mod tests;
