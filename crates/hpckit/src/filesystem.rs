//! [`open_filesystem`]: any file system from its URL; [`FsUrl`]: a URL split
//! into the file system and the path on it.

use std::sync::Arc;

use fs_adaptors::{LocalFileSystem, ftp, s3, webdav};
use hpc_auth::{Credential, CredentialMap};
use hpc_core::{Error, FileSystem, FsCapabilities, Location, Path, Result};

/// Schemes [`open_filesystem`] understands (shown in the unknown-scheme error).
pub const FILESYSTEM_SCHEMES: &[&str] = &[
    "file",
    "local",
    "sftp",
    "ftp",
    "ftps",
    "webdav",
    "webdavs",
    "s3",
    #[cfg(feature = "unicore")]
    "unicore",
    #[cfg(feature = "uftp")]
    "uftp",
    #[cfg(feature = "datamover")]
    "ws",
    #[cfg(feature = "datamover")]
    "dm",
];

/// A file-system URL taken apart: which file system, and which path on it.
///
/// | URL | file system | path |
/// |---|---|---|
/// | `data/x.bin`, `/tmp/x` (no `://`) | local | as given (relative to the current directory) |
/// | `file:///tmp/x` | local | `/tmp/x` |
/// | `sftp://alice@hpc:2222/scratch/x` | SFTP to `alice@hpc:2222` | `/scratch/x` |
/// | `sftp://hpc/~/x` | SFTP to `hpc` | `x` (below the login directory) |
/// | `ftp://`, `webdav://`, `webdavs://`, `s3://bucket/prefix` | that server or bucket | the URL's path |
/// | `unicore://host:port/SITE/storages/ID/x` (feature `unicore`) | that UNICORE storage | `/x` |
/// | `uftp://user@host:port/rest/auth/SERVER:/data/x` (feature `uftp`) | a UFTP session on `/` of that server | `/data/x` |
/// | `ws:///data/run1`, `ws://me@login/data/run1` (feature `datamover`) | workspace `data` (here, or over SSH) | `run1`, relative to the workspace |
/// | `dm://me@login/projects/p_x/run1` (feature `datamover`) | the login node, datamover where read-only | `/projects/p_x/run1` |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsUrl {
    /// The location to open (its path removed; query and `via:` hops kept).
    pub location: Location,
    /// The path on that file system (absolute, or relative to its working directory).
    pub path: Path,
}

impl FsUrl {
    /// Parse a URL or a plain local path.
    pub fn parse(url: &str) -> Result<FsUrl> {
        if url.is_empty() {
            // Most likely an unset shell variable: never guess "here".
            return Err(Error::InvalidLocation {
                location: String::new(),
                reason: "the URL or path is empty (use `.` for the current directory)".into(),
            });
        }
        if !url.contains("://") {
            let location = Location {
                scheme: "file".into(),
                transport: None,
                user: None,
                host: None,
                port: None,
                path: None,
                query: Vec::new(),
                via: Vec::new(),
            };
            return Ok(FsUrl { location, path: Path::new(url)? });
        }
        let mut location: Location = url.parse()?;
        let raw = location.path.take().unwrap_or_else(|| "/".into());
        let path = match raw.strip_prefix("/~") {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                Path::new(rest.trim_start_matches('/'))?
            }
            _ => Path::new(&raw)?,
        };
        #[cfg(feature = "unicore")]
        if location.scheme == "unicore" {
            let (location, path) =
                unicore_rest::filesystem::UnicoreConfig::storage_location(&location, &raw)?;
            return Ok(FsUrl { location, path });
        }
        #[cfg(feature = "uftp")]
        if location.scheme == "uftp" {
            let (location, path) =
                uftp_proto::filesystem::UftpConfig::split_location(&location, &raw)?;
            return Ok(FsUrl { location, path });
        }
        if matches!(location.scheme.as_str(), "webdav" | "webdavs") {
            location = fs_adaptors::webdav::WebdavConfig::collection_location(&location, &path);
        }
        if location.scheme == "ws" {
            // The first element names the workspace; the rest lies in it.
            let mut elements = path.elements().iter();
            let name = elements.next().cloned().unwrap_or_default();
            location.path = Some(format!("/{name}"));
            let rest: Vec<&str> = elements.map(String::as_str).collect();
            return Ok(FsUrl { location, path: Path::new(&rest.join("/"))? });
        }
        Ok(FsUrl { location, path })
    }

    /// A key that is equal for two URLs on the same file system (same scheme,
    /// user, host, port, hops and options), so one connection serves both.
    pub fn fs_key(&self) -> String {
        self.location.to_string()
    }
}

/// The one credential for adaptors that take a single login (HTTP, FTP, S3),
/// if it is of a kind the adaptor takes (`capabilities.credentials`).
fn credential_for(
    loc: &Location,
    creds: &CredentialMap,
    capabilities: FsCapabilities,
) -> Result<Credential> {
    let host = match (&loc.host, loc.port) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.clone(),
        (None, _) => String::new(),
    };
    let cred =
        creds.get(&host).cloned().unwrap_or_else(|| Credential::default_for(loc.user.as_deref()));
    capabilities.credentials.require(cred.kind(), &loc.scheme)?;
    Ok(cred)
}

