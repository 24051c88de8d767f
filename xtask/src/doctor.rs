//! `cargo xtask doctor`: the system packages and commands the test suite needs, installed
//! from the lists in the repository and nowhere else.
//!
//! Two kinds of files under `docker/<folder>/` (every folder: each service, plus
//! `testsuite` for what tests need beyond any service, such as `fusermount3`):
//! - `packages`: Debian packages, one per line;
//! - `commands`: the system commands (or absolute file paths, with `*` inside one path
//!   component) that the service or the tests use, one per line.
//!
//! A folder with a file named `on-demand` (`docker/engine/`: the Docker engine and
//! debootstrap) is left out of both: its packages are installed by the one command that
//! needs them (`services --backend docker`), never by `doctor` or `cargo xtask test`,
//! since installing an engine starts it on machines with systemd.
//!
//! After installing the listed packages, every needed command must come from a Debian
//! package that the lists name, or that a listed package pulls in, or that is Essential
//! (coreutils, bash, ...). A command that is missing, that no package owns (copied to
//! `/usr/local` by hand) or that belongs to a package outside the lists (`apt-get
//! install`ed by hand) is an error: otherwise a tool installed once by hand on the CI
//! machine would make CI green while a fresh machine fails.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cmd, system};

/// Where commands are looked up: the system directories only, never a user's
/// `~/.cargo/bin`, pyenv shims or the like, which a fresh machine does not have.
pub(crate) const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// One line of a list file, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// A package name, a command name or an absolute path (patterns allowed).
    pub(crate) name: String,
    /// The list file, relative to the workspace (for messages).
    pub(crate) list: String,
}

/// Everything the lists under `docker/` ask for.
#[derive(Debug, Default)]
pub(crate) struct Needs {
    /// Listed Debian packages, in order, without duplicates.
    pub(crate) packages: Vec<Entry>,
    /// Needed commands and files.
    pub(crate) commands: Vec<Entry>,
    /// Commands of `on-demand` folders: listed, but not checked by `doctor`.
    pub(crate) on_demand_commands: Vec<Entry>,
}

/// The entries of a list file: one per line, `#` starts a comment.
pub(crate) fn parse_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Needs {
    /// Reads `docker/*/packages` and `docker/*/commands` under `root`.
    pub(crate) fn read(root: &Path) -> Result<Needs> {
        let docker = root.join("docker");
        let mut folders: Vec<PathBuf> = std::fs::read_dir(&docker)
            .with_context(|| format!("cannot list {}", docker.display()))?
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.is_dir())
            .collect();
        folders.sort();
        let mut needs = Needs::default();
        for folder in folders {
            let on_demand = folder.join("on-demand").exists();
            let commands =
                if on_demand { &mut needs.on_demand_commands } else { &mut needs.commands };
            let mut ignored = Vec::new();
            let packages = if on_demand { &mut ignored } else { &mut needs.packages };
            for (file, into) in [("packages", packages), ("commands", commands)] {
                let path = folder.join(file);
                if !path.exists() {
                    continue;
                }
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let list = path.strip_prefix(root).unwrap_or(&path).display().to_string();
                for name in parse_list(&text) {
                    if !into.iter().any(|e| e.name == name) {
                        into.push(Entry { name, list: list.clone() });
                    }
                }
            }
        }
        Ok(needs)
    }

    /// The listed package names.
    pub(crate) fn package_names(&self) -> Vec<String> {
        self.packages.iter().map(|e| e.name.clone()).collect()
    }
}

/// Where a needed command was found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Located {
    /// Not on [`SYSTEM_PATH`] (or the path does not exist).
    Missing,
    /// Found, but no Debian package owns the file.
    Unowned(PathBuf),
    /// Found and owned by these packages.
    Owned(PathBuf, Vec<String>),
}

/// Why a needed command does not count as provided by the lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The command or path.
    pub(crate) command: String,
    /// The list that asks for it.
    pub(crate) list: String,
    /// What is wrong.
    pub(crate) what: ProblemKind,
}

/// The three ways a command can fail the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProblemKind {
    /// Not installed even after the listed packages were.
    Missing,
    /// Installed by hand, outside any package.
    Unowned(PathBuf),
    /// Installed by a package the lists do not bring in.
    Unlisted(PathBuf, Vec<String>),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Problem { command, list, what } = self;
        match what {
            ProblemKind::Missing => write!(
                f,
                "`{command}` (needed by {list}) is not installed: add the Debian package that provides it to a packages list"
            ),
            ProblemKind::Unowned(path) => write!(
                f,
                "`{command}` (needed by {list}) is {}, which no Debian package owns (installed by hand?): install it from a package in the lists",
                path.display()
            ),
            ProblemKind::Unlisted(path, owners) => write!(
                f,
                "`{command}` (needed by {list}) is {} from package {}, which no docker/*/packages list brings in: add it to the packages list next to {list}",
                path.display(),
                owners.join(" or ")
            ),
        }
    }
}

