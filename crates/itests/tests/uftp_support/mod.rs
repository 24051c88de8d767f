//! Shared by the `uftp_*` tests: the service's settings, sessions, and the
//! real Python clients (PyUNICORE's `uftp` module, `pyuftp`).

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use hpc_exec::{Command, Executor, LocalExecutor};
use hpc_testkit::services::{ServiceEnv, require};
use serde_json::Value;
use uftp_proto::{AuthRequest, AuthServer, EncryptionKey, Session, TransferOptions};
use unicore_rest::{Transport, credential};

pub struct Uftp {
    pub env: ServiceEnv,
    pub auth_url: String,
    pub user: String,
    pub password: String,
    pub token: String,
    pub ca: PathBuf,
    /// The server's `/` on disk.
    pub root: PathBuf,
    pub python: String,
    pub pyuftp: String,
}

/// The running service; panics (naming `cargo xtask services up uftp`) without it.
pub fn uftp() -> Uftp {
    let env = require("uftp");
    let var = |k: &str| env.var(k).to_owned();
    Uftp {
        auth_url: var("HPCKIT_UFTP_AUTH_URL"),
        user: var("HPCKIT_UFTP_USER"),
        password: var("HPCKIT_UFTP_PASSWORD"),
        token: var("HPCKIT_UFTP_TOKEN"),
        ca: PathBuf::from(var("HPCKIT_UFTP_CA")),
        root: PathBuf::from(var("HPCKIT_UFTP_ROOT")),
        python: var("HPCKIT_UFTP_PYTHON"),
        pyuftp: var("HPCKIT_UFTP_PYUFTP"),
        env,
    }
}

/// A directory name no other test uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

impl Uftp {
    /// A transport that trusts the auth server's CA and logs in with the password.
    pub fn transport(&self) -> Transport {
        Transport::builder()
            .credential(credential::username_password(&self.user, self.password.as_str()))
            .add_ca_file(&self.ca)
            .build()
            .expect("transport")
    }

    pub fn auth(&self) -> AuthServer {
        AuthServer::new(self.transport(), &self.auth_url).expect("auth server")
    }

    /// A fresh directory `/data/<name>` on the server (made on disk) and its path there.
    pub fn fresh_dir(&self, prefix: &str) -> (String, PathBuf) {
        let name = unique(prefix);
        let disk = self.root.join("data").join(&name);
        std::fs::create_dir_all(&disk).unwrap();
        (format!("/data/{name}"), disk)
    }

    /// A session on `base` with these options (the key and compression go into
    /// the auth request too).
    pub async fn session(
        &self,
        base: &str,
        streams: usize,
        key: Option<EncryptionKey>,
        compress: bool,
    ) -> Session {
        let req = AuthRequest {
            server_path: base.into(),
            streams,
            compress,
            key: key.clone(),
            ..Default::default()
        };
        let grant = self.auth().authenticate(&req).await.expect("authenticate");
        Session::connect(&grant, TransferOptions { streams, key, compress, ..Default::default() })
            .await
            .expect("login")
    }

    /// UFTP as a file system on `base` (`params` are extra `&key=value`s).
    pub async fn filesystem(
        &self,
        base: &str,
        params: &str,
    ) -> hpc_core::Result<std::sync::Arc<dyn hpc_core::FileSystem>> {
        let port = self.env.var("HPCKIT_UFTP_AUTH_PORT");
        let loc = format!(
            "uftp://{}@localhost:{port}/rest/auth/TEST:{base}?ca={}{params}",
            self.user,
            self.ca.display()
        );
        let mut creds = hpc_auth::CredentialMap::new();
        creds.insert(
            format!("localhost:{port}"),
            hpc_auth::Credential::password(&self.user, self.password.as_str()),
        );
        let fs = uftp_proto::filesystem::UftpFileSystem::open(&loc.parse()?, &creds).await?;
        Ok(std::sync::Arc::new(fs))
    }

    /// Runs scenario `name` of `uftp_py/scenarios.py` with the real PyUNICORE;
    /// its `RESULT` JSON.
    pub async fn pyunicore(&self, name: &str, base: &str) -> Value {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/uftp_py/scenarios.py");
        let tmp = tempfile::tempdir().unwrap();
        let cmd = Command::new(&self.python)
            .arg(&script)
            .arg(name)
            .env("UFTP_AUTH_URL", &self.auth_url)
            .env("UFTP_USER", &self.user)
            .env("UFTP_PASSWORD", &self.password)
            .env("UFTP_BASE", base)
            .env("UFTP_TMP", tmp.path());
        let out = LocalExecutor::new().run(&cmd).await.expect("running python");
        let stdout = out.stdout_text();
        assert!(
            out.status.success(),
            "PyUNICORE scenario {name} failed ({}):\n{stdout}\n{}",
            out.status,
            out.stderr_text()
        );
        let line = stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("RESULT "))
            .unwrap_or_else(|| panic!("scenario {name} printed no RESULT:\n{stdout}"));
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("scenario {name}: bad RESULT {line}: {e}"))
    }

    /// Runs `pyuftp <command> -u user:password <args>` in `dir`. The password
    /// travels in the environment, never in an argv that a log may show
    /// (`cargo xtask test` scans the suite's trace for it).
    pub async fn pyuftp(
        &self,
        dir: &std::path::Path,
        command: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> hpc_exec::Output {
        let mut cmd = Command::new("sh")
            .arg("-c")
            .arg(r#"p=$1; c=$2; shift 2; exec "$p" "$c" -u "$PYUFTP_USER_PASSWORD" "$@""#)
            .arg("pyuftp")
            .arg(&self.pyuftp)
            .arg(command)
            .args(args)
            .env("PYUFTP_USER_PASSWORD", format!("{}:{}", self.user, self.password))
            .current_dir(dir);
        for (k, v) in env {
            cmd = cmd.env(*k, *v);
        }
        LocalExecutor::new().run(&cmd).await.expect("running pyuftp")
    }

    /// Data connections the UFTPD test server accepted for transfers and
    /// listings under `dir` (a path in its tree, e.g. a `fresh_dir` base);
    /// a KEEP-ALIVE connection counts once however many files it carried.
    pub async fn data_connections(&self, dir: &str) -> u64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let port = self.env.var("HPCKIT_UFTP_COMMAND_PORT");
        let mut c = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await.unwrap();
        let ask = format!("request-type=hpckit-stats-request\nfile={dir}\nEND\n");
        c.write_all(ask.as_bytes()).await.unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).await.unwrap();
        answer
            .lines()
            .find_map(|l| l.strip_prefix("DataConnections: "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("the UFTPD test server answered {answer:?}"))
    }

    /// `https://localhost:PORT/rest/auth/TEST:<path>` (pyuftp's URL form).
    pub fn url(&self, path: &str) -> String {
        format!("{}:{path}", self.auth_url)
    }
}

/// Deterministic test bytes.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (((i as u64 * 2_654_435_761) >> 13) as u8) ^ seed).collect()
}
