//! `cargo xtask bench fs` (owned by helper E2 (issue #5)).

use anyhow::{Result, bail};

/// Runs the benchmark and prints its table (see `super` for shared helpers).
pub(crate) fn run(_args: &[String]) -> Result<()> {
    bail!("benchmark `fs` is not implemented yet")
}
