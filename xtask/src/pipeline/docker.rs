//! The docker step of `cargo xtask test`: a few integration tests against Slurm and
//! CouchDB running on the docker backend (ADR 0202b), so CI proves on every run that
//! the engine starts, the images build from the Debian base and the containers serve
//! the real clients. A fuller docker run is `cargo xtask itest --backend docker`.
//!
//! The containers' instances live beside the native ones: their state dirs and env
//! file are in `<services dir>/docker/` (`$HPCKIT_SERVICES_DIR` for the child xtask),
//! Slurm in a container has ports and a munge socket of its own, CouchDB takes the next
//! free port. The native services, and those of other worktrees, keep running.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use super::{Scope, run_tests};
use crate::cmd::{self, cargo};
use crate::services::{self, SERVICES_DIR_VAR};

/// The step's line in the timing table.
pub(super) const STEP_NAME: &str = "docker itest (slurm, couchdb containers)";

/// Services the step starts in containers.
const SERVICES: [&str; 2] = ["slurm", "couchdb"];

/// Test binaries of `crates/itests` and the tests run from each (exact names): a job
/// submitted, waited for and cancelled on the containers' slurmctld and slurmd; hpckit
/// and the Python picas on the container's CouchDB, and its 401 for a wrong password.
const TESTS: [(&str, &[&str]); 3] = [
    ("sched_slurm", &["plain::exit_code_and_name", "plain::cancel"]),
    ("picas_interop", &["python_views_and_tokens_are_run_by_hpckit_workers"]),
    ("picas_faults", &["wrong_password_is_a_clear_401_and_never_shown"]),
];

/// Runs the step: engine and images (built when missing), the services up in containers,
/// the tests, then the containers down and the engine stopped if xtask started it, also
/// after a failure. Fails when the engine cannot start: no skipping.
pub(super) fn run() -> Result<()> {
    let dir = services::services_dir().join("docker");
    let env_file = dir.join("services.env");
    let started = Instant::now();
    let up = services_on_docker(&dir, &env_file, &["up"]).context("services up in containers");
    let up_took = started.elapsed();
    let tests = match &up {
        // A service that did not start has said so; its tests would only repeat it.
        Err(_) => Ok(()),
        Ok(()) => run_tests(Scope::Integration, Some(&env_file), &test_args(), None)
            .context("integration tests against the containers"),
    };
    let tests_took = started.elapsed() - up_took;
    let down =
        services_on_docker(&dir, &env_file, &["down"]).context("services down in containers");
    println!(
        "docker step: up {:.1} s, tests {:.1} s, down {:.1} s",
        up_took.as_secs_f64(),
        tests_took.as_secs_f64(),
        (started.elapsed() - up_took - tests_took).as_secs_f64()
    );
    let result = up.and(tests);
    if let (Err(_), Err(err)) = (&result, &down) {
        eprintln!("also: {err:#}");
    }
    result.and(down)
}

/// `cargo xtask services --backend docker <action> [SERVICES]` in an xtask built with
/// the `docker` feature (this one is not: the native path never builds testcontainers),
/// its instances kept in `dir`.
fn services_on_docker(dir: &Path, env_file: &Path, action: &[&str]) -> Result<()> {
    let mut command = cargo();
    command
        .args(["run", "--quiet", "--package", "xtask", "--features", "docker", "--"])
        .args(["services", "--backend", "docker"])
        .args(action);
    if action == ["up"] {
        command.args(SERVICES);
    }
    cmd::run_telling_why(command.env(SERVICES_DIR_VAR, dir).env("HPCKIT_SERVICES_ENV", env_file), 6)
}

/// `--test <binary>`... `-- --exact <name>`...: understood by nextest and cargo test.
fn test_args() -> Vec<String> {
    let mut args: Vec<String> =
        TESTS.iter().flat_map(|(binary, _)| ["--test".to_owned(), (*binary).to_owned()]).collect();
    args.extend(["--".to_owned(), "--exact".to_owned()]);
    args.extend(TESTS.iter().flat_map(|(_, names)| names.iter().map(|n| (*n).to_owned())));
    args
}

#[cfg(test)]
mod tests {
    use super::{SERVICES, TESTS};
    use crate::cmd;

    /// A renamed test would silently drop out of an `--exact` filter: each name must
    /// still be a test function, in its binary or (sched_slurm) the suite it expands.
    #[test]
    fn every_test_of_the_docker_step_exists() {
        let dir = cmd::workspace_root().join("crates/itests/tests");
        for (binary, names) in TESTS {
            let mut sources = std::fs::read_to_string(dir.join(format!("{binary}.rs"))).unwrap();
            if binary == "sched_slurm" {
                sources += &std::fs::read_to_string(dir.join("slurm_fixture/cases.rs")).unwrap();
            }
            for name in names {
                let (module, function) = name.rsplit_once("::").unwrap_or(("", name));
                assert!(
                    sources.contains(&format!("async fn {function}()")),
                    "{binary}: no test {name}"
                );
                if !module.is_empty() {
                    assert!(
                        sources.contains(&format!("suite!({module},")),
                        "{binary}: no {module}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_services_have_images() {
        for service in SERVICES {
            let dockerfile = cmd::workspace_root().join("docker").join(service).join("Dockerfile");
            assert!(dockerfile.exists(), "{} is missing", dockerfile.display());
        }
    }
}
