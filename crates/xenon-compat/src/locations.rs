//! Xenon locations and credentials turned into hpckit location URLs and a
//! [`CredentialMap`].
//!
//! | Xenon adaptor | Xenon location | hpckit URL |
//! |---|---|---|
//! | `local` | `[/workdir]` | `local://[/workdir]` |
//! | `ssh` | `[ssh://]host[:port][/workdir][ via:hop]*` | `ssh://host[:port][/workdir][ via:hop]*` |
//! | `slurm`, `gridengine`, `torque`, `at` | `local://[/workdir]` or empty | `slurm://[/workdir]` (`sge`, `torque`, `at`) |
//! | | `ssh://host[:port][/workdir][ via:hop]*` | `slurm+ssh://host...` |
//! | `file` | `[/workdir]` | `file://`, working directory `/workdir` |
//! | `sftp`, `ftp` | `host[:port][/workdir]` | `sftp://host[:port]`, working directory `/workdir` |
//! | `webdav` | `http[s]://host[:port][/workdir]` | `webdav[s]://host[:port][/workdir]` |
//! | `s3` | `http[s]://host[:port]/bucket[/workdir]` | `s3://bucket?endpoint=http[s]://host[:port]`, working directory `/workdir` |

use hpckit::auth::{Credential, CredentialMap, Secret};
use tonic::Code;

use crate::adaptors::{FileSystemAdaptor, SchedulerAdaptor};
use crate::errors::XenonError;
use crate::proto;

/// Xenon's answer to a location an adaptor cannot take.
fn invalid(adaptor: &str, location: &str, why: &str) -> XenonError {
    XenonError::new(
        Code::FailedPrecondition,
        "InvalidLocationException",
        adaptor,
        format!("Invalid location {location:?}: {why}"),
    )
}

/// Adds `?k=v&...` to a URL, before any ` via:` hops.
fn with_params(url: &str, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return url.to_owned();
    }
    let (base, hops) = match url.find(" via:") {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{base}{sep}{}{hops}", query.join("&"))
}

/// The hpckit URL of a Xenon scheduler location.
pub(crate) fn scheduler_url(
    adaptor: &SchedulerAdaptor,
    location: &str,
    params: &[(String, String)],
) -> Result<String, XenonError> {
    let location = location.trim();
    let url = match adaptor.name {
        "local" => {
            let rest = location.strip_prefix("local://").unwrap_or(location);
            if !(rest.is_empty() || rest.starts_with('/')) {
                return Err(invalid("local", location, "expected [/workdir]"));
            }
            format!("local://{rest}")
        }
        "ssh" => {
            let rest = location.strip_prefix("ssh://").unwrap_or(location);
            if rest.is_empty() || rest.starts_with('/') || rest.contains("://") {
                return Err(invalid(
                    "ssh",
                    location,
                    "expected host[:port][/workdir][ via:otherhost[:port]]*",
                ));
            }
            format!("ssh://{rest}")
        }
        name => {
            if location.is_empty() {
                format!("{}://", adaptor.scheme)
            } else if let Some(rest) = location.strip_prefix("local://") {
                format!("{}://{rest}", adaptor.scheme)
            } else if let Some(rest) = location.strip_prefix("ssh://").filter(|r| !r.is_empty()) {
                format!("{}+ssh://{rest}", adaptor.scheme)
            } else {
                return Err(invalid(
                    name,
                    location,
                    "expected local://[/workdir] or ssh://host[:port][/workdir][ via:otherhost[:port]]*",
                ));
            }
        }
    };
    Ok(with_params(&url, params))
}

/// Where a Xenon file system lives in hpckit terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FsTarget {
    /// URL for `hpckit::open_filesystem` (any path in it names the root, not a file).
    pub(crate) url: String,
    /// The working directory the location names, if any.
    pub(crate) workdir: Option<String>,
}

/// Splits `host[:port][/workdir]` into `host[:port]` and `/workdir`.
fn split_host(rest: &str) -> (&str, Option<String>) {
    match rest.find('/') {
        Some(i) => (&rest[..i], Some(rest[i..].to_owned()).filter(|w| w != "/")),
        None => (rest, None),
    }
}

