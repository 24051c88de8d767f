//! The datamover and workspace scenarios, run locally (`datamover_local.rs`)
//! and over SSH (`datamover_ssh.rs`), always as the test user and always
//! through the real Slurm.

use std::time::Duration;

use futures::StreamExt;
use hpc_core::{Error, NotFoundKind, Path};
use zih_datamover::workspace::Remaining;
use zih_datamover::{
    AllocateRequest, CacheWorkspace, Datamover, DtEvent, ListOptions, WorkspaceConfig, Workspaces,
    wait_all,
};

use super::{Fx, NASTY, PartitionLock, partition_state, slurm_state};

const LONG: Option<Duration> = Some(Duration::from_secs(180));

fn s(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The project space is read-only for the user; dtcp writes there anyway,
/// names with blanks, quotes and shell metacharacters intact; dtrm removes.
pub async fn copy_into_read_only_project_space(f: Fx) {
    let src = f.scratch_file(NASTY, b"payload\n");
    let target = f.project.join(NASTY);
    let direct = f.sh("printf x > \"$1\"", &[&s(&target)]).await;
    assert_ne!(direct, 0, "the test user must not write into the project space directly");
    assert!(!target.exists());
    let dm = f.dm();
    let h = dm.dtcp([s(&src), s(&target)]).await.unwrap();
    let out = h.success().await.unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), b"payload\n", "{out:?}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&target).unwrap().uid(), f.uid());
    assert!(!out.stderr.contains("pseudo-terminal"), "pty warnings must be hidden: {out:?}");
    assert_eq!(h.poll(), Some(0));
    dm.dtrm([s(&target)]).await.unwrap().success().await.unwrap();
    assert!(!target.exists());
}

/// dtls -l comes back typed, dot files and odd names included.
pub async fn typed_listing(f: Fx) {
    let dir = f.scratch_dir("listing");
    for name in [NASTY, ".hidden", "x -> y"] {
        std::fs::write(dir.join(name), b"12345").unwrap();
    }
    std::fs::create_dir(dir.join("sub dir")).unwrap();
    let dm = f.dm();
    let p = Path::new(&s(&dir)).unwrap();
    let mut got = dm.list(&p).await.unwrap();
    got.sort_by(|a, b| a.path.cmp(&b.path));
    let names: Vec<&str> = got.iter().filter_map(|a| a.path.file_name()).collect();
    assert_eq!(names, [".hidden", NASTY, "sub dir", "x -> y"]);
    assert!(got.iter().all(|a| a.path.parent().as_ref() == Some(&p)));
    let nasty = got.iter().find(|a| a.path.file_name() == Some(NASTY)).unwrap();
    assert_eq!(nasty.size, 5);
    assert!(nasty.modified.is_some() && nasty.permissions.is_some());
    assert!(got.iter().find(|a| a.path.file_name() == Some("sub dir")).unwrap().is_directory());
    let one = dm.attributes(&p.join_entry("sub dir").unwrap()).await.unwrap();
    assert!(one.is_directory());
    let e = dm.list(&p.join_entry("missing").unwrap()).await.unwrap_err();
    assert!(matches!(e, Error::NotFound { kind: NotFoundKind::Path, .. }), "{e}");
}

/// `--help` answers at once through the same handle, without a job.
pub async fn help_through_the_same_handle(f: Fx) {
    let h = f.dm().dtls(["--help"]).await.unwrap();
    let out = h.output().await.unwrap();
    assert_eq!(out.exit_code, 0);
    assert!(out.stdout_text().contains("Usage: ls"), "{out:?}");
    assert!(out.events.is_empty() && out.job_id.is_none(), "{out:?}");
}

/// A failing command surfaces its exit code and the tool's stderr.
pub async fn failure_keeps_exit_code_and_stderr(f: Fx) {
    let missing = f.scratch.join("no such file");
    let h = f.dm().dtcp([s(&missing), s(&f.project.join("x"))]).await.unwrap();
    assert_eq!(h.wait(LONG).await.unwrap(), 1);
    let e = h.success().await.unwrap_err();
    let Error::CommandFailed { exit_code, stderr, command } = &e else { panic!("{e}") };
    assert_eq!(*exit_code, Some(1));
    assert!(stderr.contains("No such file or directory"), "{stderr}");
    assert!(command.contains("dtcp"), "{command}");
    assert!(!stderr.contains("TIOCGWINSZ"), "{stderr}");
}

