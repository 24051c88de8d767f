//! Jump hosts against the real jump -> inner sshd pair: `via:` hops in a
//! location, `ProxyJump` in an ssh config, one credential per hop.

mod ssh_support;

use hpc_auth::{Credential, CredentialMap};
use hpc_core::{Error, Location};
use hpc_exec::ssh::{SshExecutor, SshOptions};
use hpc_exec::{Command, Executor};
use ssh_support::{SshEnv, ssh_env};

struct Topology {
    jump: (String, u16),
    inner: (String, u16),
    isolated: bool,
}

fn topology(env: &SshEnv) -> Topology {
    Topology {
        jump: (env.get("HPCKIT_SSH_JUMP_HOST"), env.get("HPCKIT_SSH_JUMP_PORT").parse().unwrap()),
        inner: (
            env.get("HPCKIT_SSH_INNER_HOST"),
            env.get("HPCKIT_SSH_INNER_PORT").parse().unwrap(),
        ),
        isolated: env.get("HPCKIT_SSH_TOPOLOGY") == "netns",
    }
}

/// `SSH_CONNECTION` as the target sees it: (client ip, server ip, server port).
async fn connection_seen_by(ssh: &SshExecutor) -> (String, String, u16) {
    let out =
        ssh.run_checked(&Command::new("sh").arg("-c").arg("echo $SSH_CONNECTION")).await.unwrap();
    let text = out.stdout_text();
    let f: Vec<&str> = text.split_whitespace().collect();
    (f[0].to_owned(), f[2].to_owned(), f[3].parse().unwrap())
}

#[tokio::test]
async fn via_hops_in_a_location() {
    let env = ssh_env();
    let t = topology(&env);
    let user = env.user();
    let url = format!(
        "ssh://{user}@{}:{}?known_hosts={}&ssh_config=none via:{user}@{}:{}",
        t.inner.0,
        t.inner.1,
        env.known_hosts().display(),
        t.jump.0,
        t.jump.1
    );
    let loc: Location = url.parse().unwrap();
    let ssh = SshExecutor::connect(SshOptions::from_location(&loc).unwrap(), &env.key_creds())
        .await
        .unwrap();
    let (_, server_ip, server_port) = connection_seen_by(&ssh).await;
    assert_eq!((server_ip, server_port), (t.inner.0.clone(), t.inner.1));

    // Two hops: the jump host reaches itself, then the inner one.
    let url = format!("{url} via:{user}@{}:{}", t.jump.0, t.jump.1);
    let loc: Location = url.parse().unwrap();
    assert_eq!(loc.via.len(), 2);
    let ssh = SshExecutor::connect(SshOptions::from_location(&loc).unwrap(), &env.key_creds())
        .await
        .unwrap();
    let (_, server_ip, _) = connection_seen_by(&ssh).await;
    assert_eq!(server_ip, t.inner.0);

    if t.isolated {
        // Without the jump host the inner sshd cannot be reached at all.
        let direct = SshOptions::new(&t.inner.0)
            .port(t.inner.1)
            .known_hosts_file(env.known_hosts())
            .load_ssh_config(false)
            .connect_timeout(std::time::Duration::from_secs(3));
        let e = SshExecutor::connect(direct, &env.key_creds()).await.unwrap_err();
        assert!(matches!(e, Error::Connect { .. }), "{e}");
    }
}

#[tokio::test]
async fn proxyjump_from_ssh_config_with_a_credential_per_hop() {
    let env = ssh_env();
    let t = topology(&env);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "Host inner-alias\n  HostName {}\n  Port {}\n  ProxyJump jump-alias\nHost jump-alias\n  HostName {}\n  Port {}\nHost *\n  User {}\n",
            t.inner.0,
            t.inner.1,
            t.jump.0,
            t.jump.1,
            env.user()
        ),
    )
    .unwrap();
    // The jump host takes the key, the inner one the password; there is no default.
    let mut creds = CredentialMap::new();
    creds.insert("jump-alias", Credential::key_file(env.user(), env.key(), None));
    creds.insert("inner-alias", Credential::password(env.user(), env.password()));
    let opts =
        SshOptions::new("inner-alias").ssh_config_file(&config).known_hosts_file(env.known_hosts());
    let ssh = SshExecutor::connect(opts.clone(), &creds).await.unwrap();
    let (_, server_ip, server_port) = connection_seen_by(&ssh).await;
    assert_eq!((server_ip, server_port), (t.inner.0.clone(), t.inner.1));

    // A wrong credential for the jump host is reported for the jump host.
    let mut bad = creds.clone();
    bad.insert("jump-alias", Credential::key_file(env.user(), "/nonexistent/key", None));
    let e = SshExecutor::connect(opts, &bad).await.unwrap_err();
    let Error::Authentication { host, reason, .. } = &e else { panic!("{e}") };
    assert_eq!(host, &format!("{}:{}", t.jump.0, t.jump.1));
    assert!(reason.contains("/nonexistent/key"), "{reason}");
}
