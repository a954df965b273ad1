#[kiln::test(flavor = "multi_thread", start_paused = true)]
async fn paused_multi() {}

fn main() {}
