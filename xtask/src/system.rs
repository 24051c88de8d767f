//! Facts about this machine: who we are, which Debian packages are missing, and installing them.

use std::process::Command;

use anyhow::Result;

use crate::cmd;

/// True when running as root (services create users and network namespaces).
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The list entries of `packages` none of whose alternatives dpkg reports as installed,
/// each as the package to install.
pub(crate) fn missing_debian_packages(packages: &[String]) -> Vec<String> {
    packages
        .iter()
        .filter(|entry| !alternatives(entry).any(is_installed))
        .filter_map(|entry| alternatives(entry).next().map(str::to_owned))
        .collect()
}

/// The packages of one list entry: `a | b` is met by either (as in a Debian `Depends`);
/// the first is the one to install when none is.
pub(crate) fn alternatives(entry: &str) -> impl Iterator<Item = &str> {
    entry.split('|').map(str::trim).filter(|p| !p.is_empty())
}

fn is_installed(pkg: &str) -> bool {
    let out = Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]).output();
    matches!(out, Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs `packages` with apt-get (root only); refreshes the package lists first.
pub(crate) fn apt_install(packages: &[String]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    println!("installing Debian packages: {}", packages.join(" "));
    cmd::run(
        Command::new("apt-get").args(["update", "-qq"]).env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    cmd::run(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "-o",
                "DPkg::Lock::Timeout=600",
            ])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}
