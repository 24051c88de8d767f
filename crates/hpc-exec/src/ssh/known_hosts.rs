//! Checking and recording server host keys in known_hosts files.
//!
//! russh's own helper splits lines on single spaces, fails the whole file on
//! one unparsable line and knows no wildcards or `@revoked`; entries here are
//! parsed with `ssh_key` line by line (bad lines are skipped), with OpenSSH's
//! matching: `host` for port 22, `[host]:port` otherwise, comma lists, `*`/`?`
//! wildcards, `!` negation and hashed `|1|salt|hash` names.

use std::io::Write;
use std::path::{Path, PathBuf};

use russh::keys::ssh_key::known_hosts::{Entry, HostPatterns, Marker};
use russh::keys::{Algorithm, PublicKey};

use super::config::glob_match;

/// What the known_hosts files say about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Listed for this host.
    Known,
    /// Nothing is recorded for this host.
    Unknown,
    /// The host has a different key recorded (`file:line`), or this key is revoked.
    Changed(String),
}

/// The name a host has in known_hosts.
pub(crate) fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 { host.to_owned() } else { format!("[{host}]:{port}") }
}

struct Line {
    file: PathBuf,
    number: usize,
    entry: Entry,
}

fn entries(files: &[PathBuf]) -> Vec<Line> {
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // ssh_key splits fields on single spaces; tabs and runs of blanks are legal.
            let normal = line.split_whitespace().collect::<Vec<_>>().join(" ");
            if let Ok(entry) = normal.parse::<Entry>() {
                out.push(Line { file: file.clone(), number: i + 1, entry });
            }
        }
    }
    out
}

fn matches(patterns: &HostPatterns, name: &str) -> bool {
    match patterns {
        HostPatterns::HashedName { salt, hash } => {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, salt);
            ring::hmac::verify(&key, name.as_bytes(), hash).is_ok()
        }
        HostPatterns::Patterns(list) => {
            let mut hit = false;
            for p in list {
                let (negated, p) = match p.strip_prefix('!') {
                    Some(p) => (true, p),
                    None => (false, p.as_str()),
                };
                if glob_match(&p.to_ascii_lowercase(), name) {
                    if negated {
                        return false;
                    }
                    hit = true;
                }
            }
            hit
        }
    }
}

fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// Check `key` offered by `host:port` against `files`.
///
/// A host that has only keys of another type recorded counts as changed:
/// accepting the new type silently would let an attacker pick a type the
/// victim never saw. Key-type preference (see [`known_algorithms`]) makes the
/// server offer a recorded type where it has one.
pub(crate) fn check(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> Verdict {
    let name = host_entry_name(&host.to_ascii_lowercase(), port);
    let mut conflict = None;
    let mut known = false;
    for line in entries(files) {
        if !matches(line.entry.host_patterns(), &name) {
            continue;
        }
        let at = format!("{}:{}", line.file.display(), line.number);
        match line.entry.marker() {
            Some(Marker::CertAuthority) => continue,
            Some(Marker::Revoked) => {
                if same_key(line.entry.public_key(), key) {
                    return Verdict::Changed(format!("{at} (revoked)"));
                }
            }
            None => {
                if same_key(line.entry.public_key(), key) {
                    known = true;
                } else if conflict.is_none() {
                    conflict = Some(at);
                }
            }
        }
    }
    match (known, conflict) {
        (true, _) => Verdict::Known,
        (false, Some(at)) => Verdict::Changed(at),
        (false, None) => Verdict::Unknown,
    }
}

/// Key algorithms recorded for `host:port`, so the client can prefer them.
pub(crate) fn known_algorithms(files: &[PathBuf], host: &str, port: u16) -> Vec<Algorithm> {
    let name = host_entry_name(&host.to_ascii_lowercase(), port);
    let mut out: Vec<Algorithm> = Vec::new();
    for line in entries(files) {
        if line.entry.marker().is_none() && matches(line.entry.host_patterns(), &name) {
            let alg = line.entry.public_key().algorithm();
            if !out.contains(&alg) {
                out.push(alg);
            }
        }
    }
    out
}

/// Append `host:port key` to `file` (created with mode 600, parent 700).
pub(crate) fn learn(file: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
    }
    let text = key.to_openssh().map_err(std::io::Error::other)?;
    let existing = std::fs::read(file).unwrap_or_default();
    let mut f = std::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(file)?;
    let sep = if existing.is_empty() || existing.ends_with(b"\n") { "" } else { "\n" };
    // Comments are dropped: the key is all that identifies the host.
    let key_only = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    writeln!(f, "{sep}{} {key_only}", host_entry_name(&host.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILIG2T/B0l0gaqj3puu510tu9N1OkQ4znY3LYuEm5zCF";

    fn key(s: &str) -> PublicKey {
        s.parse().unwrap()
    }

    fn file(text: &str) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, text).unwrap();
        (dir, vec![path])
    }

    #[test]
    fn plain_port_and_wildcards() {
        let (_d, f) = file(&format!(
            "# comment\nnot a valid line at all\n[localhost]:2300\t{ED_A}\nhost1,host2 {ED_A} c\n*.lab,!bad.lab {ED_A}\n"
        ));
        assert_eq!(check(&f, "localhost", 2300, &key(ED_A)), Verdict::Known);
        assert_eq!(check(&f, "localhost", 22, &key(ED_A)), Verdict::Unknown);
        assert_eq!(check(&f, "HOST2", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(check(&f, "x.lab", 22, &key(ED_A)), Verdict::Known);
        assert_eq!(check(&f, "bad.lab", 22, &key(ED_A)), Verdict::Unknown);
        match check(&f, "localhost", 2300, &key(ED_B)) {
            Verdict::Changed(at) => assert!(at.ends_with("known_hosts:3"), "{at}"),
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn hashed_entries() {
        // Hash of "example.com" with this salt, as written by `ssh-keygen -H`.
        let (_d, f) =
            file(&format!("|1|O33ESRMWPVkMYIwJ1Uw+n877jTo=|nuuC5vEqXlEZ/8BXQR7m619W6Ak= {ED_B}\n"));
        assert_eq!(check(&f, "example.com", 22, &key(ED_B)), Verdict::Known);
        assert_eq!(check(&f, "example.org", 22, &key(ED_B)), Verdict::Unknown);
        assert!(matches!(check(&f, "example.com", 22, &key(ED_A)), Verdict::Changed(_)));
    }

    #[test]
    fn revoked_and_ca_lines() {
        let (_d, f) = file(&format!("@revoked * {ED_A}\n@cert-authority * {ED_B}\n"));
        assert!(
            matches!(check(&f, "h", 22, &key(ED_A)), Verdict::Changed(at) if at.contains("revoked"))
        );
        assert_eq!(check(&f, "h", 22, &key(ED_B)), Verdict::Unknown);
    }

    #[test]
    fn learn_appends_and_is_then_known() {
        let (d, _) = file("");
        let path = d.path().join("sub/known_hosts");
        learn(&path, "127.0.0.1", 2300, &key(ED_A)).unwrap();
        learn(&path, "Gw", 22, &key(ED_B)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("[127.0.0.1]:2300 {ED_A}\ngw {ED_B}\n"));
        let files = vec![path];
        assert_eq!(check(&files, "127.0.0.1", 2300, &key(ED_A)), Verdict::Known);
        assert_eq!(known_algorithms(&files, "gw", 22), vec![Algorithm::Ed25519]);
    }
}
