//! The Scheduler conformance suite against the embedded `local` scheduler.

use std::sync::Arc;

use hpc_exec::LocalExecutor;
use hpc_testkit::sched_conformance::{MissingExecutable, SchedFixture, run_all};
use sched_adaptors::local::{LocalConfig, LocalScheduler};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_scheduler_passes_the_conformance_suite() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = LocalConfig::default();
    config.workdir = Some(tmp.path().to_path_buf());
    config.max_concurrent = 16;
    let sched = LocalScheduler::new(config).unwrap();
    let scratch = tmp.path().join("scratch").to_str().unwrap().to_owned();
    let mut fx = SchedFixture::new(Arc::new(sched), Arc::new(LocalExecutor::new()), scratch);
    fx.missing_executable = MissingExecutable::AtSubmit;
    fx.unknown_id = "local-987654".into();
    run_all(&fx).await;
}
