//! PyXenon documentation, "Advanced: Streaming & Interactive jobs": an
//! online job on the local scheduler that rot13-encodes each line it reads;
//! send it one line at a time and read each answer before the next line.
//!
//! No settings: the job runs on this host.

use hpckit::{CredentialMap, JobDescription, SchedulerExt};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// PyXenon's `rot13.py`, as a shell loop: one answer per line, at once.
const ROT13: &str =
    "while IFS= read -r line; do printf '%s\\n' \"$line\" | tr 'A-Za-z' 'N-ZA-Mn-za-m'; done";

#[tokio::main(flavor = "current_thread")]
async fn main() -> hpckit::Result<()> {
    let input_lines =
        ["Zlfgvp aboyr tnf,", "Urnil lrg syrrgvat sebz tenfc,", "Oyhr yvxr oheavat vpr."];
    let job_description = JobDescription::new("sh").args(["-c", ROT13]);

    let scheduler = hpckit::open_scheduler("local://", &CredentialMap::new()).await?;
    let mut job = scheduler.submit_interactive(&job_description).await?;
    let mut output = BufReader::new(job.stdout).lines();
    let io = |e| hpckit::Error::io("talking to the job", e);
    for line in input_lines {
        println!(" [sending]   {line}");
        job.stdin.write_all(format!("{line}\n").as_bytes()).await.map_err(io)?;
        job.stdin.flush().await.map_err(io)?;
        let msg = output.next_line().await.map_err(io)?.unwrap_or_default();
        println!("[received]   {msg}");
    }
    // Closing our end is the job's end of input.
    job.stdin.shutdown().await.map_err(io)?;
    drop(job.stdin);
    let status = scheduler.wait_until_done(&job.id, None).await?;
    println!("job {}: {:?}", job.id, status.state);
    Ok(())
}
