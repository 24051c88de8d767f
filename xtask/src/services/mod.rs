//! `cargo xtask services up|down|status`: real servers for the integration tests.
//!
//! Each service is one file in this folder implementing [`Service`] and one line in
//! [`REGISTRY`]. Machine-wide setup (Debian packages, users, PAM files) lives in
//! `docker/<name>/provision.sh` (shared with the Docker backend); everything of one
//! running instance (configs, pids, logs, keys) lives in `<workspace>/.services/<name>/`,
//! so several git worktrees can run their own instances side by side.
//!
//! After every `up`/`down` the endpoints of all running services are written to one env
//! file (`.services/services.env`, or `$HPCKIT_SERVICES_ENV`) that `hpc_testkit::services`
//! reads.

mod at;
mod couchdb;
mod daemon;
mod dask;
mod datamover;
#[cfg(feature = "docker")]
mod docker;
mod envfile;
mod ftp;
mod lock;
mod netns;
mod ports;
mod pyxenon;
mod s3;
mod sge;
mod slurm;
mod sshd;
mod torque;
mod uftp;
mod unicore;
mod webdav;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cmd, system};

pub(crate) use envfile::{EnvVars, is_secret};
pub(crate) use uftp::BUILD_ENV as UFTP_BUILD_ENV;

/// Every service `cargo xtask services` knows, in start order. Add yours here.
pub(crate) static REGISTRY: &[&dyn Service] = &[
    &sshd::Sshd,
    &webdav::Webdav,
    &s3::S3,
    &ftp::Ftp,
    &slurm::SLURM,
    &slurm::SLURM_ACCT,
    &at::AT,
    &sge::Sge,
    &torque::Torque,
    &unicore::Unicore,
    &uftp::Uftp,
    &couchdb::Couchdb,
    &datamover::Datamover,
    &pyxenon::Pyxenon,
    &dask::Dask,
];

/// Machine-wide state shared by all worktrees (passwords, client keys); root only.
pub(crate) const MACHINE_DIR: &str = "/var/lib/hpckit-services";

/// One real server (or a small group of them) for the integration tests.
///
/// The framework calls, for `services up <name>`:
/// 1. [`Service::health`] if the instance has an env file already: healthy means reuse;
/// 2. otherwise [`Service::stop`] (clears leftovers), [`Service::provision`],
///    [`Service::start`], then [`Service::health`] until it passes (20 s at most);
/// 3. writes the returned [`EnvVars`] into the state dir and the shared env file.
pub(crate) trait Service: Sync {
    /// Name on the command line, of the state dir, of `docker/<name>/` and in `HPCKIT_SERVICES`.
    fn name(&self) -> &'static str;

    /// One line for `services status`.
    fn about(&self) -> &'static str;

    /// Whether provisioning needs root (creating users, writing /etc). Most do.
    fn needs_root(&self) -> bool {
        true
    }

    /// Machine-wide, idempotent setup. The default runs `docker/<name>/provision.sh`.
    fn provision(&self, ctx: &mut Ctx<'_>) -> Result<()> {
        ctx.run_provision_script()
    }

    /// Starts the processes of this instance and returns the env vars tests read.
    /// Pick ports with [`Ctx::port`], spawn with [`Ctx::spawn_daemon`].
    fn start(&self, ctx: &mut Ctx<'_>) -> Result<EnvVars>;

    /// Quick check that the instance described by `env` answers (e.g. a TCP banner).
    fn health(&self, ctx: &Ctx<'_>, env: &EnvVars) -> Result<()>;

    /// Host directories the containers of this service see at the same path (docker
    /// backend), besides the state dir and the temp dir, which every one sees.
    fn docker_shares(&self) -> &'static [&'static str] {
        &[]
    }

    /// Stops this instance. The default kills every daemon started with
    /// [`Ctx::spawn_daemon`]; override to also undo other per-instance state.
    fn stop(&self, ctx: &Ctx<'_>) -> Result<()> {
        ctx.stop_daemons()
    }
}

/// Where services run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Backend {
    /// Plain processes on 127.0.0.1, packages from the system package manager.
    Native,
    /// Containers built from `docker/<name>/Dockerfile` (a Docker engine; as root
    /// xtask starts `dockerd` itself when none runs).
    Docker,
}

