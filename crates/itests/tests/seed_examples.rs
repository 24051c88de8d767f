//! Every example program of the umbrella crate (`crates/hpckit/examples/`,
//! one per example of the four seed READMEs, indexed in its README.md) run
//! against the real services, with assertions on what each one did:
//! `cargo xtask services up sshd slurm datamover couchdb unicore uftp dask`.

#[path = "support/examples.rs"]
mod examples;
#[path = "unicore_support/mod.rs"]
mod unicore_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use examples::{command, output_of, run};
use hpc_exec::{Command, Executor, LocalExecutor};
use hpc_testkit::services::require;

/// The uid and gid of `user`, from /etc/passwd.
fn user_ids(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let fields: Vec<&str> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == user)
        .unwrap_or_else(|| panic!("no user {user}: run `cargo xtask services up sshd`"));
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

/// A name no other test (of this or another run) uses.
fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("{what}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// The line of `out` that starts with `prefix`, without it.
fn line_after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

// ---- PyUNICORE (000) -------------------------------------------------------

const UNICORE: &[&str] = &["unicore"];

#[tokio::test]
async fn pyunicore_client_prints_the_site_properties() {
    let out = run("pyunicore_client", &[], UNICORE).await;
    let props: serde_json::Value = serde_json::from_str(&out).expect("the properties as JSON");
    let site = require("unicore").var("HPCKIT_UNICORE_URL").to_owned();
    assert_eq!(props["_links"]["self"]["href"], site.as_str(), "{out}");
    assert_eq!(props["server"]["siteName"], "DEMO-SITE", "{out}");
    assert!(props["client"]["dn"].as_str().is_some_and(|dn| !dn.is_empty()), "{out}");
}

#[tokio::test]
async fn pyunicore_run_job_reads_the_output_of_date() {
    let out = run("pyunicore_run_job", &[], UNICORE).await;
    assert_eq!(line_after(&out, "status: "), "Successful, exit code: Some(0)", "{out}");
    let job_id = line_after(&out, "job: ").rsplit('/').next().unwrap();
    assert!(line_after(&out, "working directory: ").contains(job_id), "{out}");
    assert!(line_after(&out, "stdout file: ").contains("stdout"), "{out}");
    // `date` prints the year; the job ran just now.
    let year = LocalExecutor::new().run(&Command::new("date").arg("+%Y")).await.unwrap();
    let printed = line_after(&out, "stdout: ");
    assert!(printed.contains(year.stdout_text().trim()), "{printed:?} is no date of this year");
}

#[tokio::test]
async fn pyunicore_registry_lists_the_site() {
    let out = run("pyunicore_registry", &[], UNICORE).await;
    let site = require("unicore").var("HPCKIT_UNICORE_URL").to_owned();
    assert_eq!(out, format!("DEMO-SITE {site}\n"));
}

#[tokio::test]
async fn pyunicore_helpers_connect_to_the_registry() {
    let out = run("pyunicore_helpers_connect_registry", &[], UNICORE).await;
    let svc = require("unicore");
    assert_eq!(line_after(&out, "registry: "), svc.var("HPCKIT_UNICORE_REGISTRY"), "{out}");
    assert_eq!(line_after(&out, "site DEMO-SITE: "), svc.var("HPCKIT_UNICORE_URL"), "{out}");
    let workflows = line_after(&out, "workflow service ");
    assert!(workflows.ends_with(svc.var("HPCKIT_UNICORE_WORKFLOWS")), "{out}");
}

#[tokio::test]
async fn pyunicore_helpers_connect_to_a_site_from_the_registry() {
    let out = run("pyunicore_helpers_site_from_registry", &["DEMO-SITE"], UNICORE).await;
    let site = require("unicore").var("HPCKIT_UNICORE_URL").to_owned();
    let (first, props) = out.split_once('\n').unwrap();
    assert_eq!(first, format!("site DEMO-SITE: {site}"));
    let props: serde_json::Value = serde_json::from_str(props).expect("the properties as JSON");
    assert_eq!(props["_links"]["self"]["href"], site.as_str(), "{out}");

    let cmd = command("pyunicore_helpers_site_from_registry", &["NOWHERE"], UNICORE);
    let failed = LocalExecutor::new().run(&cmd).await.unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("NOWHERE") && stderr.contains("DEMO-SITE"), "{stderr}");
}

