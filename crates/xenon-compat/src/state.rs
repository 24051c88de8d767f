//! What the server holds between calls: open schedulers, file systems and copies,
//! and how a create request opens an hpckit adaptor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hpckit::core::{FileSystem, Path, Scheduler};
use hpckit::{FsUrl, open_location, open_scheduler};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::adaptors::{self, FILESYSTEM_PREFIX, SCHEDULER_PREFIX};
use crate::errors::XenonError;
use crate::locations::{self, Cred};
use crate::proto;
use crate::registry::Registry;

/// An open scheduler and what it was made from.
#[derive(Debug)]
pub(crate) struct SchedulerEntry {
    pub(crate) id: String,
    /// Xenon's adaptor name.
    pub(crate) adaptor: &'static str,
    pub(crate) location: String,
    pub(crate) properties: HashMap<String, String>,
    pub(crate) credential: Option<proto::get_credential_response::Credential>,
    /// The credential as given, for the file system `getFileSystem` opens.
    pub(crate) credential_for_reuse: KeptCredential,
    pub(crate) scheduler: Arc<dyn Scheduler>,
    /// The file system `getFileSystem` answered with, once asked.
    pub(crate) filesystem: Mutex<Option<String>>,
}

/// A credential as the client sent it, passwords included; its `Debug` shows none of it.
#[derive(Clone)]
pub(crate) struct KeptCredential(pub(crate) Option<proto::create_scheduler_request::Credential>);

impl std::fmt::Debug for KeptCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "KeptCredential(..)" } else { "KeptCredential(None)" })
    }
}

/// An open file system, its working directory, and what it was made from.
#[derive(Debug)]
pub(crate) struct FileSystemEntry {
    pub(crate) id: String,
    pub(crate) adaptor: &'static str,
    pub(crate) location: String,
    pub(crate) properties: HashMap<String, String>,
    pub(crate) credential: Option<proto::get_credential_response::Credential>,
    pub(crate) fs: Arc<dyn FileSystem>,
    /// Xenon's working directory: relative paths of requests resolve against it.
    pub(crate) cwd: Mutex<Path>,
}

impl FileSystemEntry {
    /// A request path, made absolute against the working directory.
    pub(crate) fn path(&self, p: Option<&proto::Path>) -> Result<Path, XenonError> {
        let text = p.map(|p| p.path.as_str()).unwrap_or("");
        let path = Path::new(text).map_err(|e| XenonError::from_hpckit(self.adaptor, &e))?;
        Ok(path.resolve(&self.cwd.lock().unwrap_or_else(|e| e.into_inner())))
    }
}

/// Progress and outcome of one asynchronous copy.
#[derive(Debug, Clone, Default)]
pub(crate) struct CopyProgress {
    pub(crate) bytes_copied: u64,
    pub(crate) bytes_to_copy: u64,
    pub(crate) state: CopyState,
}

/// Where a copy is.
#[derive(Debug, Clone, Default)]
pub(crate) enum CopyState {
    #[default]
    Pending,
    Running,
    Done,
    Failed(XenonError),
    Cancelled,
}

/// A copy started by `copy`, until its file system is closed.
#[derive(Debug)]
pub(crate) struct CopyEntry {
    pub(crate) id: String,
    /// The source file system's id (Xenon asks for copies through it).
    pub(crate) filesystem: String,
    pub(crate) progress: watch::Receiver<CopyProgress>,
    pub(crate) cancel: CancellationToken,
}

/// Everything both services share.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) schedulers: Registry<SchedulerEntry>,
    pub(crate) filesystems: Registry<FileSystemEntry>,
    pub(crate) copies: Registry<CopyEntry>,
}

impl Default for State {
    fn default() -> Self {
        State {
            schedulers: Registry::new("scheduler"),
            filesystems: Registry::new("filesystem"),
            copies: Registry::new("copy"),
        }
    }
}

/// The credential oneof of both create requests, as one borrowed value.
pub(crate) fn cred_of(c: Option<&proto::create_scheduler_request::Credential>) -> Option<Cred<'_>> {
    use proto::create_scheduler_request::Credential as C;
    c.map(|c| match c {
        C::CertificateCredential(c) => Cred::Certificate(c),
        C::PasswordCredential(c) => Cred::Password(c),
        C::DefaultCredential(c) => Cred::Default(c),
        C::CredentialMap(c) => Cred::Map(c),
        C::KeytabCredential(_) => Cred::Keytab,
    })
}

/// Converts a file-system request's credential into the scheduler request's type
/// (the two oneofs are the same).
pub(crate) fn fs_cred(
    c: Option<proto::create_file_system_request::Credential>,
) -> Option<proto::create_scheduler_request::Credential> {
    use proto::create_file_system_request::Credential as F;
    use proto::create_scheduler_request::Credential as C;
    c.map(|c| match c {
        F::CertificateCredential(c) => C::CertificateCredential(c),
        F::PasswordCredential(c) => C::PasswordCredential(c),
        F::DefaultCredential(c) => C::DefaultCredential(c),
        F::CredentialMap(c) => C::CredentialMap(c),
        F::KeytabCredential(c) => C::KeytabCredential(c),
    })
}

