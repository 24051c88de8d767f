//! Integration tests live in `tests/`; they read the env file written by `cargo xtask services up`.
