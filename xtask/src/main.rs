//! Developer tasks for hpckit: `cargo xtask services|itest|doctor|test|codegen|tidy|bench|fuzz`.
//!
//! See `xtask/README.md` for the commands and for how to add a service.
// xtask is the one place besides hpc-exec that spawns processes: it drives cargo,
// apt-get, sshd and friends, and it is a developer tool, not library code.
#![allow(clippy::disallowed_methods)]

mod bench;
mod cmd;
mod codegen;
mod deny;
mod doctor;
mod features;
mod fuzz;
mod links;
mod pipeline;
mod secret_scan;
mod services;
mod shell_lint;
mod system;
mod tidy;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "hpckit developer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start, stop or inspect the real services the integration tests talk to.
    Services {
        #[command(subcommand)]
        action: services::Action,
        /// Where services run: plain processes on this machine, or Docker containers.
        #[arg(long, value_enum, default_value_t = services::Backend::Native, global = true)]
        backend: services::Backend,
    },
    /// `services up` (all, or the named ones), then the integration tests in `crates/itests`.
    Itest {
        /// Services to start (default: all registered).
        names: Vec<String>,
        /// Stop the services afterwards.
        #[arg(long)]
        down: bool,
        /// Where services run (see `services --backend`).
        #[arg(long, value_enum, default_value_t = services::Backend::Native)]
        backend: services::Backend,
        /// Passed to the test runner after `--` (e.g. `-- --test sshd_smoke`).
        #[arg(last = true)]
        test_args: Vec<String>,
    },
    /// Install the Debian packages listed under `docker/*/packages` (as root) and check
    /// that every command in `docker/*/commands` comes from them.
    Doctor,
    /// Everything CI runs: fmt, clippy, unit tests, services up, integration tests, services down.
    Test(pipeline::TestArgs),
    /// Rewrite every generated section of the docs (capability tables, CLI reference).
    Codegen {
        /// Write nothing; fail when a section is out of date.
        #[arg(long)]
        check: bool,
    },
    /// Check the rule of ARCHITECTURE.md a compiler does not: every adaptor folder has
    /// the same file set and type names, test data in testdata/ (also a unit test).
    Tidy,
    /// Run a benchmark against its peer tools and print its table; without a name,
    /// run every benchmark and write `target/bench/report.md`.
    Bench {
        /// Which benchmark (ssh, slurm, fs, unicore, picas, datamover); none or `all`
        /// runs each and writes the report.
        name: Option<String>,
        /// With the report: run only these benchmarks (comma-separated).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// With the report: leave these benchmarks out (comma-separated).
        #[arg(long, value_delimiter = ',')]
        skip: Vec<String>,
        /// With the report: also copy it to docs/benchmarks.md.
        #[arg(long)]
        update_docs: bool,
        /// Arguments passed to the benchmark.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run every fuzz target of `crates/hpc-fuzz` (or `--target NAME`) for
    /// `--seconds N` each on stable Rust; crashing inputs go to `target/fuzz/crashes/`.
    Fuzz(fuzz::FuzzArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Services { backend: services::Backend::Docker, .. }
        | Command::Itest { backend: services::Backend::Docker, .. }
            if !services::HAS_DOCKER =>
        {
            services::rerun_with_docker_feature()
        }
        Command::Services { action, backend } => services::run(action, backend),
        Command::Itest { names, down, backend, test_args } => {
            pipeline::itest(&names, down, backend, &test_args)
        }
        Command::Doctor => doctor::run(),
        Command::Test(args) => pipeline::test(&args),
        Command::Codegen { check } => codegen::run(check),
        Command::Tidy => tidy::check(&cmd::workspace_root()),
        Command::Bench { name, only, skip, update_docs, args } => {
            let report = bench::ReportArgs { only, skip, update_docs };
            bench::run(name.as_deref(), &args, &report)
        }
        Command::Fuzz(args) => fuzz::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
