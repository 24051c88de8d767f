//! `hpckit`: jobs, files and more from the command line.

mod fs;
mod job;

use clap::{Parser, Subcommand};

/// One fast, safe toolkit for HPC middleware.
#[derive(Debug, Parser)]
#[command(name = "hpckit", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Submit, run and watch jobs on any scheduler (local, ssh, slurm, sge, torque, at).
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Work with files on any file system (local, sftp, ftp, webdav, s3).
    #[command(subcommand)]
    Fs(fs::FsCommand),
}

fn main() -> std::process::ExitCode {
    let _cli = Cli::parse();
    std::process::ExitCode::SUCCESS
}
