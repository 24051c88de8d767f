//! `unicore`: hpc-testkit's UNICORE test server (no UNICORE server can be installed
//! here; `crates/hpc-testkit/src/unicore/`), checked by the real PyUNICORE 2.0.2.
//!
//! `start` builds `unicore-testserver`, copies it into the state dir (a later build
//! does not change a running instance), makes SSH keys for `demouser` (`keys/`),
//! writes `config.json` with a random password and token for the user and its
//! `authorized_keys`, and starts it on `HPCKIT_UNICORE_PORT` (default
//! 8443, the next free one if taken). The server makes its own CA (`ca.pem`) and
//! answers on `https://localhost:<port>` with site `DEMO-SITE`, a registry and a
//! workflow service. PyUNICORE lives in `/opt/hpckit/venv/unicore` (provision.sh).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::webdav::random_secret;
use super::{Ctx, EnvVars, Service};
use crate::cmd;

/// PyUNICORE's virtualenv (made by `docker/unicore/provision.sh`).
const VENV: &str = "/opt/hpckit/venv/unicore";

/// The `unicore` service.
pub(crate) struct Unicore;

impl Service for Unicore {
    fn name(&self) -> &'static str {
        "unicore"
    }

    fn about(&self) -> &'static str {
        "UNICORE test server (hpc-testkit): DEMO-SITE, registry, workflows over HTTPS; PyUNICORE 2.0.2"
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let port = ctx.port("HPCKIT_UNICORE_PORT", 8443)?;
        let built = cmd::output(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(cmd::workspace_root())
                .args(["build", "--quiet", "-p", "hpc-testkit", "--bin", "unicore-testserver"])
                .args(["--message-format", "json"]),
        )
        .context("building the UNICORE test server")?;
        let binary = built
            .lines()
            .filter(|l| l.contains("\"executable\"") && l.contains("unicore-testserver"))
            .find_map(|l| {
                let rest = &l[l.find("\"executable\":\"")? + 14..];
                Some(rest[..rest.find('"')?].to_string())
            })
            .context("cargo did not report the unicore-testserver executable")?;
        let dir = ctx.state_dir.clone();
        let data = dir.join("data");
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data)?;
        let server = dir.join("unicore-testserver");
        std::fs::copy(&binary, &server).with_context(|| format!("copying {binary}"))?;

        let password = random_secret(20)?;
        let token = random_secret(32)?;
        let keys = dir.join("keys");
        let passphrase = random_secret(16)?;
        make_keys(&keys, &passphrase)?;
        let authorized_keys = keys.join("authorized_keys");
        // Secrets are alphanumeric and paths come from our own state dir: no JSON
        // escaping is needed beyond what Debug quoting gives a path.
        let config = format!(
            r#"{{"bind":"127.0.0.1:{port}","state_dir":{data:?},"users":[{{"name":"demouser","password":"{password}","tokens":["{token}"],"uids":["demouser","nobody"],"groups":["demouser","hpc"],"authorized_keys":{authorized_keys:?}}}],"session_lifetime":3600000,"max_concurrent_jobs":64}}"#
        );
        let config_file = dir.join("config.json");
        super::write_file(&config_file, &config, 0o600)?;
        ctx.spawn_daemon(
            "unicore-testserver",
            Command::new(&server)
                .arg("--state-dir")
                .arg(&data)
                .arg("--bind")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--config")
                .arg(&config_file),
        )?;
        wait_ready(&data.join("ready.json"), Duration::from_secs(20))?;

        let public = format!("https://localhost:{port}");
        let mut env = EnvVars::default();
        env.set("HPCKIT_UNICORE_URL", format!("{public}/DEMO-SITE/rest/core"));
        env.set(
            "HPCKIT_UNICORE_REGISTRY",
            format!("{public}/REGISTRY/rest/registries/default_registry"),
        );
        env.set("HPCKIT_UNICORE_WORKFLOWS", format!("{public}/WORKFLOW/rest/workflows"));
        env.set("HPCKIT_UNICORE_PORT", port.to_string());
        env.set("HPCKIT_UNICORE_CA", data.join("ca.pem").to_string_lossy());
        env.set("HPCKIT_UNICORE_USER", "demouser");
        env.set("HPCKIT_UNICORE_PASSWORD", password);
        env.set("HPCKIT_UNICORE_TOKEN", token);
        env.set("HPCKIT_UNICORE_DATA", data.to_string_lossy());
        env.set("HPCKIT_UNICORE_KEYS", keys.to_string_lossy());
        env.set("HPCKIT_UNICORE_KEY_PASSPHRASE", passphrase);
        env.set("HPCKIT_UNICORE_PYTHON", format!("{VENV}/bin/python"));
        env.set("HPCKIT_UNICORE_CLI", format!("{VENV}/bin/unicore"));
        Ok(env)
    }

    fn health(&self, ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        if !ctx.daemons_alive() {
            bail!("unicore-testserver is not running");
        }
        let port = env.require("HPCKIT_UNICORE_PORT")?;
        std::net::TcpStream::connect(format!("127.0.0.1:{port}")).with_context(|| {
            format!("unicore-testserver does not accept connections on port {port}")
        })?;
        for key in ["HPCKIT_UNICORE_PYTHON", "HPCKIT_UNICORE_CA"] {
            let path = env.require(key)?;
            if !Path::new(path).exists() {
                bail!("{key}: {path} is missing");
            }
        }
        Ok(())
    }
}

