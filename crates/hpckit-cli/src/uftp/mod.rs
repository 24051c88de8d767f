//! `hpckit uftp`: what the `pyuftp` command does (authenticate, info, ls,
//! find, cp, rcp, rm, mkdir, checksum, share, issue-token) plus `stat`, `get`,
//! `put` and `mount`, on hpckit's UFTP client. URLs are pyuftp's:
//! `https://HOST:PORT/rest/auth/SERVER:/path`. Option names follow pyuftp
//! (`-n`, `-E`, `-C`, `-u`, `-A`, `-i`, `-r`, `-R`); secrets never come from
//! the command line: the password from `UFTP_PASSWORD` (`-P`) or
//! `--password-env`, a token from `@file` or `@@ENV`.

macro_rules! say {
    ($($t:tt)*) => {
        crate::output::write_stdout(format!("{}\n", format_args!($($t)*)).as_bytes())?
    };
}

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use hpckit::auth::{Credential, CredentialMap, Secret};
use hpckit::uftp::{Algorithm, AuthServer};

use crate::creds::CredentialArgs;

/// Options of every `hpckit uftp` command.
#[derive(Debug, clap::Args)]
pub(crate) struct UftpArgs {
    /// User name (else `UFTP_USER`, else `USER`).
    #[arg(short = 'u', long, global = true)]
    user: Option<String>,
    /// Take the password from `UFTP_PASSWORD` (pyuftp's `-P`).
    #[arg(short = 'P', long = "password", global = true)]
    password: bool,
    /// Bearer token: `@FILE` or `@@ENV` (a literal token would show in `ps`).
    #[arg(short = 'A', long = "auth-token", value_name = "@FILE|@@ENV", global = true)]
    token: Option<String>,
    /// Data connections per transfer.
    #[arg(short = 'n', long = "streams", default_value_t = 1, global = true)]
    streams: usize,
    /// Encrypt data connections (blowfish without a value).
    #[arg(short = 'E', long = "encrypt", value_name = "ALGO", num_args = 0..=1, default_missing_value = "blowfish", global = true)]
    encrypt: Option<String>,
    /// gzip the data connections.
    #[arg(short = 'C', long = "compress", global = true)]
    compress: bool,
    /// Open a data connection per file. By default one stays open from file
    /// to file (UFTP's KEEP-ALIVE) when the data is plain and on one stream.
    #[arg(long, global = true)]
    no_keep_alive: bool,
    /// Give up on a UFTPD reply or a data connection after this many
    /// seconds without progress (default 60; `HASH` waits as long as the
    /// server hashes).
    #[arg(long, value_name = "SECONDS", value_parser = idle_seconds, global = true)]
    idle_timeout: Option<f64>,
    /// Trust this CA certificate (PEM) for the auth server.
    #[arg(long, value_name = "FILE", env = "HPCKIT_UFTP_CA", global = true)]
    ca: Vec<PathBuf>,
    /// Accept ANY certificate of the auth server (insecure: throw-away test servers only).
    #[arg(long, global = true)]
    insecure: bool,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: commands::UftpCommand,
}

/// A pyuftp URL taken apart.
#[derive(Debug, Clone)]
pub(crate) struct RemoteUrl {
    /// `https://host:port/…/rest/auth/SERVER`.
    pub(crate) auth_url: String,
    /// `host:port`.
    pub(crate) authority: String,
    /// The part of the auth URL after the authority (`/rest/auth/SERVER`).
    pub(crate) service: String,
    /// The path after the `:` (`/` when empty).
    pub(crate) path: String,
}

impl RemoteUrl {
    /// `https://HOST:PORT/rest/auth/SERVER:/path`; `None` for a local path.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Option<RemoteUrl>> {
        let Some(rest) = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"))
        else {
            return Ok(None);
        };
        let (authority, tail) = rest
            .split_once('/')
            .context("a UFTP URL needs a path: https://HOST:PORT/rest/auth/SERVER:/path")?;
        let (service, path) = match tail.split_once(':') {
            Some((s, p)) => {
                (format!("/{s}"), if p.is_empty() { "/".to_owned() } else { p.to_owned() })
            }
            None => (format!("/{tail}"), "/".to_owned()),
        };
        let service = service.trim_end_matches('/').to_owned();
        let auth_url = format!(
            "{}{authority}{service}",
            if text.starts_with("https") { "https://" } else { "http://" }
        );
        hpckit::uftp::split_auth_url(&auth_url)?;
        Ok(Some(RemoteUrl { auth_url, authority: authority.to_owned(), service, path }))
    }
}

impl UftpArgs {
    fn user(&self) -> Option<String> {
        self.user
            .clone()
            .or_else(|| std::env::var("UFTP_USER").ok())
            .or_else(|| std::env::var("USER").ok())
    }

