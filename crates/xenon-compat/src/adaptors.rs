//! Xenon's adaptor names, their descriptions and property tables (as PyXenon 3.0.3
//! documents them), and how each property maps onto an hpckit location parameter.

use std::collections::HashMap;

use crate::errors::XenonError;
use crate::proto;
use crate::proto::property_description::Type;

/// Prefix of every scheduler property name.
pub(crate) const SCHEDULER_PREFIX: &str = "xenon.adaptors.schedulers.";
/// Prefix of every file-system property name.
pub(crate) const FILESYSTEM_PREFIX: &str = "xenon.adaptors.filesystems.";

/// One property an adaptor accepts (name without the prefix).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Property {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) kind: Type,
    pub(crate) default: &'static str,
    /// What the value becomes in the hpckit location, if anything.
    pub(crate) maps_to: MapsTo,
}

/// Where a Xenon property goes in an hpckit location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapsTo {
    /// Accepted and checked, but hpckit has no such knob (documented in the README).
    Nothing,
    /// `false` relaxes host-key checking to `host_key=accept-new` (a changed key still fails).
    StrictHostKey,
    /// Milliseconds become the `connect_timeout` parameter (seconds).
    ConnectTimeoutMs,
    /// Milliseconds become the `poll` parameter (seconds) of a batch adaptor.
    PollMs,
    /// Milliseconds become the `grace` parameter (seconds) of a batch adaptor.
    GraceMs,
    /// `true` becomes `accounting=off`.
    NoAccounting,
    /// The count becomes `max_concurrent` of the local adaptor.
    MaxConcurrent,
}

const fn p(
    name: &'static str,
    description: &'static str,
    kind: Type,
    default: &'static str,
    maps_to: MapsTo,
) -> Property {
    Property { name, description, kind, default, maps_to }
}

const SSH_PROPS: &[Property] = &[
    p(
        "ssh.strictHostKeyChecking",
        "Enable strict host key checking.",
        Type::Boolean,
        "true",
        MapsTo::StrictHostKey,
    ),
    p(
        "ssh.loadKnownHosts",
        "Load the standard known_hosts file.",
        Type::Boolean,
        "true",
        MapsTo::Nothing,
    ),
    p("ssh.loadSshConfig", "Load the OpenSSH config file.", Type::Boolean, "true", MapsTo::Nothing),
    p("ssh.agent", "Use a (local) ssh-agent.", Type::Boolean, "false", MapsTo::Nothing),
    p("ssh.agentForwarding", "Use ssh-agent forwarding", Type::Boolean, "false", MapsTo::Nothing),
    p(
        "ssh.timeout",
        "The timeout for the connection setup and authetication (in milliseconds).",
        Type::Long,
        "10000",
        MapsTo::ConnectTimeoutMs,
    ),
    p(
        "ssh.queue.pollingDelay",
        "The polling delay for monitoring running jobs (in milliseconds).",
        Type::Long,
        "1000",
        MapsTo::Nothing,
    ),
    p(
        "ssh.queue.multi.maxConcurrentJobs",
        "The maximum number of concurrent jobs in the multiq.",
        Type::Integer,
        "4",
        MapsTo::Nothing,
    ),
];

const LOCAL_PROPS: &[Property] = &[
    p(
        "local.queue.pollingDelay",
        "The polling delay for monitoring running jobs (in milliseconds).",
        Type::Long,
        "1000",
        MapsTo::Nothing,
    ),
    p(
        "local.queue.multi.maxConcurrentJobs",
        "The maximum number of concurrent jobs in the multiq.",
        Type::Integer,
        "4",
        MapsTo::MaxConcurrent,
    ),
];

/// A scheduler adaptor as Xenon names and describes it.
#[derive(Debug)]
pub(crate) struct SchedulerAdaptor {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) locations: &'static [&'static str],
    pub(crate) own: &'static [Property],
    /// Whether the ssh and local queue properties apply too (batch adaptors).
    pub(crate) with_ssh_and_local: bool,
    pub(crate) is_embedded: bool,
    pub(crate) supports_interactive: bool,
    /// The hpckit scheme (`local`, `ssh`, `slurm`, `sge`, ...).
    pub(crate) scheme: &'static str,
}

const REMOTE_CREDENTIALS: &[&str] =
    &["DefaultCredential", "CertificateCredential", "PasswordCredential", "CredentialMap"];
const BATCH_LOCATIONS: &[&str] =
    &["local://[/workdir]", "ssh://host[:port][/workdir][ via:otherhost[:port]]*"];

