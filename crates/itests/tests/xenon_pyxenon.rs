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

#[test]
fn readme_example_on_the_local_scheduler() {
    let server = Server::start();
    let work = server.scratch.path().to_string_lossy().into_owned();
    let mut env = sched("local", "");
    env.push(("WORKDIR", work));
    let v = server.scenario("readme", &env);
    let host = host_name();
    assert_eq!(v["stdout"], format!("{host}\n"), "{v}");
    assert_eq!(v["state"], "COMPLETED", "{v}");
}

/// The host name as `hostname` prints it.
fn host_name() -> String {
    let out = std::process::Command::new("hostname").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn jobs_on_the_local_scheduler() {
    let server = Server::start();
    let mut env = sched("local", "");
    env.push(("WORKDIR", server.scratch.path().to_string_lossy().into_owned()));
    let v = server.scenario("jobs", &env);
    check_jobs(&v, "local");
    assert_eq!(v["queues"], serde_json::json!(["single", "multi", "unlimited"]), "{v}");
}

#[test]
fn interactive_job_on_the_local_scheduler() {
    let server = Server::start();
    let v = server.scenario("interactive", &sched("local", ""));
    assert_eq!(v["stdout"], "Mystic noble gas,\nHeavy yet fleeting from grasp,\n", "{v}");
    assert_eq!(v["stderr"], "to-stderr\n", "{v}");
    assert_eq!(v["exit_code"], 0, "{v}");
}

#[test]
fn interactive_job_over_ssh() {
    let server = Server::start();
    let ssh = SshUser::from_env();
    let mut env = sched("ssh", &ssh.authority);
    env.extend(ssh.credential());
    let v = server.scenario("interactive", &env);
    assert_eq!(v["stdout"], "Mystic noble gas,\nHeavy yet fleeting from grasp,\n", "{v}");
    assert_eq!(v["stderr"], "to-stderr\n", "{v}");
}

#[test]
fn files_on_the_local_file_system() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let env = vec![
        ("FS_ADAPTOR", "file".into()),
        ("WORKDIR", work.path().to_string_lossy().into_owned()),
    ];
    let v = server.scenario("files", &env);
    check_files(&v, "file", true);
    assert_eq!(v["link"], "renamed.txt", "{v}");
    assert_eq!(v["permissions"], serde_json::json!([1, 2]), "{v}");
}

#[test]
fn jobs_on_slurm_here() {
    hpc_testkit::services::require("slurm");
    let server = Server::start();
    let mut env = sched("slurm", "local://");
    // Slurm runs the jobs on this node; a directory every user can write.
    let work = server.scratch.path();
    std::fs::set_permissions(work, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    env.push(("WORKDIR", work.to_string_lossy().into_owned()));
    let v = server.scenario("jobs", &env);
    check_jobs(&v, "slurm");
}

#[test]
fn readme_and_jobs_on_slurm_over_ssh() {
    hpc_testkit::services::require("slurm");
    let server = Server::start();
    let ssh = SshUser::from_env();
    let mut env = sched("slurm", &format!("ssh://{}", ssh.authority));
    env.extend(ssh.credential());
    env.push(("WORKDIR", ssh.scratch("slurm")));
    check_jobs(&server.scenario("jobs", &env), "slurm");
    let v = server.scenario("readme", &env);
    assert_eq!(v["stdout"], format!("{}\n", host_name()), "{v}");
}

#[test]
fn jobs_on_grid_engine_over_ssh() {
    hpc_testkit::services::require("sge");
    let server = Server::start();
    let ssh = SshUser::from_env();
    let mut env = sched("gridengine", &format!("ssh://{}", ssh.authority));
    env.extend(ssh.credential());
    env.push(("WORKDIR", ssh.scratch("sge")));
    check_jobs(&server.scenario("jobs", &env), "gridengine");
}

#[test]
fn jobs_on_at_over_ssh() {
    hpc_testkit::services::require("at");
    let server = Server::start();
    let ssh = SshUser::from_env();
    let mut env = sched("at", &format!("ssh://{}", ssh.authority));
    env.extend(ssh.credential());
    env.push(("WORKDIR", ssh.scratch("at")));
    check_jobs(&server.scenario("jobs", &env), "at");
}

#[test]
fn files_over_sftp() {
    let server = Server::start();
    let ssh = SshUser::from_env();
    let mut env = vec![("FS_ADAPTOR", "sftp".into()), ("FS_LOCATION", ssh.authority.clone())];
    env.extend(ssh.credential());
    env.push(("WORKDIR", ssh.scratch("sftp")));
    let v = server.scenario("files", &env);
    check_files(&v, "sftp", true);
    assert_eq!(v["link"], "renamed.txt", "{v}");
}

#[test]
fn files_over_ftp() {
    let ftp = hpc_testkit::services::require("ftp");
    let server = Server::start();
    let ssh = SshUser::from_env();
    let location = format!("{}:{}", ftp.var("HPCKIT_FTP_HOST"), ftp.var("HPCKIT_FTP_PORT"));
    let env = vec![
        ("FS_ADAPTOR", "ftp".into()),
        ("FS_LOCATION", location),
        ("XUSER", ftp.var("HPCKIT_FTP_USER").into()),
        ("XPASSWORD", ftp.var("HPCKIT_FTP_PASSWORD").into()),
        // The FTP user is the sshd test user: a scratch directory in its home.
        ("WORKDIR", ssh.scratch("ftp")),
    ];
    check_files(&server.scenario("files", &env), "ftp", true);
}

#[test]
fn files_over_webdav() {
    let dav = hpc_testkit::services::require("webdav");
    let server = Server::start();
    let location =
        format!("http://{}:{}/dav", dav.var("HPCKIT_WEBDAV_HOST"), dav.var("HPCKIT_WEBDAV_PORT"));
    let env = vec![
        ("FS_ADAPTOR", "webdav".into()),
        ("FS_LOCATION", location),
        ("XUSER", dav.var("HPCKIT_WEBDAV_USER").into()),
        ("XPASSWORD", dav.var("HPCKIT_WEBDAV_PASSWORD").into()),
        ("WORKDIR", format!("/dav/xenon-{}", std::process::id())),
    ];
    check_files(&server.scenario("files", &env), "webdav", false);
}

#[test]
fn files_over_s3() {
    let s3 = hpc_testkit::services::require("s3");
    let server = Server::start();
    let location = format!("{}/{}", s3.var("HPCKIT_S3_ENDPOINT"), s3.var("HPCKIT_S3_BUCKET"));
    let env = vec![
        ("FS_ADAPTOR", "s3".into()),
        ("FS_LOCATION", location),
        ("XUSER", s3.var("HPCKIT_S3_ACCESS_KEY").into()),
        ("XPASSWORD", s3.var("HPCKIT_S3_SECRET").into()),
        ("WORKDIR", format!("/xenon-{}", std::process::id())),
    ];
    check_files(&server.scenario("files", &env), "s3", false);
}

#[test]
fn bad_input_raises_the_xenon_exception_classes() {
    let server = Server::start();
    let ssh = SshUser::from_env();
    let mut env = vec![("SSH_LOCATION", ssh.authority.clone())];
    env.extend(ssh.credential());
    let v = server.scenario("errors", &env);
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
