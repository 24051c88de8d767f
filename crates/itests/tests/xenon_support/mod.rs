//! Shared setup of the `xenon_*` integration tests: an `hpckit xenon-grpc` server
//! per test and the real PyXenon 3.0.3 of `cargo xtask services up pyxenon`
//! running `testdata/xenon/scenarios.py` against it.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use hpc_exec::{Command, Executor, LocalExecutor, Output, Process};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Runs `cmd` to completion here.
pub async fn run(cmd: Command) -> Output {
    LocalExecutor::new().run(&cmd).await.unwrap_or_else(|e| panic!("{}: {e}", cmd.display()))
}

/// The `hpckit` binary the tests run: `src/bin/hpckit-under-test.rs`, built by
/// cargo with the tests (so no test starts a build of its own).
pub fn hpckit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hpckit-under-test"))
}

/// A running `hpckit xenon-grpc --disable-tls -p 0`, killed on drop.
pub struct Server {
    /// Dropping the handle kills the server's process group.
    _process: Process,
    /// The port it chose.
    pub port: u16,
    /// Its `$HOME` (holds `.ssh/known_hosts` with the test sshd's host keys).
    pub home: tempfile::TempDir,
    /// A scratch directory on this host for the scenarios.
    pub scratch: tempfile::TempDir,
}

impl Server {
    /// Starts a server; the sshd service's host keys are known to it when that
    /// service runs (PyXenon scripts keep Xenon's strict host-key checking).
    pub async fn start() -> Server {
        Server::start_with(&["--disable-tls"]).await
    }

    /// Starts a server with these flags (plus `-p 0`).
    pub async fn start_with(flags: &[&str]) -> Server {
        let home = tempfile::Builder::new().prefix("hpckit-xenon-home-").tempdir().unwrap();
        let env = hpc_testkit::services::ServicesEnv::load();
        if env.has("sshd") {
            let known = env.require("sshd").path("HPCKIT_SSH_KNOWN_HOSTS");
            std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
            std::fs::copy(&known, home.path().join(".ssh/known_hosts")).unwrap();
        }
        let cmd = Command::new(hpckit_bin())
            .args(["xenon-grpc", "-p", "0"])
            .args(flags)
            .env("HOME", home.path());
        let mut process =
            LocalExecutor::new().spawn(&cmd).await.expect("starting hpckit xenon-grpc");
        let stderr = process.stderr.take().expect("the server's stderr");
        let mut line = String::new();
        BufReader::new(stderr).read_line(&mut line).await.unwrap();
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in the server's first line: {line:?}"));
        let scratch = tempfile::Builder::new().prefix("hpckit-xenon-").tempdir().unwrap();
        Server { _process: process, port, home, scratch }
    }

    /// `scenarios.py <name>` with `env`, started and left running.
    pub async fn spawn_scenario(&self, name: &str, env: &[(&str, String)]) -> Process {
        let cmd = self.scenario_command(name, env);
        LocalExecutor::new().spawn(&cmd).await.expect("starting python")
    }

    fn scenario_command(&self, name: &str, env: &[(&str, String)]) -> Command {
        let python =
            hpc_testkit::services::require("pyxenon").var("HPCKIT_PYXENON_PYTHON").to_owned();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/xenon/scenarios.py");
        let mut cmd = Command::new(&python)
            .arg(&script)
            .arg(name)
            .env("XENON_PORT", self.port.to_string())
            .env("LOCAL_TMP", self.scratch.path())
            .current_dir(self.scratch.path());
        for (k, v) in env {
            cmd = cmd.env(*k, v);
        }
        cmd
    }

    /// Runs `scenarios.py <name>` with `env` and returns what it printed (JSON);
    /// panics with its output when it fails.
    pub async fn scenario(&self, name: &str, env: &[(&str, String)]) -> Value {
        let out = run(self.scenario_command(name, env)).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "scenario {name} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("scenario {name} printed no JSON ({e}): {stdout}"))
    }
}

