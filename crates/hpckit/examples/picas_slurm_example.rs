//! picasclient examples, `sbatch slurm-example.sh`: a Slurm job array whose
//! tasks each run a PiCaS worker until the pool has no work left. This
//! program submits itself as that worker (`picas_slurm_example DATABASE
//! --worker`), waits for the array and prints the pool's counts.
//!
//! Arguments: the database name, the number of array tasks (default 2).
//! Settings: as `picas_create_views`, and `PICAS_SCHEDULER`, the scheduler
//! URL (default `slurm://`; any hpckit scheduler works).

#[path = "support/mod.rs"]
mod support;

use hpckit::core::ArraySpec;
use hpckit::picas::worker::{Task, Worker, WorkerConfig};
use hpckit::{CredentialMap, JobDescription, SchedulerExt};

/// What the job's environment must carry for the worker to find the pool.
const SETTINGS: [&str; 3] =
    ["HPCKIT_COUCHDB_URL", "HPCKIT_COUCHDB_USER", "HPCKIT_COUCHDB_PASSWORD"];

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let usage = "picas_slurm_example DATABASE [TASKS | --worker]";
    let db = support::arg(1, usage)?;
    let second = std::env::args().nth(2);
    if second.as_deref() == Some("--worker") {
        let config = WorkerConfig { task: Task::Shell, max_scrub: 2, ..Default::default() };
        let summary = Worker::new(support::picas_pool(&db)?, config).run().await?;
        println!("worker: {} tokens recorded", summary.recorded);
        return Ok(());
    }
    let tasks: u32 = second
        .map_or(Ok(2), |n| n.parse())
        .map_err(|_| hpckit::Error::InvalidInput(format!("usage: {usage}")))?;

    let scheduler_url = std::env::var("PICAS_SCHEDULER").unwrap_or_else(|_| "slurm://".into());
    let scheduler = hpckit::open_scheduler(&scheduler_url, &CredentialMap::new()).await?;
    let me = std::env::current_exe().map_err(|e| hpckit::Error::io("finding this program", e))?;
    let mut job = JobDescription::new(me.to_string_lossy())
        .args([db.as_str(), "--worker"])
        .name("picas-example")
        .array(ArraySpec::range(1, tasks));
    // The password goes in the job's environment, never on its command line.
    for key in SETTINGS {
        job = job.env(key, support::var(key)?);
    }
    let id = scheduler.submit_batch(&job).await?;
    println!("submitted job array {id}");
    let status = scheduler.wait_until_done(&id, None).await?;
    println!("job array {id}: {:?}", status.state);
    let counts = support::picas_pool(&db)?.counts().await?;
    println!(
        "todo {} locked {} done {} error {}",
        counts.todo, counts.locked, counts.done, counts.error
    );
    Ok(())
}
