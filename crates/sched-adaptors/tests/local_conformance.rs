//! The Scheduler conformance suite against the adaptors that need no
//! service: the embedded `local` scheduler, and the ssh adaptor over a local
//! executor (`nohup://`). Each check is its own trial:
//! `cargo test -p sched-adaptors --test local_conformance -- nohup::cancel`.

use std::sync::Arc;
use std::time::Duration;

use hpc_exec::LocalExecutor;
use hpc_testkit::sched_conformance::{self, MissingExecutable, SchedFixture};
use hpc_testkit::trials::{self, make_fixture};
use sched_adaptors::local::{self, LocalConfig, LocalScheduler};
use sched_adaptors::ssh::{self, SshConfig, SshScheduler};

fn local_fixture() -> hpc_core::Result<SchedFixture> {
    let tmp = tempfile::tempdir().map_err(|e| hpc_core::Error::io("a temporary directory", e))?;
    let mut config = LocalConfig::default();
    config.workdir = Some(tmp.path().to_path_buf());
    config.max_concurrent = 16;
    let sched = LocalScheduler::new(config)?;
    let scratch = tmp.path().join("scratch").to_string_lossy().into_owned();
    let mut fx = SchedFixture::new(Arc::new(sched), Arc::new(LocalExecutor::new()), scratch);
    fx.missing_executable = MissingExecutable::AtSubmit;
    fx.unknown_id = "local-987654".into();
    Ok(fx.keep(tmp))
}

fn nohup_fixture() -> hpc_core::Result<SchedFixture> {
    let tmp = tempfile::tempdir().map_err(|e| hpc_core::Error::io("a temporary directory", e))?;
    let mut config = SshConfig::default();
    config.jobdir = tmp.path().join("jobs").to_string_lossy().into_owned();
    config.poll_interval = Duration::from_millis(100);
    config.cancel_grace = Duration::from_secs(1);
    let sched = SshScheduler::new(Arc::new(LocalExecutor::new()), config, "nohup://");
    let scratch = tmp.path().join("scratch").to_string_lossy().into_owned();
    let mut fx = SchedFixture::new(Arc::new(sched), Arc::new(LocalExecutor::new()), scratch);
    fx.missing_executable = MissingExecutable::AtSubmit;
    Ok(fx.keep(tmp))
}

fn main() {
    let mut all = sched_conformance::trials(
        "local",
        &local::capabilities(),
        make_fixture(|| async { local_fixture() }),
    );
    all.extend(sched_conformance::trials(
        "nohup",
        &ssh::capabilities(false),
        make_fixture(|| async { nohup_fixture() }),
    ));
    trials::run(all);
}
