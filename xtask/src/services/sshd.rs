//! `sshd`: private OpenSSH servers for the SSH executor, SFTP and scheduler tests.
//!
//! Four instances, all with their own config, host key and log, never touching the
//! system sshd or port 22:
//! - main (127.0.0.1): password, public key (plain and passphrase-protected),
//!   keyboard-interactive via PAM, SFTP, TCP forwarding, OpenSSH's default
//!   `MaxSessions` (10) on purpose so clients must queue channels above it;
//! - mfa (127.0.0.1): two keyboard-interactive rounds per login (see [`MFA_ONLY`]);
//! - jump and inner: in network namespaces (see [`super::netns`]), the inner one
//!   reachable only through the jump one. Without namespaces (no root, or a container
//!   without CAP_NET_ADMIN) both run on 127.0.0.1 and `HPCKIT_SSH_TOPOLOGY=ports` says
//!   that the inner one is then reachable directly too.
//!
//! Machine-wide parts (user `hpctest`, its password, the client keys, the PAM file)
//! come from `docker/sshd/provision.sh` and are the same for every worktree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::netns;
use super::{Ctx, EnvVars, MACHINE_DIR, Service, banner, write_file};
use crate::cmd;

/// The test user (created by provision.sh).
const USER: &str = "hpctest";
const SSHD: &str = "/usr/sbin/sshd";
/// Questions the MFA sshd asks per login.
const MFA_PROMPTS: usize = 2;

/// The `sshd` service.
pub(crate) struct Sshd;

/// One sshd process.
struct Instance {
    label: &'static str,
    addr: String,
    port: u16,
    /// Network namespace to run in (None: the root namespace).
    netns: Option<String>,
    program: &'static str,
    /// Lines added to the common config.
    extra: &'static str,
}

impl Instance {
    fn config_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}_config", self.label))
    }
    fn host_key(&self, dir: &Path) -> PathBuf {
        dir.join(format!("host_{}_ed25519", self.label))
    }
    fn log(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}.log", self.label))
    }
    fn reachable_from_here(&self) -> bool {
        self.label != "inner" || self.netns.is_none()
    }

    fn config(&self, dir: &Path) -> String {
        format!(
            "# Private test sshd written by `cargo xtask services up sshd`.\n\
             Port {port}\n\
             ListenAddress {addr}\n\
             HostKey {host_key}\n\
             PidFile none\n\
             UsePAM yes\n\
             PermitRootLogin no\n\
             AllowUsers {USER}\n\
             AuthorizedKeysFile .ssh/authorized_keys\n\
             MaxStartups 100:30:200\n\
             MaxAuthTries 10\n\
             # MaxSessions stays at OpenSSH's default (10): clients must queue above it.\n\
             Subsystem sftp internal-sftp\n\
             AllowTcpForwarding yes\n\
             GatewayPorts no\n\
             # No AcceptEnv: env requests are dropped, as on many real sites.\n\
             PrintMotd no\n\
             LogLevel VERBOSE\n\
             {extra}",
            port = self.port,
            addr = self.addr,
            host_key = self.host_key(dir).display(),
            extra = self.extra,
        )
    }

    fn command(&self, dir: &Path) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => netns::exec_in(ns, self.program),
            None => Command::new(self.program),
        };
        cmd.arg("-D").arg("-f").arg(self.config_path(dir)).arg("-E").arg(self.log(dir));
        cmd
    }
}

const PASSWORD_AND_KEYS: &str = "PubkeyAuthentication yes\n\
                                 PasswordAuthentication yes\n\
                                 KbdInteractiveAuthentication yes\n";
/// Two questions per login, as on sites with a second factor. A PAM stack with two
/// `pam_unix` lines asks only once (Linux-PAM >= 1.4 hands the first answer to the
/// second module through PAM_AUTHTOK), and Debian ships no module with a static second
/// factor. So sshd itself demands keyboard-interactive twice: each round runs PAM anew
/// and asks for the password; between them the client gets a partial success, exactly
/// as with `publickey,keyboard-interactive` sites.
const MFA_ONLY: &str = "PubkeyAuthentication no\n\
                        PasswordAuthentication no\n\
                        KbdInteractiveAuthentication yes\n\
                        AuthenticationMethods keyboard-interactive,keyboard-interactive\n";