#[tokio::test]
async fn pyunicore_helpers_connect_to_a_site_directly() {
    let out = run("pyunicore_helpers_connect_site", &[], UNICORE).await;
    assert!(
        line_after(&out, "scheduler: ").starts_with("unicore at unicore://localhost:"),
        "{out}"
    );
    assert!(line_after(&out, "job ").ends_with(": Completed"), "{out}");
    assert!(line_after(&out, "file system: ").starts_with("unicore at "), "{out}");
}

#[tokio::test]
async fn pyunicore_job_description_becomes_the_rest_json() {
    let out = run("pyunicore_job_description", &[], UNICORE).await;
    let (json, status) = out.rsplit_once("status: ").unwrap();
    let desc: serde_json::Value = serde_json::from_str(json).expect("the description as JSON");
    assert_eq!(desc["Executable"], "ls", "{out}");
    assert_eq!(desc["Project"], "demoproject", "{out}");
    assert_eq!(desc["Resources"]["Nodes"], 4, "{out}");
    assert_eq!(status.trim(), "Successful", "{out}");
}

/// The forwarder's local port reaches an echo server on the "login node"
/// (this host) through the UNICORE server's forwarding of a running job.
#[tokio::test(flavor = "multi_thread")]
async fn pyunicore_forwarder_relays_to_the_remote_port() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    use unicore_rest::{Backoff, Client, JobDescription, JobState, Transport, credential};

    let svc = require("unicore");
    let transport = Transport::builder()
        .credential(credential::username_password(
            svc.var("HPCKIT_UNICORE_USER"),
            svc.var("HPCKIT_UNICORE_PASSWORD"),
        ))
        .add_ca_file(svc.var("HPCKIT_UNICORE_CA"))
        .build()
        .unwrap();
    let client = Client::connect(&transport, svc.var("HPCKIT_UNICORE_URL")).await.unwrap();
    let job = client.new_job(&JobDescription::executable("sleep 120").to_json(), &[], true).await;
    let job = job.unwrap();
    job.wait(JobState::Running, Some(Duration::from_secs(120)), Backoff::default()).await.unwrap();

    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = echo.accept().await.unwrap();
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });

    let forwarder =
        examples::command("pyunicore_forwarder", &[job.url(), &echo_port.to_string()], UNICORE);
    let mut child = LocalExecutor::new().spawn(&forwarder).await.unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().expect("the forwarder's first line");
    let local = first.strip_prefix("forwarding ").and_then(|r| r.split(' ').next()).unwrap();
    assert!(first.ends_with(&format!("to port {echo_port} of {}", job.url())), "{first}");

    for round in 0..2 {
        let mut s = tokio::net::TcpStream::connect(local).await.unwrap();
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let (mut r, mut w) = s.split();
        let ((), back) = tokio::join!(
            async {
                w.write_all(&payload).await.unwrap();
                w.shutdown().await.unwrap();
            },
            async {
                let mut back = Vec::new();
                r.read_to_end(&mut back).await.unwrap();
                back
            }
        );
        assert!(
            back == payload,
            "round {round}: {} of {} bytes came back",
            back.len(),
            payload.len()
        );
    }
    child.kill().await.unwrap();
    let _ = child.wait().await;
    job.abort().await.unwrap();
}

