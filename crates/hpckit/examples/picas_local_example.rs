//! picasclient examples, `python local-example.py`: a worker on this host
//! claims tokens one at a time, runs each token's `input` with `bash -c`,
//! records exit code and output in the token, and stops when no work is
//! left. Then each finished token is shown as the Python example prints it,
//! with its `logs_<id>.out` attachment.
//!
//! Argument: the database name. Settings: as `picas_create_views`.

#[path = "support/mod.rs"]
mod support;

use hpckit::picas::log_names;
use hpckit::picas::worker::{Task, Worker, WorkerConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let db = support::arg(1, "picas_local_example DATABASE")?;
    let pool = support::picas_pool(&db)?;
    let config = WorkerConfig { task: Task::Shell, max_scrub: 2, ..Default::default() };
    let summary = Worker::new(pool.clone(), config).run().await?;
    println!("{} tokens recorded, {} failed", summary.recorded, summary.failed);
    println!("stopped: {:?}, claims: {:?}", summary.stop, summary.claims);

    for token in pool.tokens_in("done", None).await? {
        println!("-----------------------");
        println!("Working on token: {}", token.id());
        for field in
            ["_id", "_rev", "type", "lock", "done", "hostname", "scrub_count", "input", "exit_code"]
        {
            let value =
                token.get(field).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            println!("{field} {}", value.unwrap_or_default());
        }
        let (out_log, _) = log_names(token.id());
        if let Some(log) = pool.attachment(token.id(), &out_log).await? {
            print!("{out_log}:\n{}", String::from_utf8_lossy(&log));
        }
    }
    println!("-----------------------");
    Ok(())
}
