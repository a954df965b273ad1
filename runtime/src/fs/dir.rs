//! Directory listing in batches.
//!
//! [`ReadDir`] owns the `std::fs::ReadDir` iterator and moves it onto the pool to pull up to
//! `BATCH` entries per job, so a large directory costs one job per batch, not one per entry.
//! State: `Idle` (the iterator and the buffered entries are here) or `Busy` (a job owns them
//! and returns them with the next batch). The iterator is exhausted once a job returns fewer
//! than `BATCH` entries; later calls return `None` without starting a job.

use super::{asyncify, join_error};
use crate::JoinHandle;
use futures_core::Stream;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

const BATCH: usize = 32;

/// Entries and the iterator they came from, moved to and from the pool as one piece.
struct Batch {
    entries: VecDeque<io::Result<DirEntry>>,
    iter: std::fs::ReadDir,
    done: bool,
}

enum State {
    Idle(Option<Batch>),
    Busy(JoinHandle<Batch>),
}

/// The entries of a directory, from [`read_dir`]; also a [`Stream`] of them.
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir().join(format!("kiln-fs-readdir-{}", std::process::id()));
///     kiln_runtime::fs::create_dir_all(&dir).await?;
///     kiln_runtime::fs::write(dir.join("one"), "1").await?;
///     let mut entries = kiln_runtime::fs::read_dir(&dir).await?;
///     let first = entries.next_entry().await?.expect("one entry");
///     assert_eq!(first.file_name(), "one");
///     assert!(entries.next_entry().await?.is_none());
///     kiln_runtime::fs::remove_dir_all(&dir).await
/// })
/// .unwrap();
/// ```
pub struct ReadDir {
    state: State,
}

/// Opens a directory for listing (the async form of [`std::fs::read_dir`]).
///
/// The entries `.` and `..` are skipped; the order is the filesystem's.
///
/// # Errors
///
/// `NotFound` if the directory does not exist, and so on as [`std::fs::read_dir`]. Errors for
/// single entries come from [`ReadDir::next_entry`].
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir().join(format!("kiln-fs-ls-{}", std::process::id()));
///     kiln_runtime::fs::create_dir_all(&dir).await?;
///     for name in ["a", "b", "c"] {
///         kiln_runtime::fs::write(dir.join(name), name).await?;
///     }
///     let mut names = Vec::new();
///     let mut entries = kiln_runtime::fs::read_dir(&dir).await?;
///     while let Some(entry) = entries.next_entry().await? {
///         names.push(entry.file_name().into_string().unwrap());
///     }
///     names.sort();
///     assert_eq!(names, ["a", "b", "c"]);
///     kiln_runtime::fs::remove_dir_all(&dir).await
/// })
/// .unwrap();
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let batch = asyncify(move || {
        let iter = std::fs::read_dir(path)?;
        Ok(fill(Batch {
            entries: VecDeque::with_capacity(BATCH),
            iter,
            done: false,
        }))
    })
    .await?;
    Ok(ReadDir {
        state: State::Idle(Some(batch)),
    })
}

/// Pulls up to `BATCH` entries; runs on the pool.
fn fill(mut batch: Batch) -> Batch {
    for _ in 0..BATCH {
        match batch.iter.next() {
            Some(entry) => batch
                .entries
                .push_back(entry.map(|std| DirEntry { std: Arc::new(std) })),
            None => {
                batch.done = true;
                break;
            }
        }
    }
    batch
}

