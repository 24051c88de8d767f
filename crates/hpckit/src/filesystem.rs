//! [`open_filesystem`]: any file system from its URL; [`FsUrl`]: a URL split
//! into the file system and the path on it.

use std::sync::Arc;

use fs_adaptors::LocalFileSystem;
use hpc_auth::{Credential, CredentialMap};
use hpc_core::{Error, FileSystem, Location, Path, Result};

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
        if matches!(location.scheme.as_str(), "webdav" | "webdavs") {
            location = fs_adaptors::webdav::WebdavConfig::collection_location(&location, &path);
        }
        Ok(FsUrl { location, path })
    }

    /// A key that is equal for two URLs on the same file system (same scheme,
    /// user, host, port, hops and options), so one connection serves both.
    pub fn fs_key(&self) -> String {
        self.location.to_string()
    }
}

/// The one credential for adaptors that take a single login (HTTP, FTP, S3).
fn credential_for(loc: &Location, creds: &CredentialMap) -> Credential {
    let host = match (&loc.host, loc.port) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.clone(),
        (None, _) => String::new(),
    };
    creds.get(&host).cloned().unwrap_or_else(|| Credential::default_for(loc.user.as_deref()))
}

/// Open the file system a URL names (its path is ignored; see [`FsUrl`]).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hpc_core::Result<()> {
/// use hpckit::auth::CredentialMap;
///
/// let fs = hpckit::open_filesystem("file:///tmp", &CredentialMap::new()).await?;
/// assert_eq!(fs.adaptor(), "local");
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
        "webdav" | "webdavs" => Ok(Arc::new(
            fs_adaptors::webdav::WebdavFileSystem::open(loc, credential_for(loc, creds)).await?,
        )),
        "s3" => Ok(Arc::new(
            fs_adaptors::s3::S3FileSystem::open(loc, credential_for(loc, creds)).await?,
        )),
        "ftp" | "ftps" => Ok(Arc::new(
            fs_adaptors::ftp::FtpFileSystem::open(loc, credential_for(loc, creds)).await?,
        )),
        #[cfg(feature = "unicore")]
        "unicore" => {
            Ok(Arc::new(unicore_rest::filesystem::UnicoreFileSystem::open(loc, creds).await?))
        }
        _ => Err(Error::UnknownScheme {
            scheme: loc.scheme.clone(),
            supported: FILESYSTEM_SCHEMES.join(", "),
        }),
    }
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
