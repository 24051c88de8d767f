//! `datamover`: hpc-testkit's stand-ins for the ZIH datamover (`dt*`) and the
//! hpc-workspace tools (`ws_*`), submitting to the real Slurm of `slurm`.
//!
//! Needs `services up slurm` first (the cluster is a machine-wide singleton):
//! `start` makes sure its hidden `datamover` partition exists (written into
//! slurm.conf by docker/slurm/provision.sh; created at run time with
//! `scontrol create` on a cluster started from an older config), builds the
//! `zih-standin` binary and installs it under `.services/datamover/home/`:
//! `bin/` (the commands), `libexec/dtexec` (setgid `hpcdm`, the only writer
//! of the project space), `projects/p_hpckit` (root:hpcdm 2775: read-only for
//! the test user except through a datamover job), `ws/` (workspaces).

use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Ctx, EnvVars, Service};
use crate::cmd;

/// The `datamover` service.
pub(crate) struct Datamover;

const PARTITION: &str = "datamover";

impl Service for Datamover {
    fn name(&self) -> &'static str {
        "datamover"
    }

    fn about(&self) -> &'static str {
        "ZIH datamover + workspace stand-ins (hpc-testkit) on Slurm's datamover partition"
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let ping = Command::new("scontrol").arg("ping").output();
        if !ping.as_ref().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("is UP")) {
            bail!(
                "the datamover service submits to Slurm: run `cargo xtask services up slurm` first"
            );
        }
        ensure_partition()?;
        let built = cmd::output(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(cmd::workspace_root())
                .args(["build", "--quiet", "-p", "hpc-testkit", "--bin", "zih-standin"])
                .args(["--message-format", "json"]),
        )
        .context("building the ZIH stand-in")?;
        let binary = built
            .lines()
            .filter(|l| l.contains("\"executable\"") && l.contains("zih-standin"))
            .find_map(|l| {
                let rest = &l[l.find("\"executable\":\"")? + 14..];
                Some(rest[..rest.find('"')?].to_string())
            })
            .context("cargo did not report the zih-standin executable")?;
        let gid = group_id("hpcdm")?;
        let home = ctx.state_dir.join("home");
        let bin =
            cmd::output(Command::new(&binary).arg("__install").arg(&home).arg(gid.to_string()))?;
        let mut env = EnvVars::default();
        env.set("HPCKIT_DM_BIN", bin.trim());
        env.set("HPCKIT_DM_HOME", home.to_string_lossy());
        env.set("HPCKIT_DM_PROJECT", home.join("projects/p_hpckit").to_string_lossy());
        env.set("HPCKIT_DM_PARTITION", PARTITION);
        env.set("HPCKIT_DM_USER", "hpctest");
        env.set("HPCKIT_DM_WS_FILESYSTEMS", "scratch,beegfs");
        Ok(env)
    }

    fn health(&self, _ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        let bin = env.require("HPCKIT_DM_BIN")?;
        ensure_partition()?;
        let out = cmd::output(
            Command::new(format!("{bin}/dtinfo")).args(["--noheader", "--format=%P %a"]),
        )?;
        if !out.contains(PARTITION) {
            bail!("dtinfo does not show the {PARTITION} partition:\n{out}");
        }
        Ok(())
    }
}

/// Creates the partition on a running cluster whose config predates it.
fn ensure_partition() -> Result<()> {
    let show = Command::new("scontrol").args(["show", "partition", PARTITION]).output()?;
    if show.status.success() {
        return Ok(());
    }
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname")?.trim().to_owned();
    cmd::output(Command::new("scontrol").args([
        "create",
        &format!("PartitionName={PARTITION}"),
        &format!("Nodes={node}"),
        "MaxTime=INFINITE",
        "State=UP",
        "Hidden=YES",
    ]))
    .context("creating Slurm's datamover partition")?;
    Ok(())
}

fn group_id(name: &str) -> Result<u32> {
    let groups = std::fs::read_to_string("/etc/group")?;
    groups
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[0] == name).then(|| f[2].parse().ok()).flatten()
        })
        .with_context(|| {
            format!("group {name} does not exist (docker/datamover/provision.sh creates it)")
        })
}
