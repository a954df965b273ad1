//! hyper 1.x on kiln (feature `hyper`): kiln's [`TcpStream`] implements hyper's
//! `rt::Read`/`rt::Write` itself, [`HyperIo`] adapts any other futures-io stream (a Unix
//! stream, a TLS stream), [`HyperExecutor`] spawns hyper's background tasks on kiln, and
//! [`HyperTimer`] gives hyper kiln's timer wheel.
//!
//! A [`TcpStream`] reads straight into the uninitialised spare capacity of hyper's read
//! buffer (one `recv(2)`); a stream behind [`HyperIo`] must be handed initialised bytes, which
//! costs zeroing them first (see there). Serve a kiln TCP connection without the adapter.
//!
//! ```
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//! use hyper::{Request, Response};
//! use kiln_runtime::net::hyper::{HyperExecutor, HyperIo, HyperTimer};
//! use kiln_runtime::net::{TcpListener, TcpStream};
//!
//! kiln_runtime::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     kiln_runtime::spawn(async move {
//!         let (conn, _) = listener.accept().await.unwrap();
//!         let service = hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
//!             Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!         });
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(HyperTimer)
//!             .serve_connection(conn, service)
//!             .await
//!             .unwrap();
//!     });
//!     let stream = TcpStream::connect(addr).await.unwrap();
//!     // Any futures-io stream works through `HyperIo` (here the same kind of stream).
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
//!         .await
//!         .unwrap();
//!     kiln_runtime::spawn(conn);
//!     let req = Request::get("/").body(Full::new(Bytes::new())).unwrap();
//!     let resp = sender.send_request(req).await.unwrap();
//!     assert_eq!(resp.status(), 200);
//!     let _executor = HyperExecutor; // for hyper's HTTP/2 builders
//! });
//! ```

use super::TcpStream;
use futures_io::{AsyncRead, AsyncWrite};
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

/// A kiln stream (anything with futures-io `AsyncRead + AsyncWrite`) seen through hyper's
/// `rt::Read` and `rt::Write`.
///
/// ```
/// kiln_runtime::run(async {
///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
///     let io = kiln_runtime::net::hyper::HyperIo::new(a);
///     let _a: kiln_runtime::net::UnixStream = io.into_inner();
/// });
/// ```
///
/// kiln's [`TcpStream`] needs no adapter: it implements hyper's traits itself and reads into
/// hyper's buffer without zeroing it.
///
/// Reads: hyper hands over uninitialised buffer space, and futures-io reads need initialised
/// bytes, so the part offered to a read is zeroed first. Zeroing all of hyper's spare capacity
/// (8 KiB or more) for every 100-byte request would cost more than the read; so each read is
/// offered an adaptive window instead: it starts at 512 bytes, doubles (up to 256 KiB) after
/// a read that filled it, and halves (down to 512 bytes) after one that used under a quarter
/// of it. Bytes of hyper's buffer zeroed once stay initialised and are not zeroed again.
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
    /// How many bytes the next read is offered.
    window: usize,
}

/// The smallest read window of [`HyperIo`].
const READ_WINDOW_MIN: usize = 512;
/// The largest read window of [`HyperIo`].
const READ_WINDOW_MAX: usize = 256 * 1024;

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     let _io = kiln_runtime::net::hyper::HyperIo::new(a);
    /// });
    /// ```
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo {
            inner,
            window: READ_WINDOW_MIN,
        }
    }

    /// The wrapped stream.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     let io = kiln_runtime::net::hyper::HyperIo::new(a);
    ///     assert!(io.get_ref().peer_addr().is_ok());
    /// });
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     let mut io = kiln_runtime::net::hyper::HyperIo::new(a);
    ///     let _s: &mut kiln_runtime::net::UnixStream = io.get_mut();
    /// });
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     let _a = kiln_runtime::net::hyper::HyperIo::new(a).into_inner();
    /// });
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let offered = self.window.min(buf.remaining());
        let n = {
            // Zeroes only the part of the window not initialised before.
            let dst = buf.initialize_unfilled_to(offered);
            ready!(Pin::new(&mut self.inner).poll_read(cx, dst))?
        };
        if n == offered {
            self.window = (self.window * 2).min(READ_WINDOW_MAX);
        } else if n < offered / 4 {
            self.window = (self.window / 2).max(READ_WINDOW_MIN);
        }
        // SAFETY: the first `n` unfilled bytes were initialised by `initialize_unfilled_to` and
        // then written by the read, which returned `n` no larger than the slice it was given.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}

