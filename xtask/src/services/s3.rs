//! `s3`: two S3-compatible servers on 127.0.0.1.
//!
//! - moto (`HPCKIT_S3_*`): the conformance suite's server; closest to AWS in
//!   semantics, but it accepts any signature and keeps everything in memory
//!   (`HPCKIT_S3_RESET_URL` wipes it).
//! - s3s-fs (`HPCKIT_S3S_*`): checks SigV4, so wrong-key tests use it; stores
//!   objects as plain files under `HPCKIT_S3S_ROOT`; the `bench fs` server.
//!
//! Each gets a bucket `hpckit` and its own random key pair.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::webdav::{http_status, random_secret};
use super::{Ctx, EnvVars, Service};

const TOOLS: &str = "/opt/hpckit-tools";
const MOTO: &str = "moto-5.2.1";
const S3S: &str = "s3s-fs-0.14.1";
const BUCKET: &str = "hpckit";
const REGION: &str = "us-east-1";

/// The `s3` service.
pub(crate) struct S3;

fn tools_dir() -> String {
    std::env::var("HPCKIT_TOOLS_DIR").unwrap_or_else(|_| TOOLS.to_string())
}

impl Service for S3 {
    fn name(&self) -> &'static str {
        "s3"
    }

    // s3s-fs is the host's build (docker/s3/Dockerfile does not build it).
    fn docker_shares(&self) -> &'static [&'static str] {
        &["/opt/hpckit-tools/s3s-fs-0.14.1"]
    }

    fn about(&self) -> &'static str {
        "moto (S3 semantics) and s3s-fs (SigV4 checked), bucket `hpckit`"
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let dir = ctx.state_dir.clone();
        let tools = tools_dir();
        let moto_port = ctx.port("HPCKIT_S3_PORT", 9000)?;
        let s3s_port = ctx.port("HPCKIT_S3S_PORT", 9001)?;

        // moto's command line does not name our state dir, which `stop` needs to
        // recognise the process: `-X` options are free-form and ignored by Python.
        let python = format!("{tools}/{MOTO}/bin/python");
        let moto_server = format!("{tools}/{MOTO}/bin/moto_server");
        ctx.spawn_daemon(
            "moto",
            Command::new(&python)
                .arg("-X")
                .arg(format!("hpckit_state={}", dir.display()))
                .arg(&moto_server)
                .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()]),
        )?;

        let root = dir.join("s3s-data");
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join(BUCKET))?;
        let s3s_key = format!("AK{}", random_secret(14)?.to_uppercase());
        let s3s_secret = random_secret(32)?;
        let s3s_bin = format!("{tools}/{S3S}/bin/s3s-fs");
        ctx.spawn_daemon(
            "s3s-fs",
            Command::new(&s3s_bin)
                .args(["--host", "127.0.0.1", "--port", &s3s_port.to_string()])
                .args(["--access-key", &s3s_key, "--secret-key", &s3s_secret])
                .arg(&root),
        )?;

        let moto_addr = format!("127.0.0.1:{moto_port}");
        wait_http(&moto_addr, Duration::from_secs(15))?;
        // moto ignores signatures: an unsigned PUT creates the bucket.
        let status = http_status(
            &moto_addr,
            &format!("PUT /{BUCKET} HTTP/1.0\r\nHost: {moto_addr}\r\nContent-Length: 0\r\n\r\n"),
        )?;
        if status != 200 {
            bail!("creating bucket {BUCKET} on moto gave HTTP {status}");
        }

        let moto_key = format!("AK{}", random_secret(14)?.to_uppercase());
        let moto_secret = random_secret(32)?;
        let mut env = EnvVars::default();
        let moto_endpoint = format!("http://{moto_addr}");
        env.set("HPCKIT_S3_ENDPOINT", &moto_endpoint);
        env.set("HPCKIT_S3_REGION", REGION);
        env.set("HPCKIT_S3_BUCKET", BUCKET);
        env.set("HPCKIT_S3_ACCESS_KEY", moto_key);
        env.set("HPCKIT_S3_SECRET", moto_secret);
        env.set("HPCKIT_S3_URL", format!("s3://{BUCKET}?endpoint={moto_endpoint}&region={REGION}"));
        env.set("HPCKIT_S3_RESET_URL", format!("{moto_endpoint}/moto-api/reset"));
        let s3s_endpoint = format!("http://127.0.0.1:{s3s_port}");
        env.set("HPCKIT_S3S_ENDPOINT", &s3s_endpoint);
        env.set("HPCKIT_S3S_BUCKET", BUCKET);
        env.set("HPCKIT_S3S_ACCESS_KEY", s3s_key);
        env.set("HPCKIT_S3S_SECRET", s3s_secret);
        env.set("HPCKIT_S3S_URL", format!("s3://{BUCKET}?endpoint={s3s_endpoint}&region={REGION}"));
        env.set("HPCKIT_S3S_ROOT", root.to_string_lossy());
        env.set("HPCKIT_S3S_BIN", s3s_bin);
        Ok(env)
    }

    fn health(&self, ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        if !ctx.daemons_alive() {
            bail!("moto or s3s-fs is not running");
        }
        let moto = env.require("HPCKIT_S3_ENDPOINT")?.trim_start_matches("http://").to_string();
        let status =
            http_status(&moto, &format!("HEAD /{BUCKET} HTTP/1.0\r\nHost: {moto}\r\n\r\n"))?;
        if status != 200 {
            bail!("moto: HEAD /{BUCKET} gave {status}");
        }
        let s3s = env.require("HPCKIT_S3S_ENDPOINT")?.trim_start_matches("http://").to_string();
        // Unsigned: s3s-fs must refuse (403), which also proves it is up.
        let status = http_status(&s3s, &format!("GET /{BUCKET} HTTP/1.0\r\nHost: {s3s}\r\n\r\n"))?;
        if status != 403 {
            bail!("s3s-fs: unsigned GET /{BUCKET} gave {status}, expected 403");
        }
        if !Path::new(env.require("HPCKIT_S3S_ROOT")?).join(BUCKET).is_dir() {
            bail!("s3s-fs bucket directory is missing");
        }
        Ok(())
    }
}

fn wait_http(addr: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        match http_status(addr, &format!("GET / HTTP/1.0\r\nHost: {addr}\r\n\r\n")) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e.context("moto did not come up")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}
