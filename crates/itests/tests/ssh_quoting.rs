//! Property: any argument (any bytes but NUL) survives the trip through
//! `Command::to_shell_line`, the real sshd and the real remote `/bin/sh`
//! byte for byte; so does any environment value.

mod ssh_support;

use std::sync::LazyLock;

use hpc_exec::ssh::SshExecutor;
use hpc_exec::{Command, Executor};
use proptest::prelude::*;
use ssh_support::ssh_env;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
});

/// One connection for every case.
static SSH: LazyLock<SshExecutor> = LazyLock::new(|| RT.block_on(ssh_env().connect()));

/// Bytes that mean something to a shell, mixed with arbitrary ones.
fn word() -> impl Strategy<Value = Vec<u8>> {
    let special = prop::sample::select(vec![
        &b"'"[..],
        b"\"",
        b"$(id)",
        b"`id`",
        b"\n",
        b" ",
        b"\t",
        b"\\",
        b"*",
        b"~",
        b"-",
        b"--",
        b"$HOME",
        b"${x:-y}",
        b";",
        b"&&",
        b"|",
        b">",
        b"<",
        b"#",
        b"!",
        b"%s",
        b"\xff\xfe",
        b"\xc3\xa9",
        b"\x01\x7f",
        b"\r",
    ]);
    let piece = prop_oneof![
        special.prop_map(|s| s.to_vec()),
        (1u8..=255).prop_map(|b| vec![b]),
        "[a-z]{1,4}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

fn nul_joined(words: &[Vec<u8>]) -> Vec<u8> {
    words.iter().flat_map(|w| w.iter().copied().chain([0])).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arguments_arrive_byte_for_byte(args in prop::collection::vec(word(), 1..5)) {
        let cmd = Command::new("printf").arg("%s\\0").args(args.iter().map(|a| os(a)));
        let out = RT.block_on(SSH.run(&cmd)).unwrap();
        prop_assert!(out.status.success(), "{out:?}");
        prop_assert_eq!(out.stdout, nul_joined(&args));
    }

    #[test]
    fn environment_values_arrive_byte_for_byte(value in word()) {
        let cmd = Command::new("sh").arg("-c").arg("printf '%s\\0' \"$HPCKIT_V\"").env("HPCKIT_V", os(&value));
        let out = RT.block_on(SSH.run(&cmd)).unwrap();
        prop_assert!(out.status.success(), "{out:?}");
        prop_assert_eq!(out.stdout, nul_joined(&[value]));
    }
}

fn os(bytes: &[u8]) -> &std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(bytes)
}
