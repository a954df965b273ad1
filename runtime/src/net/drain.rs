//! How a TCP stream's reads learn that they emptied the receive queue, so that the readable
//! bit can be cleared without a failing `recv` on the next read.
//!
//! Readiness is edge-triggered (see `crate::io`): the readable bit stays set until a read says
//! the queue is empty. A TCP read returns everything queued up to its buffer's size, so a read
//! shorter than its buffer emptied the queue, and its bit is cleared for free (tokio's rule;
//! only where events report the peer's close, so that a clear never hides the end of the
//! stream: `crate::sys::REPORTS_READ_CLOSED`). A read that fills its buffer proves nothing.
//! Where a reader asks for exactly what its peer sent (fixed-size messages, a header read with
//! `read_exact`, an echo), every read fills its buffer and the next one fails with
//! `WouldBlock`: one wasted syscall per message. Linux's `TCP_INQ` answers the question on
//! the read itself: `recvmsg(2)` then carries the number of bytes still queued, a queued FIN
//! counting as one (`crate::sys::recv_inq`). It costs 0.6–0.8 µs more per read than a plain
//! `recv`, so a stream uses it only while its reads fill their buffers.
//!
//! # Protocol
//!
//! Each stream has a mode, a hint kept in one relaxed atomic: two tasks reading one stream at
//! once (which the API discourages) could only pick the less fitting syscall, and each read's
//! answer comes from the syscall it made.
//! - [`PLAIN`] (the start): reads are `recv(2)`; a short read clears the bit. A read that fills
//!   its buffer moves to [`FILLED`].
//! - [`FILLED`]: as [`PLAIN`]. If the next read fails with `WouldBlock` (the wasted syscall),
//!   the stream turns `TCP_INQ` on (once, [`INQ_ON`]) and moves to [`INQ`]; if the OS refuses,
//!   to [`NEVER`]. A read that returns bytes moves by its length, as in [`PLAIN`].
//! - [`INQ`]: reads are `recvmsg(2)`, and the queue count clears the bit, whether the buffer
//!   was filled or not. A short read (or end of stream) moves back to [`PLAIN`]: there a plain
//!   `recv` tells as much for less.
//! - [`NEVER`]: plain reads for good (the portable build, or a kernel before 4.18).

use crate::loom::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::io;

/// Plain `recv`; the last read did not fill its buffer.
const PLAIN: u32 = 0;
/// Plain `recv`; the last read filled its buffer.
const FILLED: u32 = 1;
/// `recvmsg` with the `TCP_INQ` queue count.
const INQ: u32 = 2;
/// Plain `recv` for good: the OS has no `TCP_INQ`.
const NEVER: u32 = 3;
/// The bits of the mode (the rest are flags).
const MODE: u32 = 3;
/// Flag: `TCP_INQ` is on for the socket (it stays on; a plain `recv` ignores it).
const INQ_ON: u32 = 4;

/// A stream's read mode (see the module docs).
#[derive(Debug)]
pub(super) struct DrainHint {
    mode: AtomicU32,
}

impl DrainHint {
    pub(super) fn new() -> DrainHint {
        DrainHint {
            mode: AtomicU32::new(PLAIN),
        }
    }

    /// Makes one read into `len` bytes of buffer for `Evented::poll_io_drain`: `read(true)`
    /// must read with [`crate::sys::recv_inq`] (or its uninitialised twin) and return its
    /// answer, `read(false)` with a plain read, returning `(n, false)`. Returns the byte count
    /// and whether the read emptied the queue, and moves the stream's mode.
    pub(super) fn read(
        &self,
        s: &std::net::TcpStream,
        len: usize,
        read: impl FnOnce(bool) -> io::Result<(usize, bool)>,
    ) -> io::Result<(usize, bool)> {
        let state = self.mode.load(Relaxed);
        let mode = state & MODE;
        if mode == NEVER {
            return read(false).map(|(n, _)| (n, short(n, len)));
        }
        let result = read(mode == INQ);
        let next = match &result {
            Ok((n, _)) if *n > 0 && *n == len => {
                (state & INQ_ON) | if mode == INQ { INQ } else { FILLED }
            }
            Ok(_) => (state & INQ_ON) | PLAIN,
            Err(e) if mode == FILLED && e.kind() == io::ErrorKind::WouldBlock => {
                if state & INQ_ON != 0 || crate::sys::enable_tcp_inq(s) {
                    INQ_ON | INQ
                } else {
                    NEVER
                }
            }
            Err(_) => state,
        };
        if next != state {
            self.mode.store(next, Relaxed);
        }
        result.map(|(n, told)| (n, told || short(n, len)))
    }
}

