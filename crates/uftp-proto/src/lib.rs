#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod auth;
mod codec;
mod crypto;
mod data;
mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod local;
pub mod parse;
mod pump;
mod reply;
mod session;
pub mod transfer;

pub use auth::{AuthRequest, AuthServer, Grant, split_auth_url};
pub use crypto::{Algorithm, EncryptionKey};
pub use data::{Coding, Inbound, Outbound};
pub use parse::RemoteEntry;
pub use reply::Reply;
pub use session::{FEAT_MULTI_STREAM_CRYPT, Session, TransferOptions, WriteMode};
#[cfg(feature = "filesystem")]
pub mod filesystem;

#[cfg(all(test, feature = "filesystem"))]
mod tests {
    /// The `| capability | value |` table of the file system's docs.md says
    /// what `capabilities()` says.
    #[test]
    fn docs_checklist_agrees_with_the_capabilities() {
        let wrong = hpc_testkit::checklist::disagreements(
            include_str!("filesystem/docs.md"),
            &crate::filesystem::capabilities().rows(),
        );
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
