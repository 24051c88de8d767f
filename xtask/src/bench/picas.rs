//! `cargo xtask bench picas [--tokens N] [--workers W]`: one token pool on the
//! pouchdb-server of `cargo xtask services up couchdb`, drained once by W
//! Python picas 1.1.2 workers and once by W `hpckit picas run` workers (release
//! build), each token a no-op command that appends its id to a side file.
//!
//! Reported per side: tokens/s, wall time, HTTP requests per token (each
//! worker counts its own), tokens whose command ran more than once (from the
//! side file), CPU seconds of the workers (with their commands) and of the
//! server. Both sides run the command the same way (`bash -c <input>`, output
//! captured and attached as `logs_<id>.out/.err`); only the client differs.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Table, measure};
use crate::cmd;
use crate::services::{self, EnvVars};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// The server and how to reach it.
struct Server {
    hostport: String,
    user: String,
    password: String,
    pid: u32,
}

/// What one side did.
struct Outcome {
    tool: &'static str,
    wall: Duration,
    worker_cpu: Duration,
    server_cpu: Duration,
    requests: u64,
    reruns: usize,
    done: u64,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let tokens: usize = flag(args, "--tokens").map(|v| v.parse()).transpose()?.unwrap_or(1000);
    let workers: usize = flag(args, "--workers").map(|v| v.parse()).transpose()?.unwrap_or(8);
    let env = EnvVars::read(&services::up(&["couchdb".to_string()], services::Backend::Native)?)?;
    let server = Server {
        hostport: env.require("HPCKIT_COUCHDB_URL")?.trim_start_matches("http://").to_string(),
        user: env.require("HPCKIT_COUCHDB_USER")?.to_string(),
        password: env.require("HPCKIT_COUCHDB_PASSWORD")?.to_string(),
        pid: fs::read_to_string(env.require("HPCKIT_COUCHDB_PID_FILE")?)?.trim().parse()?,
    };
    let python = env.require("HPCKIT_PICAS_PYTHON")?.to_string();
    println!("building the hpckit side (release)...");
    let hpckit = build_hpckit()?;
    let peer = cmd::workspace_root().join("crates/itests/testdata/picas/picas_peer.py");
    let scratch = std::env::temp_dir().join(format!("hpckit-bench-picas-{}", std::process::id()));
    fs::create_dir_all(&scratch)?;
    let _cleanup = super::RemoveOnDrop(vec![scratch.clone()]);

    let mut outcomes = Vec::new();
    for tool in ["picas 1.1.2", "hpckit"] {
        let db = format!(
            "bench-{}-{}",
            if tool == "hpckit" { "hpckit" } else { "python" },
            std::process::id()
        );
        let side = scratch.join(format!("{db}.side"));
        prepare(&server, &hpckit, &db, tokens, &side, &scratch)?;
        println!("{tool}: {tokens} tokens, {workers} workers...");
        let outcome = drain(tool, &server, &hpckit, &python, &peer, &db, workers, &scratch)?;
        let counts = side_counts(&side);
        let reruns = counts.values().filter(|n| **n > 1).count();
        if counts.len() != tokens {
            println!("  warning: {} of {tokens} tokens ran", counts.len());
        }
        outcomes.push(Outcome { reruns, ..outcome });
        let _ = http(&server, "DELETE", &format!("/{db}"));
    }

    let mut t = Table::new(&[
        "tool",
        "tokens/s",
        "total s",
        "requests/token",
        "ran >1",
        "done",
        "worker CPU s",
        "server CPU s",
    ]);
    for o in &outcomes {
        t.row(vec![
            o.tool.to_string(),
            format!("{:.1}", tokens as f64 / o.wall.as_secs_f64()),
            format!("{:.2}", o.wall.as_secs_f64()),
            format!("{:.2}", o.requests as f64 / tokens as f64),
            o.reruns.to_string(),
            o.done.to_string(),
            format!("{:.2}", o.worker_cpu.as_secs_f64()),
            format!("{:.2}", o.server_cpu.as_secs_f64()),
        ]);
    }
    println!();
    t.print();
    let speedup = outcomes[0].wall.as_secs_f64() / outcomes[1].wall.as_secs_f64();
    println!();
    super::goal(
        "tokens per second, hpckit / Python picas",
        ">= 5x",
        &format!("{speedup:.1}x"),
        speedup >= 5.0,
    );
    let hpckit = &outcomes[1];
    super::goal(
        "hpckit tokens run more than once",
        "0",
        &hpckit.reruns.to_string(),
        hpckit.reruns == 0,
    );
    Ok(())
}

/// A fresh database with the views and `tokens` tokens `echo <id> >> side`.
fn prepare(
    s: &Server,
    hpckit: &Path,
    db: &str,
    tokens: usize,
    side: &Path,
    dir: &Path,
) -> Result<()> {
    let _ = http(s, "DELETE", &format!("/{db}"));
    let url = format!("http://{}@{}/{db}", s.user, s.hostport);
    let file = dir.join(format!("{db}.jsonl"));
    let mut text = String::new();
    for i in 0..tokens {
        let id = format!("t{i:05}");
        text.push_str(&format!(
            "{{\"_id\": \"{id}\", \"input\": \"echo {id} >> {}\"}}\n",
            side.display()
        ));
    }
    fs::write(&file, text)?;
    let hpckit_cmd = |args: &[&str]| {
        let mut c = Command::new(hpckit);
        c.args(args).args(["--db-password-env", "BENCH_DB_PW"]).env("BENCH_DB_PW", &s.password);
        c
    };
    cmd::output(&mut hpckit_cmd(&["picas", "views", &url, "--create-db"]))?;
    cmd::output(&mut hpckit_cmd(&[
        "picas",
        "push",
        &url,
        &file.to_string_lossy(),
        "--json-lines",
    ]))?;
    Ok(())
}

