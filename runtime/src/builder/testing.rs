//! The builder's testing options: paused time and a seeded task order (see `crate::testing`
//! for what the current-thread scheduler does with them).

use super::Builder;

impl Builder {
    /// Starts the runtime's clock paused (default `false`): `sleep`, `timeout` and `interval`
    /// then see time move only through `kiln::time::advance` or **auto-advance**: when every
    /// task is idle and no blocking job of the runtime is in flight, the clock jumps to the
    /// next timer deadline. So a test of a one-hour timeout takes microseconds, and its timers
    /// fire in deadline order every run. I/O is polled (not waited for) before each jump; the
    /// exact rule is in `docs/testing.md`. `kiln::time::now()` reads the paused clock;
    /// `std::time::Instant::now()` does not.
    ///
    /// Current-thread flavor only.
    ///
    /// # Panics
    /// `start_paused(true)` on a multi-thread builder: its workers each keep a timer wheel and
    /// none can tell that all of them are idle at once, so it could jump the clock while a
    /// sibling still runs.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = kiln::Builder::new_current_thread().start_paused(true).build().unwrap();
    /// let wall = std::time::Instant::now();
    /// rt.block_on(async {
    ///     let slow = kiln::time::sleep(Duration::from_secs(7200));
    ///     let out = kiln::time::timeout(Duration::from_secs(3600), slow).await;
    ///     assert!(out.is_err()); // the timeout's deadline comes first, every time
    /// });
    /// assert!(wall.elapsed() < Duration::from_secs(60));
    /// ```
    #[track_caller]
    pub fn start_paused(&mut self, paused: bool) -> &mut Builder {
        assert!(
            !paused || self.kind == super::Kind::CurrentThread,
            "kiln::Builder::start_paused(true) needs the current-thread flavor \
             (kiln::Builder::new_current_thread()): a multi-thread runtime cannot tell when \
             all its workers are idle at once, so it cannot auto-advance a paused clock"
        );
        self.testing.start_paused = paused;
        self
    }

    /// Makes the order in which ready tasks run random but fixed by `seed` (current-thread
    /// flavor; ignored by the multi-thread flavor, whose order depends on thread timing).
    /// Without a seed ready tasks run first-in, first-out. Use it to shake out and then
    /// replay an order-dependent bug: run a test under many seeds, and rerun a failing one
    /// with its seed.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// fn order(seed: u64) -> Vec<u32> {
    ///     let rt = kiln::Builder::new_current_thread().rng_seed(seed).build().unwrap();
    ///     let seen = Arc::new(Mutex::new(Vec::new()));
    ///     rt.block_on(async {
    ///         let tasks: Vec<_> = (0..10)
    ///             .map(|i| {
    ///                 let seen = seen.clone();
    ///                 kiln::spawn(async move { seen.lock().unwrap().push(i) })
    ///             })
    ///             .collect();
    ///         for t in tasks {
    ///             t.await.unwrap();
    ///         }
    ///     });
    ///     let v = seen.lock().unwrap().clone();
    ///     v
    /// }
    /// assert_eq!(order(7), order(7));
    /// ```
    pub fn rng_seed(&mut self, seed: u64) -> &mut Builder {
        self.testing.rng_seed = Some(seed);
        self
    }
}
