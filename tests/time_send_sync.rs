//! Compile-time Send/Sync checks for every public type of `kiln::time`.

use kiln::time::*;

fn send_sync<T: Send + Sync>() {}
fn unpin<T: Unpin>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<kiln_timer::Driver>();
    send_sync::<kiln_timer::TimerHandle>();
    send_sync::<kiln_timer::ManualClock>();
    send_sync::<kiln_timer::PausableClock>();
    send_sync::<Advance>();
    send_sync::<Sleep>();
    send_sync::<Timeout<std::future::Ready<u8>>>();
    send_sync::<Interval>();
    send_sync::<Elapsed>();
    send_sync::<MissedTickBehavior>();
    send_sync::<std::sync::Arc<dyn kiln_timer::Unpark>>();
    // A `Sleep` carries its timer entry, which the driver links by address: it is pinned
    // while registered (`!Unpin`, as tokio's is), and boxed where it must move after a poll.
    unpin::<std::pin::Pin<Box<Sleep>>>();
    // An `Interval` boxes its sleep once, so it moves freely.
    unpin::<Interval>();
    unpin::<Advance>();
}

#[test]
fn elapsed_is_a_std_error() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>() {}
    is_error::<Elapsed>();
    let io: std::io::Error = kiln::run(async {
        timeout(Duration::ZERO, std::future::pending::<()>())
            .await
            .unwrap_err()
    })
    .into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
}
