//! Errors made by each adaptor family's own code (scheduler adaptors, file
//! system adaptors, the ZIH datamover) reach the CLI's [`exit_code`] with the
//! code that docs/guide.md gives their kind, through a context chain as the
//! commands add one. Each family's table lists the kinds its adaptors
//! produce; [`every_kind_has_its_documented_code`] covers every kind once.
//!
//! The errors come from real calls: in-process adaptors (local scheduler,
//! local file system, copy engine, local processes), batch and workspace
//! adaptors over a [`ScriptedExecutor`] that plays the host (a refused login,
//! a failing or garbled command), and WebDAV/S3 against a one-answer HTTP
//! server on a local port. Real servers are in `crates/itests/tests/cli_errors.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hpc_testkit::scripted::{ScriptedExecutor, output, program_name};
use hpckit::auth::CredentialMap;
use hpckit::core::error::{HostKeyProblem, NotFoundKind};
use hpckit::core::fs::ByteRange;
use hpckit::core::{Error, ErrorKind, JobDescription, JobId, Path, Scheduler, SchedulerExt};
use hpckit::exec::{Executor, LocalExecutor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{error_line, exit_code};

const GUIDE: &str = include_str!("../../../../docs/guide.md");

/// The exit-code table under "Errors and exit codes" in docs/guide.md.
fn documented() -> BTreeMap<u8, String> {
    let section = GUIDE.split("### Errors and exit codes").nth(1).expect("the guide's section");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Some((cells.get(1)?.parse().ok()?, (*cells.get(2)?).to_owned()))
        })
        .collect()
}

/// An error an adaptor gave, what it is, and where the guide documents it.
struct Row {
    /// The call that failed, for messages.
    call: String,
    /// What it gave.
    error: Error,
    /// Its expected kind.
    kind: ErrorKind,
    /// The exit code for it.
    code: u8,
    /// A word of that code's meaning in the guide's table.
    says: &'static str,
}

fn row(call: impl Into<String>, r: hpckit::core::Result<impl std::fmt::Debug>) -> RowBuilder {
    let call = call.into();
    match r {
        Err(error) => RowBuilder { call, error },
        Ok(v) => panic!("{call} succeeded ({v:?}) where it should fail"),
    }
}

struct RowBuilder {
    call: String,
    error: Error,
}

impl RowBuilder {
    fn is(self, kind: ErrorKind, code: u8, says: &'static str) -> Row {
        Row { call: self.call, error: self.error, kind, code, says }
    }
}

/// Every row's error has its kind, and the CLI exits with its documented code.
fn check(family: &str, rows: &[Row]) {
    let docs = documented();
    for r in rows {
        let what = format!("{family}: {}: {}", r.call, r.error);
        assert_eq!(r.error.kind(), r.kind, "{what}");
        let err = anyhow::Error::from(r.error.clone()).context(r.call.clone());
        assert_eq!(exit_code(&err), r.code, "{what}");
        let line = error_line(&err);
        assert!(!line.contains('\n') && line.contains(&r.call), "{what}: {line}");
        let meaning =
            docs.get(&r.code).unwrap_or_else(|| panic!("{what}: {} not documented", r.code));
        assert!(meaning.contains(r.says), "{what}: the guide says {} is {meaning:?}", r.code);
    }
}

