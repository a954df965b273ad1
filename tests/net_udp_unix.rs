//! UDP datagrams and Unix-domain streams through the facade.

use futures::{AsyncReadExt, AsyncWriteExt};
use kiln::net::{UdpSocket, UnixListener, UnixStream};
use std::io::ErrorKind;
use std::path::PathBuf;

fn rt() -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn sock_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kiln-net-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn udp_send_to_and_recv_from() {
    rt().block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        let echo = kiln::spawn(async move {
            let mut buf = [0u8; 64];
            for _ in 0..100 {
                let (n, from) = b.recv_from(&mut buf).await.unwrap();
                b.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let mut buf = [0u8; 64];
        for i in 0..100u32 {
            a.send_to(&i.to_le_bytes(), b_addr).await.unwrap();
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, b_addr);
            assert_eq!(&buf[..n], &i.to_le_bytes());
        }
        echo.await.unwrap();
    });
}

#[test]
fn udp_connected_send_and_recv() {
    rt().block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.send(b"one").await.unwrap(), 3);
        let mut buf = [0u8; 8];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        b.send(b"two").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two");
    });
}

#[test]
fn udp_address_in_use() {
    rt().block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let err = UdpSocket::bind(a.local_addr().unwrap()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    });
}

#[test]
fn unix_echo_through_a_listener() {
    let path = sock_path("echo.sock");
    let p2 = path.clone();
    rt().block_on(async move {
        let listener = UnixListener::bind(&p2).unwrap();
        let server = kiln::spawn(async move {
            for _ in 0..5 {
                let (conn, _) = listener.accept().await.unwrap();
                kiln::spawn(async move {
                    let (mut r, mut w) = conn.into_split();
                    futures::io::copy(&mut r, &mut w).await.unwrap();
                });
            }
        });
        for i in 0..5u8 {
            let mut c = UnixStream::connect(&p2).await.unwrap();
            let msg = vec![i; 1000];
            c.write_all(&msg).await.unwrap();
            let mut back = vec![0u8; 1000];
            c.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg);
        }
        server.await.unwrap();
    });
    std::fs::remove_file(path).unwrap();
}

#[test]
fn unix_pair_half_close() {
    rt().block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"last words").await.unwrap();
        a.close().await.unwrap();
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "last words");
        // b can still write back after a's half-close.
        b.write_all(b"ok").await.unwrap();
        let mut buf = [0u8; 2];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ok");
    });
}

#[test]
fn unix_connect_errors() {
    let stale = sock_path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let s2 = stale.clone();
    rt().block_on(async move {
        let missing = UnixStream::connect("/nonexistent-kiln-dir/x.sock")
            .await
            .unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let refused = UnixStream::connect(&s2).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        let in_use = UnixListener::bind(&s2).unwrap_err();
        assert_eq!(in_use.kind(), ErrorKind::AddrInUse);
    });
    std::fs::remove_file(stale).unwrap();
}
