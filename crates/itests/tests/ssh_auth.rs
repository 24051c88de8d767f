//! Logging in and checking host keys against the real test sshds, and the
//! typed errors of bad input.

mod ssh_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hpc_auth::{Credential, CredentialMap, PromptResponder, Secret};
use hpc_core::Error;
use hpc_core::error::{HostKeyProblem, NotFoundKind};
use hpc_exec::ssh::{HostKeyPolicy, SshExecutor, SshOptions};
use hpc_exec::{Command, Executor, LocalExecutor};
use ssh_support::{SshEnv, ssh_env};

async fn whoami(ssh: &SshExecutor) -> String {
    ssh.run_checked(&Command::new("id").arg("-un")).await.unwrap().stdout_text().trim().to_owned()
}

fn creds(c: Credential) -> CredentialMap {
    CredentialMap::with_default(c)
}

#[tokio::test]
async fn password_key_and_encrypted_key() {
    let env = ssh_env();
    let ssh = SshExecutor::connect(env.opts(), &env.password_creds()).await.unwrap();
    assert_eq!(whoami(&ssh).await, env.user());
    let ssh = SshExecutor::connect(env.opts(), &env.key_creds()).await.unwrap();
    assert_eq!(whoami(&ssh).await, env.user());
    let enc = Credential::key_file(
        env.user(),
        env.get("HPCKIT_SSH_KEY_ENCRYPTED"),
        Some(Secret::new(env.get("HPCKIT_SSH_KEY_PASSPHRASE"))),
    );
    let ssh = SshExecutor::connect(env.opts(), &creds(enc)).await.unwrap();
    assert_eq!(whoami(&ssh).await, env.user());
}

#[tokio::test]
async fn encrypted_key_with_wrong_or_no_passphrase_is_an_auth_error() {
    let env = ssh_env();
    let path = env.get("HPCKIT_SSH_KEY_ENCRYPTED");
    for (pass, needle) in [(Some("not-the-passphrase"), "wrong passphrase"), (None, "encrypted")] {
        let cred = Credential::key_file(env.user(), &path, pass.map(Secret::new));
        let e = SshExecutor::connect(env.opts(), &creds(cred)).await.unwrap_err();
        assert!(matches!(e, Error::Authentication { .. }), "{e}");
        let text = format!("{e} {e:?}");
        assert!(text.contains(needle), "{text}");
        assert!(!text.contains("not-the-passphrase"), "{text}");
    }
}

/// A private ssh-agent holding the test key; its process group is killed
/// when the `Process` handle is dropped.
struct Agent {
    _process: hpc_exec::Process,
    _dir: tempfile::TempDir,
    socket: std::path::PathBuf,
}

impl Agent {
    async fn start(env: &SshEnv) -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let local = LocalExecutor::new();
        let process = local
            .spawn(&Command::new("ssh-agent").arg("-D").arg("-a").arg(&socket))
            .await
            .expect("ssh-agent (package openssh-client)");
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        local
            .run_checked(&Command::new("ssh-add").arg(env.key()).env("SSH_AUTH_SOCK", &socket))
            .await
            .unwrap();
        Agent { _process: process, _dir: dir, socket }
    }
}

#[tokio::test]
async fn agent_and_default_credentials() {
    let env = ssh_env();
    let agent = Agent::start(&env).await;
    let opts = env.opts().identity_agent(&agent.socket);
    let ssh =
        SshExecutor::connect(opts.clone(), &creds(Credential::Agent { username: env.user() }))
            .await
            .unwrap();
    assert_eq!(whoami(&ssh).await, env.user());
    // Default tries the agent first.
    let ssh = SshExecutor::connect(opts, &creds(Credential::default_for(Some(&env.user()))))
        .await
        .unwrap();
    assert_eq!(whoami(&ssh).await, env.user());
    // An agent without the key: the error lists what was tried, and the server's methods.
    let empty = tempfile::tempdir().unwrap();
    let opts = env.opts().identity_agent(empty.path().join("no-agent.sock"));
    let e = SshExecutor::connect(opts, &creds(Credential::Agent { username: env.user() }))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Authentication { .. }), "{e}");
    assert!(e.to_string().contains("agent"), "{e}");
}

