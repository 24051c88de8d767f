//! Reading the env file `cargo xtask services up` writes (issue #3).