impl ReadDir {
    /// The next entry, or `None` once the directory is exhausted.
    ///
    /// # Errors
    ///
    /// An error reading one entry is returned in its place; listing may continue after it.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let dir = std::env::temp_dir().join(format!("kiln-fs-ne-{}", std::process::id()));
    ///     kiln_runtime::fs::create_dir_all(&dir).await?;
    ///     let mut entries = kiln_runtime::fs::read_dir(&dir).await?;
    ///     assert!(entries.next_entry().await?.is_none()); // empty directory
    ///     kiln_runtime::fs::remove_dir(&dir).await
    /// })
    /// .unwrap();
    /// ```
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        std::future::poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry; the poll form of [`next_entry`](Self::next_entry).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let mut entries = kiln_runtime::fs::read_dir(".").await?;
    ///     let first = std::future::poll_fn(|cx| entries.poll_next_entry(cx)).await?;
    ///     assert!(first.is_some());
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            match &mut self.state {
                State::Idle(slot) => {
                    let Some(mut batch) = slot.take() else {
                        // A batch job failed to come back (the runtime shut down): finished.
                        return Poll::Ready(Ok(None));
                    };
                    if let Some(entry) = batch.entries.pop_front() {
                        *slot = Some(batch);
                        return Poll::Ready(entry.map(Some));
                    }
                    if batch.done {
                        *slot = Some(batch);
                        return Poll::Ready(Ok(None));
                    }
                    self.state = State::Busy(crate::spawn_blocking(move || fill(batch)));
                }
                State::Busy(handle) => {
                    let res = ready!(Pin::new(handle).poll(cx));
                    match res {
                        Ok(batch) => self.state = State::Idle(Some(batch)),
                        Err(err) => {
                            self.state = State::Idle(None);
                            return Poll::Ready(Err(join_error(err)));
                        }
                    }
                }
            }
        }
    }
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_entry(cx).map(Result::transpose)
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let busy = matches!(self.state, State::Busy(_));
        f.debug_struct("ReadDir")
            .field("busy", &busy)
            .finish_non_exhaustive()
    }
}

/// One entry of a directory listing.
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir().join(format!("kiln-fs-de-{}", std::process::id()));
///     kiln_runtime::fs::create_dir_all(dir.join("sub")).await?;
///     let entry = kiln_runtime::fs::read_dir(&dir).await?.next_entry().await?.unwrap();
///     assert_eq!(entry.path(), dir.join("sub"));
///     assert!(entry.file_type().await?.is_dir());
///     assert!(entry.metadata().await?.is_dir());
///     kiln_runtime::fs::remove_dir_all(&dir).await
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct DirEntry {
    std: Arc<std::fs::DirEntry>,
}

impl DirEntry {
    /// The full path: the listed directory joined with [`file_name`](Self::file_name).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let mut entries = kiln_runtime::fs::read_dir(".").await?;
    ///     let entry = entries.next_entry().await?.unwrap();
    ///     assert!(entry.path().starts_with("."));
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The bare file name of the entry.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let mut entries = kiln_runtime::fs::read_dir(".").await?;
    ///     let entry = entries.next_entry().await?.unwrap();
    ///     assert_eq!(Some(entry.file_name().as_os_str()), entry.path().file_name());
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's metadata, not following symlinks (as [`std::fs::DirEntry::metadata`]).
    ///
    /// # Errors
    ///
    /// As [`std::fs::DirEntry::metadata`], e.g. when the entry was removed meanwhile.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let mut entries = kiln_runtime::fs::read_dir(".").await?;
    ///     let entry = entries.next_entry().await?.unwrap();
    ///     let _len = entry.metadata().await?.len();
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn metadata(&self) -> io::Result<std::fs::Metadata> {
        let std = self.std.clone();
        asyncify(move || std.metadata()).await
    }

    /// The entry's file type, not following symlinks (as [`std::fs::DirEntry::file_type`]).
    ///
    /// # Errors
    ///
    /// As [`std::fs::DirEntry::file_type`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = kiln_runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let mut entries = kiln_runtime::fs::read_dir(".").await?;
    ///     let entry = entries.next_entry().await?.unwrap();
    ///     let ty = entry.file_type().await?;
    ///     assert!(ty.is_file() || ty.is_dir() || ty.is_symlink());
    ///     Ok::<(), std::io::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn file_type(&self) -> io::Result<std::fs::FileType> {
        let std = self.std.clone();
        asyncify(move || std.file_type()).await
    }
}

impl fmt::Debug for DirEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DirEntry").field(&self.std.path()).finish()
    }
}