/// The hpckit URL and working directory of a Xenon file-system location.
pub(crate) fn filesystem_target(
    adaptor: &FileSystemAdaptor,
    location: &str,
    params: &[(String, String)],
) -> Result<FsTarget, XenonError> {
    let location = location.trim();
    let name = adaptor.name;
    let target = match name {
        "file" => {
            let rest = location.strip_prefix("file://").unwrap_or(location);
            if !(rest.is_empty() || rest.starts_with('/')) {
                return Err(invalid(name, location, "expected [/workdir]"));
            }
            FsTarget {
                url: "file:///".into(),
                workdir: Some(rest.to_owned()).filter(|r| !r.is_empty()),
            }
        }
        "sftp" | "ftp" => {
            let rest = location.strip_prefix(&format!("{name}://")).unwrap_or(location);
            let (host, workdir) = split_host(rest);
            if host.is_empty() || host.contains("://") {
                return Err(invalid(name, location, "expected host[:port][/workdir]"));
            }
            FsTarget { url: format!("{name}://{host}"), workdir }
        }
        "webdav" => {
            let (scheme, rest) = if let Some(r) = location.strip_prefix("http://") {
                ("webdav", r)
            } else if let Some(r) = location.strip_prefix("https://") {
                ("webdavs", r)
            } else {
                return Err(invalid(name, location, "expected http[s]://host[:port][/workdir]"));
            };
            let (host, workdir) = split_host(rest);
            if host.is_empty() {
                return Err(invalid(name, location, "expected http[s]://host[:port][/workdir]"));
            }
            // The collection named by the location is the root hpckit opens; paths
            // stay absolute on the server, as Xenon's are.
            let root = workdir.clone().unwrap_or_default();
            FsTarget {
                url: format!(
                    "{scheme}://{host}{root}?root={}",
                    if root.is_empty() { "/" } else { &root }
                ),
                workdir,
            }
        }
        "s3" => {
            let (proto, rest) = location
                .split_once("://")
                .filter(|(p, _)| *p == "http" || *p == "https")
                .ok_or_else(|| {
                    invalid(name, location, "expected http[s]://host[:port]/bucketname[/workdir]")
                })?;
            let (host, path) = split_host(rest);
            let path = path.unwrap_or_default();
            let mut parts = path.trim_start_matches('/').splitn(2, '/');
            let bucket = parts.next().unwrap_or_default();
            if host.is_empty() || bucket.is_empty() {
                return Err(invalid(
                    name,
                    location,
                    "expected http[s]://host[:port]/bucketname[/workdir]",
                ));
            }
            let workdir = parts.next().filter(|w| !w.is_empty()).map(|w| format!("/{w}"));
            let mut params = params.to_vec();
            params.insert(0, ("endpoint".into(), format!("{proto}://{host}")));
            return Ok(FsTarget { url: with_params(&format!("s3://{bucket}"), &params), workdir });
        }
        other => return Err(invalid(other, location, "unknown adaptor")),
    };
    Ok(FsTarget { url: with_params(&target.url, params), workdir: target.workdir })
}

/// The credential of a create request, as the hpckit adaptors take it.
pub(crate) fn credential_map(
    adaptor: &str,
    cred: Option<Cred<'_>>,
) -> Result<CredentialMap, XenonError> {
    let Some(cred) = cred else { return Ok(CredentialMap::new()) };
    Ok(match cred {
        Cred::Map(map) => {
            let mut out = match &map.fallback {
                None => CredentialMap::new(),
                Some(proto::credential_map::Fallback::CertificateCredential(c)) => {
                    CredentialMap::with_default(certificate(c))
                }
                Some(proto::credential_map::Fallback::PasswordCredential(c)) => {
                    CredentialMap::with_default(password(c))
                }
                Some(proto::credential_map::Fallback::DefaultCredential(c)) => {
                    CredentialMap::with_default(default(c))
                }
                Some(proto::credential_map::Fallback::KeytabCredential(_)) => {
                    return Err(keytab(adaptor));
                }
            };
            for (host, entry) in &map.entries {
                let cred = match &entry.entry {
                    Some(proto::user_credential::Entry::CertificateCredential(c)) => certificate(c),
                    Some(proto::user_credential::Entry::PasswordCredential(c)) => password(c),
                    Some(proto::user_credential::Entry::DefaultCredential(c)) => default(c),
                    Some(proto::user_credential::Entry::KeytabCredential(_)) => {
                        return Err(keytab(adaptor));
                    }
                    None => Credential::default_for(None),
                };
                out.insert(host.clone(), cred);
            }
            out
        }
        Cred::Certificate(c) => CredentialMap::with_default(certificate(c)),
        Cred::Password(c) => CredentialMap::with_default(password(c)),
        Cred::Default(c) => CredentialMap::with_default(default(c)),
        Cred::Keytab => return Err(keytab(adaptor)),
    })
}