/// Whether a read of `n` bytes into `len` bytes of buffer emptied the receive queue: a TCP
/// read returns everything queued up to the buffer's size, so a short read did. Only where
/// events report the peer's close (see `crate::io`, "Read closed"); a read that fills its
/// buffer, or returns end of stream, proves nothing.
fn short(n: usize, len: usize) -> bool {
    crate::sys::REPORTS_READ_CLOSED && n > 0 && n < len
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A connected pair: (non-blocking reader, writer).
    fn pair() -> (std::net::TcpStream, std::net::TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let w = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (r, _) = l.accept().unwrap();
        r.set_nonblocking(true).unwrap();
        (r, w)
    }

    /// One read of `len` bytes through `hint`, retried until data is there.
    fn read(hint: &DrainHint, r: &std::net::TcpStream, len: usize) -> (usize, bool) {
        let mut buf = vec![0u8; len];
        loop {
            match hint.read(r, len, |inq| {
                if inq {
                    crate::sys::recv_inq(r, &mut [io::IoSliceMut::new(&mut buf)])
                } else {
                    (&*r).read(&mut buf).map(|n| (n, false))
                }
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                other => return other.unwrap(),
            }
        }
    }

    fn mode(hint: &DrainHint) -> u32 {
        hint.mode.load(Relaxed) & MODE
    }

    #[test]
    fn filled_reads_then_a_wasted_one_switch_to_the_queue_count() {
        let (r, mut w) = pair();
        let hint = DrainHint::new();
        w.write_all(&[1; 8]).unwrap();
        assert_eq!(
            read(&hint, &r, 8),
            (8, false),
            "a filled plain read proves nothing"
        );
        assert_eq!(mode(&hint), FILLED);
        // The next read finds nothing: the syscall the queue count saves.
        let err = hint
            .read(&r, 8, |_| (&r).read(&mut [0; 8]).map(|n| (n, false)))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let inq = cfg!(all(target_os = "linux", not(kiln_portable)));
        assert_eq!(mode(&hint), if inq { INQ } else { NEVER });
        w.write_all(&[2; 8]).unwrap();
        assert_eq!(
            read(&hint, &r, 8),
            (8, inq),
            "a filled read now says it emptied the queue"
        );
        // A short read goes back to plain reads; the short read itself tells.
        w.write_all(&[3; 4]).unwrap();
        let (n, drained) = read(&hint, &r, 8);
        assert!(n > 0 && n < 8 && drained == crate::sys::REPORTS_READ_CLOSED);
        assert_eq!(mode(&hint), if inq { PLAIN } else { NEVER });
    }

    #[test]
    fn reads_that_find_data_stay_plain() {
        let (r, mut w) = pair();
        let hint = DrainHint::new();
        w.write_all(&[1; 16]).unwrap();
        // Wait until all 16 bytes are queued (delivery may lag the write on a loaded machine),
        // so that no read below finds the queue empty.
        while !matches!(r.peek(&mut [0; 16]), Ok(16)) {
            std::thread::yield_now();
        }
        let mut got = 0;
        while got < 16 {
            got += read(&hint, &r, 4).0;
        }
        assert_eq!(
            mode(&hint),
            FILLED,
            "every read filled its buffer, none was wasted"
        );
        w.write_all(&[1; 2]).unwrap();
        read(&hint, &r, 4);
        assert_eq!(mode(&hint), PLAIN);
    }
}