/// The scheduler and two workers run as jobs of the UNICORE test server; a
/// Python `dask.distributed.Client` computes through the forwarded port; the
/// site then reports every job of the cluster as ended.
#[tokio::test(flavor = "multi_thread")]
async fn pyunicore_dask_cluster_computes_on_two_workers_then_closes() {
    use hpc_core::JobId;

    let out = run("pyunicore_dask_cluster", &[], &["unicore", "dask"]).await;
    assert!(line_after(&out, "scheduler: ").starts_with("tcp://127.0.0.1:"), "{out}");
    assert!(out.contains("\n2 workers connected\n"), "{out}");
    assert_eq!(line_after(&out, "workers seen by the client: "), "2", "{out}");
    let sum: u64 = (0..100u64).map(|x| x * x).sum();
    assert_eq!(line_after(&out, "sum of squares: "), sum.to_string(), "{out}");

    let jobs: Vec<JobId> = out
        .lines()
        .filter_map(|l| l.strip_prefix("closed: job "))
        .map(|l| JobId::from(l.split(' ').next().unwrap()))
        .collect();
    assert_eq!(jobs.len(), 3, "the scheduler's job and two workers': {out}");
    let (loc, creds) = unicore_support::unicore().location("");
    let site = hpckit::open_scheduler(&loc.to_string(), &creds).await.expect("the UNICORE site");
    for status in site.statuses(&jobs).await.unwrap() {
        let status = status.unwrap();
        assert!(status.is_done(), "job {} is still {:?}", status.id, status.state);
    }
}

// ---- PyUNICORE's UFTP (000) -----------------------------------------------

/// A fresh directory below the UFTPD's `/data`: (its UFTP path, on disk).
fn uftp_dir() -> (String, PathBuf) {
    let root = require("uftp").path("HPCKIT_UFTP_ROOT");
    let name = format!("/data/{}", unique("seed-examples"));
    let disk = root.join(name.trim_start_matches('/'));
    std::fs::create_dir_all(&disk).unwrap();
    (name, disk)
}

#[tokio::test]
async fn pyunicore_uftp_fs_writes_lists_and_reads() {
    let (base, disk) = uftp_dir();
    std::fs::write(disk.join("already-there.bin"), [7u8; 1000]).unwrap();
    let out = run("pyunicore_uftp_fs", &[&base], &["uftp"]).await;
    assert_eq!(std::fs::read_to_string(disk.join("hello-uftp.txt")).unwrap(), "Hello over UFTP\n");
    assert!(out.contains(&format!("1000 {base}/already-there.bin\n")), "{out}");
    assert!(out.contains(&format!("16 {base}/hello-uftp.txt\n")), "{out}");
    assert!(out.ends_with("read back: Hello over UFTP\n"), "{out}");
    std::fs::remove_dir_all(disk).unwrap();
}

#[tokio::test]
async fn pyunicore_uftp_mount_reads_through_fuse() {
    let (base, disk) = uftp_dir();
    std::fs::write(disk.join("other.txt"), "x").unwrap();
    let mount_dir = tempfile::tempdir().unwrap();
    let mount = mount_dir.path().join("mnt");
    let out = run("pyunicore_uftp_mount", &[&base, mount.to_str().unwrap()], &["uftp"]).await;
    assert_eq!(line_after(&out, "entries: "), "mounted.txt other.txt", "{out}");
    assert_eq!(line_after(&out, "mounted.txt: "), "read through FUSE", "{out}");
    // Unmounted again: the directory is empty and was removed.
    assert!(!mount.exists(), "{} is left", mount.display());
    assert_eq!(std::fs::read_to_string(disk.join("mounted.txt")).unwrap(), "read through FUSE\n");
    std::fs::remove_dir_all(disk).unwrap();
}

// ---- PyXenon (002) ---------------------------------------------------------

#[tokio::test]
async fn pyxenon_readme_example_runs_hostname_over_ssh() {
    let out = run("pyxenon_ssh_hostname", &[], &["sshd"]).await;
    let host = LocalExecutor::new().run(&Command::new("hostname")).await.unwrap();
    let (status, printed) = out.split_once('\n').unwrap();
    assert!(status.ends_with(": Completed"), "{out}");
    assert_eq!(printed, host.stdout_text(), "the job's stdout file holds the host name");
}