/// The credential oneof shared by both create requests.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cred<'a> {
    Certificate(&'a proto::CertificateCredential),
    Password(&'a proto::PasswordCredential),
    Default(&'a proto::DefaultCredential),
    Map(&'a proto::CredentialMap),
    Keytab,
}

fn keytab(adaptor: &str) -> XenonError {
    XenonError::new(
        Code::FailedPrecondition,
        "InvalidCredentialException",
        adaptor,
        "KeytabCredential (Kerberos) is not supported",
    )
}

/// Xenon's `CertificateCredential` is an SSH private key file.
fn certificate(c: &proto::CertificateCredential) -> Credential {
    let passphrase = Some(&c.passphrase).filter(|p| !p.is_empty()).map(|p| Secret::new(p.clone()));
    Credential::key_file(c.username.clone(), c.certfile.clone(), passphrase)
}

fn password(c: &proto::PasswordCredential) -> Credential {
    Credential::password(c.username.clone(), Secret::new(c.password.clone()))
}

fn default(c: &proto::DefaultCredential) -> Credential {
    Credential::default_for(Some(c.username.as_str()).filter(|u| !u.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adaptors;

    fn sched(name: &str, location: &str) -> Result<String, XenonError> {
        scheduler_url(adaptors::scheduler(name).unwrap(), location, &[])
    }

    fn fs(name: &str, location: &str) -> FsTarget {
        filesystem_target(adaptors::filesystem(name).unwrap(), location, &[]).unwrap()
    }

    #[test]
    fn scheduler_locations() {
        assert_eq!(sched("local", "").unwrap(), "local://");
        assert_eq!(sched("local", "/tmp/w").unwrap(), "local:///tmp/w");
        assert_eq!(sched("ssh", "localhost:2222").unwrap(), "ssh://localhost:2222");
        assert_eq!(sched("ssh", "ssh://h/w via:gw").unwrap(), "ssh://h/w via:gw");
        assert_eq!(sched("slurm", "local://").unwrap(), "slurm://");
        assert_eq!(sched("gridengine", "").unwrap(), "sge://");
        assert_eq!(sched("at", "ssh://localhost:22/tmp").unwrap(), "at+ssh://localhost:22/tmp");
        let e = sched("slurm", "localhost").unwrap_err();
        assert_eq!((e.code, e.class), (Code::FailedPrecondition, "InvalidLocationException"));
        assert!(sched("ssh", "").is_err());
        assert!(sched("local", "host").is_err());
        let params = [("host_key".to_owned(), "accept-new".to_owned())];
        let url = scheduler_url(adaptors::scheduler("slurm").unwrap(), "ssh://h via:gw", &params)
            .unwrap();
        assert_eq!(url, "slurm+ssh://h?host_key=accept-new via:gw");
    }

    #[test]
    fn filesystem_locations() {
        assert_eq!(fs("file", ""), FsTarget { url: "file:///".into(), workdir: None });
        assert_eq!(fs("file", "/tmp").workdir.as_deref(), Some("/tmp"));
        assert_eq!(
            fs("sftp", "localhost:2222/home/u"),
            FsTarget { url: "sftp://localhost:2222".into(), workdir: Some("/home/u".into()) }
        );
        assert_eq!(fs("ftp", "h").url, "ftp://h");
        assert_eq!(fs("webdav", "http://h:8080/dav").url, "webdav://h:8080/dav?root=/dav");
        assert_eq!(fs("webdav", "https://h").url, "webdavs://h?root=/");
        let t = fs("s3", "http://127.0.0.1:9000/bucket/dir/x");
        assert_eq!(
            t,
            FsTarget {
                url: "s3://bucket?endpoint=http://127.0.0.1:9000".into(),
                workdir: Some("/dir/x".into())
            }
        );
        for (name, bad) in [("s3", "http://h"), ("webdav", "h:80"), ("sftp", ""), ("file", "rel")] {
            let e = filesystem_target(adaptors::filesystem(name).unwrap(), bad, &[]).unwrap_err();
            assert_eq!(e.class, "InvalidLocationException", "{name} {bad}");
        }
    }

    #[test]
    fn credentials_keep_usernames_and_never_show_secrets() {
        let pw = proto::PasswordCredential { username: "alice".into(), password: "s3cret".into() };
        let map = credential_map("ssh", Some(Cred::Password(&pw))).unwrap();
        assert_eq!(map.get("any").unwrap().username(), Some("alice"));
        assert!(!format!("{map:?}").contains("s3cret"));
        let mut entries = std::collections::HashMap::new();
        entries.insert(
            "h2".to_owned(),
            proto::UserCredential {
                entry: Some(proto::user_credential::Entry::PasswordCredential(pw.clone())),
            },
        );
        let cm = proto::CredentialMap {
            entries,
            fallback: Some(proto::credential_map::Fallback::DefaultCredential(
                proto::DefaultCredential { username: "bob".into() },
            )),
        };
        let map = credential_map("ssh", Some(Cred::Map(&cm))).unwrap();
        assert_eq!(map.get("h2").unwrap().kind(), hpckit::core::CredentialKind::Password);
        assert_eq!(map.get("other").unwrap().username(), Some("bob"));
        let e = credential_map("ssh", Some(Cred::Keytab)).unwrap_err();
        assert_eq!(e.class, "InvalidCredentialException");
    }
}
