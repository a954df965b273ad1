//! The message list under an mpsc channel: an unbounded, lock-free multi-producer queue.
//!
//! Outside loom this is `crossbeam-channel`'s unbounded (linked blocks) flavor, used purely
//! as a data structure: the channel owns both ends, never blocks in it, and does all waiting
//! and closing itself. crossbeam is invisible to loom, so loom builds swap in a
//! lock-protected `VecDeque` with the same interface; the models then check the protocol
//! around the list (wake-ups, closing, capacity), which is where the interleavings live.

#[cfg(not(any(kiln_loom, all(test, loom))))]
mod imp {
    #[derive(Debug)]
    pub(crate) struct List<T> {
        tx: crossbeam_channel::Sender<T>,
        rx: crossbeam_channel::Receiver<T>,
    }

    impl<T> List<T> {
        pub(crate) fn new() -> Self {
            let (tx, rx) = crossbeam_channel::unbounded();
            Self { tx, rx }
        }

        /// Appends a message. The push is a sequentially consistent RMW on the list tail.
        pub(crate) fn push(&self, value: T) {
            if self.tx.send(value).is_err() {
                unreachable!("the list owns its receiving end, so it cannot disconnect");
            }
        }

        pub(crate) fn pop(&self) -> Option<T> {
            self.rx.try_recv().ok()
        }

        pub(crate) fn len(&self) -> usize {
            self.rx.len()
        }
    }
}

#[cfg(any(kiln_loom, all(test, loom)))]
mod imp {
    use crate::loom::sync::Mutex;
    use std::collections::VecDeque;

    #[derive(Debug)]
    pub(crate) struct List<T>(Mutex<VecDeque<T>>);

    impl<T> List<T> {
        pub(crate) fn new() -> Self {
            Self(Mutex::new(VecDeque::new()))
        }

        pub(crate) fn push(&self, value: T) {
            self.0.lock().push_back(value);
        }

        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().pop_front()
        }

        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }
}

pub(super) use imp::List;
