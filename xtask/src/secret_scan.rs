//! The integration suite runs at trace level into one log file
//! (`HPCKIT_LOG_FILE`, written by the `hpckit` binaries and by the test
//! processes through `hpc_testkit::trace_capture`); afterwards this scan looks
//! in it for every secret of the services env file: passwords, secret keys,
//! tokens, passphrases, and the body lines of private key files. A hit names
//! the variable, never the secret.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cmd;
use crate::services::{EnvVars, is_secret};

/// Where the suite's trace goes.
pub(crate) fn log_path() -> PathBuf {
    cmd::workspace_root().join("target").join("itest-trace.log")
}

/// Starts an empty log (a stale one would hide a run that captured nothing).
pub(crate) fn reset_log() -> Result<PathBuf> {
    let path = log_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, b"").with_context(|| format!("creating {}", path.display()))?;
    Ok(path)
}

/// Fails when the log is empty or holds any secret of `env_file`.
pub(crate) fn scan(env_file: &Path, log: &Path) -> Result<()> {
    let secrets = secrets(&EnvVars::read(env_file)?);
    if secrets.is_empty() {
        bail!("{} names no secret: nothing to look for", env_file.display());
    }
    let bytes = std::fs::read(log).with_context(|| format!("reading {}", log.display()))?;
    let lines = bytes.iter().filter(|b| **b == b'\n').count();
    // An empty trace would make this step pass without looking at anything.
    if lines < 1000 {
        bail!("the trace log {} has {lines} lines: the capture did not work", log.display());
    }
    let text = String::from_utf8_lossy(&bytes);
    let found: Vec<&str> = secrets
        .iter()
        .filter(|(_, s)| text.contains(s.as_str()))
        .map(|(k, _)| k.as_str())
        .collect();
    println!(
        "secret scan: {} secrets of {} variables, {lines} trace lines ({:.0} MiB)",
        secrets.len(),
        secrets.iter().map(|(k, _)| k).collect::<std::collections::BTreeSet<_>>().len(),
        bytes.len() as f64 / (1024.0 * 1024.0)
    );
    if !found.is_empty() {
        let mut names = found;
        names.dedup();
        bail!("secrets in the trace log {}: {}", log.display(), names.join(", "));
    }
    Ok(())
}

/// `(variable, secret)` pairs: the values of secret-named variables, and for
/// variables naming a private key file, each long base64 line of the key.
fn secrets(env: &EnvVars) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (key, value) in env.iter() {
        // Short values ("x", "1") would match by chance; our secrets are longer.
        if is_secret(key) && value.len() >= 6 && !Path::new(value).is_absolute() {
            out.push((key.to_string(), value.to_string()));
        }
        let names_a_key =
            key.ends_with("KEY") || key.ends_with("KEY_FILE") || key.ends_with("KEY_ENCRYPTED");
        if let Some(text) = names_a_key.then(|| std::fs::read_to_string(value).ok()).flatten()
            && text.contains("PRIVATE KEY")
        {
            out.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
                    .map(|l| (key.to_string(), l.to_string())),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_the_values_of_secret_names_and_key_bodies() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        let body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz";
        std::fs::write(
            &key,
            format!(
                "-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\n"
            ),
        )
        .unwrap();
        let env = format!(
            "HPCKIT_SSH_PASSWORD=hunter22\nHPCKIT_S3_SECRET='it'\\''s-a-secret'\n\
             HPCKIT_SSH_KEY={}\nHPCKIT_SSH_PORT=2222\nHPCKIT_X_TOKEN=ab\n# HPCKIT_Y_PASSWORD=zzzzzzzz\n",
            key.display()
        );
        let file = dir.path().join("services.env");
        std::fs::write(&file, env).unwrap();
        let got = secrets(&EnvVars::read(&file).unwrap());
        assert_eq!(
            got,
            [
                ("HPCKIT_SSH_PASSWORD".to_string(), "hunter22".to_string()),
                ("HPCKIT_S3_SECRET".into(), "it's-a-secret".into()),
                ("HPCKIT_SSH_KEY".into(), body.into()),
            ]
        );
    }

    #[test]
    fn a_secret_in_the_log_fails_by_name_and_an_empty_log_fails_too() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("services.env");
        std::fs::write(&env, "HPCKIT_FTP_PASSWORD=correct-horse\n").unwrap();
        let log = dir.path().join("trace.log");
        std::fs::write(&log, "").unwrap();
        assert!(scan(&env, &log).unwrap_err().to_string().contains("did not work"));
        let clean = "TRACE hpc_http: GET /x\n".repeat(2000);
        std::fs::write(&log, &clean).unwrap();
        scan(&env, &log).unwrap();
        std::fs::write(&log, format!("{clean}DEBUG auth: PASS correct-horse\n")).unwrap();
        let err = scan(&env, &log).unwrap_err().to_string();
        assert!(err.contains("HPCKIT_FTP_PASSWORD") && !err.contains("correct-horse"), "{err}");
    }
}
