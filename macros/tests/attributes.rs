//! `#[kiln::main]` and `#[kiln::test]` as users write them: each argument changes the runtime
//! the body runs on.

use std::time::Duration;

/// The name of the thread running the calling task.
fn thread_name() -> Option<String> {
    std::thread::current().name().map(str::to_owned)
}

#[kiln::test]
async fn default_test_runs_on_the_calling_current_thread_runtime() {
    // libtest names the test's thread after the test.
    let outer = thread_name();
    let inner = kiln::spawn(async { thread_name() }).await.unwrap();
    assert_eq!(inner, outer);
}

#[kiln::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_flavor_runs_tasks_on_worker_threads() {
    let outer = thread_name();
    let inner = kiln::spawn(async { thread_name() }).await.unwrap();
    assert_ne!(inner, outer);
    assert_eq!(inner.as_deref(), Some("kiln-worker"));
}

#[kiln::test(start_paused = true)]
async fn start_paused_sleeps_an_hour_in_well_under_100_ms() {
    let wall = std::time::Instant::now();
    let start = kiln::time::now();
    kiln::time::sleep(Duration::from_secs(3600)).await;
    assert!(kiln::time::now() - start >= Duration::from_secs(3600));
    let took = wall.elapsed();
    // No timing assertion beyond "no real waiting" (the machine may be loaded); the figure is
    // printed for the record (run with --nocapture; the whole test is timed below).
    eprintln!("one paused hour took {took:?} of wall time");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn whole_paused_test_with_its_runtime_for_the_record() {
    let wall = std::time::Instant::now();
    start_paused_sleeps_an_hour_in_well_under_100_ms();
    let took = wall.elapsed();
    eprintln!("#[kiln::test(start_paused = true)] sleeping 1 h took {took:?} of wall time");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[kiln::test(flavor = "current_thread", start_paused = false)]
async fn start_paused_false_keeps_the_real_clock() {
    let wall = std::time::Instant::now();
    kiln::time::sleep(Duration::from_millis(5)).await;
    assert!(wall.elapsed() >= Duration::from_millis(5));
}

#[kiln::test]
async fn a_test_may_return_a_result_and_use_question_mark() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "12".parse()?;
    assert_eq!(n, 12);
    Ok(())
}

#[kiln::test]
#[should_panic(expected = "boom")]
async fn other_attributes_are_kept() {
    panic!("boom");
}

mod main_attr {
    #[kiln::main(flavor = "current_thread")]
    pub async fn main() -> u32 {
        kiln::spawn(async { 40 }).await.unwrap() + 2
    }

    #[kiln::main]
    pub async fn main_multi() -> usize {
        kiln::spawn(async { 1 }).await.unwrap()
    }
}

#[test]
fn main_attribute_builds_a_runtime_and_returns_the_body_s_value() {
    assert_eq!(main_attr::main(), 42);
    assert_eq!(main_attr::main_multi(), 1);
}
