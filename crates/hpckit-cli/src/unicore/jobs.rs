//! `run`, `exec`, `list-jobs`, `job-status`, `cancel-job`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use hpckit::unicore::{Backoff, Job, JobProperties, JobState};
use serde_json::{Value, json};

use super::{Ctx, SiteArgs};
use crate::output;

/// `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Job description files (JSON).
    #[arg(required = true)]
    jobs: Vec<PathBuf>,
    #[command(flatten)]
    site: SiteArgs,
    /// Do not wait: print the job URLs.
    #[arg(short = 'a', long)]
    asynchronous: bool,
    /// Dry run: print what would be submitted.
    #[arg(short = 'd', long)]
    dry_run: bool,
    /// Tags for the jobs (comma-separated).
    #[arg(short = 'T', long)]
    tags: Option<String>,
}

/// `exec`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExecArgs {
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
    #[command(flatten)]
    site: SiteArgs,
    /// Login node to run on.
    #[arg(short = 'L', long)]
    login_node: Option<String>,
    /// Keep the job (default: deleted after its output is printed).
    #[arg(short = 'Q', long)]
    keep: bool,
    /// Do not wait: print the job URL.
    #[arg(short = 'a', long)]
    asynchronous: bool,
    /// Tags for the job (comma-separated).
    #[arg(short = 'T', long)]
    tags: Option<String>,
}

/// `list-jobs`.
#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    site: SiteArgs,
    /// Show submission time, state and URL.
    #[arg(short = 'l', long)]
    long: bool,
    /// Only jobs with these tags (comma-separated).
    #[arg(short = 'T', long)]
    tags: Option<String>,
}

/// `job-status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Job URLs.
    #[arg(required = true)]
    jobs: Vec<String>,
    /// Wait until each job is in this state (or later).
    #[arg(short = 'w', long)]
    wait_for: Option<String>,
    /// Give up waiting after this many seconds.
    #[arg(short = 't', long)]
    timeout: Option<u64>,
    /// Show all properties.
    #[arg(short = 'l', long)]
    long: bool,
}

/// `cancel-job`.
#[derive(Debug, clap::Args)]
pub(crate) struct CancelArgs {
    /// Job URLs.
    #[arg(required = true)]
    jobs: Vec<String>,
}