impl Backend {
    fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Docker => "docker",
        }
    }
}

/// `cargo xtask services ...`
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Action {
    /// Start services (default: all registered); a healthy running instance is reused.
    Up {
        /// Service names (see `status`).
        names: Vec<String>,
    },
    /// Stop services (default: all of this worktree).
    Down {
        /// Service names (see `status`).
        names: Vec<String>,
    },
    /// Show each registered service, whether it runs here, and its env file entries.
    Status,
}

/// Entry point of `cargo xtask services`.
pub(crate) fn run(action: Action, backend: Backend) -> Result<()> {
    match action {
        Action::Up { names } => up(&names, backend).map(|_| ()),
        Action::Down { names } => down(&names, backend),
        Action::Status => status(),
    }
}

/// Whether this xtask binary has the docker backend (`--features docker`); without it,
/// `--backend docker` runs `cargo run -p xtask --features docker` with the same
/// arguments, so the native path never builds testcontainers.
pub(crate) const HAS_DOCKER: bool = cfg!(feature = "docker");

/// Runs this very command line again in an xtask built with `--features docker`.
pub(crate) fn rerun_with_docker_feature() -> Result<()> {
    if std::env::var_os("HPCKIT_XTASK_DOCKER_RERUN").is_some() {
        bail!("xtask was rebuilt with --features docker but still lacks the docker backend");
    }
    println!("building xtask with the docker backend (cargo feature `docker`)");
    cmd::run(
        cmd::cargo()
            .args(["run", "--quiet", "--package", "xtask", "--features", "docker", "--"])
            .args(std::env::args_os().skip(1))
            .env("HPCKIT_XTASK_DOCKER_RERUN", "1"),
    )
}

/// Per-run context handed to a service: its directories and the ports reserved so far.
pub(crate) struct Ctx<'a> {
    name: &'static str,
    /// `<workspace>/.services/<name>/`: configs, pids, logs, keys of this instance.
    pub(crate) state_dir: PathBuf,
    /// `<workspace>/docker/<name>/`: provision.sh, packages, Dockerfile.
    pub(crate) script_dir: PathBuf,
    reserved: &'a mut BTreeSet<u16>,
    backend: Backend,
    /// The service's image (docker backend, once built).
    image: Option<String>,
    #[cfg_attr(not(feature = "docker"), expect(dead_code, reason = "read by the docker backend"))]
    shares: &'static [&'static str],
}

