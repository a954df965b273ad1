//! TCP through the facade: echo round trips, many connections, half-close, data and FIN
//! queued together, errors, drop.

use futures::{AsyncReadExt, AsyncWriteExt};
use kiln::net::{TcpListener, TcpStream};
use std::io::ErrorKind;
use std::time::Duration;

mod common;

fn rt(workers: usize) -> kiln::Runtime {
    kiln::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// Accepts forever, echoing every connection until EOF.
async fn echo_server() -> std::net::SocketAddr {
    common::serve_tcp(|conn| async move {
        let (mut r, mut w) = conn.into_split();
        futures::io::copy(&mut r, &mut w).await.unwrap();
        w.close().await.unwrap();
    })
    .await
}

#[test]
fn echo_round_trips() {
    rt(2).block_on(async {
        let addr = echo_server().await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.set_nodelay(true).unwrap();
        for i in 0..200u32 {
            let msg = i.to_le_bytes();
            c.write_all(&msg).await.unwrap();
            let mut back = [0u8; 4];
            c.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg);
        }
    });
}

#[test]
fn large_transfer_with_backpressure() {
    rt(2).block_on(async {
        let addr = echo_server().await;
        let c = TcpStream::connect(addr).await.unwrap();
        let (mut r, mut w) = c.into_split();
        let data: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let expect = data.clone();
        let writer = kiln::spawn(async move {
            w.write_all(&data).await.unwrap();
            w.close().await.unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), expect.len());
        assert!(got == expect);
    });
}

/// Streams check every 64th read where their packets arrive and may move to another worker's
/// poller (`kiln::net` docs); with both halves busy, reads and writes keep every byte.
#[test]
fn split_streams_keep_every_byte_over_many_small_reads() {
    rt(2).block_on(async {
        let addr = echo_server().await;
        let conns: Vec<_> = (0..8u32)
            .map(|n| {
                kiln::spawn(async move {
                    let c = TcpStream::connect(addr).await.unwrap();
                    let (mut r, mut w) = c.into_split();
                    let data: Vec<u8> = (0..256 * 1024u32)
                        .map(|i| (i % 253) as u8 ^ n as u8)
                        .collect();
                    let expect = data.clone();
                    let writer = kiln::spawn(async move {
                        for chunk in data.chunks(4096) {
                            w.write_all(chunk).await.unwrap();
                        }
                        w.close().await.unwrap();
                    });
                    let mut got = Vec::with_capacity(expect.len());
                    let mut buf = [0u8; 512];
                    loop {
                        let k = r.read(&mut buf).await.unwrap();
                        if k == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..k]);
                    }
                    writer.await.unwrap();
                    assert!(got == expect, "connection {n} lost or reordered bytes");
                })
            })
            .collect();
        for c in conns {
            c.await.unwrap();
        }
    });
}

#[test]
fn many_concurrent_connections() {
    rt(2).block_on(async {
        let addr = echo_server().await;
        let clients: Vec<_> = (0..200u32)
            .map(|i| {
                kiln::spawn(async move {
                    let mut c = TcpStream::connect(addr).await.unwrap();
                    for j in 0..10u32 {
                        let msg = [i.to_le_bytes(), j.to_le_bytes()].concat();
                        c.write_all(&msg).await.unwrap();
                        let mut back = [0u8; 8];
                        c.read_exact(&mut back).await.unwrap();
                        assert_eq!(&back[..], &msg[..]);
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
}

#[test]
fn half_close_delivers_eof_after_data() {
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = kiln::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            // The write direction is still open after the peer's half-close.
            s.write_all(&got).await.unwrap();
            s.write_all(b"!").await.unwrap();
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"request").await.unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        c.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"request!");
        server.await.unwrap();
    });
}

/// Accepts one connection on `listener` after a std client at `addr` has already written
/// `data` and (if `fin`) shut its write side down, so everything is queued before any read.
async fn accept_after_peer_wrote(
    listener: &TcpListener,
    data: &'static [u8],
    fin: bool,
) -> (TcpStream, std::net::TcpStream) {
    let addr = listener.local_addr().unwrap();
    let client = kiln::spawn_blocking(move || {
        use std::io::Write;
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(data).unwrap();
        if fin {
            c.shutdown(std::net::Shutdown::Write).unwrap();
        }
        c
    })
    .await
    .unwrap();
    let (s, _) = listener.accept().await.unwrap();
    (s, client)
}

#[test]
fn data_and_fin_queued_together_are_both_read() {
    // A read that takes all the data must not hide the FIN behind it: the next read sees EOF.
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut s, _client) = accept_after_peer_wrote(&listener, b"hello", true).await;
        let limit = Duration::from_secs(20);
        let mut buf = [0u8; 5];
        kiln::time::timeout(limit, s.read_exact(&mut buf))
            .await
            .expect("read of queued data hung")
            .unwrap();
        assert_eq!(&buf, b"hello");
        let n = kiln::time::timeout(limit, s.read(&mut buf))
            .await
            .expect("EOF after the data was never seen")
            .unwrap();
        assert_eq!(n, 0);
    });
}