/// hyper's `rt::Read` on a kiln TCP stream: one `recv(2)` (`recvmsg(2)` while reads fill
/// their buffers, see `TcpStream`'s reads) into the spare capacity hyper offers,
/// uninitialised (no zeroing), following the stream's readiness protocol.
///
/// ```
/// use http_body_util::Full;
/// use hyper::body::Bytes;
/// use kiln_runtime::net::{TcpListener, TcpStream};
///
/// kiln_runtime::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     kiln_runtime::spawn(async move {
///         let (conn, _) = listener.accept().await.unwrap();
///         let service = hyper::service::service_fn(|_req| async {
///             Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
///         });
///         hyper::server::conn::http1::Builder::new()
///             .serve_connection(conn, service)
///             .await
///             .unwrap();
///     });
///     let stream = TcpStream::connect(addr).await.unwrap();
///     let (mut sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
///     kiln_runtime::spawn(conn);
///     let req = hyper::Request::get("/").body(Full::new(Bytes::new())).unwrap();
///     assert_eq!(sender.send_request(req).await.unwrap().status(), 200);
/// });
/// ```
impl hyper::rt::Read for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: the slice is only handed to `recv(2)`, which writes initialised bytes into
        // it and never de-initialises any.
        let dst = unsafe { buf.as_mut() };
        let n = ready!(self.poll_read_uninit(cx, dst))?;
        // SAFETY: the read returned `n`, the number of bytes `recv(2)` wrote (and so
        // initialised) at the start of the unfilled part; `n` is at most its length.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

/// hyper's `rt::Write` on a kiln TCP stream: futures-io's writes (vectored: one `writev(2)`
/// for hyper's head and body); shutdown closes the write half.
impl hyper::rt::Write for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the kernel: nothing is buffered here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(super::closed(self.shutdown(Shutdown::Write)))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write_vectored(cx, bufs)
    }
}

/// hyper's `rt::Executor` on kiln: spawns onto the current runtime.
///
/// # Panics
/// `execute` panics outside a kiln runtime (like [`crate::spawn`]).
///
/// ```
/// use hyper::rt::Executor;
/// kiln_runtime::run(async {
///     let (tx, rx) = futures::channel::oneshot::channel();
///     kiln_runtime::net::hyper::HyperExecutor.execute(async move { tx.send(5).unwrap() });
///     assert_eq!(rx.await.unwrap(), 5);
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperExecutor;

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        // Detached: hyper does not join its background tasks.
        drop(crate::spawn(fut));
    }
}

/// hyper's `rt::Timer` on kiln's timer wheel (header-read timeouts, keep-alive).
///
/// ```
/// use hyper::rt::Timer;
/// kiln_runtime::run(async {
///     let start = std::time::Instant::now();
///     kiln_runtime::net::hyper::HyperTimer.sleep(std::time::Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= std::time::Duration::from_millis(5));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

pin_project_lite::pin_project! {
    /// A kiln sleep as hyper's `rt::Sleep`.
    struct HyperSleep {
        #[pin]
        sleep: kiln_timer::Sleep,
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.project().sleep.poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep {
            sleep: kiln_timer::sleep(duration),
        })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep {
            sleep: kiln_timer::sleep_until(deadline),
        })
    }
}
