//! What the per-site settings of every batch adaptor share: loading them from
//! TOML, the working directory a location names, and the checks of values
//! that end up on command lines.

use std::collections::BTreeMap;
use std::path::Path;

use hpc_core::job::is_env_name;
use hpc_core::{Error, Location, Result};
use serde::de::DeserializeOwned;

use super::PollSettings;

/// Settings of `adaptor` from TOML text, checked with `validate`.
pub(crate) fn from_toml<T: DeserializeOwned>(
    adaptor: &str,
    text: &str,
    validate: impl FnOnce(&T) -> Result<()>,
) -> Result<T> {
    let settings: T = toml::from_str(text)
        .map_err(|e| Error::InvalidInput(format!("{adaptor} settings: {}", e.message())))?;
    validate(&settings)?;
    Ok(settings)
}

/// The text of a settings file.
pub(crate) fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::from_io_path("read", path.display(), e))
}

/// The settings file a location names with `settings=FILE`, read first so
/// that the location's other parameters override it.
pub(crate) fn settings_file(loc: &Location) -> Option<&Path> {
    loc.param("settings").map(Path::new)
}

/// The default working directory a location's path names (none for `/`).
pub(crate) fn workdir(loc: &Location) -> Option<String> {
    loc.path.as_deref().filter(|p| !p.is_empty() && *p != "/").map(str::to_owned)
}

/// Whether `key` configures the location's SSH connection (and so is not
/// the adaptor's to refuse).
pub(crate) fn is_transport_param(loc: &Location, key: &str) -> bool {
    loc.is_ssh() && hpc_exec::SSH_LOCATION_PARAMS.contains(&key)
}

/// Checks every batch adaptor's settings need: poll bounds, environment
/// names, and (where the adaptor batches submissions) chunk sizes and an
/// absolute job shell.
pub(crate) struct Check<'a> {
    /// Adaptor name for messages.
    pub adaptor: &'a str,
    /// Poll settings.
    pub poll: &'a PollSettings,
    /// Environment of every scheduler command.
    pub env: &'a BTreeMap<String, String>,
    /// `submit_chunk` and `submit_parallel`, where the adaptor has them.
    pub submit: Option<(usize, usize)>,
    /// The job shell, where the adaptor has one.
    pub shell: Option<&'a str>,
}

impl Check<'_> {
    /// Run the checks.
    pub(crate) fn run(&self) -> Result<()> {
        let adaptor = self.adaptor;
        self.poll.validate()?;
        if let Some(k) = self.env.keys().find(|k| !is_env_name(k)) {
            return Err(Error::InvalidInput(format!("{adaptor} settings: bad env name {k:?}")));
        }
        if let Some((chunk, parallel)) = self.submit
            && (chunk == 0 || parallel == 0)
        {
            return Err(Error::InvalidInput(format!(
                "{adaptor} settings: submit_chunk and submit_parallel must be at least 1"
            )));
        }
        if let Some(shell) = self.shell
            && !shell.starts_with('/')
        {
            return Err(Error::InvalidInput(format!(
                "{adaptor} settings: shell {shell:?} must be an absolute path"
            )));
        }
        Ok(())
    }
}

/// An on/off switch from a location parameter (`on|true|1`, `off|false|0`).
pub(crate) fn switch(value: &str) -> Option<bool> {
    match value {
        "on" | "true" | "1" => Some(true),
        "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_checks_name_the_adaptor_and_the_value() {
        let poll = PollSettings::default();
        let mut env = BTreeMap::new();
        let check = |env: &BTreeMap<String, String>, submit, shell| {
            Check { adaptor: "sge", poll: &poll, env, submit, shell }.run()
        };
        assert!(check(&env, Some((1, 1)), Some("/bin/sh")).is_ok());
        let msg = |r: Result<()>| r.unwrap_err().to_string();
        assert!(msg(check(&env, Some((0, 1)), None)).contains("sge settings: submit_chunk"));
        assert!(msg(check(&env, None, Some("sh"))).contains("\"sh\""));
        env.insert("A B".into(), "x".into());
        assert!(msg(check(&env, None, None)).contains("bad env name \"A B\""));
    }

    #[test]
    fn ssh_parameters_belong_to_ssh_locations_only() {
        let ssh: Location = "sge+ssh://h?known_hosts=/k".parse().unwrap();
        let local: Location = "sge://?known_hosts=/k".parse().unwrap();
        assert!(is_transport_param(&ssh, "known_hosts"));
        assert!(!is_transport_param(&local, "known_hosts"));
        assert!(!is_transport_param(&ssh, "queue"));
    }

    #[test]
    fn locations_give_workdir_and_settings_file() {
        let loc: Location = "sge:///work/x?settings=/etc/site.toml".parse().unwrap();
        assert_eq!(workdir(&loc).as_deref(), Some("/work/x"));
        assert_eq!(settings_file(&loc), Some(Path::new("/etc/site.toml")));
        let root: Location = "sge:///".parse().unwrap();
        assert_eq!((workdir(&root), settings_file(&root)), (None, None));
        assert_eq!((switch("on"), switch("0"), switch("yes")), (Some(true), Some(false), None));
    }
}