impl Ctx<'_> {
    /// A free TCP port on 127.0.0.1: `$env_var` if set (must be free), else `default` or
    /// the next free one above it. Ports handed out earlier in this run are skipped.
    pub(crate) fn port(&mut self, env_var: &str, default: u16) -> Result<u16> {
        let port = ports::pick(env_var, default, self.reserved)?;
        self.reserved.insert(port);
        if port != default && std::env::var_os(env_var).is_none() {
            println!(
                "  {}: port {default} is taken, using {port} (set {env_var} to choose)",
                self.name
            );
        }
        Ok(port)
    }

    /// The backend this instance runs on.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Spawns a long-running process detached from this one; `label` names its pid file
    /// (`<label>.pid`) and its stdout/stderr file (`<label>.out`) in the state dir.
    /// Its command line must mention the state dir (e.g. its config file): `stop` checks
    /// that before killing a pid, so a recycled pid is never hit.
    /// With the docker backend the process runs in a container of the service's image.
    pub(crate) fn spawn_daemon(&self, label: &str, cmd: &mut Command) -> Result<u32> {
        #[cfg(feature = "docker")]
        if let Some(image) = &self.image {
            let shares: Vec<&Path> = self.shares.iter().map(Path::new).collect();
            return docker::spawn(image, self.name, &self.state_dir, &shares, label, cmd);
        }
        daemon::spawn(&self.state_dir, label, cmd)
    }

    /// Kills every daemon spawned by [`Ctx::spawn_daemon`] for this service (and
    /// removes its containers).
    pub(crate) fn stop_daemons(&self) -> Result<()> {
        let killed = daemon::stop_all(&self.state_dir);
        #[cfg(feature = "docker")]
        docker::remove_containers(&self.state_dir)?;
        killed
    }

    /// True while every daemon spawned for this service is alive.
    pub(crate) fn daemons_alive(&self) -> bool {
        daemon::all_alive(&self.state_dir)
    }

    /// With the docker backend, how this service's containers stand (see
    /// `docker::describe_containers`), as `" (...)"`; empty otherwise.
    pub(crate) fn containers_state(&self) -> String {
        #[cfg(feature = "docker")]
        if self.image.is_some() {
            let state = docker::describe_containers(&self.state_dir);
            if !state.is_empty() {
                return format!(" (container {state})");
            }
        }
        String::new()
    }

    /// Runs `docker/<name>/provision.sh` (output to `provision.log` in the state dir).
    pub(crate) fn run_provision_script(&self) -> Result<()> {
        let script = self.script_dir.join("provision.sh");
        let log = self.state_dir.join("provision.log");
        let log_file = fs::File::create(&log)?;
        let status = Command::new("sh")
            .arg(&script)
            .env("HPCKIT_MACHINE_DIR", MACHINE_DIR)
            .stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .status()
            .with_context(|| format!("cannot run {}", script.display()))?;
        if !status.success() {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            bail!(
                "{} failed ({status}); last lines of {}:\n{}",
                script.display(),
                log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }
}

/// `$HPCKIT_SERVICES_DIR`, else `<workspace>/.services`: where the instances of this
/// worktree live. The docker step of `cargo xtask test` sets it to keep its containers'
/// instances beside the native ones, not in their place.
pub(crate) fn services_dir() -> PathBuf {
    match std::env::var_os(SERVICES_DIR_VAR) {
        Some(dir) => PathBuf::from(dir),
        None => default_services_dir(),
    }
}

/// `<workspace>/.services`
pub(crate) fn default_services_dir() -> PathBuf {
    cmd::workspace_root().join(".services")
}

/// Overrides [`services_dir`].
pub(crate) const SERVICES_DIR_VAR: &str = "HPCKIT_SERVICES_DIR";

/// The env file the integration tests read: `$HPCKIT_SERVICES_ENV`, else
/// `services.env` in [`services_dir`].
pub(crate) fn env_file_path() -> PathBuf {
    match std::env::var_os("HPCKIT_SERVICES_ENV") {
        Some(path) => PathBuf::from(path),
        None => services_dir().join("services.env"),
    }
}

fn lookup(names: &[String]) -> Result<Vec<&'static dyn Service>> {
    if names.is_empty() {
        return Ok(REGISTRY.to_vec());
    }
    names
        .iter()
        .map(|name| {
            REGISTRY.iter().copied().find(|s| s.name() == name).with_context(|| {
                let known: Vec<&str> = REGISTRY.iter().map(|s| s.name()).collect();
                format!("unknown service `{name}` (known: {})", known.join(", "))
            })
        })
        .collect()
}

/// Debian packages the given services need (from `docker/<name>/packages`).
pub(crate) fn required_packages(names: &[String]) -> Result<Vec<String>> {
    let mut all: Vec<String> = Vec::new();
    for service in lookup(names)? {
        let file = cmd::workspace_root().join("docker").join(service.name()).join("packages");
        let text =
            fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        for pkg in crate::doctor::parse_list(&text) {
            if !all.contains(&pkg) {
                all.push(pkg);
            }
        }
    }
    Ok(all)
}

fn context<'a>(
    service: &dyn Service,
    reserved: &'a mut BTreeSet<u16>,
    backend: Backend,
) -> Result<Ctx<'a>> {
    let state_dir = services_dir().join(service.name());
    fs::create_dir_all(&state_dir)
        .with_context(|| format!("cannot create {}", state_dir.display()))?;
    Ok(Ctx {
        name: service.name(),
        state_dir,
        script_dir: cmd::workspace_root().join("docker").join(service.name()),
        reserved,
        backend,
        image: None,
        shares: service.docker_shares(),
    })
}

/// The backend the instance in `state_dir` was started with (`native` when unrecorded).
fn recorded_backend(state_dir: &Path) -> Backend {
    match fs::read_to_string(state_dir.join("backend")) {
        Ok(text) if text.trim() == "docker" => Backend::Docker,
        _ => Backend::Native,
    }
}

