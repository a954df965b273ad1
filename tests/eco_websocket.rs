//! WebSockets on kiln: the `chat` example's broadcast server (async-tungstenite over kiln TCP)
//! with 50 clients, and clients that send garbage.

use async_tungstenite::tungstenite::Message;
use async_tungstenite::WebSocketStream;
use futures::{AsyncReadExt, AsyncWriteExt, SinkExt, StreamExt};
use kiln::net::{TcpListener, TcpStream};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[allow(
    dead_code,
    reason = "the example's `main` is not called from the tests"
)]
#[path = "../examples/chat.rs"]
mod example;

use example::Hub;

/// Generous: the machine running the tests may be busy.
const LIMIT: Duration = Duration::from_secs(120);

async fn start() -> (SocketAddr, Arc<Hub>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hub = Arc::new(Hub::default());
    kiln::spawn(example::serve(listener, hub.clone()));
    (addr, hub)
}

/// A connected client that has received its welcome (so it is in the room).
async fn join(addr: SocketAddr) -> (u64, WebSocketStream<TcpStream>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut ws, _) = async_tungstenite::client_async(format!("ws://{addr}/"), tcp)
        .await
        .unwrap();
    let welcome = ws.next().await.unwrap().unwrap().into_text().unwrap();
    let id = welcome
        .strip_prefix("welcome ")
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("expected a welcome, got {welcome:?}"));
    (id, ws)
}

/// Reads `n` chat lines, returning each sender's texts in arrival order.
async fn receive(
    ws: &mut (impl futures::Stream<Item = Result<Message, async_tungstenite::tungstenite::Error>>
              + Unpin),
    n: usize,
) -> HashMap<u64, Vec<String>> {
    let mut by_sender: HashMap<u64, Vec<String>> = HashMap::new();
    for _ in 0..n {
        let msg = ws.next().await.expect("the server hung up").unwrap();
        let text = msg.into_text().unwrap();
        let (from, body) = text.split_once(": ").expect("`<id>: <text>`");
        by_sender
            .entry(from.parse().unwrap())
            .or_default()
            .push(body.to_string());
    }
    by_sender
}

#[test]
fn fifty_clients_lose_nothing_and_keep_each_senders_order() {
    const CLIENTS: usize = 50;
    const EACH: usize = 20;
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (addr, hub) = start().await;
        let mut members = Vec::new();
        for _ in 0..CLIENTS {
            members.push(join(addr).await);
        }
        assert_eq!(hub.members(), CLIENTS);
        let ids: Vec<u64> = members.iter().map(|(id, _)| *id).collect();
        let clients: Vec<_> = members
            .into_iter()
            .map(|(id, ws)| {
                kiln::spawn(async move {
                    let (mut tx, mut rx) = ws.split();
                    let sender = kiln::spawn(async move {
                        for seq in 0..EACH {
                            tx.send(Message::text(format!("{id}-{seq}"))).await.unwrap();
                        }
                        tx
                    });
                    let got = receive(&mut rx, CLIENTS * EACH).await;
                    let tx = sender.await.unwrap();
                    (id, got, tx.reunite(rx).unwrap())
                })
            })
            .collect();
        let mut sockets = Vec::new();
        for client in clients {
            let (me, got, ws) = kiln::time::timeout(LIMIT, client)
                .await
                .expect("a client did not get every message")
                .unwrap();
            assert_eq!(
                got.len(),
                CLIENTS,
                "client {me} heard from {} senders",
                got.len()
            );
            for from in &ids {
                let expected: Vec<String> = (0..EACH).map(|seq| format!("{from}-{seq}")).collect();
                assert_eq!(got[from], expected, "client {me}: sender {from}'s messages");
            }
            sockets.push(ws);
        }
        for mut ws in sockets {
            ws.close(None).await.unwrap();
        }
    });
}

/// Reads until the server closes the connection; the bytes read are returned.
async fn read_until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return seen,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn clients_sending_garbage_are_dropped_and_the_others_carry_on() {
    kiln::run(async {
        let (addr, hub) = start().await;
        let (a, mut ws_a) = join(addr).await;
        let (b, mut ws_b) = join(addr).await;

        // Garbage instead of an HTTP upgrade.
        let mut raw = TcpStream::connect(addr).await.unwrap();
        raw.write_all(b"\x00\x01garbage that is no handshake\r\n\r\n")
            .await
            .unwrap();
        kiln::time::timeout(LIMIT, read_until_closed(&mut raw))
            .await
            .expect("a client that skipped the handshake was kept");

        // A proper handshake, then bytes that are no valid frame (reserved bits, bad opcode).
        let (_, mut ws_bad) = join(addr).await;
        assert_eq!(hub.members(), 3);
        let tcp = ws_bad.get_mut();
        tcp.write_all(&[0xFF; 64]).await.unwrap();
        kiln::time::timeout(LIMIT, read_until_closed(tcp))
            .await
            .expect("a client sending garbage frames was kept");

        // An unmasked frame (servers must reject those from clients).
        let (_, mut ws_unmasked) = join(addr).await;
        let tcp = ws_unmasked.get_mut();
        tcp.write_all(&[0x81, 0x02, b'h', b'i']).await.unwrap();
        kiln::time::timeout(LIMIT, read_until_closed(tcp))
            .await
            .expect("a client sending unmasked frames was kept");

        // The room is back to its two well-behaved members, which still talk.
        let deadline = std::time::Instant::now() + LIMIT;
        while hub.members() != 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "the bad clients stayed in the room"
            );
            kiln::time::sleep(Duration::from_millis(10)).await;
        }
        ws_a.send(Message::text("still here")).await.unwrap();
        ws_b.send(Message::text("me too")).await.unwrap();
        for ws in [&mut ws_a, &mut ws_b] {
            let got = kiln::time::timeout(LIMIT, receive(ws, 2)).await.unwrap();
            assert_eq!(got[&a], ["still here"]);
            assert_eq!(got[&b], ["me too"]);
        }
    });
}
