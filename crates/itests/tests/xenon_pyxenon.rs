//! The real PyXenon 3.0.3 (`cargo xtask services up pyxenon`) against
//! `hpckit xenon-grpc`, with no Java on the machine: its README example, batch and
//! interactive jobs, file operations and copies, and Xenon's exception classes, on
//! the local scheduler and file system, on Slurm (here and over SSH), Grid Engine
//! and at (over SSH, as the test user), and on SFTP, FTP, WebDAV and S3
//! (`cargo xtask services up sshd slurm sge at ftp webdav s3 pyxenon`).

#[path = "xenon_support/mod.rs"]
mod xenon_support;

use xenon_support::{Server, SshUser, check_files, check_jobs};

fn sched(adaptor: &str, location: &str) -> Vec<(&'static str, String)> {
    vec![("SCHED_ADAPTOR", adaptor.into()), ("SCHED_LOCATION", location.into())]
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_example_on_the_local_scheduler() {
    let server = Server::start().await;
    let work = server.scratch.path().to_string_lossy().into_owned();
    let mut env = sched("local", "");
    env.push(("WORKDIR", work));
    let v = server.scenario("readme", &env).await;
    let host = host_name().await;
    assert_eq!(v["stdout"], format!("{host}\n"), "{v}");
    assert_eq!(v["state"], "COMPLETED", "{v}");
}

/// PyXenon's TLS set-up (`xenon/compat.py`, `xenon/server.py`): one self-signed
/// certificate for this host is the server's chain, the roots that client
/// certificates must chain to, and the client's own certificate and roots.
/// Returns (certificate, key) files in `dir`.
fn pyxenon_style_certificate(host: &str, dir: &std::path::Path) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, host);
    let cert = params.self_signed(&key).unwrap();
    let (crt_file, key_file) = (dir.join(format!("{host}.crt")), dir.join(format!("{host}.key")));
    std::fs::write(&crt_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (crt_file.to_string_lossy().into_owned(), key_file.to_string_lossy().into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn mutual_tls_as_pyxenon_sets_it_up() {
    let host = host_name().await;
    let certs = tempfile::tempdir().unwrap();
    let (crt, key) = pyxenon_style_certificate(&host, certs.path());
    let server = Server::start_with(&[
        "--server-cert-chain",
        &crt,
        "--server-private-key",
        &key,
        "--client-cert-chain",
        &crt,
    ])
    .await;
    let tls = [("XENON_TLS_CERT", crt), ("XENON_TLS_KEY", key)];
    let mut env = sched("local", "");
    env.push(("WORKDIR", server.scratch.path().to_string_lossy().into_owned()));
    env.extend(tls.iter().cloned());
    let v = server.scenario("readme", &env).await;
    assert_eq!(v["stdout"], format!("{host}\n"), "{v}");
    assert_eq!(v["state"], "COMPLETED", "{v}");

    let v = server.scenario("tls_refusals", &tls).await;
    assert_eq!(v["no_client_certificate"], "UNAVAILABLE", "{v}");
    assert_eq!(v["plain_text"], "UNAVAILABLE", "{v}");
}

/// The host name as `hostname` prints it.
async fn host_name() -> String {
    xenon_support::run(hpc_exec::Command::new("hostname")).await.stdout_text().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_on_the_local_scheduler() {
    let server = Server::start().await;
    let mut env = sched("local", "");
    env.push(("WORKDIR", server.scratch.path().to_string_lossy().into_owned()));
    let v = server.scenario("jobs", &env).await;
    check_jobs(&v, "local");
    assert_eq!(v["queues"], serde_json::json!(["single", "multi", "unlimited"]), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_job_on_the_local_scheduler() {
    let server = Server::start().await;
    let v = server.scenario("interactive", &sched("local", "")).await;
    assert_eq!(v["stdout"], "Mystic noble gas,\nHeavy yet fleeting from grasp,\n", "{v}");
    assert_eq!(v["stderr"], "to-stderr\n", "{v}");
    assert_eq!(v["exit_code"], 0, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_job_over_ssh() {
    let server = Server::start().await;
    let ssh = SshUser::from_env();
    let mut env = sched("ssh", &ssh.authority);
    env.extend(ssh.credential());
    let v = server.scenario("interactive", &env).await;
    assert_eq!(v["stdout"], "Mystic noble gas,\nHeavy yet fleeting from grasp,\n", "{v}");
    assert_eq!(v["stderr"], "to-stderr\n", "{v}");
}

/// The RPCs no other scenario calls, on an SSH scheduler with a password.
#[tokio::test(flavor = "multi_thread")]
async fn the_remaining_rpcs_over_ssh() {
    let server = Server::start().await;
    let ssh = SshUser::from_env();
    let mut env = sched("ssh", &ssh.authority);
    env.extend(ssh.credential());
    env.push(("WORKDIR", ssh.scratch("inventory").await));
    let v = server.scenario("inventory", &env).await;
    assert_eq!(v["listed_schedulers"], 1, "{v}");
    assert_eq!(v["listed_file_systems"], 1, "{v}");
    assert_eq!(v["local_scheduler"], "local", "{v}");
    assert_eq!(v["local_file_systems"], serde_json::json!(["file"]), "{v}");
    assert_eq!(v["location"], ssh.authority.as_str(), "{v}");
    assert_eq!(v["is_open"], true, "{v}");
    assert_eq!(v["default_runtime"], 15, "{v}");
    let cred = &v["credential"];
    assert_eq!(cred["kind"], "password_credential", "{v}");
    assert_eq!(cred["username"], ssh.user.as_str(), "{v}");
    assert_eq!(cred["password"], "", "the password must never be sent back: {v}");
    assert_eq!(v["in_get_jobs"], true, "{v}");
    assert_eq!(v["queue_status"]["error"], 0, "{v}");
    assert!(v["queue_statuses"].as_array().is_some_and(|q| !q.is_empty()), "{v}");
    assert!(v["missing_queue"].as_str().unwrap().starts_with("NoSuchQueueException"), "{v}");
    assert_eq!(v["cancelled"], true, "{v}");
    assert_eq!(v["scheduler_fs"], "sftp", "{v}");
    assert_eq!(v["scheduler_fs_separator"], "/", "{v}");
    let adaptors = |names: &[&str]| serde_json::json!(names);
    assert_eq!(
        v["scheduler_descriptions"],
        adaptors(&["at", "gridengine", "local", "slurm", "ssh", "torque"]),
        "{v}"
    );
    assert_eq!(
        v["filesystem_descriptions"],
        adaptors(&["file", "ftp", "s3", "sftp", "webdav"]),
        "{v}"
    );
    assert_eq!(v["slurm_description"], "slurm", "{v}");
    assert_eq!(v["fs_location"], "", "the location as given: {v}");
    assert_eq!(v["fs_credential"], "default_credential", "{v}");
    assert_eq!(v["fs_properties"], serde_json::json!({}), "{v}");
    assert_eq!(v["fs_is_open"], true, "{v}");
    assert_eq!(v["made_empty_file"], true, "{v}");
    assert_eq!(v["working_directory_moved"], true, "{v}");
    assert_eq!(v["relative_write_landed"], true, "{v}");
    assert_eq!(v["copy_status_known"], true, "{v}");
    assert_eq!(v["cancel_done"], true, "{v}");
    assert!(v["unknown_copy"].as_str().unwrap().starts_with("NoSuchCopyException"), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_vanishes_leaves_no_remote_process() {
    let server = Server::start().await;
    let ssh = SshUser::from_env();
    let mut env = sched("ssh", &ssh.authority);
    env.extend(ssh.credential());
    // A duration no other test uses, to find this job's process.
    let seconds = format!("{}", 3000 + std::process::id() % 1000);
    env.push(("SLEEP_SECONDS", seconds.clone()));
    let mut client = server.spawn_scenario("abandon", &env).await;
    let mut line = String::new();
    let stdout = client.stdout.take().expect("python's stdout");
    tokio::io::AsyncBufReadExt::read_line(&mut tokio::io::BufReader::new(stdout), &mut line)
        .await
        .unwrap();
    assert!(line.contains("\"job\""), "the client printed no job: {line:?}");
    let pattern = format!("^/bin/sleep {seconds}$");
    let running = || {
        xenon_support::run(hpc_exec::Command::new("pgrep").args(["-u", &ssh.user, "-f", &pattern]))
    };
    // The job's process shows up over SSH soon after its id came back.
    let mut polls = 0;
    while !running().await.status.success() {
        polls += 1;
        assert!(polls < 100, "the interactive job's process never ran");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The client dies without a word, as a killed script does.
    client.kill().await.unwrap();
    // The server notices the broken call and cancels the job (SIGTERM, then SIGKILL).
    let mut polls = 0;
    while running().await.status.success() {
        polls += 1;
        assert!(polls < 300, "the abandoned job's process is still running");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn files_on_the_local_file_system() {
    let server = Server::start().await;
    let work = tempfile::tempdir().unwrap();
    let env = vec![
        ("FS_ADAPTOR", "file".into()),
        ("WORKDIR", work.path().to_string_lossy().into_owned()),
    ];
    let v = server.scenario("files", &env).await;
    check_files(&v, "file", true);
    assert_eq!(v["link"], "renamed.txt", "{v}");
    assert_eq!(v["permissions"], serde_json::json!([1, 2]), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_on_slurm_here() {
    hpc_testkit::services::require("slurm");
    let server = Server::start().await;
    let mut env = sched("slurm", "local://");
    // Slurm runs the jobs on this node; a directory every user can write.
    let work = server.scratch.path();
    std::fs::set_permissions(work, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    env.push(("WORKDIR", work.to_string_lossy().into_owned()));
    let v = server.scenario("jobs", &env).await;
    check_jobs(&v, "slurm");
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_and_jobs_on_slurm_over_ssh() {
    hpc_testkit::services::require("slurm");
    let server = Server::start().await;
    let ssh = SshUser::from_env();
    let mut env = sched("slurm", &format!("ssh://{}", ssh.authority));
    env.extend(ssh.credential());
    env.push(("WORKDIR", ssh.scratch("slurm").await));
    check_jobs(&server.scenario("jobs", &env).await, "slurm");
    let v = server.scenario("readme", &env).await;
    assert_eq!(v["stdout"], format!("{}\n", host_name().await), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_on_grid_engine_over_ssh() {
    hpc_testkit::services::require("sge");
    let server = Server::start().await;
    let ssh = SshUser::from_env();
    let mut env = sched("gridengine", &format!("ssh://{}", ssh.authority));
    env.extend(ssh.credential());
    env.push(("WORKDIR", ssh.scratch("sge").await));
    check_jobs(&server.scenario("jobs", &env).await, "gridengine");
}

#[tokio::test(flavor = "multi_thread")]
async fn jobs_on_at_over_ssh() {
    hpc_testkit::services::require("at");
    let server = Server::start().await;
    let ssh = SshUser::from_env();
    let mut env = sched("at", &format!("ssh://{}", ssh.authority));
    env.extend(ssh.credential());
    env.push(("WORKDIR", ssh.scratch("at").await));
    check_jobs(&server.scenario("jobs", &env).await, "at");
}

#[tokio::test(flavor = "multi_thread")]
async fn files_over_sftp() {
    let server = Server::start().await;
    let ssh = SshUser::from_env();
    let mut env = vec![("FS_ADAPTOR", "sftp".into()), ("FS_LOCATION", ssh.authority.clone())];
    env.extend(ssh.credential());
    env.push(("WORKDIR", ssh.scratch("sftp").await));
    let v = server.scenario("files", &env).await;
    check_files(&v, "sftp", true);
    assert_eq!(v["link"], "renamed.txt", "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn files_over_ftp() {
    let ftp = hpc_testkit::services::require("ftp");
    let server = Server::start().await;
    let ssh = SshUser::from_env();
    let location = format!("{}:{}", ftp.var("HPCKIT_FTP_HOST"), ftp.var("HPCKIT_FTP_PORT"));
    let env = vec![
        ("FS_ADAPTOR", "ftp".into()),
        ("FS_LOCATION", location),
        ("XUSER", ftp.var("HPCKIT_FTP_USER").into()),
        ("XPASSWORD", ftp.var("HPCKIT_FTP_PASSWORD").into()),
        // The FTP user is the sshd test user: a scratch directory in its home.
        ("WORKDIR", ssh.scratch("ftp").await),
    ];
    check_files(&server.scenario("files", &env).await, "ftp", true);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_over_webdav() {
    let dav = hpc_testkit::services::require("webdav");
    let server = Server::start().await;
    let location =
        format!("http://{}:{}/dav", dav.var("HPCKIT_WEBDAV_HOST"), dav.var("HPCKIT_WEBDAV_PORT"));
    let env = vec![
        ("FS_ADAPTOR", "webdav".into()),
        ("FS_LOCATION", location),
        ("XUSER", dav.var("HPCKIT_WEBDAV_USER").into()),
        ("XPASSWORD", dav.var("HPCKIT_WEBDAV_PASSWORD").into()),
        ("WORKDIR", format!("/dav/xenon-{}", std::process::id())),
    ];
    check_files(&server.scenario("files", &env).await, "webdav", false);
}

#[tokio::test(flavor = "multi_thread")]
async fn files_over_s3() {
    let s3 = hpc_testkit::services::require("s3");
    let server = Server::start().await;
    let location = format!("{}/{}", s3.var("HPCKIT_S3_ENDPOINT"), s3.var("HPCKIT_S3_BUCKET"));
    let env = vec![
        ("FS_ADAPTOR", "s3".into()),
        ("FS_LOCATION", location),
        ("XUSER", s3.var("HPCKIT_S3_ACCESS_KEY").into()),
        ("XPASSWORD", s3.var("HPCKIT_S3_SECRET").into()),
        ("WORKDIR", format!("/xenon-{}", std::process::id())),
    ];
    check_files(&server.scenario("files", &env).await, "s3", false);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_raises_the_xenon_exception_classes() {
    let server = Server::start().await;
    let ssh = SshUser::from_env();
    let mut env = vec![("SSH_LOCATION", ssh.authority.clone())];
    env.extend(ssh.credential());
    let v = server.scenario("errors", &env).await;
    for (key, class) in [
        ("unknown_adaptor", "UnknownAdaptorException"),
        ("unknown_fs_adaptor", "UnknownAdaptorException"),
        ("unknown_property", "UnknownPropertyException"),
        ("bad_location", "InvalidLocationException"),
        ("wrong_password", "InvalidCredentialException"),
    ] {
        assert!(v[key].as_str().is_some_and(|m| m.starts_with(class)), "{key}: {v}");
    }
    assert_eq!(
        v["scheduler_adaptors"],
        serde_json::json!(["local", "ssh", "at", "slurm", "gridengine", "torque"]),
        "{v}"
    );
    assert_eq!(
        v["filesystem_adaptors"],
        serde_json::json!(["file", "sftp", "ftp", "webdav", "s3"]),
        "{v}"
    );
}
