//! `couchdb`: a CouchDB-compatible server (pouchdb-server 4.2.0 on node) on 127.0.0.1,
//! for the PiCaS token pool (`picas-tokens`) and the real Python picas 1.1.2.
//!
//! Apache CouchDB is not installable here (no Debian candidate, not on PyPI or npm);
//! pouchdb-server speaks the same HTTP API (`reference/PICAS.md` lists what was
//! verified and its traps). Data is in memory: the instance starts empty. One server
//! admin (`admin`, random password per instance): databases must be created by an
//! admin, since a non-admin database PUT crashes pouchdb-server once admins exist.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::webdav::{http_status, random_secret};
use super::{Ctx, EnvVars, Service, write_file};

const TOOLS: &str = "/opt/hpckit-tools";
const POUCHDB: &str = "pouchdb-server-4.2.0";
const PICAS_VENV: &str = "/opt/hpckit/venv/picas";
const ADMIN: &str = "admin";

/// The `couchdb` service.
pub(crate) struct Couchdb;

/// The pouchdb-server launcher, machine-wide (installed by provision.sh).
pub(crate) fn pouchdb_bin() -> String {
    let tools = std::env::var("HPCKIT_TOOLS_DIR").unwrap_or_else(|_| TOOLS.to_string());
    format!("{tools}/{POUCHDB}/node_modules/.bin/pouchdb-server")
}

impl Service for Couchdb {
    fn name(&self) -> &'static str {
        "couchdb"
    }

    fn about(&self) -> &'static str {
        "pouchdb-server (CouchDB API, in memory), admin user; Python picas 1.1.2 venv"
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let dir = ctx.state_dir.clone();
        let port = ctx.port("HPCKIT_COUCHDB_PORT", 5984)?;
        let password = random_secret(24)?;
        let config = dir.join("pouchdb-config.json");
        let log = dir.join("pouchdb-log.txt");
        // The server hashes the plain password into this file at start; it also
        // writes its log there instead of its working directory.
        let text = format!(
            "{{\"admins\": {{{}: {}}}, \"log\": {{\"file\": {}, \"level\": \"warning\"}}}}\n",
            json_string(ADMIN),
            json_string(&password),
            json_string(&log.to_string_lossy()),
        );
        write_file(&config, &text, 0o600)?;
        let bin = pouchdb_bin();
        if !Path::new(&bin).exists() {
            bail!("{bin} is missing: provisioning did not install pouchdb-server");
        }
        ctx.spawn_daemon(
            "pouchdb",
            Command::new(&bin)
                .current_dir(&dir)
                .args(["--in-memory", "--host", "127.0.0.1", "--port", &port.to_string()])
                .arg("--no-color")
                .arg("--config")
                .arg(&config),
        )?;
        let addr = format!("127.0.0.1:{port}");
        wait_http(&addr, Duration::from_secs(15))?;

        let mut env = EnvVars::default();
        env.set("HPCKIT_COUCHDB_URL", format!("http://{addr}"));
        env.set("HPCKIT_COUCHDB_HOST", "127.0.0.1");
        env.set("HPCKIT_COUCHDB_PORT", port.to_string());
        env.set("HPCKIT_COUCHDB_USER", ADMIN);
        env.set("HPCKIT_COUCHDB_PASSWORD", password);
        env.set("HPCKIT_COUCHDB_PID_FILE", dir.join("pouchdb.pid").to_string_lossy());
        env.set("HPCKIT_COUCHDB_LOG", log.to_string_lossy());
        env.set("HPCKIT_COUCHDB_BIN", bin);
        env.set("HPCKIT_PICAS_PYTHON", format!("{PICAS_VENV}/bin/python"));
        Ok(env)
    }

    fn health(&self, ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        if !ctx.daemons_alive() {
            bail!("pouchdb-server is not running");
        }
        let port = env.require("HPCKIT_COUCHDB_PORT")?;
        let addr = format!("127.0.0.1:{port}");
        let status = http_status(&addr, &format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n"))?;
        if status != 200 {
            bail!("GET / gave {status}, expected 200");
        }
        // Admins exist, so an anonymous request for the server's config is refused.
        let status = http_status(&addr, &format!("GET /_config HTTP/1.0\r\nHost: {addr}\r\n\r\n"))?;
        if status != 401 {
            bail!("anonymous GET /_config gave {status}, expected 401 (no admin configured?)");
        }
        let python = env.require("HPCKIT_PICAS_PYTHON")?;
        // The picas peer runs on the host: with the docker backend, only the server is
        // in the container, and the host has the venv only if provisioned natively.
        if ctx.backend() == super::Backend::Native && !Path::new(python).exists() {
            bail!("{python} is missing: the picas venv was not provisioned");
        }
        Ok(())
    }
}

fn wait_http(addr: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        match http_status(addr, &format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n")) {
            Ok(200) => return Ok(()),
            Ok(other) if Instant::now() > deadline => bail!("GET / still gives {other}"),
            Err(e) if Instant::now() > deadline => {
                return Err(e.context("pouchdb-server did not come up"));
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