fn tag_list(tags: &Option<String>) -> Vec<String> {
    tags.as_deref()
        .map(|t| t.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Waits with a spinner that shows the state.
async fn wait(
    job: &Job,
    state: JobState,
    timeout: Option<Duration>,
) -> anyhow::Result<JobProperties> {
    let bar = output::spinner(format!("job {}", job.id()));
    let props = job
        .wait_with(state, timeout, Backoff::default(), |p| {
            bar.set_message(format!("job {}: {}", job.id(), p.status))
        })
        .await;
    bar.finish_and_clear();
    Ok(props?)
}

async fn print_file(job: &Job, name: &str, to_stderr: bool) -> anyhow::Result<()> {
    let dir = job.working_dir().await?;
    let mut stream = match dir.read(name, 0, None).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if to_stderr {
            use std::io::Write as _;
            std::io::stderr().write_all(&chunk)?;
        } else {
            output::write_stdout(&chunk)?;
        }
    }
    Ok(())
}

fn summary(job: &Job, p: &JobProperties) -> Value {
    json!({"url": job.url(), "id": job.id(), "status": p.status.as_str(), "exitCode": p.exit_code, "statusMessage": p.status_message})
}

pub(crate) async fn run(ctx: &Ctx, a: RunArgs) -> anyhow::Result<ExitCode> {
    let mut descs = Vec::new();
    for f in &a.jobs {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let mut v: Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", f.display()))?;
        if !v.is_object() {
            bail!("{}: a job description is a JSON object", f.display());
        }
        let tags = tag_list(&a.tags);
        if !tags.is_empty() {
            v["Tags"] = json!(tags);
        }
        descs.push((f.clone(), v));
    }
    if a.dry_run {
        for (_, d) in &descs {
            say!("{}", serde_json::to_string_pretty(d)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let site = ctx.site(&a.site).await?;
    let mut code = ExitCode::SUCCESS;
    let mut results = Vec::new();
    for (file, desc) in descs {
        // Local files named in `Imports` with a plain path are uploaded by us.
        let inputs = local_imports(&desc, file.parent());
        let mut desc = desc;
        if let Some(imports) = desc.get_mut("Imports").and_then(Value::as_array_mut) {
            imports.retain(|i| {
                i.get("From").and_then(Value::as_str).is_some_and(|f| f.contains("://"))
            });
        }
        let job = site.new_job(&desc, &inputs, true).await?;
        if a.asynchronous {
            results.push(json!({"url": job.url()}));
            if !ctx.json {
                say!("{}", job.url());
            }
            continue;
        }
        let p = wait(&job, JobState::Successful, None).await?;
        if p.status != JobState::Successful {
            code = ExitCode::from(output::EXIT_FAILURE);
        }
        // Fetch stdout and stderr into a directory named after the job.
        let out_dir = PathBuf::from(job.id());
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("creating {}", out_dir.display()))?;
        let dir = job.working_dir().await?;
        for name in ["stdout", "stderr"] {
            if let Err(e) = dir.download(name, &out_dir.join(name)).await
                && !e.is_not_found()
            {
                return Err(e.into());
            }
        }
        results.push(summary(&job, &p));
        if !ctx.json {
            say!("{} {} (outputs in {})", job.url(), p.status, out_dir.display());
        }
    }
    if ctx.json {
        output::print_json(&results)?;
    }
    Ok(code)
}

fn local_imports(desc: &Value, base: Option<&std::path::Path>) -> Vec<hpckit::unicore::JobInput> {
    desc.get("Imports")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|i| {
                    let from = i.get("From")?.as_str()?;
                    if from.contains("://") || i.get("Data").is_some() {
                        return None;
                    }
                    let to = i.get("To").and_then(Value::as_str).unwrap_or(from);
                    let local = base.map_or_else(|| PathBuf::from(from), |b| b.join(from));
                    Some(hpckit::unicore::JobInput::renamed(local, to))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn exec(ctx: &Ctx, a: ExecArgs) -> anyhow::Result<ExitCode> {
    let site = ctx.site(&a.site).await?;
    let (exe, args) = a.command.split_first().context("no command given")?;
    let mut desc = json!({"Executable": exe, "Arguments": args, "Job type": "ON_LOGIN_NODE"});
    if let Some(n) = &a.login_node {
        desc["Login node"] = json!(n);
    }
    let tags = tag_list(&a.tags);
    if !tags.is_empty() {
        desc["Tags"] = json!(tags);
    }
    let job = site.new_job(&desc, &[], true).await?;
    if a.asynchronous {
        say!("{}", job.url());
        return Ok(ExitCode::SUCCESS);
    }
    let p = wait(&job, JobState::Successful, None).await?;
    if ctx.json {
        output::print_json(&summary(&job, &p))?;
    } else {
        print_file(&job, "stdout", false).await?;
        print_file(&job, "stderr", true).await?;
    }
    if !a.keep {
        job.delete().await?;
    }
    Ok(match p.exit_code {
        Some(0) | None if p.status == JobState::Successful => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c.clamp(1, 255)).unwrap_or(1)),
        None => ExitCode::from(output::EXIT_FAILURE),
    })
}

pub(crate) async fn list(ctx: &Ctx, a: ListArgs) -> anyhow::Result<ExitCode> {
    let tags = tag_list(&a.tags);
    let mut rows = Vec::new();
    for site in ctx.sites(&a.site).await? {
        let jobs =
            if tags.is_empty() { site.all_jobs(&[]).await? } else { site.all_jobs(&tags).await? };
        for job in jobs {
            if a.long || ctx.json {
                let p = job.properties().await?;
                rows.push(json!({"url": job.url(), "status": p.status.as_str(), "submissionTime": p.submission_time, "name": p.name, "exitCode": p.exit_code}));
            } else {
                rows.push(json!({"url": job.url()}));
            }
        }
    }
    if ctx.json {
        output::print_json(&rows)?;
    } else if a.long {
        let mut t = output::Table::new(["submitted", "status", "url"]);
        for r in &rows {
            t.row([
                r["submissionTime"].as_str().unwrap_or(""),
                r["status"].as_str().unwrap_or(""),
                r["url"].as_str().unwrap_or(""),
            ]);
        }
        t.print()?;
    } else {
        for r in &rows {
            say!("{}", r["url"].as_str().unwrap_or(""));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn status(ctx: &Ctx, a: StatusArgs) -> anyhow::Result<ExitCode> {
    let target = a.wait_for.as_deref().map(str::parse::<JobState>).transpose()?;
    let mut out = Vec::new();
    for url in &a.jobs {
        let job = Job::new(&ctx.transport, url);
        let p = match target {
            Some(state) => wait(&job, state, a.timeout.map(Duration::from_secs)).await?,
            None => job.properties().await?,
        };
        let v = if a.long { p.raw.json().clone() } else { summary(&job, &p) };
        if !ctx.json {
            if a.long {
                say!("{url}\n{}", serde_json::to_string_pretty(&v)?);
            } else {
                say!("{url} {}", p.status);
            }
        }
        out.push(v);
    }
    if ctx.json {
        output::print_json(&out)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn cancel(ctx: &Ctx, a: CancelArgs) -> anyhow::Result<ExitCode> {
    for url in &a.jobs {
        Job::new(&ctx.transport, url).abort().await.with_context(|| format!("aborting {url}"))?;
        if !ctx.json {
            say!("{url} aborted");
        }
    }
    Ok(ExitCode::SUCCESS)
}
