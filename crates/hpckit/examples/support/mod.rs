//! What the seed examples share: their settings come from environment
//! variables named as in the env file of `cargo xtask services up`
//! (`.services/services.env`), so `set -a; . .services/services.env; set +a`
//! prepares a shell to run any of them against the test services.
#![allow(dead_code)]

use hpckit::{Credential, CredentialMap, Error, Result};

/// The value of environment variable `name`, or an error naming it.
pub(crate) fn var(name: &str) -> Result<String> {
    std::env::var(name).map_err(|_| {
        Error::InvalidInput(format!("set {name} (crates/hpckit/examples/README.md lists them)"))
    })
}

/// `user@host:port` of the SSH login (`HPCKIT_SSH_USER`, `_HOST`, `_PORT`).
pub(crate) fn ssh_authority() -> Result<String> {
    Ok(format!(
        "{}@{}:{}",
        var("HPCKIT_SSH_USER")?,
        var("HPCKIT_SSH_HOST")?,
        var("HPCKIT_SSH_PORT")?
    ))
}

/// The query of an SSH location: the host key pinned in
/// `HPCKIT_SSH_KNOWN_HOSTS`, no personal ssh config.
pub(crate) fn ssh_query() -> Result<String> {
    Ok(format!("known_hosts={}&ssh_config=none", var("HPCKIT_SSH_KNOWN_HOSTS")?))
}

/// Log in with the password (`HPCKIT_SSH_PASSWORD`), as PyXenon's
/// `PasswordCredential` does.
pub(crate) fn ssh_password() -> Result<CredentialMap> {
    let cred = Credential::password(var("HPCKIT_SSH_USER")?, var("HPCKIT_SSH_PASSWORD")?);
    Ok(CredentialMap::with_default(cred))
}

/// Log in with the private key file `HPCKIT_SSH_KEY`.
pub(crate) fn ssh_key() -> Result<CredentialMap> {
    let cred = Credential::key_file(var("HPCKIT_SSH_USER")?, var("HPCKIT_SSH_KEY")?, None);
    Ok(CredentialMap::with_default(cred))
}

/// A transport to the UNICORE site that logs in with `HPCKIT_UNICORE_USER`
/// and `_PASSWORD` and trusts the site's CA (`HPCKIT_UNICORE_CA`).
#[cfg(feature = "unicore")]
pub(crate) fn unicore_transport() -> Result<hpckit::unicore::Transport> {
    use hpckit::unicore::{Transport, credential};
    let login =
        credential::username_password(var("HPCKIT_UNICORE_USER")?, var("HPCKIT_UNICORE_PASSWORD")?);
    Transport::builder().credential(login).add_ca_file(var("HPCKIT_UNICORE_CA")?).build()
}

/// The UNICORE site `DEMO-SITE` on localhost (`HPCKIT_UNICORE_PORT`) as an
/// hpckit location, `path` below it (`/storages/HOME`), trusting the
/// site's CA (`HPCKIT_UNICORE_CA`).
pub(crate) fn unicore_location(path: &str) -> Result<String> {
    let (port, ca) = (var("HPCKIT_UNICORE_PORT")?, var("HPCKIT_UNICORE_CA")?);
    Ok(format!("unicore://localhost:{port}/DEMO-SITE{path}?ca={ca}"))
}

/// The UNICORE login (`HPCKIT_UNICORE_USER`, `_PASSWORD`) for hpckit's
/// `unicore://` locations.
pub(crate) fn unicore_login() -> Result<CredentialMap> {
    let login = Credential::password(var("HPCKIT_UNICORE_USER")?, var("HPCKIT_UNICORE_PASSWORD")?);
    Ok(CredentialMap::with_default(login))
}

/// `data` as the byte stream `FileSystem::write` takes.
pub(crate) fn byte_stream(data: impl Into<Vec<u8>>) -> hpckit::core::ByteStream {
    use futures::StreamExt;
    let chunk = bytes::Bytes::from(data.into());
    futures::stream::once(std::future::ready(Ok(chunk))).boxed()
}