/// Starts the named services (all when empty); returns the env file path.
/// A service that fails does not stop the others: the env file lists those that run,
/// and the error names every one that failed (their tests then fail loudly).
pub(crate) fn up(names: &[String], backend: Backend) -> Result<PathBuf> {
    let services = lookup(names)?;
    let _lock = lock::machine_lock()?;
    if backend == Backend::Docker {
        prepare_docker()?;
    }
    let mut reserved = BTreeSet::new();
    let mut failures = Vec::new();
    for service in services {
        if let Err(err) = up_one(service, &mut reserved, backend) {
            eprintln!("{}: FAILED: {err:#}", service.name());
            failures.push(format!("{err:#}"));
        }
    }
    let path = write_env_file()?;
    println!("env file: {}", path.display());
    if !failures.is_empty() {
        bail!("{} service(s) did not start:\n{}", failures.len(), failures.join("\n"));
    }
    Ok(path)
}

/// The engine and the base image, before any service image is built.
#[cfg(feature = "docker")]
fn prepare_docker() -> Result<()> {
    docker::ensure_engine()?;
    docker::ensure_base_image()
}

#[cfg(not(feature = "docker"))]
fn prepare_docker() -> Result<()> {
    bail!("this xtask was built without the docker backend (cargo feature `docker`)")
}