/// Queued while the partition is down, allocated once it is up; events in order.
/// Then a kill of a running transfer cancels its Slurm job.
pub async fn events_and_kill(f: Fx) {
    let dm = f.dm();
    let _lock = PartitionLock::acquire().await;
    partition_state(false).await;
    let h = dm.dtls(["-l", &s(&f.scratch)]).await.unwrap();
    let mut events = h.events();
    let first = tokio::time::timeout(Duration::from_secs(60), events.next()).await;
    partition_state(true).await;
    let Ok(Some(DtEvent::Queued { job_id })) = first else {
        panic!("expected Queued, got {first:?}")
    };
    assert_eq!(h.job_id(), Some(job_id));
    let second = tokio::time::timeout(Duration::from_secs(120), events.next()).await.unwrap();
    assert_eq!(second, Some(DtEvent::Allocated { job_id }));
    assert_eq!(h.wait(LONG).await.unwrap(), 0);

    // A transfer that blocks forever: cp reading a FIFO nobody writes.
    let fifo = f.scratch.join("fifo");
    assert_eq!(f.sh("mkfifo \"$1\"", &[&s(&fifo)]).await, 0);
    partition_state(false).await;
    let h = dm.dtcp([s(&fifo), s(&f.project.join("never"))]).await.unwrap();
    let queued = tokio::time::timeout(Duration::from_secs(60), h.events().next()).await;
    partition_state(true).await;
    let Ok(Some(DtEvent::Queued { job_id })) = queued else {
        panic!("expected Queued, got {queued:?}")
    };
    let running = tokio::time::timeout(Duration::from_secs(120), async {
        while slurm_state(job_id).await != "RUNNING" {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(running.is_ok(), "job {job_id} never ran: {}", slurm_state(job_id).await);
    assert_eq!(h.poll(), None);
    h.kill().await.unwrap();
    assert!(h.poll().is_some());
    let st = slurm_state(job_id).await;
    assert!(
        matches!(st.as_str(), "CANCELLED" | "COMPLETING" | "COMPLETED" | "FAILED" | ""),
        "job {job_id} is {st}"
    );
    assert_ne!(st, "RUNNING");
}

/// Without `--blocking` the command returns once sbatch took the job;
/// `wait_job` follows it to the end.
pub async fn background_submission(f: Fx) {
    let mut cfg = f.config();
    cfg.blocking = false;
    let dm = Datamover::new(f.exec.clone(), cfg).unwrap();
    let src = f.scratch_file(&format!("bg {NASTY}"), b"bg\n");
    let target = f.project.join(format!("bg {NASTY}"));
    let out = dm.dtcp([s(&src), s(&target)]).await.unwrap().success().await.unwrap();
    let Some(DtEvent::Submitted { job_id }) = out.events.first().cloned() else {
        panic!("{out:?}")
    };
    let end = dm.wait_job(job_id, Duration::from_millis(300), LONG).await.unwrap();
    assert_eq!(end.state, hpc_core::JobState::Completed, "{end:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"bg\n");
    let e = dm.wait_job(987_654_321, Duration::from_millis(300), LONG).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
}

/// dtmv, dtrsync, dttar and dtwget do their tool's work in the project space.
pub async fn the_other_transfer_tools(f: Fx) {
    let dm = f.dm();
    let dir = f.scratch_dir("tree");
    std::fs::write(dir.join("one"), b"1").unwrap();
    std::fs::write(dir.join(NASTY), b"2").unwrap();
    let synced = f.project.join("synced");
    dm.dtrsync(["-a", &format!("{}/", s(&dir)), &s(&synced)])
        .await
        .unwrap()
        .success()
        .await
        .unwrap();
    assert_eq!(std::fs::read(synced.join(NASTY)).unwrap(), b"2");
    let moved = f.project.join("moved");
    dm.dtmv([s(&synced), s(&moved)]).await.unwrap().success().await.unwrap();
    assert!(!synced.exists() && moved.join("one").exists());
    let tgz = f.project.join("t.tgz");
    dm.dttar(["-czf", &s(&tgz), "-C", &s(&f.scratch), "tree"])
        .await
        .unwrap()
        .success()
        .await
        .unwrap();
    assert!(std::fs::metadata(&tgz).unwrap().len() > 0);

    let body = b"downloaded by dtwget\n";
    let (url, server) = serve_once(body).await;
    let got = f.project.join("got");
    dm.dtwget(["-q", "-O", &s(&got), &url]).await.unwrap().success().await.unwrap();
    server.await.unwrap();
    assert_eq!(std::fs::read(&got).unwrap(), body);
}

/// A one-shot HTTP server on 127.0.0.1.
async fn serve_once(body: &'static [u8]) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/file", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = sock.read(&mut buf).await.unwrap();
        let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(body).await.unwrap();
    });
    (url, task)
}

/// Several commands at once, waited for together.
pub async fn many_at_once(f: Fx) {
    let dm = f.dm();
    let mut handles = Vec::new();
    for _ in 0..4 {
        handles.push(dm.dtls([s(&f.scratch)]).await.unwrap());
    }
    let codes = wait_all(&handles, LONG).await;
    assert!(codes.iter().all(|c| matches!(c, Ok(0))), "{codes:?}");
}

/// Allocate, reuse, list, extend, find, release, restore; unknown names
/// are not-found.
pub async fn workspace_lifecycle(f: Fx) {
    let ws = f.ws();
    let name = format!("it-{}-{}", f.label, std::process::id());
    let req = AllocateRequest::new(&name, 7)
        .comment("notes: a b")
        .reminder(2, Some("u@example.org".into()));
    let a = ws.allocate(&req).await.unwrap();
    assert!(!a.reused && a.directory.ends_with(&format!("hpctest-{name}")), "{a:?}");
    assert_eq!(a.extensions, Some(10));
    assert!(std::path::Path::new(&a.directory).is_dir());
    assert!(ws.allocate(&req).await.unwrap().reused);
    let info = ws.get(&name, None).await.unwrap();
    assert_eq!(info.directory, a.directory);
    assert_eq!(info.comment.as_deref(), Some("notes: a b"));
    assert_eq!(info.filesystem.as_deref(), Some("scratch"));
    let Remaining::Left(left) = info.remaining else { panic!("{info:?}") };
    assert!(left > Duration::from_secs(6 * 86_400) && left <= Duration::from_secs(7 * 86_400));
    let verbose = ws
        .list(&ListOptions { pattern: Some(name.clone()), verbose: true, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(verbose[0].mail.as_deref(), Some("u@example.org"));
    let ext = ws.extend(&name, 20, None).await.unwrap();
    assert_eq!(ext.extensions, Some(9));
    assert!(
        ws.get(&name, None).await.unwrap().remaining.duration() > Duration::from_secs(19 * 86_400)
    );
    assert_eq!(ws.find(&name, None).await.unwrap(), a.directory);

    // The 2.x layout through the same tool.
    let mut v2 = WorkspaceConfig::with_bin_dir(&f.bin);
    v2.env.push(("HPCKIT_WS_LAYOUT".into(), "2".into()));
    let v2 = Workspaces::new(f.exec.clone(), v2).get(&name, None).await.unwrap();
    assert_eq!((v2.directory.as_str(), v2.extensions), (a.directory.as_str(), Some(9)));

    std::fs::write(std::path::Path::new(&a.directory).join("keep"), b"k").unwrap();
    ws.release(&name, None).await.unwrap();
    let e = ws.find(&name, None).await.unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { kind: NotFoundKind::Resource("workspace"), name: n } if *n == name),
        "{e}"
    );
    assert!(ws.list(&ListOptions::default()).await.unwrap().iter().all(|w| w.id != name));
    let gone = ws.restorable(None).await.unwrap();
    let r =
        gone.iter().find(|r| r.id.starts_with(&format!("hpctest-{name}-"))).expect("restorable");
    let target = format!("{name}-t");
    let t = ws.allocate(&AllocateRequest::new(&target, 1)).await.unwrap();
    ws.restore(&r.id, &target, None).await.unwrap();
    assert!(std::path::Path::new(&t.directory).join(&r.id).join("keep").exists());
    ws.release(&target, None).await.unwrap();

    for e in [
        ws.release("nosuch-ws", None).await.unwrap_err(),
        ws.extend("nosuch-ws", 3, None).await.unwrap_err(),
        ws.get("nosuch-ws", None).await.unwrap_err(),
    ] {
        assert!(
            matches!(e, Error::NotFound { kind: NotFoundKind::Resource("workspace"), .. }),
            "{e}"
        );
    }
    let e = ws.allocate(&AllocateRequest::new("bad name;rm", 1)).await.unwrap_err();
    assert!(matches!(e, Error::InvalidInput(_)), "{e}");
}

/// The cache guard: allocated on creation, released by cleanup, and
/// released in the background when dropped.
pub async fn cache_workspace(f: Fx) {
    let ws = f.ws();
    let id = format!("cache-{}-{}", f.label, std::process::id());
    let c = CacheWorkspace::with_request(ws.clone(), AllocateRequest::new(&id, 1)).await.unwrap();
    assert!(std::path::Path::new(c.path()).is_dir());
    assert_eq!(c.id(), id);
    c.cleanup().await.unwrap();
    assert!(ws.find(&id, None).await.unwrap_err().is_not_found());

    let c = CacheWorkspace::with_request(ws.clone(), AllocateRequest::new(&id, 1)).await.unwrap();
    drop(c);
    let released = tokio::time::timeout(Duration::from_secs(60), async {
        while ws.find(&id, None).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(released.is_ok(), "a dropped cache workspace must be released in the background");
}

/// Slurm's time limit kill is reported as such (takes a minute or more:
/// Slurm's smallest limit is one minute).
pub async fn time_limit_is_reported(f: Fx) {
    let mut cfg = f.config();
    cfg.time_limit = Some(Duration::from_secs(60));
    let dm = Datamover::new(f.exec.clone(), cfg).unwrap();
    let fifo = f.scratch.join("fifo-tl");
    assert_eq!(f.sh("mkfifo \"$1\"", &[&s(&fifo)]).await, 0);
    let h = dm.dtcp([s(&fifo), s(&f.project.join("never"))]).await.unwrap();
    let e = h.success().await.unwrap_err();
    assert!(matches!(&e, Error::Timeout { after, .. } if *after == Duration::from_secs(60)), "{e}");
    let out = h.output().await.unwrap();
    assert!(out.hit_time_limit(), "{out:?}");
}

macro_rules! suite {
    ($make:expr) => {
        #[tokio::test]
        async fn copy_into_read_only_project_space() {
            datamover_support::cases::copy_into_read_only_project_space($make).await
        }
        #[tokio::test]
        async fn typed_listing() {
            datamover_support::cases::typed_listing($make).await
        }
        #[tokio::test]
        async fn help_through_the_same_handle() {
            datamover_support::cases::help_through_the_same_handle($make).await
        }
        #[tokio::test]
        async fn failure_keeps_exit_code_and_stderr() {
            datamover_support::cases::failure_keeps_exit_code_and_stderr($make).await
        }
        #[tokio::test]
        async fn background_submission() {
            datamover_support::cases::background_submission($make).await
        }
        #[tokio::test]
        async fn the_other_transfer_tools() {
            datamover_support::cases::the_other_transfer_tools($make).await
        }
        #[tokio::test]
        async fn many_at_once() {
            datamover_support::cases::many_at_once($make).await
        }
        #[tokio::test]
        async fn workspace_lifecycle() {
            datamover_support::cases::workspace_lifecycle($make).await
        }
        #[tokio::test]
        async fn events_and_kill() {
            datamover_support::cases::events_and_kill($make).await
        }
        #[tokio::test]
        async fn cache_workspace() {
            datamover_support::cases::cache_workspace($make).await
        }
    };
}
pub(crate) use suite;