#[allow(clippy::too_many_arguments, reason = "one call site, all parts of one run")]
fn drain(
    tool: &'static str,
    s: &Server,
    hpckit: &Path,
    python: &str,
    peer: &Path,
    db: &str,
    workers: usize,
    dir: &Path,
) -> Result<Outcome> {
    let server_before = process_cpu(s.pid)?;
    let started = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|i| {
            let out_file = dir.join(format!("{db}.worker{i}.out"));
            let mut c = if tool == "hpckit" {
                let mut c = Command::new(hpckit);
                c.args(["picas", "run", &format!("http://{}@{}/{db}", s.user, s.hostport)])
                    .args(["--json", "--db-password-env", "BENCH_DB_PW"])
                    .env("BENCH_DB_PW", &s.password);
                c
            } else {
                let mut c = Command::new(python);
                c.arg(peer)
                    .args(["worker", "--plain"])
                    .env("PICAS_URL", format!("http://{}", s.hostport))
                    .env("PICAS_DB", db)
                    .env("PICAS_USER", &s.user)
                    .env("PICAS_PASSWORD", &s.password);
                c
            };
            let file = fs::File::create(&out_file);
            std::thread::spawn(move || -> Result<(super::Measured, PathBuf)> {
                c.stdout(file?).stderr(Stdio::null());
                Ok((measure(&mut c)?, out_file))
            })
        })
        .collect();
    let mut worker_cpu = Duration::ZERO;
    let mut requests = 0;
    for h in handles {
        let (m, out) = h.join().map_err(|_| anyhow::anyhow!("worker thread panicked"))??;
        worker_cpu += m.cpu;
        let text = fs::read_to_string(&out)?;
        let line = text.lines().rev().find(|l| l.contains("\"requests\"")).unwrap_or("");
        let value: u64 = line
            .split("\"requests\":")
            .nth(1)
            .map(|r| r.trim_start().chars().take_while(char::is_ascii_digit).collect::<String>())
            .and_then(|d| d.parse().ok())
            .with_context(|| format!("{tool} worker printed no request count: {text:?}"))?;
        requests += value;
    }
    let wall = started.elapsed();
    let server_cpu = process_cpu(s.pid)?.saturating_sub(server_before);
    let done = done_count(s, db)?;
    Ok(Outcome { tool, wall, worker_cpu, server_cpu, requests, reruns: 0, done })
}

/// User + system CPU of a running process.
fn process_cpu(pid: u32) -> Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("the server (pid {pid}) is not running"))?;
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
    Ok(Duration::from_millis(ticks * 10))
}

fn side_counts(side: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for line in fs::read_to_string(side).unwrap_or_default().lines() {
        *counts.entry(line.to_string()).or_insert(0) += 1;
    }
    counts
}

/// Rows of the done view.
fn done_count(s: &Server, db: &str) -> Result<u64> {
    let body = http(s, "GET", &format!("/{db}/_design/Monitor/_view/done?limit=0"))?;
    let n = body
        .split("\"total_rows\":")
        .nth(1)
        .map(|r| r.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|d| d.parse().ok())
        .with_context(|| format!("no total_rows in {body:?}"))?;
    Ok(n)
}

/// A small authenticated HTTP/1.0 request; returns the body.
fn http(s: &Server, method: &str, path: &str) -> Result<String> {
    let mut stream = std::net::TcpStream::connect(&s.hostport)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let auth = base64(format!("{}:{}", s.user, s.password).as_bytes());
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {}\r\nAccept: application/json\r\nAuthorization: Basic {auth}\r\n\r\n",
        s.hostport
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap_or("?");
    let gone_already = method == "DELETE" && status == "404";
    if !(status.starts_with('2') || gone_already) {
        bail!("{method} {path}: HTTP {status}");
    }
    Ok(body.to_string())
}

fn base64(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Builds hpckit in release mode and returns the binary's path.
fn build_hpckit() -> Result<PathBuf> {
    let out = cmd::output(Command::new("cargo").current_dir(cmd::workspace_root()).args([
        "build",
        "--release",
        "-p",
        "hpckit-cli",
        "--bin",
        "hpckit",
        "--message-format=json",
    ]))?;
    out.lines()
        .filter(|l| l.contains("\"executable\":\"") && l.contains("\"name\":\"hpckit\""))
        .find_map(|l| {
            let rest = &l[l.find("\"executable\":\"")? + "\"executable\":\"".len()..];
            Some(PathBuf::from(&rest[..rest.find('"')?]))
        })
        .context("cargo did not report the hpckit executable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc() {
        assert_eq!(base64(b"Aladdin:open sesame"), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
