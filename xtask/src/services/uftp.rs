//! `uftp`: hpc-testkit's UFTPD test server (no UFTPD can be installed here;
//! `crates/hpc-testkit/src/uftpd/`) behind the auth endpoint of its UNICORE test
//! server, checked by the real PyUNICORE 2.0.2 `uftp` module and pyuftp 1.1.1.
//!
//! `start` builds `uftpd-testserver` and `unicore-testserver` (in the dev profile,
//! or in release when `HPCKIT_UFTP_BUILD=release`, which `cargo xtask bench uftp`
//! asks for so that the server is not what it measures), copies them into the
//! state dir, starts the UFTPD on `HPCKIT_UFTP_PORT` (control, default 64434) and
//! `HPCKIT_UFTP_COMMAND_PORT` (default 64435) serving `<state>/root` as `/`, then the
//! UNICORE server on `HPCKIT_UFTP_AUTH_PORT` (default 9443) with a random password and
//! token for `demouser` and the UFTPD as auth server `TEST`. The chain credential →
//! `POST /rest/auth/TEST` → UFTPD session runs as on a real site. The Python clients
//! live in `/opt/hpckit/venv/uftp` (provision.sh).
//!
//! For the client-address check from a second host, `start` builds the network
//! namespaces of [`super::netns`] and the UFTPD's control port also listens on the
//! root end of the jump link (`HPCKIT_UFTP_HOST_ADDR`, same port number): a client
//! there connects from that address, a client in the jump namespace
//! (`HPCKIT_UFTP_NETNS`) from `HPCKIT_UFTP_NETNS_ADDR`. Without CAP_NET_ADMIN the
//! service still starts, says why there is no namespace, and exports
//! `HPCKIT_UFTP_TOPOLOGY=none` with the reason, so those tests fail with it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::netns;
use super::webdav::random_secret;
use super::{Ctx, EnvVars, Service};
use crate::cmd;

/// The Python clients' virtualenv (made by `docker/uftp/provision.sh`).
const VENV: &str = "/opt/hpckit/venv/uftp";

/// Names the cargo profile the test servers are built in: `dev` (default) or `release`.
pub(crate) const BUILD_ENV: &str = "HPCKIT_UFTP_BUILD";

/// The profile [`BUILD_ENV`] asks for.
fn wanted_build() -> Result<&'static str> {
    match std::env::var(BUILD_ENV).as_deref() {
        Err(_) | Ok("" | "dev") => Ok("dev"),
        Ok("release") => Ok("release"),
        Ok(other) => bail!("{BUILD_ENV}={other}: give dev or release"),
    }
}

/// The `uftp` service.
pub(crate) struct Uftp;

