//! `SshExecutor` against the real test sshd: commands, streams, exit statuses,
//! queueing above MaxSessions, killing process groups, subsystems, sharing.

mod ssh_support;

use std::time::Duration;

use hpc_core::Error;
use hpc_exec::ssh::SshExecutor;
use hpc_exec::{Command, Executor};
use ssh_support::ssh_env;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

fn sh(script: &str) -> Command {
    Command::new("sh").arg("-c").arg(script)
}

#[tokio::test]
async fn output_exit_code_env_and_cwd() {
    let ssh = ssh_env().connect().await;
    assert!(!ssh.is_local());
    assert!(ssh.target().ends_with(&format!(":{}", ssh_env().port())), "{}", ssh.target());
    let out = ssh
        .run(
            &sh("printf '%s|%s|' \"$V\" \"$(pwd)\"; echo to-err >&2; exit 3")
                .env("V", "it's $HOME `x`")
                .current_dir("/tmp"),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "it's $HOME `x`|/tmp|");
    // The pid marker never reaches the caller.
    assert_eq!(out.stderr_text(), "to-err\n");
    assert_eq!(out.status.code, Some(3));
    let e = out.check(&Command::new("sh")).unwrap_err();
    assert!(matches!(e, Error::CommandFailed { exit_code: Some(3), .. }), "{e}");
}

#[tokio::test]
async fn exit_by_signal_is_reported_as_signal() {
    let ssh = ssh_env().connect().await;
    let out = ssh.run(&sh("kill -s TERM $$")).await.unwrap();
    assert_eq!((out.status.code, out.status.signal), (None, Some(15)), "{out:?}");
    let out = ssh.run(&sh("kill -s KILL $$")).await.unwrap();
    assert_eq!(out.status.signal, Some(9), "{out:?}");
}

#[tokio::test]
async fn stdin_streams_and_eof_ends_it() {
    let ssh = ssh_env().connect().await;
    let mut p = ssh.spawn(&Command::new("cat")).await.unwrap();
    assert!(p.id().is_some());
    let mut stdin = p.stdin.take().unwrap();
    let mut lines = BufReader::new(p.stdout.take().unwrap()).lines();
    for word in ["ping", "pong"] {
        stdin.write_all(format!("{word}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().unwrap(), word);
    }
    drop(stdin);
    assert_eq!(lines.next_line().await.unwrap(), None);
    assert!(p.wait().await.unwrap().success());

    // `run` feeds `Command::stdin` and closes it.
    let out = ssh.run(&Command::new("wc").arg("-c").stdin(vec![b'x'; 3_000_000])).await.unwrap();
    assert_eq!(out.stdout_text().trim(), "3000000");
}

#[tokio::test]
async fn large_outputs_arrive_complete() {
    let ssh = ssh_env().connect().await;
    let mut p =
        ssh.spawn(&sh("head -c 50000000 /dev/zero; head -c 3000000 /dev/zero >&2")).await.unwrap();
    let (mut out, mut err) = (p.stdout.take().unwrap(), p.stderr.take().unwrap());
    // Read stdout slowly at first: the server must wait, not the client buffer.
    let mut first = vec![0u8; 1024];
    out.read_exact(&mut first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut n_out, mut n_err) = (first.len(), 0);
    let mut buf = vec![0u8; 1 << 16];
    let read_out = async {
        loop {
            let n = out.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            n_out += n;
        }
    };
    let read_err = async {
        let mut v = Vec::new();
        err.read_to_end(&mut v).await.unwrap();
        n_err = v.len();
    };
    tokio::join!(read_out, read_err);
    assert_eq!((n_out, n_err), (50_000_000, 3_000_000));
    assert!(p.wait().await.unwrap().success());
}

#[tokio::test]
async fn fifty_concurrent_commands_share_one_connection_and_queue() {
    let env = ssh_env();
    let ssh = env.connect().await;
    // Above the server's MaxSessions: they must wait for a session, not fail.
    let max: usize = env.get("HPCKIT_SSH_MAX_SESSIONS").parse().unwrap();
    let n = 50;
    assert!(n > max);
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let ssh = ssh.clone();
            tokio::spawn(async move {
                ssh.run_checked(
                    &sh("sleep 0.2; echo \"$1 $SSH_CONNECTION\"").arg("sh").arg(i.to_string()),
                )
                .await
            })
        })
        .collect();
    let mut connections = std::collections::BTreeSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let out = t.await.unwrap().unwrap_or_else(|e| panic!("command {i}: {e}"));
        let text = out.stdout_text().into_owned();
        let (idx, conn) = text.trim().split_once(' ').unwrap();
        assert_eq!(idx, i.to_string());
        connections.insert(conn.to_owned());
    }
    // SSH_CONNECTION names the client's port: one TCP connection carried all 50.
    assert_eq!(connections.len(), 1, "{connections:?}");
}