/// Checks every needed command against `provided` (the packages the lists bring in);
/// `locate` finds a command and its owners. Pure, so that it can be tested.
pub(crate) fn check(
    commands: &[Entry],
    provided: &BTreeSet<String>,
    locate: impl Fn(&str) -> Located,
) -> Vec<Problem> {
    commands
        .iter()
        .filter_map(|entry| {
            let what = match locate(&entry.name) {
                Located::Missing => ProblemKind::Missing,
                Located::Unowned(path) => ProblemKind::Unowned(path),
                Located::Owned(path, owners) => {
                    if owners.iter().any(|o| provided.contains(o)) {
                        return None;
                    }
                    ProblemKind::Unlisted(path, owners)
                }
            };
            Some(Problem { command: entry.name.clone(), list: entry.list.clone(), what })
        })
        .collect()
}

/// One installed package as `dpkg-query` describes it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Installed {
    /// Essential packages are on every Debian system.
    pub(crate) essential: bool,
    /// Names of the packages it depends on (each alternative), versions stripped.
    pub(crate) depends: Vec<String>,
    /// Virtual packages it provides.
    pub(crate) provides: Vec<String>,
}

/// The `dpkg-query` format [`parse_installed`] reads.
pub(crate) const DPKG_FORMAT: &str =
    "${Package}\t${db:Status-Abbrev}\t${Essential}\t${Depends}, ${Pre-Depends}\t${Provides}\n";

/// Package names of a Depends/Provides field: alternatives split, versions and
/// architecture qualifiers dropped.
fn names_of(field: &str) -> Vec<String> {
    field
        .split([',', '|'])
        .filter_map(|part| {
            let name = part.split_whitespace().next()?;
            let name = name.split(':').next()?;
            (!name.is_empty()).then(|| name.to_owned())
        })
        .collect()
}

/// Parses `dpkg-query -W -f=DPKG_FORMAT` output; only installed packages are kept.
pub(crate) fn parse_installed(text: &str) -> BTreeMap<String, Installed> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, status, essential, depends, provides] = fields[..] else { continue };
        if !status.starts_with("ii") {
            continue;
        }
        out.insert(
            name.to_owned(),
            Installed {
                essential: essential == "yes",
                depends: names_of(depends),
                provides: names_of(provides),
            },
        );
    }
    out
}

/// The packages the lists bring in: the listed ones (every alternative of an `a | b` line), everything they depend on
/// (through virtual packages too), and every Essential package.
pub(crate) fn provided_by(
    listed: &[String],
    installed: &BTreeMap<String, Installed>,
) -> BTreeSet<String> {
    let mut providers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, pkg) in installed {
        for virtual_name in &pkg.provides {
            providers.entry(virtual_name).or_default().push(name);
        }
    }
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<&str> =
        listed.iter().flat_map(|entry| crate::system::alternatives(entry)).collect();
    queue.extend(installed.iter().filter(|(_, p)| p.essential).map(|(n, _)| n.as_str()));
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.to_owned()) {
            continue;
        }
        if let Some(pkg) = installed.get(name) {
            queue.extend(pkg.depends.iter().map(String::as_str));
        }
        if let Some(real) = providers.get(name) {
            queue.extend(real.iter().copied());
        }
    }
    seen
}

/// The files `name` stands for: itself if absolute (with `*` matching within one path
/// component), else the first match on [`SYSTEM_PATH`].
fn resolve(name: &str) -> Vec<PathBuf> {
    if name.starts_with('/') {
        return expand(Path::new(name));
    }
    SYSTEM_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .into_iter()
        .collect()
}

/// Expands `*` in the components of an absolute path (no other pattern syntax).
fn expand(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/")];
    for part in pattern.components().skip(1) {
        let part = part.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for dir in &found {
            if let Some((prefix, suffix)) = part.split_once('*') {
                let Ok(entries) = std::fs::read_dir(dir) else { continue };
                let mut matches: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok())
                    .filter(|e| {
                        let n = e.file_name().to_string_lossy().into_owned();
                        n.len() >= prefix.len() + suffix.len()
                            && n.starts_with(prefix)
                            && n.ends_with(suffix)
                    })
                    .map(|e| e.path())
                    .collect();
                matches.sort();
                next.extend(matches);
            } else {
                let p = dir.join(&*part);
                if p.exists() {
                    next.push(p);
                }
            }
        }
        found = next;
    }
    found
}

