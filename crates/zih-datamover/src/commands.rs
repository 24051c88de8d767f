//! The datamover commands the ZIH documentation lists.

use std::fmt;
use std::str::FromStr;

use hpc_core::{Error, Result};
use serde::Serialize;

/// One datamover command.
///
/// The transfer commands take the arguments of their coreutils (or rsync,
/// tar, wget) namesake and run it in a Slurm job on the data transfer nodes,
/// where file systems that are read-only on the login nodes (`/projects`,
/// the archive, group storages) are writable. The management commands are
/// the datamover's `sinfo`, `squeue` and `scancel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DtCommand {
    /// `dtcp`: `cp`.
    Cp,
    /// `dtls`: `ls` (waits for its job by default, unlike the others).
    Ls,
    /// `dtmv`: `mv`.
    Mv,
    /// `dtrm`: `rm`.
    Rm,
    /// `dtrsync`: `rsync`.
    Rsync,
    /// `dttar`: `tar`.
    Tar,
    /// `dtwget`: `wget`.
    Wget,
    /// `dtinfo`: the data transfer nodes and their mount points (like `sinfo`).
    Info,
    /// `dtqueue`: your data transfer jobs (like `squeue -u $USER`).
    Queue,
    /// `dtq`: the same as `dtqueue`.
    Q,
    /// `dtcancel`: signal or cancel data transfer jobs (like `scancel`).
    Cancel,
}

impl DtCommand {
    /// Every command, transfer commands first.
    pub const ALL: [DtCommand; 11] = [
        DtCommand::Cp,
        DtCommand::Ls,
        DtCommand::Mv,
        DtCommand::Rm,
        DtCommand::Rsync,
        DtCommand::Tar,
        DtCommand::Wget,
        DtCommand::Info,
        DtCommand::Queue,
        DtCommand::Q,
        DtCommand::Cancel,
    ];

    /// The program name (`dtcp`, ...).
    pub fn program(self) -> &'static str {
        match self {
            DtCommand::Cp => "dtcp",
            DtCommand::Ls => "dtls",
            DtCommand::Mv => "dtmv",
            DtCommand::Rm => "dtrm",
            DtCommand::Rsync => "dtrsync",
            DtCommand::Tar => "dttar",
            DtCommand::Wget => "dtwget",
            DtCommand::Info => "dtinfo",
            DtCommand::Queue => "dtqueue",
            DtCommand::Q => "dtq",
            DtCommand::Cancel => "dtcancel",
        }
    }

    /// The tool it runs on the transfer nodes (`cp`, ...); `None` for the
    /// management commands.
    pub fn tool(self) -> Option<&'static str> {
        Some(match self {
            DtCommand::Cp => "cp",
            DtCommand::Ls => "ls",
            DtCommand::Mv => "mv",
            DtCommand::Rm => "rm",
            DtCommand::Rsync => "rsync",
            DtCommand::Tar => "tar",
            DtCommand::Wget => "wget",
            DtCommand::Info | DtCommand::Queue | DtCommand::Q | DtCommand::Cancel => return None,
        })
    }

    /// Whether it runs a tool in a Slurm job (and so takes `--blocking`,
    /// `--time` and `--account`).
    pub fn is_transfer(self) -> bool {
        self.tool().is_some()
    }
}

impl fmt::Display for DtCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program())
    }
}

impl FromStr for DtCommand {
    type Err = Error;

    /// `dtcp` or `cp`, `dtqueue` or `queue`, ...
    fn from_str(s: &str) -> Result<Self> {
        DtCommand::ALL
            .into_iter()
            .find(|c| c.program() == s || c.program().strip_prefix("dt") == Some(s))
            .ok_or_else(|| {
                let names: Vec<&str> = DtCommand::ALL.iter().map(|c| c.program()).collect();
                Error::InvalidInput(format!(
                    "unknown datamover command {s:?} (known: {})",
                    names.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_with_and_without_prefix() {
        for c in DtCommand::ALL {
            assert_eq!(c.program().parse::<DtCommand>().unwrap(), c);
            assert_eq!(c.program()[2..].parse::<DtCommand>().unwrap(), c);
        }
        let e = "dtzip".parse::<DtCommand>().unwrap_err();
        assert!(e.to_string().contains("dtcp, dtls"), "{e}");
        assert_eq!(DtCommand::ALL.iter().filter(|c| c.is_transfer()).count(), 7);
    }
}
