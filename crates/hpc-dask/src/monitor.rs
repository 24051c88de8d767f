//! What the Dask scheduler tells about itself: its scheduler file, and the
//! JSON routes of its HTTP server (`/json/identity.json`,
//! `/json/counts.json`), which it serves on the dashboard port whether or
//! not bokeh is installed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use hpc_core::{Error, Result};
use hpc_http::{HttpClient, RetryConfig, Timeouts};
use serde::{Deserialize, Serialize};

/// The part of the scheduler file hpc-dask reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SchedulerFile {
    /// `tcp://host:port` (or `tls://...`) as the nodes reach the scheduler.
    pub address: String,
    /// Ports of the scheduler's services (`dashboard`).
    #[serde(default)]
    pub services: BTreeMap<String, u16>,
}

impl SchedulerFile {
    /// Parse the file; a half-written file is a parse error (Dask writes it
    /// in place, so a reader may see it early).
    pub fn parse(bytes: &[u8], path: &str) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| {
            Error::parse(
                format!("read {path}"),
                format!("not a Dask scheduler file: {e}"),
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)]),
            )
        })
    }

    /// Protocol, host and port of [`SchedulerFile::address`].
    pub fn endpoint(&self) -> Result<(String, String, u16)> {
        split_address(&self.address)
    }

    /// The dashboard's port, if the scheduler runs one.
    pub fn dashboard_port(&self) -> Option<u16> {
        self.services.get("dashboard").copied()
    }
}

/// Split `proto://host:port` (IPv6 hosts in brackets).
pub fn split_address(address: &str) -> Result<(String, String, u16)> {
    let bad = |reason: &str| Error::parse("scheduler address", reason, address);
    let (proto, rest) = address.split_once("://").ok_or_else(|| bad("no protocol"))?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = port.parse::<u16>().map_err(|_| bad("bad port"))?;
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((proto.to_owned(), host.to_owned(), port))
}

/// Task and worker counts (`/json/counts.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Counts {
    /// Connected workers.
    pub workers: u32,
    /// Connected clients.
    pub clients: u32,
    /// Threads over all workers.
    pub cores: u32,
    /// Tasks the scheduler knows.
    pub tasks: u64,
    /// Tasks running on a worker.
    pub processing: u64,
    /// Tasks waiting for their dependencies.
    pub waiting: u64,
    /// Tasks that fit no worker.
    pub unrunnable: u64,
    /// Tasks that failed.
    pub erred: u64,
    /// The scheduler's own advice on the number of workers (what Dask's
    /// adaptive scaling follows).
    pub desired_workers: u32,
}

/// One connected worker (`/json/identity.json`, `workers`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WorkerInfo {
    /// Its name (`--name`, with `-N` appended per process of a job).
    #[serde(default, deserialize_with = "name_text")]
    pub name: String,
    /// Its threads.
    #[serde(default)]
    pub nthreads: u32,
}

fn name_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    // Dask names workers with strings or integers.
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

#[derive(Debug, Deserialize)]
struct Identity {
    #[serde(default)]
    workers: BTreeMap<String, WorkerInfo>,
}

/// A reader of the scheduler's JSON routes through a tunnel.
#[derive(Debug, Clone)]
pub(crate) struct Dashboard {
    http: HttpClient,
    base: String,
}

impl Dashboard {
    /// The routes at `addr` (a tunnel to the dashboard port).
    pub(crate) fn new(addr: SocketAddr) -> Result<Self> {
        let timeouts = Timeouts { connect: Duration::from_secs(10), ..Timeouts::default() };
        let http = HttpClient::builder()
            .service("dask")
            .retry(RetryConfig { max_retries: 1, ..RetryConfig::default() })
            .timeouts(timeouts)
            .build()?;
        Ok(Dashboard { http, base: format!("http://{addr}") })
    }

    /// The dashboard's URL here.
    pub(crate) fn url(&self) -> String {
        format!("{}/status", self.base)
    }

    /// Connected workers by address.
    pub(crate) async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        let id: Identity = self.http.get_json(&format!("{}/json/identity.json", self.base)).await?;
        Ok(id.workers.into_values().collect())
    }

    /// Task and worker counts.
    pub(crate) async fn counts(&self) -> Result<Counts> {
        self.http.get_json(&format!("{}/json/counts.json", self.base)).await
    }
}

/// Whether worker `name` belongs to the worker job tagged `tag`.
pub(crate) fn belongs_to(name: &str, tag: &str) -> bool {
    name == tag
        || name
            .strip_prefix(tag)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_file_as_dask_writes_it() {
        let text = br#"{"type": "Scheduler", "id": "Scheduler-e4f2", "address": "tcp://192.0.2.2:40345",
            "services": {"dashboard": 32845}, "started": 1796559168.69, "n_workers": 0, "workers": {}}"#;
        let f = SchedulerFile::parse(text, "s.json").unwrap();
        assert_eq!(f.endpoint().unwrap(), ("tcp".into(), "192.0.2.2".into(), 40345));
        assert_eq!(f.dashboard_port(), Some(32845));
        let half = &text[..40];
        let e = SchedulerFile::parse(half, "s.json").unwrap_err();
        assert!(e.to_string().contains("not a Dask scheduler file"), "{e}");
    }

    #[test]
    fn addresses() {
        assert_eq!(split_address("tls://[::1]:8786").unwrap(), ("tls".into(), "::1".into(), 8786));
        assert!(split_address("192.0.2.2:1").is_err());
        assert!(split_address("tcp://host").is_err());
        assert!(split_address("tcp://:80").is_err());
        assert!(split_address("tcp://h:99999").is_err());
    }

    #[test]
    fn worker_names_map_to_their_jobs() {
        assert!(belongs_to("w3", "w3"));
        assert!(belongs_to("w3-0", "w3"));
        assert!(!belongs_to("w31", "w3"));
        assert!(!belongs_to("w3-x", "w3"));
        assert!(!belongs_to("w3-", "w3"));
    }

    #[test]
    fn counts_and_identity_parse() {
        let counts: Counts = serde_json::from_str(
            r#"{"bytes": 0, "clients": 1, "cores": 1, "erred": 0, "hosts": 1, "idle": 1, "memory": 0,
            "processing": 0, "released": 0, "saturated": 0, "tasks": 0, "unrunnable": 0, "waiting": 0,
            "waiting_data": 0, "workers": 1, "desired_workers": 0}"#,
        )
        .unwrap();
        assert_eq!((counts.workers, counts.clients, counts.desired_workers), (1, 1, 0));
        let id: Identity = serde_json::from_str(
            r#"{"type": "Scheduler", "workers": {"tcp://192.0.2.2:40155": {"type": "Worker",
            "id": "w-1", "name": "w-1", "nthreads": 2}, "tcp://h:2": {"name": 7, "nthreads": 1}}}"#,
        )
        .unwrap();
        let mut names: Vec<_> = id.workers.into_values().map(|w| w.name).collect();
        names.sort();
        assert_eq!(names, vec!["7", "w-1"]);
    }
}
