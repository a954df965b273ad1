//! HTTPS with hyper over futures-rustls over kiln TCP (`--features hyper`), with a
//! self-signed certificate made by rcgen at start-up.
//!
//! ```text
//! cargo run --features hyper --example tls_hyper                  # serve, fetch once, exit
//! cargo run --features hyper --example tls_hyper -- --serve 8443  # keep serving
//! curl --cacert target/kiln-tls-example.pem https://localhost:8443/
//! ```
//!
//! futures-rustls wraps any futures-io stream, so a kiln `TcpStream` goes in directly and the
//! TLS stream it returns is again futures-io: kiln's `HyperIo` hands it to hyper. rustls uses
//! its `ring` crypto provider.

use futures_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use futures_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use futures_rustls::{TlsAcceptor, TlsConnector};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use kiln::net::hyper::{HyperIo, HyperTimer};
use kiln::net::{TcpListener, TcpStream};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A self-signed certificate for `names`, its private key, and the certificate in PEM.
pub fn self_signed(names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).expect("generate a certificate");
    let key = PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der());
    (
        certified.cert.der().clone(),
        key.into(),
        certified.cert.pem(),
    )
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS server presenting `cert`.
pub fn acceptor(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> TlsAcceptor {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("a valid certificate and key");
    TlsAcceptor::from(Arc::new(config))
}

/// A TLS client trusting only `root`.
pub fn connector(root: CertificateDer<'static>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(root).expect("a valid root certificate");
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = format!("Hello over TLS, you asked for {}\n", req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Accepts connections forever; each runs its TLS handshake and HTTP/1 on its own task. A
/// failed handshake ends only that connection.
pub async fn serve_https(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<()> {
    loop {
        let (tcp, peer) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let acceptor = acceptor.clone();
        kiln::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => return eprintln!("TLS handshake with {peer} failed: {e}"),
            };
            let served = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .serve_connection(HyperIo::new(tls), service_fn(hello))
                .await;
            if let Err(e) = served {
                eprintln!("connection error: {e}");
            }
        });
    }
}

/// `GET path` over HTTPS, checking the server's certificate for `name`.
pub async fn fetch(
    addr: SocketAddr,
    connector: &TlsConnector,
    name: &str,
    path: &str,
) -> io::Result<(StatusCode, Bytes)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from(name.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls = connector.connect(name, tcp).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(tls))
        .await
        .map_err(io::Error::other)?;
    kiln::spawn(conn);
    let req = Request::get(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .expect("a valid request");
    let res = sender.send_request(req).await.map_err(io::Error::other)?;
    let status = res.status();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(io::Error::other)?
        .to_bytes();
    Ok((status, body))
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let serve_port = match args.as_slice() {
        [] => None,
        [flag, port] if flag == "--serve" => Some(port.parse::<u16>().expect("a port number")),
        _ => panic!("usage: tls_hyper [--serve PORT]"),
    };
    let (cert, key, pem_text) = self_signed(&["localhost"]);
    kiln::run(async move {
        let listener = TcpListener::bind(("127.0.0.1", serve_port.unwrap_or(0))).await?;
        let addr = listener.local_addr()?;
        let server = kiln::spawn(serve_https(listener, acceptor(cert.clone(), key)));
        if serve_port.is_some() {
            let pem = std::path::Path::new("target").join("kiln-tls-example.pem");
            std::fs::create_dir_all("target")?;
            std::fs::write(&pem, pem_text)?;
            println!(
                "serving https://localhost:{} (certificate in {})",
                addr.port(),
                pem.display()
            );
            return server.await.map_err(io::Error::other)?;
        }
        let (status, body) = fetch(addr, &connector(cert), "localhost", "/tls").await?;
        print!("{status}: {}", String::from_utf8_lossy(&body));
        server.abort();
        Ok(())
    })
}
