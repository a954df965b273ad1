//! Asynchronous filesystem access, run on the runtime's blocking pool.
//!
//! Operating systems offer no portable readiness-based file I/O, so every operation here is a
//! plain `std::fs` call moved onto a blocking-pool thread with [`crate::spawn_blocking`] and
//! awaited. Each free function is one pool job. [`File`] keeps one job in flight at a time and
//! buffers through it (see `file.rs` for its state machine); [`ReadDir`] fetches entries in
//! batches.
//!
//! Every function must be awaited inside a kiln runtime: starting a pool job outside one
//! panics. If the runtime shuts down while a job is queued, the awaited call fails with an
//! `io::Error` of kind `Other` saying so; a panic inside the job is resumed in the caller.
//!
//! # Examples
//!
//! ```
//! let rt = kiln_runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let path = std::env::temp_dir().join(format!("kiln-fs-mod-{}", std::process::id()));
//!     kiln_runtime::fs::write(&path, "hello").await?;
//!     assert_eq!(kiln_runtime::fs::read_to_string(&path).await?, "hello");
//!     kiln_runtime::fs::remove_file(&path).await
//! })
//! .unwrap();
//! ```

mod dir;
mod file;

pub use dir::{read_dir, DirEntry, ReadDir};
pub use file::File;

use std::io;
use std::path::{Path, PathBuf};

/// Runs a blocking `std::io` operation on the pool and awaits its result.
pub(crate) async fn asyncify<F, T>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match crate::spawn_blocking(f).await {
        Ok(res) => res,
        Err(err) => Err(join_error(err)),
    }
}

/// Turns a failed pool job into an `io::Error`, resuming a panic where the caller can see it.
pub(crate) fn join_error(err: crate::JoinError) -> io::Error {
    if err.is_panic() {
        std::panic::resume_unwind(err.into_panic());
    }
    io::Error::other("filesystem operation cancelled: the runtime is shutting down")
}

/// Reads a whole file into a byte vector (the async form of [`std::fs::read`]).
///
/// # Errors
///
/// Whatever [`std::fs::read`] returns, or `Other` if the runtime shut down first.
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let path = std::env::temp_dir().join(format!("kiln-fs-read-{}", std::process::id()));
///     kiln_runtime::fs::write(&path, [1u8, 2, 3]).await?;
///     assert_eq!(kiln_runtime::fs::read(&path).await?, [1, 2, 3]);
///     kiln_runtime::fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read(path)).await
}

/// Reads a whole UTF-8 file into a `String` (the async form of [`std::fs::read_to_string`]).
///
/// # Errors
///
/// `InvalidData` if the file is not UTF-8; otherwise as [`read`].
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let path = std::env::temp_dir().join(format!("kiln-fs-rts-{}", std::process::id()));
///     kiln_runtime::fs::write(&path, "text").await?;
///     assert_eq!(kiln_runtime::fs::read_to_string(&path).await?, "text");
///     kiln_runtime::fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_to_string(path)).await
}

/// Creates or truncates a file and writes `contents` to it (the async form of
/// [`std::fs::write`]). The bytes are copied once to move them onto the pool.
///
/// # Errors
///
/// Whatever [`std::fs::write`] returns, or `Other` if the runtime shut down first.
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let path = std::env::temp_dir().join(format!("kiln-fs-write-{}", std::process::id()));
///     kiln_runtime::fs::write(&path, b"bytes").await?;
///     assert_eq!(kiln_runtime::fs::read(&path).await?, b"bytes");
///     kiln_runtime::fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    let contents = contents.as_ref().to_owned();
    asyncify(move || std::fs::write(path, contents)).await
}

/// Creates a directory and all missing parents (the async form of [`std::fs::create_dir_all`]).
///
/// # Errors
///
/// Whatever [`std::fs::create_dir_all`] returns, or `Other` if the runtime shut down first.
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let root = std::env::temp_dir().join(format!("kiln-fs-cda-{}", std::process::id()));
///     kiln_runtime::fs::create_dir_all(root.join("a/b")).await?;
///     assert!(kiln_runtime::fs::metadata(root.join("a/b")).await?.is_dir());
///     kiln_runtime::fs::remove_dir_all(&root).await
/// })
/// .unwrap();
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir_all(path)).await
}

/// Creates one directory; its parent must exist (the async form of [`std::fs::create_dir`]).
///
/// # Errors
///
/// `AlreadyExists` if it exists, `NotFound` if the parent is missing, and so on as
/// [`std::fs::create_dir`].
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir().join(format!("kiln-fs-cd-{}", std::process::id()));
///     kiln_runtime::fs::create_dir(&dir).await?;
///     kiln_runtime::fs::remove_dir(&dir).await
/// })
/// .unwrap();
/// ```
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir(path)).await
}

