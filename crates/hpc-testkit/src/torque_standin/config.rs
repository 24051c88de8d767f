//! The stand-in's configuration (`<home>/config.json`).

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The stand-in's configuration (`<home>/config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Server name: job ids are `<seq>.<server_name>`.
    pub server_name: String,
    /// Queues (execution queues, all enabled and started).
    pub queues: Vec<QueueConfig>,
    /// Queue of jobs that name none.
    pub default_queue: String,
    /// Seconds a finished job stays visible as `C` (Torque 6: 300; 5.1 and older: 0).
    pub keep_completed: u64,
    /// Jobs that may run at once.
    pub np: u32,
    /// Output flavour: `"6.1"` (XML declaration, empty `<Data>`) or `"6.0"`.
    pub version: String,
    /// How long a job shows `E` between its end and `C`.
    pub exiting_seconds: f64,
}

/// One queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Queue name.
    pub name: String,
    /// `resources_max.walltime` in seconds, if limited.
    pub max_walltime: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_name: "standin.localdomain".into(),
            queues: vec![
                QueueConfig { name: "batch".into(), max_walltime: None },
                QueueConfig { name: "short".into(), max_walltime: Some(3600) },
            ],
            default_queue: "batch".into(),
            keep_completed: 300,
            np: 16,
            version: "6.1".into(),
            exiting_seconds: 0.3,
        }
    }
}

pub(super) fn load_config(home: &Path) -> Result<Config, String> {
    let text = fs::read_to_string(home.join("config.json"))
        .map_err(|e| format!("cannot read {}: {e}", home.join("config.json").display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("bad {}: {e}", home.join("config.json").display()))
}