/// The names dpkg may know a file by: as found, canonical, and across the merged-/usr
/// aliases (Debian 12 registers `/bin/ls`, the PATH finds `/usr/bin/ls`).
fn dpkg_names(path: &Path) -> Vec<PathBuf> {
    let mut names = vec![path.to_path_buf()];
    if let Ok(real) = std::fs::canonicalize(path) {
        names.push(real);
    }
    for p in names.clone() {
        let s = p.to_string_lossy().into_owned();
        for (a, b) in [("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/usr/lib/", "/lib/")] {
            if let Some(rest) = s.strip_prefix(a) {
                names.push(PathBuf::from(format!("{b}{rest}")));
            } else if let Some(rest) = s.strip_prefix(b) {
                names.push(PathBuf::from(format!("{a}{rest}")));
            }
        }
    }
    names.dedup();
    names
}

/// The packages `dpkg -S` names as owners of `path`, if any.
fn owners(path: &Path) -> Vec<String> {
    for name in dpkg_names(path) {
        let out = Command::new("dpkg-query").arg("-S").arg(&name).output();
        let Ok(out) = out else { continue };
        if !out.status.success() {
            continue;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut found = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with("diversion ")) {
            let Some((pkgs, _)) = line.split_once(": ") else { continue };
            found.extend(pkgs.split(", ").map(|p| p.split(':').next().unwrap_or(p).to_owned()));
        }
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// Finds `name` on this machine and asks dpkg who owns it.
pub(crate) fn locate(name: &str) -> Located {
    let Some(path) = resolve(name).into_iter().next() else { return Located::Missing };
    match owners(&path) {
        found if found.is_empty() => Located::Unowned(path),
        found => Located::Owned(path, found),
    }
}

/// The installed packages, from dpkg.
pub(crate) fn installed_packages() -> Result<BTreeMap<String, Installed>> {
    let text = cmd::output(Command::new("dpkg-query").args(["-W", &format!("-f={DPKG_FORMAT}")]))?;
    Ok(parse_installed(&text))
}

/// Installs the listed packages that are missing (root), or names them (other users).
pub(crate) fn ensure_packages(needs: &Needs) -> Result<()> {
    let missing = system::missing_debian_packages(&needs.package_names());
    if missing.is_empty() {
        println!("all {} listed Debian packages present", needs.packages.len());
        return Ok(());
    }
    if !system::is_root() {
        bail!(
            "missing Debian packages; install them and run again:\n    sudo apt-get install {}\n\
             (or run as root, which installs them itself)",
            missing.join(" ")
        );
    }
    system::apt_install(&missing)
}

/// Checks that every needed command comes from the lists.
pub(crate) fn check_commands(needs: &Needs) -> Result<()> {
    let provided = provided_by(&needs.package_names(), &installed_packages()?);
    let problems = check(&needs.commands, &provided, locate);
    if problems.is_empty() {
        println!("all {} needed commands come from listed packages", needs.commands.len());
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    bail!(
        "{} needed command(s) not provided by the package lists:\n{}",
        problems.len(),
        lines.join("\n")
    )
}

/// `cargo xtask doctor`: install the listed packages, then check every needed command.
pub(crate) fn run() -> Result<()> {
    let needs = Needs::read(&cmd::workspace_root())?;
    ensure_packages(&needs)?;
    check_commands(&needs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commands the sources start that no Debian package provides, and why that is right.
    const NOT_FROM_DEBIAN: &[(&str, &str)] = &[
        ("cargo", "the Rust toolchain from rustup, the one thing a fresh machine brings"),
        ("docker", "asked only by the docker backend, which reports when no engine is there"),
    ];

    fn entry(name: &str) -> Entry {
        Entry { name: name.into(), list: "docker/x/commands".into() }
    }

    fn owned(path: &str, pkg: &str) -> Located {
        Located::Owned(path.into(), vec![pkg.into()])
    }

    #[test]
    fn a_command_from_an_unlisted_package_fails_the_check() {
        // The bug of issue 19: fuse3 was installed by hand, no list named it.
        let provided: BTreeSet<String> = ["openssh-server".to_owned()].into();
        let problems = check(&[entry("sshd"), entry("fusermount3")], &provided, |c| match c {
            "sshd" => owned("/usr/sbin/sshd", "openssh-server"),
            _ => owned("/usr/bin/fusermount3", "fuse3"),
        });
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].command, "fusermount3");
        assert!(matches!(&problems[0].what, ProblemKind::Unlisted(_, o) if o == &["fuse3"]));
        assert!(problems[0].to_string().contains("from package fuse3"), "{}", problems[0]);
    }

    #[test]
    fn missing_and_hand_copied_commands_fail_the_check() {
        let problems = check(&[entry("a"), entry("b")], &BTreeSet::new(), |c| match c {
            "a" => Located::Missing,
            _ => Located::Unowned("/usr/local/bin/b".into()),
        });
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].what, ProblemKind::Missing);
        assert_eq!(problems[1].what, ProblemKind::Unowned("/usr/local/bin/b".into()));
        assert!(problems[1].to_string().contains("no Debian package owns"));
    }

    #[test]
    fn a_command_of_any_of_several_owners_in_the_lists_passes() {
        let provided: BTreeSet<String> = ["b".to_owned()].into();
        let located = Located::Owned("/x".into(), vec!["a".into(), "b".into()]);
        assert!(check(&[entry("x")], &provided, |_| located.clone()).is_empty());
    }

    #[test]
    fn dependencies_virtual_packages_and_essentials_are_provided() {
        let text = "\
python3\tii \tno\tpython3-minimal (= 3.11.2-1), python3.11 (>= 3.11.2-1~), \t
python3-minimal\tii \tno\tdpkg (>= 1.13.20), \t
python3.11\tii \tno\t, \t
mail-user\tii \tno\tmail-transport-agent, \t
exim\tii \tno\t, \tmail-transport-agent
coreutils\tii \tyes\t, \t
fuse3\tii \tno\tlibfuse3-3 (= 3.14.0-4), \t
gone\trc \tno\t, \t
";
        let installed = parse_installed(text);
        assert!(!installed.contains_key("gone"), "removed packages are not installed");
        let provided = provided_by(&["python3".into(), "mail-user".into()], &installed);
        for pkg in ["python3", "python3-minimal", "python3.11", "dpkg", "exim", "coreutils"] {
            assert!(provided.contains(pkg), "{pkg} missing from {provided:?}");
        }
        assert!(!provided.contains("fuse3"), "installed by hand, listed nowhere");
    }

    #[test]
    fn either_alternative_of_a_line_provides_its_dependencies() {
        let text = "\
nodejs\tii \tno\tlibc6, \t
libc6\tii \tno\t, \t
";
        let installed = parse_installed(text);
        let provided = provided_by(&["npm | nodejs".into()], &installed);
        assert!(provided.contains("nodejs") && provided.contains("libc6"), "{provided:?}");
        let alts: Vec<&str> = crate::system::alternatives(" npm |nodejs ").collect();
        assert_eq!(alts, ["npm", "nodejs"]);
    }

    #[test]
    fn the_repository_lists_parse_and_name_fuse3() {
        let needs = Needs::read(&cmd::workspace_root()).unwrap();
        let fuse3 = needs.packages.iter().find(|e| e.name == "fuse3").expect("fuse3 listed");
        assert_eq!(fuse3.list, "docker/testsuite/packages");
        assert!(needs.commands.iter().any(|e| e.name == "fusermount3"));
        assert!(needs.commands.iter().all(|e| !e.name.contains(char::is_whitespace)));
    }

    /// Every command the tests and services start by a literal name must be in a
    /// `commands` list, or come from an Essential package (present on every Debian).
    #[test]
    fn every_command_the_sources_start_is_listed() {
        let root = cmd::workspace_root();
        let needs = Needs::read(&root).unwrap();
        let installed = installed_packages().unwrap();
        let essential = provided_by(&[], &installed);
        let mut unlisted = BTreeSet::new();
        for dir in [
            "crates/itests/tests",
            "crates/hpc-testkit/src",
            "xtask/src/services",
            "xtask/src/bench",
        ] {
            for (file, name) in started_commands(&root.join(dir)) {
                let base = name.rsplit('/').next().unwrap_or(&name).to_owned();
                let listed = needs
                    .commands
                    .iter()
                    .chain(&needs.on_demand_commands)
                    .any(|e| e.name == name || e.name == base)
                    || NOT_FROM_DEBIAN.iter().any(|(c, _)| *c == name);
                let is_essential = matches!(locate(&name), Located::Owned(_, o) if o.iter().any(|p| essential.contains(p)));
                if !listed && !is_essential {
                    unlisted.insert(format!("{name} ({})", file.display()));
                }
            }
        }
        assert!(unlisted.is_empty(), "add these to a docker/*/commands list: {unlisted:?}");
    }

    /// `(file, command)` for each `Command::new("...")` and `"/usr/bin/..."`-style
    /// literal in the Rust files under `dir`.
    fn started_commands(dir: &Path) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()) {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                if p.extension().is_none_or(|x| x != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&p).unwrap();
                for (marker, keep_prefix) in
                    [("Command::new(\"", false), ("\"/usr/bin/", true), ("\"/usr/sbin/", true)]
                {
                    for (i, _) in text.match_indices(marker) {
                        let start = i + marker.len();
                        let Some(len) = text[start..].find('"') else { continue };
                        let name = &text[start..start + len];
                        let name = if keep_prefix {
                            format!("{}{name}", &marker[1..])
                        } else {
                            name.to_owned()
                        };
                        if !name.is_empty() && !name.contains(char::is_whitespace) {
                            out.push((p.clone(), name));
                        }
                    }
                }
            }
        }
        out
    }
}
