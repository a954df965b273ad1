//! Unix-domain stream sockets: [`UnixListener`] and [`UnixStream`].

use super::evented::Evented;
use super::nonblocking_connect;
use super::split::{split, split_owned, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::io::{READABLE, WRITABLE};
use socket2::{Domain, SockAddr, Socket, Type};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::{self as std_unix, SocketAddr};
use std::path::Path;
use std::task::{Context, Poll};

/// A Unix-domain socket server.
///
/// Dropping it deregisters and closes the socket; the socket file stays on disk (remove it
/// yourself before binding the same path again).
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use kiln_runtime::net::{UnixListener, UnixStream};
///
/// kiln_runtime::run(async {
///     let dir = std::env::temp_dir().join(format!("kiln-doc-{}", std::process::id()));
///     std::fs::create_dir_all(&dir).unwrap();
///     let path = dir.join("listener.sock");
///     let _ = std::fs::remove_file(&path);
///     let listener = UnixListener::bind(&path).unwrap();
///     let mut client = UnixStream::connect(&path).await.unwrap();
///     let (mut server, _) = listener.accept().await.unwrap();
///     client.write_all(b"uds").await.unwrap();
///     let mut buf = [0u8; 3];
///     server.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"uds");
///     std::fs::remove_file(&path).unwrap();
/// });
/// ```
pub struct UnixListener {
    io: Evented<std_unix::UnixListener>,
}

impl UnixListener {
    /// Creates the socket file at `path` and listens on it.
    ///
    /// # Errors
    /// [`io::ErrorKind::AddrInUse`] if the file exists, or any other bind error.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-doc-bind-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let _l = kiln_runtime::net::UnixListener::bind(&path).unwrap();
    ///     let err = kiln_runtime::net::UnixListener::bind(&path).unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        UnixListener::from_std(std_unix::UnixListener::bind(path)?)
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
    ///     let path = std::env::temp_dir().join(format!("kiln-doc-std-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    ///     let l = kiln_runtime::net::UnixListener::from_std(l).unwrap();
    ///     assert!(l.local_addr().unwrap().as_pathname().is_some());
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn from_std(listener: std_unix::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener {
            io: Evented::new(listener, "kiln::net::UnixListener")?,
        })
    }

    /// Deregisters the listener and returns the std socket (still in non-blocking mode).
    ///
    /// # Errors
    /// Never today; the `Result` leaves room for platforms that need a fallible step.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-doc-into-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let l = kiln_runtime::net::UnixListener::bind(&path).unwrap();
    ///     assert!(l.into_std().is_ok());
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub fn into_std(self) -> io::Result<std_unix::UnixListener> {
        Ok(self.io.into_inner())
    }

    /// Waits for and accepts a connection, registered with the calling worker's poller.
    ///
    /// # Errors
    /// Whatever `accept(2)` reports. Out of file descriptors (`EMFILE`, `ENFILE`) or memory
    /// (`ENOBUFS`, `ENOMEM`), every call fails at once until something closes: an accept
    /// loop must pause briefly (10–100 ms) after such an error instead of retrying at once,
    /// or it burns a whole CPU. See [`TcpListener::accept`](super::TcpListener::accept) for
    /// a loop that does.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-doc-acc-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let l = kiln_runtime::net::UnixListener::bind(&path).unwrap();
    ///     let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    ///     let (_s, _addr) = l.accept().await.unwrap();
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection (the poll form of [`UnixListener::accept`]).
    ///
    /// # Errors
    /// Whatever `accept(2)` reports.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-doc-pacc-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let l = kiln_runtime::net::UnixListener::bind(&path).unwrap();
    ///     let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    ///     let (_s, _) = std::future::poll_fn(|cx| l.poll_accept(cx)).await.unwrap();
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (stream, addr) = std::task::ready!(self.io.poll_read_io(cx, |l| l.accept()))?;
        Poll::Ready(UnixStream::from_std(stream).map(|s| (s, addr)))
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    /// If `getsockname(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-doc-la-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let l = kiln_runtime::net::UnixListener::bind(&path).unwrap();
    ///     assert_eq!(l.local_addr().unwrap().as_pathname(), Some(path.as_path()));
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("io", &self.io)
            .finish()
    }
}

