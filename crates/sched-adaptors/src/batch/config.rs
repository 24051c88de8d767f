//! What the configurations of all batch adaptors share: [`PollConfig`], and
//! [`BatchConfig`], which loads a configuration from TOML, applies a
//! location's path and parameters and checks the values that end up on
//! command lines, once for every adaptor.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::Path;
use std::time::Duration;

use hpc_core::job::is_env_name;
use hpc_core::{Error, JobPath, Location, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How a batch adaptor polls. Loadable from TOML (durations in seconds):
///
/// ```
/// let s: sched_adaptors::batch::PollConfig =
///     toml::from_str("poll_interval = 0.5\nmax_poll_interval = 5").unwrap();
/// assert_eq!(s.poll_interval.as_millis(), 500);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollConfig {
    /// Shortest time between two status queries (and the interval while
    /// nothing is known about how fast jobs finish).
    #[serde(with = "secs")]
    pub poll_interval: Duration,
    /// Longest time between two status queries while jobs are watched.
    #[serde(with = "secs")]
    pub max_poll_interval: Duration,
    /// How long a job that has left the queue but is not (yet) in the
    /// accounting records keeps its last seen state before it counts as unknown.
    #[serde(with = "secs")]
    pub accounting_grace: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            poll_interval: Duration::from_millis(250),
            max_poll_interval: Duration::from_secs(3),
            accounting_grace: Duration::from_secs(30),
        }
    }
}

impl PollConfig {
    /// Apply URL parameters `poll`, `max_poll`, `grace` (seconds).
    pub fn apply_param(&mut self, key: &str, value: &str) -> Result<bool> {
        let target = match key {
            "poll" | "poll_interval" => &mut self.poll_interval,
            "max_poll" | "max_poll_interval" => &mut self.max_poll_interval,
            "grace" | "accounting_grace" => &mut self.accounting_grace,
            _ => return Ok(false),
        };
        *target = parse_secs(value).ok_or_else(|| {
            Error::InvalidInput(format!("parameter {key}={value:?} is not a number of seconds"))
        })?;
        Ok(true)
    }

    /// Check the bounds.
    pub fn validate(&self) -> Result<()> {
        if self.poll_interval.is_zero() {
            return Err(Error::InvalidInput("poll_interval must be positive".into()));
        }
        if self.max_poll_interval < self.poll_interval {
            return Err(Error::InvalidInput(
                "max_poll_interval must not be below poll_interval".into(),
            ));
        }
        Ok(())
    }
}

fn parse_secs(v: &str) -> Option<Duration> {
    v.trim().parse::<f64>().ok().and_then(hpc_core::duration::from_secs_f64)
}

/// Serde helper: a `Duration` as (fractional) seconds.
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serialize as seconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Deserialize from seconds (integer or float).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let f = f64::deserialize(d)?;
        hpc_core::duration::from_secs_f64(f)
            .ok_or_else(|| D::Error::custom(format!("{f} is not a valid number of seconds")))
    }
}

