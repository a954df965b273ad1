//! Networking on the per-worker event loops: TCP, UDP and Unix-domain sockets.
//!
//! Streams implement the futures-io [`AsyncRead`](futures_io::AsyncRead) and
//! [`AsyncWrite`](futures_io::AsyncWrite) traits (on `S` and on `&S`), and split into
//! [read](ReadHalf) and [write](WriteHalf) halves.
//!
//! ```
//! use futures::{AsyncReadExt, AsyncWriteExt};
//! use kiln_runtime::net::{TcpListener, TcpStream};
//!
//! kiln_runtime::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     kiln_runtime::spawn(async move {
//!         loop {
//!             let (conn, _) = listener.accept().await.unwrap();
//!             kiln_runtime::spawn(async move {
//!                 let (mut r, mut w) = conn.into_split();
//!                 futures::io::copy(&mut r, &mut w).await.unwrap();
//!             });
//!         }
//!     });
//!     let mut c = TcpStream::connect(addr).await.unwrap();
//!     c.write_all(b"echo").await.unwrap();
//!     let mut buf = [0u8; 4];
//!     c.read_exact(&mut buf).await.unwrap();
//!     assert_eq!(&buf, b"echo");
//! });
//! ```
//!
//! # Where sources live
//!
//! A socket registers, when it is created (bound, connected or wrapped), with the poller of
//! the worker whose thread creates it (a `block_on` thread uses the runtime's outside driver).
//! Its readiness wakes the waiting task wherever that task runs now, so tasks migrate freely
//! between workers without losing readiness.
//!
//! A task runs where its socket's events are harvested, so TCP streams also follow their
//! packets (Linux; see `affinity.rs`): an accepted stream registers with the worker running on
//! the CPU that received it, and every 64th read a stream moves its registration to the worker
//! on the CPU that receives its packets now, within a bound on how unevenly sockets spread over
//! the workers. The two tasks of a loopback connection then run on one worker, and a request
//! and its response stay in one CPU's cache. A move keeps the readiness state and loses no
//! event (`evented.rs`).
//!
//! # Readiness protocol
//!
//! Registration is edge-triggered (`PollMode::Edge`; level-triggered on a backend without edge
//! support, which is correct but wakes more). Each source has a readiness word: direction bits
//! plus a tick bumped by every event (see `crate::io`). An operation:
//! 1. waits until its direction's bit is set (storing its waker, then re-checking the word);
//! 2. runs the non-blocking syscall;
//! 3. on `WouldBlock`, clears the bit only if the tick is still the one it saw in step 1
//!    (an event that arrived meanwhile survives), and goes back to step 1.
//!
//! A bit is cleared only when the operation proved the direction exhausted, so the edge the
//! poller reported once is never forgotten while data remains: after `WouldBlock`; after a TCP
//! read that returned fewer bytes than its buffer holds, which emptied the receive queue (on
//! Linux, where events also report the peer's close, so a FIN that arrived with the data keeps
//! the stream readable until end-of-stream is read: `crate::io`, "Read closed"); and after a
//! write the kernel accepted only part of (the send buffer is full; freeing space raises a new
//! edge). The last two save the failing syscall that the next operation would otherwise make:
//! a request/response exchange needs no `recv` that returns `WouldBlock`.
//!
//! # After shutdown
//!
//! Once the runtime a socket belongs to has shut down (dropped, or `shutdown_timeout`),
//! nobody polls for its events any more. Every operation on it then fails at once with an
//! `io::Error` of kind `Other` saying that the runtime has shut down, including operations
//! already waiting (they are woken), and creating a socket through a `Handle` of that
//! runtime fails the same way. `readable()` and `writable()` return at once; the operation
//! that follows reports the shutdown. See `crate::io`, "After shutdown".
//!
//! # Busy workers
//!
//! A worker harvests its sockets every `event_interval` task polls and whenever it parks. A
//! worker stuck in a long task leaves them unharvested; an idle sibling watches them from its
//! own poller, wakes as soon as one has an event, harvests them and runs the woken tasks
//! itself (see `crate::driver`).
//!
//! # Cooperative budget
//!
//! Every completed read, write, accept, send or receive spends one unit of the task's budget
//! (`crate::coop`); once it is spent the operation returns `Pending` after waking the task, so
//! a connection that always has data cannot starve the other tasks of its worker.
//!
//! # Errors and drop
//!
//! Kernel errors surface as `io::Error` with their natural kind (`ConnectionRefused`,
//! `AddrInUse`, `ConnectionReset`, ...). A non-blocking connect reports `SO_ERROR` once the
//! socket becomes writable. Dropping a socket deletes it from its poller, frees its key, and
//! then closes the fd. Closing a stream's write half through `poll_close` (or hyper's and
//! tokio's `poll_shutdown`) after the peer has reset the connection succeeds, as tokio's does;
//! the `shutdown` method reports `NotConnected`.
#![cfg(unix)]

