//! `cargo xtask bench ssh` (owned by helper A (issue #3)).

use anyhow::{Result, bail};

/// Runs the benchmark and prints its table (see `super` for shared helpers).
pub(crate) fn run(_args: &[String]) -> Result<()> {
    bail!("benchmark `ssh` is not implemented yet")
}
