//! The whole integration suite at trace level, for the secret scan of
//! `cargo xtask test`: when `HPCKIT_LOG_FILE` is set, each test process that
//! loads the services env ([`crate::services::ServicesEnv::load`]) appends
//! everything it traces (filter `HPCKIT_LOG`, default `trace`) to that file,
//! the same file the `hpckit` binaries the tests start write to.

use std::sync::Once;

/// Installs the process-wide subscriber once; a no-op without `HPCKIT_LOG_FILE`
/// or when the test installed its own global subscriber first.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(path) = std::env::var_os("HPCKIT_LOG_FILE") else { return };
        let filter = std::env::var("HPCKIT_LOG").unwrap_or_else(|_| "trace".into());
        let file = match std::fs::OpenOptions::new().create(true).append(true).open(&path) {
            Ok(file) => file,
            Err(err) => panic!("HPCKIT_LOG_FILE {}: {err}", std::path::Path::new(&path).display()),
        };
        let mut filter = tracing_subscriber::EnvFilter::new(filter);
        for directive in hpc_core::logging::SECRET_SAFE_DIRECTIVES {
            if let Ok(d) = directive.parse() {
                filter = filter.add_directive(d);
            }
        }
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .try_init();
    });
}
