//! Shared by the `unicore_*` tests: the service's settings and running PyUNICORE.

#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use hpc_auth::{Credential, CredentialMap};
use hpc_core::Location;
use hpc_exec::{Command, Executor, LocalExecutor};
use hpc_testkit::services::{ServiceEnv, require};
use serde_json::Value;
use unicore_rest::{Transport, credential};

pub struct Unicore {
    pub env: ServiceEnv,
    pub url: String,
    pub registry: String,
    pub workflows: String,
    pub user: String,
    pub password: String,
    pub token: String,
    pub ca: PathBuf,
    /// `demouser`'s SSH keys (see `xtask/README.md`, `HPCKIT_UNICORE_KEYS`).
    pub keys: PathBuf,
    pub key_passphrase: String,
    pub python: String,
    pub cli: String,
}

/// The running service; panics (naming `cargo xtask services up unicore`) without it.
pub fn unicore() -> Unicore {
    let env = require("unicore");
    let var = |k: &str| env.var(k).to_owned();
    Unicore {
        url: var("HPCKIT_UNICORE_URL"),
        registry: var("HPCKIT_UNICORE_REGISTRY"),
        workflows: var("HPCKIT_UNICORE_WORKFLOWS"),
        user: var("HPCKIT_UNICORE_USER"),
        password: var("HPCKIT_UNICORE_PASSWORD"),
        token: var("HPCKIT_UNICORE_TOKEN"),
        ca: PathBuf::from(var("HPCKIT_UNICORE_CA")),
        keys: PathBuf::from(var("HPCKIT_UNICORE_KEYS")),
        key_passphrase: var("HPCKIT_UNICORE_KEY_PASSPHRASE"),
        python: var("HPCKIT_UNICORE_PYTHON"),
        cli: var("HPCKIT_UNICORE_CLI"),
        env,
    }
}

impl Unicore {
    /// A transport that trusts the server's CA and logs in with the password.
    pub fn transport(&self) -> Transport {
        Transport::builder()
            .credential(credential::username_password(&self.user, self.password.as_str()))
            .add_ca_file(&self.ca)
            .build()
            .expect("transport")
    }

    /// `unicore://localhost:PORT/DEMO-SITE<rest>?ca=...` (the hpc-core adaptors'
    /// location) and a credential map with the password for it.
    pub fn location(&self, rest: &str) -> (Location, CredentialMap) {
        let port = self.env.var("HPCKIT_UNICORE_PORT");
        let loc = format!("unicore://localhost:{port}/DEMO-SITE{rest}?ca={}", self.ca.display());
        let mut creds = CredentialMap::new();
        creds.insert(
            format!("localhost:{port}"),
            Credential::password(&self.user, self.password.as_str()),
        );
        (loc.parse().expect("a unicore:// location"), creds)
    }

    /// Runs scenario `name` of `unicore_py/scenarios.py` with the real PyUNICORE and
    /// returns its `RESULT` JSON; panics with its output when it fails.
    pub async fn pyunicore(&self, name: &str) -> Value {
        let tmp = tempfile::tempdir().unwrap();
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/unicore_py/scenarios.py");
        let cmd = Command::new(&self.python)
            .arg(&script)
            .arg(name)
            .env("UC_URL", &self.url)
            .env("UC_REGISTRY", &self.registry)
            .env("UC_WORKFLOWS", &self.workflows)
            .env("UC_USER", &self.user)
            .env("UC_PASSWORD", &self.password)
            .env("UC_TOKEN", &self.token)
            .env("UC_KEYS", &self.keys)
            .env("UC_KEY_PASSPHRASE", &self.key_passphrase)
            .env("UC_TMP", tmp.path());
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

    /// Runs PyUNICORE's `unicore` CLI with a config file for this server.
    pub async fn cli(&self, home: &std::path::Path, args: &[&str]) -> hpc_exec::Output {
        let config = home.join("ucc.properties");
        std::fs::write(
            &config,
            format!(
                "# written by the itest\nusername={}\npassword={}\nregistry={}\ncontact-registry=true\n",
                self.user, self.password, self.registry
            ),
        )
        .unwrap();
        let (command, rest) = args.split_first().expect("a command");
        let cmd = Command::new(&self.cli)
            .arg(command)
            .arg("-c")
            .arg(&config)
            .args(rest)
            .env("HOME", home)
            .current_dir(home);
        LocalExecutor::new().run(&cmd).await.expect("running the unicore CLI")
    }
}
