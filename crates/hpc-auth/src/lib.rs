//! Credentials for hpckit.
//!
//! A [`Credential`] says how to log in; a [`CredentialMap`] picks one per host.
//! Every secret is a [`Secret`]: it never appears in `Debug` or `Display`
//! output (so not in logs or error messages either), and its memory is zeroed
//! when it is dropped.
#![deny(missing_docs)]

mod credential;
mod secret;

pub use credential::{
    Credential, CredentialMap, HTTP_CREDENTIAL_KINDS, LOCAL_CREDENTIAL_KINDS, OidcToken,
    PromptResponder, RefreshFn, SSH_CREDENTIAL_KINDS, StaticResponder,
};
/// The kinds of credentials (hpc-core's vocabulary, so capabilities can name them).
pub use hpc_core::{CredentialKind, CredentialKinds};
pub use secret::Secret;

/// The README's examples, compiled and run as doc tests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