/// Key pairs of `demouser` for key-signed tokens, made fresh at every start:
/// `id_rsa`, `id_ecdsa` (P-256), `id_ed25519` and `id_ed25519_locked`
/// (encrypted with `passphrase`) in OpenSSH format, `id_rsa.pem` and
/// `id_ecdsa.pem` (the same keys as PEM), all listed in `authorized_keys`; and
/// `id_stranger`, a key the server does not know.
pub(super) fn make_keys(keys: &Path, passphrase: &str) -> Result<()> {
    let _ = std::fs::remove_dir_all(keys);
    std::fs::create_dir_all(keys)?;
    let keygen = |kind: &[&str], name: &str, passphrase: &str| {
        cmd::output(
            Command::new("ssh-keygen")
                .arg("-q")
                .args(kind)
                .args(["-N", passphrase, "-C"])
                .arg(format!("demouser-{name}"))
                .arg("-f")
                .arg(keys.join(name)),
        )
        .with_context(|| format!("making the UNICORE test key {name}"))
    };
    keygen(&["-t", "rsa", "-b", "3072"], "id_rsa", "")?;
    keygen(&["-t", "ecdsa", "-b", "256"], "id_ecdsa", "")?;
    keygen(&["-t", "ed25519"], "id_ed25519", "")?;
    keygen(&["-t", "ed25519"], "id_ed25519_locked", passphrase)?;
    keygen(&["-t", "ed25519"], "id_stranger", "")?;
    for name in ["id_rsa", "id_ecdsa"] {
        let pem = keys.join(format!("{name}.pem"));
        std::fs::copy(keys.join(name), &pem)?;
        // Rewrites the private key in place as PEM (PKCS#1 / SEC1).
        cmd::output(
            Command::new("ssh-keygen")
                .args(["-q", "-p", "-m", "PEM", "-P", "", "-N", ""])
                .arg("-f")
                .arg(&pem),
        )
        .with_context(|| format!("writing {}", pem.display()))?;
    }
    let mut authorized = String::new();
    for name in ["id_rsa", "id_ecdsa", "id_ed25519", "id_ed25519_locked"] {
        authorized.push_str(&std::fs::read_to_string(keys.join(format!("{name}.pub")))?);
    }
    super::write_file(&keys.join("authorized_keys"), &authorized, 0o600)
}

fn wait_ready(file: &Path, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !file.exists() {
        if Instant::now() > deadline {
            bail!("unicore-testserver did not write {} within {limit:?}", file.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
