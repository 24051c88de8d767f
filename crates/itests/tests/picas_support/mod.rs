//! Shared setup of the `picas_*` integration tests: the pouchdb-server of
//! `cargo xtask services up couchdb`, a fresh database per test, the `hpckit`
//! binary, the real Python picas 1.1.2, side files that count command runs,
//! and private pouchdb-server instances that a test may stop and restart.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hpc_exec::{Command, Executor, LocalExecutor, Output, Process};
use picas_tokens::{CouchConfig, CouchDb, DbUrl, TokenPool};

/// The couchdb service.
pub fn svc() -> hpc_testkit::services::ServiceEnv {
    hpc_testkit::services::require("couchdb")
}

static N: AtomicUsize = AtomicUsize::new(0);

/// One test's database on the shared server, created empty.
pub struct Db {
    /// `http://127.0.0.1:port` (no credentials).
    pub server: String,
    /// Database name.
    pub name: String,
    /// Admin user and password.
    pub user: String,
    pub password: String,
    /// A scratch directory (side files, token files), removed at the end.
    pub dir: tempfile::TempDir,
}

impl Db {
    /// A new, empty database named after the test.
    pub async fn new(test: &str) -> Db {
        let s = svc();
        let server = s.var("HPCKIT_COUCHDB_URL").to_owned();
        Db::on(server, s.var("HPCKIT_COUCHDB_USER"), s.var("HPCKIT_COUCHDB_PASSWORD"), test).await
    }

    /// A new database on another server (a private instance).
    pub async fn on(server: String, user: &str, password: &str, test: &str) -> Db {
        let n = N.fetch_add(1, Ordering::SeqCst);
        let name = format!("{test}-{}-{n}", std::process::id()).to_lowercase().replace('_', "-");
        let dir = tempfile::Builder::new().prefix("hpckit-picas-").tempdir().unwrap();
        let db = Db { server, name, user: user.into(), password: password.into(), dir };
        let client = db.client();
        // A leftover of an earlier run with the same pid would confuse counts.
        client.delete_db().await.unwrap();
        assert!(client.create_db().await.unwrap(), "database {} existed", db.name);
        db
    }

    /// `http://admin@host:port/db` (the password goes separately).
    pub fn url(&self) -> String {
        let hostport = self.server.trim_start_matches("http://");
        format!("http://{}@{hostport}/{}", self.user, self.name)
    }

    /// The URL with the password inside.
    pub fn url_with_password(&self) -> String {
        let hostport = self.server.trim_start_matches("http://");
        format!("http://{}:{}@{hostport}/{}", self.user, self.password, self.name)
    }

    /// A client with a password.
    pub fn client(&self) -> CouchDb {
        self.client_with(CouchConfig::default())
    }

    /// A client with these settings.
    pub fn client_with(&self, config: CouchConfig) -> CouchDb {
        let url = DbUrl::parse(&self.url()).unwrap().with_password(self.password.clone());
        CouchDb::with_config(url, config).unwrap()
    }

    /// The pool with `_design/Monitor`.
    pub fn pool(&self) -> TokenPool {
        TokenPool::new(self.client())
    }

    /// A file in the scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `hpckit <args>` with the password in `HPCKIT_TEST_DB_PW`
    /// (give `--db-password-env HPCKIT_TEST_DB_PW`).
    pub fn hpckit(&self, args: &[&str]) -> Command {
        Command::new(hpckit_bin()).args(args).env("HPCKIT_TEST_DB_PW", &self.password)
    }

    /// The Python peer (`picas_peer.py <args>`) on this database.
    pub fn python(&self, args: &[&str]) -> Command {
        let python = svc().var("HPCKIT_PICAS_PYTHON").to_owned();
        Command::new(python)
            .arg(testdata().join("picas_peer.py"))
            .args(args)
            .env("PICAS_URL", &self.server)
            .env("PICAS_DB", &self.name)
            .env("PICAS_USER", &self.user)
            .env("PICAS_PASSWORD", &self.password)
    }
}

/// `crates/itests/testdata/picas`.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/picas")
}

/// Run to completion; panics with the output when it did not exit 0.
pub async fn ok(cmd: Command) -> Output {
    let out = LocalExecutor::new().run(&cmd).await.unwrap();
    assert!(out.status.success(), "{} failed: {out:?}", cmd.display());
    out
}

/// Run to completion, any exit.
pub async fn run(cmd: Command) -> Output {
    LocalExecutor::new().run(&cmd).await.unwrap()
}

/// Start without waiting.
pub async fn spawn(cmd: Command) -> Process {
    LocalExecutor::new().spawn(&cmd).await.unwrap()
}

/// The `hpckit` command: itests' `hpckit-under-test` binary, which cargo
/// builds with the tests (`tests/support/hpckit.rs`), so no test builds it.
pub fn hpckit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hpckit-under-test"))
}

/// A file of `echo <id> >> <side>` tokens as JSON lines, ids `<prefix><n>`.
pub fn token_lines(ids: &[String], side: &Path, extra: &str) -> String {
    ids.iter()
        .map(|id| {
            let input = format!("echo {id} >> {}{extra}", side.display());
            serde_json::json!({ "_id": id, "input": input }).to_string() + "\n"
        })
        .collect()
}

/// How often each id appears in a side file.
pub fn side_counts(side: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(side).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        *counts.entry(line.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// Poll `check` until it is true; panics after `limit` (a liveness bound,
/// not a timing assertion: the work normally ends far sooner).
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: still not true after {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A private pouchdb-server with data on disk (`--dir`), to stop and restart.
pub struct PrivateServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    process: Option<Process>,
    pub password: String,
}

impl PrivateServer {
    /// Start on a free port with admin `admin` and a fresh password.
    pub async fn start() -> PrivateServer {
        let port = free_port();
        let dir = tempfile::Builder::new().prefix("hpckit-pouch-").tempdir().unwrap();
        let password = format!("pw{}x{}", std::process::id(), port);
        let mut s = PrivateServer { port, dir, process: None, password };
        s.restart().await;
        s
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// (Re)start it on the same port and data.
    pub async fn restart(&mut self) {
        let config = self.dir.path().join("config.json");
        if !config.exists() {
            let text = serde_json::json!({
                "admins": { "admin": self.password },
                "log": { "file": self.dir.path().join("log.txt"), "level": "warning" },
            });
            std::fs::write(&config, text.to_string()).unwrap();
        }
        let data = self.dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let bin = svc().var("HPCKIT_COUCHDB_BIN").to_owned();
        let cmd = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string(), "--no-color"])
            .arg("--dir")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .current_dir(self.dir.path());
        self.process = Some(spawn(cmd).await);
        let url = format!("{}/", self.url());
        eventually("private pouchdb-server answers", Duration::from_secs(30), || {
            let url = url.clone();
            async move { std::net::TcpStream::connect(url[7..url.len() - 1].to_string()).is_ok() }
        })
        .await;
    }

    /// Kill it (SIGKILL to its process group) and wait until it is gone.
    pub async fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill().await.unwrap();
            p.wait().await.unwrap();
        }
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // Process's own drop kills the group when it is still running.
        self.process.take();
    }
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