/// Every scheduler adaptor, in Xenon's order.
pub(crate) static SCHEDULERS: &[SchedulerAdaptor] = &[
    SchedulerAdaptor {
        name: "local",
        description: "The local jobs adaptor implements all functionality by emulating a local queue.",
        locations: &["[/workdir]"],
        own: LOCAL_PROPS,
        with_ssh_and_local: false,
        is_embedded: true,
        supports_interactive: true,
        scheme: "local",
    },
    SchedulerAdaptor {
        name: "ssh",
        description: "The SSH job adaptor implements all functionality to start jobs on ssh servers.",
        locations: &["host[:port][/workdir][ via:otherhost[:port]]*"],
        own: SSH_PROPS,
        with_ssh_and_local: false,
        is_embedded: true,
        supports_interactive: true,
        scheme: "ssh",
    },
    SchedulerAdaptor {
        name: "at",
        description: "The At Adaptor submits jobs to an at scheduler.  This adaptor uses either the local or the ssh scheduler adaptor to run commands on the machine running at,  and the file or the stfp filesystem adaptor to gain access to the filesystem of that machine.",
        locations: BATCH_LOCATIONS,
        own: &[p(
            "at.poll.delay",
            "Number of milliseconds between polling the status of a job.",
            Type::Long,
            "1000",
            MapsTo::Nothing,
        )],
        with_ssh_and_local: true,
        is_embedded: false,
        supports_interactive: false,
        scheme: "at",
    },
    SchedulerAdaptor {
        name: "slurm",
        description: "The Slurm Adaptor submits jobs to a Slurm scheduler.  This adaptor uses either the local or the ssh scheduler adaptor to run commands on the machine running Slurm,  and the file or the stfp filesystem adaptor to gain access to the filesystem of that machine.",
        locations: BATCH_LOCATIONS,
        own: &[
            p(
                "slurm.disable.accounting.usage",
                "Do not use accounting info of slurm, even when available. Mostly for testing purposes",
                Type::Boolean,
                "false",
                MapsTo::NoAccounting,
            ),
            p(
                "slurm.poll.delay",
                "Number of milliseconds between polling the status of a job.",
                Type::Long,
                "1000",
                MapsTo::PollMs,
            ),
        ],
        with_ssh_and_local: true,
        is_embedded: false,
        supports_interactive: true,
        scheme: "slurm",
    },
    SchedulerAdaptor {
        name: "gridengine",
        description: "The SGE Adaptor submits jobs to a (Sun/Oracle/Univa) Grid Engine scheduler. This adaptor uses either the local or the ssh scheduler adaptor to run commands on the machine running Grid Engine,  and the file or the stfp filesystem adaptor to gain access to the filesystem of that machine.",
        locations: BATCH_LOCATIONS,
        own: &[
            p(
                "gridengine.ignore.version",
                "Skip version check is skipped when connecting to remote machines. WARNING: it is not recommended to use this setting in production environments!",
                Type::Boolean,
                "false",
                MapsTo::Nothing,
            ),
            p(
                "gridengine.accounting.grace.time",
                "Number of milliseconds a job is allowed to take going from the queue to the qacct output.",
                Type::Long,
                "60000",
                MapsTo::GraceMs,
            ),
            p(
                "gridengine.poll.delay",
                "Number of milliseconds between polling the status of a job.",
                Type::Long,
                "1000",
                MapsTo::PollMs,
            ),
        ],
        with_ssh_and_local: true,
        is_embedded: false,
        supports_interactive: false,
        scheme: "sge",
    },
    SchedulerAdaptor {
        name: "torque",
        description: "The Torque Adaptor submits jobs to a TORQUE batch system. This adaptor uses either the local or the ssh scheduler adaptor to run commands on the machine running TORQUE,  and the file or the stfp filesystem adaptor to gain access to the filesystem of that machine.",
        locations: BATCH_LOCATIONS,
        own: &[
            p(
                "torque.ignore.version",
                "Skip version check is skipped when connecting to remote machines. WARNING: it is not recommended to use this setting in production environments!",
                Type::Boolean,
                "false",
                MapsTo::Nothing,
            ),
            p(
                "torque.accounting.grace.time",
                "Number of milliseconds a job is allowed to take going from the queue to the accinfo output.",
                Type::Long,
                "60000",
                MapsTo::GraceMs,
            ),
            p(
                "torque.poll.delay",
                "Number of milliseconds between polling the status of a job.",
                Type::Long,
                "1000",
                MapsTo::PollMs,
            ),
        ],
        with_ssh_and_local: true,
        is_embedded: false,
        supports_interactive: false,
        scheme: "torque",
    },
];