/// The quick start's three steps in order: write `hello.sh` over SFTP, run it
/// with Slurm over SSH, read `result.txt` back.
#[tokio::test]
async fn pyxenon_quick_start_writes_runs_and_reads_back() {
    let services = ["sshd", "slurm"];
    let home = require("sshd").path("HPCKIT_SSH_USER_HOME");
    let _ = std::fs::remove_file(home.join("result.txt"));

    let out = run("pyxenon_sftp_write", &[], &services).await;
    assert_eq!(out, "wrote 31 bytes to hello.sh\n");
    let script = std::fs::read_to_string(home.join("hello.sh")).unwrap();
    assert_eq!(script, "#!/bin/sh\necho \"Hello, World!\"\n");
    // Again: the old file is removed first, not appended to.
    assert_eq!(run("pyxenon_sftp_write", &[], &services).await, out);

    let out = run("pyxenon_slurm_submit", &[], &services).await;
    assert!(out.ends_with(": Completed, exit code Some(0)\n"), "{out}");

    let out = run("pyxenon_read_result", &[], &services).await;
    assert_eq!(out, "Hello, World!\n");
}

#[tokio::test]
async fn pyxenon_interactive_job_answers_line_by_line() {
    let out =
        tokio::time::timeout(Duration::from_secs(300), run("pyxenon_interactive_job", &[], &[]))
            .await
            .expect("the ping-pong ends");
    let received: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("[received]   ")).collect();
    assert_eq!(
        received,
        ["Mystic noble gas,", "Heavy yet fleeting from grasp,", "Blue like burning ice."],
        "{out}"
    );
    assert!(out.trim_end().ends_with(": Completed"), "{out}");
}

// ---- picasclient (003) -----------------------------------------------------

const COUCHDB: &[&str] = &["couchdb"];

/// A database name for this test (CouchDB wants lower case and a letter first).
fn database(test: &str) -> String {
    unique(&format!("seed_{test}")).replace('-', "_")
}

/// The token pool in database `db`, straight through picas-tokens.
fn picas_pool(db: &str) -> picas_tokens::TokenPool {
    let svc = require("couchdb");
    let user = svc.var("HPCKIT_COUCHDB_USER");
    let server = svc.var("HPCKIT_COUCHDB_URL").replacen("://", &format!("://{user}@"), 1);
    let url = picas_tokens::DbUrl::parse(&format!("{server}/{db}")).unwrap();
    let url = url.with_password(svc.var("HPCKIT_COUCHDB_PASSWORD"));
    picas_tokens::TokenPool::new(picas_tokens::CouchDb::new(url).unwrap())
}

