//! The `KEY=VALUE` env files: one per service in its state dir, one merged for the tests.
//!
//! Format (read by `hpc_testkit::services` too): one `KEY=VALUE` per line, the value
//! raw up to the end of the line (no quoting, no shell syntax); `#` starts a comment line.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Ordered `KEY=VALUE` pairs.
#[derive(Clone, Debug, Default)]
pub(crate) struct EnvVars(Vec<(String, String)>);

impl EnvVars {
    /// Sets `key` (replacing an earlier value).
    pub(crate) fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        debug_assert!(!value.contains('\n'), "env values are single lines");
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// The value of `key`, if set.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or an error naming it.
    pub(crate) fn require(&self, key: &str) -> Result<&str> {
        self.get(key).with_context(|| format!("{key} missing from the service's env"))
    }

    /// All pairs in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Appends all pairs of `other` (later values win).
    pub(crate) fn extend(&mut self, other: EnvVars) {
        for (k, v) in other.0 {
            self.set(&k, v);
        }
    }

    /// Reads an env file.
    pub(crate) fn read(path: &Path) -> Result<Self> {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut env = EnvVars::default();
        for line in text.lines() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                bail!("{}: not KEY=VALUE: {line}", path.display());
            };
            env.set(k, v);
        }
        Ok(env)
    }

    /// Writes the file atomically, mode 600 (it holds test passwords).
    pub(crate) fn write(&self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut text =
            String::from("# written by `cargo xtask services up`; read by hpc_testkit::services\n");
        for (k, v) in &self.0 {
            text.push_str(&format!("{k}={v}\n"));
        }
        super::write_file(path, &text, 0o600)
    }
}

/// Keys whose values `services status` does not print.
pub(crate) fn is_secret(key: &str) -> bool {
    key.ends_with("PASSWORD") || key.ends_with("PASSPHRASE") || key.ends_with("SECRET")
}
