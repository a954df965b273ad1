//! Watching busy siblings' sockets from a parked worker's own poller.
//!
//! A worker stuck in a long task does not poll its sockets, so their readiness waits until an
//! idle sibling harvests them (I/O stealing, see the parent module). A sibling that only looks
//! every [`super::IO_STEAL_AFTER`] adds up to that much latency to each event. Instead, an
//! epoll descriptor is itself pollable: it is readable while events are pending in it. So
//! before a parked wait during which a sibling runs tasks (`Recheck::Soon`), a worker adds the
//! *source poller* (`sources.rs`, sockets only) of each sibling that is not waiting on its own
//! poller and has sources to its own main poller ([`SiblingWatch::arm`], one-shot). An event
//! pending at such a sibling then wakes the watcher at once; it harvests that sibling's
//! sockets ([`DriverHandle::poll_io_nonblocking`]) and runs the woken tasks itself. (While the
//! CPUs are oversubscribed and no sibling is stale, the worker follows a busy sibling
//! instead, `follow.rs`: a wake-up would wait for a CPU.)
//!
//! After the wait the watcher disables those registrations again ([`SiblingWatch::disarm`];
//! one that fired needs no call, the kernel disabled it), and leaves them in place for its next watch (`links.rs`: an add of an epoll descriptor
//! runs the kernel's loop check, an `EPOLL_CTL_MOD` does not). A registration in place, even
//! disabled, puts the watcher's poller on the sibling's source poller's wait queue, and every
//! socket event of that sibling runs a callback through it (measured at 3–4 % of the CPU time
//! of a loopback echo workload while the registration stayed for good), so a sibling found
//! busy by its own maintenance tick deletes them ([`SiblingWatch::unlink_idle`]). Watching
//! costs one `epoll_ctl` per watched sibling on each side of a wait, and only while a sibling
//! is busy when this worker parks.
//!
//! Source pollers contain sockets only, so main pollers and source pollers never form a loop
//! (which the kernel refuses with `ELOOP`): main pollers contain source pollers, never the
//! other way round.
//!
//! The registration is one-shot: it fires at most once per wait, so a sibling that keeps
//! receiving events does not keep waking the watcher. A sibling seen busy that then parks may
//! wake the watcher once for an event its owner takes itself: the watcher's harvest then finds
//! nothing.
//!
//! Keys: sibling `i` (in the order given) is registered under `top - i`, far above any source
//! key (a slab index); `Dispatch::dispatch` ignores keys it does not hold.
//!
//! Lifetime: the watch holds each sibling's handle, so their source pollers (and descriptors)
//! outlive the registrations, which `Drop` deletes before releasing the handles; it also
//! deletes this driver's disabled registrations in its siblings' pollers (its follows).

use super::links::{Link, Reg};
use super::DriverHandle;
use std::os::fd::AsFd;
use std::sync::Arc;

/// The siblings whose source pollers one worker may watch.
pub(crate) struct SiblingWatch {
    /// This driver's handle: its main poller, and the states of the registrations in it.
    own: Arc<DriverHandle>,
    siblings: Vec<Arc<DriverHandle>>,
    /// Whether sibling `i`'s source poller is in `own` now (between `arm` and `disarm`).
    armed: Vec<bool>,
    /// The key of sibling 0; sibling `i` uses `top - i`.
    top: usize,
    /// This driver's worker index (its position among all drivers).
    index: usize,
}

impl SiblingWatch {
    /// Watches `siblings` (every driver of the runtime but worker `index`'s, in worker
    /// order) from `own`, under keys counting down from `top`. Nothing is registered until
    /// [`SiblingWatch::arm`].
    pub(crate) fn new(
        own: Arc<DriverHandle>,
        siblings: Vec<Arc<DriverHandle>>,
        index: usize,
        top: usize,
    ) -> SiblingWatch {
        let armed = vec![false; siblings.len()];
        SiblingWatch {
            own,
            siblings,
            armed,
            top,
            index,
        }
    }

    /// The siblings, in worker order.
    pub(super) fn siblings(&self) -> &[Arc<DriverHandle>] {
        &self.siblings
    }

