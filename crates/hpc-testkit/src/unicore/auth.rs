//! Who is calling: HTTP Basic, bearer tokens (configured or issued by
//! `/token`), tokens signed with the user's SSH key (`keys.rs`), security
//! sessions (`432` for an unknown one) and user preferences.

use std::time::Instant;

use base64::Engine as _;
use http::HeaderMap;

use super::http::{ApiError, fail};
use super::state::Server;

/// The caller as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    /// Login name; `None` for anonymous callers.
    pub(crate) user: Option<String>,
    /// Selected remote login.
    pub(crate) uid: String,
    /// Selected primary group.
    pub(crate) group: String,
    /// Selected supplementary groups.
    pub(crate) supgids: Vec<String>,
    /// `user` or `anonymous`.
    pub(crate) role: String,
    /// How the caller authenticated.
    pub(crate) method: &'static str,
}

impl Identity {
    fn anonymous() -> Self {
        Identity {
            user: None,
            uid: "nobody".into(),
            group: "nogroup".into(),
            supgids: Vec::new(),
            role: "anonymous".into(),
            method: "NONE",
        }
    }

    pub(crate) fn dn(&self) -> String {
        match &self.user {
            Some(u) => format!("UID={u},OU=users,O=hpckit test"),
            None => "CN=anonymous".into(),
        }
    }

    /// The user name, or 403 for anonymous callers.
    pub(crate) fn require_user(&self) -> Result<&str, ApiError> {
        self.user.as_deref().ok_or_else(|| {
            fail(403, "Access denied: this resource needs an authenticated user (role 'anonymous')")
        })
    }
}

/// A security session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) identity: Identity,
    pub(crate) expires: Instant,
}

/// Authenticates one request: `(identity, session id to send back)`.
pub(crate) fn authenticate(
    server: &Server,
    headers: &HeaderMap,
) -> Result<(Identity, Option<String>), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(id) = header("x-unicore-securitysession") {
        let mut sessions = server.sessions.lock().unwrap_or_else(|p| p.into_inner());
        return match sessions.get(id) {
            Some(s) if s.expires > Instant::now() => Ok((s.identity.clone(), Some(id.to_owned()))),
            _ => {
                sessions.remove(id);
                Err(fail(
                    432,
                    "Invalid or expired security session, please re-send your credentials",
                ))
            }
        };
    }
    let (user, method) = match header("authorization") {
        None => return Ok((Identity::anonymous(), None)),
        Some(value) => check_credential(server, value)?,
    };
    let config = server.user(&user).ok_or_else(|| fail(403, "Authentication failed"))?;
    let mut identity = Identity {
        user: Some(user.clone()),
        uid: user.clone(),
        group: config.groups.first().cloned().unwrap_or_else(|| user.clone()),
        supgids: Vec::new(),
        role: "user".into(),
        method,
    };
    if let Some(prefs) = header("x-unicore-user-preferences") {
        apply_preferences(&mut identity, config, prefs)?;
    }
    let id = super::http::random_hex(16);
    server.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(
        id.clone(),
        Session {
            identity: identity.clone(),
            expires: Instant::now() + server.config.session_lifetime,
        },
    );
    Ok((identity, Some(id)))
}

/// The user a credential logs in, and how it did.
fn check_credential(server: &Server, value: &str) -> Result<(String, &'static str), ApiError> {
    let denied = || fail(403, "Authentication failed: the credentials were not accepted");
    if let Some(b64) = value.strip_prefix("Basic ") {
        let raw =
            base64::engine::general_purpose::STANDARD.decode(b64.trim()).map_err(|_| denied())?;
        let text = String::from_utf8(raw).map_err(|_| denied())?;
        let (user, password) = text.split_once(':').ok_or_else(denied)?;
        let ok = server.config.users.iter().any(|u| u.name == user && u.password == password);
        return if ok { Ok((user.to_owned(), "PASSWORD")) } else { Err(denied()) };
    }
    if let Some(token) = value.strip_prefix("Bearer ") {
        let token = token.trim();
        if let Some(u) = server.config.users.iter().find(|u| u.tokens.iter().any(|t| t == token)) {
            return Ok((u.name.clone(), "BEARER_TOKEN"));
        }
        if let Some(u) = server.issued_tokens.lock().unwrap_or_else(|p| p.into_inner()).get(token) {
            return Ok((u.clone(), "BEARER_TOKEN"));
        }
        if let Some(user) = super::keys::user_of(&server.config.users, token)? {
            return Ok((user, "SSHKEY"));
        }
        return Err(denied());
    }
    Err(denied())
}

fn apply_preferences(
    identity: &mut Identity,
    config: &super::config::UserConfig,
    text: &str,
) -> Result<(), ApiError> {
    let authz = |m: String| fail(403, format!("Authorization failed: {m}"));
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item
            .split_once(':')
            .ok_or_else(|| authz(format!("malformed user preference {item:?}")))?;
        let value = value.trim();
        match key.trim().to_ascii_lowercase().as_str() {
            "uid" | "xlogin" => {
                if value != config.name && !config.uids.iter().any(|u| u == value) {
                    return Err(authz(format!(
                        "uid {value:?} is not available to {}",
                        config.name
                    )));
                }
                identity.uid = value.to_owned();
            }
            "group" | "pgid" => {
                if !config.groups.iter().any(|g| g == value) {
                    return Err(authz(format!(
                        "group {value:?} is not available to {}",
                        config.name
                    )));
                }
                identity.group = value.to_owned();
            }
            "role" => {
                if value != "user" {
                    return Err(authz(format!(
                        "role {value:?} is not available to {}",
                        config.name
                    )));
                }
            }
            "supgids" | "supplementarygroups" => {
                let groups: Vec<String> = value.split('+').map(str::to_owned).collect();
                if let Some(g) = groups.iter().find(|g| !config.groups.contains(g)) {
                    return Err(authz(format!("group {g:?} is not available to {}", config.name)));
                }
                identity.supgids = groups;
            }
            other => return Err(authz(format!("unknown user preference {other:?}"))),
        }
    }
    Ok(())
}
