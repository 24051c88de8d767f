//! Free-port selection on 127.0.0.1.

use std::collections::BTreeSet;
use std::net::TcpListener;

use anyhow::{Context, Result, bail};

/// How far above the default we look for a free port.
const SCAN: u16 = 200;

/// `$env_var` if set (it must be free), else the first free port from `default` upwards
/// that is not in `reserved`.
pub(crate) fn pick(env_var: &str, default: u16, reserved: &BTreeSet<u16>) -> Result<u16> {
    if let Ok(value) = std::env::var(env_var) {
        let port: u16 =
            value.parse().with_context(|| format!("{env_var}={value} is not a port number"))?;
        if !is_free(port) || reserved.contains(&port) {
            bail!("{env_var}={port}: that port is already in use on 127.0.0.1");
        }
        return Ok(port);
    }
    (default..default.saturating_add(SCAN))
        .find(|p| !reserved.contains(p) && is_free(*p))
        .with_context(|| {
            format!("no free port in {default}..{} (set {env_var})", default.saturating_add(SCAN))
        })
}

/// True when nothing listens on 127.0.0.1:`port` (nor on the wildcard address).
pub(crate) fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok() && TcpListener::bind(("0.0.0.0", port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_skipped_and_reserved_ports_too() {
        let taken = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        assert!(!is_free(port));
        let picked = pick("HPCKIT_TEST_UNSET_PORT_VAR", port, &BTreeSet::new()).unwrap();
        assert!(picked > port);
        let reserved = BTreeSet::from([picked]);
        let next = pick("HPCKIT_TEST_UNSET_PORT_VAR", port, &reserved).unwrap();
        assert!(next > picked);
    }
}
