//! A UNICORE REST server for tests, built from `reference/UNICORE.md` and kept
//! honest by the real PyUNICORE 2.0.2 in `crates/itests`.
//!
//! One process serves, over HTTPS with a CA it generates (absolute `https://`
//! links everywhere):
//! - the site `DEMO-SITE` at `/DEMO-SITE/rest/core`: users with passwords,
//!   bearer tokens and tokens signed with a key of their `authorized_keys`
//!   file (RSA, ECDSA P-256, Ed25519), the `anonymous` role, security
//!   sessions (and `432` for an unknown one), user preferences, `/token`;
//! - jobs that really run through hpckit's own `local` scheduler, each in a
//!   working directory served as storage `<id>-uspace`; stage-in hold and
//!   `start`, abort, restart, delete, inline and same-server imports,
//!   allocations and jobs inside them, port forwarding (`forward-port`);
//! - storages `HOME` and `WORK` on local directories: listings, ranged reads,
//!   uploads (written beside the target and renamed when complete), mkdir, rm,
//!   rename, copy, chmod, server-to-server transfers between its storages;
//! - factories and applications, paging (`offset`, `num`, `tags`, `next`) and
//!   `_links` on every collection, JSON error bodies;
//! - a workflow service at `/WORKFLOW/rest/workflows` (job activities in
//!   order, `HOLD` activities resumed by `continue`) and a registry at
//!   `/REGISTRY/rest/registries/default_registry`.
//!
//! - a UFTP auth server at `/rest/auth` (`GET` info, `POST /rest/auth/<name>`
//!   announcing a session to a configured UFTPD's command port, `GET
//!   /rest/auth/token`).
//!
//! Test-only extras under `/_testserver/`: `POST expire-sessions` (forget every
//! session, so the next request gets 432) and `GET stats` (requests served).

mod auth;
mod config;
mod files;
mod forward;
mod http;
mod jobs;
mod keys;
mod registry;
mod routes;
mod state;
mod tls;
mod transfers;
mod uftp_auth;
mod workflows;

pub use config::{ServerConfig, UftpdEntry, UserConfig};
pub use state::RunningServer;

/// The site name in every URL.
pub const SITE: &str = "DEMO-SITE";
/// The workflow service's name in its URL.
pub const WORKFLOW: &str = "WORKFLOW";

/// Starts the server; it runs until the returned handle is dropped or the
/// runtime ends.
pub async fn start(config: ServerConfig) -> hpc_core::Result<RunningServer> {
    state::start(config).await
}
