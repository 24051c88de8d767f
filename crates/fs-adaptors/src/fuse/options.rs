//! [`MountOptions`]: how a file system is mounted.

use std::time::Duration;

/// How to mount.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Refuse every change.
    pub read_only: bool,
    /// How long the kernel may cache names and attributes.
    pub ttl: Duration,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions { read_only: false, ttl: Duration::from_secs(1) }
    }
}