mod affinity;
mod drain;
pub(crate) mod evented;
#[cfg(feature = "hyper")]
pub mod hyper;
mod split;
mod tcp;
mod tcp_listener;
mod udp;
mod unix;

pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use tcp::TcpStream;
pub use tcp_listener::TcpListener;
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Runs `f` for each resolved address until one succeeds; else the last error.
fn each_addr<A: ToSocketAddrs, T>(
    addr: A,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(addr) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "kiln: could not resolve to any address",
        )
    }))
}

/// Starts a non-blocking connect: `Ok` if it completed or is in progress.
fn nonblocking_connect(socket: &socket2::Socket, addr: &socket2::SockAddr) -> io::Result<()> {
    match socket.connect(addr) {
        Ok(()) => Ok(()),
        Err(e) if crate::sys::is_connect_in_progress(&e) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(e) => Err(e),
    }
}

/// The outcome of a non-blocking connect once the socket reported writable: `SO_ERROR` if
/// set; `WouldBlock` (wait again) if the socket is still not connected.
fn connect_result<A>(
    so_error: io::Result<Option<io::Error>>,
    peer: io::Result<A>,
) -> io::Result<()> {
    if let Some(e) = so_error? {
        return Err(e);
    }
    match peer {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    }
}

/// The outcome of closing a stream's write half from `poll_close` (or hyper's and tokio's
/// `poll_shutdown`): `NotConnected`, which `shutdown(2)` reports once the peer has reset the
/// connection, counts as closed, since no more data can go out either way; that race with the
/// peer is not the caller's error. The stream's `shutdown` method still reports it.
pub(crate) fn closed(shutdown: io::Result<()>) -> io::Result<()> {
    match shutdown {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        r => r,
    }
}

/// Implements `AsyncRead`/`AsyncWrite` for a stream type: on `&$ty` through its `io`
/// registration and `shutdown`, and on `$ty` by delegating to `&$ty`.
macro_rules! forward_io_traits {
    ($ty:ty) => {
        // The stream's own operations, on `&Stream`: reads and writes go through the readiness
        // protocol of its `io` registration; close shuts the write half down (peer reads EOF).
        impl futures_io::AsyncRead for &$ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_buf(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_bufs(cx, bufs)
            }
        }

        // A write the kernel took only part of found the send buffer full: it clears the
        // writable bit it ran on, so the next write waits for the edge instead of failing.
        impl futures_io::AsyncWrite for &$ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_io_drain(cx, $crate::io::WRITABLE, |mut s| {
                    std::io::Write::write(&mut s, buf).map(|n| (n, n > 0 && n < buf.len()))
                })
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let len: usize = bufs.iter().map(|b| b.len()).sum();
                self.io.poll_io_drain(cx, $crate::io::WRITABLE, |mut s| {
                    std::io::Write::write_vectored(&mut s, bufs).map(|n| (n, n > 0 && n < len))
                })
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // Writes go straight to the kernel: nothing is buffered here.
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::closed(
                    self.shutdown(std::net::Shutdown::Write),
                ))
            }
        }

        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_read_vectored(cx, bufs)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut &*self).poll_flush(cx)
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut &*self).poll_close(cx)
            }
        }
    };
}
pub(crate) use forward_io_traits;
