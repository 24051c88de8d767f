//! A UFTPD-compatible server for tests (no UFTPD can be installed here), built
//! from `reference/UNICORE.md` §6 and §10 and kept honest by the real
//! PyUNICORE 2.0.2 and pyuftp 1.1.1 in `crates/itests`.
//!
//! - **Command port**: one `key=value` request per connection, ended by
//!   `END`; `uftp-transfer-request` registers a secret for a user, client
//!   addresses, base directory, streams, compression and key, and answers
//!   `OK::<control port>`; `uftp-ping-request` describes the server. For
//!   tests, `hpckit-stats-request` with `file=<dir>` answers
//!   `DataConnections: <n>`: the data connections accepted for transfers
//!   and listings under `dir` (a kept KEEP-ALIVE connection counts once).
//! - **Control port**: `220` greeting, `USER anonymous` + `PASS <secret>`,
//!   the secret and client-address checks, one-off and persistent secrets
//!   (a persistent one lives while one of its sessions does), the jail, and
//!   the command set (`FEAT`, `NOOP n`, `PASV`/`EPSV`, `LIST`, `MLSD`,
//!   `MLST`, `STAT`, `REST`, `RANG`, `RETR`, `ALLO`, `STOR`, `APPE`, `MKD`,
//!   `RMD`, `DELE`, `RNFR`/`RNTO`, `MFMT`, `MFF`, `HASH`, `OPTS`,
//!   `KEEP-ALIVE`, `SEND-FILE`/`RECEIVE-FILE`), with UFTPD's reply texts and
//!   quirks (`SIZE` answers 500, `QUIT` closes without a reply).
//! - **Data**: one or `n` streams with the chunk framing, gzip and
//!   encryption, through `uftp-proto`'s codec. Unlike UFTPD 3.5 it ends every
//!   encrypted multi-stream transfer correctly, and says so with the `FEAT`
//!   line `MULTI-STREAM-CRYPT`.
//!
//! Paths: the server shows the directory tree under its `root` as `/`; a
//! transfer request's `file` names the session's base directory in that tree.

mod command;
mod config;
mod files;
mod session;
mod state;

pub use config::UftpdConfig;
pub use state::RunningUftpd;

/// Starts the server; it runs until the returned handle is dropped.
pub async fn start(config: UftpdConfig) -> hpc_core::Result<RunningUftpd> {
    state::start(config).await
}
