//! The hpckit side of `cargo xtask bench slurm`: submit N `/bin/true` jobs to
//! Slurm over SSH and wait for all of them with the shared poller.
//!
//! ```text
//! slurm_bench --host H --port P --user U --key K --known-hosts KH [--count 100] [--workdir D]
//! ```
//! Prints `ids <comma list>`, `submitted <seconds>`, `done <unix seconds>
//! <seconds>`, `queries <status queries>`.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hpc_auth::{Credential, CredentialMap};
use hpc_core::{JobDescription, JobId, Scheduler, WaitUntil};
use hpc_exec::ssh::{SshExecutor, SshOptions};
use sched_adaptors::slurm::{Accounting, SlurmConfig, SlurmScheduler};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn need(args: &[String], name: &str) -> String {
    arg(args, name).unwrap_or_else(|| {
        eprintln!("missing {name} (see the example's doc comment)");
        std::process::exit(2)
    })
}

#[tokio::main]
async fn main() -> hpc_core::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let user = need(&args, "--user");
    let count: usize = arg(&args, "--count").map_or(100, |c| c.parse().expect("--count"));
    let opts = SshOptions::new(need(&args, "--host"))
        .port(need(&args, "--port").parse().expect("--port"))
        .user(&user)
        .known_hosts_file(need(&args, "--known-hosts"))
        .load_ssh_config(false);
    let creds =
        CredentialMap::with_default(Credential::key_file(&user, need(&args, "--key"), None));
    let started = Instant::now();
    let ssh = SshExecutor::connect(opts, &creds).await?;
    let config = SlurmConfig {
        accounting: Accounting::Off,
        default_workdir: arg(&args, "--workdir").map(Into::into),
        ..Default::default()
    };
    let slurm = SlurmScheduler::new(Arc::new(ssh), config)?;
    let jobs = vec![JobDescription::new("/bin/true"); count];
    let ids: Vec<JobId> =
        slurm.submit_many(&jobs).await?.into_iter().collect::<hpc_core::Result<_>>()?;
    let submitted = started.elapsed();
    let list: Vec<&str> = ids.iter().map(JobId::as_str).collect();
    println!("ids {}", list.join(","));
    println!("submitted {:.6}", submitted.as_secs_f64());
    let done = slurm.wait(&ids, WaitUntil::Done, None, None).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let failed = done.iter().filter(|s| !s.as_ref().is_ok_and(|s| s.succeeded())).count();
    println!("done {:.6} {:.6}", now.as_secs_f64(), started.elapsed().as_secs_f64());
    println!("queries {}", slurm.poll_queries());
    if failed > 0 {
        eprintln!("{failed} jobs did not complete successfully");
        std::process::exit(1);
    }
    Ok(())
}