#[test]
fn every_kind_has_its_documented_code() {
    let io = || std::io::Error::other("disk on fire");
    let examples = [
        (Error::InvalidInput("x".into()), 65, "bad input"),
        (Error::job_not_found("7"), 66, "not found"),
        (Error::AlreadyExists { path: "/x".into() }, 73, "already exists"),
        (Error::PermissionDenied { what: "x".into(), message: String::new() }, 77, "permission"),
        (
            Error::Authentication { user: "u".into(), host: "h".into(), reason: "no".into() },
            77,
            "authentication",
        ),
        (
            Error::HostKey {
                host: "h".into(),
                problem: HostKeyProblem::Unknown { fingerprint: "f".into() },
            },
            77,
            "host key",
        ),
        (Error::connect("h:22", io()), 75, "connection"),
        (Error::remote("s3", Some(500), "x"), 76, "service failed"),
        (Error::parse("squeue", "x", "y"), 76, "parsed"),
        (Error::unsupported("at", "x"), 69, "does not support"),
        (Error::Timeout { what: "x".into(), after: Duration::from_secs(1) }, 124, "timeout"),
        (Error::Cancelled("x".into()), 130, "cancelled"),
        (Error::Changed { path: "/x".into(), detail: "etag".into() }, 75, "changed"),
        (Error::io("x", io()), 74, "I/O"),
    ];
    let rows: Vec<Row> = examples
        .into_iter()
        .map(|(error, code, says)| {
            let kind = error.kind();
            Row { call: format!("{kind:?}"), error, kind, code, says }
        })
        .collect();
    for kind in ErrorKind::ALL {
        assert!(rows.iter().any(|r| r.kind == kind), "{kind:?} has no example");
    }
    let special = [
        ("bad location", "x".parse::<hpckit::core::Location>().unwrap_err(), 64, "location"),
        (
            "unknown scheme",
            Error::UnknownScheme { scheme: "gopher".into(), supported: "file".into() },
            69,
            "unknown scheme",
        ),
        (
            "unknown host",
            Error::NotFound { kind: NotFoundKind::Host, name: "h".into() },
            68,
            "host not found",
        ),
        (
            "missing program",
            Error::NotFound { kind: NotFoundKind::Executable, name: "p".into() },
            127,
            "does not exist",
        ),
    ];
    let special: Vec<Row> = special
        .into_iter()
        .map(|(call, error, code, says)| {
            let kind = error.kind();
            Row { call: call.into(), error, kind, code, says }
        })
        .collect();
    check("every kind", &rows);
    check("special cases", &special);
    // The guide lists no code the CLI never gives (besides 1 and the parser's 2).
    let given: Vec<u8> = rows.iter().chain(&special).map(|r| r.code).collect();
    for code in documented().keys() {
        assert!([1, 2].contains(code) || given.contains(code), "the guide lists {code}");
    }
}

fn job() -> JobDescription {
    JobDescription::new("/bin/true")
}

type Open = fn(Arc<dyn Executor>) -> hpckit::core::Result<Arc<dyn Scheduler>>;