    /// The key under which sibling `i`'s watch (and so its poller) knows this driver: the
    /// siblings' lists leave out their own worker.
    pub(super) fn key_at_sibling(&self, i: usize) -> usize {
        self.top - self.pos_at_sibling(i)
    }

    /// This driver's position in sibling `i`'s sibling list.
    pub(super) fn pos_at_sibling(&self, i: usize) -> usize {
        // Sibling `i` is worker `i` below this one's index, worker `i + 1` above it.
        let worker = if i < self.index { i } else { i + 1 };
        if self.index < worker {
            self.index
        } else {
            self.index - 1
        }
    }

    /// Deletes this driver's disabled registrations in its siblings' pollers (this driver is
    /// busy: see the module docs). A sibling whose idle mask shows none costs no lock
    /// (`links.rs`).
    pub(super) fn unlink_idle(&self) {
        for (i, sibling) in self.siblings.iter().enumerate() {
            let pos = self.pos_at_sibling(i);
            sibling
                .links
                .remove_idle(&sibling.poller, pos, self.own.sources.as_fd());
        }
    }

    /// Harvests the sockets of every quiet sibling (`follow.rs`), dispatching their events on
    /// the calling worker; returns how many were dispatched.
    pub(super) fn poll_quiet(&self) -> usize {
        self.siblings
            .iter()
            .filter(|s| s.lead.is_quiet())
            .map(|s| s.poll_io_nonblocking())
            .sum()
    }

    /// Enables the source poller of each sibling that runs tasks (is not waiting on its own
    /// poller) and has sources, for the caller's next wait. A sibling whose registration fails,
    /// or that follows this driver (its events reach this poller anyway), is left to the
    /// periodic I/O stealing.
    pub(crate) fn arm(&mut self) {
        for (i, sibling) in self.siblings.iter().enumerate() {
            if self.armed[i] || sibling.is_parked() || !sibling.has_io_sources() {
                continue;
            }
            // SAFETY: the sibling's source poller stays open while `self.siblings` holds its
            // handle; `Drop` deletes the registration before that.
            self.armed[i] = unsafe { self.own.links.enable(self.reg(i), Link::Watch) };
        }
    }

    /// Sibling `i`'s source poller as registered in this driver's main poller.
    fn reg(&self, i: usize) -> Reg<'_> {
        Reg {
            main: &self.own.poller,
            pos: i,
            sources: self.siblings[i].sources.as_fd(),
            key: self.top - i,
        }
    }

    /// Disables every registration `arm` enabled (after the wait). `fired` holds the keys of
    /// that wait's events: a one-shot registration that fired is disabled already (the
    /// kernel did it when it reported the event), so only its state changes.
    pub(crate) fn disarm(&mut self, fired: &[usize]) {
        for i in 0..self.siblings.len() {
            if std::mem::take(&mut self.armed[i]) {
                if fired.contains(&(self.top - i)) {
                    self.own.links.spent(i, Link::Watch);
                } else {
                    self.own.links.disable(self.reg(i), Link::Watch);
                }
            }
        }
    }

    /// Harvests the sockets of every sibling whose registration fired (`keys`, of one wait),
    /// dispatching their events (their tasks are scheduled on the calling worker). Returns how
    /// many events were dispatched.
    pub(crate) fn poll_fired(&self, keys: &[usize]) -> usize {
        let mut n = 0;
        for &key in keys {
            let Some(i) = self.top.checked_sub(key) else {
                continue;
            };
            if let Some(sibling) = self.siblings.get(i) {
                n += sibling.poll_io_nonblocking();
            }
        }
        n
    }
}

