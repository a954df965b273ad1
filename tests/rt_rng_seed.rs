//! `Builder::rng_seed` on the current-thread flavor: the order in which ready tasks run is
//! random but fixed by the seed.

use std::sync::{Arc, Mutex};

/// The order of 100 tasks' first polls on a runtime seeded with `seed` (`None`: unseeded).
fn first_polls(seed: Option<u64>) -> Vec<usize> {
    let mut b = kiln::Builder::new_current_thread();
    if let Some(seed) = seed {
        b.rng_seed(seed);
    }
    let rt = b.build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    rt.block_on(async {
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let seen = seen.clone();
                kiln::spawn(async move {
                    seen.lock().unwrap().push(i);
                    // A second poll, so later polls interleave with other first polls.
                    kiln::task::yield_now().await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let order = seen.lock().unwrap().clone();
    assert_eq!(order.len(), 100);
    order
}

#[test]
fn same_seed_gives_the_same_order_in_twenty_runs() {
    for seed in [0, 1, 0xdead_beef] {
        let first = first_polls(Some(seed));
        for _ in 0..19 {
            assert_eq!(first_polls(Some(seed)), first, "seed {seed}");
        }
    }
}

#[test]
fn different_seeds_give_different_orders() {
    let orders: Vec<Vec<usize>> = (1..=5).map(|s| first_polls(Some(s))).collect();
    for (i, a) in orders.iter().enumerate() {
        for b in &orders[i + 1..] {
            assert_ne!(a, b);
        }
    }
    let unseeded: Vec<usize> = (0..100).collect();
    // Random, not first-in first-out.
    assert!(orders.iter().all(|o| *o != unseeded));
}

#[test]
fn without_a_seed_ready_tasks_run_in_spawn_order() {
    assert_eq!(first_polls(None), (0..100).collect::<Vec<_>>());
}

#[test]
fn a_seeded_runtime_still_runs_timers_and_blocking_jobs() {
    let rt = kiln::Builder::new_current_thread()
        .rng_seed(3)
        .build()
        .unwrap();
    let v = rt.block_on(async {
        kiln::time::sleep(std::time::Duration::from_millis(1)).await;
        kiln::spawn_blocking(|| 5).await.unwrap()
    });
    assert_eq!(v, 5);
}
