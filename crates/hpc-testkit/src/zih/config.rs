//! The stand-in's configuration (`<home>/config.json`).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// What the datamover and workspace stand-ins do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StandinConfig {
    /// The Slurm partition of the transfer jobs.
    pub partition: String,
    /// `--time` when a command gives none (the datamover's 18 hours).
    pub default_time: String,
    /// The project space, relative to the home (read-only but for the gate).
    pub project_dir: String,
    /// Workspace file systems; the first is the default.
    pub filesystems: Vec<FsConfig>,
    /// Layout of `ws_list` output: 1 (hpc-workspace 1.x) or 2 (2.x).
    pub ws_layout: u8,
}

/// One workspace file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsConfig {
    /// Name (`-F`).
    pub name: String,
    /// Directory of the workspaces, relative to the home.
    pub space: String,
    /// Directory of the database entries, relative to the home.
    pub db: String,
    /// Longest lifetime in days.
    pub max_duration: u32,
    /// Extensions a new workspace gets.
    pub extensions: u32,
}

impl Default for StandinConfig {
    fn default() -> Self {
        let fs = |name: &str, space: &str, max_duration, extensions| FsConfig {
            name: name.into(),
            space: space.into(),
            db: format!("ws/db/{name}"),
            max_duration,
            extensions,
        };
        StandinConfig {
            partition: "datamover".into(),
            default_time: "18:00:00".into(),
            project_dir: "projects/p_hpckit".into(),
            filesystems: vec![
                fs("scratch", "ws/scratch/0", 30, 10),
                fs("beegfs", "ws/beegfs", 90, 2),
            ],
            ws_layout: 1,
        }
    }
}

impl StandinConfig {
    /// Reads `<home>/config.json`.
    pub fn load(home: &Path) -> Result<StandinConfig, String> {
        let p = home.join("config.json");
        let text =
            std::fs::read_to_string(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("bad {}: {e}", p.display()))
    }

    /// The file system called `name`, or the default.
    pub fn filesystem(&self, name: Option<&str>) -> Option<&FsConfig> {
        match name {
            Some(n) => self.filesystems.iter().find(|f| f.name == n),
            None => self.filesystems.first(),
        }
    }
}
