//! `cargo xtask test` (exactly what CI runs) and `cargo xtask itest`.

mod disk;
mod docker;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::cmd::{self, cargo};
use crate::{codegen, deny, doctor, features, secret_scan, services, system, tidy};

/// Options of `cargo xtask test`.
#[derive(Debug, clap::Args)]
pub(crate) struct TestArgs {
    /// Stop at the first failing step instead of running the rest.
    #[arg(long)]
    fail_fast: bool,
    /// Leave the services running afterwards (for re-running single integration tests).
    #[arg(long)]
    keep_services: bool,
    /// Run only these steps (comma-separated), e.g. `--only docker`; the machine must
    /// already have what the skipped steps would install or start.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<StepKey>,
}

/// The steps of `cargo xtask test`, in order, as `--only` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StepKey {
    /// System packages installed, and every listed command owned by a listed package.
    Packages,
    /// `cargo fmt --check`.
    Fmt,
    /// `cargo xtask tidy`.
    Tidy,
    /// `cargo deny check licenses bans sources`.
    Deny,
    /// clippy on the workspace.
    Clippy,
    /// clippy on each crate without default features and with each feature alone.
    ClippyFeatures,
    /// Unit tests of every member but `itests`.
    Unit,
    /// `cargo xtask codegen --check`.
    Codegen,
    /// Doc tests.
    Doctests,
    /// `cargo doc` with warnings denied.
    Doc,
    /// Native services up, the traced integration tests, the secret scan, services down.
    Itests,
    /// A few integration tests against Slurm and CouchDB on the docker backend.
    Docker,
}

/// One timed step of the pipeline.
struct Step {
    name: String,
    took: Duration,
    ok: bool,
    disk: Option<disk::Usage>,
}

struct Report {
    steps: Vec<Step>,
    /// Cargo's target directory, measured after each step.
    target: Option<PathBuf>,
}

impl Report {
    fn run(&mut self, name: &str, f: impl FnOnce() -> Result<()>) -> bool {
        println!("\n==> {name}");
        let started = Instant::now();
        let result = f();
        let ok = match result {
            Ok(()) => true,
            Err(err) => {
                eprintln!("==> {name}: FAILED: {err:#}");
                false
            }
        };
        let took = started.elapsed();
        let disk = self.target.as_deref().and_then(disk::Usage::of);
        self.steps.push(Step { name: name.to_string(), took, ok, disk });
        ok
    }

    fn failed(&self) -> Vec<&str> {
        self.steps.iter().filter(|s| !s.ok).map(|s| s.name.as_str()).collect()
    }

    fn print(&self) {
        println!(
            "\nstep                                      time    result  target   free (GiB, after)"
        );
        for step in &self.steps {
            println!(
                "{:<40} {:>6.1}s   {:<6}  {}",
                step.name,
                step.took.as_secs_f64(),
                if step.ok { "ok" } else { "FAILED" },
                step.disk.map(|d| d.columns()).unwrap_or_default()
            );
        }
        let total: Duration = self.steps.iter().map(|s| s.took).sum();
        println!("{:<40} {:>6.1}s", "total", total.as_secs_f64());
    }
}

/// Whether `cargo nextest` is installed (faster test runs; cargo test otherwise).
fn has_nextest() -> bool {
    cargo().args(["nextest", "--version"]).output().is_ok_and(|o| o.status.success())
}

/// What the traced integration run logs: everything, where a secret could slip
/// into a message, but russh at debug: its per-packet cipher traces would make
/// the log gigabytes and carry only ciphertext (its debug still shows the auth steps).
const TRACE_FILTER: &str = "trace,russh=debug";

/// Which packages a test step covers.
enum Scope {
    /// Every workspace member but `itests` (unit tests need no services).
    Unit,
    /// Only `itests` (needs the services env file).
    Integration,
}

/// Runs tests with nextest when installed (one process per test, parallel), else cargo test;
/// with `trace`, everything the tests and their `hpckit` processes trace goes to that file.
fn run_tests(
    scope: Scope,
    env_file: Option<&Path>,
    extra: &[String],
    trace: Option<&Path>,
) -> Result<()> {
    let mut cmd = cargo();
    if let Scope::Integration = scope {
        // The tests run the umbrella crate's example programs; cargo builds no
        // examples for them, and a test cannot run cargo while `cargo test` holds
        // the build directory. The whole workspace: a narrower selection unifies
        // other features and builds every dependency a second time.
        cmd::run(cargo().args(["build", "--workspace", "--examples"]))?;
        cmd.env("HPCKIT_EXAMPLES_DIR", cmd::target_dir()?.join("debug").join("examples"));
    }
    // Both scopes build the whole workspace (one feature resolution, each
    // dependency built once) and pick the tests they run.
    if has_nextest() {
        cmd.args(["nextest", "run", "--no-fail-fast", "--workspace", "-E"]);
        cmd.arg(match scope {
            Scope::Unit => "not package(itests)",
            Scope::Integration => "package(itests)",
        });
    } else {
        cmd.args(["test", "--no-fail-fast"]);
        match scope {
            Scope::Unit => cmd.args(["--workspace", "--exclude", "itests"]),
            Scope::Integration => cmd.args(["-p", "itests"]),
        };
    }
    cmd.args(extra);
    if let Some(env_file) = env_file {
        cmd.env("HPCKIT_SERVICES_ENV", env_file);
    }
    if let Some(log) = trace {
        cmd.env("HPCKIT_LOG", TRACE_FILTER).env("HPCKIT_LOG_FILE", log);
    }
    cmd::run(&mut cmd)
}

