//! hyper 1.x on kiln (`--features hyper`): a server and a client on kiln sockets, both through
//! `HyperIo` and both on kiln's `TcpStream` directly (its own hyper I/O, reading into hyper's
//! uninitialised buffer), with kiln's executor and timer. Small requests and a body far larger
//! than any single read.
#![cfg(feature = "hyper")]

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use kiln::net::hyper::{HyperExecutor, HyperIo, HyperTimer};
use kiln::net::TcpStream;
use std::convert::Infallible;

mod common;

/// Replies to `GET /` with a greeting and echoes any other request's body.
async fn service(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/" {
        return Ok(Response::new(Full::new(Bytes::from_static(b"hello"))));
    }
    let body = req.into_body().collect().await.unwrap().to_bytes();
    Ok(Response::new(Full::new(body)))
}

/// A server whose connections go through `HyperIo`, or (`direct`) are the kiln stream itself.
async fn server(direct: bool) -> std::net::SocketAddr {
    common::serve_tcp(move |conn| async move {
        let http = hyper::server::conn::http1::Builder::new()
            .timer(HyperTimer)
            .clone();
        if direct {
            http.serve_connection(conn, service_fn(service))
                .await
                .unwrap();
        } else {
            http.serve_connection(HyperIo::new(conn), service_fn(service))
                .await
                .unwrap();
        }
    })
    .await
}

#[test]
fn requests_and_a_large_body_round_trip() {
    round_trips(false);
}

#[test]
fn a_kiln_tcp_stream_serves_hyper_without_the_adapter() {
    round_trips(true);
}

fn round_trips(direct: bool) {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let addr = server(direct).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut sender = if direct {
            let (sender, conn) = hyper::client::conn::http1::handshake(stream).await.unwrap();
            kiln::spawn(conn);
            sender
        } else {
            let (sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
                .await
                .unwrap();
            kiln::spawn(conn);
            sender
        };
        for _ in 0..20 {
            // An HTTP/1 connection takes the next request once the previous one is done.
            sender.ready().await.unwrap();
            let res = sender
                .send_request(Request::get("/").body(Full::new(Bytes::new())).unwrap())
                .await
                .unwrap();
            assert!(res.status().is_success());
            let got = res.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&got[..], b"hello");
        }
        let big: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 253) as u8).collect();
        sender.ready().await.unwrap();
        let res = sender
            .send_request(
                Request::post("/echo")
                    .body(Full::new(Bytes::from(big.clone())))
                    .unwrap(),
            )
            .await
            .unwrap();
        let got = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(got.len(), big.len());
        assert!(got[..] == big[..]);
    });
}

#[test]
fn the_executor_runs_spawned_connection_tasks() {
    use hyper::rt::Executor;
    kiln::run(async {
        let (tx, rx) = kiln::sync::oneshot::channel();
        HyperExecutor.execute(async move {
            tx.send(7).unwrap();
        });
        assert_eq!(rx.await.unwrap(), 7);
    });
}
