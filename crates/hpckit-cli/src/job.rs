//! `hpckit job ...` (issue #3).

/// Job subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum JobCommand {}
