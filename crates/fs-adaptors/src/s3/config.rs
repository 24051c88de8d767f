//! [`S3Config`]: bucket, endpoint, region, addressing style, keys, upload and
//! download tuning.

use std::path::PathBuf;

use hpc_auth::{Credential, CredentialKind, CredentialKinds};
use hpc_core::{Error, Location, Path, Result};

use super::keys::{AwsEnv, S3Keys};
use crate::remote::NetTimeouts;

/// What signs S3 requests: an access key id and secret key as user and
/// password (`basic` alike), the `AWS_*` variables and profiles (`default`),
/// or nothing (`anonymous`: unsigned requests).
pub(crate) const CREDENTIALS: CredentialKinds = CredentialKinds::of(&[
    CredentialKind::Default,
    CredentialKind::Password,
    CredentialKind::Basic,
    CredentialKind::Anonymous,
]);

/// How the bucket appears in URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingStyle {
    /// `https://endpoint/bucket/key` (needed for IP addresses and most
    /// self-hosted servers).
    Path,
    /// `https://bucket.endpoint/key` (AWS's default).
    VirtualHost,
}

/// Settings of an S3 file system.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct S3Config {
    /// The bucket.
    pub bucket: String,
    /// `http[s]://host[:port]` of the service.
    pub endpoint: String,
    /// Signing region.
    pub region: String,
    /// Path-style or virtual-host-style URLs.
    pub style: AddressingStyle,
    /// Keys; `None` sends unsigned (anonymous) requests.
    pub keys: Option<S3Keys>,
    /// Working directory (the location's path: a key prefix).
    pub root: Path,
    /// Extra CA certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// Size of each multipart part (at least 5 MiB).
    pub part_size: usize,
    /// Parts uploaded at the same time (memory: about `(concurrency + 1) * part_size`).
    pub concurrency: usize,
    /// Size of each ranged GET of a parallel download; objects (or ranges)
    /// up to this size are read with a single GET.
    pub download_part_size: usize,
    /// Ranged GETs in flight during one download. Copies to a target that
    /// writes at offsets (a local file) take the parts as they arrive, so
    /// memory stays flat; in-order reads (`cat`, mounts, other targets) hold
    /// early parts back and run at most 32 MiB of parts at once.
    pub download_concurrency: usize,
    /// Server-side copies of objects up to this size are one CopyObject;
    /// larger ones are copied in parts of this size (UploadPartCopy),
    /// `concurrency` at a time. The default is S3's limit for one CopyObject.
    pub copy_part_size: u64,
    /// Connect, idle and metadata-request limits.
    pub timeouts: NetTimeouts,
}

const MIB: usize = 1 << 20;
/// Default size of one ranged GET of a download. Smaller parts pay the
/// per-request latency more often; larger ones cost in-order reads memory.
const DEFAULT_DOWNLOAD_PART_SIZE: usize = 8 * MIB;
/// Default number of ranged GETs in flight. Many streams keep a server's
/// disk and cores busy; they cost little memory because a download into a
/// local file writes every chunk at its offset as it comes.
pub(crate) const DEFAULT_DOWNLOAD_CONCURRENCY: usize = 16;
/// The most one CopyObject copies (5 GiB).
const MAX_COPY_OBJECT: u64 = 5 << 30;

impl S3Config {
    /// From `s3://bucket[/prefix][?endpoint=URL&region=R&style=path|virtual&ca=FILE&part_size=MiB&concurrency=N&download_part_size=MiB&download_concurrency=N&copy_part_size=MiB]`,
    /// plus the time limits of [`NetTimeouts`] (`connect_timeout`,
    /// `idle_timeout`, `timeout`).
    ///
    /// Defaults come from the environment like the AWS tools do:
    /// `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
    /// then the profile's `endpoint_url` and `region` (else `us-east-1`).
    /// Keys: a password credential is (access key id, secret key); `default`
    /// reads the `AWS_*` variables and profiles in the AWS CLI's order
    /// (`?profile=NAME` picks one; `s3://KEY@bucket` names the access key id
    /// the keys must have); `anonymous` signs nothing. No keys found is an
    /// error that says what to set.
    pub fn from_location(loc: &Location, credential: &Credential) -> Result<Self> {
        Self::from_location_in(loc, credential, &AwsEnv::process())
    }

