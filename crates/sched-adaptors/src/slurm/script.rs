//! From a [`JobDescription`] to an `sbatch` argument vector plus a job script.
//!
//! Every value travels as its own argv element (`--job-name=<value>`), never
//! inside an `#SBATCH` line, so Slurm's directive tokenizer never sees user
//! text. Over SSH the argv becomes a command line only through
//! `hpc_exec::quote`. The script holds `export`s and the `exec` of the
//! program, each word quoted by the same function.

use std::time::Duration;

use hpc_core::{Error, JobDescription, JobPath, Result};
use hpc_exec::quote::{command_line, quote};

use super::config::SlurmConfig;

/// `--time` value `D-HH:MM:SS`, rounded up to whole minutes (Slurm's granularity).
fn time_limit(d: Duration) -> Result<String> {
    if d > hpc_core::duration::MAX {
        return Err(Error::InvalidJobDescription(format!(
            "max_runtime of {} s is longer than 100 years",
            d.as_secs()
        )));
    }
    let mins = d.as_secs().div_ceil(60).max(1);
    let (days, rem) = (mins / 1440, mins % 1440);
    Ok(format!("{days}-{:02}:{:02}:00", rem / 60, rem % 60))
}

fn check_value(what: &str, v: &str) -> Result<()> {
    if v.is_empty() {
        return Err(Error::InvalidJobDescription(format!("{what} is empty")));
    }
    if v.contains(['\n', '\r', '\0']) {
        return Err(Error::InvalidJobDescription(format!("{what} {v:?} contains a line break")));
    }
    Ok(())
}

/// A file name quoted for the shell; a leading `-` is harmless after `>`.
fn quote_path(p: &JobPath) -> String {
    String::from_utf8_lossy(&quote(p.as_str().as_bytes())).into_owned()
}