/// picas' own sequence: create the views, push the quick example's tokens,
/// run the local example until no work is left.
#[tokio::test]
async fn picas_local_example_runs_every_pushed_token() {
    let db = database("local");
    let out = run("picas_create_views", &[&db], COUCHDB).await;
    assert_eq!(out, format!("created database {db}\nviews of {db}: Written\n"));
    let out = run("picas_create_views", &[&db], COUCHDB).await;
    assert_eq!(out, format!("views of {db}: Unchanged\n"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quickExample.txt");
    std::fs::write(&file, "echo \"bash-echo\"\necho second; echo to-stderr >&2\necho third\n")
        .unwrap();
    let out = run("picas_push_tokens", &[&db, file.to_str().unwrap()], COUCHDB).await;
    assert!(out.ends_with("3 written, 0 failed\n"), "{out}");
    // Numbered from the document count, as picas does: the views are one.
    for id in ["token_1", "token_2", "token_3"] {
        assert!(out.contains(&format!("pushed {id}\n")), "{out}");
    }

    let out = run("picas_local_example", &[&db], COUCHDB).await;
    assert!(out.starts_with("3 tokens recorded, 0 failed\nstopped: Some(PoolEmpty)"), "{out}");
    assert!(out.contains("Working on token: token_1\n_id token_1\n"), "{out}");
    assert!(out.contains("input echo \"bash-echo\"\nexit_code 0\n"), "{out}");
    assert!(out.contains("logs_token_1.out:\nbash-echo\n"), "{out}");
    assert!(out.contains("logs_token_2.out:\nsecond\n"), "{out}");

    // What the pool itself says.
    let svc = require("couchdb");
    let url = format!(
        "{}/{db}",
        svc.var("HPCKIT_COUCHDB_URL").replacen(
            "://",
            &format!("://{}@", svc.var("HPCKIT_COUCHDB_USER")),
            1
        )
    );
    let url =
        picas_tokens::DbUrl::parse(&url).unwrap().with_password(svc.var("HPCKIT_COUCHDB_PASSWORD"));
    let pool = picas_tokens::TokenPool::new(picas_tokens::CouchDb::new(url).unwrap());
    let counts = pool.counts().await.unwrap();
    assert_eq!((counts.todo, counts.locked, counts.done, counts.error), (0, 0, 3, 0), "{counts:?}");
    let third = pool.get("token_3").await.unwrap().unwrap();
    assert_eq!(third.exit_code(), Some(0), "{third:?}");
}

/// The Slurm example submits itself as a job array of workers, as the test
/// user (like a user on a login node); the array drains the pool.
#[tokio::test(flavor = "multi_thread")]
async fn picas_slurm_example_drains_the_pool_with_a_job_array() {
    let slurm = require("slurm");
    let ids = user_ids(slurm.var("HPCKIT_SLURM_USER"));
    let db = database("slurm");
    run("picas_create_views", &[&db], COUCHDB).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1)).unwrap();
    let file = dir.path().join("tokens.txt");
    let lines: String = (0..8).map(|i| format!("echo work-{i}\n")).collect();
    std::fs::write(&file, lines).unwrap();
    run("picas_push_tokens", &[&db, file.to_str().unwrap()], COUCHDB).await;

    let scheduler =
        format!("slurm://{}?conf={}&poll=1", dir.path().display(), slurm.var("HPCKIT_SLURM_CONF"));
    let cmd = command("picas_slurm_example", &[&db, "3"], &["couchdb", "slurm"])
        .env("PICAS_SCHEDULER", &scheduler)
        .current_dir(dir.path());
    let out = output_of(&LocalExecutor::as_user(ids.0, ids.1), cmd).await;
    let array = line_after(&out, "submitted job array ").to_owned();
    assert!(line_after(&out, &format!("job array {array}: ")) == "Completed", "{out}");
    assert!(out.ends_with("todo 0 locked 0 done 8 error 0\n"), "{out}");
    // Every token was run by a task of that array (the worker records
    // Slurm's job id in the token, as picas does).
    for token in picas_pool(&db).tokens_in("done", None).await.unwrap() {
        let slurm_id = token.get("slurm_job_id").and_then(|v| v.as_str()).unwrap_or_default();
        assert!(slurm_id.starts_with(&format!("{array}_")), "{}: {slurm_id:?}", token.id());
    }
}

// ---- taurus-datamover (004) ------------------------------------------------

const DATAMOVER: &[&str] = &["sshd", "slurm", "datamover"];

/// A fresh directory in the project space (read-only for the test user
/// except through the datamover) and one of the test user in /tmp.
struct Spaces {
    project: PathBuf,
    scratch: PathBuf,
    owner: (u32, u32),
}

impl Spaces {
    fn new() -> Spaces {
        let svc = require("datamover");
        let owner = user_ids(svc.var("HPCKIT_DM_USER"));
        let tag = unique("seed");
        let project = svc.path("HPCKIT_DM_PROJECT").join(&tag);
        std::fs::create_dir_all(&project).unwrap();
        std::fs::set_permissions(&project, std::fs::Permissions::from_mode(0o2775)).unwrap();
        let scratch = std::env::temp_dir().join(format!("hpckit-{tag}"));
        std::fs::create_dir_all(&scratch).unwrap();
        std::os::unix::fs::chown(&scratch, Some(owner.0), Some(owner.1)).unwrap();
        Spaces { project, scratch, owner }
    }

    /// A file of the test user in the scratch directory.
    fn scratch_file(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.scratch.join(rel);
        let mut dir = path.parent().unwrap().to_path_buf();
        std::fs::create_dir_all(&dir).unwrap();
        while dir.starts_with(&self.scratch) {
            std::os::unix::fs::chown(&dir, Some(self.owner.0), Some(self.owner.1)).unwrap();
            dir.pop();
        }
        std::fs::write(&path, content).unwrap();
        std::os::unix::fs::chown(&path, Some(self.owner.0), Some(self.owner.1)).unwrap();
        path
    }
}

