//! Facts about this machine: who we are, which Debian packages are missing, and installing them.

use std::process::Command;

use anyhow::Result;

use crate::cmd;

/// True when running as root (services create users and network namespaces).
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The subset of `packages` that dpkg does not report as installed.
pub(crate) fn missing_debian_packages(packages: &[String]) -> Vec<String> {
    packages
        .iter()
        .filter(|pkg| {
            let out = Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]).output();
            !matches!(out, Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        })
        .cloned()
        .collect()
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
