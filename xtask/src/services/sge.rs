//! `sge`: a single-host Grid Engine 8.1.9 cell (Debian packages) for the sge adaptor.
//!
//! Grid Engine's daemons are machine-wide singletons (ports 6444/6445 from
//! /etc/services, one spool under /var/spool/gridengine), so everything, the
//! daemons included, is done by the idempotent `docker/sge/provision.sh`: it reuses
//! a healthy running cell and re-applies its configuration (queue `all.q`,
//! parallel environment `smp`, 1 s scheduling, 1 s accounting flush). `start` only
//! reports the endpoints, and `stop` leaves the daemons running for the other
//! worktrees (they hold no per-instance state).
//!
//! Grid Engine refuses jobs from root: tests submit as the test user, over the
//! sshd service or locally with a dropped uid (`HPCKIT_SGE_UID`/`HPCKIT_SGE_GID`).

use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Ctx, EnvVars, Service};
use crate::cmd;

const SGE_ROOT: &str = "/var/lib/gridengine";
const SGE_CELL: &str = "default";
const USER: &str = "hpctest";
const QUEUE: &str = "all.q";
const PE: &str = "smp";

/// The `sge` service.
pub(crate) struct Sge;

fn client(program: &str) -> Command {
    let mut c = Command::new(program);
    c.env("SGE_ROOT", SGE_ROOT).env("SGE_CELL", SGE_CELL);
    c
}

impl Service for Sge {
    fn name(&self) -> &'static str {
        "sge"
    }

    fn about(&self) -> &'static str {
        "Grid Engine 8.1.9: qmaster + execd, all.q, PE smp (machine-wide)"
    }

    fn start(&self, _ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let passwd = cmd::output(Command::new("getent").args(["passwd", USER]))?;
        let fields: Vec<&str> = passwd.trim().split(':').collect();
        let (Some(uid), Some(gid)) = (fields.get(2), fields.get(3)) else {
            bail!("cannot read uid/gid of {USER} from `getent passwd`: {passwd:?}");
        };
        let slots = cmd::output(client("qconf").args(["-sq", QUEUE]))?
            .lines()
            .find_map(|l| l.strip_prefix("slots").map(|v| v.trim().to_string()))
            .context("all.q has no slots line")?;
        let mut env = EnvVars::default();
        env.set("HPCKIT_SGE_ROOT", SGE_ROOT);
        env.set("HPCKIT_SGE_CELL", SGE_CELL);
        env.set("HPCKIT_SGE_USER", USER);
        env.set("HPCKIT_SGE_UID", *uid);
        env.set("HPCKIT_SGE_GID", *gid);
        env.set("HPCKIT_SGE_QUEUE", QUEUE);
        env.set("HPCKIT_SGE_PE", PE);
        env.set("HPCKIT_SGE_SLOTS", slots);
        Ok(env)
    }

    fn health(&self, _ctx: &Ctx<'_>, _env: &EnvVars) -> Result<()> {
        let queues = cmd::output(client("qstat").args(["-g", "c"]))
            .context("the qmaster does not answer `qstat -g c`")?;
        if !queues.lines().any(|l| l.starts_with("all.q ")) {
            bail!("qstat -g c lists no all.q:\n{queues}");
        }
        // The execd reports a load once it is registered; `-` means it is not.
        let hosts = cmd::output(&mut client("qhost"))?;
        let up = hosts.lines().any(|l| {
            l.split_whitespace().next() == Some("localhost")
                && l.split_whitespace().nth(6) != Some("-")
        });
        if !up {
            bail!("the execd on localhost is not reporting:\n{hosts}");
        }
        Ok(())
    }

    fn stop(&self, _ctx: &Ctx<'_>) -> Result<()> {
        // Machine-wide daemons, possibly serving other worktrees: left running.
        Ok(())
    }
}
