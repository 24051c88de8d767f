//! The `cargo deny` step of `cargo xtask test`: licences, duplicate crates and
//! sources against `deny.toml`. These need only `Cargo.lock` and the crates
//! (which cargo fetches from the registry where missing); the advisory
//! database is not reachable from our machines, so the GitHub `deny` job
//! checks advisories (docs/adr/1002-cargo-deny.md).

use std::time::Instant;

use anyhow::{Result, bail};

use crate::cmd::{self, cargo};

/// The cargo-deny release `deny.toml` is written for (and CI installs).
pub(crate) const VERSION: &str = "0.20.2";

/// The checks that need nothing but `Cargo.lock` and the crates.
pub(crate) const LOCAL_CHECKS: [&str; 3] = ["licenses", "bans", "sources"];

/// Installs cargo-deny when `cargo deny` is missing (once per machine: it
/// stays in cargo's bin directory), then runs the local checks.
pub(crate) fn check() -> Result<()> {
    ensure_installed()?;
    cmd::run(cargo().args(["deny", "--locked", "check"]).args(LOCAL_CHECKS))
}

fn installed() -> bool {
    cargo().args(["deny", "--version"]).output().is_ok_and(|o| o.status.success())
}

fn ensure_installed() -> Result<()> {
    if installed() {
        return Ok(());
    }
    println!(
        "cargo-deny is missing: cargo install --locked cargo-deny@{VERSION} (once per machine)"
    );
    let started = Instant::now();
    cmd::run(cargo().args(["install", "--locked", &format!("cargo-deny@{VERSION}")]))?;
    println!("installed cargo-deny in {:.0} s", started.elapsed().as_secs_f64());
    if !installed() {
        bail!("`cargo deny` still does not run after installing cargo-deny {VERSION}");
    }
    Ok(())
}
