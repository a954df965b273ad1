//! `Builder::sibling_wake_patience`: bad values are refused at `build`, and a runtime with a
//! patience set serves sockets as one without (the deferred path is exercised in the
//! scheduler's own tests, where the CPUs can be made to count as all taken).

use futures::{AsyncReadExt, AsyncWriteExt};
use kiln::net::{TcpListener, TcpStream};
use std::io::ErrorKind;
use std::time::Duration;

#[test]
fn a_patience_over_ten_milliseconds_is_invalid_input() {
    let err = kiln::Builder::new_multi_thread()
        .sibling_wake_patience(Duration::from_millis(11))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("sibling_wake_patience"), "{err}");
    kiln::Builder::new_multi_thread()
        .sibling_wake_patience(Duration::from_millis(10))
        .build()
        .expect("10 ms is the largest patience accepted");
}

#[test]
fn many_connections_echo_with_a_patience_set() {
    const CONNS: usize = 32;
    const ROUNDS: usize = 50;
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .sibling_wake_patience(Duration::from_micros(400))
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = kiln::spawn(async move {
            for _ in 0..CONNS {
                let (mut s, _) = listener.accept().await.unwrap();
                kiln::spawn(async move {
                    let mut b = [0u8; 8];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 || s.write_all(&b[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let clients: Vec<_> = (0..CONNS)
            .map(|i| {
                kiln::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    for r in 0..ROUNDS {
                        let msg = ((i * ROUNDS + r) as u64).to_le_bytes();
                        s.write_all(&msg).await.unwrap();
                        let mut back = [0u8; 8];
                        s.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg, "connection {i}, round {r}");
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        server.await.unwrap();
    });
}
