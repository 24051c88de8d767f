//! Credentials for UNICORE, as [`hpc_auth::Credential`] values that the
//! transport turns into `Authorization` headers:
//!
//! | PyUNICORE | here |
//! |---|---|
//! | `Anonymous` | [`anonymous`] |
//! | `UsernamePassword` | [`username_password`] |
//! | `BearerToken` | [`bearer`] |
//! | `OIDCToken(token, refresh_handler)` | [`oidc_token`] (refreshed before expiry and once after a 401) |
//! | `OIDCAgentToken` | [`oidc_agent`] |
//! | `OIDCServerToken` | [`oidc_server`] with [`OidcServerConfig`] |
//! | `JWTToken` / `create_credential(identity=...)` | [`jwt_from_key`] (feature `jwt`) |
//! | `create_credential` | [`create_credential`] |
//!
//! Every token is a [`Secret`]: it never shows in `Debug`, logs or errors.

#[cfg(feature = "jwt")]
mod jwt;
mod oidc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hpc_auth::{Credential, OidcToken, RefreshFn, Secret};
use hpc_core::{Error, Result};

#[cfg(feature = "jwt")]
pub use jwt::{JwtSigner, KeyAlgorithm};
pub use oidc::{OidcServerConfig, oidc_agent, oidc_agent_at, oidc_server};

/// No credential: the server gives the `anonymous` role.
pub fn anonymous() -> Credential {
    Credential::Anonymous
}

/// HTTP Basic with a user name and password.
pub fn username_password(username: impl Into<String>, password: impl Into<Secret>) -> Credential {
    Credential::password(username, password)
}

/// `Authorization: Bearer <token>`, a fixed token.
pub fn bearer(token: impl Into<Secret>) -> Credential {
    Credential::Bearer(token.into())
}

/// Fetches a fresh access token and its lifetime, if known.
pub type RefreshHook = Arc<
    dyn Fn() -> BoxFuture<'static, std::result::Result<(Secret, Option<Duration>), String>>
        + Send
        + Sync,
>;

/// An OIDC access token with a refresh hook. The hook runs when less than 30 s
/// of `lifetime` remain, and once more when the server answers 401; if the
/// renewed token is refused too, the request fails with an authentication
/// error (no loop).
pub fn oidc_token(
    token: impl Into<Secret>,
    lifetime: Option<Duration>,
    refresh: RefreshHook,
) -> Credential {
    let refresh: RefreshFn = refresh;
    Credential::Oidc(OidcToken::new(token.into(), lifetime, refresh))
}

/// A credential whose first token comes from `refresh` (nothing is fetched
/// before the first request).
pub(crate) fn lazy_token(refresh: RefreshFn) -> Credential {
    // An already expired placeholder: the first request refreshes it.
    Credential::Oidc(OidcToken::new(Secret::new(""), Some(Duration::ZERO), refresh))
}

/// PyUNICORE's `create_credential`: a token wins (bearer); else a key file
/// (`identity`) gives a key-signed JWT for `username` (the password is the
/// key's passphrase); else user name and password.
///
/// `identity` is absolute, `~name` (`$HOME/name`), or a name under `$HOME/.uftp/`.
pub fn create_credential(
    username: Option<&str>,
    password: Option<Secret>,
    token: Option<Secret>,
    identity: Option<&Path>,
) -> Result<Credential> {
    if let Some(t) = token {
        return Ok(bearer(t));
    }
    let Some(identity) = identity else {
        let user = username.ok_or_else(|| {
            Error::InvalidInput("not enough to build a credential: give a token, or a user name with a password or key".into())
        })?;
        return Ok(username_password(user, password.unwrap_or_else(|| Secret::new(""))));
    };
    let user = username
        .ok_or_else(|| Error::InvalidInput("a key-signed token needs a user name".into()))?;
    #[cfg(feature = "jwt")]
    {
        let path = identity_path(identity);
        let signer = JwtSigner::from_key_file(user, &path, password.as_ref())?;
        Ok(jwt_from_key(signer))
    }
    #[cfg(not(feature = "jwt"))]
    {
        let _ = (user, password);
        Err(Error::unsupported(
            "unicore",
            format!(
                "key-signed tokens ({}): build unicore-rest with the `jwt` feature",
                identity.display()
            ),
        ))
    }
}

/// Where PyUNICORE looks for a key named `identity`.
pub fn identity_path(identity: &Path) -> PathBuf {
    if identity.is_absolute() {
        return identity.to_owned();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let text = identity.to_string_lossy();
    match text.strip_prefix('~') {
        Some(rest) => home.join(rest.trim_start_matches('/')),
        None => home.join(".uftp").join(identity),
    }
}

/// A credential that signs a fresh JWT with `signer` whenever the previous
/// one is about to expire.
#[cfg(feature = "jwt")]
pub fn jwt_from_key(signer: JwtSigner) -> Credential {
    let signer = Arc::new(signer);
    let lifetime = signer.lifetime();
    let refresh: RefreshFn = Arc::new(move || {
        let signer = signer.clone();
        Box::pin(
            async move { signer.sign().map(|t| (t, Some(lifetime))).map_err(|e| e.to_string()) },
        )
    });
    lazy_token(refresh)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_paths_follow_pyunicore() {
        let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
        assert_eq!(identity_path(Path::new("/k/id")), PathBuf::from("/k/id"));
        assert_eq!(identity_path(Path::new("~/.ssh/id")), home.join(".ssh/id"));
        assert_eq!(identity_path(Path::new("id_ed")), home.join(".uftp/id_ed"));
    }

    #[test]
    fn create_credential_picks_like_pyunicore() {
        let c =
            create_credential(Some("u"), Some(Secret::new("pw")), Some(Secret::new("tok")), None)
                .unwrap();
        assert_eq!(c.kind(), hpc_core::CredentialKind::Bearer);
        let c = create_credential(Some("u"), Some(Secret::new("pw")), None, None).unwrap();
        assert_eq!(c.kind(), hpc_core::CredentialKind::Password);
        assert!(create_credential(None, None, None, None).is_err());
        assert!(!format!("{c:?}").contains("pw"));
    }
}
