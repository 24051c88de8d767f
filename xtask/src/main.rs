//! Developer tasks: `cargo xtask services|test|itest|bench` (issue #3).
fn main() {}
