//! The FileSystem conformance suite against `WsFileSystem` (a ZIH
//! workspace as a file system, `zih_datamover::filesystem`), always as the test
//! user and through the real Slurm's datamover partition, one trial per
//! check and setup (`cargo nextest run -p itests --test fs_ws_conformance --
//! ws_ssh_project::rename` runs one). Needs `cargo xtask services up slurm
//! datamover sshd`; a setup whose service is missing fails all its trials.
//!
//! * `ws_ssh_project`: over SSH (SFTP and commands on one connection), the
//!   checks working in the project space, every change through the
//!   datamover (`datamover=<project space>`, as all of `/projects` is
//!   read-only on ZIH's login nodes).
//! * `ws_ssh_workspace`: the same connection, the checks in the workspace:
//!   every change plain.
//! * `ws_local_all`: on this host, commands as the test user, every change
//!   through the datamover (`datamover=all`), in the workspace.

use std::sync::Arc;

use fs_adaptors::LocalFileSystem;
use fs_adaptors::sftp::{SftpConfig, SftpFileSystem};
use hpc_core::{FileSystem, Path, Result};
use hpc_exec::ssh::{SshExecutor, SshOptions};
use hpc_exec::{Executor, LocalExecutor};
use hpc_testkit::fs_conformance::{self, Declared, FsFixture, unique_name};
use hpc_testkit::trials::{self, Trial, make_fixture};
use zih_datamover::filesystem::{DatamoverTargets, WsConfig, WsFileSystem};
use zih_datamover::{AllocateRequest, WorkspaceConfig, Workspaces};

/// The workspace of a setup (allocated, or reused, by the test user); one
/// per setup, because the local setup's plain file system is this process's
/// (root's) and the directories it makes are not the test user's.
fn workspace(suite: &str) -> String {
    format!("hpckit-{}", suite.replace('_', "-"))
}

fn main() {
    let mut all: Vec<Trial> = Vec::new();
    all.extend(suite("ws_ssh_project", Where::Project, Via::Ssh));
    all.extend(suite("ws_ssh_workspace", Where::Workspace, Via::Ssh));
    all.extend(suite("ws_local_all", Where::Workspace, Via::LocalAllDatamover));
    trials::run(all);
}

#[derive(Clone, Copy)]
enum Where {
    Project,
    Workspace,
}

#[derive(Clone, Copy)]
enum Via {
    Ssh,
    LocalAllDatamover,
}

struct Env {
    bin: String,
    project: String,
    user: String,
}

fn env() -> Env {
    hpc_testkit::services::require("slurm");
    let dm = hpc_testkit::services::require("datamover");
    Env {
        bin: dm.var("HPCKIT_DM_BIN").to_owned(),
        project: dm.var("HPCKIT_DM_PROJECT").to_owned(),
        user: dm.var("HPCKIT_DM_USER").to_owned(),
    }
}

fn user_ids(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == user)
        .map(|f| (f[2].parse().expect("uid"), f[3].parse().expect("gid")))
        .unwrap_or_else(|| panic!("user {user} missing: run `cargo xtask services up datamover`"))
}

/// The executor (as the test user) and the plain file system of a setup,
/// on a connection of the trial's own.
async fn reach(via: Via, env: &Env) -> Result<(Arc<dyn Executor>, Arc<dyn FileSystem>)> {
    match via {
        Via::Ssh => {
            let sshd = hpc_testkit::services::require("sshd");
            let url = format!(
                "sftp://{}@{}:{}?known_hosts={}&ssh_config=none",
                sshd.var("HPCKIT_SSH_USER"),
                sshd.var("HPCKIT_SSH_HOST"),
                sshd.var("HPCKIT_SSH_PORT"),
                sshd.var("HPCKIT_SSH_KNOWN_HOSTS"),
            );
            let loc: hpc_core::Location = url.parse()?;
            let creds = hpc_auth::CredentialMap::with_default(hpc_auth::Credential::key_file(
                sshd.var("HPCKIT_SSH_USER"),
                sshd.path("HPCKIT_SSH_KEY"),
                None,
            ));
            let ssh = SshExecutor::connect(SshOptions::from_location(&loc)?, &creds).await?;
            let stream = ssh.open_subsystem("sftp").await?;
            let exec: Arc<dyn Executor> = Arc::new(ssh);
            let sftp = SftpFileSystem::from_stream(
                stream,
                SftpConfig::from_location(&loc)?,
                Some(exec.clone()),
            )
            .await?;
            Ok((exec, Arc::new(sftp)))
        }
        Via::LocalAllDatamover => {
            let (uid, gid) = user_ids(&env.user);
            Ok((Arc::new(LocalExecutor::as_user(uid, gid)), Arc::new(LocalFileSystem::new()?)))
        }
    }
}

fn suite(name: &'static str, at: Where, via: Via) -> Vec<Trial> {
    let make = make_fixture(move || async move {
        let env = env();
        let (exec, plain) = reach(via, &env).await?;
        let tools = Workspaces::new(exec.clone(), WorkspaceConfig::with_bin_dir(&env.bin));
        let ws = tools.allocate(&AllocateRequest::new(workspace(name), 7)).await?;
        let mut cfg = WsConfig::workspace(workspace(name)).bin_dir(&env.bin);
        match (at, via) {
            (_, Via::LocalAllDatamover) => cfg.targets = DatamoverTargets::All,
            // All of the project space through the datamover, as on ZIH. The
            // probe alone would find the directories the datamover made
            // below the stand-in's gate writable (they are the user's).
            (Where::Project, _) => {
                cfg.targets = DatamoverTargets::Probe(vec![Path::new(&env.project)?]);
            }
            (Where::Workspace, Via::Ssh) => {}
        }
        let fs: Arc<dyn FileSystem> = Arc::new(WsFileSystem::open(exec, plain, cfg).await?);
        let base = match at {
            Where::Project => Path::new(&env.project)?,
            Where::Workspace => Path::new(&ws.directory)?,
        };
        let root = base.join_entry(&unique_name(name))?;
        Ok(FsFixture::new(fs, root))
    });
    let mut caps = zih_datamover::filesystem::capabilities();
    if matches!(via, Via::LocalAllDatamover) {
        caps.set_permissions = false;
    }
    fs_conformance::trials(name, &Declared::new(caps), make)
}
