//! The UFTPD test server's settings.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the server listens and what it serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UftpdConfig {
    /// Address of both ports.
    pub host: IpAddr,
    /// More addresses the control port listens on, with the same port number
    /// (a multi-homed host: clients on another network reach it there). A
    /// session's passive-mode listeners use the address its control
    /// connection came in on.
    #[serde(default)]
    pub also_listen: Vec<IpAddr>,
    /// Command port (auth server → UFTPD); 0 picks a free one.
    pub command_port: u16,
    /// Control port (clients); 0 picks a free one.
    pub control_port: u16,
    /// The directory the server shows as `/`.
    pub root: PathBuf,
    /// Most data connections per transfer (UFTPD's MAX_STREAMS).
    #[serde(default = "default_streams")]
    pub max_streams: usize,
    /// The version in the greeting.
    #[serde(default = "default_version")]
    pub version: String,
}

fn default_streams() -> usize {
    4
}

fn default_version() -> String {
    "3.5.1".into()
}

impl UftpdConfig {
    /// Both ports picked freely on 127.0.0.1, serving `root`.
    pub fn local(root: PathBuf) -> Self {
        UftpdConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            also_listen: Vec::new(),
            command_port: 0,
            control_port: 0,
            root,
            max_streams: default_streams(),
            version: default_version(),
        }
    }
}
