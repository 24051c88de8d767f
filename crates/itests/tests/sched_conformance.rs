//! The Scheduler conformance suite of `hpc-testkit` against every scheduler
//! setup with a real service: one suite per setup, each check its own trial
//! named `<suite>::<check>` (`cargo nextest run -p itests --test
//! sched_conformance -- sge_ssh::cancel`). Checks that need a capability the
//! adaptor lacks are listed as skipped with the capability named.
//!
//! | suite | scheduler | services |
//! |---|---|---|
//! | `ssh` | ssh adaptor over SSH | sshd |
//! | `slurm`, `slurm_acct` | Slurm without / with accounting, as the test user | slurm, slurm-acct |
//! | `slurm_ssh`, `slurm_acct_ssh` | the same over SSH | + sshd |
//! | `sge`, `sge_ssh` | Grid Engine, locally as the test user / over SSH | sge (+ sshd) |
//! | `torque`, `torque_ssh` | the Torque stand-in, locally / over SSH | torque (+ sshd) |
//! | `at`, `at_ssh` | atd, locally / over SSH | at (+ sshd) |
//!
//! A setup whose service is not running fails every trial of its suite,
//! naming the `cargo xtask services up` command.

#[path = "sched_support/mod.rs"]
mod sched_support;
#[path = "slurm_fixture/mod.rs"]
mod slurm_fixture;
#[path = "ssh_support/mod.rs"]
mod ssh_support;

use std::sync::Arc;

use hpc_core::Result;
use hpc_exec::Executor;
use hpc_testkit::sched_conformance::{self, MissingExecutable, SchedFixture};
use hpc_testkit::trials::{self, Trial, make_fixture};
use sched_adaptors::ssh::SshScheduler;
use sched_adaptors::{at, sge, slurm, ssh, torque};
use slurm_fixture::Fixture as SlurmFixture;

/// The test sshd as `user@host:port`, and a fresh connection to it.
async fn ssh() -> (String, Arc<dyn Executor>) {
    let env = ssh_support::ssh_env();
    let authority = format!("{}@{}:{}", env.user(), env.host(), env.port());
    (authority, Arc::new(env.connect().await))
}

async fn ssh_adaptor() -> Result<SchedFixture> {
    let env = ssh_support::ssh_env();
    let (_, exec) = ssh().await;
    let home = env.get("HPCKIT_SSH_USER_HOME");
    let run = sched_support::unique("sched-conformance");
    // Relative job directory: resolved under the remote home by the adaptor.
    let config = sched_support::ssh_config(&format!(".hpckit-test/{run}/jobs"));
    let sched = SshScheduler::new(Arc::clone(&exec), config, "ssh://test");
    let scratch = format!("{home}/.hpckit-test/{run}/scratch");
    let mut fx = SchedFixture::new(Arc::new(sched), exec, scratch);
    fx.missing_executable = MissingExecutable::AtSubmit;
    Ok(fx)
}

/// A Slurm fixture's scheduler, as the test user who owns its scratch directory.
fn slurm(f: SlurmFixture) -> SchedFixture {
    let scratch = f.dir.join("conformance").to_string_lossy().into_owned();
    SchedFixture::new(Arc::new(f.sched.clone()), f.exec.clone(), scratch).keep(f.dir)
}

async fn slurm_local(service: &'static str) -> Result<SchedFixture> {
    Ok(slurm(SlurmFixture::local(service)))
}

async fn slurm_over_ssh(service: &'static str) -> Result<SchedFixture> {
    let (_, exec) = ssh().await;
    Ok(slurm(SlurmFixture::with_executor(service, exec)))
}

async fn sge_local() -> Result<SchedFixture> {
    let (sched, exec) = sched_support::sge::local();
    let dir = sched_support::shared_tempdir("hpckit-sge-conf-");
    let scratch = dir.path().join("conformance").to_string_lossy().into_owned();
    Ok(SchedFixture::new(Arc::new(sched), exec, scratch).keep(dir))
}

async fn sge_over_ssh() -> Result<SchedFixture> {
    let (authority, exec) = ssh().await;
    let sched = sched_support::sge::over_ssh(exec.clone(), &authority);
    let scratch = sched_support::remote_tempdir(&exec, "hpckit-sge-conf").await;
    Ok(SchedFixture::new(Arc::new(sched), exec, scratch))
}

async fn torque_local() -> Result<SchedFixture> {
    let sched = sched_support::torque::scheduler(&sched_support::torque::bin());
    let dir = sched_support::shared_tempdir("hpckit-torque-conf-");
    let scratch = dir.path().join("conformance").to_string_lossy().into_owned();
    let exec = sched_support::torque::executor();
    Ok(SchedFixture::new(Arc::new(sched), exec, scratch).keep(dir))
}

async fn torque_over_ssh() -> Result<SchedFixture> {
    let (authority, exec) = ssh().await;
    let sched = sched_support::torque::over_ssh(exec.clone(), &authority);
    let scratch = sched_support::remote_tempdir(&exec, "hpckit-torque-conf").await;
    Ok(SchedFixture::new(Arc::new(sched), exec, scratch))
}

/// An at fixture's scheduler, as the test user who owns its directory.
fn at(f: sched_support::at::Fixture) -> SchedFixture {
    let scratch = f.dir.join("conformance").to_string_lossy().into_owned();
    SchedFixture::new(Arc::new(f.sched.clone()), f.exec.clone(), scratch).keep(f.dir)
}

async fn at_local() -> Result<SchedFixture> {
    Ok(at(sched_support::at::local()))
}

async fn at_over_ssh() -> Result<SchedFixture> {
    let (_, exec) = ssh().await;
    Ok(at(sched_support::at::fixture(exec)))
}

fn main() {
    let suites: Vec<Vec<Trial>> = vec![
        sched_conformance::trials("ssh", &ssh::capabilities(true), make_fixture(ssh_adaptor)),
        sched_conformance::trials(
            "slurm",
            &slurm::capabilities(),
            make_fixture(|| slurm_local("slurm")),
        ),
        sched_conformance::trials(
            "slurm_acct",
            &slurm::capabilities(),
            make_fixture(|| slurm_local("slurm-acct")),
        ),
        sched_conformance::trials(
            "slurm_ssh",
            &slurm::capabilities(),
            make_fixture(|| slurm_over_ssh("slurm")),
        ),
        sched_conformance::trials(
            "slurm_acct_ssh",
            &slurm::capabilities(),
            make_fixture(|| slurm_over_ssh("slurm-acct")),
        ),
        sched_conformance::trials("sge", &sge::capabilities(), make_fixture(sge_local)),
        sched_conformance::trials("sge_ssh", &sge::capabilities(), make_fixture(sge_over_ssh)),
        sched_conformance::trials("torque", &torque::capabilities(), make_fixture(torque_local)),
        sched_conformance::trials(
            "torque_ssh",
            &torque::capabilities(),
            make_fixture(torque_over_ssh),
        ),
        sched_conformance::trials("at", &at::capabilities(), make_fixture(at_local)),
        sched_conformance::trials("at_ssh", &at::capabilities(), make_fixture(at_over_ssh)),
    ];
    trials::run(suites.into_iter().flatten().collect());
}