/// The whole content of `path` on `fs`.
pub(crate) async fn read_to_end(
    fs: &dyn hpckit::core::FileSystem,
    path: &hpckit::core::Path,
) -> Result<Vec<u8>> {
    use futures::StreamExt;
    let mut chunks = fs.read(path, hpckit::core::ByteRange::ALL).await?;
    let mut content = Vec::new();
    while let Some(chunk) = chunks.next().await {
        content.extend_from_slice(&chunk?);
    }
    Ok(content)
}

/// The UFTP file-system URL of `base_dir` (`uftp://USER@localhost:PORT/rest/auth/TEST:BASE`,
/// PyUNICORE's URL format without the password) and a credential map with
/// the password (`HPCKIT_UFTP_USER`, `_PASSWORD`, `_AUTH_PORT`, `_CA`).
pub(crate) fn uftp_url(base_dir: &str) -> Result<(String, CredentialMap)> {
    let user = var("HPCKIT_UFTP_USER")?;
    let port = var("HPCKIT_UFTP_AUTH_PORT")?;
    let ca = var("HPCKIT_UFTP_CA")?;
    let url = format!("uftp://{user}@localhost:{port}/rest/auth/TEST:{base_dir}?ca={ca}");
    let mut creds = CredentialMap::new();
    creds.insert(
        format!("localhost:{port}"),
        Credential::password(user, var("HPCKIT_UFTP_PASSWORD")?),
    );
    Ok((url, creds))
}

/// The PiCaS token pool in database `db` of the CouchDB server
/// `HPCKIT_COUCHDB_URL`, as `HPCKIT_COUCHDB_USER` with `_PASSWORD` (what
/// picas' `picasconfig.py` holds).
#[cfg(feature = "picas")]
pub(crate) fn picas_pool(db: &str) -> Result<hpckit::picas::TokenPool> {
    use hpckit::picas::{CouchDb, DbUrl, TokenPool};
    let server = var("HPCKIT_COUCHDB_URL")?;
    let (scheme, host) = server.split_once("://").unwrap_or(("http", &server));
    let url =
        format!("{scheme}://{}@{}/{db}", var("HPCKIT_COUCHDB_USER")?, host.trim_end_matches('/'));
    let url = DbUrl::parse(&url)?.with_password(var("HPCKIT_COUCHDB_PASSWORD")?);
    Ok(TokenPool::new(CouchDb::new(url)?))
}

/// The first argument, or an error showing `usage`.
pub(crate) fn arg(n: usize, usage: &str) -> Result<String> {
    std::env::args().nth(n).ok_or_else(|| Error::InvalidInput(format!("usage: {usage}")))
}

/// The login node: the SSH connection of `ssh_authority` with the key.
pub(crate) async fn login_node() -> Result<std::sync::Arc<dyn hpckit::exec::Executor>> {
    let location = format!("ssh://{}?{}", ssh_authority()?, ssh_query()?).parse()?;
    hpckit::executor_for(&location, &ssh_key()?).await
}

/// The datamover commands on the login node (from `HPCKIT_DM_BIN` if set,
/// else from its `PATH`).
#[cfg(feature = "datamover")]
pub(crate) async fn datamover() -> Result<hpckit::datamover::Datamover> {
    use hpckit::datamover::{Datamover, DatamoverConfig};
    let config = std::env::var("HPCKIT_DM_BIN")
        .map_or_else(|_| DatamoverConfig::default(), DatamoverConfig::with_bin_dir);
    Datamover::new(login_node().await?, config)
}

/// The workspace tools on the login node (from `HPCKIT_DM_BIN` if set).
#[cfg(feature = "datamover")]
pub(crate) async fn workspaces() -> Result<hpckit::datamover::Workspaces> {
    use hpckit::datamover::{WorkspaceConfig, Workspaces};
    let config = std::env::var("HPCKIT_DM_BIN")
        .map_or_else(|_| WorkspaceConfig::default(), WorkspaceConfig::with_bin_dir);
    Ok(Workspaces::new(login_node().await?, config))
}
