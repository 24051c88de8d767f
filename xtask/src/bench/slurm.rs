//! `cargo xtask bench slurm` (owned by helper D1 (issue #4)).

use anyhow::{Result, bail};

/// Runs the benchmark and prints its table (see `super` for shared helpers).
pub(crate) fn run(_args: &[String]) -> Result<()> {
    bail!("benchmark `slurm` is not implemented yet")
}
