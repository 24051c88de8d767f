//! The example programs of the umbrella crate (`crates/hpckit/examples/`)
//! for the tests that run them (`#[path = "support/examples.rs"] mod
//! examples;`). Cargo builds no examples for integration tests, and a test
//! cannot run cargo itself (`cargo test` holds the build directory while its
//! tests run): `cargo xtask itest` and `cargo xtask test` build them first
//! (`cargo build -p hpckit --examples`) and name their directory in
//! `HPCKIT_EXAMPLES_DIR`.

use std::path::PathBuf;

use hpc_exec::{Command, Executor, LocalExecutor, Output};

/// The variable that names the directory of the built example programs.
const EXAMPLES_DIR: &str = "HPCKIT_EXAMPLES_DIR";

/// The command that runs example `name` with `args`, its environment
/// holding every variable of the services env file after checking that each
/// of `services` is up (a missing one fails the test, naming the xtask).
pub(crate) fn command(name: &str, args: &[&str], services: &[&str]) -> Command {
    let cmd = Command::new(program(name)).args(args).env("RUST_LOG", "warn");
    settings(services).into_iter().fold(cmd, |cmd, (k, v)| cmd.env(k, v))
}

/// The path of example program `name`; panics, saying how to build it, when
/// it is missing.
pub(crate) fn program(name: &str) -> PathBuf {
    let dir = std::env::var_os(EXAMPLES_DIR).map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "{EXAMPLES_DIR} is not set: run the tests with `cargo xtask itest`, or \
             `cargo build -p hpckit --examples` and set it to target/debug/examples"
        )
    });
    let exe = dir.join(name);
    assert!(
        exe.is_file(),
        "no example program {} (build them with `cargo build -p hpckit --examples`)",
        exe.display()
    );
    exe
}

/// Every variable of the services env file, after checking that each of
/// `services` is up.
pub(crate) fn settings(services: &[&str]) -> Vec<(String, String)> {
    let env = hpc_testkit::services::ServicesEnv::load();
    let mut vars = Vec::new();
    for service in services {
        let service = env.require(service);
        if vars.is_empty() {
            vars = service.vars().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        }
    }
    vars
}

/// Runs `cmd` with `exec`; its standard output when it succeeded, else
/// panics with everything it printed.
pub(crate) async fn output_of(exec: &dyn Executor, cmd: Command) -> String {
    let out: Output = exec.run(&cmd).await.expect("starting the example");
    assert!(
        out.status.success(),
        "{:?} failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        cmd.argv().first().map(|a| String::from_utf8_lossy(a).into_owned()),
        out.status,
        out.stdout_text(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout_text().into_owned()
}

/// Runs example `name` here as this user; its standard output (see [`output_of`]).
pub(crate) async fn run(name: &str, args: &[&str], services: &[&str]) -> String {
    output_of(&LocalExecutor::new(), command(name, args, services)).await
}
