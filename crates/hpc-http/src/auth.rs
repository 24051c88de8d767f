//! `Authorization` headers from [`hpc_auth::Credential`].

use base64::Engine as _;
use hpc_auth::{Credential, HTTP_CREDENTIAL_KINDS, OidcToken, Secret};
use hpc_core::{Error, Result};
use http::HeaderValue;

/// How requests are authenticated.
#[derive(Clone, Debug)]
pub(crate) enum Auth {
    None,
    Basic { username: String, password: Secret },
    Bearer(Secret),
    Oidc(OidcToken),
}

impl Auth {
    /// Basic for user/password credentials, bearer for tokens, nothing for
    /// anonymous and default. SSH-only credentials are refused.
    pub(crate) fn from_credential(cred: &Credential) -> Result<Auth> {
        Ok(match cred {
            Credential::Anonymous | Credential::Default { .. } => Auth::None,
            Credential::Basic { username, password }
            | Credential::Password { username, password } => {
                Auth::Basic { username: username.clone(), password: password.clone() }
            }
            Credential::Bearer(token) => Auth::Bearer(token.clone()),
            Credential::Oidc(token) => Auth::Oidc(token.clone()),
            other => {
                return Err(Error::InvalidInput(format!(
                    "a {} credential cannot authenticate HTTP requests (they take {})",
                    other.kind(),
                    HTTP_CREDENTIAL_KINDS
                )));
            }
        })
    }

    /// The login name, for error messages.
    pub(crate) fn user(&self) -> &str {
        match self {
            Auth::Basic { username, .. } => username,
            Auth::None => "anonymous",
            Auth::Bearer(_) | Auth::Oidc(_) => "token",
        }
    }

    pub(crate) fn is_oidc(&self) -> bool {
        matches!(self, Auth::Oidc(_))
    }

    /// The header value (marked sensitive so hyper never logs it).
    pub(crate) async fn header(&self) -> Result<Option<HeaderValue>> {
        let text = match self {
            Auth::None => return Ok(None),
            Auth::Basic { username, password } => {
                let raw = format!("{username}:{}", password.expose());
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
            }
            Auth::Bearer(token) => format!("Bearer {}", token.expose()),
            Auth::Oidc(token) => {
                let t = token.access_token().await.map_err(refresh_error)?;
                format!("Bearer {}", t.expose())
            }
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            Error::InvalidInput(
                "credential contains characters not allowed in an HTTP header".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// Renew an OIDC token after the server rejected it.
    pub(crate) async fn refresh(&self) -> Result<()> {
        if let Auth::Oidc(token) = self {
            token.refresh().await.map_err(refresh_error)?;
        }
        Ok(())
    }
}

fn refresh_error(reason: String) -> Error {
    Error::Authentication {
        user: "token".into(),
        host: "token endpoint".into(),
        reason: format!("refreshing the OIDC token failed: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn basic_header_is_sensitive_and_correct() {
        let auth = Auth::from_credential(&Credential::password("Aladdin", "open sesame")).unwrap();
        let h = auth.header().await.unwrap().unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(!format!("{auth:?}").contains("sesame"));
    }

    /// What `HTTP_CREDENTIAL_KINDS` says is what the code takes.
    #[test]
    fn the_declared_kinds_are_the_accepted_ones() {
        for kind in hpc_auth::CredentialKind::ALL {
            let taken = Auth::from_credential(&Credential::example(kind)).is_ok();
            assert_eq!(taken, HTTP_CREDENTIAL_KINDS.contains(kind), "{kind}");
        }
    }

    #[tokio::test]
    async fn ssh_credentials_are_refused() {
        let e = Auth::from_credential(&Credential::key_file("u", "/k", None)).unwrap_err();
        assert!(e.to_string().contains("key-file credential cannot"), "{e}");
        assert!(
            Auth::from_credential(&Credential::Anonymous)
                .unwrap()
                .header()
                .await
                .unwrap()
                .is_none()
        );
    }
}
