//! The `KEY=VALUE` env files: one per service in its state dir, one merged for the tests.
//!
//! Format (read by `hpc_testkit::services` too): one `KEY='VALUE'` per line, the value
//! in sh single quotes (a `'` inside written `'\''`), so `. .services/services.env`
//! in sh sets exactly the values; `#` starts a comment line. Unquoted values (older
//! files) are read raw up to the end of the line.

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
            env.set(k, unquote(v));
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
            text.push_str(&format!("{k}={}\n", quote(v)));
        }
        super::write_file(path, &text, 0o600)
    }
}

/// `value` in sh single quotes: nothing inside is special to the shell.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The value [`quote`] wrote (a raw value stays as it is).
fn unquote(text: &str) -> String {
    if !text.starts_with('\'') {
        return text.to_owned();
    }
    // Inside the quotes no `'` is left but the escaped ones, so the parts
    // between escapes carry only the opening and the closing quote.
    let parts: Vec<&str> = text.split(r"'\''").collect();
    let last = parts.len() - 1;
    let inner = parts.iter().enumerate().map(|(i, p)| {
        let p = if i == 0 { &p[1..] } else { p };
        if i == last { p.strip_suffix('\'').unwrap_or(p) } else { p }
    });
    inner.collect::<Vec<_>>().join("'")
}

/// Keys whose values are secrets: `services status` does not print them and
/// the trace scan of `cargo xtask test` looks for them.
pub(crate) fn is_secret(key: &str) -> bool {
    ["PASSWORD", "PASSPHRASE", "SECRET", "TOKEN"].iter().any(|w| key.ends_with(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HARD: &[&str] =
        &["plain", "a&b", "two words", "it's", "'", "''", "x'", "'x", "$HOME `id` \\ \"q\"", ""];

    #[test]
    fn values_round_trip_through_the_file_and_through_sh() {
        let dir = std::env::temp_dir().join(format!("hpckit-envfile-{}", std::process::id()));
        let path = dir.join("services.env");
        let mut env = EnvVars::default();
        for (i, v) in HARD.iter().enumerate() {
            env.set(&format!("V{i}"), *v);
        }
        env.write(&path).unwrap();
        let back = EnvVars::read(&path).unwrap();
        let mut script = format!(". '{}'", path.display());
        for (i, v) in HARD.iter().enumerate() {
            assert_eq!(back.get(&format!("V{i}")), Some(*v));
            script.push_str(&format!("; printf '%s\\n' \"$V{i}\""));
        }
        let out = std::process::Command::new("/bin/sh").args(["-c", &script]).output().unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert!(out.status.success(), "{out:?}");
        let printed: Vec<&str> =
            std::str::from_utf8(&out.stdout).unwrap().split_terminator('\n').collect();
        assert_eq!(printed, HARD);
        assert_eq!(unquote("raw value & more"), "raw value & more");
    }
}