/// The four batch adaptors, opened on `exec`.
fn batch_adaptors() -> [(&'static str, Open); 4] {
    use hpckit::sched_adaptors::{at, sge, slurm, torque};
    [
        ("slurm", |e| Ok(Arc::new(slurm::SlurmScheduler::new(e, slurm::SlurmConfig::default())?))),
        ("sge", |e| Ok(Arc::new(sge::SgeScheduler::new(e, sge::SgeConfig::default())?))),
        ("torque", |e| {
            Ok(Arc::new(torque::TorqueScheduler::new(e, torque::TorqueConfig::default())?))
        }),
        ("at", |e| Ok(Arc::new(at::AtScheduler::new(e, at::AtConfig::default())?))),
    ]
}

/// A failure of the connection to the host, as hpc-exec reports it.
fn transport_failures() -> Vec<(Error, ErrorKind, u8, &'static str)> {
    let reset = || std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    vec![
        (
            Error::Authentication {
                user: "u".into(),
                host: "h:22".into(),
                reason: "publickey refused".into(),
            },
            ErrorKind::Authentication,
            77,
            "authentication",
        ),
        (
            Error::HostKey {
                host: "h:22".into(),
                problem: HostKeyProblem::Changed {
                    fingerprint: "SHA256:x".into(),
                    known_hosts: "k:1".into(),
                },
            },
            ErrorKind::HostKey,
            77,
            "host key",
        ),
        (Error::connect("h:22", reset()), ErrorKind::Connection, 75, "connection failed"),
        (Error::connection_lost("h:22", reset()), ErrorKind::Connection, 75, "lost"),
        (
            Error::ChannelRefused {
                host: "h:22".into(),
                channel: "session".into(),
                reason: "too many".into(),
            },
            ErrorKind::Connection,
            75,
            "connection",
        ),
        (
            Error::Timeout { what: "connecting to h:22".into(), after: Duration::from_secs(5) },
            ErrorKind::Timeout,
            124,
            "timeout",
        ),
    ]
}

#[tokio::test]
async fn scheduler_adaptor_errors_reach_the_cli_with_their_codes() {
    let mut rows = Vec::new();
    let creds = CredentialMap::new();
    let local = hpckit::open_scheduler("local://", &creds).await.unwrap();
    rows.push(row("local status 424242", local.status(&JobId::new("424242")).await).is(
        ErrorKind::NotFound,
        66,
        "not found",
    ));
    rows.push(row("local submit ''", local.submit_batch(&JobDescription::new("")).await).is(
        ErrorKind::InvalidInput,
        65,
        "invalid job description",
    ));
    let missing = JobDescription::new("/nonexistent/hpckit-no-such-program");
    rows.push(row("local submit of a missing program", local.submit_batch(&missing).await).is(
        ErrorKind::NotFound,
        127,
        "does not exist",
    ));
    rows.push(
        row("local://?bogus=1", hpckit::open_scheduler("local://?bogus=1", &creds).await.map(drop))
            .is(ErrorKind::InvalidInput, 64, "location"),
    );

    // A host that answers every command with success and no output, or with
    // a failing or garbled sbatch.
    let quiet: Arc<dyn Executor> = Arc::new(ScriptedExecutor::new(|_| Ok(output(0, "", ""))));
    let garbled: Arc<dyn Executor> = Arc::new(ScriptedExecutor::new(|cmd| {
        Ok(match program_name(cmd).as_str() {
            "sbatch" => output(0, "Submitted? maybe\n", ""),
            _ => output(0, "", ""),
        })
    }));
    let refusing: Arc<dyn Executor> = Arc::new(ScriptedExecutor::new(|cmd| {
        Ok(match program_name(cmd).as_str() {
            "sbatch" => {
                output(1, "", "sbatch: error: Batch job submission failed: Invalid account\n")
            }
            _ => output(0, "", ""),
        })
    }));
    let open = |e: &Arc<dyn Executor>| batch_adaptors()[0].1(e.clone()).unwrap();
    let queues = ["nope".to_owned()];
    rows.push(row("slurm queue nope", open(&quiet).queue_statuses(&queues).await).is(
        ErrorKind::NotFound,
        66,
        "queue",
    ));
    rows.push(row("slurm submit (garbled answer)", open(&garbled).submit_batch(&job()).await).is(
        ErrorKind::Parse,
        76,
        "parsed",
    ));
    rows.push(row("slurm submit (refused)", open(&refusing).submit_batch(&job()).await).is(
        ErrorKind::Remote,
        76,
        "remote command",
    ));
    for (name, open) in batch_adaptors() {
        let sched = open(quiet.clone()).unwrap();
        let interactive = sched.submit_interactive(&job()).await.map(|_| ());
        if name != "slurm" {
            rows.push(row(format!("{name} interactive"), interactive).is(
                ErrorKind::Unsupported,
                69,
                "does not support",
            ));
        }
        // Whatever breaks between us and the host keeps its kind through
        // every adaptor and every call, also for each job of a batch.
        for (failure, kind, code, says) in transport_failures() {
            let sched = open(Arc::new(ScriptedExecutor::failing(failure))).unwrap();
            let id = JobId::new("17");
            rows.push(
                row(format!("{name} submit"), sched.submit_batch(&job()).await)
                    .is(kind, code, says),
            );
            let many = sched.submit_many(&[job(), job(), job()]).await.expect("one result per job");
            for (i, r) in many.into_iter().enumerate() {
                rows.push(row(format!("{name} submit_many job {i}"), r).is(kind, code, says));
            }
            rows.push(row(format!("{name} status"), sched.status(&id).await).is(kind, code, says));
            rows.push(row(format!("{name} cancel"), sched.cancel(&id).await).is(kind, code, says));
            if name != "at" {
                // at's queues are letters it knows without asking.
                let queues = sched.queue_names().await;
                rows.push(row(format!("{name} queues"), queues).is(kind, code, says));
            }
        }
    }
    check("scheduler adaptors", &rows);
}

/// One HTTP answer for every request on a local port (`Connection: close`).
async fn http_server(answer: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                // The request's head, then as much body as it announced.
                while let Ok(n @ 1..) = conn.read(&mut buf).await {
                    seen.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&seen);
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    format!("127.0.0.1:{port}")
}

fn status_answer(status: &str, body: &str) -> &'static str {
    Box::leak(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    )
}

