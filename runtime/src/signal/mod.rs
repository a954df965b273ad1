//! Asynchronous signal handling: asyncio's `loop.add_signal_handler`.
//!
//! [`ctrl_c`] waits for SIGINT; [`unix::signal`] listens for any catchable signal. Any number
//! of listeners may wait for the same signal; each sees every delivery made after it was
//! created (deliveries close together may merge into one). Signals reach listeners through
//! the event loops of the workers the listeners were created on (a process-wide socket pair
//! written by the signal handler, see `registry.rs`): no thread waits for signals.
//!
//! Once kiln listens for a signal, its default action no longer runs for the rest of the
//! process, even after the listeners are dropped: after the first `ctrl_c()`, Ctrl-C no longer
//! ends the program unless the program ends itself.
//!
//! Unix only.

pub(crate) mod registry;
pub mod unix;

use std::io;

/// Waits for Ctrl-C (SIGINT).
///
/// The handler is installed at the first poll; a SIGINT sent before that still ends the
/// process by its default action.
///
/// # Errors
/// If the handler cannot be installed.
///
/// # Panics
/// Outside a kiln runtime.
///
/// ```no_run
/// kiln::run(async {
///     kiln::signal::ctrl_c().await.expect("cannot listen for Ctrl-C");
///     println!("Ctrl-C: shutting down");
/// });
/// ```
pub async fn ctrl_c() -> io::Result<()> {
    let mut sig = unix::signal_named(unix::SignalKind::interrupt(), "kiln::signal::ctrl_c")?;
    sig.recv().await;
    Ok(())
}
