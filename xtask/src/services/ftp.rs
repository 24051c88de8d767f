//! `ftp`: a private vsftpd on 127.0.0.1 for the shared test user `hpctest`.
//!
//! Plain FTP and explicit TLS (`AUTH TLS`) on the same port, with a self-signed
//! certificate for `localhost`/127.0.0.1 (`HPCKIT_FTP_CA`). Passive mode only, on
//! a port range checked free. vsftpd has no MLSD: clients must parse `ls -l` lines.
//! Traps (SERVICES.md): `seccomp_sandbox=NO` or every data command answers 500;
//! `text_userdb_names=YES` or listings show numeric owners.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::{Ctx, EnvVars, MACHINE_DIR, Service, banner, ports, write_file};
use crate::cmd;

const VSFTPD: &str = "/usr/sbin/vsftpd";
const USER: &str = "hpctest";
/// Passive ports per instance.
const PASV_PORTS: u16 = 100;

/// The `ftp` service.
pub(crate) struct Ftp;

impl Service for Ftp {
    fn name(&self) -> &'static str {
        "ftp"
    }

    // The tests read and write the test user's home behind the server's back.
    fn docker_shares(&self) -> &'static [&'static str] {
        &["/home"]
    }

    fn about(&self) -> &'static str {
        "vsftpd: user hpctest, passive, explicit TLS, LIST only (no MLSD)"
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let dir = ctx.state_dir.clone();
        let port = ctx.port("HPCKIT_FTP_PORT", 2121)?;
        let pasv_min = pasv_range(ctx)?;
        let pasv_max = pasv_min + PASV_PORTS - 1;

        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        if !cert.exists() || !key.exists() {
            cmd::output(
                Command::new("openssl")
                    .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650"])
                    .args(["-subj", "/CN=localhost"])
                    .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
                    // A server certificate, not a CA: webpki refuses a CA as end entity.
                    .args(["-addext", "basicConstraints=critical,CA:FALSE"])
                    .args(["-addext", "extendedKeyUsage=serverAuth"])
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert),
            )
            .context("cannot make the FTP TLS certificate")?;
        }
        let conf = dir.join("vsftpd.conf");
        write_file(&conf, &config(&dir, port, pasv_min, pasv_max), 0o600)?;
        ctx.spawn_daemon("vsftpd", Command::new(VSFTPD).arg(&conf))?;

        let password = fs::read_to_string(Path::new(MACHINE_DIR).join("hpctest.password"))
            .context("the hpctest password (made by docker/lib.sh) is missing")?
            .trim()
            .to_string();
        let home = cmd::output(Command::new("getent").args(["passwd", USER]))?
            .split(':')
            .nth(5)
            .unwrap_or_default()
            .to_string();
        let mut env = EnvVars::default();
        env.set("HPCKIT_FTP_HOST", "127.0.0.1");
        env.set("HPCKIT_FTP_PORT", port.to_string());
        env.set("HPCKIT_FTP_USER", USER);
        env.set("HPCKIT_FTP_PASSWORD", password);
        env.set("HPCKIT_FTP_URL", format!("ftp://{USER}@127.0.0.1:{port}{home}"));
        env.set("HPCKIT_FTPS_URL", format!("ftps://{USER}@localhost:{port}{home}"));
        env.set("HPCKIT_FTP_ROOT", &home);
        env.set("HPCKIT_FTP_READONLY", format!("{home}/hpckit-readonly"));
        env.set("HPCKIT_FTP_CA", cert.to_string_lossy());
        env.set("HPCKIT_FTP_PASV_MIN", pasv_min.to_string());
        env.set("HPCKIT_FTP_PASV_MAX", pasv_max.to_string());
        env.set("HPCKIT_FTP_LOG", dir.join("vsftpd.log").to_string_lossy());
        Ok(env)
    }

    fn health(&self, ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        if !ctx.daemons_alive() {
            bail!("vsftpd is not running");
        }
        banner(&format!("127.0.0.1:{}", env.require("HPCKIT_FTP_PORT")?), "220")
    }
}

/// First port of a free passive range: `HPCKIT_FTP_PASV_MIN` (must be free), else
/// 30000, 30100, ... whichever range is entirely free.
fn pasv_range(ctx: &Ctx<'_>) -> Result<u16> {
    let free = |start: u16| (start..start + PASV_PORTS).all(ports::is_free);
    if let Ok(v) = std::env::var("HPCKIT_FTP_PASV_MIN") {
        let start: u16 =
            v.parse().with_context(|| format!("HPCKIT_FTP_PASV_MIN={v} is not a port"))?;
        if !free(start) {
            bail!(
                "HPCKIT_FTP_PASV_MIN={start}: some of ports {start}..{} are in use",
                start + PASV_PORTS
            );
        }
        return Ok(start);
    }
    let _ = ctx;
    (0..20u16)
        .map(|i| 30000 + i * PASV_PORTS)
        .find(|s| free(*s))
        .context("no free range of 100 passive ports in 30000..32000 (set HPCKIT_FTP_PASV_MIN)")
}

fn config(dir: &Path, port: u16, pasv_min: u16, pasv_max: u16) -> String {
    let d = dir.display();
    format!(
        "# Private test vsftpd written by `cargo xtask services up ftp`.\n\
         listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
         anonymous_enable=NO\nlocal_enable=YES\nwrite_enable=YES\nlocal_umask=022\nchmod_enable=YES\n\
         pam_service_name=vsftpd\nsecure_chroot_dir=/var/run/vsftpd/empty\n\
         pasv_enable=YES\npasv_address=127.0.0.1\npasv_min_port={pasv_min}\npasv_max_port={pasv_max}\n\
         connect_from_port_20=NO\nmax_clients=200\nmax_per_ip=200\n\
         text_userdb_names=YES\nseccomp_sandbox=NO\nuse_localtime=NO\nforce_dot_files=YES\n\
         xferlog_enable=YES\nlog_ftp_protocol=YES\nvsftpd_log_file={d}/vsftpd.log\nxferlog_file={d}/xferlog\n\
         ssl_enable=YES\nrsa_cert_file={d}/cert.pem\nrsa_private_key_file={d}/key.pem\n\
         allow_anon_ssl=NO\nforce_local_data_ssl=NO\nforce_local_logins_ssl=NO\nrequire_ssl_reuse=NO\n\
         ssl_sslv2=NO\nssl_sslv3=NO\nssl_tlsv1=YES\nssl_ciphers=HIGH\n"
    )
}
