//! TCP: [`TcpStream`] (the listener is in `tcp_listener.rs`).

use super::affinity::Follow;
use super::drain::DrainHint;
use super::evented::Evented;
use super::nonblocking_connect;
use super::split::{split, split_owned, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::io::{READABLE, WRITABLE};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

/// A TCP connection; reads and writes through the futures-io [`AsyncRead`](futures_io::AsyncRead) and
/// [`AsyncWrite`](futures_io::AsyncWrite) traits (also on `&TcpStream`, so one task may read while another writes).
///
/// At most one task should wait to read and one to write at a time: each direction keeps a
/// single waker. [`TcpStream::split`] and [`TcpStream::into_split`] give separate halves.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
///
/// kiln_runtime::run(async {
///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = l.local_addr().unwrap();
///     let mut client = kiln_runtime::net::TcpStream::connect(addr).await.unwrap();
///     let (mut server, _) = l.accept().await.unwrap();
///     client.write_all(b"hi").await.unwrap();
///     client.close().await.unwrap(); // half-close: the server reads EOF after the data
///     let mut got = Vec::new();
///     server.read_to_end(&mut got).await.unwrap();
///     assert_eq!(got, b"hi");
/// });
/// ```
pub struct TcpStream {
    io: Evented<std::net::TcpStream>,
    /// Moves the registration to where the packets arrive now and then (`super::affinity`).
    follow: Follow,
    /// Which read tells whether the queue was emptied (`super::drain`).
    drain: DrainHint,
}

impl TcpStream {
    /// Opens a connection to `addr`, trying each resolved address in turn.
    ///
    /// Name resolution runs on the calling thread (see [`TcpListener::bind`](super::TcpListener::bind)).
    ///
    /// # Errors
    /// [`io::ErrorKind::ConnectionRefused`] if nothing listens there (reported by `SO_ERROR`
    /// once the socket becomes writable), or any other connect error; with several addresses,
    /// the last one's error.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     // Bind then drop a listener: nothing listens on that port any more.
    ///     let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    ///     let err = kiln_runtime::net::TcpStream::connect(addr).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    /// });
    /// ```
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_addr(addr).await {
                Ok(s) => return Ok(s),
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

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        nonblocking_connect(&socket, &SockAddr::from(addr))?;
        let stream = TcpStream::from_nonblocking(socket.into(), None)?;
        poll_fn(|cx| {
            stream
                .io
                .poll_write_io(cx, |s| super::connect_result(s.take_error(), s.peer_addr()))
        })
        .await?;
        Ok(stream)
    }

    /// Registers `stream` with the worker running on `cpu` if there is one (see
    /// `Evented::new_on_cpu`), else with the current one.
    pub(super) fn from_nonblocking(
        stream: std::net::TcpStream,
        cpu: Option<usize>,
    ) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Evented::new_on_cpu(stream, cpu, "kiln::net::TcpStream")?,
            follow: Follow::new(),
            drain: DrainHint::new(),
        })
    }

    /// Reads once readable through `read(stream, inq)`: a plain read when `inq` is false, else
    /// one that also reports whether the receive queue is now empty (`super::drain` picks,
    /// from how earlier reads of up to `len` bytes went).
    #[inline]
    fn poll_read_with(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        mut read: impl FnMut(&std::net::TcpStream, bool) -> io::Result<(usize, bool)>,
    ) -> Poll<io::Result<usize>> {
        let done = self.io.poll_io_drain(cx, READABLE, |s| {
            self.drain.read(s, len, |inq| read(s, inq))
        });
        if done.is_ready() {
            self.follow.after_read(&self.io);
        }
        done
    }

    /// Reads into `buf` once readable (the body of `AsyncRead::poll_read`): one `recv(2)`, or
    /// one `recvmsg(2)` while reads fill their buffers (`super::drain`).
    fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read_with(cx, buf.len(), |s, inq| {
            if inq {
                crate::sys::recv_inq(s, &mut [io::IoSliceMut::new(buf)])
            } else {
                io::Read::read(&mut &*s, buf).map(|n| (n, false))
            }
        })
    }

    /// Reads into `bufs` once readable (the body of `AsyncRead::poll_read_vectored`).
    fn poll_read_bufs(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [io::IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.poll_read_with(cx, len, |s, inq| {
            if inq {
                crate::sys::recv_inq(s, bufs)
            } else {
                io::Read::read_vectored(&mut &*s, bufs).map(|n| (n, false))
            }
        })
    }

    /// Reads into uninitialised memory once readable: one `recv(2)` (or `recvmsg(2)`, as
    /// above), whose count says how many bytes at the start of `buf` it initialised. For
    /// hyper's read buffer (`super::hyper`) and tokio's `ReadBuf` (`crate::tokio_io`).
    #[cfg(any(feature = "hyper", feature = "tokio-io"))]
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_with(cx, buf.len(), |s, inq| {
            if inq {
                crate::sys::recv_inq_uninit(s, buf)
            } else {
                crate::sys::recv_uninit(std::os::fd::AsFd::as_fd(s), buf).map(|n| (n, false))
            }
        })
    }

    /// Wraps a connected std stream (switched to non-blocking mode here).
    ///
    /// # Errors
    /// If the socket cannot be made non-blocking or registered with the poller.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    ///     let s = kiln_runtime::net::TcpStream::from_std(s).unwrap();
    ///     assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
    /// });
    /// ```
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_nonblocking(stream, None)
    }

    /// Deregisters the stream and returns the std socket (still in non-blocking mode).
    ///
    /// # Errors
    /// Never today; the `Result` leaves room for platforms that need a fallible step.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let s = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let std_stream = s.into_std().unwrap();
    ///     assert!(std_stream.peer_addr().is_ok());
    /// });
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(self.io.into_inner())
    }

    /// The local address of this connection.
    ///
    /// # Errors
    /// If `getsockname(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let s = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     assert!(s.local_addr().unwrap().ip().is_loopback());
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The remote address of this connection.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotConnected`] if the connection is gone.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let s = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
    /// });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Enables or disables Nagle's algorithm (`TCP_NODELAY`).
    ///
    /// # Errors
    /// If `setsockopt(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let s = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     s.set_nodelay(true).unwrap();
    ///     assert!(s.nodelay().unwrap());
    /// });
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    /// If `getsockopt(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let s = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     assert!(!s.nodelay().unwrap());
    /// });
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets the IP time-to-live of this connection's packets.
    ///
    /// # Errors
    /// If `setsockopt(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let s = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     s.set_ttl(9).unwrap();
    ///     assert_eq!(s.ttl().unwrap(), 9);
    /// });
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live (see [`TcpStream::set_ttl`]).
    ///
    /// # Errors
    /// If `getsockopt(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let s = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     assert!(s.ttl().unwrap() > 0);
    /// });
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Shuts down the read half, the write half, or both (`shutdown(2)`). After
    /// `Shutdown::Write` the peer reads EOF once it has read everything sent before.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotConnected`] if the connection is gone.
    ///
    /// ```
    /// use futures::AsyncReadExt;
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (mut s, _) = l.accept().await.unwrap();
    ///     c.shutdown(std::net::Shutdown::Write).unwrap();
    ///     assert_eq!(s.read(&mut [0u8; 8]).await.unwrap(), 0);
    /// });
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Waits until the stream is (probably) readable (or its runtime has shut down): a
    /// following read may still report `WouldBlock`-free progress or EOF.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (s, _) = l.accept().await.unwrap();
    ///     drop(c);
    ///     s.readable().await; // EOF counts as readable
    /// });
    /// ```
    pub async fn readable(&self) {
        poll_fn(|cx| self.io.poll_ready(cx, READABLE)).await
    }

    /// Waits until the stream is (probably) writable (or its runtime has shut down).
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     c.writable().await;
    /// });
    /// ```
    pub async fn writable(&self) {
        poll_fn(|cx| self.io.poll_ready(cx, WRITABLE)).await
    }

    /// Reads into `buf` without removing the data from the socket's queue.
    ///
    /// # Errors
    /// As a read.
    ///
    /// ```
    /// use futures::AsyncWriteExt;
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let mut c = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (s, _) = l.accept().await.unwrap();
    ///     c.write_all(b"abc").await.unwrap();
    ///     let mut buf = [0u8; 3];
    ///     let n = s.peek(&mut buf).await.unwrap();
    ///     assert_eq!(&buf[..n], &b"abc"[..n]);
    /// });
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_read_io(cx, |s| s.peek(buf))).await
    }

    /// Borrows the stream as a read half and a write half, usable from two futures at once.
    ///
    /// ```
    /// use futures::{AsyncReadExt, AsyncWriteExt};
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let mut c = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (mut s, _) = l.accept().await.unwrap();
    ///     let (mut r, mut w) = s.split();
    ///     c.write_all(b"x").await.unwrap();
    ///     let mut b = [0u8; 1];
    ///     r.read_exact(&mut b).await.unwrap();
    ///     w.write_all(&b).await.unwrap();
    ///     c.read_exact(&mut b).await.unwrap();
    ///     assert_eq!(&b, b"x");
    /// });
    /// ```
    pub fn split(&mut self) -> (ReadHalf<'_, TcpStream>, WriteHalf<'_, TcpStream>) {
        split(self)
    }

    /// Splits the stream into owned halves that can move to different tasks;
    /// [`OwnedReadHalf::reunite`] puts them back together.
    ///
    /// ```
    /// use futures::{AsyncReadExt, AsyncWriteExt};
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = kiln_runtime::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (mut r, mut w) = c.into_split();
    ///     let writer = kiln_runtime::spawn(async move { w.write_all(b"hello").await.map(|_| w) });
    ///     let (mut s, _) = l.accept().await.unwrap();
    ///     let mut buf = [0u8; 5];
    ///     s.read_exact(&mut buf).await.unwrap();
    ///     s.write_all(&buf).await.unwrap();
    ///     r.read_exact(&mut buf).await.unwrap();
    ///     assert_eq!(&buf, b"hello");
    ///     let w = writer.await.unwrap().unwrap();
    ///     let _whole = r.reunite(w).unwrap();
    /// });
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf<TcpStream>, OwnedWriteHalf<TcpStream>) {
        split_owned(self)
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream").field("io", &self.io).finish()
    }
}

super::forward_io_traits!(TcpStream);
