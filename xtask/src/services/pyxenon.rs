//! `pyxenon`: the real PyXenon 3.0.3 (with the protobuf 3 runtime it needs) in the venv
//! `/opt/hpckit/venv/pyxenon`: the client of `hpckit xenon-grpc` in the interop tests
//! and in `cargo xtask bench xenon`. No process runs: each test starts its own
//! `hpckit xenon-grpc`. No Java is installed, so PyXenon can only reach our server.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Ctx, EnvVars, Service};

const VENV: &str = "/opt/hpckit/venv/pyxenon";

/// The `pyxenon` service.
pub(crate) struct Pyxenon;

impl Service for Pyxenon {
    fn name(&self) -> &'static str {
        "pyxenon"
    }

    fn about(&self) -> &'static str {
        "PyXenon 3.0.3 client venv (protobuf 3.20.3) for hpckit xenon-grpc; nothing runs"
    }

    fn start(&self, _ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let mut env = EnvVars::default();
        env.set("HPCKIT_PYXENON_PYTHON", format!("{VENV}/bin/python"));
        Ok(env)
    }

    fn health(&self, _ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        let python = env.require("HPCKIT_PYXENON_PYTHON")?;
        if !Path::new(python).exists() {
            bail!("{python} is missing: the pyxenon venv was not provisioned");
        }
        let out = Command::new(python)
            .args(["-c", "import xenon, google.protobuf; print(xenon.__version__, google.protobuf.__version__)"])
            .output()
            .with_context(|| format!("running {python}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !text.starts_with("3.0.3 ") {
            bail!(
                "`import xenon` in {python} failed or is not 3.0.3: {}{}",
                text.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}
