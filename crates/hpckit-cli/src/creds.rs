//! Credential options shared by every subcommand that opens a location.
//!
//! Secrets never travel on the command line (where `ps` and shell history
//! would show them): a password comes from a named environment variable, a
//! key passphrase likewise, and keyboard-interactive prompts (one-time codes)
//! are answered on the terminal, once per connection.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use hpckit::auth::{Credential, CredentialMap, PromptResponder, Secret};
use hpckit::core::Location;

/// How to log in to the hosts of a location. Without any option hpckit uses
/// what the environment offers: the ssh config file's identities, the
/// ssh-agent and `~/.ssh/id_*`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct CredentialArgs {
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", global = true, conflicts_with_all = ["key", "agent"])]
    pub(crate) password_env: Option<String>,
    /// Log in with this private key file.
    #[arg(long, short = 'i', visible_alias = "identity", value_name = "FILE", global = true)]
    pub(crate) key: Option<PathBuf>,
    /// Read the passphrase of the key from this environment variable.
    #[arg(long, value_name = "VAR", global = true, requires = "key")]
    pub(crate) passphrase_env: Option<String>,
    /// Use only the keys of the running ssh-agent.
    #[arg(long, global = true, conflicts_with = "key")]
    pub(crate) agent: bool,
    /// Answer keyboard-interactive prompts (one-time codes, MFA) on the terminal.
    #[arg(long, global = true, conflicts_with_all = ["password_env", "key", "agent"])]
    pub(crate) keyboard_interactive: bool,
    /// S3: read the access key id from this environment variable (else the
    /// URL's `s3://KEY@bucket`, else the `AWS_*` variables and profiles).
    #[arg(long, value_name = "VAR", global = true, requires = "secret_key_env")]
    pub(crate) access_key_env: Option<String>,
    /// S3: read the secret access key from this environment variable
    /// (`--password-env` does the same for S3 when this is not given).
    #[arg(long, value_name = "VAR", global = true)]
    pub(crate) secret_key_env: Option<String>,
    /// S3: send unsigned requests (a public bucket), as `aws --no-sign-request`.
    #[arg(long, global = true, conflicts_with_all = ["access_key_env", "secret_key_env"])]
    pub(crate) no_sign_request: bool,
}

impl CredentialArgs {
    /// The credentials for `location` (used as the default for every host it
    /// names, jump hosts included).
    pub(crate) fn credentials(&self, location: &Location) -> anyhow::Result<CredentialMap> {
        if location.scheme == "s3"
            && self.key.is_none()
            && !self.agent
            && !self.keyboard_interactive
        {
            return Ok(CredentialMap::with_default(self.s3_keys(location)?));
        }
        let user = || -> anyhow::Result<String> {
            location
                .user
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .or_else(|| std::env::var("LOGNAME").ok())
                .context("no user name: put one in the location (ssh://user@host)")
        };
        let cred = if let Some(var) = &self.password_env {
            Credential::password(user()?, secret_from_env(var)?)
        } else if let Some(path) = &self.key {
            let passphrase = self.passphrase_env.as_deref().map(secret_from_env).transpose()?;
            Credential::key_file(user()?, path, passphrase)
        } else if self.agent {
            Credential::Agent { username: user()? }
        } else if self.keyboard_interactive {
            Credential::KeyboardInteractive {
                username: user()?,
                responder: Arc::new(TerminalResponder),
            }
        } else {
            Credential::default_for(location.user.as_deref())
        };
        Ok(CredentialMap::with_default(cred))
    }

    /// The S3 keys the options give: the access key id of `--access-key-env`
    /// or the URL, the secret of `--secret-key-env` or `--password-env`.
    /// Never the local user name: an access key id is not a login. Without
    /// options, the adaptor reads the `AWS_*` variables and profiles.
    fn s3_keys(&self, location: &Location) -> anyhow::Result<Credential> {
        if self.no_sign_request {
            return Ok(Credential::Anonymous);
        }
        let secret = match (&self.secret_key_env, &self.password_env) {
            (Some(var), _) => Some(("--secret-key-env", var)),
            (None, Some(var)) => Some(("--password-env", var)),
            (None, None) => None,
        };
        let access_key = match &self.access_key_env {
            Some(var) => Some(secret_from_env(var)?.expose().to_owned()),
            None => location.user.clone(),
        };
        Ok(match (access_key, secret) {
            (Some(access_key), Some((_, var))) => {
                Credential::password(access_key, secret_from_env(var)?)
            }
            (None, Some((flag, var))) => bail!(
                "{flag} {var} gives the S3 secret key; name its access key id too, with \
                 --access-key-env VAR or in the URL (s3://KEY@bucket)"
            ),
            (_, None) => Credential::default_for(location.user.as_deref()),
        })
    }
}

fn secret_from_env(var: &str) -> anyhow::Result<Secret> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
        Ok(_) => bail!("environment variable {var} is empty"),
        Err(_) => bail!("environment variable {var} is not set"),
    }
}

