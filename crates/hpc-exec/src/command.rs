//! [`Command`]: an argument vector with environment, directory and input.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;

use bytes::Bytes;
use hpc_core::job::is_env_name;
use hpc_core::{Error, Result};

use crate::quote::{command_line, quote};

/// A command to run: program, arguments, extra environment, working
/// directory and (for [`crate::Executor::run`]) bytes for standard input.
///
/// Arguments are bytes, so non-UTF-8 names pass through unchanged.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Command {
    argv: Vec<Vec<u8>>,
    env: Vec<(String, Vec<u8>)>,
    cwd: Option<Vec<u8>>,
    stdin: Option<Bytes>,
}

impl Command {
    /// Run `program` (a path, or a name looked up on PATH).
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Command { argv: vec![program.as_ref().as_bytes().to_vec()], ..Default::default() }
    }

    /// Append one argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.argv.push(arg.as_ref().as_bytes().to_vec());
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.argv.extend(args.into_iter().map(|a| a.as_ref().as_bytes().to_vec()));
        self
    }

    /// Set an environment variable for the command.
    pub fn env(mut self, key: impl Into<String>, value: impl AsRef<OsStr>) -> Self {
        self.env.push((key.into(), value.as_ref().as_bytes().to_vec()));
        self
    }

    /// Start in `dir`.
    pub fn current_dir(mut self, dir: impl AsRef<OsStr>) -> Self {
        self.cwd = Some(dir.as_ref().as_bytes().to_vec());
        self
    }

    /// Feed `data` to standard input ([`crate::Executor::run`] only; without it
    /// the input is empty).
    pub fn stdin(mut self, data: impl Into<Bytes>) -> Self {
        self.stdin = Some(data.into());
        self
    }

    /// The argument vector, program first.
    pub fn argv(&self) -> &[Vec<u8>] {
        &self.argv
    }

    /// The program.
    pub fn program(&self) -> &[u8] {
        &self.argv[0]
    }

    /// Extra environment variables.
    pub fn envs(&self) -> &[(String, Vec<u8>)] {
        &self.env
    }

    /// Working directory, if set.
    pub fn cwd(&self) -> Option<&[u8]> {
        self.cwd.as_deref()
    }

    /// Standard input bytes, if set.
    pub fn stdin_data(&self) -> Option<&Bytes> {
        self.stdin.as_ref()
    }

    /// Check what no executor can run: NUL bytes, bad environment names.
    pub fn validate(&self) -> Result<()> {
        if self.argv[0].is_empty() {
            return Err(Error::InvalidInput("empty program name".into()));
        }
        for (k, v) in &self.env {
            if !is_env_name(k) {
                return Err(Error::InvalidInput(format!(
                    "environment name {k:?} is not a valid name"
                )));
            }
            if v.contains(&0) {
                return Err(Error::InvalidInput(format!(
                    "environment value of {k} contains a NUL byte"
                )));
            }
        }
        if self.cwd.as_ref().is_some_and(|d| d.contains(&0)) {
            return Err(Error::InvalidInput("working directory contains a NUL byte".into()));
        }
        command_line(&self.argv).map(drop)
    }

    /// The command as one POSIX shell line:
    /// `cd DIR && export K=V ... && exec PROG ARGS...`, every word quoted.
    ///
    /// Environment values travel on the command line rather than as SSH `env`
    /// requests, which servers drop unless `AcceptEnv` allows them.
    pub fn to_shell_line(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let mut line = Vec::new();
        if let Some(dir) = &self.cwd {
            line.extend_from_slice(b"cd ");
            // A leading '-' would be read as an option of cd.
            if dir.first() == Some(&b'-') {
                line.extend_from_slice(&quote(&[b"./", dir.as_slice()].concat()));
            } else {
                line.extend_from_slice(&quote(dir));
            }
            line.extend_from_slice(b" && ");
        }
        if !self.env.is_empty() {
            line.extend_from_slice(b"export");
            for (k, v) in &self.env {
                line.push(b' ');
                line.extend_from_slice(k.as_bytes());
                line.push(b'=');
                line.extend_from_slice(&quote(v));
            }
            line.extend_from_slice(b" && ");
        }
        line.extend_from_slice(b"exec ");
        line.extend_from_slice(&command_line(&self.argv)?);
        Ok(line)
    }

    /// A readable rendering for messages and logs: the quoted argument vector,
    /// invalid UTF-8 shown lossily. Environment values are not shown.
    pub fn display(&self) -> String {
        let words: Vec<String> =
            self.argv.iter().map(|a| String::from_utf8_lossy(&quote(a)).into_owned()).collect();
        words.join(" ")
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Environment values may be tokens: print names only.
        let names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Command")
            .field("argv", &self.display())
            .field("env", &names)
            .field("cwd", &self.cwd.as_ref().map(|d| String::from_utf8_lossy(d)))
            .field("stdin_bytes", &self.stdin.as_ref().map(Bytes::len))
            .finish()
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_line() {
        let c = Command::new("printf")
            .arg("%s\\n")
            .arg("a b")
            .env("X", "it's")
            .current_dir("/tmp/my dir");
        assert_eq!(
            String::from_utf8(c.to_shell_line().unwrap()).unwrap(),
            "cd '/tmp/my dir' && export X='it'\\''s' && exec printf '%s\\n' 'a b'"
        );
        let c = Command::new("ls").current_dir("-weird");
        assert!(
            String::from_utf8(c.to_shell_line().unwrap()).unwrap().starts_with("cd ./-weird && ")
        );
    }

    #[test]
    fn invalid() {
        assert!(Command::new("").validate().is_err());
        assert!(Command::new("x").env("A B", "v").validate().is_err());
        assert!(Command::new("x").env("A", "v\0").validate().is_err());
        assert!(Command::new("x").arg("a\0").to_shell_line().is_err());
    }

    #[test]
    fn debug_hides_env_values() {
        let c = Command::new("x").env("TOKEN", "secret-value");
        assert!(!format!("{c:?}").contains("secret-value"));
    }
}
