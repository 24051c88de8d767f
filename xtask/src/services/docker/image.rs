//! Images built here, never pulled: the Debian base (`local/debian:12`, debootstrap)
//! and one image per service from `docker/<name>/Dockerfile` on top of it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::{cmd, system};

/// The base every service image starts `FROM`.
pub(crate) const BASE_IMAGE: &str = "local/debian:12";

/// The image of service `name`.
pub(crate) fn service_image(name: &str) -> String {
    format!("local/hpckit-{name}")
}

fn image_exists(tag: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds `local/debian:12` with debootstrap unless the engine has it already.
pub(crate) fn ensure_base_image() -> Result<()> {
    if image_exists(BASE_IMAGE) {
        return Ok(());
    }
    if !system::is_root() {
        bail!(
            "building {BASE_IMAGE} needs root (debootstrap); run `sudo cargo xtask services up --backend docker ...` once"
        );
    }
    if !Path::new("/usr/sbin/debootstrap").exists() {
        system::apt_install(&system::missing_debian_packages(&super::engine::engine_packages()?))?;
    }
    let started = Instant::now();
    let root =
        PathBuf::from("/var/tmp").join(format!("hpckit-debian-rootfs-{}", std::process::id()));
    let mut debootstrap = Command::new("/usr/sbin/debootstrap");
    debootstrap.args(["--variant=minbase", "bookworm"]).arg(&root);
    // Without a mirror argument debootstrap uses its own default.
    if let Some(mirror) = debian_mirror() {
        debootstrap.arg(mirror);
    }
    println!("building {BASE_IMAGE}: {}", cmd::display(&debootstrap));
    let result = cmd::output(&mut debootstrap).map(drop).and_then(|()| import(&root));
    let _ = fs::remove_dir_all(&root);
    result.with_context(|| format!("building {BASE_IMAGE} failed"))?;
    println!("{BASE_IMAGE} built in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `tar -C root -c . | docker import - local/debian:12`
fn import(root: &Path) -> Result<()> {
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start tar")?;
    let stdout = tar.stdout.take().context("tar has no stdout")?;
    let imported = Command::new("docker")
        .args(["import", "-", BASE_IMAGE])
        .stdin(stdout)
        .output()
        .context("cannot start `docker import`")?;
    let packed = tar.wait()?;
    if !packed.success() || !imported.status.success() {
        let _ = Command::new("docker").args(["image", "rm", BASE_IMAGE]).output();
        bail!(
            "tar ({packed}) | docker import ({}): {}",
            imported.status,
            String::from_utf8_lossy(&imported.stderr).trim()
        );
    }
    Ok(())
}

/// `$HPCKIT_DEBIAN_MIRROR`, else the mirror apt uses for bookworm on this machine.
fn debian_mirror() -> Option<String> {
    if let Ok(mirror) = std::env::var("HPCKIT_DEBIAN_MIRROR") {
        return Some(mirror);
    }
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| Some(e.ok()?.path())).collect();
        more.sort();
        files.extend(more);
    }
    files.iter().find_map(|f| bookworm_mirror(&fs::read_to_string(f).ok()?))
}

/// The URI of the first source for the suite `bookworm` itself (not -updates or
/// -security), in one-line (`deb URI suite ...`) or deb822 (`URIs:`/`Suites:`) form.
pub(crate) fn bookworm_mirror(text: &str) -> Option<String> {
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"deb") {
            let rest: Vec<&str> =
                words[1..].iter().copied().skip_while(|w| w.starts_with('[')).collect();
            let rest: Vec<&str> = if words[1].starts_with('[') {
                // Options end at the word ending in `]`.
                let end = words.iter().position(|w| w.ends_with(']')).unwrap_or(0);
                words[end + 1..].to_vec()
            } else {
                rest
            };
            if rest.get(1) == Some(&"bookworm") {
                return rest.first().map(|u| (*u).to_owned());
            }
        }
    }
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) else { continue };
        if suites.split_whitespace().any(|s| s == "bookworm") {
            return uris.split_whitespace().next().map(str::to_owned);
        }
    }
    None
}

/// Builds the image of service `name` from `docker/<name>/Dockerfile`; the engine's
/// layer cache makes a rebuild of an unchanged service quick. The build context is a
/// copy of `docker/` in `context_dir` plus `host-ca/`: the certificates this host trusts
/// beyond Debian's (a TLS-inspecting proxy between it and the package registries).
/// The test user gets the host's uid and gid, so files in shared directories and
/// Slurm's munge credentials name the same user on both sides.
pub(crate) fn ensure_service_image(name: &str, context_dir: &Path, log: &Path) -> Result<String> {
    let root = cmd::workspace_root();
    let _ = fs::remove_dir_all(context_dir);
    copy_dir(&root.join("docker"), context_dir)?;
    let host_ca = context_dir.join("host-ca");
    fs::create_dir_all(&host_ca)?;
    if let Ok(entries) = fs::read_dir(HOST_CA_DIR) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "crt") && path.is_file() {
                fs::copy(&path, host_ca.join(entry.file_name()))?;
            }
        }
    }
    let dockerfile = context_dir.join(name).join("Dockerfile");
    let tag = service_image(name);
    let mut build = Command::new("docker");
    build
        .args(["build", "--force-rm", "--network", "host", "--tag", &tag, "--file"])
        .arg(&dockerfile);
    if let Some((uid, gid)) = test_user_ids() {
        build.args(["--build-arg", &format!("HPCKIT_TEST_UID={uid}")]);
        build.args(["--build-arg", &format!("HPCKIT_TEST_GID={gid}")]);
    }
    build.arg(context_dir);
    let started = Instant::now();
    let out = build
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start `{}`", cmd::display(&build)))?;
    let _ = fs::write(log, [out.stdout.as_slice(), out.stderr.as_slice()].concat());
    if !out.status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> =
            text.lines().filter(|l| !l.trim().is_empty()).rev().take(20).collect();
        bail!(
            "`{}` failed ({}); last lines of {}:\n{}",
            cmd::display(&build),
            out.status,
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    println!("  {name}: image {tag} ready in {:.1} s", started.elapsed().as_secs_f64());
    Ok(tag)
}

/// Local CA certificates of this host (Debian's place for them).
const HOST_CA_DIR: &str = "/usr/local/share/ca-certificates";

/// Copies the tree `from` to `to` (files and directories only).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// uid and gid of the host's test user, when it exists.
fn test_user_ids() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == "hpctest")
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

#[cfg(test)]
mod tests {
    use super::bookworm_mirror;

    #[test]
    fn the_bookworm_mirror_is_found_in_both_source_formats() {
        let one_line = "deb http://m.example/debian bookworm-updates main\n\
                        deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n";
        assert_eq!(bookworm_mirror(one_line).as_deref(), Some("http://m.example/debian"));
        let deb822 = "Types: deb\nURIs: http://s.example/debian-security\nSuites: bookworm-security\n\n\
                      Types: deb\nURIs: http://m.example/debian\nSuites: bookworm bookworm-updates\n";
        assert_eq!(bookworm_mirror(deb822).as_deref(), Some("http://m.example/debian"));
        assert_eq!(bookworm_mirror("deb http://m.example/debian trixie main\n"), None);
    }
}
