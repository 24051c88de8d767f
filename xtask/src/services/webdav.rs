//! `webdav`: a private Apache with mod_dav on 127.0.0.1 (never /etc/apache2).
//!
//! `/dav` is a WebDAV collection behind HTTP Basic auth (user `davuser`, a random
//! password per instance); `/dav/readonly` refuses every method that writes (403),
//! for permission tests. Apache forbids `Depth: infinity`, as most sites do.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{Ctx, EnvVars, Service, write_file};
use crate::cmd;

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";
const USER: &str = "davuser";

/// The `webdav` service.
pub(crate) struct Webdav;

impl Service for Webdav {
    fn name(&self) -> &'static str {
        "webdav"
    }

    fn about(&self) -> &'static str {
        "Apache mod_dav: Basic auth, Depth 0/1 only, a read-only area"
    }

    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
        let dir = ctx.state_dir.clone();
        let port = ctx.port("HPCKIT_WEBDAV_PORT", 8081)?;
        let data = dir.join("data");
        for sub in ["data", "data/readonly", "lock", "logs"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        fs::write(data.join("readonly/README"), "read-only area for permission tests\n")?;
        // Apache's workers run as www-data: they own the data and the lock DB.
        cmd::output(
            Command::new("chown")
                .arg("-R")
                .arg("www-data:www-data")
                .arg(&data)
                .arg(dir.join("lock")),
        )?;
        check_traversable(&dir)?;

        let password = random_secret(24)?;
        htpasswd(&dir.join("htpasswd"), &password)?;
        let conf = dir.join("httpd.conf");
        write_file(&conf, &config(&dir, port), 0o644)?;
        cmd::output(Command::new(APACHE).arg("-t").arg("-f").arg(&conf))
            .with_context(|| format!("apache2 rejects {}", conf.display()))?;
        ctx.spawn_daemon("apache2", Command::new(APACHE).arg("-f").arg(&conf).arg("-DFOREGROUND"))?;

        let mut env = EnvVars::default();
        env.set("HPCKIT_WEBDAV_URL", format!("webdav://127.0.0.1:{port}/dav"));
        env.set("HPCKIT_WEBDAV_HOST", "127.0.0.1");
        env.set("HPCKIT_WEBDAV_PORT", port.to_string());
        env.set("HPCKIT_WEBDAV_USER", USER);
        env.set("HPCKIT_WEBDAV_PASSWORD", password);
        env.set("HPCKIT_WEBDAV_DATA_DIR", data.to_string_lossy());
        env.set("HPCKIT_WEBDAV_READONLY", "/dav/readonly");
        env.set("HPCKIT_WEBDAV_LOG", dir.join("logs/error.log").to_string_lossy());
        Ok(env)
    }

    fn health(&self, ctx: &Ctx<'_>, env: &EnvVars) -> Result<()> {
        if !ctx.daemons_alive() {
            bail!("apache2 is not running");
        }
        let port = env.require("HPCKIT_WEBDAV_PORT")?;
        // Unauthenticated PROPFIND: Apache must answer 401 (auth on, server up).
        let status = http_status(
            &format!("127.0.0.1:{port}"),
            "PROPFIND /dav/ HTTP/1.0\r\nDepth: 0\r\n\r\n",
        )?;
        if status != 401 {
            bail!("PROPFIND /dav/ without credentials gave {status}, expected 401");
        }
        Ok(())
    }
}

fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    let modules = [
        ("mpm_event", "mod_mpm_event"),
        ("authz_core", "mod_authz_core"),
        ("authz_user", "mod_authz_user"),
        ("authn_core", "mod_authn_core"),
        ("authn_file", "mod_authn_file"),
        ("auth_basic", "mod_auth_basic"),
        ("dav", "mod_dav"),
        ("dav_fs", "mod_dav_fs"),
        ("mime", "mod_mime"),
        ("dir", "mod_dir"),
        ("alias", "mod_alias"),
    ];
    let mut text = format!(
        "# Private test Apache written by `cargo xtask services up webdav`.\n\
         ServerRoot {d}\n\
         ServerName 127.0.0.1\n\
         Listen 127.0.0.1:{port}\n\
         PidFile {d}/httpd.pid\n\
         ErrorLog {d}/logs/error.log\n\
         LogFormat \"%h %u \\\"%r\\\" %>s %b\" common\n\
         CustomLog {d}/logs/access.log common\n\
         User www-data\n\
         Group www-data\n\
         Timeout 60\n\
         MaxRequestWorkers 64\n"
    );
    for (name, file) in modules {
        text.push_str(&format!("LoadModule {name}_module {MODULES}/{file}.so\n"));
    }
    text.push_str(&format!(
        "TypesConfig /etc/mime.types\n\
         DAVLockDB {d}/lock/DAVLock\n\
         <Directory />\n    Require all denied\n</Directory>\n\
         Alias /dav {d}/data\n\
         <Directory {d}/data>\n\
         \x20   Dav On\n\
         \x20   DirectoryIndex disabled\n\
         \x20   AuthType Basic\n\
         \x20   AuthName \"hpckit test\"\n\
         \x20   AuthUserFile {d}/htpasswd\n\
         \x20   Require valid-user\n\
         </Directory>\n\
         <Directory {d}/data/readonly>\n\
         \x20   <LimitExcept GET HEAD OPTIONS PROPFIND>\n\
         \x20       Require all denied\n\
         \x20   </LimitExcept>\n\
         </Directory>\n"
    ));
    text
}

/// Apache's workers (www-data) must reach the data dir through every parent.
fn check_traversable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut cur = Some(dir);
    while let Some(p) = cur {
        let mode = fs::metadata(p)?.permissions().mode();
        if mode & 0o001 == 0 {
            bail!(
                "{} is not searchable by others (mode {mode:o}); Apache runs as www-data and cannot reach its data",
                p.display()
            );
        }
        cur = p.parent();
    }
    Ok(())
}

/// `htpasswd -ic`: the password goes through stdin, never onto a command line.
fn htpasswd(file: &Path, password: &str) -> Result<()> {
    let mut child = Command::new("htpasswd")
        .arg("-ciB")
        .arg(file)
        .arg(USER)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run htpasswd (apache2-utils)")?;
    child.stdin.take().context("htpasswd stdin")?.write_all(format!("{password}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("htpasswd failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Random letters and digits from the kernel.
pub(super) fn random_secret(len: usize) -> Result<String> {
    let mut raw = vec![0u8; len * 2];
    fs::File::open("/dev/urandom")?.read_exact(&mut raw)?;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    Ok(raw.iter().take(len).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect())
}

/// Send a raw HTTP/1.0 request to `addr` and return the status code of the answer.
pub(super) fn http_status(addr: &str, request: &str) -> Result<u16> {
    let sockaddr: std::net::SocketAddr =
        addr.parse().with_context(|| format!("bad address {addr}"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&sockaddr, Duration::from_secs(2))
        .with_context(|| format!("nothing answers on {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request.as_bytes())?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n =
            stream.read(&mut head[got..]).with_context(|| format!("no HTTP answer from {addr}"))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let line = String::from_utf8_lossy(&head[..got]);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{addr} answered {line:?}, not HTTP"))
}