/// The credential `getCredential` returns: the one given, with passwords and
/// passphrases blanked (they never leave the server again); without one, a
/// default credential of the server's user, as Java Xenon answers.
fn redacted(
    c: Option<&proto::create_scheduler_request::Credential>,
) -> Option<proto::get_credential_response::Credential> {
    use proto::create_scheduler_request::Credential as C;
    use proto::get_credential_response::Credential as R;
    fn pw(c: &proto::PasswordCredential) -> proto::PasswordCredential {
        proto::PasswordCredential { username: c.username.clone(), password: String::new() }
    }
    fn cert(c: &proto::CertificateCredential) -> proto::CertificateCredential {
        proto::CertificateCredential { passphrase: String::new(), ..c.clone() }
    }
    c.map(|c| match c {
        C::CertificateCredential(c) => R::CertificateCredential(cert(c)),
        C::PasswordCredential(c) => R::PasswordCredential(pw(c)),
        C::DefaultCredential(c) => R::DefaultCredential(c.clone()),
        C::KeytabCredential(c) => R::KeytabCredential(c.clone()),
        C::CredentialMap(m) => {
            use proto::credential_map::Fallback as Fb;
            use proto::user_credential::Entry as E;
            let entries = m
                .entries
                .iter()
                .map(|(k, v)| {
                    let entry = v.entry.as_ref().map(|e| match e {
                        E::CertificateCredential(c) => E::CertificateCredential(cert(c)),
                        E::PasswordCredential(c) => E::PasswordCredential(pw(c)),
                        other => other.clone(),
                    });
                    (k.clone(), proto::UserCredential { entry })
                })
                .collect();
            let fallback = m.fallback.as_ref().map(|f| match f {
                Fb::CertificateCredential(c) => Fb::CertificateCredential(cert(c)),
                Fb::PasswordCredential(c) => Fb::PasswordCredential(pw(c)),
                other => other.clone(),
            });
            R::CredentialMap(proto::CredentialMap { entries, fallback })
        }
    })
    // Java Xenon opens without a credential as `new DefaultCredential()`, whose user
    // is the server's own, and `getCredential` answers that.
    .or_else(|| {
        let username =
            std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
        Some(R::DefaultCredential(proto::DefaultCredential { username }))
    })
}

impl State {
    /// Opens a scheduler the way Xenon's `Scheduler.create` does.
    pub(crate) async fn create_scheduler(
        &self,
        adaptor: &str,
        location: &str,
        properties: HashMap<String, String>,
        credential: Option<proto::create_scheduler_request::Credential>,
    ) -> Result<Arc<SchedulerEntry>, XenonError> {
        let a = adaptors::scheduler(adaptor)?;
        let params =
            adaptors::location_params(a.name, SCHEDULER_PREFIX, a.properties(), &properties)?;
        let url = locations::scheduler_url(a, location, &params)?;
        let creds = locations::credential_map(a.name, cred_of(credential.as_ref()))?;
        tracing::debug!(adaptor = a.name, %url, "opening scheduler");
        let scheduler =
            open_scheduler(&url, &creds).await.map_err(|e| XenonError::from_hpckit(a.name, &e))?;
        let credential_view = redacted(credential.as_ref());
        Ok(self.schedulers.insert_with(&format!("{}://{}", a.name, location), |id| {
            SchedulerEntry {
                id,
                adaptor: a.name,
                location: location.to_owned(),
                properties,
                credential: credential_view,
                credential_for_reuse: KeptCredential(credential),
                scheduler,
                filesystem: Mutex::new(None),
            }
        }))
    }

    /// Opens a file system the way Xenon's `FileSystem.create` does.
    pub(crate) async fn create_filesystem(
        &self,
        adaptor: &str,
        location: &str,
        properties: HashMap<String, String>,
        credential: Option<proto::create_scheduler_request::Credential>,
    ) -> Result<Arc<FileSystemEntry>, XenonError> {
        let a = adaptors::filesystem(adaptor)?;
        let params =
            adaptors::location_params(a.name, FILESYSTEM_PREFIX, a.properties.iter(), &properties)?;
        let target = locations::filesystem_target(a, location, &params)?;
        let creds = locations::credential_map(a.name, cred_of(credential.as_ref()))?;
        let fail = |e: hpckit::Error| XenonError::from_hpckit(a.name, &e);
        let url = FsUrl::parse(&target.url).map_err(fail)?;
        tracing::debug!(adaptor = a.name, url = %target.url, "opening file system");
        let fs = open_location(&url.location, &creds).await.map_err(fail)?;
        let cwd = match &target.workdir {
            Some(w) => Path::new(w).map_err(fail)?.resolve(&fs.info().working_directory),
            None => fs.info().working_directory.clone(),
        };
        let credential_view = redacted(credential.as_ref());
        Ok(self.filesystems.insert_with(&format!("{}://{}", a.name, location), |id| {
            FileSystemEntry {
                id,
                adaptor: a.name,
                location: location.to_owned(),
                properties,
                credential: credential_view,
                fs,
                cwd: Mutex::new(cwd),
            }
        }))
    }
}

impl State {
    /// The file system of a scheduler's host (`getFileSystem`): `file` for local
    /// schedulers, `sftp` to the same host and credential for SSH ones; opened once.
    pub(crate) async fn filesystem_of(&self, s: &SchedulerEntry) -> Result<String, XenonError> {
        let known = s.filesystem.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(id) = known.filter(|id| self.filesystems.contains(id)) {
            return Ok(id);
        }
        let loc = s.location.trim();
        let remote = match s.adaptor {
            "local" => None,
            "ssh" => Some(loc.strip_prefix("ssh://").unwrap_or(loc)),
            _ => loc.strip_prefix("ssh://"),
        };
        let (adaptor, location) = match remote {
            Some(rest) => ("sftp", rest.split(" via:").next().unwrap_or(rest).to_owned()),
            None => {
                let rest = loc.strip_prefix("local://").unwrap_or(loc);
                ("file", rest.to_owned())
            }
        };
        let cred = s.credential_for_reuse.0.clone();
        let e = self.create_filesystem(adaptor, &location, HashMap::new(), cred).await?;
        *s.filesystem.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.id.clone());
        Ok(e.id.clone())
    }
}
