#[kiln::test]
fn not_async() {}

fn main() {}
