//! The `cargo deny` step of `cargo xtask test`: licences, duplicate crates and
//! sources against `deny.toml`, offline (the advisory database is not
//! reachable from our machines; the GitHub `deny` job checks advisories, see
//! docs/adr/1002-cargo-deny.md).

use std::time::Instant;

use anyhow::{Result, bail};

use crate::cmd::{self, cargo};

/// The cargo-deny release `deny.toml` is written for (and CI installs).
pub(crate) const VERSION: &str = "0.20.2";

/// The checks that need nothing but `Cargo.lock` and the downloaded crates.
pub(crate) const OFFLINE_CHECKS: [&str; 3] = ["licenses", "bans", "sources"];

/// Installs cargo-deny when `cargo deny` is missing (once per machine: it
/// stays in cargo's bin directory), then runs the offline checks.
pub(crate) fn check() -> Result<()> {
    ensure_installed()?;
    cmd::run(cargo().args(["deny", "--offline", "--locked", "check"]).args(OFFLINE_CHECKS))
}

fn installed() -> bool {
    cargo().args(["deny", "--version"]).output().is_ok_and(|o| o.status.success())
}

fn ensure_installed() -> Result<()> {
    if installed() {
        return Ok(());
    }
    println!("cargo-deny is missing: cargo install --locked cargo-deny@{VERSION} (once per machine)");
    let started = Instant::now();
    cmd::run(cargo().args(["install", "--locked", &format!("cargo-deny@{VERSION}")]))?;
    println!("installed cargo-deny in {:.0} s", started.elapsed().as_secs_f64());
    if !installed() {
        bail!("`cargo deny` still does not run after installing cargo-deny {VERSION}");
    }
    Ok(())
}