#[tokio::test]
async fn ssh_config_gives_hostname_port_user_and_identity_file() {
    let env = ssh_env();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!(
            "Host *\n  ServerAliveInterval 30\nHost test-alias\n  HostName {}\n  Port {}\n  User {}\n  IdentityFile {}\n",
            env.host(),
            env.port(),
            env.user(),
            env.key().display()
        ),
    )
    .unwrap();
    let opts =
        SshOptions::new("test-alias").ssh_config_file(&config).known_hosts_file(env.known_hosts());
    let ssh = SshExecutor::connect(opts, &creds(Credential::default_for(None))).await.unwrap();
    assert_eq!(whoami(&ssh).await, env.user());
    assert!(ssh.target().ends_with(&format!("{}:{}", env.host(), env.port())), "{}", ssh.target());
}

/// Counts how often it is asked; answers every prompt with the password.
struct Counting {
    password: Secret,
    calls: AtomicUsize,
}

impl PromptResponder for Counting {
    fn respond(&self, _: &str, _: &str, prompts: &[(String, bool)]) -> Option<Vec<Secret>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Some(prompts.iter().map(|_| self.password.clone()).collect())
    }
}

fn mfa_opts(env: &SshEnv) -> SshOptions {
    SshOptions::new(env.get("HPCKIT_SSH_MFA_HOST"))
        .port(env.mfa_port())
        .user(env.user())
        .known_hosts_file(env.known_hosts())
        .load_ssh_config(false)
}

#[tokio::test]
async fn mfa_prompts_are_answered_once_per_connection() {
    let env = ssh_env();
    let prompts: usize = env.get("HPCKIT_SSH_MFA_PROMPTS").parse().unwrap();
    let responder = Arc::new(Counting { password: env.password(), calls: AtomicUsize::new(0) });
    let cred =
        Credential::KeyboardInteractive { username: env.user(), responder: responder.clone() };
    let ssh = SshExecutor::connect(mfa_opts(&env), &creds(cred)).await.unwrap();
    assert_eq!(responder.calls.load(Ordering::SeqCst), prompts);
    let runs: Vec<_> = (0..20)
        .map(|i| {
            let ssh = ssh.clone();
            tokio::spawn(
                async move { ssh.run_checked(&Command::new("echo").arg(i.to_string())).await },
            )
        })
        .collect();
    for r in runs {
        r.await.unwrap().unwrap();
    }
    assert_eq!(responder.calls.load(Ordering::SeqCst), prompts, "asked again after login");

    // A password credential answers the hidden prompts itself.
    let ssh = SshExecutor::connect(mfa_opts(&env), &env.password_creds()).await.unwrap();
    assert_eq!(whoami(&ssh).await, env.user());
}

#[tokio::test]
async fn wrong_password_is_one_clear_line_without_the_secret() {
    let env = ssh_env();
    let cred = Credential::password(env.user(), "wrong-secret-value");
    let e = SshExecutor::connect(env.opts(), &creds(cred)).await.unwrap_err();
    let Error::Authentication { user, reason, .. } = &e else { panic!("{e}") };
    assert_eq!(user, &env.user());
    assert!(reason.contains("password") && reason.contains("server accepts"), "{reason}");
    let text = format!("{e} {e:?}");
    assert!(!text.contains("wrong-secret-value") && !text.contains('\n'), "{text}");
}

