//! The `hpckit` command, built by cargo together with the integration tests
//! (same profile, same features as everything they link), so the tests that
//! run the command (`fs_copy.rs`, `unicore_cli.rs`) need no second build of
//! `hpckit-cli` with its own feature set, and no cargo inside a test. The tests
//! find it as `env!("CARGO_BIN_EXE_hpckit-under-test")`.

fn main() -> std::process::ExitCode {
    hpckit_cli::main()
}
