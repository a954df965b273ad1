//! [`File`]: a `std::fs::File` driven through the blocking pool with one operation in flight.
//!
//! # State machine
//!
//! - `Idle(buf)`: no pool job is running; `buf` may hold bytes read ahead of the caller.
//! - `Busy(handle)`: one pool job owns the buffer and performs a read, a write or a seek on a
//!   shared `Arc<std::fs::File>`; it hands the buffer back with an [`Op`] result.
//!
//! Every poll method first drives a `Busy` state back to `Idle`, then starts its own job.
//!
//! # Invariants
//!
//! 1. At most one job touches the OS file cursor at a time, so operations happen in the order
//!    they were issued.
//! 2. Read-ahead: after a read job, `buf.remaining()` bytes sit between the caller's logical
//!    position and the OS cursor. A write, a `SeekFrom::Current` seek or `set_len` first
//!    discards them and moves the cursor back by that amount, so the caller never sees the
//!    read-ahead.
//! 3. Write-behind: `poll_write` copies up to `MAX_BUF` bytes and returns `Ready(n)` while the
//!    job runs. The job's error, if any, is returned by the next operation that completes it
//!    (`poll_flush`, a write, read, seek, `sync_all`, ...), so `flush` after the last write is
//!    how a caller learns every write landed.
//! 4. A seek job remembers the `SeekFrom` it was started for; a `poll_seek` with a different
//!    target (the previous seek's future was dropped) discards that result and seeks again.

use super::{asyncify, join_error};
use crate::JoinHandle;
use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// The most bytes one pool job reads or writes.
const MAX_BUF: usize = 2 * 1024 * 1024;

/// A result from a pool job on the file.
enum Op {
    Read(io::Result<usize>),
    Write(io::Result<()>),
    /// The target a `poll_seek` asked for (`None`: the read-ahead correction of `settle`).
    Seek(Option<SeekFrom>, io::Result<u64>),
}

enum State {
    Idle(Option<Buf>),
    Busy(JoinHandle<(Op, Buf)>),
}

/// Bytes in transit between the caller and the OS: read-ahead or write-behind.
#[derive(Default)]
struct Buf {
    data: Vec<u8>,
    pos: usize,
}

impl Buf {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn copy_to(&mut self, dst: &mut [u8]) -> usize {
        let n = self.remaining().min(dst.len());
        dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    fn copy_from(&mut self, src: &[u8]) -> usize {
        let n = src.len().min(MAX_BUF);
        self.data.clear();
        self.pos = 0;
        self.data.extend_from_slice(&src[..n]);
        n
    }

    fn clear(&mut self) {
        self.data.clear();
        self.pos = 0;
    }

    /// Runs on the pool.
    fn read_from(&mut self, mut file: &std::fs::File, max: usize) -> io::Result<usize> {
        self.data.clear();
        self.pos = 0;
        self.data.resize(max, 0);
        let res = loop {
            match file.read(&mut self.data) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                res => break res,
            }
        };
        self.data.truncate(*res.as_ref().unwrap_or(&0));
        res
    }

    /// Runs on the pool.
    fn write_to(&mut self, mut file: &std::fs::File) -> io::Result<()> {
        let res = file.write_all(&self.data[self.pos..]);
        self.clear();
        res
    }

    /// Discards read-ahead; the signed cursor correction it calls for (invariant 2).
    fn take_read_ahead(&mut self) -> i64 {
        let back = self.remaining() as i64;
        self.clear();
        -back
    }
}

/// An open file, read and written through the runtime's blocking pool.
///
/// Implements [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`] from `futures-io`, so the
/// `futures` extension traits (`read_to_end`, `write_all`, `seek`, ...) work on it. Writes are
/// buffered: call `flush` (or [`sync_all`](Self::sync_all)) to make sure they reached the OS and
/// to see their errors. Dropping a `File` with a write in flight lets that write finish in the
/// background.
///
/// # Examples
///
/// ```
/// use futures::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use std::io::SeekFrom;
///
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let path = std::env::temp_dir().join(format!("kiln-fs-file-{}", std::process::id()));
///     let mut file = kiln_runtime::fs::File::create(&path).await?;
///     file.write_all(b"hello, world").await?;
///     file.flush().await?;
///
///     let mut file = kiln_runtime::fs::File::open(&path).await?;
///     file.seek(SeekFrom::Start(7)).await?;
///     let mut rest = String::new();
///     file.read_to_string(&mut rest).await?;
///     assert_eq!(rest, "world");
///     kiln_runtime::fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
pub struct File {
    std: Arc<std::fs::File>,
    state: State,
}

