//! Read and write halves of a stream ([`super::TcpStream`], [`super::UnixStream`]).
//!
//! A stream's readiness keeps one waker per direction, so one task may read while another
//! writes. The borrowed halves wrap `&S`; the owned halves share the stream through an `Arc`
//! and can be [reunited](OwnedReadHalf::reunite). Closing a write half shuts the stream's write
//! direction down (the peer reads EOF); dropping it does not.

use futures_io::{AsyncRead, AsyncWrite};
use std::error::Error;
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The read half of a borrowed stream, from `split`.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// kiln_runtime::run(async {
///     let (mut a, mut b) = kiln_runtime::net::UnixStream::pair().unwrap();
///     let (mut r, _w) = a.split();
///     b.write_all(b"z").await.unwrap();
///     let mut buf = [0u8; 1];
///     r.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"z");
/// });
/// ```
#[derive(Debug)]
pub struct ReadHalf<'a, S>(&'a S);

/// The write half of a borrowed stream, from `split`.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// kiln_runtime::run(async {
///     let (mut a, mut b) = kiln_runtime::net::UnixStream::pair().unwrap();
///     let (_r, mut w) = a.split();
///     w.write_all(b"z").await.unwrap();
///     let mut buf = [0u8; 1];
///     b.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"z");
/// });
/// ```
#[derive(Debug)]
pub struct WriteHalf<'a, S>(&'a S);

/// The owned read half of a stream, from `into_split`.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// kiln_runtime::run(async {
///     let (a, mut b) = kiln_runtime::net::UnixStream::pair().unwrap();
///     let (mut r, _w) = a.into_split();
///     let reader = kiln_runtime::spawn(async move {
///         let mut s = String::new();
///         r.read_to_string(&mut s).await.unwrap();
///         s
///     });
///     b.write_all(b"owned").await.unwrap();
///     drop(b);
///     assert_eq!(reader.await.unwrap(), "owned");
/// });
/// ```
#[derive(Debug)]
pub struct OwnedReadHalf<S>(Arc<S>);

/// The owned write half of a stream, from `into_split`.
///
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// kiln_runtime::run(async {
///     let (a, mut b) = kiln_runtime::net::UnixStream::pair().unwrap();
///     let (_r, mut w) = a.into_split();
///     kiln_runtime::spawn(async move {
///         w.write_all(b"bye").await.unwrap();
///         w.close().await.unwrap();
///     });
///     let mut s = String::new();
///     b.read_to_string(&mut s).await.unwrap();
///     assert_eq!(s, "bye");
/// });
/// ```
#[derive(Debug)]
pub struct OwnedWriteHalf<S>(Arc<S>);

/// [`OwnedReadHalf::reunite`] was given halves of two different streams; both come back.
///
/// ```
/// kiln_runtime::run(async {
///     let (a, b) = kiln_runtime::net::UnixStream::pair().unwrap();
///     let (ra, _wa) = a.into_split();
///     let (_rb, wb) = b.into_split();
///     let err = ra.reunite(wb).unwrap_err();
///     let (_ra, _wb) = (err.0, err.1);
/// });
/// ```
pub struct ReuniteError<S>(pub OwnedReadHalf<S>, pub OwnedWriteHalf<S>);

pub(crate) fn split<S>(stream: &mut S) -> (ReadHalf<'_, S>, WriteHalf<'_, S>) {
    (ReadHalf(stream), WriteHalf(stream))
}

pub(crate) fn split_owned<S>(stream: S) -> (OwnedReadHalf<S>, OwnedWriteHalf<S>) {
    let s = Arc::new(stream);
    (OwnedReadHalf(s.clone()), OwnedWriteHalf(s))
}

impl<S> OwnedReadHalf<S> {
    /// Puts the halves of one stream back together.
    ///
    /// # Errors
    /// If the halves come from different streams; both are handed back.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     let (r, w) = a.into_split();
    ///     let _a: kiln_runtime::net::UnixStream = r.reunite(w).unwrap();
    /// });
    /// ```
    pub fn reunite(self, other: OwnedWriteHalf<S>) -> Result<S, ReuniteError<S>> {
        if !Arc::ptr_eq(&self.0, &other.0) {
            return Err(ReuniteError(self, other));
        }
        drop(other);
        match Arc::try_unwrap(self.0) {
            Ok(s) => Ok(s),
            Err(_) => unreachable!("kiln: a stream's halves are its only owners"),
        }
    }
}

impl<S> OwnedWriteHalf<S> {
    /// Puts the halves of one stream back together (see [`OwnedReadHalf::reunite`]).
    ///
    /// # Errors
    /// If the halves come from different streams; both are handed back.
    ///
    /// ```
    /// kiln_runtime::run(async {
    ///     let (a, _b) = kiln_runtime::net::UnixStream::pair().unwrap();
    ///     let (r, w) = a.into_split();
    ///     let _a = w.reunite(r).unwrap();
    /// });
    /// ```
    pub fn reunite(self, other: OwnedReadHalf<S>) -> Result<S, ReuniteError<S>> {
        other.reunite(self)
    }
}

impl<S> AsRef<S> for ReadHalf<'_, S> {
    fn as_ref(&self) -> &S {
        self.0
    }
}

impl<S> AsRef<S> for WriteHalf<'_, S> {
    fn as_ref(&self) -> &S {
        self.0
    }
}

impl<S> AsRef<S> for OwnedReadHalf<S> {
    fn as_ref(&self) -> &S {
        &self.0
    }
}

impl<S> AsRef<S> for OwnedWriteHalf<S> {
    fn as_ref(&self) -> &S {
        &self.0
    }
}

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("kiln: tried to reunite halves of two different streams")
    }
}

impl<S> Error for ReuniteError<S> {}

macro_rules! read_impl {
    ($ty:ty, $($g:tt)*) => {
        impl<$($g)*> AsyncRead for $ty
        where
            for<'s> &'s S: AsyncRead,
        {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let mut s: &S = &self.0;
                Pin::new(&mut s).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                let mut s: &S = &self.0;
                Pin::new(&mut s).poll_read_vectored(cx, bufs)
            }
        }
    };
}

macro_rules! write_impl {
    ($ty:ty, $($g:tt)*) => {
        impl<$($g)*> AsyncWrite for $ty
        where
            for<'s> &'s S: AsyncWrite,
        {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let mut s: &S = &self.0;
                Pin::new(&mut s).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let mut s: &S = &self.0;
                Pin::new(&mut s).poll_write_vectored(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let mut s: &S = &self.0;
                Pin::new(&mut s).poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let mut s: &S = &self.0;
                Pin::new(&mut s).poll_close(cx)
            }
        }
    };
}

read_impl!(ReadHalf<'_, S>, S);
read_impl!(OwnedReadHalf<S>, S);
write_impl!(WriteHalf<'_, S>, S);
write_impl!(OwnedWriteHalf<S>, S);
