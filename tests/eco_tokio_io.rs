//! tokio's `AsyncRead`/`AsyncWrite` on kiln's streams, halves and files (`--features tokio-io`),
//! driven by tokio's own generic helpers (`io::copy`, `BufReader::lines`, `split`) with no
//! tokio runtime anywhere: only kiln's.
#![cfg(feature = "tokio-io")]

use kiln::net::{TcpListener, TcpStream, UnixStream};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

mod common;

/// Bytes that show misplaced or repeated chunks.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn tcp_echo_through_owned_halves_and_tokio_copy() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = kiln::spawn(async move {
                let (conn, _) = listener.accept().await.unwrap();
                let (mut r, mut w) = conn.into_split();
                let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
                AsyncWriteExt::shutdown(&mut w).await.unwrap();
                n
            });
            let conn = TcpStream::connect(addr).await.unwrap();
            let (mut r, mut w) = conn.into_split();
            let data = pattern(3 * 1024 * 1024 + 17);
            let writer = kiln::spawn({
                let data = data.clone();
                async move {
                    AsyncWriteExt::write_all(&mut w, &data).await.unwrap();
                    AsyncWriteExt::shutdown(&mut w).await.unwrap();
                    w
                }
            });
            let mut got = Vec::new();
            AsyncReadExt::read_to_end(&mut r, &mut got).await.unwrap();
            assert_eq!(got.len(), data.len());
            assert!(got == data, "the echoed bytes differ");
            assert_eq!(server.await.unwrap(), data.len() as u64);
            let w = writer.await.unwrap();
            // The halves are still kiln's, and reunite.
            assert!(r.reunite(w).is_ok());
        });
    }
}

#[test]
fn borrowed_halves_and_buffered_lines() {
    for (_, rt) in common::runtimes() {
        rt.block_on(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            let sender = kiln::spawn(async move {
                let (_r, mut w) = a.split();
                for i in 0..100 {
                    AsyncWriteExt::write_all(&mut w, format!("line {i}\n").as_bytes())
                        .await
                        .unwrap();
                }
                AsyncWriteExt::shutdown(&mut w).await.unwrap();
            });
            let (r, _w) = b.split();
            let mut lines = BufReader::new(r).lines();
            let mut n = 0;
            while let Some(line) = lines.next_line().await.unwrap() {
                assert_eq!(line, format!("line {n}"));
                n += 1;
            }
            assert_eq!(n, 100);
            sender.await.unwrap();
        });
    }
}

#[test]
fn a_shared_reference_reads_and_writes() {
    kiln::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut wa = &a;
        AsyncWriteExt::write_all(&mut wa, b"by reference")
            .await
            .unwrap();
        let mut rb = &b;
        let mut buf = [0u8; 12];
        AsyncReadExt::read_exact(&mut rb, &mut buf).await.unwrap();
        assert_eq!(&buf, b"by reference");
        assert!(tokio::io::AsyncWrite::is_write_vectored(&a));
    });
}

#[test]
fn tokio_split_of_a_tcp_stream() {
    kiln::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        kiln::spawn(async move {
            let (conn, _) = listener.accept().await.unwrap();
            let (mut r, mut w) = tokio::io::split(conn);
            tokio::io::copy(&mut r, &mut w).await.unwrap();
        });
        let conn = TcpStream::connect(addr).await.unwrap();
        let (mut r, mut w) = tokio::io::split(conn);
        w.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        r.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    });
}

#[test]
fn files_write_then_read_back() {
    kiln::run(async {
        let path = std::env::temp_dir().join(format!("kiln-eco-tokio-io-{}", std::process::id()));
        let data = pattern(5 * 1024 * 1024 + 3);
        let mut file = kiln::fs::File::create(&path).await.unwrap();
        for chunk in data.chunks(100_000) {
            AsyncWriteExt::write_all(&mut file, chunk).await.unwrap();
        }
        // tokio's flush waits for the last write to land.
        AsyncWriteExt::flush(&mut file).await.unwrap();
        AsyncWriteExt::shutdown(&mut file).await.unwrap();
        assert!(!tokio::io::AsyncWrite::is_write_vectored(&file));
        drop(file);

        let mut file = kiln::fs::File::open(&path).await.unwrap();
        let mut got = Vec::new();
        AsyncReadExt::read_to_end(&mut file, &mut got)
            .await
            .unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "the file's bytes differ");

        // Copy file to socket with tokio's generic copy.
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let mut file = kiln::fs::File::open(&path).await.unwrap();
        let copier = kiln::spawn(async move {
            let n = tokio::io::copy(&mut file, &mut a).await.unwrap();
            AsyncWriteExt::shutdown(&mut a).await.unwrap();
            n
        });
        let mut via_socket = Vec::new();
        AsyncReadExt::read_to_end(&mut b, &mut via_socket)
            .await
            .unwrap();
        assert_eq!(copier.await.unwrap(), data.len() as u64);
        assert!(via_socket == data);
        kiln::fs::remove_file(&path).await.unwrap();
    });
}
