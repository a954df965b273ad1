//! I/O on a runtime that has shut down fails with an error that says so, from every kiln I/O
//! type, instead of waiting for events that nobody will ever poll.

mod common;

use common::{runtimes, watchdog, Scratch};
use futures::{AsyncReadExt, AsyncWriteExt};
use kiln::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use std::io;

fn assert_shut_down<T: std::fmt::Debug>(what: &str, r: io::Result<T>) {
    let err = r.expect_err(what);
    assert!(
        err.to_string().contains("has shut down"),
        "{what}: not a shutdown error: {err}"
    );
}

#[test]
fn creating_sockets_through_a_dead_handle_fails() {
    for (flavor, rt) in runtimes() {
        let handle = rt.handle().clone();
        drop(rt);
        let dir = Scratch::new(&format!("dead-handle-{flavor}"));
        watchdog(flavor, move || {
            handle.block_on(async {
                assert_shut_down("tcp bind", TcpListener::bind("127.0.0.1:0").await);
                let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = std_listener.local_addr().unwrap();
                assert_shut_down("tcp connect", TcpStream::connect(addr).await);
                assert_shut_down("udp bind", UdpSocket::bind("127.0.0.1:0").await);
                assert_shut_down("unix bind", UnixListener::bind(dir.0.join("l.sock")));
                assert_shut_down("unix pair", UnixStream::pair());
            });
        });
    }
}

#[test]
fn sockets_of_a_runtime_that_shut_down_fail_every_operation() {
    for (flavor, rt) in runtimes() {
        let dir = Scratch::new(&format!("after-shutdown-{flavor}"));
        let path = dir.0.join("l.sock");
        let (tcp_listener, mut tcp_a, tcp_b, udp, unix_listener, (mut ua, ub)) =
            rt.block_on(async {
                let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
                let (mut b, _) = l.accept().await.unwrap();
                // Data that has arrived before the shutdown.
                b.write_all(b"x").await.unwrap();
                let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                let ul = UnixListener::bind(&path).unwrap();
                (l, a, b, udp, ul, UnixStream::pair().unwrap())
            });
        // Data and a pending connection that arrive around the shutdown.
        let _c = std::net::TcpStream::connect(tcp_listener.local_addr().unwrap()).unwrap();
        let _uc = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let handle = rt.handle().clone();
        drop(rt);
        let to_udp = udp.local_addr().unwrap();
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .send_to(b"d", to_udp)
            .unwrap();
        watchdog(flavor, move || {
            handle.block_on(async move {
                let mut buf = [0u8; 8];
                assert_shut_down("tcp accept", tcp_listener.accept().await);
                assert_shut_down("tcp read", tcp_a.read(&mut buf).await);
                assert_shut_down("tcp write", tcp_a.write(b"y").await);
                assert_shut_down("udp recv", udp.recv_from(&mut buf).await);
                assert_shut_down("udp send", udp.send_to(b"z", to_udp).await);
                assert_shut_down("unix accept", unix_listener.accept().await);
                assert_shut_down("unix read", ua.read(&mut buf).await);
                assert_shut_down("unix write", ua.write(b"w").await);
                drop((ub, tcp_b));
                // Readiness waits return (the next operation reports the shutdown).
                tcp_a.readable().await;
                udp.writable().await;
            });
        });
    }
}

#[test]
fn a_read_waiting_when_the_runtime_shuts_down_fails() {
    for (flavor, rt) in runtimes() {
        let (mut a, b) = rt.block_on(async { UnixStream::pair().unwrap() });
        // Waits on a thread of its own, outside the runtime, for data that never comes.
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4];
            futures::executor::block_on(a.read(&mut buf)).map(|_| ())
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        watchdog(flavor, move || {
            drop(rt);
            assert_shut_down("waiting read", reader.join().unwrap());
        });
        drop(b);
    }
}

#[test]
fn files_after_shutdown_fail_and_sleeps_complete() {
    for (flavor, rt) in runtimes() {
        let handle = rt.handle().clone();
        drop(rt);
        watchdog(flavor, move || {
            handle.block_on(async {
                let err = kiln::fs::read("Cargo.toml").await.unwrap_err();
                assert!(err.to_string().contains("shutting down"), "{err}");
                // Sleeps keep their documented behaviour: they complete at once.
                kiln::time::sleep(std::time::Duration::from_secs(3600)).await;
            });
        });
    }
}