    /// The credential for the auth server.
    fn credential(&self, creds: &CredentialArgs) -> anyhow::Result<Credential> {
        let user = self.user();
        if let Some(t) = &self.token {
            let secret = if let Some(var) = t.strip_prefix("@@") {
                Secret::new(
                    std::env::var(var)
                        .with_context(|| format!("token: environment variable {var} is not set"))?
                        .trim(),
                )
            } else if let Some(file) = t.strip_prefix('@') {
                Secret::new(
                    std::fs::read_to_string(file)
                        .with_context(|| format!("reading the token file {file}"))?
                        .trim(),
                )
            } else {
                bail!(
                    "give the token as @FILE or @@ENV (a literal token would show in the process list)"
                );
            };
            return Ok(Credential::Bearer(secret));
        }
        if let Some(u) = &user
            && u.contains(':')
        {
            bail!(
                "-u takes a user name only; give the password with -P (UFTP_PASSWORD) or --password-env"
            );
        }
        let password = if self.password {
            Some(Secret::new(
                std::env::var("UFTP_PASSWORD")
                    .context("-P: environment variable UFTP_PASSWORD is not set")?,
            ))
        } else if let Some(var) = &creds.password_env {
            Some(Secret::new(
                std::env::var(var)
                    .with_context(|| format!("environment variable {var} is not set"))?,
            ))
        } else {
            None
        };
        if let Some(key) = &creds.key {
            let passphrase = match &creds.passphrase_env {
                Some(var) => Some(Secret::new(
                    std::env::var(var)
                        .with_context(|| format!("environment variable {var} is not set"))?,
                )),
                None => password.clone(),
            };
            return Ok(hpckit::unicore::credential::create_credential(
                user.as_deref(),
                passphrase,
                None,
                Some(key),
            )?);
        }
        match (user, password) {
            (Some(u), Some(p)) => Ok(Credential::password(u, p)),
            (_, None) => bail!(
                "no credential: give -P (password from UFTP_PASSWORD), --password-env VAR, -A @@ENV or -i KEY"
            ),
            (None, Some(_)) => bail!("no user name: give -u USER"),
        }
    }

    fn transport(&self, creds: &CredentialArgs) -> anyhow::Result<hpckit::unicore::Transport> {
        let mut b = hpckit::unicore::Transport::builder().credential(self.credential(creds)?);
        for c in &self.ca {
            b = b.add_ca_file(c);
        }
        if self.insecure {
            b = b.insecure_accept_any_certificate();
        }
        Ok(b.build()?)
    }

    fn auth(&self, creds: &CredentialArgs, url: &RemoteUrl) -> anyhow::Result<AuthServer> {
        Ok(AuthServer::new(self.transport(creds)?, &url.auth_url)?)
    }

    /// The limits of a session opened here (the idle one from `--idle-timeout`).
    fn timeouts(&self) -> hpckit::core::NetTimeouts {
        let mut t = hpckit::core::NetTimeouts::default();
        if let Some(secs) = self.idle_timeout {
            t.idle = std::time::Duration::from_secs_f64(secs);
        }
        t
    }

    fn algorithm(&self) -> anyhow::Result<Option<Algorithm>> {
        Ok(self.encrypt.as_deref().map(str::parse).transpose()?)
    }

    /// The `uftp://` location of `url`'s server (its `/`) and the credentials for it.
    fn location(
        &self,
        creds: &CredentialArgs,
        url: &RemoteUrl,
    ) -> anyhow::Result<(hpckit::core::Location, CredentialMap)> {
        let mut text = format!(
            "uftp://{}/{}:/?streams={}",
            url.authority,
            url.service.trim_start_matches('/'),
            self.streams
        );
        if let Some(a) = self.algorithm()? {
            text.push_str(&format!("&encrypt={}", a.name().to_ascii_lowercase()));
        }
        if self.compress {
            text.push_str("&compress=true");
        }
        if self.no_keep_alive {
            text.push_str("&keep-alive=false");
        }
        if let Some(secs) = self.idle_timeout {
            text.push_str(&format!("&idle_timeout={secs}"));
        }
        for c in &self.ca {
            text.push_str(&format!(
                "&ca={}",
                percent_encoding::utf8_percent_encode(
                    &c.to_string_lossy(),
                    percent_encoding::NON_ALPHANUMERIC
                )
            ));
        }
        if self.insecure {
            text.push_str("&insecure=true");
        }
        let mut map = CredentialMap::new();
        map.insert(url.authority.clone(), self.credential(creds)?);
        Ok((text.parse()?, map))
    }
}

/// `--idle-timeout`: seconds, checked as the `idle_timeout` URL option is.
fn idle_seconds(text: &str) -> Result<f64, String> {
    hpckit::core::NetTimeouts::default().set("idle_timeout", text)?;
    text.trim().parse().map_err(|e| format!("{text:?}: {e}"))
}

/// Runs one `hpckit uftp` command.
pub(crate) async fn run(args: UftpArgs, creds: &CredentialArgs) -> anyhow::Result<ExitCode> {
    commands::run(&args, creds).await
}
