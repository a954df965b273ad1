//! A broadcast chat server: WebSockets with async-tungstenite over kiln TCP.
//!
//! ```text
//! cargo run --example chat -- 9000
//! websocat ws://127.0.0.1:9000/     # in two terminals; lines typed in one show in both
//! ```
//!
//! Each client first receives `welcome <id>`; then every text message any client sends is
//! delivered to every connected client (the sender included) as `<id>: <text>`.
//!
//! # Delivery
//!
//! Every client has a bounded queue ([`QUEUE`] messages) drained by its own writer task. A
//! client's reader task hands each message to every queue in turn and waits while a queue is
//! full, so nothing is dropped and one sender's messages reach everyone in the order sent. A
//! client whose queue stays full for [`SLOW_CLIENT`] is removed from the room (it gets no further
//! messages), so one stalled client cannot hold the others up for ever. A client that breaks the protocol (garbage bytes, a bad
//! frame, an unmasked frame) is disconnected when its reader sees the error; the others carry on.

use async_tungstenite::tungstenite::Message;
use futures::{SinkExt, StreamExt};
use kiln::net::{TcpListener, TcpStream};
use kiln::sync::mpsc;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Messages waiting for one client before its senders wait.
pub const QUEUE: usize = 256;
/// How long a client's full queue may hold a sender up before that client leaves the room.
pub const SLOW_CLIENT: Duration = Duration::from_secs(30);

/// The connected clients.
#[derive(Default)]
pub struct Hub {
    next_id: AtomicU64,
    clients: Mutex<HashMap<u64, mpsc::Sender<Arc<str>>>>,
}

impl Hub {
    /// Delivers `text` to every connected client, waiting for room in each queue.
    async fn broadcast(&self, text: Arc<str>) {
        let clients: Vec<(u64, mpsc::Sender<Arc<str>>)> = self
            .clients
            .lock()
            .unwrap()
            .iter()
            .map(|(id, tx)| (*id, tx.clone()))
            .collect();
        for (id, tx) in clients {
            match kiln::time::timeout(SLOW_CLIENT, tx.send(text.clone())).await {
                Ok(_) => {}
                Err(_) => {
                    eprintln!("client {id} is not reading: removing it from the room");
                    self.clients.lock().unwrap().remove(&id);
                }
            }
        }
    }

    /// How many clients are in the room.
    pub fn members(&self) -> usize {
        self.clients.lock().unwrap().len()
    }
}

/// Accepts clients for ever, each on its own task.
pub async fn serve(listener: TcpListener, hub: Arc<Hub>) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        kiln::spawn(client(stream, hub.clone()));
    }
}

/// Runs one client: handshake, registration, then its reader here and its writer on a task.
async fn client(stream: TcpStream, hub: Arc<Hub>) {
    let ws = match async_tungstenite::accept_async(stream).await {
        Ok(ws) => ws,
        Err(e) => return eprintln!("handshake failed: {e}"),
    };
    let (mut sink, mut source) = ws.split();
    let id = hub.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Arc<str>>(QUEUE);
    // Queued before registering, so the welcome comes before any broadcast.
    let _ = tx.try_send(Arc::from(format!("welcome {id}")));
    hub.clients.lock().unwrap().insert(id, tx);
    let writer = kiln::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Message::text(&*text)).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let mut broken = false;
    while let Some(msg) = source.next().await {
        match msg {
            Ok(Message::Text(text)) => hub.broadcast(Arc::from(format!("{id}: {text}"))).await,
            Ok(Message::Close(_)) => break,
            // Pings are answered by the protocol layer; binary and pong frames are ignored.
            Ok(_) => {}
            Err(e) => {
                eprintln!("dropping client {id}: {e}");
                broken = true;
                break;
            }
        }
    }
    // Removing the last sender ends the writer once it has sent what was queued.
    hub.clients.lock().unwrap().remove(&id);
    if broken {
        writer.abort();
    }
    let _ = writer.await;
}

fn main() -> io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse().expect("usage: chat [PORT]"))
        .unwrap_or(9000);
    kiln::run(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        println!("chat on ws://{}", listener.local_addr()?);
        serve(listener, Arc::new(Hub::default())).await
    })
}