/// Reads from `s` into a 64-byte buffer until `want` bytes came (each read short of the
/// buffer, so each one clears readability).
async fn read_short(s: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let mut buf = [0u8; 64];
        let n = kiln::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("a read of queued data hung")
            .unwrap();
        assert!(n > 0, "end of stream before the data");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn a_short_read_does_not_hide_the_fin() {
    // A read that returns less than its buffer emptied the queue and clears readability; the
    // FIN must still be read as end of stream, whether it came with the data or after it.
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let limit = Duration::from_secs(20);
        for _ in 0..20 {
            let (mut s, _client) = accept_after_peer_wrote(&listener, b"hello", true).await;
            assert_eq!(read_short(&mut s, 5).await, b"hello");
            let n = kiln::time::timeout(limit, s.read(&mut [0u8; 64]))
                .await
                .expect("the FIN queued with the data was never seen")
                .unwrap();
            assert_eq!(n, 0);
        }

        let (mut s, client) = accept_after_peer_wrote(&listener, b"hello", false).await;
        assert_eq!(read_short(&mut s, 5).await, b"hello");
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            client.shutdown(std::net::Shutdown::Write).unwrap();
            client
        });
        let n = kiln::time::timeout(limit, s.read(&mut [0u8; 64]))
            .await
            .expect("a FIN sent after the data was read was never seen")
            .unwrap();
        assert_eq!(n, 0);
        closer.join().unwrap();
    });
}

#[test]
fn request_response_rounds_with_short_reads_never_stall() {
    // Every read here is short of its buffer; each next message must wake the reader.
    rt(2).block_on(async {
        let addr = echo_server().await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        for i in 0..500u32 {
            let msg = format!("message {i}");
            c.write_all(msg.as_bytes()).await.unwrap();
            assert_eq!(read_short(&mut c, msg.len()).await, msg.as_bytes());
        }
    });
}

#[test]
fn small_reads_take_a_queued_message_piece_by_piece() {
    // Reads smaller than what is queued leave bytes behind: each later read gets them without
    // waiting for a new event.
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mut s, client) = accept_after_peer_wrote(&listener, &[9u8; 100], false).await;
        let limit = Duration::from_secs(20);
        for _ in 0..10 {
            let mut piece = [0u8; 10];
            kiln::time::timeout(limit, s.read_exact(&mut piece))
                .await
                .expect("a read of bytes already queued hung")
                .unwrap();
            assert_eq!(piece, [9u8; 10]);
        }
        // Everything was taken: a new message arriving later still wakes the reader.
        let later = std::thread::spawn(move || {
            use std::io::Write;
            std::thread::sleep(Duration::from_millis(20));
            (&client).write_all(b"more").unwrap();
            client
        });
        let mut more = [0u8; 4];
        kiln::time::timeout(limit, s.read_exact(&mut more))
            .await
            .expect("a message sent after the queue was drained never arrived")
            .unwrap();
        assert_eq!(&more, b"more");
        later.join().unwrap();
    });
}

