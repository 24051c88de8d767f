//! The kinds of credentials, and sets of them: what an adaptor accepts.
//!
//! The credentials themselves, with their secrets, live in `hpc-auth`; this
//! is only their vocabulary, so that capabilities (which every adaptor
//! declares here) can say which kinds an adaptor logs in with.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::error::{Error, Result};

/// How a credential logs in, without its data (`hpc_auth::Credential::kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CredentialKind {
    /// Whatever the environment offers (ssh config, agent, key files; AWS
    /// variables; anonymous for HTTP).
    Default,
    /// User name and password.
    Password,
    /// An SSH private key file.
    KeyFile,
    /// The keys of the running ssh-agent.
    Agent,
    /// An SSH certificate with its private key.
    Certificate,
    /// Keyboard-interactive prompts answered by a responder (MFA).
    KeyboardInteractive,
    /// An HTTP bearer token.
    Bearer,
    /// An OIDC access token that renews itself.
    Oidc,
    /// HTTP basic authentication.
    Basic,
    /// No authentication.
    Anonymous,
}

impl CredentialKind {
    /// Every kind, in the order tables list them.
    pub const ALL: [CredentialKind; 10] = [
        CredentialKind::Default,
        CredentialKind::Password,
        CredentialKind::KeyFile,
        CredentialKind::Agent,
        CredentialKind::Certificate,
        CredentialKind::KeyboardInteractive,
        CredentialKind::Bearer,
        CredentialKind::Oidc,
        CredentialKind::Basic,
        CredentialKind::Anonymous,
    ];

    /// The kind's name in tables and messages (`key-file`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            CredentialKind::Default => "default",
            CredentialKind::Password => "password",
            CredentialKind::KeyFile => "key-file",
            CredentialKind::Agent => "agent",
            CredentialKind::Certificate => "certificate",
            CredentialKind::KeyboardInteractive => "keyboard-interactive",
            CredentialKind::Bearer => "bearer",
            CredentialKind::Oidc => "oidc",
            CredentialKind::Basic => "basic",
            CredentialKind::Anonymous => "anonymous",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CredentialKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        CredentialKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            Error::InvalidInput(format!(
                "credential kind {s:?} is not one of {}",
                CredentialKinds::of(&CredentialKind::ALL)
            ))
        })
    }
}

impl Serialize for CredentialKind {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A set of [`CredentialKind`]s: what an adaptor accepts. Iterates and
/// prints in the order of [`CredentialKind::ALL`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CredentialKinds(u16);

impl CredentialKinds {
    /// The empty set.
    pub const NONE: CredentialKinds = CredentialKinds(0);

    /// The set of `kinds`.
    pub const fn of(kinds: &[CredentialKind]) -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < kinds.len() {
            bits |= kinds[i].bit();
            i += 1;
        }
        CredentialKinds(bits)
    }

    /// This set and `kind`.
    pub const fn with(self, kind: CredentialKind) -> Self {
        CredentialKinds(self.0 | kind.bit())
    }

    /// This set without `kind`.
    pub const fn without(self, kind: CredentialKind) -> Self {
        CredentialKinds(self.0 & !kind.bit())
    }

    /// Whether `kind` is in the set.
    pub const fn contains(self, kind: CredentialKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set.
    pub fn iter(self) -> impl Iterator<Item = CredentialKind> {
        CredentialKind::ALL.into_iter().filter(move |k| self.contains(*k))
    }

    /// `Ok` when `adaptor` accepts `kind`; else bad input that names what
    /// it accepts.
    pub fn require(self, kind: CredentialKind, adaptor: &str) -> Result<()> {
        if self.contains(kind) {
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "the {adaptor} adaptor does not take a {kind} credential (it takes {self})"
        )))
    }
}

impl FromIterator<CredentialKind> for CredentialKinds {
    fn from_iter<I: IntoIterator<Item = CredentialKind>>(iter: I) -> Self {
        iter.into_iter().fold(CredentialKinds::NONE, CredentialKinds::with)
    }
}

impl fmt::Display for CredentialKinds {
    /// The names joined by `, `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, kind) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

impl fmt::Debug for CredentialKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for CredentialKinds {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_are_distinct() {
        for kind in CredentialKind::ALL {
            assert_eq!(kind.name().parse::<CredentialKind>().unwrap(), kind);
        }
        let all = CredentialKinds::of(&CredentialKind::ALL);
        assert_eq!(all.iter().count(), CredentialKind::ALL.len());
        let e = "token".parse::<CredentialKind>().unwrap_err().to_string();
        assert!(e.contains("\"token\" is not one of default, password, key-file"), "{e}");
    }

    #[test]
    fn sets_keep_table_order_and_say_what_they_take() {
        use CredentialKind::*;
        let set = CredentialKinds::of(&[Anonymous, Password, Default]);
        assert_eq!(set.to_string(), "default, password, anonymous");
        assert_eq!(format!("{set:?}"), "{Default, Password, Anonymous}");
        assert!(set.contains(Password) && !set.contains(Bearer));
        assert_eq!(set.without(Password).with(Basic).to_string(), "default, basic, anonymous");
        assert_eq!(
            [Basic, Oidc].into_iter().collect::<CredentialKinds>().to_string(),
            "oidc, basic"
        );
        assert!(CredentialKinds::NONE.is_empty() && CredentialKinds::NONE.to_string().is_empty());
        assert!(set.require(Default, "ftp").is_ok());
        let e = set.require(KeyFile, "ftp").unwrap_err();
        assert!(matches!(e, Error::InvalidInput(_)), "{e}");
        assert_eq!(
            e.to_string(),
            "invalid input: the ftp adaptor does not take a key-file credential (it takes \
             default, password, anonymous)"
        );
    }
}
