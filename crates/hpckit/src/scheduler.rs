//! [`open_scheduler`]: any scheduler from its location URL.

use std::sync::Arc;

use hpc_auth::CredentialMap;
use hpc_core::{Error, Location, Result, Scheduler};
use hpc_exec::{Executor, LocalExecutor};
use sched_adaptors::local::LocalScheduler;

/// Schemes [`open_scheduler`] understands (shown in the unknown-scheme error).
pub const SCHEDULER_SCHEMES: &[&str] = &["local"];

/// Open the scheduler a location names.
///
/// | location | scheduler |
/// |---|---|
/// | `local://[/workdir][?max_concurrent=N]` | embedded queue in this process |
///
/// `creds` supplies logins for SSH hosts (target and jump hosts). The grammar
/// of locations is [`hpc_core::location`]'s.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> hpc_core::Result<()> {
/// use hpckit::auth::CredentialMap;
///
/// let sched = hpckit::open_scheduler("local://", &CredentialMap::new()).await?;
/// assert_eq!(sched.adaptor(), "local");
/// let e = hpckit::open_scheduler("pbs://host", &CredentialMap::new()).await.unwrap_err();
/// assert!(e.to_string().starts_with("unknown scheme \"pbs\""));
/// # Ok(()) }
/// ```
pub async fn open_scheduler(url: &str, creds: &CredentialMap) -> Result<Arc<dyn Scheduler>> {
    let loc: Location = url.parse()?;
    let _ = creds;
    // Each adaptor is one arm: parse its settings from `loc`, run its commands
    // through `executor_for(&loc, creds)` where it has any.
    match (loc.scheme.as_str(), loc.transport.as_deref()) {
        ("local", None) => Ok(Arc::new(LocalScheduler::from_location(&loc)?)),
        _ => Err(unknown_scheme(&loc)),
    }
}

/// The executor a location's commands run through: this host, or the SSH
/// connection to `user@host` (over its jump hosts) for `x+ssh://` locations.
pub async fn executor_for(loc: &Location, creds: &CredentialMap) -> Result<Arc<dyn Executor>> {
    let _ = creds;
    if loc.is_ssh() {
        return Err(Error::unsupported(loc.scheme.as_str(), "SSH transport (not built yet)"));
    }
    loc.expect_no_host()?;
    Ok(Arc::new(LocalExecutor::new()))
}

fn unknown_scheme(loc: &Location) -> Error {
    let scheme = match &loc.transport {
        Some(t) => format!("{}+{t}", loc.scheme),
        None => loc.scheme.clone(),
    };
    Error::UnknownScheme { scheme, supported: SCHEDULER_SCHEMES.join(", ") }
}