/// Open the file system a URL names (its path is ignored; see [`FsUrl`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hpc_core::Result<()> {
/// use hpckit::auth::CredentialMap;
///
/// let fs = hpckit::open_filesystem("file:///tmp", &CredentialMap::new()).await?;
/// assert_eq!(fs.info().adaptor, "local");
/// let e = hpckit::open_filesystem("gopher://host/", &CredentialMap::new()).await.unwrap_err();
/// assert!(e.to_string().starts_with("unknown scheme \"gopher\""));
/// # Ok(()) }
/// ```
pub async fn open_filesystem(url: &str, creds: &CredentialMap) -> Result<Arc<dyn FileSystem>> {
    open_location(&FsUrl::parse(url)?.location, creds).await
}

/// Open the file system of a parsed location.
pub async fn open_location(loc: &Location, creds: &CredentialMap) -> Result<Arc<dyn FileSystem>> {
    match loc.scheme.as_str() {
        "file" | "local" => {
            let mut loc = loc.clone();
            loc.path = None;
            Ok(Arc::new(LocalFileSystem::open(&loc)?))
        }
        "sftp" => Ok(Arc::new(fs_adaptors::sftp::SftpFileSystem::open(loc, creds).await?)),
        "webdav" | "webdavs" => {
            let cred = credential_for(loc, creds, webdav::capabilities())?;
            Ok(Arc::new(webdav::WebdavFileSystem::open(loc, cred).await?))
        }
        "s3" => {
            let cred = credential_for(loc, creds, s3::capabilities())?;
            Ok(Arc::new(s3::S3FileSystem::open(loc, cred).await?))
        }
        "ftp" | "ftps" => {
            let cred = credential_for(loc, creds, ftp::capabilities())?;
            Ok(Arc::new(ftp::FtpFileSystem::open(loc, cred).await?))
        }
        #[cfg(feature = "datamover")]
        "ws" | "dm" => Ok(Arc::new(open_workspace(loc, creds).await?)),
        #[cfg(feature = "unicore")]
        "unicore" => {
            Ok(Arc::new(unicore_rest::filesystem::UnicoreFileSystem::open(loc, creds).await?))
        }
        #[cfg(feature = "uftp")]
        "uftp" => Ok(Arc::new(uftp_proto::filesystem::UftpFileSystem::open(loc, creds).await?)),
        _ => Err(Error::UnknownScheme {
            scheme: loc.scheme.clone(),
            supported: FILESYSTEM_SCHEMES.join(", "),
        }),
    }
}

