//! axum on kiln (`--features hyper`): the `axum_server` example's app, served through hyper on
//! a kiln listener, checked route by route with a hyper client on a kiln socket.
#![cfg(feature = "hyper")]

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use kiln::net::hyper::HyperIo;
use kiln::net::{TcpListener, TcpStream};

#[allow(
    dead_code,
    reason = "the example's `main` is not called from the tests"
)]
#[path = "../examples/axum_server.rs"]
mod example;

use example::{Fib, Health, Note};

/// One keep-alive HTTP/1 connection to the app.
struct Client(hyper::client::conn::http1::SendRequest<Full<Bytes>>);

impl Client {
    async fn connect(addr: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
            .await
            .unwrap();
        kiln::spawn(conn);
        Client(sender)
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        json: Option<&str>,
    ) -> (StatusCode, Bytes) {
        let mut req = Request::builder().method(method).uri(path);
        if json.is_some() {
            req = req.header("content-type", "application/json");
        }
        let body = Full::new(Bytes::from(json.unwrap_or_default().to_owned()));
        self.0.ready().await.unwrap();
        let res = self.0.send_request(req.body(body).unwrap()).await.unwrap();
        let status = res.status();
        (status, res.into_body().collect().await.unwrap().to_bytes())
    }
}

async fn start() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    kiln::spawn(example::serve(listener, example::kiln_app()));
    addr
}

#[test]
fn routes_answer_with_json_and_shared_state() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = start().await;
        let mut c = Client::connect(addr).await;

        let (status, body) = c.send(Method::GET, "/", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"Hello, World!");

        for expected in 1..=3 {
            let (status, body) = c.send(Method::GET, "/health", None).await;
            assert_eq!(status, StatusCode::OK);
            let health: Health = serde_json::from_slice(&body).unwrap();
            assert_eq!(health.status, "ok");
            assert_eq!(health.hits, expected);
        }

        // State is shared across connections.
        let mut other = Client::connect(addr).await;
        for text in ["first", "second"] {
            let json = serde_json::json!({ "text": text }).to_string();
            let (status, body) = other.send(Method::POST, "/notes", Some(&json)).await;
            assert_eq!(status, StatusCode::CREATED);
            let note: Note = serde_json::from_slice(&body).unwrap();
            assert_eq!(note.text, text);
        }
        let (status, body) = c.send(Method::GET, "/notes", None).await;
        assert_eq!(status, StatusCode::OK);
        let notes: Vec<Note> = serde_json::from_slice(&body).unwrap();
        let texts: Vec<&str> = notes.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(texts, ["first", "second"]);
        assert_eq!(notes[1].id, 2);

        // Malformed JSON is the client's error.
        let (status, _) = c.send(Method::POST, "/notes", Some("{not json")).await;
        assert!(status.is_client_error(), "{status}");

        let (status, _) = c.send(Method::GET, "/nowhere", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    });
}

#[test]
fn cpu_work_is_offloaded_and_answered() {
    kiln::run(async {
        let addr = start().await;
        let mut c = Client::connect(addr).await;
        let (status, body) = c.send(Method::GET, "/fib/90", None).await;
        assert_eq!(status, StatusCode::OK);
        let fib: Fib = serde_json::from_slice(&body).unwrap();
        assert_eq!((fib.n, fib.value), (90, 2_880_067_194_370_816_120));

        // Several at once, from separate connections, while another route keeps answering.
        let jobs: Vec<_> = (80..88u64)
            .map(|n| {
                kiln::spawn(async move {
                    let mut c = Client::connect(addr).await;
                    let (status, body) = c.send(Method::GET, &format!("/fib/{n}"), None).await;
                    assert_eq!(status, StatusCode::OK);
                    serde_json::from_slice::<Fib>(&body).unwrap()
                })
            })
            .collect();
        let (status, _) = c.send(Method::GET, "/health", None).await;
        assert_eq!(status, StatusCode::OK);
        for (n, job) in (80..88u64).zip(jobs) {
            let fib = job.await.unwrap();
            assert_eq!(fib.n, n);
        }

        let (status, body) = c.send(Method::GET, "/fib/94", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(String::from_utf8_lossy(&body).contains("at most 93"));
    });
}
