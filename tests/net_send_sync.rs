//! Compile-time checks: every public networking type is `Send + Sync` (and the futures they
//! return are `Send`), so they work in spawned tasks and behind `Arc`.

use kiln::net::{
    OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, TcpListener, TcpStream, UdpSocket,
    UnixListener, UnixStream, WriteHalf,
};

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<TcpListener>();
    send_sync::<TcpStream>();
    send_sync::<UdpSocket>();
    send_sync::<UnixListener>();
    send_sync::<UnixStream>();
    send_sync::<ReadHalf<'static, TcpStream>>();
    send_sync::<WriteHalf<'static, TcpStream>>();
    send_sync::<OwnedReadHalf<TcpStream>>();
    send_sync::<OwnedWriteHalf<TcpStream>>();
    send_sync::<OwnedReadHalf<UnixStream>>();
    send_sync::<OwnedWriteHalf<UnixStream>>();
    send_sync::<ReuniteError<TcpStream>>();
}

#[test]
fn futures_are_send() {
    let rt = kiln::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        send(&TcpListener::bind("127.0.0.1:0"));
        send(&TcpStream::connect("127.0.0.1:9"));
        send(&UdpSocket::bind("127.0.0.1:0"));
        send(&UnixStream::connect("/nonexistent"));
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        send(&l.accept());
        let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut buf = [0u8; 4];
        send(&u.recv_from(&mut buf));
    });
}
