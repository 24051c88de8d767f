//! [`SshExecutor`]: commands, subsystems and port forwards over one SSH connection.
//!
//! One TCP connection per host carries every channel. Commands beyond the
//! server's `MaxSessions` wait for a free session instead of failing. The
//! connection is authenticated once (an MFA prompt is answered once), host
//! keys are checked against `known_hosts`, `~/.ssh/config` is honoured for
//! `HostName`, `Port`, `User`, `IdentityFile`, `ProxyJump` and
//! `UserKnownHostsFile`, and jump hosts are reached through `direct-tcpip`
//! channels of the previous hop.
//!
//! Every command runs as `printf 'hpckit-pid:%d\n' "$$" >&2; <command line>`:
//! sshd makes the remote shell a session leader, so its pid is the process
//! group that [`crate::Process::kill`] ends (with `kill -s KILL -- -<pgid>` on a
//! fresh channel). The marker line is removed from standard error before the
//! caller sees any of it.
//!
//! ```no_run
//! # async fn demo() -> hpc_core::Result<()> {
//! use hpc_auth::{Credential, CredentialMap};
//! use hpc_exec::ssh::{SshExecutor, SshOptions};
//! use hpc_exec::{Command, Executor};
//!
//! let creds = CredentialMap::with_default(Credential::default_for(None));
//! let ssh = SshExecutor::connect(SshOptions::new("login.example.org"), &creds).await?;
//! let out = ssh.run(&Command::new("hostname")).await?;
//! println!("{}", out.stdout_text());
//! # Ok(()) }
//! ```

mod auth;
mod config;
mod connect;
mod connection;
mod errors;
mod executor;
mod forward;
mod handler;
mod known_hosts;
mod options;
mod process;
mod resolve;
mod signals;
mod stream;

pub use executor::SshExecutor;
pub use forward::Forward;
pub use options::{HostKeyPolicy, SshOptions};
pub use stream::SshStream;

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync + 'static>() {}
    fn is_stream<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static>() {}

    #[test]
    fn public_types_can_cross_tasks() {
        is_send_sync::<SshExecutor>();
        is_send_sync::<SshOptions>();
        is_send_sync::<Forward>();
        is_stream::<SshStream>();
    }
}
