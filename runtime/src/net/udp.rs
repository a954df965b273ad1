//! UDP: [`UdpSocket`].

use super::each_addr;
use super::evented::Evented;
use crate::io::{READABLE, WRITABLE};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::task::{Context, Poll};

/// A UDP socket.
///
/// Every method takes `&self`, so one task may receive while another sends; at most one task
/// should wait to receive and one to send at a time (each direction keeps a single waker).
///
/// ```
/// use kiln_runtime::net::UdpSocket;
///
/// kiln_runtime::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"datagram", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"datagram");
///     assert_eq!(from, a.local_addr().unwrap());
/// });
/// ```
pub struct UdpSocket {
    io: Evented<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (each resolved address in turn; port 0 picks a free port).
    ///
    /// # Errors
    /// [`io::ErrorKind::AddrInUse`] if the address is taken, or any other bind error.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let s = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let err = kiln_runtime::net::UdpSocket::bind(s.local_addr().unwrap()).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    /// });
    /// ```
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        each_addr(addr, |addr| {
            let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
            socket.bind(&SockAddr::from(addr))?;
            UdpSocket::from_std(socket.into())
        })
    }

    /// Wraps a bound std socket (switched to non-blocking mode here).
    ///
    /// # Errors
    /// If the socket cannot be made non-blocking or registered with the poller.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     let s = kiln_runtime::net::UdpSocket::from_std(s).unwrap();
    ///     assert!(s.local_addr().is_ok());
    /// });
    /// ```
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            io: Evented::new(socket, "kiln::net::UdpSocket")?,
        })
    }

    /// Deregisters the socket and returns the std socket (still in non-blocking mode).
    ///
    /// # Errors
    /// Never today; the `Result` leaves room for platforms that need a fallible step.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let s = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(s.into_std().unwrap().local_addr().is_ok());
    /// });
    /// ```
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(self.io.into_inner())
    }

    /// Sets the default peer for [`UdpSocket::send`] and [`UdpSocket::recv`], and filters
    /// received datagrams to that peer.
    ///
    /// # Errors
    /// If `connect(2)` fails for every resolved address.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let b = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.connect(b.local_addr().unwrap()).await.unwrap();
    ///     assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    /// });
    /// ```
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(addr, |addr| self.io.get_ref().connect(addr))
    }

    /// Sends `buf` to `target`; returns the number of bytes sent.
    ///
    /// # Errors
    /// Whatever `sendto(2)` reports.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let n = a.send_to(b"x", a.local_addr().unwrap()).await.unwrap();
    ///     assert_eq!(n, 1);
    /// });
    /// ```
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let target = each_addr(target, Ok)?;
        poll_fn(|cx| self.poll_send_to(cx, buf, target)).await
    }

    /// Polls to send `buf` to `target` (the poll form of [`UdpSocket::send_to`]).
    ///
    /// # Errors
    /// Whatever `sendto(2)` reports.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let to = a.local_addr().unwrap();
    ///     let n = std::future::poll_fn(|cx| a.poll_send_to(cx, b"yo", to)).await.unwrap();
    ///     assert_eq!(n, 2);
    /// });
    /// ```
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_io(cx, |s| s.send_to(buf, target))
    }

    /// Receives one datagram into `buf`; returns its length (truncated to `buf`) and sender.
    ///
    /// # Errors
    /// Whatever `recvfrom(2)` reports.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.send_to(b"self", a.local_addr().unwrap()).await.unwrap();
    ///     let mut buf = [0u8; 8];
    ///     let (n, _) = a.recv_from(&mut buf).await.unwrap();
    ///     assert_eq!(&buf[..n], b"self");
    /// });
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls to receive one datagram (the poll form of [`UdpSocket::recv_from`]).
    ///
    /// # Errors
    /// Whatever `recvfrom(2)` reports.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.send_to(b"p", a.local_addr().unwrap()).await.unwrap();
    ///     let mut buf = [0u8; 4];
    ///     let (n, _) = std::future::poll_fn(|cx| a.poll_recv_from(cx, &mut buf)).await.unwrap();
    ///     assert_eq!(n, 1);
    /// });
    /// ```
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_io(cx, |s| s.recv_from(buf))
    }

    /// Sends `buf` to the connected peer (see [`UdpSocket::connect`]).
    ///
    /// # Errors
    /// [`io::ErrorKind::NotConnected`] without a peer; [`io::ErrorKind::ConnectionRefused`]
    /// may be reported for an earlier datagram the peer's host rejected.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.connect(a.local_addr().unwrap()).await.unwrap();
    ///     assert_eq!(a.send(b"me").await.unwrap(), 2);
    /// });
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_write_io(cx, |s| s.send(buf))).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    /// Whatever `recv(2)` reports (e.g. `ConnectionRefused` after an ICMP rejection).
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.connect(a.local_addr().unwrap()).await.unwrap();
    ///     a.send(b"loop").await.unwrap();
    ///     let mut buf = [0u8; 8];
    ///     let n = a.recv(&mut buf).await.unwrap();
    ///     assert_eq!(&buf[..n], b"loop");
    /// });
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_read_io(cx, |s| s.recv(buf))).await
    }

    /// Waits until a datagram is (probably) ready to be received (or the runtime has shut
    /// down).
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.send_to(b"r", a.local_addr().unwrap()).await.unwrap();
    ///     a.readable().await;
    /// });
    /// ```
    pub async fn readable(&self) {
        poll_fn(|cx| self.io.poll_ready(cx, READABLE)).await
    }

    /// Waits until the socket is (probably) writable (or its runtime has shut down).
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.writable().await;
    /// });
    /// ```
    pub async fn writable(&self) {
        poll_fn(|cx| self.io.poll_ready(cx, WRITABLE)).await
    }

    /// The address this socket is bound to.
    ///
    /// # Errors
    /// If `getsockname(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(a.local_addr().unwrap().port() > 0);
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotConnected`] if [`UdpSocket::connect`] was not called.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert_eq!(a.peer_addr().unwrap_err().kind(), std::io::ErrorKind::NotConnected);
    /// });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Allows or forbids sending to broadcast addresses (`SO_BROADCAST`).
    ///
    /// # Errors
    /// If `setsockopt(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.set_broadcast(true).unwrap();
    ///     assert!(a.broadcast().unwrap());
    /// });
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    ///
    /// # Errors
    /// If `getsockopt(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(!a.broadcast().unwrap());
    /// });
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("io", &self.io).finish()
    }
}