impl Service for Sshd {
    fn name(&self) -> &'static str {
        "sshd"
    }

    // The test user's home (authorized_keys, files the tests check) is the host's.
    fn docker_shares(&self) -> &'static [&'static str] {
        &["/home"]
    }

    fn about(&self) -> &'static str {
        "OpenSSH: password/key/kbd-interactive, MFA, jump -> inner"
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let dir = ctx.state_dir.clone();
        let machine = Path::new(MACHINE_DIR);
        let password = read_secret(&machine.join("hpctest.password"))?;
        let passphrase = read_secret(&machine.join("sshd/client_ed25519_enc.passphrase"))?;
        for file in
            ["client_ed25519", "client_ed25519.pub", "client_ed25519_enc", "client_ed25519_enc.pub"]
        {
            let text = fs::read_to_string(machine.join("sshd").join(file))?;
            write_file(&dir.join(file), &text, 0o600)?;
        }

        let main_port = ctx.port("HPCKIT_SSHD_PORT", 2222)?;
        let mfa_port = ctx.port("HPCKIT_SSHD_MFA_PORT", 2322)?;
        let (topology, jump, inner) = match netns::create(&dir) {
            Ok(topo) => {
                let port = fixed_port("HPCKIT_SSHD_JUMP_PORT", 2222)?;
                let inner_port = fixed_port("HPCKIT_SSHD_INNER_PORT", 2222)?;
                let jump = (topo.jump_addr.clone(), port, Some(topo.jump_ns.clone()));
                let inner = (topo.inner_addr.clone(), inner_port, Some(topo.inner_ns.clone()));
                ("netns", jump, inner)
            }
            Err(err) => {
                println!(
                    "  sshd: no network namespaces ({err:#}); jump and inner run on 127.0.0.1 instead"
                );
                let jump =
                    ("127.0.0.1".to_string(), ctx.port("HPCKIT_SSHD_JUMP_PORT", 2422)?, None);
                let inner =
                    ("127.0.0.1".to_string(), ctx.port("HPCKIT_SSHD_INNER_PORT", 2522)?, None);
                ("ports", jump, inner)
            }
        };
        let instances = [
            Instance {
                label: "main",
                addr: "127.0.0.1".into(),
                port: main_port,
                netns: None,
                program: SSHD,
                extra: PASSWORD_AND_KEYS,
            },
            Instance {
                label: "mfa",
                addr: "127.0.0.1".into(),
                port: mfa_port,
                netns: None,
                program: SSHD,
                extra: MFA_ONLY,
            },
            Instance {
                label: "jump",
                addr: jump.0,
                port: jump.1,
                netns: jump.2,
                program: SSHD,
                extra: PASSWORD_AND_KEYS,
            },
            Instance {
                label: "inner",
                addr: inner.0,
                port: inner.1,
                netns: inner.2,
                program: SSHD,
                extra: PASSWORD_AND_KEYS,
            },
        ];

        let mut known_hosts = String::new();
        for inst in &instances {
            let key = inst.host_key(&dir);
            if !key.exists() {
                cmd::output(
                    Command::new("ssh-keygen")
                        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                        .arg(format!("hpckit-{}", inst.label))
                        .arg("-f")
                        .arg(&key),
                )?;
            }
            let public = fs::read_to_string(key.with_extension("pub"))?;
            let host = format!("[{}]:{}", inst.addr, inst.port);
            known_hosts.push_str(&format!("{host} {}\n", public.trim()));
            write_file(&inst.config_path(&dir), &inst.config(&dir), 0o644)?;
            cmd::output(Command::new(inst.program).arg("-t").arg("-f").arg(inst.config_path(&dir)))
                .with_context(|| format!("sshd rejects {}", inst.config_path(&dir).display()))?;
        }
        write_file(&dir.join("known_hosts"), &known_hosts, 0o644)?;
        write_file(&dir.join("ssh_config"), &client_config(&dir, &instances), 0o644)?;
        write_file(&dir.join("askpass.sh"), ASKPASS, 0o755)?;

        for inst in &instances {
            ctx.spawn_daemon(&format!("sshd-{}", inst.label), &mut inst.command(&dir))?;
        }
        for inst in instances.iter().filter(|i| i.reachable_from_here()) {
            wait_for_banner(&format!("{}:{}", inst.addr, inst.port), ctx)?;
        }
        let [main, mfa, jump, inner] = &instances;
        verify_logins(&dir, main, mfa, &password, &passphrase)?;
        // Through the jump host: also proves the inner sshd is up, which we cannot reach directly.
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Err(err) = ssh_check(
            &dir,
            &["-F", &dir.join("ssh_config").to_string_lossy(), "hpckit-inner"],
            None,
        ) {
            if Instant::now() > deadline {
                return Err(err.context("login on the inner sshd through the jump sshd failed"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }

        let home = cmd::output(Command::new("getent").args(["passwd", USER]))?
            .split(':')
            .nth(5)
            .unwrap_or_default()
            .to_string();
        let mut env = EnvVars::default();
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        env.set("HPCKIT_SSH_HOST", &main.addr);
        env.set("HPCKIT_SSH_PORT", main.port.to_string());
        env.set("HPCKIT_SSH_USER", USER);
        env.set("HPCKIT_SSH_USER_HOME", home);
        env.set("HPCKIT_SSH_PASSWORD", password);
        env.set("HPCKIT_SSH_KEY", path("client_ed25519"));
        env.set("HPCKIT_SSH_KEY_ENCRYPTED", path("client_ed25519_enc"));
        env.set("HPCKIT_SSH_KEY_PASSPHRASE", passphrase);
        env.set("HPCKIT_SSH_KNOWN_HOSTS", path("known_hosts"));
        env.set("HPCKIT_SSH_CONFIG", path("ssh_config"));
        env.set("HPCKIT_SSH_LOG", main.log(&dir).to_string_lossy());
        env.set("HPCKIT_SSH_MAX_SESSIONS", "10");
        env.set("HPCKIT_SSH_MFA_HOST", &mfa.addr);
        env.set("HPCKIT_SSH_MFA_PORT", mfa.port.to_string());
        env.set("HPCKIT_SSH_MFA_PROMPTS", MFA_PROMPTS.to_string());
        env.set("HPCKIT_SSH_MFA_LOG", mfa.log(&dir).to_string_lossy());
        env.set("HPCKIT_SSH_TOPOLOGY", topology);
        env.set("HPCKIT_SSH_JUMP_HOST", &jump.addr);
        env.set("HPCKIT_SSH_JUMP_PORT", jump.port.to_string());
        env.set("HPCKIT_SSH_JUMP_LOG", jump.log(&dir).to_string_lossy());
        env.set("HPCKIT_SSH_INNER_HOST", &inner.addr);
        env.set("HPCKIT_SSH_INNER_PORT", inner.port.to_string());
        env.set("HPCKIT_SSH_INNER_LOG", inner.log(&dir).to_string_lossy());
        Ok(env)
    }

    fn health(&self, ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        if !ctx.daemons_alive() {
            bail!("an sshd process is gone");
        }
        for (host, port) in [
            ("HPCKIT_SSH_HOST", "HPCKIT_SSH_PORT"),
            ("HPCKIT_SSH_MFA_HOST", "HPCKIT_SSH_MFA_PORT"),
            ("HPCKIT_SSH_JUMP_HOST", "HPCKIT_SSH_JUMP_PORT"),
        ] {
            banner(&format!("{}:{}", env.require(host)?, env.require(port)?), "SSH-2.0-")?;
        }
        Ok(())
    }

    fn stop(&self, ctx: &Ctx<'_>) -> Result<()> {
        ctx.stop_daemons()?;
        netns::destroy(&ctx.state_dir)
    }
}

fn read_secret(path: &Path) -> Result<String> {
    let text = fs::read_to_string(path).with_context(|| {
        format!("cannot read {} (made by docker/sshd/provision.sh)", path.display())
    })?;
    Ok(text.trim().to_string())
}

/// A port inside a fresh network namespace: always free, so only the override counts.
fn fixed_port(env_var: &str, default: u16) -> Result<u16> {
    match std::env::var(env_var) {
        Ok(v) => v.parse().with_context(|| format!("{env_var}={v} is not a port number")),
        Err(_) => Ok(default),
    }
}

fn wait_for_banner(addr: &str, ctx: &Ctx<'_>) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match banner(addr, "SSH-2.0-") {
            Ok(()) => return Ok(()),
            Err(err) if Instant::now() > deadline || !ctx.daemons_alive() => return Err(err),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// `ssh_config` for OpenSSH clients (benchmarks, manual checks): `ssh -F <file> hpckit-inner`.
fn client_config(dir: &Path, instances: &[Instance; 4]) -> String {
    let [main, mfa, jump, inner] = instances;
    format!(
        "# OpenSSH client config for the test sshds (`ssh -F {cfg} hpckit-sshd`).\n\
         Host hpckit-sshd\n  HostName {}\n  Port {}\n\
         Host hpckit-mfa\n  HostName {}\n  Port {}\n  PreferredAuthentications keyboard-interactive\n  BatchMode no\n\
         Host hpckit-jump\n  HostName {}\n  Port {}\n\
         Host hpckit-inner\n  HostName {}\n  Port {}\n  ProxyJump hpckit-jump\n\
         Host *\n  User {USER}\n  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  \
         GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 5\n",
        main.addr,
        main.port,
        mfa.addr,
        mfa.port,
        jump.addr,
        jump.port,
        inner.addr,
        inner.port,
        cfg = dir.join("ssh_config").display(),
        key = dir.join("client_ed25519").display(),
        kh = dir.join("known_hosts").display(),
    )
}

/// Answers ssh's prompts during the start-up checks and logs each prompt so they can be counted.
const ASKPASS: &str = "#!/bin/sh\n\
                       printf '%s\\n' \"$1\" >> \"$HPCKIT_ASKPASS_LOG\"\n\
                       printf '%s\\n' \"$HPCKIT_ASKPASS_ANSWER\"\n";

/// Runs `ssh <args> true`; with `answer`, prompts are answered by askpass.
/// Returns how many prompts ssh asked.
fn ssh_check(dir: &Path, args: &[&str], answer: Option<&str>) -> Result<usize> {
    let log = dir.join("askpass.log");
    let _ = fs::remove_file(&log);
    let mut ssh = Command::new("ssh");
    ssh.args(args).arg("true");
    if let Some(answer) = answer {
        ssh.env("SSH_ASKPASS", dir.join("askpass.sh"))
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("HPCKIT_ASKPASS_LOG", &log)
            .env("HPCKIT_ASKPASS_ANSWER", answer);
    }
    cmd::output(&mut ssh)?;
    Ok(fs::read_to_string(&log).map(|t| t.lines().count()).unwrap_or(0))
}

/// Proves each advertised login method really works, once, at start.
fn verify_logins(
    dir: &Path,
    main: &Instance,
    mfa: &Instance,
    password: &str,
    passphrase: &str,
) -> Result<()> {
    let kh = format!("UserKnownHostsFile={}", dir.join("known_hosts").display());
    let key = dir.join("client_ed25519").to_string_lossy().into_owned();
    let enc = dir.join("client_ed25519_enc").to_string_lossy().into_owned();
    let port = main.port.to_string();
    let target = format!("{USER}@{}", main.addr);
    let base = |batch: &'static str| -> Vec<String> {
        [
            "-F",
            "/dev/null",
            "-o",
            kh.as_str(),
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            batch,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let check = |mut args: Vec<String>,
                 extra: &[&str],
                 answer: Option<&str>,
                 what: &str|
     -> Result<usize> {
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ssh_check(dir, &refs, answer).with_context(|| format!("{what} login check failed"))
    };
    check(base("BatchMode=yes"), &["-i", &key, "-p", &port, &target], None, "key")?;
    let prompts = check(
        base("BatchMode=no"),
        &["-i", &enc, "-p", &port, &target],
        Some(passphrase),
        "encrypted key",
    )?;
    if prompts != 1 {
        bail!("the encrypted key was unlocked with {prompts} passphrase prompts, expected 1");
    }
    let password_only =
        ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password"];
    check(
        base("BatchMode=no"),
        &[&password_only[..], &["-p", &port, &target]].concat(),
        Some(password),
        "password",
    )?;
    let kbd =
        ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=keyboard-interactive"];
    let prompts = check(
        base("BatchMode=no"),
        &[&kbd[..], &["-p", &port, &target]].concat(),
        Some(password),
        "kbd-interactive",
    )?;
    if prompts != 1 {
        bail!("keyboard-interactive on the main sshd asked {prompts} questions, expected 1");
    }
    let mfa_port = mfa.port.to_string();
    let prompts = check(
        base("BatchMode=no"),
        &[&kbd[..], &["-p", &mfa_port, &target]].concat(),
        Some(password),
        "MFA",
    )?;
    if prompts != MFA_PROMPTS {
        bail!("the MFA sshd asked {prompts} questions per login, expected {MFA_PROMPTS}");
    }
    Ok(())
}