impl SchedulerAdaptor {
    /// Every property this adaptor accepts.
    pub(crate) fn properties(&self) -> impl Iterator<Item = &'static Property> + Clone {
        let extra: &'static [Property] = if self.with_ssh_and_local { SSH_PROPS } else { &[] };
        let local: &'static [Property] = if self.with_ssh_and_local { LOCAL_PROPS } else { &[] };
        self.own.iter().chain(extra).chain(local)
    }

    /// The description message.
    pub(crate) fn describe(&self) -> proto::SchedulerAdaptorDescription {
        let credentials: &[&str] =
            if self.name == "local" { &["DefaultCredential"] } else { REMOTE_CREDENTIALS };
        proto::SchedulerAdaptorDescription {
            name: self.name.into(),
            description: self.description.into(),
            supported_locations: self.locations.iter().map(|s| (*s).into()).collect(),
            supported_properties: self.properties().map(|p| p.describe(SCHEDULER_PREFIX)).collect(),
            is_embedded: self.is_embedded,
            supports_interactive: self.supports_interactive,
            supports_batch: true,
            uses_file_system: true,
            supported_credentials: credentials.iter().map(|s| (*s).into()).collect(),
        }
    }
}

/// A file-system adaptor as Xenon names and describes it.
#[derive(Debug)]
pub(crate) struct FileSystemAdaptor {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) locations: &'static [&'static str],
    pub(crate) properties: &'static [Property],
    pub(crate) credentials: &'static [&'static str],
    /// Xenon's capability flags, in proto order 5..=14 without credentials:
    /// third-party copy, create links, read links, connectionless, read permissions,
    /// set permissions, rename, append, size beforehand.
    pub(crate) flags: [bool; 9],
}

const fn buffer(name: &'static str) -> Property {
    p(
        name,
        "The buffer size to use when copying files (in bytes).",
        Type::Size,
        "64K",
        MapsTo::Nothing,
    )
}

/// Every file-system adaptor, in Xenon's order.
pub(crate) static FILESYSTEMS: &[FileSystemAdaptor] = &[
    FileSystemAdaptor {
        name: "file",
        description: "This is the local file adaptor that implements file functionality for local access.",
        locations: &["(null)", "(empty string)", "[/workdir]"],
        properties: &[buffer("file.bufferSize")],
        credentials: &["DefaultCredential"],
        flags: [false, true, true, true, true, true, true, true, false],
    },
    FileSystemAdaptor {
        name: "sftp",
        description: "The SFTP adaptor implements all file access functionality to remote SFTP servers",
        locations: &["host[:port][/workdir]"],
        properties: &[
            p(
                "sftp.strictHostKeyChecking",
                "Enable strict host key checking.",
                Type::Boolean,
                "true",
                MapsTo::StrictHostKey,
            ),
            p(
                "sftp.loadKnownHosts",
                "Load the standard known_hosts file.",
                Type::Boolean,
                "true",
                MapsTo::Nothing,
            ),
            p(
                "sftp.loadSshConfig",
                "Load the OpenSSH config file.",
                Type::Boolean,
                "true",
                MapsTo::Nothing,
            ),
            p("sftp.agent", "Use a (local) ssh-agent.", Type::Boolean, "false", MapsTo::Nothing),
            p(
                "sftp.agentForwarding",
                "Use ssh-agent forwarding when setting up a connection.",
                Type::Boolean,
                "false",
                MapsTo::Nothing,
            ),
            p(
                "sftp.connection.timeout",
                "The timeout for creating and authenticating connections (in milliseconds).",
                Type::Natural,
                "10000",
                MapsTo::ConnectTimeoutMs,
            ),
            buffer("sftp.bufferSize"),
        ],
        credentials: REMOTE_CREDENTIALS,
        flags: [false, true, true, false, true, true, true, true, false],
    },
    FileSystemAdaptor {
        name: "ftp",
        description: "The FTP adaptor implements file access on remote ftp servers.",
        locations: &["host[:port][/workdir]"],
        properties: &[buffer("ftp.bufferSize")],
        credentials: &["DefaultCredential", "PasswordCredential"],
        flags: [false, false, true, false, true, false, true, true, false],
    },
    FileSystemAdaptor {
        name: "webdav",
        description: "The webdav file adaptor implements file access to remote webdav servers.",
        locations: &["http://host[:port][/workdir]", "https://host[:port][/workdir]"],
        properties: &[buffer("webdav.bufferSize")],
        credentials: &["DefaultCredential", "PasswordCredential"],
        flags: [false, false, false, true, false, false, true, false, false],
    },
    FileSystemAdaptor {
        name: "s3",
        description: "The S3 adaptor talks to S3 and compatible servers. To authenticate use PasswordCredential with access key id as username and secret access key as password",
        locations: &[
            "http[s]://host[:port]/bucketname[/workdir]",
            "https://s3.region.amazonaws.com/bucketname[/workdir]",
        ],
        properties: &[buffer("s3.bufferSize")],
        credentials: &["PasswordCredential"],
        flags: [false, false, false, true, false, false, false, false, true],
    },
];

