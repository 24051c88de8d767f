//! A two-hop network of Linux network namespaces: this host → "jump" → "inner".
//!
//! ```text
//!  root ns  <veth 10.231.N.1/30 — 10.231.N.2/30>  jump ns  <veth 10.232.N.1/30 — 10.232.N.2/30>  inner ns
//! ```
//! The root namespace has a route to the jump address only, and an `unreachable` route
//! for the inner subnet (without it, packets for the inner host would follow the
//! default route off this machine); the inner namespace has no route back to the root
//! namespace at all. So the only way to the inner host is through a process in the
//! jump namespace (an sshd forwarding a `direct-tcpip` channel), and no packet for
//! these private addresses ever leaves the machine.
//!
//! The `sshd` service runs a jump and an inner sshd there. The `uftp` service uses the
//! jump namespace as a second client host: its UFTPD also listens on the root end of
//! the jump link, so a client in the jump namespace reaches it from another address.
//!
//! Names derive from the worktree, and N is the first subnet no other worktree uses
//! (checked under the machine lock), so worktrees build their networks side by side.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// One created topology; saved in the state dir so `down` can remove it.
#[derive(Clone, Debug)]
pub(crate) struct Topology {
    pub(crate) jump_ns: String,
    pub(crate) inner_ns: String,
    /// The root namespace's end of the jump link (what the jump host reaches).
    pub(crate) root_addr: String,
    /// Address of the jump host, reachable from the root namespace.
    pub(crate) jump_addr: String,
    /// Address of the inner host, reachable only from the jump namespace.
    pub(crate) inner_addr: String,
}

/// Short, stable id of this worktree (FNV-1a of its path), for interface and namespace names.
fn worktree_id(state_dir: &Path) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in state_dir.to_string_lossy().bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    format!("{:06x}", hash & 0xff_ffff)
}

fn ip(args: &[&str]) -> Result<String> {
    cmd::output(Command::new("ip").args(args))
}

fn record_path(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("netns")
}

/// Builds the topology for the service whose state lives in `state_dir`.
pub(crate) fn create(state_dir: &Path) -> Result<Topology> {
    destroy(state_dir)?;
    let id = worktree_id(state_dir);
    let used = ip(&["-o", "-4", "addr", "show"])? + &ip(&["route", "show"])?;
    let start = u32::from_str_radix(&id, 16).unwrap_or(0) % 250;
    let subnet = (0..250)
        .map(|i| (start + i) % 250)
        .find(|n| {
            !used.contains(&format!(" 10.231.{n}.")) && !used.contains(&format!("10.232.{n}."))
        })
        .context("no free 10.231.N.0/30 subnet left for a test network")?;
    let topo = Topology {
        jump_ns: format!("hpckit-{id}-jump"),
        inner_ns: format!("hpckit-{id}-inner"),
        root_addr: format!("10.231.{subnet}.1"),
        jump_addr: format!("10.231.{subnet}.2"),
        inner_addr: format!("10.232.{subnet}.2"),
    };
    let blocked = format!("10.232.{subnet}.0/30");
    fs::write(
        record_path(state_dir),
        format!("{}\n{}\nhk{id}r\n{blocked}\n", topo.jump_ns, topo.inner_ns),
    )?;
    let (root_if, jump_if, jump_in_if, inner_if) =
        (format!("hk{id}r"), format!("hk{id}j"), format!("hk{id}a"), format!("hk{id}i"));
    let (j, i, jump_addr, inner_addr) =
        (&topo.jump_ns, &topo.inner_ns, &topo.jump_addr, &topo.inner_addr);
    // Names and addresses contain no spaces, so each step is written as one line.
    let steps = [
        format!("route add unreachable {blocked}"),
        format!("netns add {j}"),
        format!("netns add {i}"),
        format!("link add {root_if} type veth peer name {jump_if} netns {j}"),
        format!("addr add {}/30 dev {root_if}", topo.root_addr),
        format!("link set {root_if} up"),
        format!("-n {j} link set lo up"),
        format!("-n {j} addr add {jump_addr}/30 dev {jump_if}"),
        format!("-n {j} link set {jump_if} up"),
        format!("-n {j} link add {jump_in_if} type veth peer name {inner_if} netns {i}"),
        format!("-n {j} addr add 10.232.{subnet}.1/30 dev {jump_in_if}"),
        format!("-n {j} link set {jump_in_if} up"),
        format!("-n {i} link set lo up"),
        format!("-n {i} addr add {inner_addr}/30 dev {inner_if}"),
        format!("-n {i} link set {inner_if} up"),
    ];
    for step in &steps {
        let args: Vec<&str> = step.split(' ').collect();
        if let Err(err) = ip(&args) {
            let _ = destroy(state_dir);
            return Err(err.context("building the test network namespaces failed"));
        }
    }
    Ok(topo)
}

/// Removes a topology recorded in `state_dir` (no-op when there is none).
/// Kill the processes inside first: a namespace lives on while a process uses it.
pub(crate) fn destroy(state_dir: &Path) -> Result<()> {
    let Ok(text) = fs::read_to_string(record_path(state_dir)) else { return Ok(()) };
    let mut lines = text.lines();
    let (Some(jump), Some(inner), Some(root_if), Some(blocked)) =
        (lines.next(), lines.next(), lines.next(), lines.next())
    else {
        bail!(
            "{} is damaged; remove the namespaces by hand (ip netns list)",
            record_path(state_dir).display()
        );
    };
    let existing = ip(&["netns", "list"]).unwrap_or_default();
    for ns in [jump, inner] {
        if existing.lines().any(|l| l.split_whitespace().next() == Some(ns)) {
            ip(&["netns", "del", ns])?;
        }
    }
    // Deleting the jump namespace deletes its veth end and with it the pair.
    let _ = ip(&["link", "del", root_if]);
    let _ = ip(&["route", "del", "unreachable", blocked]);
    fs::remove_file(record_path(state_dir))?;
    Ok(())
}

/// `ip netns exec <ns> <program>`: the program replaces `ip`, so its pid is the daemon's.
pub(crate) fn exec_in(ns: &str, program: &str) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, program]);
    cmd
}
