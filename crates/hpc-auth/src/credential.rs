//! [`Credential`] and [`CredentialMap`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use hpc_core::{CredentialKind, CredentialKinds};
use tokio::sync::Mutex;

use crate::secret::Secret;

/// Answers keyboard-interactive prompts (one-time codes, MFA).
///
/// Called once per connection: an SSH connection is authenticated once and
/// then carries every command, so the user types the code once.
pub trait PromptResponder: Send + Sync {
    /// Answer `prompts` (text, whether the answer may be echoed). Return one
    /// answer per prompt, or `None` to give up.
    fn respond(
        &self,
        name: &str,
        instructions: &str,
        prompts: &[(String, bool)],
    ) -> Option<Vec<Secret>>;
}

/// Answers prompts from a fixed list, in order (tests, scripted MFA).
#[derive(Clone)]
pub struct StaticResponder {
    answers: Vec<Secret>,
}

impl StaticResponder {
    /// Answer the n-th prompt of each round with the n-th answer.
    pub fn new(answers: Vec<Secret>) -> Self {
        StaticResponder { answers }
    }
}

impl PromptResponder for StaticResponder {
    fn respond(
        &self,
        _name: &str,
        _instructions: &str,
        prompts: &[(String, bool)],
    ) -> Option<Vec<Secret>> {
        (prompts.len() <= self.answers.len()).then(|| self.answers[..prompts.len()].to_vec())
    }
}

/// Fetches a fresh access token (OIDC refresh).
pub type RefreshFn =
    Arc<dyn Fn() -> BoxFuture<'static, Result<(Secret, Option<Duration>), String>> + Send + Sync>;

/// An OIDC access token that renews itself through a callback.
#[derive(Clone)]
pub struct OidcToken {
    state: Arc<Mutex<(Secret, Option<SystemTime>)>>,
    refresh: RefreshFn,
    margin: Duration,
}

impl OidcToken {
    /// A token valid for `lifetime` (unknown: `None`), renewed by `refresh`
    /// when less than 30 s of it remain.
    pub fn new(token: Secret, lifetime: Option<Duration>, refresh: RefreshFn) -> Self {
        let expiry = lifetime.map(|l| SystemTime::now() + l);
        OidcToken {
            state: Arc::new(Mutex::new((token, expiry))),
            refresh,
            margin: Duration::from_secs(30),
        }
    }

    /// The current token, refreshed first if it is about to expire.
    pub async fn access_token(&self) -> Result<Secret, String> {
        let mut state = self.state.lock().await;
        let stale = state.1.is_some_and(|exp| SystemTime::now() + self.margin >= exp);
        if stale {
            let (token, lifetime) = (self.refresh)().await?;
            *state = (token, lifetime.map(|l| SystemTime::now() + l));
        }
        Ok(state.0.clone())
    }

    /// Force a refresh (after the server rejected the token).
    pub async fn refresh(&self) -> Result<Secret, String> {
        let (token, lifetime) = (self.refresh)().await?;
        let mut state = self.state.lock().await;
        *state = (token.clone(), lifetime.map(|l| SystemTime::now() + l));
        Ok(token)
    }
}

impl fmt::Debug for OidcToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OidcToken(***)")
    }
}

/// What an SSH login takes (`hpc_exec`'s SSH executor): everything but
/// the HTTP tokens. Every adaptor that runs over SSH lists these in its
/// capabilities. `basic` logs in as `password` does; `anonymous` is the
/// `none` method.
pub const SSH_CREDENTIAL_KINDS: CredentialKinds = CredentialKinds::of(&CredentialKind::ALL)
    .without(CredentialKind::Bearer)
    .without(CredentialKind::Oidc);

/// What an HTTP request takes (`hpc_http`): user and password as basic
/// authentication, tokens as bearer, nothing for default and anonymous.
pub const HTTP_CREDENTIAL_KINDS: CredentialKinds = CredentialKinds::of(&[
    CredentialKind::Default,
    CredentialKind::Password,
    CredentialKind::Bearer,
    CredentialKind::Oidc,
    CredentialKind::Basic,
    CredentialKind::Anonymous,
]);

/// What adaptors that work on this host as the current user take.
pub const LOCAL_CREDENTIAL_KINDS: CredentialKinds = CredentialKinds::of(&[CredentialKind::Default]);