/// Removes an empty directory (the async form of [`std::fs::remove_dir`]).
///
/// # Errors
///
/// As [`std::fs::remove_dir`], e.g. when the directory is not empty.
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir().join(format!("kiln-fs-rd-{}", std::process::id()));
///     kiln_runtime::fs::create_dir(&dir).await?;
///     kiln_runtime::fs::remove_dir(&dir).await?;
///     assert!(kiln_runtime::fs::metadata(&dir).await.is_err());
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_dir(path)).await
}

/// Removes a directory and everything in it (the async form of [`std::fs::remove_dir_all`]).
///
/// # Errors
///
/// As [`std::fs::remove_dir_all`].
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let root = std::env::temp_dir().join(format!("kiln-fs-rda-{}", std::process::id()));
///     kiln_runtime::fs::create_dir_all(root.join("x")).await?;
///     kiln_runtime::fs::write(root.join("x/f"), "f").await?;
///     kiln_runtime::fs::remove_dir_all(&root).await
/// })
/// .unwrap();
/// ```
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_dir_all(path)).await
}

/// Removes a file (the async form of [`std::fs::remove_file`]).
///
/// # Errors
///
/// `NotFound` if there is no such file, and so on as [`std::fs::remove_file`].
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let path = std::env::temp_dir().join(format!("kiln-fs-rm-{}", std::process::id()));
///     kiln_runtime::fs::write(&path, "x").await?;
///     kiln_runtime::fs::remove_file(&path).await?;
///     let err = kiln_runtime::fs::remove_file(&path).await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_file(path)).await
}

/// Reads a path's metadata, following symlinks (the async form of [`std::fs::metadata`]).
///
/// # Errors
///
/// `NotFound` if nothing is there, and so on as [`std::fs::metadata`].
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let path = std::env::temp_dir().join(format!("kiln-fs-md-{}", std::process::id()));
///     kiln_runtime::fs::write(&path, "four").await?;
///     let md = kiln_runtime::fs::metadata(&path).await?;
///     assert!(md.is_file());
///     assert_eq!(md.len(), 4);
///     kiln_runtime::fs::remove_file(&path).await
/// })
/// .unwrap();
/// ```
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::metadata(path)).await
}

/// Renames a file or directory, replacing `to` if it is a file (the async form of
/// [`std::fs::rename`]).
///
/// # Errors
///
/// As [`std::fs::rename`], e.g. when `from` does not exist.
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir();
///     let (a, b) = (dir.join(format!("kiln-fs-mv-a-{}", std::process::id())),
///                   dir.join(format!("kiln-fs-mv-b-{}", std::process::id())));
///     kiln_runtime::fs::write(&a, "moved").await?;
///     kiln_runtime::fs::rename(&a, &b).await?;
///     assert_eq!(kiln_runtime::fs::read_to_string(&b).await?, "moved");
///     kiln_runtime::fs::remove_file(&b).await
/// })
/// .unwrap();
/// ```
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    asyncify(move || std::fs::rename(from, to)).await
}

/// Copies a file's contents and permissions, returning the number of bytes copied (the async
/// form of [`std::fs::copy`]).
///
/// # Errors
///
/// As [`std::fs::copy`], e.g. when `from` is not a file.
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir();
///     let (a, b) = (dir.join(format!("kiln-fs-cp-a-{}", std::process::id())),
///                   dir.join(format!("kiln-fs-cp-b-{}", std::process::id())));
///     kiln_runtime::fs::write(&a, "copy me").await?;
///     assert_eq!(kiln_runtime::fs::copy(&a, &b).await?, 7);
///     assert_eq!(kiln_runtime::fs::read(&b).await?, b"copy me");
///     kiln_runtime::fs::remove_file(&a).await?;
///     kiln_runtime::fs::remove_file(&b).await
/// })
/// .unwrap();
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    asyncify(move || std::fs::copy(from, to)).await
}

/// Resolves a path to its absolute form with symlinks followed (the async form of
/// [`std::fs::canonicalize`]).
///
/// # Errors
///
/// `NotFound` if the path does not exist, and so on as [`std::fs::canonicalize`].
///
/// # Examples
///
/// ```
/// let rt = kiln_runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let here = kiln_runtime::fs::canonicalize(".").await?;
///     assert!(here.is_absolute());
///     Ok::<(), std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::canonicalize(path)).await
}