/// The test user of the sshd service as a Xenon password credential, and the
/// `host:port` Xenon locations name.
pub struct SshUser {
    pub user: String,
    pub password: String,
    pub authority: String,
    pub home: String,
}

impl SshUser {
    pub fn from_env() -> SshUser {
        let s = hpc_testkit::services::require("sshd");
        SshUser {
            user: s.var("HPCKIT_SSH_USER").into(),
            password: s.var("HPCKIT_SSH_PASSWORD").into(),
            authority: format!("{}:{}", s.var("HPCKIT_SSH_HOST"), s.var("HPCKIT_SSH_PORT")),
            home: s.var("HPCKIT_SSH_USER_HOME").into(),
        }
    }

    /// The credential variables of `scenarios.py`.
    pub fn credential(&self) -> Vec<(&'static str, String)> {
        vec![("XUSER", self.user.clone()), ("XPASSWORD", self.password.clone())]
    }

    /// A fresh directory in the test user's home, owned by that user.
    pub async fn scratch(&self, tag: &str) -> String {
        let dir = format!("{}/xenon-{tag}-{}", self.home, std::process::id());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = run(Command::new("chown").args([&self.user, &dir])).await;
        assert!(out.status.success(), "chown {dir}: {}", out.stderr_text());
        dir
    }
}

/// Checks the `jobs` scenario's answer: exit codes, one status answer per job,
/// cancel, timeouts, a job that does not exist.
pub fn check_jobs(v: &Value, adaptor: &str) {
    assert_eq!(v["adaptor"], adaptor, "{v}");
    assert_eq!(v["exit_codes"], serde_json::json!([0, 1, 2]), "{v}");
    assert_eq!(v["done"], serde_json::json!([true, true, true]), "{v}");
    assert_eq!(v["error_types"], serde_json::json!(["NONE", "NONE", "NONE"]), "{v}");
    assert_eq!(v["cancelled"]["done"], true, "{v}");
    assert_eq!(
        v["early_done"], false,
        "a 200 ms wait on a sleeping job returns it unfinished: {v}"
    );
    assert!(v["missing_job"].as_str().unwrap().starts_with("NoSuchJobException"), "{v}");
    assert_eq!(v["missing_in_batch"], "NOT_FOUND", "{v}");
    assert!(!v["queues"].as_array().unwrap().is_empty(), "{v}");
}

/// Checks the `files` scenario's answer for an adaptor with the given abilities.
pub fn check_files(v: &Value, adaptor: &str, can_append: bool) {
    assert_eq!(v["adaptor"], adaptor, "{v}");
    let expected = if can_append { "Hello, World!\nmore\n" } else { "Hello, World!\n" };
    assert_eq!(v["read"], expected, "{v}");
    assert_eq!(v["size"], expected.len(), "{v}");
    assert_eq!(v["exists"], true, "{v}");
    assert!(v["dup_dirs"].as_str().unwrap().starts_with("PathAlreadyExistsException"), "{v}");
    assert!(v["dup_write"].as_str().unwrap().starts_with("PathAlreadyExistsException"), "{v}");
    assert!(v["missing"].as_str().unwrap().starts_with("NoSuchPathException"), "{v}");
    assert_eq!(v["listing"], serde_json::json!(["/tree/sub", "/tree/sub/hello.txt"]), "{v}");
    let three_mib = 3 * 1024 * 1024;
    assert_eq!(v["copy_up"]["done"], true, "{v}");
    assert_eq!(v["copy_up"]["bytes"], three_mib, "{v}");
    assert_eq!(v["copy_down"]["bytes"], three_mib, "{v}");
    assert_eq!(v["round_trip_equal"], true, "{v}");
    assert_eq!(v["copy_exists"]["error_type"], "ALREADY_EXISTS", "{v}");
    assert_eq!(v["copy_replace"], "NONE", "{v}");
    assert_eq!(v["deleted"], true, "{v}");
}
