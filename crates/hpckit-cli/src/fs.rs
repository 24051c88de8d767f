//! `hpckit fs ...` (issue #5).

/// File-system subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FsCommand {}