#[tokio::test]
async fn host_keys_unknown_changed_accept_new_and_hashed() {
    let env = ssh_env();
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let with_kh = |path: &std::path::Path| {
        SshOptions::new(env.host()).port(env.port()).known_hosts_file(path).load_ssh_config(false)
    };

    // Unknown: nothing recorded.
    std::fs::write(&kh, "").unwrap();
    let e = SshExecutor::connect(with_kh(&kh), &env.key_creds()).await.unwrap_err();
    match &e {
        Error::HostKey { problem: HostKeyProblem::Unknown { fingerprint }, .. } => {
            assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}")
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("SHA256:"), "{e}");
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), "", "strict mode must not write");

    // Changed: another server's key recorded under this host's name.
    let all = std::fs::read_to_string(env.known_hosts()).unwrap();
    let other_key = all
        .lines()
        .find(|l| !l.starts_with(&format!("[{}]:{} ", env.host(), env.port())))
        .and_then(|l| l.split_once(' ').map(|(_, k)| k.to_owned()))
        .unwrap();
    std::fs::write(&kh, format!("# header\n[{}]:{} {other_key}\n", env.host(), env.port()))
        .unwrap();
    let e = SshExecutor::connect(with_kh(&kh), &env.key_creds()).await.unwrap_err();
    match &e {
        Error::HostKey { problem: HostKeyProblem::Changed { known_hosts, .. }, .. } => {
            assert!(known_hosts.ends_with("known_hosts:2"), "{known_hosts}")
        }
        other => panic!("{other}"),
    }

    // Accept-new records an unknown key, then strict checking passes.
    let fresh = dir.path().join("sub/known_hosts_new");
    let ssh = SshExecutor::connect(
        with_kh(&fresh).host_key_policy(HostKeyPolicy::AcceptNew),
        &env.key_creds(),
    )
    .await
    .unwrap();
    assert_eq!(whoami(&ssh).await, env.user());
    let learned = std::fs::read_to_string(&fresh).unwrap();
    assert!(
        learned.starts_with(&format!("[{}]:{} ssh-ed25519 ", env.host(), env.port())),
        "{learned}"
    );
    assert!(SshExecutor::connect(with_kh(&fresh), &env.key_creds()).await.is_ok());
    // ... but never overrides a changed key.
    let e = SshExecutor::connect(
        with_kh(&kh).host_key_policy(HostKeyPolicy::AcceptNew),
        &env.key_creds(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, Error::HostKey { problem: HostKeyProblem::Changed { .. }, .. }), "{e}");

    // Hashed entries (`ssh-keygen -H`) are matched too.
    let hashed = dir.path().join("known_hosts_hashed");
    std::fs::copy(env.known_hosts(), &hashed).unwrap();
    LocalExecutor::new()
        .run_checked(&Command::new("ssh-keygen").arg("-H").arg("-f").arg(&hashed))
        .await
        .unwrap();
    assert!(std::fs::read_to_string(&hashed).unwrap().starts_with("|1|"));
    assert!(SshExecutor::connect(with_kh(&hashed), &env.key_creds()).await.is_ok());
}

#[tokio::test]
async fn unreachable_and_unresolvable_hosts() {
    let env = ssh_env();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let opts = SshOptions::new("127.0.0.1").port(port).load_ssh_config(false);
    let e = SshExecutor::connect(opts, &env.key_creds()).await.unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    assert!(e.to_string().contains("refused"), "{e}");

    // A server that accepts TCP but never speaks SSH: the connect timeout ends the wait.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            held.push(sock);
        }
    });
    let opts = SshOptions::new("127.0.0.1")
        .port(port)
        .load_ssh_config(false)
        .connect_timeout(std::time::Duration::from_millis(500));
    let e = SshExecutor::connect(opts, &env.key_creds()).await.unwrap_err();
    assert!(matches!(e, Error::Connect { .. }), "{e}");
    assert!(e.to_string().contains("within"), "{e}");
    hold.abort();

    let opts = SshOptions::new("no-such-host.invalid").load_ssh_config(false);
    let e = SshExecutor::connect(opts, &env.key_creds()).await.unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { kind: NotFoundKind::Host, name } if name == "no-such-host.invalid"),
        "{e}"
    );
}

#[tokio::test]
async fn refused_channels_are_typed() {
    let env = ssh_env();
    let ssh = env.connect().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = ssh.open_direct_tcpip("127.0.0.1", port).await.unwrap_err();
    assert!(matches!(e, Error::ChannelRefused { .. }), "{e}");
    assert!(e.to_string().contains("direct-tcpip"), "{e}");
    // The connection survives a refused channel.
    assert_eq!(whoami(&ssh).await, env.user());
}