impl Drop for Spaces {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.project);
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn text(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn datamover_dtls_help_prints_the_usage() {
    let out = run("datamover_dtls_help", &[], DATAMOVER).await;
    assert!(out.starts_with("Usage: ls [OPTION]... [FILE]..."), "{out}");
}

#[tokio::test]
async fn datamover_dtls_lists_in_the_background() {
    let spaces = Spaces::new();
    std::fs::write(spaces.project.join("data.tif"), [0u8; 2048]).unwrap();
    let out = run("datamover_dtls", &[text(&spaces.project)], DATAMOVER).await;
    assert_eq!(line_after(&out, "poll: "), "None", "{out}");
    assert_eq!(line_after(&out, "exit code: "), "0", "{out}");
    assert!(out.lines().any(|l| l.contains(" 2.0K ") && l.ends_with(" data.tif")), "{out}");
}

/// dtcp into the project space, then dtrm of the copy.
#[tokio::test]
async fn datamover_dtcp_then_dtrm_in_the_project_space() {
    let spaces = Spaces::new();
    spaces.scratch_file("test/test/a.txt", "first\n");
    spaces.scratch_file("test/b.txt", "second\n");
    let target = spaces.project.join("test");
    let out = run(
        "datamover_dtcp",
        &[text(&spaces.scratch.join("test")), text(&spaces.project)],
        DATAMOVER,
    )
    .await;
    assert_eq!(line_after(&out, "dtcp exit code: "), "0", "{out}");
    assert_eq!(std::fs::read_to_string(target.join("test/a.txt")).unwrap(), "first\n");
    assert_eq!(std::fs::read_to_string(target.join("b.txt")).unwrap(), "second\n");
    assert!(out.lines().any(|l| l.ends_with(" test")), "the listing shows the copy: {out}");

    let out = run("datamover_dtrm", &[text(&target)], DATAMOVER).await;
    assert_eq!(line_after(&out, "dtrm exit code: "), "0", "{out}");
    assert!(!target.exists(), "{} is still there", target.display());
    assert_eq!(line_after(&out, "dtls exit code: "), "2", "{out}");
    assert!(out.contains("No such file or directory"), "{out}");
}

#[tokio::test]
async fn datamover_workspace_allocates_lists_and_releases() {
    let name = unique("seed-ws");
    let out = run("datamover_workspace", &[&name], DATAMOVER).await;
    let dir = line_after(&out, "allocated: ").to_owned();
    assert!(dir.starts_with('/') && dir.ends_with(&name), "{out}");
    assert!(out.contains(&format!("id: {name}\n     workspace directory  : {dir}\n")), "{out}");
    assert_eq!(line_after(&out, "released: "), name, "{out}");
    // Released: the tools no longer list it.
    let again = run("datamover_workspace", &[&unique("seed-ws")], DATAMOVER).await;
    assert!(!again.contains(&format!("id: {name}\n")), "{again}");
}

/// Both cache-workspace examples in one test: they share the user's
/// workspace `cache`, which each releases at its end.
#[tokio::test]
async fn datamover_cache_workspace_and_copy_from_it() {
    let out = run("datamover_cache_workspace", &[], DATAMOVER).await;
    let cache = line_after(&out, "cache workspace: ").to_owned();
    assert!(cache.starts_with('/') && cache.ends_with("cache"), "{out}");
    let tmp = line_after(&out, "temporary directory: ");
    assert!(tmp.starts_with(&format!("{cache}/")) && tmp.len() == cache.len() + 8, "{out}");
    assert_eq!(line_after(&out, "released: "), "cache", "{out}");

    let spaces = Spaces::new();
    let target = spaces.project.join("data.txt");
    // Its own cache id: the stand-in refuses a second release of `cache`.
    let id = unique("cache");
    let out = run("datamover_cache_copy", &[text(&target), &id], DATAMOVER).await;
    assert_eq!(line_after(&out, "dtcp exit code: "), "0", "{out}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "made in the cache\n");
}
