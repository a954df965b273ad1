//! `kiln::fs::File` through the futures-io traits: buffered reads and writes, seeking, sync.

use futures::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use std::io::{ErrorKind, SeekFrom};
use std::path::PathBuf;

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("kiln-test-file-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rt() -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn large_write_then_read_to_end() {
    let dir = Scratch::new("large");
    let path = dir.0.join("big");
    // Larger than one pool job moves, so both directions take several jobs.
    let data = pattern(5 * 1024 * 1024 + 17);
    rt().block_on(async {
        let mut file = kiln::fs::File::create(&path).await.unwrap();
        file.write_all(&data).await.unwrap();
        file.flush().await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), data.len() as u64);
        drop(file);

        let mut file = kiln::fs::File::open(&path).await.unwrap();
        let mut back = Vec::new();
        file.read_to_end(&mut back).await.unwrap();
        assert!(back == data, "read back differs");
        // At EOF reads keep returning 0.
        let mut one = [0u8; 1];
        assert_eq!(file.read(&mut one).await.unwrap(), 0);
    });
}

#[test]
fn small_reads_and_seeks_see_the_logical_position() {
    let dir = Scratch::new("seek");
    let path = dir.0.join("f");
    let data = pattern(10_000);
    std::fs::write(&path, &data).unwrap();
    rt().block_on(async {
        let mut file = kiln::fs::File::open(&path).await.unwrap();
        let mut buf = [0u8; 10];
        file.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf[..], data[..10]);
        // The pool read ahead; the position must still be 10.
        assert_eq!(file.seek(SeekFrom::Current(0)).await.unwrap(), 10);
        assert_eq!(file.seek(SeekFrom::Current(5)).await.unwrap(), 15);
        file.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf[..], data[15..25]);
        assert_eq!(file.seek(SeekFrom::Start(100)).await.unwrap(), 100);
        file.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf[..], data[100..110]);
        let end = file.seek(SeekFrom::End(-4)).await.unwrap();
        assert_eq!(end, data.len() as u64 - 4);
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).await.unwrap();
        assert_eq!(tail, data[data.len() - 4..]);
        let err = file.seek(SeekFrom::Current(-1_000_000)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn write_after_read_lands_at_the_logical_position() {
    let dir = Scratch::new("rw");
    let path = dir.0.join("f");
    let data = pattern(1_000);
    std::fs::write(&path, &data).unwrap();
    rt().block_on(async {
        let std = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let mut file = kiln::fs::File::from_std(std);
        let mut head = [0u8; 10];
        file.read_exact(&mut head).await.unwrap();
        file.write_all(b"XYZ").await.unwrap();
        file.flush().await.unwrap();
        let mut next = [0u8; 2];
        file.read_exact(&mut next).await.unwrap();
        assert_eq!(next[..], data[13..15]);
    });
    let got = std::fs::read(&path).unwrap();
    assert_eq!(got[..10], data[..10]);
    assert_eq!(&got[10..13], b"XYZ");
    assert_eq!(got[13..], data[13..]);
}

#[test]
fn set_len_and_sync() {
    let dir = Scratch::new("setlen");
    let path = dir.0.join("f");
    rt().block_on(async {
        let mut file = kiln::fs::File::create(&path).await.unwrap();
        file.write_all(b"0123456789").await.unwrap();
        // set_len waits for the buffered write first.
        file.set_len(4).await.unwrap();
        file.sync_all().await.unwrap();
        assert_eq!(file.metadata().await.unwrap().len(), 4);
        file.set_len(8).await.unwrap();
        file.sync_data().await.unwrap();
        file.close().await.unwrap();
    });
    assert_eq!(std::fs::read(&path).unwrap(), b"0123\0\0\0\0");
}

#[test]
fn write_error_is_reported_by_flush() {
    let dir = Scratch::new("ro");
    let path = dir.0.join("f");
    std::fs::write(&path, "read only").unwrap();
    rt().block_on(async {
        // Opened for reading only: the buffered write fails on the pool.
        let mut file = kiln::fs::File::open(&path).await.unwrap();
        let accepted = file.write(b"nope").await;
        let flushed = file.flush().await;
        assert!(
            accepted.is_err() || flushed.is_err(),
            "a failed write must surface by the next flush"
        );
    });
}

#[test]
fn dropping_a_file_lets_its_write_finish() {
    let dir = Scratch::new("drop");
    let path = dir.0.join("f");
    let rt = rt();
    rt.block_on(async {
        let mut file = kiln::fs::File::create(&path).await.unwrap();
        file.write_all(b"behind").await.unwrap();
        drop(file);
    });
    let start = std::time::Instant::now();
    while std::fs::read(&path).unwrap() != b"behind" {
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn open_missing_file_fails() {
    let dir = Scratch::new("missing");
    rt().block_on(async {
        let err = kiln::fs::File::open(dir.0.join("nope")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = kiln::fs::File::create(dir.0.join("no/such/dir"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn file_types_are_send() {
    fn is_send<T: Send>() {}
    is_send::<kiln::fs::File>();
    is_send::<kiln::fs::ReadDir>();
    is_send::<kiln::fs::DirEntry>();
}