/// How to log in.
#[derive(Clone)]
#[non_exhaustive]
pub enum Credential {
    /// Whatever the environment offers: the ssh config file's identities,
    /// the ssh-agent, `~/.ssh/id_*`; anonymous for HTTP.
    Default {
        /// Login name (none: from ssh config, else the local user).
        username: Option<String>,
    },
    /// User name and password (SSH password and keyboard-interactive, FTP, WebDAV, S3 key pair).
    Password {
        /// Login name (S3: access key id).
        username: String,
        /// Password (S3: secret access key).
        password: Secret,
    },
    /// An SSH private key file (OpenSSH or PEM format).
    KeyFile {
        /// Login name.
        username: String,
        /// Path of the private key.
        path: PathBuf,
        /// Passphrase of an encrypted key.
        passphrase: Option<Secret>,
    },
    /// Keys held by the running ssh-agent (`SSH_AUTH_SOCK`).
    Agent {
        /// Login name.
        username: String,
    },
    /// An SSH certificate with its private key.
    Certificate {
        /// Login name.
        username: String,
        /// Path of the private key.
        key: PathBuf,
        /// Path of the certificate (`*-cert.pub`).
        certificate: PathBuf,
        /// Passphrase of an encrypted key.
        passphrase: Option<Secret>,
    },
    /// Keyboard-interactive login answered by a responder (MFA, one-time codes).
    KeyboardInteractive {
        /// Login name.
        username: String,
        /// Who answers the prompts.
        responder: Arc<dyn PromptResponder>,
    },
    /// An HTTP bearer token.
    Bearer(Secret),
    /// An OIDC access token with refresh.
    Oidc(OidcToken),
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// No authentication at all.
    Anonymous,
}

impl Credential {
    /// [`Credential::Default`].
    pub fn default_for(username: Option<&str>) -> Self {
        Credential::Default { username: username.map(str::to_owned) }
    }

    /// [`Credential::Password`].
    pub fn password(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Credential::Password { username: username.into(), password: password.into() }
    }

    /// [`Credential::KeyFile`].
    pub fn key_file(
        username: impl Into<String>,
        path: impl Into<PathBuf>,
        passphrase: Option<Secret>,
    ) -> Self {
        Credential::KeyFile { username: username.into(), path: path.into(), passphrase }
    }

    /// The login name, where the credential has one.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credential::Default { username } => username.as_deref(),
            Credential::Password { username, .. }
            | Credential::KeyFile { username, .. }
            | Credential::Agent { username }
            | Credential::Certificate { username, .. }
            | Credential::KeyboardInteractive { username, .. }
            | Credential::Basic { username, .. } => Some(username),
            Credential::Bearer(_) | Credential::Oidc(_) | Credential::Anonymous => None,
        }
    }

    /// A credential of `kind` with placeholder values (user `user`,
    /// secrets `placeholder`, key paths that do not exist, a token that
    /// cannot refresh; `default` without a user name): for tests that go
    /// through every kind, such as checks of what an adaptor takes.
    pub fn example(kind: CredentialKind) -> Credential {
        let user = || "user".to_owned();
        let secret = || Secret::new("placeholder");
        match kind {
            CredentialKind::Default => Credential::default_for(None),
            CredentialKind::Password => Credential::password(user(), secret()),
            CredentialKind::KeyFile => {
                Credential::key_file(user(), "/nonexistent/id_ed25519", None)
            }
            CredentialKind::Agent => Credential::Agent { username: user() },
            CredentialKind::Certificate => Credential::Certificate {
                username: user(),
                key: "/nonexistent/id_ed25519".into(),
                certificate: "/nonexistent/id_ed25519-cert.pub".into(),
                passphrase: None,
            },
            CredentialKind::KeyboardInteractive => Credential::KeyboardInteractive {
                username: user(),
                responder: Arc::new(StaticResponder::new(vec![secret()])),
            },
            CredentialKind::Bearer => Credential::Bearer(secret()),
            CredentialKind::Oidc => Credential::Oidc(OidcToken::new(
                secret(),
                None,
                Arc::new(|| Box::pin(async { Err("a placeholder token cannot refresh".into()) })),
            )),
            CredentialKind::Basic => Credential::Basic { username: user(), password: secret() },
            CredentialKind::Anonymous => Credential::Anonymous,
            // A kind added to hpc-core before it is added here.
            _ => Credential::Anonymous,
        }
    }

    /// How this credential logs in, as capability tables list it.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Credential::Default { .. } => CredentialKind::Default,
            Credential::Password { .. } => CredentialKind::Password,
            Credential::KeyFile { .. } => CredentialKind::KeyFile,
            Credential::Agent { .. } => CredentialKind::Agent,
            Credential::Certificate { .. } => CredentialKind::Certificate,
            Credential::KeyboardInteractive { .. } => CredentialKind::KeyboardInteractive,
            Credential::Bearer(_) => CredentialKind::Bearer,
            Credential::Oidc(_) => CredentialKind::Oidc,
            Credential::Basic { .. } => CredentialKind::Basic,
            Credential::Anonymous => CredentialKind::Anonymous,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Credential");
        d.field("kind", &self.kind().name());
        if let Some(u) = self.username() {
            d.field("username", &u);
        }
        match self {
            Credential::KeyFile { path, passphrase, .. } => {
                d.field("path", path).field("passphrase", &passphrase.as_ref().map(|_| "***"));
            }
            Credential::Certificate { key, certificate, .. } => {
                d.field("key", key).field("certificate", certificate);
            }
            _ => {}
        }
        d.finish_non_exhaustive()
    }
}

