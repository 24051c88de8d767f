//! Running the `hpckit` binary in tests, and reading its one error line.

use hpc_exec::{Command, Executor, LocalExecutor, Output};

/// Run `hpckit args...` with `stdin`.
pub(crate) async fn hpckit(args: &[&str], stdin: &[u8]) -> Output {
    let cmd = Command::new(env!("CARGO_BIN_EXE_hpckit")).args(args).stdin(stdin.to_vec());
    LocalExecutor::new().run(&cmd).await.expect("running hpckit")
}

/// The one stderr line of a failed run, checked to be the only one.
pub(crate) fn error_line(out: &Output) -> String {
    let err = out.stderr_text();
    assert_eq!(err.lines().count(), 1, "expected one error line, got: {err:?}");
    assert!(err.starts_with("hpckit: error: "), "{err:?}");
    err.trim_end().to_owned()
}