/// `cargo clippy` on the packages `selection` picks, all targets, any
/// warning an error: what every clippy step of the pipeline demands.
fn clippy(selection: &[impl AsRef<std::ffi::OsStr>]) -> Result<()> {
    cmd::run(cargo().arg("clippy").args(selection).args(["--all-targets", "--", "-D", "warnings"]))
}

/// Clippy for every crate without default features and with each feature
/// alone (see [`features`]).
fn clippy_feature_sets() -> Result<()> {
    for set in features::of_workspace(&cmd::workspace_root())? {
        clippy(&set.args())?;
    }
    Ok(())
}

/// The body of one step.
type StepFn = dyn Fn() -> Result<()>;

/// `cargo xtask test`.
pub(crate) fn test(args: &TestArgs) -> Result<()> {
    let wanted = |step: StepKey| args.only.is_empty() || args.only.contains(&step);
    cmd::build_lean();
    let target = cmd::target_dir().ok();
    if let Some(warning) = target.as_deref().and_then(disk::low_space_warning) {
        eprintln!("{warning}");
    }
    let mut report = Report { steps: Vec::new(), target };
    let started = Instant::now();
    let mut go_on = true;
    if wanted(StepKey::Packages) {
        let needs = doctor::Needs::read(&cmd::workspace_root())?;
        go_on = report.run("system packages", || doctor::ensure_packages(&needs));
        if !go_on && !system::is_root() {
            report.print();
            bail!("the machine lacks packages (see above)");
        }
        // After installing: a command that only a hand-installed package provides would
        // make this machine green and a fresh one fail.
        go_on &=
            report.run("system commands come from the lists", || doctor::check_commands(&needs));
    }
    let steps: [(StepKey, &str, &StepFn); 9] = [
        (StepKey::Fmt, "cargo fmt --check", &|| {
            cmd::run(cargo().args(["fmt", "--all", "--", "--check"]))
        }),
        (StepKey::Tidy, "cargo xtask tidy (adaptors, links)", &|| {
            tidy::check(&cmd::workspace_root())
        }),
        (StepKey::Deny, "cargo deny (licences, bans, sources)", &deny::check),
        (StepKey::Clippy, "cargo clippy (workspace, all targets)", &|| clippy(&["--workspace"])),
        (StepKey::ClippyFeatures, "cargo clippy (each feature alone)", &clippy_feature_sets),
        // hpc-fuzz's bounded run (every fuzz target on its corpus and a fixed
        // number of mutated inputs) is one of these tests.
        (StepKey::Unit, "unit tests (workspace but itests)", &|| {
            run_tests(Scope::Unit, None, &[], None)
        }),
        // After the unit tests: its generator links the libraries they built.
        (StepKey::Codegen, "cargo xtask codegen --check", &|| codegen::run(true)),
        // nextest does not run doc tests; the crate READMEs are doc-tested here.
        (StepKey::Doctests, "doc tests", &|| {
            cmd::run(cargo().args(["test", "--doc", "--workspace"]))
        }),
        // Broken intra-doc links and the like are warnings; only a build that
        // denies them keeps the API docs whole.
        (StepKey::Doc, "cargo doc (rustdoc -D warnings)", &|| {
            cmd::run(cargo().env("RUSTDOCFLAGS", "-D warnings").args([
                "doc",
                "--no-deps",
                "--workspace",
            ]))
        }),
    ];
    for (key, name, step) in steps {
        if wanted(key) && (go_on || !args.fail_fast) {
            go_on &= report.run(name, step);
        }
    }
    let itests = wanted(StepKey::Itests) && (go_on || !args.fail_fast);
    if itests {
        // Integration tests run even when some service failed: tests of the services that
        // run still count, and those of the failed one fail loudly with the xtask hint.
        go_on &= report
            .run("services up (all)", || services::up(&[], services::Backend::Native).map(|_| ()));
        let env_file = services::env_file_path();
        let trace = secret_scan::reset_log()?;
        go_on &= report.run("integration tests (itests, traced)", || {
            run_tests(Scope::Integration, Some(&env_file), &[], Some(&trace))
        });
        go_on &= report.run("no secret in the trace log", || secret_scan::scan(&env_file, &trace));
    }
    if wanted(StepKey::Docker) && (go_on || !args.fail_fast) {
        // Beside the native services, which keep running: own ports, state and env file.
        report.run(docker::STEP_NAME, docker::run);
    }
    if itests && !args.keep_services {
        // Also after a failure: a CI machine must not keep daemons or namespaces.
        report.run("services down", || services::down(&[], services::Backend::Native));
    }
    report.print();
    println!("wall time {:.1} min", started.elapsed().as_secs_f64() / 60.0);
    let failed = report.failed();
    println!("steps: {} passed, {} failed", report.steps.len() - failed.len(), failed.len());
    if !failed.is_empty() {
        bail!("failed: {}", failed.join(", "));
    }
    Ok(())
}

/// `cargo xtask itest [names]`.
pub(crate) fn itest(
    names: &[String],
    down: bool,
    backend: services::Backend,
    test_args: &[String],
) -> Result<()> {
    // The tests' own packages (FUSE, procps); the services install theirs in `up`.
    if let Err(err) =
        doctor::Needs::read(&cmd::workspace_root()).and_then(|n| doctor::ensure_packages(&n))
    {
        eprintln!("error: {err:#}\nrunning the integration tests anyway");
    }
    let up = services::up(names, backend);
    if let Err(err) = &up {
        eprintln!("error: {err:#}\nrunning the integration tests anyway");
    }
    let tests = run_tests(Scope::Integration, Some(&services::env_file_path()), test_args, None);
    if down {
        services::down(names, backend)?;
    }
    up.and(tests)
}