impl FileSystemAdaptor {
    /// The description message.
    pub(crate) fn describe(&self) -> proto::FileSystemAdaptorDescription {
        let [third, create_links, read_links, connless, read_perm, set_perm, rename, append, size] =
            self.flags;
        proto::FileSystemAdaptorDescription {
            name: self.name.into(),
            description: self.description.into(),
            supported_locations: self.locations.iter().map(|s| (*s).into()).collect(),
            supported_properties: self
                .properties
                .iter()
                .map(|p| p.describe(FILESYSTEM_PREFIX))
                .collect(),
            supports_third_party_copy: third,
            can_create_symboliclinks: create_links,
            can_read_symboliclinks: read_links,
            is_connectionless: connless,
            supported_credentials: self.credentials.iter().map(|s| (*s).into()).collect(),
            supports_reading_posix_permissions: read_perm,
            supports_setting_posix_permissions: set_perm,
            supports_rename: rename,
            can_append: append,
            needs_size_beforehand: size,
        }
    }
}

impl Property {
    fn describe(&self, prefix: &str) -> proto::PropertyDescription {
        proto::PropertyDescription {
            name: format!("{prefix}{}", self.name),
            description: self.description.into(),
            default_value: self.default.into(),
            r#type: self.kind as i32,
        }
    }
}

/// The scheduler adaptor called `name`, or Xenon's `UnknownAdaptorException`.
pub(crate) fn scheduler(name: &str) -> Result<&'static SchedulerAdaptor, XenonError> {
    SCHEDULERS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| unknown_adaptor(name, SCHEDULERS.iter().map(|a| a.name)))
}

/// The file-system adaptor called `name` (`local` is Xenon's alias of `file`), or
/// Xenon's `UnknownAdaptorException`.
pub(crate) fn filesystem(name: &str) -> Result<&'static FileSystemAdaptor, XenonError> {
    let name = if name == "local" { "file" } else { name };
    FILESYSTEMS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| unknown_adaptor(name, FILESYSTEMS.iter().map(|a| a.name)))
}

fn unknown_adaptor<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> XenonError {
    let known: Vec<&str> = known.collect();
    XenonError::new(
        tonic::Code::NotFound,
        "UnknownAdaptorException",
        "engine",
        format!("Adaptor {name:?} not found (known: {})", known.join(", ")),
    )
}

/// Checks user-given properties against an adaptor's table (Xenon's rules: the full
/// name must be known, the value must parse as its type) and returns the hpckit
/// location parameters they set.
pub(crate) fn location_params<'a>(
    adaptor: &str,
    prefix: &str,
    known: impl Iterator<Item = &'a Property> + Clone,
    given: &HashMap<String, String>,
) -> Result<Vec<(String, String)>, XenonError> {
    let mut params = Vec::new();
    let mut names: Vec<&String> = given.keys().collect();
    names.sort();
    for name in names {
        let value = given[name].trim();
        let prop = name
            .strip_prefix(prefix)
            .and_then(|short| known.clone().find(|p| p.name == short))
            .ok_or_else(|| {
                XenonError::new(
                    tonic::Code::NotFound,
                    "UnknownPropertyException",
                    adaptor,
                    format!("Unknown property {name}"),
                )
            })?;
        let invalid = || {
            XenonError::new(
                tonic::Code::FailedPrecondition,
                "InvalidPropertyException",
                adaptor,
                format!(
                    "Property {name} has an invalid value {value:?} (expected {})",
                    type_name(prop.kind)
                ),
            )
        };
        match prop.kind {
            Type::Boolean => {
                value.parse::<bool>().map_err(|_| invalid())?;
            }
            Type::Integer | Type::Long => {
                value.parse::<i64>().map_err(|_| invalid())?;
            }
            Type::Natural => {
                value.parse::<u64>().map_err(|_| invalid())?;
            }
            Type::Double => {
                value.parse::<f64>().map_err(|_| invalid())?;
            }
            Type::Size => {
                parse_size(value).ok_or_else(invalid)?;
            }
            Type::String => {}
        }
        let ms_as_secs = || -> Result<String, XenonError> {
            let ms: u64 = value.parse().map_err(|_| invalid())?;
            if ms == 0 {
                return Err(invalid());
            }
            Ok(format!("{}", ms as f64 / 1000.0))
        };
        match prop.maps_to {
            MapsTo::Nothing => {}
            MapsTo::StrictHostKey => {
                if value == "false" {
                    params.push(("host_key".into(), "accept-new".into()));
                }
            }
            MapsTo::ConnectTimeoutMs => params.push(("connect_timeout".into(), ms_as_secs()?)),
            MapsTo::PollMs => {
                let secs = ms_as_secs()?;
                params.push(("poll".into(), secs.clone()));
                params.push(("max_poll".into(), secs));
            }
            MapsTo::GraceMs => params.push(("grace".into(), ms_as_secs()?)),
            MapsTo::NoAccounting => {
                if value == "true" {
                    params.push(("accounting".into(), "off".into()));
                }
            }
            MapsTo::MaxConcurrent => {
                let n: u32 = value.parse().ok().filter(|n| *n > 0).ok_or_else(invalid)?;
                params.push(("max_concurrent".into(), n.to_string()));
            }
        }
    }
    Ok(params)
}

