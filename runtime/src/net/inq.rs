//! Reads that report whether they drained the socket, so readiness can be cleared without a
//! failing syscall.
//!
//! An edge-triggered source's readable bit is normally cleared only by a read that returns
//! `WouldBlock`: a read that filled the caller's buffer cannot tell whether more bytes wait.
//! A request/response protocol therefore pays one failing `recv` per message. On Linux a TCP
//! socket with `TCP_INQ` enabled answers that question: each `recvmsg` carries a control
//! message with the number of bytes still queued after the read (and a non-zero count once the
//! peer's FIN is queued, so end-of-stream is never hidden). When it is zero, the read drained
//! the socket and the caller may clear the readable bit under the usual tick check of
//! `crate::io`: any byte that arrives later raises a new edge, which bumps the tick or sets the
//! bit again, so nothing is lost.
//!
//! Where `TCP_INQ` is unavailable (other systems, or a kernel before 4.18), [`enable`] returns
//! `false` and streams use plain reads.

use std::io::{self, IoSliceMut};
use std::os::fd::BorrowedFd;

/// Turns on `TCP_INQ` for `fd`; `false` if the system does not support it.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn enable(fd: BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: `fd` is an open socket for the duration of the call; the option value points to
    // a live `c_int` whose size is passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INQ,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// Turns on `TCP_INQ` for `fd`; `false` if the system does not support it.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn enable(_fd: BorrowedFd<'_>) -> bool {
    false
}

/// Reads into `bufs` with one `recvmsg(2)`; returns the byte count and whether the socket's
/// receive queue was empty afterwards (no bytes and no FIN left). The second value is `true`
/// only on a socket for which [`enable`] succeeded.
pub(crate) fn recv(fd: BorrowedFd<'_>, bufs: &mut [IoSliceMut<'_>]) -> io::Result<(usize, bool)> {
    use std::os::fd::AsRawFd;
    // Room for one control message carrying a `c_int`, aligned for `cmsghdr`.
    let mut control = [0u64; 4];
    // SAFETY: an all-zero `msghdr` is a valid empty header; the fields that matter are set
    // below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSliceMut` is ABI-compatible with `iovec` on Unix.
    msg.msg_iov = bufs.as_mut_ptr().cast();
    msg.msg_iovlen = bufs.len() as _;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: `msg` points at `bufs.len()` live, writable iovecs and at `control`, both of
    // which outlive the call; `fd` is an open socket.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((n as usize, drained(&msg)))
}

/// Whether the `TCP_CM_INQ` control message of a filled-in `msg` reports an empty queue.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn drained(msg: &libc::msghdr) -> bool {
    let mut drained = false;
    // SAFETY: `msg` was filled in by a successful `recvmsg`, so its control fields describe
    // valid control messages inside its control buffer, which the caller keeps alive.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is non-null and was produced by `CMSG_FIRSTHDR`/`CMSG_NXTHDR` over
        // `msg`, so it points at a complete header inside the control buffer.
        let hdr = unsafe { &*cmsg };
        if hdr.cmsg_level == libc::SOL_TCP && hdr.cmsg_type == libc::TCP_CM_INQ {
            // SAFETY: a `TCP_CM_INQ` message carries one `c_int`; it may be unaligned.
            let inq =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>()) };
            drained = inq == 0;
        }
        // SAFETY: as above; `CMSG_NXTHDR` returns null past the last message.
        cmsg = unsafe { libc::CMSG_NXTHDR(msg, cmsg) };
    }
    drained
}

/// Without `TCP_INQ` a read never knows it drained the socket.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn drained(_msg: &libc::msghdr) -> bool {
    false
}