/// The configuration of one batch adaptor (`SlurmConfig`, `SgeConfig`, ...):
/// per-site differences as data. An adaptor states its own fields and
/// parameters; loading, location parameters and the shared checks are
/// written here once.
///
/// ```
/// use sched_adaptors::batch::BatchConfig;
/// use sched_adaptors::sge::SgeConfig;
///
/// let mut c = SgeConfig::from_toml("parallel_environment = \"smp\"").unwrap();
/// c.apply_location(&"sge:///scratch?pe=mpi&poll=1".parse().unwrap()).unwrap();
/// assert_eq!(c.parallel_environment.as_deref(), Some("mpi"));
/// assert_eq!(c.default_workdir.as_ref().unwrap().as_str(), "/scratch");
/// assert!(c.apply_location(&"sge://?bogus=1".parse().unwrap()).is_err());
/// ```
pub trait BatchConfig:
    Clone + Debug + Default + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// Adaptor name, for messages.
    const ADAPTOR: &'static str;
    /// The location parameters [`BatchConfig::apply_param`] takes (for the
    /// message about an unknown one).
    const PARAMS: &'static [&'static str];

    /// Poll interval bounds and accounting grace period.
    fn poll(&self) -> &PollConfig;
    /// The same, to change.
    fn poll_mut(&mut self) -> &mut PollConfig;
    /// Environment of every scheduler command.
    fn env(&self) -> &BTreeMap<String, String>;
    /// The POSIX shell that runs batched submissions and the adaptor's
    /// small programs (`sh`).
    fn sh(&self) -> &str;
    /// Working directory of jobs that name none.
    fn default_workdir(&self) -> Option<&JobPath>;
    /// The same, to change.
    fn default_workdir_mut(&mut self) -> &mut Option<JobPath>;
    /// `submit_chunk` and `submit_parallel`, where the adaptor has them.
    fn submit_limits(&self) -> Option<(usize, usize)> {
        None
    }
    /// The shell of the job scripts, where the adaptor sets one.
    fn shell(&self) -> Option<&str> {
        None
    }
    /// Apply one of the adaptor's own location parameters; `Ok(false)` when
    /// `key` is not one of them.
    fn apply_param(&mut self, key: &str, value: &str) -> Result<bool>;
    /// Checks of the adaptor's own values (the shared ones are in [`BatchConfig::validate`]).
    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Parse TOML text and check it.
    fn from_toml(text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| {
            Error::InvalidInput(format!("{} settings: {}", Self::ADAPTOR, e.message()))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Read a TOML file and check it.
    fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::from_io_path("read", path.display(), e))?;
        Self::from_toml(&text)
    }

    /// Apply a location: `settings=FILE` (a TOML file) is read first, the
    /// path becomes the default working directory, and the other parameters
    /// override: the adaptor's own, then `poll`, `max_poll`, `grace`
    /// (seconds). The SSH connection's parameters are left to the transport.
    fn apply_location(&mut self, loc: &Location) -> Result<()> {
        if let Some(file) = loc.param("settings") {
            *self = Self::from_toml_file(Path::new(file))?;
        }
        if let Some(dir) = workdir(loc) {
            *self.default_workdir_mut() = Some(dir);
        }
        let ssh: &[&str] = if loc.is_ssh() { hpc_exec::SSH_LOCATION_PARAMS } else { &[] };
        let poll = [
            "poll",
            "max_poll",
            "grace",
            "settings",
            "poll_interval",
            "max_poll_interval",
            "accounting_grace",
        ];
        loc.check_params(&[Self::PARAMS, &poll[..], ssh].concat())?;
        for (k, v) in &loc.query {
            if k == "settings" || is_transport_param(loc, k) {
                continue;
            }
            if !self.apply_param(k, v)? && !self.poll_mut().apply_param(k, v)? {
                return Err(Error::InvalidInput(format!(
                    "{} location parameter {k:?} is listed in PARAMS but not taken",
                    Self::ADAPTOR
                )));
            }
        }
        self.validate()
    }

    /// Check the values that would break command lines: poll bounds,
    /// environment names, chunk sizes, an absolute job shell, and the
    /// adaptor's own checks.
    fn validate(&self) -> Result<()> {
        let adaptor = Self::ADAPTOR;
        self.poll().validate()?;
        if let Some(k) = self.env().keys().find(|k| !is_env_name(k)) {
            return Err(Error::InvalidInput(format!("{adaptor} settings: bad env name {k:?}")));
        }
        if let Some((chunk, parallel)) = self.submit_limits()
            && (chunk == 0 || parallel == 0)
        {
            return Err(Error::InvalidInput(format!(
                "{adaptor} settings: submit_chunk and submit_parallel must be at least 1"
            )));
        }
        if let Some(shell) = self.shell()
            && !shell.starts_with('/')
        {
            return Err(Error::InvalidInput(format!(
                "{adaptor} settings: shell {shell:?} must be an absolute path"
            )));
        }
        self.check()
    }
}

/// The accessors of [`BatchConfig`] every configuration answers from its
/// fields of the same names (`poll`, `env`, `commands.sh`,
/// `default_workdir`), written once.
macro_rules! common_fields {
    () => {
        fn poll(&self) -> &$crate::batch::PollConfig {
            &self.poll
        }

        fn poll_mut(&mut self) -> &mut $crate::batch::PollConfig {
            &mut self.poll
        }

        fn env(&self) -> &std::collections::BTreeMap<String, String> {
            &self.env
        }

        fn sh(&self) -> &str {
            &self.commands.sh
        }

        fn default_workdir(&self) -> Option<&hpc_core::JobPath> {
            self.default_workdir.as_ref()
        }

        fn default_workdir_mut(&mut self) -> &mut Option<hpc_core::JobPath> {
            &mut self.default_workdir
        }
    };
}
pub(crate) use common_fields;

/// The default working directory a location's path names (none for `/`).
pub(crate) fn workdir(loc: &Location) -> Option<JobPath> {
    loc.path.as_deref().filter(|p| !p.is_empty() && *p != "/").map(JobPath::from)
}