impl Service for Uftp {
    fn name(&self) -> &'static str {
        "uftp"
    }

    fn about(&self) -> &'static str {
        "UFTPD test server (hpc-testkit) with its auth server (UNICORE test server /rest/auth/TEST); PyUNICORE 2.0.2, pyuftp 1.1.1"
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let control = ctx.port("HPCKIT_UFTP_PORT", 64434)?;
        let command = ctx.port("HPCKIT_UFTP_COMMAND_PORT", 64435)?;
        let auth = ctx.port("HPCKIT_UFTP_AUTH_PORT", 9443)?;
        let build = wanted_build()?;
        let built = cmd::output(
            Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(cmd::workspace_root())
                .args(["build", "--quiet", "--profile", build, "-p", "hpc-testkit"])
                .args(["--bin", "uftpd-testserver", "--bin", "unicore-testserver"])
                .args(["--message-format", "json"]),
        )
        .context("building the UFTPD and UNICORE test servers")?;
        let dir = ctx.state_dir.clone();
        let uftpd = dir.join("uftpd-testserver");
        let unicore = dir.join("unicore-testserver");
        for (name, target) in [("uftpd-testserver", &uftpd), ("unicore-testserver", &unicore)] {
            let binary = executable(&built, name)?;
            std::fs::copy(&binary, target).with_context(|| format!("copying {binary}"))?;
        }
        let root = dir.join("root");
        let auth_state = dir.join("auth");
        for d in [&root, &auth_state] {
            let _ = std::fs::remove_dir_all(d);
            std::fs::create_dir_all(d)?;
        }
        std::fs::create_dir_all(root.join("data"))?;
        let _ = std::fs::remove_file(dir.join("ready.json"));
        let topology = netns::create(&dir).map_err(|err| {
            let why = format!(
                "no network namespace for a second client address ({err:#}); creating one needs root with CAP_NET_ADMIN"
            );
            println!("  uftp: {why}; the client-address tests from a namespace will fail");
            why
        });
        let mut uftpd_cmd = Command::new(&uftpd);
        uftpd_cmd.arg("--root").arg(&root).arg("--state-dir").arg(&dir).args([
            "--control-port",
            &control.to_string(),
            "--command-port",
            &command.to_string(),
        ]);
        if let Ok(topo) = &topology {
            // A fresh address of our own: the port checked free on 127.0.0.1 is free there too.
            uftpd_cmd.args(["--also-listen", &topo.root_addr]);
        }
        ctx.spawn_daemon("uftpd-testserver", &mut uftpd_cmd)?;
        wait_ready(&dir.join("ready.json"), Duration::from_secs(20))?;

        let password = random_secret(20)?;
        let token = random_secret(32)?;
        // demouser's SSH keys, so that key-signed tokens (PyUNICORE's and
        // pyuftp's `identity`) run the whole chain too.
        let keys = dir.join("keys");
        super::unicore::make_keys(&keys, &random_secret(16)?)?;
        let authorized_keys = keys.join("authorized_keys");
        // Secrets are alphanumeric and paths come from our own state dir: no JSON
        // escaping is needed beyond what Debug quoting gives a path.
        let config = format!(
            r#"{{"bind":"127.0.0.1:{auth}","state_dir":{auth_state:?},"users":[{{"name":"demouser","password":"{password}","tokens":["{token}"],"uids":["demouser"],"groups":["demouser","hpc"],"authorized_keys":{authorized_keys:?}}}],"session_lifetime":3600000,"max_concurrent_jobs":4,"uftpd":[{{"name":"TEST","command":"127.0.0.1:{command}","host":"127.0.0.1","port":{control},"description":"hpckit UFTPD test server"}}]}}"#
        );
        let config_file = dir.join("auth.json");
        super::write_file(&config_file, &config, 0o600)?;
        ctx.spawn_daemon(
            "unicore-testserver",
            Command::new(&unicore)
                .arg("--state-dir")
                .arg(&auth_state)
                .arg("--bind")
                .arg(format!("127.0.0.1:{auth}"))
                .arg("--config")
                .arg(&config_file),
        )?;
        wait_ready(&auth_state.join("ready.json"), Duration::from_secs(20))?;

        let mut env = EnvVars::default();
        env.set("HPCKIT_UFTP_AUTH_URL", format!("https://localhost:{auth}/rest/auth/TEST"));
        env.set("HPCKIT_UFTP_AUTH_PORT", auth.to_string());
        env.set("HPCKIT_UFTP_PORT", control.to_string());
        env.set("HPCKIT_UFTP_COMMAND_PORT", command.to_string());
        env.set("HPCKIT_UFTP_CA", auth_state.join("ca.pem").to_string_lossy());
        env.set("HPCKIT_UFTP_USER", "demouser");
        env.set("HPCKIT_UFTP_PASSWORD", password);
        env.set("HPCKIT_UFTP_TOKEN", token);
        env.set("HPCKIT_UFTP_ROOT", root.to_string_lossy());
        env.set("HPCKIT_UFTP_KEYS", keys.to_string_lossy());
        env.set("HPCKIT_UFTP_PYTHON", format!("{VENV}/bin/python"));
        env.set("HPCKIT_UFTP_PYUFTP", format!("{VENV}/bin/pyuftp"));
        env.set(BUILD_ENV, build);
        match topology {
            Ok(topo) => {
                env.set("HPCKIT_UFTP_TOPOLOGY", "netns");
                env.set("HPCKIT_UFTP_HOST_ADDR", topo.root_addr);
                env.set("HPCKIT_UFTP_NETNS", topo.jump_ns);
                env.set("HPCKIT_UFTP_NETNS_ADDR", topo.jump_addr);
            }
            Err(why) => {
                env.set("HPCKIT_UFTP_TOPOLOGY", "none");
                env.set("HPCKIT_UFTP_NETNS_PROBLEM", why);
            }
        }
        Ok(env)
    }

    fn health(&self, ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        if !ctx.daemons_alive() {
            bail!("uftpd-testserver or unicore-testserver is not running");
        }
        // An instance built in another profile than the one asked for is replaced.
        let (built, wanted) = (env.get(BUILD_ENV).unwrap_or("dev"), wanted_build()?);
        if built != wanted {
            bail!("the test servers were built in the {built} profile, {wanted} is wanted");
        }
        for key in ["HPCKIT_UFTP_PORT", "HPCKIT_UFTP_AUTH_PORT"] {
            let port = env.require(key)?;
            std::net::TcpStream::connect(format!("127.0.0.1:{port}"))
                .with_context(|| format!("nothing accepts connections on {key}={port}"))?;
        }
        if env.get("HPCKIT_UFTP_TOPOLOGY") == Some("netns") {
            let (addr, port) =
                (env.require("HPCKIT_UFTP_HOST_ADDR")?, env.require("HPCKIT_UFTP_PORT")?);
            std::net::TcpStream::connect(format!("{addr}:{port}")).with_context(|| {
                format!("the UFTPD does not accept connections on {addr}:{port}")
            })?;
            let ns = env.require("HPCKIT_UFTP_NETNS")?;
            if !Path::new("/run/netns").join(ns).exists() {
                bail!("the network namespace {ns} is gone");
            }
        }
        for key in ["HPCKIT_UFTP_PYTHON", "HPCKIT_UFTP_PYUFTP", "HPCKIT_UFTP_CA"] {
            let path = env.require(key)?;
            if !Path::new(path).exists() {
                bail!("{key}: {path} is missing");
            }
        }
        Ok(())
    }

    fn stop(&self, ctx: &Ctx<'_>) -> Result<()> {
        ctx.stop_daemons()?;
        netns::destroy(&ctx.state_dir)
    }
}

/// The path of the executable `name` in cargo's JSON messages.
fn executable(messages: &str, name: &str) -> Result<String> {
    messages
        .lines()
        .filter(|l| l.contains("\"executable\"") && l.contains(&format!("/{name}\"")))
        .find_map(|l| {
            let rest = &l[l.find("\"executable\":\"")? + 14..];
            Some(rest[..rest.find('"')?].to_string())
        })
        .with_context(|| format!("cargo did not report the {name} executable"))
}

fn wait_ready(file: &Path, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !file.exists() {
        if Instant::now() > deadline {
            bail!("a test server did not write {} within {limit:?}", file.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
