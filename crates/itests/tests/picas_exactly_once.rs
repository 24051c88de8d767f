//! Exactly-once under concurrency and crashes: 1,000 tokens drained by 16
//! `hpckit picas run` processes at once; then workers killed with SIGKILL in
//! the middle of tokens, `recover`, and every token done with re-runs only for
//! the tokens the dead workers held (`cargo xtask services up couchdb`).

#[path = "picas_support/mod.rs"]
mod picas_support;

use std::collections::BTreeSet;
use std::time::Duration;

use picas_support::{Db, eventually, ok, side_counts, spawn, token_lines};
use picas_tokens::TokenState;

const PW: [&str; 2] = ["--db-password-env", "HPCKIT_TEST_DB_PW"];

async fn pool_of(db: &Db, n: usize, extra: &str) -> (Vec<String>, std::path::PathBuf) {
    let side = db.path("side.txt");
    let ids: Vec<String> = (0..n).map(|i| format!("t{i:04}")).collect();
    let file = db.path("tokens.jsonl");
    std::fs::write(&file, token_lines(&ids, &side, extra)).unwrap();
    let url = db.url();
    ok(db.hpckit(&["picas", "views", &url, PW[0], PW[1]])).await;
    let out = ok(db.hpckit(&[
        "picas",
        "push",
        &url,
        file.to_str().unwrap(),
        "--json-lines",
        PW[0],
        PW[1],
    ]))
    .await;
    assert_eq!(out.stdout_text(), format!("pushed: {n}\n"));
    (ids, side)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_tokens_sixteen_workers_every_command_once() {
    let db = Db::new("once").await;
    let (ids, side) = pool_of(&db, 1000, "").await;
    let url = db.url();
    let mut workers = Vec::new();
    for _ in 0..16 {
        workers.push(spawn(db.hpckit(&["picas", "run", &url, "--json", PW[0], PW[1]])).await);
    }
    let mut recorded = 0;
    let mut conflicts = 0;
    for w in workers {
        let out = w.collect(None).await.unwrap();
        assert!(out.status.success(), "{out:?}");
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        recorded += s["recorded"].as_u64().unwrap();
        conflicts += s["claims"]["conflicts"].as_u64().unwrap();
        assert_eq!(s["stop"], "pool_empty");
    }
    assert_eq!(recorded, 1000, "each token recorded by exactly one worker");
    let counts = side_counts(&side);
    assert_eq!(counts.len(), 1000, "every token's command ran");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "commands that ran more than once: {twice:?}");
    assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), ids);
    let c = db.pool().counts().await.unwrap();
    assert_eq!((c.todo, c.locked, c.done, c.error), (0, 0, 1000, 0));
    // Claims raced (16 workers), and every race was lost cleanly by a 409.
    println!("claim conflicts among 16 workers: {conflicts}");
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_workers_tokens_come_back_with_recover_and_only_they_rerun() {
    let db = Db::new("kill").await;
    // Each command records its start, then works for a while: a worker killed
    // at a random moment is almost surely inside a token.
    let (ids, side) = pool_of(&db, 1000, " && sleep 0.3").await;
    let url = db.url();
    let run = ["picas", "run", url.as_str(), "--lease", "6s", PW[0], PW[1]];
    let mut workers = Vec::new();
    for _ in 0..16 {
        workers.push(spawn(db.hpckit(&run)).await);
    }
    eventually("100 tokens started", Duration::from_secs(120), || {
        let side = side.clone();
        async move { side_counts(&side).len() >= 100 }
    })
    .await;
    let mut killed = Vec::new();
    for mut w in workers.drain(..4) {
        killed.push(w.id().unwrap());
        w.kill().await.unwrap();
        w.wait().await.unwrap();
    }
    // What the dead workers held: locked tokens whose lease owner names their pid.
    let locked = db.pool().tokens_in("locked", None).await.unwrap();
    let held: BTreeSet<String> = locked
        .iter()
        .filter(|t| {
            t.lease().is_some_and(|(owner, _)| {
                killed.iter().any(|pid| owner.split(':').nth(1) == Some(&pid.to_string()))
            })
        })
        .map(|t| t.id().to_owned())
        .collect();
    assert!(!held.is_empty(), "the killed workers held no token (killed between tokens?)");
    for w in workers {
        let out = w.collect(None).await.unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    // The survivors drained the pool, except what the dead held.
    let c = db.pool().counts().await.unwrap();
    assert_eq!((c.todo, c.locked), (0, held.len() as u64));
    // Their leases run out (6 s, no heartbeat any more); recover returns them.
    eventually("recover returns the dead workers' tokens", Duration::from_secs(60), || {
        let pool = db.pool();
        async move {
            pool.counts().await.unwrap().locked == 0 || {
                let _ = pool.recover(None).await;
                false
            }
        }
    })
    .await;
    for t in &held {
        let tok = db.pool().get(t).await.unwrap().unwrap();
        assert_eq!(tok.scrub_count(), 1, "{t}");
    }
    let out = ok(db.hpckit(&["picas", "run", &url, "--json", PW[0], PW[1]])).await;
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["recorded"], held.len());
    let c = db.pool().counts().await.unwrap();
    assert_eq!((c.todo, c.locked, c.done, c.error), (0, 0, 1000, 0));
    let counts = side_counts(&side);
    assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), ids, "every token ran");
    for (id, n) in &counts {
        if held.contains(id) {
            assert!(*n <= 2, "{id} ran {n} times");
        } else {
            assert_eq!(*n, 1, "{id} was not held by a killed worker, yet ran {n} times");
        }
    }
    for t in db.pool().tokens_in("done", None).await.unwrap() {
        assert_eq!(t.state(), TokenState::Done);
    }
}