/// A Unix-domain stream connection, with the futures-io traits like
/// [`TcpStream`](super::TcpStream).
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// kiln_runtime::run(async {
///     let (mut a, mut b) = kiln_runtime::net::UnixStream::pair().unwrap();
///     a.write_all(b"pair").await.unwrap();
///     let mut buf = [0u8; 4];
///     b.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"pair");
/// });
/// ```
pub struct UnixStream {
    io: Evented<std_unix::UnixStream>,
}

impl UnixStream {
    /// Reads into `buf` once readable (the body of `AsyncRead::poll_read`).
    fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_read_io(cx, |mut s| io::Read::read(&mut s, buf))
    }

    /// Reads into `bufs` once readable (the body of `AsyncRead::poll_read_vectored`).
    fn poll_read_bufs(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [io::IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_read_io(cx, |mut s| io::Read::read_vectored(&mut s, bufs))
    }

    /// Connects to the socket at `path`.
    ///
    /// # Errors
    /// [`io::ErrorKind::NotFound`] if no socket file exists,
    /// [`io::ErrorKind::ConnectionRefused`] if nothing listens on it, or any other error.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let err = kiln_runtime::net::UnixStream::connect("/nonexistent/kiln.sock").await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// });
    /// ```
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        nonblocking_connect(&socket, &SockAddr::unix(path)?)?;
        let std: std_unix::UnixStream = socket.into();
        let stream = UnixStream {
            io: Evented::new(std, "kiln::net::UnixStream")?,
        };
        poll_fn(|cx| {
            stream
                .io
                .poll_write_io(cx, |s| super::connect_result(s.take_error(), s.peer_addr()))
        })
        .await?;
        Ok(stream)
    }

    /// A connected pair of anonymous sockets.
    ///
    /// # Errors
    /// If `socketpair(2)` fails or the sockets cannot be registered.
    ///
    /// # Panics
    /// Outside a kiln runtime.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     assert!(a.peer_addr().unwrap().is_unnamed());
    /// });
    /// ```
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std_unix::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
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
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let _a = kiln_runtime::net::UnixStream::from_std(a).unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn from_std(stream: std_unix::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream {
            io: Evented::new(stream, "kiln::net::UnixStream")?,
        })
    }

    /// Deregisters the stream and returns the std socket (still in non-blocking mode).
    ///
    /// # Errors
    /// Never today; the `Result` leaves room for platforms that need a fallible step.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     assert!(a.into_std().is_ok());
    /// });
    /// ```
    pub fn into_std(self) -> io::Result<std_unix::UnixStream> {
        Ok(self.io.into_inner())
    }

    /// The local address.
    ///
    /// # Errors
    /// If `getsockname(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     assert!(a.local_addr().unwrap().is_unnamed());
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    ///
    /// # Errors
    /// If `getpeername(2)` fails.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     assert!(a.peer_addr().unwrap().as_pathname().is_none());
    /// });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half, or both (`shutdown(2)`).
    ///
    /// # Errors
    /// [`io::ErrorKind::NotConnected`] if the connection is gone.
    ///
    /// ```
    /// use futures::AsyncReadExt;
    /// kiln_runtime::run(async {
    ///     let (a, mut b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     a.shutdown(std::net::Shutdown::Write).unwrap();
    ///     assert_eq!(b.read(&mut [0u8; 4]).await.unwrap(), 0);
    /// });
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Waits until the stream is (probably) readable (or its runtime has shut down).
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     drop(b);
    ///     a.readable().await; // EOF counts as readable
    /// });
    /// ```
    pub async fn readable(&self) {
        poll_fn(|cx| self.io.poll_ready(cx, READABLE)).await
    }

    /// Waits until the stream is (probably) writable (or its runtime has shut down).
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     a.writable().await;
    /// });
    /// ```
    pub async fn writable(&self) {
        poll_fn(|cx| self.io.poll_ready(cx, WRITABLE)).await
    }

    /// Borrows the stream as a read half and a write half.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (mut a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     let (_r, _w) = a.split();
    /// });
    /// ```
    pub fn split(&mut self) -> (ReadHalf<'_, UnixStream>, WriteHalf<'_, UnixStream>) {
        split(self)
    }

    /// Splits the stream into owned halves that can move to different tasks.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     let (r, w) = a.into_split();
    ///     let _a = r.reunite(w).unwrap();
    /// });
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf<UnixStream>, OwnedWriteHalf<UnixStream>) {
        split_owned(self)
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream").field("io", &self.io).finish()
    }
}

super::forward_io_traits!(UnixStream);
