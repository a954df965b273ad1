//! TLS on kiln (`--features hyper`): futures-rustls (ring provider) over kiln TCP on both ends,
//! with self-signed certificates made by rcgen; hyper over TLS through the `tls_hyper`
//! example; handshakes against the wrong certificate fail with an error that says why.
#![cfg(feature = "hyper")]

use futures::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::rustls;
use futures_rustls::rustls::pki_types::ServerName;
use kiln::net::{TcpListener, TcpStream};
use std::io;

#[allow(
    dead_code,
    reason = "the example's `main` is not called from the tests"
)]
#[path = "../examples/tls_hyper.rs"]
mod example;

use example::{acceptor, connector, fetch, self_signed, serve_https};

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

#[test]
fn a_megabyte_echoes_through_tls_on_both_ends() {
    let rt = kiln::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let (cert, key, _) = self_signed(&["localhost"]);
        let acceptor = acceptor(cert.clone(), key);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = kiln::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let (mut r, mut w) = tls.split();
            let n = futures::io::copy(&mut r, &mut w).await.unwrap();
            w.close().await.unwrap();
            n
        });

        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = connector(cert).connect(localhost(), tcp).await.unwrap();
        let (mut r, mut w) = tls.split();
        let data: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let writer = kiln::spawn({
            let data = data.clone();
            async move {
                for chunk in data.chunks(10_000) {
                    w.write_all(chunk).await.unwrap();
                }
                w.close().await.unwrap();
            }
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "the echoed bytes differ");
        assert_eq!(server.await.unwrap(), data.len() as u64);
    });
}

#[test]
fn hyper_serves_and_fetches_over_tls() {
    kiln::run(async {
        let (cert, key, _) = self_signed(&["localhost"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        kiln::spawn(serve_https(listener, acceptor(cert.clone(), key)));
        let connector = connector(cert);
        for path in ["/", "/a", "/b/c"] {
            let (status, body) = fetch(addr, &connector, "localhost", path).await.unwrap();
            assert_eq!(status, 200);
            assert_eq!(
                String::from_utf8_lossy(&body),
                format!("Hello over TLS, you asked for {path}\n")
            );
        }
    });
}

/// The rustls error inside a failed handshake's `io::Error`.
fn rustls_error(err: &io::Error) -> &rustls::Error {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .unwrap_or_else(|| panic!("not a TLS error: {err:?}"))
}

#[test]
fn a_certificate_from_an_untrusted_issuer_fails_the_handshake() {
    kiln::run(async {
        let (trusted, _, _) = self_signed(&["localhost"]);
        let (presented, key, _) = self_signed(&["localhost"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        kiln::spawn(serve_https(listener, acceptor(presented.clone(), key)));

        let err = fetch(addr, &connector(trusted), "localhost", "/")
            .await
            .expect_err("a handshake against an untrusted certificate succeeded");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        // Both certificates carry rcgen's default subject, so the trusted one is found as the
        // issuer and the signature check is what fails.
        assert!(
            matches!(
                rustls_error(&err),
                rustls::Error::InvalidCertificate(
                    rustls::CertificateError::BadSignature
                        | rustls::CertificateError::UnknownIssuer
                )
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("invalid peer certificate"),
            "{err}"
        );

        // The server lives on: a client trusting its certificate gets through.
        let (status, _) = fetch(addr, &connector(presented), "localhost", "/")
            .await
            .unwrap();
        assert_eq!(status, 200);
    });
}

#[test]
fn a_certificate_for_another_name_fails_the_handshake() {
    kiln::run(async {
        let (cert, key, _) = self_signed(&["localhost"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        kiln::spawn(serve_https(listener, acceptor(cert.clone(), key)));

        let err = fetch(addr, &connector(cert), "kiln.example", "/")
            .await
            .expect_err("a certificate for localhost was accepted for kiln.example");
        assert!(
            matches!(rustls_error(&err), rustls::Error::InvalidCertificate(_)),
            "{err:?}"
        );
        assert!(err.to_string().contains("not valid for name"), "{err}");
    });
}

#[test]
fn a_server_sees_the_rejected_handshake_as_an_error() {
    kiln::run(async {
        let (trusted, _, _) = self_signed(&["localhost"]);
        let (presented, key, _) = self_signed(&["localhost"]);
        let acceptor = acceptor(presented, key);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = kiln::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp).await.map(drop)
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let client = connector(trusted).connect(localhost(), tcp).await;
        assert!(client.is_err());
        let err = server
            .await
            .unwrap()
            .expect_err("the server finished a handshake the client rejected");
        assert!(err.to_string().contains("alert"), "{err}");
    });
}