/// Fixed-size messages, each read with `read_exact` into a buffer of exactly its size, then
/// one more message with the peer's FIN right behind it: every message and the end of stream
/// arrive (the reads that fill their buffers switch to asking the kernel whether the queue is
/// empty, which must count the FIN).
#[test]
fn exact_size_messages_then_end_of_stream() {
    rt(2).block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let server = kiln::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 32];
            let mut seen = 0u32;
            while s.read_exact(&mut buf).await.is_ok() {
                assert_eq!(buf, [seen as u8; 32], "message {seen}");
                seen += 1;
                if seen < 200 {
                    s.write_all(&buf).await.unwrap();
                }
            }
            seen
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 32];
        for i in 0..199u8 {
            c.write_all(&[i; 32]).await.unwrap();
            c.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf, [i; 32]);
        }
        c.write_all(&[199; 32]).await.unwrap();
        c.close().await.unwrap();
        assert_eq!(
            server.await.unwrap(),
            200,
            "every message, then end of stream"
        );
    });
}

#[test]
fn connection_refused() {
    rt(1).block_on(async {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn address_in_use() {
    rt(1).block_on(async {
        let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = TcpListener::bind(a.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
    });
}

/// A connection whose peer closes with unread data, which makes the kernel send RST instead
/// of FIN: the returned end is (about to be) reset.
async fn connection_reset_by_peer() -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut c = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (s, _) = listener.accept().await.unwrap();
    c.write_all(b"unread").await.unwrap();
    let std = s.into_std().unwrap();
    kiln::time::sleep(Duration::from_millis(20)).await;
    drop(std);
    c
}

#[test]
fn reset_by_peer() {
    rt(2).block_on(async {
        let mut c = connection_reset_by_peer().await;
        let mut buf = [0u8; 16];
        let mut kinds = Vec::new();
        for _ in 0..2 {
            match c.read(&mut buf).await {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) => {
                    kinds.push(e.kind());
                    break;
                }
            }
        }
        assert_eq!(kinds, vec![ErrorKind::ConnectionReset]);
    });
}

#[test]
fn closing_after_the_peer_reset_succeeds() {
    rt(2).block_on(async {
        let mut c = connection_reset_by_peer().await;
        // Wait until `c` has seen the reset.
        let mut buf = [0u8; 16];
        let err = loop {
            match c.read(&mut buf).await {
                Ok(0) => panic!("end of stream instead of a reset"),
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        // The explicit call reports the state; closing the write half through the I/O traits
        // (what hyper and tokio-style code do at the end of a connection) is not an error.
        let e = c.shutdown(std::net::Shutdown::Write).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotConnected);
        c.close().await.unwrap();
    });
}

#[test]
fn drop_while_read_pending_closes_the_socket() {
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut c = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (s, _) = listener.accept().await.unwrap();
        let reader = kiln::spawn(async move {
            let mut s = s;
            let mut buf = [0u8; 8];
            let _ = s.read(&mut buf).await;
            unreachable!("nothing is ever sent");
        });
        kiln::time::sleep(Duration::from_millis(20)).await;
        reader.abort();
        assert!(reader.await.unwrap_err().is_cancelled());
        // The server side was dropped with the task: the client sees EOF, not a hang.
        let mut buf = [0u8; 8];
        let n = kiln::time::timeout(Duration::from_secs(10), c.read(&mut buf))
            .await
            .expect("EOF after the peer's drop")
            .unwrap();
        assert_eq!(n, 0);
    });
}

#[test]
fn dropped_read_future_leaves_the_stream_usable() {
    rt(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut c = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4];
        let timed_out = kiln::time::timeout(Duration::from_millis(20), s.read(&mut buf)).await;
        assert!(timed_out.is_err());
        c.write_all(b"late").await.unwrap();
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"late");
    });
}

#[test]
fn stream_options_and_addresses() {
    rt(1).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let c = TcpStream::connect(addr).await.unwrap();
        let (s, peer) = listener.accept().await.unwrap();
        assert_eq!(c.peer_addr().unwrap(), addr);
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(s.local_addr().unwrap(), addr);
        c.set_nodelay(true).unwrap();
        assert!(c.nodelay().unwrap());
        c.set_nodelay(false).unwrap();
        assert!(!c.nodelay().unwrap());
    });
}

#[test]
fn current_thread_runtime_echo() {
    let rt = kiln::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let addr = echo_server().await;
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"single").await.unwrap();
        let mut b = [0u8; 6];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"single");
    });
}

#[test]
#[should_panic(expected = "must be called from inside a kiln runtime")]
fn outside_a_runtime_panics_with_a_clear_message() {
    let _ = futures::executor::block_on(TcpListener::bind("127.0.0.1:0"));
}
