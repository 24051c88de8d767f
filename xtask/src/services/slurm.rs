//! `slurm` and `slurm-acct` (and the shape `at` reuses): real batch systems
//! for the scheduler tests.
//!
//! Slurm 22.05 and atd are machine-wide singletons (fixed spool, well-known
//! ports, one munge socket), so these services do not live in the worktree's
//! state dir: `docker/<name>/provision.sh up` starts the daemons, or reuses
//! them when they already run and answer, and prints the `KEY=VALUE` lines of
//! the env file. Two Slurm clusters run side by side:
//! - `slurm`: no accounting (`squeue`/`scontrol` path), owns
//!   `/etc/slurm/slurm.conf`, ports 6817/6818;
//! - `slurm-acct`: slurmdbd + MariaDB so `sacct` works, own `SLURM_CONF`,
//!   ports 6827/6828/6829.
//!
//! Both: partitions `debug` (default) and `batch` (1 h limit); `slurm` also a
//! hidden `datamover` partition for the ZIH datamover stand-in (`datamover.rs`),
//! `DefMemPerCPU` so jobs share the node, `batch_sched_delay=0`,
//! `MinJobAge=3600`. `services down` leaves a healthy cluster running (other
//! worktrees may be using it) unless `HPCKIT_FORCE_DOWN=1`.

use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Ctx, EnvVars, Service};

/// One of the singleton batch-system services, driven by its provision.sh.
pub(crate) struct Batch {
    pub(super) name: &'static str,
    pub(super) about: &'static str,
}

/// `slurm`: Slurm without accounting.
pub(crate) static SLURM: Batch =
    Batch { name: "slurm", about: "Slurm 22.05 single node, no accounting (squeue/scontrol)" };
/// `slurm-acct`: Slurm with slurmdbd + MariaDB.
pub(crate) static SLURM_ACCT: Batch =
    Batch { name: "slurm-acct", about: "Slurm 22.05 single node with slurmdbd + MariaDB (sacct)" };

impl Batch {
    fn script(&self, ctx: &Ctx<'_>, action: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(ctx.script_dir.join("provision.sh")).arg(action);
        c
    }

    fn run(&self, ctx: &Ctx<'_>, action: &str) -> Result<String> {
        let out = self
            .script(ctx, action)
            .stdin(std::process::Stdio::null())
            .output()
            .with_context(|| format!("cannot run docker/{}/provision.sh", self.name))?;
        let log = ctx.state_dir.join(format!("{action}.log"));
        let _ = std::fs::write(&log, &out.stderr);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = err.lines().rev().take(20).collect();
            bail!(
                "docker/{}/provision.sh {action} failed ({}):\n{}",
                self.name,
                out.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Service for Batch {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        self.about
    }

    fn provision(&self, ctx: &mut Ctx<'_>) -> Result<()> {
        self.run(ctx, "install").map(drop)
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let text = self.run(ctx, "up")?;
        let mut env = EnvVars::default();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=')
                && k.starts_with("HPCKIT_")
            {
                env.set(k, v);
            }
        }
        if env.iter().next().is_none() {
            bail!("docker/{}/provision.sh up printed no KEY=VALUE lines", self.name);
        }
        Ok(env)
    }

    fn health(&self, ctx: &Ctx<'_>, _env: &EnvVars) -> Result<()> {
        let ok = self
            .script(ctx, "status")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?
            .success();
        if ok { Ok(()) } else { bail!("{} is not healthy", self.name) }
    }

    fn stop(&self, ctx: &Ctx<'_>) -> Result<()> {
        // A healthy shared instance stays up for other worktrees; leftovers go.
        if std::env::var_os("HPCKIT_FORCE_DOWN").is_none()
            && self.health(ctx, &EnvVars::default()).is_ok()
        {
            return Ok(());
        }
        self.run(ctx, "down").map(drop)
    }
}
