//! `hpckit picas submit-workers`: N worker jobs on any scheduler, each running
//! `hpckit picas run` (the seed's Slurm array example, for every batch system).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hpckit::core::{ArraySpec, Error, JobDescription, Location, WaitUntil};

use super::DbArgs;
use crate::creds::CredentialArgs;
use crate::job::{parse_duration, parse_memory_mb};
use crate::output;

/// The variable a worker job reads the database password from (the password
/// travels in the job's environment, never on its command line).
const PASSWORD_VAR: &str = "HPCKIT_PICAS_DB_PASSWORD";

/// Options of `hpckit picas submit-workers`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SubmitArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Scheduler location (slurm://, slurm+ssh://user@login, at://, ssh://host, ...).
    #[arg(long)]
    scheduler: String,
    /// Number of worker jobs (a job array where the scheduler has them).
    #[arg(long, value_name = "N")]
    array: u32,
    /// Path of the hpckit binary where the jobs run (default: this one).
    #[arg(long, value_name = "PATH")]
    hpckit: Option<String>,
    /// Queue or partition.
    #[arg(long, short = 'q')]
    queue: Option<String>,
    /// Wall-clock limit of each job; the workers get it as --wall-time too.
    #[arg(long, value_parser = parse_duration)]
    time: Option<Duration>,
    /// Job name.
    #[arg(long)]
    name: Option<String>,
    /// Working directory of the jobs.
    #[arg(long, short = 'C')]
    workdir: Option<String>,
    /// Account to charge.
    #[arg(long)]
    account: Option<String>,
    /// CPU cores per job.
    #[arg(long)]
    cores: Option<u32>,
    /// Memory per job (MiB, or 512M, 4G).
    #[arg(long, value_parser = parse_memory_mb)]
    mem: Option<u64>,
    /// File for each job's output (relative to the working directory).
    #[arg(long)]
    stdout: Option<String>,
    /// Environment variable NAME=VALUE for the jobs (repeatable).
    #[arg(long = "env", short = 'e', value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Extra argument for the submit command, verbatim (repeatable).
    #[arg(long = "sched-arg", value_name = "ARG", allow_hyphen_values = true)]
    sched_args: Vec<String>,
    /// Options for each worker's `hpckit picas run`, after `--` (e.g. -- --max-tokens 10).
    #[arg(last = true, value_name = "RUN-OPTIONS")]
    run_args: Vec<String>,
}

impl SubmitArgs {
    fn job(&self, hpckit: String) -> anyhow::Result<JobDescription> {
        let url = self.db.db_url()?;
        let mut job = JobDescription::new(hpckit)
            .arg("picas")
            .arg("run")
            .arg(url.without_password())
            .arg("--design-doc")
            .arg(&self.db.design_doc)
            .arg("--retries")
            .arg(self.db.retries.to_string());
        if let Some(ca) = &self.db.ca_file {
            job = job.arg("--ca-file").arg(ca.to_string_lossy());
        }
        if let Some(pw) = url.password() {
            job = job.arg("--db-password-env").arg(PASSWORD_VAR);
            job.environment.insert(PASSWORD_VAR.into(), pw.expose().to_owned());
        }
        if let Some(t) = self.time {
            job = job.arg("--wall-time").arg(format!("{}s", t.as_secs()));
        }
        for a in &self.run_args {
            job = job.arg(a);
        }
        for item in &self.env {
            let (k, v) =
                item.split_once('=').with_context(|| format!("--env {item}: use NAME=VALUE"))?;
            job.environment.insert(k.to_owned(), v.to_owned());
        }
        job.queue.clone_from(&self.queue);
        job.max_runtime = self.time;
        job.name = Some(self.name.clone().unwrap_or_else(|| "picas-worker".into()));
        job.working_directory = self.workdir.clone().map(Into::into);
        job.account.clone_from(&self.account);
        job.cores_per_task = self.cores;
        job.memory_mb = self.mem;
        job.stdout = self.stdout.clone().map(Into::into);
        job.scheduler_arguments.extend(self.sched_args.iter().cloned());
        Ok(job)
    }
}

pub(crate) async fn run(args: SubmitArgs, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    if args.array == 0 {
        anyhow::bail!(Error::InvalidInput("--array must be at least 1".into()));
    }
    let hpckit = match &args.hpckit {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .context("finding this hpckit binary (give --hpckit PATH)")?
            .to_string_lossy()
            .into_owned(),
    };
    let job = args.job(hpckit)?;
    let loc: Location = args.scheduler.parse()?;
    let sched = hpckit::open_scheduler(&args.scheduler, &creds.credentials(&loc)?).await?;
    let ids = if sched.info().capabilities.submit_array && args.array > 1 {
        let mut array_job = job.clone();
        array_job.array = Some(ArraySpec::range(0, args.array - 1));
        array_job.validate()?;
        vec![sched.submit_batch(&array_job).await?]
    } else {
        job.validate()?;
        let jobs = vec![job; args.array as usize];
        sched.submit_many(&jobs).await?.into_iter().collect::<Result<Vec<_>, _>>()?
    };
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    output::write_stdout(text.as_bytes())?;
    if crate::job::lives_in_process(&*sched) {
        output::note(format!(
            "{} jobs run inside this hpckit process; waiting for them to finish",
            sched.info().adaptor
        ));
        sched.wait(&ids, WaitUntil::Done, None, None).await?;
    }
    Ok(ExitCode::SUCCESS)
}
