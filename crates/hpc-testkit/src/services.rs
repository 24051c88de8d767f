//! Reading the env file `cargo xtask services up` writes, for integration tests.
//!
//! The file (default `<workspace>/.services/services.env`, or `$HPCKIT_SERVICES_ENV`)
//! holds one `KEY=VALUE` per line, the value raw to the end of the line, and the key
//! `HPCKIT_SERVICES` listing the running services. A test asks for the service it needs:
//!
//! ```no_run
//! let sshd = hpc_testkit::services::require("sshd");
//! let port: u16 = sshd.port("HPCKIT_SSH_PORT");
//! let user = sshd.var("HPCKIT_SSH_USER");
//! # let _ = (port, user);
//! ```
//!
//! When the service is not up, [`require`] PANICS with a message naming
//! `cargo xtask services up <name>`: integration tests fail loudly, they never skip.
//! The keys each service provides are listed in `xtask/README.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Env var that overrides where the env file is read from.
pub const ENV_FILE_VAR: &str = "HPCKIT_SERVICES_ENV";

/// The parsed env file (possibly absent: then every [`ServicesEnv::require`] panics).
#[derive(Clone, Debug)]
pub struct ServicesEnv {
    path: PathBuf,
    /// Why nothing could be read, if so (shown in the panic message).
    problem: Option<String>,
    services: BTreeSet<String>,
    vars: BTreeMap<String, String>,
}

/// The variables of one running service.
#[derive(Clone, Debug)]
pub struct ServiceEnv {
    name: String,
    path: PathBuf,
    vars: BTreeMap<String, String>,
}

/// The default env file location: `$HPCKIT_SERVICES_ENV`, else `.services/services.env`
/// in the workspace root (two levels above the running test's crate, whose directory
/// cargo and nextest pass at run time in `CARGO_MANIFEST_DIR`; read at run time because
/// worktrees sharing a target dir may run a test binary built in another worktree).
pub fn default_path() -> PathBuf {
    if let Some(path) = std::env::var_os(ENV_FILE_VAR) {
        return PathBuf::from(path);
    }
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    crate_dir.join("../../.services/services.env")
}

/// Loads the env file and returns the named service; panics with the xtask hint when
/// the file is missing or the service is not listed in it.
pub fn require(service: &str) -> ServiceEnv {
    ServicesEnv::load().require(service)
}

/// A value as `cargo xtask services up` writes it: in sh single quotes (a
/// `'` inside as `'\''`), so the file can be sourced; an unquoted value
/// (an older file) is taken raw.
fn sh_unquote(text: &str) -> String {
    if !text.starts_with('\'') {
        return text.to_owned();
    }
    // No `'` is left inside but the escaped ones: the parts between escapes
    // carry only the opening and the closing quote.
    let parts: Vec<&str> = text.split(r"'\''").collect();
    let last = parts.len() - 1;
    let inner = parts.iter().enumerate().map(|(i, p)| {
        let p = if i == 0 { &p[1..] } else { p };
        if i == last { p.strip_suffix('\'').unwrap_or(p) } else { p }
    });
    inner.collect::<Vec<_>>().join("'")
}

impl ServicesEnv {
    /// Reads the env file from [`default_path`]. Never fails: a missing or unreadable
    /// file is remembered and reported by [`ServicesEnv::require`].
    /// Also starts the suite-wide trace capture when asked for ([`crate::trace_capture`]).
    pub fn load() -> Self {
        crate::trace_capture::install();
        Self::load_from(&default_path())
    }

    /// Reads the env file at `path` (see [`ServicesEnv::load`]).
    pub fn load_from(path: &Path) -> Self {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(path, &text),
            Err(err) => Self {
                path: path.to_path_buf(),
                problem: Some(format!(
                    "cannot read the services env file {}: {err}",
                    path.display()
                )),
                services: BTreeSet::new(),
                vars: BTreeMap::new(),
            },
        }
    }

    /// Parses env file text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Self {
        let mut vars = BTreeMap::new();
        let mut problem = None;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((key, value)) => {
                    vars.insert(key.to_string(), sh_unquote(value));
                }
                None => {
                    problem.get_or_insert_with(|| {
                        format!("{}:{}: not KEY=VALUE", path.display(), n + 1)
                    });
                }
            }
        }
        let services = vars
            .get("HPCKIT_SERVICES")
            .map(|list| {
                list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
            })
            .unwrap_or_default();
        Self { path: path.to_path_buf(), problem, services, vars }
    }

    /// Names of the services listed as running.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(String::as_str)
    }

    /// True when `service` is listed as running.
    pub fn has(&self, service: &str) -> bool {
        self.problem.is_none() && self.services.contains(service)
    }

    /// The named service's variables.
    ///
    /// # Panics
    /// When the file could not be read or does not list `service`; the message names
    /// `cargo xtask services up <service>`.
    pub fn require(&self, service: &str) -> ServiceEnv {
        if let Some(problem) = &self.problem {
            panic!(
                "service `{service}` is not available ({problem}); start it with `cargo xtask services up {service}`"
            );
        }
        if !self.services.contains(service) {
            panic!(
                "service `{service}` is not running (the env file {} lists: {}); start it with `cargo xtask services up {service}`",
                self.path.display(),
                if self.services.is_empty() {
                    "none".to_string()
                } else {
                    self.services.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            );
        }
        ServiceEnv { name: service.to_string(), path: self.path.clone(), vars: self.vars.clone() }
    }
}

