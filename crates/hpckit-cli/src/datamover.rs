//! `hpckit dm ...` and `hpckit ws ...`: the ZIH datamover and workspace
//! tools, on this host or on a login node over SSH (`--at ssh://user@login`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use hpckit::Location;
use hpckit::datamover::workspace::{Allocation, Remaining, WorkspaceInfo};
use hpckit::datamover::{
    AllocateRequest, Datamover, DatamoverConfig, DtCommand, DtEvent, ListOptions, WorkspaceConfig,
    Workspaces,
};
use hpckit::exec::Executor;

use crate::creds::CredentialArgs;
use crate::output;

/// Where the tools run.
#[derive(Debug, clap::Args)]
pub(crate) struct Target {
    /// The login node: `local://` (this host, the default) or
    /// `ssh://user@host[:port] [via:jump]`.
    #[arg(long, default_value = "local://")]
    at: String,
    /// Directory of the tools (default: found on the login node's PATH).
    #[arg(long)]
    bin_dir: Option<String>,
}

/// The ZIH subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ZihCommand {
    /// Run a ZIH datamover command (dtcp, dtls, dtmv, dtrm, dtrsync, dttar,
    /// dtwget, dtinfo, dtqueue, dtq, dtcancel; the `dt` may be left out) with
    /// the tool's own arguments, or `wait JOB_ID` for a job started with
    /// `--background`.
    Dm {
        #[command(flatten)]
        target: Target,
        /// Return once the job is submitted and print its id (not for dtls).
        #[arg(long)]
        background: bool,
        /// The job's time limit in minutes (the datamover's default is 18 hours).
        #[arg(long)]
        time: Option<u64>,
        /// The Slurm account to charge.
        #[arg(long)]
        account: Option<String>,
        /// The command and its arguments, passed on unchanged.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Allocate, list, extend, release and find ZIH workspaces.
    #[command(subcommand)]
    Ws(WsCommand),
}

