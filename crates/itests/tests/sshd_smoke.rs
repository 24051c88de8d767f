//! The sshd service answers where the env file says, with the pinned host keys, and the
//! inner host of the jump topology is reachable only through the jump host.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use hpc_testkit::services::{self, ServiceEnv};

fn banner(addr: &str) -> String {
    let sockaddr: SocketAddr = addr.parse().expect("host:port in the env file");
    let mut stream = TcpStream::connect_timeout(&sockaddr, Duration::from_secs(5))
        .unwrap_or_else(|err| panic!("cannot connect to {addr}: {err}"));
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") && line.len() < 255 {
        match stream.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

fn sshd() -> ServiceEnv {
    services::require("sshd")
}

#[test]
fn every_reachable_sshd_sends_an_ssh2_banner() {
    let sshd = sshd();
    for (host, port) in [
        ("HPCKIT_SSH_HOST", "HPCKIT_SSH_PORT"),
        ("HPCKIT_SSH_MFA_HOST", "HPCKIT_SSH_MFA_PORT"),
        ("HPCKIT_SSH_JUMP_HOST", "HPCKIT_SSH_JUMP_PORT"),
    ] {
        let addr = sshd.addr(host, port);
        let line = banner(&addr);
        assert!(line.starts_with("SSH-2.0-OpenSSH"), "{addr} sent {line:?}");
    }
}

#[test]
fn known_hosts_pins_every_instance() {
    let sshd = sshd();
    let known_hosts = std::fs::read_to_string(sshd.path("HPCKIT_SSH_KNOWN_HOSTS")).unwrap();
    for (host, port) in [
        ("HPCKIT_SSH_HOST", "HPCKIT_SSH_PORT"),
        ("HPCKIT_SSH_MFA_HOST", "HPCKIT_SSH_MFA_PORT"),
        ("HPCKIT_SSH_JUMP_HOST", "HPCKIT_SSH_JUMP_PORT"),
        ("HPCKIT_SSH_INNER_HOST", "HPCKIT_SSH_INNER_PORT"),
    ] {
        let entry = format!("[{}]:{} ssh-ed25519 ", sshd.var(host), sshd.port(port));
        assert!(known_hosts.lines().any(|l| l.starts_with(&entry)), "no {entry:?} in known_hosts");
    }
}

#[test]
fn client_keys_and_secrets_are_there() {
    let sshd = sshd();
    let plain = std::fs::read_to_string(sshd.path("HPCKIT_SSH_KEY")).unwrap();
    assert!(plain.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    let encrypted = std::fs::read_to_string(sshd.path("HPCKIT_SSH_KEY_ENCRYPTED")).unwrap();
    assert!(encrypted.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_ne!(plain, encrypted);
    assert!(!sshd.var("HPCKIT_SSH_PASSWORD").is_empty());
    assert!(!sshd.var("HPCKIT_SSH_KEY_PASSPHRASE").is_empty());
    assert_eq!(sshd.var("HPCKIT_SSH_USER"), "hpctest");
    assert!(sshd.path("HPCKIT_SSH_LOG").exists());
}

#[test]
fn the_inner_host_is_not_reachable_directly_with_namespaces() {
    let sshd = sshd();
    if sshd.var("HPCKIT_SSH_TOPOLOGY") != "netns" {
        // The `ports` fallback puts every sshd on 127.0.0.1; assert that it says so.
        assert_eq!(sshd.var("HPCKIT_SSH_TOPOLOGY"), "ports");
        assert_eq!(sshd.var("HPCKIT_SSH_INNER_HOST"), "127.0.0.1");
        return;
    }
    let addr: SocketAddr =
        sshd.addr("HPCKIT_SSH_INNER_HOST", "HPCKIT_SSH_INNER_PORT").parse().unwrap();
    let direct = TcpStream::connect_timeout(&addr, Duration::from_secs(3));
    assert!(
        direct.is_err(),
        "the inner sshd {addr} answered directly; it must only be reachable via the jump host"
    );
}
