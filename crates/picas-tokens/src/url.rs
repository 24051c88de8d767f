//! [`DbUrl`]: where a token pool lives, `http[s]://[user[:password]@]host[:port][/prefix]/db`.
//!
//! The password may come inside the URL (as picas' `PICAS_HOST_URL` allows) or
//! separately; either way it is kept as a [`Secret`] and shown nowhere: not by
//! `Debug`, not by `Display`, not in any error (a URL that does not parse is
//! quoted with its user info cut out).

use std::fmt;
use std::str::FromStr;

use hpc_auth::{Credential, Secret};
use hpc_core::{Error, Result};

/// A CouchDB database URL with optional credentials.
#[derive(Clone)]
pub struct DbUrl {
    /// `scheme://host[:port][/prefix]`, no user info, no trailing slash.
    server: String,
    db: String,
    user: Option<String>,
    password: Option<Secret>,
}

impl DbUrl {
    /// Parse `http[s]://[user[:password]@]host[:port][/prefix]/db`. The last path
    /// segment is the database; user and password are percent-decoded.
    pub fn parse(text: &str) -> Result<DbUrl> {
        let bad = |reason: &str| Error::InvalidLocation {
            location: redacted(text),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = text
            .split_once("://")
            .filter(|(s, _)| matches!(s.to_ascii_lowercase().as_str(), "http" | "https"))
            .ok_or_else(|| bad("a CouchDB database URL starts with http:// or https://"))?;
        if rest.contains(['?', '#']) {
            return Err(bad("query strings and fragments are not allowed"));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (u, p) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info, None),
                };
                let user = hpc_http::url::decode(u).map_err(|_| bad("user name is not UTF-8"))?;
                if user.is_empty() {
                    return Err(bad("empty user name before '@'"));
                }
                let password = p
                    .map(|p| hpc_http::url::decode(p).map(Secret::new))
                    .transpose()
                    .map_err(|_| bad("password is not valid percent-encoded UTF-8"))?;
                (Some(user), password)
            }
        };
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let Some((db, prefix)) = segments.split_last() else {
            return Err(bad("no database name: put it last in the path (http://host:5984/mydb)"));
        };
        let db = hpc_http::url::decode(db).map_err(|_| bad("database name is not UTF-8"))?;
        check_db_name(&db).map_err(|reason| bad(&reason))?;
        let mut server = format!("{}://{host}", scheme.to_ascii_lowercase());
        for p in prefix {
            server.push('/');
            server.push_str(p);
        }
        Ok(DbUrl { server, db, user, password })
    }

    /// The same database with this login (replacing any from the URL).
    pub fn with_login(mut self, user: impl Into<String>, password: impl Into<Secret>) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// The same database with this password for the URL's user.
    pub fn with_password(mut self, password: impl Into<Secret>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The same server, another database.
    pub fn with_db(&self, db: &str) -> Result<DbUrl> {
        check_db_name(db)
            .map_err(|reason| Error::InvalidLocation { location: db.to_owned(), reason })?;
        Ok(DbUrl { db: db.to_owned(), ..self.clone() })
    }

    /// `scheme://host[:port][/prefix]`, without user info.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The database name.
    pub fn db(&self) -> &str {
        &self.db
    }

    /// The user name, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether a password is known.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The password, for handing on to a worker (never print it).
    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// HTTP Basic credentials, or anonymous. A user without a password gets
    /// an empty one (CouchDB answers 401, which names the user).
    pub fn credential(&self) -> Credential {
        match &self.user {
            Some(user) => Credential::Basic {
                username: user.clone(),
                password: self.password.clone().unwrap_or_else(|| Secret::new("")),
            },
            None => Credential::Anonymous,
        }
    }

    /// The URL of the database itself (`server/db`, db percent-encoded).
    pub fn db_endpoint(&self) -> String {
        format!("{}/{}", self.server, hpc_http::url::encode_segment(&self.db))
    }

    /// The URL as text without the password (user kept): safe to print and
    /// to hand to another process together with the password separately.
    pub fn without_password(&self) -> String {
        let (scheme, host) = self.server.split_once("://").unwrap_or(("http", &self.server));
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{}@", hpc_http::url::encode_segment(u)))
            .unwrap_or_default();
        format!("{scheme}://{user}{host}/{}", hpc_http::url::encode_segment(&self.db))
    }
}

/// CouchDB's rule for database names: a lower-case letter first, then lower-case
/// letters, digits and `_$()+-/`.
fn check_db_name(db: &str) -> std::result::Result<(), String> {
    let mut chars = db.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_$()+-/".contains(c));
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(format!(
            "database name {db:?} is not valid (a lower-case letter, then a-z 0-9 _$()+-/)"
        ))
    }
}

/// `text` with any user info (and so any password) removed, for messages.
fn redacted(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return match text.rsplit_once('@') {
            Some((_, after)) => format!("<user info hidden>@{after}"),
            None => text.to_owned(),
        };
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://<user info hidden>@{host}{}", &rest[end..]),
        None => text.to_owned(),
    }
}

impl FromStr for DbUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        DbUrl::parse(s)
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.without_password())
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbUrl")
            .field("server", &self.server)
            .field("db", &self.db)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_credentials_and_keeps_the_password_out_of_sight() {
        let u = DbUrl::parse("https://alice:s%40cret@couch.example.org:6984/picas").unwrap();
        assert_eq!(u.server(), "https://couch.example.org:6984");
        assert_eq!(u.db(), "picas");
        assert_eq!(u.user(), Some("alice"));
        assert_eq!(u.password().unwrap().expose(), "s@cret");
        assert_eq!(u.to_string(), "https://alice@couch.example.org:6984/picas");
        assert!(!format!("{u:?}").contains("cret"));
        assert_eq!(u.db_endpoint(), "https://couch.example.org:6984/picas");
        let u = DbUrl::parse("http://h/couch/prefix/db1/").unwrap();
        assert_eq!((u.server(), u.db()), ("http://h/couch/prefix", "db1"));
        assert!(matches!(u.credential(), Credential::Anonymous));
    }

    #[test]
    fn bad_urls_never_show_the_password() {
        for text in [
            "ftp://bob:hunter2@h/db",
            "http://bob:hunter2@h/",
            "http://bob:hunter2@h/Bad",
            "http://bob:hunter2@h/db?x=1",
            "bob:hunter2@h/db",
        ] {
            let e = DbUrl::parse(text).unwrap_err();
            assert!(!e.to_string().contains("hunter2"), "{e}");
            assert!(matches!(e, Error::InvalidLocation { .. }), "{e}");
        }
        assert!(DbUrl::parse("http://h:5984/db").unwrap().with_db("x y").is_err());
    }
}
