//! UNICORE as an hpc-core `Scheduler` (`unicore://`) against the UNICORE test
//! server: the shared scheduler conformance suite, each check its own trial
//! (`unicore::<check>`). Needs `cargo xtask services up unicore`.

mod unicore_support;

use hpc_testkit::scratch::ScratchDir;
use std::sync::Arc;

use hpc_core::Result;
use hpc_exec::LocalExecutor;
use hpc_testkit::sched_conformance::{self, MissingExecutable, SchedFixture};
use hpc_testkit::trials::{self, make_fixture};
use unicore_rest::scheduler::{UnicoreScheduler, capabilities};
use unicore_support::unicore;

async fn fixture() -> Result<SchedFixture> {
    let (loc, creds) = unicore().location("");
    let sched = UnicoreScheduler::open(&loc, &creds).await?;
    // The test server runs its jobs on this host, so the fixture prepares
    // and reads their files here.
    let scratch = ScratchDir::new("unicore-sched", None);
    let mut fx = SchedFixture::new(
        Arc::new(sched),
        Arc::new(LocalExecutor::new()),
        scratch.to_string_lossy(),
    )
    .keep(scratch);
    fx.missing_executable = MissingExecutable::JobFails;
    fx.unknown_id = hpc_core::JobId::new("00000000-0000-0000-0000-000000000000");
    Ok(fx)
}

fn main() {
    trials::run(sched_conformance::trials("unicore", &capabilities(), make_fixture(fixture)));
}
