//! hpckit and the real Python picas 1.1.2 share one token pool in both
//! directions: views, tokens, counts and log attachments written by one side
//! are read and processed by the other (`cargo xtask services up couchdb`).

#[path = "picas_support/mod.rs"]
mod picas_support;

use picas_support::{Db, ok};
use picas_tokens::{Token, TokenState, log_names};
use serde_json::Value;

/// Both clients' view of the counts: Python's `overview_total` and hpckit's.
async fn counts_agree(db: &Db) -> (u64, u64, u64, u64) {
    let py = ok(db.python(&["counts"])).await;
    let py: Value = serde_json::from_slice(&py.stdout).unwrap();
    let ours = db.pool().counts().await.unwrap();
    let get = |k: &str| py.get(k).and_then(Value::as_u64).unwrap_or(0);
    assert_eq!(
        (get("todo"), get("locked"), get("done"), get("error")),
        (ours.todo, ours.locked, ours.done, ours.error),
        "Python and hpckit count differently"
    );
    // And each state view's own row count matches its overview line.
    let sizes = db.pool().view_sizes().await.unwrap();
    assert_eq!(
        (sizes["todo"], sizes["locked"], sizes["done"], sizes["error"]),
        (ours.todo, ours.locked, ours.done, ours.error)
    );
    (ours.todo, ours.locked, ours.done, ours.error)
}

#[tokio::test(flavor = "multi_thread")]
async fn python_views_and_tokens_are_run_by_hpckit_workers() {
    let db = Db::new("interop-py2rs").await;
    ok(db.python(&["views"])).await;
    let file = db.path("quick.txt");
    std::fs::write(&file, "echo \"bash-echo\"\necho second\necho to-err >&2; exit 3\n").unwrap();
    ok(db.python(&["push", file.to_str().unwrap()])).await;
    assert_eq!(counts_agree(&db).await, (3, 0, 0, 0));

    // hpckit finds Python's design document as it wants it.
    let out =
        ok(db.hpckit(&["picas", "views", &db.url(), "--db-password-env", "HPCKIT_TEST_DB_PW"]))
            .await;
    assert_eq!(out.stdout_text(), "_design/Monitor: unchanged\n");

    let out =
        ok(db.hpckit(&["picas", "run", &db.url(), "--db-password-env", "HPCKIT_TEST_DB_PW"])).await;
    assert!(out.stderr_text().contains("3 tokens recorded (2 ok, 1 failed)"), "{out:?}");
    assert_eq!(counts_agree(&db).await, (0, 0, 2, 1));

    // Python numbered from the doc count (1: the design document).
    let pool = db.pool();
    let first = pool.get("token_1").await.unwrap().unwrap();
    assert_eq!(first.state(), TokenState::Done);
    assert_eq!(first.exit_code(), Some(0));
    let (out_name, err_name) = log_names("token_1");
    let log = pool.attachment("token_1", &out_name).await.unwrap().unwrap();
    assert_eq!(&log[..], b"bash-echo\n");
    let failed = pool.get("token_3").await.unwrap().unwrap();
    assert_eq!((failed.state(), failed.exit_code()), (TokenState::Error, Some(3)));
    let err = pool.attachment("token_3", &log_names("token_3").1).await.unwrap().unwrap();
    assert_eq!(&err[..], b"to-err\n");
    assert!(pool.attachment("token_1", &err_name).await.unwrap().unwrap().is_empty());
    // The attachments are stored with the type picas gives them.
    let doc = pool.db().get("token_1").await.unwrap().unwrap();
    assert_eq!(doc["_attachments"][&out_name]["content_type"], "text/plain");
    // The fields Python created are all still there, next to ours.
    for field in ["type", "hostname", "scrub_count", "input", "output", "uploads", "error"] {
        assert!(doc.get(field).is_some(), "{field} missing: {doc}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hpckit_tokens_are_run_by_the_python_example_worker() {
    let db = Db::new("interop-rs2py").await;
    let url = db.url();
    let pw = ["--db-password-env", "HPCKIT_TEST_DB_PW"];
    let out = ok(db.hpckit(&["picas", "views", &url, pw[0], pw[1]])).await;
    assert_eq!(out.stdout_text(), "_design/Monitor: written\n");
    let file = db.path("tokens.txt");
    std::fs::write(&file, "echo one\necho two\nexit 4\n").unwrap();
    let out = ok(db.hpckit(&["picas", "push", &url, file.to_str().unwrap(), pw[0], pw[1]])).await;
    assert_eq!(out.stdout_text(), "pushed: 3\n");
    assert_eq!(counts_agree(&db).await, (3, 0, 0, 0));

    // Python's create_views finds nothing to change either... and writes its
    // own text only if ours differed; the views stay equivalent.
    ok(db.python(&["views"])).await;
    let out = ok(db.python(&["worker", "--max-tasks", "10"])).await;
    assert!(out.stdout_text().contains("\"tasks\": 3"), "{out:?}");
    assert_eq!(counts_agree(&db).await, (0, 0, 2, 1));

    let pool = db.pool();
    let tokens = pool.tokens_in("done", None).await.unwrap();
    let ids: Vec<&str> = tokens.iter().map(Token::id).collect();
    assert_eq!(ids, ["token_1", "token_2"]);
    for t in &tokens {
        let (out_name, err_name) = log_names(t.id());
        let out = pool.attachment(t.id(), &out_name).await.unwrap().unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(&format!("input: {}", t.command().unwrap())), "{text}");
        // process_task.sh traces to stderr (set -x), and /usr/bin/time adds its line.
        let err = pool.attachment(t.id(), &err_name).await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&err).contains("+ bash -c"), "{err:?}");
    }
    // The example's script turns any failure into exit code 1.
    let failed = pool.get("token_3").await.unwrap().unwrap();
    assert_eq!((failed.state(), failed.exit_code()), (TokenState::Error, Some(1)));

    // hpckit's status reads Python's results.
    let out = ok(db.hpckit(&["picas", "status", &url, "--json", pw[0], pw[1]])).await;
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["counts"]["done"], 2);
    assert_eq!(status["errors"][0]["id"], "token_3");
    assert_eq!(status["errors"][0]["reason"], "exit code 1");
}
