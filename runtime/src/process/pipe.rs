//! The parent's ends of a child's standard streams: non-blocking pipes registered with the
//! event loop of the worker that spawned the child, read and written with the readiness
//! protocol of `crate::io` (no thread per pipe).
//!
//! Readiness is cleared only on `WouldBlock`, never after a short read or write: a short
//! read emptied the pipe, but the writer may have closed it in the same event (that end of
//! stream must still be read), and a short write need not have filled the pipe (the reader
//! may have drained it meanwhile, and the kernel then sends no new writable event).

use crate::net::evented::Evented;
use futures_io::{AsyncRead, AsyncWrite};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

/// One registered pipe end.
struct Pipe {
    io: Evented<File>,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        crate::sys::set_nonblocking(fd.as_fd())?;
        Ok(Pipe {
            io: Evented::new(File::from(fd), "kiln::process::Command::spawn")?,
        })
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.io.poll_read_io(cx, |mut f| f.read(buf))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.io.poll_write_io(cx, |mut f| f.write(buf))
    }
}

macro_rules! pipe_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name {
            pipe: Pipe,
        }

        impl $name {
            pub(crate) fn from_std(fd: impl Into<OwnedFd>) -> io::Result<$name> {
                Ok($name {
                    pipe: Pipe::new(fd.into())?,
                })
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.pipe.io.get_ref().as_fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.as_fd())
                    .finish()
            }
        }
    };
}

pipe_type! {
    /// The writing end of a child's standard input (`Stdio::piped()`): futures-io
    /// [`AsyncWrite`]. Drop it to close the child's input.
    ///
    /// ```
    /// use futures::io::{AsyncReadExt, AsyncWriteExt};
    /// use std::process::Stdio;
    /// kiln::run(async {
    ///     let mut child = kiln::process::Command::new("cat")
    ///         .stdin(Stdio::piped())
    ///         .stdout(Stdio::piped())
    ///         .spawn()
    ///         .unwrap();
    ///     let mut stdin = child.stdin.take().unwrap();
    ///     stdin.write_all(b"hello").await.unwrap();
    ///     drop(stdin);
    ///     let mut out = String::new();
    ///     child.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
    ///     assert_eq!(out, "hello");
    ///     assert!(child.wait().await.unwrap().success());
    /// });
    /// ```
    ChildStdin
}

pipe_type! {
    /// The reading end of a child's standard output (`Stdio::piped()`): futures-io
    /// [`AsyncRead`].
    ///
    /// ```
    /// use futures::io::AsyncReadExt;
    /// use std::process::Stdio;
    /// kiln::run(async {
    ///     let mut child = kiln::process::Command::new("echo")
    ///         .arg("hi")
    ///         .stdout(Stdio::piped())
    ///         .spawn()
    ///         .unwrap();
    ///     let mut out = String::new();
    ///     child.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
    ///     assert_eq!(out, "hi\n");
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    ChildStdout
}

pipe_type! {
    /// The reading end of a child's standard error (`Stdio::piped()`): futures-io
    /// [`AsyncRead`].
    ///
    /// ```
    /// use futures::io::AsyncReadExt;
    /// use std::process::Stdio;
    /// kiln::run(async {
    ///     let mut child = kiln::process::Command::new("sh")
    ///         .args(["-c", "echo oops >&2"])
    ///         .stderr(Stdio::piped())
    ///         .spawn()
    ///         .unwrap();
    ///     let mut err = String::new();
    ///     child.stderr.take().unwrap().read_to_string(&mut err).await.unwrap();
    ///     assert_eq!(err, "oops\n");
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    ChildStderr
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the pipe: nothing is buffered here.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The pipe closes when the handle is dropped.
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ChildStdout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_read(cx, buf)
    }
}

impl AsyncRead for ChildStderr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.pipe.poll_read(cx, buf)
    }
}

/// Reads `r` to its end (for `wait_with_output`).
pub(crate) async fn read_to_end(r: Option<impl AsyncRead + Unpin>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let Some(mut r) = r else { return Ok(out) };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = std::future::poll_fn(|cx| Pin::new(&mut r).poll_read(cx, &mut buf)).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}
