//! What the test server serves, for whom.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserConfig {
    /// Login name (also the default uid).
    pub name: String,
    /// Password for HTTP Basic.
    pub password: String,
    /// Bearer tokens that log this user in.
    #[serde(default)]
    pub tokens: Vec<String>,
    /// Remote logins the user may pick with the `uid` preference (the name is always allowed).
    #[serde(default)]
    pub uids: Vec<String>,
    /// Groups the user may pick with the `group` preference.
    #[serde(default)]
    pub groups: Vec<String>,
    /// An OpenSSH `authorized_keys` file: tokens signed with one of its keys
    /// (RSA, ECDSA P-256, Ed25519) log the user in. Read at every such login.
    #[serde(default)]
    pub authorized_keys: Option<PathBuf>,
}

/// The server's settings (`--config FILE` as JSON, or built in tests).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerConfig {
    /// Where to listen (port 0: any free port).
    pub bind: SocketAddr,
    /// Directory for the CA, certificates, storages and job directories.
    pub state_dir: PathBuf,
    /// Users.
    pub users: Vec<UserConfig>,
    /// Lifetime of a security session.
    #[serde(with = "millis")]
    pub session_lifetime: Duration,
    /// Jobs that run at once (more wait as QUEUED).
    pub max_concurrent_jobs: usize,
    /// UFTPD servers the auth endpoint (`/rest/auth`) announces sessions to.
    #[serde(default)]
    pub uftpd: Vec<UftpdEntry>,
}

/// One UFTPD behind the auth endpoint `/rest/auth/<name>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UftpdEntry {
    /// The server name in the URL.
    pub name: String,
    /// UFTPD's command port (where transfer requests go).
    pub command: SocketAddr,
    /// The host clients connect to.
    pub host: String,
    /// The control port clients connect to.
    pub port: u16,
    /// One line for `GET /rest/auth`.
    #[serde(default)]
    pub description: String,
}

impl ServerConfig {
    /// One user `demouser` with password `test123` (PyUNICORE's examples) and
    /// token `demotoken`, listening on `bind`, files under `state_dir`.
    pub fn demo(bind: SocketAddr, state_dir: PathBuf) -> Self {
        ServerConfig {
            bind,
            state_dir,
            users: vec![UserConfig {
                name: "demouser".into(),
                password: "test123".into(),
                tokens: vec!["demotoken".into()],
                uids: vec!["demouser".into(), "nobody".into()],
                groups: vec!["demouser".into(), "hpc".into()],
                authorized_keys: None,
            }],
            session_lifetime: Duration::from_secs(3600),
            max_concurrent_jobs: 64,
            uftpd: Vec::new(),
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
