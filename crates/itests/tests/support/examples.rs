//! The example programs of the umbrella crate (`crates/hpckit/examples/`)
//! for the tests that run them (`#[path = "support/examples.rs"] mod
//! examples;`). Cargo builds no examples for integration tests, so the first
//! call builds them all with `cargo build -p hpckit --examples` (in the
//! tests' workspace, profile and target directory; a no-op when they are
//! fresh) and reads the programs' paths from cargo's JSON messages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use hpc_exec::{Command, Executor, LocalExecutor, Output};

/// Every example program by name.
pub(crate) fn programs() -> &'static BTreeMap<String, PathBuf> {
    static PROGRAMS: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    PROGRAMS.get_or_init(build)
}

fn build() -> BTreeMap<String, PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let out = std::process::Command::new(cargo)
        .args(["build", "--quiet", "-p", "hpckit", "--examples", "--message-format=json"])
        .arg("--manifest-path")
        .arg(&manifest)
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("running cargo to build the examples");
    assert!(out.status.success(), "cargo build -p hpckit --examples failed (see above)");
    let mut programs = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let is_example =
            msg["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "example"));
        if msg["reason"] == "compiler-artifact" && is_example {
            let name = msg["target"]["name"].as_str().unwrap().to_owned();
            let exe = msg["executable"].as_str().expect("an example has an executable");
            programs.insert(name, PathBuf::from(exe));
        }
    }
    assert!(!programs.is_empty(), "cargo reported no example programs");
    programs
}

/// The command that runs example `name` with `args`, its environment
/// holding every variable of the services env file after checking that each
/// of `services` is up (a missing one fails the test, naming the xtask).
pub(crate) fn command(name: &str, args: &[&str], services: &[&str]) -> Command {
    let cmd = Command::new(program(name)).args(args).env("RUST_LOG", "warn");
    settings(services).into_iter().fold(cmd, |cmd, (k, v)| cmd.env(k, v))
}

/// The path of example program `name`.
pub(crate) fn program(name: &str) -> &'static PathBuf {
    programs().get(name).unwrap_or_else(|| panic!("no example program {name}"))
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