/// A workspace (`ws://`) or a login node's directories (`dm://`): the
/// workspace tools and the datamover through this host's processes or the
/// shared SSH connection, plain reads through this host's file system or
/// SFTP on that same connection.
#[cfg(feature = "datamover")]
async fn open_workspace(
    loc: &Location,
    creds: &CredentialMap,
) -> Result<zih_datamover::filesystem::WsFileSystem> {
    use hpc_exec::ssh::{SshExecutor, SshOptions};
    use hpc_exec::{Executor, LocalExecutor};
    use zih_datamover::filesystem::{WsConfig, WsFileSystem};

    let config = WsConfig::from_location(loc)?;
    if let Some(t) = &loc.transport {
        return Err(Error::InvalidLocation {
            location: loc.to_string(),
            reason: format!(
                "{}:// takes no transport ({t:?}); a host means SSH, no host this host",
                loc.scheme
            ),
        });
    }
    if loc.host.is_none() {
        loc.expect_no_host()?;
        let exec: Arc<dyn Executor> = Arc::new(LocalExecutor::new());
        return WsFileSystem::open(exec, Arc::new(LocalFileSystem::new()?), config).await;
    }
    let ssh = SshExecutor::shared(SshOptions::from_location(loc)?, creds).await?;
    let stream = ssh.open_subsystem("sftp").await?;
    let exec: Arc<dyn Executor> = Arc::new(ssh);
    let mut sftp_loc = loc.clone();
    sftp_loc.scheme = "sftp".into();
    sftp_loc.path = None;
    sftp_loc.query.retain(|(k, _)| hpc_exec::SSH_LOCATION_PARAMS.contains(&k.as_str()));
    let sftp_config = fs_adaptors::sftp::SftpConfig::from_location(&sftp_loc)?;
    let plain =
        fs_adaptors::sftp::SftpFileSystem::from_stream(stream, sftp_config, Some(exec.clone()))
            .await?;
    WsFileSystem::open(exec, Arc::new(plain), config).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_url_is_refused_not_taken_for_here() {
        let e = FsUrl::parse("").unwrap_err();
        assert!(matches!(e, Error::InvalidLocation { .. }), "{e}");
        assert!(e.to_string().contains("empty"), "{e}");
        assert_eq!(FsUrl::parse(".").unwrap().path, Path::new(".").unwrap());
    }

    #[test]
    fn urls_split_into_fs_and_path() {
        let u = FsUrl::parse("sftp://alice@hpc:2222/scratch/a%20b").unwrap();
        assert_eq!(u.location.to_string(), "sftp://alice@hpc:2222");
        assert_eq!(u.path.to_string(), "/scratch/a b");
        let u = FsUrl::parse("sftp://hpc/~/x/y").unwrap();
        assert_eq!(u.path.to_string(), "x/y");
        assert!(!u.path.is_absolute());
        let u = FsUrl::parse("sftp://hpc/~x").unwrap();
        assert_eq!(u.path.to_string(), "/~x");
        let u = FsUrl::parse("sftp://hpc").unwrap();
        assert!(u.path.is_root());
        let u = FsUrl::parse("rel/file").unwrap();
        assert_eq!((u.location.scheme.as_str(), u.path.to_string().as_str()), ("file", "rel/file"));
        let u = FsUrl::parse("file:///tmp/x").unwrap();
        assert_eq!(u.path.to_string(), "/tmp/x");
        assert_eq!(
            FsUrl::parse("sftp://h/a").unwrap().fs_key(),
            FsUrl::parse("sftp://h/b/c").unwrap().fs_key()
        );
        assert_ne!(
            FsUrl::parse("sftp://h/a").unwrap().fs_key(),
            FsUrl::parse("sftp://u@h/a").unwrap().fs_key()
        );
        assert!(FsUrl::parse("sftp://u:pw@h/").is_err());
        let u = FsUrl::parse("webdav://h:8081/dav/a/b.txt").unwrap();
        assert_eq!(u.location.to_string(), "webdav://h:8081/dav");
        assert_eq!(u.path.to_string(), "/dav/a/b.txt");
        let u = FsUrl::parse("webdavs://h/x/y/z?root=/x/y").unwrap();
        assert_eq!(u.location.to_string(), "webdavs://h/x/y");
    }

    #[test]
    fn workspace_urls_name_the_workspace_in_the_location() {
        let u = FsUrl::parse("ws://me@login:2222/data/run%201/out.h5?filesystem=scratch").unwrap();
        assert_eq!(u.location.to_string(), "ws://me@login:2222/data?filesystem=scratch");
        assert_eq!(u.path.to_string(), "run 1/out.h5");
        assert!(!u.path.is_absolute());
        let u = FsUrl::parse("ws:///data").unwrap();
        assert_eq!((u.location.path.as_deref(), u.path.depth()), (Some("/data"), 0));
        assert_eq!(
            FsUrl::parse("ws:///data/a").unwrap().fs_key(),
            FsUrl::parse("ws:///data/b").unwrap().fs_key()
        );
        assert_ne!(
            FsUrl::parse("ws:///data/a").unwrap().fs_key(),
            FsUrl::parse("ws:///other/a").unwrap().fs_key()
        );
        let u = FsUrl::parse("dm://login/projects/p_x/r").unwrap();
        assert_eq!(u.location.to_string(), "dm://login");
        assert_eq!(u.path.to_string(), "/projects/p_x/r");
    }

    #[cfg(feature = "datamover")]
    #[tokio::test]
    async fn bad_workspace_locations_fail_before_anything_runs() {
        let creds = CredentialMap::new();
        for (url, why) in [
            ("ws://", "one workspace name"),
            ("ws+ssh://h/data", "takes no transport"),
            ("ws:///data?bogus=1", "unknown parameter"),
        ] {
            let e = open_filesystem(url, &creds).await.unwrap_err();
            assert!(matches!(e, Error::InvalidLocation { .. }), "{url}: {e}");
            assert!(e.to_string().contains(why), "{url}: {e}");
        }
    }

    /// A credential of a kind the adaptor does not take is refused before
    /// anything is sent, with the kinds it takes.
    #[tokio::test]
    async fn credentials_are_checked_against_what_the_adaptor_takes() {
        let creds = CredentialMap::with_default(Credential::key_file("u", "/k", None));
        for (url, takes) in [
            ("ftp://h/", "default, password, basic, anonymous"),
            ("s3://bucket/", "default, password, basic, anonymous"),
            ("webdav://h/", "default, password, bearer, oidc, basic, anonymous"),
        ] {
            let e = open_filesystem(url, &creds).await.unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{url}: {e}");
            assert!(
                e.to_string().ends_with(&format!("key-file credential (it takes {takes})")),
                "{e}"
            );
        }
    }

    #[cfg(feature = "unicore")]
    #[test]
    fn unicore_urls_split_after_the_storage() {
        let u = FsUrl::parse("unicore://h:8443/S/storages/HOME/a/b.txt?ca=/c.pem").unwrap();
        assert_eq!(u.location.path.as_deref(), Some("/S/storages/HOME"));
        assert_eq!(u.path.to_string(), "/a/b.txt");
        let u = FsUrl::parse("unicore+https://h/S/rest/core/jobs/j1").unwrap();
        assert_eq!(
            (u.location.path.as_deref(), u.path.is_root()),
            (Some("/S/rest/core/jobs/j1"), true)
        );
    }
}