async fn group_members(ssh: &SshExecutor, pgid: u32) -> usize {
    let out = ssh.run(&Command::new("pgrep").arg("-g").arg(pgid.to_string())).await.unwrap();
    out.stdout_text().lines().count()
}

async fn wait_until_group_gone(ssh: &SshExecutor, pgid: u32) {
    for _ in 0..100 {
        if group_members(ssh, pgid).await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("process group {pgid} still has members");
}

#[tokio::test]
async fn kill_ends_the_whole_remote_process_group() {
    let ssh = ssh_env().connect().await;
    let mut p = ssh.spawn(&sh("sleep 300 & sleep 300")).await.unwrap();
    let pgid = p.id().expect("remote pid");
    // Both sleeps and the shell are in the session's group.
    for _ in 0..100 {
        if group_members(&ssh, pgid).await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(group_members(&ssh, pgid).await >= 2);
    p.kill().await.unwrap();
    let status = p.wait().await.unwrap();
    assert_eq!(status.signal, Some(9), "{status:?}");
    wait_until_group_gone(&ssh, pgid).await;
    // Signalling a finished process is a no-op.
    p.terminate().await.unwrap();
}

#[tokio::test]
async fn terminate_sends_term() {
    let ssh = ssh_env().connect().await;
    let mut p = ssh.spawn(&Command::new("sleep").arg("300")).await.unwrap();
    p.terminate().await.unwrap();
    assert_eq!(p.wait().await.unwrap().signal, Some(15));
}

#[tokio::test]
async fn dropping_a_running_process_kills_its_group() {
    let ssh = ssh_env().connect().await;
    let p = ssh.spawn(&sh("sleep 300 & sleep 300")).await.unwrap();
    let pgid = p.id().unwrap();
    drop(p);
    wait_until_group_gone(&ssh, pgid).await;
}

#[tokio::test]
async fn sftp_subsystem_answers_init() {
    let ssh = ssh_env().connect().await;
    let mut s = ssh.open_subsystem("sftp").await.unwrap();
    // SSH_FXP_INIT, version 3.
    s.write_all(&[0, 0, 0, 5, 1, 0, 0, 0, 3]).await.unwrap();
    let mut head = [0u8; 5];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(head[4], 2, "SSH_FXP_VERSION expected, got {head:?}");
    let e = ssh.open_subsystem("no-such-subsystem").await.unwrap_err();
    assert!(matches!(e, Error::ChannelRefused { .. }), "{e}");
    assert!(e.to_string().contains("no-such-subsystem"), "{e}");
}

#[tokio::test]
async fn shared_connections_are_reused_per_host() {
    let env = ssh_env();
    let creds = env.key_creds();
    let who = |ssh: SshExecutor| async move {
        ssh.run_checked(&sh("echo $SSH_CONNECTION")).await.unwrap().stdout_text().into_owned()
    };
    let a = SshExecutor::shared(env.opts(), &creds).await.unwrap();
    let b = SshExecutor::shared(env.opts(), &creds).await.unwrap();
    let c = SshExecutor::connect(env.opts(), &creds).await.unwrap();
    let (wa, wb, wc) = (who(a.clone()).await, who(b).await, who(c).await);
    assert_eq!(wa, wb);
    assert_ne!(wa, wc);
    // A closed shared connection is replaced, not handed out again.
    a.close().await;
    let e = a.run(&Command::new("true")).await.unwrap_err();
    assert!(matches!(e, Error::ConnectionLost { .. }), "{e}");
    let d = SshExecutor::shared(env.opts(), &creds).await.unwrap();
    assert!(d.run_checked(&Command::new("true")).await.is_ok());
}

#[tokio::test]
async fn input_the_command_never_reads_does_not_hang() {
    let ssh = ssh_env().connect().await;
    // Far more than the channel window: the writer must notice the exit.
    let cmd = sh("exit 4").stdin(vec![b'x'; 20_000_000]);
    let out = tokio::time::timeout(Duration::from_secs(60), ssh.run(&cmd))
        .await
        .expect("run hung")
        .unwrap();
    assert_eq!(out.status.code, Some(4));
}

#[tokio::test]
async fn a_closed_connection_ends_running_commands_with_connection_lost() {
    let ssh = ssh_env().connect().await;
    let mut p = ssh.spawn(&Command::new("sleep").arg("300")).await.unwrap();
    ssh.close().await;
    let e = p.wait().await.unwrap_err();
    assert!(matches!(e, Error::ConnectionLost { .. }), "{e}");
    assert!(ssh.is_closed());
}

#[tokio::test]
async fn an_idle_connection_outlives_many_keepalive_intervals() {
    // Three unanswered keepalives close a connection; answered ones must not.
    // With a 1 s interval, 8 idle seconds are eight keepalive rounds.
    let env = ssh_env();
    let opts = env.opts().keepalive(Some(Duration::from_secs(1)));
    let ssh = SshExecutor::connect(opts, &env.key_creds()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let out = ssh.run(&Command::new("echo").arg("still here")).await.unwrap();
    assert_eq!(out.stdout, b"still here\n");
}
