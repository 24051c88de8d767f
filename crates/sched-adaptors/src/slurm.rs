//! The `slurm` scheduler adaptor (issue #4).
