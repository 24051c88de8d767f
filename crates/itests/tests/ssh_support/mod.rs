//! Shared setup of the `ssh_*` integration tests: the sshd endpoints from the
//! services env file, and executors connected to them.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::sync::OnceLock;

use hpc_auth::{Credential, CredentialMap, Secret};
use hpc_exec::ssh::{SshExecutor, SshOptions};

/// The sshd service as `cargo xtask services up sshd` describes it.
#[derive(Debug, Clone)]
pub struct SshEnv {
    svc: hpc_testkit::services::ServiceEnv,
}

impl SshEnv {
    pub fn get(&self, key: &str) -> String {
        self.svc.var(key).to_owned()
    }
    pub fn host(&self) -> String {
        self.get("HPCKIT_SSH_HOST")
    }
    pub fn port(&self) -> u16 {
        self.get("HPCKIT_SSH_PORT").parse().expect("HPCKIT_SSH_PORT")
    }
    pub fn user(&self) -> String {
        self.get("HPCKIT_SSH_USER")
    }
    pub fn password(&self) -> Secret {
        Secret::new(self.get("HPCKIT_SSH_PASSWORD"))
    }
    pub fn key(&self) -> PathBuf {
        self.get("HPCKIT_SSH_KEY").into()
    }
    pub fn known_hosts(&self) -> PathBuf {
        self.get("HPCKIT_SSH_KNOWN_HOSTS").into()
    }
    pub fn mfa_port(&self) -> u16 {
        self.get("HPCKIT_SSH_MFA_PORT").parse().expect("HPCKIT_SSH_MFA_PORT")
    }

    /// Options for the main sshd: its known_hosts, no user ssh config.
    pub fn opts(&self) -> SshOptions {
        SshOptions::new(self.host())
            .port(self.port())
            .user(self.user())
            .known_hosts_file(self.known_hosts())
            .load_ssh_config(false)
    }

    /// The plain client key for every host.
    pub fn key_creds(&self) -> CredentialMap {
        CredentialMap::with_default(Credential::key_file(self.user(), self.key(), None))
    }

    /// The password for every host.
    pub fn password_creds(&self) -> CredentialMap {
        CredentialMap::with_default(Credential::password(self.user(), self.password()))
    }

    /// A fresh connection to the main sshd, logged in with the key.
    pub async fn connect(&self) -> SshExecutor {
        SshExecutor::connect(self.opts(), &self.key_creds()).await.unwrap_or_else(|e| {
            panic!("connecting to the test sshd: {e} (is `cargo xtask services up sshd` running?)")
        })
    }
}

/// The sshd endpoints; panics naming `cargo xtask services up sshd` when absent.
pub fn ssh_env() -> SshEnv {
    static ENV: OnceLock<SshEnv> = OnceLock::new();
    ENV.get_or_init(|| SshEnv { svc: hpc_testkit::services::require("sshd") }).clone()
}
