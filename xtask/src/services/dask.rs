//! `dask`: a virtualenv with dask.distributed (and dask-jobqueue, the peer of
//! `bench dask`) for the hpc-dask tests; no daemon.
//!
//! `docker/dask/provision.sh` makes `/opt/hpckit/venv/dask` from Debian's
//! python3 with the pinned `requirements.txt`, readable by every user: jobs on
//! this host, on Slurm and on Grid Engine (run as the test user) start
//! `dask scheduler` and `dask worker` from it, and the tests' Python client
//! imports `dask.distributed` from it.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use super::{Ctx, EnvVars, Service};
use crate::cmd;

/// The virtualenv (made by `docker/dask/provision.sh`).
const VENV: &str = "/opt/hpckit/venv/dask";

/// The `dask` service.
pub(crate) struct Dask;

impl Service for Dask {
    fn name(&self) -> &'static str {
        "dask"
    }

    fn about(&self) -> &'static str {
        "dask.distributed 2026.8.0 + dask-jobqueue 0.9.0 in /opt/hpckit/venv/dask (no daemon)"
    }

    fn start(&self, _ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let mut env = EnvVars::default();
        env.set("HPCKIT_DASK_VENV", VENV);
        env.set("HPCKIT_DASK_PYTHON", format!("{VENV}/bin/python"));
        env.set("HPCKIT_DASK_ACTIVATE", format!(". {VENV}/bin/activate"));
        Ok(env)
    }

    fn health(&self, _ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        let python = env.require("HPCKIT_DASK_PYTHON")?;
        if !Path::new(python).exists() {
            bail!("{python} is missing");
        }
        let out =
            cmd::output(Command::new(python).args([
                "-c",
                "import distributed, dask_jobqueue; print(distributed.__version__)",
            ]))?;
        if out.trim() != "2026.8.0" {
            bail!("{VENV} has distributed {:?}, expected 2026.8.0", out.trim());
        }
        Ok(())
    }
}