/// Open `url` as the CLI does and stat `/x` on it: the first error of the two.
async fn stat_x(url: &str) -> hpckit::core::Result<()> {
    // S3 without keys is an error of its own: these servers check none.
    let creds = if url.starts_with("s3://") {
        CredentialMap::with_default(hpckit::auth::Credential::Anonymous)
    } else {
        CredentialMap::new()
    };
    let fs = hpckit::open_filesystem(url, &creds).await?;
    fs.attributes(&Path::new("/x")?).await.map(drop)
}

#[tokio::test]
async fn file_system_adaptor_errors_reach_the_cli_with_their_codes() {
    let mut rows = Vec::new();
    let creds = CredentialMap::new();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let local = hpckit::open_filesystem(&url, &creds).await.unwrap();
    let at = |name: &str| Path::new(&format!("{}/{name}", dir.path().display())).unwrap();
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    rows.push(
        row("local read missing", local.read(&at("missing"), ByteRange::ALL).await.map(drop)).is(
            ErrorKind::NotFound,
            66,
            "path",
        ),
    );
    rows.push(row("local mkdir sub", local.create_directory(&at("sub")).await).is(
        ErrorKind::AlreadyExists,
        73,
        "already exists",
    ));
    rows.push(row("local mkdir file/below", local.create_directory(&at("file/below")).await).is(
        ErrorKind::Io,
        74,
        "I/O",
    ));
    rows.push(row("empty URL", hpckit::open_filesystem("", &creds).await.map(drop)).is(
        ErrorKind::InvalidInput,
        64,
        "location",
    ));
    rows.push(row("gopher://", hpckit::open_filesystem("gopher://h/", &creds).await.map(drop)).is(
        ErrorKind::InvalidInput,
        69,
        "unknown scheme",
    ));
    let cancelled = hpckit::fs_adaptors::CopyOptions::default();
    cancelled.cancel.cancel();
    let copy =
        hpckit::fs_adaptors::copy(&local, &at("file"), &local, &at("copy"), &cancelled).await;
    rows.push(row("local copy, cancelled", copy).is(ErrorKind::Cancelled, 130, "cancelled"));
    let dir_copy = hpckit::fs_adaptors::copy(
        &local,
        &at("sub"),
        &local,
        &at("sub2"),
        &hpckit::fs_adaptors::CopyOptions::default(),
    )
    .await;
    rows.push(row("local copy of a directory without -r", dir_copy).is(
        ErrorKind::InvalidInput,
        65,
        "bad input",
    ));

    // WebDAV and S3 read a server's answer; each answer is one server here.
    let s3_error = |code: &str| format!("<Error><Code>{code}</Code><Message>m</Message></Error>");
    let answers: [(&str, &str, String, ErrorKind, u8, &'static str); 9] = [
        (
            "webdav",
            "401 Unauthorized",
            String::new(),
            ErrorKind::Authentication,
            77,
            "authentication",
        ),
        ("webdav", "403 Forbidden", String::new(), ErrorKind::PermissionDenied, 77, "permission"),
        ("webdav", "404 Not Found", String::new(), ErrorKind::NotFound, 66, "path"),
        ("webdav", "501 Not Implemented", String::new(), ErrorKind::Remote, 76, "service failed"),
        ("webdav", "207 Multi-Status", "<d:multistatus".into(), ErrorKind::Parse, 76, "parsed"),
        (
            "s3",
            "403 Forbidden",
            s3_error("AccessDenied"),
            ErrorKind::PermissionDenied,
            77,
            "permission",
        ),
        (
            "s3",
            "403 Forbidden",
            s3_error("SignatureDoesNotMatch"),
            ErrorKind::Authentication,
            77,
            "authentication",
        ),
        ("s3", "404 Not Found", s3_error("NoSuchKey"), ErrorKind::NotFound, 66, "path"),
        (
            "s3",
            "501 Not Implemented",
            s3_error("NotImplemented"),
            ErrorKind::Remote,
            76,
            "service failed",
        ),
    ];
    for (adaptor, status, body, kind, code, says) in answers {
        let host = http_server(status_answer(status, &body)).await;
        let url = match adaptor {
            "s3" => format!("s3://bucket/?endpoint=http://{host}&region=r"),
            _ => format!("webdav://{host}/"),
        };
        let result = stat_x(&url).await;
        rows.push(row(format!("{adaptor} answering {status}"), result).is(kind, code, says));
    }
    // Nobody listens on a port just given up.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    for url in
        [format!("webdav://{closed}/"), format!("s3://bucket/?endpoint=http://{closed}&region=r")]
    {
        let result = stat_x(&url).await;
        rows.push(row(format!("{url} (closed port)"), result).is(
            ErrorKind::Connection,
            75,
            "connection",
        ));
    }
    check("file-system adaptors", &rows);
}

#[tokio::test]
async fn datamover_errors_reach_the_cli_with_their_codes() {
    use hpckit::datamover::workspace::{AllocateRequest, ListOptions, Workspaces};
    use hpckit::datamover::{Datamover, DatamoverConfig, WorkspaceConfig};

    let mut rows = Vec::new();
    let ws = |answer: fn(&str) -> hpckit::exec::Output| {
        let exec = ScriptedExecutor::new(move |cmd| Ok(answer(&program_name(cmd))));
        Workspaces::new(Arc::new(exec), WorkspaceConfig::default())
    };
    let empty = ws(|_| output(0, "", ""));
    rows.push(row("ws get scratch", empty.get("scratch", None).await).is(
        ErrorKind::NotFound,
        66,
        "workspace",
    ));
    let gone = ws(|_| output(1, "", "Error: workspace scratch does not exist\n"));
    rows.push(row("ws find scratch", gone.find("scratch", None).await).is(
        ErrorKind::NotFound,
        66,
        "workspace",
    ));
    rows.push(row("ws allocate 'a b'", empty.allocate(&AllocateRequest::new("a b", 1)).await).is(
        ErrorKind::InvalidInput,
        65,
        "bad input",
    ));
    let garbled = ws(|_| output(0, "what?\n", ""));
    rows.push(
        row("ws allocate (garbled)", garbled.allocate(&AllocateRequest::new("w", 1)).await).is(
            ErrorKind::Parse,
            76,
            "parsed",
        ),
    );
    let broken = ws(|_| output(2, "", "ws_list: cannot read the configuration\n"));
    rows.push(row("ws list (failing)", broken.list(&ListOptions::default()).await).is(
        ErrorKind::Remote,
        76,
        "remote command",
    ));
    for (failure, kind, code, says) in transport_failures() {
        let exec: Arc<dyn Executor> = Arc::new(ScriptedExecutor::failing(failure));
        let ws = Workspaces::new(exec.clone(), WorkspaceConfig::default());
        rows.push(row("ws list", ws.list(&ListOptions::default()).await).is(kind, code, says));
        let dm = Datamover::new(exec, DatamoverConfig::default()).unwrap();
        rows.push(row("dtls", dm.dtls(["/x"]).await.map(drop)).is(kind, code, says));
    }

    // The tools as local programs: missing, failing, too slow.
    let bin = tempfile::tempdir().unwrap();
    let script = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = bin.path().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("dtcp", "echo 'dtcp: cannot stat /x' >&2; exit 3");
    script("dtls", "exec sleep 30");
    let mut config = DatamoverConfig::default();
    config.bin_dir = Some(bin.path().display().to_string());
    let dm = Datamover::new(Arc::new(LocalExecutor::new()), config).unwrap();
    rows.push(row("dtmv (not installed)", dm.dtmv(["/a", "/b"]).await.map(drop)).is(
        ErrorKind::NotFound,
        127,
        "does not exist",
    ));
    let failing = dm.dtcp(["/x", "/y"]).await.unwrap().success().await;
    rows.push(row("dtcp (exit 3)", failing).is(ErrorKind::Remote, 76, "remote command"));
    let slow = dm.dtls(["/x"]).await.unwrap();
    rows.push(row("dtls (waited 10 ms)", slow.wait(Some(Duration::from_millis(10))).await).is(
        ErrorKind::Timeout,
        124,
        "timeout",
    ));
    slow.kill().await.unwrap();
    check("datamover", &rows);
}
