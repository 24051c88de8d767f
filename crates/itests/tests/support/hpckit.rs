//! The `hpckit` command for the tests that run it (`#[path =
//! "support/hpckit.rs"] mod cli;`): `src/bin/hpckit-under-test.rs`, which
//! cargo builds with the tests, in their profile and with their features, so
//! no test starts a build of its own.

/// `hpckit ARGS...` as a command to run with an executor.
pub(crate) fn command<I, S>(args: I) -> hpc_exec::Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    hpc_exec::Command::new(env!("CARGO_BIN_EXE_hpckit-under-test")).args(args)
}
