//! The `hpckit` binary (everything is in the library, `hpckit_cli::main`).

fn main() -> std::process::ExitCode {
    hpckit_cli::main()
}
