#[kiln::test(start_paused = "yes")]
async fn paused_string() {}

#[kiln::test(flavor = "multi_thread", worker_threads = 0)]
async fn zero_workers() {}

#[kiln::test(start_paused)]
async fn no_value() {}

#[kiln::test(flavor = "current_thread", flavor = "current_thread")]
async fn twice() {}

fn main() {}