impl ServiceEnv {
    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// The value of `key`.
    ///
    /// # Panics
    /// When the key is missing (an env file from an older xtask): the message says to
    /// restart the service.
    pub fn var(&self, key: &str) -> &str {
        self.get(key).unwrap_or_else(|| {
            panic!(
                "{key} is missing from {} for service `{name}`; restart it with `cargo xtask services down {name} && cargo xtask services up {name}`",
                self.path.display(),
                name = self.name
            )
        })
    }

    /// `key` as a port number (panics like [`ServiceEnv::var`], or if it is not a port).
    pub fn port(&self, key: &str) -> u16 {
        let value = self.var(key);
        value
            .parse()
            .unwrap_or_else(|_| panic!("{key}={value} in {} is not a port", self.path.display()))
    }

    /// Every variable of the env file (of all running services), for a
    /// child process that reads its settings from its environment.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// `key` as a file system path (panics like [`ServiceEnv::var`]).
    pub fn path(&self, key: &str) -> PathBuf {
        PathBuf::from(self.var(key))
    }

    /// `host_key:port_key` as one `host:port` string.
    pub fn addr(&self, host_key: &str, port_key: &str) -> String {
        format!("{}:{}", self.var(host_key), self.port(port_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let err = std::panic::catch_unwind(f).expect_err("should panic");
        err.downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap()
    }

    const SAMPLE: &str =
        "# comment\nHPCKIT_SERVICES=sshd,ftp\nHPCKIT_SSH_PORT=2222\nHPCKIT_SSH_PASSWORD=a=b c\n";

    #[test]
    fn parses_services_and_raw_values() {
        let env = ServicesEnv::parse(Path::new("x.env"), SAMPLE);
        assert!(env.has("sshd") && env.has("ftp") && !env.has("slurm"));
        let sshd = env.require("sshd");
        assert_eq!(sshd.port("HPCKIT_SSH_PORT"), 2222);
        assert_eq!(sshd.var("HPCKIT_SSH_PASSWORD"), "a=b c");
        assert_eq!(sshd.get("NOPE"), None);
    }

    #[test]
    fn a_service_that_is_not_up_panics_with_the_xtask_command() {
        let env = ServicesEnv::parse(Path::new("x.env"), SAMPLE);
        let msg = panic_message(move || {
            env.require("slurm");
        });
        assert!(msg.contains("cargo xtask services up slurm"), "{msg}");
        assert!(msg.contains("ftp, sshd"), "{msg}");
    }

    #[test]
    fn quoted_values_read_as_sh_reads_them() {
        for (written, value) in [
            ("'a&b'", "a&b"),
            ("'two words'", "two words"),
            (r"'it'\''s'", "it's"),
            (r"''\'''", "'"),
            ("''", ""),
            ("raw&old", "raw&old"),
        ] {
            assert_eq!(sh_unquote(written), value, "{written}");
        }
    }

    #[test]
    fn a_missing_env_file_panics_with_the_xtask_command() {
        let env = ServicesEnv::load_from(Path::new("/nonexistent/hpckit/services.env"));
        assert!(!env.has("sshd"));
        let msg = panic_message(move || {
            env.require("sshd");
        });
        assert!(msg.contains("cargo xtask services up sshd"), "{msg}");
        assert!(msg.contains("/nonexistent/hpckit/services.env"), "{msg}");
    }

    #[test]
    fn a_missing_key_panics_naming_the_key() {
        let sshd = ServicesEnv::parse(Path::new("x.env"), SAMPLE).require("sshd");
        let msg = panic_message(move || {
            sshd.var("HPCKIT_SSH_NOPE");
        });
        assert!(
            msg.contains("HPCKIT_SSH_NOPE") && msg.contains("cargo xtask services up sshd"),
            "{msg}"
        );
    }
}