/// The options shared by `sbatch` and `srun` (resources, names, accounting).
fn resource_args(job: &JobDescription, out: &mut Vec<String>) -> Result<()> {
    match &job.name {
        Some(n) => {
            check_value("name", n)?;
            out.push(format!("--job-name={n}"));
        }
        // Slurm would call a script read from stdin `sbatch`.
        None => {
            let base = job.executable.rsplit('/').next().unwrap_or("job");
            let base = if base.is_empty() || base.contains(['\n', '\r']) { "job" } else { base };
            out.push(format!("--job-name={base}"));
        }
    }
    for (what, flag, v) in [
        ("queue", "--partition", &job.queue),
        ("account", "--account", &job.account),
        ("reservation", "--reservation", &job.reservation),
        ("qos", "--qos", &job.qos),
        ("constraints", "--constraint", &job.constraints),
    ] {
        if let Some(v) = v {
            check_value(what, v)?;
            out.push(format!("{flag}={v}"));
        }
    }
    if let Some(d) = job.max_runtime {
        out.push(format!("--time={}", time_limit(d)?));
    }
    if let Some(n) = job.nodes {
        out.push(format!("--nodes={n}"));
    }
    if let Some(p) = job.processes {
        out.push(format!("--ntasks={p}"));
    }
    if let Some(p) = job.processes_per_node {
        out.push(format!("--ntasks-per-node={p}"));
    }
    if let Some(c) = job.cores_per_task {
        out.push(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = job.memory_mb {
        out.push(format!("--mem={m}M"));
    }
    if let Some(g) = job.gpus_per_node {
        out.push(format!("--gpus-per-node={g}"));
    }
    if job.exclusive {
        out.push("--exclusive".into());
    }
    Ok(())
}

/// The `sbatch` argv (program first) and the script it reads on stdin.
pub fn batch_submission(
    job: &JobDescription,
    settings: &SlurmConfig,
) -> Result<(Vec<String>, Vec<u8>)> {
    job.validate()?;
    let mut argv = vec![settings.commands.sbatch.clone(), "--parsable".to_owned()];
    resource_args(job, &mut argv)?;
    if let Some(a) = &job.array {
        argv.push(format!("--array={a}"));
    }
    let workdir = job.working_directory.as_ref().or(settings.default_workdir.as_ref());
    if let Some(dir) = workdir {
        check_value("working directory", dir.as_str())?;
        argv.push(format!("--chdir={dir}"));
    }
    // Slurm rewrites `--output` paths (`%j` patterns; a backslash anywhere
    // turns patterns off and is dropped), so the job's own files are opened by
    // the script; Slurm's files get the default (`/dev/null` unless the site
    // says otherwise).
    if !settings.default_output.is_empty() {
        let d = &settings.default_output;
        check_value("default_output", d)?;
        if job.stdin.is_none() {
            argv.push("--input=/dev/null".into());
        }
        argv.push(format!("--output={d}"));
        argv.push(format!("--error={d}"));
    }
    argv.extend(settings.sbatch_args.iter().cloned());
    // The job's own scheduler arguments come last so that they win.
    argv.extend(job.scheduler_arguments.iter().cloned());
    Ok((argv, job_script(job)?))
}

/// The job script: environment, then `exec` of the program (through `srun`
/// when several processes are requested and the job does not start them itself).
pub fn job_script(job: &JobDescription) -> Result<Vec<u8>> {
    let mut s = b"#!/bin/sh\n# generated by hpckit\n".to_vec();
    for (k, v) in &job.environment {
        s.extend_from_slice(format!("export {k}=").as_bytes());
        s.extend_from_slice(&quote(v.as_bytes()));
        s.push(b'\n');
    }
    let mut redirect = Vec::new();
    if let Some(p) = &job.stdin {
        redirect.push(format!("<{}", quote_path(p)));
    }
    if let Some(p) = &job.stdout {
        redirect.push(format!(">{}", quote_path(p)));
    }
    match (&job.stderr, &job.stdout) {
        (Some(e), Some(o)) if e == o => redirect.push("2>&1".into()),
        (Some(e), _) => redirect.push(format!("2>{}", quote_path(e))),
        _ => {}
    }
    if !redirect.is_empty() {
        s.extend_from_slice(format!("exec {}\n", redirect.join(" ")).as_bytes());
    }
    let mut words: Vec<&str> = Vec::new();
    if job.total_processes() > 1 && !job.start_single_process {
        words.push("srun");
    }
    words.push(&job.executable);
    words.extend(job.arguments.iter().map(String::as_str));
    s.extend_from_slice(b"exec ");
    s.extend_from_slice(&command_line(&words)?);
    s.push(b'\n');
    Ok(s)
}

/// Marker an interactive job prints first on stderr, followed by its job id.
pub const INTERACTIVE_MARK: &str = "\u{1e}hpckit-slurm-job ";

/// The `srun` argv of an interactive job. The job first prints
/// [`INTERACTIVE_MARK`] and `$SLURM_JOB_ID` on stderr, so the adaptor learns
/// the id without another command, then execs the program.
pub fn interactive_argv(job: &JobDescription, settings: &SlurmConfig) -> Result<Vec<String>> {
    job.validate()?;
    let mut argv = vec![settings.commands.srun.clone(), "--quiet".to_owned()];
    resource_args(job, &mut argv)?;
    if let Some(dir) = job.working_directory.as_ref().or(settings.default_workdir.as_ref()) {
        check_value("working directory", dir.as_str())?;
        argv.push(format!("--chdir={dir}"));
    }
    if job.total_processes() > 1 && !job.start_single_process {
        return Err(Error::InvalidJobDescription(
            "interactive jobs run one process; set start_single_process".into(),
        ));
    }
    argv.extend(settings.srun_args.iter().cloned());
    argv.extend(job.scheduler_arguments.iter().cloned());
    let mut prelude = String::from("printf '\\036hpckit-slurm-job %s\\n' \"$SLURM_JOB_ID\" >&2; ");
    for k in job.environment.keys() {
        // Values come as positional parameters: no quoting inside this string.
        prelude.push_str(&format!("export {k}=\"$1\"; shift; "));
    }
    prelude.push_str("exec \"$@\"");
    argv.extend(["/bin/sh".to_owned(), "-c".to_owned(), prelude, "hpckit-job".to_owned()]);
    argv.extend(job.environment.values().cloned());
    argv.push(job.executable.clone());
    argv.extend(job.arguments.iter().cloned());
    Ok(argv)
}

#[cfg(test)]
mod tests {
    use hpc_core::ArraySpec;
    use hpc_exec::{Command, Executor, LocalExecutor};

    use super::*;

    fn nasty() -> &'static str {
        "it's \"q\" $HOME `id` a|b\\c %j"
    }

    #[test]
    fn every_field_becomes_one_argv_element() {
        let mut job = JobDescription::new("/bin/echo")
            .arg(nasty())
            .name(nasty())
            .queue("batch")
            .working_directory("/tmp/my dir $x")
            .stdout("out %j.txt")
            .max_runtime(Duration::from_secs(61))
            .array(ArraySpec::range(1, 3));
        job.account = Some("proj".into());
        job.reservation = Some("resv".into());
        job.qos = Some("high".into());
        job.constraints = Some("a&b".into());
        job.gpus_per_node = Some(2);
        job.memory_mb = Some(512);
        job.nodes = Some(1);
        job.cores_per_task = Some(2);
        job.exclusive = true;
        job.scheduler_arguments = vec!["--requeue".into()];
        let settings =
            SlurmConfig { sbatch_args: vec!["--comment=site".into()], ..Default::default() };
        let (argv, _) = batch_submission(&job, &settings).unwrap();
        let expect = [
            "sbatch",
            "--parsable",
            &format!("--job-name={}", nasty()),
            "--partition=batch",
            "--account=proj",
            "--reservation=resv",
            "--qos=high",
            "--constraint=a&b",
            "--time=0-00:02:00",
            "--nodes=1",
            "--cpus-per-task=2",
            "--mem=512M",
            "--gpus-per-node=2",
            "--exclusive",
            "--array=1-3",
            "--chdir=/tmp/my dir $x",
            "--input=/dev/null",
            "--output=/dev/null",
            "--error=/dev/null",
            "--comment=site",
            "--requeue",
        ];
        assert_eq!(argv, expect);
    }

    #[test]
    fn line_breaks_in_directive_values_are_rejected() {
        let job = JobDescription::new("x").working_directory("/a\nb");
        assert!(matches!(
            batch_submission(&job, &SlurmConfig::default()),
            Err(Error::InvalidJobDescription(_))
        ));
        let mut job = JobDescription::new("x");
        job.account = Some("a\nb".into());
        assert!(batch_submission(&job, &SlurmConfig::default()).is_err());
    }

    #[tokio::test]
    async fn the_script_passes_arguments_and_env_verbatim() {
        let job = JobDescription::new("printf")
            .args(["%s|", nasty(), "two\nlines", ""])
            .env("V", nasty());
        let script = job_script(&job).unwrap();
        let out =
            LocalExecutor::new().run(&Command::new("sh").arg("-s").stdin(script)).await.unwrap();
        assert_eq!(out.stdout_text(), format!("{}|two\nlines||", nasty()));
        let job = JobDescription::new("sh").args(["-c", "printf %s \"$V\""]).env("V", nasty());
        let script = job_script(&job).unwrap();
        let out =
            LocalExecutor::new().run(&Command::new("sh").arg("-s").stdin(script)).await.unwrap();
        assert_eq!(out.stdout_text(), nasty());
    }

    #[tokio::test]
    async fn the_script_opens_the_jobs_files_itself() {
        let dir = std::env::temp_dir().join(format!("hpckit-script-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("o %j a\\b 'q' $x.txt");
        let job = JobDescription::new("sh")
            .args(["-c", "echo out; echo err >&2"])
            .stdout(out.to_str().unwrap())
            .stderr(out.to_str().unwrap());
        let script = job_script(&job).unwrap();
        let r =
            LocalExecutor::new().run(&Command::new("sh").arg("-s").stdin(script)).await.unwrap();
        assert!(r.status.success() && r.stdout.is_empty() && r.stderr.is_empty());
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "out\nerr\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn interactive_prelude_reports_the_id_then_runs_the_program() {
        let job = JobDescription::new("sh").args(["-c", "printf '%s' \"$V\""]).env("V", nasty());
        let argv = interactive_argv(&job, &SlurmConfig::default()).unwrap();
        let at = argv.iter().position(|a| a == "/bin/sh").unwrap();
        let out = LocalExecutor::new()
            .run(&Command::new(&argv[at]).args(&argv[at + 1..]).env("SLURM_JOB_ID", "77"))
            .await
            .unwrap();
        assert_eq!(out.stdout_text(), nasty());
        assert_eq!(out.stderr_text(), "\u{1e}hpckit-slurm-job 77\n");
    }

    #[test]
    fn time_limits_round_up_to_minutes() {
        let t = |s| time_limit(Duration::from_secs(s)).unwrap();
        assert_eq!(t(1), "0-00:01:00");
        assert_eq!(t(3600), "0-01:00:00");
        assert_eq!(t(86_400 + 61), "1-00:02:00");
        assert_eq!(t(hpc_core::duration::MAX.as_secs()), "36600-00:00:00");
        for huge in [hpc_core::duration::MAX + Duration::from_secs(1), Duration::MAX] {
            let e = time_limit(huge).unwrap_err();
            assert!(e.to_string().contains("longer than 100 years"), "{e}");
        }
    }
}
