//! TCP: [`TcpListener`].

use super::each_addr;
use super::evented::Evented;
use super::tcp::TcpStream;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsFd;
use std::task::{Context, Poll};

/// Connections the kernel queues for a listener before `accept` takes them.
const LISTEN_BACKLOG: i32 = 1024;

/// A TCP socket server, listening for connections.
///
/// Registered with the poller of the worker it is created on. Dropping it deregisters and
/// closes the socket.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use kiln_runtime::net::{TcpListener, TcpStream};
///
/// kiln_runtime::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = kiln_runtime::spawn(async move {
///         let (mut conn, _peer) = listener.accept().await.unwrap();
///         let mut buf = [0u8; 4];
///         conn.read_exact(&mut buf).await.unwrap();
///         conn.write_all(&buf).await.unwrap();
///     });
///     let mut client = TcpStream::connect(addr).await.unwrap();
///     client.write_all(b"ping").await.unwrap();
///     let mut buf = [0u8; 4];
///     client.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"ping");
///     server.await.unwrap();
/// });
/// ```
pub struct TcpListener {
    io: Evented<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds a listener to `addr` (with `SO_REUSEADDR`, so a restarted server can bind a port
    /// whose old connections linger in `TIME_WAIT`). Every resolved address is tried in turn;
    /// the last error is returned if none works. Port 0 picks a free port.
    ///
    /// Name resolution runs on the calling thread: pass a `SocketAddr` or an IP literal to
    /// avoid blocking the worker on DNS.
    ///
    /// # Errors
    /// [`io::ErrorKind::AddrInUse`] if another socket listens there, or any other bind error.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let a = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let taken = a.local_addr().unwrap();
    ///     let err = kiln_runtime::net::TcpListener::bind(taken).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    /// });
    /// ```
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        each_addr(addr, |addr| {
            let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
            socket.set_reuse_address(true)?;
            socket.bind(&SockAddr::from(addr))?;
            socket.listen(LISTEN_BACKLOG)?;
            TcpListener::from_std(socket.into())
        })
    }

    /// Wraps a listening std socket (switched to non-blocking mode here).
    ///
    /// # Errors
    /// If the socket cannot be made non-blocking or registered with the poller.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let listener = kiln_runtime::net::TcpListener::from_std(std_listener).unwrap();
    ///     assert!(listener.local_addr().unwrap().port() > 0);
    /// });
    /// ```
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            io: Evented::new(listener, "kiln::net::TcpListener")?,
        })
    }

    /// Deregisters the listener and returns the std socket (still in non-blocking mode).
    ///
    /// # Errors
    /// Never today; the `Result` leaves room for platforms that need a fallible step.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let std_listener = l.into_std().unwrap();
    ///     assert!(std_listener.local_addr().is_ok());
    /// });
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(self.io.into_inner())
    }

    /// Waits for and accepts a new connection, registered with the calling worker's poller.
    ///
    /// # Errors
    /// Whatever `accept(2)` reports. Most errors concern only the connection being accepted
    /// (`ConnectionAborted`, `ConnectionReset`: the peer gave up first); try again at once.
    /// But when the process or the system is out of file descriptors (`EMFILE`, `ENFILE`) or
    /// memory (`ENOBUFS`, `ENOMEM`), every call fails at once, for as long as nothing closes:
    /// an accept loop that simply retries then burns a whole CPU and starves the tasks that
    /// would free descriptors. Pause such a loop briefly (10–100 ms) after those errors, as
    /// hyper-util's and tokio's servers do (see `examples/echo_server.rs`):
    ///
    /// ```no_run
    /// # kiln_runtime::run(async {
    /// # let listener = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    /// loop {
    ///     match listener.accept().await {
    ///         Ok((conn, _)) => drop(kiln_runtime::spawn(async move { drop(conn) })),
    ///         Err(e) if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) => {}
    ///         Err(e) => {
    ///             eprintln!("accept failed: {e}");
    ///             kiln_timer::sleep(std::time::Duration::from_millis(100)).await;
    ///         }
    ///     }
    /// }
    /// # });
    /// ```
    ///
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let addr = l.local_addr().unwrap();
    ///     let c = kiln_runtime::spawn(kiln_runtime::net::TcpStream::connect(addr));
    ///     let (_conn, peer) = l.accept().await.unwrap();
    ///     assert_eq!(peer, c.await.unwrap().unwrap().local_addr().unwrap());
    /// });
    /// ```
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a new connection: the poll form of [`TcpListener::accept`].
    ///
    /// # Errors
    /// As [`TcpListener::accept`].
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let addr = l.local_addr().unwrap();
    ///     let _c = std::net::TcpStream::connect(addr).unwrap();
    ///     let (_conn, _peer) = std::future::poll_fn(|cx| l.poll_accept(cx)).await.unwrap();
    /// });
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, addr) = std::task::ready!(self.io.poll_read_io(cx, |l| l.accept()))?;
        stream.set_nonblocking(true)?;
        // Registered with the worker whose CPU receives its packets (see `super::affinity`).
        let cpu = crate::sys::incoming_cpu(stream.as_fd());
        Poll::Ready(Ok((TcpStream::from_nonblocking(stream, cpu)?, addr)))
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    /// If `getsockname(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(l.local_addr().unwrap().ip().is_loopback());
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets the IP time-to-live of accepted sockets' packets.
    ///
    /// # Errors
    /// If `setsockopt(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     l.set_ttl(42).unwrap();
    ///     assert_eq!(l.ttl().unwrap(), 42);
    /// });
    /// ```
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// The IP time-to-live (see [`TcpListener::set_ttl`]).
    ///
    /// # Errors
    /// If `getsockopt(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let l = kiln_runtime::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(l.ttl().unwrap() > 0);
    /// });
    /// ```
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("io", &self.io).finish()
    }
}
