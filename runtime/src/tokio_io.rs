//! tokio's I/O traits on kiln's streams and files (feature `tokio-io`).
//!
//! With this feature, [`TcpStream`](crate::net::TcpStream),
//! [`UnixStream`](crate::net::UnixStream), their [borrowed](crate::net::ReadHalf) and
//! [owned](crate::net::OwnedReadHalf) halves, [`fs::File`](crate::fs::File) and, on Unix, a
//! child process's pipes ([`ChildStdin`](crate::process::ChildStdin) writes,
//! [`ChildStdout`](crate::process::ChildStdout) and [`ChildStderr`](crate::process::ChildStderr)
//! read) implement `tokio::io::AsyncRead` and `tokio::io::AsyncWrite` next to their futures-io
//! traits, so crates
//! that are generic over tokio's traits (tokio-postgres, tokio-rustls, tokio-util codecs, ...)
//! run on kiln's own sockets. Only tokio's trait definitions are used: the dependency enables
//! no tokio feature, and nothing here needs a tokio runtime.
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! kiln_runtime::run(async {
//!     let (mut a, mut b) = kiln_runtime::net::UnixStream::pair().unwrap();
//!     // Both traits are in scope: name tokio's explicitly.
//!     AsyncWriteExt::write_all(&mut a, b"through tokio's traits").await.unwrap();
//!     AsyncWriteExt::shutdown(&mut a).await.unwrap();
//!     let mut got = String::new();
//!     AsyncReadExt::read_to_string(&mut b, &mut got).await.unwrap();
//!     assert_eq!(got, "through tokio's traits");
//! });
//! ```
//!
//! # Protocol
//!
//! Every impl forwards to the type's futures-io impl, so readiness, the cooperative budget,
//! half-close and the file's one-job-in-flight state machine behave exactly as documented
//! there. Two differences in the traits' shapes are bridged here:
//!
//! - **Reads.** tokio hands over a `ReadBuf` whose spare capacity may be uninitialised, and a
//!   futures-io read takes an initialised `&mut [u8]`. A [`TcpStream`](crate::net::TcpStream)
//!   (or `&TcpStream`) reads straight into the unfilled part, initialised or not, with one
//!   `recv(2)` and no zeroing, as it does for hyper. Every other type's read is offered a part
//!   zeroed first through `ReadBuf::initialize_unfilled_to` (safe code; bytes already
//!   initialised are not zeroed again), capped at [`READ_CHUNK`] bytes so a caller with a huge
//!   spare capacity does not pay for zeroing memory one read cannot fill.
//! - **Shutdown.** tokio's `poll_shutdown` is futures-io's `poll_close`: on a stream it shuts
//!   the write direction down (the peer reads end-of-stream); on a file it waits for the
//!   written bytes to land; on a child's stdin it does nothing, as tokio's own `ChildStdin`
//!   does: the child reads end-of-file once the handle is dropped.
//!
//! Write-vectored support is reported for sockets (one `writev` per call) and not for files
//! (a file copies one buffer per pool job) or a child's stdin (one `write` per call).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::ReadBuf;

/// The most bytes of a `ReadBuf` one read is offered (and, at worst, zeroes).
pub const READ_CHUNK: usize = 64 * 1024;

/// A futures-io read into the unfilled part of a tokio `ReadBuf`.
fn poll_read_into<T>(
    io: Pin<&mut T>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>>
where
    T: futures_io::AsyncRead + ?Sized,
{
    let offered = buf.remaining().min(READ_CHUNK);
    let n = ready!(io.poll_read(cx, buf.initialize_unfilled_to(offered)))?;
    // A reader that claims more than it was given breaks the futures-io contract; `advance`
    // would panic on it, so say which side is wrong instead.
    assert!(
        n <= offered,
        "kiln: a futures-io read returned {n} bytes for a {offered}-byte buffer"
    );
    buf.advance(n);
    Poll::Ready(Ok(()))
}

/// A read of a kiln TCP stream into the unfilled part of a tokio `ReadBuf`, uninitialised
/// memory included: one `recv(2)`, no zeroing.
#[cfg(unix)]
fn poll_read_tcp<T: std::borrow::Borrow<crate::net::TcpStream>>(
    s: Pin<&mut T>,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    let s: &crate::net::TcpStream = (*s).borrow();
    // SAFETY: the slice is the unfilled part of `buf`, perhaps uninitialised. The read below
    // writes only initialised bytes into it (the kernel copies received bytes) and never
    // de-initialises any, which is what `unfilled_mut` asks of its caller.
    let unfilled = unsafe { buf.unfilled_mut() };
    let n = ready!(s.poll_read_uninit(cx, unfilled))?;
    // SAFETY: the read initialised the first `n` bytes of the unfilled part (its contract),
    // and `n` is at most that part's length.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Poll::Ready(Ok(()))
}

/// Implements tokio's `AsyncRead` on a type through `$read` ([`poll_read_into`], its
/// futures-io `AsyncRead`, unless named).
macro_rules! tokio_read {
    ($([$($g:tt)*] $ty:ty),* $(,)?) => {
        tokio_read!(poll_read_into; $([$($g)*] $ty),*);
    };
    ($read:path; $([$($g:tt)*] $ty:ty),* $(,)?) => {$(
        impl<$($g)*> tokio::io::AsyncRead for $ty
        where
            $ty: futures_io::AsyncRead + Unpin,
        {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                $read(self, cx, buf)
            }
        }
    )*};
}

/// Implements tokio's `AsyncWrite` on a type through its futures-io `AsyncWrite`;
/// `$vectored` says whether its vectored writes are real (one syscall for all slices).
macro_rules! tokio_write {
    ($vectored:expr; $([$($g:tt)*] $ty:ty),* $(,)?) => {$(
        impl<$($g)*> tokio::io::AsyncWrite for $ty
        where
            $ty: futures_io::AsyncWrite + Unpin,
        {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                futures_io::AsyncWrite::poll_write(self, cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                futures_io::AsyncWrite::poll_write_vectored(self, cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                $vectored
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                futures_io::AsyncWrite::poll_flush(self, cx)
            }

            fn poll_shutdown(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<io::Result<()>> {
                futures_io::AsyncWrite::poll_close(self, cx)
            }
        }
    )*};
}

#[cfg(unix)]
mod net {
    use super::*;
    use crate::net::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpStream, UnixStream, WriteHalf};

    tokio_read!(poll_read_tcp; [] TcpStream, ['a] &'a TcpStream);
    tokio_read!(
        [] UnixStream,
        ['a] &'a UnixStream,
        ['a, S] ReadHalf<'a, S>,
        [S] OwnedReadHalf<S>,
    );
    tokio_write!(
        true;
        [] TcpStream,
        ['a] &'a TcpStream,
        [] UnixStream,
        ['a] &'a UnixStream,
        ['a, S] WriteHalf<'a, S>,
        [S] OwnedWriteHalf<S>,
    );
}

tokio_read!([] crate::fs::File);
tokio_write!(false; [] crate::fs::File);

#[cfg(unix)]
mod process {
    use super::*;
    use crate::process::{ChildStderr, ChildStdin, ChildStdout};

    tokio_read!([] ChildStdout, [] ChildStderr);
    tokio_write!(false; [] ChildStdin);
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::net::UnixStream;
    use std::mem::MaybeUninit;

    /// A reader that claims to have read more bytes than it was offered.
    struct Liar;

    impl futures_io::AsyncRead for Liar {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len() + 1))
        }
    }

    #[test]
    #[should_panic(expected = "returned 9 bytes for a 8-byte buffer")]
    fn a_reader_overrunning_its_buffer_is_named() {
        let mut storage = [MaybeUninit::<u8>::uninit(); 8];
        let mut buf = ReadBuf::uninit(&mut storage);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let _ = poll_read_into(Pin::new(&mut Liar), &mut cx, &mut buf);
    }

    #[test]
    fn reads_fill_uninitialised_space_and_stop_at_the_chunk() {
        crate::run(async {
            let (a, b) = UnixStream::pair().unwrap();
            let data: Vec<u8> = (0..READ_CHUNK + 100).map(|i| i as u8).collect();
            let writer = crate::spawn({
                let data = data.clone();
                async move {
                    let mut a = a;
                    futures_util::AsyncWriteExt::write_all(&mut a, &data)
                        .await
                        .unwrap();
                }
            });
            let mut storage = vec![MaybeUninit::<u8>::uninit(); 2 * READ_CHUNK];
            let mut got = Vec::new();
            let mut b = b;
            while got.len() < data.len() {
                let mut buf = ReadBuf::uninit(&mut storage);
                std::future::poll_fn(|cx| {
                    tokio::io::AsyncRead::poll_read(Pin::new(&mut b), cx, &mut buf)
                })
                .await
                .unwrap();
                assert!(buf.filled().len() <= READ_CHUNK);
                assert!(!buf.filled().is_empty(), "unexpected end of stream");
                got.extend_from_slice(buf.filled());
            }
            assert_eq!(got, data);
            writer.await.unwrap();
        });
    }

    #[test]
    fn tcp_reads_initialise_only_what_they_read() {
        crate::run(async {
            let l = crate::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut a = crate::net::TcpStream::connect(l.local_addr().unwrap())
                .await
                .unwrap();
            let (b, _) = l.accept().await.unwrap();
            futures_util::AsyncWriteExt::write_all(&mut a, b"hello")
                .await
                .unwrap();
            futures_util::AsyncWriteExt::close(&mut a).await.unwrap();
            let mut storage = vec![MaybeUninit::<u8>::uninit(); 4096];
            let mut got = Vec::new();
            // Through `&TcpStream` first, then the stream itself: both read the same way.
            let mut by_ref = &b;
            let mut buf = ReadBuf::uninit(&mut storage);
            std::future::poll_fn(|cx| {
                tokio::io::AsyncRead::poll_read(Pin::new(&mut by_ref), cx, &mut buf)
            })
            .await
            .unwrap();
            let n = buf.filled().len();
            assert!(n > 0, "unexpected end of stream");
            assert_eq!(
                buf.initialized().len(),
                n,
                "nothing past the bytes read is written (no zeroing)"
            );
            got.extend_from_slice(buf.filled());
            let mut b = b;
            loop {
                let mut buf = ReadBuf::uninit(&mut storage);
                std::future::poll_fn(|cx| {
                    tokio::io::AsyncRead::poll_read(Pin::new(&mut b), cx, &mut buf)
                })
                .await
                .unwrap();
                assert_eq!(buf.initialized().len(), buf.filled().len());
                if buf.filled().is_empty() {
                    break;
                }
                got.extend_from_slice(buf.filled());
            }
            assert_eq!(got, b"hello", "then end of stream");
        });
    }
}
