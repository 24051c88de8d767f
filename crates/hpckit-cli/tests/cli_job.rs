//! The `hpckit job` command line, run as a real binary: output, exit codes,
//! and one-line errors.

mod support;

use support::{error_line, hpckit};

#[tokio::test]
async fn readme_first_command_prints_hello_and_exit_codes_pass_through() {
    let out = hpckit(&["job", "run", "local://", "--", "echo", "hello"], b"").await;
    assert_eq!(out.stdout, b"hello\n");
    assert_eq!(out.status.code, Some(0), "{out:?}");
    let out = hpckit(&["job", "run", "local://", "--", "sh", "-c", "exit 3"], b"").await;
    assert_eq!(out.status.code, Some(3), "{out:?}");
    let out = hpckit(&["job", "run", "local://", "--", "sh", "-c", "kill -9 $$"], b"").await;
    assert_eq!(out.status.code, Some(128 + 9), "{out:?}");
}

#[tokio::test]
async fn run_forwards_stdin_and_keeps_streams_apart() {
    let script = "cat; echo to-err >&2";
    let out =
        hpckit(&["job", "run", "local://", "--", "sh", "-c", script], b"line 1\nline 2\n").await;
    assert_eq!(out.stdout_text(), "line 1\nline 2\n");
    assert_eq!(out.stderr_text(), "to-err\n");
    assert_eq!(out.status.code, Some(0));
    let out = hpckit(
        &["job", "run", "local://", "--env", "V=it's $x", "--", "sh", "-c", "printf %s \"$V\""],
        b"",
    )
    .await;
    assert_eq!(out.stdout_text(), "it's $x");
}

#[tokio::test]
async fn bad_input_gives_distinct_one_line_errors() {
    let cases: [(&[&str], i32, &str); 5] = [
        (&["job", "run", "not a url", "--", "true"], 64, "invalid location"),
        (
            &["job", "run", "pbs://host", "--", "true"],
            69,
            "unknown scheme \"pbs\" (supported: local, nohup, ssh",
        ),
        (
            &["job", "run", "local://", "--", "hpckit-no-such-program"],
            127,
            "executable not found: hpckit-no-such-program",
        ),
        (&["job", "status", "local://", "local-1"], 66, "job not found: local-1"),
        (
            &["job", "submit", "local://", "--env", "1X=2", "--", "true"],
            65,
            "invalid job description",
        ),
    ];
    for (args, code, needle) in cases {
        let out = hpckit(args, b"").await;
        let line = error_line(&out);
        assert!(line.contains(needle), "{args:?}: {line}");
        assert_eq!(out.status.code, Some(code), "{args:?}: {line}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // Usage errors are clap's (exit 2), without a program they are ours.
    let out = hpckit(&["job", "run", "local://"], b"").await;
    assert!(error_line(&out).contains("no program given"));
}

/// Durations from flags and URL parameters are bounded and checked: a huge
/// one is a clear error, never a panic (exit 101).
#[tokio::test]
async fn huge_durations_are_refused_not_panics() {
    for url in ["local://", "nohup://", "slurm://"] {
        for t in ["213503982334601d", "18446744073709551615", "18446744073709551616"] {
            let out = hpckit(&["job", "wait", url, "local-1", "--timeout", t], b"").await;
            let err = out.stderr_text();
            assert_eq!(out.status.code, Some(2), "{url} {t}: {err}");
            assert!(
                err.contains("longer than 100 years") || err.contains("not a duration"),
                "{err}"
            );
        }
    }
    for scheme in ["ssh", "slurm+ssh", "sftp"] {
        for v in ["1e308", "1e20", "18446744073709551616", "inf"] {
            let url = format!("{scheme}://u@127.0.0.1:1/~?connect_timeout={v}");
            let args: &[&str] =
                if scheme == "sftp" { &["fs", "ls", &url] } else { &["job", "status", &url, "1"] };
            let out = hpckit(args, b"").await;
            let line = error_line(&out);
            assert_eq!(out.status.code, Some(64), "{url}: {line}");
            assert!(line.contains("connect_timeout"), "{line}");
        }
    }
}

#[tokio::test]
async fn submit_status_wait_and_queues_on_a_detached_scheduler() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("nohup://?jobdir={}", tmp.path().join("jobs").display());
    let out =
        hpckit(&["job", "submit", &url, "--name", "a | b", "--", "sh", "-c", "exit 4"], b"").await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    let id = out.stdout_text().trim().to_owned();
    assert!(!id.is_empty());

    // A later invocation (a new client) waits for it; a failed job makes `wait` exit 1.
    let out = hpckit(&["job", "wait", &url, &id, "--timeout", "60", "--json"], b"").await;
    assert_eq!(out.status.code, Some(1), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["state"], "failed");
    assert_eq!(json[0]["exit_code"], 4);
    assert_eq!(json[0]["name"], "a | b");

    let out = hpckit(&["job", "status", &url, &id], b"").await;
    let table = out.stdout_text();
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("failed") && table.contains("a | b"), "{table}");

    // Timeout: exit 124 and the status still printed.
    let out = hpckit(&["job", "submit", &url, "--", "sleep", "300"], b"").await;
    let sleeper = out.stdout_text().trim().to_owned();
    let out = hpckit(&["job", "wait", &url, &sleeper, "--timeout", "1"], b"").await;
    assert_eq!(out.status.code, Some(124), "{out:?}");
    assert!(out.stdout_text().contains("running"), "{out:?}");
    let out = hpckit(&["job", "cancel", &url, &sleeper, "--json"], b"").await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["state"], "cancelled");

    let out = hpckit(&["job", "queues", &url, "--json"], b"").await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["name"], "default");
    assert_eq!(json[0]["is_default"], true);
    let out = hpckit(&["job", "list", &url, "--json"], b"").await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn submit_from_a_json_file_and_local_jobs_finish_before_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("jobs.json");
    let marker = tmp.path().join("done");
    let job = serde_json::json!([
        { "executable": "sh", "arguments": ["-c", format!("sleep 1; touch '{}'", marker.display())] },
        { "executable": "true" }
    ]);
    std::fs::write(&file, job.to_string()).unwrap();
    let out = hpckit(
        &["job", "submit", "local://", "--json-file", file.to_str().unwrap(), "--json"],
        b"",
    )
    .await;
    assert_eq!(out.status.code, Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    // local:// jobs live in the hpckit process, which therefore waits for them.
    assert!(marker.exists());
    std::fs::write(&file, r#"{"executable": "x", "nodez": 1}"#).unwrap();
    let out =
        hpckit(&["job", "submit", "local://", "--json-file", file.to_str().unwrap()], b"").await;
    assert!(error_line(&out).contains("unknown field `nodez`"));
    assert_eq!(out.status.code, Some(65));
}

/// `hpckit ... | head` ends quietly: a closed stdout is neither an error line
/// nor a failure, for JSON, tables and plain lists alike.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the child's stdout must be a pipe whose reader is already gone, which LocalExecutor does not offer"
)]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..50 {
        std::fs::write(dir.path().join(format!("f{i}")), b"x").unwrap();
    }
    let d = dir.path().to_str().unwrap();
    for args in [
        vec!["fs", "ls", d],
        vec!["fs", "ls", "--json", d],
        vec!["fs", "ls", "-l", d],
        vec!["job", "queues", "local://"],
    ] {
        // The reader is gone before the program starts: every write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hpckit"))
            .args(&args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
    }
}