impl Drop for SiblingWatch {
    fn drop(&mut self) {
        let own = &*self.own;
        own.links.remove_all(&own.poller, |pos| {
            self.siblings.get(pos).map(|s| s.sources.as_fd())
        });
        // Every sibling under its lock, not trusting the idle mask: the last chance.
        for (i, sibling) in self.siblings.iter().enumerate() {
            let pos = self.pos_at_sibling(i);
            sibling
                .links
                .remove_idle_now(&sibling.poller, pos, self.own.sources.as_fd());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::{pending_pair, Driver, DriverHandle};
    use crate::io::READABLE;
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::task::{Context, Poll};
    use std::time::Duration;

    /// Parks `watcher` as a worker does while a sibling runs tasks, until a park harvests
    /// events (at most 10,000 parks of up to 1 s); returns how many it harvested.
    fn park_until_harvest(watcher: &mut Driver) -> usize {
        for _ in 0..10_000 {
            // The scheduler asks for this before each park while a sibling runs tasks.
            watcher.handle.request_recheck(crate::driver::Recheck::Soon);
            let n = watcher.park(Some(Duration::from_secs(1))).io_events;
            if n > 0 {
                return n;
            }
        }
        0
    }

    /// A parked driver whose sibling runs tasks wakes for the sibling's socket event and
    /// harvests it: nothing else in this test harvests the sibling's sockets.
    #[test]
    fn a_watched_sibling_event_wakes_the_parked_watcher() {
        let busy = DriverHandle::new().unwrap();
        let mut watcher = Driver::new(DriverHandle::new().unwrap(), Duration::ZERO);
        watcher.set_siblings(vec![busy.clone()], 0);
        let (mut a, b, key, io) = pending_pair(&busy);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        a.write_all(b"x").unwrap();
        assert!(
            park_until_harvest(&mut watcher) > 0,
            "the watcher never harvested its sibling's event"
        );
        assert!(matches!(io.poll_ready(&mut cx, READABLE), Poll::Ready(_)));
        // The registration that fired was left disabled without a call; the next watch
        // enables it again and a new event wakes the watcher as the first did.
        let mut byte = [0u8; 1];
        std::io::Read::read(&mut &b, &mut byte).unwrap();
        let err = std::io::Read::read(&mut &b, &mut byte).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        io.clear_readiness(
            match io.poll_ready(&mut cx, READABLE) {
                Poll::Ready(Ok(ev)) => ev,
                other => panic!("expected readiness, got {other:?}"),
            },
            READABLE,
        );
        a.write_all(b"y").unwrap();
        assert!(
            park_until_harvest(&mut watcher) > 0,
            "a spent watch was not enabled again"
        );
        assert!(matches!(io.poll_ready(&mut cx, READABLE), Poll::Ready(_)));
        busy.deregister(std::os::fd::AsFd::as_fd(&b), key);
    }

    /// A watcher with sockets of its own watches a busy sibling rather than parking quietly
    /// behind it (`follow.rs`): a quiet wait would never harvest the sibling's event (only the
    /// periodic stealing of the scheduler would, which this test does not run).
    #[test]
    fn a_watcher_with_sockets_watches_a_busy_sibling_instead_of_following_it() {
        let busy = DriverHandle::new().unwrap();
        let mut watcher = Driver::new(DriverHandle::new().unwrap(), Duration::ZERO);
        watcher.set_siblings(vec![busy.clone()], 0);
        // The watcher's own socket, which makes it a candidate for quiet parking.
        let (_own_peer, own) = UnixStream::pair().unwrap();
        own.set_nonblocking(true).unwrap();
        let (own_key, _own_io) = watcher
            .handle
            .register(std::os::fd::AsFd::as_fd(&own))
            .unwrap();
        let (mut a, b, key, io) = pending_pair(&busy);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        // The sibling is not parked and not quiet: it could lead.
        assert_ne!(busy.io_state(), super::super::IoState::Parked);
        assert!(!busy.lead.is_quiet());
        a.write_all(b"x").unwrap();
        let mut sibling_ready = false;
        for _ in 0..10_000 {
            watcher.handle.request_recheck(crate::driver::Recheck::Soon);
            watcher.park(Some(Duration::from_secs(1)));
            if matches!(io.poll_ready(&mut cx, READABLE), Poll::Ready(_)) {
                sibling_ready = true;
                break;
            }
        }
        assert!(
            sibling_ready,
            "the watcher never harvested its busy sibling's event (it parked quietly behind it)"
        );
        busy.deregister(std::os::fd::AsFd::as_fd(&b), key);
        watcher
            .handle
            .deregister(std::os::fd::AsFd::as_fd(&own), own_key);
    }
}