fn up_one(service: &dyn Service, reserved: &mut BTreeSet<u16>, backend: Backend) -> Result<()> {
    let started = Instant::now();
    let mut ctx =
        context(service, reserved, recorded_backend(&services_dir().join(service.name())))?;
    let env_path = ctx.state_dir.join("service.env");
    if ctx.backend == backend
        && let Ok(env) = EnvVars::read(&env_path)
        && service.health(&ctx, &env).is_ok()
    {
        println!("{}: already running ({}), reused", service.name(), backend.as_str());
        return Ok(());
    }
    let _ = fs::remove_file(&env_path);
    // Clears what the previous instance left, on whichever backend it ran.
    service
        .stop(&ctx)
        .with_context(|| format!("{}: cannot clear a previous instance", service.name()))?;
    ctx.backend = backend;
    fs::write(ctx.state_dir.join("backend"), format!("{}\n", backend.as_str()))?;
    if backend == Backend::Docker && ctx.script_dir.join("Dockerfile").exists() {
        provision_image(&mut ctx)?;
    } else if service.needs_root() && !system::is_root() {
        let missing =
            system::missing_debian_packages(&required_packages(&[service.name().into()])?);
        bail!(
            "{name} must be provisioned as root (users, /etc, network namespaces); run `sudo cargo xtask services up {name}`{}",
            if missing.is_empty() {
                String::new()
            } else {
                format!(" (missing Debian packages: {})", missing.join(" "))
            },
            name = service.name(),
        );
    }
    if ctx.image.is_none() {
        // Native, or a service without daemons (its commands run on the host).
        service
            .provision(&mut ctx)
            .with_context(|| format!("{}: provisioning failed", service.name()))?;
    }
    let env = match start_and_wait(service, &mut ctx) {
        Ok(env) => env,
        Err(err) => {
            let _ = service.stop(&ctx);
            return Err(err.context(format!(
                "{}: could not start (state, logs: {})",
                service.name(),
                ctx.state_dir.display()
            )));
        }
    };
    env.write(&env_path)?;
    println!("{}: up in {:.1} s", service.name(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Builds the service's image: its Dockerfile runs the same provision.sh.
#[cfg(feature = "docker")]
fn provision_image(ctx: &mut Ctx<'_>) -> Result<()> {
    let log = ctx.state_dir.join("image-build.log");
    let context_dir = ctx.state_dir.join("image-context");
    ctx.image = Some(
        docker::ensure_service_image(ctx.name, &context_dir, &log)
            .with_context(|| format!("{}: building its image failed", ctx.name))?,
    );
    Ok(())
}

#[cfg(not(feature = "docker"))]
fn provision_image(_ctx: &mut Ctx<'_>) -> Result<()> {
    prepare_docker()
}

fn start_and_wait(service: &dyn Service, ctx: &mut Ctx<'_>) -> Result<EnvVars> {
    let env = service.start(ctx)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match service.health(ctx, &env) {
            Ok(()) => return Ok(env),
            Err(err) if Instant::now() > deadline => {
                return Err(err.context("health check still failing after 20 s"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Stops the named services (all when empty) and rewrites the env file. Each stops on
/// the backend it was started with. `--backend docker` with no names stops the
/// services running in containers only, removes any other container of this worktree,
/// and stops a `dockerd` xtask started once no container is left.
pub(crate) fn down(names: &[String], backend: Backend) -> Result<()> {
    let services = lookup(names)?;
    let _lock = lock::machine_lock()?;
    let mut reserved = BTreeSet::new();
    let mut failures = Vec::new();
    for service in services {
        let state_dir = services_dir().join(service.name());
        let ran_on = recorded_backend(&state_dir);
        if backend == Backend::Docker && names.is_empty() && ran_on != Backend::Docker {
            // `down --backend docker`: the containers only, native services stay.
            continue;
        }
        let ctx = context(service, &mut reserved, ran_on)?;
        let had_state = ctx.state_dir.join("service.env").exists();
        let _ = fs::remove_file(ctx.state_dir.join("service.env"));
        match service.stop(&ctx) {
            Ok(()) if had_state => println!("{}: stopped", service.name()),
            Ok(()) => {}
            Err(err) => failures.push(format!("{}: {err:#}", service.name())),
        }
    }
    write_env_file()?;
    if backend == Backend::Docker
        && let Err(err) = docker_cleanup(names.is_empty())
    {
        failures.push(format!("docker: {err:#}"));
    }
    if !failures.is_empty() {
        bail!("some services did not stop cleanly:\n{}", failures.join("\n"));
    }
    Ok(())
}

#[cfg(feature = "docker")]
fn docker_cleanup(all: bool) -> Result<()> {
    if all {
        docker::remove_worktree_containers()?;
    }
    docker::stop_engine_if_idle()
}

#[cfg(not(feature = "docker"))]
fn docker_cleanup(_all: bool) -> Result<()> {
    Ok(())
}

fn status() -> Result<()> {
    let mut reserved = BTreeSet::new();
    println!("env file: {}", env_file_path().display());
    for service in REGISTRY {
        let state_dir = services_dir().join(service.name());
        let ctx = context(*service, &mut reserved, recorded_backend(&state_dir))?;
        let state = match EnvVars::read(&ctx.state_dir.join("service.env")) {
            Err(_) => "down".to_string(),
            Ok(env) => match service.health(&ctx, &env) {
                Ok(()) => "up".to_string(),
                Err(err) => format!("UNHEALTHY: {err:#}"),
            },
        };
        let on = if state == "down" { "" } else { ctx.backend.as_str() };
        println!("{:<10} {:<60} {state} {on}", service.name(), service.about());
        if let Ok(env) = EnvVars::read(&ctx.state_dir.join("service.env")) {
            for (key, value) in env.iter() {
                let shown = if envfile::is_secret(key) { "<secret>" } else { value };
                println!("    {key}={shown}");
            }
        }
    }
    Ok(())
}

/// Collects the env of every service with a state env file into the shared env file.
fn write_env_file() -> Result<PathBuf> {
    let mut all = EnvVars::default();
    let mut running = Vec::new();
    for service in REGISTRY {
        let path = services_dir().join(service.name()).join("service.env");
        if let Ok(env) = EnvVars::read(&path) {
            running.push(service.name());
            all.extend(env);
        }
    }
    let mut file = EnvVars::default();
    file.set("HPCKIT_SERVICES", running.join(","));
    file.extend(all);
    let path = env_file_path();
    file.write(&path)?;
    Ok(path)
}

/// Waits until `addr` accepts TCP connections and sends a first line starting with `prefix`.
pub(crate) fn banner(addr: &str, prefix: &str) -> Result<()> {
    use std::io::Read;
    let sockaddr: std::net::SocketAddr =
        addr.parse().with_context(|| format!("bad address {addr}"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&sockaddr, Duration::from_secs(2))
        .with_context(|| format!("nothing answers on {addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < prefix.len() {
        let n = stream.read(&mut buf).with_context(|| format!("no banner from {addr}"))?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    if !got.starts_with(prefix.as_bytes()) {
        bail!("{addr} answered {:?}, expected {prefix:?}", String::from_utf8_lossy(&got));
    }
    Ok(())
}

/// Writes `text` to `path` with the given mode, replacing it atomically.
pub(crate) fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp~");
    fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
