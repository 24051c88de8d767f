//! `torque`: hpc-testkit's Torque stand-in (Torque itself is not installable here).
//!
//! `start` builds the `torque-standin` binary and installs it under
//! `.services/torque/home/`: `bin/{qsub,qstat,qdel,pbsnodes}` (links to a copy of
//! the binary, so later builds do not change a running instance), a spool every
//! user may write, and `config.json` (server `standin.localdomain`, queues `batch`
//! (default) and `short`, keep_completed 300 s, 16 slots, Torque 6.1 output).
//! Tests call the commands by absolute path (`HPCKIT_TORQUE_BIN`), locally or as
//! the test user over SSH; no PATH changes needed. Jobs are plain processes: there
//! is no daemon to stop.

use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Ctx, EnvVars, Service};
use crate::cmd;

/// The `torque` service.
pub(crate) struct Torque;

impl Service for Torque {
    fn name(&self) -> &'static str {
        "torque"
    }

    fn about(&self) -> &'static str {
        "Torque stand-in (hpc-testkit): qsub/qstat/qdel/pbsnodes, queues batch+short"
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let built = cmd::output(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(cmd::workspace_root())
                .args(["build", "--quiet", "-p", "hpc-testkit", "--bin", "torque-standin"])
                .args(["--message-format", "json"]),
        )
        .context("building the Torque stand-in")?;
        let binary = built
            .lines()
            .filter(|l| l.contains("\"executable\"") && l.contains("torque-standin"))
            .find_map(|l| {
                let rest = &l[l.find("\"executable\":\"")? + 14..];
                Some(rest[..rest.find('"')?].to_string())
            })
            .context("cargo did not report the torque-standin executable")?;
        let home = ctx.state_dir.join("home");
        let bin = cmd::output(Command::new(&binary).arg("__install").arg(&home))?;
        let bin = bin.trim().to_string();
        let mut env = EnvVars::default();
        env.set("HPCKIT_TORQUE_BIN", &bin);
        env.set("HPCKIT_TORQUE_HOME", home.to_string_lossy());
        env.set("HPCKIT_TORQUE_SERVER", "standin.localdomain");
        env.set("HPCKIT_TORQUE_QUEUE", "batch");
        env.set("HPCKIT_TORQUE_USER", "hpctest");
        Ok(env)
    }

    fn health(&self, _ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        let bin = env.require("HPCKIT_TORQUE_BIN")?;
        let out = cmd::output(Command::new(format!("{bin}/qstat")).arg("-Q"))?;
        if !out.contains("batch") {
            bail!("the stand-in's qstat -Q lists no batch queue:\n{out}");
        }
        Ok(())
    }
}