    pub(crate) fn from_location_in(
        loc: &Location,
        credential: &Credential,
        aws: &AwsEnv,
    ) -> Result<Self> {
        let bad = |reason: String| Error::InvalidLocation { location: loc.to_string(), reason };
        if loc.scheme != "s3" {
            return Err(bad(format!(
                "{}:// is not an S3 location (s3://bucket/prefix)",
                loc.scheme
            )));
        }
        let bucket =
            loc.host.clone().ok_or_else(|| bad("missing bucket: s3://bucket/prefix".into()))?;
        if loc.port.is_some() {
            return Err(bad(
                "put the server in ?endpoint=URL; s3:// takes only a bucket name (and an access key id: s3://KEY@bucket)".into()
            ));
        }
        if bucket.len() < 3 || bucket.len() > 63 {
            return Err(bad(format!("bucket name {bucket:?} must have 3 to 63 characters")));
        }
        let env = |k: &str| aws.var(k).map(str::to_owned);
        let mut region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
        let mut endpoint = env("AWS_ENDPOINT_URL_S3").or_else(|| env("AWS_ENDPOINT_URL"));
        let mut style = None;
        let mut ca_file = None;
        let mut part_size = 8 * MIB;
        let mut concurrency = 4;
        let mut download_part_size = DEFAULT_DOWNLOAD_PART_SIZE;
        let mut download_concurrency = DEFAULT_DOWNLOAD_CONCURRENCY;
        let mut copy_part_size = MAX_COPY_OBJECT;
        let mut known = vec![
            "endpoint",
            "region",
            "style",
            "ca",
            "part_size",
            "concurrency",
            "download_part_size",
            "download_concurrency",
            "copy_part_size",
            "profile",
        ];
        known.extend(NetTimeouts::OPTIONS);
        loc.check_params(&known)?;
        let mut timeouts = NetTimeouts::default();
        for (k, v) in &loc.query {
            if timeouts.set(k, v).map_err(&bad)? {
                continue;
            }
            match k.as_str() {
                "endpoint" => endpoint = Some(v.clone()),
                "region" => region = Some(v.clone()),
                "style" => {
                    style = Some(match v.as_str() {
                        "path" => AddressingStyle::Path,
                        "virtual" | "virtual-host" => AddressingStyle::VirtualHost,
                        other => {
                            return Err(bad(format!("style {other:?} is not path or virtual")));
                        }
                    })
                }
                "ca" => ca_file = Some(PathBuf::from(v)),
                "part_size" => {
                    let mib: usize = v
                        .parse()
                        .map_err(|_| bad(format!("part_size {v:?} is not a number of MiB")))?;
                    if !(5..=5120).contains(&mib) {
                        return Err(bad("part_size must be 5 to 5120 (MiB)".into()));
                    }
                    part_size = mib * MIB;
                }
                "concurrency" => {
                    concurrency = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| bad(format!("concurrency {v:?} is not 1 to 64")))?;
                }
                "download_part_size" => {
                    let mib: usize = v.parse().map_err(|_| {
                        bad(format!("download_part_size {v:?} is not a number of MiB"))
                    })?;
                    if !(1..=5120).contains(&mib) {
                        return Err(bad("download_part_size must be 1 to 5120 (MiB)".into()));
                    }
                    download_part_size = mib * MIB;
                }
                "download_concurrency" => {
                    download_concurrency =
                        v.parse().ok().filter(|n| (1..=64).contains(n)).ok_or_else(|| {
                            bad(format!("download_concurrency {v:?} is not 1 to 64"))
                        })?;
                }
                "copy_part_size" => {
                    let mib: u64 = v
                        .parse()
                        .map_err(|_| bad(format!("copy_part_size {v:?} is not a number of MiB")))?;
                    if !(5..=5120).contains(&mib) {
                        return Err(bad("copy_part_size must be 5 to 5120 (MiB)".into()));
                    }
                    copy_part_size = mib << 20;
                }
                _ => {} // refused by check_params above
            }
        }
        if region.is_none() || endpoint.is_none() {
            let profile = aws.profile(loc)?;
            region = region.or_else(|| profile.get("region").map(str::to_owned));
            endpoint = endpoint.or_else(|| profile.get("endpoint_url").map(str::to_owned));
        }
        let region = region.unwrap_or_else(|| "us-east-1".into());
        let endpoint = endpoint.unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let host = endpoint
            .split_once("://")
            .filter(|(s, _)| *s == "http" || *s == "https")
            .map(|(_, rest)| rest.split(['/', ':']).next().unwrap_or(""))
            .ok_or_else(|| {
                bad(format!("endpoint {endpoint:?} must start with http:// or https://"))
            })?;
        let style = style.unwrap_or(if host.ends_with("amazonaws.com") && !bucket.contains('.') {
            AddressingStyle::VirtualHost
        } else {
            AddressingStyle::Path
        });
        let keys = aws.keys(loc, credential)?;
        let root = Path::new(loc.path.as_deref().unwrap_or("/"))?.resolve(&Path::root());
        Ok(S3Config {
            bucket,
            endpoint,
            region,
            style,
            keys,
            root,
            ca_file,
            part_size,
            concurrency,
            download_part_size,
            download_concurrency,
            copy_part_size,
            timeouts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> Result<S3Config> {
        let no_env = AwsEnv::default();
        S3Config::from_location_in(
            &url.parse().unwrap(),
            &Credential::password("AK", "SK-secret"),
            &no_env,
        )
    }

    #[test]
    fn options() {
        let c = cfg(
            "s3://data-bucket/runs/a?endpoint=http://127.0.0.1:9000&region=eu-west-1&part_size=16",
        )
        .unwrap();
        assert_eq!(c.bucket, "data-bucket");
        assert_eq!(c.endpoint, "http://127.0.0.1:9000");
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.style, AddressingStyle::Path);
        assert_eq!(c.root.to_string(), "/runs/a");
        assert_eq!(c.part_size, 16 << 20);
        assert_eq!((c.download_part_size, c.download_concurrency), (8 << 20, 16));
        let c = cfg("s3://bucket-x?download_part_size=1&download_concurrency=10").unwrap();
        assert_eq!((c.download_part_size, c.download_concurrency), (1 << 20, 10));
        assert_eq!(c.copy_part_size, 5 << 30);
        assert_eq!(cfg("s3://bucket-x?copy_part_size=64").unwrap().copy_part_size, 64 << 20);
        assert!(!format!("{c:?}").contains("SK-secret"));
        let c = cfg("s3://bucket-x?region=eu-west-1").unwrap();
        assert_eq!(c.endpoint, "https://s3.eu-west-1.amazonaws.com");
        assert_eq!(c.style, AddressingStyle::VirtualHost);
        assert_eq!(
            cfg("s3://b.c.d?endpoint=https://s3.amazonaws.com").unwrap().style,
            AddressingStyle::Path
        );
    }

    #[test]
    fn bad_input() {
        for (url, needle) in [
            ("s3://ab", "3 to 63"),
            ("s3://bucket?style=weird", "not path or virtual"),
            ("s3://bucket?endpoint=ftp://x", "http:// or https://"),
            ("s3://bucket?part_size=1", "5 to 5120"),
            ("s3://bucket?concurrency=0", "1 to 64"),
            ("s3://bucket?download_part_size=0", "1 to 5120"),
            ("s3://bucket?download_part_size=big", "number of MiB"),
            ("s3://bucket?download_concurrency=65", "1 to 64"),
            ("s3://bucket?copy_part_size=4", "5 to 5120"),
            ("s3://bucket?copy_part_size=5121", "5 to 5120"),
            ("s3://bucket?colour=blue", "unknown parameter"),
            ("s3://bucket?idle_timeout=0", "number of seconds"),
            ("s3://bucket:9000/x", "endpoint"),
            ("webdav://bucket/", "not an S3 location"),
        ] {
            let e = cfg(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
        let e = S3Config::from_location(
            &"s3://bucket".parse().unwrap(),
            &Credential::key_file("u", "/k", None),
        );
        assert!(e.unwrap_err().to_string().contains("cannot sign S3"));
    }

    /// What `CREDENTIALS` (the capability table's row) says is what the code takes.
    #[test]
    fn the_declared_kinds_are_the_accepted_ones() {
        for kind in CredentialKind::ALL {
            let env =
                AwsEnv::fake(&[("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "S")], None);
            let taken = S3Config::from_location_in(
                &"s3://bucket".parse().unwrap(),
                &Credential::example(kind),
                &env,
            )
            .is_ok();
            assert_eq!(taken, CREDENTIALS.contains(kind), "{kind}");
        }
    }
}
