#[kiln::main]
fn main() {}