/// Credentials per host, with a default for the rest.
#[derive(Clone, Default)]
pub struct CredentialMap {
    hosts: BTreeMap<String, Credential>,
    default: Option<Credential>,
}

impl CredentialMap {
    /// An empty map (every host gets `None`).
    pub fn new() -> Self {
        CredentialMap::default()
    }

    /// A map whose fallback is `default`.
    pub fn with_default(default: Credential) -> Self {
        CredentialMap { hosts: BTreeMap::new(), default: Some(default) }
    }

    /// Use `cred` for `host` (a host name, or `host:port` to tell ports apart).
    pub fn insert(&mut self, host: impl Into<String>, cred: Credential) {
        self.hosts.insert(host.into().to_ascii_lowercase(), cred);
    }

    /// The credential for `host` (`host:port` first, then `host`, then the default).
    pub fn get(&self, host: &str) -> Option<&Credential> {
        let host = host.to_ascii_lowercase();
        self.hosts
            .get(&host)
            .or_else(|| host.rsplit_once(':').and_then(|(h, _)| self.hosts.get(h)))
            .or(self.default.as_ref())
    }
}

impl fmt::Debug for CredentialMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialMap")
            .field("hosts", &self.hosts)
            .field("default", &self.default)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let creds = [
            Credential::password("alice", "pw-one"),
            Credential::key_file("alice", "/k", Some(Secret::new("pw-two"))),
            Credential::Basic { username: "u".into(), password: Secret::new("pw-three") },
            Credential::Bearer(Secret::new("pw-four")),
            Credential::KeyboardInteractive {
                username: "u".into(),
                responder: Arc::new(StaticResponder::new(vec![Secret::new("pw-five")])),
            },
        ];
        let mut map = CredentialMap::with_default(Credential::Anonymous);
        for (i, c) in creds.iter().enumerate() {
            map.insert(format!("h{i}"), c.clone());
            let text = format!("{c:?} {c:#?}");
            assert!(!text.contains("pw-"), "{text}");
        }
        assert!(!format!("{map:?}").contains("pw-"));
    }

    #[test]
    fn kind_names_are_one_vocabulary() {
        let every = [
            Credential::default_for(None),
            Credential::password("u", "p"),
            Credential::key_file("u", "/k", None),
            Credential::Agent { username: "u".into() },
            Credential::Certificate {
                username: "u".into(),
                key: "/k".into(),
                certificate: "/c".into(),
                passphrase: None,
            },
            Credential::KeyboardInteractive {
                username: "u".into(),
                responder: Arc::new(StaticResponder::new(vec![])),
            },
            Credential::Bearer(Secret::new("t")),
            Credential::Oidc(OidcToken::new(
                Secret::new("t"),
                None,
                Arc::new(|| Box::pin(async { Err("x".into()) })),
            )),
            Credential::Basic { username: "u".into(), password: Secret::new("p") },
            Credential::Anonymous,
        ];
        let kinds: Vec<CredentialKind> = every.iter().map(Credential::kind).collect();
        assert_eq!(kinds, CredentialKind::ALL);
        for kind in CredentialKind::ALL {
            assert_eq!(Credential::example(kind).kind(), kind);
        }
        assert!(LOCAL_CREDENTIAL_KINDS.iter().all(|k| SSH_CREDENTIAL_KINDS.contains(k)));
        assert!(!SSH_CREDENTIAL_KINDS.contains(CredentialKind::Bearer));
        assert!(!HTTP_CREDENTIAL_KINDS.contains(CredentialKind::KeyFile));
    }

    #[test]
    fn map_lookup_order() {
        let mut map = CredentialMap::with_default(Credential::Anonymous);
        map.insert("Host", Credential::password("a", "x"));
        map.insert("host:2222", Credential::password("b", "y"));
        assert_eq!(map.get("host:2222").unwrap().username(), Some("b"));
        assert_eq!(map.get("HOST:22").unwrap().username(), Some("a"));
        assert_eq!(map.get("other").unwrap().kind(), CredentialKind::Anonymous);
        assert!(CredentialMap::new().get("x").is_none());
    }

    #[test]
    fn static_responder() {
        let r = StaticResponder::new(vec![Secret::new("123456")]);
        let answer = r.respond("", "", &[("Code: ".into(), false)]).unwrap();
        assert_eq!(answer[0].expose(), "123456");
        assert!(r.respond("", "", &[("a".into(), false), ("b".into(), false)]).is_none());
    }

    #[tokio::test]
    async fn oidc_refreshes_when_stale() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c2 = calls.clone();
        let refresh: RefreshFn = Arc::new(move || {
            let n = c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(
                async move { Ok((Secret::new(format!("t{n}")), Some(Duration::from_secs(3600)))) },
            )
        });
        let tok = OidcToken::new(Secret::new("old"), Some(Duration::from_secs(5)), refresh);
        assert_eq!(tok.access_token().await.unwrap().expose(), "t0");
        assert_eq!(tok.access_token().await.unwrap().expose(), "t0");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(format!("{tok:?}"), "OidcToken(***)");
    }
}
