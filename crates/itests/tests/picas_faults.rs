//! Bad input and faults: a wrong password, a server that is down or restarts
//! in the middle of a run, a malformed token, a failing command
//! (`cargo xtask services up couchdb`; private pouchdb-server instances for
//! the restarts).

#[path = "picas_support/mod.rs"]
mod picas_support;

use std::time::Duration;

use picas_support::{
    Db, PrivateServer, eventually, free_port, ok, run, side_counts, spawn, token_lines,
};
use picas_tokens::{CouchConfig, CouchDb, DbUrl, TokenState, log_names};
use serde_json::Value;

const PW: [&str; 2] = ["--db-password-env", "HPCKIT_TEST_DB_PW"];

/// The one stderr line of a failed hpckit run.
fn error_line(out: &hpc_exec::Output) -> String {
    let err = out.stderr_text();
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("hpckit: error: ")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    lines[0].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_is_a_clear_401_and_never_shown() {
    let db = Db::new("auth").await;
    let secret = "Wr0ngSecretValue";
    let bad = db.url_with_password().replace(&db.password, secret);
    let out = run(db.hpckit(&["picas", "status", &bad])).await;
    assert_eq!(out.status.code, Some(77), "{out:?}");
    let line = error_line(&out);
    assert!(line.contains("authentication failed for admin@127.0.0.1:"), "{line}");
    assert!(line.contains("401"), "{line}");
    assert!(!out.stderr_text().contains(secret) && !out.stdout_text().contains(secret));
    // The library says the same, and its Debug hides the password too.
    let client = CouchDb::new(DbUrl::parse(&bad).unwrap()).unwrap();
    assert!(!format!("{client:?}").contains(secret));
    let e = client.db_info().await.unwrap_err();
    assert_eq!(e.kind(), hpc_core::ErrorKind::Authentication, "{e}");
    assert!(!e.to_string().contains(secret));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_down_backs_off_then_fails_clearly() {
    let port = free_port();
    let url = format!("http://admin:Secret123@127.0.0.1:{port}/pool");
    let out = run(hpc_exec::Command::new(picas_support::hpckit_bin()).args([
        "picas",
        "run",
        &url,
        "--retries",
        "3",
    ]))
    .await;
    assert_eq!(out.status.code, Some(75), "{out:?}");
    let line = error_line(&out);
    assert!(line.contains(&format!("cannot connect to 127.0.0.1:{port}")), "{line}");
    assert!(line.contains("gave up after 4 attempts"), "{line}");
    assert!(!line.contains("Secret123"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_dying_mid_run_leaves_no_unstarted_token_locked() {
    let server = PrivateServer::start().await;
    let db = Db::on(server.url(), "admin", &server.password, "down").await;
    let side = db.path("side.txt");
    let ids: Vec<String> = (0..20).map(|i| format!("d{i:02}")).collect();
    let pool = db.pool();
    pool.ensure_views().await.unwrap();
    let tokens = ids.iter().map(|id| {
        picas_tokens::Token::new(id.clone(), format!("echo {id} >> {} && sleep 1", side.display()))
    });
    pool.push(tokens.collect()).await.unwrap();
    let url = db.url();
    let worker =
        spawn(db.hpckit(&["picas", "run", &url, "--retries", "2", "--lease", "3s", PW[0], PW[1]]))
            .await;
    eventually("two tokens started", Duration::from_secs(60), || {
        let side = side.clone();
        async move { side_counts(&side).len() >= 2 }
    })
    .await;
    let mut server = server;
    server.kill().await;
    let out = worker.collect(None).await.unwrap();
    assert_eq!(out.status.code, Some(75), "the worker reports the lost server: {out:?}");
    assert!(error_line(&out).contains("gave up after 3 attempts"), "{out:?}");
    server.restart().await;
    let pool = db.pool();
    let started = side_counts(&side);
    let locked = pool.tokens_in("locked", None).await.unwrap();
    assert!(locked.len() <= 1, "{locked:?}");
    for t in &locked {
        assert!(started.contains_key(t.id()), "{} is locked but never started", t.id());
    }
    let c = pool.counts().await.unwrap();
    assert_eq!(c.total(), 20, "no token lost");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_restart_during_a_run_loses_nothing() {
    let mut server = PrivateServer::start().await;
    let db = Db::on(server.url(), "admin", &server.password, "restart").await;
    let side = db.path("side.txt");
    let ids: Vec<String> = (0..60).map(|i| format!("r{i:02}")).collect();
    let file = db.path("t.jsonl");
    std::fs::write(&file, token_lines(&ids, &side, " && sleep 0.2")).unwrap();
    let url = db.url();
    ok(db.hpckit(&["picas", "views", &url, PW[0], PW[1]])).await;
    ok(db.hpckit(&["picas", "push", &url, file.to_str().unwrap(), "--json-lines", PW[0], PW[1]]))
        .await;
    let mut workers = Vec::new();
    for _ in 0..3 {
        workers.push(spawn(db.hpckit(&["picas", "run", &url, "--json", PW[0], PW[1]])).await);
    }
    eventually("10 tokens ran", Duration::from_secs(60), || {
        let side = side.clone();
        async move { side_counts(&side).len() >= 10 }
    })
    .await;
    server.kill().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart().await;
    let mut summaries = Vec::new();
    for w in workers {
        let out = w.collect(None).await.unwrap();
        assert!(out.status.success(), "a worker gave up: {out:?}");
        summaries.push(out.stdout_text().into_owned());
    }
    let c = db.pool().counts().await.unwrap();
    let locked = db.pool().tokens_in("locked", None).await.unwrap();
    assert_eq!((c.todo, c.locked, c.done, c.error), (0, 0, 60, 0), "{summaries:?} {locked:?}");
    let counts = side_counts(&side);
    assert_eq!(counts.len(), 60);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_token_and_failing_command_go_to_error_and_the_worker_goes_on() {
    let db = Db::new("bad").await;
    let url = db.url();
    ok(db.hpckit(&["picas", "views", &url, PW[0], PW[1]])).await;
    let file = db.path("t.jsonl");
    std::fs::write(
        &file,
        concat!(
            "{\"_id\": \"a-bad\", \"input\": {\"not\": \"a command\"}}\n",
            "{\"_id\": \"b-fail\", \"input\": \"echo partial; echo broken >&2; exit 3\"}\n",
            "{\"_id\": \"c-good\", \"input\": \"echo fine\"}\n",
            "{\"_id\": \"d-slow\", \"input\": \"sleep 30\"}\n",
        ),
    )
    .unwrap();
    ok(db.hpckit(&["picas", "push", &url, file.to_str().unwrap(), "--json-lines", PW[0], PW[1]]))
        .await;
    let out =
        ok(db.hpckit(&["picas", "run", &url, "--token-time", "2s", "--json", PW[0], PW[1]])).await;
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((s["recorded"].as_u64(), s["failed"].as_u64()), (Some(4), Some(3)), "{s}");
    let pool = db.pool();

    let bad = pool.get("a-bad").await.unwrap().unwrap();
    assert_eq!((bad.state(), bad.lock(), bad.done()), (TokenState::Error, 99, 99));
    assert!(bad.errors()[0].message.contains("malformed token a-bad: its input is an object"));

    let fail = pool.get("b-fail").await.unwrap().unwrap();
    assert_eq!((fail.state(), fail.exit_code()), (TokenState::Error, Some(3)));
    let (o, e) = log_names("b-fail");
    assert_eq!(&pool.attachment("b-fail", &o).await.unwrap().unwrap()[..], b"partial\n");
    assert_eq!(&pool.attachment("b-fail", &e).await.unwrap().unwrap()[..], b"broken\n");
    assert_eq!(fail.errors()[0].exception, "broken");

    let slow = pool.get("d-slow").await.unwrap().unwrap();
    assert_eq!(slow.state(), TokenState::Error);
    assert!(slow.errors()[0].message.contains("time limit of 2 s"), "{:?}", slow.errors());

    assert_eq!(pool.get("c-good").await.unwrap().unwrap().state(), TokenState::Done);

    // status lists the three with their reasons; scrub puts them back to todo.
    let out = ok(db.hpckit(&["picas", "status", &url, PW[0], PW[1]])).await;
    let text = out.stdout_text();
    assert!(text.contains("error   3"), "{text}");
    let row = text.lines().find(|l| l.starts_with("b-fail ")).unwrap_or_default();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[..3], ["b-fail", "3", "0"], "{text}");
    assert!(row.ends_with("command ended with exit code 3"), "{text}");
    let out = ok(db.hpckit(&["picas", "scrub", &url, "--view", "error", PW[0], PW[1]])).await;
    assert_eq!(out.stdout_text(), "scrubbed: 3\n");
    let c = pool.counts().await.unwrap();
    assert_eq!((c.todo, c.done, c.error), (3, 1, 0));
    let again = pool.get("b-fail").await.unwrap().unwrap();
    assert_eq!((again.scrub_count(), again.exit_code()), (1, Some(3)), "scrub keeps the exit code");
    // reset clears it all; delete removes them.
    let out = ok(db.hpckit(&["picas", "reset", &url, "--view", "todo", PW[0], PW[1]])).await;
    assert_eq!(out.stdout_text(), "reset: 3\n");
    let again = pool.get("b-fail").await.unwrap().unwrap();
    assert_eq!((again.scrub_count(), again.exit_code()), (2, None));
    assert!(again.attachment_names().is_empty());
    let out = ok(db.hpckit(&["picas", "delete", &url, "--view", "todo", PW[0], PW[1]])).await;
    assert_eq!(out.stdout_text(), "deleted: 3\n");
    assert_eq!(pool.counts().await.unwrap().total(), 1);
    // A client with a short retry budget sees the same store.
    let quick = db.client_with(CouchConfig::default());
    assert!(quick.get("b-fail").await.unwrap().is_none());
}