impl File {
    /// Opens a file for reading (as [`std::fs::File::open`]).
    ///
    /// # Errors
    ///
    /// `NotFound` if it does not exist, and so on as [`std::fs::File::open`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let missing = std::env::temp_dir().join("kiln-fs-no-such-file");
    ///     let err = kiln_runtime::fs::File::open(&missing).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// });
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let std = asyncify(move || std::fs::File::open(path)).await?;
        Ok(File::from_std(std))
    }

    /// Creates a file for writing, truncating it if it exists (as
    /// [`std::fs::File::create`]).
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::create`], e.g. when the parent directory is missing.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncWriteExt;
    ///
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-fs-create-{}", std::process::id()));
    ///     let mut file = kiln_runtime::fs::File::create(&path).await?;
    ///     file.write_all(b"new").await?;
    ///     file.close().await?;
    ///     assert_eq!(kiln_runtime::fs::read(&path).await?, b"new");
    ///     kiln_runtime::fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref().to_owned();
        let std = asyncify(move || std::fs::File::create(path)).await?;
        Ok(File::from_std(std))
    }

    /// Wraps an already open `std::fs::File` (for options `open`/`create` do not cover, build it
    /// with [`std::fs::OpenOptions`] first).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncWriteExt;
    ///
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-fs-append-{}", std::process::id()));
    ///     kiln_runtime::fs::write(&path, "a").await?;
    ///     let std = std::fs::OpenOptions::new().append(true).open(&path)?;
    ///     let mut file = kiln_runtime::fs::File::from_std(std);
    ///     file.write_all(b"b").await?;
    ///     file.flush().await?;
    ///     assert_eq!(kiln_runtime::fs::read_to_string(&path).await?, "ab");
    ///     kiln_runtime::fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub fn from_std(std: std::fs::File) -> File {
        File {
            std: Arc::new(std),
            state: State::Idle(Some(Buf::default())),
        }
    }

    /// Flushes buffered writes, then asks the OS to persist data and metadata to storage (as
    /// [`std::fs::File::sync_all`]).
    ///
    /// # Errors
    ///
    /// A failed earlier buffered write, or the error of the sync itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncWriteExt;
    ///
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-fs-sync-{}", std::process::id()));
    ///     let mut file = kiln_runtime::fs::File::create(&path).await?;
    ///     file.write_all(b"durable").await?;
    ///     file.sync_all().await?;
    ///     kiln_runtime::fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.settle().await?;
        let std = self.std.clone();
        asyncify(move || std.sync_all()).await
    }

    /// Like [`sync_all`](Self::sync_all) but may skip metadata not needed to read the data back
    /// (as [`std::fs::File::sync_data`]).
    ///
    /// # Errors
    ///
    /// As [`sync_all`](Self::sync_all).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncWriteExt;
    ///
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-fs-syncd-{}", std::process::id()));
    ///     let mut file = kiln_runtime::fs::File::create(&path).await?;
    ///     file.write_all(b"data").await?;
    ///     file.sync_data().await?;
    ///     kiln_runtime::fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.settle().await?;
        let std = self.std.clone();
        asyncify(move || std.sync_data()).await
    }

    /// Truncates or extends the file to `size` bytes (as [`std::fs::File::set_len`]), after
    /// flushing buffered writes. The cursor does not move.
    ///
    /// # Errors
    ///
    /// A failed earlier buffered write, or the error of the resize (e.g. the file is not open
    /// for writing).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::AsyncWriteExt;
    ///
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-fs-setlen-{}", std::process::id()));
    ///     let mut file = kiln_runtime::fs::File::create(&path).await?;
    ///     file.write_all(b"0123456789").await?;
    ///     file.set_len(4).await?;
    ///     assert_eq!(file.metadata().await?.len(), 4);
    ///     kiln_runtime::fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.settle().await?;
        let std = self.std.clone();
        asyncify(move || std.set_len(size)).await
    }

    /// The file's metadata (as [`std::fs::File::metadata`]). Writes still buffered are not
    /// waited for: `flush` first if the length must include them.
    ///
    /// # Errors
    ///
    /// As [`std::fs::File::metadata`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let path = std::env::temp_dir().join(format!("kiln-fs-fmd-{}", std::process::id()));
    ///     kiln_runtime::fs::write(&path, "12345").await?;
    ///     let file = kiln_runtime::fs::File::open(&path).await?;
    ///     assert_eq!(file.metadata().await?.len(), 5);
    ///     kiln_runtime::fs::remove_file(&path).await
    /// })
    /// .unwrap();
    /// ```
    pub async fn metadata(&self) -> io::Result<std::fs::Metadata> {
        let std = self.std.clone();
        asyncify(move || std.metadata()).await
    }

    /// Finishes the job in flight and moves the OS cursor back over any read-ahead, leaving the
    /// file idle at the caller's logical position.
    async fn settle(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_settle(cx)).await
    }

    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if let Some(Op::Seek(None, Err(err))) = ready!(self.poll_idle(cx))? {
                return Poll::Ready(Err(err));
            }
            let back = self.idle_buf().take_read_ahead();
            if back == 0 {
                return Poll::Ready(Ok(()));
            }
            self.start(move |file, _buf| Op::Seek(None, (&*file).seek(SeekFrom::Current(back))));
        }
    }

    /// Drives an in-flight job to completion and stores its buffer back. Returns an error from
    /// a finished write (invariant 3); other finished results are left for the caller to read
    /// from the buffer or to discard.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Op>>> {
        let State::Busy(handle) = &mut self.state else {
            return Poll::Ready(Ok(None));
        };
        let res = ready!(Pin::new(handle).poll(cx));
        match res {
            Ok((op, buf)) => {
                self.state = State::Idle(Some(buf));
                match op {
                    Op::Write(Err(err)) => Poll::Ready(Err(err)),
                    op => Poll::Ready(Ok(Some(op))),
                }
            }
            Err(err) => {
                // The buffer went down with the job; start over with an empty one.
                self.state = State::Idle(Some(Buf::default()));
                Poll::Ready(Err(join_error(err)))
            }
        }
    }

    /// Starts `job` on the pool with the idle buffer.
    fn start(&mut self, job: impl FnOnce(Arc<std::fs::File>, &mut Buf) -> Op + Send + 'static) {
        let State::Idle(slot) = &mut self.state else {
            unreachable!("a file job started while another is in flight")
        };
        let mut buf = slot.take().unwrap_or_default();
        let std = self.std.clone();
        self.state = State::Busy(crate::spawn_blocking(move || {
            let op = job(std, &mut buf);
            (op, buf)
        }));
    }

    fn idle_buf(&mut self) -> &mut Buf {
        let State::Idle(slot) = &mut self.state else {
            unreachable!("the buffer is owned by a job in flight")
        };
        slot.get_or_insert_with(Buf::default)
    }
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match ready!(this.poll_idle(cx))? {
                Some(Op::Read(Ok(0))) => return Poll::Ready(Ok(0)),
                Some(Op::Read(Err(err))) => return Poll::Ready(Err(err)),
                // Data read (copied out below), a write that landed, or an abandoned seek.
                Some(_) | None => {}
            }
            let buf = this.idle_buf();
            if buf.remaining() > 0 {
                return Poll::Ready(Ok(buf.copy_to(dst)));
            }
            if dst.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let max = dst.len().min(MAX_BUF);
            this.start(move |file, buf| Op::Read(buf.read_from(&file, max)));
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_idle(cx))?;
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let buf = this.idle_buf();
        let back = buf.take_read_ahead();
        let n = buf.copy_from(src);
        this.start(move |file, buf| {
            let res = if back != 0 {
                (&*file).seek(SeekFrom::Current(back)).map(drop)
            } else {
                Ok(())
            };
            Op::Write(res.and_then(|()| buf.write_to(&file)))
        });
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_idle(cx).map_ok(drop)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            if let Some(Op::Seek(target, res)) = ready!(this.poll_idle(cx))? {
                if target == Some(pos) {
                    return Poll::Ready(res);
                }
                // A seek whose caller went away (invariant 4): the cursor moved, seek again.
            }
            let buf = this.idle_buf();
            let back = buf.take_read_ahead();
            let target = match pos {
                SeekFrom::Current(n) => match n.checked_add(back) {
                    Some(n) => SeekFrom::Current(n),
                    None => {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "seek offset overflows an i64",
                        )))
                    }
                },
                other => other,
            };
            this.start(move |file, _buf| Op::Seek(Some(pos), (&*file).seek(target)));
        }
    }
}

impl From<std::fs::File> for File {
    fn from(std: std::fs::File) -> File {
        File::from_std(std)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let busy = matches!(self.state, State::Busy(_));
        f.debug_struct("File")
            .field("std", &self.std)
            .field("busy", &busy)
            .finish()
    }
}