/// Workspace subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum WsCommand {
    /// Allocate a workspace (or reuse the one of that name) and print its directory.
    Allocate {
        #[command(flatten)]
        target: Target,
        /// Workspace name.
        name: String,
        /// Lifetime in days.
        days: u32,
        /// Workspace file system.
        #[arg(short = 'F', long)]
        filesystem: Option<String>,
        /// Reminder mail this many days before expiry.
        #[arg(short, long)]
        reminder: Option<u32>,
        /// Address of the reminder mail.
        #[arg(short, long)]
        mail: Option<String>,
        /// Comment.
        #[arg(short, long)]
        comment: Option<String>,
        /// JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List your workspaces.
    List {
        #[command(flatten)]
        target: Target,
        /// Name pattern.
        pattern: Option<String>,
        /// Workspace file system.
        #[arg(short = 'F', long)]
        filesystem: Option<String>,
        /// JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Extend a workspace to DAYS from now (uses up one extension).
    Extend {
        #[command(flatten)]
        target: Target,
        /// Workspace name.
        name: String,
        /// New lifetime in days.
        days: u32,
        /// Workspace file system.
        #[arg(short = 'F', long)]
        filesystem: Option<String>,
        /// JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Release a workspace (its data is deleted later).
    Release {
        #[command(flatten)]
        target: Target,
        /// Workspace name.
        name: String,
        /// Workspace file system.
        #[arg(short = 'F', long)]
        filesystem: Option<String>,
    },
    /// Print the directory of a workspace.
    Find {
        #[command(flatten)]
        target: Target,
        /// Workspace name.
        name: String,
        /// Workspace file system.
        #[arg(short = 'F', long)]
        filesystem: Option<String>,
    },
}

async fn executor(target: &Target, creds: &CredentialArgs) -> anyhow::Result<Arc<dyn Executor>> {
    let loc: Location = target.at.parse()?;
    let map = creds.credentials(&loc)?;
    Ok(hpckit::executor_for(&loc, &map).await?)
}

/// Runs one ZIH subcommand.
pub(crate) async fn run(cmd: ZihCommand, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        ZihCommand::Dm { target, background, time, account, command } => {
            let mut cfg = DatamoverConfig::default();
            cfg.bin_dir = target.bin_dir.clone();
            cfg.blocking = !background;
            cfg.time_limit = time.map(|m| Duration::from_secs(m * 60));
            cfg.account = account;
            let dm = Datamover::new(executor(&target, creds).await?, cfg)?;
            let (name, args) = command.split_first().context("no datamover command given")?;
            if name == "wait" {
                return wait(&dm, args).await;
            }
            run_dm(&dm, name.parse()?, args, background).await
        }
        ZihCommand::Ws(ws) => run_ws(ws, creds).await,
    }
}

async fn run_dm(
    dm: &Datamover,
    cmd: DtCommand,
    args: &[String],
    background: bool,
) -> anyhow::Result<ExitCode> {
    let handle = dm.start(cmd, args).await?;
    let bar = output::spinner(format!("{cmd}: starting"));
    let mut events = handle.events();
    let watch = async {
        while let Some(e) = events.next().await {
            bar.set_message(match e {
                DtEvent::Queued { job_id } => format!("{cmd}: job {job_id} queued"),
                DtEvent::Allocated { job_id } => format!("{cmd}: job {job_id} running"),
                DtEvent::Submitted { job_id } => format!("{cmd}: job {job_id} submitted"),
                _ => continue,
            });
        }
    };
    let (out, ()) = tokio::join!(handle.output(), watch);
    bar.finish_and_clear();
    let out = out?;
    output::write_stdout(&out.stdout)?;
    eprint!("{}", out.stderr);
    if background
        && let Some(DtEvent::Submitted { job_id }) =
            out.events.iter().find(|e| matches!(e, DtEvent::Submitted { .. }))
    {
        output::note(format!("job {job_id} submitted; `hpckit dm wait {job_id}` waits for it"));
    }
    if out.hit_time_limit() {
        handle.success().await?;
    }
    Ok(ExitCode::from(u8::try_from(out.exit_code).unwrap_or(1)))
}

async fn wait(dm: &Datamover, args: &[String]) -> anyhow::Result<ExitCode> {
    let [id] = args else { anyhow::bail!("usage: hpckit dm wait JOB_ID") };
    let id: u64 = id.parse().with_context(|| format!("job id {id:?} is not a number"))?;
    let bar = output::spinner(format!("waiting for datamover job {id}"));
    let end = dm.wait_job(id, Duration::from_secs(2), None).await;
    bar.finish_and_clear();
    let end = end?;
    let state = end.raw_state.clone().unwrap_or_else(|| end.state.to_string());
    println!("job {id}: {state}");
    Ok(if end.state == hpckit::JobState::Completed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn tools(target: &Target, creds: &CredentialArgs) -> anyhow::Result<Workspaces> {
    let mut cfg = WorkspaceConfig::default();
    cfg.bin_dir = target.bin_dir.clone();
    Ok(Workspaces::new(executor(target, creds).await?, cfg))
}

async fn run_ws(cmd: WsCommand, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    match cmd {
        WsCommand::Allocate { target, name, days, filesystem, reminder, mail, comment, json } => {
            let mut req = AllocateRequest::new(name, days);
            req.filesystem = filesystem;
            req.reminder_days = reminder;
            req.mail = mail;
            req.comment = comment;
            let a = tools(&target, creds).await?.allocate(&req).await?;
            print_allocation(&a, json)?;
        }
        WsCommand::List { target, pattern, filesystem, json } => {
            let opts = ListOptions { filesystem, pattern, ..Default::default() };
            let list = tools(&target, creds).await?.list(&opts).await?;
            if json {
                output::print_json(&list)?;
            } else {
                ws_table(&list).print()?;
            }
        }
        WsCommand::Extend { target, name, days, filesystem, json } => {
            let a = tools(&target, creds).await?.extend(&name, days, filesystem.as_deref()).await?;
            print_allocation(&a, json)?;
        }
        WsCommand::Release { target, name, filesystem } => {
            tools(&target, creds).await?.release(&name, filesystem.as_deref()).await?;
        }
        WsCommand::Find { target, name, filesystem } => {
            let dir = tools(&target, creds).await?.find(&name, filesystem.as_deref()).await?;
            println!("{dir}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_allocation(a: &Allocation, json: bool) -> anyhow::Result<()> {
    if json {
        return output::print_json(a);
    }
    println!("{}", a.directory);
    Ok(())
}

fn remaining(r: &Remaining) -> String {
    match r {
        Remaining::Left(d) => {
            let h = d.as_secs() / 3600;
            format!("{}d {}h", h / 24, h % 24)
        }
        Remaining::Expired => "expired".into(),
        Remaining::Released => "released".into(),
    }
}

fn ws_table(list: &[WorkspaceInfo]) -> output::Table {
    let mut t =
        output::Table::new(["id", "filesystem", "remaining", "extensions", "expires", "directory"]);
    for w in list {
        t.row([
            w.id.clone(),
            w.filesystem.clone().unwrap_or_default(),
            remaining(&w.remaining),
            w.extensions.map(|e| e.to_string()).unwrap_or_default(),
            w.expiration.map(|e| e.to_string()).unwrap_or_default(),
            w.directory.clone(),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(subcommand)]
        cmd: ZihCommand,
    }

    #[test]
    fn dm_passes_the_tools_arguments_through() {
        let t = T::try_parse_from([
            "x", "dm", "--time", "5", "dtcp", "-r", "--help", "a b", "--", "-x",
        ])
        .unwrap();
        let ZihCommand::Dm { command, time, background, .. } = t.cmd else { panic!() };
        assert_eq!(command, ["dtcp", "-r", "--help", "a b", "--", "-x"]);
        assert_eq!((time, background), (Some(5), false));
        assert!(T::try_parse_from(["x", "dm"]).is_err());
    }

    #[test]
    fn workspace_table() {
        let text = "id: a\n     workspace directory  : /ws/u-a\n     remaining time       : 2 days 3 hours\n     available extensions : 4\n";
        let list = hpckit::datamover::workspace::parse_ws_list(text, false).unwrap();
        let r = ws_table(&list).render();
        assert_eq!(
            r.lines().nth(1).unwrap(),
            "a               2d 3h      4                    /ws/u-a"
        );
    }
}