/// Whether `key` configures the location's SSH connection (and so is not
/// the adaptor's to refuse).
pub(crate) fn is_transport_param(loc: &Location, key: &str) -> bool {
    loc.is_ssh() && hpc_exec::SSH_LOCATION_PARAMS.contains(&key)
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

    /// The smallest configuration: the shared fields only.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Fake {
        env: BTreeMap<String, String>,
        poll: PollConfig,
        default_workdir: Option<JobPath>,
        shell: Option<String>,
        submit: Option<(usize, usize)>,
        flag: bool,
    }

    impl BatchConfig for Fake {
        const ADAPTOR: &'static str = "sge";
        const PARAMS: &'static [&'static str] = &["flag"];
        fn poll(&self) -> &PollConfig {
            &self.poll
        }
        fn poll_mut(&mut self) -> &mut PollConfig {
            &mut self.poll
        }
        fn env(&self) -> &BTreeMap<String, String> {
            &self.env
        }
        fn sh(&self) -> &str {
            "sh"
        }
        fn default_workdir(&self) -> Option<&JobPath> {
            self.default_workdir.as_ref()
        }
        fn default_workdir_mut(&mut self) -> &mut Option<JobPath> {
            &mut self.default_workdir
        }
        fn submit_limits(&self) -> Option<(usize, usize)> {
            self.submit
        }
        fn shell(&self) -> Option<&str> {
            self.shell.as_deref()
        }
        fn apply_param(&mut self, key: &str, value: &str) -> Result<bool> {
            if key != "flag" {
                return Ok(false);
            }
            self.flag = switch(value).ok_or_else(|| Error::InvalidInput("flag".into()))?;
            Ok(true)
        }
    }

    #[test]
    fn common_checks_name_the_adaptor_and_the_value() {
        let check = |env: &[(&str, &str)], submit, shell: Option<&str>| {
            Fake {
                env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
                submit,
                shell: shell.map(str::to_owned),
                ..Fake::default()
            }
            .validate()
        };
        assert!(check(&[], Some((1, 1)), Some("/bin/sh")).is_ok());
        let msg = |r: Result<()>| r.unwrap_err().to_string();
        assert!(msg(check(&[], Some((0, 1)), None)).contains("sge settings: submit_chunk"));
        assert!(msg(check(&[], None, Some("sh"))).contains("\"sh\""));
        assert!(msg(check(&[("A B", "x")], None, None)).contains("bad env name \"A B\""));
    }

    #[test]
    fn ssh_parameters_belong_to_ssh_locations_only() {
        let ssh: Location = "sge+ssh://h?known_hosts=/k".parse().unwrap();
        let local: Location = "sge://?known_hosts=/k".parse().unwrap();
        assert!(is_transport_param(&ssh, "known_hosts"));
        assert!(!is_transport_param(&local, "known_hosts"));
        assert!(!is_transport_param(&ssh, "queue"));
        let mut c = Fake::default();
        assert!(c.apply_location(&ssh).is_ok());
        assert!(c.apply_location(&local).is_err());
    }

    #[test]
    fn locations_give_workdir_settings_file_and_parameters() {
        let loc: Location = "sge:///work/x?settings=/etc/site.toml".parse().unwrap();
        assert_eq!(workdir(&loc).as_ref().map(JobPath::as_str), Some("/work/x"));
        assert_eq!(loc.param("settings"), Some("/etc/site.toml"));
        let root: Location = "sge:///".parse().unwrap();
        assert_eq!(workdir(&root), None);
        assert_eq!((switch("on"), switch("0"), switch("yes")), (Some(true), Some(false), None));
        let mut c = Fake::default();
        c.apply_location(&"sge:///w?flag=on&poll=0.5".parse().unwrap()).unwrap();
        assert!(c.flag);
        assert_eq!(c.poll.poll_interval, Duration::from_millis(500));
        let e = c.apply_location(&"sge://?bogus=1".parse().unwrap()).unwrap_err();
        assert!(
            e.to_string().contains(
                "unknown parameter \"bogus\" (known: flag, poll, max_poll, grace, settings,"
            ),
            "{e}"
        );
        let e = c.apply_location(&"sge://?settings=/nonexistent/site.toml".parse().unwrap());
        assert!(e.unwrap_err().is_not_found());
    }

    #[test]
    fn settings_from_toml_and_params() {
        let s: PollConfig = toml::from_str("poll_interval = 1\naccounting_grace = 2.5").unwrap();
        assert_eq!(s.poll_interval, Duration::from_secs(1));
        assert_eq!(s.accounting_grace, Duration::from_millis(2500));
        assert_eq!(s.max_poll_interval, PollConfig::default().max_poll_interval);
        assert!(toml::from_str::<PollConfig>("poll_interval = -1").is_err());
        assert!(toml::from_str::<PollConfig>("pol = 1").is_err());
        let mut s = PollConfig::default();
        assert!(s.apply_param("poll", "0.1").unwrap());
        assert_eq!(s.poll_interval, Duration::from_millis(100));
        assert!(!s.apply_param("other", "1").unwrap());
        assert!(s.apply_param("poll", "soon").is_err());
        s.max_poll_interval = Duration::from_millis(50);
        assert!(s.validate().is_err());
        assert!(Fake::from_toml("[poll]\npoll_interval = 0").is_err());
        assert!(Fake::from_toml("flga = true").is_err());
    }
}