/// Asks for one secret on the controlling terminal, without echo.
#[cfg(feature = "unicore")]
pub(crate) fn prompt_secret(prompt: &str) -> anyhow::Result<Secret> {
    let answers = TerminalResponder
        .respond("", "", &[(prompt.to_owned(), false)])
        .context("no terminal to ask on")?;
    answers.into_iter().next().context("no answer")
}

/// Answers keyboard-interactive prompts on the controlling terminal, with
/// echo off for secret answers.
struct TerminalResponder;

impl PromptResponder for TerminalResponder {
    fn respond(
        &self,
        name: &str,
        instructions: &str,
        prompts: &[(String, bool)],
    ) -> Option<Vec<Secret>> {
        let tty = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").ok()?;
        let mut out = tty.try_clone().ok()?;
        let control = tty.try_clone().ok()?;
        let mut input = BufReader::new(tty);
        for text in [name, instructions] {
            if !text.trim().is_empty() {
                writeln!(out, "{}", text.trim()).ok()?;
            }
        }
        let mut answers = Vec::with_capacity(prompts.len());
        for (prompt, echo) in prompts {
            write!(out, "{prompt}").ok()?;
            out.flush().ok()?;
            let _guard = (!echo).then(|| EchoOff::new(&control));
            let mut line = String::new();
            input.read_line(&mut line).ok()?;
            if !echo {
                writeln!(out).ok()?;
            }
            answers.push(Secret::new(line.trim_end_matches(['\r', '\n'])));
        }
        Some(answers)
    }
}

/// Turns terminal echo off until dropped.
struct EchoOff<'a> {
    tty: &'a std::fs::File,
    saved: Option<rustix::termios::Termios>,
}

impl<'a> EchoOff<'a> {
    fn new(tty: &'a std::fs::File) -> Self {
        let saved = rustix::termios::tcgetattr(tty).ok();
        if let Some(saved) = &saved {
            let mut quiet = saved.clone();
            quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
            let _ = rustix::termios::tcsetattr(tty, rustix::termios::OptionalActions::Now, &quiet);
        }
        EchoOff { tty, saved }
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ =
                rustix::termios::tcsetattr(self.tty, rustix::termios::OptionalActions::Now, saved);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpckit::auth::CredentialKind;

    #[test]
    fn password_comes_from_the_environment_and_stays_hidden() {
        let loc: Location = "ssh://alice@h".parse().unwrap();
        let args = CredentialArgs {
            password_env: Some("HPCKIT_TEST_CREDS_UNSET_VAR".into()),
            ..Default::default()
        };
        let e = args.credentials(&loc).unwrap_err();
        assert_eq!(e.to_string(), "environment variable HPCKIT_TEST_CREDS_UNSET_VAR is not set");
        let map = CredentialArgs::default().credentials(&loc).unwrap();
        let cred = map.get("h").unwrap();
        assert_eq!(cred.kind(), CredentialKind::Default);
        assert_eq!(cred.username(), Some("alice"));
    }

    /// `--password-env` for S3 never takes `$USER` as the access key id
    /// (it did: the user name of the shell signed the requests).
    #[test]
    fn s3_keys_come_from_the_options_or_the_url_never_from_user() {
        // PATH stands for a variable that is set; USER is set in any login.
        let with = |password_env: Option<&str>, secret: Option<&str>, access: Option<&str>| {
            CredentialArgs {
                password_env: password_env.map(str::to_owned),
                secret_key_env: secret.map(str::to_owned),
                access_key_env: access.map(str::to_owned),
                ..Default::default()
            }
        };
        let bucket: Location = "s3://bucket".parse().unwrap();
        for args in [with(Some("PATH"), None, None), with(None, Some("PATH"), None)] {
            let e = args.credentials(&bucket).unwrap_err().to_string();
            assert!(e.contains("access key id") && e.contains("s3://KEY@bucket"), "{e}");
        }
        let keyed: Location = "s3://AKIDX@bucket".parse().unwrap();
        let map = with(Some("PATH"), None, None).credentials(&keyed).unwrap();
        let cred = map.get("bucket").unwrap();
        assert_eq!((cred.kind(), cred.username()), (CredentialKind::Password, Some("AKIDX")));
        let map = with(Some("HOME"), Some("PATH"), Some("PATH")).credentials(&bucket).unwrap();
        let cred = map.get("bucket").unwrap();
        assert_eq!(cred.username(), std::env::var("PATH").ok().as_deref());
        let e = with(None, Some("HPCKIT_TEST_CREDS_UNSET_VAR"), Some("PATH"))
            .credentials(&bucket)
            .unwrap_err();
        assert!(e.to_string().contains("HPCKIT_TEST_CREDS_UNSET_VAR is not set"), "{e}");
        // Nothing given: the adaptor looks for AWS variables and profiles.
        let map = CredentialArgs::default().credentials(&bucket).unwrap();
        assert_eq!(map.get("bucket").unwrap().kind(), CredentialKind::Default);
        let args = CredentialArgs { no_sign_request: true, ..Default::default() };
        let map = args.credentials(&bucket).unwrap();
        assert_eq!(map.get("bucket").unwrap().kind(), CredentialKind::Anonymous);
    }
}
