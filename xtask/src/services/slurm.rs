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
//!
//! With the docker backend the same `provision.sh up` runs in a container of this
//! worktree instead: its state, config and munge socket under the state dir (which
//! host and container share), its own ports picked free (`DockerPorts`), so it runs
//! beside the machine's native cluster; `down` removes it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Backend, Ctx, EnvVars, Service};

/// One of the singleton batch-system services, driven by its provision.sh.
pub(crate) struct Batch {
    pub(super) name: &'static str,
    pub(super) about: &'static str,
    /// The ports of an instance of the docker backend.
    pub(super) docker_ports: &'static [DockerPort],
}

/// A port of a docker-backend instance: the env knob of provision.sh (also the
/// variable a user sets to choose it) and the default, away from the native cluster's.
pub(crate) struct DockerPort {
    pub(super) env_var: &'static str,
    pub(super) default: u16,
}

/// `slurm`: Slurm without accounting.
pub(crate) static SLURM: Batch = Batch {
    name: "slurm",
    about: "Slurm 22.05 single node, no accounting (squeue/scontrol)",
    docker_ports: &[
        DockerPort { env_var: "HPCKIT_SLURMCTLD_PORT", default: 6837 },
        DockerPort { env_var: "HPCKIT_SLURMD_PORT", default: 6838 },
    ],
};
/// `slurm-acct`: Slurm with slurmdbd + MariaDB.
pub(crate) static SLURM_ACCT: Batch = Batch {
    name: "slurm-acct",
    about: "Slurm 22.05 single node with slurmdbd + MariaDB (sacct)",
    docker_ports: &[
        DockerPort { env_var: "HPCKIT_SLURM_ACCT_CTLD_PORT", default: 6847 },
        DockerPort { env_var: "HPCKIT_SLURM_ACCT_SLURMD_PORT", default: 6848 },
        DockerPort { env_var: "HPCKIT_SLURM_ACCT_DBD_PORT", default: 6849 },
        DockerPort { env_var: "HPCKIT_MARIADB_PORT", default: 3316 },
    ],
};

/// How long a container may take for `provision.sh up` (MariaDB's first start).
const DOCKER_UP_LIMIT: Duration = Duration::from_secs(120);

impl Batch {
    fn script(&self, ctx: &Ctx<'_>, action: &str) -> Command {
        let mut c = Command::new("bash");
        c.arg(ctx.script_dir.join("provision.sh")).arg(action);
        if ctx.backend() == Backend::Docker {
            c.envs(self.docker_env(&ctx.state_dir));
        }
        c
    }

    /// Where a docker-backend instance keeps its cluster: the env knobs of provision.sh.
    fn docker_env(&self, state_dir: &Path) -> Vec<(&'static str, String)> {
        let base = state_dir.join("cluster");
        let at = |p: &str| base.join(p).to_string_lossy().into_owned();
        let mut env = vec![("HPCKIT_MUNGE_SOCKET", at("munge/munge.socket.2"))];
        match self.name {
            "slurm" => {
                env.push(("HPCKIT_SLURM_DIR", at("")));
                env.push(("HPCKIT_SLURM_CONF", at("etc/slurm.conf")));
            }
            "slurm-acct" => env.push(("HPCKIT_SLURM_ACCT_DIR", at(""))),
            _ => env.push(("HPCKIT_AT_DIR", at(""))),
        }
        env
    }

    /// `provision.sh up` in a container that stays up; returns its stdout.
    fn docker_up(&self, ctx: &mut Ctx<'_>) -> Result<String> {
        let out: PathBuf = ctx.state_dir.join("up.env");
        let _ = std::fs::remove_file(&out);
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(r#"bash "$0" up >"$1.tmp" && mv "$1.tmp" "$1" && exec sleep infinity"#)
            .arg(format!("/hpckit/{}/provision.sh", self.name))
            .arg(&out)
            .envs(self.docker_env(&ctx.state_dir));
        for port in self.docker_ports {
            let picked = ctx.port(port.env_var, port.default)?;
            command.env(port.env_var, picked.to_string());
        }
        ctx.spawn_daemon("cluster", &mut command)?;
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&out) {
                return Ok(text);
            }
            if started.elapsed() > DOCKER_UP_LIMIT || !ctx.daemons_alive() {
                bail!(
                    "provision.sh up did not finish in the container{}; see {}",
                    ctx.containers_state(),
                    ctx.state_dir.join("cluster.out").display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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
        let text = match ctx.backend() {
            Backend::Native => self.run(ctx, "up")?,
            Backend::Docker => self.docker_up(ctx)?,
        };
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
        if ctx.backend() == Backend::Docker {
            // This worktree's own cluster: the container goes with all its daemons.
            return ctx.stop_daemons();
        }
        // A healthy shared instance stays up for other worktrees; leftovers go.
        if std::env::var_os("HPCKIT_FORCE_DOWN").is_none()
            && self.health(ctx, &EnvVars::default()).is_ok()
        {
            return Ok(());
        }
        self.run(ctx, "down").map(drop)
    }
}