fn type_name(kind: Type) -> &'static str {
    match kind {
        Type::String => "a string",
        Type::Boolean => "true or false",
        Type::Integer => "an integer",
        Type::Double => "a number",
        Type::Long => "a long integer",
        Type::Size => "a size such as 64K, 10M or 1G",
        Type::Natural => "a natural number",
    }
}

/// Xenon's size syntax: a number with an optional K, M or G suffix (powers of 1024).
fn parse_size(value: &str) -> Option<u64> {
    let upper = value.to_ascii_uppercase();
    let (digits, factor) = match upper.strip_suffix(['K', 'M', 'G']) {
        Some(d) => (
            d,
            match upper.as_bytes()[upper.len() - 1] {
                b'K' => 1 << 10,
                b'M' => 1 << 20,
                _ => 1 << 30,
            },
        ),
        None => (upper.as_str(), 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn known_properties_map_onto_location_parameters() {
        let slurm = scheduler("slurm").unwrap();
        let given = props(&[
            ("xenon.adaptors.schedulers.ssh.strictHostKeyChecking", "false"),
            ("xenon.adaptors.schedulers.slurm.disable.accounting.usage", "true"),
            ("xenon.adaptors.schedulers.slurm.poll.delay", "500"),
            ("xenon.adaptors.schedulers.ssh.agent", "false"),
        ]);
        let params =
            location_params("slurm", SCHEDULER_PREFIX, slurm.properties(), &given).unwrap();
        // In the order of the property names.
        assert_eq!(
            params,
            [
                ("accounting", "off"),
                ("poll", "0.5"),
                ("max_poll", "0.5"),
                ("host_key", "accept-new"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn unknown_and_malformed_properties_are_xenon_errors() {
        let local = scheduler("local").unwrap();
        let e = location_params(
            "local",
            SCHEDULER_PREFIX,
            local.properties(),
            &props(&[("xenon.adaptors.schedulers.ssh.agent", "true")]),
        )
        .unwrap_err();
        assert_eq!((e.code, e.class), (tonic::Code::NotFound, "UnknownPropertyException"));
        let e = location_params(
            "local",
            SCHEDULER_PREFIX,
            local.properties(),
            &props(&[("local.queue.pollingDelay", "1")]),
        )
        .unwrap_err();
        assert_eq!(e.class, "UnknownPropertyException", "the prefix is part of the name");
        let e = location_params(
            "local",
            SCHEDULER_PREFIX,
            local.properties(),
            &props(&[("xenon.adaptors.schedulers.local.queue.multi.maxConcurrentJobs", "many")]),
        )
        .unwrap_err();
        assert_eq!(
            (e.code, e.class),
            (tonic::Code::FailedPrecondition, "InvalidPropertyException")
        );
        assert_eq!(parse_size("64K"), Some(65536));
        assert_eq!(parse_size("2m"), Some(2 << 20));
        assert_eq!(parse_size("K"), None);
    }

    #[test]
    fn adaptor_names_follow_xenon() {
        assert_eq!(scheduler("gridengine").unwrap().scheme, "sge");
        assert_eq!(filesystem("local").unwrap().name, "file");
        let e = scheduler("pbs").unwrap_err();
        assert_eq!((e.code, e.class), (tonic::Code::NotFound, "UnknownAdaptorException"));
        assert!(e.message.contains("slurm"), "{}", e.message);
        let d = filesystem("sftp").unwrap().describe();
        assert!(d.can_append && d.supports_rename && !d.is_connectionless);
        assert!(d.supported_properties.iter().all(|p| p.name.starts_with(FILESYSTEM_PREFIX)));
    }
}
